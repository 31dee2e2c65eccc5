//! Consensus alone disseminates payloads once, in batches, and orders their references (the
//! split asonnino/hotstuff and Narwhal make between a mempool and consensus).
//!
//! - A generating node packs the payloads of one tick into batch frames
//!   (`5 ‖ author u16 ‖ generated_ms u64 ‖ count u32 ‖ (length u32 ‖ payload)…`), keeps them,
//!   sends each to every member once, and hands its core the batch's 46-byte [`BatchRef`]
//!   (`SHA-256(frame after its kind byte) ‖ author ‖ count ‖ generated_ms`) once `2f` members
//!   acknowledged the frame (the transport reports acknowledgements), so that with its own
//!   copy a quorum holds the batch before it can be proposed (asonnino/hotstuff's mempool
//!   waits the same way), and a leader's proposal never overtakes its own fresh batch.
//!   A member that receives a batch keeps it and hands its core the same reference, so any
//!   leader can propose it; a block is a few kilobytes however many payloads it orders.
//! - **Availability before a vote.** A replica steps a proposal only once it holds every batch
//!   the block names, with the reference it computed itself (a leader cannot claim a count or
//!   an author its batch does not have). A proposal naming batches it lacks is parked and the
//!   proposer asked for them (`6 ‖ count u32 ‖ digest…`); after [`ASK_ALL_AFTER`] every member
//!   is asked. A proposal whose payload is not references is refused. Blocks fetched as
//!   ancestors are already certified by 2f + 1 votes, so f + 1 honest members hold their
//!   batches; the hash-chain executor needs only the references.
//! - Batches live in memory: their bodies are dropped [`KEEP_DECIDED_HEIGHTS`] heights after
//!   their reference is decided (a late member may still ask), and past [`STORE_BYTES_MAX`]
//!   new batches are refused with a warning. A restarted node has none and asks when it must
//!   vote; a benchmark that executes nothing needs no more.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use curve_formats::encoding::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::opaque::PAYLOAD_MAX;

/// A batch of payloads.
pub const FRAME_BATCH: u8 = 5;
/// A request for batches by digest.
pub const FRAME_BATCH_REQUEST: u8 = 6;
/// Most payloads in one batch.
pub const BATCH_PAYLOADS_MAX: usize = 4_096;
/// A generator closes a batch once its payloads reach this many bytes.
pub const BATCH_BYTES: usize = 512 << 10;
/// Bytes of batches a node keeps before it refuses new ones.
pub const STORE_BYTES_MAX: usize = 1 << 30;
/// Heights a decided batch is kept for members that still ask for it.
pub const KEEP_DECIDED_HEIGHTS: u64 = 16;
/// Most digests in one request.
pub const REQUEST_DIGESTS_MAX: usize = 4_096;
/// Proposals waiting for batches at once (the oldest is dropped past it).
pub const PARKED_MAX: usize = 16;
/// A proposal still waiting after this long asks every member, not only its proposer.
pub const ASK_ALL_AFTER: Duration = Duration::from_millis(100);
/// A proposal still waiting after this long is dropped (the view has long timed out).
pub const PARKED_FOR_AT_MOST: Duration = Duration::from_secs(5);
/// Bytes of a [`BatchRef`].
pub const REFERENCE_LEN: usize = 46;
/// `author u16 ‖ generated_ms u64 ‖ count u32` after the kind byte.
const HEADER_LEN: usize = 14;

/// What the core orders for a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchRef {
    /// SHA-256 of the batch frame after its kind byte.
    pub digest: [u8; 32],
    /// The member that generated it.
    pub author: u16,
    /// Its payloads.
    pub count: u32,
    /// When they were generated (the author's clock, ms).
    pub generated_ms: u64,
}

impl BatchRef {
    /// `digest ‖ author u16 ‖ count u32 ‖ generated_ms u64`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(REFERENCE_LEN);
        out.extend_from_slice(&self.digest);
        self.author.encode(&mut out);
        self.count.encode(&mut out);
        self.generated_ms.encode(&mut out);
        out
    }

    /// A reference, or `None` for bytes of another shape.
    pub fn from_bytes(bytes: &[u8]) -> Option<BatchRef> {
        if bytes.len() != REFERENCE_LEN {
            return None;
        }
        let mut reader = Reader::new(bytes);
        Some(BatchRef {
            digest: reader.array().ok()?,
            author: u16::decode(&mut reader).ok()?,
            count: u32::decode(&mut reader).ok()?,
            generated_ms: u64::decode(&mut reader).ok()?,
        })
    }
}

