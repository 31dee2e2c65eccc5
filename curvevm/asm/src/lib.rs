//! CurveVM assembly: the `.cvm` text form, an assembler and a disassembler that round-trip byte
//! for byte.

pub mod text;

pub use text::{AsmError, assemble, disassemble, instruction_text, parse_number};
