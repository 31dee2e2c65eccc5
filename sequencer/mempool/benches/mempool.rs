//! Mempool admission (decode, checks, one Ed25519 verification) and selection, per
//! transaction: what a node pays before consensus for each signed transfer. Figures in
//! BENCHMARKS.md.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, SignedTransaction, Transaction};
use curve_mempool::{Limits, Mempool};
use ed25519_dalek::{Signer, SigningKey};

const SENDERS: u64 = 100;
const PER_SENDER: u64 = 10;

fn transactions() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sender in 0..SENDERS {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(sender + 1).to_le_bytes());
        let key = SigningKey::from_bytes(&seed);
        for nonce in 0..PER_SENDER {
            let tx = Transaction {
                chain_id: 1,
                sender: key.verifying_key().to_bytes(),
                nonce,
                gas_limit: 10_000,
                fee_per_gas: 1,
                action: Action::Transfer {
                    to: [9; 32],
                    amount: 1,
                },
            };
            let signature = key.sign(&tx.signing_message()).to_bytes();
            out.push(SignedTransaction { tx, signature }.to_bytes());
        }
    }
    out
}

fn mempool(c: &mut Criterion) {
    let txs = transactions();
    let mut group = c.benchmark_group("mempool");
    group.throughput(Throughput::Elements(txs.len() as u64));
    group.bench_function("admit_1000_transfers", |b| {
        b.iter_batched(
            || txs.clone(),
            |txs| {
                let mut pool = Mempool::new(1, Limits::default());
                for bytes in txs {
                    pool.admit(bytes, |_| 0).expect("admitted");
                }
                pool
            },
            BatchSize::SmallInput,
        )
    });
    let mut pool = Mempool::new(1, Limits::default());
    for bytes in &txs {
        pool.admit(bytes.clone(), |_| 0).expect("admitted");
    }
    group.bench_function("select_1000_of_1000", |b| {
        b.iter(|| {
            // The same 1,000 every time: as a caller whose handed transactions went back.
            pool.reconsider_all();
            pool.select(1_000, usize::MAX, |_| 0)
        })
    });
    group.finish();
}

criterion_group!(benches, mempool);
criterion_main!(benches);
