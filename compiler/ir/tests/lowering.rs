//! Random straight-line IR functions (every value operation, conditions as values, a
//! conditional assignment) lowered and run on the interpreter and the JIT, against a plain-Rust
//! evaluation of the IR's documented semantics: same return words or the same trap, and gas
//! never above the static bound.

use std::sync::Arc;

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Program, Rvalue, Ty, Var};
use curvevm::interp::NoHost;
use curvevm::isa::{ABORT_DIVISION_BY_ZERO, Segment};
use curvevm::{CapabilitySet, Instance, TrapKind};
use curvevm_jit::JitProgram;
use proptest::prelude::*;

#[derive(Debug, PartialEq)]
enum Expected {
    Returned(Vec<u64>),
    Trap(TrapKind),
}

/// One generated operation: a kind and operand choices.
type Op = (u8, u16, u16, u16, u8);

struct Gen {
    b: FunctionBuilder,
    u64s: Vec<(Var, u64)>,
    u128s: Vec<(Var, u128)>,
    trap: Option<TrapKind>,
}

impl Gen {
    fn pick64(&self, i: u16) -> (Var, u64) {
        self.u64s[usize::from(i) % self.u64s.len()]
    }

    fn pick128(&self, i: u16) -> (Var, u128) {
        self.u128s[usize::from(i) % self.u128s.len()]
    }

    fn cond(&self, kind: u8, a: u16, c: u16) -> (Cond, bool) {
        let ((x, xv), (y, yv)) = (self.pick64(a), self.pick64(c));
        match kind % 6 {
            0 => (Cond::Lt(x, y), xv < yv),
            1 => (Cond::Le(x, y), xv <= yv),
            2 => (Cond::Eq(x, y), xv == yv),
            3 => (Cond::Ne(x, y), xv != yv),
            4 => (Cond::Zero(x), xv == 0),
            _ => (Cond::NonZero(x), xv != 0),
        }
    }

    fn let64(&mut self, value: Rvalue, reference: Option<u64>, trap: TrapKind) {
        let var = self.b.let_("x", Ty::U64, value);
        match reference {
            Some(v) => self.u64s.push((var, v)),
            None => {
                self.trap.get_or_insert(trap);
                self.u64s.push((var, 0));
            }
        }
    }

    fn let128(&mut self, value: Rvalue, reference: Option<u128>) {
        self.let128_or(value, reference, TrapKind::Overflow);
    }

    fn let128_or(&mut self, value: Rvalue, reference: Option<u128>, trap: TrapKind) {
        let var = self.b.let_("w", Ty::U128, value);
        match reference {
            Some(v) => self.u128s.push((var, v)),
            None => {
                self.trap.get_or_insert(trap);
                self.u128s.push((var, 0));
            }
        }
    }

    fn op(&mut self, (kind, a, c, d, imm): Op) {
        let ((x, xv), (y, yv), (z, zv)) = (self.pick64(a), self.pick64(c), self.pick64(d));
        let ((p, pv), (q, qv)) = (self.pick128(a), self.pick128(c));
        let overflow = TrapKind::Overflow;
        match kind % 16 {
            0 => {
                let value = (u64::from(a) << 40) ^ (u64::from(c) << 20) ^ u64::from(d);
                self.let64(Rvalue::Const(u128::from(value)), Some(value), overflow);
            }
            1 => self.let64(Rvalue::Add(x, y), xv.checked_add(yv), overflow),
            2 => self.let64(Rvalue::Sub(x, y), xv.checked_sub(yv), overflow),
            3 => self.let64(
                Rvalue::AddWrapping(x, y),
                Some(xv.wrapping_add(yv)),
                overflow,
            ),
            4 => self.let128(Rvalue::WideMul(x, y), Some(u128::from(xv) * u128::from(yv))),
            5 => self.let128(Rvalue::Mul(p, q), pv.checked_mul(qv)),
            6 => {
                let (value, trap) = if zv == 0 {
                    (
                        None,
                        TrapKind::Abort {
                            code: ABORT_DIVISION_BY_ZERO,
                        },
                    )
                } else {
                    let quotient = u128::from(xv) * u128::from(yv) / u128::from(zv);
                    (u64::try_from(quotient).ok(), overflow)
                };
                self.let64(Rvalue::MulDiv(x, y, z), value, trap);
            }
            7 => self.let64(Rvalue::Shr(x, imm % 64), Some(xv >> (imm % 64)), overflow),
            8 => self.let64(Rvalue::Shl(x, imm % 64), Some(xv << (imm % 64)), overflow),
            9 => self.let64(Rvalue::Low(p), Some(pv as u64), overflow),
            10 => self.let64(Rvalue::High(p), Some((pv >> 64) as u64), overflow),
            11 => self.let128(
                Rvalue::Join(x, y),
                Some(u128::from(xv) | (u128::from(yv) << 64)),
            ),
            12 => {
                let (cond, holds) = self.cond(imm, a, c);
                self.let64(Rvalue::Test(cond), Some(u64::from(holds)), overflow);
            }
            13 => self.let128(Rvalue::Add(p, q), pv.checked_add(qv)),
            15 => self.let128_or(
                Rvalue::Div(p, q),
                pv.checked_div(qv),
                TrapKind::Abort {
                    code: ABORT_DIVISION_BY_ZERO,
                },
            ),
            _ => {
                // x' = x; if cond { x' = x + z (wrapping) }.
                let (cond, holds) = self.cond(imm, c, d);
                let var = self.b.let_("y", Ty::U64, Rvalue::Copy(x));
                self.b
                    .if_(cond, |b| b.assign(var, Rvalue::AddWrapping(x, z)));
                let value = if holds { xv.wrapping_add(zv) } else { xv };
                self.u64s.push((var, value));
            }
        }
    }
}

