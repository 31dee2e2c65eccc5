//! The SLAB program on both engines with its book at 50 % and 95 % of the orders pool
//! (`examples/perp_sol.curve`'s default pools: 24,000 orders): `reserve` walking 6 levels
//! (issue 23: < 20 µs on the JIT), `commit` of a hold of 6 slices — a hold's most since
//! funding (issue 27) — (< 50 µs on the JIT), and
//! `place_order` + `cancel_order` of one order into the middle of the book (PFM1); and issue
//! 27's liquidation sweep and funding accrual (`slab_risk`).
//! Each measured call is undone by untimed ones (`cancel` after `reserve`; the 6 filled
//! orders placed again after `commit`), so every iteration sees the same book. Every
//! anti-toxicity mechanism is on (issue 26): the script's kill band, JIT penalty, round-trip
//! guard and freeze, a 2 bps maker rebate added to its FEE line, and each reserve carries a
//! commitment its commit opens.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use curve_compiler::templates::oracle;
use curve_compiler::templates::slab;
use curvescript_syntax::ast::BlockKind;
use curvevm::{Instance, Outcome};
use curvevm_host::{Caller, Cap, Clock, Ledger, Role, RollupHost};
use curvevm_jit::JitProgram;

const SCRIPT: &str = include_str!("../../../examples/perp_sol.curve");

/// The bench's chain id (what a commitment is bound to).
const CHAIN_ID: u64 = 7;

/// The salt every benchmark reserve commits with.
const SALT: [u64; 4] = [0x5A17, 1, 2, 3];

/// Ask levels start here; bids sit below.
const MID: u64 = 15_000;

/// Ask levels a measured hold walks: as many as one hold may take.
const LEVELS: u64 = slab::SLICES_PER_HOLD_MAX as u64;

/// The slab's program id (the caps' scope).
const SLAB_ID: u64 = 3;

/// The taker of the benchmarks.
const TAKER: u64 = 500;

struct Slab {
    jit: JitProgram,
    instance: Instance,
    orders_capacity: u32,
    host: RollupHost,
    /// The oracle's state, marked at `MID`.
    oracle: Vec<u64>,
}

fn host() -> RollupHost {
    RollupHost::new(
        Ledger::default(),
        Clock {
            now_ms: 1_000,
            height: 1,
            chain_id: CHAIN_ID,
        },
        Caller {
            id: 3,
            role: Role::Slab,
        },
    )
}

impl Slab {
    fn new() -> Slab {
        let script = SCRIPT.replace("rebate_delay_ms=50", "rebate_delay_ms=50 rebate_bps=2");
        assert_ne!(script, SCRIPT, "the rebate is added");
        let checked = curvescript_check::check_source(&script, None);
        let block = checked
            .script
            .blocks
            .iter()
            .find(|b| b.kind == BlockKind::Slab)
            .expect("a SLAB block");
        let built = slab::build(block).expect("fits");
        let program = Arc::new(RollupHost::load(built.lowered.module, Role::Slab).expect("loads"));
        let jit = JitProgram::compile(Arc::clone(&program)).expect("compiles");
        let instance = Instance::new(Arc::clone(&program), &built.params).expect("params fit");
        let mut oracle = vec![0; oracle::state::WORDS as usize];
        oracle[oracle::state::MARK as usize] = MID;
        let mut host = host();
        host.ledger
            .set_escrow(TAKER, SLAB_ID, 0, u128::from(u64::MAX));
        Slab {
            jit,
            instance,
            orders_capacity: built.layout.capacity("orders"),
            host,
            oracle,
        }
    }

    fn jit(&mut self, entry: &str, args: &[u64]) -> Outcome {
        self.jit
            .call(
                &mut self.instance,
                entry,
                args,
                10_000_000,
                std::slice::from_mut(&mut self.oracle),
                &mut self.host,
            )
            .expect("starts")
            .0
    }

    fn interpret(&mut self, entry: &str, args: &[u64]) -> Outcome {
        self.instance
            .call(
                entry,
                args,
                10_000_000,
                std::slice::from_mut(&mut self.oracle),
                &mut self.host,
                Default::default(),
            )
            .expect("starts")
    }

    /// A cap over the taker's escrow for `amount`, as the router mints before a commit.
    fn cap(&mut self, amount: u128) -> u64 {
        let expiry = self.host.clock.now_ms + 60_000;
        self.host
            .ledger
            .add_cap(Cap::new(TAKER, SLAB_ID, 0, amount, expiry))
    }

