//! The transport: libp2p over TCP with Noise and Yamux, carrying length-prefixed frames between
//! committee members and nobody else.
//!
//! - **Identity.** Each node's peer id comes from its *network* key, never its consensus key;
//!   the config maps every peer id to a replica index, and frames are attributed by the peer id
//!   Noise authenticated.
//! - **Admission.** An allow-list behaviour refuses connections from peers not in the
//!   committee, and connection limits bound what a peer can open. The protocol name carries the
//!   protocol version and the chain id (`/curve/frames/1/<chain id>`), so a node of another
//!   chain or version fails negotiation and is logged, never heard.
//! - **Frames.** One frame per request-response exchange (the answer is a one-byte ack), read
//!   with a hard size limit before allocation. Outbound frames per peer are bounded: past
//!   [`PENDING_PER_PEER`] unacknowledged frames a peer is slow and further frames to it are
//!   dropped (consensus recovers from loss by timeouts and fetches). A frame sent with
//!   [`Net::send_tracked`] is reported back as [`NetEvent::Delivered`] once its peer
//!   acknowledged it (a consensus-only node's batches wait for a quorum of them).
//! - **Reconnection.** Every committee peer is dialed at start and redialed with exponential
//!   back-off (100 ms doubling to 5 s) while disconnected.

use std::collections::BTreeMap;
use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::request_response::{self as rr, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent, dial_opts::DialOpts};
use libp2p::{Multiaddr, PeerId, StreamProtocol, allow_block_list, connection_limits, identity};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Largest frame accepted or sent (a full block of 4 MiB plus its certificate and framing).
pub const MAX_FRAME: usize = 8 << 20;
/// Unacknowledged frames to one peer before further frames to it are dropped.
pub const PENDING_PER_PEER: usize = 4_096;
/// Connections one peer may hold to us at once.
const CONNECTIONS_PER_PEER: u32 = 2;
const REDIAL_FIRST: Duration = Duration::from_millis(100);
const REDIAL_MAX: Duration = Duration::from_secs(5);

/// The protocol name for `chain_id`: version and chain are checked when a stream opens.
pub fn protocol(chain_id: u64) -> StreamProtocol {
    StreamProtocol::try_from_owned(format!("/curve/frames/1/{chain_id:016x}"))
        .expect("the name starts with a slash")
}

/// The libp2p key of a 32-byte Ed25519 secret seed.
pub fn keypair(secret: [u8; 32]) -> identity::Keypair {
    identity::Keypair::ed25519_from_bytes(secret).expect("any 32 bytes are an Ed25519 secret")
}

/// The peer id of an Ed25519 network public key.
pub fn peer_id(public: &[u8; 32]) -> Result<PeerId, String> {
    let key = identity::ed25519::PublicKey::try_from_bytes(public)
        .map_err(|e| format!("not an Ed25519 public key: {e}"))?;
    Ok(identity::PublicKey::from(key).to_peer_id())
}

/// Frames with a `u32` little-endian length prefix, refused above [`MAX_FRAME`].
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCodec;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut length = [0u8; 4];
    io.read_exact(&mut length).await?;
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {length} bytes is over the {MAX_FRAME}-byte limit"),
        ));
    }
    let mut frame = vec![0u8; length];
    io.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, frame: &[u8]) -> io::Result<()> {
    if frame.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes is over the limit", frame.len()),
        ));
    }
    io.write_all(&(frame.len() as u32).to_le_bytes()).await?;
    io.write_all(frame).await?;
    io.close().await
}

impl rr::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    // Shared bytes: a frame for every peer (a full block is megabytes) is one allocation.
    type Request = Bytes;
    type Response = u8;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Bytes> {
        read_frame(io).await.map(Bytes::from)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<u8> {
        let mut ack = [0u8; 1];
        io.read_exact(&mut ack).await?;
        Ok(ack[0])
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        frame: Bytes,
    ) -> io::Result<()> {
        write_frame(io, &frame).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        ack: u8,
    ) -> io::Result<()> {
        io.write_all(&[ack]).await?;
        io.close().await
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    allow: allow_block_list::Behaviour<allow_block_list::AllowedPeers>,
    limits: connection_limits::Behaviour,
    frames: rr::Behaviour<FrameCodec>,
}

/// A committee peer as the transport knows it.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Its replica index.
    pub replica: u16,
    /// Its peer id (from its network key).
    pub id: PeerId,
    /// Where to dial it.
    pub address: Multiaddr,
}

/// What the transport needs to start.
pub struct NetConfig {
    /// The chain (part of the protocol name).
    pub chain_id: u64,
    /// This node's network key.
    pub key: identity::Keypair,
    /// Where to listen.
    pub listen: Multiaddr,
    /// The other committee members.
    pub peers: Vec<Peer>,
}

