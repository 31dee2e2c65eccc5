//! Domain separation (version 1): every signed or hashed payload starts with a 15-byte tag
//! `"CURV" ‖ kind (u8) ‖ format version (u16 LE) ‖ chain id (u64 LE)`, so a signature over one
//! kind can never be replayed as another kind, on another chain, or under another format version.
//!
//! Payloads that belong to no chain — a template's layout, an interface descriptor, a manifest's
//! configuration, an oracle feed's name — are tagged with [`ANY_CHAIN`] (0): the same template
//! has the same layout hash everywhere, and no chain uses id 0.

use crate::encoding::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
use alloc::vec::Vec;

/// The tag's first four bytes.
pub const MAGIC: [u8; 4] = *b"CURV";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of an encoded tag.
pub const TAG_LEN: usize = 15;
/// The chain id of payloads that belong to no chain (no chain has this id).
pub const ANY_CHAIN: u64 = 0;

/// What a payload is. The discriminants are part of the format and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A user transaction (rollup runtime).
    Transaction = 1,
    /// A batch header (sequencer, runtime, Anchor `post_batch`).
    BatchHeader = 2,
    /// Retired: a replica's attestation of a height range's state root. Replicas now sign the
    /// whole batch header under [`Kind::BatchHeader`], the bytes the Anchor program verifies.
    /// Kept so the discriminant is never reused.
    Attestation = 3,
    /// A payout leaf of a batch's withdrawal tree.
    PayoutLeaf = 4,
    /// The hashed part of a compiler manifest.
    Manifest = 5,
    /// A committee attestation of a Solana deposit record.
    DepositAttestation = 6,
    /// A signed oracle price update.
    OraclePrice = 7,
    /// A consensus vote or proposal.
    Consensus = 8,
    /// A template's state layout (the layout hash; [`ANY_CHAIN`]).
    Layout = 9,
    /// A program interface's canonical descriptor (the descriptor hash; [`ANY_CHAIN`]).
    Descriptor = 10,
    /// An oracle feed's name, hashed to the feed tag prices are signed for ([`ANY_CHAIN`]).
    OracleFeed = 11,
    /// A program's identity: code, interface and layout hashes, bound by its certificate
    /// ([`ANY_CHAIN`]).
    Program = 12,
    /// A slab reservation's commitment, opened by the commit's salt (commit-reveal).
    ReserveCommitment = 13,
}

impl Kind {
    /// Every kind, in discriminant order.
    pub const ALL: [Kind; 13] = [
        Kind::Transaction,
        Kind::BatchHeader,
        Kind::Attestation,
        Kind::PayoutLeaf,
        Kind::Manifest,
        Kind::DepositAttestation,
        Kind::OraclePrice,
        Kind::Consensus,
        Kind::Layout,
        Kind::Descriptor,
        Kind::OracleFeed,
        Kind::Program,
        Kind::ReserveCommitment,
    ];

    /// The kind with discriminant `byte`.
    pub fn from_u8(byte: u8) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| *k as u8 == byte)
    }
}

/// A domain tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag {
    /// What the payload is.
    pub kind: Kind,
    /// Which chain it belongs to.
    pub chain_id: u64,
}

impl Tag {
    /// A tag of the current format version.
    pub const fn new(kind: Kind, chain_id: u64) -> Self {
        Tag { kind, chain_id }
    }

    /// Checks that the next bytes are exactly this tag.
    pub fn expect(&self, reader: &mut Reader<'_>) -> Result<(), DecodeError> {
        let at = reader.offset();
        let found = Tag::decode(reader)?;
        if found.kind != self.kind {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::WrongKind {
                    expected: self.kind as u8,
                    found: found.kind as u8,
                },
            });
        }
        if found.chain_id != self.chain_id {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::WrongChain {
                    expected: self.chain_id,
                    found: found.chain_id,
                },
            });
        }
        Ok(())
    }

    /// `tag ‖ encode(payload)`: the bytes that are signed or hashed.
    pub fn message<T: Encode + ?Sized>(&self, payload: &T) -> Vec<u8> {
        let mut out = Vec::with_capacity(TAG_LEN + 64);
        self.encode(&mut out);
        payload.encode(&mut out);
        out
    }

    /// `SHA-256(tag ‖ bytes)`: the hash of a payload that is hashed rather than signed.
    pub fn digest(&self, bytes: &[u8]) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(self.to_bytes());
        hasher.update(bytes);
        hasher.finalize().into()
    }

    /// Decodes `tag ‖ payload`, checking the tag and that nothing trails.
    pub fn open<T: Decode>(&self, bytes: &[u8]) -> Result<T, DecodeError> {
        let mut reader = Reader::new(bytes);
        self.expect(&mut reader)?;
        let value = T::decode(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }
}

impl Encode for Tag {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        (self.kind as u8).encode(out);
        FORMAT_VERSION.encode(out);
        self.chain_id.encode(out);
    }
}

impl Decode for Tag {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        if reader.array::<4>()? != MAGIC {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::BadMagic,
            });
        }
        let kind_at = reader.offset();
        let kind_byte = u8::decode(reader)?;
        let kind = Kind::from_u8(kind_byte).ok_or(DecodeError {
            offset: kind_at,
            kind: DecodeErrorKind::InvalidDiscriminant(kind_byte),
        })?;
        let version_at = reader.offset();
        let version = u16::decode(reader)?;
        if version != FORMAT_VERSION {
            return Err(DecodeError {
                offset: version_at,
                kind: DecodeErrorKind::UnsupportedVersion(version),
            });
        }
        Ok(Tag {
            kind,
            chain_id: u64::decode(reader)?,
        })
    }
}
