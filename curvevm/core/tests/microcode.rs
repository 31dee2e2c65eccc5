//! Every microcode routine, run as its pure-ISA expansion, against the native twin the engines
//! use: same results, same registers, same carry, same gas, same trap and trap pc, on ≥ 10,000
//! random operands per routine plus edges (and 10,000 more on the working range of the
//! fixed-point routines); and gas independent of the operands.

use curvevm::interp::{ROUTINE_BASE, execute_routine, routine_costs};
use curvevm::microcode::{OPERANDS, ROUTINES};

/// SplitMix64: a seeded generator, so a failure can be replayed from the printed seed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Mostly uniform words, sometimes small or near a boundary, so that overflow boundaries and
    /// short operands are hit often.
    fn operand(&mut self) -> u64 {
        match self.next() % 8 {
            0 => self.next() % 4,
            1 => u64::MAX - self.next() % 4,
            2 => 1u64 << (self.next() % 64),
            3 => self.next() >> (self.next() % 64),
            _ => self.next(),
        }
    }
}

const EDGES: [u64; 9] = [
    0,
    1,
    2,
    63,
    64,
    (1 << 63) - 1,
    1 << 63,
    u64::MAX - 1,
    u64::MAX,
];

fn seed() -> u64 {
    #[allow(clippy::disallowed_methods, reason = "a test reads its replay seed")]
    std::env::var("CURVEVM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0004)
}

fn check(id: usize, operands: [u64; OPERANDS]) {
    let routine = &ROUTINES[id];
    let costs = &routine_costs()[id];
    let expanded = execute_routine(id as u16, operands, u64::MAX, false);
    let native = execute_routine(id as u16, operands, u64::MAX, true);
    let context = || format!("{} on {operands:#x?}", routine.name);
    // After a trap the call's registers are discarded, so only the trap and the gas count.
    if expanded.trap.is_some() {
        assert_eq!(
            (expanded.trap, expanded.gas_used),
            (native.trap, native.gas_used),
            "{}",
            context()
        );
    } else {
        assert_eq!(expanded, native, "engines differ: {}", context());
    }
    // The twin agrees with the expansion's meaning, not only with the engine's shortcut.
    match (routine.native)(operands) {
        Ok(results) => {
            assert_eq!(expanded.trap, None, "{}", context());
            for (&reg, value) in routine.results.iter().zip(results) {
                assert_eq!(
                    expanded.state.registers[usize::from(reg)],
                    value,
                    "{}",
                    context()
                );
            }
            for &reg in &costs.clobbered {
                assert_eq!(
                    expanded.state.registers[usize::from(reg)],
                    0,
                    "{}",
                    context()
                );
            }
            assert!(!expanded.state.carry, "{}", context());
            // call + routine + the harness's ret.
            assert_eq!(
                expanded.gas_used,
                costs.gas + 1,
                "gas depends on operands: {}",
                context()
            );
        }
        Err(kind) => {
            let trap = expanded
                .trap
                .unwrap_or_else(|| panic!("no trap: {}", context()));
            let expected = kind.trap_kind();
            assert_eq!(trap.kind, expected, "{}", context());
            let &(_, gas, offset) = costs.traps.iter().find(|(k, _, _)| *k == kind).unwrap();
            assert_eq!(
                trap.pc,
                ROUTINE_BASE + offset,
                "trap pc depends on operands: {}",
                context()
            );
            assert_eq!(
                expanded.gas_used,
                gas,
                "trap gas depends on operands: {}",
                context()
            );
        }
    }
}

#[test]
fn expansions_match_native_twins_on_random_and_edge_operands() {
    let seed = seed();
    println!("seed {seed} (set CURVEVM_SEED to replay)");
    let mut rng = SplitMix(seed);
    for (id, _) in ROUTINES.iter().enumerate() {
        for &x in &EDGES {
            for &y in &EDGES {
                check(id, [x, y, x, y, y]);
                check(id, [x, 0, y, 0, x]);
                check(id, [y, x, 0, x, 1]);
            }
        }
        for _ in 0..10_000 {
            let operands = std::array::from_fn(|_| rng.operand());
            check(id, operands);
        }
    }
}

/// The fixed-point routines on their working range, where random words rarely land: `exp_neg`
/// on arguments below 46 (every fraction bit pattern and every k), `ln` on arguments of every
/// bit length (and below 1, where it aborts).
#[test]
fn fixed_point_routines_match_on_their_working_range() {
    let seed = seed();
    println!("seed {seed} (set CURVEVM_SEED to replay)");
    let mut rng = SplitMix(seed ^ 0xF1ED);
    let (exp, _) = curvevm::microcode::find("exp_neg").expect("exp_neg");
    let (ln, _) = curvevm::microcode::find("ln").expect("ln");
    for _ in 0..10_000 {
        let high = rng.next() % 46;
        check(usize::from(exp), [rng.operand(), high, 0, 0, 0]);
        // ln on every bit length of the high word, and just above 1.
        let high = (rng.next() >> (rng.next() % 64)).max(1);
        check(usize::from(ln), [rng.operand(), high, 0, 0, 0]);
    }
    for high in 0..=45 {
        for low in [0, 1, u64::MAX, 1 << 63] {
            check(usize::from(exp), [low, high, 0, 0, 0]);
            check(usize::from(ln), [low, 1 << (high % 64), 0, 0, 0]);
            check(usize::from(ln), [low, high, 0, 0, 0]);
        }
    }
}

#[test]
fn overflow_boundaries_of_the_u128_routines() {
    let max = u128::MAX;
    let cases: [(u128, u128); 8] = [
        (max, 0),
        (max, 1),
        (max - 1, 1),
        (1 << 64, 1 << 64),
        ((1 << 64) - 1, (1 << 64) + 1),
        (1 << 127, 2),
        (1 << 127, 1),
        (max, max),
    ];
    for id in 0..ROUTINES.len() {
        for (a, b) in cases {
            for (x, y) in [(a, b), (b, a)] {
                check(
                    id,
                    [
                        x as u64,
                        (x >> 64) as u64,
                        y as u64,
                        (y >> 64) as u64,
                        y as u64,
                    ],
                );
            }
        }
    }
}

#[test]
fn a_gas_short_routine_runs_out_of_gas_at_the_same_instruction_on_both_paths() {
    for (id, (routine, costs)) in ROUTINES.iter().zip(routine_costs()).enumerate() {
        let full = costs.gas + 1;
        for limit in [0, 1, 2, full / 2, full - 2, full - 1, full] {
            let operands = [7, 3, 5, 0, 2];
            let expanded = execute_routine(id as u16, operands, limit, false);
            let native = execute_routine(id as u16, operands, limit, true);
            assert_eq!(
                expanded.trap, native.trap,
                "{} at limit {limit}",
                routine.name
            );
            assert_eq!(
                expanded.gas_used, native.gas_used,
                "{} at limit {limit}",
                routine.name
            );
        }
    }
}
