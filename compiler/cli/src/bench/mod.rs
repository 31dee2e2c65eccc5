//! `curve bench`: load a running localnet with pre-signed transfers at a target rate over
//! JSON-RPC for a fixed time, and report what it committed and how fast; `--report`
//! regenerates BENCHMARKS.md's summary table instead ([`report`]).
//!
//! Setup funds `--accounts` fresh accounts with deposits the committee attests (a localnet's
//! keys are on disk), then pre-signs every transfer (so signing never limits the offered
//! rate). Each account's transfers go to one node, in nonce order; every 10 ms the next slice
//! of the schedule is sent with `curve_sendTransactions`. Finality is read from the blocks a
//! node indexed (its decided and executed wall-clock times, on this machine's clock) against
//! each transaction's submission time. CPU comes from `/proc/<pid>/stat` of every node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use curve_node::client::Client;
use curve_node::config::{NodeConfig, read_key_file};
use curve_node::load;
use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

pub mod report;

/// `curve bench` arguments.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Instead of a load run: regenerate BENCHMARKS.md's summary table from criterion's saved
    /// results (run the benches first: each row says how), keeping earlier values, with their
    /// dates, for figures this run did not measure.
    #[arg(long)]
    report: bool,
    /// With --report: the file whose summary is rewritten.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "BENCHMARKS.md",
        requires = "report"
    )]
    benchmarks: PathBuf,
    /// With --report: criterion's results (default: $CARGO_TARGET_DIR/criterion, else
    /// target/criterion).
    #[arg(long, value_name = "DIR", requires = "report")]
    criterion: Option<PathBuf>,
    /// The localnet directory (`curve localnet --dir`), running.
    #[arg(long, default_value = "localnet")]
    localnet: PathBuf,
    /// Offered transactions per second.
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Sending accounts.
    #[arg(long, default_value_t = 1_000)]
    accounts: usize,
    /// Seconds to wait after the load for the last transactions to execute.
    #[arg(long, default_value_t = 20)]
    drain: u64,
    /// Write the report as JSON here too.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Consensus alone: the nodes (a `curve localnet --consensus-only`) generate opaque
    /// payloads at the rate, split between them, disseminate them in batches and order the
    /// batches' references; each payload is timed from when it was due to its decision.
    #[arg(long)]
    consensus_only: bool,
    /// Payload size in bytes for `--consensus-only`.
    #[arg(long, default_value_t = 512)]
    size: usize,
}

/// CPU seconds (user + system) of a process so far.
fn cpu_seconds(pid: u64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    Some(ticks / per_second)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[rank.min(sorted.len() - 1)])
}

struct Localnet {
    chain_id: u64,
    clients: Vec<Client>,
    committee: Vec<SigningKey>,
}

fn open_localnet(dir: &std::path::Path) -> Result<Localnet> {
    let mut clients = Vec::new();
    let mut committee = Vec::new();
    let mut chain_id = None;
    for i in 0.. {
        let path = dir.join(format!("node{i}")).join("node.toml");
        if !path.exists() {
            break;
        }
        let config = NodeConfig::load(&path)?;
        chain_id = Some(config.chain_id);
        clients.push(Client::new(&format!("http://{}", config.rpc))?);
        committee.push(SigningKey::from_bytes(&read_key_file(
            &config.consensus_key,
        )?));
    }
    let Some(chain_id) = chain_id else {
        bail!(
            "{} holds no localnet (no node0/node.toml); start one with `curve localnet`",
            dir.display()
        );
    };
    Ok(Localnet {
        chain_id,
        clients,
        committee,
    })
}

/// Submission and outcome of each transaction, by hash.
#[derive(Default)]
struct Ledger {
    submitted_ms: BTreeMap<[u8; 32], u64>,
    /// (decided latency ms, executed latency ms, committed)
    outcomes: BTreeMap<[u8; 32], (u64, u64, bool)>,
    refused: u64,
    busy: u64,
}

