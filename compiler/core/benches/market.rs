//! The MARKET program on both engines (issue 24's figures): at 8 worlds (lmsr.md §8.1's seed
//! table) a `quote` (< 10 µs) and a basket trade (< 50 µs); at 1,024 worlds (N = 10) a basket
//! trade on the JIT (< 1 ms) — a marginal (512 exponentials) and a corner (one) while the
//! maximum stays, and a corner that moves the maximum (every other world repriced, 1,023
//! exponentials: the worst case the gas bound prices). Each timed buy is
//! undone by an untimed sell of the same basket, which restores the state word for word (the
//! caches are pure functions of the shares), so every iteration sees the same market.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use curve_compiler::templates::market::{self, MarketLayout, Structure, params};
use curvevm::{Instance, Outcome};
use curvevm_host::{Caller, Cap, Clock, Ledger, Role, RollupHost};
use curvevm_jit::JitProgram;

/// The market's program id (the caps' scope).
const MARKET_ID: u64 = 5;
/// The trader.
const TRADER: u64 = 7;
/// b = 100 units of 10^6 base units.
const B: u64 = 100_000_000;
/// Above every entrypoint's bound at 1,024 worlds.
const GAS: u64 = 300_000_000;

struct Market {
    jit: JitProgram,
    instance: Instance,
    host: RollupHost,
    cap: u64,
}

impl Market {
    fn new(structure: Structure, events: u32, weights: &[u64]) -> Market {
        let layout = MarketLayout::new(structure, events);
        let lowered = curve_ir::lower(&market::program(&layout)).expect("lowers");
        let program = Arc::new(RollupHost::load(lowered.module, Role::Market).expect("loads"));
        let mut table = vec![0; params::names(&layout).len()];
        for (name, value) in [
            ("one", 1),
            ("b", B),
            ("b_max", params::B_MAX),
            ("trade_bps", 0),
            ("trade_bps_max", params::TRADE_BPS_MAX),
            ("close_ms", u64::MAX),
        ] {
            table[params::param(name) as usize] = value;
        }
        let lifts = market::prior::lifts(B, weights).expect("weights");
        let base = params::lifts_base() as usize;
        for (w, lift) in lifts.iter().enumerate() {
            table[base + 2 * w] = *lift as u64;
            table[base + 2 * w + 1] = (lift >> 64) as u64;
        }
        let mut host = RollupHost::new(
            Ledger::default(),
            Clock {
                now_ms: 1_000,
                height: 1,
                chain_id: 7,
            },
            Caller {
                id: MARKET_ID,
                role: Role::Market,
            },
        );
        let funds = 1u128 << 120;
        host.ledger.set_escrow(TRADER, MARKET_ID, 0, funds);
        let cap = host
            .ledger
            .add_cap(Cap::new(TRADER, MARKET_ID, 0, funds, u64::MAX));
        let mut market = Market {
            jit: JitProgram::compile(Arc::clone(&program)).expect("compiles"),
            instance: Instance::new(program, &table).expect("fits"),
            host,
            cap,
        };
        market.ok("open", &[cap, TRADER]);
        market
    }

    fn run(&mut self, engine: &str, entry: &str, args: &[u64]) -> Outcome {
        if engine == "jit" {
            self.jit
                .call(
                    &mut self.instance,
                    entry,
                    args,
                    GAS,
                    &mut [],
                    &mut self.host,
                )
                .expect("starts")
                .0
        } else {
            self.instance
                .call(
                    entry,
                    args,
                    GAS,
                    &mut [],
                    &mut self.host,
                    Default::default(),
                )
                .expect("starts")
        }
    }

    fn ok(&mut self, entry: &str, args: &[u64]) -> Vec<u64> {
        self.run("jit", entry, args)
            .result
            .unwrap_or_else(|trap| panic!("{entry}{args:?}: {trap:?}"))
    }

    fn buy_args(&self, yes: u64, no: u64, shares: u64) -> [u64; 8] {
        [self.cap, TRADER, yes, no, shares, 0, u64::MAX, u64::MAX]
    }
}

/// Times `buy` of `(yes, no)` on `engine`, undoing each with an untimed `sell`.
fn bench_trade(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    market: &mut Market,
    name: &str,
    engine: &str,
    (yes, no): (u64, u64),
) {
    let shares = 10_000_000;
    let buy = market.buy_args(yes, no, shares);
    let sell = [TRADER, yes, no, shares, 0, 0, 0];
    group.bench_function(BenchmarkId::new(name, engine), |b| {
        b.iter_custom(|iterations| {
            let mut spent = Duration::ZERO;
            for _ in 0..iterations {
                let start = Instant::now();
                let outcome = market.run(engine, "buy", &buy);
                spent += start.elapsed();
                outcome.result.expect("buys");
                market.ok("sell", &sell);
            }
            spent
        })
    });
}

fn market_calls(c: &mut Criterion) {
    // lmsr.md §8.1's seed table; A is event 2, B event 1.
    let mut small = Market::new(Structure::Joint, 3, &[4, 1, 3, 2, 2, 1, 5, 2]);
    let mut group = c.benchmark_group("market_8_worlds");
    for engine in ["jit", "interpreter"] {
        let quote = [0b110, 0, 10_000_000, 0];
        group.bench_function(BenchmarkId::new("quote_slice", engine), |b| {
            b.iter(|| small.run(engine, "quote", &quote).result.expect("quotes"))
        });
        bench_trade(&mut group, &mut small, "trade_slice", engine, (0b110, 0));
    }
    group.finish();

    // Uniform, then 200 units of world 0 bought (untimed): world 0 is the maximum, so a buy of
    // 10 elsewhere leaves it (k exponentials), and a buy of world 0 moves it (n − 1).
    let mut large = Market::new(Structure::Joint, 10, &[1; 1024]);
    let setup = large.buy_args(0, 0b11_1111_1111, 200_000_000);
    large.ok("buy", &setup);
    let mut group = c.benchmark_group("market_1024_worlds");
    group.sample_size(20);
    let trades = [
        ("trade_marginal_max_stays", (1, 0)),
        ("trade_corner_max_stays", (0b11_1111_1111, 0)),
        ("trade_corner_max_moves", (0, 0b11_1111_1111)),
    ];
    for engine in ["jit", "interpreter"] {
        for (name, basket) in trades {
            bench_trade(&mut group, &mut large, name, engine, basket);
        }
        let quote = [1, 0, 10_000_000, 0];
        group.bench_function(BenchmarkId::new("quote_marginal", engine), |b| {
            b.iter(|| large.run(engine, "quote", &quote).result.expect("quotes"))
        });
    }
    group.finish();
}

criterion_group!(benches, market_calls);
criterion_main!(benches);
