//! Runtime throughput, signatures included: transfers per second, program calls per second
//! (committed reads of a priced oracle) and reverting calls per second (batches of 1,000 signed
//! transactions from 1,000 accounts), and the state-root update for 1,000 touched entries.
//! Program calls run on each engine (`/jit`, `/interpreter`). Every batch's receipts are
//! checked to be what the benchmark claims to measure. Figures in BENCHMARKS.md.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, Transaction};
use curve_runtime::tree::StateTree;
use curve_runtime::{Batch, ExecutionEngine, MemoryStorage, Runtime, Status, client};

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

/// The funded chain with feed keys registered and a price published, so `read` commits.
fn priced_chain() -> Runtime<MemoryStorage> {
    let mut runtime = funded_chain();
    apply(
        &mut runtime,
        vec![relay(
            BATCH,
            deposit(BATCH, "governance", 1_000_000_000, QUORUM as usize),
        )],
    );
    apply(&mut runtime, register_feed_keys(2));
    let feeds: Vec<_> = (0..2).map(|i| key(&format!("feed-{i}"))).collect();
    let signers: Vec<(u64, &ed25519_dalek::SigningKey)> = (0..2).zip(feeds.iter()).collect();
    let now = runtime.meta().timestamp_ms + 1_000;
    let nonce = runtime.account(&public(&user(0))).map_or(0, |a| a.nonce);
    let update = Action::Call {
        program: 1,
        entry: "update".into(),
        args: client::oracle_update_args(CHAIN, feed_tag(), 150_000_000, now - 10, &signers),
        access: Vec::new(),
    };
    let out = apply(&mut runtime, vec![tx(&user(0), nonce, update)]);
    assert_eq!(
        out.receipts[0].status,
        Status::Committed,
        "the price is published"
    );
    runtime
}

/// Times `apply_batch` only (signing is the clients' work): `make(i)` is account i's action in
/// a round; every receipt must satisfy `expected`.
fn run_batches(
    c: &mut Criterion,
    name: &str,
    runtime: &mut Runtime<MemoryStorage>,
    make: impl Fn(u64) -> Action,
    expected: fn(&Status) -> bool,
) {
    let signing_keys: Vec<_> = (0..BATCH)
        .map(|i| (key(&user(i)), public(&user(i))))
        .collect();
    let mut group = c.benchmark_group("runtime");
    group.throughput(Throughput::Elements(BATCH));
    group.sample_size(10);
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let transactions = (0..BATCH)
                    .map(|i| {
                        let (signing, sender) = &signing_keys[i as usize];
                        let nonce = runtime.account(sender).map_or(0, |a| a.nonce);
                        let transaction = Transaction {
                            chain_id: CHAIN,
                            sender: *sender,
                            nonce,
                            gas_limit: 100_000,
                            fee_per_gas: 0,
                            action: make(i),
                        };
                        client::sign(transaction, signing).to_bytes()
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
                    out.receipts.iter().all(|r| expected(&r.status)),
                    "{name}: {:?}",
                    out.receipts.iter().find(|r| !expected(&r.status))
                );
            }
            total
        })
    });
    group.finish();
}

fn transfers(c: &mut Criterion) {
    let mut runtime = funded_chain();
    run_batches(
        c,
        "transfers_1000",
        &mut runtime,
        |i| Action::Transfer {
            to: public(&user((i + 1) % BATCH)),
            amount: 1,
        },
        |s| *s == Status::Committed,
    );
}

fn oracle_call(entry: &str) -> Action {
    Action::Call {
        program: 1,
        entry: entry.into(),
        args: vec![],
        access: Vec::new(),
    }
}

fn calls(c: &mut Criterion) {
    let mut runtime = priced_chain();
    for engine in ExecutionEngine::ALL {
        runtime.set_engine(engine);
        run_batches(
            c,
            &format!("oracle_read_calls_1000/{engine}"),
            &mut runtime,
            |_| oracle_call("read"),
            |s| *s == Status::Committed,
        );
    }
}

/// `price` before any price was published aborts: the revert path (trap, rollback, receipt
/// with the script location).
fn reverting_calls(c: &mut Criterion) {
    let mut runtime = funded_chain();
    for engine in ExecutionEngine::ALL {
        runtime.set_engine(engine);
        run_batches(
            c,
            &format!("oracle_reverting_calls_1000/{engine}"),
            &mut runtime,
            |_| oracle_call("price"),
            |s| matches!(s, Status::Reverted(r) if r.kind == "abort" && r.location.is_some()),
        );
    }
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

criterion_group!(benches, transfers, calls, reverting_calls, root_update);
criterion_main!(benches);
