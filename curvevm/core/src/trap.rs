//! The closed set of run-time traps, shared by every engine.

use core::fmt;

use crate::isa::{ABORT_DIVISION_BY_ZERO, ABORT_LN_DOMAIN, Segment};

/// Why a call stopped early. A trapped call changes no state; its gas is still charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// The next instruction (or host call) costs more gas than remains; all gas is used.
    OutOfGas,
    /// A checked ADD carried out (or borrowed, when negating); also microcode overflow.
    Overflow,
    /// An indirect access past the end of its segment, or whose address computation wrapped.
    OutOfBounds {
        /// The segment.
        segment: Segment,
        /// The address (saturated at `u64::MAX` when it wrapped).
        address: u64,
    },
    /// A call beyond [`crate::isa::MAX_CALL_DEPTH`] frames.
    CallDepth,
    /// A taken abort branch; codes from 0xF0 are the microcode's (0xF0: division by zero).
    Abort {
        /// The code.
        code: u8,
    },
    /// A host call refused (bad capability, bad argument, …) with the host's code.
    Host {
        /// Host function id.
        id: u16,
        /// The host's reason code.
        code: u32,
    },
}

impl TrapKind {
    /// Stable snake-case name (file tests, JSON).
    pub fn name(&self) -> &'static str {
        match self {
            TrapKind::OutOfGas => "out_of_gas",
            TrapKind::Overflow => "overflow",
            TrapKind::OutOfBounds { .. } => "out_of_bounds",
            TrapKind::CallDepth => "call_depth",
            TrapKind::Abort { code } if *code == ABORT_DIVISION_BY_ZERO => "division_by_zero",
            TrapKind::Abort { code } if *code == ABORT_LN_DOMAIN => "ln_domain",
            TrapKind::Abort { .. } => "abort",
            TrapKind::Host { .. } => "host",
        }
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrapKind::OutOfGas => write!(f, "out of gas"),
            TrapKind::Overflow => write!(f, "arithmetic overflow"),
            TrapKind::OutOfBounds { segment, address } => {
                write!(f, "out-of-bounds access to {}[{address}]", segment.name())
            }
            TrapKind::CallDepth => write!(f, "call depth exceeded"),
            TrapKind::Abort { code } if *code == ABORT_DIVISION_BY_ZERO => {
                write!(f, "division by zero")
            }
            TrapKind::Abort { code } if *code == ABORT_LN_DOMAIN => {
                write!(f, "logarithm of a value below 1")
            }
            TrapKind::Abort { code } => write!(f, "abort with code {code}"),
            TrapKind::Host { id, code } => {
                let name = crate::hostcall::function(*id).map_or("?", |function| function.name);
                match crate::hostcall::Refusal::from_code(*code) {
                    Some(refusal) => {
                        write!(f, "host call {id} ({name}) refused: {}", refusal.name())
                    }
                    None => write!(f, "host call {id} ({name}) refused with code {code}"),
                }
            }
        }
    }
}

impl TrapKind {
    /// The trap as `invoke` reports a callee's to its caller: `(class, detail)`, class 1
    /// out_of_gas, 2 overflow, 3 out_of_bounds, 4 call_depth, 5 abort (detail: the code), 6 host
    /// (detail: id << 32 | refusal code). Class 0 is a return.
    pub fn invoke_code(&self) -> (u64, u64) {
        match self {
            TrapKind::OutOfGas => (1, 0),
            TrapKind::Overflow => (2, 0),
            TrapKind::OutOfBounds { .. } => (3, 0),
            TrapKind::CallDepth => (4, 0),
            TrapKind::Abort { code } => (5, u64::from(*code)),
            TrapKind::Host { id, code } => (6, (u64::from(*id) << 32) | u64::from(*code)),
        }
    }
}

/// A trap and the instruction that raised it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    /// What happened.
    pub kind: TrapKind,
    /// The instruction offset (for out of gas: the instruction that could not be paid for).
    pub pc: u32,
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at instruction {}", self.kind, self.pc)
    }
}
