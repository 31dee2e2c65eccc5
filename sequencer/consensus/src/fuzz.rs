//! The fuzz entry point (`sequencer/fuzz`, target `consensus_decode`), also replayed by tests.

use crate::checkpoint::Checkpoint;
use crate::record::Record;
use crate::types::Message;
use curve_formats::encoding::{Decode, Encode};

/// The chain id fuzz inputs are decoded for.
pub const FUZZ_CHAIN_ID: u64 = 7;

/// Decodes `data` as a wire message, a stored record and a checkpoint. Whatever decodes must re-encode to
/// exactly `data` (one encoding per value); nothing may panic.
pub fn decode_bytes(data: &[u8]) {
    if let Ok(message) = Message::from_wire(FUZZ_CHAIN_ID, data) {
        assert_eq!(
            message.to_wire(FUZZ_CHAIN_ID),
            data,
            "non-canonical message"
        );
    }
    if let Ok(record) = Record::from_bytes(data) {
        assert_eq!(record.to_bytes(), data, "non-canonical record");
    }
    if let Ok(checkpoint) = Checkpoint::from_bytes(data) {
        assert_eq!(checkpoint.to_bytes(), data, "non-canonical checkpoint");
    }
}
