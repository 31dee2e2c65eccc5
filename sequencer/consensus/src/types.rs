//! Blocks, certificates and wire messages, with their canonical encodings and the exact bytes
//! each signature covers.
//!
//! Every signed payload starts with the `Consensus` domain tag of the chain (the execution
//! attestation is the exception: it is a signature over `Tag(BatchHeader, chain) ‖ header`, the
//! formats crate's bytes that the Anchor program's `post_batch` verifies), then
//! a one-byte statement kind, so a vote can never be replayed as a timeout, a proposal or a vote on
//! another chain.

use curve_formats::batch::BatchHeader;
use curve_formats::encoding::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
use curve_formats::tx::{decode_bytes, encode_bytes};
use curve_formats::{Kind, Tag};
use sha2::{Digest, Sha256};

/// A replica's index in the committee.
pub type ReplicaId = u16;
/// A view number. View 0 belongs to the genesis block; the first proposal is in view 1.
pub type View = u64;
/// A SHA-256 digest.
pub type Hash = [u8; 32];
/// An Ed25519 signature.
pub type Signature = [u8; 64];

/// Hard decoding bounds: what a peer can make us allocate. The core's [`crate::Config`] sets the
/// (smaller) limits that proposals must respect.
pub mod limits {
    /// Largest committee (replica ids are `u16`; certificates list at most this many votes).
    pub const COMMITTEE_MAX: u32 = 256;
    /// Most transactions a block can carry on the wire.
    pub const BLOCK_TXS_MAX: u32 = 65_536;
    /// Largest single transaction on the wire.
    pub const TX_BYTES_MAX: u32 = 1 << 20;
}

/// The statement a signature covers, after the domain tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Statement {
    Block = 0,
    Proposal = 1,
    Vote = 2,
    Timeout = 3,
}

fn statement(chain_id: u64, kind: Statement) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    Tag::new(Kind::Consensus, chain_id).encode(&mut out);
    (kind as u8).encode(&mut out);
    out
}

/// The SHA-256 digest of one transaction: what a block's hash commits to it by, and what the
/// mempool deduplicates by.
pub fn tx_digest(tx: &[u8]) -> Hash {
    Sha256::digest(tx).into()
}

/// A block: an opaque batch of transactions ordered after its parent.
///
/// Layout: view u64 ‖ height u64 ‖ parent [32] ‖ proposer u16 ‖ timestamp_ms u64 ‖ count u32 ‖
/// (len u32 ‖ bytes)*.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// The view it was proposed in.
    pub view: View,
    /// One above its parent's height; genesis is height 0.
    pub height: u64,
    /// The block its justify QC certifies.
    pub parent: Hash,
    /// The leader of `view`.
    pub proposer: ReplicaId,
    /// The leader's clock when it proposed, never below the parent's: the rollup's time (the
    /// runtime reads no other clock).
    pub timestamp_ms: u64,
    /// Transactions, opaque to consensus.
    pub payload: Vec<Vec<u8>>,
}

impl Block {
    /// The genesis block every replica starts from.
    pub fn genesis() -> Block {
        Block {
            view: 0,
            height: 0,
            parent: [0; 32],
            proposer: 0,
            timestamp_ms: 0,
            payload: Vec::new(),
        }
    }

    /// `SHA-256(Tag(Consensus) ‖ 0 ‖ view ‖ height ‖ parent ‖ proposer ‖ timestamp_ms ‖ count u32
    /// ‖ SHA-256(tx)*)`: what votes and QCs name. It commits to the transactions through their
    /// digests, so the pass that hashes a block also yields what the mempool deduplicates by
    /// (see [`Block::hash_and_digests`]).
    pub fn hash(&self, chain_id: u64) -> Hash {
        self.hash_and_digests(chain_id).0
    }

    /// The block's hash and its transactions' digests ([`tx_digest`]), in payload order, from
    /// one pass over the payload.
    pub fn hash_and_digests(&self, chain_id: u64) -> (Hash, Vec<Hash>) {
        let digests: Vec<Hash> = self.payload.iter().map(|tx| tx_digest(tx)).collect();
        (self.hash_with_digests(chain_id, &digests), digests)
    }

    /// The hash, given the transactions' digests (a leader's mempool holds them already).
    pub(crate) fn hash_with_digests(&self, chain_id: u64, digests: &[Hash]) -> Hash {
        debug_assert_eq!(digests.len(), self.payload.len());
        let mut header = statement(chain_id, Statement::Block);
        self.view.encode(&mut header);
        self.height.encode(&mut header);
        self.parent.encode(&mut header);
        self.proposer.encode(&mut header);
        self.timestamp_ms.encode(&mut header);
        let count = u32::try_from(digests.len()).expect("blocks are bounded far below 2^32");
        count.encode(&mut header);
        let mut hasher = Sha256::new();
        hasher.update(&header);
        for digest in digests {
            hasher.update(digest);
        }
        hasher.finalize().into()
    }

