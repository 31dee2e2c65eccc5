//! Golden vectors, independent re-computations, rejection of bad input, property tests and the
//! fuzz-corpus replay for `curve-formats`.
//!
//! `vectors/v1.txt` pins every format's bytes; a format change without a vector change fails
//! here. `UPDATE_EXPECT=1 cargo test -p curve-formats` re-blesses it (then bump the version).

use ark_bn254::Fr;
use ark_ff::{AdditiveGroup, Field, PrimeField};
use curve_formats::batch::BatchHeader;
use curve_formats::certificate::{self, Row, RowKind, SizeClass};
use curve_formats::deposit::DepositRecord;
use curve_formats::domain::{Kind, TAG_LEN, Tag};
use curve_formats::encoding::{Decode, DecodeErrorKind, Encode};
use curve_formats::leaf::{Origin, PAYOUT_LEAF_LEN, PayoutLeaf};
use curve_formats::merkle::{self, Hash, MerkleError, MerkleProof, MerkleTree};
use curve_formats::oracle;
use curve_formats::poseidon::{self, Domain};
use curve_formats::tx::{
    Action, Arg, CommitteeSignature, ProgramImage, SignedTransaction, Transaction, Value,
};
use expect_test::expect_file;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::fmt::Write;

const CHAIN: u64 = 0x4355_5256_0000_0001;

fn sample_header() -> BatchHeader {
    BatchHeader {
        height: 7,
        prev_root: [1; 32],
        state_root: [2; 32],
        transactions_root: [3; 32],
        withdrawal_root: [4; 32],
        withdrawal_count: 3,
        withdrawal_total: 1_000_000_000_000_000_000_000,
        timestamp_ms: 1_780_000_000_000,
    }
}

fn sample_leaf(index: u32, settlement: bool) -> PayoutLeaf {
    PayoutLeaf {
        chain_id: CHAIN,
        batch_height: 7,
        index,
        recipient: [0xAB; 32],
        amount: 1_000_000 + u128::from(index),
        origin: if settlement {
            Origin::Settlement {
                market_id: [0xCD; 32],
            }
        } else {
            Origin::Withdrawal
        },
    }
}

fn sample_deposit() -> DepositRecord {
    DepositRecord {
        chain_id: CHAIN,
        sequence: 42,
        depositor: [0x11; 32],
        recipient: [0x22; 32],
        amount: 5_000_000,
        slot: 123_456,
    }
}

fn sample_image() -> ProgramImage {
    ProgramImage {
        template: "oracle".into(),
        module: vec![1, 2, 3],
        params: vec![4; 8],
        proof: vec![5; 4],
        manifest: b"{}".to_vec(),
    }
}

/// One action of every kind, in discriminant order.
fn sample_actions() -> Vec<Action> {
    vec![
        Action::Transfer {
            to: [0x33; 32],
            amount: 1_000,
        },
        Action::Call {
            program: 3,
            entry: "update".into(),
            args: vec![
                Arg::One(Value::U64(7)),
                Arg::One(Value::I64(-1)),
                Arg::One(Value::U128(1 << 100)),
                Arg::One(Value::I128(-2)),
                Arg::One(Value::Bytes32([0x44; 32])),
                Arg::Many(vec![Value::Signature([0x55; 64]), Value::Cap(9)]),
            ],
            access: vec![2, 5],
        },
        Action::Deploy(sample_image()),
        Action::Upgrade {
            program: 3,
            image: sample_image(),
        },
        Action::RegisterSlab { program: 4 },
        Action::CreditDeposit {
            record: sample_deposit(),
            attestations: vec![CommitteeSignature {
                member: 2,
                signature: [0x66; 64],
            }],
        },
        Action::Withdraw {
            amount: 77,
            recipient: [0x77; 32],
        },
        Action::RegisterOracleKey {
            program: 3,
            key: [0x88; 32],
        },
        Action::SetVerifyingKey {
            class: 1,
            vk: vec![0x99; 3],
        },
        Action::RotateCommittee {
            keys: vec![[0xAA; 32], [0xBB; 32]],
            quorum: 2,
        },
        Action::SetGovernance { key: [0xCC; 32] },
        Action::BindViews {
            program: 4,
            views: vec![1, 2],
        },
    ]
}

