//! Consensus wire messages and stored records on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    curve_consensus::fuzz::decode_bytes(data);
});
