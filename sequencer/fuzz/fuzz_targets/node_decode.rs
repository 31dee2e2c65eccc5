//! The node's own decoders on arbitrary bytes: forwarded-transaction frames, deposit
//! attestation frames, state-sync frames and chunks, and the safety guard file (consensus frames are `consensus_decode`'s).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    curve_node::fuzz::decode_bytes(data);
});
