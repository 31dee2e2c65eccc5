//! The CurveVM decoder, verifier, assembler and interpreter on arbitrary bytes: nothing panics,
//! accepted input round-trips, native and pure-ISA microcode agree.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    curvevm_testkit::fuzz::check_bytes(data);
});