/// A frame from a committee member.
#[derive(Debug)]
pub struct Inbound {
    /// The sender's replica index (authenticated by Noise).
    pub from: u16,
    /// The frame.
    pub frame: Vec<u8>,
}

/// Transport events the node reports.
#[derive(Debug)]
pub enum NetEvent {
    /// A frame arrived.
    Frame(Inbound),
    /// The set of connected committee peers changed; how many are connected now.
    Peers(usize),
    /// The listener is bound (its address, with the port chosen).
    Listening(Multiaddr),
    /// A committee peer answered but does not speak this chain's protocol (another chain id
    /// or protocol version): nothing is exchanged with it.
    WrongProtocol(u16),
    /// An incoming connection was refused (a peer outside the committee, over the limits).
    Refused(String),
    /// A frame sent with [`Net::send_tracked`] was acknowledged: `to` has read it whole.
    Delivered {
        /// The replica that acknowledged.
        to: u16,
        /// The tag it was sent with.
        tag: [u8; 32],
    },
}

/// The handle the driver sends through.
#[derive(Clone)]
pub struct Net {
    outbound: mpsc::Sender<Outbound>,
}

/// A frame for a replica, and the tag its acknowledgement is reported with, if any.
type Outbound = (u16, Bytes, Option<[u8; 32]>);

impl Net {
    /// Queues `frame` for replica `to`; false when the transport's queue is full or closed
    /// (the frame is dropped: consensus tolerates loss). A [`Bytes`] sent to several peers is
    /// shared, not copied.
    pub fn send(&self, to: u16, frame: impl Into<Bytes>) -> bool {
        self.outbound.try_send((to, frame.into(), None)).is_ok()
    }

    /// Like [`Net::send`], and once `to` acknowledges the frame a [`NetEvent::Delivered`]
    /// with `tag` follows (nothing if the frame is dropped or fails).
    pub fn send_tracked(&self, to: u16, frame: impl Into<Bytes>, tag: [u8; 32]) -> bool {
        self.outbound
            .try_send((to, frame.into(), Some(tag)))
            .is_ok()
    }
}

struct PeerState {
    peer: Peer,
    connections: usize,
    pending: usize,
    redial_at: Instant,
    backoff: Duration,
}

/// Starts the transport task; frames and events arrive on the returned receiver.
pub fn start(config: NetConfig) -> anyhow::Result<(Net, mpsc::Receiver<NetEvent>)> {
    let protocol = protocol(config.chain_id);
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.key)
        .with_tokio()
        .with_tcp(
            libp2p::tcp::Config::default().nodelay(true),
            libp2p::noise::Config::new,
            libp2p::yamux::Config::default,
        )?
        .with_behaviour(|_| {
            let frames = rr::Behaviour::with_codec(
                FrameCodec,
                [(protocol.clone(), ProtocolSupport::Full)],
                rr::Config::default()
                    .with_request_timeout(Duration::from_secs(5))
                    .with_max_concurrent_streams(PENDING_PER_PEER),
            );
            let limits = connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_established_per_peer(Some(CONNECTIONS_PER_PEER))
                    .with_max_pending_incoming(Some(16)),
            );
            Behaviour {
                allow: allow_block_list::Behaviour::default(),
                limits,
                frames,
            }
        })?
        // Consensus traffic is bursty: an idle connection stays up between views.
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3_600)))
        .build();
    swarm.listen_on(config.listen.clone())?;
    let now = Instant::now();
    let mut peers: BTreeMap<PeerId, PeerState> = BTreeMap::new();
    let mut by_replica: BTreeMap<u16, PeerId> = BTreeMap::new();
    for peer in config.peers {
        swarm.behaviour_mut().allow.allow_peer(peer.id);
        swarm.add_peer_address(peer.id, peer.address.clone());
        by_replica.insert(peer.replica, peer.id);
        peers.insert(
            peer.id,
            PeerState {
                peer,
                connections: 0,
                pending: 0,
                redial_at: now,
                backoff: REDIAL_FIRST,
            },
        );
    }
    let (outbound_tx, mut outbound) = mpsc::channel::<Outbound>(65_536);
    let (events, events_rx) = mpsc::channel::<NetEvent>(65_536);
    tokio::spawn(async move {
        let mut redial = tokio::time::interval(Duration::from_millis(100));
        let mut tracked: BTreeMap<rr::OutboundRequestId, (u16, [u8; 32])> = BTreeMap::new();
        loop {
            tokio::select! {
                command = outbound.recv() => {
                    let Some((to, frame, tag)) = command else { break };
                    let Some(id) = by_replica.get(&to) else { continue };
                    let state = peers.get_mut(id).expect("every replica's peer is known");
                    if state.pending >= PENDING_PER_PEER || state.connections == 0 {
                        tracing::trace!(to, "dropping a frame: peer slow or disconnected");
                        continue;
                    }
                    state.pending += 1;
                    let request = swarm.behaviour_mut().frames.send_request(id, frame);
                    if let Some(tag) = tag {
                        tracked.insert(request, (to, tag));
                    }
                }
                _ = redial.tick() => {
                    let now = Instant::now();
                    for (id, state) in peers.iter_mut() {
                        if state.connections == 0 && state.redial_at <= now {
                            let dial = DialOpts::peer_id(*id)
                                .addresses(vec![state.peer.address.clone()])
                                .build();
                            if let Err(error) = swarm.dial(dial) {
                                tracing::debug!(replica = state.peer.replica, %error, "dial");
                            }
                            state.redial_at = now + state.backoff;
                            state.backoff = (state.backoff * 2).min(REDIAL_MAX);
                        }
                    }
                }
                event = swarm.select_next_some() => {
                    if !handle(event, &mut swarm, &mut peers, &mut tracked, &events).await {
                        break;
                    }
                }
            }
        }
    });
    Ok((
        Net {
            outbound: outbound_tx,
        },
        events_rx,
    ))
}

