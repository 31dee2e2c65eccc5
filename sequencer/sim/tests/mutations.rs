//! Teeth: each planted bug must break an invariant within 2,000 seeds of the CI sweep.

use curve_consensus::{Config, Mutation};
use curve_consensus_sim::{Options, sweep};

const SEEDS: u64 = 2_000;

fn hunt(name: &str, configure: fn(Config) -> Config) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = Options {
        configure,
        trace: false,
    };
    let result = sweep(0, SEEDS, threads, options, true);
    let first = result.violations.first().unwrap_or_else(|| {
        panic!(
            "mutation {name} survived {} seeds: the simulator has no teeth",
            result.seeds()
        )
    });
    println!(
        "mutation {name} caught after {} seeds: {first}",
        result.seeds()
    );
}

#[test]
fn skipping_the_persist_barrier_is_caught() {
    hunt("skip persist-before-vote barrier", |c| {
        c.with_mutation(Mutation::SkipPersistBarrier)
    });
}

#[test]
fn a_quorum_of_2f_is_caught() {
    hunt("quorum of 2f", |c| c.with_mutation(Mutation::QuorumOf2f));
}
