//! Every runtime decoder (state keys and values, snapshots, opening a store) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    curve_runtime::fuzz::decode_bytes(data);
});
