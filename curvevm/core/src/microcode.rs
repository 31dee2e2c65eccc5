//! The microcode library: subtract/compare, shifts, u128 arithmetic and Q64.64 fixed point, each
//! a real sequence of the four opcodes with a constant instruction count.
//!
//! **Calling convention.** Operands arrive in `r16`–`r20` (`a = r16:r17`, `b = r18:r19` as
//! lo:hi pairs, `c = r20`), results leave in `r16`–`r19`. A routine may change only `r16`–`r31`;
//! on return every such register that is not a result is zero and the carry flag is clear, so the
//! state after a call is a function of the operands alone.
//!
//! **Constant time.** Every data-dependent choice is a balanced branch: both arms execute the same
//! number of instructions, so a routine's gas is the same for every operand. Traps (overflow,
//! division by zero) fire at one fixed instruction per trap kind.
//!
//! **Native runs.** An engine may run a placed routine with [`Routine::native`] instead of its
//! expansion, but only with the expansion's result, gas, trap kind and trap pc
//! (see [`crate::interp`]); a test checks that on random and edge operands.

use crate::builder::{Builder, Label};
use crate::isa::{ABORT_DIVISION_BY_ZERO, ABORT_LN_DOMAIN, Cond, Instruction, Opcode, Reg, flag};

const A0: Reg = 16;
const A1: Reg = 17;
const B0: Reg = 18;
const B1: Reg = 19;
const C0: Reg = 20;

/// Number of operand registers (`r16`–`r20`).
pub const OPERANDS: usize = 5;
/// Number of result registers (`r16`–`r19`).
pub const RESULTS: usize = 4;

/// How a routine can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MicroTrap {
    /// The result does not fit (the `overflow` trap).
    Overflow,
    /// A zero divisor (`abort` with [`ABORT_DIVISION_BY_ZERO`]).
    DivisionByZero,
    /// A logarithm of a value below 1 (`abort` with [`ABORT_LN_DOMAIN`]).
    LnDomain,
}

impl MicroTrap {
    /// The VM trap it raises.
    pub fn trap_kind(self) -> crate::trap::TrapKind {
        use crate::trap::TrapKind;
        match self {
            MicroTrap::Overflow => TrapKind::Overflow,
            MicroTrap::DivisionByZero => TrapKind::Abort {
                code: ABORT_DIVISION_BY_ZERO,
            },
            MicroTrap::LnDomain => TrapKind::Abort {
                code: ABORT_LN_DOMAIN,
            },
        }
    }
}

/// One routine of the library.
pub struct Routine {
    /// Name (`call @name` in assembly).
    pub name: &'static str,
    /// What it computes.
    pub summary: &'static str,
    /// Operand registers it reads.
    pub operands: &'static [Reg],
    /// Result registers it writes.
    pub results: &'static [Reg],
    emit: fn(&mut Builder),
    /// The native twin: operands `r16..=r20` → results `r16..=r19` (unused results 0), or a trap.
    pub native: fn([u64; OPERANDS]) -> Result<[u64; RESULTS], MicroTrap>,
    /// Operands that make each trap kind fire (used to measure where it fires).
    pub trap_witnesses: &'static [(MicroTrap, [u64; OPERANDS])],
}

impl Routine {
    /// The exact instructions of the routine placed at `base`, ending in `ret`.
    pub fn expand(&self, base: u32) -> Vec<Instruction> {
        let mut builder = Builder::new(base);
        (self.emit)(&mut builder);
        let mut code = builder.finish();
        let clobbered = self.clobbered_by(&code);
        let mut epilogue = Builder::new(base + code.len() as u32);
        for reg in &clobbered {
            epilogue.load_imm(*reg, 0);
        }
        // Adding zero never carries: this clears the carry flag and writes nothing.
        epilogue.add_imm(flag::ADD_NO_WRITE, A0, 0);
        epilogue.ret(Cond::Always, 0);
        code.extend(epilogue.finish());
        code
    }

    /// Registers other than the results that the routine leaves zero: every register the body
    /// writes, and every operand that is not a result.
    pub fn clobbered(&self) -> Vec<Reg> {
        let mut builder = Builder::new(0);
        (self.emit)(&mut builder);
        self.clobbered_by(&builder.finish())
    }

    fn clobbered_by(&self, body: &[Instruction]) -> Vec<Reg> {
        let written = body.iter().filter_map(|insn| {
            let writes = match insn.op {
                // A register moved onto itself (the no-op) writes nothing.
                Opcode::Load => !(insn.flags & flag::MODE_MASK == 1 && insn.rs == insn.rd),
                Opcode::Add => insn.flags & flag::ADD_NO_WRITE == 0,
                _ => false,
            };
            writes.then_some(insn.rd)
        });
        let mut clobbered: Vec<Reg> = written
            .chain(self.operands.iter().copied())
            .filter(|reg| !self.results.contains(reg))
            .collect();
        clobbered.sort_unstable();
        clobbered.dedup();
        clobbered
    }

    /// Length of the expansion in instructions.
    pub fn instruction_count(&self) -> u32 {
        self.expand(0).len() as u32
    }
}

/// The routine called `name`, with its id.
pub fn find(name: &str) -> Option<(u16, &'static Routine)> {
    ROUTINES
        .iter()
        .enumerate()
        .find(|(_, routine)| routine.name == name)
        .map(|(id, r)| (id as u16, r))
}

