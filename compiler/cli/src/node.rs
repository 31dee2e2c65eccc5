//! `curve node` (one sequencer node from its `node.toml`) and `curve localnet` (a committee of
//! nodes on this machine: configs and keys written once, children started, Ctrl-C stops them
//! all and leaves their data restartable), and `curve withdraw-proof` (a node's proof of one
//! payout, for the Anchor program's `withdraw`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use curve_node::config::NodeConfig;
use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};

use crate::keygen::{key_file_text, write_private};

/// `curve node` arguments.
#[derive(clap::Args)]
pub struct NodeArgs {
    /// The node's configuration.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Log filter (`info`, `curve_node=debug`, …); `RUST_LOG` overrides it.
    #[arg(long, default_value = "info")]
    log: String,
}

/// `curve withdraw-proof` arguments.
#[derive(clap::Args)]
pub struct WithdrawProofArgs {
    /// A node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8100")]
    node: String,
    /// The withdrawal's transaction hash (hex).
    #[arg(long, conflicts_with_all = ["height", "index"], required_unless_present = "height")]
    tx: Option<String>,
    /// The batch height (with `--index`).
    #[arg(long, requires = "index")]
    height: Option<u64>,
    /// The payout's index in that batch's tree.
    #[arg(long, requires = "height")]
    index: Option<u64>,
}

/// Runs `curve withdraw-proof`: prints the proof as JSON.
pub fn run_withdraw_proof(args: WithdrawProofArgs) -> Result<ExitCode> {
    let client = curve_node::client::Client::new(&args.node)?;
    let proof = runtime()?.block_on(async {
        let (height, index) = match (&args.tx, args.height, args.index) {
            (Some(tx), _, _) => locate_payout(&client, tx).await?,
            (None, Some(height), Some(index)) => (height, index),
            _ => bail!("give --tx, or --height and --index"),
        };
        let proof: serde_json::Value = client
            .call(
                "curve_getWithdrawalProof",
                vec![height.into(), index.into()],
            )
            .await?;
        if proof.is_null() {
            bail!(
                "{} has no payout {index} at height {height} (not executed there, pruned, or \
                 past the batch's payouts)",
                args.node
            );
        }
        Ok(proof)
    })?;
    outln!("{}", serde_json::to_string_pretty(&proof)?);
    Ok(ExitCode::SUCCESS)
}

/// The batch height and payout index of withdrawal transaction `tx`.
async fn locate_payout(client: &curve_node::client::Client, tx: &str) -> Result<(u64, u64)> {
    let tx = tx.trim_start_matches("0x").to_ascii_lowercase();
    let tx = tx.as_str();
    let found = client.transaction(tx).await?;
    if found["state"] != "executed" {
        bail!("transaction {tx} is {} at {}", found["state"], client.url());
    }
    let receipt = &found["receipt"];
    if receipt["action"] != "withdraw" || receipt["status"] != "committed" {
        bail!(
            "transaction {tx} is a {} that was {}: only a committed withdrawal has a payout",
            receipt["action"],
            receipt["status"]
        );
    }
    let height = found["height"]
        .as_u64()
        .context("a located transaction has a height")?;
    let block = client.block(height).await?;
    let index = block["payouts"]
        .as_array()
        .and_then(|payouts| payouts.iter().position(|p| p["tx_hash"] == tx))
        .with_context(|| format!("block {height} lists no payout of {tx}"))?;
    Ok((height, index as u64))
}

