//! The safety guard: a second, tiny, synced record of the views this replica signed in, kept
//! outside RocksDB (`data_dir/safety.guard`).
//!
//! The consensus core never signs in a view at or below its stored `last_voted_view`, and it
//! only signs after that record is durable. If the database later comes back *behind* what was
//! durable — a torn or rolled-back write-ahead log, a disk that acknowledged a sync it did not
//! keep, a data directory restored from an old backup — the replica could vote twice in one
//! view. The guard catches that: after every synced safety record, the same watermark is
//! written here (one 40-byte write at offset 0, then `fdatasync`), and at start the database's
//! safety state must be at or above it, or the node refuses to start and says why.
//!
//! Layout: `b"CVGUARD1" ‖ last_voted_view u64 ‖ last_proposed_view u64 ‖ high_qc_view u64 ‖
//! first 8 bytes of SHA-256 of the preceding 32 bytes`, little-endian.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use curve_consensus::SafetyState;
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"CVGUARD1";
const LEN: usize = 40;

/// The views a replica has signed in, as the guard keeps them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watermark {
    /// Highest view voted or timed out in.
    pub voted: u64,
    /// Highest view proposed in.
    pub proposed: u64,
    /// View of the highest QC (the lock).
    pub high_qc: u64,
}

impl Watermark {
    /// The watermark of a safety state.
    pub fn of(state: &SafetyState) -> Watermark {
        Watermark {
            voted: state.last_voted_view,
            proposed: state.last_proposed_view,
            high_qc: state.high_qc.view,
        }
    }

    /// The guard file's bytes.
    pub fn to_bytes(self) -> [u8; LEN] {
        let mut bytes = [0u8; LEN];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8..16].copy_from_slice(&self.voted.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.proposed.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.high_qc.to_le_bytes());
        let digest = Sha256::digest(&bytes[..32]);
        bytes[32..].copy_from_slice(&digest[..8]);
        bytes
    }

    /// Reads the guard file's bytes; `None` when they are not a whole, checksummed guard.
    pub fn from_bytes(bytes: &[u8]) -> Option<Watermark> {
        if bytes.len() != LEN
            || &bytes[..8] != MAGIC
            || Sha256::digest(&bytes[..32])[..8] != bytes[32..]
        {
            return None;
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        Some(Watermark {
            voted: word(8),
            proposed: word(16),
            high_qc: word(24),
        })
    }
}

/// The open guard file.
pub struct SafetyGuard {
    file: File,
    path: PathBuf,
    last: Watermark,
}

impl SafetyGuard {
    /// Opens (creating) the guard in `dir` and returns it with the watermark it holds.
    pub fn open(dir: &Path) -> Result<SafetyGuard> {
        let path = dir.join("safety.guard");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let last = if bytes.is_empty() {
            Watermark::default()
        } else {
            Watermark::from_bytes(&bytes).with_context(|| {
                format!(
                    "{} is corrupt ({} bytes): the views this replica signed in are unknown; \
                     refusing to start (if the database is known good, delete the guard)",
                    path.display(),
                    bytes.len()
                )
            })?
        };
        Ok(SafetyGuard { file, path, last })
    }

    /// The watermark on disk.
    pub fn watermark(&self) -> Watermark {
        self.last
    }

    /// Refuses a database whose safety state is behind the guard.
    pub fn check(&self, stored: Option<&SafetyState>) -> Result<()> {
        let db = stored.map(Watermark::of).unwrap_or_default();
        let guard = self.last;
        if db.voted < guard.voted || db.proposed < guard.proposed || db.high_qc < guard.high_qc {
            bail!(
                "the database's safety record (voted in view {}, proposed in {}, locked on {}) is \
                 behind the safety guard {} (voted in view {}, proposed in {}, locked on {}): synced \
                 writes were lost (a torn or rolled-back write-ahead log, or an old backup). \
                 Starting could sign twice in one view; refusing. Restore this node's data \
                 directory or give it a fresh one to resync.",
                db.voted,
                db.proposed,
                db.high_qc,
                self.path.display(),
                guard.voted,
                guard.proposed,
                guard.high_qc,
            );
        }
        Ok(())
    }

    /// Durably records `state`'s watermark (after the database has it).
    pub fn record(&mut self, state: &SafetyState) -> Result<()> {
        let next = Watermark::of(state);
        if next == self.last {
            return Ok(());
        }
        self.file
            .write_all_at(&next.to_bytes(), 0)
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("writing {}", self.path.display()))?;
        self.last = next;
        Ok(())
    }
}
