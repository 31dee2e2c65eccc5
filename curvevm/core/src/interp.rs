//! The metered interpreter: pre-decoded instructions, a remaining-gas counter checked before every
//! instruction, a closed trap enum, an optional tracer, and native runs of placed microcode that
//! reproduce the expansion's result, gas and trap exactly.

use std::sync::{Arc, OnceLock};

use crate::hostcall::{CapabilitySet, host_step};
use crate::isa::{
    BranchTarget, Cond, Instruction, LoadMode, MAX_CALL_DEPTH, Opcode, REGISTERS, Reg, Segment,
    flag,
};
use crate::memory::{Memory, SegmentMemory};
use crate::microcode::{MicroTrap, OPERANDS, ROUTINES};
use crate::module::{Entry, Module, Placement};
use crate::trap::{Trap, TrapKind};
use crate::verify::{VerifyError, verify};

/// The register file.
pub type Registers = [u64; REGISTERS];

/// The world outside the VM, reached only through host calls.
pub trait Host {
    /// Whether host function `id` of [`crate::hostcall::HOST_FUNCTIONS`] is implemented (asked
    /// by the verifier at load).
    fn provides(&self, id: u16) -> bool;
    /// Runs the call after its capability was checked and its formula's gas charged. It may
    /// change registers and, through the journal, memory. `gas` is what remains; a host may
    /// charge more of it (`invoke` charges the gas its callee used), never more than remains.
    /// An `Err` code traps with [`TrapKind::Host`] (see [`crate::hostcall::Refusal`]).
    fn call(
        &mut self,
        id: u16,
        registers: &mut Registers,
        memory: &mut Memory,
        gas: &mut u64,
    ) -> Result<(), u32>;
    /// A call starts (possibly nested inside another program's call through `invoke`): what
    /// the host changes from here on is undone if this call traps.
    fn begin_call(&mut self) {}
    /// The call ended: keep (`commit`) or undo every change the host made for it since the
    /// matching [`Host::begin_call`].
    fn end_call(&mut self, commit: bool) {
        let _ = commit;
    }
}

/// Runs one call of an instance: the interpreter, or a compiled engine. `invoke` runs a callee
/// on the engine its caller runs on, so that both engines agree call for call.
pub trait Engine {
    /// Calls the entrypoint at `entry` (an index into the module's table) of `instance` with
    /// `args`, at most `gas_limit` gas and `views` mapped (see [`Instance::call`]).
    fn call(
        &self,
        instance: &mut Instance,
        entry: usize,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
    ) -> Result<Outcome, CallError>;
}

/// The interpreter as an [`Engine`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Interpreter(pub ExecOptions);

impl Engine for Interpreter {
    fn call(
        &self,
        instance: &mut Instance,
        entry: usize,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
    ) -> Result<Outcome, CallError> {
        let options = self.0;
        instance.call_at_with(
            entry,
            args,
            gas_limit,
            views,
            host,
            |program, memory, host, state| resume(program, memory, host, state, options),
        )
    }
}

/// A host with no functions.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHost;

impl Host for NoHost {
    fn provides(&self, _: u16) -> bool {
        false
    }
    fn call(&mut self, _: u16, _: &mut Registers, _: &mut Memory, _: &mut u64) -> Result<(), u32> {
        Err(0)
    }
}

/// One executed instruction, as recorded in tracing mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceStep {
    /// The instruction's offset.
    pub pc: u32,
    /// Gas remaining after paying for it.
    pub gas_left: u64,
    /// The register it wrote and the value, if any.
    pub write: Option<(Reg, u64)>,
    /// The memory word it read or wrote: (segment, address, value, is_store).
    pub memory: Option<(Segment, u64, u64, bool)>,
    /// The carry flag after it.
    pub carry: bool,
}

/// Receives every executed instruction (debugging; later the proofs' witness).
pub trait Tracer {
    /// Compile-time switch: engines skip all tracing work when false.
    const ENABLED: bool;
    /// One step.
    fn step(&mut self, step: TraceStep);
}

/// The tracer that records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTrace;

impl Tracer for NoTrace {
    const ENABLED: bool = false;
    fn step(&mut self, _: TraceStep) {}
}

/// A tracer that keeps every step.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The steps in order.
    pub steps: Vec<TraceStep>,
}

