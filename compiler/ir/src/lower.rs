//! IR → CurveVM module, with the static gas bound of every entrypoint, the guard list and the
//! source map, all from one pass.
//!
//! Register use: every variable lives in a scratch slot; r7–r11 are temporaries, r1–r6 carry
//! host-call arguments and results, r16–r20 microcode operands. Each statement's gas is the number
//! of instructions it emits (one gas each) plus, for a microcode CALL, the routine's measured
//! cost and, for a host call, the function's formula at the declared largest units (for
//! `invoke`, plus the callee's declared gas cap, which the VM enforces). A
//! conditional costs its test plus its dearer arm; a loop its set-up plus `max` iterations.

use curvevm::builder::{Builder, Label};
use curvevm::hostcall;
use curvevm::interp::routine_costs;
use curvevm::isa::{Cond as VmCond, Reg, Segment, flag};
use curvevm::microcode;
use curvevm::module::{Entry, Layout, Module};

use crate::ir::{Addr, Cond, Function, Origin, Program, Rvalue, Stmt, Subroutine, Ty, Var};

/// The longest chain of nested subroutine calls (the VM allows 64 frames; microcode routines
/// and the entry take some).
pub const MAX_SUBROUTINE_DEPTH: usize = 32;

/// Temporaries.
const T0: Reg = 7;
const T1: Reg = 8;
const T2: Reg = 9;
const T3: Reg = 10;
/// Index register of indexed addresses.
const TI: Reg = 11;
/// Microcode operand registers.
const A0: Reg = 16;
const A1: Reg = 17;
const B0: Reg = 18;
const B1: Reg = 19;
const C0: Reg = 20;

/// A runtime guard the compiler inserted: the VM aborts at `pc` with `code` when it fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    /// The aborting instruction.
    pub pc: u32,
    /// The abort code.
    pub code: u8,
    /// What it protects.
    pub what: &'static str,
    /// The entrypoint it is in.
    pub entry: String,
    /// The template step it comes from.
    pub origin: Option<Origin>,
}

/// Instructions `start..end` come from `origin` (`None`: a microcode routine or glue).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRange {
    /// First pc.
    pub start: u32,
    /// One past the last pc.
    pub end: u32,
    /// The template step.
    pub origin: Option<Origin>,
    /// The routine, for microcode.
    pub routine: Option<&'static str>,
}

impl SourceRange {
    /// What the range is, as manifests and listings name it: the template step, `microcode
    /// @name`, or `return` (a function's closing `ret`).
    pub fn step(&self) -> String {
        match (self.origin, self.routine) {
            (Some(origin), _) => origin.step.to_string(),
            (None, Some(routine)) => format!("microcode @{routine}"),
            (None, None) => "return".into(),
        }
    }
}

/// The lowering's output.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The module.
    pub module: Module,
    /// Worst-case gas per entrypoint, in entry order.
    pub gas_bounds: Vec<(String, u64)>,
    /// Each entrypoint's bound split by template step, in entry order: the gas of the
    /// statements from each of the body's top-level step markers to the next (a step's loops,
    /// branches and subroutine calls included; statements before the first marker under the
    /// entry's own name). The parts add up to the entry's bound less its return.
    pub step_gas: Vec<(String, Vec<(String, u64)>)>,
    /// Every guard, in pc order.
    pub guards: Vec<Guard>,
    /// The pc → origin map, in pc order, covering every instruction.
    pub source_map: Vec<SourceRange>,
}

impl Lowered {
    /// The source range holding `pc`.
    pub fn origin_at(&self, pc: u32) -> Option<&SourceRange> {
        self.source_map
            .iter()
            .find(|range| range.start <= pc && pc < range.end)
    }

    /// The gas bound of entrypoint `name`.
    pub fn gas_bound(&self, name: &str) -> Option<u64> {
        self.gas_bounds
            .iter()
            .find(|(entry, _)| entry == name)
            .map(|(_, gas)| *gas)
    }
}

/// A template that does not lower: a type error or a misuse (a bug in the template, reported
/// with the entrypoint and variable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LowerError(pub String);

impl std::fmt::Display for LowerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "template does not lower: {}", self.0)
    }
}

impl std::error::Error for LowerError {}

struct Lowering<'a> {
    b: Builder,
    function: &'a Function,
    /// Scratch word of each variable.
    slots: Vec<u32>,
    origin: Option<Origin>,
    marks: Vec<(u32, Option<Origin>)>,
    guards: Vec<Guard>,
    /// CALLs to patch once routines are placed: (pc, routine id).
    calls: Vec<(u32, u16)>,
    /// The program's subroutines, the scratch slot of each of their variables, and the gas
    /// bound of each one lowered so far (callees are lowered before their callers).
    subroutines: &'a [Subroutine],
    subroutine_slots: &'a [Vec<u32>],
    subroutine_bounds: &'a [Option<u64>],
    /// Subroutine CALLs to patch once subroutines are placed: (pc, subroutine index).
    subroutine_calls: Vec<(u32, usize)>,
}