/// Follows node 0's blocks from `from`, recording outcomes; returns when `stop` says so.
async fn follow(
    client: Client,
    ledger: Arc<Mutex<Ledger>>,
    mut next: u64,
    until: Instant,
) -> Result<()> {
    while Instant::now() < until {
        let block = client.block(next).await?;
        if block.is_null() {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let decided = block["decided_at_ms"].as_u64().unwrap_or(0);
        let executed = block["executed_at_ms"].as_u64().unwrap_or(0);
        let mut ledger = ledger.lock().await;
        for receipt in block["receipts"].as_array().into_iter().flatten() {
            let Some(hash) = receipt["tx_hash"]
                .as_str()
                .and_then(|h| hex::decode(h).ok())
                .and_then(|h| <[u8; 32]>::try_from(h).ok())
            else {
                continue;
            };
            if let Some(&sent) = ledger.submitted_ms.get(&hash) {
                let outcome = (
                    decided.saturating_sub(sent),
                    executed.saturating_sub(sent),
                    receipt["status"] == "committed",
                );
                ledger.outcomes.insert(hash, outcome);
            }
        }
        next += 1;
    }
    Ok(())
}

async fn wait_executed(client: &Client, hashes: &[String], patience: Duration) -> Result<()> {
    let started = Instant::now();
    for hash in hashes {
        loop {
            let found = client.transaction(hash).await?;
            if found["state"] == "executed" {
                if found["receipt"]["status"] != "committed" {
                    bail!("funding transaction {hash} was not committed: {found}");
                }
                break;
            }
            if started.elapsed() > patience {
                bail!("funding did not execute within {patience:?} (is the localnet deciding?)");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Runs `curve bench`.
pub fn run_bench(args: BenchArgs) -> Result<ExitCode> {
    if args.report {
        let criterion = args
            .criterion
            .clone()
            .unwrap_or_else(report::default_criterion_dir);
        report::run(&args.benchmarks, &criterion)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.rate == 0 || args.duration == 0 || args.accounts == 0 {
        bail!("--rate, --duration and --accounts must be positive");
    }
    let net = open_localnet(&args.localnet)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = if args.consensus_only {
        runtime.block_on(bench_consensus_only(&args, net))?
    } else {
        runtime.block_on(bench(&args, net))?
    };
    outln!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(path) = &args.out {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Every node's process id (from `curve_status`).
async fn node_pids(net: &Localnet) -> Result<Vec<u64>> {
    let mut pids = Vec::new();
    for client in &net.clients {
        let status = client.status().await.context("is the localnet running?")?;
        pids.push(status["pid"].as_u64().unwrap_or(0));
    }
    Ok(pids)
}

/// Waits until every node has every peer and has decided past the start (a committee just
/// started may still be in its first views, whose timeouts are not the load's latency).
async fn wait_until_deciding(net: &Localnet) -> Result<()> {
    const PAST_START: u64 = 2;
    let patience = Duration::from_secs(60);
    let started = Instant::now();
    let peers = net.clients.len() as u64 - 1;
    loop {
        let mut live = true;
        for client in &net.clients {
            let status = client.status().await.context("is the localnet running?")?;
            live &= status["peers"].as_u64() == Some(peers)
                && status["decided_height"].as_u64() >= Some(PAST_START);
        }
        if live {
            return Ok(());
        }
        if started.elapsed() > patience {
            bail!("the localnet did not decide past height {PAST_START} within {patience:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// CPU % of each process since `before`, over `elapsed` seconds.
fn cpu_percent(pids: &[u64], before: &[Option<f64>], elapsed: f64) -> Vec<Value> {
    pids.iter()
        .zip(before)
        .map(|(&pid, before)| match (before, cpu_seconds(pid)) {
            (Some(b), Some(a)) => json!(((a - b) / elapsed * 100.0 * 10.0).round() / 10.0),
            _ => Value::Null,
        })
        .collect()
}

/// The `p`th percentile of a histogram (value → count).
fn histogram_percentile(histogram: &BTreeMap<u64, u64>, p: f64) -> Option<u64> {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0) * (total - 1) as f64).round() as u64;
    let mut seen = 0;
    for (value, count) in histogram {
        seen += count;
        if seen > rank {
            return Some(*value);
        }
    }
    histogram.keys().last().copied()
}

/// `curve bench --consensus-only`: every node generates its share of the rate for the
/// duration; then their reports (payloads generated, decided, generation-to-decision
/// histogram) are merged.
async fn bench_consensus_only(args: &BenchArgs, net: Localnet) -> Result<Value> {
    let nodes = net.clients.len() as u64;
    wait_until_deciding(&net).await?;
    let pids = node_pids(&net).await?;
    let cpu_before: Vec<Option<f64>> = pids.iter().map(|&p| cpu_seconds(p)).collect();
    let started = Instant::now();
    for (i, client) in net.clients.iter().enumerate() {
        let share = args.rate / nodes + u64::from((i as u64) < args.rate % nodes);
        client
            .call::<Value>(
                "curve_benchOpaque",
                vec![json!(share), json!(args.size), json!(args.duration)],
            )
            .await
            .with_context(|| format!("node {i} refused the load (is it consensus-only?)"))?;
    }
    outln!(
        "offering {} payloads/s of {} bytes for {} s",
        args.rate,
        args.size,
        args.duration
    );
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let drain_end = Instant::now() + Duration::from_secs(args.drain);
    let reports = loop {
        let mut reports = Vec::new();
        for client in &net.clients {
            reports.push(
                client
                    .call::<Value>("curve_benchReport", Vec::new())
                    .await?,
            );
        }
        let settled = reports
            .iter()
            .all(|r| r["running"] == false && r["decided"].as_u64() >= r["generated"].as_u64());
        if settled || Instant::now() >= drain_end {
            break reports;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_percent(&pids, &cpu_before, elapsed);
    let mut histogram: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut generated, mut decided) = (0u64, 0u64);
    for report in &reports {
        generated += report["generated"].as_u64().unwrap_or(0);
        decided += report["decided"].as_u64().unwrap_or(0);
        for pair in report["latency_ms"].as_array().into_iter().flatten() {
            if let (Some(ms), Some(n)) = (pair[0].as_u64(), pair[1].as_u64()) {
                *histogram.entry(ms).or_default() += n;
            }
        }
    }
    Ok(json!({
        "mode": "consensus-only",
        "nodes": nodes,
        "payload_bytes": args.size,
        "duration_s": args.duration,
        "offered_tx_per_s": (generated as f64 / args.duration as f64).round(),
        "decided_tx_per_s": (decided as f64 / elapsed).round(),
        "generated": generated,
        "decided": decided,
        "finality_decided_ms": {
            "p50": histogram_percentile(&histogram, 50.0),
            "p90": histogram_percentile(&histogram, 90.0),
            "p99": histogram_percentile(&histogram, 99.0),
            "max": histogram.keys().last(),
        },
        "cpu_percent_per_node": cpu,
        "load_average": load_average(),
    }))
}

async fn bench(args: &BenchArgs, net: Localnet) -> Result<Value> {
    let nodes = net.clients.len();
    let pids = node_pids(&net).await?;
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    outln!("bench seed {}", hex::encode(seed));
    let accounts: Vec<SigningKey> = (0..args.accounts)
        .map(|i| {
            let digest: [u8; 32] = Sha256::new()
                .chain_update(seed)
                .chain_update((i as u64).to_le_bytes())
                .finalize()
                .into();
            SigningKey::from_bytes(&digest)
        })
        .collect();

    // Fund every account (a deposit each, attested by a quorum of the committee).
    let quorum = nodes - (nodes - 1) / 3;
    let attesters: Vec<(u16, &SigningKey)> = net
        .committee
        .iter()
        .enumerate()
        .take(quorum)
        .map(|(i, k)| (i as u16, k))
        .collect();
    let sequence_base = u64::from_le_bytes(seed[..8].try_into().expect("8 bytes")) >> 1;
    let deposits: Vec<Vec<u8>> = accounts
        .iter()
        .enumerate()
        .map(|(i, account)| {
            load::deposit(
                net.chain_id,
                sequence_base + i as u64,
                account,
                0,
                1 << 40,
                &attesters,
            )
        })
        .collect();
    let mut funding = Vec::new();
    for chunk in deposits.chunks(1_000) {
        for answer in net.clients[0].send_many(chunk).await? {
            match answer["hash"].as_str() {
                Some(hash) => funding.push(hash.to_string()),
                None => bail!("a funding deposit was refused: {answer}"),
            }
        }
    }
    wait_executed(&net.clients[0], &funding, Duration::from_secs(120)).await?;
    outln!("funded {} accounts", accounts.len());

    // The schedule: round-robin over accounts, each account's nonces in order, each account
    // always to the same node.
    let total = (args.rate * args.duration) as usize;
    let signing = Instant::now();
    let mut schedule: Vec<(usize, Vec<u8>, [u8; 32])> = Vec::with_capacity(total);
    for n in 0..total {
        let i = n % accounts.len();
        let nonce = 1 + (n / accounts.len()) as u64;
        let to = accounts[(i + 1) % accounts.len()]
            .verifying_key()
            .to_bytes();
        let tx = load::transfer(net.chain_id, &accounts[i], nonce, to, 1);
        let hash: [u8; 32] = Sha256::digest(&tx).into();
        schedule.push((i % nodes, tx, hash));
    }
    outln!(
        "signed {total} transfers in {:.1} s; offering {} tx/s for {} s",
        signing.elapsed().as_secs_f64(),
        args.rate,
        args.duration
    );

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let start_height = net.clients[0].status().await?["executed_height"]
        .as_u64()
        .unwrap_or(0)
        + 1;
    let load_end = Instant::now() + Duration::from_secs(args.duration);
    let follower = tokio::spawn(follow(
        net.clients[0].clone(),
        ledger.clone(),
        start_height,
        load_end + Duration::from_secs(args.drain),
    ));
    let cpu_before: Vec<Option<f64>> = pids.iter().map(|&p| cpu_seconds(p)).collect();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let mut sent = 0usize;
    // Each node gets at most IN_FLIGHT requests at once; what is due meanwhile waits in its
    // queue and goes in the next request (so a saturated node sees bigger batches, not more
    // connections).
    const IN_FLIGHT: usize = 8;
    let permits: Vec<Arc<tokio::sync::Semaphore>> = (0..nodes)
        .map(|_| Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT)))
        .collect();
    let mut queues: Vec<std::collections::VecDeque<(Vec<u8>, [u8; 32])>> =
        vec![std::collections::VecDeque::new(); nodes];
    let mut requests = Vec::new();
    let mut schedule = schedule.into_iter();
    while sent < total || queues.iter().any(|q| !q.is_empty()) {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as usize).min(total);
        for (node, tx, hash) in schedule.by_ref().take(due - sent) {
            queues[node].push_back((tx, hash));
        }
        sent = due;
        for (node, queue) in queues.iter_mut().enumerate() {
            while !queue.is_empty() {
                let Ok(permit) = permits[node].clone().try_acquire_owned() else {
                    break;
                };
                let take = queue.len().min(curve_node::rpc::SEND_BATCH_MAX);
                let batch: Vec<(Vec<u8>, [u8; 32])> = queue.drain(..take).collect();
                let now = curve_node::driver::now_ms();
                {
                    let mut ledger = ledger.lock().await;
                    for (_, hash) in &batch {
                        ledger.submitted_ms.insert(*hash, now);
                    }
                }
                let client = net.clients[node].clone();
                let ledger = ledger.clone();
                requests.push(tokio::spawn(async move {
                    let _permit = permit;
                    let count = batch.len() as u64;
                    let txs: Vec<Vec<u8>> = batch.into_iter().map(|(tx, _)| tx).collect();
                    let answers = client.send_many(&txs).await;
                    let mut ledger = ledger.lock().await;
                    match answers {
                        // The node shed the request (over a limit): the client retries later.
                        Err(_) => ledger.busy += count,
                        Ok(answers) => {
                            for answer in answers {
                                match answer["error"]["code"].as_i64() {
                                    None => {}
                                    Some(code) if code == i64::from(curve_node::rpc::BUSY) => {
                                        ledger.busy += 1
                                    }
                                    Some(_) => ledger.refused += 1,
                                }
                            }
                        }
                    }
                }));
            }
        }
    }
    let offered_seconds = started.elapsed().as_secs_f64();
    for request in requests {
        request.await?;
    }
    // Drain: until everything submitted has an outcome or the drain time is up.
    let drain_end = Instant::now() + Duration::from_secs(args.drain);
    while Instant::now() < drain_end {
        let ledger = ledger.lock().await;
        if ledger.outcomes.len() as u64 + ledger.refused + ledger.busy >= total as u64 {
            break;
        }
        drop(ledger);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_percent(&pids, &cpu_before, elapsed);
    let load = load_average();
    follower.abort();
    let ledger = ledger.lock().await;
    let committed: Vec<&(u64, u64, bool)> = ledger.outcomes.values().filter(|o| o.2).collect();
    let in_window = committed.len();
    let mut decided: Vec<u64> = committed.iter().map(|o| o.0).collect();
    let mut executed: Vec<u64> = committed.iter().map(|o| o.1).collect();
    decided.sort_unstable();
    executed.sort_unstable();
    let latency = |sorted: &[u64]| {
        json!({
            "p50": percentile(sorted, 50.0),
            "p90": percentile(sorted, 90.0),
            "p99": percentile(sorted, 99.0),
            "max": sorted.last(),
        })
    };
    Ok(json!({
        "nodes": nodes,
        "accounts": accounts.len(),
        "duration_s": args.duration,
        "offered_tx_per_s": (total as f64 / offered_seconds).round(),
        "committed_tx_per_s": (in_window as f64 / elapsed).round(),
        "submitted": total,
        "committed": in_window,
        "not_committed": ledger.outcomes.len() - in_window,
        "refused": ledger.refused,
        "busy": ledger.busy,
        "missing": total as u64 - ledger.outcomes.len() as u64 - ledger.refused - ledger.busy,
        "finality_decided_ms": latency(&decided),
        "finality_executed_ms": latency(&executed),
        "cpu_percent_per_node": cpu,
        "load_average": load,
    }))
}
