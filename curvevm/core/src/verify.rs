//! The load-time verifier: one pass over the code, linear in its size, that rejects everything
//! the interpreter would otherwise have to check at run time.
//!
//! Rejected, with the instruction offset: undecodable words (bad opcode flags, reserved bits,
//! selectors), branch targets outside the code, abort codes reserved for microcode, host calls the
//! host does not provide, direct addresses outside their segment's declared size, and a last
//! instruction that can fall through. Rejected for the module: empty or oversized code, segment
//! sizes above their limits, duplicate or out-of-range entrypoints, and microcode placements whose
//! bytes are not the routine's exact expansion.

use core::fmt;

use crate::isa::{
    ABORT_RESERVED_FIRST, BranchKind, BranchTarget, Cond, DecodeError, Instruction, LoadMode,
    MAX_CODE_WORDS, Opcode, Segment,
};
use crate::microcode::ROUTINES;
use crate::module::{
    MAX_ARGS_WORDS, MAX_PARAMS_WORDS, MAX_RET_WORDS, MAX_SCRATCH_WORDS, MAX_SLAB_WORDS,
    MAX_VIEW_WORDS, Module,
};

/// Why a module was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The instruction offset, when one instruction is at fault.
    pub pc: Option<u32>,
    /// What is wrong.
    pub kind: VerifyErrorKind,
}

