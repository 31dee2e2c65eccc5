//! The node's storage: one RocksDB database per node, behind the runtime's [`Storage`] trait
//! and the consensus core's records.
//!
//! - The runtime's state entries live in the `state` column family, keyed as the runtime keys
//!   them; each executed batch is one RocksDB `WriteBatch` written with `sync` on, so a crash
//!   leaves the store at a whole batch (RocksDB's write-ahead log replays it or drops it).
//! - The consensus core's [`Record`]s live in the `consensus` column family under
//!   [`Record::key`]; each `Persist` action is one `WriteBatch`, synced when the action says so
//!   (before any vote or proposal leaves). Reading them back checks that every value decodes to
//!   a record of its own key, so a corrupted entry is a clear error, never a silent restart
//!   that could sign twice in a view.
//!
//! - The node's own index (block summaries by height, receipts, transaction locations, anchor
//!   certificates, the data directory's chain identity) lives in the `chain` column family:
//!   derived data a node can rebuild, kept beside the state so one directory is one node.
//!
//! Errors come back as [`StorageError`]s, which halt the runtime (or the node).

use std::path::Path;
use std::sync::Arc;

use curve_consensus::Record;
use curve_consensus::record::BLOCK_PREFIX;
use curve_formats::encoding::{Decode, Encode};
use curve_runtime::storage::Entries;
use curve_runtime::{Storage, StorageError, WriteBatch};
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteOptions};

/// The column family of the runtime's state entries.
pub const STATE: &str = "state";

/// The column family of the consensus core's records.
pub const CONSENSUS: &str = "consensus";

/// The column family of the node's index.
pub const CHAIN: &str = "chain";

/// A RocksDB database holding a runtime's state, the consensus records and the node's index.
/// Clones share the database (the runtime owns one, the node's driver another).
#[derive(Clone)]
pub struct RocksStorage {
    db: Arc<DB>,
    sync_state: bool,
}

impl std::fmt::Debug for RocksStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksStorage")
            .field("path", &self.db.path())
            .finish()
    }
}

fn failed(what: &str, error: rocksdb::Error) -> StorageError {
    StorageError(format!("{what}: {error}"))
}

