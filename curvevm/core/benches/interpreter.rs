//! Interpreter throughput on the three named programs, the 300k-gas call, rollback cost for a
//! 1 KiB versus a 10 MiB slab, and the cost of mapping a 1 KiB versus a 10 MiB view for a call.
//! Figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use curvevm::bench_programs::{alu_loop, microcode_loop, rollback_probe, slab_loop, view_probe};
use curvevm::{ExecOptions, Instance, Module, NoHost, Program};

fn instance(module: Module) -> Instance {
    let program = Arc::new(Program::load(module, &|_| false).expect("bench programs verify"));
    Instance::new(program, &[]).expect("no params")
}

fn gas_of(instance: &mut Instance, n: u64, options: ExecOptions) -> u64 {
    let outcome = instance
        .call("main", &[n], u64::MAX, &mut [], &mut NoHost, options)
        .unwrap();
    outcome.gas_used
}

fn throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("interpreter");
    let pure = ExecOptions {
        native_microcode: false,
    };
    let native = ExecOptions::default();
    for (name, module, n, options) in [
        ("alu_loop", alu_loop(), 250_000u64, native),
        ("slab_loop", slab_loop(), 160_000, native),
        ("microcode_loop_pure_isa", microcode_loop(), 500, pure),
        ("microcode_loop_native", microcode_loop(), 500, native),
    ] {
        let mut vm = instance(module);
        let instructions = gas_of(&mut vm, n, options);
        group.throughput(Throughput::Elements(instructions));
        group.bench_function(name, |bench| {
            bench.iter(|| {
                black_box(
                    vm.call(
                        "main",
                        &[black_box(n)],
                        u64::MAX,
                        &mut [],
                        &mut NoHost,
                        options,
                    )
                    .unwrap(),
                )
            })
        });
    }
    // A call that exhausts 300,000 gas in the ALU loop.
    let mut vm = instance(alu_loop());
    group.throughput(Throughput::Elements(300_000));
    group.bench_function("call_300k_gas", |bench| {
        bench.iter(|| {
            let outcome = vm
                .call("main", &[u64::MAX], 300_000, &mut [], &mut NoHost, native)
                .unwrap();
            black_box(outcome)
        })
    });
    group.finish();
}

fn rollback(c: &mut Criterion) {
    let mut group = c.benchmark_group("rollback");
    for (name, words) in [("slab_1KiB", 128u32), ("slab_10MiB", 1_310_720)] {
        let mut vm = instance(rollback_probe(words));
        // One page: the same work for both sizes; the call traps and restores it.
        group.bench_function(name, |bench| {
            bench.iter(|| {
                black_box(
                    vm.call(
                        "main",
                        &[1],
                        1_000,
                        &mut [],
                        &mut NoHost,
                        ExecOptions::default(),
                    )
                    .unwrap(),
                )
            })
        });
    }
    group.finish();
}

/// A call that reads one word of a mapped read-only view: the view's words move in and out of
/// the instance (never copied), so the call costs the same whatever the view's size.
fn map_view(c: &mut Criterion) {
    let mut group = c.benchmark_group("views");
    for (name, words) in [
        ("map_view_1kib", 128u32),
        ("map_view_10mib", curvevm::module::MAX_VIEW_WORDS),
    ] {
        let module = view_probe(words);
        let mut vm = instance(module);
        let mut views = vec![vec![7u64; words as usize]];
        group.bench_function(name, |bench| {
            bench.iter(|| {
                let outcome = vm
                    .call(
                        "main",
                        &[0],
                        100,
                        &mut views,
                        &mut NoHost,
                        ExecOptions::default(),
                    )
                    .unwrap();
                black_box(outcome)
            })
        });
    }
    group.finish();
}

/// The Q64.64 `exp_neg` and `ln` routines called from the interpreter: with the native twin (what
/// engines run when the gas covers the routine) and as their four-opcode expansions (what a
/// gas-short call or a trace runs), at a mid-range argument.
fn fixed_point(c: &mut Criterion) {
    use curvevm::interp::execute_routine;
    let mut group = c.benchmark_group("microcode");
    for (name, operands) in [
        ("exp_neg", [0x8000_0000_0000_0000, 3, 0, 0, 0]),
        ("ln", [0x8000_0000_0000_0000, 20, 0, 0, 0]),
    ] {
        let (id, _) = curvevm::microcode::find(name).expect("a routine");
        for (path, native) in [("native", true), ("expanded", false)] {
            group.bench_function(format!("{name}/{path}"), |bench| {
                bench.iter(|| execute_routine(id, operands, u64::MAX, native).gas_used)
            });
        }
    }
    group.finish();
}

criterion_group!(benches, throughput, rollback, map_view, fixed_point);
criterion_main!(benches);