impl Tracer for Trace {
    const ENABLED: bool = true;
    fn step(&mut self, step: TraceStep) {
        self.steps.push(step);
    }
}

/// A pre-decoded instruction: one variant per shape, operands ready to use.
#[derive(Clone, Copy, Debug)]
enum Op {
    LoadImm {
        rd: u8,
        value: u64,
    },
    Move {
        rd: u8,
        rs: u8,
    },
    LoadDirect {
        rd: u8,
        seg: u8,
        addr: u32,
    },
    LoadIndirect {
        rd: u8,
        seg: u8,
        rs: u8,
        offset: u32,
    },
    StoreDirect {
        value: u8,
        seg: u8,
        addr: u32,
    },
    StoreIndirect {
        value: u8,
        seg: u8,
        rs: u8,
        offset: u32,
    },
    AddReg {
        rd: u8,
        rs: u8,
    },
    AddImm {
        rd: u8,
        value: u64,
    },
    AddFlags {
        rd: u8,
        rs: u8,
        value: u64,
        flags: u8,
    },
    Jump {
        target: u32,
    },
    JumpIf {
        cond: Cond,
        rs: u8,
        target: u32,
    },
    Call {
        cond: Cond,
        rs: u8,
        target: u32,
    },
    Micro {
        cond: Cond,
        rs: u8,
        target: u32,
        routine: u16,
    },
    Ret {
        cond: Cond,
        rs: u8,
    },
    HostCall {
        cond: Cond,
        rs: u8,
        id: u16,
    },
    Abort {
        cond: Cond,
        rs: u8,
        code: u8,
    },
}

fn predecode(insn: Instruction, placed: &[Option<u16>]) -> Op {
    let (rd, rs) = (insn.rd, insn.rs);
    match insn.op {
        Opcode::Load => match insn.load_mode() {
            LoadMode::Immediate => Op::LoadImm {
                rd,
                value: insn.immediate_value(),
            },
            LoadMode::Register => Op::Move { rd, rs },
            LoadMode::Direct => Op::LoadDirect {
                rd,
                seg: insn.sel,
                addr: insn.imm,
            },
            LoadMode::Indirect => Op::LoadIndirect {
                rd,
                seg: insn.sel,
                rs,
                offset: insn.imm,
            },
        },
        Opcode::Store => match insn.load_mode() {
            LoadMode::Indirect => Op::StoreIndirect {
                value: rd,
                seg: insn.sel,
                rs,
                offset: insn.imm,
            },
            _ => Op::StoreDirect {
                value: rd,
                seg: insn.sel,
                addr: insn.imm,
            },
        },
        Opcode::Add => {
            let extra = insn.flags & !(flag::ADD_IMMEDIATE | flag::ADD_SIGN_EXTEND);
            let immediate = insn.has(flag::ADD_IMMEDIATE);
            match (extra, immediate) {
                (0, false) => Op::AddReg { rd, rs },
                (0, true) => Op::AddImm {
                    rd,
                    value: insn.immediate_value(),
                },
                _ => Op::AddFlags {
                    rd,
                    rs,
                    value: if immediate { insn.immediate_value() } else { 0 },
                    flags: insn.flags,
                },
            }
        }
        Opcode::Branch => {
            let cond = insn.cond();
            match insn.branch_target() {
                BranchTarget::Jump(target) if cond == Cond::Always => Op::Jump { target },
                BranchTarget::Jump(target) => Op::JumpIf { cond, rs, target },
                BranchTarget::Call(target) => {
                    match placed.get(target as usize).copied().flatten() {
                        Some(routine) => Op::Micro {
                            cond,
                            rs,
                            target,
                            routine,
                        },
                        None => Op::Call { cond, rs, target },
                    }
                }
                BranchTarget::Return => Op::Ret { cond, rs },
                BranchTarget::Host(id) => Op::HostCall { cond, rs, id },
                BranchTarget::Abort(code) => Op::Abort { cond, rs, code },
            }
        }
    }
}

/// A verified, pre-decoded module, shareable between instances.
#[derive(Debug)]
pub struct Program {
    module: Module,
    ops: Vec<Op>,
    instructions: Vec<Instruction>,
    placed: Vec<Option<u16>>,
}