fn sample_tx(action: Action) -> SignedTransaction {
    SignedTransaction {
        tx: Transaction {
            chain_id: CHAIN,
            sender: [0xEE; 32],
            nonce: 5,
            gas_limit: 100_000,
            fee_per_gas: 2,
            action,
        },
        signature: [0xFF; 64],
    }
}

/// A naive recursive root over padded leaves, written independently of `MerkleTree`.
fn naive_root(leaves: &[Vec<u8>]) -> Hash {
    fn sha(parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part);
        }
        hasher.finalize().into()
    }
    let mut width = 1;
    while width < leaves.len() {
        width *= 2;
    }
    let mut level: Vec<Hash> = (0..width)
        .map(|i| match leaves.get(i) {
            Some(leaf) => sha(&[&[0], leaf]),
            None => sha(&[&[2]]),
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| sha(&[&[1], &p[0], &p[1]]))
            .collect();
    }
    level[0]
}

/// The Poseidon permutation and sponge written out from the parameters, independently of the
/// arkworks sponge code.
#[allow(clippy::needless_range_loop)] // Index loops mirror the permutation's definition.
fn naive_poseidon(elements: &[Fr]) -> Fr {
    let config = poseidon::config();
    let width = poseidon::RATE + poseidon::CAPACITY;
    let permute = |state: &mut Vec<Fr>| {
        let half = poseidon::FULL_ROUNDS / 2;
        for round in 0..poseidon::FULL_ROUNDS + poseidon::PARTIAL_ROUNDS {
            for i in 0..width {
                state[i] += config.ark[round][i];
            }
            let full = round < half || round >= half + poseidon::PARTIAL_ROUNDS;
            for (i, x) in state.iter_mut().enumerate() {
                if full || i == 0 {
                    *x = x.pow([poseidon::ALPHA]);
                }
            }
            let old = state.clone();
            for i in 0..width {
                state[i] = (0..width).map(|j| old[j] * config.mds[i][j]).sum();
            }
        }
    };
    let mut state = vec![Fr::ZERO; width];
    let chunks: Vec<&[Fr]> = elements.chunks(poseidon::RATE).collect();
    for (n, chunk) in chunks.iter().enumerate() {
        for (i, x) in chunk.iter().enumerate() {
            state[poseidon::CAPACITY + i] += x;
        }
        if n + 1 < chunks.len() {
            permute(&mut state);
        }
    }
    permute(&mut state);
    state[poseidon::CAPACITY]
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

#[test]
fn golden_vectors() {
    let mut out = String::new();
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{name}: {value}");
    };
    for kind in Kind::ALL {
        line(
            &format!("tag.{kind:?}"),
            hex(&Tag::new(kind, CHAIN).to_bytes()),
        );
    }
    let header = sample_header();
    line("batch_header", hex(&header.to_bytes()));
    line(
        "batch_header.message",
        hex(&Tag::new(Kind::BatchHeader, CHAIN).message(&header)),
    );
    line(
        "payout_leaf.withdrawal",
        hex(&sample_leaf(0, false).to_leaf_bytes()),
    );
    line(
        "payout_leaf.settlement",
        hex(&sample_leaf(1, true).to_leaf_bytes()),
    );
    for action in sample_actions() {
        let name = format!("tx.{}", action.name());
        line(&name, hex(&sample_tx(action).to_bytes()));
    }
    line(
        "deposit.message",
        hex(&sample_deposit().attestation_message()),
    );
    line("merkle.padding", hex(&merkle::padding_hash()));
    line(
        "merkle.counted_root.7",
        hex(&merkle::counted_root(&[0x5A; 32], 7)),
    );
    for count in [1usize, 2, 3, 5, 8] {
        let leaves: Vec<Vec<u8>> = (0..count)
            .map(|i| sample_leaf(i as u32, i % 2 == 1).to_leaf_bytes())
            .collect();
        let tree = MerkleTree::from_leaves(&leaves).expect("small tree");
        line(&format!("merkle.root.{count}"), hex(&tree.root()));
        let last = tree.proof(count as u64 - 1).expect("proof");
        line(&format!("merkle.proof.{count}.last"), hex(&last.to_bytes()));
    }
    let config = poseidon::config();
    let mut fingerprint = Sha256::new();
    for row in config.ark.iter().chain(config.mds.iter()) {
        for element in row {
            fingerprint.update(poseidon::to_bytes(element));
        }
    }
    line("poseidon.parameters.sha256", hex(&fingerprint.finalize()));
    line(
        "poseidon.fields.empty",
        hex(&poseidon::to_bytes(&poseidon::hash_fields(
            Domain::Program,
            &[],
        ))),
    );
    line(
        "poseidon.fields.1_2_3",
        hex(&poseidon::to_bytes(&poseidon::hash_fields(
            Domain::Program,
            &[Fr::from(1u8), Fr::from(2u8), Fr::from(3u8)],
        ))),
    );
    line(
        "poseidon.code.empty",
        hex(&poseidon::to_bytes(&poseidon::hash_bytes(
            Domain::Code,
            &[],
        ))),
    );
    let code: Vec<u8> = (0u8..=99).collect();
    line(
        "poseidon.code.0_to_99",
        hex(&poseidon::to_bytes(&poseidon::hash_bytes(
            Domain::Code,
            &code,
        ))),
    );
    let rows = [
        Row {
            kind: RowKind::Le,
            i: 5,
            j: 6,
            bits: 0,
        },
        Row {
            kind: RowKind::Range,
            i: 3,
            j: 0,
            bits: 5,
        },
        Row {
            kind: RowKind::MulNoOverflow,
            i: 1,
            j: 2,
            bits: 128,
        },
    ];
    line(
        "certificate.row.mul_1_2_128",
        format!("{:012x}", rows[2].pack()),
    );
    let params = [1_000u64, 2_000, u64::MAX, 7, 8, 10, 20];
    let class = SizeClass::smallest_for(params.len(), rows.len()).expect("fits");
    line("certificate.class", class.to_string());
    line(
        "certificate.h_params",
        hex(&poseidon::to_bytes(
            &certificate::params_hash(class, &params).expect("fits"),
        )),
    );
    line(
        "certificate.h_conditions",
        hex(&poseidon::to_bytes(
            &certificate::conditions_hash(class, &rows).expect("fits"),
        )),
    );
    let identity =
        curve_formats::program::ProgramIdentity::of_module(&code, [0xd5; 32], [0x1a; 32]);
    line("program.identity.0_to_99", hex(&identity.to_bytes()));
    line("program.h_code.0_to_99", hex(&identity.h_code_le()));
    line(
        "certificate.h_code.0_to_99",
        hex(&poseidon::to_bytes(&certificate::program_hash(&identity))),
    );
    let update = oracle::PriceUpdate {
        feed: oracle::feed_tag("pyth:SOLUSD"),
        price: 187_250_000,
        publish_ms: 1_793_491_200_000,
    };
    line(
        "oracle.feed_tag.pyth:SOLUSD",
        format!("{:016x}", update.feed),
    );
    line("oracle.price.message.chain_1", hex(&update.message(1)));
    line("oracle.price.message.chain_2", hex(&update.message(2)));
    let reveal = curve_formats::commitment::Reveal {
        chain_id: 1,
        route_id: 1,
        instrument: 0,
        side: 0,
        qty: 15,
        limit_px: 15_020,
        salt: curve_formats::commitment::words_bytes(&[7, 0, 0, 0]),
    };
    line("commitment.reveal.message", hex(&reveal.message()));
    // examples/perp_sol.scenario.toml's commitment (computed there with Python's hashlib).
    line("commitment.reveal.digest", hex(&reveal.commitment()));
    expect_file!["../vectors/v1.txt"].assert_eq(&out);
}