/// Places every routine that `calls` name once, after `code`, in id order, and points each
/// CALL (`(pc, routine id)`) at its routine. Returns the placements for the module.
pub fn place(code: &mut Vec<Instruction>, calls: &[(u32, u16)]) -> Vec<crate::module::Placement> {
    let mut used: Vec<u16> = calls.iter().map(|&(_, routine)| routine).collect();
    used.sort_unstable();
    used.dedup();
    let placements: Vec<crate::module::Placement> = used
        .into_iter()
        .map(|routine| {
            let pc = code.len() as u32;
            code.extend(ROUTINES[usize::from(routine)].expand(pc));
            crate::module::Placement { routine, pc }
        })
        .collect();
    for &(at, routine) in calls {
        let placement = placements
            .iter()
            .find(|p| p.routine == routine)
            .expect("every called routine is placed");
        code[at as usize].imm = placement.pc;
    }
    placements
}

/// Every routine, indexed by id (the id is part of the module format: append only).
pub static ROUTINES: [Routine; 20] = [
    Routine {
        name: "lt",
        summary: "r16 ← (r16 < r18) as 0/1",
        operands: &[A0, B0],
        results: &[A0],
        emit: emit_lt,
        native: |[a, _, b, _, _]| Ok([u64::from(a < b), 0, 0, 0]),
        trap_witnesses: &[],
    },
    Routine {
        name: "le",
        summary: "r16 ← (r16 ≤ r18) as 0/1",
        operands: &[A0, B0],
        results: &[A0],
        emit: emit_le,
        native: |[a, _, b, _, _]| Ok([u64::from(a <= b), 0, 0, 0]),
        trap_witnesses: &[],
    },
    Routine {
        name: "eq",
        summary: "r16 ← (r16 = r18) as 0/1",
        operands: &[A0, B0],
        results: &[A0],
        emit: emit_eq,
        native: |[a, _, b, _, _]| Ok([u64::from(a == b), 0, 0, 0]),
        trap_witnesses: &[],
    },
    Routine {
        name: "shl",
        summary: "r16 ← r16 << (r18 mod 64)",
        operands: &[A0, B0],
        results: &[A0],
        emit: emit_shl,
        native: |[a, _, b, _, _]| Ok([a << (b & 63), 0, 0, 0]),
        trap_witnesses: &[],
    },
    Routine {
        name: "shr",
        summary: "r16 ← r16 >> (r18 mod 64)",
        operands: &[A0, B0],
        results: &[A0],
        emit: emit_shr,
        native: |[a, _, b, _, _]| Ok([a >> (b & 63), 0, 0, 0]),
        trap_witnesses: &[],
    },
    Routine {
        name: "add128",
        summary: "r16:r17 ← a + b, trapping on overflow",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1],
        emit: emit_add128,
        native: |ops| {
            split(
                pair(ops, 0)
                    .checked_add(pair(ops, 2))
                    .ok_or(MicroTrap::Overflow)?,
            )
        },
        trap_witnesses: &[(MicroTrap::Overflow, [u64::MAX, u64::MAX, 1, 0, 0])],
    },
    Routine {
        name: "sub128",
        summary: "r16:r17 ← a − b, trapping on underflow",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1],
        emit: emit_sub128,
        native: |ops| {
            split(
                pair(ops, 0)
                    .checked_sub(pair(ops, 2))
                    .ok_or(MicroTrap::Overflow)?,
            )
        },
        trap_witnesses: &[(MicroTrap::Overflow, [0, 0, 1, 0, 0])],
    },
    Routine {
        name: "mul64",
        summary: "r16:r17 ← r16 × r18 (full 128-bit product, never traps)",
        operands: &[A0, B0],
        results: &[A0, A1],
        emit: emit_mul64,
        native: |[a, _, b, _, _]| split(u128::from(a) * u128::from(b)),
        trap_witnesses: &[],
    },
    Routine {
        name: "mul128",
        summary: "r16:r17 ← a × b, trapping on overflow",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1],
        emit: emit_mul128,
        native: |ops| {
            split(
                pair(ops, 0)
                    .checked_mul(pair(ops, 2))
                    .ok_or(MicroTrap::Overflow)?,
            )
        },
        trap_witnesses: &[(MicroTrap::Overflow, [0, 1, 0, 1, 0])],
    },
    Routine {
        name: "div128",
        summary: "r16:r17 ← ⌊a / b⌋, r18:r19 ← a mod b; b = 0 aborts",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1, B0, B1],
        emit: emit_div128,
        native: |ops| {
            let (a, b) = (pair(ops, 0), pair(ops, 2));
            if b == 0 {
                return Err(MicroTrap::DivisionByZero);
            }
            let (q, r) = (a / b, a % b);
            Ok([q as u64, (q >> 64) as u64, r as u64, (r >> 64) as u64])
        },
        trap_witnesses: &[(MicroTrap::DivisionByZero, [1, 0, 0, 0, 0])],
    },
    Routine {
        name: "mulq64",
        summary: "r16:r17 ← ⌊a × b / 2^64⌋ (Q64.64 multiply), trapping if it exceeds u128",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1],
        emit: emit_mulq64,
        native: |ops| {
            let [_, w1, w2, w3] = mul_256(pair(ops, 0), pair(ops, 2));
            if w3 != 0 {
                return Err(MicroTrap::Overflow);
            }
            Ok([w1, w2, 0, 0])
        },
        trap_witnesses: &[(MicroTrap::Overflow, [0, 2, 0, 1 << 63, 0])],
    },
    Routine {
        name: "divq64",
        summary: "r16:r17 ← ⌊a × 2^64 / b⌋ (Q64.64 divide); b = 0 aborts, a quotient above u128 traps",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1],
        emit: emit_divq64,
        native: |ops| {
            let (a, b) = (pair(ops, 0), pair(ops, 2));
            if b == 0 {
                return Err(MicroTrap::DivisionByZero);
            }
            if (a >> 64) >= b {
                return Err(MicroTrap::Overflow);
            }
            // Long division of the 192-bit a·2^64 by b, with the high word already reduced.
            let (quotient, _) = long_divide(a >> 64, a << 64, b, 128);
            split(quotient)
        },
        trap_witnesses: &[
            (MicroTrap::DivisionByZero, [1, 0, 0, 0, 0]),
            (MicroTrap::Overflow, [0, 1, 1, 0, 0]),
        ],
    },
    Routine {
        name: "muldiv",
        summary: "r16 ← ⌊r16 × r18 / r20⌋ (u128 intermediate); r20 = 0 aborts, a result above u64 traps",
        operands: &[A0, B0, C0],
        results: &[A0],
        emit: emit_muldiv,
        native: |[a, _, b, _, c]| {
            if c == 0 {
                return Err(MicroTrap::DivisionByZero);
            }
            let quotient = u128::from(a) * u128::from(b) / u128::from(c);
            let quotient = u64::try_from(quotient).map_err(|_| MicroTrap::Overflow)?;
            Ok([quotient, 0, 0, 0])
        },
        trap_witnesses: &[
            (MicroTrap::DivisionByZero, [1, 0, 1, 0, 0]),
            (MicroTrap::Overflow, [u64::MAX, 0, 2, 0, 1]),
        ],
    },
    Routine {
        name: "adds",
        summary: "r16 ← r16 + r18 as i64 (two's complement), trapping on signed overflow",
        operands: &[A0, B0],
        results: &[A0],
        emit: emit_adds,
        native: |[a, _, b, _, _]| {
            let sum = (a as i64)
                .checked_add(b as i64)
                .ok_or(MicroTrap::Overflow)?;
            Ok([sum as u64, 0, 0, 0])
        },
        trap_witnesses: &[(MicroTrap::Overflow, [i64::MAX as u64, 0, 1, 0, 0])],
    },
    Routine {
        name: "subs",
        summary: "r16 ← r16 − r18 as i64 (two's complement), trapping on signed overflow",
        operands: &[A0, B0],
        results: &[A0],
        emit: emit_subs,
        native: |[a, _, b, _, _]| {
            let difference = (a as i64)
                .checked_sub(b as i64)
                .ok_or(MicroTrap::Overflow)?;
            Ok([difference as u64, 0, 0, 0])
        },
        trap_witnesses: &[(MicroTrap::Overflow, [1 << 63, 0, 1, 0, 0])],
    },
    Routine {
        name: "adds128",
        summary: "r16:r17 ← a + b as i128 (two's complement), trapping on signed overflow",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1],
        emit: emit_adds128,
        native: |ops| {
            let sum = (pair(ops, 0) as i128)
                .checked_add(pair(ops, 2) as i128)
                .ok_or(MicroTrap::Overflow)?;
            split(sum as u128)
        },
        trap_witnesses: &[(MicroTrap::Overflow, [u64::MAX, i64::MAX as u64, 1, 0, 0])],
    },
    Routine {
        name: "subs128",
        summary: "r16:r17 ← a − b as i128 (two's complement), trapping on signed overflow",
        operands: &[A0, A1, B0, B1],
        results: &[A0, A1],
        emit: emit_subs128,
        native: |ops| {
            let difference = (pair(ops, 0) as i128)
                .checked_sub(pair(ops, 2) as i128)
                .ok_or(MicroTrap::Overflow)?;
            split(difference as u128)
        },
        trap_witnesses: &[(MicroTrap::Overflow, [0, 1 << 63, 1, 0, 0])],
    },
    Routine {
        name: "muldivs",
        summary: "r16 ← (r16 × r18) / r20 as i64, truncated toward zero (i128 intermediate); r20 = 0 aborts, a result outside i64 traps",
        operands: &[A0, B0, C0],
        results: &[A0],
        emit: emit_muldivs,
        native: |[a, _, b, _, c]| {
            if c == 0 {
                return Err(MicroTrap::DivisionByZero);
            }
            let product = i128::from(a as i64) * i128::from(b as i64);
            let quotient = product / i128::from(c as i64);
            let quotient = i64::try_from(quotient).map_err(|_| MicroTrap::Overflow)?;
            Ok([quotient as u64, 0, 0, 0])
        },
        trap_witnesses: &[
            (MicroTrap::DivisionByZero, [1, 0, 1, 0, 0]),
            (MicroTrap::Overflow, [1 << 63, 0, u64::MAX, 0, 1]),
        ],
    },
    Routine {
        name: "exp_neg",
        summary: "r16:r17 ← e^(−a) of a Q64.64 a (0 from 45 up), by `fixed::exp_neg`'s table algorithm and rounding",
        operands: &[A0, A1],
        results: &[A0, A1],
        emit: emit_exp_neg,
        native: |ops| split(crate::fixed::exp_neg(pair(ops, 0))),
        trap_witnesses: &[],
    },
    Routine {
        name: "ln",
        summary: "r16:r17 ← ln(a) of a Q64.64 a ≥ 1, by `fixed::ln`'s squaring algorithm and rounding; a below 1 aborts",
        operands: &[A0, A1],
        results: &[A0, A1],
        emit: emit_ln,
        native: |ops| {
            crate::fixed::ln(pair(ops, 0))
                .map_err(|_| MicroTrap::LnDomain)
                .and_then(split)
        },
        trap_witnesses: &[(MicroTrap::LnDomain, [1, 0, 0, 0, 0])],
    },
];

