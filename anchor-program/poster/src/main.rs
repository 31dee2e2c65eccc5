//! `curve-batch-poster`: posts a node's anchor certificates to the Anchor program, and hands
//! the program's deposit records to the node, until SIGINT or SIGTERM (see the library's
//! documentation).

use std::time::Duration;

use clap::Parser;
use curve_batch_poster::source::Nodes;
use curve_batch_poster::{DepositWatcher, NodeRpc, Poster, Registrar, genesis, repeat};
use solana_keypair::Keypair;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;

const LAMPORTS_PER_SOL: u64 = 1_000_000_000;
/// How often the node's program list is compared with the Anchor program's records
/// (deploys are rare; each look rebuilds every program's statement on the node).
const REGISTRY_EVERY: Duration = Duration::from_secs(1);
use solana_commitment_config::CommitmentConfig;

/// Posts the committee's anchor certificates, read from a sequencer node, to the Anchor
/// program in height order, once each, and resumes from the program's tip after any restart;
/// with `--watch-deposits`, also hands the program's deposit records to the node (each
/// committee member runs one watcher beside its node; one member posts).
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The sequencer node's JSON-RPC URL. Repeat it to name other members' nodes: an anchor
    /// certificate the first lacks (it missed that height's attestations) is asked of them.
    #[arg(long, required = true)]
    node: Vec<String>,
    /// The Solana JSON-RPC URL (a cluster, or curve-solana-localnet).
    #[arg(long)]
    solana: String,
    /// The key that pays for the posts: a Solana JSON key file (needed unless `--no-post`).
    #[arg(long, required_unless_present = "no_post")]
    keypair: Option<std::path::PathBuf>,
    /// The commitment a post must reach before the next, and a deposit before it is handed
    /// to the node: processed, confirmed or finalized.
    #[arg(long, default_value = "confirmed")]
    commitment: String,
    /// Milliseconds between looks at the node and the program when there is nothing to do.
    #[arg(long, default_value_t = 500)]
    idle_ms: u64,
    /// Hand the program's deposit records to the node for its attestation.
    #[arg(long)]
    watch_deposits: bool,
    /// Post nothing (a committee member that only watches deposits).
    #[arg(long, requires = "watch_deposits")]
    no_post: bool,
    /// Initialise the program from this genesis file first (`curve localnet` writes it) if
    /// it is not initialised yet; `--keypair` pays.
    #[arg(long, value_name = "FILE", requires_all = ["keypair", "governance_keypair"])]
    initialize: Option<std::path::PathBuf>,
    /// The program's governance key (for `--initialize` and `--register-programs`).
    #[arg(long, value_name = "FILE")]
    governance_keypair: Option<std::path::PathBuf>,
    /// Register every program the node lists with the Anchor program, certificate checked
    /// on chain (and its verifying key first), signed by `--governance-keypair`.
    #[arg(long, requires = "governance_keypair")]
    register_programs: bool,
    /// Ask the endpoint's faucet for 100 SOL for the paying (and governance) key first: a
    /// local endpoint or a test cluster.
    #[arg(long)]
    airdrop: bool,
}

fn keypair(path: &std::path::Path, flag: &str) -> Result<Keypair, String> {
    solana_keypair::read_keypair_file(path).map_err(|e| format!("{flag} {}: {e}", path.display()))
}

/// What the files named on the command line hold, read once before anything is sent: a
/// missing or malformed file fails at once rather than being retried like the endpoint.
struct Files {
    payer: Option<Keypair>,
    governance: Option<Keypair>,
    genesis: Option<genesis::Genesis>,
}

impl Files {
    fn load(args: &Args) -> Result<Files, String> {
        let read = |path: &Option<std::path::PathBuf>, flag: &str| {
            path.as_deref().map(|path| keypair(path, flag)).transpose()
        };
        Ok(Files {
            payer: read(&args.keypair, "--keypair")?,
            governance: read(&args.governance_keypair, "--governance-keypair")?,
            genesis: args
                .initialize
                .as_deref()
                .map(genesis::Genesis::load)
                .transpose()?,
        })
    }
}

