//! Internal subroutines: results on both engines against plain Rust, the caller's variables
//! intact across calls (disjoint frames), the static bound following the call graph (exact on a
//! straight-line path, never exceeded on a branching one), and recursion, bad calls and too
//! deep a chain refused at compile time.

use std::sync::Arc;

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Program, Rvalue, Subroutine, Ty, Var};
use curvevm::interp::NoHost;
use curvevm::isa::Segment;
use curvevm::{Instance, Outcome};
use curvevm_jit::JitProgram;
use proptest::prelude::*;

fn load_arg(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.let_(
        name,
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Args, word)),
    )
}

/// `max(a, b)`: a branch, so its bound is its dearer arm.
fn max_sub() -> Subroutine {
    let mut b = FunctionBuilder::new("max", 0, 0);
    let a = b.var("a", Ty::U64);
    let c = b.var("b", Ty::U64);
    let out = b.var("out", Ty::U64);
    b.assign(out, Rvalue::Copy(c));
    b.if_(Cond::Lt(c, a), |b| b.assign(out, Rvalue::Copy(a)));
    Subroutine::new(b, &[a, c], &[out])
}

/// `mul_add(x, y, z) = x·y + z` as a `u128`, calling nothing: straight line.
fn mul_add_sub() -> Subroutine {
    let mut b = FunctionBuilder::new("mul_add", 0, 0);
    let x = b.var("x", Ty::U64);
    let y = b.var("y", Ty::U64);
    let z = b.var("z", Ty::U64);
    let product = b.let_("product", Ty::U128, Rvalue::WideMul(x, y));
    let wide = b.let_("z128", Ty::U128, Rvalue::Widen(z));
    let out = b.let_("out", Ty::U128, Rvalue::Add(product, wide));
    Subroutine::new(b, &[x, y, z], &[out])
}

/// `both(a, b, c) = (max(a, max(b, c)), mul_add(a, b, c))`: calls nested two deep.
fn both_sub() -> Subroutine {
    let mut b = FunctionBuilder::new("both", 0, 0);
    let a = b.var("a", Ty::U64);
    let c = b.var("b", Ty::U64);
    let d = b.var("c", Ty::U64);
    let inner = b.var("inner", Ty::U64);
    let top = b.var("top", Ty::U64);
    let sum = b.var("sum", Ty::U128);
    b.call("max", &[c, d], &[inner]);
    b.call("max", &[a, inner], &[top]);
    b.call("mul_add", &[a, c, d], &[sum]);
    Subroutine::new(b, &[a, c, d], &[top, sum])
}

/// `f(a, b, c) -> [max3, sum_lo, sum_hi, a, keep]`: keeps `a` and a marker live across the
/// calls, so clobbered frames would show.
fn program() -> Program {
    let mut b = FunctionBuilder::new("f", 3, 5);
    let a = load_arg(&mut b, "a", 0);
    let c = load_arg(&mut b, "b", 1);
    let d = load_arg(&mut b, "c", 2);
    let keep = b.constant("keep", 0xC0FFEE);
    let top = b.var("top", Ty::U64);
    let sum = b.var("sum", Ty::U128);
    b.call("both", &[a, c, d], &[top, sum]);
    b.store(Addr::Fixed(Segment::Ret, 0), top);
    b.store(Addr::Fixed(Segment::Ret, 1), sum);
    b.store(Addr::Fixed(Segment::Ret, 3), a);
    b.store(Addr::Fixed(Segment::Ret, 4), keep);
    Program {
        functions: vec![b.finish()],
        subroutines: vec![both_sub(), max_sub(), mul_add_sub()],
        ..Program::default()
    }
}

fn run(program: &Program, entry: &str, args: &[u64]) -> (Vec<Outcome>, u64) {
    let lowered = curve_ir::lower(program).expect("lowers");
    let bound = lowered.gas_bound(entry).expect("an entry");
    let loaded = Arc::new(curvevm::Program::load(lowered.module, &|_| false).expect("verifies"));
    let jit = JitProgram::compile(Arc::clone(&loaded)).expect("compiles");
    let mut outcomes = Vec::new();
    for compiled in [false, true] {
        let mut instance = Instance::new(Arc::clone(&loaded), &[]).expect("instance");
        let outcome = if compiled {
            jit.call(&mut instance, entry, args, bound + 10, &mut [], &mut NoHost)
                .expect("starts")
                .0
        } else {
            instance
                .call(
                    entry,
                    args,
                    bound + 10,
                    &mut [],
                    &mut NoHost,
                    Default::default(),
                )
                .expect("starts")
        };
        outcomes.push(outcome);
    }
    assert_eq!(outcomes[0], outcomes[1], "the engines disagree");
    (outcomes, bound)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn nested_calls_compute_what_plain_rust_does(a: u64, b: u64, c: u64) {
        let (outcomes, bound) = run(&program(), "f", &[a, b, c]);
        let sum = u128::from(a) * u128::from(b) + u128::from(c);
        let expected = vec![a.max(b).max(c), sum as u64, (sum >> 64) as u64, a, 0xC0FFEE];
        prop_assert_eq!(outcomes[0].result.clone(), Ok(expected));
        prop_assert!(outcomes[0].gas_used <= bound);
    }
}

