//! `curve-solana-wallet`: a rollup user's commands against the Anchor program (see the
//! library's `wallet` module). Every command prints one JSON object on success; on failure it
//! prints the reason and exits 1 (2 for bad arguments).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use curve_batch_poster::genesis::config;
use curve_batch_poster::wallet;
use serde_json::{Value, json};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;

const LAMPORTS_PER_SOL: u64 = 1_000_000_000;

/// A rollup user's side of the Anchor program: collateral token accounts, deposits,
/// withdrawals with `curve withdraw-proof`'s proofs, and the program's audit figures.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The Solana JSON-RPC URL (a cluster, or curve-solana-localnet).
    #[arg(long, default_value = "http://127.0.0.1:8899")]
    solana: String,
    /// The commitment reads and sends wait for: processed, confirmed or finalized.
    #[arg(long, default_value = "confirmed")]
    commitment: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A new collateral token account for `--owner`, with `--amount` minted into it by
    /// `--payer` (the mint's authority; 0 mints nothing).
    TokenAccount {
        /// Pays for the account (and, with an amount, is the mint's authority).
        #[arg(long, value_name = "FILE")]
        payer: PathBuf,
        /// The account's owner (base58).
        #[arg(long, required_unless_present = "owner_keypair")]
        owner: Option<Pubkey>,
        /// The account's owner, as its key file.
        #[arg(long, value_name = "FILE", conflicts_with = "owner")]
        owner_keypair: Option<PathBuf>,
        /// Tokens minted into it, in base units.
        #[arg(long, default_value_t = 0)]
        amount: u64,
    },
    /// Moves collateral from a token account of `--keypair` into the vault, for a rollup
    /// account; prints the deposit's sequence.
    Deposit {
        /// The depositor (the source's owner; pays the fee and the record's rent).
        #[arg(long, value_name = "FILE")]
        keypair: PathBuf,
        /// The token account the collateral comes from.
        #[arg(long)]
        source: Pubkey,
        /// Base units.
        #[arg(long)]
        amount: u64,
        /// The rollup account credited (hex public key; default: the depositor's own key).
        #[arg(long)]
        recipient: Option<String>,
    },
    /// Pays a payout leaf of an anchored batch into `--to`, with the proof `curve
    /// withdraw-proof` printed (a file, or `-` for standard input).
    Withdraw {
        /// Pays the fee and the nullifier's rent.
        #[arg(long, value_name = "FILE")]
        keypair: PathBuf,
        /// The recipient's token account (owned by the leaf's recipient).
        #[arg(long)]
        to: Pubkey,
        /// The proof JSON.
        #[arg(long, value_name = "FILE")]
        proof: PathBuf,
    },
    /// Asks the endpoint's faucet for SOL (a local endpoint or a test cluster).
    Airdrop {
        /// Who receives it, as its key file.
        #[arg(long, value_name = "FILE")]
        keypair: PathBuf,
        /// How much.
        #[arg(long, default_value_t = 10)]
        sol: u64,
    },
    /// A token account's balance.
    Balance {
        /// The token account.
        account: Pubkey,
    },
    /// The program's anchored tip, deposits recorded, vault balance, the anchored payouts not
    /// yet withdrawn, and the collateral mint.
    Audit,
}

fn keypair(path: &std::path::Path) -> Result<Keypair, String> {
    solana_keypair::read_keypair_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

async fn run(args: Args) -> Result<Value, String> {
    let commitment = match args.commitment.as_str() {
        "processed" => CommitmentConfig::processed(),
        "confirmed" => CommitmentConfig::confirmed(),
        "finalized" => CommitmentConfig::finalized(),
        other => {
            return Err(format!(
                "--commitment {other}: one of processed, confirmed, finalized"
            ));
        }
    };
    let client = RpcClient::new_with_commitment(args.solana.clone(), commitment);
    match args.command {
        Command::TokenAccount {
            payer,
            owner,
            owner_keypair,
            amount,
        } => {
            let payer = keypair(&payer)?;
            let owner = match (owner, owner_keypair) {
                (Some(owner), _) => owner,
                (None, Some(path)) => keypair(&path)?.pubkey(),
                (None, None) => return Err("give --owner or --owner-keypair".into()),
            };
            let mint = config(&client)
                .await?
                .ok_or("the Anchor program is not initialised at this endpoint")?
                .mint;
            let account = Keypair::new();
            wallet::create_token_account(&client, &payer, &account, &mint, &owner, amount).await?;
            Ok(
                json!({"token_account": account.pubkey().to_string(), "mint": mint.to_string(), "amount": amount}),
            )
        }
        Command::Deposit {
            keypair: path,
            source,
            amount,
            recipient,
        } => {
            let depositor = keypair(&path)?;
            let recipient = match recipient {
                Some(text) => hex::decode(&text)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| format!("--recipient {text:?}: not 32 bytes of hex"))?,
                None => depositor.pubkey().to_bytes(),
            };
            let sequence = wallet::deposit(&client, &depositor, &source, amount, recipient).await?;
            Ok(json!({"sequence": sequence, "amount": amount, "recipient": hex::encode(recipient)}))
        }
        Command::Withdraw {
            keypair: path,
            to,
            proof,
        } => {
            let payer = keypair(&path)?;
            let text = if proof.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
            } else {
                std::fs::read_to_string(&proof).map_err(|e| format!("{}: {e}", proof.display()))?
            };
            let proof: Value =
                serde_json::from_str(&text).map_err(|e| format!("the proof is not JSON: {e}"))?;
            let args = wallet::withdraw_args(&proof)?;
            let (height, index, amount) = (args.height, args.index, args.amount);
            wallet::withdraw(&client, &payer, &to, args).await?;
            Ok(
                json!({"height": height, "index": index, "paid": amount.to_string(), "to": to.to_string()}),
            )
        }
        Command::Airdrop { keypair: path, sol } => {
            let who = keypair(&path)?.pubkey();
            curve_batch_poster::genesis::airdrop(&client, &[who], sol * LAMPORTS_PER_SOL).await?;
            Ok(json!({"to": who.to_string(), "sol": sol}))
        }
        Command::Balance { account } => {
            let balance = wallet::token_balance(&client, &account)
                .await?
                .ok_or_else(|| format!("no token account {account}"))?;
            Ok(json!({"account": account.to_string(), "balance": balance}))
        }
        Command::Audit => {
            let audit = wallet::audit(&client).await?;
            Ok(json!({
                "anchored_height": audit.anchored_height,
                "deposits": audit.deposits,
                "vault": audit.vault,
                "unpaid": audit.unpaid.to_string(),
                "mint": audit.mint.to_string(),
                "programs": audit.programs.iter().map(|record| json!({
                    "code_hash": hex::encode(record.hashes.code_hash),
                    "h_params": hex::encode(record.hashes.h_params),
                    "vk_hash": hex::encode(record.vk_hash),
                    "registered_slot": record.registered_slot,
                })).collect::<Vec<_>>(),
            }))
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(answer) => {
            println!("{answer}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