/// The program's subroutines, their frames' slots and the bounds known so far.
type SubroutineContext<'a> = (&'a [Subroutine], &'a [Vec<u32>], &'a [Option<u64>]);

impl<'a> Lowering<'a> {
    /// A lowering of `function` placed at `base`, its variables in `slots`.
    fn new(
        base: u32,
        function: &'a Function,
        slots: Vec<u32>,
        (subroutines, subroutine_slots, subroutine_bounds): SubroutineContext<'a>,
    ) -> Lowering<'a> {
        Lowering {
            b: Builder::new(base),
            function,
            slots,
            origin: None,
            marks: Vec::new(),
            guards: Vec::new(),
            calls: Vec::new(),
            subroutines,
            subroutine_slots,
            subroutine_bounds,
            subroutine_calls: Vec::new(),
        }
    }

    fn ty(&self, var: Var) -> Result<Ty, LowerError> {
        self.function
            .vars
            .get(var.0 as usize)
            .map(|(_, ty)| *ty)
            .ok_or_else(|| {
                LowerError(format!(
                    "`{}` uses undeclared v{}",
                    self.function.name, var.0
                ))
            })
    }

    fn expect(&self, var: Var, ty: Ty) -> Result<u32, LowerError> {
        let actual = self.ty(var)?;
        if actual != ty {
            let (name, _) = &self.function.vars[var.0 as usize];
            return Err(LowerError(format!(
                "`{}`: {name} (v{}) is {actual:?}, expected {ty:?}",
                self.function.name, var.0
            )));
        }
        Ok(self.slots[var.0 as usize])
    }

    fn load_var(&mut self, reg: Reg, var: Var, word: u32) {
        let slot = self.slots[var.0 as usize];
        self.b.load(reg, Segment::Scratch, slot + word);
    }

    fn store_var(&mut self, reg: Reg, var: Var, word: u32) {
        let slot = self.slots[var.0 as usize];
        self.b.store(reg, Segment::Scratch, slot + word);
    }

    fn mark(&mut self) {
        let pc = self.b.pc();
        if self.marks.last().map(|(_, origin)| *origin) != Some(self.origin) {
            self.marks.push((pc, self.origin));
        }
    }

    /// A CALL of routine `name`; returns its gas beyond the CALL instruction itself.
    fn micro(&mut self, name: &str) -> u64 {
        let (id, _) = microcode::find(name).expect("the lowering only calls existing routines");
        self.calls.push((self.b.pc(), id));
        self.b.call_addr(VmCond::Always, 0, 0);
        routine_costs()[usize::from(id)].gas - 1
    }

    /// Evaluates `cond`: returns the VM condition (and its register) that holds exactly when
    /// `cond` does.
    fn test(&mut self, cond: Cond) -> Result<(VmCond, Reg), LowerError> {
        for var in cond.operands() {
            self.expect(var, Ty::U64)?;
        }
        let compare = flag::ADD_NEGATE | flag::ADD_NO_WRITE;
        Ok(match cond {
            // a + !b + 1 carries out exactly when a ≥ b.
            Cond::Lt(a, b) => {
                self.load_var(T0, a, 0);
                self.load_var(T1, b, 0);
                self.b.add(compare, T0, T1);
                (VmCond::NoCarry, 0)
            }
            Cond::Le(a, b) => {
                self.load_var(T0, b, 0);
                self.load_var(T1, a, 0);
                self.b.add(compare, T0, T1);
                (VmCond::Carry, 0)
            }
            // Adding 2^63 to both maps i64 order onto u64 order.
            Cond::LtSigned(a, b) | Cond::LeSigned(a, b) => {
                let (first, second, holds) = match cond {
                    Cond::LtSigned(..) => (a, b, VmCond::NoCarry),
                    _ => (b, a, VmCond::Carry),
                };
                self.load_var(T0, first, 0);
                self.load_var(T1, second, 0);
                // T3: `Rvalue::Test` keeps its answer in T2.
                self.b.load_high(T3, 0x8000_0000);
                self.b.add(0, T0, T3);
                self.b.add(0, T1, T3);
                self.b.add(compare, T0, T1);
                (holds, 0)
            }
            Cond::Eq(a, b) | Cond::Ne(a, b) => {
                self.load_var(T0, a, 0);
                self.load_var(T1, b, 0);
                self.b.add(flag::ADD_NEGATE, T0, T1);
                let holds = if matches!(cond, Cond::Eq(..)) {
                    VmCond::Zero
                } else {
                    VmCond::NonZero
                };
                (holds, T0)
            }
            Cond::Zero(a) => {
                self.load_var(T0, a, 0);
                (VmCond::Zero, T0)
            }
            Cond::NonZero(a) => {
                self.load_var(T0, a, 0);
                (VmCond::NonZero, T0)
            }
        })
    }

    fn jump_unless(&mut self, cond: Cond, target: Label) -> Result<(), LowerError> {
        let (holds, reg) = self.test(cond)?;
        self.b.jump(negate(holds), reg, target);
        Ok(())
    }

    fn address(
        &mut self,
        addr: Addr,
        word: u32,
    ) -> Result<(Segment, Option<Reg>, u32), LowerError> {
        Ok(match addr {
            Addr::Fixed(segment, at) => (segment, None, at + word),
            Addr::Indexed(segment, index, offset) => {
                self.expect(index, Ty::U64)?;
                self.load_var(TI, index, 0);
                (segment, Some(TI), offset + word)
            }
            Addr::Field(table, index, field) => {
                self.expect(index, Ty::U64)?;
                let (offset, words) = table.record.offset_of(field).ok_or_else(|| {
                    LowerError(format!(
                        "`{}`: record `{}` has no field `{field}`",
                        self.function.name, table.record.name
                    ))
                })?;
                if word >= words {
                    return Err(LowerError(format!(
                        "`{}`: field `{}.{field}` has {words} word(s), word {word} accessed",
                        self.function.name, table.record.name
                    )));
                }
                // index < capacity, else abort: the index carries into `capacity − 1 − index`
                // only when it is in range.
                self.load_var(TI, index, 0);
                self.b.load_imm(T3, table.capacity);
                self.b.add(flag::ADD_NEGATE | flag::ADD_NO_WRITE, TI, T3);
                self.guards.push(Guard {
                    pc: self.b.pc(),
                    code: table.code,
                    what: "record index < table capacity",
                    entry: self.function.name.clone(),
                    origin: self.origin,
                });
                self.b.abort(VmCond::Carry, 0, table.code);
                // TI ← index × record words, by doubling and adding (MSB first).
                let stride = table.record.words();
                self.b.load_imm(T3, 0);
                for bit in (0..32 - stride.leading_zeros()).rev() {
                    self.b.add(0, T3, T3);
                    if stride >> bit & 1 == 1 {
                        self.b.add(0, T3, TI);
                    }
                }
                self.b.mov(TI, T3);
                (table.segment, Some(TI), table.base + offset + word)
            }
        })
    }

    fn load_from(&mut self, reg: Reg, addr: Addr, word: u32) -> Result<(), LowerError> {
        match self.address(addr, word)? {
            (segment, None, at) => self.b.load(reg, segment, at),
            (segment, Some(index), offset) => self.b.load_indirect(reg, segment, index, offset),
        }
        Ok(())
    }

    fn store_to(&mut self, reg: Reg, addr: Addr, word: u32) -> Result<(), LowerError> {
        match self.address(addr, word)? {
            (segment, None, at) => self.b.store(reg, segment, at),
            (segment, Some(index), offset) => self.b.store_indirect(reg, segment, index, offset),
        }
        Ok(())
    }

    /// Lowers `dst ← value`; returns the gas beyond one per emitted instruction.
    fn assign(&mut self, dst: Var, value: &Rvalue) -> Result<u64, LowerError> {
        let ty = self.ty(dst)?;
        let u64_only = |l: &Self, vars: &[Var]| -> Result<(), LowerError> {
            l.expect(dst, Ty::U64)?;
            vars.iter()
                .try_for_each(|v| l.expect(*v, Ty::U64).map(|_| ()))
        };
        let mut extra = 0;
        match value {
            Rvalue::Const(value) => {
                if ty == Ty::U64 && *value > u128::from(u64::MAX) {
                    return Err(LowerError(format!(
                        "`{}`: constant {value} does not fit u64",
                        self.function.name
                    )));
                }
                for word in 0..ty.words() {
                    self.b.load_u64(T0, (value >> (64 * word)) as u64);
                    self.store_var(T0, dst, word);
                }
            }
            Rvalue::Copy(source) => {
                self.expect(*source, ty)?;
                for word in 0..ty.words() {
                    self.load_var(T0, *source, word);
                    self.store_var(T0, dst, word);
                }
            }
            Rvalue::Load(addr) => {
                for word in 0..ty.words() {
                    self.load_from(T0, *addr, word)?;
                    self.store_var(T0, dst, word);
                }
            }
            Rvalue::Add(a, b) | Rvalue::Sub(a, b) => {
                self.expect(*a, ty)?;
                self.expect(*b, ty)?;
                let negate = if matches!(value, Rvalue::Sub(..)) {
                    flag::ADD_NEGATE
                } else {
                    0
                };
                self.load_var(T0, *a, 0);
                self.load_var(T1, *b, 0);
                if ty == Ty::U64 {
                    self.b.add(negate | flag::ADD_CHECKED, T0, T1);
                } else {
                    // Loads leave the carry alone, so the high words can be read after the
                    // low add and combined with its carry.
                    self.b.add(negate, T0, T1);
                    self.load_var(T2, *a, 1);
                    self.load_var(T3, *b, 1);
                    self.b
                        .add(negate | flag::ADD_CARRY_IN | flag::ADD_CHECKED, T2, T3);
                    self.store_var(T2, dst, 1);
                }
                self.store_var(T0, dst, 0);
            }
            Rvalue::AddSigned(a, b) | Rvalue::SubSigned(a, b) | Rvalue::Neg(b @ a) => {
                self.expect(*b, ty)?;
                let negation = matches!(value, Rvalue::Neg(..));
                if !negation {
                    self.expect(*a, ty)?;
                }
                let name = match (value, ty) {
                    (Rvalue::AddSigned(..), Ty::U64) => "adds",
                    (Rvalue::AddSigned(..), Ty::U128) => "adds128",
                    (_, Ty::U64) => "subs",
                    (_, Ty::U128) => "subs128",
                };
                for word in 0..ty.words() {
                    let (a_reg, b_reg) = [(A0, B0), (A1, B1)][word as usize];
                    if negation {
                        self.b.load_imm(a_reg, 0);
                    } else {
                        self.load_var(a_reg, *a, word);
                    }
                    self.load_var(b_reg, *b, word);
                }
                extra += self.micro(name);
                for word in 0..ty.words() {
                    self.store_var([A0, A1][word as usize], dst, word);
                }
            }
            Rvalue::MulDivSigned(a, b, c) => {
                u64_only(self, &[*a, *b, *c])?;
                self.load_var(A0, *a, 0);
                self.load_var(B0, *b, 0);
                self.load_var(C0, *c, 0);
                extra += self.micro("muldivs");
                self.store_var(A0, dst, 0);
            }
            Rvalue::AddWrapping(a, b) => {
                u64_only(self, &[*a, *b])?;
                self.load_var(T0, *a, 0);
                self.load_var(T1, *b, 0);
                self.b.add(0, T0, T1);
                self.store_var(T0, dst, 0);
            }
            Rvalue::WideMul(a, b) => {
                self.expect(dst, Ty::U128)?;
                self.expect(*a, Ty::U64)?;
                self.expect(*b, Ty::U64)?;
                self.load_var(A0, *a, 0);
                self.load_var(B0, *b, 0);
                extra += self.micro("mul64");
                self.store_var(A0, dst, 0);
                self.store_var(A1, dst, 1);
            }
            Rvalue::Mul(a, b) => {
                self.expect(dst, Ty::U128)?;
                self.expect(*a, Ty::U128)?;
                self.expect(*b, Ty::U128)?;
                for (reg, var, word) in [(A0, a, 0), (A1, a, 1), (B0, b, 0), (B1, b, 1)] {
                    self.load_var(reg, *var, word);
                }
                extra += self.micro("mul128");
                self.store_var(A0, dst, 0);
                self.store_var(A1, dst, 1);
            }
            Rvalue::Div(a, b) => {
                self.expect(dst, Ty::U128)?;
                self.expect(*a, Ty::U128)?;
                self.expect(*b, Ty::U128)?;
                for (reg, var, word) in [(A0, a, 0), (A1, a, 1), (B0, b, 0), (B1, b, 1)] {
                    self.load_var(reg, *var, word);
                }
                extra += self.micro("div128");
                self.store_var(A0, dst, 0);
                self.store_var(A1, dst, 1);
            }
            Rvalue::ExpNeg(a) | Rvalue::Ln(a) => {
                self.expect(dst, Ty::U128)?;
                self.expect(*a, Ty::U128)?;
                self.load_var(A0, *a, 0);
                self.load_var(A1, *a, 1);
                let routine = if matches!(value, Rvalue::ExpNeg(_)) {
                    "exp_neg"
                } else {
                    "ln"
                };
                extra += self.micro(routine);
                self.store_var(A0, dst, 0);
                self.store_var(A1, dst, 1);
            }
            Rvalue::MulDiv(a, b, c) => {
                u64_only(self, &[*a, *b, *c])?;
                self.load_var(A0, *a, 0);
                self.load_var(B0, *b, 0);
                self.load_var(C0, *c, 0);
                extra += self.micro("muldiv");
                self.store_var(A0, dst, 0);
            }
            // A constant left shift is that many doublings (one gas each, bits shifted out are
            // lost as with `shl`), far below the 143-gas microcode routine for any n < 64.
            Rvalue::Shl(a, n) if *n < 64 => {
                u64_only(self, &[*a])?;
                self.load_var(T0, *a, 0);
                for _ in 0..*n {
                    self.b.add(0, T0, T0);
                }
                self.store_var(T0, dst, 0);
            }
            Rvalue::Shr(a, n) | Rvalue::Shl(a, n) => {
                u64_only(self, &[*a])?;
                self.load_var(A0, *a, 0);
                self.b.load_imm(B0, u32::from(*n));
                let name = if matches!(value, Rvalue::Shr(..)) {
                    "shr"
                } else {
                    "shl"
                };
                extra += self.micro(name);
                self.store_var(A0, dst, 0);
            }
            Rvalue::Widen(a) => {
                self.expect(dst, Ty::U128)?;
                self.expect(*a, Ty::U64)?;
                self.load_var(T0, *a, 0);
                self.store_var(T0, dst, 0);
                self.b.load_imm(T1, 0);
                self.store_var(T1, dst, 1);
            }
            Rvalue::Low(a) => {
                self.expect(dst, Ty::U64)?;
                self.expect(*a, Ty::U128)?;
                self.load_var(T0, *a, 0);
                self.store_var(T0, dst, 0);
            }
            Rvalue::High(a) => {
                self.expect(dst, Ty::U64)?;
                self.expect(*a, Ty::U128)?;
                self.load_var(T0, *a, 1);
                self.store_var(T0, dst, 0);
            }
            Rvalue::Join(lo, hi) => {
                self.expect(dst, Ty::U128)?;
                self.expect(*lo, Ty::U64)?;
                self.expect(*hi, Ty::U64)?;
                self.load_var(T0, *lo, 0);
                self.load_var(T1, *hi, 0);
                self.store_var(T0, dst, 0);
                self.store_var(T1, dst, 1);
            }
            Rvalue::Test(cond) => {
                self.expect(dst, Ty::U64)?;
                self.b.load_imm(T2, 0);
                let (holds, reg) = self.test(*cond)?;
                let skip = self.b.label();
                self.b.jump(negate(holds), reg, skip);
                self.b.load_imm(T2, 1);
                self.b.bind(skip);
                self.store_var(T2, dst, 0);
            }
        }
        Ok(extra)
    }

    /// Lowers a body; returns its worst-case gas.
    fn body(&mut self, body: &[Stmt]) -> Result<u64, LowerError> {
        let mut gas = 0u64;
        for stmt in body {
            gas = gas.saturating_add(self.stmt(stmt)?);
        }
        Ok(gas)
    }

    /// Lowers one statement; returns its worst-case gas.
    fn stmt(&mut self, stmt: &Stmt) -> Result<u64, LowerError> {
        if let Stmt::At(origin) = stmt {
            self.origin = Some(*origin);
            return Ok(0);
        }
        self.mark();
        let start = self.b.pc();
        let emitted = |l: &Self| u64::from(l.b.pc() - start);
        Ok(match stmt {
            Stmt::At(_) => 0,
            Stmt::Assign(dst, value) => {
                let extra = self.assign(*dst, value)?;
                emitted(self) + extra
            }
            Stmt::Store(addr, var) => {
                let ty = self.ty(*var)?;
                for word in 0..ty.words() {
                    self.load_var(T0, *var, word);
                    self.store_to(T0, *addr, word)?;
                }
                emitted(self)
            }
            Stmt::If {
                cond,
                then_body,
                else_body,
            } => {
                let (otherwise, end) = (self.b.label(), self.b.label());
                self.jump_unless(*cond, otherwise)?;
                let test = emitted(self);
                let origin = self.origin;
                let then_gas = self.body(then_body)?;
                if !else_body.is_empty() {
                    self.b.jump(VmCond::Always, 0, end);
                }
                self.origin = origin;
                self.mark();
                self.b.bind(otherwise);
                let else_gas = self.body(else_body)?;
                self.b.bind(end);
                self.origin = origin;
                let jump = u64::from(!else_body.is_empty());
                test + (then_gas + jump).max(else_gas)
            }
            Stmt::Loop {
                index,
                count,
                max,
                code,
                body,
            } => {
                self.expect(*index, Ty::U64)?;
                self.expect(*count, Ty::U64)?;
                // count ≤ max, else abort.
                self.load_var(T0, *count, 0);
                self.b.load_imm(T1, *max);
                self.b.add(flag::ADD_NEGATE | flag::ADD_NO_WRITE, T1, T0);
                self.guards.push(Guard {
                    pc: self.b.pc(),
                    code: *code,
                    what: "loop count ≤ its static bound",
                    entry: self.function.name.clone(),
                    origin: self.origin,
                });
                self.b.abort(VmCond::NoCarry, 0, *code);
                self.b.load_imm(T0, 0);
                self.store_var(T0, *index, 0);
                let setup = emitted(self);
                let (top, end) = (self.b.label(), self.b.label());
                self.b.bind(top);
                let check_start = self.b.pc();
                self.load_var(T0, *index, 0);
                self.load_var(T1, *count, 0);
                self.b.add(flag::ADD_NEGATE | flag::ADD_NO_WRITE, T0, T1);
                self.b.jump(VmCond::Carry, 0, end);
                let check = u64::from(self.b.pc() - check_start);
                let origin = self.origin;
                let body_gas = self.body(body)?;
                self.origin = origin;
                self.mark();
                let step_start = self.b.pc();
                self.load_var(T0, *index, 0);
                self.b.add_imm(0, T0, 1);
                self.store_var(T0, *index, 0);
                self.b.jump(VmCond::Always, 0, top);
                let step = u64::from(self.b.pc() - step_start);
                self.b.bind(end);
                setup + u64::from(*max) * (check + body_gas + step) + check
            }
            Stmt::Guard { cond, code, what } => {
                let (holds, reg) = self.test(*cond)?;
                self.guards.push(Guard {
                    pc: self.b.pc(),
                    code: *code,
                    what,
                    entry: self.function.name.clone(),
                    origin: self.origin,
                });
                self.b.abort(negate(holds), reg, *code);
                emitted(self)
            }
            Stmt::Host {
                id,
                args,
                results,
                units_max,
            } => {
                let function = hostcall::function(*id)
                    .ok_or_else(|| LowerError(format!("no host function {id}")))?;
                if args.len() > 6 || results.len() > 3 {
                    return Err(LowerError(format!(
                        "`{}`: host call {} takes at most 6 arguments and 3 results",
                        self.function.name, function.name
                    )));
                }
                for (i, arg) in args.iter().enumerate() {
                    self.expect(*arg, Ty::U64)?;
                    self.load_var(1 + i as Reg, *arg, 0);
                }
                self.b.host(VmCond::Always, 0, *id);
                for (i, result) in results.iter().enumerate() {
                    self.expect(*result, Ty::U64)?;
                    self.store_var(1 + i as Reg, *result, 0);
                }
                let registers = [*units_max; curvevm::isa::REGISTERS];
                emitted(self) + function.gas.cost(&registers)
            }
            Stmt::Invoke(invoke) => {
                self.expect(invoke.program, Ty::U64)?;
                self.expect(invoke.status, Ty::U64)?;
                self.expect(invoke.detail, Ty::U64)?;
                let pointer = |(segment, address)| hostcall::pointer(segment, address);
                self.load_var(1, invoke.program, 0);
                self.b.load_imm(2, u32::from(invoke.entry));
                self.b.load_u64(3, pointer(invoke.args_at));
                self.b.load_imm(4, u32::from(invoke.arg_words));
                self.b.load_u64(5, pointer(invoke.ret_at));
                self.b.load_u64(6, pointer(invoke.interface_at));
                self.b.load_u64(7, invoke.gas_max);
                self.b.host(VmCond::Always, 0, hostcall::id::INVOKE);
                self.store_var(1, invoke.status, 0);
                self.store_var(2, invoke.detail, 0);
                let mut registers = [0; curvevm::isa::REGISTERS];
                registers[4] = u64::from(invoke.arg_words);
                let function = hostcall::function(hostcall::id::INVOKE).expect("invoke exists");
                (emitted(self) + function.gas.cost(&registers)).saturating_add(invoke.gas_max)
            }
            Stmt::Call {
                subroutine,
                args,
                results,
            } => {
                let index = subroutine_index(self.subroutines, subroutine)?;
                let callee = &self.subroutines[index];
                let slots = &self.subroutine_slots[index];
                let what = |kind: &str, found: usize, expected: usize| {
                    LowerError(format!(
                        "`{}` passes {found} {kind} to `{subroutine}`, which takes {expected}",
                        self.function.name
                    ))
                };
                if args.len() != callee.params.len() {
                    return Err(what("arguments", args.len(), callee.params.len()));
                }
                if results.len() != callee.results.len() {
                    return Err(what("results", results.len(), callee.results.len()));
                }
                let ty_in = |var: Var| callee.function.vars[var.0 as usize].1;
                for (arg, param) in args.iter().zip(&callee.params) {
                    let ty = ty_in(*param);
                    self.expect(*arg, ty)?;
                    for word in 0..ty.words() {
                        self.load_var(T0, *arg, word);
                        self.b
                            .store(T0, Segment::Scratch, slots[param.0 as usize] + word);
                    }
                }
                self.subroutine_calls.push((self.b.pc(), index));
                self.b.call_addr(VmCond::Always, 0, 0);
                for (result, dst) in callee.results.iter().zip(results) {
                    let ty = ty_in(*result);
                    self.expect(*dst, ty)?;
                    for word in 0..ty.words() {
                        self.b
                            .load(T0, Segment::Scratch, slots[result.0 as usize] + word);
                        self.store_var(T0, *dst, word);
                    }
                }
                let bound =
                    self.subroutine_bounds[index].expect("subroutines are lowered callees first");
                emitted(self) + bound
            }
            Stmt::Return => {
                self.b.ret(VmCond::Always, 0);
                1
            }
        })
    }
}