fn pair(ops: [u64; OPERANDS], index: usize) -> u128 {
    u128::from(ops[index]) | (u128::from(ops[index + 1]) << 64)
}

fn split(value: u128) -> Result<[u64; RESULTS], MicroTrap> {
    Ok([value as u64, (value >> 64) as u64, 0, 0])
}

/// The 256-bit product of two u128 values as four little-endian words.
fn mul_256(a: u128, b: u128) -> [u64; 4] {
    let (a0, a1) = (a as u64 as u128, a >> 64);
    let (b0, b1) = (b as u64 as u128, b >> 64);
    let low = a0 * b0;
    let mid1 = a0 * b1;
    let mid2 = a1 * b0;
    let high = a1 * b1;
    let (mid, mid_carry) = mid1.overflowing_add(mid2);
    let (low_full, low_carry) = low.overflowing_add(mid << 64);
    let high_full = high + (mid >> 64) + (u128::from(mid_carry) << 64) + u128::from(low_carry);
    [
        low_full as u64,
        (low_full >> 64) as u64,
        high_full as u64,
        (high_full >> 64) as u64,
    ]
}

/// Restoring division of `remainder:dividend` by `divisor` over `steps` dividend bits (MSB first);
/// requires `remainder < divisor`. Returns (quotient, remainder).
fn long_divide(mut remainder: u128, mut dividend: u128, divisor: u128, steps: u32) -> (u128, u128) {
    let mut quotient = 0u128;
    for _ in 0..steps {
        let top = remainder >> 127;
        remainder = (remainder << 1) | (dividend >> 127);
        dividend <<= 1;
        quotient <<= 1;
        if top == 1 || remainder >= divisor {
            remainder = remainder.wrapping_sub(divisor);
            quotient |= 1;
        }
    }
    (quotient, remainder)
}

