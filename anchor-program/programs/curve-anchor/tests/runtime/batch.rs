//! `post_batch`: the committee-signed state-root chain.

use crate::harness::*;
use curve_anchor::{BatchRecord, MAX_COMMITTEE, SignedHeader};
use solana_keypair::Keypair;
use solana_signer::Signer;

fn members(env: &Env) -> Vec<Keypair> {
    env.committee.iter().map(|k| k.insecure_clone()).collect()
}

/// The next header's payload, signed by nobody yet.
async fn next(env: &mut Env) -> SignedHeader {
    let config = env.config().await;
    SignedHeader::new(CHAIN_ID, &next_header(&config, [0; 32], 0, 0))
}

#[tokio::test]
async fn a_quorum_anchors_the_next_batch_and_the_chain_advances() {
    let env = &mut Env::new().await;
    let first = env.post([0xAA; 32], 3, 500).await;
    let slot = env.slot().await;
    let record: BatchRecord = env.account(pda::batch(1)).await;
    assert_eq!(record.header.height, 1);
    assert_eq!(record.header.prev_root, [0x60; 32]);
    assert_eq!(record.header.state_root, first.state_root);
    assert_eq!(record.header.transactions_root, first.transactions_root);
    assert_eq!(
        (
            record.header.withdrawal_root,
            record.header.withdrawal_count,
            record.header.withdrawal_total
        ),
        ([0xAA; 32], 3, 500)
    );
    assert_eq!(
        (record.withdrawn, record.header.timestamp_ms),
        (0, first.timestamp_ms)
    );
    assert_eq!((record.posted_slot, record.committee_epoch), (slot, 0));
    let second = env.post([0; 32], 0, 0).await;
    let config = env.config().await;
    assert_eq!(
        (config.latest_height, config.latest_root),
        (2, second.state_root)
    );
    assert_eq!(second.prev_root, first.state_root);
    let ring: Vec<u64> = config.recent_roots.iter().map(|r| r.height).collect();
    assert_eq!(ring, [0, 1, 2]);
}

#[tokio::test]
async fn the_ring_of_recent_roots_keeps_the_last_sixteen() {
    let env = &mut Env::new().await;
    for _ in 0..18 {
        env.post([0; 32], 0, 0).await;
    }
    let config = env.config().await;
    let mut heights: Vec<u64> = config.recent_roots.iter().map(|r| r.height).collect();
    heights.sort();
    assert_eq!(heights, (3..=18).collect::<Vec<_>>());
    let tip = config
        .recent_roots
        .iter()
        .find(|r| r.height == 18)
        .expect("tip kept");
    assert_eq!(tip.state_root, config.latest_root);
}

#[tokio::test]
async fn headers_off_the_chain_or_for_another_chain_are_refused() {
    let env = &mut Env::new().await;
    env.post([0; 32], 0, 0).await;
    let team = members(env);
    let quorum: Vec<&Keypair> = team.iter().take(3).collect();
    let watched = [pda::config(), pda::batch(2), pda::batch(3)];

    let mut skip = next(env).await;
    skip.header.height = 3;
    let ixs = env.signed_batch(skip, &quorum, 2);
    env.refused(6005, &ixs, &[], &watched).await;

    let mut replay = next(env).await;
    replay.header.height = 1;
    replay.header.prev_root = [0x60; 32];
    let ixs = env.signed_batch(replay, &quorum, 2);
    // Height 1's record exists: the runtime refuses to create it again.
    env.refused_by_runtime(&ixs, &[], &watched).await;

    let mut broken = next(env).await;
    broken.header.prev_root = [0x61; 32];
    let ixs = env.signed_batch(broken, &quorum, 2);
    env.refused(6006, &ixs, &[], &watched).await;

    let other_chain = SignedHeader::new(
        CHAIN_ID + 1,
        &next_header(&env.config().await, [0; 32], 0, 0),
    );
    let ixs = env.signed_batch(other_chain, &quorum, 2);
    env.refused(6007, &ixs, &[], &watched).await;
}

#[tokio::test]
async fn signatures_must_be_a_quorum_of_distinct_members_over_this_payload() {
    let env = &mut Env::new().await;
    let team = members(env);
    let watched = [pda::config(), pda::batch(1)];
    let body = next(env).await;
    let bytes = signed_bytes(&body);
    let at = |signatures| ed25519_ix(signatures, 2, PAYLOAD_OFFSET, bytes.len() as u16, &[]);

    // Quorum − 1.
    let two = sign(&[&team[0], &team[1]], &bytes);
    env.refused(6014, &[at(&two), env.post_batch_ix(body)], &[], &watched)
        .await;
    // The same member twice makes three signatures but two members.
    let twice = sign(&[&team[0], &team[1], &team[1]], &bytes);
    env.refused(6012, &[at(&twice), env.post_batch_ix(body)], &[], &watched)
        .await;
    // A non-member's valid signature.
    let outsider = keypair("outsider");
    let with_outsider = sign(&[&team[0], &team[1], &outsider], &bytes);
    env.refused(
        6013,
        &[at(&with_outsider), env.post_batch_ix(body)],
        &[],
        &watched,
    )
    .await;

    // Valid signatures over a different header, carried inside the ed25519 instruction.
    let mut other = body;
    other.header.state_root = [0xEE; 32];
    let other_bytes = signed_bytes(&other);
    let signatures = sign(&[&team[0], &team[1], &team[2]], &other_bytes);
    let elsewhere = ed25519_ix(&signatures, u16::MAX, 0, 0, &other_bytes);
    env.refused(6010, &[elsewhere, env.post_batch_ix(body)], &[], &watched)
        .await;
    // The same bytes inline are accepted only because they *are* this payload.
    let signatures = sign(&[&team[0], &team[1], &team[2]], &bytes);
    let inline = ed25519_ix(&signatures, u16::MAX, 0, 0, &bytes);
    env.send(&[inline, env.post_batch_ix(body)], &[])
        .await
        .expect("inline payload");
    assert_eq!(env.config().await.latest_height, 1);
}