    /// The `LEVELS` best ask levels: one order of 10 each from maker 1.
    fn place_best_asks(&mut self) {
        for level in 0..LEVELS {
            self.ok("place_order", &[1, 0, 1, MID + level, 10]);
        }
    }

    fn run(&mut self, engine: &str, entry: &str, args: &[u64]) -> Outcome {
        if engine == "jit" {
            self.jit(entry, args)
        } else {
            self.interpret(entry, args)
        }
    }

    fn ok(&mut self, entry: &str, args: &[u64]) -> Vec<u64> {
        let outcome = self.jit(entry, args);
        outcome
            .result
            .unwrap_or_else(|trap| panic!("{entry}{args:?}: {trap:?}"))
    }

    /// A book filled to `percent` of the orders pool: the `LEVELS` best ask levels hold one order of
    /// 10 each (what `reserve` walks); the rest spreads over 1,000 levels a side, from the
    /// worst inward so every level stays within the depth bound.
    fn filled(percent: u32) -> Slab {
        let mut slab = Slab::new();
        let makers = 100u64;
        for user in 1..=makers {
            slab.ok("set_maker_class", &[user, 1]);
        }
        slab.place_best_asks();
        let target = slab.orders_capacity * percent / 100 - slab::SLICES_PER_HOLD_MAX;
        let mut placed = 0;
        'fill: for round in 0.. {
            for level in (0..1_000u64).rev() {
                for (side, price) in [(1, MID + LEVELS + level), (0, MID - 1 - level)] {
                    if placed == target {
                        break 'fill;
                    }
                    let user = 2 + (placed as u64 + round) % (makers - 1);
                    slab.ok("place_order", &[user, 0, side, price, 1]);
                    placed += 1;
                }
            }
        }
        slab
    }
}

fn slab_calls(c: &mut Criterion) {
    for percent in [50, 95] {
        // One book per fill level, shared by both measurements (filling it is the slow part).
        let mut slab = Slab::filled(percent);
        let mut group = c.benchmark_group(format!("slab_{percent}pct"));
        // Buy 10 × LEVELS through the LEVELS best ask levels, committed to with `SALT`.
        let commitment = curve_formats::commitment::Reveal {
            chain_id: CHAIN_ID,
            route_id: 1,
            instrument: 0,
            side: 0,
            qty: 10 * LEVELS,
            limit_px: MID + LEVELS - 1,
            salt: curve_formats::commitment::words_bytes(&SALT),
        }
        .commitment();
        let mut reserve = vec![1, TAKER, 0, 0, 10 * LEVELS, MID + LEVELS - 1, 1_000];
        reserve.extend(curve_formats::commitment::digest_words(&commitment));
        let held = slab.ok("reserve", &reserve);
        assert_eq!(held[1], 10 * LEVELS, "filled through every level");
        slab.ok("cancel", &[held[0]]);
        for engine in ["jit", "interpreter"] {
            group.bench_function(BenchmarkId::new("reserve_6_levels", engine), |b| {
                b.iter_custom(|iterations| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        let start = Instant::now();
                        let outcome = slab.run(engine, "reserve", &reserve);
                        spent += start.elapsed();
                        let hold = outcome.result.expect("reserves")[0];
                        slab.ok("cancel", &[hold]);
                    }
                    spent
                })
            });
            group.bench_function(BenchmarkId::new("commit_6_slices", engine), |b| {
                b.iter_custom(|iterations| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        let held = slab.ok("reserve", &reserve);
                        let max_charge = u128::from(held[4]) | u128::from(held[5]) << 64;
                        let cap = slab.cap(max_charge);
                        let start = Instant::now();
                        let mut args = vec![held[0], cap];
                        args.extend(SALT);
                        args.push(0);
                        let outcome = slab.run(engine, "commit", &args);
                        spent += start.elapsed();
                        assert_eq!(outcome.result.expect("commits")[0], 10 * LEVELS);
                        slab.place_best_asks();
                    }
                    spent
                })
            });
            // PFM1: an order into the middle of the bids and out again, near a full pool.
            group.bench_function(BenchmarkId::new("place_and_cancel_order", engine), |b| {
                b.iter(|| {
                    let outcome = slab.run(engine, "place_order", &[1, 0, 0, MID - 500, 1]);
                    let id = outcome.result.expect("places")[0];
                    slab.run(engine, "cancel_order", &[1, id])
                })
            });
        }
        group.finish();
    }
}

