//! Verified bytecode to Cranelift IR to machine code.
//!
//! One function per program, entered at an entrypoint's index. One Cranelift block per VM basic
//! block (leaders: entrypoints, branch targets, return sites and every instruction after a
//! BRANCH), reachable code only: a placed microcode routine is entered by its CALL, which runs it
//! natively or hands the call to the interpreter, so its expansion is compiled only if plain
//! code jumps into it.
//!
//! Metering: every block pre-charges its instruction count at entry. If the remaining gas cannot
//! pay for the whole block, the code exits with `STATUS_BAIL` at the block's first instruction
//! and the interpreter finishes the call (the gas-short tail), so out of gas lands on the same
//! instruction. A trap at the k-th instruction of a block of n refunds `n − k − 1`. Host calls
//! and microcode CALLs end their block, so their helpers see the exact remaining gas.
//!
//! Native microcode: compares, shifts and the 128-bit add/sub/mul/Q64.64-multiply routines are
//! emitted inline; the divisions call the interpreter's `micro_step`.
//!
//! Registers, carry, gas and call depth live in Cranelift variables; they are written to the
//! context only around host and microcode helper calls, at the one exit block, and — for the
//! registers loops write — around the cold first-store-to-a-page call, so that no loop value
//! must survive a call in one of the few callee-saved machine registers (regalloc would keep
//! it in a stack slot instead, loads and stores on every iteration). An ADD whose carry a later
//! ADD of its block overwrites before any read computes only its sum. Exit paths are cold
//! blocks, laid out after the hot code.

use std::mem::offset_of;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I32, I64};
use cranelift_codegen::ir::{
    AbiParam, Block, BlockCall, InstBuilder, JumpTableData, MemFlagsData, SigRef, Signature,
    UserFuncName, Value,
};
use cranelift_codegen::isa::{CallConv, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module as _, default_libcall_names};

use curvevm::Program;
use curvevm::interp::routine_costs;
use curvevm::isa::{
    BranchTarget, Cond, Instruction, LoadMode, MAX_CALL_DEPTH, MICROCODE_FIRST_REGISTER, Opcode,
    PAGE_WORDS, REGISTERS, Segment, flag,
};
use curvevm::microcode::{MicroTrap, OPERANDS, ROUTINES};

use crate::runtime::{self, Context, STATUS_BAIL, STATUS_RETURNED, STATUS_TRAP, kind};

/// Status of an impossible exit (a corrupt return ordinal or entry index).
pub const STATUS_INTERNAL: u32 = 3;

/// Why a program could not be compiled.
#[derive(Debug)]
pub struct CompileError(pub String);

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JIT compilation failed: {}", self.0)
    }
}

impl std::error::Error for CompileError {}

/// The output of [`compile`].
pub struct CompiledCode {
    pub(crate) module: Option<JITModule>,
    pub(crate) function: runtime::CompiledFn,
    /// Entrypoint pcs, by the index the function takes.
    pub(crate) entry_pcs: Vec<u32>,
    /// Return pc of each return-site ordinal.
    pub(crate) return_pcs: Vec<u32>,
    /// Instructions compiled (reachable code).
    pub(crate) instructions: usize,
}

impl Drop for CompiledCode {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the function pointer dies with `self`; no call is running (calls borrow
            // the compiled program).
            #[allow(unsafe_code)]
            unsafe {
                module.free_memory()
            };
        }
    }
}

fn isa() -> Result<OwnedTargetIsa, CompileError> {
    let mut flags = settings::builder();
    let set = |flags: &mut settings::Builder, name: &str, value: &str| {
        flags
            .set(name, value)
            .map_err(|e| CompileError(format!("setting {name}: {e}")))
    };
    set(&mut flags, "opt_level", "speed")?;
    set(&mut flags, "is_pic", "false")?;
    set(&mut flags, "use_colocated_libcalls", "false")?;
    set(
        &mut flags,
        "enable_verifier",
        if cfg!(debug_assertions) {
            "true"
        } else {
            "false"
        },
    )?;
    let builder = cranelift_native::builder().map_err(|e| CompileError(e.to_string()))?;
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| CompileError(e.to_string()))
}

/// Which instructions are reachable, and the basic-block leaders among them.
struct Cfg {
    reachable: Vec<bool>,
    leader: Vec<bool>,
}

fn successors(program: &Program, pc: u32, insn: &Instruction, out: &mut Vec<u32>) {
    let next = pc + 1;
    if insn.op != Opcode::Branch {
        out.push(next);
        return;
    }
    let conditional = insn.cond() != Cond::Always;
    match insn.branch_target() {
        BranchTarget::Jump(target) => {
            out.push(target);
            if conditional {
                out.push(next);
            }
        }
        BranchTarget::Call(target) => {
            if program.routine_at(target).is_none() {
                out.push(target);
            }
            out.push(next);
        }
        BranchTarget::Host(_) => out.push(next),
        BranchTarget::Return | BranchTarget::Abort(_) => {
            if conditional {
                out.push(next);
            }
        }
    }
}

fn analyse(program: &Program) -> Cfg {
    let code = program.instructions();
    let n = code.len();
    let mut reachable = vec![false; n];
    let mut leader = vec![false; n];
    let mut work: Vec<u32> = Vec::new();
    for entry in &program.module().entries {
        leader[entry.pc as usize] = true;
        work.push(entry.pc);
    }
    let mut next = Vec::new();
    while let Some(pc) = work.pop() {
        if reachable[pc as usize] {
            continue;
        }
        reachable[pc as usize] = true;
        let insn = &code[pc as usize];
        next.clear();
        successors(program, pc, insn, &mut next);
        for &succ in &next {
            // Verified code never falls off its end.
            if (succ as usize) < n {
                if insn.op == Opcode::Branch {
                    leader[succ as usize] = true;
                }
                work.push(succ);
            }
        }
    }
    Cfg { reachable, leader }
}

struct Vars {
    registers: [Variable; REGISTERS],
    carry: Variable,
    gas: Variable,
    depth: Variable,
    status: Variable,
    exit_pc: Variable,
    trap_kind: Variable,
    trap_a: Variable,
    trap_b: Variable,
}