/// The words the ORACLE template writes are the message, byte for byte, and its prefix word
/// constant is the tag's first seven bytes.
#[test]
fn oracle_message_words_are_the_message() {
    for chain_id in [0, 1, 0x0102_0304_0506_0708, u64::MAX] {
        let update = oracle::PriceUpdate {
            feed: 0xfeed_0000_0000_00fe,
            price: u64::MAX - 1,
            publish_ms: 0x1122_3344_5566_7788,
        };
        let message = update.message(chain_id);
        assert_eq!(message.len(), oracle::MESSAGE_BYTES);
        let words = oracle::message_words(chain_id, &update);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(&bytes[..oracle::MESSAGE_BYTES], &message[..]);
        assert_eq!(bytes[oracle::MESSAGE_BYTES..], [0]);
        assert_eq!(
            words[0] & 0x00ff_ffff_ffff_ffff,
            oracle::message_prefix(),
            "chain {chain_id:#x}"
        );
        assert_ne!(message, update.message(chain_id ^ 1), "bound to the chain");
    }
}

#[test]
fn sizes_are_as_documented() {
    assert_eq!(Tag::new(Kind::Transaction, 1).to_bytes().len(), TAG_LEN);
    assert_eq!(sample_leaf(0, true).to_leaf_bytes().len(), PAYOUT_LEAF_LEN);
    assert_eq!(PAYOUT_LEAF_LEN, 108);
    assert_eq!(sample_header().to_bytes().len(), 8 + 32 * 4 + 8 + 16 + 8);
}

