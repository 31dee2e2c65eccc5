//! `Rvalue::ExpNeg` and `Rvalue::Ln` lowered to the `exp_neg` and `ln` microcode, on both engines
//! against `curvevm::fixed` (the routines' reference): the same words or the same trap
//! (`ln_domain` below 1), exactly the static bound's gas (the routines are constant-time), and
//! a module that places the routines.

use std::sync::Arc;

use curve_ir::ir::{Addr, FunctionBuilder, Program, Rvalue, Ty};
use curvevm::fixed::{Domain, ONE, exp_neg, ln};
use curvevm::interp::NoHost;
use curvevm::isa::{ABORT_LN_DOMAIN, Segment};
use curvevm::{Instance, TrapKind};
use curvevm_jit::JitProgram;
use proptest::prelude::*;

/// `exp(a_lo, a_hi) -> e^(−a)` and `ln(a_lo, a_hi) -> ln a`, Q64.64.
fn program() -> Program {
    let function = |name: &str, op: fn(curve_ir::ir::Var) -> Rvalue| {
        let mut b = FunctionBuilder::new(name, 2, 2);
        let lo = b.let_("lo", Ty::U64, Rvalue::Load(Addr::Fixed(Segment::Args, 0)));
        let hi = b.let_("hi", Ty::U64, Rvalue::Load(Addr::Fixed(Segment::Args, 1)));
        let a = b.let_("a", Ty::U128, Rvalue::Join(lo, hi));
        let r = b.let_("r", Ty::U128, op(a));
        let (r_lo, r_hi) = (
            b.let_("r_lo", Ty::U64, Rvalue::Low(r)),
            b.let_("r_hi", Ty::U64, Rvalue::High(r)),
        );
        b.store(Addr::Fixed(Segment::Ret, 0), r_lo);
        b.store(Addr::Fixed(Segment::Ret, 1), r_hi);
        b.finish()
    };
    Program {
        functions: vec![function("exp", Rvalue::ExpNeg), function("ln", Rvalue::Ln)],
        ..Program::default()
    }
}

fn words(value: u128) -> [u64; 2] {
    [value as u64, (value >> 64) as u64]
}

fn q64() -> BoxedStrategy<u128> {
    prop_oneof![
        (0u128..50 << 64),
        Just(0u128),
        Just(ONE),
        Just(ONE - 1),
        Just(45 << 64),
        any::<u128>(),
        (0u32..128).prop_map(|shift| 1u128 << shift),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn exp_and_ln_lower_to_their_routines(a in q64()) {
        let lowered = curve_ir::lower(&program()).expect("lowers");
        let loaded = Arc::new(curvevm::Program::load(lowered.module.clone(), &|_| false).expect("verifies"));
        let jit = JitProgram::compile(Arc::clone(&loaded)).expect("compiles");
        let cases: [(&str, Result<u128, TrapKind>); 2] = [
            ("exp", Ok(exp_neg(a))),
            ("ln", ln(a).map_err(|Domain| TrapKind::Abort { code: ABORT_LN_DOMAIN })),
        ];
        for (entry, want) in cases {
            let bound = lowered.gas_bound(entry).expect("an entry");
            for compiled in [false, true] {
                let mut instance = Instance::new(Arc::clone(&loaded), &[]).expect("instance");
                let args = words(a);
                let outcome = if compiled {
                    jit.call(&mut instance, entry, &args, bound, &mut [], &mut NoHost).expect("starts").0
                } else {
                    instance.call(entry, &args, bound, &mut [], &mut NoHost, Default::default()).expect("starts")
                };
                let got = outcome.result.map(|w| [w[0], w[1]]).map_err(|t| t.kind);
                prop_assert_eq!(got, want.map(words), "{}({:#x}) (jit {})", entry, a, compiled);
                if want.is_ok() {
                    prop_assert_eq!(outcome.gas_used, bound, "constant gas");
                }
            }
        }
    }
}

#[test]
fn the_module_calls_the_routines() {
    let lowered = curve_ir::lower(&program()).expect("lowers");
    let placed: Vec<&str> = lowered
        .module
        .microcode
        .iter()
        .map(|p| curvevm::microcode::ROUTINES[usize::from(p.routine)].name)
        .collect();
    assert_eq!(placed, ["exp_neg", "ln"]);
    let printed = curve_ir::print::program(&program());
    assert!(
        printed.contains("exp_neg(") && printed.contains("ln("),
        "{printed}"
    );
}