fn connected(peers: &BTreeMap<PeerId, PeerState>) -> usize {
    peers.values().filter(|p| p.connections > 0).count()
}

/// Handles one swarm event; false when the node has gone (stop the task).
async fn handle(
    event: SwarmEvent<BehaviourEvent>,
    swarm: &mut libp2p::Swarm<Behaviour>,
    peers: &mut BTreeMap<PeerId, PeerState>,
    tracked: &mut BTreeMap<rr::OutboundRequestId, (u16, [u8; 32])>,
    events: &mpsc::Sender<NetEvent>,
) -> bool {
    match event {
        SwarmEvent::NewListenAddr { address, .. } => {
            tracing::info!(%address, "listening");
            return events.send(NetEvent::Listening(address)).await.is_ok();
        }
        SwarmEvent::ConnectionEstablished { peer_id, .. } => {
            if let Some(state) = peers.get_mut(&peer_id) {
                state.connections += 1;
                state.backoff = REDIAL_FIRST;
                tracing::info!(replica = state.peer.replica, "peer connected");
            }
            return events.send(NetEvent::Peers(connected(peers))).await.is_ok();
        }
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
            if let Some(state) = peers.get_mut(&peer_id) {
                state.connections = state.connections.saturating_sub(1);
                if state.connections == 0 {
                    state.pending = 0;
                    tracing::info!(replica = state.peer.replica, ?cause, "peer disconnected");
                }
            }
            return events.send(NetEvent::Peers(connected(peers))).await.is_ok();
        }
        SwarmEvent::IncomingConnectionError {
            send_back_addr,
            error,
            ..
        } => {
            tracing::warn!(%send_back_addr, %error, "refused an incoming connection");
            let reason = format!("{send_back_addr}: {error}");
            return events.send(NetEvent::Refused(reason)).await.is_ok();
        }
        SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
            tracing::debug!(?peer_id, %error, "dial failed");
        }
        SwarmEvent::Behaviour(BehaviourEvent::Frames(event)) => match event {
            rr::Event::Message {
                peer,
                message:
                    rr::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let _ = swarm.behaviour_mut().frames.send_response(channel, 1);
                let Some(state) = peers.get(&peer) else {
                    tracing::warn!(%peer, "frame from a peer outside the committee");
                    return true;
                };
                let inbound = Inbound {
                    from: state.peer.replica,
                    // The frame's only owner: the vector comes back without a copy.
                    frame: Vec::from(request),
                };
                return events.send(NetEvent::Frame(inbound)).await.is_ok();
            }
            rr::Event::Message {
                peer,
                message: rr::Message::Response { request_id, .. },
                ..
            } => {
                if let Some(state) = peers.get_mut(&peer) {
                    state.pending = state.pending.saturating_sub(1);
                }
                if let Some((to, tag)) = tracked.remove(&request_id) {
                    return events.send(NetEvent::Delivered { to, tag }).await.is_ok();
                }
            }
            rr::Event::OutboundFailure {
                peer,
                error,
                request_id,
                ..
            } => {
                tracked.remove(&request_id);
                if let Some(state) = peers.get_mut(&peer) {
                    state.pending = state.pending.saturating_sub(1);
                    if matches!(error, rr::OutboundFailure::UnsupportedProtocols) {
                        tracing::error!(
                            replica = state.peer.replica,
                            "peer does not speak this chain's protocol (another chain id or version)"
                        );
                        let replica = state.peer.replica;
                        return events.send(NetEvent::WrongProtocol(replica)).await.is_ok();
                    } else {
                        tracing::debug!(replica = state.peer.replica, %error, "frame not delivered");
                    }
                }
            }
            rr::Event::InboundFailure { peer, error, .. } => {
                tracing::warn!(%peer, %error, "inbound frame refused");
            }
            rr::Event::ResponseSent { .. } => {}
        },
        _ => {}
    }
    true
}
