//! The cost of `invoke` beyond the callee's own work, on both engines in the same run: a loop of
//! N invokes of an empty entrypoint against the same loop with a local `call` of an empty
//! subroutine in its place; the difference per iteration is what crossing into another program
//! costs (checks, instance switch, journal bookkeeping). Figures in BENCHMARKS.md.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use curvevm::{Engine, ExecOptions, Instance, Interpreter};
use curvevm_host::{Callee, Caller, Clock, InvokeHost, Ledger, ProgramSet, Role, RollupHost};
use curvevm_jit::JitCache;

/// Iterations per call.
const N: u64 = 1_000;

/// `main(n)` runs `body` n times; `sub` is an empty local subroutine.
fn caller(body: &str) -> String {
    format!(
        ".capabilities invoke\n.params 4\n.args 1\n.ret 0\n.scratch 4\n.slab 0\n\
         .entry main args=1 ret=0\nmain:\n    load r20, args[0]\ntop:\n    load r1, #2\n    \
         load r2, #0\n    load r3, #0\n    load r4, #0\n    load r5, #0\n    load r6, #0\n    \
         load.hi r7, #1\n{body}\n    \
         add r20, #-1\n    jump.nz r20, top\n    ret\n.entry sub args=0 ret=0\nsub:\n    ret\n"
    )
}

const CALLEE: &str = ".params 0\n.args 0\n.ret 0\n.scratch 0\n.slab 0\n\
                      .entry empty args=0 ret=0\nempty:\n    ret\n";

fn instance(text: &str, role: Role) -> Instance {
    let module = curvevm_asm::text::assemble(text).expect("assembles");
    let program = RollupHost::load(module, role).expect("loads");
    let params = vec![0; program.module().layout.params as usize];
    Instance::new(Arc::new(program), &params).expect("instance")
}

fn programs() -> ProgramSet {
    let mut set = ProgramSet::default();
    set.programs.insert(
        2,
        Callee {
            instance: instance(CALLEE, Role::Slab),
            caller: Caller {
                id: 2,
                role: Role::Slab,
            },
            interface_hash: [0; 32],
            views: Vec::new(),
        },
    );
    set
}

fn host() -> RollupHost {
    RollupHost::new(
        Ledger::default(),
        Clock::default(),
        Caller {
            id: 1,
            role: Role::Router,
        },
    )
}

fn invoke(c: &mut Criterion) {
    let interpreter = Interpreter(ExecOptions::default());
    let jit = JitCache::default();
    let engines: [(&str, &dyn Engine); 2] = [("interpreter", &interpreter), ("jit", &jit)];
    let mut group = c.benchmark_group("invoke");
    group.throughput(Throughput::Elements(N));
    for (engine_name, engine) in engines {
        for (loop_name, body) in [
            ("empty_invoke", "    host invoke"),
            ("local_call", "    call sub"),
        ] {
            let mut main = instance(&caller(body), Role::Router);
            let mut set = programs();
            let mut host = host();
            let mut run = || {
                let mut invoke = InvokeHost::new(&mut host, &mut set, engine);
                let outcome = engine
                    .call(&mut main, 0, &[N], u64::MAX, &mut [], &mut invoke)
                    .expect("starts");
                assert!(outcome.result.is_ok(), "{loop_name}: {:?}", outcome.result);
                outcome.gas_used
            };
            run();
            group.bench_function(format!("{engine_name}/{loop_name}_{N}"), |b| {
                b.iter(&mut run)
            });
        }
    }
    group.finish();
}

criterion_group!(benches, invoke);
criterion_main!(benches);