impl Program {
    /// Verifies and pre-decodes `module` for a host providing `host_provides`.
    pub fn load(
        module: Module,
        host_provides: &dyn Fn(u16) -> bool,
    ) -> Result<Program, VerifyError> {
        let verified = verify(&module, host_provides)?;
        let ops = verified
            .instructions
            .iter()
            .map(|&insn| predecode(insn, &verified.placed))
            .collect();
        Ok(Program {
            module,
            ops,
            instructions: verified.instructions,
            placed: verified.placed,
        })
    }

    /// The module.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// The decoded instructions.
    pub fn instructions(&self) -> &[Instruction] {
        &self.instructions
    }

    /// The microcode routine placed at `pc`, if one starts there.
    pub fn routine_at(&self, pc: u32) -> Option<u16> {
        self.placed.get(pc as usize).copied().flatten()
    }
}

/// Why a call could not start (no gas charged, no state changed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// No entrypoint of that name.
    UnknownEntry(String),
    /// The wrong number of argument words.
    ArgumentCount {
        /// Declared.
        expected: u16,
        /// Supplied.
        found: usize,
    },
    /// The wrong number of mapped views.
    ViewCount {
        /// Declared.
        expected: usize,
        /// Supplied.
        found: usize,
    },
    /// A mapped view of the wrong size.
    ViewSize {
        /// View index.
        index: usize,
        /// Declared words.
        expected: u32,
        /// Supplied words.
        found: usize,
    },
    /// A parameter table or slab image of the wrong size.
    SegmentSize {
        /// Segment name.
        segment: &'static str,
        /// Declared words.
        expected: u32,
        /// Supplied words.
        found: usize,
    },
}

impl core::fmt::Display for CallError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CallError::UnknownEntry(name) => write!(f, "no entrypoint named `{name}`"),
            CallError::ArgumentCount { expected, found } => {
                write!(
                    f,
                    "the entrypoint takes {expected} argument word(s), {found} given"
                )
            }
            CallError::ViewCount { expected, found } => {
                write!(f, "the module declares {expected} view(s), {found} mapped")
            }
            CallError::ViewSize {
                index,
                expected,
                found,
            } => {
                write!(
                    f,
                    "view{index} is declared with {expected} words, {found} mapped"
                )
            }
            CallError::SegmentSize {
                segment,
                expected,
                found,
            } => {
                write!(
                    f,
                    "`{segment}` is declared with {expected} words, {found} given"
                )
            }
        }
    }
}

impl std::error::Error for CallError {}

/// How to run a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecOptions {
    /// Run placed microcode natively (same result, gas and trap as the expansion).
    pub native_microcode: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            native_microcode: true,
        }
    }
}

/// What a call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Gas charged (the whole limit on out of gas).
    pub gas_used: u64,
    /// The entrypoint's return words, or the trap.
    pub result: Result<Vec<u64>, Trap>,
}

/// A program with its persistent state: parameters and slab.
#[derive(Debug)]
pub struct Instance {
    program: Arc<Program>,
    memory: Memory,
}

impl Instance {
    /// An instance with `params` (exactly the declared size) and a zeroed slab.
    pub fn new(program: Arc<Program>, params: &[u64]) -> Result<Instance, CallError> {
        let layout = &program.module.layout;
        if params.len() != layout.params as usize {
            return Err(CallError::SegmentSize {
                segment: "params",
                expected: layout.params,
                found: params.len(),
            });
        }
        let mut memory = Memory::default();
        memory.install(
            Segment::Params,
            SegmentMemory::new(params.to_vec(), false, false),
        );
        // (segment, words, writable, persistent); the slab starts zeroed.
        for (segment, words, writable, persistent) in [
            (Segment::Args, layout.args, false, false),
            (Segment::Ret, layout.ret, true, false),
            (Segment::Scratch, layout.scratch, true, false),
            (Segment::Slab, layout.slab, true, true),
        ] {
            let zeroed = vec![0; words as usize];
            memory.install(segment, SegmentMemory::new(zeroed, writable, persistent));
        }
        Ok(Instance { program, memory })
    }

    /// The index of the entrypoint called `name` in the module's table (what [`Engine::call`]
    /// and `invoke` take).
    pub fn entry_index(&self, name: &str) -> Option<usize> {
        self.program
            .module
            .entries
            .iter()
            .position(|e| e.name == name)
    }

