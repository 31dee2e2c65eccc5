//! `curve demo --short` as a user runs it (CI's short demo), interrupted first: the main
//! workspace's `curve` binary drives this workspace's Solana-side binaries. The first run is
//! stopped with SIGINT once its nodes answer — it exits 130 and leaves no process behind — and
//! the rerun, reusing the proved blocks, completes with every check of its summary holding.
//! The rerun keeps its localnet up (`--keep`) for the dashboard test: headless Chromium (Debian's
//! `chromium`) loads node 0's dashboard twice, at least 2 s apart; the decided height it shows
//! grew and is what RPC said when it was read, the joint market's heatmap cells are the world
//! prices `curve_call` gives, both venues' books and trades (`curve_getBook`) are what the demo's
//! trades left, and a screenshot is saved. Then SIGINT stops it, exit 0.

// The Anchor workspace's test helpers (keys, token accounts, processes): these tests are built
// by its `curve-batch-poster` package, which has the Solana client crates.
#[path = "../../anchor-program/poster/tests/common/mod.rs"]
mod common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::processes::{
    LocalnetPorts, Processes, curve_bin, localnet_ports, seeded_dir, solana_bin, wait_for,
};

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
    let LocalnetPorts {
        p2p,
        rpc,
        solana: solana_port,
    } = localnet_ports(4, seed);
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
        async || {
            exited_early(&mut first.0[0]);
            node.call("curve_status", serde_json::json!([])).await.ok()
        },
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

    // The rerun reuses the proved blocks, completes and keeps its localnet for the dashboard.
    let mut rerun = demo();
    let rerun = rerun.arg("--keep").spawn().expect("curve demo runs");
    // Stopped (SIGTERM) however the test ends.
    let mut keeper = Processes(vec![rerun]);
    let rerun = &mut keeper.0[0];
    let (lines, kept) = std::sync::mpsc::channel();
    let stdout = rerun.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("the localnet keeps running") {
                let _ = lines.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // The summary's last line (or the end of the output, should the demo fail).
    let _ = kept.recv_timeout(Duration::from_secs(900));
    let kept_running = rerun.try_wait().expect("the demo's state").is_none();
    if kept_running {
        check_dashboard(&format!("http://127.0.0.1:{rpc}"), &dir).await;
        let status = Command::new("kill")
            .args(["-INT", &rerun.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }
    let output = keeper
        .0
        .pop()
        .expect("the rerun")
        .wait_with_output()
        .expect("the demo exits");
    let stdout = reader.join().expect("the reader");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        output.status
    );
    println!("{stdout}");
    assert!(
        kept_running,
        "the demo ended before keeping its localnet up:\n{stdout}\n{stderr}"
    );
    for line in [
        "registered on Solana",
        "credited once",
        "bob's route filled across both venues",
        "funding moved each venue's index",
        "liquidated: venue b closed her position",
        "each market took its worst-case loss",
        "cost what the quote said",
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

/// Panics with the demo's stderr if it has exited.
fn exited_early(child: &mut std::process::Child) {
    if let Some(status) = child.try_wait().expect("the demo's state") {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        panic!("the demo exited early ({status}):\n{stderr}");
    }
}

/// Chromium, or how to install it.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the dashboard test needs Chromium: install Debian's package with \
                 `apt-get install chromium` (the README's setup command does)"
            )
        })
}

/// Headless Chromium on `url` (scripts run, fetches answered within 4 s of virtual time):
/// `--dump-dom` or `--screenshot=…`; returns what it printed. Bounded by `timeout`, so a stuck
/// browser fails the test; its output goes to a file, so a helper process left holding it
/// cannot keep the test waiting.
fn headless(url: &str, profile: &Path, output: &str) -> String {
    let printed = profile.with_extension("out");
    let file = std::fs::File::create(&printed).expect("chromium's output file");
    let status = Command::new("timeout")
        .arg("90")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1300,900",
            "--virtual-time-budget=4000",
            "--disable-crash-reporter",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(output)
        .arg(url)
        .stdout(file)
        .stderr(Stdio::null())
        .status()
        .expect("chromium runs");
    assert!(status.success(), "chromium {output}: {status}");
    std::fs::read_to_string(&printed).expect("chromium's output")
}

/// Every `attribute="value"` of the page, in order, as (attribute, value) pairs.
fn attributes<'a>(dom: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!("{name}=\"");
    dom.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &dom[at + needle.len()..];
            rest.find('"').map(|end| &rest[..end])
        })
        .collect()
}

/// The decided height the page shows.
fn shown_height(dom: &str) -> u64 {
    let start = dom
        .find("id=\"decided-height\">")
        .map(|at| at + "id=\"decided-height\">".len())
        .expect("the page shows the decided height");
    dom[start..]
        .split('<')
        .next()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the decided height is a number: {}",
                &dom[start..start + 40]
            )
        })
}