// Temporaries.
const T0: Reg = 21;
const T1: Reg = 22;
const T2: Reg = 23;
const T3: Reg = 24;
const T4: Reg = 25;
const T5: Reg = 26;
const T6: Reg = 27;
const T7: Reg = 28;

const NONE: u8 = 0;
const CIN: u8 = flag::ADD_CARRY_IN;
const NEG: u8 = flag::ADD_NEGATE;
const NW: u8 = flag::ADD_NO_WRITE;
const CHK: u8 = flag::ADD_CHECKED;

/// `rd ← C` (two instructions).
fn carry_to(b: &mut Builder, rd: Reg) {
    b.load_imm(rd, 0);
    b.add_imm(CIN, rd, 0);
}

/// `C ← 0` (adding zero never carries).
fn clear_carry(b: &mut Builder) {
    b.add_imm(NW, A0, 0);
}

/// A balanced choice: runs `taken` when `cond` holds, else as many no-ops as `taken` has
/// instructions; both arms cost `len(taken) + 2`.
fn balanced(b: &mut Builder, cond: Cond, rs: Reg, taken: impl Fn(&mut Builder)) {
    let mut probe = Builder::new(0);
    taken(&mut probe);
    let arm = probe.finish().len();
    let (skip, join) = (b.label(), b.label());
    b.jump(invert(cond), rs, skip);
    taken(b);
    b.jump(Cond::Always, 0, join);
    b.bind(skip);
    for _ in 0..=arm {
        b.nop();
    }
    b.bind(join);
}

fn invert(cond: Cond) -> Cond {
    match cond {
        Cond::Zero => Cond::NonZero,
        Cond::NonZero => Cond::Zero,
        Cond::Carry => Cond::NoCarry,
        Cond::NoCarry => Cond::Carry,
        Cond::Always => unreachable!("balanced choices are conditional"),
    }
}

/// A counted loop running `body` exactly `count` times, using `counter`.
fn repeat(b: &mut Builder, counter: Reg, count: u32, body: impl Fn(&mut Builder)) {
    b.load_imm(counter, count);
    let top: Label = b.label();
    b.bind(top);
    body(b);
    b.decrement(counter);
    b.jump(Cond::NonZero, counter, top);
}

/// Traps with `overflow` when `value != 0`, at one fixed instruction.
fn trap_if_nonzero(b: &mut Builder, value: Reg, zero: Reg) {
    b.load_imm(zero, 0);
    b.add(NEG | CHK | NW, zero, value);
}

fn emit_lt(b: &mut Builder) {
    // b − a − 1 without borrow ⇔ b > a.
    clear_carry(b);
    b.add(NEG | CIN | NW, B0, A0);
    carry_to(b, A0);
}

fn emit_le(b: &mut Builder) {
    // b − a without borrow ⇔ b ≥ a.
    b.add(NEG | NW, B0, A0);
    carry_to(b, A0);
}

fn emit_eq(b: &mut Builder) {
    b.add(NEG, A0, B0);
    b.load_imm(B0, 0);
    // 0 − (a − b) without borrow ⇔ a = b.
    b.add(NEG | NW, B0, A0);
    carry_to(b, A0);
}

/// Leaves `amount mod 64` shifted to the top six bits of `amount` (58 doublings).
fn amount_to_top(b: &mut Builder, amount: Reg) {
    for _ in 0..58 {
        b.add(NONE, amount, amount);
    }
}

