//! Solana deposit records (version 1): what the Anchor program's `deposit` instruction records
//! and the committee attests, so that the rollup credits each deposit exactly once.
//!
//! Layout (after the tag): sequence u64 ‖ depositor [32] ‖ recipient [32] ‖ amount u64 ‖
//! slot u64. The committee signs `Tag(DepositAttestation, chain id) ‖ record`; the runtime
//! credits a record only with a quorum of distinct members' signatures over exactly those bytes,
//! and nullifies its sequence number.

use crate::domain::{Kind, Tag};
use crate::encoding::{Decode, DecodeError, Encode, Reader};
use alloc::vec::Vec;

/// One deposit into the Solana vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DepositRecord {
    /// The chain whose vault received it.
    pub chain_id: u64,
    /// The vault's deposit counter: unique per chain, never reused.
    pub sequence: u64,
    /// The Solana account that paid.
    pub depositor: [u8; 32],
    /// The rollup account credited (an Ed25519 public key).
    pub recipient: [u8; 32],
    /// Collateral base units (SPL amounts are u64).
    pub amount: u64,
    /// The Solana slot of the deposit.
    pub slot: u64,
}

impl DepositRecord {
    /// The bytes the committee signs: `Tag(DepositAttestation) ‖ fields`.
    pub fn attestation_message(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(crate::domain::TAG_LEN + 88);
        Tag::new(Kind::DepositAttestation, self.chain_id).encode(&mut out);
        self.encode_fields(&mut out);
        out
    }

    fn encode_fields(&self, out: &mut Vec<u8>) {
        self.sequence.encode(out);
        self.depositor.encode(out);
        self.recipient.encode(out);
        self.amount.encode(out);
        self.slot.encode(out);
    }
}

/// Encoded as the attestation message: the record carries its tag wherever it goes.
impl Encode for DepositRecord {
    fn encode(&self, out: &mut Vec<u8>) {
        Tag::new(Kind::DepositAttestation, self.chain_id).encode(out);
        self.encode_fields(out);
    }
}

impl Decode for DepositRecord {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = crate::tx::decode_tag(reader, Kind::DepositAttestation)?;
        Ok(DepositRecord {
            chain_id: tag.chain_id,
            sequence: u64::decode(reader)?,
            depositor: reader.array()?,
            recipient: reader.array()?,
            amount: u64::decode(reader)?,
            slot: u64::decode(reader)?,
        })
    }
}
