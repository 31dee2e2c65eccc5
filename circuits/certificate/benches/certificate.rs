//! The figures for the 64×64 certificate: prove (≤ 5 s, stretch 2 s) and verify
//! (≤ 10 ms); also 16×16, the class every example uses. Constraint counts are snapshot-tested,
//! not benchmarked.

use criterion::{Criterion, criterion_group, criterion_main};
use curve_certificate::keys::KeyStore;
use curve_certificate::{prepare_verifying_key, prove, verify};
use curve_formats::certificate::{Row, RowKind, SizeClass};
use std::hint::black_box;

/// A full table and a full row list of the class: every kind, every row true.
fn workload(class: SizeClass) -> (Vec<u64>, Vec<Row>) {
    let params: Vec<u64> = (0..class.params() as u64).map(|k| 1_000 + k * k).collect();
    let kinds = [
        RowKind::Le,
        RowKind::Range,
        RowKind::AddNoOverflow,
        RowKind::MulNoOverflow,
    ];
    let rows = (0..class.rows())
        .map(|r| {
            let i = (r % class.params()) as u16;
            let j = ((r + 1) % class.params()).max(r % class.params()) as u16;
            let kind = kinds[r % kinds.len()];
            let (i, j) = if params[usize::from(i)] <= params[usize::from(j)] {
                (i, j)
            } else {
                (j, i)
            };
            Row {
                kind,
                i,
                j,
                bits: if kind == RowKind::Le { 0 } else { 64 },
            }
        })
        .collect();
    (params, rows)
}

fn bench(c: &mut Criterion) {
    // The same cache as the tests', so `cargo test` reuses their 64×64 development keys.
    let store = KeyStore::new(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"));
    for class in [SizeClass::C16, SizeClass::C64] {
        let pk = store.dev_keys(class, &mut |_| {}).expect("dev keys");
        let vk = prepare_verifying_key(&pk.vk);
        let (params, rows) = workload(class);
        let code =
            curve_formats::program::ProgramIdentity::of_module(&[0x5a; 4_561], [1; 32], [2; 32]);
        let mut group = c.benchmark_group(format!("certificate_{class}"));
        group.sample_size(10);
        group.bench_function("prove", |b| {
            b.iter(|| prove(&pk, class, &code, &params, &rows, [1; 32]).expect("true rows"))
        });
        let (statement, proof) = prove(&pk, class, &code, &params, &rows, [1; 32]).expect("proof");
        group.bench_function("verify", |b| {
            b.iter(|| verify(&vk, black_box(&statement), black_box(&proof)).expect("verifies"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
