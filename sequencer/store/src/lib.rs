//! The node's storage: RocksDB behind the runtime's [`Storage`] trait.
//!
//! The runtime's state entries live in the `state` column family, keyed as the runtime keys
//! them; each executed batch is one RocksDB `WriteBatch` written with `sync` on, so a crash
//! leaves the store at a whole batch (RocksDB's write-ahead log replays it or drops it).
//! Errors come back as [`StorageError`]s, which halt the runtime.

use std::path::Path;

use curve_runtime::storage::Entries;
use curve_runtime::{Storage, StorageError, WriteBatch};
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteOptions};

/// The column family of the runtime's state entries.
pub const STATE: &str = "state";

/// A RocksDB database holding a runtime's state.
pub struct RocksStorage {
    db: DB,
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
        let families = [ColumnFamilyDescriptor::new(STATE, Options::default())];
        let db = DB::open_cf_descriptors(&options, path, families)
            .map_err(|e| failed(&format!("cannot open {}", path.display()), e))?;
        Ok(RocksStorage { db })
    }
}

impl Storage for RocksStorage {
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        let family = self
            .db
            .cf_handle(STATE)
            .ok_or_else(|| StorageError(format!("no column family `{STATE}`")))?;
        let mut write = rocksdb::WriteBatch::default();
        for (key, value) in batch.puts {
            write.put_cf(family, key, value);
        }
        let mut options = WriteOptions::default();
        options.set_sync(true);
        self.db
            .write_opt(write, &options)
            .map_err(|e| failed("write", e))
    }

    fn entries(&self) -> Result<Entries, StorageError> {
        let family = self
            .db
            .cf_handle(STATE)
            .ok_or_else(|| StorageError(format!("no column family `{STATE}`")))?;
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
