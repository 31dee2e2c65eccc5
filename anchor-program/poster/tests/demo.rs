//! `curve demo --short` as a user runs it (CI's short demo), interrupted first: the main
//! workspace's `curve` binary drives this workspace's Solana-side binaries. The first run is
//! stopped with SIGINT once its nodes answer — it exits 130 and leaves no process behind — and
//! the rerun, reusing the proved blocks, completes with every check of its summary holding.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::processes::{Processes, curve_bin, free_run, seeded_dir, solana_bin, wait_for};

/// The processes whose command line names `dir` (the demo's children: nodes, bridges, the
/// endpoint, the localnet).
fn processes_under(dir: &std::path::Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_short_demo_stops_cleanly_on_sigint_and_a_rerun_completes_with_every_check() {
    let (seed, dir) = seeded_dir("demo");
    let curve = curve_bin();
    let p2p = free_run(4, seed);
    let rpc = free_run(4, seed.rotate_left(17) ^ 0x5555);
    let solana_port = free_run(1, seed.rotate_left(34) ^ 0xaaaa);
    let demo = || {
        let mut command = Command::new(&curve);
        command
            .arg("demo")
            .arg("--short")
            .arg("--dir")
            .arg(&dir)
            .args(["--p2p-port", &p2p.to_string()])
            .args(["--rpc-port", &rpc.to_string()])
            .args(["--solana-port", &solana_port.to_string()])
            .arg("--solana-bin")
            .arg(solana_bin())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    };

    // Interrupted once its nodes answer.
    let mut first = Processes(vec![demo().spawn().expect("curve demo starts")]);
    let node = curve_batch_poster::NodeRpc::new(format!("http://127.0.0.1:{}", rpc + 3));
    wait_for(
        "the demo's nodes answering",
        Duration::from_secs(600),
        async || node.call("curve_status", serde_json::json!([])).await.ok(),
    )
    .await;
    let child = first.0.pop().expect("the demo");
    let pid = child.id();
    let status = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let output = child.wait_with_output().expect("the demo exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let left = processes_under(&dir);
    assert!(left.is_empty(), "processes left behind: {left:#?}");

    // The rerun reuses the proved blocks and completes.
    let output = demo().output().expect("curve demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );
    println!("{stdout}");
    for line in [
        "registered on Solana",
        "credited once",
        "bob's route filled across both venues",
        "funding moved each venue's index",
        "liquidated: venue b closed her position",
        "restarted and caught up",
        "every transfer committed exactly once",
        "paid on Solana once",
        "conservation",
        "same state root",
        "every check holds",
    ] {
        assert!(
            stdout.contains(line),
            "the summary lacks {line:?}:\n{stdout}"
        );
    }
    assert!(!stdout.contains('✘'), "{stdout}");
    assert!(processes_under(&dir).is_empty(), "processes left behind");
    let _ = std::fs::remove_dir_all(&dir);
}