fn emit_shl(b: &mut Builder) {
    amount_to_top(b, B0);
    // A barrel shifter: bit j of the amount (MSB first) doubles a 2^j times.
    for j in (0..6).rev() {
        b.add(NONE, B0, B0);
        balanced(b, Cond::Carry, 0, |b| {
            for _ in 0..(1u32 << j) {
                b.add(NONE, A0, A0);
            }
        });
    }
}

fn emit_shr(b: &mut Builder) {
    amount_to_top(b, B0);
    // T0 ← amount mod 64, bit by bit; then keep = 64 − amount.
    b.load_imm(T0, 0);
    for _ in 0..6 {
        b.add(NONE, B0, B0);
        b.add(CIN, T0, T0);
    }
    b.load_imm(T1, 64);
    b.add(NEG, T1, T0);
    // Shift a out bit by bit; the first `keep` bits go into the result.
    b.load_imm(T2, 0);
    repeat(b, T3, 64, |b| {
        b.add(NONE, A0, A0);
        balanced(b, Cond::NonZero, T1, |b| {
            b.add(CIN, T2, T2);
            b.decrement(T1);
        });
    });
    b.mov(A0, T2);
}

fn emit_add128(b: &mut Builder) {
    b.add(NONE, A0, B0);
    b.add(CIN | CHK, A1, B1);
}

fn emit_sub128(b: &mut Builder) {
    b.add(NEG, A0, B0);
    b.add(NEG | CIN | CHK, A1, B1);
}

/// `words ← words << 1` over a little-endian multi-word value; C ← the bit shifted out.
fn shift_left(b: &mut Builder, words: &[Reg]) {
    for (index, &word) in words.iter().enumerate() {
        b.add(if index == 0 { NONE } else { CIN }, word, word);
    }
}

/// Horner multiplication over `steps` bits of `multiplier`, MSB first:
/// `acc ← 2·acc + bit·addend`. Every intermediate is at most the final product, so a carry out
/// of `acc` happens only when the product does not fit; `overflow`, if given, counts them.
/// `counter` counts the steps.
fn horner_multiply(
    b: &mut Builder,
    acc: &[Reg],
    multiplier: &[Reg],
    addend: &[Reg],
    overflow: Option<Reg>,
    (counter, steps): (Reg, u32),
) {
    for &word in acc.iter().chain(&overflow) {
        b.load_imm(word, 0);
    }
    let count_carry = |b: &mut Builder| {
        if let Some(counter) = overflow {
            b.add_imm(CIN, counter, 0);
        }
    };
    repeat(b, counter, steps, |b| {
        shift_left(b, acc);
        count_carry(b);
        shift_left(b, multiplier);
        balanced(b, Cond::Carry, 0, |b| {
            for (index, &word) in acc.iter().enumerate() {
                match (index, addend.get(index)) {
                    (0, Some(&source)) => b.add(NONE, word, source),
                    (_, Some(&source)) => b.add(CIN, word, source),
                    (_, None) => b.add_imm(CIN, word, 0),
                }
            }
            count_carry(b);
        });
    });
}

fn emit_mul64(b: &mut Builder) {
    horner_multiply(b, &[T0, T1], &[B0], &[A0], None, (T2, 64));
    b.mov(A0, T0);
    b.mov(A1, T1);
}

/// acc(T0:T1) ← a × b over 128 bits of b; T3 counts carries out of bit 127 (any ⇒ overflow).
fn emit_mul128(b: &mut Builder) {
    horner_multiply(b, &[T0, T1], &[B0, B1], &[A0, A1], Some(T3), (T2, 128));
    trap_if_nonzero(b, T3, T4);
    b.mov(A0, T0);
    b.mov(A1, T1);
}

/// Aborts with division by zero when `b` (r18:r19) is zero, in a constant two instructions
/// otherwise.
fn check_divisor128(b: &mut Builder) {
    let (low_nonzero, ok) = (b.label(), b.label());
    b.jump(Cond::NonZero, B0, low_nonzero);
    b.jump(Cond::NonZero, B1, ok);
    b.abort(Cond::Always, 0, ABORT_DIVISION_BY_ZERO);
    b.bind(low_nonzero);
    b.jump(Cond::Always, 0, ok);
    b.bind(ok);
}

/// Restoring division, `steps` times: shift the 256-bit (remainder T0:T1, dividend/quotient
/// A0:A1) left, catching the remainder's 129th bit in T5; when the remainder reaches the divisor
/// T6:T7, subtract it and set the quotient bit. Scratch T3, T4; counter T2.
fn divide_loop(b: &mut Builder, steps: u32) {
    repeat(b, T2, steps, |b| {
        shift_left(b, &[A0, A1, T0, T1]);
        carry_to(b, T5);
        b.mov(T3, T0);
        b.mov(T4, T1);
        b.add(NEG, T3, T6);
        b.add(NEG | CIN, T4, T7);
        b.add_imm(CIN, T5, 0);
        balanced(b, Cond::NonZero, T5, |b| {
            b.mov(T0, T3);
            b.mov(T1, T4);
            b.add_imm(NONE, A0, 1);
        });
    });
}

fn emit_div128(b: &mut Builder) {
    check_divisor128(b);
    b.mov(T6, B0);
    b.mov(T7, B1);
    b.load_imm(T0, 0);
    b.load_imm(T1, 0);
    divide_loop(b, 128);
    b.mov(B0, T0);
    b.mov(B1, T1);
}

