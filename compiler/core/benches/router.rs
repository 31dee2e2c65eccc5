//! The ROUTER program over three SLAB programs on both engines (issue 25's figures: reserving
//! over 3 slabs < 60 µs and committing < 150 µs on the JIT). A route is timed whole — probe
//! holds on the three slabs, allocation by price, and a funded commit on each — and its
//! reservation phase alone as a route that cannot fill (`UNFILLED` after probing and
//! allocating, which the VM then rolls back, leaving the state as it was). Full routes
//! alternate a buy of all 30 resting asks and a sell of all 30 resting bids, the book refilled
//! (untimed) before each, so every timed route sees the same three books.
//!
//! The two-phase route (README "Two-phase routes") is timed phase by phase: `route_reserve`
//! (the probes, the allocation and each kept leg's pledge and cap) with its commit untimed, and
//! `route_commit` (three slab commits through the recorded caps, the releases, the margin) with
//! its reservation untimed.

#[path = "../tests/router_world/mod.rs"]
mod router_world;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use curvevm::{Engine, ExecOptions, Interpreter};
use curvevm_jit::JitCache;
use router_world::{MAKER, SLABS, TAKER, World};

/// 10 asks on each slab at 1,000 / 1,005 / 1,010 (or bids at 990 / 995 / 985).
fn refill(w: &mut World, side: u64) {
    let prices: [u64; 3] = if side == 1 {
        [1_010, 1_000, 1_005]
    } else {
        [990, 995, 985]
    };
    for (slab, price) in SLABS.into_iter().zip(prices) {
        w.slab_call(slab, "place_order", &[MAKER, 0, side, price, 10])
            .expect("the maker rests an order");
    }
}

fn world() -> World {
    let mut w = World::new(&[]);
    w.ledger.set_vault(TAKER, 0, 1 << 100);
    w
}

fn bench(c: &mut Criterion) {
    let engines: [(&str, Box<dyn Engine>); 2] = [
        ("jit", Box::new(JitCache::default())),
        ("interpreter", Box::new(Interpreter(ExecOptions::default()))),
    ];
    let mut group = c.benchmark_group("router");
    for (name, engine) in &engines {
        let engine = engine.as_ref();
        // The reservation phase: asks of 30 resting, a buy of 40 cannot fill.
        let mut w = world();
        refill(&mut w, 1);
        let unfillable = [TAKER, 1, 0, 0, 40, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        group.bench_function(format!("reserve_3_slabs/{name}"), |b| {
            b.iter(|| {
                let outcome = w.call(engine, "route", &unfillable);
                assert!(outcome.result.is_err(), "a route of 40 cannot fill");
            })
        });
        // Whole routes over the three slabs, a buy and a sell in turn.
        let mut w = world();
        let mut route_id = 10;
        group.bench_function(format!("route_3_slabs/{name}"), |b| {
            b.iter_custom(|iterations| {
                let mut timed = Duration::ZERO;
                for i in 0..iterations {
                    let side = i % 2;
                    refill(&mut w, 1 - side);
                    let (limit, taker_side) = if side == 0 { (1_010, 0) } else { (985, 1) };
                    route_id += 1;
                    let args = [
                        TAKER, route_id, 0, taker_side, 30, limit, SLABS[0], SLABS[1], SLABS[2],
                    ];
                    let start = Instant::now();
                    let outcome = w.call(engine, "route", &args);
                    timed += start.elapsed();
                    let got = outcome.result.expect("the route fills");
                    assert_eq!((got[0], got[5]), (30, 3), "all three slabs fill");
                }
                timed
            })
        });
    }
    for (name, engine) in &engines {
        let engine = engine.as_ref();
        for phase in ["route_reserve", "route_commit"] {
            let mut w = world();
            let mut route_id = 1_000;
            group.bench_function(format!("{phase}_3_slabs/{name}"), |b| {
                b.iter_custom(|iterations| {
                    let mut timed = Duration::ZERO;
                    for i in 0..iterations {
                        let side = i % 2;
                        refill(&mut w, 1 - side);
                        let limit = if side == 0 { 1_010 } else { 985 };
                        route_id += 1;
                        let args = [
                            TAKER, route_id, 0, side, 30, limit, SLABS[0], SLABS[1], SLABS[2],
                        ];
                        let start = Instant::now();
                        let reserved = w.call(engine, "route_reserve", &args);
                        if phase == "route_reserve" {
                            timed += start.elapsed();
                        }
                        let got = reserved.result.expect("the reservation holds");
                        assert_eq!(got[..2], [30, 3], "all three slabs hold");
                        let start = Instant::now();
                        let committed = w.call(engine, "route_commit", &[TAKER, route_id]);
                        if phase == "route_commit" {
                            timed += start.elapsed();
                        }
                        let got = committed.result.expect("the route commits");
                        assert_eq!((got[0], got[5]), (30, 3), "all three slabs fill");
                    }
                    timed
                })
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
