//! The CI sweep: thousands of seeds through the real cores, with coverage assertions, and the
//! replay entry point for a failing seed.

use curve_consensus_sim::{MIN_VIEWS, Options, Plan, Scenario, run, sweep};

fn env_u64(name: &str) -> Option<u64> {
    #[allow(clippy::disallowed_methods)] // test configuration, not replica state
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
    })
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `SIM_SEEDS` seeds (default 2,000) from `SIM_START` (default 0): no invariant breaks, every
/// seed runs ≥ 50 views with ≥ 1 fault event, and the faults the protocol must survive — the
/// coordinated attacks included — really happen often enough to matter.
#[test]
fn sweep_ci() {
    let start = env_u64("SIM_START").unwrap_or(0);
    let count = env_u64("SIM_SEEDS").unwrap_or(2_000);
    let result = sweep(start, count, threads(), Options::default(), None);
    println!("seeds {start}..{}: {result}", start + count);
    for violation in &result.violations {
        eprintln!("error: {violation}");
    }
    assert!(
        result.violations.is_empty(),
        "{} seeds broke an invariant",
        result.violations.len()
    );
    assert!(
        result.min_views >= MIN_VIEWS,
        "a seed ran only {} views",
        result.min_views
    );
    assert!(result.min_faults >= 1, "a seed had no fault event");
    if count >= 1_000 {
        let checks = [
            ("formed a timeout certificate", result.timeout_cert, 30),
            ("crashed and lost unsynced writes", result.lost_writes, 20),
            ("had an equivocating leader", result.equivocation, 10),
            ("partitioned then healed", result.partition_heal, 10),
        ];
        for (what, seeds, percent) in checks {
            assert!(
                result.percent(seeds) >= percent,
                "only {}% of seeds {what} (need {percent}%)",
                result.percent(seeds)
            );
        }
        assert!(result.anchors > 0, "no anchor certificate formed");
        assert!(
            result.percent(result.coalition) >= 5,
            "only {}% of seeds had a coalition of two or more",
            result.percent(result.coalition)
        );
        // Every plan runs, and against the correct protocol gets to the point where a bug would
        // bite (the stale-proposal plan even sends what only a buggy replica accepts): the
        // sweep's silence is the protocol holding, not the adversary failing to try.
        for plan in Plan::ALL {
            let [ran, dangerous, struck] = result.attacks.get(&plan).copied().unwrap_or_default();
            assert!(ran * 100 >= count * 3, "{plan:?} ran in only {ran} seeds");
            assert!(
                dangerous * 10 >= ran * 9,
                "{plan:?} reached its dangerous state in only {dangerous} of {ran} seeds"
            );
            if plan == Plan::StaleProposal {
                assert!(
                    struck * 10 >= ran * 9,
                    "{plan:?} struck in only {struck} of {ran} seeds"
                );
            }
        }
    }
}

/// Replays `SIM_SEED` (default 0); `SIM_TRACE=1` prints every event.
#[test]
fn replay() {
    let seed = env_u64("SIM_SEED").unwrap_or(0);
    let scenario = Scenario::generate(seed);
    println!("{scenario:#?}");
    let options = Options {
        trace: env_u64("SIM_TRACE").unwrap_or(0) != 0,
        ..Options::default()
    };
    match run(&scenario, options) {
        Ok(report) => println!("{report:#?}"),
        Err(violation) => panic!("{violation}"),
    }
}

/// Same seed, same run: two runs of one seed report the same outcome.
#[test]
fn runs_are_deterministic() {
    for seed in [1, 17, 4242] {
        let scenario = Scenario::generate(seed);
        let a = run(&scenario, Options::default())
            .map(|r| (r.views, r.decided, r.virtual_ms, r.coverage));
        let b = run(&scenario, Options::default())
            .map(|r| (r.views, r.decided, r.virtual_ms, r.coverage));
        assert_eq!(format!("{a:?}"), format!("{b:?}"), "seed {seed}");
    }
}