/// `curve localnet` arguments.
#[derive(clap::Args)]
pub struct LocalnetArgs {
    /// Committee size (3f + 1 tolerates f faults).
    #[arg(long, default_value_t = 4)]
    nodes: u16,
    /// Where configs, keys, data and logs live; an existing localnet there is restarted.
    #[arg(long, default_value = "localnet")]
    dir: PathBuf,
    /// First libp2p port; node i listens on BASE + i.
    #[arg(long, default_value_t = 7100)]
    p2p_port: u16,
    /// First RPC port; node i serves on BASE + i.
    #[arg(long, default_value_t = 8100)]
    rpc_port: u16,
    /// Chain id of a new localnet.
    #[arg(long, default_value_t = 0xC0FFEE)]
    chain_id: u64,
    /// First view timeout in milliseconds.
    #[arg(long, default_value_t = 1_000)]
    base_timeout_ms: u64,
    /// Log filter passed to every node.
    #[arg(long, default_value = "info")]
    log: String,
    /// A new localnet orders opaque payloads and executes nothing (`curve bench
    /// --consensus-only` measures consensus alone).
    #[arg(long)]
    consensus_only: bool,
    /// The CurveVM engine every node of a new localnet executes blocks on (`jit` or
    /// `interpreter`; written to each `node.toml`'s `[execution]` table).
    #[arg(long, default_value = "jit")]
    engine: curve_runtime::ExecutionEngine,
    /// Anchor to Solana: `local` starts `curve-solana-localnet` (the local stand-in: the
    /// program in a real bank, behind Solana JSON-RPC), initialises the program and runs a
    /// bridge beside every node (node 0's also posts batches).
    #[arg(long, value_parser = ["local"], conflicts_with = "solana_rpc")]
    solana: Option<String>,
    /// Anchor to the Solana cluster at this JSON-RPC URL instead (the program deployed there
    /// with `anchor deploy`; `--solana-keypair` pays for initialising it and for posts).
    #[arg(long, value_name = "URL")]
    solana_rpc: Option<String>,
    /// The local endpoint's port (`--solana local`).
    #[arg(long, default_value_t = 8899)]
    solana_port: u16,
    /// Where `curve-solana-localnet` and `curve-batch-poster` are (built in `anchor-program/`);
    /// default: beside `curve`, then `PATH`.
    #[arg(long, value_name = "DIR")]
    solana_bin: Option<PathBuf>,
    /// The Solana key that pays for posts (default: `DIR/keys/poster.json`, made on first use
    /// and funded by the local endpoint's faucet).
    #[arg(long, value_name = "FILE")]
    solana_keypair: Option<PathBuf>,
    /// Slots between a batch's post and the first withdrawal from it (a new program's
    /// setting).
    #[arg(long, default_value_t = 10)]
    withdrawal_delay_slots: u64,
    /// A new localnet accepts programs certified with the public development keys (INSECURE:
    /// anyone can forge their certificates; for local work only): its genesis enables
    /// development mode and lists the development verifying key of every size class.
    #[arg(long)]
    dev_mode: bool,
    #[command(flatten)]
    keys: crate::certify::KeyArgs,
}

/// Where the rollup anchors.
enum Anchoring {
    /// The local stand-in, started here.
    Local { port: u16 },
    /// A cluster.
    Cluster { url: String },
}

impl Anchoring {
    fn of(args: &LocalnetArgs) -> Option<Anchoring> {
        match (&args.solana, &args.solana_rpc) {
            (Some(_), _) => Some(Anchoring::Local {
                port: args.solana_port,
            }),
            (None, Some(url)) => Some(Anchoring::Cluster { url: url.clone() }),
            (None, None) => None,
        }
    }

    fn url(&self) -> String {
        match self {
            Anchoring::Local { port } => format!("http://127.0.0.1:{port}"),
            Anchoring::Cluster { url } => url.clone(),
        }
    }
}

/// A Solana-side binary: in `--solana-bin`, beside `curve`, or on `PATH`.
fn solana_binary(args: &LocalnetArgs, name: &str) -> Result<PathBuf> {
    find_solana_binary(args.solana_bin.as_deref(), name)
}