/// Packs payloads into batch frames of at most [`BATCH_PAYLOADS_MAX`] payloads, each closed
/// once it reaches [`BATCH_BYTES`].
pub struct BatchPacker {
    author: u16,
    generated_ms: u64,
    /// Encoded payload bytes still expected (see [`BatchPacker::expect`]).
    expected: usize,
    open: Option<(Vec<u8>, u32)>,
    done: Vec<Bytes>,
}

impl BatchPacker {
    /// A packer for payloads `author` generated at `generated_ms`.
    pub fn new(author: u16, generated_ms: u64) -> BatchPacker {
        BatchPacker {
            author,
            generated_ms,
            expected: 0,
            open: None,
            done: Vec::new(),
        }
    }

    /// Announces `payloads` payloads of `length` bytes, so that each frame is allocated once
    /// at the size it will have: a kept frame holds its whole allocation, and a batch
    /// allocated at its limit would hold half a megabyte for a few kilobytes.
    pub fn expect(&mut self, payloads: usize, length: usize) {
        self.expected = payloads.saturating_mul(4 + length);
    }

    /// Adds a payload (at most [`PAYLOAD_MAX`] bytes).
    pub fn push(&mut self, payload: &[u8]) {
        let expected = self.expected.min(BATCH_BYTES + PAYLOAD_MAX);
        self.expected = self.expected.saturating_sub(4 + payload.len());
        let (frame, count) = self.open.get_or_insert_with(|| {
            let mut frame = Vec::with_capacity(1 + HEADER_LEN + expected);
            frame.push(FRAME_BATCH);
            self.author.encode(&mut frame);
            self.generated_ms.encode(&mut frame);
            0u32.encode(&mut frame);
            (frame, 0)
        });
        curve_formats::tx::encode_bytes(payload, frame);
        *count += 1;
        if *count as usize == BATCH_PAYLOADS_MAX || frame.len() >= 1 + HEADER_LEN + BATCH_BYTES {
            self.close();
        }
    }

    fn close(&mut self) {
        if let Some((mut frame, count)) = self.open.take() {
            frame[1 + 10..1 + HEADER_LEN].copy_from_slice(&count.to_le_bytes());
            self.done.push(Bytes::from(frame));
        }
    }

    /// The batch frames.
    pub fn finish(mut self) -> Vec<Bytes> {
        self.close();
        self.done
    }
}

/// Checks a batch frame (kind byte included) and names it.
pub fn reference(frame: &[u8]) -> Result<BatchRef, DecodeError> {
    let mut reader = Reader::new(frame);
    let kind = u8::decode(&mut reader)?;
    if kind != FRAME_BATCH {
        return Err(DecodeError {
            offset: 0,
            kind: DecodeErrorKind::WrongKind {
                expected: FRAME_BATCH,
                found: kind,
            },
        });
    }
    let author = u16::decode(&mut reader)?;
    let generated_ms = u64::decode(&mut reader)?;
    let count = reader.length(BATCH_PAYLOADS_MAX as u32)?;
    for _ in 0..count {
        let length = reader.length(PAYLOAD_MAX as u32)?;
        reader.take(length)?;
    }
    reader.finish()?;
    Ok(BatchRef {
        digest: Sha256::digest(&frame[1..]).into(),
        author,
        count: count as u32,
        generated_ms,
    })
}

/// `6 ‖ count u32 ‖ digest…`.
pub fn request_frame(digests: &[[u8; 32]]) -> Vec<u8> {
    let digests = &digests[..digests.len().min(REQUEST_DIGESTS_MAX)];
    let mut frame = Vec::with_capacity(5 + 32 * digests.len());
    frame.push(FRAME_BATCH_REQUEST);
    (digests.len() as u32).encode(&mut frame);
    for digest in digests {
        frame.extend_from_slice(digest);
    }
    frame
}

