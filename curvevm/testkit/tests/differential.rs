//! Interpreter vs JIT on random programs (which invoke two random callees and map views):
//! ≥ 50,000 (program, input, gas limit) cases with the gas sweep, a printed coverage histogram
//! (invoke and view rows, every invoke refusal, and the host calls that ran by function and
//! result — each of the twelve answered, denials for capabilities a module left out) and its
//! minimum shares. `CURVEVM_SEED=<n>` replays a run.

use curvevm_testkit::diff::run_harness;
use curvevm_testkit::programs::replay_seed;

#[test]
fn the_jit_matches_the_interpreter_on_random_programs() {
    let seed = replay_seed("CURVEVM_SEED", 0x5EED_C0DE);
    println!("seed {seed} (CURVEVM_SEED={seed} replays)");
    let coverage = match run_harness(seed, 200, 2, 60) {
        Ok(coverage) => coverage,
        Err(error) => panic!("seed {seed}: {error}"),
    };
    println!("{}", coverage.histogram());
    if let Err(missed) = coverage.check() {
        panic!("seed {seed}: {missed}\n{}", coverage.histogram());
    }
}
