//! JIT against the interpreter on the three named programs (same gas, asserted before timing),
//! and compile latency per 100 instructions. Figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use curvevm::bench_programs::{alu_loop, microcode_loop, slab_loop};
use curvevm::builder::Builder;
use curvevm::isa::{Cond, Segment};
use curvevm::module::{Entry, Layout};
use curvevm::{ExecOptions, Instance, Module, NoHost, Program};
use curvevm_jit::JitProgram;

fn load(module: Module) -> Arc<Program> {
    Arc::new(Program::load(module, &|_| false).expect("bench programs verify"))
}

fn engines(c: &mut Criterion) {
    let mut group = c.benchmark_group("jit");
    for (name, module, n) in [
        ("alu_loop", alu_loop(), 75_000u64),
        ("slab_loop", slab_loop(), 50_000),
        ("microcode_loop", microcode_loop(), 2_000),
    ] {
        let program = load(module);
        let jit = JitProgram::compile(Arc::clone(&program)).unwrap_or_else(|e| panic!("{e}"));
        let mut interpreted = Instance::new(Arc::clone(&program), &[]).expect("no params");
        let mut compiled = Instance::new(Arc::clone(&program), &[]).expect("no params");
        let expected = interpreted
            .call(
                "main",
                &[n],
                u64::MAX,
                &mut [],
                &mut NoHost,
                ExecOptions::default(),
            )
            .expect("starts");
        let (actual, stats) = jit
            .call(&mut compiled, "main", &[n], u64::MAX, &mut [], &mut NoHost)
            .expect("starts");
        assert_eq!(expected, actual, "{name}: the engines differ");
        assert!(!stats.bailed, "{name}: ran natively throughout");
        group.throughput(Throughput::Elements(expected.gas_used));
        group.bench_function(format!("{name}/interpreter"), |bench| {
            bench.iter(|| {
                interpreted
                    .call(
                        "main",
                        &[black_box(n)],
                        u64::MAX,
                        &mut [],
                        &mut NoHost,
                        ExecOptions::default(),
                    )
                    .expect("starts")
            })
        });
        group.bench_function(format!("{name}/jit"), |bench| {
            bench.iter(|| {
                jit.call(
                    &mut compiled,
                    "main",
                    &[black_box(n)],
                    u64::MAX,
                    &mut [],
                    &mut NoHost,
                )
                .expect("starts")
            })
        });
    }
    group.finish();
}

/// `instructions` of straight-line work with a forward branch every eighth instruction: ALU,
/// slab loads and stores.
fn straight_line(instructions: u32) -> Module {
    let mut b = Builder::new(0);
    let mut i = 0;
    while i + 2 < instructions {
        let reg = (i % 12) as u8;
        match i % 8 {
            0 | 3 => b.add(0, reg, (reg + 1) % 12),
            1 => b.add_imm(0, reg, i),
            2 => b.load(reg, Segment::Slab, i % 64),
            4 => b.store(reg, Segment::Slab, i % 64),
            5 => b.load_indirect(reg, Segment::Slab, 12, i % 64),
            6 => b.mov(reg, (reg + 5) % 12),
            _ => {
                let skip = b.label();
                b.jump(Cond::Zero, reg, skip);
                b.bind(skip);
            }
        }
        i += 1;
    }
    b.store(0, Segment::Ret, 0);
    b.ret(Cond::Always, 0);
    Module {
        code: b.finish().iter().map(|insn| insn.encode()).collect(),
        entries: vec![Entry {
            name: "main".into(),
            pc: 0,
            args: 0,
            ret: 1,
        }],
        layout: Layout {
            ret: 1,
            slab: 64,
            ..Layout::default()
        },
        ..Module::default()
    }
}

fn compile_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("jit_compile");
    for instructions in [100u32, 1_000] {
        let program = load(straight_line(instructions));
        group.throughput(Throughput::Elements(u64::from(instructions)));
        group.bench_function(format!("{instructions}_instructions"), |bench| {
            bench.iter(|| JitProgram::compile(Arc::clone(&program)).expect("compiles"))
        });
    }
    group.finish();
}

criterion_group!(benches, engines, compile_latency);
criterion_main!(benches);