    /// The program.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// The words of one segment (slab contents for snapshots and the state tree).
    pub fn words(&self, segment: Segment) -> &[u64] {
        self.memory.words(segment)
    }

    /// The memory (slab contents, dirty pages).
    pub fn memory(&mut self) -> &mut Memory {
        &mut self.memory
    }

    /// Replaces the slab (restoring a snapshot); not journaled, not a call.
    pub fn set_slab(&mut self, words: Vec<u64>) -> Result<(), CallError> {
        let expected = self.program.module.layout.slab;
        if words.len() != expected as usize {
            return Err(CallError::SegmentSize {
                segment: "slab",
                expected,
                found: words.len(),
            });
        }
        self.memory
            .install(Segment::Slab, SegmentMemory::new(words, true, true));
        Ok(())
    }

    /// Calls `entry` with `args` and `gas_limit`, mapping `views` (declared sizes) for the call.
    pub fn call(
        &mut self,
        entry: &str,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
        options: ExecOptions,
    ) -> Result<Outcome, CallError> {
        self.call_traced(entry, args, gas_limit, views, host, options, &mut NoTrace)
    }

    /// [`Instance::call`] with a tracer (tracing runs microcode as its expansion).
    #[allow(clippy::too_many_arguments)]
    pub fn call_traced<T: Tracer>(
        &mut self,
        entry: &str,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
        options: ExecOptions,
        tracer: &mut T,
    ) -> Result<Outcome, CallError> {
        self.call_with(
            entry,
            args,
            gas_limit,
            views,
            host,
            |program, memory, host, state| {
                let (ops, capabilities) = (&program.ops, program.module.capabilities);
                if options.native_microcode && !T::ENABLED {
                    run::<T, true>(ops, capabilities, memory, host, state, tracer)
                } else {
                    run::<T, false>(ops, capabilities, memory, host, state, tracer)
                }
            },
        )
    }

    /// A call run by `engine`, which takes the call from its start state to its end: the
    /// checks, argument and view mapping, commit or rollback (memory and host) and the outcome
    /// are the same for every engine.
    pub fn call_with(
        &mut self,
        entry: &str,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
        engine: impl FnOnce(&Program, &mut Memory, &mut dyn Host, &mut State) -> Result<(), Trap>,
    ) -> Result<Outcome, CallError> {
        let index = self
            .entry_index(entry)
            .ok_or_else(|| CallError::UnknownEntry(entry.to_string()))?;
        self.call_at_with(index, args, gas_limit, views, host, engine)
    }

    /// [`Instance::call_with`] of the entrypoint at `index` of the module's table (what
    /// `invoke` names; no lookup by name).
    pub fn call_at_with(
        &mut self,
        index: usize,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
        engine: impl FnOnce(&Program, &mut Memory, &mut dyn Host, &mut State) -> Result<(), Trap>,
    ) -> Result<Outcome, CallError> {
        // Borrow the fields apart (no reference-count traffic: `invoke` comes through here on
        // every cross-program call).
        let Instance { program, memory } = self;
        let program: &Program = program;
        let module = &program.module;
        let entry: &Entry = module
            .entries
            .get(index)
            .ok_or_else(|| CallError::UnknownEntry(format!("#{index}")))?;
        if args.len() != usize::from(entry.args) {
            return Err(CallError::ArgumentCount {
                expected: entry.args,
                found: args.len(),
            });
        }
        let declared = &module.layout.views;
        if views.len() != declared.len() {
            return Err(CallError::ViewCount {
                expected: declared.len(),
                found: views.len(),
            });
        }
        for (index, (view, decl)) in views.iter().zip(declared).enumerate() {
            if view.len() != decl.words as usize {
                return Err(CallError::ViewSize {
                    index,
                    expected: decl.words,
                    found: view.len(),
                });
            }
        }
        let args_segment = memory.segment_mut(Segment::Args);
        // Skipped when empty: glibc's AVX-512 memset of zero bytes at a dangling (empty `Vec`)
        // pointer takes a masked-store fault assist, a fifth of an empty `invoke`'s time.
        if !args_segment.words.is_empty() {
            args_segment.words[..args.len()].copy_from_slice(args);
            args_segment.words[args.len()..].fill(0);
        }
        for (index, (view, decl)) in views.iter_mut().zip(declared).enumerate() {
            memory.map_view(
                Segment::View(index as u8),
                std::mem::take(view),
                decl.writable,
            );
        }

        let mut state = State::start(entry.pc, gas_limit);
        host.begin_call();
        let status = engine(program, memory, host, &mut state);
        let result = status.map(|()| memory.words(Segment::Ret)[..usize::from(entry.ret)].to_vec());
        memory.end_call(result.is_ok());
        host.end_call(result.is_ok());
        for (index, view) in views.iter_mut().enumerate() {
            *view = std::mem::take(&mut memory.segment_mut(Segment::View(index as u8)).words);
        }
        Ok(Outcome {
            gas_used: gas_limit - state.gas,
            result,
        })
    }
}