impl RocksStorage {
    /// Opens (creating if missing) the database at `path`.
    pub fn open(path: &Path) -> Result<RocksStorage, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // One writer: the vector memtable below does not take concurrent inserts.
        options.set_allow_concurrent_memtable_write(false);
        let families = [STATE, CONSENSUS, CHAIN].map(|name| {
            let mut family = Options::default();
            if name == STATE {
                // The state is written every batch and read only whole (at start and for a
                // checkpoint): an append-only memtable, sorted once when read or flushed,
                // instead of a skip-list insert per entry (~14 % of a node at 4,000 tx/s).
                family.set_memtable_factory(rocksdb::MemtableFactory::Vector);
            }
            ColumnFamilyDescriptor::new(name, family)
        });
        let db = DB::open_cf_descriptors(&options, path, families)
            .map_err(|e| failed(&format!("cannot open {}", path.display()), e))?;
        Ok(RocksStorage {
            db: Arc::new(db),
            sync_state: true,
        })
    }

    /// This handle's state writes go to the write-ahead log without waiting for `fsync`.
    /// For a node, whose executed state is derived from decided blocks that are synced: a
    /// state write lost with the power is re-executed from them at restart, and a later
    /// synced consensus record makes every earlier log entry durable with it (one log, in
    /// order), so the state never gets ahead of what was decided.
    pub fn without_state_sync(mut self) -> RocksStorage {
        self.sync_state = false;
        self
    }

    fn family(&self, name: &str) -> Result<&rocksdb::ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StorageError(format!("no column family `{name}`")))
    }

    /// Stores one `Persist` action's records atomically, durably first when `sync`.
    pub fn persist(&self, records: &[Record], sync: bool) -> Result<(), StorageError> {
        let family = self.family(CONSENSUS)?;
        let mut write = rocksdb::WriteBatch::default();
        for record in records {
            write.put_cf(family, record.key(), record.to_bytes());
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db
            .write_opt(write, &options)
            .map_err(|e| failed("persist", e))
    }

    /// Writes index entries atomically (durably first when `sync`) and deletes `deletes`.
    pub fn put_index(
        &self,
        puts: &[(Vec<u8>, Vec<u8>)],
        deletes: &[Vec<u8>],
        sync: bool,
    ) -> Result<(), StorageError> {
        let family = self.family(CHAIN)?;
        let mut write = rocksdb::WriteBatch::default();
        for (key, value) in puts {
            write.put_cf(family, key, value);
        }
        for key in deletes {
            write.delete_cf(family, key);
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db
            .write_opt(write, &options)
            .map_err(|e| failed("index write", e))
    }

    /// One index entry.
    pub fn index(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let family = self.family(CHAIN)?;
        self.db
            .get_cf(family, key)
            .map_err(|e| failed("index read", e))
    }

    /// Stores the core's new base record and deletes the pruned block records, atomically
    /// (unsynced: a prune lost with the power only keeps more blocks).
    pub fn prune(&self, base: &Record, forget: &[Vec<u8>]) -> Result<(), StorageError> {
        let family = self.family(CONSENSUS)?;
        let mut write = rocksdb::WriteBatch::default();
        write.put_cf(family, base.key(), base.to_bytes());
        for key in forget {
            write.delete_cf(family, key);
        }
        self.db.write(write).map_err(|e| failed("prune", e))
    }

    /// Replaces the state with a checkpoint's `entries` and the block records with `records`
    /// (the checkpoint's base and decided records), keeping the safety record, in one synced
    /// write: a crash leaves the old state and chain or the new ones, never a mix.
    pub fn install_checkpoint(
        &self,
        entries: &Entries,
        records: &[Record],
    ) -> Result<(), StorageError> {
        let state = self.family(STATE)?;
        let consensus = self.family(CONSENSUS)?;
        let mut write = rocksdb::WriteBatch::default();
        for entry in self.db.iterator_cf(state, IteratorMode::Start) {
            let (key, _) = entry.map_err(|e| failed("read", e))?;
            write.delete_cf(state, key);
        }
        for (key, value) in entries {
            write.put_cf(state, key, value);
        }
        let blocks = self.db.prefix_iterator_cf(consensus, BLOCK_PREFIX);
        for entry in blocks {
            let (key, _) = entry.map_err(|e| failed("read", e))?;
            if !key.starts_with(BLOCK_PREFIX) {
                break;
            }
            write.delete_cf(consensus, key);
        }
        for record in records {
            write.put_cf(consensus, record.key(), record.to_bytes());
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(write, &options)
            .map_err(|e| failed("install checkpoint", e))
    }

    /// Every stored consensus record, in key order, each checked against its key.
    pub fn records(&self, chain_id: u64) -> Result<Vec<Record>, StorageError> {
        let family = self.family(CONSENSUS)?;
        let mut records = Vec::new();
        for entry in self.db.iterator_cf(family, IteratorMode::Start) {
            let (key, value) = entry.map_err(|e| failed("read", e))?;
            let shown = String::from_utf8_lossy(&key[..key.len().min(6)]).into_owned();
            let record = Record::from_bytes(&value).map_err(|e| {
                StorageError(format!(
                    "consensus record `{shown}…` ({} bytes) is corrupt: {e}",
                    value.len()
                ))
            })?;
            if record.key() != key.as_ref() || !record.intact(chain_id) {
                return Err(StorageError(format!(
                    "consensus record `{shown}…` holds another key's record (or another chain's)"
                )));
            }
            records.push(record);
        }
        Ok(records)
    }
}

impl Storage for RocksStorage {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        let family = self.family(STATE)?;
        let chain = self.family(CHAIN)?;
        let mut write = rocksdb::WriteBatch::default();
        for (key, value) in batch.puts {
            write.put_cf(family, key, value);
        }
        // In key order, as the state's puts are: the memtable's skip list then finds each
        // key's place from the last one's (a block's transaction hashes are random). Stable,
        // so of two puts of one key the later still wins.
        let mut index = batch.index;
        index.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in index {
            write.put_cf(chain, key, value);
        }
        let mut options = WriteOptions::default();
        options.set_sync(self.sync_state);
        self.db
            .write_opt(write, &options)
            .map_err(|e| failed("write", e))
    }

    fn entries(&self) -> Result<Entries, StorageError> {
        let family = self.family(STATE)?;
        self.db
            .iterator_cf(family, IteratorMode::Start)
            .map(|entry| {
                entry
                    .map(|(key, value)| (key.into_vec(), value.into_vec()))
                    .map_err(|e| failed("read", e))
            })
            .collect()
    }
}
