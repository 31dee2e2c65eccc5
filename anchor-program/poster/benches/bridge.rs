//! The bridge's figures on the local endpoint (BENCHMARKS.md):
//!
//! - `post_batch_confirmed`: from an anchor certificate being available to its `post_batch`
//!   confirmed (`Poster::post_next`: the tip read, the certificate, the signed transaction,
//!   `sendTransaction` with preflight, the status), one height per iteration; p50 and p99 of
//!   every iteration are printed after criterion's estimate.
//! - `send_transaction_round_trip`: the endpoint's `sendTransaction` (preflight simulation and
//!   processing) for a system transfer.
//! - The size of each transaction the bridge and its users send, printed once.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::key;
use criterion::{Criterion, criterion_group, criterion_main};
use solana_signer::Signer;
use solana_transaction::Transaction;

/// Benchmarks `step` on what `prepare` (untimed) makes, keeping every iteration's time, and
/// prints their p50 and p99 after criterion's estimate.
fn timed<T>(
    c: &mut Criterion,
    name: &str,
    mut prepare: impl FnMut() -> T,
    mut step: impl FnMut(T),
) {
    let mut samples = Vec::new();
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let input = prepare();
                let started = Instant::now();
                step(input);
                let took = started.elapsed();
                samples.push(took);
                total += took;
            }
            total
        })
    });
    if !samples.is_empty() {
        let (p50, p99) = percentiles(&mut samples);
        println!(
            "{name}: {} iterations, p50 {p50:?}, p99 {p99:?}",
            samples.len()
        );
    }
}

/// `(p50, p99)` of `samples`.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |p: usize| samples[(samples.len() - 1) * p / 100];
    (at(50), at(99))
}

fn bridge(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let deployed = runtime.block_on(common::Deployed::start(400));
    let (client, payer) = (&deployed.client, &deployed.payer);
    let available = Arc::new(AtomicU64::new(0));
    let mut poster = deployed.poster(&available);

    timed(
        c,
        "bridge/post_batch_confirmed",
        || available.fetch_add(1, Ordering::SeqCst),
        |_| {
            let posted = runtime.block_on(poster.post_next()).expect("posts");
            assert!(posted.is_some());
        },
    );

    let sender = key("sender");
    runtime.block_on(common::airdrop(client, &sender.pubkey()));
    // Above the rent-exempt minimum, so the receiver can be created by the first.
    let mut lamports = 1_000_000;
    timed(
        c,
        "bridge/send_transaction_round_trip",
        || {
            // A new amount each time: a new signature, never a duplicate.
            lamports += 1;
            let transfer = solana_system_interface::instruction::transfer(
                &sender.pubkey(),
                &key("receiver").pubkey(),
                lamports,
            );
            let blockhash = runtime
                .block_on(client.get_latest_blockhash())
                .expect("a blockhash");
            Transaction::new_signed_with_payer(
                &[transfer],
                Some(&sender.pubkey()),
                &[&sender],
                blockhash,
            )
        },
        |transaction| {
            runtime
                .block_on(client.send_transaction(&transaction))
                .expect("sent");
        },
    );

    for (what, bytes) in common::chain::transaction_sizes(payer) {
        println!("bridge/size {what}: {bytes} bytes (of 1,232)");
    }
}

criterion_group!(benches, bridge);
criterion_main!(benches);
