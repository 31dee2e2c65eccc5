//! The payout leaf (version 1): one entry of a batch's withdrawal tree, written by the rollup
//! runtime (withdrawals) and by market settlement (winners), and verified by the Anchor program
//! before it pays.
//!
//! Layout (108 bytes): tag (`Kind::PayoutLeaf`, chain id) ‖ batch height u64 ‖ index u32 ‖
//! recipient [32] ‖ amount u128 ‖ origin u8 (0 withdrawal, 1 settlement) ‖ origin id [32] (the
//! market id of a settlement; all zero for a withdrawal, and rejected otherwise).

use crate::domain::{Kind, Tag};
use crate::encoding::{Decode, DecodeError, DecodeErrorKind, Encode, Reader};
use alloc::vec::Vec;

/// Length of an encoded leaf, tag included.
pub const PAYOUT_LEAF_LEN: usize = crate::domain::TAG_LEN + 8 + 4 + 32 + 16 + 1 + 32;

/// Where a payout comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A user withdrawal from the rollup.
    Withdrawal,
    /// A market settlement paying a winner.
    Settlement {
        /// The market's id.
        market_id: [u8; 32],
    },
}

impl Origin {
    /// The encoded pair `(origin byte, origin id)`.
    pub fn to_parts(self) -> (u8, [u8; 32]) {
        match self {
            Origin::Withdrawal => (0, [0; 32]),
            Origin::Settlement { market_id } => (1, market_id),
        }
    }

    /// The origin an encoded pair names: 0 with an all-zero id, or 1 with any id.
    pub fn from_parts(byte: u8, id: [u8; 32]) -> Option<Origin> {
        match byte {
            0 if id == [0; 32] => Some(Origin::Withdrawal),
            1 => Some(Origin::Settlement { market_id: id }),
            _ => None,
        }
    }
}

/// One payout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PayoutLeaf {
    /// The chain the payout belongs to.
    pub chain_id: u64,
    /// The batch whose tree holds it.
    pub batch_height: u64,
    /// Its index in that tree.
    pub index: u32,
    /// Who is paid (a Solana token-account owner).
    pub recipient: [u8; 32],
    /// How much, in collateral base units.
    pub amount: u128,
    /// Why.
    pub origin: Origin,
}

impl PayoutLeaf {
    /// The leaf's bytes, as hashed into the tree.
    pub fn to_leaf_bytes(&self) -> Vec<u8> {
        self.to_bytes()
    }

    /// Decodes a leaf of `chain_id`.
    pub fn from_leaf_bytes(bytes: &[u8], chain_id: u64) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        Tag::new(Kind::PayoutLeaf, chain_id).expect(&mut reader)?;
        let leaf = Self::decode_body(chain_id, &mut reader)?;
        reader.finish()?;
        Ok(leaf)
    }

    fn decode_body(chain_id: u64, reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let batch_height = u64::decode(reader)?;
        let index = u32::decode(reader)?;
        let recipient = reader.array()?;
        let amount = u128::decode(reader)?;
        let origin_at = reader.offset();
        let origin_byte = u8::decode(reader)?;
        let id_at = reader.offset();
        let origin_id: [u8; 32] = reader.array()?;
        let origin = Origin::from_parts(origin_byte, origin_id).ok_or(match origin_byte {
            0 => DecodeError {
                offset: id_at,
                kind: DecodeErrorKind::NonZeroReserved,
            },
            other => DecodeError {
                offset: origin_at,
                kind: DecodeErrorKind::InvalidDiscriminant(other),
            },
        })?;
        Ok(PayoutLeaf {
            chain_id,
            batch_height,
            index,
            recipient,
            amount,
            origin,
        })
    }
}

impl Encode for PayoutLeaf {
    fn encode(&self, out: &mut Vec<u8>) {
        Tag::new(Kind::PayoutLeaf, self.chain_id).encode(out);
        self.batch_height.encode(out);
        self.index.encode(out);
        self.recipient.encode(out);
        self.amount.encode(out);
        let (byte, id) = self.origin.to_parts();
        byte.encode(out);
        id.encode(out);
    }
}

impl Decode for PayoutLeaf {
    /// Reads a leaf of whatever chain its tag names (callers that know their chain use
    /// [`PayoutLeaf::from_leaf_bytes`]).
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let at = reader.offset();
        let tag = Tag::decode(reader)?;
        if tag.kind != Kind::PayoutLeaf {
            return Err(DecodeError {
                offset: at,
                kind: DecodeErrorKind::WrongKind {
                    expected: Kind::PayoutLeaf as u8,
                    found: tag.kind as u8,
                },
            });
        }
        Self::decode_body(tag.chain_id, reader)
    }
}
