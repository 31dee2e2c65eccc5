//! Runs many simulator seeds and prints coverage; exits 1 on the first broken invariant.
//!
//! `cargo run --release -p curve-consensus-sim --bin consensus-sweep -- --seeds 100000`

use clap::Parser;
use curve_consensus_sim::{Options, sweep};

/// Deterministic simulation sweep of the consensus core.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Number of seeds.
    #[arg(long, default_value_t = 100_000)]
    seeds: u64,
    /// Worker threads (default: the machine's parallelism).
    #[arg(long)]
    threads: Option<usize>,
    /// Seeds per progress line.
    #[arg(long, default_value_t = 10_000)]
    chunk: u64,
}

fn main() {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut seed = args.start;
    let end = args.start + args.seeds;
    while seed < end {
        let count = args.chunk.max(1).min(end - seed);
        let result = sweep(seed, count, threads, Options::default(), Some(|_| true));
        println!("seeds {seed}..{}: {result}", seed + count);
        if let Some(violation) = result.violations.first() {
            eprintln!("error: {violation}");
            std::process::exit(1);
        }
        seed += count;
    }
}
