//! `post_batch`: the committee-signed state-root chain.

use crate::harness::*;
use curve_anchor::{BatchRecord, MAX_COMMITTEE, MAX_QUORUM, SignedHeader};
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
    // Height 1's record exists (the account is reused only for a revoked height): refused by
    // the height check, the record untouched.
    env.refused(
        6005,
        &ixs,
        &[],
        &[pda::config(), pda::batch(1), pda::batch(2)],
    )
    .await;

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

/// The largest committee's largest quorum fits one transaction together with a compute-unit
/// limit and a priority fee (what a poster sends when the network is busy).
#[tokio::test]
async fn post_batch_with_the_largest_quorum_and_a_priority_fee_fits_one_transaction() {
    use solana_compute_budget_interface::ComputeBudgetInstruction;
    let mut env = Env::uninitialised().await;
    env.committee = committee(MAX_COMMITTEE, "largest");
    let mut args = init_args(&env.committee, true);
    args.quorum = MAX_QUORUM as u8;
    let ix = env.initialize_ix(env.mint, args);
    let governance = env.governance.insecure_clone();
    env.send(&[ix], &[&governance]).await.expect("initialize");
    let team = members(&env);
    let signers: Vec<&Keypair> = team.iter().take(MAX_QUORUM).collect();
    let body = next(&mut env).await;
    let [ed25519, post] = env.signed_batch(body, &signers, 3);
    let ixs = [
        ComputeBudgetInstruction::set_compute_unit_limit(200_000),
        ComputeBudgetInstruction::set_compute_unit_price(50_000),
        ed25519,
        post,
    ];
    let tx = env.transaction(&ixs, &[]);
    let size = wire_size(&tx);
    println!(
        "post_batch with {} of {MAX_COMMITTEE} signatures, a compute limit and a priority fee: {size} bytes",
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

/// The precompile verifies each signature with the key wherever its offsets point — possibly in
/// another instruction — while this program reads keys from the ed25519 instruction itself. So
/// the key's instruction index must be that instruction: here the outsider's signature is
/// verified with the outsider's key (held in a first ed25519 instruction), and the bytes at the
/// same offset of the second instruction are a member's key. Only the key-index check refuses it.
#[tokio::test]
async fn a_key_read_from_another_instruction_than_the_precompile_verified_is_refused() {
    let env = &mut Env::new().await;
    let team = members(env);
    let outsider = keypair("outsider");
    let watched = [pda::config(), pda::batch(1)];
    let body = next(env).await;
    let bytes = signed_bytes(&body);
    let outsider_signature: [u8; 64] = outsider.sign_message(&bytes).into();
    // Instruction 2 (before post_batch at 3): two members' signatures and a third entry with the
    // outsider's signature; the third member's key is appended at offset `key_at`.
    let mut entries = sign(&[&team[0], &team[1]], &bytes);
    entries.push((team[2].pubkey().to_bytes(), outsider_signature));
    let mut disguised = ed25519_ix(&entries, 3, PAYLOAD_OFFSET, bytes.len() as u16, &[]);
    let key_at = disguised.data.len() as u16;
    disguised
        .data
        .extend_from_slice(&team[2].pubkey().to_bytes());
    let third = 2 + 14 * 2;
    disguised.data[third + 4..third + 6].copy_from_slice(&key_at.to_le_bytes());
    // ...whose key the precompile reads from instruction 1, at the same offset.
    disguised.data[third + 6..third + 8].copy_from_slice(&1u16.to_le_bytes());
    // Instruction 1: a valid ed25519 instruction holding the outsider's signature over the
    // payload (inline) and the outsider's key at `key_at`.
    let (signature_at, message_at) = (16u16, 80u16);
    let mut data = vec![1u8, 0];
    for word in [
        signature_at,
        u16::MAX,
        key_at,
        u16::MAX,
        message_at,
        bytes.len() as u16,
        u16::MAX,
    ] {
        data.extend_from_slice(&word.to_le_bytes());
    }
    data.extend_from_slice(&outsider_signature);
    data.extend_from_slice(&bytes);
    assert!(
        data.len() <= key_at as usize,
        "the key's offset is past the message"
    );
    data.resize(key_at as usize, 0);
    data.extend_from_slice(&outsider.pubkey().to_bytes());
    let holder = anchor_lang::solana_program::instruction::Instruction {
        program_id: curve_anchor::ED25519_PROGRAM_ID,
        accounts: vec![],
        data,
    };
    env.refused(
        6011,
        &[holder, disguised, env.post_batch_ix(body)],
        &[],
        &watched,
    )
    .await;
}

/// A signature over a prefix of the payload verifies in the precompile (over the bytes its
/// offsets name), but is not a signature over the payload: the message length must be the
/// payload's exactly.
#[tokio::test]
async fn a_signature_over_a_prefix_of_the_payload_is_refused() {
    let env = &mut Env::new().await;
    let team = members(env);
    let watched = [pda::config(), pda::batch(1)];
    let body = next(env).await;
    let bytes = signed_bytes(&body);
    let short = bytes.len() - 1;
    let mut signatures = sign(&[&team[0], &team[1]], &bytes);
    let prefix_signature: [u8; 64] = team[2].sign_message(&bytes[..short]).into();
    signatures.push((team[2].pubkey().to_bytes(), prefix_signature));
    let mut ix = ed25519_ix(&signatures, 2, PAYLOAD_OFFSET, bytes.len() as u16, &[]);
    let third = 2 + 14 * 2;
    ix.data[third + 10..third + 12].copy_from_slice(&(short as u16).to_le_bytes());
    env.refused(6010, &[ix, env.post_batch_ix(body)], &[], &watched)
        .await;
}

/// The bytes `post_batch` verifies signatures over (the borsh payload) are the formats crate's
/// pinned `batch_header.message` — the bytes the consensus core's replicas sign (its codec test
/// checks the same vector from the other side).
#[test]
fn the_verified_payload_is_the_pinned_batch_header_message() {
    use anchor_lang::AnchorDeserialize;
    use curve_formats::encoding::{Decode, Reader};
    let field = |name| curve_formats::vectors::v1(name).expect("the vector is pinned");
    let header = curve_formats::batch::BatchHeader::from_bytes(&field("batch_header")).unwrap();
    let message = field("batch_header.message");
    let tag = curve_formats::domain::Tag::decode(&mut Reader::new(&message)).unwrap();
    let payload = SignedHeader::new(tag.chain_id, &header);
    assert_eq!(signed_bytes(&payload), message);
    let read = SignedHeader::try_from_slice(&message).expect("the vector is a payload");
    assert_eq!(read, payload);
    assert_eq!(curve_formats::batch::BatchHeader::from(read.header), header);
}
