//! Every curve-formats decoder on arbitrary bytes; accepted input must be canonical.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    curve_formats::fuzz::decode_bytes(data);
});