fn emit_mulq64(b: &mut Builder) {
    // 256-bit Horner product in T0..T3 (never wraps); the result is words 1–2, word 3 must be 0.
    horner_multiply(b, &[T0, T1, T2, T3], &[B0, B1], &[A0, A1], None, (T4, 128));
    trap_if_nonzero(b, T3, T5);
    b.mov(A0, T1);
    b.mov(A1, T2);
}

fn emit_divq64(b: &mut Builder) {
    check_divisor128(b);
    // The quotient fits in 128 bits ⇔ a_hi < b ⇔ b − a_hi − 1 does not borrow (over 128 bits).
    clear_carry(b);
    b.add(NEG | CIN | NW, B0, A1);
    b.load_imm(T5, 0);
    b.add(NEG | CIN | NW, B1, T5);
    carry_to(b, T5);
    b.add_imm(NEG | CHK | NW, T5, 1);
    b.mov(T6, B0);
    b.mov(T7, B1);
    // remainder ← a_hi, dividend bits ← a_lo followed by 64 zeros.
    b.mov(T0, A1);
    b.load_imm(T1, 0);
    b.mov(A1, A0);
    b.load_imm(A0, 0);
    divide_loop(b, 128);
}

fn emit_muldiv(b: &mut Builder) {
    let ok = b.label();
    b.jump(Cond::NonZero, C0, ok);
    b.abort(Cond::Always, 0, ABORT_DIVISION_BY_ZERO);
    b.bind(ok);
    emit_mul64(b);
    // The quotient fits in 64 bits ⇔ p_hi < c ⇔ c − p_hi − 1 does not borrow.
    clear_carry(b);
    b.add(NEG | CIN | CHK | NW, C0, A1);
    // remainder ← p_hi, dividend bits ← p_lo then zeros; 64 steps leave the quotient in r16.
    b.mov(T0, A1);
    b.load_imm(T1, 0);
    b.mov(A1, A0);
    b.load_imm(A0, 0);
    b.mov(T6, C0);
    b.load_imm(T7, 0);
    divide_loop(b, 64);
}

/// The most-significant bit of `x` as 0/1 in `rd` (doubling carries it out).
fn sign_to(b: &mut Builder, x: Reg, rd: Reg) {
    b.add(NW, x, x);
    carry_to(b, rd);
}

/// Signed overflow of a sum whose top words were `top_a` and `top_b` before it (at most one
/// add with carry-in since): biased by 2^63, the 65-bit top sum `V` must satisfy
/// 2^63 ≤ V < 2^64 + 2^63, i.e. the carries out of `V` and of `V + 2^63` add up to exactly one.
/// Leaves `top_sum` (the biased top word) clobbered; traps `overflow` at one fixed instruction.
fn signed_top_add(b: &mut Builder, top_a: Reg, top_b: Reg, with_carry: bool, negate: bool) {
    b.load_high(T6, 0x8000_0000);
    b.add(NONE, top_a, T6);
    if !negate {
        b.add(NONE, top_b, T6);
    }
    // Replays the low words' carry (T7) into the biased top add.
    let flags = match (with_carry, negate) {
        (true, true) => NEG | CIN,
        (true, false) => CIN,
        (false, true) => NEG,
        (false, false) => NONE,
    };
    if with_carry {
        // C ← T7 (T7 is 0 or 1: adding all ones carries exactly when it is 1).
        b.load_high(T5, u32::MAX);
        b.add_imm(NONE, T5, u32::MAX);
        b.add(NW, T7, T5);
    }
    b.add(flags, top_a, top_b);
    carry_to(b, T4);
    b.add(NONE, top_a, T6);
    b.add_imm(CIN, T4, 0);
    // T4 − 1 must be zero.
    b.add_imm(flag::ADD_SIGN_EXTEND, T4, u32::MAX);
    trap_if_nonzero(b, T4, T3);
}

fn emit_adds(b: &mut Builder) {
    // a + b = (a + 2^63) + (b + 2^63) − 2^64: the biased sum's low word is the result.
    signed_top_add(b, A0, B0, false, false);
    b.add(NONE, A0, T6);
}

fn emit_subs(b: &mut Builder) {
    // (a + 2^63) − b ... computed as a biased minus b biased: the bias cancels.
    b.load_high(T6, 0x8000_0000);
    b.add(NONE, B0, T6);
    signed_top_add(b, A0, B0, false, true);
    b.add(NONE, A0, T6);
}

fn emit_adds128(b: &mut Builder) {
    b.add(NONE, A0, B0);
    carry_to(b, T7);
    signed_top_add(b, A1, B1, true, false);
    b.add(NONE, A1, T6);
}

fn emit_subs128(b: &mut Builder) {
    b.add(NEG, A0, B0);
    carry_to(b, T7);
    b.load_high(T6, 0x8000_0000);
    b.add(NONE, B1, T6);
    signed_top_add(b, A1, B1, true, true);
    b.add(NONE, A1, T6);
}

/// `x ← |x|` as an unsigned magnitude when `sign` is 1 (`i64::MIN` gives 2^63), balanced.
fn magnitude(b: &mut Builder, x: Reg, sign: Reg, scratch: Reg) {
    b.load_imm(scratch, 0);
    b.add(NEG, scratch, x);
    balanced(b, Cond::NonZero, sign, |b| b.mov(x, scratch));
}

