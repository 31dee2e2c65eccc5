//! Compiling the seed-002 script (`examples/perp_sol.curve`, the AssetL2 surface verbatim):
//! check, compile every block (the SLAB and ORACLE templates lowered with their gas bounds),
//! then the manifest and listing of every artifact — `curve compile` without the file writes.
//! Issue 6 asks for < 50 ms. `slab_template_build` is what a replica does on a slab deploy
//! (rebuild the template for the manifest's shape), which `SHAPED_BUILD_GAS` prices: at the
//! script defaults and at the largest shape a script may declare.

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

fn slab_template_build(c: &mut Criterion) {
    use curve_compiler::templates::slab::{SlabLayout, template};
    let checked = curvescript_check::check_source(SEED_002, None);
    let block = checked
        .script
        .blocks
        .iter()
        .find(|b| b.kind == curvescript_syntax::ast::BlockKind::Slab)
        .expect("a SLAB block");
    let defaults = curve_compiler::templates::slab::layout(block).expect("fits");
    // Every pool at a capacity that still fits 10 MiB in all.
    let largest = (1..=curve_compiler::templates::slab::POOL_CAPACITY_MAX)
        .rev()
        .step_by(1_000)
        .map(|n| SlabLayout::from_shape(&shape(n)))
        .find_map(Result::ok)
        .expect("some shape fits");
    let mut group = c.benchmark_group("slab_template_build");
    for (name, layout) in [("defaults", defaults), ("largest", largest)] {
        group.bench_function(name, |b| b.iter(|| template(&layout).module_bytes().len()));
    }
    group.finish();
}

fn shape(capacity: u32) -> Vec<(&'static str, u32)> {
    curve_compiler::templates::slab::POOLS
        .iter()
        .map(|(name, _)| (*name, capacity))
        .chain([("views", 8)])
        .collect()
}

criterion_group!(benches, compile_seed_002, slab_template_build);
criterion_main!(benches);
