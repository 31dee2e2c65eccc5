//! The poster against the local endpoint (`curve-solana-localnet`: the program in the bank,
//! behind Solana JSON-RPC): the program initialised with a committee of 4 (quorum 3), a chain
//! of 120 certificates signed by the committee the way the nodes' execution attestations sign
//! them, posted by one poster and — after it is dropped mid-chain — by a fresh one that resumes
//! from the program's tip: every height anchored once, in order, none skipped; certificates
//! that must not be posted are refused before anything is sent.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anchor_lang::{AccountDeserialize, AnchorSerialize};
use common::Deployed;
use common::chain::{CHAIN_ID, Committee, root};
use common::key;
use curve_anchor::{BatchRecord, SignedHeader};
use curve_batch_poster::{Certificate, PostError, Source, batch_address};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_signer::Signer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_poster_resumes_at_the_tip_and_anchors_every_height_once() {
    let deployed = Deployed::start(50).await;
    let client = &deployed.client;
    let available = Arc::new(AtomicU64::new(60));
    let poster = |available: &Arc<AtomicU64>| deployed.poster(available);

    // The first poster anchors the 60 certificates the node has, then is dropped.
    let mut first = poster(&available);
    assert_eq!(first.tip().await.expect("a tip").height, 0);
    assert_eq!(first.post_available().await.expect("posts"), 60);
    assert_eq!(first.posted(), 60);
    drop(first);

    // The node moves on to 120; a new poster starts from the program's tip, not from 1.
    available.store(120, Ordering::SeqCst);
    let mut second = poster(&available);
    assert_eq!(second.tip().await.expect("a tip").height, 60);
    assert_eq!(second.post_available().await.expect("posts"), 60);
    assert_eq!(second.posted(), 60);
    let tip = second.tip().await.expect("a tip");
    assert_eq!((tip.height, tip.root), (120, root(120)));

    // Every height anchored once, in order: each record holds its own header, and the
    // posting slots never go back.
    let mut last_slot = 0;
    for chunk in (1..=120u64).collect::<Vec<_>>().chunks(100) {
        let addresses: Vec<Pubkey> = chunk.iter().map(|&h| batch_address(h)).collect();
        let accounts = client
            .get_multiple_accounts(&addresses)
            .await
            .expect("answers");
        for (&h, account) in chunk.iter().zip(accounts) {
            let account = account.unwrap_or_else(|| panic!("no record at height {h}"));
            let record =
                BatchRecord::try_deserialize(&mut account.data.as_slice()).expect("a record");
            assert_eq!(
                (record.header.height, record.header.state_root),
                (h, root(h))
            );
            assert!(
                record.posted_slot >= last_slot,
                "height {h} posted before {}",
                h - 1
            );
            last_slot = record.posted_slot;
        }
    }
    let none = client
        .get_account_with_commitment(&batch_address(121), CommitmentConfig::processed())
        .await
        .expect("answers");
    assert!(none.value.is_none(), "nothing past the certificates");

    // Nothing new: a third poster posts nothing.
    let mut third = poster(&available);
    assert_eq!(third.post_available().await.expect("nothing"), 0);
    assert_eq!(third.posted(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_that_must_not_be_posted_are_refused_before_sending() {
    let deployed = Deployed::start(50).await;
    let (members, payer) = (&deployed.members, &deployed.payer);
    let poster = deployed.poster(&Arc::new(AtomicU64::new(1)));
    let tip = poster.tip().await.expect("a tip");
    let good = Committee {
        members: members.iter().map(|m| m.insecure_clone()).collect(),
        available: Arc::new(AtomicU64::new(1)),
    }
    .certificate(1)
    .await
    .expect("signed")
    .expect("available");
    assert!(curve_batch_poster::post_instructions(&tip, &good, payer.pubkey()).is_ok());
    // Another chain's history: its previous root is not the anchored one.
    let mut forked = good.clone();
    forked.header.prev_root = [0x99; 32];
    let refused = curve_batch_poster::post_instructions(&tip, &forked, payer.pubkey());
    assert!(
        matches!(refused, Err(PostError::Refused(ref e)) if e.contains("does not extend")),
        "{refused:?}"
    );
    // With only the quorum signed, one bad signature, a replica outside the committee, a
    // repeated signer or a missing signature each leave too few, and the refusal says why.
    let refused_for = |certificate: &Certificate, says: &str| {
        let refused = curve_batch_poster::post_instructions(&tip, certificate, payer.pubkey());
        assert!(
            matches!(refused, Err(PostError::Refused(ref e)) if e.contains("needs 3") && e.contains(says)),
            "{says}: {refused:?}"
        );
    };
    let mut outsider = good.clone();
    outsider.signatures[0].1 = <[u8; 64]>::from(key("outsider").sign_message(b"anything"));
    refused_for(&outsider, "does not verify");
    let mut stranger = good.clone();
    stranger.signatures[2].0 = 9;
    refused_for(&stranger, "not in the program's committee");
    let mut repeated = good.clone();
    repeated.signatures[2] = repeated.signatures[1];
    refused_for(&repeated, "signed twice");
    let mut short = good.clone();
    short.signatures.truncate(2);
    refused_for(&short, "2 good signatures");
    // A fourth, good signature makes up for a bad one: posted with the good three.
    let mut extra = outsider;
    let mut bytes = Vec::new();
    SignedHeader::new(CHAIN_ID, &extra.header)
        .serialize(&mut bytes)
        .expect("borsh writes to memory");
    extra
        .signatures
        .push((2, <[u8; 64]>::from(members[2].sign_message(&bytes))));
    assert!(curve_batch_poster::post_instructions(&tip, &extra, payer.pubkey()).is_ok());
    // Nothing reached the chain.
    assert_eq!(poster.tip().await.expect("a tip").height, 0);
}

/// Solana's packet limit: a transaction larger than this is refused by every cluster.
const PACKET_DATA_SIZE: usize = 1_232;

#[test]
fn a_post_for_the_largest_committee_and_a_withdrawal_with_the_deepest_proof_fit_a_packet() {
    let payer = key("poster");
    let largest = common::chain::post_transaction(curve_anchor::MAX_COMMITTEE, &payer)
        .expect("a quorum of good signatures");
    let size = common::chain::wire_size(&largest);
    assert!(
        size <= PACKET_DATA_SIZE,
        "post_batch for {} members: {size} bytes",
        curve_anchor::MAX_COMMITTEE
    );
    for (what, size) in common::chain::transaction_sizes(&payer) {
        assert!(size <= PACKET_DATA_SIZE, "{what}: {size} bytes");
    }
}