fn emit_muldivs(b: &mut Builder) {
    const NEGATIVE: Reg = 29;
    const SIGN: Reg = 30;
    const FITS: Reg = 31;
    let ok = b.label();
    b.jump(Cond::NonZero, C0, ok);
    b.abort(Cond::Always, 0, ABORT_DIVISION_BY_ZERO);
    b.bind(ok);
    // Each operand's sign, summed into NEGATIVE, and each replaced by its magnitude
    // (`i64::MIN` gives 2^63).
    b.load_imm(NEGATIVE, 0);
    for operand in [A0, B0, C0] {
        sign_to(b, operand, SIGN);
        b.add(NONE, NEGATIVE, SIGN);
        magnitude(b, operand, SIGN, T0);
    }
    // NEGATIVE ∈ 0..=3; the result is negative when it is odd: fold 2 to 0 and 3 to 1.
    for (from, to) in [(2, 0), (3, 1)] {
        b.mov(T0, NEGATIVE);
        b.add_imm(flag::ADD_SIGN_EXTEND, T0, (-from) as u32);
        balanced(b, Cond::Zero, T0, |b| b.load_imm(NEGATIVE, to));
    }
    // |a|·|b| / |c| unsigned (as `muldiv`), except that a quotient of 2^64 or more is noted in
    // FITS, not trapped, and its high word cleared so that the division stays well defined.
    emit_mul64(b);
    clear_carry(b);
    b.add(NEG | CIN | NW, C0, A1);
    carry_to(b, FITS);
    b.load_imm(T0, 1);
    b.add(NEG, T0, FITS);
    balanced(b, Cond::NonZero, T0, |b| b.load_imm(A1, 0));
    b.mov(T0, A1);
    b.load_imm(T1, 0);
    b.mov(A1, A0);
    b.load_imm(A0, 0);
    b.mov(T6, C0);
    b.load_imm(T7, 0);
    divide_loop(b, 64);
    // One overflow trap for both ways out of range: the quotient did not fit u64, or its
    // magnitude is above 2^63 − 1 (2^63 when negative).
    b.load_high(T0, 0x8000_0000);
    b.add_imm(flag::ADD_SIGN_EXTEND, T0, u32::MAX);
    b.add(NONE, T0, NEGATIVE);
    b.add(NEG | NW, T0, A0);
    carry_to(b, T1);
    b.load_imm(T2, 1);
    b.add(NEG, T2, T1);
    b.load_imm(T1, 1);
    b.add(NEG, T1, FITS);
    b.add(NONE, T2, T1);
    trap_if_nonzero(b, T2, T3);
    b.load_imm(T0, 0);
    b.add(NEG, T0, A0);
    balanced(b, Cond::NonZero, NEGATIVE, |b| b.mov(A0, T0));
}

/// `acc ← x × constant` as a 256-bit product (four words; `x`, two words, is kept), with the
/// constant's bits unrolled MSB first — a doubling per bit and an add of `x` per set bit — so
/// there is no loop and no branch: the gas is fixed when the routine is emitted, and a product
/// costs ~4 instructions per bit of the constant plus 4 per set bit (a data multiplier's Horner
/// loop costs ~14 per bit).
fn multiply_by_known(b: &mut Builder, acc: [Reg; 4], x: [Reg; 2], constant: u128) {
    assert_ne!(constant, 0, "a known multiplier is nonzero");
    let bits = 128 - constant.leading_zeros();
    // The top bit is set: the accumulator starts at x.
    b.mov(acc[0], x[0]);
    b.mov(acc[1], x[1]);
    b.load_imm(acc[2], 0);
    b.load_imm(acc[3], 0);
    for bit in (0..bits - 1).rev() {
        shift_left(b, &acc);
        if constant >> bit & 1 == 1 {
            b.add(NONE, acc[0], x[0]);
            b.add(CIN, acc[1], x[1]);
            b.add_imm(CIN, acc[2], 0);
            b.add_imm(CIN, acc[3], 0);
        }
    }
}

