//! `curve demo`: the whole stack in one command, on an embedded default. It runs what a user
//! runs, and prints each command as it does: it compiles and proves `examples/demo.curve` (a
//! SOL price feed, two SOL-PERP venues, the router, a joint-outcome and a multi-outcome LMSR
//! market), starts a four-node localnet (libp2p, RocksDB) with the local Solana endpoint and a
//! bridge beside every node, deploys the programs (the bridge registers each with the Anchor
//! program, its certificate checked on chain), deposits collateral on Solana for three users,
//! trades perpetuals across both venues (funding, a liquidation) and shares of both markets,
//! has the users pay each other on the rollup while one node is SIGKILLed and restarted,
//! withdraws to Solana and pays the withdrawal there, and ends with a summary cross-checked
//! against the nodes' RPC, the Solana accounts and closed forms of the spec. It exits 0 only
//! if every check holds. Ctrl-C (or SIGTERM) stops everything it started; the same command
//! restarts from the data directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, Transaction};
use curve_node::client::Client;
use ed25519_dalek::SigningKey;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

mod markets;

/// The embedded script: two oracles, two SOL-PERP venues, the router, two markets
/// (`examples/demo.curve`).
const SCRIPT: &str = include_str!("../../../../examples/demo.curve");
const SCRIPT_NAME: &str = "demo.curve";
const NODES: u16 = 4;
/// Collateral each user deposits on Solana, and what the first withdraws back.
/// Collateral is in the price's units: $1 is 1,000,000.
const DEPOSIT: u64 = 5_000_000_000;
/// Carol's: $450, enough to fund a buy of 4 SOL-PERP (a leg is funded with its hold's maximum
/// charge); she then withdraws all but $1.96 of what is not locked, so that SOL falling to $88
/// leaves her short with next to nothing to pledge.
const CAROL_DEPOSIT: u64 = 450_000_000;
/// What carol keeps free after her withdrawal.
const CAROL_KEEPS: u128 = 1_960_000;
const WITHDRAWAL: u64 = 1_250_000_000;
/// What a transfer moves.
const TRANSFER: u128 = 7;
/// Slots between an anchored batch and its first withdrawal.
const DELAY_SLOTS: u64 = 10;

/// `curve demo` arguments.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its build, keys, nodes' data and logs (reused on a rerun).
    #[arg(long, default_value = "demo")]
    dir: PathBuf,
    /// A short run (CI): fewer transactions, the same steps and checks.
    #[arg(long)]
    short: bool,
    /// First libp2p port (node i listens on BASE + i).
    #[arg(long, default_value_t = 7100)]
    p2p_port: u16,
    /// First RPC port (node i serves on BASE + i).
    #[arg(long, default_value_t = 8100)]
    rpc_port: u16,
    /// The local Solana endpoint's port.
    #[arg(long, default_value_t = 8899)]
    solana_port: u16,
    /// Where `curve-solana-localnet`, `curve-batch-poster` and `curve-solana-wallet` are
    /// (built in `anchor-program/`); default: beside `curve`, then the same profile of
    /// `anchor-program/target` when `curve` is a clone's `target/<profile>/curve`, then `PATH`.
    #[arg(long, value_name = "DIR")]
    solana_bin: Option<PathBuf>,
    /// After the summary, keep the localnet running (node 0's dashboard stays up) until
    /// Ctrl-C; the exit code is still the summary's.
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    keys: crate::certify::KeyArgs,
}

/// One check of the summary.
struct Check {
    what: String,
    holds: bool,
    detail: String,
}

/// What the demo started and where.
struct Demo {
    args: DemoArgs,
    curve: PathBuf,
    wallet: PathBuf,
    localnet: Option<tokio::process::Child>,
    checks: Vec<Check>,
    figures: Vec<(String, String)>,
    measured: Option<Measured>,
    started: Instant,
    step: usize,
}

const STEPS: usize = 9;

impl Demo {
    fn localnet_dir(&self) -> PathBuf {
        self.args.dir.join("localnet")
    }

    fn node_url(&self, i: u16) -> String {
        format!("http://127.0.0.1:{}", self.args.rpc_port + i)
    }

