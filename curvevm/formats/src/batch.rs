//! Batch headers and execution attestations (version 1): what the committee signs and the Anchor
//! program checks. Each is signed as `Tag ‖ encoding` (see [`crate::domain::Tag::message`]).

use crate::encoding::{Decode, DecodeError, Encode, Reader};
use crate::merkle::Hash;
use alloc::vec::Vec;

/// The header of a decided, executed batch.
///
/// Layout: height u64 ‖ prev_root [32] ‖ state_root [32] ‖ transactions_root [32] ‖
/// withdrawal_root [32] ‖ withdrawal_count u64 ‖ withdrawal_total u128 ‖ timestamp_ms u64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchHeader {
    /// Height, one above the previous batch.
    pub height: u64,
    /// State root after the previous batch.
    pub prev_root: Hash,
    /// State root after this batch.
    pub state_root: Hash,
    /// Merkle root of the batch's transactions.
    pub transactions_root: Hash,
    /// Root of the payout tree.
    pub withdrawal_root: Hash,
    /// Leaves in the payout tree.
    pub withdrawal_count: u64,
    /// Sum of the payout amounts; the Anchor program never pays more.
    pub withdrawal_total: u128,
    /// Rollup time of the batch (the only clock the runtime reads).
    pub timestamp_ms: u64,
}

impl Encode for BatchHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.height.encode(out);
        self.prev_root.encode(out);
        self.state_root.encode(out);
        self.transactions_root.encode(out);
        self.withdrawal_root.encode(out);
        self.withdrawal_count.encode(out);
        self.withdrawal_total.encode(out);
        self.timestamp_ms.encode(out);
    }
}

impl Decode for BatchHeader {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(BatchHeader {
            height: u64::decode(reader)?,
            prev_root: reader.array()?,
            state_root: reader.array()?,
            transactions_root: reader.array()?,
            withdrawal_root: reader.array()?,
            withdrawal_count: u64::decode(reader)?,
            withdrawal_total: u128::decode(reader)?,
            timestamp_ms: u64::decode(reader)?,
        })
    }
}
