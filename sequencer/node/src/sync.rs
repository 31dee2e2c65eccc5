//! State sync: checkpoints a node serves and the download of one by a node that fell too far
//! behind to replay (or whose missing blocks its peers pruned).
//!
//! Every `checkpoint_every` heights the driver captures the executed state in chunks; once the
//! committee anchors that height, the capture becomes a served checkpoint (the newest two are
//! kept, so a download in progress survives the next one). A node that sees proposals more than
//! [`PROBE_GAP`] heights above its decided height asks the proposer for its manifest (the
//! [`Checkpoint`] and the chunk count), verifies it against the committee, downloads the chunks
//! one by one and hands the entries to the driver, which installs them only if they hash to the
//! certified state root.
//!
//! Frames (after the node's frame kind byte):
//! - request (kind 2): `0` manifest, or `1 ‖ height u64 ‖ index u32` one chunk;
//! - answer (kind 3): `0 ‖ base u64 ‖ chunks u32 ‖ checkpoint`, `1 ‖ height u64 ‖ index u32 ‖
//!   chunk bytes`, or `2 ‖ base u64` (no such checkpoint);
//! - a chunk: `count u32 ‖ (key bytes ‖ value bytes)*`, keys strictly increasing across chunks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use curve_consensus::Checkpoint;
use curve_formats::batch::BatchHeader;
use curve_formats::encoding::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
use curve_formats::tx::{decode_bytes, encode_bytes};
use curve_runtime::storage::Entries;
use tokio::time::Instant;

/// A snapshot request.
pub const FRAME_SNAPSHOT_REQUEST: u8 = 2;
/// A snapshot answer.
pub const FRAME_SNAPSHOT: u8 = 3;
/// A node this many heights behind a proposal asks the proposer for its checkpoint.
pub const PROBE_GAP: u64 = 16;
/// Between two probes.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// A download with no chunk for this long asks for the chunk again; after [`STALLS_MAX`]
/// such waits it is dropped (the next probe may pick another peer).
pub const STALL: Duration = Duration::from_secs(5);
/// Re-requests of one chunk before a download is dropped.
pub const STALLS_MAX: u32 = 3;
/// A download that takes longer than this is dropped, however it progresses.
pub const DOWNLOAD_MAX: Duration = Duration::from_secs(600);
/// Most bytes one download may hold.
pub const DOWNLOAD_BYTES_MAX: u64 = 2 << 30;
/// A chunk is cut once it holds this many bytes.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Most chunks a checkpoint may have.
pub const CHUNKS_MAX: u32 = 4_096;
/// Largest key or value in a chunk.
pub const ENTRY_MAX: u32 = 4 << 20;
/// Largest chunk: cut after [`CHUNK_BYTES`], so at most one entry (key and value) past it.
pub const CHUNK_MAX: usize = CHUNK_BYTES + 2 * ENTRY_MAX as usize + 16;
/// Captures kept while they wait for their anchor certificate.
const PENDING_MAX: usize = 4;
/// Checkpoints served.
const SERVED_MAX: usize = 2;

/// What a peer asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotRequest {
    /// The newest checkpoint's manifest.
    Manifest,
    /// One chunk of the checkpoint at `height`.
    Chunk {
        /// The checkpoint's height.
        height: u64,
        /// The chunk's index.
        index: u32,
    },
}

/// What a peer answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotAnswer {
    /// The newest checkpoint.
    Manifest {
        /// The height of the peer's oldest kept block.
        base: u64,
        /// Chunks in the checkpoint.
        chunks: u32,
        /// The checkpoint.
        checkpoint: Box<Checkpoint>,
    },
    /// One chunk.
    Chunk {
        /// The checkpoint's height.
        height: u64,
        /// The chunk's index.
        index: u32,
        /// The encoded entries.
        bytes: Vec<u8>,
    },
    /// No checkpoint (yet), or not that one any more.
    None {
        /// The height of the peer's oldest kept block.
        base: u64,
    },
}