/// The digests of a request frame's body (after its kind byte).
pub fn decode_request(body: &[u8]) -> Result<Vec<[u8; 32]>, DecodeError> {
    let mut reader = Reader::new(body);
    let count = reader.length(REQUEST_DIGESTS_MAX as u32)?;
    let mut digests = Vec::with_capacity(count);
    for _ in 0..count {
        digests.push(reader.array()?);
    }
    reader.finish()?;
    Ok(digests)
}

/// Whether a member holds what a proposal names.
#[derive(Debug, PartialEq, Eq)]
pub enum Availability {
    /// Every batch, with the reference the block carries.
    Ready,
    /// These batches are not held yet.
    Missing(BTreeSet<[u8; 32]>),
    /// An item is not a reference, or not the reference of the batch its digest names.
    Refused(String),
}

/// A proposal waiting for batches.
struct Parked<M> {
    from: u16,
    message: M,
    missing: BTreeSet<[u8; 32]>,
    since: Instant,
    asked_all: bool,
}

/// The batches a member holds, and the proposals waiting for some.
pub struct BatchStore<M> {
    batches: BTreeMap<[u8; 32], (BatchRef, Bytes)>,
    bytes: usize,
    /// Digests decided per height, oldest first, until they are dropped.
    decided: VecDeque<(u64, Vec<[u8; 32]>)>,
    parked: VecDeque<Parked<M>>,
    /// This node's batches waiting for acknowledgements: who acknowledged, how many are
    /// needed, since when.
    awaiting: BTreeMap<[u8; 32], (BatchRef, BTreeSet<u16>, usize, Instant)>,
    /// Proposals that had to wait for a batch (how often a vote waited).
    pub waited: u64,
}

impl<M> Default for BatchStore<M> {
    fn default() -> Self {
        BatchStore {
            batches: BTreeMap::new(),
            bytes: 0,
            decided: VecDeque::new(),
            parked: VecDeque::new(),
            awaiting: BTreeMap::new(),
            waited: 0,
        }
    }
}

impl<M> BatchStore<M> {
    /// Keeps a checked batch; `false` if it was held already or the store is full.
    pub fn insert(&mut self, reference: BatchRef, frame: Bytes) -> bool {
        if self.batches.contains_key(&reference.digest) {
            return false;
        }
        if self.bytes + frame.len() > STORE_BYTES_MAX {
            tracing::warn!(
                held = self.bytes,
                "batch store full: a batch is refused until decided batches are dropped"
            );
            return false;
        }
        self.bytes += frame.len();
        self.batches.insert(reference.digest, (reference, frame));
        true
    }

    /// The frame of a held batch.
    pub fn get(&self, digest: &[u8; 32]) -> Option<&Bytes> {
        self.batches.get(digest).map(|(_, frame)| frame)
    }

    /// Batches held.
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    /// Whether no batch is held.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Whether every item of `payload` is the reference of a held batch.
    pub fn availability(&self, payload: &[Vec<u8>]) -> Availability {
        let mut missing = BTreeSet::new();
        for (i, item) in payload.iter().enumerate() {
            let Some(reference) = BatchRef::from_bytes(item) else {
                return Availability::Refused(format!(
                    "payload item {i} is {} bytes, not a {REFERENCE_LEN}-byte batch reference",
                    item.len()
                ));
            };
            match self.batches.get(&reference.digest) {
                Some((held, _)) if *held == reference => {}
                Some((held, _)) => {
                    return Availability::Refused(format!(
                        "payload item {i} names batch {} as {reference:?}, which is {held:?}",
                        hex::encode(reference.digest)
                    ));
                }
                None => {
                    missing.insert(reference.digest);
                }
            }
        }
        if missing.is_empty() {
            Availability::Ready
        } else {
            Availability::Missing(missing)
        }
    }

    /// Parks `message` from `from` until `missing` arrive (dropping the oldest past
    /// [`PARKED_MAX`]).
    pub fn park(&mut self, from: u16, message: M, missing: BTreeSet<[u8; 32]>) {
        self.waited += 1;
        if self.parked.len() == PARKED_MAX {
            self.parked.pop_front();
        }
        self.parked.push_back(Parked {
            from,
            message,
            missing,
            since: Instant::now(),
            asked_all: false,
        });
    }