/// A liquidation's maintenance deficit that `partial` turns into `LIQUIDATED` contracts at the
/// mark `MID` (350 bps MM): `⌈deficit × 10,000 / (MID × 350)⌉`.
const LIQUIDATED: u64 = slab::liquidation::LIQUIDATION_FILLS_MAX as u64;
const DEFICIT: u64 = LIQUIDATED * MID * 350 / 10_000;

impl Slab {
    /// The taker buys `qty` from a fresh ask of maker 1 at `MID` (reserve and commit).
    fn taker_buys(&mut self, qty: u64) {
        self.ok("place_order", &[1, 0, 1, MID, qty]);
        let mut reserve = vec![9, TAKER, 0, 0, qty, MID, 1_000];
        reserve.extend([0; 4]);
        let held = self.ok("reserve", &reserve);
        assert_eq!(held[1], qty);
        let cap = self.cap(u128::from(held[4]) | u128::from(held[5]) << 64);
        self.ok("commit", &[held[0], cap, 0, 0, 0, 0, 0]);
    }

    /// Sets up one sweep and returns its `liquidation_call` arguments: `LIQUIDATED` bids of 1
    /// just under the mark from makers 2, 3, … (each fill a different maker's position) and a
    /// cap over the taker's escrow.
    fn liquidation_setup(&mut self) -> [u64; 6] {
        for maker in 0..LIQUIDATED {
            self.ok("place_order", &[2 + maker, 0, 0, MID - 1, 1]);
        }
        let cap = self.cap(u128::from(u64::MAX));
        [TAKER, 0, DEFICIT, 0, 200, cap]
    }

    /// The feed's funding accumulator as if its price had been `MID` since time 0, to now.
    fn accumulate_to_now(&mut self) {
        let now = self.host.clock.now_ms;
        let area = u128::from(MID) * u128::from(now);
        self.oracle[oracle::state::PRICE as usize] = MID;
        self.oracle[oracle::state::CUM_MS as usize] = now;
        self.oracle[oracle::state::CUM_PRICE_MS as usize] = area as u64;
        self.oracle[oracle::state::CUM_PRICE_MS as usize + 1] = (area >> 64) as u64;
    }
}

/// Issue 27's figures: a liquidation sweep (`liquidation_call` of a long, policy `partial`,
/// closing `LIQUIDATED` contracts against as many makers' bids: 1 + 6 positions settled and
/// moved) and the funding accrual (`apply_funding` after an interval turned, with fills
/// behind it: the index moves by the premium over the TWAP). Accrual is O(1) in positions — a
/// position settles what it owes at its next fill, which `commit_6_slices` includes (12
/// settlements) — so `apply_funding`'s time is the accrual's whole cost whatever the number
/// of open positions. Each measured call is set up by untimed ones on an otherwise empty book.
fn funding_and_liquidation(c: &mut Criterion) {
    let mut slab = Slab::new();
    for maker in 1..=LIQUIDATED + 1 {
        slab.ok("set_maker_class", &[maker, 1]);
    }
    slab.accumulate_to_now();
    slab.ok("apply_funding", &[0]);
    slab.taker_buys(10 * LIQUIDATED);
    let mut group = c.benchmark_group("slab_risk");
    for engine in ["jit", "interpreter"] {
        group.bench_function(BenchmarkId::new("liquidation_sweep_6_fills", engine), |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    let args = slab.liquidation_setup();
                    let start = Instant::now();
                    let outcome = slab.run(engine, "liquidation_call", &args);
                    spent += start.elapsed();
                    let done = outcome.result.expect("liquidates");
                    assert_eq!(done[2], LIQUIDATED, "closed");
                    slab.taker_buys(LIQUIDATED);
                }
                spent
            })
        });
        group.bench_function(BenchmarkId::new("apply_funding_interval", engine), |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    // Fills at a premium since the last application, then the next interval.
                    let args = slab.liquidation_setup();
                    slab.ok("liquidation_call", &args);
                    slab.taker_buys(LIQUIDATED);
                    slab.host.clock.now_ms += 3_600_000;
                    slab.accumulate_to_now();
                    let start = Instant::now();
                    let outcome = slab.run(engine, "apply_funding", &[0]);
                    spent += start.elapsed();
                    assert_eq!(outcome.result.expect("applies")[2], 1, "one interval");
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, slab_calls, funding_and_liquidation);
criterion_main!(benches);
