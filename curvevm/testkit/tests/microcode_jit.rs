//! Every microcode routine on both engines with edge operands (0, 1, word boundaries, all ones)
//! and random ones, at every gas limit around the routine's cost (first and last 512 and a random
//! 512 between for the long fixed-point routines): the JIT runs some routines as
//! inline IR and the divisions through the interpreter's `micro_step`, and both must equal the
//! interpreter's result words, clobbers, gas, trap kind and trap pc. `CURVEVM_SEED=<n>` replays.

use std::sync::Arc;

use curvevm::builder::Builder;
use curvevm::interp::routine_costs;
use curvevm::isa::{Cond, Segment};
use curvevm::microcode::{OPERANDS, ROUTINES};
use curvevm::module::{Entry, Layout, Module};
use curvevm::{ExecOptions, Instance, NoHost, Program, TrapKind};
use curvevm_jit::JitProgram;
use curvevm_testkit::programs::{Rng, replay_seed};

/// Registers returned after the call: the operands/results and every register a routine may
/// clobber.
const OBSERVED: std::ops::Range<u8> = 16..32;

/// `main(r16..r20)`: sets every observed register to a marker, loads the operands, calls the
/// routine once and returns the observed registers.
fn harness(routine: u16) -> Module {
    let mut b = Builder::new(0);
    for reg in OBSERVED {
        b.load_imm(reg, 0xA000 + u32::from(reg));
    }
    for i in 0..OPERANDS as u8 {
        b.load(16 + i, Segment::Args, u32::from(i));
    }
    let call = b.pc();
    b.call_addr(Cond::Always, 0, 0);
    for (slot, reg) in OBSERVED.enumerate() {
        b.store(reg, Segment::Ret, slot as u32);
    }
    b.ret(Cond::Always, 0);
    let mut code = b.finish();
    let placements = curvevm::microcode::place(&mut code, &[(call, routine)]);
    Module {
        code: code.iter().map(|insn| insn.encode()).collect(),
        entries: vec![Entry {
            name: "main".into(),
            pc: 0,
            args: OPERANDS as u16,
            ret: OBSERVED.len() as u16,
        }],
        microcode: placements,
        layout: Layout {
            args: OPERANDS as u32,
            ret: OBSERVED.len() as u32,
            ..Layout::default()
        },
        ..Module::default()
    }
}

const EDGES: [u64; 8] = [
    0,
    1,
    2,
    0xFFFF_FFFF,
    1 << 32,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

#[test]
fn every_routine_matches_on_both_engines_at_every_gas_limit_around_its_cost() {
    let seed = replay_seed("CURVEVM_SEED", 0x00C0_FFEE);
    println!("seed {seed} (CURVEVM_SEED={seed} replays)");
    let mut rng = Rng::new(seed);
    let mut native_runs = 0u64;
    for routine in 0..ROUTINES.len() as u16 {
        let name = ROUTINES[usize::from(routine)].name;
        // Traps of the routine itself (overflow, division by zero), not out of gas.
        let mut routine_traps = 0u64;
        let program = Arc::new(Program::load(harness(routine), &|_| false).expect("verifies"));
        let jit = JitProgram::compile(Arc::clone(&program)).expect("compiles");
        let mut interpreted = Instance::new(Arc::clone(&program), &[]).expect("no params");
        let mut compiled = Instance::new(Arc::clone(&program), &[]).expect("no params");
        // The harness costs what precedes the call plus the stores and ret after it.
        let prologue = OBSERVED.len() as u64 + OPERANDS as u64;
        let full = prologue + routine_costs()[usize::from(routine)].gas + OBSERVED.len() as u64;
        for case in 0..600 {
            let operands: [u64; OPERANDS] = core::array::from_fn(|_| {
                if rng.chance(60) {
                    EDGES[rng.below(EDGES.len() as u64) as usize]
                } else if rng.chance(50) {
                    rng.next_u64() >> rng.below(64)
                } else {
                    rng.next_u64()
                }
            });
            // A few cases sweep every limit through the routine; the rest run with ample gas.
            // A routine of more than 10,000 gas (the fixed-point ones) sweeps its first and
            // last 512 limits and 512 random ones between: a full sweep costs its gas squared.
            let limits: Vec<u64> = if case % 100 == 0 && full - prologue <= 10_000 {
                (prologue..=full + 1).collect()
            } else if case % 100 == 0 {
                (prologue..prologue + 512)
                    .chain((0..512).map(|_| prologue + 512 + rng.below(full - prologue - 1_024)))
                    .chain(full - 511..=full + 1)
                    .collect()
            } else {
                vec![full + 10]
            };
            for gas in limits {
                let expected = interpreted
                    .call(
                        "main",
                        &operands,
                        gas,
                        &mut [],
                        &mut NoHost,
                        ExecOptions::default(),
                    )
                    .expect("starts");
                let (actual, stats) = jit
                    .call(&mut compiled, "main", &operands, gas, &mut [], &mut NoHost)
                    .expect("starts");
                assert_eq!(
                    actual, expected,
                    "seed {seed}: `{name}` on {operands:?} with gas {gas}"
                );
                if gas > full && !stats.bailed {
                    native_runs += 1;
                }
                if let Err(trap) = &expected.result
                    && trap.kind != TrapKind::OutOfGas
                {
                    routine_traps += 1;
                }
            }
        }
        println!("{name}: {routine_traps} traps");
        let can_trap = !ROUTINES[usize::from(routine)].trap_witnesses.is_empty();
        assert_eq!(
            routine_traps > 0,
            can_trap,
            "`{name}` traps: {routine_traps}"
        );
    }
    println!("{native_runs} runs entirely native");
    // Runs with ample gas never leave compiled code.
    assert!(native_runs >= ROUTINES.len() as u64 * 590, "{native_runs}");
}
