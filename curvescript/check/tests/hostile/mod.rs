//! Hostile input: no input controls the depth of any recursion, and checking time grows linearly
//! with the input. Full-size inputs (a 1 MB expression, 100,000 nested brackets, a 10 MB file)
//! run once each; the time bounds are ratios (ten times the input must cost well under a hundred
//! times the time: quadratic behaviour shows as about 100), never wall-clock limits.

use curvescript_check::check_source;
use curvescript_syntax::Code;
use std::time::Instant;

mod random_text;

use random_text::SEED;

fn random_text(bytes: usize) -> String {
    random_text::random_text(bytes, SEED)
}

fn example() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/perp_sol.curve");
    std::fs::read_to_string(path).expect("the example script")
}

/// The example script repeated to `bytes`: every copy after the first is a duplicate block.
fn repeated_example(bytes: usize) -> String {
    let one = example();
    one.repeat(bytes.div_ceil(one.len()))
}

fn long_sums(bytes: usize) -> String {
    let line = format!("    @invariant qty{} <= 1\n", " + qty".repeat(200));
    format!("ORACLE \"o\" {{\n{}}}\n", line.repeat(bytes / line.len()))
}

fn deep_brackets(bytes: usize) -> String {
    let line = format!("    SOURCES {}{}\n", "[".repeat(500), "]".repeat(500));
    format!("ORACLE \"o\" {{\n{}}}\n", line.repeat(bytes / line.len()))
}

/// The fastest of three checks of `text`, in seconds.
fn check_seconds(text: &str) -> f64 {
    (0..3)
        .map(|_| {
            let start = Instant::now();
            let checked = check_source(text, None);
            std::hint::black_box(checked.diagnostics.len());
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// A kind of hostile input, made to a size in bytes.
type Maker = fn(usize) -> String;

#[test]
fn checking_time_grows_linearly_with_hostile_input() {
    println!("random text seed {SEED:#x}");
    let inputs: [(&str, Maker); 4] = [
        ("random text", random_text),
        ("repeated example", repeated_example),
        ("long operator chains", long_sums),
        ("deeply nested lists", deep_brackets),
    ];
    for (name, make) in inputs {
        let small = make(20_000);
        let large = make(200_000);
        check_seconds(&small); // warm the allocator and caches
        let (small_s, large_s) = (check_seconds(&small), check_seconds(&large));
        let ratio = large_s / small_s.max(1e-6);
        println!(
            "{name}: {} B in {:.2} ms, {} B in {:.2} ms, ratio {ratio:.1}",
            small.len(),
            small_s * 1e3,
            large.len(),
            large_s * 1e3
        );
        assert!(
            ratio < 40.0,
            "{name}: 10x the input took {ratio:.1}x the time (linear is ~10, quadratic ~100)"
        );
    }
}

#[test]
fn full_size_hostile_inputs_give_diagnostics_not_a_stack_overflow() {
    let deep = format!(
        "ORACLE \"o\" {{\n    @invariant {}qty{} <= 1\n}}\n",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let wide = format!(
        "ORACLE \"o\" {{\n    @invariant qty{} <= 1\n}}\n",
        " + qty".repeat((1 << 20) / 6)
    );
    let unclosed = format!("ORACLE \"o\" {{\n    SOURCES {}\n}}\n", "[".repeat(100_000));
    for (name, text) in [
        ("100,000 brackets", &deep),
        ("1 MB expression", &wide),
        ("unclosed", &unclosed),
    ] {
        let checked = check_source(text, None);
        let codes: Vec<Code> = checked.diagnostics.iter().map(|d| d.code).collect();
        assert!(codes.contains(&Code::NestingTooDeep), "{name}: {codes:?}");
        assert!(
            codes.len() <= 4,
            "{name}: a cascade of {} diagnostics: {codes:?}",
            codes.len()
        );
    }
    // Ten megabytes of valid blocks, each a duplicate of the first: one diagnostic per copy.
    let big = repeated_example(10 << 20);
    let copies = big.len() / example().len();
    let checked = check_source(&big, None);
    let duplicates = checked
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::DuplicateBlock)
        .count();
    assert!(
        duplicates >= copies - 1,
        "{duplicates} duplicates for {copies} copies"
    );
}
