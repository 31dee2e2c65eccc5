//! One entry for the node's own decoders of outside bytes, shared by the `node_decode` fuzz
//! target and the replay of its corpus in the tests: forwarded-transaction frames, deposit
//! attestation frames, state-sync requests, answers and chunks, the safety guard file, and a
//! consensus-only node's batch frames, batch requests and batch references (consensus frames
//! are `curve_consensus::fuzz`'s).

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
    // A batch frame is checked whole (its kind byte first), as it arrives.
    let mut frame = vec![crate::batches::FRAME_BATCH];
    frame.extend_from_slice(data);
    if let Ok(batch) = crate::batches::reference(&frame) {
        assert!(batch.count as usize <= crate::batches::BATCH_PAYLOADS_MAX);
    }
    if let Ok(digests) = crate::batches::decode_request(data) {
        assert_eq!(
            crate::batches::request_frame(&digests)[1..],
            *data,
            "non-canonical batch request"
        );
    }
    if let Some(reference) = crate::batches::BatchRef::from_bytes(data) {
        assert_eq!(
            reference.to_bytes()[..],
            *data,
            "non-canonical batch reference"
        );
    }
}