/// A Solana-side binary: in `dir` if given, else beside `curve`, then on `PATH`.
pub(crate) fn find_solana_binary(dir: Option<&Path>, name: &str) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = dir {
        candidates.push(dir.join(name));
    } else {
        if let Some(dir) = std::env::current_exe()?.parent() {
            candidates.push(dir.join(name));
            // `target/<profile>/curve` in a clone: the Anchor workspace's same profile.
            if let (Some(profile), Some(clone)) =
                (dir.file_name(), dir.parent().and_then(Path::parent))
            {
                candidates.push(clone.join("anchor-program/target").join(profile).join(name));
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(name)));
        }
    }
    candidates
        .into_iter()
        .find(|c| c.is_file())
        .with_context(|| {
            format!(
                "{name} not found (looked in {}); build it with `cargo build --release` in \
             anchor-program/ and pass --solana-bin anchor-program/target/release",
                dir.map_or_else(
                    || "the curve binary's directory, the clone's anchor-program/target and PATH"
                        .to_string(),
                    |dir| dir.display().to_string()
                )
            )
        })
}

/// Writes `DIR/solana/genesis.json` (what the program is initialised with: the chain, the
/// committee's consensus keys, the rollup's genesis root) and the Solana keys the bridges use
/// (made once); returns (genesis file, paying key, governance key).
fn write_solana_genesis(
    args: &LocalnetArgs,
    configs: &[(PathBuf, NodeConfig)],
) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let config = &configs[0].1;
    // The Anchor program's `MAX_COMMITTEE`: one `post_batch` transaction carries a quorum's
    // signatures, and a packet holds no more.
    const SOLANA_COMMITTEE_MAX: usize = 7;
    if configs.len() > SOLANA_COMMITTEE_MAX {
        bail!(
            "a committee of {} cannot anchor to Solana: the Anchor program takes at most {SOLANA_COMMITTEE_MAX} members (a quorum's signatures must fit one transaction)",
            configs.len()
        );
    }
    let runtime_config = curve_node::runtime_config(config)?;
    let quorum = runtime_config.quorum;
    let genesis_root =
        curve_runtime::Runtime::genesis(runtime_config, curve_runtime::MemoryStorage::default())
            .context("computing the rollup's genesis root")?
            .root();
    let genesis = serde_json::json!({
        "chain_id": config.chain_id,
        "genesis_root": hex::encode(genesis_root),
        "committee": config.consensus_keys().iter().map(hex::encode).collect::<Vec<_>>(),
        "quorum": quorum,
        "withdrawal_delay_slots": args.withdrawal_delay_slots,
        "dev_mode": config.genesis.dev_mode,
    });
    let dir = args.dir.join("solana");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("genesis.json");
    std::fs::write(&path, serde_json::to_string_pretty(&genesis)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let keys = args.dir.join("keys");
    let key = |name: &str| -> Result<PathBuf> {
        let path = keys.join(name);
        if !path.exists() {
            new_key(&path)?;
        }
        Ok(path)
    };
    let payer = match &args.solana_keypair {
        Some(path) => path.clone(),
        None => key("poster.json")?,
    };
    Ok((path, payer, key("solana-governance.json")?))
}

/// A child whose output goes to `log`.
fn spawn_logged(
    program: &Path,
    arguments: &[std::ffi::OsString],
    log: &Path,
) -> Result<tokio::process::Child> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    tokio::process::Command::new(program)
        .args(arguments)
        .stdout(file.try_clone()?)
        .stderr(file)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Resolves on the first SIGINT or SIGTERM.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs `curve node`.
pub fn run_node(args: NodeArgs) -> Result<ExitCode> {
    init_logging(&args.log);
    let config = NodeConfig::load(&args.config)?;
    let outcome = runtime()?.block_on(curve_node::run(config, terminated()));
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            tracing::error!("{error:#}");
            errln!("error: {error:#}");
            Ok(ExitCode::from(1))
        }
    }
}

pub(crate) fn new_key(path: &Path) -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    write_private(path, &key_file_text(&key))?;
    Ok(key)
}