    /// Holds back this node's batch `reference` until `needed` members acknowledge it.
    pub fn await_acks(&mut self, reference: BatchRef, needed: usize) {
        self.awaiting.insert(
            reference.digest,
            (reference, BTreeSet::new(), needed, Instant::now()),
        );
    }

    /// `from` acknowledged `digest`: its reference once that makes enough.
    pub fn acked(&mut self, digest: [u8; 32], from: u16) -> Option<BatchRef> {
        let (reference, acks, needed, _) = self.awaiting.get_mut(&digest)?;
        acks.insert(from);
        if acks.len() < *needed {
            return None;
        }
        let reference = *reference;
        self.awaiting.remove(&digest);
        Some(reference)
    }

    /// After `digest` arrived: the parked proposals it completed, in the order they came.
    pub fn unparked(&mut self, digest: &[u8; 32]) -> Vec<(u16, M)> {
        let mut ready = Vec::new();
        let mut waiting = VecDeque::with_capacity(self.parked.len());
        for mut parked in self.parked.drain(..) {
            parked.missing.remove(digest);
            if parked.missing.is_empty() {
                ready.push((parked.from, parked.message));
            } else {
                waiting.push_back(parked);
            }
        }
        self.parked = waiting;
        ready
    }

    /// The digests to ask every member for: those of proposals parked longer than
    /// [`ASK_ALL_AFTER`] (once each); proposals parked longer than [`PARKED_FOR_AT_MOST`]
    /// are dropped.
    pub fn overdue(&mut self) -> Vec<[u8; 32]> {
        self.parked
            .retain(|parked| parked.since.elapsed() <= PARKED_FOR_AT_MOST);
        // A batch too few acknowledged is left to the members that hold it to propose.
        self.awaiting
            .retain(|_, (_, _, _, since)| since.elapsed() <= PARKED_FOR_AT_MOST);
        let mut digests = BTreeSet::new();
        for parked in &mut self.parked {
            if !parked.asked_all && parked.since.elapsed() > ASK_ALL_AFTER {
                parked.asked_all = true;
                digests.extend(parked.missing.iter().copied());
            }
        }
        digests.into_iter().collect()
    }