/// The program and what running it with `args` must give.
fn build(args: [u64; 4], ops: &[Op]) -> (Program, Expected) {
    let mut g = Gen {
        b: FunctionBuilder::new("f", 4, 4),
        u64s: Vec::new(),
        u128s: Vec::new(),
        trap: None,
    };
    for (word, value) in args.iter().enumerate() {
        let var = g.b.let_(
            "arg",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, word as u32)),
        );
        g.u64s.push((var, *value));
    }
    let (lo, hi) = (g.u64s[2], g.u64s[3]);
    let joined = g.b.let_("joined", Ty::U128, Rvalue::Join(lo.0, hi.0));
    g.u128s
        .push((joined, u128::from(lo.1) | (u128::from(hi.1) << 64)));
    for op in ops {
        g.op(*op);
    }
    let (last64, v64) = *g.u64s.last().expect("args");
    let (prev64, p64) = g.u64s[g.u64s.len() - 2];
    let (last128, v128) = *g.u128s.last().expect("joined");
    g.b.store(Addr::Fixed(Segment::Ret, 0), last64);
    g.b.store(Addr::Fixed(Segment::Ret, 1), prev64);
    g.b.store(Addr::Fixed(Segment::Ret, 2), last128);
    let expected = match g.trap {
        Some(kind) => Expected::Trap(kind),
        None => Expected::Returned(vec![v64, p64, v128 as u64, (v128 >> 64) as u64]),
    };
    let program = Program {
        functions: vec![g.b.finish()],
        params: 0,
        slab: 0,
        scratch_reserved: 0,
        capabilities: CapabilitySet::default(),
        views: Vec::new(),
        subroutines: Vec::new(),
    };
    (program, expected)
}

fn word() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(1 << 63),
        0u64..1_000,
        any::<u64>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn lowered_functions_compute_what_the_ir_means(
        args in [word(), word(), word(), word()],
        ops in prop::collection::vec((any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u8>()), 1..24),
    ) {
        let (program, expected) = build(args, &ops);
        let lowered = curve_ir::lower(&program).expect("lowers");
        let bound = lowered.gas_bound("f").expect("the entry");
        let program = Arc::new(
            curvevm::Program::load(lowered.module, &|_| false).expect("verifies"),
        );
        let jit = JitProgram::compile(Arc::clone(&program)).expect("compiles");
        for engine in ["interpreter", "jit"] {
            let mut instance = Instance::new(Arc::clone(&program), &[]).expect("instance");
            let outcome = if engine == "jit" {
                jit.call(&mut instance, "f", &args, bound + 100, &mut [], &mut NoHost)
                    .expect("starts")
                    .0
            } else {
                instance
                    .call("f", &args, bound + 100, &mut [], &mut NoHost, Default::default())
                    .expect("starts")
            };
            let got = match outcome.result {
                Ok(words) => Expected::Returned(words),
                Err(trap) => Expected::Trap(trap.kind),
            };
            prop_assert_eq!(&got, &expected, "{}", engine);
            prop_assert!(outcome.gas_used <= bound, "{}: gas {} above bound {}", engine, outcome.gas_used, bound);
        }
    }
}