/// `[genesis.verifying_keys]` with the development key of every size class (from the key
/// store; generated there once per machine).
fn dev_verifying_keys(keys: &crate::certify::KeyArgs) -> Result<String> {
    let store = crate::certify::store(keys);
    let mut table = String::from("\n[genesis.verifying_keys]\n");
    for class in curve_formats::certificate::SizeClass::ALL {
        let pk = crate::certify::dev_keys(&store, class)?;
        let vk = curve_certificate::keys::vk_bytes(&pk.vk);
        table.push_str(&format!("\"{class}\" = \"{}\"\n", hex::encode(vk)));
    }
    Ok(table)
}

/// Writes keys and `nodeI/node.toml` for a new localnet in `dir`.
fn write_localnet(args: &LocalnetArgs) -> Result<()> {
    let keys_dir = args.dir.join("keys");
    std::fs::create_dir_all(&keys_dir)
        .with_context(|| format!("cannot create {}", keys_dir.display()))?;
    let governance = new_key(&keys_dir.join("governance.json"))?;
    let mut token = [0u8; 16];
    OsRng.fill_bytes(&mut token);
    let token = hex::encode(token);
    let verifying_keys = if args.dev_mode {
        dev_verifying_keys(&args.keys)?
    } else {
        String::new()
    };
    let mut members = String::new();
    for i in 0..args.nodes {
        let consensus = new_key(&keys_dir.join(format!("node{i}.consensus.json")))?;
        let network = new_key(&keys_dir.join(format!("node{i}.network.json")))?;
        members.push_str(&format!(
            "\n[[committee]]\nconsensus = \"{}\"\nnetwork = \"{}\"\naddress = \"/ip4/127.0.0.1/tcp/{}\"\n",
            hex::encode(consensus.verifying_key().as_bytes()),
            hex::encode(network.verifying_key().as_bytes()),
            args.p2p_port + i,
        ));
    }
    for i in 0..args.nodes {
        let node_dir = args.dir.join(format!("node{i}"));
        std::fs::create_dir_all(&node_dir)?;
        let text = format!(
            "# Written by `curve localnet`; paths are relative to this file.\n\
             chain_id = {chain}\n\
             consensus_key = \"../keys/node{i}.consensus.json\"\n\
             network_key = \"../keys/node{i}.network.json\"\n\
             data_dir = \"data\"\n\
             listen = \"/ip4/127.0.0.1/tcp/{p2p}\"\n\
             rpc = \"127.0.0.1:{rpc}\"\n\n\
             [timeouts]\nbase_ms = {base}\nmax_ms = {max}\n\n\
             [rpc_limits]\nrequests_per_second = 100000\nburst = 200000\nmax_body_bytes = 16777216\nadmin_token = \"{token}\"\n\n\
             [bench]\nconsensus_only = {consensus_only}\n\n\
             [execution]\nengine = \"{engine}\"\n\n\
             [genesis]\ngovernance = \"{gov}\"\ndev_mode = {dev_mode}\n{verifying_keys}{members}",
            chain = args.chain_id,
            p2p = args.p2p_port + i,
            rpc = args.rpc_port + i,
            base = args.base_timeout_ms,
            max = (args.base_timeout_ms * 30).max(1_000),
            gov = hex::encode(governance.verifying_key().as_bytes()),
            consensus_only = args.consensus_only,
            engine = args.engine,
            dev_mode = args.dev_mode,
        );
        std::fs::write(node_dir.join("node.toml"), text)?;
    }
    Ok(())
}