    /// Notes the batches decided at `height` and drops those decided
    /// [`KEEP_DECIDED_HEIGHTS`] heights before.
    pub fn decided(&mut self, height: u64, digests: Vec<[u8; 32]>) {
        self.decided.push_back((height, digests));
        while self
            .decided
            .front()
            .is_some_and(|(at, _)| at + KEEP_DECIDED_HEIGHTS <= height)
        {
            let (_, digests) = self.decided.pop_front().expect("a front");
            for digest in digests {
                if let Some((_, frame)) = self.batches.remove(&digest) {
                    self.bytes -= frame.len();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(author: u16, payloads: &[&[u8]]) -> (BatchRef, Bytes) {
        let mut packer = BatchPacker::new(author, 1_000);
        for payload in payloads {
            packer.push(payload);
        }
        let mut frames = packer.finish();
        assert_eq!(frames.len(), 1);
        let frame = frames.pop().unwrap();
        (reference(&frame).expect("a packed batch checks"), frame)
    }

    #[test]
    fn a_packed_batch_names_its_author_count_and_time_and_survives_its_reference_bytes() {
        let (reference, frame) = batch(3, &[b"one", b"two", &[7; 100]]);
        assert_eq!(
            (reference.author, reference.count, reference.generated_ms),
            (3, 3, 1_000)
        );
        let digest: [u8; 32] = Sha256::digest(&frame[1..]).into();
        assert_eq!(reference.digest, digest);
        assert_eq!(BatchRef::from_bytes(&reference.to_bytes()), Some(reference));
        assert_eq!(BatchRef::from_bytes(&reference.to_bytes()[1..]), None);
    }

    #[test]
    fn a_packer_closes_batches_at_their_byte_and_count_limits() {
        let mut packer = BatchPacker::new(0, 5);
        let payload = vec![1u8; 1_000];
        let total = BATCH_BYTES / 1_000 * 3;
        for _ in 0..total {
            packer.push(&payload);
        }
        let frames = packer.finish();
        let counts: Vec<u32> = frames.iter().map(|f| reference(f).unwrap().count).collect();
        assert_eq!(counts.iter().sum::<u32>() as usize, total);
        assert!(counts.len() >= 3, "{counts:?}");
        assert!(
            frames
                .iter()
                .all(|f| f.len() <= 1 + HEADER_LEN + BATCH_BYTES + 1_004)
        );

        let mut packer = BatchPacker::new(0, 5);
        for _ in 0..BATCH_PAYLOADS_MAX + 1 {
            packer.push(b"x");
        }
        let counts: Vec<u32> = packer
            .finish()
            .iter()
            .map(|f| reference(f).unwrap().count)
            .collect();
        assert_eq!(counts, [BATCH_PAYLOADS_MAX as u32, 1]);
    }

    #[test]
    fn malformed_batch_frames_and_requests_are_refused_with_where() {
        let (_, frame) = batch(1, &[b"abc"]);
        assert!(reference(&frame[..frame.len() - 1]).is_err(), "truncated");
        let mut longer = frame.to_vec();
        longer.push(0);
        assert!(reference(&longer).is_err(), "trailing byte");
        let mut wrong_kind = frame.to_vec();
        wrong_kind[0] = FRAME_BATCH_REQUEST;
        assert!(reference(&wrong_kind).is_err(), "another kind");
        let mut huge = frame.to_vec();
        huge[11..15].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(reference(&huge).is_err(), "a count over the limit");

        let digests = [[1u8; 32], [2u8; 32]];
        let request = request_frame(&digests);
        assert_eq!(decode_request(&request[1..]).unwrap(), digests);
        assert!(decode_request(&request[1..request.len() - 1]).is_err());
    }

    #[test]
    fn a_proposal_waits_for_every_batch_it_names_and_a_lying_reference_is_refused() {
        let (a, frame_a) = batch(0, &[b"a"]);
        let (b, frame_b) = batch(1, &[b"b"]);
        let mut store = BatchStore::<&str>::default();
        assert!(store.insert(a, frame_a.clone()));
        assert!(!store.insert(a, frame_a), "held already");
        let payload = vec![a.to_bytes(), b.to_bytes()];
        assert_eq!(
            store.availability(&payload),
            Availability::Missing([b.digest].into())
        );
        store.park(2, "proposal", [b.digest].into());
        assert!(store.unparked(&[9; 32]).is_empty());
        assert!(store.insert(b, frame_b));
        assert_eq!(store.unparked(&b.digest), vec![(2, "proposal")]);
        assert_eq!(store.availability(&payload), Availability::Ready);

        let lying = BatchRef { count: 2, ..a };
        assert!(matches!(
            store.availability(&[lying.to_bytes()]),
            Availability::Refused(_)
        ));
        assert!(matches!(
            store.availability(&[b"a transaction".to_vec()]),
            Availability::Refused(_)
        ));
    }

    #[test]
    fn an_own_batch_is_released_once_enough_distinct_members_acknowledge_it() {
        let (a, _) = batch(0, &[b"a"]);
        let mut store = BatchStore::<()>::default();
        assert_eq!(store.acked(a.digest, 1), None, "not awaited");
        store.await_acks(a, 2);
        assert_eq!(store.acked(a.digest, 1), None);
        assert_eq!(
            store.acked(a.digest, 1),
            None,
            "the same member twice is one"
        );
        assert_eq!(store.acked(a.digest, 3), Some(a));
        assert_eq!(store.acked(a.digest, 2), None, "released once");
    }

    #[test]
    fn decided_batches_are_dropped_after_the_kept_heights() {
        let (a, frame_a) = batch(0, &[b"a"]);
        let (b, frame_b) = batch(0, &[b"b"]);
        let mut store = BatchStore::<()>::default();
        store.insert(a, frame_a);
        store.insert(b, frame_b);
        store.decided(10, vec![a.digest]);
        for height in 11..10 + KEEP_DECIDED_HEIGHTS {
            store.decided(height, Vec::new());
            assert!(store.get(&a.digest).is_some(), "kept at {height}");
        }
        store.decided(10 + KEEP_DECIDED_HEIGHTS, Vec::new());
        assert!(store.get(&a.digest).is_none());
        assert!(store.get(&b.digest).is_some(), "never decided: kept");
        assert_eq!(store.len(), 1);
    }
}