impl SnapshotRequest {
    /// The frame, kind byte included.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = vec![FRAME_SNAPSHOT_REQUEST];
        match self {
            SnapshotRequest::Manifest => 0u8.encode(&mut out),
            SnapshotRequest::Chunk { height, index } => {
                1u8.encode(&mut out);
                height.encode(&mut out);
                index.encode(&mut out);
            }
        }
        out
    }

    /// Decodes a frame body (after the kind byte); every byte must be used.
    pub fn decode_body(body: &[u8]) -> Result<SnapshotRequest, DecodeError> {
        let mut reader = Reader::new(body);
        let request = match u8::decode(&mut reader)? {
            0 => SnapshotRequest::Manifest,
            1 => SnapshotRequest::Chunk {
                height: u64::decode(&mut reader)?,
                index: u32::decode(&mut reader)?,
            },
            other => return Err(discriminant(other)),
        };
        reader.finish()?;
        Ok(request)
    }
}

impl SnapshotAnswer {
    /// The frame, kind byte included.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut out = vec![FRAME_SNAPSHOT];
        match self {
            SnapshotAnswer::Manifest {
                base,
                chunks,
                checkpoint,
            } => {
                0u8.encode(&mut out);
                base.encode(&mut out);
                chunks.encode(&mut out);
                checkpoint.encode(&mut out);
            }
            SnapshotAnswer::Chunk {
                height,
                index,
                bytes,
            } => {
                1u8.encode(&mut out);
                height.encode(&mut out);
                index.encode(&mut out);
                encode_bytes(bytes, &mut out);
            }
            SnapshotAnswer::None { base } => {
                2u8.encode(&mut out);
                base.encode(&mut out);
            }
        }
        out
    }

    /// Decodes a frame body (after the kind byte); every byte must be used.
    pub fn decode_body(body: &[u8]) -> Result<SnapshotAnswer, DecodeError> {
        let mut reader = Reader::new(body);
        let answer = match u8::decode(&mut reader)? {
            0 => SnapshotAnswer::Manifest {
                base: u64::decode(&mut reader)?,
                chunks: u32::decode(&mut reader)?,
                checkpoint: Box::new(Checkpoint::decode(&mut reader)?),
            },
            1 => SnapshotAnswer::Chunk {
                height: u64::decode(&mut reader)?,
                index: u32::decode(&mut reader)?,
                bytes: decode_bytes(&mut reader, crate::net::MAX_FRAME as u32)?,
            },
            2 => SnapshotAnswer::None {
                base: u64::decode(&mut reader)?,
            },
            other => return Err(discriminant(other)),
        };
        reader.finish()?;
        Ok(answer)
    }
}

fn discriminant(found: u8) -> DecodeError {
    DecodeError {
        offset: 0,
        kind: DecodeErrorKind::InvalidDiscriminant(found),
    }
}

/// Cuts state entries (in key order) into chunks of about [`CHUNK_BYTES`].
pub fn chunk_entries(entries: &Entries) -> Vec<Vec<u8>> {
    fn cut(chunks: &mut Vec<Vec<u8>>, current: &mut Vec<u8>, count: &mut u32) {
        let mut chunk = Vec::with_capacity(current.len() + 4);
        count.encode(&mut chunk);
        chunk.append(current);
        chunks.push(chunk);
        *count = 0;
    }
    let mut chunks = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    let mut count = 0u32;
    for (key, value) in entries {
        encode_bytes(key, &mut current);
        encode_bytes(value, &mut current);
        count += 1;
        if current.len() >= CHUNK_BYTES {
            cut(&mut chunks, &mut current, &mut count);
        }
    }
    if count > 0 || chunks.is_empty() {
        cut(&mut chunks, &mut current, &mut count);
    }
    chunks
}