#[test]
fn merkle_tree_matches_an_independent_computation_and_every_proof_verifies() {
    for count in 0..=17usize {
        let leaves: Vec<Vec<u8>> = (0..count)
            .map(|i| sample_leaf(i as u32, false).to_leaf_bytes())
            .collect();
        let tree = MerkleTree::from_leaves(&leaves).expect("small tree");
        assert_eq!(tree.root(), naive_root(&leaves), "count {count}");
        for (index, leaf) in leaves.iter().enumerate() {
            let proof = tree.proof(index as u64).expect("proof");
            assert_eq!(proof.siblings.len(), merkle::depth(count as u64) as usize);
            proof
                .verify(&tree.root(), count as u64, leaf)
                .expect("valid proof");
        }
        assert!(tree.proof(count as u64).is_none());
    }
}

#[test]
fn merkle_rejects_bad_proofs() {
    let leaves: Vec<Vec<u8>> = (0..5)
        .map(|i| sample_leaf(i, false).to_leaf_bytes())
        .collect();
    let tree = MerkleTree::from_leaves(&leaves).expect("tree");
    let root = tree.root();
    let proof = tree.proof(2).expect("proof");
    // Wrong length, either way.
    let mut short = proof.clone();
    short.siblings.pop();
    assert_eq!(
        short.verify(&root, 5, &leaves[2]),
        Err(MerkleError::WrongProofLength {
            expected: 3,
            found: 2
        })
    );
    let mut long = proof.clone();
    long.siblings.push([0; 32]);
    assert_eq!(
        long.verify(&root, 5, &leaves[2]),
        Err(MerkleError::WrongProofLength {
            expected: 3,
            found: 4
        })
    );
    // Index at or past the committed count (a padding slot), and an empty tree.
    assert_eq!(
        merkle::verify(&root, 5, 5, &leaves[2], &proof.siblings),
        Err(MerkleError::IndexOutOfRange { index: 5, count: 5 })
    );
    assert_eq!(
        merkle::verify(&root, 0, 0, &leaves[2], &[]),
        Err(MerkleError::EmptyTree)
    );
    // Another leaf's bytes, a tampered sibling, another index.
    assert_eq!(
        proof.verify(&root, 5, &leaves[3]),
        Err(MerkleError::RootMismatch)
    );
    let mut tampered = proof.clone();
    tampered.siblings[1][0] ^= 1;
    assert_eq!(
        tampered.verify(&root, 5, &leaves[2]),
        Err(MerkleError::RootMismatch)
    );
    assert_eq!(
        merkle::verify(&root, 5, 3, &leaves[2], &proof.siblings),
        Err(MerkleError::RootMismatch)
    );
    // A node presented as a leaf: the preimage of an internal node, offered with the proof of
    // its subtree, fails because leaves are hashed with 0x00 and nodes with 0x01.
    let left = merkle::hash_leaf(&leaves[0]);
    let right = merkle::hash_leaf(&leaves[1]);
    let node_preimage: Vec<u8> = left.iter().chain(right.iter()).copied().collect();
    let proof_of_0 = tree.proof(0).expect("proof");
    let upper_siblings = &proof_of_0.siblings[1..];
    let mut padded = upper_siblings.to_vec();
    padded.insert(0, [0; 32]);
    for index in 0..2u64 {
        assert_eq!(
            merkle::verify(&root, 5, index, &node_preimage, &padded),
            Err(MerkleError::RootMismatch)
        );
    }
    assert_eq!(
        merkle::verify(&root, 5, 0, &node_preimage, upper_siblings),
        Err(MerkleError::WrongProofLength {
            expected: 3,
            found: 2
        })
    );
}