    /// Encoded size of the payload (what [`crate::Config::max_block_bytes`] bounds).
    pub fn payload_bytes(&self) -> usize {
        self.payload.iter().map(|tx| tx.len() + 4).sum()
    }
}

impl Encode for Block {
    fn encode(&self, out: &mut Vec<u8>) {
        self.view.encode(out);
        self.height.encode(out);
        self.parent.encode(out);
        self.proposer.encode(out);
        self.timestamp_ms.encode(out);
        let count = u32::try_from(self.payload.len()).expect("blocks are bounded far below 2^32");
        count.encode(out);
        for tx in &self.payload {
            encode_bytes(tx, out);
        }
    }
}

impl Decode for Block {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let view = u64::decode(reader)?;
        let height = u64::decode(reader)?;
        let parent = reader.array()?;
        let proposer = u16::decode(reader)?;
        let timestamp_ms = u64::decode(reader)?;
        let count = reader.length(limits::BLOCK_TXS_MAX)?;
        // The count is only a hint: a lying count fails on truncation, not on allocation.
        let mut payload = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            payload.push(decode_bytes(reader, limits::TX_BYTES_MAX)?);
        }
        Ok(Block {
            view,
            height,
            parent,
            proposer,
            timestamp_ms,
            payload,
        })
    }
}

/// The bytes a replica signs to vote for `block` in `view`.
pub fn vote_message(chain_id: u64, view: View, block: &Hash) -> Vec<u8> {
    let mut out = statement(chain_id, Statement::Vote);
    view.encode(&mut out);
    block.encode(&mut out);
    out
}

/// The bytes a leader signs to propose `block`.
pub fn proposal_message(chain_id: u64, block: &Hash) -> Vec<u8> {
    let mut out = statement(chain_id, Statement::Proposal);
    block.encode(&mut out);
    out
}

/// The bytes a replica signs to time out of `view` while holding a QC of `high_qc_view`.
pub fn timeout_message(chain_id: u64, view: View, high_qc_view: View) -> Vec<u8> {
    let mut out = statement(chain_id, Statement::Timeout);
    view.encode(&mut out);
    high_qc_view.encode(&mut out);
    out
}

/// The bytes a replica signs to attest a decided batch's execution: `Tag(BatchHeader, chain) ‖
/// header`, exactly what the Anchor program's `post_batch` checks each committee signature over,
/// so a quorum of attestations is a `post_batch` (see [`AnchorCertificate`]).
pub fn attestation_message(chain_id: u64, header: &BatchHeader) -> Vec<u8> {
    Tag::new(Kind::BatchHeader, chain_id).message(header)
}

fn encode_signers<T: Encode>(items: &[(ReplicaId, T)], out: &mut Vec<u8>) {
    let count = u32::try_from(items.len()).expect("certificates are bounded by the committee");
    count.encode(out);
    for (replica, item) in items {
        replica.encode(out);
        item.encode(out);
    }
}

/// Decodes `(replica, item)` pairs whose replica ids strictly increase: a certificate cannot list a
/// signer twice, and there is exactly one encoding of each certificate.
fn decode_signers<T: Decode>(reader: &mut Reader<'_>) -> Result<Vec<(ReplicaId, T)>, DecodeError> {
    let count = reader.length(limits::COMMITTEE_MAX)?;
    let mut items: Vec<(ReplicaId, T)> = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let at = reader.offset();
        let replica = u16::decode(reader)?;
        if items.last().is_some_and(|(last, _)| *last >= replica) {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::Unordered,
            });
        }
        items.push((replica, T::decode(reader)?));
    }
    Ok(items)
}

/// A quorum certificate: a quorum of votes for one block in one view.
///
/// Layout: view u64 ‖ block [32] ‖ count u32 ‖ (replica u16 ‖ signature [64])*, replicas strictly
/// increasing. The genesis QC (view 0, the genesis hash, no votes) is valid by definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumCert {
    /// The view the votes were cast in.
    pub view: View,
    /// The certified block.
    pub block: Hash,
    /// `(replica, signature over vote_message(view, block))`, replicas strictly increasing.
    pub votes: Vec<(ReplicaId, Signature)>,
}

impl QuorumCert {
    /// The certificate of the genesis block.
    pub fn genesis(chain_id: u64) -> QuorumCert {
        QuorumCert {
            view: 0,
            block: Block::genesis().hash(chain_id),
            votes: Vec::new(),
        }
    }
}

impl Encode for QuorumCert {
    fn encode(&self, out: &mut Vec<u8>) {
        self.view.encode(out);
        self.block.encode(out);
        encode_signers(&self.votes, out);
    }
}

