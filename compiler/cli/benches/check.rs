//! `curve check` end to end on hostile input (the issue-31 figures): 100 KB of random text with
//! every diagnostic rendered, one line of 100,000 nested brackets, and a 10 MB file of valid
//! blocks. The binary runs as a user runs it (a child process, human output to a pipe), so
//! process start, reading, checking and rendering are all in the figure. Figures in
//! BENCHMARKS.md.

use std::path::Path;
use std::process::{Command, Stdio};

use criterion::{Criterion, criterion_group, criterion_main};

#[path = "../../../curvescript/check/tests/hostile/random_text.rs"]
mod random_text;

fn nested_brackets(depth: usize) -> String {
    format!(
        "ORACLE \"x:Y\" {{\n    HEARTBEAT ms={}1{}\n}}\n",
        "(".repeat(depth),
        ")".repeat(depth)
    )
}

fn valid_blocks(bytes: usize) -> String {
    let mut text = String::with_capacity(bytes + 200);
    let mut i = 0;
    while text.len() < bytes {
        text.push_str(&format!(
            "ORACLE \"pyth:F{i}\" {{\n    HEARTBEAT ms=1_000\n    STALENESS ms=5_000\n    \
             SIGNERS quorum=2 keys_max=4\n    PRICE decimals=6 min=1 max=10_000\n}}\n"
        ));
        i += 1;
    }
    text
}

/// Runs `curve check --max-diagnostics 0 <path>`; `errors` says whether it must fail.
fn check(path: &Path, errors: bool) {
    let status = Command::new(env!("CARGO_BIN_EXE_curve"))
        .args(["check", "--max-diagnostics", "0"])
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("curve runs");
    assert_eq!(status.code(), Some(i32::from(errors)), "{}", path.display());
}

fn hostile_inputs(c: &mut Criterion) {
    println!("random text seed {:#x}", random_text::SEED);
    let dir = tempfile::tempdir().expect("temp dir");
    let inputs = [
        (
            "check_random_100kb",
            random_text::random_text(100_000, random_text::SEED),
            true,
        ),
        ("check_nested_brackets_100k", nested_brackets(100_000), true),
        ("check_valid_10mb", valid_blocks(10_000_000), false),
    ];
    let mut group = c.benchmark_group("cli");
    group.sample_size(10);
    for (name, text, errors) in inputs {
        let path = dir.path().join(format!("{name}.curve"));
        std::fs::write(&path, text).expect("write");
        group.bench_function(name, |b| b.iter(|| check(&path, errors)));
    }
    group.finish();
}

criterion_group!(benches, hostile_inputs);
criterion_main!(benches);