fn negate(cond: VmCond) -> VmCond {
    match cond {
        VmCond::Zero => VmCond::NonZero,
        VmCond::NonZero => VmCond::Zero,
        VmCond::Carry => VmCond::NoCarry,
        VmCond::NoCarry => VmCond::Carry,
        VmCond::Always => unreachable!("tests never produce an unconditional condition"),
    }
}

/// The index of subroutine `name`.
fn subroutine_index(subroutines: &[Subroutine], name: &str) -> Result<usize, LowerError> {
    subroutines
        .iter()
        .position(|s| s.function.name == name)
        .ok_or_else(|| LowerError(format!("no subroutine `{name}`")))
}

/// The subroutines a body calls, by index, in order of appearance.
fn callees(
    subroutines: &[Subroutine],
    body: &[Stmt],
    out: &mut Vec<usize>,
) -> Result<(), LowerError> {
    for stmt in body {
        match stmt {
            Stmt::Call { subroutine, .. } => out.push(subroutine_index(subroutines, subroutine)?),
            Stmt::If {
                then_body,
                else_body,
                ..
            } => {
                callees(subroutines, then_body, out)?;
                callees(subroutines, else_body, out)?;
            }
            Stmt::Loop { body, .. } => callees(subroutines, body, out)?,
            _ => {}
        }
    }
    Ok(())
}

