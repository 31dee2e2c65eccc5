//! Checker goldens, the SPEC.md drift test, the fuzz-corpus replay, property tests and hostile
//! input (`hostile/`).
//!
//! `test_data/ok/*.curve` must check clean against `test_data/governance.toml`; each
//! `test_data/err/*.curve` has a `.diag` file with every diagnostic (code, position, message,
//! labels, help). `UPDATE_EXPECT=1 cargo test -p curvescript-check` re-blesses the goldens and
//! regenerates SPEC.md's keyword tables.

use curvescript_check::spec::{BEGIN_MARKER, END_MARKER, keyword_tables};
use curvescript_check::value::Typed;
use curvescript_check::{Governance, check_source};
use curvescript_syntax::ast::BlockKind;
use curvescript_syntax::diagnostic::render_plain;
use curvescript_syntax::{Code, LineIndex};
use expect_test::expect_file;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

mod hostile;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn governance() -> Governance {
    let text = std::fs::read_to_string(manifest_dir().join("test_data/governance.toml"))
        .expect("governance file");
    Governance::parse(&text).expect("valid governance file")
}

fn curve_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "curve"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn ok_goldens_and_examples_check_clean() {
    let governance = governance();
    let mut inputs = curve_files(&manifest_dir().join("test_data/ok"));
    inputs.extend(curve_files(&manifest_dir().join("../../examples")));
    for path in inputs {
        let text = std::fs::read_to_string(&path).expect("readable");
        let checked = check_source(&text, Some(&governance));
        assert!(
            checked.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            render_plain(&file_name(&path), &text, &checked.diagnostics)
        );
    }
}

#[test]
fn err_goldens() {
    let governance = governance();
    for path in curve_files(&manifest_dir().join("test_data/err")) {
        let text = std::fs::read_to_string(&path).expect("readable");
        let checked = check_source(&text, Some(&governance));
        assert!(
            checked.has_errors(),
            "{} should not check clean",
            path.display()
        );
        expect_file![path.with_extension("diag")].assert_eq(&render_plain(
            &file_name(&path),
            &text,
            &checked.diagnostics,
        ));
    }
}

/// Issue 2: one file with two syntax errors in different blocks and a type error reports all
/// three.
#[test]
fn two_syntax_errors_and_a_type_error_are_all_reported() {
    let path = manifest_dir().join("test_data/err/0015_two_syntax_errors_and_a_type_error.curve");
    let text = std::fs::read_to_string(path).expect("readable");
    let checked = check_source(&text, Some(&governance()));
    let index = LineIndex::new(&text);
    let found: Vec<(Code, usize)> = checked
        .diagnostics
        .iter()
        .map(|d| (d.code, index.line_col(&text, d.span.start).line))
        .collect();
    assert_eq!(
        found,
        vec![
            (Code::UnexpectedToken, 3),
            (Code::UnexpectedToken, 7),
            (Code::MistypedValue, 9)
        ]
    );
}

#[test]
fn defaults_fill_the_checked_script() {
    let text = "ROUTER {\n    COLLATERAL asset=USDC vault_cap=10\n    CAP_TTL ms=30s\n    RESERVATION_BATCH ms=45\n    CAP asset=USDC amount_max=5\n}\nSLAB \"s\" {\n    FEE maker_bps=1 taker_bps=2\n    RISK imr_bps=2 mmr_bps=1\n}\n";
    let checked = check_source(text, None);
    assert!(!checked.has_errors(), "{:#?}", checked.diagnostics);
    let router = checked.script.router().expect("router");
    // Seconds were converted; the CAP lifetime defaults to the router's CAP_TTL.
    assert_eq!(router.number("CAP_TTL", "ms"), Some(30_000));
    assert_eq!(router.number("CAP", "ttl_ms"), Some(30_000));
    let slab = checked.script.block(BlockKind::Slab, "s").expect("slab");
    // The slab's batch window defaults to the router's, not to the router's default.
    assert_eq!(slab.number("BATCH_WINDOW", "ms"), Some(45));
    assert_eq!(slab.value("BATCH_WINDOW", "ms").and_then(|v| v.span), None);
    assert_eq!(
        slab.value("ANTI_TOXICITY", "jit_penalty")
            .map(|v| v.value.clone()),
        Some(Typed::Bool(true))
    );
    assert_eq!(slab.number("POOLS", "orders"), Some(24_000));
}

#[test]
fn spec_keyword_tables_match_the_schema() {
    let spec_path = manifest_dir().join("../SPEC.md");
    let spec = std::fs::read_to_string(&spec_path).expect("curvescript/SPEC.md");
    let begin = spec
        .find(BEGIN_MARKER)
        .expect("SPEC.md has the begin marker")
        + BEGIN_MARKER.len();
    let end = spec.find(END_MARKER).expect("SPEC.md has the end marker");
    let current = &spec[begin..end];
    let wanted = format!("\n{}", keyword_tables());
    if current != wanted {
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            let updated = format!("{}{wanted}{}", &spec[..begin], &spec[end..]);
            std::fs::write(&spec_path, updated).expect("write SPEC.md");
        } else {
            panic!(
                "curvescript/SPEC.md's keyword tables drifted from the schema; run UPDATE_EXPECT=1 cargo test -p curvescript-check --test golden"
            );
        }
    }
}

#[test]
fn fuzz_corpus_replays() {
    let dir = manifest_dir().join("../fuzz/corpus/check");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz corpus") {
        let path = entry.expect("entry").path();
        curvescript_check::fuzz::check_bytes(&std::fs::read(&path).expect("readable"));
        count += 1;
    }
    assert!(count >= 20, "the corpus shrank to {count} inputs");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn checker_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        curvescript_check::fuzz::check_bytes(&bytes);
    }

    #[test]
    fn checker_never_panics_on_mutated_examples(index in 0usize..6, at in 0usize..2000, insert in "[ =\\[\\]{}\"a-zA-Z0-9_\n@&]{0,6}", cut in 0usize..8) {
        let examples = curve_files(&manifest_dir().join("../../examples"));
        let text = std::fs::read_to_string(&examples[index % examples.len()]).expect("readable");
        let at = at.min(text.len());
        let at = (0..=at).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(text.len());
        let end = (end..=text.len()).find(|i| text.is_char_boundary(*i)).unwrap_or(text.len());
        let mutated = format!("{}{insert}{}", &text[..at], &text[end..]);
        curvescript_check::fuzz::check_bytes(mutated.as_bytes());
    }
}