/// Runs the interpreter from `state` to the end of the call (an engine hands over a call it
/// cannot finish, such as the JIT's gas-short tail). `state.pc` is the next instruction.
pub fn resume(
    program: &Program,
    memory: &mut Memory,
    host: &mut dyn Host,
    state: &mut State,
    options: ExecOptions,
) -> Result<(), Trap> {
    let (ops, capabilities) = (&program.ops, program.module.capabilities);
    if options.native_microcode {
        run::<NoTrace, true>(ops, capabilities, memory, host, state, &mut NoTrace)
    } else {
        run::<NoTrace, false>(ops, capabilities, memory, host, state, &mut NoTrace)
    }
}

/// The architectural state of a running call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Program counter (of the next instruction; of the faulting one after a trap).
    pub pc: u32,
    /// Gas remaining.
    pub gas: u64,
    /// Registers.
    pub registers: Registers,
    /// Carry flag.
    pub carry: bool,
    /// Return addresses of the open CALLs, innermost last.
    pub stack: Vec<u32>,
}

impl State {
    /// The state at the start of a call: `pc`, `gas`, everything else zero.
    pub fn start(pc: u32, gas: u64) -> State {
        State {
            pc,
            gas,
            registers: [0; REGISTERS],
            carry: false,
            stack: Vec::new(),
        }
    }
}

#[inline(always)]
fn holds(cond: Cond, rs: u8, registers: &Registers, carry: bool) -> bool {
    match cond {
        Cond::Always => true,
        Cond::Zero => registers[usize::from(rs & 31)] == 0,
        Cond::NonZero => registers[usize::from(rs & 31)] != 0,
        Cond::Carry => carry,
        Cond::NoCarry => !carry,
    }
}

/// ADD with flags: returns (result, carry out) or `None` when a checked add overflows.
#[inline(always)]
fn add_with_flags(a: u64, source: u64, flags: u8, carry_in: bool) -> Option<(u64, bool)> {
    let negate = flags & flag::ADD_NEGATE != 0;
    let operand = if negate { !source } else { source };
    let extra = if flags & flag::ADD_CARRY_IN != 0 {
        carry_in
    } else {
        negate
    };
    let (partial, carry1) = a.overflowing_add(operand);
    let (sum, carry2) = partial.overflowing_add(u64::from(extra));
    let carry = carry1 | carry2;
    // Checked: a carry out is overflow when adding, its absence is a borrow when negating.
    if flags & flag::ADD_CHECKED != 0 && carry != negate {
        return None;
    }
    Some((sum, carry))
}

/// Native costs of one routine, measured once from its expansion.
#[derive(Clone, Debug)]
pub struct RoutineCosts {
    /// Gas from the CALL through the RET, inclusive.
    pub gas: u64,
    /// For each trap kind: gas from the CALL through the faulting instruction, and that
    /// instruction's offset within the routine.
    pub traps: Vec<(MicroTrap, u64, u32)>,
    /// Registers zeroed on return.
    pub clobbered: Vec<Reg>,
}

