//! Wire messages and stored records: canonical round trips, bounded decoders that never panic,
//! the fuzz corpus replayed (`UPDATE_CORPUS=1` rewrites it from the messages below).

mod common;

use common::*;
use curve_consensus::fuzz::{FUZZ_CHAIN_ID, decode_bytes};
use curve_consensus::{Block, CertifiedBlock, Message, QuorumCert, Record, SafetyState};
use curve_formats::encoding::{Decode, DecodeErrorKind, Encode};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// One of each message and record, signed as replicas sign them.
fn samples() -> Vec<Vec<u8>> {
    assert_eq!(CHAIN, FUZZ_CHAIN_ID, "the corpus is for the fuzz chain");
    let g = genesis();
    let p1 = propose(
        1,
        &g,
        QuorumCert::genesis(CHAIN),
        None,
        vec![b"tx one".to_vec(), vec![]],
    );
    let b1 = certified(&p1);
    let qc1 = certify(&b1);
    let gqc = QuorumCert::genesis(CHAIN);
    let tc2 = tc(2, &[(0, &qc1), (1, &gqc), (3, &gqc)]);
    let p3 = propose(3, &b1, qc1.clone(), Some(tc2.clone()), vec![vec![7; 40]]);
    let messages = [
        Message::Proposal(p1),
        Message::Proposal(p3.clone()),
        Message::Vote(vote(2, 1, hash(&b1))),
        Message::Timeout(timeout(1, 3, &qc1, Some(tc2.clone()))),
        Message::FetchRequest(hash(&b1)),
        Message::FetchResponse(b1.clone()),
        Message::Attestation(attestation(0, 8, [4; 32])),
    ];
    let records = [
        Record::Safety(SafetyState {
            last_voted_view: 3,
            last_proposed_view: 1,
            high_qc: qc1,
            last_tc: Some(tc2),
        }),
        Record::Block {
            hash: hash(&certified(&p3)),
            block: certified(&p3),
        },
        Record::Decided {
            height: 1,
            block: hash(&b1),
        },
        Record::Base {
            block: b1.clone(),
            qc: certify(&b1),
        },
    ];
    messages
        .iter()
        .map(|m| m.to_wire(CHAIN))
        .chain(records.iter().map(Encode::to_bytes))
        .collect()
}

#[test]
fn samples_round_trip_exactly() {
    for bytes in samples() {
        if let Ok(message) = Message::from_wire(CHAIN, &bytes) {
            assert_eq!(message.to_wire(CHAIN), bytes);
        } else {
            let record = Record::from_bytes(&bytes).expect("a sample is a message or a record");
            assert_eq!(record.to_bytes(), bytes);
        }
    }
}

#[test]
fn another_chain_or_kind_is_refused_before_the_body() {
    let bytes = Message::FetchRequest([1; 32]).to_wire(CHAIN);
    let err = Message::from_wire(CHAIN + 1, &bytes).unwrap_err();
    assert!(
        matches!(err.kind, DecodeErrorKind::WrongChain { .. }),
        "{err:?}"
    );
    let mut unknown = bytes.clone();
    unknown[15] = 9;
    let err = Message::from_wire(CHAIN, &unknown).unwrap_err();
    assert_eq!(
        (err.offset, err.kind),
        (15, DecodeErrorKind::InvalidDiscriminant(9))
    );
    let mut trailing = bytes;
    trailing.push(0);
    assert!(matches!(
        Message::from_wire(CHAIN, &trailing).unwrap_err().kind,
        DecodeErrorKind::TrailingBytes { count: 1 }
    ));
}

#[test]
fn certificates_list_each_signer_once_in_order() {
    let b = genesis();
    let mut qc = qc(1, hash(&b), &[0, 1, 2]);
    qc.votes.swap(0, 1);
    let err = QuorumCert::from_bytes(&qc.to_bytes()).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::Unordered);
    qc.votes[0].0 = qc.votes[1].0;
    let err = QuorumCert::from_bytes(&qc.to_bytes()).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::Unordered);
}

