//! `curve-batch-poster`: posts a node's anchor certificates to the Anchor program until SIGINT
//! or SIGTERM (see the library's documentation).

use std::time::Duration;

use clap::Parser;
use curve_batch_poster::{NodeRpc, Poster};
use solana_commitment_config::CommitmentConfig;

/// Posts the committee's anchor certificates, read from a sequencer node, to the Anchor
/// program in height order, once each; resumes from the program's tip after any restart.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The sequencer node's JSON-RPC URL.
    #[arg(long)]
    node: String,
    /// The Solana JSON-RPC URL (a cluster, or curve-solana-localnet).
    #[arg(long)]
    solana: String,
    /// The key that pays for the posts: a Solana JSON key file.
    #[arg(long)]
    keypair: std::path::PathBuf,
    /// The commitment a post must reach before the next: processed, confirmed or finalized.
    #[arg(long, default_value = "confirmed")]
    commitment: String,
    /// Milliseconds between looks at the node when there is nothing to post.
    #[arg(long, default_value_t = 500)]
    idle_ms: u64,
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
    let payer = match solana_keypair::read_keypair_file(&args.keypair) {
        Ok(payer) => payer,
        Err(e) => {
            eprintln!("error: --keypair {}: {e}", args.keypair.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut poster = Poster::new(args.solana, commitment, payer, NodeRpc::new(args.node));
    match poster.tip().await {
        Ok(tip) => println!(
            "curve-batch-poster: chain {} anchored to height {}; posting from {}",
            tip.chain_id,
            tip.height,
            tip.height + 1
        ),
        Err(e) => eprintln!("curve-batch-poster: {e}; will retry"),
    }
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("error: cannot listen for SIGTERM: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    tokio::select! {
        _ = poster.run(Duration::from_millis(args.idle_ms)) => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    println!(
        "curve-batch-poster: stopped after posting {}",
        poster.posted()
    );
    std::process::ExitCode::SUCCESS
}