/// The kinds of verifier rejection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyErrorKind {
    /// The word is not an instruction.
    Decode(DecodeError),
    /// A jump or call target past the end of the code.
    TargetOutOfCode(u32),
    /// An abort code reserved for the microcode library, outside a placement.
    ReservedAbortCode(u8),
    /// A host call the host does not provide.
    UnknownHostCall(u16),
    /// A direct address at or past the segment's declared size.
    AddressOutOfSegment {
        /// Segment.
        segment: Segment,
        /// Address.
        address: u32,
        /// Declared size in words.
        size: u32,
    },
    /// A view index the layout does not declare.
    UndeclaredView(u8),
    /// A store to a view declared read-only.
    StoreToReadOnlyView(u8),
    /// The last instruction can fall through past the end of the code.
    FallsOffEnd,
    /// No code at all.
    EmptyCode,
    /// More than [`MAX_CODE_WORDS`] instructions.
    CodeTooLarge(usize),
    /// A segment size above its limit.
    SegmentTooLarge {
        /// Segment name.
        segment: &'static str,
        /// Declared words.
        words: u32,
        /// Limit.
        max: u32,
    },
    /// Two entrypoints share a name.
    DuplicateEntry(String),
    /// An entrypoint outside the code, or declaring more argument/return words than the layout.
    BadEntry(String),
    /// A microcode placement that is unknown, out of code order, overlapping, outside the code or
    /// not the exact expansion.
    BadPlacement {
        /// Routine id.
        routine: u16,
        /// Placement offset.
        pc: u32,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(pc) = self.pc {
            write!(f, "at instruction {pc}: ")?;
        }
        match &self.kind {
            VerifyErrorKind::Decode(error) => write!(f, "{error}"),
            VerifyErrorKind::TargetOutOfCode(target) => {
                write!(f, "branch target {target} is outside the code")
            }
            VerifyErrorKind::ReservedAbortCode(code) => {
                write!(f, "abort code {code:#x} is reserved for microcode")
            }
            VerifyErrorKind::UnknownHostCall(id) => write!(f, "host call {id} is not provided"),
            VerifyErrorKind::AddressOutOfSegment {
                segment,
                address,
                size,
            } => write!(
                f,
                "address {address} is outside `{}` ({size} words)",
                segment.name()
            ),
            VerifyErrorKind::UndeclaredView(index) => write!(f, "view{index} is not declared"),
            VerifyErrorKind::StoreToReadOnlyView(index) => {
                write!(f, "store to view{index}, which is declared read-only")
            }
            VerifyErrorKind::FallsOffEnd => {
                write!(
                    f,
                    "the last instruction can fall through past the end of the code"
                )
            }
            VerifyErrorKind::EmptyCode => write!(f, "the module has no code"),
            VerifyErrorKind::CodeTooLarge(words) => {
                write!(
                    f,
                    "{words} instructions exceed the limit of {MAX_CODE_WORDS}"
                )
            }
            VerifyErrorKind::SegmentTooLarge {
                segment,
                words,
                max,
            } => {
                write!(f, "`{segment}` declares {words} words; the limit is {max}")
            }
            VerifyErrorKind::DuplicateEntry(name) => {
                write!(f, "entrypoint `{name}` is declared twice")
            }
            VerifyErrorKind::BadEntry(name) => write!(
                f,
                "entrypoint `{name}` starts outside the code or declares more argument or return \
                 words than the layout"
            ),
            VerifyErrorKind::BadPlacement { routine, pc } => write!(
                f,
                "microcode placement of routine {routine} at {pc} is not its exact expansion"
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

fn module_error(kind: VerifyErrorKind) -> VerifyError {
    VerifyError { pc: None, kind }
}

/// The verified code: decoded instructions, and for each pc the routine placed there, if any.
#[derive(Clone, Debug)]
pub struct Verified {
    /// One decoded instruction per word.
    pub instructions: Vec<Instruction>,
    /// `placed[pc]` is the routine id whose expansion starts at `pc`.
    pub placed: Vec<Option<u16>>,
}

/// Verifies `module`; `host_provides(id)` says whether a host call exists.
pub fn verify(
    module: &Module,
    host_provides: &dyn Fn(u16) -> bool,
) -> Result<Verified, VerifyError> {
    let code_len = module.code.len();
    if code_len == 0 {
        return Err(module_error(VerifyErrorKind::EmptyCode));
    }
    if code_len > MAX_CODE_WORDS as usize {
        return Err(module_error(VerifyErrorKind::CodeTooLarge(code_len)));
    }
    let layout = &module.layout;
    for (segment, words, max) in [
        ("params", layout.params, MAX_PARAMS_WORDS),
        ("args", layout.args, MAX_ARGS_WORDS),
        ("ret", layout.ret, MAX_RET_WORDS),
        ("scratch", layout.scratch, MAX_SCRATCH_WORDS),
        ("slab", layout.slab, MAX_SLAB_WORDS),
    ]
    .into_iter()
    .chain(
        layout
            .views
            .iter()
            .map(|view| ("view", view.words, MAX_VIEW_WORDS)),
    ) {
        if words > max {
            return Err(module_error(VerifyErrorKind::SegmentTooLarge {
                segment,
                words,
                max,
            }));
        }
    }
    for (index, entry) in module.entries.iter().enumerate() {
        if module.entries[..index]
            .iter()
            .any(|other| other.name == entry.name)
        {
            return Err(module_error(VerifyErrorKind::DuplicateEntry(
                entry.name.clone(),
            )));
        }
        if entry.pc as usize >= code_len
            || u32::from(entry.args) > layout.args
            || u32::from(entry.ret) > layout.ret
        {
            return Err(module_error(VerifyErrorKind::BadEntry(entry.name.clone())));
        }
    }

    // Placements: known routine, inside the code, not overlapping, exact bytes.
    // Placements are listed in code order (one canonical module per program).
    let mut placed = vec![None; code_len];
    let mut covered = vec![false; code_len];
    let mut previous_end = 0;
    for placement in &module.microcode {
        let bad = || {
            module_error(VerifyErrorKind::BadPlacement {
                routine: placement.routine,
                pc: placement.pc,
            })
        };
        let routine = ROUTINES
            .get(usize::from(placement.routine))
            .ok_or_else(bad)?;
        // A placement outside the code is refused before its expansion is built: the
        // expansion's addresses are `pc + offset`, which must not overflow (`code_len` is at
        // most `MAX_CODE_WORDS`, far below `u32::MAX`).
        if placement.pc as usize >= code_len {
            return Err(bad());
        }
        let expansion = routine.expand(placement.pc);
        let start = placement.pc as usize;
        let end = start
            .checked_add(expansion.len())
            .filter(|&end| end <= code_len)
            .ok_or_else(bad)?;
        if start < previous_end
            || expansion
                .iter()
                .zip(&module.code[start..end])
                .any(|(insn, &word)| insn.encode() != word)
        {
            return Err(bad());
        }
        covered[start..end].fill(true);
        placed[start] = Some(placement.routine);
        previous_end = end;
    }

    let mut instructions = Vec::with_capacity(code_len);
    for (pc, &word) in module.code.iter().enumerate() {
        let at = |kind| VerifyError {
            pc: Some(pc as u32),
            kind,
        };
        let insn = Instruction::decode(word).map_err(|error| at(VerifyErrorKind::Decode(error)))?;
        match insn.op {
            Opcode::Load | Opcode::Store => {
                if let Some(segment) = insn.segment() {
                    let size = match segment {
                        Segment::Params => layout.params,
                        Segment::Args => layout.args,
                        Segment::Ret => layout.ret,
                        Segment::Scratch => layout.scratch,
                        Segment::Slab => layout.slab,
                        Segment::View(index) => {
                            let view = layout
                                .views
                                .get(usize::from(index))
                                .ok_or_else(|| at(VerifyErrorKind::UndeclaredView(index)))?;
                            if insn.op == Opcode::Store && !view.writable {
                                return Err(at(VerifyErrorKind::StoreToReadOnlyView(index)));
                            }
                            view.words
                        }
                    };
                    if insn.load_mode() == LoadMode::Direct && insn.imm >= size {
                        return Err(at(VerifyErrorKind::AddressOutOfSegment {
                            segment,
                            address: insn.imm,
                            size,
                        }));
                    }
                }
            }
            Opcode::Add => {}
            Opcode::Branch => match insn.branch_target() {
                BranchTarget::Jump(target) | BranchTarget::Call(target) => {
                    if target as usize >= code_len {
                        return Err(at(VerifyErrorKind::TargetOutOfCode(target)));
                    }
                }
                BranchTarget::Abort(code) => {
                    if code >= ABORT_RESERVED_FIRST && !covered[pc] {
                        return Err(at(VerifyErrorKind::ReservedAbortCode(code)));
                    }
                }
                BranchTarget::Host(id) => {
                    if crate::hostcall::function(id).is_none() || !host_provides(id) {
                        return Err(at(VerifyErrorKind::UnknownHostCall(id)));
                    }
                }
                BranchTarget::Return => {}
            },
        }
        instructions.push(insn);
    }

    // A CALL returns to pc + 1, so only an unconditional jump, abort or return may end the code.
    let last = instructions[code_len - 1];
    let ends = last.op == Opcode::Branch
        && last.cond() == Cond::Always
        && matches!(last.branch_kind(), Some(BranchKind::Jump | BranchKind::Ret));
    if !ends {
        return Err(VerifyError {
            pc: Some(code_len as u32 - 1),
            kind: VerifyErrorKind::FallsOffEnd,
        });
    }
    Ok(Verified {
        instructions,
        placed,
    })
}
