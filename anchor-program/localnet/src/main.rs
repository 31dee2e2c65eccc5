//! `curve-solana-localnet`: serves the local stand-in for a Solana cluster until SIGINT or
//! SIGTERM (see the library's documentation for what it is and is not).

use std::net::SocketAddr;

use clap::Parser;
use curve_solana_localnet::Localnet;

/// A local stand-in for a Solana cluster: solana-program-test's bank with curve_anchor loaded
/// natively, behind the Solana JSON-RPC methods the rollup's clients call.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to serve JSON-RPC on.
    #[arg(long, default_value = "127.0.0.1:8899")]
    listen: SocketAddr,
    /// Milliseconds per slot (a cluster's is about 400).
    #[arg(long, default_value_t = 400)]
    slot_ms: u64,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let localnet = match Localnet::start(args.listen, args.slot_ms).await {
        Ok(localnet) => localnet,
        Err(e) => {
            eprintln!("error: cannot serve on {}: {e}", args.listen);
            return std::process::ExitCode::FAILURE;
        }
    };
    print!("{}", localnet.banner());
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("error: cannot listen for SIGTERM: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(localnet);
    std::process::ExitCode::SUCCESS
}
