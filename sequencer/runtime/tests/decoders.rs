//! The runtime's decoders never panic and accept only canonical bytes: the fuzz corpus replayed,
//! random bytes, and single-byte changes of a real store's entries and snapshot. A store whose
//! entry was corrupted is refused by `Runtime::open` (or opens to a different root), never
//! a panic.

mod common;

use common::*;
use curve_formats::tx::Action;
use curve_runtime::{MemoryStorage, Runtime, Storage, WriteBatch};
use proptest::prelude::*;

/// A store with accounts, a program and its page, and a nullifier; written to the corpus the
/// first time (`UPDATE_CORPUS=1` refreshes it).
fn store() -> MemoryStorage {
    store_and_root().0.clone()
}

fn store_and_root() -> &'static (MemoryStorage, [u8; 32]) {
    static STORE: std::sync::OnceLock<(MemoryStorage, [u8; 32])> = std::sync::OnceLock::new();
    STORE.get_or_init(|| {
        let mut runtime = genesis();
        apply(
            &mut runtime,
            vec![relay(
                0,
                deposit(0, "alice", 1_000_000_000, QUORUM as usize),
            )],
        );
        apply(
            &mut runtime,
            vec![tx("alice", 0, Action::Deploy(oracle_image().clone()))],
        );
        (runtime.storage().clone(), runtime.root())
    })
}

#[test]
#[allow(clippy::disallowed_methods)] // The test reads its corpus; the library does no IO.
fn fuzz_corpus_replays() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/runtime_decode");
    if std::env::var_os("UPDATE_CORPUS").is_some() {
        let store = store();
        let mut inputs: Vec<Vec<u8>> = vec![store.to_snapshot()];
        for (key, value) in store.entries().expect("a memory store reads") {
            inputs.push(key);
            inputs.push(value[9..].to_vec());
        }
        for input in inputs {
            let name = hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(&input)[..8]);
            std::fs::write(dir.join(name), input).expect("write corpus");
        }
    }
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        curve_runtime::fuzz::decode_bytes(
            &std::fs::read(entry.expect("entry").path()).expect("read"),
        );
        count += 1;
    }
    assert!(count >= 10, "the corpus shrank to {count} inputs");
}

#[test]
fn the_store_reopens_to_its_root() {
    let (store, root) = store_and_root().clone();
    assert_eq!(Runtime::open(store).expect("opens").root(), root);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        curve_runtime::fuzz::decode_bytes(&bytes);
    }

    #[test]
    fn a_corrupted_store_is_refused_or_opens_differently(pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let (store, original) = store_and_root().clone();
        let entries = store.entries().expect("a memory store reads");
        let (key, mut value) = entries[pick.index(entries.len())].clone();
        let i = at.index(value.len());
        value[i] ^= flip;
        let mut corrupted = store;
        corrupted
            .write(WriteBatch {
                puts: vec![(key, value)],
                ..WriteBatch::default()
            })
            .expect("a memory store writes");
        if let Ok(runtime) = Runtime::open(corrupted) {
            prop_assert_ne!(runtime.root(), original);
        }
    }
}
