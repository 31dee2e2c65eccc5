//! Where the state lives between batches: a key-value store behind [`Storage`]. The runtime
//! writes one [`WriteBatch`] per executed batch (every entry the batch touched) and reads the
//! whole store back when it opens. [`MemoryStorage`] is the in-process store; the node backs
//! the same trait with RocksDB.
//!
//! Stored value of an entry: `leaf index u64 ‖ Option<value bytes>` (see [`crate::state`]).

use std::collections::BTreeMap;

use curve_formats::encoding::{Decode, DecodeError, Encode, Reader};
use curve_formats::tx::{decode_bytes, encode_bytes};

/// Entries written together, atomically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// `(key, value)` pairs, in key order.
    pub puts: Vec<(Vec<u8>, Vec<u8>)>,
    /// Entries kept beside the state but outside it (a node's index of blocks and receipts,
    /// see [`crate::Runtime::apply_batch_indexed`]): written in the same atomic write so the
    /// index never lags the state, never read back by the runtime, not in the state root.
    pub index: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A store that failed: the runtime halts (its memory is then ahead of the store, and a
/// restart reopens the store's last complete batch).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("storage failed: {0}")]
pub struct StorageError(pub String);

/// Stored `(key, value)` pairs, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A key-value store.
pub trait Storage {
    /// Applies a batch of writes atomically (all or none), in order with the store's other
    /// writes, and durably before returning `Ok` unless the store is configured otherwise (a
    /// node's state store, whose state is re-derived from synced decided blocks).
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError>;

    /// Every entry, in key order.
    fn entries(&self) -> Result<Entries, StorageError>;
}

/// An in-memory store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStorage {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// Bound on one stored key or value in a snapshot (a program record with its module and
/// manifest is the largest value).
const SNAPSHOT_VALUE_MAX: u32 = 4 << 20;

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> MemoryStorage {
        MemoryStorage::default()
    }

    /// The store as bytes: `u64` count, then length-prefixed key and value per entry.
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut out = Vec::new();
        (self.entries.len() as u64).encode(&mut out);
        for (key, value) in &self.entries {
            encode_bytes(key, &mut out);
            encode_bytes(value, &mut out);
        }
        out
    }

    /// Reads [`MemoryStorage::to_snapshot`]'s bytes; keys must be strictly increasing.
    pub fn from_snapshot(bytes: &[u8]) -> Result<MemoryStorage, DecodeError> {
        let mut reader = Reader::new(bytes);
        let count = u64::decode(&mut reader)?;
        let mut entries = BTreeMap::new();
        let mut last: Option<Vec<u8>> = None;
        for _ in 0..count {
            let at = reader.offset();
            let key = decode_bytes(&mut reader, SNAPSHOT_VALUE_MAX)?;
            if last.as_ref().is_some_and(|last| *last >= key) {
                return Err(DecodeError {
                    offset: at,
                    kind: curve_formats::encoding::DecodeErrorKind::Unordered,
                });
            }
            let value = decode_bytes(&mut reader, SNAPSHOT_VALUE_MAX)?;
            last = Some(key.clone());
            entries.insert(key, value);
        }
        reader.finish()?;
        Ok(MemoryStorage { entries })
    }

    /// A store holding `entries`.
    pub fn from_entries(entries: Entries) -> MemoryStorage {
        MemoryStorage {
            entries: entries.into_iter().collect(),
        }
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Storage for MemoryStorage {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        // The index is a node's business; a memory store keeps the state only.
        self.entries.extend(batch.puts);
        Ok(())
    }

    fn entries(&self) -> Result<Entries, StorageError> {
        Ok(self
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