    fn solana_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.args.solana_port)
    }

    /// A user's ledger id (what programs name the account by).
    async fn user_id(&self, key: &SigningKey) -> Result<i64> {
        let account: Value = self
            .node(0)?
            .call(
                "curve_getAccount",
                vec![json!(hex::encode(key.verifying_key().to_bytes()))],
            )
            .await?;
        account["user"].as_i64().context("a user id")
    }

    /// The localnet's governance key.
    fn governance_key(&self) -> Result<SigningKey> {
        Ok(SigningKey::from_bytes(&curve_node::config::read_key_file(
            &self.localnet_dir().join("keys/governance.json"),
        )?))
    }

    fn node(&self, i: u16) -> Result<Client> {
        Client::new(&self.node_url(i))
    }

    /// A spinner for the next step.
    fn step(&mut self, what: &str) -> ProgressBar {
        self.step += 1;
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} [{prefix}] {msg} [{elapsed}]")
                .expect("a valid template"),
        );
        spinner.set_prefix(format!("{}/{STEPS}", self.step));
        spinner.set_message(what.to_string());
        spinner.enable_steady_tick(Duration::from_millis(120));
        spinner
    }

    fn check(&mut self, what: impl Into<String>, holds: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            what: what.into(),
            holds,
            detail: detail.into(),
        });
    }

    /// Runs `program` with `arguments` (printed as the user would type it); its standard
    /// output, or its standard error as the failure.
    async fn run(&self, program: &Path, arguments: &[String], bar: &ProgressBar) -> Result<String> {
        let name = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        say(bar, format!("  $ {name} {}", arguments.join(" ")));
        let output = tokio::process::Command::new(program)
            .args(arguments)
            .kill_on_drop(true)
            .output()
            .await
            .with_context(|| format!("starting {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "`{name} {}` failed ({}): {}",
                arguments.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `curve-solana-wallet --solana URL --commitment processed ARGS…`: its JSON answer.
    async fn wallet(&self, arguments: &[&str], bar: &ProgressBar) -> Result<Value> {
        let mut all = vec![
            "--solana".to_string(),
            self.solana_url(),
            "--commitment".into(),
            "processed".into(),
        ];
        all.extend(arguments.iter().map(|a| a.to_string()));
        let out = self.run(&self.wallet, &all, bar).await?;
        serde_json::from_str(out.trim()).context("curve-solana-wallet's answer is not JSON")
    }

    /// A new collateral token account for the key file `owner`, with `amount` minted into it
    /// by the localnet's poster key (the mint's authority); its address.
    async fn token_account(&self, owner: &str, amount: u64, bar: &ProgressBar) -> Result<String> {
        let poster = self.localnet_dir().join("keys/poster.json");
        let made = self
            .wallet(
                &[
                    "token-account",
                    "--payer",
                    &poster.display().to_string(),
                    "--owner-keypair",
                    owner,
                    "--amount",
                    &amount.to_string(),
                ],
                bar,
            )
            .await?;
        Ok(made["token_account"]
            .as_str()
            .context("curve-solana-wallet named no token account")?
            .to_string())
    }

    /// The wallet's audit, quietly (polled).
    async fn audit(&self) -> Result<Value> {
        let output = tokio::process::Command::new(&self.wallet)
            .args([
                "--solana",
                &self.solana_url(),
                "--commitment",
                "processed",
                "audit",
            ])
            .kill_on_drop(true)
            .output()
            .await?;
        if !output.status.success() {
            bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }
}

/// A line above the step's spinner (printed plainly when there is no terminal to draw on).
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        outln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Ends a step with its result line.
fn done(bar: &ProgressBar, message: String) {
    if bar.is_hidden() {
        outln!("[{}] {message}", bar.prefix());
    } else {
        bar.finish_with_message(message);
    }
}

/// A proved block's identity as the node lists programs: its code hash and `H_params` (both
/// hex; `H_params` big-endian, public input 3 of `public_inputs.alt_bn128`).
fn block_identity(dir: &Path) -> Result<(String, String)> {
    let code = std::fs::read(dir.join("program.cvmb"))
        .with_context(|| format!("cannot read {}", dir.join("program.cvmb").display()))?;
    let inputs = std::fs::read(dir.join("public_inputs.alt_bn128")).with_context(|| {
        format!(
            "cannot read {}",
            dir.join("public_inputs.alt_bn128").display()
        )
    })?;
    let h_params = inputs
        .get(96..128)
        .with_context(|| format!("{}: not four public inputs", dir.display()))?;
    Ok((hex::encode(Sha256::digest(code)), hex::encode(h_params)))
}

/// Polls `check` every 100 ms until it gives a value; fails naming `what` after `patience`.
async fn wait_for<T>(
    what: &str,
    patience: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Result<T> {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if started.elapsed() > patience {
            bail!("{what}: not within {} s", patience.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A user's key file (made once): a rollup account and a Solana key at once (both ed25519,
/// the same JSON key-file format).
fn user_key(dir: &Path, name: &str) -> Result<SigningKey> {
    let path = dir.join("keys").join(format!("{name}.json"));
    if path.exists() {
        return Ok(SigningKey::from_bytes(&curve_node::config::read_key_file(
            &path,
        )?));
    }
    std::fs::create_dir_all(path.parent().expect("a directory"))?;
    crate::node::new_key(&path)
}

fn key_path(dir: &Path, name: &str) -> String {
    dir.join("keys")
        .join(format!("{name}.json"))
        .display()
        .to_string()
}

fn amount(value: &Value, field: &str) -> Result<u128> {
    value[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value[field].as_u64().map(u128::from))
        .with_context(|| format!("no amount `{field}` in {value}"))
}

/// Gas for running a call's code, beyond its intrinsic cost (a route walks a book and
/// settles legs across programs; the demo pays no fee, so a roomy limit costs nothing).
const CALL_GAS: u64 = 10_000_000;

/// Signs one transaction of `key` with fee 0: the action's intrinsic gas, plus room to run
/// code for a call.
fn signed(chain_id: u64, key: &SigningKey, nonce: u64, action: Action) -> Vec<u8> {
    let bytes = action.to_bytes().len() + 256;
    let execution = match action {
        Action::Call { .. } => CALL_GAS,
        _ => 10_000,
    };
    let tx = Transaction {
        chain_id,
        sender: key.verifying_key().to_bytes(),
        nonce,
        gas_limit: curve_runtime::intrinsic_gas(&action, bytes) + execution,
        fee_per_gas: 0,
        action,
    };
    curve_runtime::client::sign(tx, key).to_bytes()
}

/// The return words of a receipt.
fn words(receipt: &Value) -> Vec<u64> {
    receipt["returns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect()
}

/// The `p`th percentile (0–100) of sorted `values`.
fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Runs `curve demo`.
pub fn run_demo(args: DemoArgs) -> Result<ExitCode> {
    let curve = std::env::current_exe().context("locating the curve binary")?;
    crate::node::check_ports(NODES, args.p2p_port, args.rpc_port, Some(args.solana_port))?;
    let mut ports: Vec<u16> = (0..NODES)
        .flat_map(|i| [args.p2p_port + i, args.rpc_port + i])
        .collect();
    ports.push(args.solana_port);
    if let Some(busy) = ports.iter().find(|&&port| !port_free(port)) {
        bail!(
            "port {busy} is in use (another localnet or demo?); stop it, or choose other ports \
             with --p2p-port, --rpc-port and --solana-port"
        );
    }
    let solana_bin = args.solana_bin.clone();
    let find = |name| crate::node::find_solana_binary(solana_bin.as_deref(), name);
    // Every binary is looked for before anything starts: a missing one is a message, not a
    // half-started demo.
    let wallet = find("curve-solana-wallet")?;
    find("curve-solana-localnet")?;
    find("curve-batch-poster")?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let mut demo = Demo {
        args,
        curve,
        wallet,
        localnet: None,
        checks: Vec::new(),
        figures: Vec::new(),
        measured: None,
        started: Instant::now(),
        step: 0,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let outcome = tokio::select! {
            outcome = demo.run_all() => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
            _ = terminate.recv() => None,
        };
        if demo.args.keep && matches!(outcome, Some(Ok(()))) {
            return demo.keep_until_interrupted().await;
        }
        let stopped = demo.stop().await;
        match outcome {
            None => {
                errln!(
                    "interrupted: everything the demo started is stopped; `curve demo --dir {}` resumes",
                    demo.args.dir.display()
                );
                Ok(ExitCode::from(130))
            }
            Some(Err(error)) => {
                errln!("error: {error:#}");
                errln!(
                    "logs: {}/localnet.log and {}/nodeI/{{node,bridge}}.log",
                    demo.args.dir.display(),
                    demo.localnet_dir().display()
                );
                stopped?;
                Ok(ExitCode::from(1))
            }
            Some(Ok(())) => {
                stopped?;
                Ok(demo.summary())
            }
        }
    })
}

impl Demo {
    /// Node 0's dashboard.
    fn dashboard_url(&self) -> String {
        format!("{}/", self.node_url(0))
    }

    /// With `--keep`: the summary, then the localnet left running until Ctrl-C or SIGTERM.
    async fn keep_until_interrupted(&mut self) -> Result<ExitCode> {
        let code = self.summary();
        outln!(
            "the localnet keeps running: dashboard {} — Ctrl-C stops it",
            self.dashboard_url()
        );
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        self.stop().await?;
        Ok(code)
    }
}

impl Demo {
    async fn run_all(&mut self) -> Result<()> {
        let blocks = self.build().await?;
        self.start_localnet().await?;
        let chain_id = self.deploy(&blocks).await?;
        let users = self.deposit().await?;
        self.perps(chain_id, &users, &blocks).await?;
        self.markets(chain_id, &users, &blocks).await?;
        self.workload(chain_id, &users).await?;
        self.withdraw(chain_id, &users[0]).await?;
        self.settle().await
    }

    /// Step 1: the script compiled and proved (once: a rerun reuses the proved blocks).
    async fn build(&mut self) -> Result<Vec<PathBuf>> {
        let bar = self.step(&format!("compiling and proving {SCRIPT_NAME}"));
        let script = self.args.dir.join(SCRIPT_NAME);
        std::fs::write(&script, SCRIPT)
            .with_context(|| format!("cannot write {}", script.display()))?;
        let out = self.args.dir.join("build");
        let listed = |out: &Path| -> Vec<PathBuf> {
            let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
                .into_iter()
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("manifest.json").is_file())
                .collect();
            dirs.sort();
            dirs
        };
        let proved = |dirs: &[PathBuf]| {
            !dirs.is_empty() && dirs.iter().all(|d| d.join("certificate.proof").is_file())
        };
        if !proved(&listed(&out)) {
            let compile = [
                "compile".to_string(),
                script.display().to_string(),
                "-o".into(),
                out.display().to_string(),
            ];
            self.run(&self.curve, &compile, &bar).await?;
            let mut prove = vec!["prove".to_string(), out.display().to_string()];
            if let Some(keys) = self.args.keys.dir() {
                prove.extend(["--keys-dir".into(), keys.display().to_string()]);
            }
            self.run(&self.curve, &prove, &bar).await?;
        }
        let mut blocks = listed(&out);
        // Deploy order: the feed, then the slab that reads it, then the router.
        let rank = |dir: &PathBuf| -> u8 {
            let manifest = std::fs::read(dir.join("manifest.json")).unwrap_or_default();
            let manifest: Value = serde_json::from_slice(&manifest).unwrap_or_default();
            match manifest["template"].as_str() {
                Some("oracle") => 0,
                Some("slab") => 1,
                _ => 2,
            }
        };
        blocks.sort_by_key(rank);
        if !proved(&blocks) {
            bail!(
                "{} holds no proved blocks after `curve prove`",
                out.display()
            );
        }
        done(
            &bar,
            format!(
                "compiled and proved {} blocks of {SCRIPT_NAME}",
                blocks.len()
            ),
        );
        Ok(blocks)
    }

    /// Step 2: the localnet (nodes, the Solana endpoint, the bridges) up: every node executing,
    /// the Anchor program initialised.
    async fn start_localnet(&mut self) -> Result<()> {
        let bar = self.step("starting 4 nodes, the local Solana endpoint and the bridges");
        let dir = self.localnet_dir();
        if dir.exists() {
            // The local Solana stand-in keeps its bank in memory: a previous run's rollup
            // cannot be resumed against a fresh one (its deposits would be missing from the
            // vault). The proved blocks, the dear part, are kept.
            say(
                &bar,
                format!(
                    "  a previous run's localnet is in {}: starting a new one (the local Solana endpoint keeps no state across restarts)",
                    dir.display()
                ),
            );
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
        }
        let mut arguments: Vec<String> = vec![
            "localnet".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--nodes".into(),
            NODES.to_string(),
            "--p2p-port".into(),
            self.args.p2p_port.to_string(),
            "--rpc-port".into(),
            self.args.rpc_port.to_string(),
            "--dev-mode".into(),
            "--solana".into(),
            "local".into(),
            "--solana-port".into(),
            self.args.solana_port.to_string(),
            "--withdrawal-delay-slots".into(),
            DELAY_SLOTS.to_string(),
            "--log".into(),
            "warn".into(),
        ];
        if let Some(bin) = &self.args.solana_bin {
            arguments.extend(["--solana-bin".into(), bin.display().to_string()]);
        }
        if let Some(keys) = self.args.keys.dir() {
            arguments.extend(["--keys-dir".into(), keys.display().to_string()]);
        }
        say(&bar, format!("  $ curve {}", arguments.join(" ")));
        let log_path = self.args.dir.join("localnet.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        self.localnet = Some(
            tokio::process::Command::new(&self.curve)
                .args(&arguments)
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting curve localnet")?,
        );
        for i in 0..NODES {
            let client = self.node(i)?;
            let localnet = self.localnet.as_mut().expect("started");
            wait_for(
                &format!("node {i} executing (see {})", log_path.display()),
                Duration::from_secs(180),
                async || {
                    if let Ok(Some(status)) = localnet.try_wait() {
                        return Some(Err(anyhow::anyhow!(
                            "curve localnet exited ({status}); see {}",
                            log_path.display()
                        )));
                    }
                    let status = client.status().await.ok()?;
                    (status["executed_height"].as_u64()? >= 1).then_some(Ok(()))
                },
            )
            .await??;
        }
        wait_for(
            "the Anchor program initialised on the local endpoint",
            Duration::from_secs(120),
            async || self.audit().await.ok(),
        )
        .await?;
        done(
            &bar,
            format!(
                "4 nodes at {}…{}, Solana at {}; watch it live at {}",
                self.node_url(0),
                self.args.rpc_port + NODES - 1,
                self.solana_url(),
                self.dashboard_url()
            ),
        );
        Ok(())
    }

    /// Step 3: the blocks deployed on the rollup (unless a previous run did) and registered on
    /// Solana by the bridge, each certificate verified there. Returns the chain id.
    async fn deploy(&mut self, blocks: &[PathBuf]) -> Result<u64> {
        let bar = self.step("deploying the programs and registering them on Solana");
        let node = self.node(0)?;
        let chain_id = node.status().await?["chain_id"]
            .as_u64()
            .context("the node's status has no chain id")?;
        let listed = |programs: &Value| -> Vec<(String, String)> {
            programs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        p["code_hash"].as_str()?.to_string(),
                        p["h_params"].as_str()?.to_string(),
                    ))
                })
                .collect()
        };
        let programs: Value = node.call("curve_getPrograms", Vec::new()).await?;
        let deployed = listed(&programs);
        let mut missing = Vec::new();
        for dir in blocks {
            // Programs of one template share their code: the parameters tell them apart.
            if !deployed.contains(&block_identity(dir)?) {
                missing.push(dir);
            }
        }
        if !missing.is_empty() {
            let mut arguments: Vec<String> = vec!["deploy".into()];
            arguments.extend(missing.iter().map(|d| d.display().to_string()));
            arguments.extend([
                "--node".into(),
                self.node_url(0),
                "--key".into(),
                self.localnet_dir()
                    .join("keys/governance.json")
                    .display()
                    .to_string(),
            ]);
            let out = self.run(&self.curve, &arguments, &bar).await?;
            for line in out.lines() {
                say(&bar, format!("    {line}"));
            }
        }
        let programs: Value = node.call("curve_getPrograms", Vec::new()).await?;
        let served = listed(&programs);
        let registered = wait_for(
            "every program registered on Solana (see localnet/node0/bridge.log)",
            Duration::from_secs(120),
            async || {
                let audit = self.audit().await.ok()?;
                let on_chain = listed(&audit["programs"]);
                served
                    .iter()
                    .all(|p| on_chain.contains(p))
                    .then_some(on_chain.len())
            },
        )
        .await?;
        self.check(
            "programs deployed on the rollup are registered on Solana, certificates verified there",
            registered >= served.len() && served.len() >= blocks.len(),
            format!("{} deployed, {registered} registered", served.len()),
        );
        done(
            &bar,
            format!(
                "{} programs deployed; {registered} registered on Solana",
                served.len()
            ),
        );
        Ok(chain_id)
    }

    /// Step 4: three users with collateral on Solana deposit it (alice and bob $5,000, carol
    /// $450); the committee credits each deposit on the rollup once.
    async fn deposit(&mut self) -> Result<Vec<SigningKey>> {
        let bar = self.step("depositing collateral on Solana; the committee credits it");
        let dir = self.args.dir.clone();
        let node = self.node(0)?;
        let mut users = Vec::new();
        for (name, deposit) in [
            ("alice", DEPOSIT),
            ("bob", DEPOSIT),
            ("carol", CAROL_DEPOSIT),
        ] {
            let key = user_key(&dir, name)?;
            let keypair = key_path(&dir, name);
            let account = hex::encode(key.verifying_key().to_bytes());
            let before = amount(
                &node.call("curve_getAccount", vec![json!(account)]).await?,
                "balance",
            )?;
            self.wallet(&["airdrop", "--keypair", &keypair], &bar)
                .await?;
            let source = self.token_account(&keypair, deposit, &bar).await?;
            let deposited = self
                .wallet(
                    &[
                        "deposit",
                        "--keypair",
                        &keypair,
                        "--source",
                        &source,
                        "--amount",
                        &deposit.to_string(),
                    ],
                    &bar,
                )
                .await?;
            let sequence = deposited["sequence"].as_u64().context("a sequence")?;
            wait_for(
                &format!("{name}'s deposit {sequence} credited on the rollup"),
                Duration::from_secs(60),
                async || {
                    let found: Value = node
                        .call("curve_getDeposit", vec![json!(sequence)])
                        .await
                        .ok()?;
                    (found["credited"] == true).then_some(())
                },
            )
            .await?;
            let after = amount(
                &node.call("curve_getAccount", vec![json!(account)]).await?,
                "balance",
            )?;
            self.check(
                format!("{name}'s deposit {sequence} credited once"),
                after == before + u128::from(deposit),
                format!("rollup balance {before} → {after}"),
            );
            users.push(key);
        }
        done(
            &bar,
            format!(
                "{} users deposited on Solana; credited on the rollup",
                users.len()
            ),
        );
        Ok(users)
    }
}

/// What the workload measured.
struct Measured {
    sent: usize,
    committed: usize,
    seconds: f64,
    finality_ms: Vec<u64>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Demo {
    /// Step 5: the users pay each other on the rollup at a steady rate (alice through node 0,
    /// bob through node 1) while node 3 is SIGKILLed; the localnet restarts it and it catches
    /// up. Finality is read back from the blocks' execution times.
    async fn workload(&mut self, chain_id: u64, users: &[SigningKey]) -> Result<()> {
        let (rate, seconds) = if self.args.short {
            (20u64, 6u64)
        } else {
            (200, 30)
        };
        let total = rate * seconds;
        let bar = ProgressBar::new(total);
        self.step += 1;
        bar.set_style(
            ProgressStyle::with_template("  [{prefix}] {msg} {wide_bar} {pos}/{len} [{elapsed}]")
                .expect("a valid template"),
        );
        bar.set_prefix(format!("{}/{STEPS}", self.step));
        bar.set_message(format!(
            "transfers at {rate}/s; node 3 killed a third of the way"
        ));
        let clients: Vec<Client> = (0..NODES).map(|i| self.node(i)).collect::<Result<_>>()?;
        let mut nonces = Vec::new();
        for (user, client) in users.iter().zip(&clients) {
            let account: Value = client
                .call(
                    "curve_getAccount",
                    vec![json!(hex::encode(user.verifying_key().to_bytes()))],
                )
                .await?;
            nonces.push(account["nonce"].as_u64().context("a nonce")?);
        }
        let victim = NODES - 1;
        let victim_pid = clients[usize::from(victim)].status().await?["pid"]
            .as_u64()
            .context("node 3's pid")?;
        let first_height = clients[0].status().await?["executed_height"]
            .as_u64()
            .context("a height")?;
        let mut sent: Vec<(String, u64)> = Vec::new();
        let started = Instant::now();
        for k in 0..total {
            tokio::time::sleep_until((started + Duration::from_millis(k * 1000 / rate)).into())
                .await;
            if k == total / 3 {
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(victim_pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .context("killing node 3")?;
                say(&bar, format!("  node 3 (pid {victim_pid}) SIGKILLed"));
            }
            let from = (k % 2) as usize;
            let to = users[1 - from].verifying_key().to_bytes();
            let tx = signed(
                chain_id,
                &users[from],
                nonces[from],
                Action::Transfer {
                    to,
                    amount: TRANSFER,
                },
            );
            nonces[from] += 1;
            let hash = clients[from].send(&tx).await?;
            sent.push((hash, now_ms()));
            bar.inc(1);
        }
        let seconds_sent = started.elapsed().as_secs_f64();
        let last: Vec<String> = [sent.len() - 2, sent.len() - 1]
            .iter()
            .map(|&i| sent[i].0.clone())
            .collect();
        for hash in &last {
            let client = &clients[0];
            wait_for(
                "the last transfers executed",
                Duration::from_secs(120),
                async || {
                    let found = client.transaction(hash).await.ok()?;
                    (found["state"] == "executed").then_some(())
                },
            )
            .await?;
        }
        let last_height = clients[0].status().await?["executed_height"]
            .as_u64()
            .context("a height")?;
        let by_hash: std::collections::BTreeMap<&str, u64> =
            sent.iter().map(|(h, at)| (h.as_str(), *at)).collect();
        let mut finality_ms = Vec::new();
        let mut committed = 0;
        let mut executed_last = 0;
        for height in first_height + 1..=last_height {
            let block = clients[0].block(height).await?;
            let executed_at = block["executed_at_ms"].as_u64().unwrap_or(0);
            for receipt in block["receipts"].as_array().into_iter().flatten() {
                let Some(sent_at) = receipt["tx_hash"].as_str().and_then(|h| by_hash.get(h)) else {
                    continue;
                };
                if receipt["status"] == "committed" {
                    committed += 1;
                    finality_ms.push(executed_at.saturating_sub(*sent_at));
                    executed_last = executed_last.max(executed_at);
                }
            }
        }
        finality_ms.sort_unstable();
        done(&bar, format!("{committed} of {total} transfers committed"));
        // Node 3 came back under a new pid and caught up with node 0.
        let target = last_height;
        let victim_client = &clients[usize::from(victim)];
        let restarted_pid = wait_for(
            "node 3 restarted and caught up",
            Duration::from_secs(120),
            async || {
                let status = victim_client.status().await.ok()?;
                let pid = status["pid"].as_u64()?;
                (pid != victim_pid && status["executed_height"].as_u64()? >= target).then_some(pid)
            },
        )
        .await?;
        self.check(
            "node 3, SIGKILLed mid-run, restarted and caught up",
            true,
            format!("pid {victim_pid} → {restarted_pid}, at height ≥ {target}"),
        );
        self.check(
            "every transfer committed exactly once",
            committed == sent.len(),
            format!("{committed} committed of {} sent", sent.len()),
        );
        self.measured = Some(Measured {
            sent: sent.len(),
            committed,
            seconds: seconds_sent,
            finality_ms,
        });
        Ok(())
    }

    /// Step 6: alice withdraws on the rollup; `curve withdraw-proof` gives the leaf and its
    /// path; once the batch is anchored and the delay has passed, the program pays it on
    /// Solana, once.
    async fn withdraw(&mut self, chain_id: u64, alice: &SigningKey) -> Result<()> {
        let bar = self.step("withdrawing to Solana");
        let node = self.node(0)?;
        let account = hex::encode(alice.verifying_key().to_bytes());
        let found: Value = node.call("curve_getAccount", vec![json!(account)]).await?;
        let nonce = found["nonce"].as_u64().context("a nonce")?;
        let tx = signed(
            chain_id,
            alice,
            nonce,
            Action::Withdraw {
                amount: u128::from(WITHDRAWAL),
                recipient: alice.verifying_key().to_bytes(),
            },
        );
        let hash = node.send(&tx).await?;
        wait_for(
            "the withdrawal executed",
            Duration::from_secs(60),
            async || {
                let found = node.transaction(&hash).await.ok()?;
                (found["state"] == "executed").then_some(())
            },
        )
        .await?;
        let proof = self
            .run(
                &self.curve,
                &[
                    "withdraw-proof".into(),
                    "--node".into(),
                    self.node_url(0),
                    "--tx".into(),
                    hash,
                ],
                &bar,
            )
            .await?;
        let proof_path = self.args.dir.join("withdrawal-proof.json");
        std::fs::write(&proof_path, &proof)?;
        let height = serde_json::from_str::<Value>(&proof)?["height"]
            .as_u64()
            .context("the proof's height")?;
        let dir = self.args.dir.clone();
        let keypair = key_path(&dir, "alice");
        let to = self.token_account(&keypair, 0, &bar).await?;
        wait_for(
            &format!("height {height} anchored on Solana"),
            Duration::from_secs(120),
            async || {
                let audit = self.audit().await.ok()?;
                (audit["anchored_height"].as_u64()? >= height).then_some(())
            },
        )
        .await?;
        let pay = [
            "--solana".to_string(),
            self.solana_url(),
            "--commitment".into(),
            "processed".into(),
            "withdraw".into(),
            "--keypair".into(),
            keypair.clone(),
            "--to".into(),
            to.clone(),
            "--proof".into(),
            proof_path.display().to_string(),
        ];
        say(&bar, format!("  $ curve-solana-wallet {}", pay.join(" ")));
        // Refused until `withdrawal_delay_slots` have passed since the post.
        let wallet = self.wallet.clone();
        wait_for(
            "the withdrawal paid on Solana",
            Duration::from_secs(60),
            async || {
                let output = tokio::process::Command::new(&wallet)
                    .args(&pay)
                    .output()
                    .await
                    .ok()?;
                output.status.success().then_some(())
            },
        )
        .await?;
        let again = tokio::process::Command::new(&wallet)
            .args(&pay)
            .output()
            .await?;
        let balance = self.wallet(&["balance", &to], &bar).await?["balance"]
            .as_u64()
            .context("a balance")?;
        self.check(
            "the withdrawal paid on Solana once",
            balance == WITHDRAWAL && !again.status.success(),
            format!(
                "{balance} received; a second payment refused: {}",
                !again.status.success()
            ),
        );
        done(
            &bar,
            format!("{WITHDRAWAL} withdrawn and paid on Solana at height {height}"),
        );
        Ok(())
    }

    /// Step 7: every executed batch anchored; the figures read and cross-checked.
    async fn settle(&mut self) -> Result<()> {
        let bar = self.step("anchoring the rest and cross-checking");
        let clients: Vec<Client> = (0..NODES).map(|i| self.node(i)).collect::<Result<_>>()?;
        let executed = clients[0].status().await?["executed_height"]
            .as_u64()
            .context("a height")?;
        let audit = wait_for(
            "every executed batch anchored",
            Duration::from_secs(120),
            async || {
                let audit = self.audit().await.ok()?;
                (audit["anchored_height"].as_u64()? >= executed).then_some(audit)
            },
        )
        .await?;
        let status = clients[0].status().await?;
        // Nothing moves collateral any more: the liabilities read now are those of the
        // anchored state.
        let liabilities =
            amount(&status, "deposits_credited")? - amount(&status, "withdrawals_finalised")?;
        let unpaid = amount(&audit, "unpaid")?;
        let vault = u128::from(audit["vault"].as_u64().context("the vault")?);
        self.check(
            "conservation: the vault on Solana = rollup liabilities + anchored payouts not yet withdrawn",
            vault == liabilities + unpaid,
            format!("{vault} = {liabilities} + {unpaid}"),
        );
        let mut roots = Vec::new();
        for client in &clients {
            let block = client.block(executed).await?;
            roots.push(
                block["header"]["state_root"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        self.check(
            format!("all {NODES} nodes hold the same state root at height {executed}"),
            roots.iter().all(|r| !r.is_empty() && *r == roots[0]),
            roots[0].clone(),
        );
        self.figures = vec![
            (
                "batches decided".into(),
                status["decided_height"].to_string(),
            ),
            (
                "batches anchored on Solana".into(),
                audit["anchored_height"].to_string(),
            ),
            ("vault on Solana".into(), vault.to_string()),
        ];
        done(
            &bar,
            format!("anchored to height {}", audit["anchored_height"]),
        );
        Ok(())
    }

    /// Stops the localnet (SIGTERM: it stops its nodes, bridges and endpoint), waiting for it.
    async fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.localnet.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        match tokio::time::timeout(Duration::from_secs(30), child.wait()).await {
            Ok(status) => {
                status?;
                Ok(())
            }
            Err(_) => {
                child.kill().await?;
                bail!("curve localnet did not stop within 30 s; killed it")
            }
        }
    }

    /// Prints the summary; exit 0 only if every check holds.
    fn summary(&self) -> ExitCode {
        outln!("");
        outln!("summary ({:.0} s)", self.started.elapsed().as_secs_f64());
        for (what, value) in &self.figures {
            outln!("  {what:<34} {value}");
        }
        if let Some(m) = &self.measured {
            outln!(
                "  {:<34} {} of {}",
                "transfers committed",
                m.committed,
                m.sent
            );
            outln!(
                "  {:<34} {:.0}",
                "tx/s (offered rate, sustained)",
                m.committed as f64 / m.seconds.max(1e-9)
            );
            outln!(
                "  {:<34} p50 {} ms, p99 {} ms",
                "finality (submit → executed)",
                percentile(&m.finality_ms, 50),
                percentile(&m.finality_ms, 99)
            );
        }
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        outln!("  {:<34} {}", "load average (1, 5, 15 min)", load.join(" "));
        outln!("");
        for check in &self.checks {
            outln!(
                "  {} {} — {}",
                if check.holds { "✔" } else { "✘" },
                check.what,
                check.detail
            );
        }
        let failed = self.checks.iter().filter(|c| !c.holds).count();
        if failed == 0 {
            outln!("\nevery check holds");
            ExitCode::SUCCESS
        } else {
            errln!("{failed} check(s) failed");
            ExitCode::from(1)
        }
    }
}

/// A deployed program of the demo's script: its rollup id, template and manifest (for the
/// argument types of its entrypoints).
struct Deployed {
    id: u64,
    template: String,
    manifest: Vec<u8>,
}

impl Deployed {
    /// A call of `entry` with `words`, each typed by the entrypoint's descriptor.
    fn call(&self, entry: &str, words: &[i64], mut access: Vec<u64>) -> Result<Action> {
        use curve_compiler::abi::FieldType as T;
        use curve_formats::tx::{Arg, Value as V};
        let approved = curve_runtime::templates::lookup(&self.template, &self.manifest)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let fields = approved
            .template
            .interface
            .entry(entry)
            .with_context(|| format!("the {} interface has no `{entry}`", self.template))?
            .args;
        if fields.len() != words.len() {
            bail!(
                "`{entry}` takes {} arguments, {} given",
                fields.len(),
                words.len()
            );
        }
        let args = fields
            .iter()
            .zip(words)
            .map(|(field, &word)| {
                Arg::One(match field.ty {
                    T::I64 => V::I64(word),
                    T::U128 => V::U128(word as u128),
                    T::I128 => V::I128(i128::from(word)),
                    T::Cap => V::Cap(word as u64),
                    _ => V::U64(word as u64),
                })
            })
            .collect();
        access.sort_unstable();
        Ok(Action::Call {
            program: self.id,
            entry: entry.into(),
            args,
            access,
        })
    }
}

impl Demo {
    /// Sends `action` as `key` (at its account's next nonce) and waits for the receipt; fails
    /// with the receipt unless it committed.
    async fn submit(
        &self,
        chain_id: u64,
        key: &SigningKey,
        action: Action,
        what: &str,
    ) -> Result<Value> {
        let node = self.node(0)?;
        let account: Value = node
            .call(
                "curve_getAccount",
                vec![json!(hex::encode(key.verifying_key().to_bytes()))],
            )
            .await?;
        let nonce = account["nonce"].as_u64().context("a nonce")?;
        let hash = node.send(&signed(chain_id, key, nonce, action)).await?;
        let found = wait_for(what, Duration::from_secs(60), async || {
            let found = node.transaction(&hash).await.ok()?;
            (found["state"] == "executed").then_some(found)
        })
        .await?;
        let receipt = found["receipt"].clone();
        if receipt["status"] != "committed" {
            bail!("{what}: {} ({})", receipt["status"], receipt["detail"]);
        }
        Ok(receipt)
    }

    /// The demo's programs by block directory (`router`, `slab-perp-SOL-PERP-A`, …), from the
    /// node's list and the build's manifests.
    async fn deployed(
        &self,
        blocks: &[PathBuf],
    ) -> Result<std::collections::BTreeMap<String, Deployed>> {
        let programs: Value = self.node(0)?.call("curve_getPrograms", Vec::new()).await?;
        let mut found = std::collections::BTreeMap::new();
        for dir in blocks {
            let (code, h_params) = block_identity(dir)?;
            let manifest = std::fs::read(dir.join("manifest.json"))?;
            let entry = programs
                .as_array()
                .into_iter()
                .flatten()
                .rfind(|p| p["code_hash"] == code.as_str() && p["h_params"] == h_params.as_str())
                .with_context(|| format!("{} is not deployed", dir.display()))?;
            let template = entry["template"]
                .as_str()
                .context("a template")?
                .to_string();
            let block = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            found.insert(
                block,
                Deployed {
                    id: entry["program"].as_u64().context("a program id")?,
                    template,
                    manifest,
                },
            );
        }
        Ok(found)
    }

    /// Step: perpetuals, as in `examples/perp_sol_exchange.scenario.toml`. Governance registers
    /// a price signer with the oracle, binds the feed as both venues' mark, makes alice a
    /// designated LP on both and lists both in the router; a keeper takes each venue's funding
    /// snapshot. Alice quotes on both venues; bob buys 10 through the router's `route`, best
    /// price first: 6 on `a`, 4 on `b`. After a funding interval the keeper applies funding:
    /// each venue's index moves by the premium its fills paid over the feed's TWAP.
    async fn perps(
        &mut self,
        chain_id: u64,
        users: &[SigningKey],
        blocks: &[PathBuf],
    ) -> Result<()> {
        let bar = self.step("trading SOL-PERP on two venues through the router; funding");
        let mut checks: Vec<(&str, bool, String)> = Vec::new();
        let programs = self.deployed(blocks).await?;
        let get = |block: &str| {
            programs
                .get(block)
                .with_context(|| format!("no {block} program deployed"))
        };
        let oracle = get("oracle-pyth-SOLUSD")?;
        let (a, b) = (get("slab-perp-SOL-PERP-A")?, get("slab-perp-SOL-PERP-B")?);
        let router = get("router")?;
        let governance = self.governance_key()?;
        let signer = user_key(&self.args.dir, "pyth-signer")?;
        let node = self.node(0)?;
        let (alice, bob) = (
            self.user_id(&users[0]).await?,
            self.user_id(&users[1]).await?,
        );
        let keeper = &users[1];
        let feed_tag = curve_compiler::feed_tag("pyth:SOLUSD");
        // SOL at $100.000000, constant: the feed's TWAP is exactly this.
        const PRICE: i64 = 100_000_000;
        let publish = async |price: i64| -> Result<()> {
            let args = curve_runtime::client::oracle_update_args(
                chain_id,
                feed_tag,
                price as u64,
                now_ms().saturating_sub(100),
                &[(0, &signer)],
            );
            let update = Action::Call {
                program: oracle.id,
                entry: "update".into(),
                args,
                access: Vec::new(),
            };
            self.submit(chain_id, keeper, update, "a price update")
                .await
                .map(drop)
        };
        let sol = oracle.id;
        say(&bar, "  governance: the price signer, the feed as both venues' mark, alice as DLP, both venues listed".into());
        let register = Action::RegisterOracleKey {
            program: oracle.id,
            key: signer.verifying_key().to_bytes(),
        };
        self.submit(
            chain_id,
            &governance,
            register,
            "registering the price signer",
        )
        .await?;
        publish(PRICE).await?;
        for venue in [a, b] {
            let bind = Action::BindViews {
                program: venue.id,
                views: vec![sol],
            };
            self.submit(
                chain_id,
                &governance,
                bind,
                "binding the feed as a venue's mark",
            )
            .await?;
            let class = venue.call("set_maker_class", &[alice, 1], vec![sol])?;
            self.submit(chain_id, &governance, class, "alice as designated LP")
                .await?;
            let list = router.call("list_slab", &[venue.id as i64], Vec::new())?;
            self.submit(chain_id, &governance, list, "listing a venue")
                .await?;
            let snapshot = venue.call("apply_funding", &[0], vec![sol])?;
            self.submit(chain_id, keeper, snapshot, "the funding snapshot")
                .await?;
        }
        // Alice quotes a premium over the index on both venues (asks) and bids below it.
        let (ask_a, ask_b) = (PRICE + 480_000, PRICE + 600_000);
        publish(PRICE).await?;
        for (venue, ask, size, bid) in [
            (a, ask_a, 6, PRICE - 1_000_000),
            (b, ask_b, 8, PRICE - 1_200_000),
        ] {
            let quote = venue.call("place_order", &[alice, 0, 1, ask, size], vec![sol])?;
            self.submit(chain_id, &users[0], quote, "alice's ask")
                .await?;
            let quote = venue.call("place_order", &[alice, 0, 0, bid, 20], vec![sol])?;
            self.submit(chain_id, &users[0], quote, "alice's bid")
                .await?;
        }
        say(
            &bar,
            format!("  alice asks 6 at {ask_a} on a and 8 at {ask_b} on b, bids 20 on each"),
        );
        let buy = router.call(
            "route",
            &[bob, 1, 0, 0, 10, ask_b, a.id as i64, b.id as i64, 0],
            vec![sol, a.id, b.id],
        )?;
        let routed = self.submit(chain_id, &users[1], buy, "bob's route").await?;
        let returns = words(&routed);
        // (filled_qty, notional: u128, total_debit: u128, legs): 6 on a, then 4 on b.
        let notional = 6 * ask_a as u64 + 4 * ask_b as u64;
        say(
            &bar,
            format!("  bob routes a buy of 10 within {ask_b}: returns {returns:?}"),
        );
        checks.push((
            "bob's route filled across both venues, best price first",
            returns.first() == Some(&10)
                && returns.get(1) == Some(&notional)
                && returns.get(5) == Some(&2),
            format!(
                "filled {} of 10 in {} legs, notional {} (6 × {ask_a} + 4 × {ask_b} = {notional})",
                returns.first().copied().unwrap_or(0),
                returns.get(5).copied().unwrap_or(0),
                returns.get(1).copied().unwrap_or(0)
            ),
        ));
        // Funding: once an interval has begun since the snapshot, each venue's index moves by
        // k × s, s = ⌊premium × 5,000 / 86,400,000⌋ with the premium its fills' VWAP over the
        // TWAP (the constant price).
        let interval_ms = 5_000u64;
        let start = now_ms();
        tokio::time::sleep(Duration::from_millis(
            interval_ms - start % interval_ms + 200,
        ))
        .await;
        publish(PRICE).await?;
        let mut funding = Vec::new();
        for (venue, vwap) in [(a, ask_a), (b, ask_b)] {
            let apply = venue.call("apply_funding", &[0], vec![sol])?;
            let applied = words(
                &self
                    .submit(chain_id, keeper, apply, "applying funding")
                    .await?,
            );
            // (cum_funding: i128 as two words, intervals)
            let cum = applied.first().copied().unwrap_or(0);
            let intervals = applied.get(2).copied().unwrap_or(0);
            let step = (vwap - PRICE) as u64 * interval_ms / 86_400_000;
            funding.push((cum, intervals, step));
        }
        let [(cum_a, k_a, s_a), (cum_b, k_b, s_b)] = [funding[0], funding[1]];
        say(
            &bar,
            format!(
                "  funding: index a {cum_a} ({k_a} intervals × {s_a}), b {cum_b} ({k_b} × {s_b}); longs pay shorts"
            ),
        );
        checks.push((
            "funding moved each venue's index by its premium over the feed, once per interval",
            funding
                .iter()
                .all(|&(cum, k, s)| k >= 1 && s > 0 && cum == k * s),
            format!("a: {cum_a} = {k_a} × {s_a}, b: {cum_b} = {k_b} × {s_b}"),
        ));
        // A liquidation: carol buys the 4 left on `b` and withdraws all she can but $1.96; SOL
        // prints $88 three times, the mark (¾ old + ¼ new) falls to about $93.06
        // and her equity below maintenance with nothing left to pledge. No grace here: the
        // keeper's `liquidate` sweeps at once and `b` (policy full) closes all 4 against
        // alice's bid within the 5 % band.
        let carol = users.get(2).context("carol")?;
        let carol_id = self.user_id(carol).await?;
        publish(PRICE).await?;
        let buy = router.call(
            "route",
            &[carol_id, 1, 0, 0, 4, ask_b, b.id as i64, 0, 0],
            vec![sol, a.id, b.id],
        )?;
        let bought = words(&self.submit(chain_id, carol, buy, "carol's route").await?);
        // She takes out what is not locked but $1.96 (a payout leaf she leaves unpaid on
        // Solana: the conservation check counts it).
        let carol_key = hex::encode(carol.verifying_key().to_bytes());
        let free = amount(
            &node
                .call("curve_getAccount", vec![json!(carol_key)])
                .await?,
            "balance",
        )?;
        let taken = free.saturating_sub(CAROL_KEEPS);
        let out = Action::Withdraw {
            amount: taken,
            recipient: carol.verifying_key().to_bytes(),
        };
        self.submit(chain_id, carol, out, "carol's withdrawal")
            .await?;
        publish(PRICE).await?;
        for _ in 0..3 {
            publish(88_000_000).await?;
        }
        let liquidate = router.call("liquidate", &[carol_id], vec![sol, a.id, b.id])?;
        let swept = words(
            &self
                .submit(chain_id, keeper, liquidate, "the keeper's liquidate")
                .await?,
        );
        let position = b.call("account", &[carol_id], vec![sol])?;
        let after = words(
            &self
                .submit(chain_id, carol, position, "carol's account on b")
                .await?,
        );
        say(
            &bar,
            format!(
                "  carol buys {} on b, withdraws {taken}; SOL prints $88 ×3; liquidate → {swept:?} (status, health, residual); her account on b → {after:?}",
                bought.first().copied().unwrap_or(0)
            ),
        );
        // liquidate → (status: 2 liquidated, health: i128, residual: u128); account → (cash:
        // i128, IM, MM): nothing held on b any more.
        checks.push((
            "carol, under maintenance with nothing to pledge, liquidated: venue b closed her position",
            bought.first() == Some(&4) && swept.first() == Some(&2) && after.get(2) == Some(&0) && after.get(4) == Some(&0),
            format!("route filled {}, liquidate status {} (2: liquidated), her IM and MM on b {} and {}",
                bought.first().copied().unwrap_or(0),
                swept.first().copied().unwrap_or(0),
                after.get(2).copied().unwrap_or(u64::MAX),
                after.get(4).copied().unwrap_or(u64::MAX)
            ),
        ));
        for (what, holds, detail) in checks {
            self.check(what, holds, detail);
        }
        done(
            &bar,
            "10 SOL-PERP routed across two venues; funding applied; carol liquidated".into(),
        );
        Ok(())
    }
}