impl Decode for QuorumCert {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(QuorumCert {
            view: u64::decode(reader)?,
            block: reader.array()?,
            votes: decode_signers(reader)?,
        })
    }
}

/// One replica's share of a timeout certificate: the view of its highest QC and its signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutShare {
    /// The view of the sender's highest QC when it timed out.
    pub high_qc_view: View,
    /// Signature over `timeout_message(view, high_qc_view)`.
    pub signature: Signature,
}

impl Encode for TimeoutShare {
    fn encode(&self, out: &mut Vec<u8>) {
        self.high_qc_view.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for TimeoutShare {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TimeoutShare {
            high_qc_view: u64::decode(reader)?,
            signature: reader.array()?,
        })
    }
}

/// A timeout certificate: a quorum of replicas gave up on `view`. It carries the highest QC any
/// of them reported, so whoever receives it can extend that QC (the Jolteon rule).
///
/// Layout: view u64 ‖ count u32 ‖ (replica u16 ‖ high_qc_view u64 ‖ signature [64])* ‖ high_qc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeoutCert {
    /// The view that failed.
    pub view: View,
    /// The signers, strictly increasing.
    pub shares: Vec<(ReplicaId, TimeoutShare)>,
    /// A QC whose view is the largest `high_qc_view` among the shares.
    pub high_qc: QuorumCert,
}

impl TimeoutCert {
    /// The largest high-QC view any signer reported: a proposal justified by this TC must extend
    /// a QC at least this high.
    pub fn max_high_qc_view(&self) -> View {
        self.shares
            .iter()
            .map(|(_, share)| share.high_qc_view)
            .max()
            .unwrap_or(0)
    }
}

impl Encode for TimeoutCert {
    fn encode(&self, out: &mut Vec<u8>) {
        self.view.encode(out);
        encode_signers(&self.shares, out);
        self.high_qc.encode(out);
    }
}

impl Decode for TimeoutCert {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(TimeoutCert {
            view: u64::decode(reader)?,
            shares: decode_signers(reader)?,
            high_qc: QuorumCert::decode(reader)?,
        })
    }
}

/// A leader's proposal: the block, the QC it extends, and a TC when the previous view failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The proposed block; `block.parent == justify.block`.
    pub block: Block,
    /// The QC the block extends.
    pub justify: QuorumCert,
    /// The TC of `block.view - 1` when `justify` is not from that view.
    pub timeout_cert: Option<TimeoutCert>,
    /// The proposer's signature over `proposal_message(block hash)`.
    pub signature: Signature,
}

impl Encode for Proposal {
    fn encode(&self, out: &mut Vec<u8>) {
        self.block.encode(out);
        self.justify.encode(out);
        self.timeout_cert.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for Proposal {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Proposal {
            block: Block::decode(reader)?,
            justify: QuorumCert::decode(reader)?,
            timeout_cert: Option::decode(reader)?,
            signature: reader.array()?,
        })
    }
}

/// A vote, sent to the leader of the next view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The view of the block.
    pub view: View,
    /// The block voted for.
    pub block: Hash,
    /// The voter.
    pub replica: ReplicaId,
    /// Signature over `vote_message(view, block)`.
    pub signature: Signature,
}

impl Encode for Vote {
    fn encode(&self, out: &mut Vec<u8>) {
        self.view.encode(out);
        self.block.encode(out);
        self.replica.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for Vote {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Vote {
            view: u64::decode(reader)?,
            block: reader.array()?,
            replica: u16::decode(reader)?,
            signature: reader.array()?,
        })
    }
}

/// A timeout, broadcast when a view's timer fires without progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeout {
    /// The view given up on.
    pub view: View,
    /// The sender's highest QC.
    pub high_qc: QuorumCert,
    /// The TC that brought the sender into `view`, so laggards can follow.
    pub last_tc: Option<TimeoutCert>,
    /// The sender.
    pub replica: ReplicaId,
    /// Signature over `timeout_message(view, high_qc.view)`.
    pub signature: Signature,
}

impl Encode for Timeout {
    fn encode(&self, out: &mut Vec<u8>) {
        self.view.encode(out);
        self.high_qc.encode(out);
        self.last_tc.encode(out);
        self.replica.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for Timeout {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Timeout {
            view: u64::decode(reader)?,
            high_qc: QuorumCert::decode(reader)?,
            last_tc: Option::decode(reader)?,
            replica: u16::decode(reader)?,
            signature: reader.array()?,
        })
    }
}

/// A certified block sent in answer to a fetch: its justify QC certifies its parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedBlock {
    /// The block.
    pub block: Block,
    /// The QC the block extends.
    pub justify: QuorumCert,
}

