//! The body of the runtime's decoder fuzzing, shared with the test that replays its corpus.

use curve_formats::encoding::{Decode, Encode};

use crate::state::{Account, Config, DepositNullifier, Key, Meta, ProgramRecord};

/// Runs every runtime decoder on `bytes`: each must refuse or round-trip exactly.
pub fn decode_bytes(bytes: &[u8]) {
    fn round<T: Decode + Encode>(bytes: &[u8]) {
        if let Ok(value) = T::from_bytes(bytes) {
            assert_eq!(
                value.to_bytes(),
                bytes,
                "a non-canonical encoding was accepted"
            );
        }
    }
    round::<Key>(bytes);
    round::<Meta>(bytes);
    round::<Config>(bytes);
    round::<Account>(bytes);
    round::<ProgramRecord>(bytes);
    round::<DepositNullifier>(bytes);
    if let Ok(storage) = crate::MemoryStorage::from_snapshot(bytes) {
        assert_eq!(
            storage.to_snapshot(),
            bytes,
            "a non-canonical snapshot was accepted"
        );
        // Opening arbitrary stores must refuse, never panic.
        let _ = crate::Runtime::open(storage);
    }
}
