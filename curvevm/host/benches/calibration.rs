//! Gas calibration: nanoseconds per gas unit of each opcode class and each host call, measured
//! on the interpreter running a loop of it (so every figure includes dispatch and metering).
//! The gas constants in `curvevm::hostcall::HOST_FUNCTIONS` are chosen so that every row costs
//! about the same time per gas; BENCHMARKS.md keeps the table. Each benchmark's throughput is
//! its gas, so criterion's "elem/s" is gas per second.

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use curvevm::{ExecOptions, Instance};
use curvevm_host::{Caller, Clock, Ledger, Role, RollupHost};

/// Loop iterations per call.
const N: u64 = 200;

/// A program whose `main(n)` runs `body` n times after `setup`, with `.capabilities caps`.
fn looped(caps: &str, setup: &str, body: &str) -> String {
    format!(
        ".capabilities {caps}\n.params 64\n.args 1\n.ret 0\n.scratch 8192\n.slab 256\n\
         .entry main args=1 ret=0\nmain:\n    load r20, args[0]\n{setup}\ntop:\n{body}\n    \
         add r20, #-1\n    jump.nz r20, top\n    ret\n.entry sub args=0 ret=0\nsub:\n    ret\n"
    )
}

fn host() -> RollupHost {
    let mut ledger = Ledger::default();
    ledger.set_vault(1, 2, u128::MAX / 2);
    ledger.set_escrow(1, 7, 2, u128::MAX / 2);
    ledger.add_cap(curvevm_host::Cap::new(1, 7, 2, u128::MAX / 2, 100_000));
    RollupHost::new(
        ledger,
        Clock {
            now_ms: 10,
            height: 1,
            chain_id: 7,
        },
        Caller {
            id: 7,
            role: Role::Router,
        },
    )
}

