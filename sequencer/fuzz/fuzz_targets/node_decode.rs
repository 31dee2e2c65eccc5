//! The node's own decoders on arbitrary bytes: forwarded-transaction frames and the safety
//! guard file (consensus frames are `consensus_decode`'s).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = curve_node::frame::decode_transactions(data);
    let _ = curve_node::guard::Watermark::from_bytes(data);
});