/// The costs of every routine (computed on first use by running each expansion).
pub fn routine_costs() -> &'static [RoutineCosts] {
    static COSTS: OnceLock<Vec<RoutineCosts>> = OnceLock::new();
    COSTS.get_or_init(|| {
        (0..ROUTINES.len() as u16)
            .map(|id| {
                let routine = &ROUTINES[usize::from(id)];
                // Gas is the same for every operand that does not trap: the first of these
                // (`ln` traps below 1, so its probe is 1 + 2^−64).
                let ok = [[1, 0, 1, 0, 1], [1, 1, 1, 0, 1]]
                    .into_iter()
                    .map(|operands| execute_routine(id, operands, u64::MAX, false))
                    .find(|run| run.trap.is_none())
                    .unwrap_or_else(|| panic!("`{}` traps on both gas probes", routine.name));
                let traps = routine
                    .trap_witnesses
                    .iter()
                    .map(|&(kind, operands)| {
                        let run = execute_routine(id, operands, u64::MAX, false);
                        let Some(trap) = run.trap else {
                            panic!("the {kind:?} witness of `{}` does not trap", routine.name)
                        };
                        (kind, run.gas_used, trap.pc - ROUTINE_BASE)
                    })
                    .collect();
                // The harness's final RET is not part of the routine.
                RoutineCosts {
                    gas: ok.gas_used - 1,
                    traps,
                    clobbered: routine.clobbered(),
                }
            })
            .collect()
    })
}

/// Where [`execute_routine`] places a routine: after `call 2; ret`.
pub const ROUTINE_BASE: u32 = 2;

/// The result of [`execute_routine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutineRun {
    /// Registers and carry at the end (meaningless after a trap).
    pub state: State,
    /// Gas used, including the harness's `call` and final `ret`.
    pub gas_used: u64,
    /// The trap, if any.
    pub trap: Option<Trap>,
}

/// Runs one routine as `call 2; ret; <routine>` with `operands` in r16–r20, either as its
/// expansion (`native = false`) or natively; the microcode equivalence test compares the two.
pub fn execute_routine(
    id: u16,
    operands: [u64; OPERANDS],
    gas_limit: u64,
    native: bool,
) -> RoutineRun {
    static PROGRAMS: OnceLock<Vec<Program>> = OnceLock::new();
    let programs = PROGRAMS.get_or_init(|| {
        (0..ROUTINES.len() as u16)
            .map(|routine| {
                let mut harness = crate::builder::Builder::new(0);
                harness.call_addr(Cond::Always, 0, ROUTINE_BASE);
                harness.ret(Cond::Always, 0);
                let mut code: Vec<u64> =
                    harness.finish().iter().map(|insn| insn.encode()).collect();
                code.extend(
                    ROUTINES[usize::from(routine)]
                        .expand(ROUTINE_BASE)
                        .iter()
                        .map(|i| i.encode()),
                );
                let module = Module {
                    code,
                    microcode: vec![Placement {
                        routine,
                        pc: ROUTINE_BASE,
                    }],
                    ..Module::default()
                };
                Program::load(module, &|_| false).expect("routine harnesses verify")
            })
            .collect()
    });
    let program = &programs[usize::from(id)];
    let mut memory = Memory::default();
    let mut registers = [0; REGISTERS];
    registers[16..16 + OPERANDS].copy_from_slice(&operands);
    let mut state = State::start(0, gas_limit);
    state.registers = registers;
    let status = if native {
        run::<NoTrace, true>(
            &program.ops,
            CapabilitySet::EMPTY,
            &mut memory,
            &mut NoHost,
            &mut state,
            &mut NoTrace,
        )
    } else {
        run::<NoTrace, false>(
            &program.ops,
            CapabilitySet::EMPTY,
            &mut memory,
            &mut NoHost,
            &mut state,
            &mut NoTrace,
        )
    };
    RoutineRun {
        gas_used: gas_limit - state.gas,
        trap: status.err(),
        state,
    }
}

/// What [`micro_step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MicroStep {
    /// The routine ran natively: results and zeroed clobbers are in the registers, its gas is
    /// charged, and the carry must be cleared.
    Ran,
    /// The remaining gas cannot pay for the whole routine: run its expansion instead.
    Short,
    /// The routine trapped at the returned instruction (gas charged through it).
    Trap(Trap),
}

