//! One entry for the node's own decoders of outside bytes, shared by the `node_decode` fuzz
//! target and the replay of its corpus in the tests: forwarded-transaction frames, deposit
//! attestation frames, state-sync requests, answers and chunks, and the safety guard file
//! (consensus frames are `curve_consensus::fuzz`'s).

/// Runs every decoder on `data`; each must return, accepting or refusing, never panic, and a
/// transaction frame or a guard that decodes must re-encode to exactly `data` (one encoding
/// per value).
pub fn decode_bytes(data: &[u8]) {
    if let Ok(transactions) = crate::frame::decode_transactions(data) {
        assert_eq!(
            crate::frame::encode_transactions(&transactions)[1..],
            *data,
            "non-canonical transaction frame"
        );
    }
    let _ = crate::deposits::Attestation::decode_body(data);
    if let Some(watermark) = crate::guard::Watermark::from_bytes(data) {
        assert_eq!(watermark.to_bytes()[..], *data, "non-canonical guard");
    }
    let _ = crate::sync::SnapshotRequest::decode_body(data);
    let _ = crate::sync::SnapshotAnswer::decode_body(data);
    let _ = crate::sync::decode_chunks(&[data.to_vec()]);
}