impl Encode for CertifiedBlock {
    fn encode(&self, out: &mut Vec<u8>) {
        self.block.encode(out);
        self.justify.encode(out);
    }
}

impl Decode for CertifiedBlock {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(CertifiedBlock {
            block: Block::decode(reader)?,
            justify: QuorumCert::decode(reader)?,
        })
    }
}

/// An execution attestation: a replica's signature over the header of a batch it executed.
///
/// Layout: header (the formats crate's `BatchHeader`) ‖ replica u16 ‖ signature [64].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedAttestation {
    /// The executed batch's header.
    pub header: BatchHeader,
    /// The attesting replica.
    pub replica: ReplicaId,
    /// Its signature over [`attestation_message`]`(header)`.
    pub signature: Signature,
}

impl Encode for SignedAttestation {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        self.replica.encode(out);
        self.signature.encode(out);
    }
}

impl Decode for SignedAttestation {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SignedAttestation {
            header: BatchHeader::decode(reader)?,
            replica: u16::decode(reader)?,
            signature: reader.array()?,
        })
    }
}

/// 2f+1 equal execution attestations: a batch header and a quorum of committee signatures over
/// exactly the bytes `post_batch` verifies — what the BatchPoster turns into an ed25519
/// instruction and a `post_batch` on Solana.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnchorCertificate {
    /// The attested header.
    pub header: BatchHeader,
    /// `(replica, signature)`, replicas strictly increasing.
    pub signatures: Vec<(ReplicaId, Signature)>,
}

impl Encode for AnchorCertificate {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        encode_signers(&self.signatures, out);
    }
}

impl Decode for AnchorCertificate {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(AnchorCertificate {
            header: BatchHeader::decode(reader)?,
            signatures: decode_signers(reader)?,
        })
    }
}

/// Everything replicas say to each other.
///
/// Wire layout: `Tag(Consensus, chain) ‖ kind u8 ‖ body`, so a message of another chain or format
/// version is refused before its body is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A leader's proposal (kind 1).
    Proposal(Proposal),
    /// A vote to the next leader (kind 2).
    Vote(Vote),
    /// A timeout, broadcast (kind 3).
    Timeout(Timeout),
    /// A request for a block by hash (kind 4).
    FetchRequest(Hash),
    /// The answer to a fetch (kind 5).
    FetchResponse(CertifiedBlock),
    /// An execution attestation, broadcast (kind 6).
    Attestation(SignedAttestation),
}

impl Message {
    /// The view a message is about, if any (for logs and metrics).
    pub fn view(&self) -> Option<View> {
        match self {
            Message::Proposal(p) => Some(p.block.view),
            Message::Vote(v) => Some(v.view),
            Message::Timeout(t) => Some(t.view),
            Message::FetchRequest(_) | Message::FetchResponse(_) | Message::Attestation(_) => None,
        }
    }

    /// The wire encoding for `chain_id`.
    pub fn to_wire(&self, chain_id: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        Tag::new(Kind::Consensus, chain_id).encode(&mut out);
        match self {
            Message::Proposal(p) => {
                1u8.encode(&mut out);
                p.encode(&mut out);
            }
            Message::Vote(v) => {
                2u8.encode(&mut out);
                v.encode(&mut out);
            }
            Message::Timeout(t) => {
                3u8.encode(&mut out);
                t.encode(&mut out);
            }
            Message::FetchRequest(hash) => {
                4u8.encode(&mut out);
                hash.encode(&mut out);
            }
            Message::FetchResponse(b) => {
                5u8.encode(&mut out);
                b.encode(&mut out);
            }
            Message::Attestation(a) => {
                6u8.encode(&mut out);
                a.encode(&mut out);
            }
        }
        out
    }

    /// Decodes a wire message of `chain_id`; every byte must be used.
    pub fn from_wire(chain_id: u64, bytes: &[u8]) -> Result<Message, DecodeError> {
        let mut reader = Reader::new(bytes);
        Tag::new(Kind::Consensus, chain_id).expect(&mut reader)?;
        let at = reader.offset();
        let message = match u8::decode(&mut reader)? {
            1 => Message::Proposal(Proposal::decode(&mut reader)?),
            2 => Message::Vote(Vote::decode(&mut reader)?),
            3 => Message::Timeout(Timeout::decode(&mut reader)?),
            4 => Message::FetchRequest(reader.array()?),
            5 => Message::FetchResponse(CertifiedBlock::decode(&mut reader)?),
            6 => Message::Attestation(SignedAttestation::decode(&mut reader)?),
            other => {
                return Err(DecodeError {
                    offset: at,
                    kind: DecodeErrorKind::InvalidDiscriminant(other),
                });
            }
        };
        reader.finish()?;
        Ok(message)
    }
}