#[test]
fn counts_above_the_bounds_are_refused_without_allocating() {
    // A block claiming 2^32 − 1 transactions in a few bytes.
    let mut bytes = Block::genesis().to_bytes();
    let count_at = bytes.len() - 4;
    bytes[count_at..].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Block::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err.kind, DecodeErrorKind::LengthTooLarge { .. }),
        "{err:?}"
    );
    // Within the bound but beyond the input: truncated, not an allocation of the claimed size.
    bytes[count_at..].copy_from_slice(&60_000u32.to_le_bytes());
    let err = Block::from_bytes(&bytes).unwrap_err();
    assert!(
        matches!(err.kind, DecodeErrorKind::Truncated { .. }),
        "{err:?}"
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // The test reads its corpus; the library does no IO.
fn fuzz_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/consensus_decode");
    if std::env::var_os("UPDATE_CORPUS").is_some() {
        for (i, sample) in samples().into_iter().enumerate() {
            std::fs::write(dir.join(format!("sample-{i:02}")), sample).expect("write corpus");
        }
    }
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        decode_bytes(&std::fs::read(entry.expect("entry").path()).expect("read"));
        count += 1;
    }
    assert!(
        count >= samples().len(),
        "corpus has {count} inputs; run with UPDATE_CORPUS=1"
    );
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_bytes(&bytes);
    }

    /// Any one byte of a real message or record changed, truncated or extended: a clean error or
    /// another canonical value, never a panic.
    #[test]
    fn edited_samples_never_panic(which in 0usize..10, at in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let samples = samples();
        let mut bytes = samples[which % samples.len()].clone();
        let at = at % bytes.len();
        if cut {
            bytes.truncate(at);
        } else {
            bytes[at] = byte;
        }
        decode_bytes(&bytes);
    }

    /// Blocks with arbitrary payloads round-trip, and their hash covers every byte, every
    /// transaction boundary and the transactions' order.
    #[test]
    fn blocks_round_trip(view in any::<u64>(), height in any::<u64>(), proposer in any::<u16>(),
                         payload in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8)) {
        let block = Block { view, height, parent: [3; 32], proposer, timestamp_ms: height ^ view, payload };
        let bytes = block.to_bytes();
        prop_assert_eq!(Block::from_bytes(&bytes).unwrap(), block.clone());
        let justify = QuorumCert::genesis(CHAIN);
        let fetched = Message::FetchResponse(CertifiedBlock { block: block.clone(), justify });
        prop_assert_eq!(Message::from_wire(CHAIN, &fetched.to_wire(CHAIN)).unwrap(), fetched);
        let mut other = block.clone();
        other.view = other.view.wrapping_add(1);
        prop_assert_ne!(other.hash(CHAIN), block.hash(CHAIN));
        // The hash commits to the payload through one SHA-256 digest per transaction.
        let (hash, digests) = block.hash_and_digests(CHAIN);
        prop_assert_eq!(hash, block.hash(CHAIN));
        let expected: Vec<[u8; 32]> = block.payload.iter().map(|tx| Sha256::digest(tx).into()).collect();
        prop_assert_eq!(&digests, &expected);
        if let Some(i) = block.payload.iter().position(|tx| !tx.is_empty()) {
            // One byte of one transaction changed, or that transaction split in two.
            let mut edited = block.clone();
            *edited.payload[i].last_mut().unwrap() ^= 1;
            prop_assert_ne!(edited.hash(CHAIN), hash);
            let mut split = block.clone();
            let tail = split.payload[i].split_off(1);
            split.payload.insert(i + 1, tail);
            prop_assert_ne!(split.hash(CHAIN), hash);
        }
        if block.payload.len() >= 2 && block.payload[0] != block.payload[1] {
            let mut swapped = block.clone();
            swapped.payload.swap(0, 1);
            prop_assert_ne!(swapped.hash(CHAIN), hash);
        }
    }
}

/// A replica signs exactly the bytes the Anchor program's `post_batch` verifies: the formats
/// crate's pinned `batch_header.message` vector for its pinned header.
#[test]
fn attestations_sign_the_pinned_batch_header_message() {
    let field = |name| curve_formats::vectors::v1(name).expect("the vector is pinned");
    let header = curve_formats::batch::BatchHeader::from_bytes(&field("batch_header")).unwrap();
    let message = field("batch_header.message");
    // Sign for the chain the vector's tag names.
    let tag =
        curve_formats::domain::Tag::decode(&mut curve_formats::encoding::Reader::new(&message))
            .unwrap();
    assert_eq!(tag.kind, curve_formats::domain::Kind::BatchHeader);
    let chain = tag.chain_id;
    assert_eq!(
        curve_consensus::types::attestation_message(chain, &header),
        message
    );
}
