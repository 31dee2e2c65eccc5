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

    let mut latencies = Vec::new();
    c.bench_function("bridge/post_batch_confirmed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                available.fetch_add(1, Ordering::SeqCst);
                let started = Instant::now();
                let posted = runtime.block_on(poster.post_next()).expect("posts");
                let took = started.elapsed();
                assert!(posted.is_some());
                latencies.push(took);
                total += took;
            }
            total
        })
    });
    if !latencies.is_empty() {
        let (p50, p99) = percentiles(&mut latencies);
        println!(
            "bridge/post_batch_confirmed: {} posts, p50 {p50:?}, p99 {p99:?}",
            latencies.len()
        );
    }

    let sender = key("sender");
    runtime.block_on(common::airdrop(client, &sender.pubkey()));
    // Above the rent-exempt minimum, so the receiver can be created by the first.
    let mut lamports = 1_000_000;
    let mut round_trips = Vec::new();
    c.bench_function("bridge/send_transaction_round_trip", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
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
                let transaction = Transaction::new_signed_with_payer(
                    &[transfer],
                    Some(&sender.pubkey()),
                    &[&sender],
                    blockhash,
                );
                let started = Instant::now();
                runtime
                    .block_on(client.send_transaction(&transaction))
                    .expect("sent");
                let took = started.elapsed();
                round_trips.push(took);
                total += took;
            }
            total
        })
    });
    if !round_trips.is_empty() {
        let (p50, p99) = percentiles(&mut round_trips);
        println!(
            "bridge/send_transaction_round_trip: {} sends, p50 {p50:?}, p99 {p99:?}",
            round_trips.len()
        );
    }

    for (what, bytes) in common::chain::transaction_sizes(payer) {
        println!("bridge/size {what}: {bytes} bytes (of 1,232)");
    }
}

criterion_group!(benches, bridge);
criterion_main!(benches);
