//! Golden tests of the lexer and parser, and property tests of the formatter.
//!
//! Each `test_data/lex/*.curve` has a `.tokens` dump; each `test_data/parse/{ok,err}/*.curve`
//! has an `.ast` dump (with spans), and each `err` file a `.diag` with its diagnostics. A
//! missing or stale expectation fails with a diff; `UPDATE_EXPECT=1 cargo test` re-blesses.

use curvescript_syntax::ast::{BodyItem, Expr, ExprKind, File, Item, Value, ValueKind};
use curvescript_syntax::diagnostic::render_plain;
use curvescript_syntax::format::format_file;
use curvescript_syntax::parser::NESTING_MAX;
use curvescript_syntax::print::print_ast;
use curvescript_syntax::{Code, lexer, parse};
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

/// Hostile lines: brackets nested up to 400 deep (balanced or not), operator chains up to 4,000
/// long, deep lists in statements.
fn hostile_line() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec!["+", "*", "<=", "=="]);
    prop_oneof![
        (0usize..400, any::<bool>()).prop_map(|(depth, round)| {
            let (open, close) = if round { ("(", ")") } else { ("[", "]") };
            format!(
                "    @invariant {}qty{} <= 1",
                open.repeat(depth),
                close.repeat(depth)
            )
        }),
        (0usize..4_000, op).prop_map(|(n, op)| format!(
            "    @invariant qty{} <= 1",
            format!(" {op} qty").repeat(n)
        )),
        (0usize..400).prop_map(|depth| format!(
            "    SOURCES {}{}",
            "[".repeat(depth),
            "]".repeat(depth)
        )),
        (0usize..400).prop_map(|depth| format!("    @invariant {}", "(".repeat(depth))),
        (0usize..400).prop_map(|depth| format!("    FEE x={}", "route_id(".repeat(depth))),
    ]
}

/// The deepest expression or value in `file`, measured without recursion.
fn tree_depth(file: &File) -> usize {
    enum Node<'a> {
        Expr(&'a Expr),
        Value(&'a Value),
    }
    let mut stack: Vec<(Node<'_>, usize)> = Vec::new();
    for block in file.blocks() {
        for item in &block.items {
            match item {
                BodyItem::Statement(s) => {
                    stack.extend(s.args.iter().map(|a| (Node::Value(&a.value), 1)));
                }
                BodyItem::Annotation(a) => stack.extend(a.expr.iter().map(|e| (Node::Expr(e), 1))),
                _ => {}
            }
        }
    }
    for item in &file.items {
        if let Item::Annotation(a) = item {
            stack.extend(a.expr.iter().map(|e| (Node::Expr(e), 1)));
        }
    }
    let mut deepest = 0;
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match node {
            Node::Expr(expr) => match &expr.kind {
                ExprKind::Binary { lhs, rhs, .. } => {
                    stack.push((Node::Expr(lhs), depth + 1));
                    stack.push((Node::Expr(rhs), depth + 1));
                }
                ExprKind::Paren(inner) => stack.push((Node::Expr(inner), depth + 1)),
                ExprKind::Int { .. } | ExprKind::Name(_) => {}
            },
            Node::Value(value) => match &value.kind {
                ValueKind::List(items) => {
                    stack.extend(items.iter().map(|v| (Node::Value(v), depth + 1)));
                }
                ValueKind::Call { args, .. } => {
                    stack.extend(args.iter().map(|v| (Node::Value(v), depth + 1)));
                }
                _ => {}
            },
        }
    }
    deepest
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever the nesting, parsing returns; no tree is deeper than the limit allows; a line
    /// past the limit is reported with E0103, and formatting what parsed cleanly round-trips.
    #[test]
    fn deep_and_long_lines_give_bounded_trees(lines in prop::collection::vec(hostile_line(), 1..4)) {
        let text = format!("ORACLE \"o\" {{\n{}\n}}\n", lines.join("\n"));
        let parsed = parse(&text);
        prop_assert!(tree_depth(&parsed.file) <= NESTING_MAX + 1);
        let deep_lines = lines.iter().filter(|line| {
            let mut depth = 0usize;
            let mut deepest = 0usize;
            let mut operators = 0usize;
            for token in lexer::lex(line).tokens {
                match &line[token.span.range()] {
                    "(" | "[" => {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    ")" | "]" => depth = depth.saturating_sub(1),
                    "+" | "*" | "<=" | "==" => operators += 1,
                    _ => {}
                }
            }
            deepest + operators > NESTING_MAX
        }).count();
        let reported = parsed.diagnostics.iter().filter(|d| d.code == Code::NestingTooDeep).count();
        prop_assert_eq!(reported, deep_lines, "{:#?}", parsed.diagnostics);
        if !parsed.has_errors() {
            let formatted = format_file(&parsed.file);
            prop_assert_eq!(print_ast(&parse(&formatted).file, false), print_ast(&parsed.file, false));
        }
    }
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

/// The case the proptest above once found: 64 brackets under one comparison made a tree 66
/// deep while no token passed 64 brackets plus operators at once. The line is now cut.
#[test]
fn brackets_under_an_operator_count_toward_the_nesting_limit() {
    let open = "(".repeat(NESTING_MAX);
    let close = ")".repeat(NESTING_MAX);
    let text = format!("ORACLE \"o\" {{\n    @invariant {open}qty{close} <= 1\n}}\n");
    let parsed = parse(&text);
    assert!(tree_depth(&parsed.file) <= NESTING_MAX + 1);
    let reported = parsed
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::NestingTooDeep)
        .count();
    assert_eq!(reported, 1, "{:#?}", parsed.diagnostics);
    // One bracket fewer fits: 63 brackets and one operator.
    let text = format!(
        "ORACLE \"o\" {{\n    @invariant {}qty{} <= 1\n}}\n",
        &open[1..],
        &close[1..]
    );
    let parsed = parse(&text);
    assert!(!parsed.has_errors(), "{:#?}", parsed.diagnostics);
}
