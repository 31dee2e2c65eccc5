//! The transport on loopback: frames between committee members arrive attributed to their
//! sender; a node of another chain is never heard (protocol negotiation fails and is
//! reported); a peer outside the committee is refused at connection.

use std::time::Duration;

use curve_node::net::{self, Inbound, NetConfig, NetEvent, Peer};
use tokio::sync::mpsc;

/// A free port on 127.0.0.1 below the kernel's ephemeral range (32768 and up), where an
/// outgoing connection cannot take it between this check and the listener's bind; each
/// call takes the next port from a per-process offset.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = std::process::id().wrapping_mul(97) % 12_000;
    loop {
        let port = (20_000 + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn address(port: u16) -> libp2p::Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

fn public(seed: u8) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_bytes()
}

fn peer(replica: u16, seed: u8, port: u16) -> Peer {
    Peer {
        replica,
        id: net::peer_id(&public(seed)).unwrap(),
        address: address(port),
    }
}

fn start(
    chain_id: u64,
    seed: u8,
    port: u16,
    peers: Vec<Peer>,
) -> (net::Net, mpsc::Receiver<NetEvent>) {
    net::start(NetConfig {
        chain_id,
        key: net::keypair([seed; 32]),
        listen: address(port),
        peers,
    })
    .expect("the transport starts")
}

/// The next event matching `keep`, failing after 30 s.
async fn next<T>(
    events: &mut mpsc::Receiver<NetEvent>,
    mut keep: impl FnMut(NetEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = events.recv().await.expect("the transport runs");
            if let Some(found) = keep(event) {
                return found;
            }
        }
    })
    .await
    .expect("the event came")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_reach_members_and_nothing_else_does() {
    let (pa, pb, pc, pd) = (free_port(), free_port(), free_port(), free_port());
    // A and B: replicas 0 and 1 of chain 7. C: listed by B as replica 2, but on chain 8.
    let (a, mut a_events) = start(7, 1, pa, vec![peer(1, 2, pb)]);
    let (_b, mut b_events) = start(7, 2, pb, vec![peer(0, 1, pa), peer(2, 3, pc)]);
    let (c, mut c_events) = start(8, 3, pc, vec![peer(1, 2, pb)]);

    next(&mut a_events, |e| {
        matches!(e, NetEvent::Peers(1)).then_some(())
    })
    .await;
    assert!(a.send(1, b"hello".to_vec()));
    let Inbound { from, frame } = next(&mut b_events, |e| match e {
        NetEvent::Frame(inbound) => Some(inbound),
        _ => None,
    })
    .await;
    assert_eq!((from, frame.as_slice()), (0, b"hello".as_slice()));

    // C connects (B allows its key) but its protocol names chain 8: its frame is refused by
    // negotiation and C is told.
    next(&mut c_events, |e| {
        matches!(e, NetEvent::Peers(1)).then_some(())
    })
    .await;
    assert!(c.send(1, b"from another chain".to_vec()));
    let replica = next(&mut c_events, |e| match e {
        NetEvent::WrongProtocol(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(replica, 1);

    // D is nobody's member: B refuses its connection.
    let (_d, _d_events) = start(7, 4, pd, vec![peer(1, 2, pb)]);
    let reason = next(&mut b_events, |e| match e {
        NetEvent::Refused(reason) => Some(reason),
        NetEvent::Frame(inbound) => panic!("a frame from {} got through", inbound.from),
        _ => None,
    })
    .await;
    assert!(!reason.is_empty());
}
