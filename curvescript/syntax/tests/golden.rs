//! Golden tests of the lexer and parser, and property tests of the formatter.
//!
//! Each `test_data/lex/*.curve` has a `.tokens` dump; each `test_data/parse/{ok,err}/*.curve`
//! has an `.ast` dump (with spans), and each `err` file a `.diag` with its diagnostics. A
//! missing or stale expectation fails with a diff; `UPDATE_EXPECT=1 cargo test` re-blesses.

use curvescript_syntax::diagnostic::render_plain;
use curvescript_syntax::format::format_file;
use curvescript_syntax::print::print_ast;
use curvescript_syntax::{lexer, parse};
use expect_test::expect_file;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn curve_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "curve"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden inputs in {}", dir.display());
    files
}

fn name(path: &Path) -> String {
    path.file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn lexer_goldens() {
    for path in curve_files("lex") {
        let text = std::fs::read_to_string(&path).expect("readable");
        let lexed = lexer::lex(&text);
        let mut actual = lexer::dump_tokens(&text, &lexed.tokens);
        actual.push_str(&render_plain(&name(&path), &text, &lexed.diagnostics));
        expect_file![path.with_extension("tokens")].assert_eq(&actual);
    }
}

#[test]
fn parser_goldens_ok() {
    for path in curve_files("parse/ok") {
        let text = std::fs::read_to_string(&path).expect("readable");
        let parsed = parse(&text);
        assert!(
            parsed.diagnostics.is_empty(),
            "{}: {:#?}",
            path.display(),
            parsed.diagnostics
        );
        expect_file![path.with_extension("ast")].assert_eq(&print_ast(&parsed.file, true));
        // Every ok file also formats to a fixed point that parses to the same tree.
        let formatted = format_file(&parsed.file);
        expect_file![path.with_extension("fmt")].assert_eq(&formatted);
        assert_eq!(
            print_ast(&parse(&formatted).file, false),
            print_ast(&parsed.file, false),
            "{}",
            path.display()
        );
    }
}

#[test]
fn parser_goldens_err() {
    for path in curve_files("parse/err") {
        let text = std::fs::read_to_string(&path).expect("readable");
        let parsed = parse(&text);
        assert!(
            parsed.has_errors(),
            "{} should have syntax errors",
            path.display()
        );
        expect_file![path.with_extension("ast")].assert_eq(&print_ast(&parsed.file, true));
        expect_file![path.with_extension("diag")].assert_eq(&render_plain(
            &name(&path),
            &text,
            &parsed.diagnostics,
        ));
    }
}

#[test]
fn recovery_reports_errors_in_two_blocks() {
    let text =
        "ROUTER {\n    CAP_TTL ms=1 =\n}\nSLAB \"s\" {\n    FEE = 2\n    RISK imr_bps=5\n}\n";
    let parsed = parse(text);
    let lines: Vec<usize> = parsed
        .diagnostics
        .iter()
        .map(|d| {
            curvescript_syntax::LineIndex::new(text)
                .line_col(text, d.span.start)
                .line
        })
        .collect();
    assert_eq!(lines, vec![2, 5], "{:#?}", parsed.diagnostics);
    // The readable statement after the second error survives.
    let slab = parsed.file.blocks().nth(1).expect("slab block");
    assert_eq!(
        slab.statements()
            .map(|s| s.keyword.value.as_str())
            .collect::<Vec<_>>(),
        ["RISK"]
    );
}

/// Random well-formed scripts: blocks of statements with every kind of value, comments,
/// blank lines and annotations, laid out with irregular spacing.
fn script_strategy() -> impl Strategy<Value = String> {
    let ident = prop::sample::select(vec![
        "asset",
        "ms",
        "maker_bps",
        "USDC",
        "DLP",
        "qty",
        "x_1",
    ]);
    let keyword = prop::sample::select(vec!["FEE", "RISK", "CAP", "HEARTBEAT", "EVENT", "OUTCOME"]);
    let leaf = prop_oneof![
        (
            0u64..10_000_000,
            prop::sample::select(vec!["", "ms", "s", "bps"])
        )
            .prop_map(|(n, unit)| format!("{n}{unit}")),
        "[a-z :\\-\"\\\\]{0,8}".prop_map(|s| format!("{s:?}")),
        Just("true".to_string()),
        ident.clone().prop_map(str::to_string),
        Just("&ROUTER".to_string()),
        "[a-z:]{1,6}".prop_map(|s| format!("&ORACLE {s:?}")),
    ];
    let value = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|items| format!("[{}]", items.join(" ,"))),
            prop::collection::vec(inner, 1..3)
                .prop_map(|items| format!("route_id({})", items.join(","))),
        ]
    });
    let arg = (prop::option::of(ident.clone()), value).prop_map(|(name, value)| match name {
        Some(name) => format!("{name}={value}"),
        None => value,
    });
    let comment = prop::option::of("[a-z ]{0,10}".prop_map(|c| format!("  # {c}")));
    let statement = (keyword, prop::collection::vec(arg, 0..4), comment.clone()).prop_map(
        |(kw, args, comment)| {
            format!(
                "  {kw}   {}{}",
                args.join("  "),
                comment.unwrap_or_default()
            )
        },
    );
    let expr_leaf = prop_oneof![
        (0u32..1000).prop_map(|n| n.to_string()),
        Just("qty".to_string()),
        Just("risk.imr_bps".to_string())
    ];
    let expr = expr_leaf.prop_recursive(2, 6, 2, |inner| {
        (inner.clone(), prop::sample::select(vec!["+", "*"]), inner)
            .prop_map(|(a, op, b)| format!("({a} {op} {b})"))
    });
    let annotation = (
        expr.clone(),
        prop::sample::select(vec!["<=", "<", "==", ">=", ">"]),
        expr,
    )
        .prop_map(|(a, op, b)| format!("  @invariant {a} {op} {b}"));
    let line = prop_oneof![
        4 => statement,
        1 => annotation,
        1 => Just(String::new()),
        1 => "[a-z ]{0,10}".prop_map(|c| format!("// {c}")),
    ];
    let block = (
        prop::sample::select(vec![
            "ROUTER",
            "SLAB \"perp:A\"",
            "ORACLE \"o\"",
            "MARKET \"m\"",
        ]),
        comment,
        prop::collection::vec(line, 0..6),
    )
        .prop_map(|(head, comment, lines)| {
            format!(
                "{head} {{{}\n{}\n}}",
                comment.unwrap_or_default(),
                lines.join("\n")
            )
        });
    prop::collection::vec(block, 0..4).prop_map(|blocks| blocks.join("\n\n\n"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn format_is_idempotent_and_preserves_the_tree(script in script_strategy()) {
        let parsed = parse(&script);
        prop_assert!(!parsed.has_errors(), "generated script failed to parse:\n{script}\n{:#?}", parsed.diagnostics);
        let once = format_file(&parsed.file);
        let reparsed = parse(&once);
        prop_assert!(!reparsed.has_errors(), "formatted script failed to parse:\n{once}");
        prop_assert_eq!(format_file(&reparsed.file), once.clone());
        prop_assert_eq!(print_ast(&reparsed.file, false), print_ast(&parsed.file, false));
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let parsed = parse(&text);
        if !parsed.has_errors() {
            let formatted = format_file(&parsed.file);
            prop_assert_eq!(print_ast(&parse(&formatted).file, false), print_ast(&parsed.file, false));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
        let _ = lexer::lex(&text);
    }
}