/// A placed routine run natively after its CALL was paid for, exactly as every engine does it:
/// only when `gas` pays for the whole routine, with the expansion's result, clobbers, gas and
/// trap (kind and pc).
#[inline]
pub fn micro_step(
    routine: u16,
    target: u32,
    registers: &mut Registers,
    gas: &mut u64,
) -> MicroStep {
    let cost = &routine_costs()[usize::from(routine)];
    if *gas < cost.gas - 1 {
        return MicroStep::Short;
    }
    let code = &ROUTINES[usize::from(routine)];
    let operands: [u64; OPERANDS] = core::array::from_fn(|i| registers[16 + i]);
    match (code.native)(operands) {
        Ok(results) => {
            for &reg in &cost.clobbered {
                registers[usize::from(reg)] = 0;
            }
            for (&reg, value) in code.results.iter().zip(results) {
                registers[usize::from(reg)] = value;
            }
            *gas -= cost.gas - 1;
            MicroStep::Ran
        }
        Err(kind) => {
            let &(_, trap_gas, offset) = cost
                .traps
                .iter()
                .find(|(k, _, _)| *k == kind)
                .expect("every native trap has a witness");
            *gas -= trap_gas - 1;
            MicroStep::Trap(Trap {
                kind: kind.trap_kind(),
                pc: target + offset,
            })
        }
    }
}

