//! Runtime throughput, signatures included: transfers per second and program calls per second
//! (batches of 1,000 signed transactions from 1,000 accounts), and the state-root update for
//! 1,000 touched entries. Figures in BENCHMARKS.md.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use curve_formats::tx::Action;
use curve_runtime::tree::StateTree;
use curve_runtime::{Batch, MemoryStorage, Runtime, Status};

#[path = "../tests/common/mod.rs"]
mod common;
use common::*;

const BATCH: u64 = 1_000;

fn user(i: u64) -> String {
    format!("bench-{i}")
}

/// A chain with the test oracle (program 1, one price) and `BATCH` funded accounts.
fn funded_chain() -> Runtime<MemoryStorage> {
    let mut runtime = genesis();
    let credits = (0..BATCH)
        .map(|i| relay(i, deposit(i, &user(i), 1_000_000_000, QUORUM as usize)))
        .collect();
    apply(&mut runtime, credits);
    apply(
        &mut runtime,
        vec![tx(&user(0), 0, Action::Deploy(oracle_image().clone()))],
    );
    runtime
}

/// Times `apply_batch` only (signing is the clients' work): `make(round, i)` is account i's
/// action in a round.
fn run_batches(
    c: &mut Criterion,
    name: &str,
    runtime: &mut Runtime<MemoryStorage>,
    make: impl Fn(u64) -> Action,
) {
    let mut group = c.benchmark_group("runtime");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let transactions = (0..BATCH)
                    .map(|i| {
                        let key = public(&user(i));
                        let nonce = runtime.account(&key).map_or(0, |a| a.nonce);
                        tx_with(&user(i), nonce, 100_000, 0, make(i))
                    })
                    .collect();
                let batch = Batch {
                    height: runtime.meta().height + 1,
                    timestamp_ms: runtime.meta().timestamp_ms + 1,
                    transactions,
                };
                #[allow(clippy::disallowed_methods)] // A benchmark measures wall time.
                let start = Instant::now();
                let out = runtime.apply_batch(&batch).expect("batch");
                total += start.elapsed();
                assert!(
                    out.receipts
                        .iter()
                        .all(|r| !matches!(r.status, Status::Rejected(_)))
                );
            }
            total
        })
    });
    group.finish();
}

fn transfers(c: &mut Criterion) {
    let mut runtime = funded_chain();
    run_batches(c, "transfers_1000", &mut runtime, |i| Action::Transfer {
        to: public(&user((i + 1) % BATCH)),
        amount: 1,
    });
}

fn calls(c: &mut Criterion) {
    let mut runtime = funded_chain();
    run_batches(c, "oracle_read_calls_1000", &mut runtime, |_| {
        Action::Call {
            program: 1,
            entry: "read".into(),
            args: vec![],
        }
    });
}

fn root_update(c: &mut Criterion) {
    let n = 1u64 << 17;
    let mut tree = StateTree::new();
    for i in 0..n {
        tree.set(i, &i.to_le_bytes());
    }
    tree.commit();
    let mut round = 0u64;
    let mut group = c.benchmark_group("runtime");
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("root_update_1000_of_131072", |b| {
        b.iter(|| {
            round += 1;
            for j in 0..1_000u64 {
                let index = (j * 7_919 + round * 104_729) % n;
                tree.set(index, &[round as u8; 48]);
            }
            tree.commit();
            tree.root()
        })
    });
    group.finish();
}

criterion_group!(benches, transfers, calls, root_update);
criterion_main!(benches);
