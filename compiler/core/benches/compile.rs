//! Compiling the seed-002 script (`examples/perp_sol.curve`, the AssetL2 surface verbatim):
//! check, compile every block (layout analysis for the slab, the ORACLE template lowered with
//! its gas bounds), then the manifest and listing of every artifact — `curve compile` without
//! the file writes. Issue 6 asks for < 50 ms.

use criterion::{Criterion, criterion_group, criterion_main};

const SEED_002: &str = include_str!("../../../examples/perp_sol.curve");

fn compile_seed_002(c: &mut Criterion) {
    c.bench_function("compile_seed_002", |b| {
        b.iter(|| {
            let checked = curvescript_check::check_source(SEED_002, None);
            assert!(!checked.has_errors());
            let compiled = curve_compiler::compile(&checked.script);
            assert!(!compiled.has_errors());
            let mut bytes = 0;
            for artifact in &compiled.artifacts {
                bytes +=
                    curve_compiler::manifest::manifest(artifact, "perp_sol.curve", SEED_002).len();
                bytes += curve_compiler::listing::listing(artifact).len();
                bytes += curve_compiler::manifest::module_bytes(artifact).len();
            }
            bytes
        })
    });
}

criterion_group!(benches, compile_seed_002);
criterion_main!(benches);