/// The entries of downloaded chunks, keys strictly increasing across them.
pub fn decode_chunks(chunks: &[Vec<u8>]) -> Result<Entries, DecodeError> {
    let mut entries: Entries = Vec::new();
    for chunk in chunks {
        let mut reader = Reader::new(chunk);
        let count = u32::decode(&mut reader)?;
        for _ in 0..count {
            let at = reader.offset();
            let key = decode_bytes(&mut reader, ENTRY_MAX)?;
            if entries.last().is_some_and(|(last, _)| *last >= key) {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::Unordered,
                });
            }
            let value = decode_bytes(&mut reader, ENTRY_MAX)?;
            entries.push((key, value));
        }
        reader.finish()?;
    }
    Ok(entries)
}

/// A checkpoint this node serves.
pub struct Served {
    /// The checkpoint.
    pub checkpoint: Arc<Checkpoint>,
    /// Its state, chunked.
    pub chunks: Arc<Vec<Vec<u8>>>,
}

/// A download in progress.
pub struct Download {
    /// The peer serving it.
    pub peer: u16,
    /// The verified checkpoint.
    pub checkpoint: Checkpoint,
    /// Chunks in it.
    pub total: u32,
    /// Chunks received, in order.
    pub chunks: Vec<Vec<u8>>,
    /// When the last chunk (or the manifest) came.
    pub progress: Instant,
    /// When the manifest came.
    pub started: Instant,
    /// Bytes received.
    pub bytes: u64,
    /// Re-requests of the current chunk.
    pub stalls: u32,
}

/// The driver's state-sync bookkeeping: captures waiting for their anchor, checkpoints served,
/// the download in progress and when the last probe went out.
#[derive(Default)]
pub struct SyncState {
    /// Captured states by height: the header executed there and the chunks.
    pending: BTreeMap<u64, (BatchHeader, Vec<Vec<u8>>)>,
    /// Newest last.
    served: Vec<Served>,
    /// The download in progress.
    pub download: Option<Download>,
    /// When the last probe went out, and to whom (only its answer is taken).
    pub probed: Option<(Instant, u16)>,
    /// An anchor certificate of a checkpoint height that came before this node executed it.
    pub early_anchor: Option<curve_consensus::AnchorCertificate>,
}

impl SyncState {
    /// Keeps the state executed at `header.height`, chunked, until its anchor certificate.
    pub fn capture(&mut self, header: BatchHeader, entries: &Entries) {
        self.pending
            .insert(header.height, (header, chunk_entries(entries)));
        while self.pending.len() > PENDING_MAX {
            self.pending.pop_first();
        }
    }

    /// The capture at `header.height` if its header is `header` (older captures are dropped).
    pub fn anchored(&mut self, header: &BatchHeader) -> Option<Vec<Vec<u8>>> {
        let mut later = self.pending.split_off(&header.height);
        let found = later.remove(&header.height);
        self.pending = later;
        found
            .filter(|(ours, _)| ours == header)
            .map(|(_, chunks)| chunks)
    }

    /// Serves `checkpoint` from now on.
    pub fn serve(&mut self, checkpoint: Checkpoint, chunks: Vec<Vec<u8>>) {
        self.served.push(Served {
            checkpoint: Arc::new(checkpoint),
            chunks: Arc::new(chunks),
        });
        if self.served.len() > SERVED_MAX {
            self.served.remove(0);
        }
    }

    /// The newest checkpoint served.
    pub fn newest(&self) -> Option<&Served> {
        self.served.last()
    }

    /// The answer to `request`, given this node's base height.
    pub fn answer(&self, request: &SnapshotRequest, base: u64) -> SnapshotAnswer {
        let none = SnapshotAnswer::None { base };
        match request {
            SnapshotRequest::Manifest => match self.served.last() {
                Some(served) => SnapshotAnswer::Manifest {
                    base,
                    chunks: served.chunks.len() as u32,
                    checkpoint: Box::new((*served.checkpoint).clone()),
                },
                None => none,
            },
            SnapshotRequest::Chunk { height, index } => self
                .served
                .iter()
                .find(|s| s.checkpoint.height() == *height)
                .and_then(|s| s.chunks.get(*index as usize))
                .map_or(none, |bytes| SnapshotAnswer::Chunk {
                    height: *height,
                    index: *index,
                    bytes: bytes.clone(),
                }),
        }
    }
}
