//! Signed (two's-complement) IR operations on both engines against plain Rust's checked i64
//! and i128 arithmetic: the same result or the same trap, and gas never above the bound.

use std::sync::Arc;

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Program, Rvalue, Ty, Var};
use curvevm::interp::NoHost;
use curvevm::isa::{ABORT_DIVISION_BY_ZERO, Segment};
use curvevm::{Instance, TrapKind};
use curvevm_jit::JitProgram;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Sub,
    Neg,
    MulDiv,
    Add128,
    Sub128,
    Neg128,
    Lt,
    Le,
}

const OPS: [Op; 9] = [
    Op::Add,
    Op::Sub,
    Op::Neg,
    Op::MulDiv,
    Op::Add128,
    Op::Sub128,
    Op::Neg128,
    Op::Lt,
    Op::Le,
];

/// `f(a_lo, a_hi, b_lo, b_hi, c) -> [r_lo, r_hi]` computing `op`.
fn program(op: Op) -> Program {
    let mut b = FunctionBuilder::new("f", 5, 2);
    let arg = |b: &mut FunctionBuilder, word| {
        b.let_(
            "arg",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, word)),
        )
    };
    let (a_lo, a_hi, b_lo, b_hi, c) = (
        arg(&mut b, 0),
        arg(&mut b, 1),
        arg(&mut b, 2),
        arg(&mut b, 3),
        arg(&mut b, 4),
    );
    let wide =
        |b: &mut FunctionBuilder, lo: Var, hi: Var| b.let_("wide", Ty::U128, Rvalue::Join(lo, hi));
    let (a128, b128) = (wide(&mut b, a_lo, a_hi), wide(&mut b, b_lo, b_hi));
    let result = match op {
        Op::Add => b.let_("r", Ty::U64, Rvalue::AddSigned(a_lo, b_lo)),
        Op::Sub => b.let_("r", Ty::U64, Rvalue::SubSigned(a_lo, b_lo)),
        Op::Neg => b.let_("r", Ty::U64, Rvalue::Neg(a_lo)),
        Op::MulDiv => b.let_("r", Ty::U64, Rvalue::MulDivSigned(a_lo, b_lo, c)),
        Op::Add128 => b.let_("r", Ty::U128, Rvalue::AddSigned(a128, b128)),
        Op::Sub128 => b.let_("r", Ty::U128, Rvalue::SubSigned(a128, b128)),
        Op::Neg128 => b.let_("r", Ty::U128, Rvalue::Neg(a128)),
        Op::Lt => b.let_("r", Ty::U64, Rvalue::Test(Cond::LtSigned(a_lo, b_lo))),
        Op::Le => {
            // Through a branch, so the condition's jump form is exercised too.
            let r = b.constant("r", 0);
            b.if_(Cond::LeSigned(a_lo, b_lo), |b| {
                b.assign(r, Rvalue::Const(1));
            });
            r
        }
    };
    b.store(Addr::Fixed(Segment::Ret, 0), result);
    Program {
        functions: vec![b.finish()],
        ..Program::default()
    }
}

/// What plain Rust says: the two return words, or the trap.
fn expected(op: Op, [a_lo, a_hi, b_lo, b_hi, c]: [u64; 5]) -> Result<[u64; 2], TrapKind> {
    let (a, b) = (a_lo as i64, b_lo as i64);
    let a128 = (u128::from(a_lo) | (u128::from(a_hi) << 64)) as i128;
    let b128 = (u128::from(b_lo) | (u128::from(b_hi) << 64)) as i128;
    let word = |r: Option<i64>| r.map(|r| [r as u64, 0]).ok_or(TrapKind::Overflow);
    let pair = |r: Option<i128>| {
        r.map(|r| [r as u64, ((r as u128) >> 64) as u64])
            .ok_or(TrapKind::Overflow)
    };
    match op {
        Op::Add => word(a.checked_add(b)),
        Op::Sub => word(a.checked_sub(b)),
        Op::Neg => word(a.checked_neg()),
        Op::MulDiv => {
            if c == 0 {
                return Err(TrapKind::Abort {
                    code: ABORT_DIVISION_BY_ZERO,
                });
            }
            let q = i128::from(a) * i128::from(b) / i128::from(c as i64);
            word(i64::try_from(q).ok())
        }
        Op::Add128 => pair(a128.checked_add(b128)),
        Op::Sub128 => pair(a128.checked_sub(b128)),
        Op::Neg128 => pair(a128.checked_neg()),
        Op::Lt => Ok([u64::from(a < b), 0]),
        Op::Le => Ok([u64::from(a <= b), 0]),
    }
}

fn word() -> BoxedStrategy<u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX),
        Just(1 << 63),
        Just((1 << 63) - 1),
        (-1_000i64..1_000).prop_map(|v| v as u64),
        any::<u64>(),
    ]
    .boxed()
}

fn small_or_any() -> BoxedStrategy<u64> {
    prop_oneof![(-1_000i64..1_000).prop_map(|v| v as u64), word()].boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signed_operations_match_checked_rust(
        args in [word(), word(), small_or_any(), word(), small_or_any()],
        which in 0..OPS.len(),
    ) {
        let op = OPS[which];
        let lowered = curve_ir::lower(&program(op)).expect("lowers");
        let bound = lowered.gas_bound("f").expect("f");
        let loaded = Arc::new(curvevm::Program::load(lowered.module, &|_| false).expect("verifies"));
        let jit = JitProgram::compile(Arc::clone(&loaded)).expect("compiles");
        let want = expected(op, args);
        for compiled in [false, true] {
            let mut instance = Instance::new(Arc::clone(&loaded), &[]).expect("instance");
            let outcome = if compiled {
                jit.call(&mut instance, "f", &args, bound, &mut [], &mut NoHost).expect("starts").0
            } else {
                instance.call("f", &args, bound, &mut [], &mut NoHost, Default::default()).expect("starts")
            };
            let got = outcome.result.map(|w| [w[0], w[1]]).map_err(|t| t.kind);
            prop_assert_eq!(got, want, "{:?} on {:?} (jit {})", op, args, compiled);
            prop_assert!(outcome.gas_used <= bound);
        }
    }
}