/// The subroutines callees first, or the recursion that makes that impossible; and the
/// longest chain of nested calls below each.
fn call_order(subroutines: &[Subroutine]) -> Result<(Vec<usize>, Vec<usize>), LowerError> {
    let calls: Vec<Vec<usize>> = subroutines
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            callees(subroutines, &s.function.body, &mut out).map(|()| out)
        })
        .collect::<Result<_, _>>()?;
    // Depth-first, with the path for the error (0 unvisited, 1 on the path, 2 done).
    fn visit(
        at: usize,
        calls: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
        depth: &mut [usize],
        names: &dyn Fn(usize) -> String,
    ) -> Result<(), LowerError> {
        match state[at] {
            2 => return Ok(()),
            1 => {
                let start = path.iter().position(|p| *p == at).unwrap_or(0);
                let cycle: Vec<String> = path[start..]
                    .iter()
                    .chain([&at])
                    .map(|i| names(*i))
                    .collect();
                return Err(LowerError(format!(
                    "subroutines may not recurse: {}",
                    cycle.join(" → ")
                )));
            }
            _ => {}
        }
        state[at] = 1;
        path.push(at);
        for &callee in &calls[at] {
            visit(callee, calls, state, path, order, depth, names)?;
            depth[at] = depth[at].max(depth[callee] + 1);
        }
        path.pop();
        state[at] = 2;
        order.push(at);
        Ok(())
    }
    let names = |i: usize| format!("`{}`", subroutines[i].function.name);
    let mut state = vec![0u8; subroutines.len()];
    let mut order = Vec::new();
    let mut depth = vec![1; subroutines.len()];
    for start in 0..subroutines.len() {
        visit(
            start,
            &calls,
            &mut state,
            &mut Vec::new(),
            &mut order,
            &mut depth,
            &names,
        )?;
    }
    if let Some(deepest) = (0..subroutines.len()).find(|i| depth[*i] > MAX_SUBROUTINE_DEPTH) {
        return Err(LowerError(format!(
            "{} nests {} subroutine calls; at most {MAX_SUBROUTINE_DEPTH}",
            names(deepest),
            depth[deepest]
        )));
    }
    Ok((order, depth))
}

