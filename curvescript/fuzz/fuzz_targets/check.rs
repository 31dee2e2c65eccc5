//! Lexer, parser, checker and formatter on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    curvescript_check::fuzz::check_bytes(data);
});