#[test]
fn poseidon_matches_the_permutation_written_out() {
    for length in [0usize, 1, 3, 4, 5, 8, 9] {
        let elements: Vec<Fr> = (0..length as u64).map(|i| Fr::from(i * 7 + 1)).collect();
        let mut input = vec![Fr::from(Domain::Program as u32), Fr::from(length as u64)];
        input.extend(&elements);
        assert_eq!(
            poseidon::hash_fields(Domain::Program, &elements),
            naive_poseidon(&input),
            "length {length}"
        );
    }
}

#[test]
fn poseidon_packing_is_unambiguous() {
    // Trailing zero bytes, and the same bytes in another domain, hash differently.
    assert_ne!(
        poseidon::hash_bytes(Domain::Code, &[1, 2]),
        poseidon::hash_bytes(Domain::Code, &[1, 2, 0])
    );
    assert_ne!(
        poseidon::hash_bytes(Domain::Code, &[1, 2]),
        poseidon::hash_bytes(Domain::Params, &[1, 2])
    );
    // 31 bytes fill one element, 32 spill into a second; the length comes last.
    assert_eq!(poseidon::pack_bytes(&[0xFF; 31]).len(), 2);
    assert_eq!(poseidon::pack_bytes(&[0xFF; 32]).len(), 3);
    let all_ones = poseidon::pack_bytes(&[0xFF; 31])[0];
    assert!(
        all_ones.into_bigint() < Fr::MODULUS,
        "31 bytes stay below the modulus"
    );
    assert_eq!(poseidon::pack_bytes(&[0xFF; 40])[2], Fr::from(40u8));
}

#[test]
fn tags_separate_kinds_chains_and_versions() {
    let header = sample_header();
    let message = Tag::new(Kind::BatchHeader, CHAIN).message(&header);
    assert_eq!(
        Tag::new(Kind::BatchHeader, CHAIN).open::<BatchHeader>(&message),
        Ok(header)
    );
    let error = Tag::new(Kind::Attestation, CHAIN)
        .open::<BatchHeader>(&message)
        .expect_err("kind");
    assert_eq!(
        error.kind,
        DecodeErrorKind::WrongKind {
            expected: Kind::Attestation as u8,
            found: Kind::BatchHeader as u8
        }
    );
    let error = Tag::new(Kind::BatchHeader, CHAIN + 1)
        .open::<BatchHeader>(&message)
        .expect_err("chain");
    assert_eq!(
        error.kind,
        DecodeErrorKind::WrongChain {
            expected: CHAIN + 1,
            found: CHAIN
        }
    );
    let mut old_version = message.clone();
    old_version[5] = 0;
    assert_eq!(
        Tag::new(Kind::BatchHeader, CHAIN)
            .open::<BatchHeader>(&old_version)
            .expect_err("version")
            .kind,
        DecodeErrorKind::UnsupportedVersion(0)
    );
    let mut no_magic = message.clone();
    no_magic[0] = b'X';
    assert_eq!(
        Tag::new(Kind::BatchHeader, CHAIN)
            .open::<BatchHeader>(&no_magic)
            .expect_err("magic")
            .kind,
        DecodeErrorKind::BadMagic
    );
}

