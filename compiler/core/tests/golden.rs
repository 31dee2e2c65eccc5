//! Golden files of every compiler phase for the ORACLE block of `examples/perp_sol.curve`: the
//! IR text, the annotated disassembly (its heartbeat, staleness and kill-band branches are the
//! ones reviewers read) and the manifest; and the canonical descriptor of every interface (the
//! generated bindings have their golden test in `compiler/bindings`). `UPDATE_EXPECT=1 cargo test -p curve-compiler --test
//! golden` re-blesses them.
//!
//! Also: every example compiles without errors; changing a value changes the parameter table
//! only (same bytecode, layout and descriptor hashes); conditions blame the right slot.

use curve_compiler::{Artifact, compile, listing::listing, manifest};
use expect_test::expect_file;

const EXAMPLE: &str = include_str!("../../../examples/perp_sol.curve");

fn artifact(source: &str, template: &str) -> Artifact {
    let checked = curvescript_check::check_source(source, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let compiled = compile(&checked.script);
    assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
    compiled
        .artifacts
        .into_iter()
        .find(|a| a.template == template)
        .unwrap_or_else(|| panic!("a {template} artifact"))
}

fn oracle(source: &str) -> Artifact {
    artifact(source, "oracle")
}

#[test]
fn the_ir_listing_and_manifest_match_their_golden_files() {
    let artifact = oracle(EXAMPLE);
    expect_file!["golden/oracle.ir"].assert_eq(&curve_ir::print::program(&artifact.ir));
    let listing = listing(&artifact);
    for branch in [
        "oracle.read/heartbeat · HEARTBEAT",
        "oracle.read/staleness · STALENESS",
        "oracle.reference/kill-band · KILL_BAND_SYNC",
    ] {
        assert!(listing.contains(branch), "the listing lacks {branch}");
    }
    expect_file!["golden/oracle.cvm"].assert_eq(&listing);
    expect_file!["golden/oracle.manifest.json"].assert_eq(&manifest::manifest(
        &artifact,
        "perp_sol.curve",
        EXAMPLE,
    ));
}

#[test]
fn the_interface_descriptors_match_their_golden_files() {
    for interface in curve_compiler::abi::ALL {
        let golden = format!(
            "{}/tests/golden/{}.descriptor",
            env!("CARGO_MANIFEST_DIR"),
            interface.template
        );
        expect_file![golden].assert_eq(&interface.canonical_text());
    }
}

#[test]
fn every_example_compiles() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let mut compiled_blocks = 0;
    for entry in std::fs::read_dir(dir).expect("examples exist") {
        let path = entry.expect("readable").path();
        if path.extension().is_none_or(|e| e != "curve") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let checked = curvescript_check::check_source(&text, None);
        assert!(
            !checked.has_errors(),
            "{}: {:?}",
            path.display(),
            checked.diagnostics
        );
        let compiled = compile(&checked.script);
        assert!(
            !compiled.has_errors(),
            "{}: {:?}",
            path.display(),
            compiled.diagnostics
        );
        compiled_blocks += compiled.artifacts.len();
    }
    assert!(compiled_blocks > 0);
}

#[test]
fn values_change_params_not_bytecode_or_layout() {
    let base = oracle(EXAMPLE);
    let other = oracle(&EXAMPLE.replace("HEARTBEAT ms=500", "HEARTBEAT ms=250"));
    assert_eq!(base.lowered.module, other.lowered.module, "same bytecode");
    assert_eq!(manifest::layout_hash(&base), manifest::layout_hash(&other));
    assert_eq!(
        manifest::descriptor_hash(&base),
        manifest::descriptor_hash(&other)
    );
    assert_ne!(base.param_words(), other.param_words());
}

/// A slab's module is generated for its pools: fees change the parameter table only, a pool
/// capacity changes the bytecode and the layout hash (never the descriptor).
#[test]
fn slab_values_change_params_and_pools_change_bytecode_and_layout() {
    let base = artifact(EXAMPLE, "slab");
    let fees = artifact(&EXAMPLE.replace("taker_bps=5", "taker_bps=6"), "slab");
    assert_eq!(base.lowered.module, fees.lowered.module, "same bytecode");
    assert_eq!(manifest::layout_hash(&base), manifest::layout_hash(&fees));
    assert_ne!(base.param_words(), fees.param_words());
    let script = EXAMPLE.replace(
        "INSTRUMENT \"SOL-PERP\"",
        "POOLS orders=1_000\n    INSTRUMENT \"SOL-PERP\"",
    );
    let pools = artifact(&script, "slab");
    assert_ne!(base.lowered.module, pools.lowered.module);
    assert_ne!(manifest::layout_hash(&base), manifest::layout_hash(&pools));
    assert_eq!(base.param_words(), pools.param_words());
    assert_eq!(
        manifest::descriptor_hash(&base),
        manifest::descriptor_hash(&pools)
    );
    // The manifest states the shape the module is rebuilt from.
    let manifest: serde_json::Value =
        serde_json::from_str(&manifest::manifest(&pools, "perp_sol.curve", &script)).expect("JSON");
    assert_eq!(manifest["layout"]["shape"]["orders"], 1_000);
    assert_eq!(manifest["layout"]["shape"]["views"], 1);
    let rebuilt = curve_compiler::templates::by_image(&manifest::module_bytes(&pools), &manifest)
        .expect("the shape rebuilds the module");
    assert_eq!(rebuilt.layout_hash(), manifest::layout_hash(&pools));
}

#[test]
fn parameter_conditions_are_evaluated_over_the_table_and_name_the_slot_to_blame() {
    let artifact = oracle(EXAMPLE);
    assert!(
        artifact
            .conditions
            .iter()
            .all(|c| c.holds(&artifact.params).is_ok())
    );
    let mut params = artifact.params.clone();
    let slot = params
        .iter_mut()
        .find(|s| s.name == "keys_max")
        .expect("slot");
    slot.value = 40;
    let broken: Vec<String> = artifact
        .conditions
        .iter()
        .filter(|c| c.holds(&params) == Err("keys_max"))
        .map(|c| c.text())
        .collect();
    assert_eq!(broken, ["LE(keys_max, keys_limit)"]);
}
