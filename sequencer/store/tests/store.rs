//! The runtime on RocksDB: the same batches give the same roots and the same stored entries
//! as on the in-memory store, the database reopens to the same state (and goes on from it),
//! and a path that cannot hold a database is a clear error.

use std::path::PathBuf;

use curve_formats::deposit::DepositRecord;
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, Transaction};
use curve_runtime::{Batch, Config, MemoryStorage, Runtime, Status, Storage, client};
use curve_store::RocksStorage;
use ed25519_dalek::SigningKey;

const CHAIN: u64 = 1;

fn key(name: &str) -> SigningKey {
    let mut seed = [0u8; 32];
    for (i, b) in name.bytes().enumerate() {
        seed[i % 32] ^= b.wrapping_add(i as u8);
    }
    SigningKey::from_bytes(&seed)
}

fn config() -> Config {
    Config {
        chain_id: CHAIN,
        governance: key("governance").verifying_key().to_bytes(),
        committee: vec![key("member").verifying_key().to_bytes()],
        quorum: 1,
        dev_mode: false,
        verifying_keys: vec![],
    }
}

fn tx(sender: &str, nonce: u64, fee_per_gas: u64, action: Action) -> Vec<u8> {
    let key = key(sender);
    let tx = Transaction {
        chain_id: CHAIN,
        sender: key.verifying_key().to_bytes(),
        nonce,
        gas_limit: 100_000,
        fee_per_gas,
        action,
    };
    client::sign(tx, &key).to_bytes()
}

/// Batch `height`: a deposit to alice, then transfers from her, then nothing.
fn batch(height: u64) -> Batch {
    let transactions = match height {
        1 => {
            let record = DepositRecord {
                chain_id: CHAIN,
                sequence: 0,
                depositor: [1; 32],
                recipient: key("alice").verifying_key().to_bytes(),
                amount: 1_000_000,
                slot: 1,
            };
            let member = key("member");
            let action = Action::CreditDeposit {
                attestations: client::attest(&record, &[(0, &member)]),
                record,
            };
            vec![tx("relayer", 0, 0, action)]
        }
        2..=4 => vec![tx(
            "alice",
            height - 2,
            1,
            Action::Transfer {
                to: key("bob").verifying_key().to_bytes(),
                amount: 10 * u128::from(height),
            },
        )],
        _ => vec![],
    };
    Batch {
        height,
        timestamp_ms: 1_000 * height,
        transactions,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("curve-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn rocksdb_stores_what_memory_stores_and_reopens_to_it() {
    let dir = temp_dir("reopen");
    let mut memory = Runtime::genesis(config(), MemoryStorage::new()).expect("genesis");
    let mut rocks =
        Runtime::genesis(config(), RocksStorage::open(&dir).expect("opens")).expect("genesis");
    assert_eq!(rocks.root(), memory.root());
    for height in 1..=3 {
        let expected = memory.apply_batch(&batch(height)).expect("applies");
        let got = rocks.apply_batch(&batch(height)).expect("applies");
        for receipt in &got.receipts {
            assert_eq!(receipt.status, Status::Committed, "{receipt:?}");
        }
        assert_eq!(got.header, expected.header, "height {height}");
    }
    assert_eq!(
        rocks.storage().entries().expect("reads"),
        memory.storage().entries().expect("reads")
    );
    let root = rocks.root();
    drop(rocks);
    let mut reopened =
        Runtime::open(RocksStorage::open(&dir).expect("reopens")).expect("a whole state");
    assert_eq!(reopened.root(), root);
    assert_eq!(reopened.meta().height, 3);
    // It goes on exactly as the replica that never stopped.
    for height in 4..=5 {
        let expected = memory.apply_batch(&batch(height)).expect("applies");
        let got = reopened.apply_batch(&batch(height)).expect("applies");
        assert_eq!(got.header, expected.header, "height {height}");
    }
    drop(reopened);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the test makes a file where a database should go"
)]
fn a_path_that_cannot_hold_a_database_is_a_clear_error() {
    let file = temp_dir("file");
    std::fs::write(&file, b"not a directory").expect("a file");
    let error = RocksStorage::open(&file).expect_err("a file is not a database");
    assert!(error.0.contains("cannot open"), "{error}");
    assert!(error.0.contains(&file.display().to_string()), "{error}");
    let _ = std::fs::remove_file(&file);
    // A fresh genesis refuses a database that already holds a chain.
    let dir = temp_dir("twice");
    let first = Runtime::genesis(config(), RocksStorage::open(&dir).expect("opens"));
    drop(first.expect("genesis"));
    let again = Runtime::genesis(config(), RocksStorage::open(&dir).expect("opens"));
    assert!(matches!(
        again,
        Err(curve_runtime::RuntimeError::Genesis(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

fn safety(last_voted_view: u64) -> curve_consensus::Record {
    curve_consensus::Record::Safety(curve_consensus::SafetyState {
        last_voted_view,
        last_proposed_view: last_voted_view - 1,
        high_qc: curve_consensus::types::QuorumCert::genesis(CHAIN),
        last_tc: None,
    })
}

#[test]
fn consensus_records_survive_a_reopen_and_a_later_record_replaces_its_key() {
    let dir = temp_dir("records");
    let store = RocksStorage::open(&dir).expect("opens");
    let decided = curve_consensus::Record::Decided {
        height: 4,
        block: [7; 32],
    };
    store
        .persist(&[safety(5), decided.clone()], true)
        .expect("persists");
    store.persist(&[safety(9)], true).expect("persists");
    drop(store);
    let store = RocksStorage::open(&dir).expect("reopens");
    // Key order: `decided` before `safety`; the view-9 safety state replaced the view-5 one,
    // so a restarted core never votes in a view it voted in.
    assert_eq!(
        store.records(CHAIN).expect("reads"),
        vec![decided, safety(9)]
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupted_consensus_record_is_a_clear_error() {
    let dir = temp_dir("corrupt");
    let store = RocksStorage::open(&dir).expect("opens");
    store.persist(&[safety(3)], true).expect("persists");
    drop(store);
    // Garbage where the safety state was, a record filed under another key, and a block
    // record whose block is not the one its hash names: each refused.
    let forged = [9; 32];
    let genesis = curve_consensus::CertifiedBlock {
        block: curve_consensus::Block::genesis(),
        justify: curve_consensus::types::QuorumCert::genesis(CHAIN),
    };
    for (key, value) in [
        (b"safety".to_vec(), vec![0u8, 1, 2]),
        (
            b"safety".to_vec(),
            curve_formats::encoding::Encode::to_bytes(&curve_consensus::Record::Decided {
                height: 1,
                block: [0; 32],
            }),
        ),
        (
            curve_consensus::Record::block_key(&forged),
            curve_formats::encoding::Encode::to_bytes(&curve_consensus::Record::Block {
                hash: forged,
                block: genesis,
            }),
        ),
    ] {
        let shown = String::from_utf8_lossy(&key[..6]).into_owned();
        {
            let families = [
                curve_store::STATE,
                curve_store::CONSENSUS,
                curve_store::CHAIN,
            ];
            let db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &dir, families)
                .expect("raw open");
            let family = db.cf_handle(curve_store::CONSENSUS).expect("family");
            db.put_cf(family, key, value).expect("raw write");
        }
        let store = RocksStorage::open(&dir).expect("opens");
        let error = store.records(CHAIN).expect_err("refused");
        assert!(
            error.0.contains(&format!("consensus record `{shown}…`")),
            "{error}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
