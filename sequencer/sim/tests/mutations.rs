//! Teeth: each planted bug must break an invariant within the 2,000 seeds of the CI sweep. The
//! bugs in the decide rule, the vote rule and restart must be caught as what they really cost —
//! two honest replicas deciding different blocks at one height — not only as an alarm or a double
//! vote on the way there.

use curve_consensus::{Config, Mutation};
use curve_consensus_sim::{Kind, Options, StopWhen, Violation, sweep};

const SEEDS: u64 = 2_000;

fn hunt(name: &str, configure: fn(Config) -> Config, caught: StopWhen) -> Violation {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = Options {
        configure,
        trace: false,
    };
    let result = sweep(0, SEEDS, threads, options, Some(caught));
    let first = result
        .violations
        .iter()
        .find(|v| caught(v))
        .unwrap_or_else(|| {
            for violation in &result.violations {
                eprintln!("not counted: {violation}");
            }
            panic!(
                "mutation {name} survived {} seeds: the simulator has no teeth",
                result.seeds()
            )
        });
    println!(
        "mutation {name} caught after {} seeds: {first}",
        result.seeds()
    );
    first.clone()
}

fn any(_: &Violation) -> bool {
    true
}

fn conflicting_decide(violation: &Violation) -> bool {
    violation.kind == Kind::ConflictingDecide
}

#[test]
fn skipping_the_persist_barrier_is_caught() {
    hunt(
        "skip persist-before-vote barrier",
        |c| c.with_mutation(Mutation::SkipPersistBarrier),
        any,
    );
}

#[test]
fn a_quorum_of_2f_is_caught() {
    hunt(
        "quorum of 2f",
        |c| c.with_mutation(Mutation::QuorumOf2f),
        any,
    );
}

#[test]
fn deciding_without_consecutive_views_is_a_conflicting_decide() {
    hunt(
        "decide without the consecutive-view check",
        |c| c.with_mutation(Mutation::DecideWithoutConsecutiveViews),
        conflicting_decide,
    );
}

#[test]
fn voting_past_the_tc_high_qc_is_a_conflicting_decide() {
    hunt(
        "vote rule ignoring the TC's high QC",
        |c| c.with_mutation(Mutation::VoteIgnoresTcHighQc),
        conflicting_decide,
    );
}

#[test]
fn forgetting_the_last_voted_view_is_a_conflicting_decide() {
    hunt(
        "restart forgetting the last voted view",
        |c| c.with_mutation(Mutation::RestartForgetsLastVotedView),
        conflicting_decide,
    );
}