#[test]
fn decoders_reject_truncated_long_and_non_canonical_input() {
    let leaf = sample_leaf(4, false).to_leaf_bytes();
    for cut in 0..leaf.len() {
        let error = PayoutLeaf::from_leaf_bytes(&leaf[..cut], CHAIN).expect_err("truncated");
        assert!(
            matches!(error.kind, DecodeErrorKind::Truncated { .. }),
            "{error}"
        );
    }
    let mut long = leaf.clone();
    long.push(0);
    assert_eq!(
        PayoutLeaf::from_leaf_bytes(&long, CHAIN)
            .expect_err("long")
            .kind,
        DecodeErrorKind::TrailingBytes { count: 1 }
    );
    let mut bad_origin = leaf.clone();
    bad_origin[PAYOUT_LEAF_LEN - 33] = 2;
    assert_eq!(
        PayoutLeaf::from_leaf_bytes(&bad_origin, CHAIN)
            .expect_err("origin")
            .kind,
        DecodeErrorKind::InvalidDiscriminant(2)
    );
    let mut dirty_withdrawal = leaf.clone();
    dirty_withdrawal[PAYOUT_LEAF_LEN - 1] = 1;
    assert_eq!(
        PayoutLeaf::from_leaf_bytes(&dirty_withdrawal, CHAIN)
            .expect_err("reserved")
            .kind,
        DecodeErrorKind::NonZeroReserved
    );
    assert_eq!(
        bool::from_bytes(&[2]).expect_err("bool").kind,
        DecodeErrorKind::InvalidBool(2)
    );
    assert_eq!(
        Option::<u8>::from_bytes(&[2, 0]).expect_err("option").kind,
        DecodeErrorKind::InvalidOptionTag(2)
    );
    // A proof claiming more siblings than any tree has is refused before allocation.
    let mut huge = 0u64.to_bytes();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        MerkleProof::from_bytes(&huge).expect_err("length").kind,
        DecodeErrorKind::LengthTooLarge {
            length: u32::MAX,
            max: merkle::DEPTH_MAX
        }
    );
}

#[test]
#[allow(clippy::disallowed_methods)] // The test reads its corpus; the library does no IO.
fn fuzz_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        curve_formats::fuzz::decode_bytes(
            &std::fs::read(entry.expect("entry").path()).expect("readable"),
        );
        count += 1;
    }
    assert!(count >= 10, "the corpus shrank to {count} inputs");
}

/// The layout written out by hand: a transfer and a deposit record.
#[test]
fn transactions_match_an_independent_layout() {
    let signed = sample_tx(Action::Transfer {
        to: [0x33; 32],
        amount: 1_000,
    });
    let mut expected = Vec::new();
    expected.extend_from_slice(b"CURV");
    expected.push(1); // Kind::Transaction
    expected.extend_from_slice(&1u16.to_le_bytes());
    expected.extend_from_slice(&CHAIN.to_le_bytes());
    expected.extend_from_slice(&[0xEE; 32]);
    expected.extend_from_slice(&5u64.to_le_bytes());
    expected.extend_from_slice(&100_000u64.to_le_bytes());
    expected.extend_from_slice(&2u64.to_le_bytes());
    expected.push(0); // transfer
    expected.extend_from_slice(&[0x33; 32]);
    expected.extend_from_slice(&1_000u128.to_le_bytes());
    assert_eq!(signed.tx.signing_message(), expected);
    expected.extend_from_slice(&[0xFF; 64]);
    assert_eq!(signed.to_bytes(), expected);

    let record = sample_deposit();
    let mut expected = Vec::new();
    expected.extend_from_slice(b"CURV");
    expected.push(6); // Kind::DepositAttestation
    expected.extend_from_slice(&1u16.to_le_bytes());
    expected.extend_from_slice(&CHAIN.to_le_bytes());
    expected.extend_from_slice(&42u64.to_le_bytes());
    expected.extend_from_slice(&[0x11; 32]);
    expected.extend_from_slice(&[0x22; 32]);
    expected.extend_from_slice(&5_000_000u64.to_le_bytes());
    expected.extend_from_slice(&123_456u64.to_le_bytes());
    assert_eq!(record.attestation_message(), expected);
    assert_eq!(record.to_bytes(), expected);
}

