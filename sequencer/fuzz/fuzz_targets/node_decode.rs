//! The node's own decoders on arbitrary bytes: forwarded-transaction frames, deposit
//! attestation frames, state-sync frames and chunks, and the safety guard file (consensus frames are `consensus_decode`'s).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = curve_node::frame::decode_transactions(data);
    let _ = curve_node::deposits::Attestation::decode_body(data);
    let _ = curve_node::guard::Watermark::from_bytes(data);
    let _ = curve_node::sync::SnapshotRequest::decode_body(data);
    let _ = curve_node::sync::SnapshotAnswer::decode_body(data);
    let _ = curve_node::sync::decode_chunks(&[data.to_vec()]);
});