#[tokio::test]
async fn the_signature_instruction_must_be_present_well_formed_and_self_contained() {
    let env = &mut Env::new().await;
    let team = members(env);
    let watched = [pda::config(), pda::batch(1)];
    let body = next(env).await;
    let bytes = signed_bytes(&body);

    // No ed25519 instruction before post_batch.
    env.refused(6008, &[env.post_batch_ix(body)], &[], &watched)
        .await;
    // An empty signature list (the precompile accepts it; the program does not).
    let empty = ed25519_ix(&[], 2, 0, 0, &[]);
    env.refused(6009, &[empty, env.post_batch_ix(body)], &[], &watched)
        .await;

    // Keys and signatures in another instruction: a first ed25519 instruction (index 1) holds
    // them; the one before post_batch (index 2) points there. The precompile verifies both.
    let signatures = sign(&[&team[0], &team[1], &team[2]], &bytes);
    let holder = ed25519_ix(&signatures, u16::MAX, 0, 0, &bytes);
    let mut pointer = holder.clone();
    for k in 0..3 {
        let at = 2 + 14 * k;
        pointer.data[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
        pointer.data[at + 6..at + 8].copy_from_slice(&1u16.to_le_bytes());
        pointer.data[at + 12..at + 14].copy_from_slice(&1u16.to_le_bytes());
    }
    env.refused(
        6011,
        &[holder, pointer, env.post_batch_ix(body)],
        &[],
        &watched,
    )
    .await;

    // A forged signature fails the whole transaction in the precompile.
    let mut forged = sign(&[&team[0], &team[1], &team[2]], &bytes);
    forged[2].1[0] ^= 1;
    let ix = ed25519_ix(&forged, 2, PAYLOAD_OFFSET, bytes.len() as u16, &[]);
    let before = env.raw(pda::config()).await;
    let result = env.send(&[ix, env.post_batch_ix(body)], &[]).await;
    assert!(result.is_err(), "a forged signature must fail");
    assert_eq!(env.raw(pda::config()).await, before);
}

#[tokio::test]
async fn rotation_moves_authority_to_the_new_committee() {
    let env = &mut Env::new().await;
    let old = members(env);
    let new = committee(4, "rotated");
    let ix = env.govern_ix(
        env.governance.pubkey(),
        anchor_lang::InstructionData::data(&curve_anchor::instruction::RotateCommittee {
            committee: keys(&new),
            quorum: 3,
        }),
    );
    let governance = env.governance.insecure_clone();
    env.send(&[ix], &[&governance]).await.expect("rotate");
    let body = next(env).await;
    let stale = env.signed_batch(body, &[&old[0], &old[1], &old[2]], 2);
    env.refused(6013, &stale, &[], &[pda::config(), pda::batch(1)])
        .await;
    let fresh = env.signed_batch(body, &[&new[1], &new[2], &new[3]], 2);
    env.send(&fresh, &[])
        .await
        .expect("the new committee signs");
    let record: BatchRecord = env.account(pda::batch(1)).await;
    assert_eq!(record.committee_epoch, 1);
}

#[tokio::test]
async fn paused_batches_are_refused() {
    let env = &mut Env::new().await;
    env.set_paused(true).await;
    let team = members(env);
    let body = next(env).await;
    let ixs = env.signed_batch(body, &[&team[0], &team[1], &team[2]], 2);
    env.refused(6000, &ixs, &[], &[pda::config(), pda::batch(1)])
        .await;
}

/// The largest committee's quorum fits one transaction with nothing but the two instructions
/// (no compute-budget instruction: none is needed natively or on chain).
#[tokio::test]
async fn post_batch_with_the_largest_committee_fits_one_transaction() {
    let mut env = Env::uninitialised().await;
    env.committee = committee(MAX_COMMITTEE, "largest");
    let args = init_args(&env.committee, true);
    assert_eq!(args.quorum, 6);
    let ix = env.initialize_ix(env.mint, args);
    let governance = env.governance.insecure_clone();
    env.send(&[ix], &[&governance]).await.expect("initialize");
    let team = members(&env);
    let signers: Vec<&Keypair> = team.iter().take(6).collect();
    let body = next(&mut env).await;
    let ixs = env.signed_batch(body, &signers, 1);
    let tx = env.transaction(&ixs, &[]);
    let size = wire_size(&tx);
    println!(
        "post_batch with {} of {MAX_COMMITTEE} signatures: {size} bytes",
        signers.len()
    );
    assert!(size <= 1232, "{size} bytes");
    env.bank
        .banks_client
        .process_transaction(tx)
        .await
        .expect("post_batch");
    assert_eq!(env.config().await.latest_height, 1);
    // Borsh and the canonical encoding agree: the signed bytes are the formats crate's.
    let expected =
        curve_formats::domain::Tag::new(curve_formats::domain::Kind::BatchHeader, CHAIN_ID)
            .message(&curve_formats::batch::BatchHeader::from(body.header));
    assert_eq!(signed_bytes(&body), expected);
}