#[test]
fn transactions_round_trip_and_reject_bad_input() {
    for action in sample_actions() {
        let signed = sample_tx(action);
        let bytes = signed.to_bytes();
        assert_eq!(SignedTransaction::from_bytes(&bytes), Ok(signed.clone()));
        // Every strict prefix is truncated, never a panic or a shorter transaction.
        for cut in 0..bytes.len() {
            assert!(SignedTransaction::from_bytes(&bytes[..cut]).is_err());
        }
    }
    // A name outside [a-z0-9_] is refused where it starts.
    let signed = sample_tx(Action::Call {
        program: 1,
        entry: "Up".into(),
        args: vec![],
        access: Vec::new(),
    });
    let error = SignedTransaction::from_bytes(&signed.to_bytes()).unwrap_err();
    assert_eq!(error.kind, DecodeErrorKind::InvalidName);
    assert_eq!(error.offset, TAG_LEN + 32 + 24 + 1 + 8);
    // An unknown action discriminant.
    let mut bytes = sample_tx(Action::SetGovernance { key: [0; 32] }).to_bytes();
    bytes[TAG_LEN + 56] = 12;
    assert_eq!(
        SignedTransaction::from_bytes(&bytes).unwrap_err().kind,
        DecodeErrorKind::InvalidDiscriminant(12)
    );
    // A module length above the bound is refused before anything is read.
    let mut image = sample_image().to_bytes();
    let at = 4 + 6; // after the template name
    image[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        ProgramImage::from_bytes(&image).unwrap_err().kind,
        DecodeErrorKind::LengthTooLarge { .. }
    ));
}

