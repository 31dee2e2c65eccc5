//! The body of the formats' fuzz target, shared with the test that replays its corpus: every
//! decoder on arbitrary bytes, and canonicality (what decodes re-encodes to the same bytes).

use crate::batch::BatchHeader;
use crate::deposit::DepositRecord;
use crate::domain::Tag;
use crate::encoding::{Decode, Encode};
use crate::leaf::PayoutLeaf;
use crate::merkle::MerkleProof;
use crate::tx::{Action, Arg, SignedTransaction, Transaction};

fn round_trip<T: Decode + Encode>(data: &[u8]) {
    if let Ok(value) = T::from_bytes(data) {
        assert_eq!(
            value.to_bytes(),
            data,
            "a non-canonical encoding was accepted"
        );
    }
}

/// Runs every decoder on `data`.
pub fn decode_bytes(data: &[u8]) {
    round_trip::<Tag>(data);
    round_trip::<BatchHeader>(data);
    round_trip::<PayoutLeaf>(data);
    round_trip::<MerkleProof>(data);
    round_trip::<SignedTransaction>(data);
    round_trip::<Transaction>(data);
    round_trip::<Action>(data);
    round_trip::<Arg>(data);
    round_trip::<DepositRecord>(data);
    round_trip::<Option<u64>>(data);
    round_trip::<bool>(data);
    if let Ok(proof) = MerkleProof::from_bytes(data) {
        // Verification must reject, never panic, whatever the proof says.
        let _ = proof.verify(&[0; 32], proof.index.wrapping_add(1), data);
    }
}