/// `fixed::exp_neg`, step for step: the clamp at 45, `t = ⌊z × LOG2_E / 2^127⌋`, one
/// conditional table product per fraction bit (computed always, kept when the bit is set), and
/// the final `⌊r / 2^(63 + k)⌋` as the top half of `r << (65 − k)`. Each table product
/// `⌊r·T_i / 2^127⌋` is formed as `r − ⌈r·c_i / 2^127⌉` with `c_i = 2^127 − T_i` — the same
/// integer, since `r·T_i = r·2^127 − r·c_i` — because `c_i` has `i − 1` fewer bits than `T_i`
/// (T_i → 1), and both constants are multiplied unrolled ([`multiply_by_known`]). ~39,000 gas,
/// constant.
fn emit_exp_neg(b: &mut Builder) {
    const R0: Reg = 29;
    const R1: Reg = 30;
    let (fraction, k, big) = (B0, B1, C0);
    let acc = [T0, T1, T2, T3];
    let (next, nonzero, bit) = ([T4, T5], T6, T7);
    // big ← z ≥ 45 (the high word ≥ 45); then z ← 0 so that the rest stays in range.
    b.load_imm(big, 45);
    b.add(NEG | NW, A1, big);
    carry_to(b, big);
    balanced(b, Cond::NonZero, big, |b| {
        b.load_imm(A0, 0);
        b.load_imm(A1, 0);
    });
    // t = ⌊z × LOG2_E_Q127 / 2^127⌋: the product doubled once, its words 2 and 3.
    multiply_by_known(b, acc, [A0, A1], crate::fixed::LOG2_E_Q127);
    shift_left(b, &acc);
    b.mov(fraction, T2);
    b.mov(k, T3);
    // r = 1.0 in Q1.127; for fraction bit i (MSB first): r ← ⌊r × T_i / 2^127⌋ when it is set.
    b.load_imm(R0, 0);
    b.load_high(R1, 0x8000_0000);
    for factor in crate::fixed::EXP2_NEG {
        b.add(NONE, fraction, fraction);
        carry_to(b, bit);
        // r·c < 2^254: doubled, words 2–3 are ⌊r·c / 2^127⌋ and words 0–1 twice the remainder.
        multiply_by_known(b, acc, [R0, R1], (1u128 << 127) - factor);
        shift_left(b, &acc);
        b.load_imm(nonzero, 0);
        balanced(b, Cond::NonZero, T0, |b| b.load_imm(nonzero, 1));
        balanced(b, Cond::NonZero, T1, |b| b.load_imm(nonzero, 1));
        b.add(NONE, T2, nonzero);
        b.add_imm(CIN, T3, 0);
        b.mov(next[0], R0);
        b.mov(next[1], R1);
        b.add(NEG, next[0], T2);
        b.add(NEG | CIN, next[1], T3);
        balanced(b, Cond::NonZero, bit, |b| {
            b.mov(R0, next[0]);
            b.mov(R1, next[1]);
        });
    }
    // u = 65 − k ∈ [1, 65] (k ≤ 64), its seven bits moved to the top of the word.
    let shift = T4;
    b.load_imm(shift, 65);
    b.add(NEG, shift, k);
    for _ in 0..57 {
        b.add(NONE, shift, shift);
    }
    b.mov(T0, R0);
    b.mov(T1, R1);
    b.load_imm(T2, 0);
    b.load_imm(T3, 0);
    // A barrel shifter over the 256 bits: bit j of u (MSB first) doubles them 2^j times.
    for j in (0..7).rev() {
        b.add(NONE, shift, shift);
        balanced(b, Cond::Carry, 0, |b| {
            for _ in 0..(1u32 << j) {
                shift_left(b, &acc);
            }
        });
    }
    b.mov(A0, T2);
    b.mov(A1, T3);
    balanced(b, Cond::NonZero, big, |b| {
        b.load_imm(A0, 0);
        b.load_imm(A1, 0);
    });
}

/// `fixed::ln`, step for step: `x < 1` aborts; `x` shifted left until its top bit is bit 127
/// (`y ∈ [1, 2)` in Q1.127, `n` = 63 − the shifts); 64 squarings, each taking the next bit of
/// `log2 y` from bit 255 of the 256-bit square; then `⌊(n × 2^64 + bits) × LN_2 / 2^128⌋`.
/// ~125,000 gas, constant.
fn emit_ln(b: &mut Builder) {
    let (n, bits, bit) = (B0, B1, C0);
    let acc = [T0, T1, T2, T3];
    let multiplier = [T4, T5];
    let (inner, outer) = (T6, T7);
    let top = 29;
    let ok = b.label();
    b.jump(Cond::NonZero, A1, ok);
    b.abort(Cond::Always, 0, ABORT_LN_DOMAIN);
    b.bind(ok);
    // Normalise: 63 balanced steps, each doubling y while its top bit is clear.
    b.load_imm(n, 63);
    repeat(b, outer, 63, |b| {
        b.add(NW, A1, A1);
        carry_to(b, top);
        balanced(b, Cond::Zero, top, |b| {
            shift_left(b, &[A0, A1]);
            b.decrement(n);
        });
    });
    b.load_imm(bits, 0);
    repeat(b, outer, 64, |b| {
        b.mov(multiplier[0], A0);
        b.mov(multiplier[1], A1);
        horner_multiply(b, &acc, &multiplier, &[A0, A1], None, (inner, 128));
        // y² / 2^127 ≥ 2 ⇔ bit 255 of y²: the bit is 1 and y ← ⌊y² / 2^128⌋, else ⌊y² / 2^127⌋.
        b.add(NW, T3, T3);
        carry_to(b, bit);
        b.add(NONE, bits, bits);
        b.add(NONE, bits, bit);
        balanced(b, Cond::Zero, bit, |b| shift_left(b, &acc));
        b.mov(A0, T2);
        b.mov(A1, T3);
    });
    multiply_by_known(b, acc, [bits, n], crate::fixed::LN_2_Q128);
    b.mov(A0, T2);
    b.mov(A1, T3);
}

/// The microcode section of SPEC.md: each routine with its operands, results, length and gas.
pub fn spec_table() -> String {
    use core::fmt::Write;
    let costs = crate::interp::routine_costs();
    let mut out = String::from(
        "| id | routine | computes | operands | results | instructions | gas (call to ret) | traps |\n|---|---|---|---|---|---|---|---|\n",
    );
    let regs = |list: &[Reg]| {
        list.iter()
            .map(|r| format!("r{r}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (id, routine) in ROUTINES.iter().enumerate() {
        let traps = costs[id]
            .traps
            .iter()
            .map(|(kind, gas, offset)| format!("{kind:?} at +{offset} after {gas} gas"))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            out,
            "| {id} | `{}` | {} | {} | {} | {} | {} | {} |",
            routine.name,
            routine.summary,
            regs(routine.operands),
            regs(routine.results),
            routine.instruction_count(),
            costs[id].gas,
            if traps.is_empty() {
                "none".to_string()
            } else {
                traps
            },
        );
    }
    out
}