/// Refuses port arguments under which two of a localnet's listeners would share a port (node
/// i's libp2p port is `p2p + i`, its RPC port `rpc + i`) or a port would pass 65535: each
/// would otherwise surface later as one node that cannot bind, or as an overflow.
pub fn check_ports(nodes: u16, p2p: u16, rpc: u16, solana: Option<u16>) -> Result<()> {
    let last = |base: u16, flag: &str| {
        base.checked_add(nodes - 1).with_context(|| {
            format!(
                "--{flag} {base}: {nodes} nodes need ports up to {base} + {}, past 65535",
                nodes - 1
            )
        })
    };
    let (p2p_last, rpc_last) = (last(p2p, "p2p-port")?, last(rpc, "rpc-port")?);
    if p2p <= rpc_last && rpc <= p2p_last {
        bail!(
            "--p2p-port {p2p} and --rpc-port {rpc}: the libp2p ports {p2p}..={p2p_last} and the \
             RPC ports {rpc}..={rpc_last} overlap"
        );
    }
    if let Some(solana) = solana
        && ((p2p..=p2p_last).contains(&solana) || (rpc..=rpc_last).contains(&solana))
    {
        bail!(
            "--solana-port {solana} is one of the nodes' ports (libp2p {p2p}..={p2p_last}, \
             RPC {rpc}..={rpc_last})"
        );
    }
    Ok(())
}

