//! The `curve` binary as a user meets it: exit codes, `path:line:col` and codes in the output,
//! JSON diagnostics, in-place formatting.

#[path = "../../../curvescript/check/tests/hostile/random_text.rs"]
mod random_text;

use curvescript_check::{Governance, check_source};
use curvescript_syntax::LineIndex;

use std::process::{Command, Output};

mod common;
use common::{curve_command, workspace};

fn curve(args: &[&str]) -> Output {
    curve_command(args).output().expect("run curve")
}

fn files(dir: &str) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(workspace().join(dir))
        .expect("directory")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "curve"))
        .map(|p| {
            p.strip_prefix(workspace())
                .expect("inside workspace")
                .display()
                .to_string()
        })
        .collect();
    found.sort();
    found
}

const GOVERNANCE: &str = "examples/governance.toml";

#[test]
fn every_example_checks_clean() {
    let output = curve(&["check", "--governance", GOVERNANCE, "examples"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let examples = files("examples");
    assert!(examples.len() >= 6, "{examples:?}");
    assert!(
        stderr.contains(&format!(
            "checked {} files: 0 errors, 0 warnings",
            examples.len()
        )),
        "{stderr}"
    );
}

#[test]
fn every_golden_error_exits_1_with_its_positions_and_codes() {
    let governance = Governance::parse(
        &std::fs::read_to_string(workspace().join(GOVERNANCE)).expect("governance"),
    )
    .expect("valid");
    let goldens = files("curvescript/check/test_data/err");
    assert!(goldens.len() >= 15);
    for path in goldens {
        let text = std::fs::read_to_string(workspace().join(&path)).expect("readable");
        // The library's diagnostics are the expectation; the CLI must show every one of them.
        let expected = check_source(&text, Some(&governance)).diagnostics;
        assert!(!expected.is_empty());
        let output = curve(&["check", "--governance", GOVERNANCE, &path]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{path}: {stderr}");
        let index = LineIndex::new(&text);
        for diagnostic in &expected {
            let at = index.line_col(&text, diagnostic.span.start);
            let location = format!("{path}:{}:{}", at.line, at.col);
            assert!(
                stderr.contains(&location),
                "{path}: missing {location} in\n{stderr}"
            );
            assert!(
                stderr.contains(&format!("[{}]", diagnostic.code)),
                "{path}: missing {} in\n{stderr}",
                diagnostic.code
            );
        }
    }
}

#[test]
fn json_output_carries_code_and_position() {
    let path = "curvescript/check/test_data/err/0001_batch_window_11ms_fails.curve";
    let output = curve(&["check", "--format", "json", path]);
    assert_eq!(output.status.code(), Some(1));
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect();
    // Without --governance the first record is the unlocated W0001 warning.
    assert_eq!(records[0]["code"], "W0001");
    assert!(records[0]["path"].is_null());
    let error = records
        .iter()
        .find(|r| r["code"] == "E0301")
        .expect("batch-window error");
    assert_eq!(error["path"], path);
    assert_eq!(error["severity"], "error");
    assert_eq!(error["start"]["line"], 9);
    assert_eq!(error["start"]["column"], 5);
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(
        curve(&["check", "does/not/exist.curve"]).status.code(),
        Some(2)
    );
    assert_eq!(curve(&["check"]).status.code(), Some(2));
    assert_eq!(curve(&["frobnicate"]).status.code(), Some(2));
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("governance.toml");
    std::fs::write(&bad, "version = 9\n[fees]\nmaker_bps_max = 1\ntaker_bps_max = 1\nmarket_trade_bps_max = 1\n[oracles]\napproved = []\n").expect("write");
    let output = curve(&[
        "check",
        "--governance",
        bad.to_str().expect("utf-8"),
        "examples/perp_sol.curve",
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("E0307"));
}

#[test]
fn withdraw_proof_refuses_a_mixed_query_and_names_a_node_it_cannot_reach() {
    // `--tx` with `--height`, or `--height` without `--index`: usage errors.
    let mixed = curve(&[
        "withdraw-proof",
        "--tx",
        "00",
        "--height",
        "1",
        "--index",
        "0",
    ]);
    assert_eq!(mixed.status.code(), Some(2));
    assert_eq!(
        curve(&["withdraw-proof", "--height", "1"]).status.code(),
        Some(2)
    );
    assert_eq!(curve(&["withdraw-proof"]).status.code(), Some(2));
    // Port 1 on loopback: nothing listens there.
    let unreachable = curve(&[
        "withdraw-proof",
        "--node",
        "http://127.0.0.1:1",
        "--height",
        "1",
        "--index",
        "0",
    ]);
    assert_eq!(unreachable.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        stderr.contains("curve_getWithdrawalProof") && stderr.contains("127.0.0.1:1"),
        "{stderr}"
    );
    assert!(unreachable.stdout.is_empty(), "nothing printed as a proof");
}

#[test]
fn demo_refuses_a_port_in_use_and_missing_solana_binaries_before_starting_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let demo_dir = dir.path().join("demo");
    let demo_dir = demo_dir.to_str().unwrap();
    // A port of the range held here: named, with the flags that move it.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = held.local_addr().unwrap().port();
    let port = port.to_string();
    let demo = |extra: &[&str]| {
        let mut args = vec!["demo", "--dir", demo_dir, "--solana-port", &port];
        args.extend_from_slice(extra);
        let output = curve(&args);
        assert_eq!(output.status.code(), Some(2));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = demo(&[]);
    assert!(
        stderr.contains(&format!("port {port} is in use")) && stderr.contains("--solana-port"),
        "{stderr}"
    );
    drop(held);
    // Free ports, but no Solana-side binaries where it was told to look.
    let stderr = demo(&["--solana-bin", dir.path().to_str().unwrap()]);
    assert!(
        stderr.contains("curve-solana-wallet not found") && stderr.contains("anchor-program"),
        "{stderr}"
    );
    assert!(
        !std::path::Path::new(demo_dir).exists(),
        "nothing was written"
    );
}

#[test]
fn localnet_and_demo_refuse_ports_that_coincide_or_pass_65535_before_writing_anything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("net");
    let target = target.to_str().unwrap();
    let refused = |args: &[&str], expected: &[&str]| {
        let output = curve(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{args:?}: no {part:?} in {stderr}");
        }
        assert!(
            !std::path::Path::new(target).exists(),
            "{args:?} wrote {target}"
        );
    };
    // Node 3's libp2p port would be node 0's RPC port (the collision that once failed the
    // demo's test as "cannot bind the RPC address").
    let localnet = ["localnet", "--dir", target, "--nodes", "4"];
    refused(
        &[
            &localnet[..],
            &["--p2p-port", "30000", "--rpc-port", "30003"],
        ]
        .concat(),
        &["30000..=30003", "30003..=30006", "overlap"],
    );
    refused(
        &[
            &localnet[..],
            &["--p2p-port", "65534", "--rpc-port", "30000"],
        ]
        .concat(),
        &["--p2p-port 65534", "past 65535"],
    );
    refused(
        &[
            &localnet[..],
            &[
                "--p2p-port",
                "30000",
                "--rpc-port",
                "30010",
                "--solana",
                "local",
            ],
            &["--solana-port", "30012"],
        ]
        .concat(),
        &["--solana-port 30012", "30010..=30013"],
    );
    refused(
        &[
            "demo",
            "--dir",
            target,
            "--p2p-port",
            "30000",
            "--rpc-port",
            "29998",
        ],
        &["overlap"],
    );
}

#[test]
fn fmt_rewrites_in_place_and_check_mode_reports() {
    assert_eq!(
        curve(&["fmt", "--check", "examples"]).status.code(),
        Some(0),
        "examples are formatted"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let messy = dir.path().join("messy.curve");
    std::fs::write(
        &messy,
        "# note\nORACLE   \"o\" {\n\n\n  HEARTBEAT   ms=500   # beat\n}\n",
    )
    .expect("write");
    let messy_arg = messy.to_str().expect("utf-8");
    // `--check` shows what would change as a unified diff, and changes nothing.
    let output = curve(&["fmt", "--check", messy_arg]);
    assert_eq!(output.status.code(), Some(1));
    let diff = String::from_utf8_lossy(&output.stdout);
    for line in [
        "-# note",
        "+// note",
        "-ORACLE   \"o\" {",
        "+ORACLE \"o\" {",
        "+    HEARTBEAT ms=500 // beat",
    ] {
        assert!(
            diff.lines().any(|l| l == line),
            "missing {line:?} in\n{diff}"
        );
    }
    assert!(diff.starts_with(&format!("--- {messy_arg}")), "{diff}");
    assert_eq!(curve(&["fmt", messy_arg]).status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&messy).expect("read"),
        "// note\nORACLE \"o\" {\n    HEARTBEAT ms=500 // beat\n}\n"
    );
    assert_eq!(curve(&["fmt", "--check", messy_arg]).status.code(), Some(0));

    let broken = dir.path().join("broken.curve");
    let broken_text = "ORACLE \"o\" {\n  HEARTBEAT ms=\n}\n";
    std::fs::write(&broken, broken_text).expect("write");
    let output = curve(&["fmt", broken.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&broken).expect("read"),
        broken_text,
        "a file with syntax errors is left alone"
    );
}

#[test]
fn directories_are_searched_recursively_in_sorted_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let oracle = "ORACLE \"pyth:SOLUSD\" {\n    FEED pyth \"SOL/USD\"\n}\n";
    for (path, text) in [
        ("b/deep/two.curve", oracle.replace("HEARTBEAT", "X")),
        ("a/one.curve", "ORACLE \"o\" {\n    NOPE 1\n}\n".to_string()),
        ("b/deep/three.txt", "not a script".to_string()),
        (".hidden/skipped.curve", "garbage".to_string()),
        ("target/skipped.curve", "garbage".to_string()),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    let output = curve(&[
        "check",
        "--format",
        "json",
        dir.path().to_str().expect("utf-8"),
    ]);
    let paths: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("json line");
            value["path"].as_str().map(str::to_string)
        })
        .collect();
    assert!(!paths.is_empty(), "{output:?}");
    assert!(paths.iter().all(|p| !p.contains("skipped")), "{paths:?}");
    let one = paths.iter().position(|p| p.ends_with("one.curve"));
    let two = paths.iter().position(|p| p.ends_with("two.curve"));
    assert!(one.is_some() && two.is_some() && one < two, "{paths:?}");
}

/// A reader that goes away (`| head -1`) ends `curve` quietly with 141, never a panic.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("temp dir");
    let noisy = dir.path().join("noisy.curve");
    // Thousands of errors: far more JSON than a pipe buffer holds.
    std::fs::write(&noisy, "ORACLE \"o\" {\n    NOPE 1\n}\n".repeat(5_000)).expect("write");
    let mut child = curve_command(&["check", "--format", "json", noisy.to_str().expect("utf-8")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert!(first.contains("\"code\""), "{first}");
    // The reader is dropped here; `curve` is still writing.
    let output = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Human rendering costs time linear in the number of diagnostics: ten times the random text
/// (and ~ten times the diagnostics, all shown) must not cost a hundred times the time. Checked as
/// a ratio, never as a wall time. (Each diagnostic once re-indexed the whole file.)
#[test]
fn human_rendering_time_is_linear_in_the_diagnostics() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("random text seed {:#x}", random_text::SEED);
    let random = |bytes| random_text::random_text(bytes, random_text::SEED);
    let mut seconds = Vec::new();
    for (name, bytes) in [("small.curve", 10_000), ("large.curve", 100_000)] {
        let path = dir.path().join(name);
        std::fs::write(&path, random(bytes)).expect("write");
        let path = path.to_str().expect("utf-8").to_string();
        let run = || {
            let start = std::time::Instant::now();
            let output = curve(&["check", "--max-diagnostics", "0", &path]);
            assert_eq!(output.status.code(), Some(1));
            start.elapsed().as_secs_f64()
        };
        run();
        seconds.push((0..3).map(|_| run()).fold(f64::INFINITY, f64::min));
    }
    let ratio = seconds[1] / seconds[0];
    println!(
        "10 KB in {:.3} s, 100 KB in {:.3} s: ratio {ratio:.1}",
        seconds[0], seconds[1]
    );
    assert!(ratio < 40.0, "10x the input took {ratio:.1}x the time");
}

#[test]
fn compile_without_governance_warns_as_check_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = curve(&[
        "compile",
        "examples/perp_sol.curve",
        "-o",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("warning[W0001]"), "{stderr}");
    let output = curve(&[
        "compile",
        "--governance",
        GOVERNANCE,
        "examples/perp_sol.curve",
        "-o",
        dir.path().to_str().expect("utf-8"),
    ]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("W0001"));
}

/// `pyth:SOLUSD` and `pyth-SOLUSD` both map to `oracle-pyth-SOLUSD/`: an error at the second
/// block, nothing written, not a silent overwrite.
#[test]
fn two_ids_with_one_output_directory_are_an_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("twins.curve");
    let oracle = |id: &str| format!("ORACLE \"{id}\" {{\n    HEARTBEAT ms=500\n}}\n");
    std::fs::write(&script, oracle("pyth:SOLUSD") + &oracle("pyth-SOLUSD")).expect("write");
    let out = dir.path().join("out");
    let output = curve(&[
        "compile",
        script.to_str().expect("utf-8"),
        "-o",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("E0504") && stderr.contains("twins.curve:4:1"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bom.curve");
    let text = std::fs::read_to_string(workspace().join("examples/perp_sol.curve")).expect("read");
    std::fs::write(&path, format!("\u{feff}{text}")).expect("write");
    let output = curve(&[
        "check",
        "--governance",
        GOVERNANCE,
        path.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn explain_knows_every_code() {
    let output = curve(&["explain", "e0201"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stdout).starts_with("E0201: unknown statement keyword")
    );
    assert_eq!(curve(&["explain", "E9999"]).status.code(), Some(2));
}

#[test]
fn asm_disasm_round_trip_and_run_reports_returns_and_traps() {
    let dir = tempfile::tempdir().unwrap();
    let source = workspace().join("curvevm/filetests/microcode/fixed.cvm");
    let binary = dir.path().join("fixed.cvmb");
    let out = curve(&[
        "asm",
        source.to_str().unwrap(),
        "-o",
        binary.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The disassembly of the binary assembles back to the same bytes.
    let out = curve(&["disasm", binary.to_str().unwrap()]);
    assert!(out.status.success());
    let text = dir.path().join("again.cvm");
    std::fs::write(&text, &out.stdout).unwrap();
    let again = dir.path().join("again.cvmb");
    assert!(
        curve(&["asm", text.to_str().unwrap(), "-o", again.to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(&binary).unwrap(),
        std::fs::read(&again).unwrap()
    );

    let bin = binary.to_str().unwrap();
    let out = curve(&[
        "run", bin, "--entry", "muldiv", "--arg", "6", "--arg", "7", "--arg", "4", "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["status"], "returned");
    assert_eq!(value["return"][0], 10);

    // Native and pure-ISA microcode report the same gas.
    let pure = curve(&[
        "run", bin, "--entry", "muldiv", "--arg", "6", "--arg", "7", "--arg", "4", "--format",
        "json", "--pure",
    ]);
    let pure: serde_json::Value = serde_json::from_slice(&pure.stdout).unwrap();
    assert_eq!(pure["gas_used"], value["gas_used"]);

    // The JIT returns the same words for the same gas, all of it run natively.
    let jit = curve(&[
        "run", bin, "--entry", "muldiv", "--arg", "6", "--arg", "7", "--arg", "4", "--format",
        "json", "--jit",
    ]);
    assert_eq!(jit.status.code(), Some(0));
    let jit: serde_json::Value = serde_json::from_slice(&jit.stdout).unwrap();
    assert_eq!(jit["engine"], "jit");
    assert_eq!(jit["return"], value["return"]);
    assert_eq!(jit["gas_used"], value["gas_used"]);
    assert_eq!(jit["native_gas"], value["gas_used"]);
    let out = curve(&[
        "run", bin, "--entry", "muldiv", "--arg", "1", "--arg", "1", "--arg", "0", "--jit",
    ]);
    assert_eq!(out.status.code(), Some(1), "a trap under the JIT exits 1");

    let out = curve(&[
        "run", bin, "--entry", "muldiv", "--arg", "1", "--arg", "1", "--arg", "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("division by zero"), "{stdout}");

    let out = curve(&["run", bin, "--entry", "muldiv", "--arg", "1", "--gas", "0"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "wrong argument count is a usage error"
    );
    let out = curve(&["run", bin, "--entry", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn corrupt_and_unverifiable_modules_exit_1_with_the_offset() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.cvm");
    std::fs::write(
        &bad,
        ".params 0\n.args 0\n.ret 0\n.scratch 0\n.slab 0\nmain:\n    jump 99\n",
    )
    .unwrap();
    let out = curve(&["asm", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("at instruction 0") && stderr.contains("99"),
        "{stderr}"
    );

    let truncated = dir.path().join("truncated.cvmb");
    std::fs::write(&truncated, b"CVM\x01\x00\x00").unwrap();
    let out = curve(&["disasm", truncated.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));
}

#[test]
fn run_loads_by_role_and_refuses_undeclared_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("vault.cvm");
    std::fs::write(
        &source,
        ".capabilities vault_write\n.params 0\n.args 0\n.ret 1\n.scratch 0\n.slab 0\n\
         .entry main args=0 ret=1\nmain:\n    host clock\n    store r1, ret[0]\n    ret\n",
    )
    .unwrap();
    let path = source.to_str().unwrap();
    // A slab may not declare vault access: refused at load, exit 1, with the reason.
    let out = curve(&["run", path, "--entry", "main", "--role", "slab"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("vault_write"), "{stderr}");
    // The router may; the clock call it makes was not declared: a defined trap on both engines.
    for engine in [&[][..], &["--jit"][..]] {
        let mut args = vec!["run", path, "--entry", "main", "--format", "json"];
        args.extend_from_slice(engine);
        let out = curve(&args);
        assert_eq!(out.status.code(), Some(1));
        let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(value["trap"], "host");
        assert!(
            value["message"]
                .as_str()
                .unwrap()
                .contains("capability_denied"),
            "{value}"
        );
    }
}

#[test]
fn compile_writes_artifacts_identically_and_nothing_on_error() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/perp_sol.curve");
    let first = tempfile::tempdir().expect("temp dir");
    let second = tempfile::tempdir().expect("temp dir");
    for dir in [&first, &second] {
        let output = Command::new(env!("CARGO_BIN_EXE_curve"))
            .args(["compile", script, "-o"])
            .arg(dir.path().join("out"))
            .current_dir(dir.path())
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
    }
    for file in [
        "program.cvmb",
        "program.cvm",
        "program.ir",
        "params.bin",
        "manifest.json",
    ] {
        let path = |dir: &tempfile::TempDir| dir.path().join("out/oracle-pyth-SOLUSD").join(file);
        let a = std::fs::read(path(&first)).expect("written");
        let b = std::fs::read(path(&second)).expect("written");
        assert_eq!(a, b, "{file} differs between two compilations");
    }
    // STALENESS below HEARTBEAT: a diagnostic at the HEARTBEAT value, exit 1, no artifact.
    let bad = first.path().join("bad.curve");
    std::fs::write(
        &bad,
        "ORACLE \"pyth:SOLUSD\" {\n    HEARTBEAT ms=500\n    STALENESS ms=100\n}\n",
    )
    .expect("writes");
    let out = first.path().join("bad-out");
    let output = Command::new(env!("CARGO_BIN_EXE_curve"))
        .args(["compile"])
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("E0305") && stderr.contains("bad.curve:2:18"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing is written");
}

#[test]
fn run_on_a_compiled_directory_locates_a_trap_in_the_script() {
    let script = workspace().join("examples/perp_sol.curve");
    let source = std::fs::read_to_string(&script).expect("example");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let compile = Command::new(env!("CARGO_BIN_EXE_curve"))
        .arg("compile")
        .arg(&script)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("runs");
    assert!(compile.status.success(), "{compile:?}");
    let artifact = out.join("oracle-pyth-SOLUSD");
    // No price was ever accepted: `price` aborts in a step of the ORACLE block itself.
    // The block's header, not the SLAB's `oracle=&ORACLE "pyth:SOLUSD"` reference to it.
    let header = source
        .find("\nORACLE \"pyth:SOLUSD\"")
        .expect("the block header")
        + 1;
    let line = LineIndex::new(&source).line_col(&source, header).line;
    let run = Command::new(env!("CARGO_BIN_EXE_curve"))
        .args(["run"])
        .arg(&artifact)
        .args(["--entry", "price", "--now", "1000"])
        .output()
        .expect("runs");
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&format!(
            "--> perp_sol.curve:{line}:1 (ORACLE), template step oracle.price/"
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("runtime guard `a price was accepted`"),
        "{stdout}"
    );
    // The same as JSON, on the JIT.
    let json = Command::new(env!("CARGO_BIN_EXE_curve"))
        .args(["run"])
        .arg(&artifact)
        .args(["--entry", "price", "--jit", "--format", "json"])
        .output()
        .expect("runs");
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    assert_eq!(value["script"]["line"], line);
    assert_eq!(value["script"]["file"], "perp_sol.curve");
    // A successful call prints no location; params come from params.bin, so --param is refused.
    let ok = Command::new(env!("CARGO_BIN_EXE_curve"))
        .args(["run"])
        .arg(&artifact)
        .args([
            "--entry",
            "register_key",
            "--arg",
            "1",
            "--arg",
            "2",
            "--arg",
            "3",
            "--arg",
            "4",
        ])
        .output()
        .expect("runs");
    assert!(ok.status.success(), "{ok:?}");
    assert!(!String::from_utf8_lossy(&ok.stdout).contains("-->"));
    let refused = Command::new(env!("CARGO_BIN_EXE_curve"))
        .args(["run"])
        .arg(&artifact)
        .args(["--entry", "price", "--param", "1"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
}

#[test]
fn bindings_print_the_checked_in_bindings_and_descriptors() {
    for interface in ["oracle", "slab", "market"] {
        let output = curve(&["bindings", interface]);
        assert!(output.status.success(), "{output:?}");
        let checked_in = std::fs::read_to_string(
            workspace().join(format!("compiler/bindings/src/{interface}.rs")),
        )
        .expect("checked in");
        assert_eq!(String::from_utf8_lossy(&output.stdout), checked_in);
        let descriptor = curve(&["bindings", interface, "--descriptor"]);
        let golden = std::fs::read_to_string(
            workspace().join(format!("compiler/core/tests/golden/{interface}.descriptor")),
        )
        .expect("golden");
        assert_eq!(String::from_utf8_lossy(&descriptor.stdout), golden);
    }
    assert_eq!(curve(&["bindings", "router"]).status.code(), Some(2));
}