struct Helpers {
    store_slow: (SigRef, Value),
    micro: (SigRef, Value),
    host: (SigRef, Value),
}

/// Where a segment lives during the call (loaded once at function entry).
#[derive(Clone, Copy)]
struct SegmentValues {
    words: Value,
    len: Value,
    written: Value,
}

struct Lowering<'a> {
    program: &'a Program,
    blocks: Vec<Option<Block>>,
    exit: Block,
    internal: Block,
    ctx: Value,
    vars: Vars,
    helpers: Helpers,
    segments: [Option<SegmentValues>; Segment::SELECTORS],
    /// Return-site ordinal of each CALL pc.
    return_ordinal: std::collections::BTreeMap<u32, u32>,
    return_blocks: Vec<Block>,
    /// Registers written inside loops (bit set; see [`registers_written_in_loops`]).
    loop_registers: u32,
}

const fn field(offset: usize) -> i32 {
    offset as i32
}

fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

impl Lowering<'_> {
    fn block(&self, pc: u32) -> Block {
        self.blocks[pc as usize].expect("every successor of reachable code is a compiled leader")
    }

    /// Defines the exit variables and jumps to the exit block.
    #[allow(clippy::too_many_arguments)]
    fn exit_with(
        &self,
        b: &mut FunctionBuilder,
        status: u32,
        pc: u32,
        trap_kind: u32,
        a: Value,
        trap_b: Value,
    ) {
        // Exits leave the hot code: laid out at the end and given the spills.
        if let Some(block) = b.current_block() {
            b.set_cold_block(block);
        }
        let status = b.ins().iconst(I32, i64::from(status));
        b.def_var(self.vars.status, status);
        let pc = b.ins().iconst(I64, i64::from(pc));
        b.def_var(self.vars.exit_pc, pc);
        let trap_kind = b.ins().iconst(I64, i64::from(trap_kind));
        b.def_var(self.vars.trap_kind, trap_kind);
        b.def_var(self.vars.trap_a, a);
        b.def_var(self.vars.trap_b, trap_b);
        b.ins().jump(self.exit, &[]);
    }

    /// A trap raised by compiled code at the `index`-th instruction of a block of `cost`.
    #[allow(clippy::too_many_arguments)]
    fn trap(
        &self,
        b: &mut FunctionBuilder,
        pc: u32,
        index: u64,
        cost: u64,
        trap_kind: u32,
        a: Value,
        trap_b: Value,
    ) {
        let refund = cost - index - 1;
        if refund > 0 {
            let gas = b.use_var(self.vars.gas);
            let gas = b.ins().iadd_imm_s(gas, refund as i64);
            b.def_var(self.vars.gas, gas);
        }
        self.exit_with(b, STATUS_TRAP, pc, trap_kind, a, trap_b);
    }

    /// A trap a helper already wrote into the context.
    fn helper_trap(&self, b: &mut FunctionBuilder) {
        let load = |b: &mut FunctionBuilder, offset: usize| {
            b.ins().load(I64, trusted(), self.ctx, field(offset))
        };
        let status = b.ins().iconst(I32, i64::from(STATUS_TRAP));
        b.def_var(self.vars.status, status);
        let pc = load(b, offset_of!(Context, pc));
        b.def_var(self.vars.exit_pc, pc);
        let trap_kind = load(b, offset_of!(Context, trap_kind));
        b.def_var(self.vars.trap_kind, trap_kind);
        let a = load(b, offset_of!(Context, trap_a));
        b.def_var(self.vars.trap_a, a);
        let trap_b = load(b, offset_of!(Context, trap_b));
        b.def_var(self.vars.trap_b, trap_b);
        b.ins().jump(self.exit, &[]);
    }

    fn register_offset(reg: usize) -> i32 {
        field(offset_of!(Context, registers) + 8 * reg)
    }

    fn spill(&self, b: &mut FunctionBuilder, registers: std::ops::Range<usize>) {
        for reg in registers {
            let value = b.use_var(self.vars.registers[reg]);
            b.ins()
                .store(trusted(), value, self.ctx, Self::register_offset(reg));
        }
    }

    /// [`Lowering::spill`] of the registers in the bit set `registers`.
    fn spill_set(&self, b: &mut FunctionBuilder, registers: u32) {
        for reg in (0..REGISTERS).filter(|reg| registers & (1 << reg) != 0) {
            self.spill(b, reg..reg + 1);
        }
    }

    /// [`Lowering::reload`] of the registers in the bit set `registers`.
    fn reload_set(&self, b: &mut FunctionBuilder, registers: u32) {
        for reg in (0..REGISTERS).filter(|reg| registers & (1 << reg) != 0) {
            self.reload(b, reg..reg + 1);
        }
    }

    fn reload(&self, b: &mut FunctionBuilder, registers: std::ops::Range<usize>) {
        for reg in registers {
            let value = b
                .ins()
                .load(I64, trusted(), self.ctx, Self::register_offset(reg));
            b.def_var(self.vars.registers[reg], value);
        }
    }

    fn store_gas(&self, b: &mut FunctionBuilder) {
        let gas = b.use_var(self.vars.gas);
        b.ins()
            .store(trusted(), gas, self.ctx, field(offset_of!(Context, gas)));
    }

    fn reload_gas(&self, b: &mut FunctionBuilder) {
        let gas = b
            .ins()
            .load(I64, trusted(), self.ctx, field(offset_of!(Context, gas)));
        b.def_var(self.vars.gas, gas);
    }

    fn condition(&self, b: &mut FunctionBuilder, cond: Cond, rs: u8) -> Option<Value> {
        let reg = || self.vars.registers[usize::from(rs & 31)];
        Some(match cond {
            Cond::Always => return None,
            Cond::Zero => {
                let value = b.use_var(reg());
                b.ins().icmp_imm_s(IntCC::Equal, value, 0)
            }
            Cond::NonZero => {
                let value = b.use_var(reg());
                b.ins().icmp_imm_s(IntCC::NotEqual, value, 0)
            }
            Cond::Carry => b.use_var(self.vars.carry),
            Cond::NoCarry => {
                let carry = b.use_var(self.vars.carry);
                b.ins().icmp_imm_s(IntCC::Equal, carry, 0)
            }
        })
    }

    /// Emits `if cond { taken } else { goto next }` and leaves the builder in `taken`.
    fn branch_if(&self, b: &mut FunctionBuilder, cond: Cond, rs: u8, next: u32) {
        if let Some(condition) = self.condition(b, cond, rs) {
            let taken = b.create_block();
            b.ins().brif(condition, taken, &[], self.block(next), &[]);
            b.switch_to_block(taken);
        }
    }

    /// Traps `call_depth` unless another frame fits; leaves the builder on the fitting path.
    fn check_depth(&self, b: &mut FunctionBuilder, pc: u32, index: u64, cost: u64) {
        let depth = b.use_var(self.vars.depth);
        let full = b.ins().icmp_imm_s(
            IntCC::UnsignedGreaterThanOrEqual,
            depth,
            (MAX_CALL_DEPTH - 1) as i64,
        );
        let (trap, fits) = (b.create_block(), b.create_block());
        b.ins().brif(full, trap, &[], fits, &[]);
        b.switch_to_block(trap);
        let zero = b.ins().iconst(I64, 0);
        self.trap(b, pc, index, cost, kind::CALL_DEPTH, zero, zero);
        b.switch_to_block(fits);
    }

    /// The effective address of an indirect access, bounds-checked (traps out of bounds).
    #[allow(clippy::too_many_arguments)]
    fn indirect_address(
        &self,
        b: &mut FunctionBuilder,
        insn: &Instruction,
        segment: SegmentValues,
        pc: u32,
        index: u64,
        cost: u64,
    ) -> Value {
        let base = b.use_var(self.vars.registers[usize::from(insn.rs & 31)]);
        // Segment sizes and offsets are below 2^32, so once `base` is inside, `base + imm`
        // cannot wrap: two compares replace the saturating add, which only the trap needs.
        let inside = b.ins().icmp(IntCC::UnsignedLessThan, base, segment.len);
        let (address, inside) = if insn.imm == 0 {
            (base, inside)
        } else {
            let sum = b.ins().iadd_imm_s(base, i64::from(insn.imm));
            let sum_inside = b.ins().icmp(IntCC::UnsignedLessThan, sum, segment.len);
            (sum, b.ins().band(inside, sum_inside))
        };
        let (ok, out) = (b.create_block(), b.create_block());
        b.ins().brif(inside, ok, &[], out, &[]);
        b.switch_to_block(out);
        let offset = b.ins().iconst(I64, i64::from(insn.imm));
        let (sum, wrapped) = b.ins().uadd_overflow(base, offset);
        let saturated = b.ins().iconst(I64, -1);
        let faulting = b.ins().select(wrapped, saturated, sum);
        let sel = b.ins().iconst(I64, i64::from(insn.sel));
        self.trap(b, pc, index, cost, kind::OUT_OF_BOUNDS, sel, faulting);
        b.switch_to_block(ok);
        address
    }

    fn word_pointer(b: &mut FunctionBuilder, segment: SegmentValues, address: Value) -> Value {
        let bytes = b.ins().ishl_imm_u(address, 3);
        b.ins().iadd(segment.words, bytes)
    }

    fn store(
        &self,
        b: &mut FunctionBuilder,
        segment: SegmentValues,
        sel: u8,
        address: Value,
        value: Value,
    ) {
        // Fast path when the page is already journaled in this call; else the memory's own
        // journal does the first write.
        let page = b
            .ins()
            .ushr_imm_u(address, i64::from(PAGE_WORDS.trailing_zeros()));
        let slot = b.ins().ushr_imm_u(page, 6);
        let slot_bytes = b.ins().ishl_imm_u(slot, 3);
        let slot_pointer = b.ins().iadd(segment.written, slot_bytes);
        let bits = b.ins().load(I64, trusted(), slot_pointer, 0);
        let shift = b.ins().band_imm_u(page, 63);
        let one = b.ins().iconst(I64, 1);
        let bit = b.ins().ishl(one, shift);
        let written = b.ins().band(bits, bit);
        let (fast, slow, done) = (b.create_block(), b.create_block(), b.create_block());
        b.ins().brif(written, fast, &[], slow, &[]);
        b.switch_to_block(fast);
        let pointer = Self::word_pointer(b, segment, address);
        b.ins().store(trusted(), value, pointer, 0);
        b.ins().jump(done, &[]);
        b.switch_to_block(slow);
        b.set_cold_block(slow);
        // The registers loops write go through the context around the call (as all do around
        // host calls): their values are then not live across a call, so none needs one of the
        // few callee-saved machine registers, and hot loops keep theirs in machine registers
        // instead of stack slots. Only those: spilling all 32 at every store site doubled the
        // compile time.
        self.spill_set(b, self.loop_registers);
        let (sig, callee) = self.helpers.store_slow;
        let sel = b.ins().iconst(I32, i64::from(sel));
        b.ins()
            .call_indirect(sig, callee, &[self.ctx, sel, address, value]);
        self.reload_set(b, self.loop_registers);
        b.ins().jump(done, &[]);
        b.switch_to_block(done);
    }

    /// An ADD. `carry_read` is false when no instruction can read the carry it sets: a later
    /// ADD of the same block sets it again first (a trap in between does not expose it). Then
    /// only the sum is computed, with no flag materialised.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        b: &mut FunctionBuilder,
        insn: &Instruction,
        pc: u32,
        index: u64,
        cost: u64,
        carry_read: bool,
    ) {
        let flags = insn.flags;
        let rd = self.vars.registers[usize::from(insn.rd & 31)];
        let a = b.use_var(rd);
        let source = if insn.has(flag::ADD_IMMEDIATE) {
            b.ins().iconst(I64, insn.immediate_value() as i64)
        } else {
            b.use_var(self.vars.registers[usize::from(insn.rs & 31)])
        };
        let negate = flags & flag::ADD_NEGATE != 0;
        if !carry_read && flags & flag::ADD_CHECKED == 0 {
            // a + !s + 1 = a − s (mod 2^64).
            let mut sum = if negate {
                b.ins().isub(a, source)
            } else {
                b.ins().iadd(a, source)
            };
            if flags & flag::ADD_CARRY_IN != 0 {
                let carry_in = b.use_var(self.vars.carry);
                let extra = b.ins().uextend(I64, carry_in);
                // With carry-in and negate the interpreter adds a + !s + carry, not + 1.
                if negate {
                    let one = b.ins().iconst(I64, 1);
                    sum = b.ins().isub(sum, one);
                }
                sum = b.ins().iadd(sum, extra);
            }
            if flags & flag::ADD_NO_WRITE == 0 {
                b.def_var(rd, sum);
            }
            return;
        }
        let operand = if negate { b.ins().bnot(source) } else { source };
        let (partial, carry1) = b.ins().uadd_overflow(a, operand);
        let (sum, carry) = if flags & flag::ADD_CARRY_IN != 0 {
            let carry_in = b.use_var(self.vars.carry);
            let extra = b.ins().uextend(I64, carry_in);
            let (sum, carry2) = b.ins().uadd_overflow(partial, extra);
            (sum, b.ins().bor(carry1, carry2))
        } else if negate {
            let one = b.ins().iconst(I64, 1);
            let (sum, carry2) = b.ins().uadd_overflow(partial, one);
            (sum, b.ins().bor(carry1, carry2))
        } else {
            (partial, carry1)
        };
        if flags & flag::ADD_CHECKED != 0 {
            // A carry out is overflow when adding, its absence a borrow when negating.
            let bad = if negate {
                b.ins().icmp_imm_s(IntCC::Equal, carry, 0)
            } else {
                carry
            };
            let (trap, ok) = (b.create_block(), b.create_block());
            b.ins().brif(bad, trap, &[], ok, &[]);
            b.switch_to_block(trap);
            let zero = b.ins().iconst(I64, 0);
            self.trap(b, pc, index, cost, kind::OVERFLOW, zero, zero);
            b.switch_to_block(ok);
        }
        b.def_var(self.vars.carry, carry);
        if flags & flag::ADD_NO_WRITE == 0 {
            b.def_var(rd, sum);
        }
    }

    /// Lowers one instruction; returns whether it ended the block (the builder then has no
    /// current block to fall through from).
    fn instruction(
        &self,
        b: &mut FunctionBuilder,
        pc: u32,
        index: u64,
        cost: u64,
        carry_read: bool,
    ) -> Result<bool, CompileError> {
        let insn = self.program.instructions()[pc as usize];
        let reg = |r: u8| self.vars.registers[usize::from(r & 31)];
        let next = pc + 1;
        match insn.op {
            Opcode::Load => match insn.load_mode() {
                LoadMode::Immediate => {
                    let value = b.ins().iconst(I64, insn.immediate_value() as i64);
                    b.def_var(reg(insn.rd), value);
                }
                LoadMode::Register => {
                    let value = b.use_var(reg(insn.rs));
                    b.def_var(reg(insn.rd), value);
                }
                mode => {
                    let segment = self.segments[usize::from(insn.sel)]
                        .ok_or_else(|| CompileError(format!("segment {} not loaded", insn.sel)))?;
                    let pointer = if mode == LoadMode::Direct {
                        // The verifier bounds direct addresses by the declared size, which is
                        // the mapped size (checked when the call starts).
                        b.ins().iadd_imm_s(segment.words, i64::from(insn.imm) * 8)
                    } else {
                        let address = self.indirect_address(b, &insn, segment, pc, index, cost);
                        Self::word_pointer(b, segment, address)
                    };
                    let value = b.ins().load(I64, trusted(), pointer, 0);
                    b.def_var(reg(insn.rd), value);
                }
            },
            Opcode::Store => {
                let segment = self.segments[usize::from(insn.sel)]
                    .ok_or_else(|| CompileError(format!("segment {} not loaded", insn.sel)))?;
                let address = if insn.load_mode() == LoadMode::Indirect {
                    self.indirect_address(b, &insn, segment, pc, index, cost)
                } else {
                    b.ins().iconst(I64, i64::from(insn.imm))
                };
                let value = b.use_var(reg(insn.rd));
                self.store(b, segment, insn.sel, address, value);
            }
            Opcode::Add => self.add(b, &insn, pc, index, cost, carry_read),
            Opcode::Branch => {
                match insn.branch_target() {
                    BranchTarget::Jump(target) => match self.condition(b, insn.cond(), insn.rs) {
                        None => {
                            b.ins().jump(self.block(target), &[]);
                        }
                        Some(condition) => {
                            b.ins()
                                .brif(condition, self.block(target), &[], self.block(next), &[]);
                        }
                    },
                    BranchTarget::Call(target) => {
                        self.branch_if(b, insn.cond(), insn.rs, next);
                        self.check_depth(b, pc, index, cost);
                        match self.program.routine_at(target) {
                            Some(routine) => self.micro(b, routine, pc, target, next),
                            None => {
                                let depth = b.use_var(self.vars.depth);
                                let ordinal =
                                    b.ins().iconst(I32, i64::from(self.return_ordinal[&pc]));
                                let slot = b.ins().ishl_imm_u(depth, 2);
                                let slot = b.ins().iadd(self.ctx, slot);
                                b.ins().store(
                                    trusted(),
                                    ordinal,
                                    slot,
                                    field(offset_of!(Context, stack)),
                                );
                                let depth = b.ins().iadd_imm_s(depth, 1);
                                b.def_var(self.vars.depth, depth);
                                b.ins().jump(self.block(target), &[]);
                            }
                        }
                    }
                    BranchTarget::Return => {
                        self.branch_if(b, insn.cond(), insn.rs, next);
                        let depth = b.use_var(self.vars.depth);
                        let (pop, done) = (b.create_block(), b.create_block());
                        b.ins().brif(depth, pop, &[], done, &[]);
                        b.switch_to_block(done);
                        let zero = b.ins().iconst(I64, 0);
                        self.exit_with(b, STATUS_RETURNED, pc, 0, zero, zero);
                        b.switch_to_block(pop);
                        let depth = b.ins().iadd_imm_s(depth, -1);
                        b.def_var(self.vars.depth, depth);
                        let slot = b.ins().ishl_imm_u(depth, 2);
                        let slot = b.ins().iadd(self.ctx, slot);
                        let ordinal =
                            b.ins()
                                .load(I32, trusted(), slot, field(offset_of!(Context, stack)));
                        let pool = &mut b.func.dfg.value_lists;
                        let default = BlockCall::new(self.internal, [], pool);
                        let table: Vec<BlockCall> = self
                            .return_blocks
                            .iter()
                            .map(|&block| BlockCall::new(block, [], pool))
                            .collect();
                        let table = b.create_jump_table(JumpTableData::new(default, &table));
                        b.ins().br_table(ordinal, table);
                    }
                    BranchTarget::Host(id) => {
                        self.branch_if(b, insn.cond(), insn.rs, next);
                        self.spill(b, 0..REGISTERS);
                        self.store_gas(b);
                        let (sig, callee) = self.helpers.host;
                        let id = b.ins().iconst(I32, i64::from(id));
                        let at = b.ins().iconst(I32, i64::from(pc));
                        let call = b.ins().call_indirect(sig, callee, &[self.ctx, id, at]);
                        let status = b.inst_results(call)[0];
                        self.reload(b, 0..REGISTERS);
                        self.reload_gas(b);
                        let trapped = b.create_block();
                        b.ins().brif(status, trapped, &[], self.block(next), &[]);
                        b.switch_to_block(trapped);
                        self.helper_trap(b);
                    }
                    BranchTarget::Abort(code) => {
                        self.branch_if(b, insn.cond(), insn.rs, next);
                        let code = b.ins().iconst(I64, i64::from(code));
                        let zero = b.ins().iconst(I64, 0);
                        self.trap(b, pc, index, cost, kind::ABORT, code, zero);
                    }
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A CALL to a placed routine (its depth already checked), after its BRANCH was paid.
    /// Routines whose native form is a few 64-bit operations are emitted inline; the divisions
    /// go through the interpreter's `micro_step`. Both follow it exactly: run only when the
    /// gas pays for the whole routine, zero the clobbers, write the results, clear the carry, and
    /// trap at the expansion's faulting instruction with the expansion's gas.
    fn micro(&self, b: &mut FunctionBuilder, routine: u16, pc: u32, target: u32, next: u32) {
        let costs = &routine_costs()[usize::from(routine)];
        let name = ROUTINES[usize::from(routine)].name;
        // The native form is pure, so it is computed before the gas check.
        let operands: [Value; OPERANDS] =
            core::array::from_fn(|i| b.use_var(self.vars.registers[16 + i]));
        let Some((results, overflow)) = inline_routine(b, name, operands) else {
            return self.micro_helper(b, routine, pc, target, next);
        };
        let remaining = b.use_var(self.vars.gas);
        let (run, short) = (b.create_block(), b.create_block());
        let is_short =
            b.ins()
                .icmp_imm_u(IntCC::UnsignedLessThan, remaining, (costs.gas - 1) as i64);
        b.ins().brif(is_short, short, &[], run, &[]);
        b.switch_to_block(run);
        if let Some(overflow) = overflow {
            let (trapped, ok) = (b.create_block(), b.create_block());
            b.ins().brif(overflow, trapped, &[], ok, &[]);
            b.switch_to_block(trapped);
            let &(_, trap_gas, offset) = costs
                .traps
                .iter()
                .find(|(kind, _, _)| *kind == MicroTrap::Overflow)
                .expect("a routine that can overflow has an overflow witness");
            let gas = b.ins().iadd_imm_s(remaining, 1 - trap_gas as i64);
            b.def_var(self.vars.gas, gas);
            let zero = b.ins().iconst(I64, 0);
            self.exit_with(b, STATUS_TRAP, target + offset, kind::OVERFLOW, zero, zero);
            b.switch_to_block(ok);
        }
        let gas = b.ins().iadd_imm_s(remaining, 1 - costs.gas as i64);
        b.def_var(self.vars.gas, gas);
        self.routine_returns(b, routine, results, next);
        b.switch_to_block(short);
        self.bail_at_call(b, pc);
    }

    /// A routine that ran: clobbers zeroed, then its results written, carry cleared, on to the
    /// instruction after the CALL (its gas already charged).
    fn routine_returns(
        &self,
        b: &mut FunctionBuilder,
        routine: u16,
        results: Vec<Value>,
        next: u32,
    ) {
        let zero = b.ins().iconst(I64, 0);
        for &reg in &routine_costs()[usize::from(routine)].clobbered {
            b.def_var(self.vars.registers[usize::from(reg)], zero);
        }
        for (&reg, value) in ROUTINES[usize::from(routine)].results.iter().zip(results) {
            b.def_var(self.vars.registers[usize::from(reg)], value);
        }
        let clear = b.ins().iconst(I8, 0);
        b.def_var(self.vars.carry, clear);
        b.ins().jump(self.block(next), &[]);
    }

    /// A CALL to a routine run by the interpreter's `micro_step` through a helper.
    fn micro_helper(&self, b: &mut FunctionBuilder, routine: u16, pc: u32, target: u32, next: u32) {
        self.spill(b, 16..21);
        self.store_gas(b);
        let (sig, callee) = self.helpers.micro;
        let id = b.ins().iconst(I32, i64::from(routine));
        let target = b.ins().iconst(I32, i64::from(target));
        let call = b.ins().call_indirect(sig, callee, &[self.ctx, id, target]);
        let status = b.inst_results(call)[0];
        let (ran, other, trapped, short) = (
            b.create_block(),
            b.create_block(),
            b.create_block(),
            b.create_block(),
        );
        b.ins().brif(status, other, &[], ran, &[]);
        b.switch_to_block(ran);
        // Only the results come back from the context: the other registers were never spilled.
        let results: Vec<Value> = ROUTINES[usize::from(routine)]
            .results
            .iter()
            .map(|&reg| {
                b.ins().load(
                    I64,
                    trusted(),
                    self.ctx,
                    Self::register_offset(usize::from(reg)),
                )
            })
            .collect();
        self.reload_gas(b);
        self.routine_returns(b, routine, results, next);
        b.switch_to_block(other);
        let is_trap = b.ins().icmp_imm_s(IntCC::Equal, status, 1);
        b.ins().brif(is_trap, trapped, &[], short, &[]);
        b.switch_to_block(trapped);
        self.reload_gas(b);
        self.helper_trap(b);
        b.switch_to_block(short);
        self.bail_at_call(b, pc);
    }

    /// Gas-short microcode CALL at `pc`: the interpreter re-runs the CALL (refunded here) and
    /// the expansion.
    fn bail_at_call(&self, b: &mut FunctionBuilder, pc: u32) {
        let gas = b.use_var(self.vars.gas);
        let gas = b.ins().iadd_imm_s(gas, 1);
        b.def_var(self.vars.gas, gas);
        let zero = b.ins().iconst(I64, 0);
        self.exit_with(b, STATUS_BAIL, pc, 0, zero, zero);
    }
}

/// Compiles `program`.
pub fn compile(program: &Program) -> Result<CompiledCode, CompileError> {
    compile_with(program, false).map(|(code, _)| code)
}

/// [`compile`], and when `listing` is set the machine code as text (Cranelift's disassembly of
/// the final instructions, block by block, after register allocation).
pub fn compile_with(
    program: &Program,
    listing: bool,
) -> Result<(CompiledCode, Option<String>), CompileError> {
    let isa = isa()?;
    let call_conv = CallConv::triple_default(isa.triple());
    let pointer = isa.pointer_type();
    let frontend = isa.frontend_config();
    let mut module = JITModule::new(JITBuilder::with_isa(isa, default_libcall_names()));

    let mut signature = Signature::new(call_conv);
    signature.params.push(AbiParam::new(pointer));
    signature.params.push(AbiParam::new(I32));
    signature.returns.push(AbiParam::new(I32));
    let id = module
        .declare_function("curvevm_program", Linkage::Local, &signature)
        .map_err(|e| CompileError(e.to_string()))?;

    let mut context = module.make_context();
    context.func.signature = signature;
    context.func.name = UserFuncName::user(0, id.as_u32());
    let mut builder_context = FunctionBuilderContext::new();
    let cfg = analyse(program);
    let code = program.instructions();
    let instructions = cfg.reachable.iter().filter(|r| **r).count();
    let entry_pcs: Vec<u32> = program.module().entries.iter().map(|e| e.pc).collect();
    let mut return_pcs = Vec::new();
    let mut return_ordinal = std::collections::BTreeMap::new();
    for (pc, insn) in code.iter().enumerate() {
        if cfg.reachable[pc]
            && let BranchTarget::Call(target) = insn.branch_target()
            && insn.op == Opcode::Branch
            && program.routine_at(target).is_none()
        {
            return_ordinal.insert(pc as u32, return_pcs.len() as u32);
            return_pcs.push(pc as u32 + 1);
        }
    }

    {
        let mut b = FunctionBuilder::new(&mut context.func, &mut builder_context);
        let start = b.create_block();
        b.append_block_params_for_function_params(start);
        b.switch_to_block(start);
        let ctx = b.block_params(start)[0];
        let entry_index = b.block_params(start)[1];

        let vars = Vars {
            registers: core::array::from_fn(|_| b.declare_var(I64)),
            carry: b.declare_var(I8),
            gas: b.declare_var(I64),
            depth: b.declare_var(I64),
            status: b.declare_var(I32),
            exit_pc: b.declare_var(I64),
            trap_kind: b.declare_var(I64),
            trap_a: b.declare_var(I64),
            trap_b: b.declare_var(I64),
        };
        let zero = b.ins().iconst(I64, 0);
        for &reg in &vars.registers {
            b.def_var(reg, zero);
        }
        for var in [
            vars.depth,
            vars.exit_pc,
            vars.trap_kind,
            vars.trap_a,
            vars.trap_b,
        ] {
            b.def_var(var, zero);
        }
        let zero8 = b.ins().iconst(I8, 0);
        b.def_var(vars.carry, zero8);
        let zero32 = b.ins().iconst(I32, 0);
        b.def_var(vars.status, zero32);
        let gas = b
            .ins()
            .load(I64, trusted(), ctx, field(offset_of!(Context, gas)));
        b.def_var(vars.gas, gas);

        // Segments the reachable code touches.
        let mut segments = [None; Segment::SELECTORS];
        for (pc, insn) in code.iter().enumerate() {
            let memory = matches!(insn.op, Opcode::Load | Opcode::Store)
                && !matches!(insn.load_mode(), LoadMode::Immediate | LoadMode::Register);
            if cfg.reachable[pc] && memory && segments[usize::from(insn.sel)].is_none() {
                let base = offset_of!(Context, segments)
                    + usize::from(insn.sel) * size_of::<curvevm::memory::RawSegment>();
                let load = |b: &mut FunctionBuilder, offset: usize| {
                    b.ins().load(I64, trusted(), ctx, field(base + offset))
                };
                segments[usize::from(insn.sel)] = Some(SegmentValues {
                    words: load(&mut b, offset_of!(curvevm::memory::RawSegment, words)),
                    len: load(&mut b, offset_of!(curvevm::memory::RawSegment, len)),
                    written: load(&mut b, offset_of!(curvevm::memory::RawSegment, written)),
                });
            }
        }

        let helper = |b: &mut FunctionBuilder,
                      params: &[cranelift_codegen::ir::Type],
                      returns: bool,
                      address: usize| {
            let mut sig = Signature::new(call_conv);
            for &param in params {
                sig.params.push(AbiParam::new(param));
            }
            if returns {
                sig.returns.push(AbiParam::new(I32));
            }
            let sig = b.import_signature(sig);
            let callee = b.ins().iconst(pointer, address as i64);
            (sig, callee)
        };
        let helpers = Helpers {
            store_slow: helper(
                &mut b,
                &[pointer, I32, I64, I64],
                false,
                runtime::store_slow as *const () as usize,
            ),
            micro: helper(
                &mut b,
                &[pointer, I32, I32],
                true,
                runtime::micro as *const () as usize,
            ),
            host: helper(
                &mut b,
                &[pointer, I32, I32],
                true,
                runtime::host as *const () as usize,
            ),
        };

        let blocks: Vec<Option<Block>> = (0..code.len())
            .map(|pc| (cfg.reachable[pc] && cfg.leader[pc]).then(|| b.create_block()))
            .collect();
        let exit = b.create_block();
        let internal = b.create_block();
        let return_blocks = return_pcs
            .iter()
            .map(|&pc| blocks[pc as usize].expect("return sites are leaders"))
            .collect();
        let lowering = Lowering {
            program,
            blocks,
            exit,
            internal,
            ctx,
            vars,
            helpers,
            segments,
            return_ordinal,
            return_blocks,
            loop_registers: registers_written_in_loops(program, &cfg),
        };

        // Entry dispatch.
        {
            let pool = &mut b.func.dfg.value_lists;
            let default = BlockCall::new(internal, [], pool);
            let table: Vec<BlockCall> = entry_pcs
                .iter()
                .map(|&pc| BlockCall::new(lowering.block(pc), [], pool))
                .collect();
            let table = b.create_jump_table(JumpTableData::new(default, &table));
            b.ins().br_table(entry_index, table);
        }

        // Basic blocks.
        let mut pc = 0;
        while pc < code.len() {
            if !(cfg.reachable[pc] && cfg.leader[pc]) {
                pc += 1;
                continue;
            }
            let start = pc;
            let mut end = pc + 1;
            let mut last = code[pc].op == Opcode::Branch;
            while !last && end < code.len() && !cfg.leader[end] {
                last = code[end].op == Opcode::Branch;
                end += 1;
            }
            let cost = (end - start) as u64;
            b.switch_to_block(lowering.block(start as u32));
            let gas = b.use_var(lowering.vars.gas);
            let enough = b
                .ins()
                .icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, gas, cost as i64);
            let (body, bail) = (b.create_block(), b.create_block());
            b.ins().brif(enough, body, &[], bail, &[]);
            b.switch_to_block(bail);
            let zero = b.ins().iconst(I64, 0);
            lowering.exit_with(&mut b, STATUS_BAIL, start as u32, 0, zero, zero);
            b.switch_to_block(body);
            let gas = b.ins().iadd_imm_s(gas, -(cost as i64));
            b.def_var(lowering.vars.gas, gas);
            let carry_read = carry_read_after(&code[start..end]);
            let mut ended = false;
            for at in start..end {
                ended = lowering.instruction(
                    &mut b,
                    at as u32,
                    (at - start) as u64,
                    cost,
                    carry_read[at - start],
                )?;
            }
            if !ended {
                b.ins().jump(lowering.block(end as u32), &[]);
            }
            pc = end;
        }

        // The internal-error exit and the one real exit.
        b.switch_to_block(internal);
        let status = b.ins().iconst(I32, i64::from(STATUS_INTERNAL));
        b.def_var(lowering.vars.status, status);
        b.ins().jump(exit, &[]);

        b.switch_to_block(exit);
        lowering.spill(&mut b, 0..REGISTERS);
        lowering.store_gas(&mut b);
        let carry = b.use_var(lowering.vars.carry);
        let carry = b.ins().uextend(I64, carry);
        b.ins()
            .store(trusted(), carry, ctx, field(offset_of!(Context, carry)));
        for (var, offset) in [
            (lowering.vars.depth, offset_of!(Context, depth)),
            (lowering.vars.exit_pc, offset_of!(Context, pc)),
            (lowering.vars.trap_kind, offset_of!(Context, trap_kind)),
            (lowering.vars.trap_a, offset_of!(Context, trap_a)),
            (lowering.vars.trap_b, offset_of!(Context, trap_b)),
        ] {
            let value = b.use_var(var);
            b.ins().store(trusted(), value, ctx, field(offset));
        }
        let status = b.use_var(lowering.vars.status);
        b.ins().return_(&[status]);
        b.seal_all_blocks();
        b.finalize(frontend);
    }

    context.set_disasm(listing);
    module
        .define_function(id, &mut context)
        .map_err(|e| CompileError(format!("{e:?}")))?;
    let listing = context
        .compiled_code()
        .and_then(|compiled| compiled.vcode.clone());
    module.clear_context(&mut context);
    module
        .finalize_definitions()
        .map_err(|e| CompileError(e.to_string()))?;
    let code_pointer = module.get_finalized_function(id);
    // SAFETY: `code_pointer` is the finalized function declared above with the signature
    // `(pointer, i32) -> i32` in the target's default (C) calling convention.
    #[allow(unsafe_code)]
    let function = unsafe { core::mem::transmute::<*const u8, runtime::CompiledFn>(code_pointer) };
    Ok((
        CompiledCode {
            module: Some(module),
            function,
            entry_pcs,
            return_pcs,
            instructions,
        },
        listing,
    ))
}

/// The registers written by reachable instructions inside a loop — the span from a backward
/// jump's target to the jump (the compiler's loops are such spans; a subroutine called from
/// a loop but placed outside it is not counted: that costs speed, never correctness). A
/// microcode CALL counts as writing r16–r31.
fn registers_written_in_loops(program: &Program, cfg: &Cfg) -> u32 {
    let code = program.instructions();
    let mut depth_change = vec![0i64; code.len() + 1];
    for (pc, insn) in code.iter().enumerate() {
        if cfg.reachable[pc]
            && insn.op == Opcode::Branch
            && let BranchTarget::Jump(target) = insn.branch_target()
            && target as usize <= pc
        {
            depth_change[target as usize] += 1;
            depth_change[pc + 1] -= 1;
        }
    }
    let mut depth = 0;
    let mut written = 0u32;
    for (pc, insn) in code.iter().enumerate() {
        depth += depth_change[pc];
        if depth == 0 || !cfg.reachable[pc] {
            continue;
        }
        written |= match insn.op {
            Opcode::Load => 1 << (insn.rd & 31),
            Opcode::Add if !insn.has(flag::ADD_NO_WRITE) => 1 << (insn.rd & 31),
            Opcode::Branch => match insn.branch_target() {
                BranchTarget::Call(target) if program.routine_at(target).is_some() => {
                    u32::MAX << MICROCODE_FIRST_REGISTER
                }
                _ => 0,
            },
            _ => 0,
        };
    }
    written
}

/// For each instruction of a basic block, whether the carry flag after it may be read: by a
/// later instruction of the block before an ADD sets it again, or after the block (assumed).
fn carry_read_after(block: &[Instruction]) -> Vec<bool> {
    let mut read = vec![true; block.len()];
    let mut live = true;
    for (at, insn) in block.iter().enumerate().rev() {
        read[at] = live;
        live = match insn.op {
            // An ADD sets the carry; one with carry-in reads it first.
            Opcode::Add => insn.has(flag::ADD_CARRY_IN),
            // Loads and stores leave it alone.
            Opcode::Load | Opcode::Store => live,
            // A branch may test it, a call's routine or the interpreter may see it.
            Opcode::Branch => true,
        };
    }
    read
}

/// The native form of routine `name` as IR over its operands (r16–r20): its results in the
/// order of the routine's result registers and, if it can overflow, the overflow condition.
/// `None` for routines left to the helper (the divisions).
fn inline_routine(
    b: &mut FunctionBuilder,
    name: &str,
    [a0, a1, b0, b1, _]: [Value; OPERANDS],
) -> Option<(Vec<Value>, Option<Value>)> {
    let flag = |b: &mut FunctionBuilder, cc: IntCC, x: Value, y: Value| {
        let bit = b.ins().icmp(cc, x, y);
        b.ins().uextend(I64, bit)
    };
    let nonzero = |b: &mut FunctionBuilder, x: Value| b.ins().icmp_imm_u(IntCC::NotEqual, x, 0);
    Some(match name {
        "lt" => (vec![flag(b, IntCC::UnsignedLessThan, a0, b0)], None),
        "le" => (vec![flag(b, IntCC::UnsignedLessThanOrEqual, a0, b0)], None),
        "eq" => (vec![flag(b, IntCC::Equal, a0, b0)], None),
        // Cranelift masks shift amounts to the type width, as the routines do (b mod 64).
        "shl" => (vec![b.ins().ishl(a0, b0)], None),
        "shr" => (vec![b.ins().ushr(a0, b0)], None),
        "add128" => {
            let (low, carry) = b.ins().uadd_overflow(a0, b0);
            let (high, over1) = b.ins().uadd_overflow(a1, b1);
            let carry = b.ins().uextend(I64, carry);
            let (high, over2) = b.ins().uadd_overflow(high, carry);
            let overflow = b.ins().bor(over1, over2);
            (vec![low, high], Some(overflow))
        }
        "sub128" => {
            let (low, borrow) = b.ins().usub_overflow(a0, b0);
            let (high, under1) = b.ins().usub_overflow(a1, b1);
            let borrow = b.ins().uextend(I64, borrow);
            let (high, under2) = b.ins().usub_overflow(high, borrow);
            let overflow = b.ins().bor(under1, under2);
            (vec![low, high], Some(overflow))
        }
        "mul64" => (vec![b.ins().imul(a0, b0), b.ins().umulhi(a0, b0)], None),
        "mul128" => {
            // Below 2^128 only if one high word is zero; then the product is
            // a0·b0 + (a1·b0 + a0·b1)·2^64 with one cross term zero.
            let both_high = {
                let x = nonzero(b, a1);
                let y = nonzero(b, b1);
                b.ins().band(x, y)
            };
            let cross_high = {
                let x = b.ins().umulhi(a1, b0);
                let y = b.ins().umulhi(a0, b1);
                let either = b.ins().bor(x, y);
                nonzero(b, either)
            };
            let cross = {
                let x = b.ins().imul(a1, b0);
                let y = b.ins().imul(a0, b1);
                b.ins().iadd(x, y)
            };
            let low = b.ins().imul(a0, b0);
            let carry_in = b.ins().umulhi(a0, b0);
            let (high, over) = b.ins().uadd_overflow(carry_in, cross);
            let overflow = b.ins().bor(both_high, cross_high);
            let overflow = b.ins().bor(overflow, over);
            (vec![low, high], Some(overflow))
        }
        "mulq64" => {
            // Schoolbook 2×2 words; keep words 1 and 2 of the 256-bit product, trap if word 3
            // is not zero (the product is below 2^256, so word 3 = hi(a1·b1) + carries).
            let (hi00, lo01, hi01) = (
                b.ins().umulhi(a0, b0),
                b.ins().imul(a0, b1),
                b.ins().umulhi(a0, b1),
            );
            let (lo10, hi10) = (b.ins().imul(a1, b0), b.ins().umulhi(a1, b0));
            let (lo11, hi11) = (b.ins().imul(a1, b1), b.ins().umulhi(a1, b1));
            let (w1, c1) = b.ins().uadd_overflow(hi00, lo01);
            let (w1, c2) = b.ins().uadd_overflow(w1, lo10);
            let (w2, c3) = b.ins().uadd_overflow(hi01, hi10);
            let (w2, c4) = b.ins().uadd_overflow(w2, lo11);
            let carry1 = {
                let x = b.ins().uextend(I64, c1);
                let y = b.ins().uextend(I64, c2);
                b.ins().iadd(x, y)
            };
            let (w2, c5) = b.ins().uadd_overflow(w2, carry1);
            let carries = b.ins().bor(c3, c4);
            let carries = b.ins().bor(carries, c5);
            let high = nonzero(b, hi11);
            let overflow = b.ins().bor(high, carries);
            (vec![w1, w2], Some(overflow))
        }
        _ => return None,
    })
}
