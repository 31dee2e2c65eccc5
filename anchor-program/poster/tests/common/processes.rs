//! The binaries of both workspaces as a user starts them: the main workspace's `curve`
//! (`$CURVE_BIN`, or built here), this workspace's Solana-side binaries, free ports, and child
//! processes that end with the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The main workspace's `curve` binary.
pub fn curve_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CURVE_BIN") {
        return PathBuf::from(path);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let output = Command::new(env!("CARGO"))
        .current_dir(&root)
        .env_remove("CARGO_TARGET_DIR")
        .args([
            "build",
            "--locked",
            "-p",
            "curve-cli",
            "--bin",
            "curve",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(output.status.success(), "building curve failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo names the curve executable")
}

/// `count` consecutive free ports below the ephemeral range (`curve localnet` gives node i
/// port BASE + i), starting from a point that `seed` picks.
pub fn free_run(count: u16, seed: u64) -> u16 {
    const LOW: u64 = 20_000;
    const SPAN: u64 = 12_000;
    for attempt in 0..SPAN / 8 {
        let base = (LOW + (seed.wrapping_add(attempt * 8)) % (SPAN - 8)) as u16;
        if (base..base + count).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return base;
        }
    }
    panic!("no {count} consecutive free ports in {LOW}..{}", LOW + SPAN);
}

/// The ports of a localnet of `nodes` and its Solana endpoint, taken from one run of free
/// ports so that no two coincide (three separate runs could overlap: one node's RPC port
/// another's libp2p port).
pub struct LocalnetPorts {
    /// Node i's libp2p port is `p2p + i`.
    pub p2p: u16,
    /// Node i's RPC port is `rpc + i`.
    pub rpc: u16,
    /// The local Solana endpoint's port.
    pub solana: u16,
}

/// Picks [`LocalnetPorts`] for `nodes` nodes, from a point that `seed` picks.
pub fn localnet_ports(nodes: u16, seed: u64) -> LocalnetPorts {
    let base = free_run(2 * nodes + 1, seed);
    LocalnetPorts {
        p2p: base,
        rpc: base + nodes,
        solana: base + 2 * nodes,
    }
}

/// Polls `check` every 50 ms until it gives a value; panics with `what` after `patience`.
pub async fn wait_for<T>(
    what: &str,
    patience: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < patience,
            "{what}: not within {patience:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Child processes killed when the test ends, however it ends.
pub struct Processes(pub Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // SIGTERM first: `curve localnet` stops its nodes on it.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        for child in &mut self.0 {
            let _ = child.wait();
        }
    }
}

/// The pid `curve localnet` printed last for bridge `member` (at start, or when it restarted
/// it).
pub fn bridge_pid(log: &Path, member: usize) -> Option<u32> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter(|line| line.starts_with(&format!("bridge {member}: ")))
        .filter_map(|line| line.rsplit("pid ").next()?.trim().parse().ok())
        .next_back()
}

/// The directory holding `curve-batch-poster` and `curve-solana-localnet` (the endpoint built
/// here when a partial `cargo test -p` left it out).
pub fn solana_bin() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_curve-batch-poster"))
        .parent()
        .expect("a directory")
        .to_path_buf();
    if !dir.join("curve-solana-localnet").is_file() {
        let status = Command::new(env!("CARGO"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--locked",
                "-p",
                "curve-solana-localnet",
                "--target-dir",
            ])
            .arg(dir.parent().expect("the target directory"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building curve-solana-localnet failed");
    }
    dir
}

/// A fresh directory under the temporary one for test `label`, named after this process and
/// a seed from the clock (printed: it also picks the test's ports).
pub fn seeded_dir(label: &str) -> (u64, PathBuf) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as u64;
    println!("seed {seed} (port choice)");
    let dir = std::env::temp_dir().join(format!("curve-{label}-{}-{seed}", std::process::id()));
    (seed, dir)
}