/// Runs `curve localnet`.
pub fn run_localnet(args: LocalnetArgs) -> Result<ExitCode> {
    if args.nodes < 2 || args.nodes > 64 {
        bail!(
            "--nodes {}: a committee has 2 to 64 members (4 tolerates one fault)",
            args.nodes
        );
    }
    check_ports(
        args.nodes,
        args.p2p_port,
        args.rpc_port,
        args.solana.is_some().then_some(args.solana_port),
    )?;
    let existing = args.dir.join("node0").join("node.toml").exists();
    if existing {
        outln!("restarting the localnet in {}", args.dir.display());
    } else {
        write_localnet(&args)?;
        outln!("new localnet in {}", args.dir.display());
    }
    let mut configs = Vec::new();
    for i in 0.. {
        let path = args.dir.join(format!("node{i}")).join("node.toml");
        if !path.exists() {
            break;
        }
        configs.push((path.clone(), NodeConfig::load(&path)?));
    }
    let exe = std::env::current_exe().context("locating the curve binary")?;
    let anchoring = Anchoring::of(&args);
    let solana = match &anchoring {
        Some(anchoring) => Some((
            anchoring,
            solana_binary(&args, "curve-batch-poster")?,
            write_solana_genesis(&args, &configs)?,
        )),
        None => None,
    };
    runtime()?.block_on(async {
        let mut children = Vec::new();
        let mut bridges = Vec::new();
        // Per node: its index, when it last started, its arguments and log.
        let mut node_starts = Vec::new();
        if let Some((Anchoring::Local { port }, ..)) = &solana {
            let program = solana_binary(&args, "curve-solana-localnet")?;
            let log = args.dir.join("solana").join("localnet.log");
            let listen = format!("127.0.0.1:{port}");
            let child = spawn_logged(&program, &["--listen".into(), listen.into()], &log)?;
            outln!(
                "solana: local stand-in at http://127.0.0.1:{port}  log {}  pid {}",
                log.display(),
                child.id().unwrap_or(0)
            );
            children.push(child);
        }
        for (i, (path, config)) in configs.iter().enumerate() {
            let log_path = path.with_file_name("node.log");
            let arguments = [
                "node".into(),
                "--config".into(),
                path.into(),
                "--log".into(),
                args.log.clone().into(),
            ];
            let child = spawn_logged(&exe, &arguments, &log_path)
                .with_context(|| format!("starting node {i}"))?;
            node_starts.push((i, std::time::Instant::now(), arguments, log_path.clone()));
            outln!(
                "node {i}: rpc http://{}  p2p {}  log {}  pid {}",
                config.rpc,
                config.listen,
                log_path.display(),
                child.id().unwrap_or(0)
            );
            children.push(child);
        }
        if let Some((anchoring, poster, (genesis, payer, governance))) = &solana {
            let local = matches!(anchoring, Anchoring::Local { .. });
            for (i, (path, config)) in configs.iter().enumerate() {
                let mut arguments: Vec<std::ffi::OsString> = vec![
                    "--node".into(),
                    format!("http://{}", config.rpc).into(),
                    "--solana".into(),
                    anchoring.url().into(),
                    "--watch-deposits".into(),
                    "--commitment".into(),
                    if local { "processed" } else { "confirmed" }.into(),
                ];
                if i == 0 {
                    // The other members' nodes too: a certificate node 0 missed is theirs.
                    for (_, other) in configs.iter().skip(1) {
                        arguments.extend(["--node".into(), format!("http://{}", other.rpc).into()]);
                    }
                    arguments.extend([
                        "--keypair".into(),
                        payer.into(),
                        "--initialize".into(),
                        genesis.into(),
                        "--governance-keypair".into(),
                        governance.into(),
                        "--register-programs".into(),
                    ]);
                    if local {
                        arguments.push("--airdrop".into());
                    }
                } else {
                    arguments.push("--no-post".into());
                }
                let log = path.with_file_name("bridge.log");
                let child = spawn_logged(poster, &arguments, &log)?;
                outln!(
                    "bridge {i}: {}  log {}  pid {}",
                    if i == 0 { "posts batches, registers programs, watches deposits" } else { "watches deposits" },
                    log.display(),
                    child.id().unwrap_or(0)
                );
                bridges.push((i, child, arguments, log));
            }
        }
        outln!(
            "{} processes running; Ctrl-C stops them (data stays for a restart)",
            children.len() + bridges.len()
        );
        // The endpoint keeps its bank in memory: if it exits, everything stops. A node that
        // exits after running a while (killed, crashed) is restarted from its data, as a
        // bridge is (it resumes from the program's tip); one that exits within
        // `CRASH_LOOP` of starting has a problem a restart will not fix, and stops everything.
        const CRASH_LOOP: Duration = Duration::from_secs(5);
        let first_node = children.len() - node_starts.len();
        let exited = loop {
            let event = {
                let waits = children
                    .iter_mut()
                    .map(|c| Box::pin(c.wait()))
                    .chain(bridges.iter_mut().map(|(_, c, ..)| Box::pin(c.wait())));
                tokio::select! {
                    () = terminated() => None,
                    (status, index, _) = futures::future::select_all(waits) => Some((index, status)),
                }
            };
            let Some((index, status)) = event else {
                break None;
            };
            if let Some(node) = index
                .checked_sub(first_node)
                .filter(|&node| node < node_starts.len())
            {
                let (i, started, arguments, log) = &mut node_starts[node];
                if started.elapsed() < CRASH_LOOP {
                    errln!(
                        "node {i} exited ({status:?}) within {CRASH_LOOP:?} of starting; see {}",
                        log.display()
                    );
                    break Some((index, status));
                }
                errln!("node {i} exited ({status:?}); restarting it from its data in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                children[index] = spawn_logged(&exe, arguments, log)?;
                *started = std::time::Instant::now();
                outln!("node {i}: restarted  pid {}", children[index].id().unwrap_or(0));
                continue;
            }
            let Some(bridge) = index.checked_sub(children.len()) else {
                break Some((index, status));
            };
            let (i, child, arguments, log) = &mut bridges[bridge];
            errln!("bridge {i} exited ({status:?}); restarting it in 1 s");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let poster = &solana.as_ref().expect("bridges run with Solana").1;
            *child = spawn_logged(poster, arguments, log)?;
            outln!("bridge {i}: restarted  pid {}", child.id().unwrap_or(0));
        };
        if let Some((index, status)) = &exited {
            errln!("process {index} exited ({status:?}); stopping the others");
        }
        children.extend(bridges.into_iter().map(|(_, child, ..)| child));
        stop_children(&mut children).await;
        outln!("stopped; restart with the same command");
        Ok::<_, anyhow::Error>(if exited.is_some() {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// SIGTERM to every child, then SIGKILL to any still running after 10 s; waits for all.
async fn stop_children(children: &mut [tokio::process::Child]) {
    for child in children.iter() {
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    for child in children.iter_mut() {
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}