/// `g(x, y, z) -> x·y + z` calling `mul_add` `calls` times in a row.
fn calling_mul_add(calls: usize) -> Program {
    let mut b = FunctionBuilder::new("g", 3, 2);
    let x = load_arg(&mut b, "x", 0);
    let y = load_arg(&mut b, "y", 1);
    let z = load_arg(&mut b, "z", 2);
    let out = b.var("out", Ty::U128);
    for _ in 0..calls {
        b.call("mul_add", &[x, y, z], &[out]);
    }
    b.store(Addr::Fixed(Segment::Ret, 0), out);
    Program {
        functions: vec![b.finish()],
        subroutines: vec![mul_add_sub()],
        ..Program::default()
    }
}

#[test]
fn the_bound_follows_the_call_graph() {
    // Straight line: the bound is exactly what a call uses.
    let (outcomes, bound) = run(&calling_mul_add(1), "g", &[3, 4, 5]);
    assert_eq!(outcomes[0].result, Ok(vec![17, 0]));
    assert_eq!(outcomes[0].gas_used, bound);
    // The same subroutine called twice costs twice its bound more than once.
    let (outcomes_twice, bound_twice) = run(&calling_mul_add(2), "g", &[3, 4, 5]);
    assert_eq!(outcomes_twice[0].gas_used, bound_twice);
    // `g` around its call: three argument loads (2 instructions each), three copies in (2
    // each), the CALL, a u128 copied out (4) and stored to `ret` (4), the closing `ret`: 22.
    // A second call adds its copies, the CALL and the subroutine's whole bound again.
    let subroutine_bound = outcomes[0].gas_used - 22;
    assert_eq!(bound_twice - bound, 6 + 1 + 4 + subroutine_bound);
}

fn calls(name: &str, callee: &str) -> Subroutine {
    let mut b = FunctionBuilder::new(name, 0, 0);
    b.call(callee, &[], &[]);
    Subroutine::new(b, &[], &[])
}

fn with_subroutines(subroutines: Vec<Subroutine>) -> Program {
    let mut b = FunctionBuilder::new("main", 0, 0);
    b.call(&subroutines[0].function.name.clone(), &[], &[]);
    Program {
        functions: vec![b.finish()],
        subroutines,
        ..Program::default()
    }
}

#[test]
fn recursion_is_refused_at_compile_time_with_the_cycle() {
    let error = curve_ir::lower(&with_subroutines(vec![
        calls("a", "b"),
        calls("b", "c"),
        calls("c", "a"),
    ]))
    .expect_err("recursion");
    assert!(
        error.0.contains("may not recurse: `a` → `b` → `c` → `a`"),
        "{error}"
    );
    let error = curve_ir::lower(&with_subroutines(vec![calls("self", "self")])).expect_err("self");
    assert!(error.0.contains("`self` → `self`"), "{error}");
}

#[test]
fn bad_calls_and_too_deep_a_chain_are_refused() {
    let error =
        curve_ir::lower(&with_subroutines(vec![calls("a", "nowhere")])).expect_err("unknown");
    assert!(error.0.contains("no subroutine `nowhere`"), "{error}");
    // Wrong arity.
    let mut b = FunctionBuilder::new("main", 0, 0);
    let x = b.constant("x", 1);
    b.call("max", &[x], &[x]);
    let program = Program {
        functions: vec![b.finish()],
        subroutines: vec![max_sub()],
        ..Program::default()
    };
    let error = curve_ir::lower(&program).expect_err("arity");
    assert!(
        error
            .0
            .contains("passes 1 arguments to `max`, which takes 2"),
        "{error}"
    );
    // Wrong type.
    let mut b = FunctionBuilder::new("main", 0, 0);
    let x = b.let_("x", Ty::U128, Rvalue::Const(1));
    let out = b.var("out", Ty::U64);
    b.call("max", &[x, x], &[out]);
    let program = Program {
        functions: vec![b.finish()],
        subroutines: vec![max_sub()],
        ..Program::default()
    };
    assert!(curve_ir::lower(&program).is_err());
    // A chain of 33 nested subroutines.
    let depth = curve_ir::lower::MAX_SUBROUTINE_DEPTH + 1;
    let mut chain: Vec<Subroutine> = (0..depth - 1)
        .map(|i| calls(&format!("s{i}"), &format!("s{}", i + 1)))
        .collect();
    chain.push(Subroutine::new(
        FunctionBuilder::new(&format!("s{}", depth - 1), 0, 0),
        &[],
        &[],
    ));
    let error = curve_ir::lower(&with_subroutines(chain.clone())).expect_err("too deep");
    assert!(
        error.0.contains("nests 33 subroutine calls; at most 32"),
        "{error}"
    );
    // 32 is fine, and runs.
    chain.remove(0);
    let (outcomes, bound) = run(&with_subroutines(chain), "main", &[]);
    assert_eq!(outcomes[0].result, Ok(vec![]));
    assert_eq!(outcomes[0].gas_used, bound);
}
