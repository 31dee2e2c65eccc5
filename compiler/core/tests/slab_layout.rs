//! The SLAB layout and its static fit analyzer: the example slabs fit, regions are contiguous
//! and in bounds, the layout hash follows pool sizes and ignores values, and a script whose pools
//! do not fit gets E0503 at the responsible `POOLS` argument — with the boundary checked exactly.
//! The shape a manifest states (what a verifier rebuilds a slab from) round-trips, and any other
//! — arbitrary names, counts, repeats — is refused with a reason or gives a layout that fits.

use curve_compiler::templates::slab::{self, INSTRUMENT, POOLS, SLAB_BYTES_MAX};
use curvescript_check::{CheckedBlock, check_source};
use curvescript_syntax::Code;
use curvescript_syntax::ast::BlockKind;

const EXAMPLE: &str = include_str!("../../../examples/perp_sol.curve");

fn slab_block(source: &str) -> CheckedBlock {
    let checked = check_source(source, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    checked
        .script
        .blocks
        .into_iter()
        .find(|b| b.kind == BlockKind::Slab)
        .expect("a SLAB block")
}

fn with_pools(pools: &str) -> String {
    EXAMPLE.replace(
        "    ANTI_TOXICITY",
        &format!("    POOLS {pools}\n    ANTI_TOXICITY"),
    )
}

#[test]
fn the_example_slab_fits_with_contiguous_regions() {
    let layout = slab::layout(&slab_block(EXAMPLE)).expect("fits");
    let mut next = 0;
    for region in &layout.regions {
        assert_eq!(region.offset, next, "{} is contiguous", region.name);
        next += region.words;
    }
    assert_eq!(layout.words(), next);
    assert!(u64::from(layout.words()) * 8 <= SLAB_BYTES_MAX);
    // Each pool region is its capacity times its record, with the schema defaults.
    for ((name, record), capacity) in POOLS.iter().zip(&layout.capacities) {
        let region = layout.region(name).expect("a region per pool");
        assert_eq!(region.words, capacity * record.words(), "{name}");
    }
    assert_eq!(layout.capacities[1], 24_000, "the default order capacity");
    assert_eq!(
        layout.region("instruments").expect("instruments").words,
        32 * INSTRUMENT.words()
    );
}

#[test]
fn values_keep_the_layout_hash_and_pool_sizes_change_it() {
    let base = slab::layout(&slab_block(EXAMPLE)).expect("fits").hash();
    let fees = EXAMPLE.replace("maker_bps=2 taker_bps=5", "maker_bps=1 taker_bps=9");
    assert_ne!(fees, EXAMPLE);
    assert_eq!(slab::layout(&slab_block(&fees)).expect("fits").hash(), base);
    let risk = EXAMPLE.replace("imr_bps=500", "imr_bps=800");
    assert_eq!(slab::layout(&slab_block(&risk)).expect("fits").hash(), base);
    // Writing the defaults out is the same layout; changing one capacity is not.
    let explicit = with_pools("orders=24_000");
    assert_eq!(
        slab::layout(&slab_block(&explicit)).expect("fits").hash(),
        base
    );
    let orders = with_pools("orders=24_001");
    assert_ne!(
        slab::layout(&slab_block(&orders)).expect("fits").hash(),
        base
    );
    let trades = with_pools("trades=9_999");
    assert_ne!(
        slab::layout(&slab_block(&trades)).expect("fits").hash(),
        base
    );
}

#[test]
fn pools_that_do_not_fit_are_rejected_at_the_largest_pool_and_the_boundary_is_exact() {
    // The plan's upper figures do not fit (percolator §3.2).
    let source = with_pools(
        "accounts=10_000 orders=80_000 positions=80_000 reservations=8_000 slices=32_000 trades=20_000 aggressor=8_000",
    );
    let block = slab_block(&source);
    let diagnostic = slab::layout(&block).expect_err("does not fit");
    assert_eq!(diagnostic.code, Code::LayoutTooLarge);
    let at = source.find("orders=80_000").expect("written") + "orders=".len();
    assert_eq!(diagnostic.span.start, at, "{diagnostic:?}");
    // The compiler reports it and produces no artifact for the script... and no slab.
    let compiled = curve_compiler::compile(&check_source(&source, None).script);
    assert!(compiled.has_errors());
    assert!(
        compiled
            .diagnostics
            .iter()
            .any(|d| d.code == Code::LayoutTooLarge)
    );

    // The largest order capacity that fits passes; one more fails.
    let without_orders = {
        let layout = slab::layout(&slab_block(&with_pools("orders=1"))).expect("fits");
        u64::from(layout.words()) - slab::words_per_unit("orders")
    };
    let limit_words = SLAB_BYTES_MAX / 8;
    // An order costs its record, a level and two index entries.
    let largest = (limit_words - without_orders) / slab::words_per_unit("orders");
    assert!(
        largest < 1_000_000,
        "the schema bound must not hide the boundary"
    );
    let fits = slab::layout(&slab_block(&with_pools(&format!("orders={largest}"))));
    assert!(fits.is_ok());
    let over = slab::layout(&slab_block(&with_pools(&format!("orders={}", largest + 1))));
    assert_eq!(over.expect_err("one over").code, Code::LayoutTooLarge);
}

#[test]
fn a_layouts_shape_round_trips() {
    let layout = slab::layout(&slab_block(EXAMPLE)).expect("fits");
    let shape = layout.shape();
    assert_eq!(slab::SlabLayout::from_shape(&shape), Ok(layout.clone()));
    let manifest = serde_json::json!({ "layout": { "shape": shape.iter().copied().collect::<std::collections::BTreeMap<_, _>>() } });
    assert_eq!(slab::SlabLayout::from_manifest(&manifest), Ok(layout));
}

proptest::proptest! {
    #[test]
    fn any_stated_shape_is_refused_or_fits(
        entries in proptest::collection::vec(
            (
                proptest::prop_oneof![
                    proptest::sample::select(POOLS.iter().map(|(name, _)| *name).chain(["views"]).collect::<Vec<_>>()),
                    proptest::strategy::Just("levels"),
                ],
                proptest::prop_oneof![0u32..=10, 0u32..=2_000_000, proptest::num::u32::ANY],
            ),
            0..12,
        )
    ) {
        match slab::SlabLayout::from_shape(&entries) {
            Ok(layout) => {
                proptest::prop_assert!(u64::from(layout.words()) * 8 <= SLAB_BYTES_MAX);
                proptest::prop_assert!((1..=8).contains(&layout.views));
                // What it gives back is what it was given.
                for (name, value) in layout.shape() {
                    proptest::prop_assert!(entries.contains(&(name, value)));
                }
            }
            Err(reason) => proptest::prop_assert!(!reason.is_empty()),
        }
    }
}