fn calibrate(c: &mut Criterion) {
    // RFC 8032 test 2 in params[0..13]: key, signature, message 0x72.
    let ed25519_params: [u64; 13] = [
        0x5a8943e8c317403d,
        0xbc7e1b4da70ab792,
        0x8c96c42ecf2c989c,
        0x0c66f42af155cdc0,
        0xb8cad4f0a909a092,
        0x4025645f0b820e72,
        0x8f3f5016547bb2a2,
        0xda69dbeb232276b3,
        0x6e99153ee4c15a08,
        0x8c1df1d013368f45,
        0xee2a30b4ae2e7b38,
        0x000cbb1216290db0,
        0x72,
    ];
    let sha_pointers = "    load.hi r1, #3\n    load r2, #64\n    load.hi r3, #3\n";
    let rows: Vec<(&str, Role, String)> = vec![
        (
            "alu",
            Role::Router,
            looped(
                "clock",
                "",
                "    add r1, r2\n    add r3, #1\n    load r4, r3\n    add.neg r4, r1",
            ),
        ),
        (
            "memory",
            Role::Router,
            looped(
                "clock",
                "    load r9, #7",
                "    load r4, slab[r9+0]\n    store r4, slab[r9+1]\n    load r5, scratch[r9+2]\n    store r5, scratch[r9+3]",
            ),
        ),
        (
            "call_ret",
            Role::Router,
            looped("clock", "", "    call sub"),
        ),
        (
            "microcode_pure",
            Role::Router,
            looped(
                "clock",
                "    load r16, #3\n    load r18, #5",
                "    call @mul128",
            ),
        ),
        (
            "host_clock",
            Role::Router,
            looped("clock", "", "    host clock"),
        ),
        (
            "host_event_8",
            Role::Router,
            looped(
                "events",
                "    load.hi r2, #3\n    load r3, #8",
                "    host event",
            ),
        ),
        (
            "host_sha256_64",
            Role::Router,
            looped("sha256", sha_pointers, "    host sha256"),
        ),
        (
            "host_sha256_4096",
            Role::Router,
            looped(
                "sha256",
                "    load.hi r1, #3\n    load r2, #4096\n    load.hi r3, #3",
                "    host sha256",
            ),
        ),
        (
            "host_poseidon_4",
            Role::Router,
            looped(
                "poseidon",
                "    load r1, #16\n    load r2, #4\n    load.hi r3, #3",
                "    host poseidon",
            ),
        ),
        (
            "host_merkle_1024",
            Role::Router,
            looped(
                "merkle",
                "    load.hi r1, #3\n    load r2, #5\n    load r3, #1024\n    load.hi r4, #3\n    load.hi r5, #3",
                "    host merkle_verify",
            ),
        ),
        (
            "host_ed25519",
            Role::Router,
            looped(
                "ed25519",
                "    load r1, #0\n    load r2, #4\n    load r3, #12\n    load r4, #1",
                "    host ed25519_verify",
            ),
        ),
        (
            "host_escrow_read",
            Role::Router,
            looped(
                "escrow_read",
                "",
                "    load r1, #1\n    load r2, #2\n    host escrow_read",
            ),
        ),
        (
            "host_vault_pledge",
            Role::Router,
            looped(
                "vault_write",
                "",
                "    load r1, #1\n    load r2, #7\n    load r3, #2\n    load r4, #1\n    load r5, #0\n    host vault_pledge",
            ),
        ),
        (
            "host_cap_mint_burn",
            Role::Router,
            looped(
                "cap_admin",
                "",
                "    load r1, #1\n    load r2, #7\n    load r3, #2\n    load r4, #9\n    load r5, #0\n    load r6, #100\n    host cap_mint\n    host cap_burn",
            ),
        ),
        (
            "host_safe_debit",
            Role::Slab,
            looped(
                "escrow_debit",
                "",
                "    load r1, #0\n    load r2, #1\n    load r3, #2\n    load r4, #1\n    load r5, #0\n    host safe_debit",
            ),
        ),
    ];
    let mut group = c.benchmark_group("calibration");
    for (name, role, text) in rows {
        let module = curvevm_asm::assemble(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let program =
            Arc::new(RollupHost::load(module, role).unwrap_or_else(|e| panic!("{name}: {e}")));
        let mut params = vec![0u64; 64];
        params[..13].copy_from_slice(&ed25519_params);
        let mut instance = Instance::new(program, &params).expect("params fit");
        let mut host = host();
        host.caller.role = role;
        let mut call = move || {
            instance
                .call(
                    "main",
                    &[N],
                    u64::MAX,
                    &mut [],
                    &mut host,
                    ExecOptions {
                        native_microcode: false,
                    },
                )
                .expect("starts")
        };
        let outcome = call();
        assert!(outcome.result.is_ok(), "{name}: {:?}", outcome.result);
        group.throughput(Throughput::Elements(outcome.gas_used));
        group.bench_function(name, |bench| bench.iter(&mut call));
    }
    calibrate_invoke(&mut group);
    group.finish();
}

/// `host_invoke_empty`: invoke of an empty entrypoint of another program (1 gas of its own), on
/// an `InvokeHost` whose only other program is that callee.
fn calibrate_invoke(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let load = |text: &str, role| {
        let module = curvevm_asm::assemble(text).expect("assembles");
        let program = RollupHost::load(module, role).expect("loads");
        let params = vec![0; program.module().layout.params as usize];
        Instance::new(Arc::new(program), &params).expect("params fit")
    };
    // r1 and r2 come back as the result: set them every iteration (2 gas of the row).
    let text = looped(
        "invoke",
        "    load r3, #0\n    load r4, #0\n    load r5, #0\n    load r6, #0\n    load.hi r7, #1",
        "    load r1, #2\n    load r2, #0\n    host invoke",
    );
    let mut main = load(&text, Role::Router);
    let mut programs = curvevm_host::ProgramSet::default();
    programs.programs.insert(
        2,
        curvevm_host::Callee {
            instance: load(
                ".params 0\n.args 0\n.ret 0\n.scratch 0\n.slab 0\n.entry empty args=0 ret=0\nempty:\n    ret\n",
                Role::Slab,
            ),
            caller: Caller {
                id: 2,
                role: Role::Slab,
            },
            interface_hash: [0; 32],
            views: Vec::new(),
        },
    );
    let mut host = host();
    let engine = curvevm::Interpreter(ExecOptions {
        native_microcode: false,
    });
    let mut call = move || {
        let mut invoke = curvevm_host::InvokeHost::new(&mut host, &mut programs, &engine);
        curvevm::Engine::call(&engine, &mut main, 0, &[N], u64::MAX, &mut [], &mut invoke)
            .expect("starts")
    };
    let outcome = call();
    assert!(outcome.result.is_ok(), "invoke: {:?}", outcome.result);
    group.throughput(Throughput::Elements(outcome.gas_used));
    group.bench_function("host_invoke_empty", |bench| bench.iter(&mut call));
}

criterion_group!(benches, calibrate);
criterion_main!(benches);
