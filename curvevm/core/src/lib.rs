//! CurveVM core: the four-opcode instruction set (one table in [`isa`]), the module format, the
//! load-time verifier, the constant-time microcode library, page-journaled segmented memory and
//! the metered interpreter with its tracing mode.
//!
//! Everything here is deterministic: no floats, no hash-map iteration, no clock, no randomness.
//! The same module, parameters, arguments and gas give the same bytes on every machine.

pub mod bench_programs;
pub mod builder;
pub mod fixed;
pub mod hostcall;
pub mod interp;
pub mod isa;
pub mod memory;
pub mod microcode;
pub mod module;
pub mod trap;
pub mod verify;

pub use hostcall::{Capability, CapabilitySet, Refusal};
pub use interp::{
    CallError, Engine, ExecOptions, Host, Instance, Interpreter, NoHost, NoTrace, Outcome, Program,
    Trace, TraceStep, Tracer,
};
pub use isa::{Instruction, Opcode, Segment};
pub use module::Module;
pub use trap::{Trap, TrapKind};
pub use verify::{VerifyError, verify};