async fn decided(node: &curve_batch_poster::NodeRpc) -> u64 {
    let status: Value = node.call("curve_status", json!([])).await.expect("status");
    status["decided_height"].as_u64().expect("a height")
}

/// The page read twice: the decided height it shows increased and lies between what RPC
/// said just before and just after each read; its heatmap is the joint market's world table.
async fn check_dashboard(url: &str, dir: &Path) {
    let node = curve_batch_poster::NodeRpc::new(url.to_string());
    let profile = dir.join("chromium");
    let page = format!("{url}/");
    let read = async || {
        let before = decided(&node).await;
        let dom = headless(&page, &profile, "--dump-dom");
        let after = decided(&node).await;
        let shown = shown_height(&dom);
        assert!(
            (before..=after).contains(&shown),
            "the page shows height {shown}; RPC said {before} before and {after} after"
        );
        (Instant::now(), shown, dom)
    };
    let (first_at, first, _) = read().await;
    wait_for(
        "2 s and a new block since the first read",
        Duration::from_secs(60),
        async || {
            (first_at.elapsed() >= Duration::from_secs(2) && decided(&node).await > first)
                .then_some(())
        },
    )
    .await;
    let (_, second, dom) = read().await;
    assert!(second > first, "the decided height went {first} → {second}");
    assert!(
        dom.contains("id=\"error\"></p>"),
        "the page reports an error"
    );

    let programs: Value = node
        .call("curve_getPrograms", json!([]))
        .await
        .expect("programs");
    let market = programs
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["block"] == "middle-east-q3")
        .and_then(|p| p["program"].as_u64())
        .expect("the joint market is deployed");
    // The heatmap's table (the page's script also spells the attributes).
    let table = dom
        .split_once("id=\"heatmap\"")
        .and_then(|(_, rest)| rest.split_once("</table>"))
        .map(|(table, _)| table)
        .expect("the page has a heatmap");
    let worlds = attributes(table, "data-world");
    let shown: Vec<&str> = attributes(table, "data-ppm");
    assert_eq!(worlds.len(), 8, "eight heatmap cells");
    for (world, ppm) in worlds.iter().zip(&shown) {
        let world: u64 = world.parse().expect("a world");
        let quote: Value = node
            .call(
                "curve_call",
                json!([market, "quote", [world, 7 & !world, 0]]),
            )
            .await
            .expect("a world's quote");
        assert_eq!(
            quote["price_ppm"].to_string(),
            *ppm,
            "heatmap cell of world {world}"
        );
    }

    // The books as the demo left them (its script, read independently of the decoder): on
    // venue a alice's bid of 20 at $99 and bob's buy of 6 at her $100.48 ask; on venue b her
    // bid of 20 at $98.80 less the 4 carol's liquidation sold into it, her ask of 8 at
    // $100.60 taken by bob (4) and carol (4). Trades newest first: (taker side, price, qty).
    let program = |block: &str| {
        programs
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["block"] == block)
            .and_then(|p| p["program"].as_u64())
            .unwrap_or_else(|| panic!("{block} is deployed"))
    };
    for (block, bids, trades) in [
        (
            "perp:SOL-PERP-A",
            json!([[99_000_000, 20, 1]]),
            vec![(0, 100_480_000, 6)],
        ),
        (
            "perp:SOL-PERP-B",
            json!([[98_800_000, 16, 1]]),
            vec![(1, 98_800_000, 4), (0, 100_600_000, 4), (0, 100_600_000, 4)],
        ),
    ] {
        let book: Value = node
            .call("curve_getBook", json!([program(block), 0]))
            .await
            .expect("a book");
        assert_eq!(book["bids"], bids, "{block}: {book}");
        assert_eq!(book["asks"], json!([]), "{block}: {book}");
        let found: Vec<(u64, u64, u64)> = book["trades"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["side"].as_u64().unwrap_or(9),
                    t["price"].as_u64().unwrap_or(0),
                    t["qty"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        assert_eq!(found, trades, "{block}: {book}");
    }
    // The page shows the first slab's (venue a's) book and trade.
    let shown_book = dom
        .split_once("id=\"book\"")
        .and_then(|(_, rest)| rest.split_once("</table>"))
        .map_or("", |(table, _)| table);
    assert!(shown_book.contains(">99000000<"), "{shown_book}");
    let shown_trades = dom
        .split_once("id=\"trades\"")
        .and_then(|(_, rest)| rest.split_once("</table>"))
        .map_or("", |(table, _)| table);
    assert!(shown_trades.contains(">100480000<"), "{shown_trades}");

    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    headless(
        &page,
        &profile,
        &format!("--screenshot={}", screenshot.display()),
    );
    let size = std::fs::metadata(&screenshot).map_or(0, |m| m.len());
    assert!(size > 10_000, "a screenshot of {size} bytes");
    println!(
        "dashboard: heights {first} → {second}, 8 heatmap cells = curve_call quotes; screenshot {}",
        screenshot.display()
    );
}