/// The interpreter loop. On return `state.pc` is the faulting instruction after a trap.
fn run<T: Tracer, const NATIVE: bool>(
    ops: &[Op],
    capabilities: CapabilitySet,
    memory: &mut Memory,
    host: &mut dyn Host,
    state: &mut State,
    tracer: &mut T,
) -> Result<(), Trap> {
    let mut pc = state.pc;
    let mut gas = state.gas;
    let mut registers = state.registers;
    let mut carry = state.carry;
    let mut stack = core::mem::take(&mut state.stack);

    macro_rules! reg {
        ($r:expr) => {
            registers[usize::from($r & 31)]
        };
    }
    macro_rules! trap {
        ($kind:expr) => {{
            state.pc = pc;
            state.gas = gas;
            state.registers = registers;
            state.carry = carry;
            state.stack = stack;
            return Err(Trap { kind: $kind, pc });
        }};
    }

    let result = loop {
        // Verified code never leaves the code: every target is in range and the last
        // instruction cannot fall through.
        let op = ops[pc as usize];
        if gas == 0 {
            trap!(TrapKind::OutOfGas);
        }
        gas -= 1;
        let mut write: Option<(Reg, u64)> = None;
        let mut access: Option<(Segment, u64, u64, bool)> = None;
        let step_pc = pc;
        pc += 1;
        match op {
            Op::LoadImm { rd, value } => {
                reg!(rd) = value;
                if T::ENABLED {
                    write = Some((rd, value));
                }
            }
            Op::Move { rd, rs } => {
                let value = reg!(rs);
                reg!(rd) = value;
                if T::ENABLED {
                    write = Some((rd, value));
                }
            }
            Op::LoadDirect { rd, seg, addr } => {
                let words = &memory.segments[usize::from(seg & 15)].words;
                let Some(&value) = words.get(addr as usize) else {
                    pc = step_pc;
                    trap!(out_of_bounds(seg, u64::from(addr)));
                };
                reg!(rd) = value;
                if T::ENABLED {
                    write = Some((rd, value));
                    access = Some((segment_of(seg), u64::from(addr), value, false));
                }
            }
            Op::LoadIndirect {
                rd,
                seg,
                rs,
                offset,
            } => {
                let address = reg!(rs).saturating_add(u64::from(offset));
                let words = &memory.segments[usize::from(seg & 15)].words;
                let Some(&value) = usize::try_from(address).ok().and_then(|a| words.get(a)) else {
                    pc = step_pc;
                    trap!(out_of_bounds(seg, address));
                };
                reg!(rd) = value;
                if T::ENABLED {
                    write = Some((rd, value));
                    access = Some((segment_of(seg), address, value, false));
                }
            }
            Op::StoreDirect { value, seg, addr } => {
                let segment = &mut memory.segments[usize::from(seg & 15)];
                if addr as usize >= segment.words.len() {
                    pc = step_pc;
                    trap!(out_of_bounds(seg, u64::from(addr)));
                }
                let value = reg!(value);
                segment.write(addr as usize, value);
                if T::ENABLED {
                    access = Some((segment_of(seg), u64::from(addr), value, true));
                }
            }
            Op::StoreIndirect {
                value,
                seg,
                rs,
                offset,
            } => {
                let address = reg!(rs).saturating_add(u64::from(offset));
                let segment = &mut memory.segments[usize::from(seg & 15)];
                let index = match usize::try_from(address) {
                    Ok(index) if index < segment.words.len() => index,
                    _ => {
                        pc = step_pc;
                        trap!(out_of_bounds(seg, address));
                    }
                };
                let value = reg!(value);
                segment.write(index, value);
                if T::ENABLED {
                    access = Some((segment_of(seg), address, value, true));
                }
            }
            Op::AddReg { rd, rs } => {
                let (sum, c) = reg!(rd).overflowing_add(reg!(rs));
                reg!(rd) = sum;
                carry = c;
                if T::ENABLED {
                    write = Some((rd, sum));
                }
            }
            Op::AddImm { rd, value } => {
                let (sum, c) = reg!(rd).overflowing_add(value);
                reg!(rd) = sum;
                carry = c;
                if T::ENABLED {
                    write = Some((rd, sum));
                }
            }
            Op::AddFlags {
                rd,
                rs,
                value,
                flags,
            } => {
                let source = if flags & flag::ADD_IMMEDIATE != 0 {
                    value
                } else {
                    reg!(rs)
                };
                let Some((sum, c)) = add_with_flags(reg!(rd), source, flags, carry) else {
                    pc = step_pc;
                    trap!(TrapKind::Overflow);
                };
                carry = c;
                if flags & flag::ADD_NO_WRITE == 0 {
                    reg!(rd) = sum;
                    if T::ENABLED {
                        write = Some((rd, sum));
                    }
                }
            }
            Op::Jump { target } => pc = target,
            Op::JumpIf { cond, rs, target } => {
                if holds(cond, rs, &registers, carry) {
                    pc = target;
                }
            }
            Op::Call { cond, rs, target } => {
                if holds(cond, rs, &registers, carry) {
                    if stack.len() + 1 >= MAX_CALL_DEPTH {
                        pc = step_pc;
                        trap!(TrapKind::CallDepth);
                    }
                    stack.push(pc);
                    pc = target;
                }
            }
            Op::Micro {
                cond,
                rs,
                target,
                routine,
            } => {
                if holds(cond, rs, &registers, carry) {
                    if stack.len() + 1 >= MAX_CALL_DEPTH {
                        pc = step_pc;
                        trap!(TrapKind::CallDepth);
                    }
                    // Natively only when the whole routine is paid for; a gas-short routine runs
                    // as its expansion so that out of gas hits the same instruction.
                    match if NATIVE {
                        micro_step(routine, target, &mut registers, &mut gas)
                    } else {
                        MicroStep::Short
                    } {
                        MicroStep::Ran => carry = false,
                        MicroStep::Short => {
                            stack.push(pc);
                            pc = target;
                        }
                        MicroStep::Trap(trap) => {
                            pc = trap.pc;
                            trap!(trap.kind);
                        }
                    }
                }
            }
            Op::Ret { cond, rs } => {
                if holds(cond, rs, &registers, carry) {
                    match stack.pop() {
                        Some(return_to) => pc = return_to,
                        None => {
                            if T::ENABLED {
                                tracer.step(TraceStep {
                                    pc: step_pc,
                                    gas_left: gas,
                                    write,
                                    memory: access,
                                    carry,
                                });
                            }
                            break Ok(());
                        }
                    }
                }
            }
            Op::HostCall { cond, rs, id } => {
                if holds(cond, rs, &registers, carry)
                    && let Err(kind) =
                        host_step(capabilities, host, id, &mut registers, memory, &mut gas)
                {
                    pc = step_pc;
                    trap!(kind);
                }
            }
            Op::Abort { cond, rs, code } => {
                if holds(cond, rs, &registers, carry) {
                    pc = step_pc;
                    trap!(TrapKind::Abort { code });
                }
            }
        }
        if T::ENABLED {
            tracer.step(TraceStep {
                pc: step_pc,
                gas_left: gas,
                write,
                memory: access,
                carry,
            });
        }
    };
    state.pc = pc;
    state.gas = gas;
    state.registers = registers;
    state.carry = carry;
    state.stack = stack;
    result
}

fn segment_of(sel: u8) -> Segment {
    Segment::from_sel(sel).unwrap_or(Segment::Params)
}

fn out_of_bounds(sel: u8, address: u64) -> TrapKind {
    TrapKind::OutOfBounds {
        segment: segment_of(sel),
        address,
    }
}