/// Scratch slots for `function`'s variables from `base`; returns them and the frame's words.
fn frame(function: &Function, base: u32) -> (Vec<u32>, u32) {
    let mut slots = Vec::with_capacity(function.vars.len());
    let mut next = base;
    for (_, ty) in &function.vars {
        slots.push(next);
        next += ty.words();
    }
    (slots, next - base)
}

/// Lowers `program`.
pub fn lower(program: &Program) -> Result<Lowered, LowerError> {
    let mut code = Vec::new();
    let mut entries = Vec::new();
    let mut gas_bounds = Vec::new();
    let mut step_gas = Vec::new();
    let mut guards = Vec::new();
    let mut marks: Vec<(u32, Option<Origin>)> = Vec::new();
    let mut calls = Vec::new();
    let mut subroutine_calls = Vec::new();
    let subroutines = &program.subroutines;
    let (order, _) = call_order(subroutines)?;
    // Entrypoints share one frame region (never active together); each subroutine gets its
    // own frame after it, so a call never clobbers a live variable of any caller.
    let entry_frames: Vec<(Vec<u32>, u32)> = program
        .functions
        .iter()
        .map(|f| frame(f, program.scratch_reserved))
        .collect();
    let var_words = entry_frames
        .iter()
        .map(|(_, words)| *words)
        .max()
        .unwrap_or(0);
    let mut next_frame = program.scratch_reserved + var_words;
    let subroutine_slots: Vec<Vec<u32>> = subroutines
        .iter()
        .map(|s| {
            let (slots, words) = frame(&s.function, next_frame);
            next_frame += words;
            slots
        })
        .collect();
    // Each subroutine's bound, callees first (a throwaway lowering: the code's size and cost
    // do not depend on where it is placed).
    let mut bounds: Vec<Option<u64>> = vec![None; subroutines.len()];
    for &index in &order {
        let function = &subroutines[index].function;
        let mut lowering = Lowering::new(
            0,
            function,
            subroutine_slots[index].clone(),
            (subroutines, &subroutine_slots, &bounds),
        );
        let gas = lowering.body(&function.body)? + 1;
        bounds[index] = Some(gas);
    }
    let functions = program
        .functions
        .iter()
        .zip(entry_frames)
        .map(|(f, (slots, _))| (f, slots, true))
        .chain(
            subroutines
                .iter()
                .zip(&subroutine_slots)
                .map(|(s, slots)| (&s.function, slots.clone(), false)),
        );
    let mut subroutine_pcs = Vec::new();
    for (function, slots, is_entry) in functions {
        let base = code.len() as u32;
        let mut lowering = Lowering::new(
            base,
            function,
            slots,
            (subroutines, &subroutine_slots, &bounds),
        );
        // The body statement by statement, each top-level step's gas summed under its name.
        let mut steps: Vec<(String, u64)> = Vec::new();
        let mut current = function.name.clone();
        for stmt in &function.body {
            if let Stmt::At(origin) = stmt {
                current = origin.step.to_string();
            }
            let gas = lowering.stmt(stmt)?;
            match steps.iter_mut().find(|(step, _)| *step == current) {
                Some((_, total)) => *total = total.saturating_add(gas),
                None if gas > 0 => steps.push((current.clone(), gas)),
                None => {}
            }
        }
        let gas = steps
            .iter()
            .fold(0u64, |sum, (_, gas)| sum.saturating_add(*gas))
            + 1;
        lowering.origin = None;
        lowering.mark();
        lowering.b.ret(VmCond::Always, 0);
        if is_entry {
            step_gas.push((function.name.clone(), steps));
            entries.push(Entry {
                name: function.name.clone(),
                pc: base,
                args: function.args,
                ret: function.ret,
            });
            gas_bounds.push((function.name.clone(), gas));
        } else {
            subroutine_pcs.push(base);
        }
        guards.extend(lowering.guards);
        marks.extend(lowering.marks);
        calls.extend(lowering.calls);
        subroutine_calls.extend(lowering.subroutine_calls);
        code.extend(lowering.b.finish());
    }
    for (at, index) in subroutine_calls {
        code[at as usize].imm = subroutine_pcs[index];
    }
    let functions_end = code.len() as u32;
    let placements = microcode::place(&mut code, &calls);
    let routine_ranges = placements.iter().map(|placement| {
        let routine = &microcode::ROUTINES[usize::from(placement.routine)];
        SourceRange {
            start: placement.pc,
            end: placement.pc + routine.instruction_count(),
            origin: None,
            routine: Some(routine.name),
        }
    });
    let mut source_map: Vec<SourceRange> = marks
        .iter()
        .enumerate()
        .map(|(i, &(start, origin))| SourceRange {
            start,
            end: marks.get(i + 1).map_or(functions_end, |(next, _)| *next),
            origin,
            routine: None,
        })
        .filter(|range| range.start < range.end)
        .collect();
    source_map.extend(routine_ranges);
    guards.sort_by_key(|guard| guard.pc);
    let module = Module {
        capabilities: program.capabilities,
        layout: Layout {
            params: program.params,
            args: program
                .functions
                .iter()
                .map(|f| u32::from(f.args))
                .max()
                .unwrap_or(0),
            ret: program
                .functions
                .iter()
                .map(|f| u32::from(f.ret))
                .max()
                .unwrap_or(0),
            scratch: next_frame,
            slab: program.slab,
            views: program.views.clone(),
        },
        entries,
        microcode: placements,
        code: code.iter().map(|insn| insn.encode()).collect(),
    };
    Ok(Lowered {
        module,
        gas_bounds,
        step_gas,
        guards,
        source_map,
    })
}