#[test]
fn call_arguments_become_words_as_the_descriptor_says() {
    let mut words = Vec::new();
    for value in [
        Value::U64(1),
        Value::I64(-1),
        Value::U128((5u128 << 64) | 6),
        Value::I128(-2),
        Value::Cap(3),
    ] {
        value.push_words(&mut words);
    }
    assert_eq!(words, [1, u64::MAX, 6, 5, u64::MAX - 1, u64::MAX, 3]);
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    bytes[8] = 2;
    let mut words = Vec::new();
    Value::Bytes32(bytes).push_words(&mut words);
    assert_eq!(words, [1, 2, 0, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn encodings_round_trip(height in any::<u64>(), index in any::<u32>(), amount in any::<u128>(), recipient in any::<[u8; 32]>(), settlement in any::<bool>(), chain in any::<u64>()) {
        let leaf = PayoutLeaf { chain_id: chain, batch_height: height, index, recipient, amount, origin: if settlement { Origin::Settlement { market_id: recipient } } else { Origin::Withdrawal } };
        let bytes = leaf.to_leaf_bytes();
        prop_assert_eq!(PayoutLeaf::from_leaf_bytes(&bytes, chain), Ok(leaf));
        let header = BatchHeader { height, withdrawal_total: amount, state_root: recipient, ..sample_header() };
        prop_assert_eq!(BatchHeader::from_bytes(&header.to_bytes()), Ok(header));
    }

    #[test]
    fn what_decodes_is_canonical(bytes in prop::collection::vec(any::<u8>(), 0..160)) {
        curve_formats::fuzz::decode_bytes(&bytes);
    }

    #[test]
    fn single_byte_flips_never_verify(count in 1usize..40, pick in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>()) {
        let leaves: Vec<Vec<u8>> = (0..count).map(|i| sample_leaf(i as u32, false).to_leaf_bytes()).collect();
        let tree = MerkleTree::from_leaves(&leaves).expect("tree");
        let index = pick.index(count);
        let mut leaf = leaves[index].clone();
        let at = flip.index(leaf.len());
        leaf[at] ^= 0x01;
        let proof = tree.proof(index as u64).expect("proof");
        prop_assert_eq!(proof.verify(&tree.root(), count as u64, &leaf), Err(MerkleError::RootMismatch));
    }
}

/// Packing by hand: each element is the little-endian sum of its parts, so the hash input can be
/// recomputed without the crate's packing code.
#[test]
fn certificate_packing_matches_an_independent_computation() {
    let params = [u64::MAX, 1, 2, 3];
    let elements = certificate::params_elements(SizeClass::C16, &params).expect("fits");
    assert_eq!(elements.len(), 1 + 16usize.div_ceil(3));
    assert_eq!(elements[0], Fr::from(4u8));
    let two_64 = Fr::from(2u8).pow([64]);
    assert_eq!(
        elements[1],
        Fr::from(u64::MAX) + two_64 * Fr::from(1u8) + two_64 * two_64 * Fr::from(2u8)
    );
    assert_eq!(elements[2], Fr::from(3u8));
    assert!(elements[3..].iter().all(|e| *e == Fr::ZERO));
    let rows = [
        Row {
            kind: RowKind::Le,
            i: 1,
            j: 2,
            bits: 0,
        },
        Row {
            kind: RowKind::Range,
            i: 3,
            j: 0,
            bits: 9,
        },
    ];
    let elements = certificate::rows_elements(SizeClass::C16, &rows).expect("fits");
    let first = rows[0].pack();
    assert_eq!(first, 2 | 1 << 8 | 2 << 24);
    let two_48 = Fr::from(1u64 << 48);
    assert_eq!(
        elements[1],
        Fr::from(first) + two_48 * Fr::from(rows[1].pack())
    );
    assert!(certificate::params_elements(SizeClass::C16, &[0; 17]).is_err());
    assert!(certificate::rows_elements(SizeClass::C16, &[Row::NOP; 17]).is_err());
    assert_eq!(SizeClass::smallest_for(17, 3), Some(SizeClass::C64));
    assert_eq!(SizeClass::smallest_for(3, 257), None);
    // The padding and the counts are bound: a trailing zero slot or NOP row changes the hash.
    assert_ne!(
        certificate::params_hash(SizeClass::C16, &[1, 2]),
        certificate::params_hash(SizeClass::C16, &[1, 2, 0])
    );
    assert_ne!(
        certificate::conditions_hash(SizeClass::C16, &rows[..1]),
        certificate::conditions_hash(SizeClass::C16, &[rows[0], Row::NOP])
    );
}

proptest! {
    #[test]
    fn rows_unpack_what_they_pack_and_never_panic(packed in any::<u64>(), kind in 0u8..5, i in any::<u16>(), j in any::<u16>(), bits in any::<u8>()) {
        let row = Row { kind: RowKind::from_code(kind).expect("code"), i, j, bits };
        prop_assert_eq!(Row::unpack(row.pack()), Some(row));
        if let Some(row) = Row::unpack(packed) {
            prop_assert_eq!(row.pack(), packed);
        }
    }

    #[test]
    fn row_semantics_match_integer_arithmetic(a in any::<u64>(), b in any::<u64>(), bits in 0u8..=128) {
        let params = [a, b];
        let holds = |kind| Row { kind, i: 0, j: 1, bits }.holds(&params).is_ok();
        let limit = if bits == 128 { None } else { Some(1u128 << bits) };
        let below = |x: u128| limit.is_none_or(|l| x < l);
        prop_assert_eq!(holds(RowKind::Le), a <= b);
        prop_assert_eq!(holds(RowKind::Range), below(u128::from(a)));
        prop_assert_eq!(holds(RowKind::AddNoOverflow), below(u128::from(a) + u128::from(b)));
        prop_assert_eq!(holds(RowKind::MulNoOverflow), below(u128::from(a) * u128::from(b)));
        prop_assert!(holds(RowKind::Nop));
    }
}

#[test]
fn counted_root_is_the_documented_hash() {
    let mut input = vec![0x03];
    input.extend_from_slice(&7u64.to_le_bytes());
    input.extend_from_slice(&[0x5A; 32]);
    let expected: Hash = Sha256::digest(&input).into();
    assert_eq!(merkle::counted_root(&[0x5A; 32], 7), expected);
    assert_ne!(merkle::counted_root(&[0x5A; 32], 8), expected);
}

/// `vectors::v1` reads back every pinned byte vector, and nothing that is not one.
#[test]
fn every_pinned_vector_reads_back() {
    let mut count = 0;
    for line in curve_formats::vectors::V1.lines() {
        let (name, value) = line.split_once(": ").expect("name: value");
        let is_hex = value.len() % 2 == 0 && value.bytes().all(|b| b.is_ascii_hexdigit());
        let Some(bytes) = curve_formats::vectors::v1(name) else {
            assert!(!is_hex, "{name} is hex but did not read");
            continue;
        };
        let again: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(again, value, "{name}");
        count += 1;
    }
    assert!(count > 10, "{count} vectors");
    assert_eq!(curve_formats::vectors::v1("batch_head"), None);
    assert_eq!(curve_formats::vectors::v1("no such vector"), None);
}
