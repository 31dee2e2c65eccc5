//! Interpreter vs JIT on generated programs: the first eight bytes seed the program, the rest
//! choose gas limits; any difference in outcome, memory, ledger or events panics.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    curvevm_testkit::fuzz::check_jit_seed(data);
});
