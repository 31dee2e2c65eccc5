//! Sequencer nodes as OS processes: four `curve node`s on 127.0.0.1 with RocksDB in temporary
//! directories, driven over JSON-RPC, killed with SIGKILL and restarted.

mod cluster;

use std::collections::BTreeMap;

use cluster::{Cluster, key, seed};
use curve_node::load;
use serde_json::Value;

/// Every node's executed blocks 1..=`height` (hash and header), compared across nodes.
async fn assert_same_chain(cluster: &Cluster, height: u64) {
    let nodes: Vec<usize> = (0..cluster.size()).collect();
    assert_same_blocks(cluster, &nodes, 1..=height).await;
}

/// The executed blocks `heights` of `nodes` (hash and header, so the state roots too), equal.
async fn assert_same_blocks(
    cluster: &Cluster,
    nodes: &[usize],
    heights: std::ops::RangeInclusive<u64>,
) {
    let mut reference: BTreeMap<u64, Value> = BTreeMap::new();
    for &i in nodes {
        let client = cluster.client(i);
        for h in heights.clone() {
            let block = client.block(h).await.expect("getBlock");
            assert!(!block.is_null(), "node {i} has no block at height {h}");
            let identity = serde_json::json!({"hash": block["hash"], "header": block["header"]});
            match reference.get(&h) {
                None => {
                    reference.insert(h, identity);
                }
                Some(expected) => assert_eq!(
                    &identity, expected,
                    "node {i} differs from node 0 at height {h}"
                ),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_nodes_survive_a_sigkill_mid_batch_and_the_restarted_node_catches_up() {
    let seed = seed();
    let mut cluster = Cluster::start(seed, 4, 250);
    for i in 0..4 {
        cluster.wait_height(i, 2).await;
    }
    let chain = cluster.chain_id;
    let accounts: Vec<_> = (0..8).map(|i| key(seed, &format!("account{i}"))).collect();
    let attesters = cluster.attesters();

    // Deposits fund every account (attested by a quorum of the committee's keys).
    let deposits = accounts
        .iter()
        .enumerate()
        .map(|(i, account)| {
            let tx = load::deposit(chain, i as u64 + 1, account, 0, 1_000_000, &attesters);
            (i % 4, tx)
        })
        .collect();
    let deposits = cluster.send_all(deposits).await;
    cluster.assert_committed(0, &deposits).await;

    // Transfers in flight while node 3 is killed: each round every account pays the next
    // one, through nodes 0 to 2.
    let rounds = |rounds: std::ops::Range<u64>| {
        let mut txs = Vec::new();
        for round in rounds {
            for (i, from) in accounts.iter().enumerate() {
                let to = accounts[(i + 1) % accounts.len()]
                    .verifying_key()
                    .to_bytes();
                let tx = load::transfer(chain, from, round + 1, to, 10 + round as u128);
                txs.push((i % 3, tx));
            }
        }
        txs
    };
    let mut transfers = cluster.send_all(rounds(0..4)).await;
    let killed_at = cluster.status(3).await.expect("node 3 answers")["executed_height"]
        .as_u64()
        .unwrap();
    cluster.kill(3);
    transfers.extend(cluster.send_all(rounds(4..8)).await);
    cluster.assert_committed(0, &transfers).await;
    // The three survivors go on deciding without node 3.
    let progressed = cluster.status(0).await.expect("node 0")["executed_height"]
        .as_u64()
        .unwrap();
    for i in 0..3 {
        cluster.wait_height(i, progressed.max(killed_at + 60)).await;
    }

    // Node 3 restarts from its RocksDB directory and catches up.
    cluster.start_node(3);
    let target = cluster.status(0).await.expect("node 0")["executed_height"]
        .as_u64()
        .unwrap();
    let status = cluster.wait_height(3, target).await;
    eprintln!("killed at height {killed_at}, restarted and caught up to {target}: {status}");
    cluster.assert_committed(3, &transfers).await;
    assert_same_chain(&cluster, target).await;

    // Balances agree with the transfers: each account paid and received Σ (10 + round).
    let paid: u128 = (0..8).map(|round| 10 + round as u128).sum();
    for i in 0..4 {
        for account in &accounts {
            let key = hex::encode(account.verifying_key().as_bytes());
            let state: Value = cluster
                .client(i)
                .call("curve_getAccount", vec![Value::from(key)])
                .await
                .expect("getAccount");
            assert_eq!(state["nonce"], 9, "node {i}: {state}");
            assert_eq!(
                state["balance"], "1000000",
                "node {i}: paid {paid} and received {paid}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_resume_within_a_few_views_after_the_leader_is_killed() {
    let seed = seed();
    let base_timeout_ms = 300;
    let mut cluster = Cluster::start(seed, 4, base_timeout_ms);
    for i in 0..4 {
        cluster.wait_height(i, 5).await;
    }
    // The leader of the view after the current one (round-robin: view mod n) dies before it
    // can propose.
    let status = cluster.status(0).await.expect("node 0 answers");
    let view = status["view"].as_u64().unwrap();
    let leader = ((view + 1) % 4) as usize;
    let survivor = (leader + 1) % 4;
    cluster.kill(leader);
    let killed = std::time::Instant::now();
    let start = cluster.status(survivor).await.expect("survivor");
    let (height, view) = (
        start["decided_height"].as_u64().unwrap(),
        start["view"].as_u64().unwrap(),
    );
    // Six decisions take the survivors through at least one view of the dead leader; the
    // longest wait between two decisions is the stall it caused.
    let (mut last, mut longest, mut seen) = (killed, std::time::Duration::ZERO, height);
    let status = loop {
        let status = cluster.status(survivor).await.expect("survivor answers");
        let decided = status["decided_height"].as_u64().unwrap();
        if decided > seen {
            longest = longest.max(last.elapsed());
            last = std::time::Instant::now();
            seen = decided;
        }
        if decided >= height + 6 {
            break status;
        }
        assert!(
            killed.elapsed() < cluster::PATIENCE,
            "no progress\n{}",
            cluster.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    let views = status["view"].as_u64().unwrap() - view;
    eprintln!(
        "leader {leader} killed: longest wait between decisions {} ms ({:.1} base timeouts); \
         6 decisions in {views} views, {} ms",
        longest.as_millis(),
        longest.as_secs_f64() * 1000.0 / base_timeout_ms as f64,
        killed.elapsed().as_millis(),
    );
    // Counted, not timed: the dead leader fails its own views only (one in four), and a failed
    // view delays the 2-chain rule by one more view, so six decisions fit in sixteen views.
    assert!(
        views <= 16,
        "{views} views to decide 6 heights after the leader died"
    );
}

/// The last voted view in node `i`'s safety guard (`CVGUARD1 ‖ voted u64 LE ‖ …`).
fn guard_voted_view(cluster: &Cluster, i: usize) -> u64 {
    let bytes = std::fs::read(cluster.node_dir(i).join("data/safety.guard")).expect("the guard");
    assert_eq!(&bytes[..8], b"CVGUARD1");
    u64::from_le_bytes(bytes[8..16].try_into().unwrap())
}

/// The newest non-empty write-ahead log of node `i`'s database.
fn newest_wal(cluster: &Cluster, i: usize) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(cluster.node_dir(i).join("data/db"))
        .expect("the database directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .filter(|path| std::fs::metadata(path).is_ok_and(|m| m.len() > 0))
        .collect();
    logs.sort();
    logs.pop().expect("a non-empty write-ahead log")
}

fn alarms(metrics: &str) -> u64 {
    counter(metrics, "curve_alarms_total")
}

/// A counter's value in a Prometheus text exposition.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
}

async fn metrics_text(cluster: &Cluster, i: usize) -> String {
    let port = cluster.rpc_ports[i];
    tokio::task::spawn_blocking(move || cluster::http(port, "GET", "/metrics", b"").1)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_log_tail_is_a_clear_error_or_a_clean_recovery_never_a_second_vote() {
    let seed = seed();
    let mut cluster = Cluster::start(seed, 4, 300);
    for i in 0..4 {
        cluster.wait_height(i, 5).await;
    }

    // Torn tail: the last bytes of node 1's newest write-ahead log never made it to disk.
    cluster.kill(1);
    let before = guard_voted_view(&cluster, 1);
    let wal = newest_wal(&cluster, 1);
    let length = std::fs::metadata(&wal).unwrap().len();
    let cut = 1 + seed % 64.min(length);
    let file = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    file.set_len(length - cut).unwrap();
    drop(file);
    eprintln!(
        "cut {cut} of {length} bytes from {}; stored last voted view {}",
        wal.display(),
        before
    );
    cluster.start_node(1);
    let started = std::time::Instant::now();
    let outcome = loop {
        if let Some(status) = cluster.children[1].as_mut().unwrap().try_wait().unwrap() {
            break Err(status);
        }
        if let Some(status) = cluster.status(1).await {
            break Ok(status);
        }
        assert!(
            started.elapsed() < cluster::PATIENCE,
            "node 1 neither ran nor exited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    match outcome {
        Err(status) => {
            cluster.children[1] = None;
            assert!(!status.success());
            let log = std::fs::read_to_string(cluster.log(1)).unwrap();
            assert!(log.contains("refusing"), "a refusal says why:\n{log}");
            eprintln!("refused to start: {status}");
        }
        Ok(status) => {
            // Recovered: it restored at least the views it signed in, and goes on deciding
            // with the others.
            let restored = status["last_voted_view"].as_u64().unwrap();
            assert!(restored >= before.saturating_sub(1), "{status}");
            let height = status["executed_height"].as_u64().unwrap();
            cluster.wait_height(1, height + 5).await;
            eprintln!("recovered cleanly at view {restored}");
        }
    }

    // Rolled back: node 2's database replaced by a copy from earlier views. The guard knows
    // the views it signed in since, so the node refuses rather than sign again in one.
    cluster.kill(2);
    let db = cluster.node_dir(2).join("data/db");
    let backup = cluster.node_dir(2).join("db-backup");
    copy_dir(&db, &backup);
    cluster.start_node(2);
    let status = cluster.wait_height(2, 1).await;
    let view = status["view"].as_u64().unwrap();
    cluster
        .wait("node 2 to vote in later views", || async {
            cluster
                .status(2)
                .await
                .filter(|s| s["last_voted_view"].as_u64().unwrap_or(0) > view + 3)
        })
        .await;
    cluster.kill(2);
    std::fs::remove_dir_all(&db).unwrap();
    std::fs::rename(&backup, &db).unwrap();
    cluster.start_node(2);
    assert!(
        !cluster.wait_exit(2).success(),
        "a rolled-back database must not start"
    );
    let log = std::fs::read_to_string(cluster.log(2)).unwrap();
    assert!(log.contains("behind the safety guard"), "{log}");

    // Nobody saw a replica vote twice in one view.
    for i in [0, 3] {
        assert_eq!(
            alarms(&metrics_text(&cluster, i).await),
            0,
            "node {i} raised an alarm"
        );
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_past_the_kept_blocks_installs_a_checkpoint_and_catches_up() {
    let seed = seed();
    let mut cluster = Cluster::with(
        seed,
        4,
        150,
        cluster::Extra {
            timeouts: "idle_block_ms = 5",
            tables: "[storage]\ncheckpoint_every = 10\nretain_blocks = 32",
            ..Default::default()
        },
    );
    for i in 0..4 {
        cluster.start_node(i);
    }
    for i in 0..4 {
        cluster.wait_height(i, 2).await;
    }
    let chain = cluster.chain_id;
    let accounts: Vec<_> = (0..4).map(|i| key(seed, &format!("account{i}"))).collect();
    let attesters = cluster.attesters();
    let deposits = accounts
        .iter()
        .enumerate()
        .map(|(i, account)| {
            let tx = load::deposit(chain, i as u64 + 1, account, 0, 5_000, &attesters);
            (i % 4, tx)
        })
        .collect();
    let deposits = cluster.send_all(deposits).await;
    cluster.assert_committed(3, &deposits).await;
    // Its decided height (its stored blocks reach it), with a margin for what it decides
    // before the kill lands: the survivors must prune past all of it.
    let killed_at = cluster.status(3).await.expect("node 3 answers")["decided_height"]
        .as_u64()
        .unwrap()
        + 8;
    cluster.kill(3);

    // While node 3 is down every account pays the next one 7, and the survivors prune every
    // block node 3 would need to replay.
    let transfers = accounts
        .iter()
        .enumerate()
        .map(|(i, from)| {
            let to = accounts[(i + 1) % accounts.len()]
                .verifying_key()
                .to_bytes();
            (i % 3, load::transfer(chain, from, 1, to, 7))
        })
        .collect();
    let transfers = cluster.send_all(transfers).await;
    cluster.assert_committed(0, &transfers).await;
    let pruned = cluster
        .wait("the survivors to prune past node 3's height", || async {
            let mut least = u64::MAX;
            for i in 0..3 {
                least = least.min(cluster.status(i).await?["base_height"].as_u64()?);
            }
            (least > killed_at + 1).then_some(least)
        })
        .await;

    cluster.start_node(3);
    let target = cluster.status(0).await.expect("node 0")["executed_height"]
        .as_u64()
        .unwrap();
    cluster.wait_height(3, target).await;
    // A few more heights, so node 3 has executed some after the checkpoint it installed.
    let status = cluster.wait_height(3, target + 3).await;
    cluster.wait_height(0, target + 3).await;
    eprintln!("node 3 killed below {killed_at}, peers pruned below {pruned}, caught up: {status}");
    let metrics = metrics_text(&cluster, 3).await;
    assert_eq!(counter(&metrics, "curve_state_syncs_total"), 1, "{metrics}");
    assert_eq!(alarms(&metrics), 0);
    assert!(
        status["base_height"].as_u64().unwrap() >= pruned,
        "node 3 starts from a checkpoint at or above its peers' base: {status}"
    );
    // The blocks it executed after the checkpoint, their headers and state roots, are node
    // 0's; so are the balances the transfers left (executed before the checkpoint: node 3 has
    // their effects, not their receipts).
    let installed = status["base_height"].as_u64().unwrap();
    assert_same_blocks(&cluster, &[0, 3], installed + 1..=target + 3).await;
    for account in &accounts {
        let key = hex::encode(account.verifying_key().as_bytes());
        for i in [0, 3] {
            let state: Value = cluster
                .client(i)
                .call("curve_getAccount", vec![Value::from(key.clone())])
                .await
                .expect("getAccount");
            assert_eq!(
                (&state["nonce"], &state["balance"]),
                (&Value::from(2), &Value::from("5000")),
                "node {i}: {state}"
            );
        }
    }
    // The whole committee restarts while node 3 is behind their pruning again, configured so
    // that no new checkpoint is captured for a long time: the checkpoints they serve are the
    // ones they rebuild at start from their state and its stored anchor certificate.
    // Its decided height (blocks up to it are stored), with a margin for what it decides
    // before the kill lands.
    let behind = cluster.status(3).await.expect("node 3")["decided_height"]
        .as_u64()
        .unwrap()
        + 8;
    cluster.kill(3);
    cluster
        .wait("the survivors to prune past node 3 again", || async {
            let mut least = u64::MAX;
            for i in 0..3 {
                least = least.min(cluster.status(i).await?["base_height"].as_u64()?);
            }
            (least > behind + 1).then_some(least)
        })
        .await;
    for i in 0..3 {
        cluster.kill(i);
        let path = cluster.node_dir(i).join("node.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("checkpoint_every = 10", "checkpoint_every = 1000000");
        std::fs::write(&path, text).unwrap();
        cluster.start_node(i);
    }
    for i in 0..3 {
        let restored = cluster
            .wait(
                &format!("node {i} serving its restored checkpoint"),
                || async {
                    let status = cluster.status(i).await?;
                    (status["checkpoint_height"].as_u64()? > behind).then_some(status)
                },
            )
            .await;
        eprintln!(
            "node {i} restarted serving {}",
            restored["checkpoint_height"]
        );
    }
    cluster.start_node(3);
    let target = cluster.status(0).await.expect("node 0")["executed_height"]
        .as_u64()
        .unwrap();
    // Two heights past the target, so the blocks compared are ones node 3 executed.
    let status = cluster.wait_height(3, target + 2).await;
    cluster.wait_height(0, target + 2).await;
    let metrics = metrics_text(&cluster, 3).await;
    assert_eq!(
        counter(&metrics, "curve_state_syncs_total"),
        1,
        "node 3 installed a restored checkpoint: {status}"
    );
    assert_same_blocks(&cluster, &[0, 3], target + 1..=target + 2).await;
}