/// [`prepare`], retried with back-off for about a minute while the endpoint is starting or
/// busy.
async fn prepare_with_retries(
    args: &Args,
    commitment: CommitmentConfig,
    files: &Files,
) -> Result<(), String> {
    let mut wait = Duration::from_millis(100);
    let started = std::time::Instant::now();
    loop {
        match prepare(args, commitment, files).await {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("curve-batch-poster: {e}; retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// `--airdrop` and `--initialize`.
async fn prepare(args: &Args, commitment: CommitmentConfig, files: &Files) -> Result<(), String> {
    let client = RpcClient::new_with_commitment(args.solana.clone(), commitment);
    if args.airdrop {
        let keys: Vec<_> = files
            .payer
            .iter()
            .chain(&files.governance)
            .map(|k| k.pubkey())
            .collect();
        genesis::airdrop(&client, &keys, 100 * LAMPORTS_PER_SOL).await?;
    }
    if let (Some(genesis), Some(payer), Some(governance)) =
        (&files.genesis, &files.payer, &files.governance)
    {
        let mint = genesis::initialize(&client, payer, governance, genesis).await?;
        println!(
            "curve-batch-poster: program {} initialised for chain {:#x}; collateral mint {mint}",
            curve_anchor::ID,
            genesis.chain_id
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let commitment = match args.commitment.as_str() {
        "processed" => CommitmentConfig::processed(),
        "confirmed" => CommitmentConfig::confirmed(),
        "finalized" => CommitmentConfig::finalized(),
        other => {
            eprintln!("error: --commitment {other}: one of processed, confirmed, finalized");
            return std::process::ExitCode::FAILURE;
        }
    };
    let idle = Duration::from_millis(args.idle_ms);
    let files = match Files::load(&args) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = prepare_with_retries(&args, commitment, &files).await {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let mut poster = files.payer.filter(|_| !args.no_post).map(|payer| {
        Poster::new(
            args.solana.clone(),
            commitment,
            payer,
            Nodes(args.node.iter().cloned().map(NodeRpc::new).collect()),
        )
    });
    // The member's own node: where deposits go and programs are read.
    let own = args.node[0].clone();
    if let Some(poster) = &poster {
        match poster.tip().await {
            Ok(tip) => println!(
                "curve-batch-poster: chain {} anchored to height {}; posting from {}",
                tip.chain_id,
                tip.height,
                tip.height + 1
            ),
            Err(e) => eprintln!("curve-batch-poster: {e}; will retry"),
        }
    }
    let mut watcher = args.watch_deposits.then(|| {
        println!("curve-batch-poster: handing deposit records to {own}");
        DepositWatcher::new(args.solana.clone(), commitment, NodeRpc::new(own.clone()))
    });
    let mut registrar = match (&files.governance, args.register_programs) {
        (Some(governance), true) => {
            println!(
                "curve-batch-poster: registering {own}'s programs as governance {}",
                governance.pubkey()
            );
            Some(Registrar::new(
                args.solana.clone(),
                commitment,
                governance.insecure_clone(),
                NodeRpc::new(own.clone()),
            ))
        }
        _ => None,
    };
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("error: cannot listen for SIGTERM: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    let posting = async {
        match poster.as_mut() {
            Some(poster) => poster.run(idle).await,
            None => std::future::pending().await,
        }
    };
    let watching = async {
        match watcher.as_mut() {
            Some(watcher) => {
                repeat("deposits", idle, async || watcher.round().await.map(drop)).await
            }
            None => std::future::pending().await,
        }
    };
    let registering = async {
        match registrar.as_mut() {
            Some(registrar) => {
                repeat("registry", REGISTRY_EVERY, async || {
                    registrar.round().await.map(drop)
                })
                .await
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = posting => {}
        () = watching => {}
        () = registering => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    if let Some(poster) = &poster {
        println!(
            "curve-batch-poster: stopped after posting {}",
            poster.posted()
        );
    }
    std::process::ExitCode::SUCCESS
}
