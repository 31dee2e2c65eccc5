//! The fuzz entry point shared by the cargo-fuzz target and the corpus replay test: decode,
//! verify and (when it verifies) run any bytes, and assemble any text; nothing may panic.

use std::sync::Arc;

use curve_formats::encoding::Decode;
use curvevm::{ExecOptions, Instance, Module};

use curvevm_host::{Caller, Clock, Ledger, Role, RollupHost};
use curvevm_jit::JitProgram;

/// Gas for each fuzzed call: enough for loops and microcode, small enough to stay fast.
const FUZZ_GAS: u64 = 20_000;

/// Runs every decoder, the verifier and the interpreter on `data`.
pub fn check_bytes(data: &[u8]) {
    for chunk in data.chunks_exact(8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        if let Ok(insn) = curvevm::Instruction::decode(word) {
            assert_eq!(insn.encode(), word, "decode is the inverse of encode");
        }
    }
    if let Ok(module) = Module::from_bytes(data) {
        exercise(module);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(module) = curvevm_asm::assemble(text)
    {
        let again = curvevm_asm::assemble(&curvevm_asm::disassemble(&module))
            .expect("disassembly assembles");
        assert_eq!(again, module, "disassembly round-trips");
        exercise(module);
    }
}

fn exercise(module: Module) {
    // Fuzzed modules may declare huge segments; keep allocations bounded.
    let layout = &module.layout;
    let total: u64 = [
        layout.params,
        layout.args,
        layout.ret,
        layout.scratch,
        layout.slab,
    ]
    .iter()
    .chain(layout.views.iter().map(|v| &v.words))
    .map(|&w| u64::from(w))
    .sum();
    // Any role that may hold the declared capabilities.
    let Some(role) = Role::ALL
        .into_iter()
        .find(|role| module.capabilities.is_subset(role.grants()))
    else {
        return;
    };
    let Ok(program) = RollupHost::load(module, role) else {
        return;
    };
    let new_host = || {
        let mut ledger = Ledger::default();
        ledger.set_vault(1, 1, 1_000);
        ledger.set_escrow(1, 1, 1, 1_000);
        RollupHost::new(
            ledger,
            Clock {
                now_ms: 1_000,
                height: 1,
                chain_id: 7,
            },
            Caller { id: 1, role },
        )
    };
    let (mut native_host, mut pure_host, mut jit_host) = (new_host(), new_host(), new_host());
    if total > 1 << 20 {
        return;
    }
    let program = Arc::new(program);
    let module = program.module().clone();
    let params = vec![1; module.layout.params as usize];
    // Three instances (native microcode, pure ISA, JIT) fed the same calls: every outcome
    // must match.
    let (Ok(mut native), Ok(mut pure), Ok(mut jitted)) = (
        Instance::new(Arc::clone(&program), &params),
        Instance::new(Arc::clone(&program), &params),
        Instance::new(Arc::clone(&program), &params),
    ) else {
        return;
    };
    let jit = JitProgram::compile(Arc::clone(&program)).expect("verified programs compile");
    let mut native_views: Vec<Vec<u64>> = module
        .layout
        .views
        .iter()
        .map(|v| vec![0; v.words as usize])
        .collect();
    let mut pure_views = native_views.clone();
    let mut jit_views = native_views.clone();
    for entry in &module.entries {
        let args: Vec<u64> = (0..u64::from(entry.args)).collect();
        let a = native
            .call(
                &entry.name,
                &args,
                FUZZ_GAS,
                &mut native_views,
                &mut native_host,
                ExecOptions {
                    native_microcode: true,
                },
            )
            .expect("a verified entry with the right arguments starts");
        let b = pure
            .call(
                &entry.name,
                &args,
                FUZZ_GAS,
                &mut pure_views,
                &mut pure_host,
                ExecOptions {
                    native_microcode: false,
                },
            )
            .expect("a verified entry with the right arguments starts");
        assert_eq!(a, b, "native microcode changes the outcome");
        let (c, _) = jit
            .call(
                &mut jitted,
                &entry.name,
                &args,
                FUZZ_GAS,
                &mut jit_views,
                &mut jit_host,
            )
            .expect("a verified entry with the right arguments starts");
        assert_eq!(a, c, "the JIT changes the outcome");
    }
    assert_eq!(native_views, pure_views);
    assert_eq!(native_views, jit_views);
    assert_eq!(native_host.ledger, jit_host.ledger);
    assert_eq!(native_host.events, jit_host.events);
    assert_eq!(
        native.memory().words(curvevm::Segment::Slab),
        jitted.memory().words(curvevm::Segment::Slab)
    );
    assert_eq!(native_host.ledger, pure_host.ledger);
    assert_eq!(native_host.events, pure_host.events);
}

/// The interpreter-vs-JIT fuzz entry: the first eight bytes seed a generated program
/// ([`crate::programs`]); the next ones choose inputs and gas limits. Panics on any divergence.
pub fn check_jit_seed(data: &[u8]) {
    let mut bytes = [0u8; 8];
    for (slot, byte) in bytes.iter_mut().zip(data) {
        *slot = *byte;
    }
    let mut rng = crate::programs::Rng::new(u64::from_le_bytes(bytes));
    let subject = match crate::diff::Subject::generate(&mut rng) {
        Ok(subject) => subject,
        Err(error) => panic!("a generated program: {error}"),
    };
    let mut coverage = crate::diff::Coverage::default();
    let rest = data.get(8..).unwrap_or(&[]);
    for chunk in rest
        .chunks(2)
        .take(16)
        .chain(core::iter::once(&[0xFF, 0xFF][..]))
    {
        let start = crate::diff::Start::random(&mut rng);
        let gas = chunk
            .iter()
            .fold(0u64, |gas, &byte| (gas << 8) | u64::from(byte));
        if let Err(error) = subject.compare(&start, gas, &mut coverage) {
            panic!("{error}");
        }
    }
}
