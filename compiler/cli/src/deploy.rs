//! `curve deploy`: proved blocks to a running node, one `Deploy` transaction each, signed by
//! the deployer's key; waits until each is executed and prints the program id it got.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, ProgramImage, Transaction};
use curve_node::client::Client;
use curve_node::config::read_key_file;
use ed25519_dalek::SigningKey;
use serde_json::Value;

/// The gas asked for beyond the action's intrinsic cost (the signature and framing bytes are
/// charged per byte; deploys run no code).
const GAS_MARGIN: u64 = 100_000;
/// How often a pending deploy is looked at.
const POLL: Duration = Duration::from_millis(100);

/// `curve deploy` arguments.
#[derive(clap::Args)]
pub struct DeployArgs {
    /// Block directories written by `curve compile` and `curve prove` (`program.cvmb`,
    /// `params.bin`, `manifest.json`, `certificate.proof`), deployed in the order given.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// A node's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8100")]
    node: String,
    /// The deploying account's key file (`curve keygen`'s format).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// Give up on a deploy not executed within this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
}

/// One block directory as a deploy image.
fn load_image(dir: &Path) -> Result<ProgramImage> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read(&path).with_context(|| {
            format!(
                "cannot read {} (a block directory holds what `curve compile` and `curve prove` wrote)",
                path.display()
            )
        })
    };
    let manifest = read("manifest.json")?;
    let parsed: Value = serde_json::from_slice(&manifest)
        .with_context(|| format!("{}: not JSON", dir.join("manifest.json").display()))?;
    let Some(template) = parsed["template"].as_str() else {
        bail!(
            "{}: no `template` field",
            dir.join("manifest.json").display()
        );
    };
    Ok(ProgramImage {
        template: template.to_string(),
        module: read("program.cvmb")?,
        params: read("params.bin")?,
        proof: read("certificate.proof")?,
        manifest,
    })
}

/// Runs `curve deploy`.
pub fn run_deploy(args: DeployArgs) -> Result<ExitCode> {
    let images = args
        .dirs
        .iter()
        .map(|dir| load_image(dir))
        .collect::<Result<Vec<_>>>()?;
    let key = SigningKey::from_bytes(&read_key_file(&args.key)?);
    let client = Client::new(&args.node)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let status = client.status().await?;
        let chain_id = status["chain_id"]
            .as_u64()
            .context("the node's status has no chain_id")?;
        let sender = key.verifying_key().to_bytes();
        let account: Value = client
            .call("curve_getAccount", vec![hex::encode(sender).into()])
            .await?;
        let first = account["nonce"]
            .as_u64()
            .context("the account has no nonce")?;
        for ((dir, image), nonce) in args.dirs.iter().zip(images).zip(first..) {
            let action = Action::Deploy(image);
            // The signed transaction is the body plus a 64-byte signature and its framing.
            let body_bytes = action.to_bytes().len() + 256;
            let tx = Transaction {
                chain_id,
                sender,
                nonce,
                gas_limit: curve_runtime::intrinsic_gas(&action, body_bytes) + GAS_MARGIN,
                fee_per_gas: 0,
                action,
            };
            let bytes = curve_runtime::client::sign(tx, &key).to_bytes();
            let hash = client
                .send(&bytes)
                .await
                .with_context(|| format!("deploying {}", dir.display()))?;
            let found = executed(&client, &hash, Duration::from_secs(args.timeout_s)).await?;
            let receipt = &found["receipt"];
            if receipt["status"] != "committed" {
                // The chain said no (exit 1); what could not be done at all exits 2.
                errln!(
                    "error: {}: the deploy {hash} was {} at height {}: {}",
                    dir.display(),
                    receipt["status"],
                    found["height"],
                    receipt["detail"]
                );
                return Ok(ExitCode::from(1));
            }
            outln!(
                "{}: program {} at height {} (transaction {hash})",
                dir.display(),
                receipt["program"],
                found["height"]
            );
        }
        Ok::<_, anyhow::Error>(ExitCode::SUCCESS)
    })
}

/// Waits until transaction `hash` is executed; its `curve_getTransaction` answer.
async fn executed(client: &Client, hash: &str, timeout: Duration) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let found = client.transaction(hash).await?;
        match found["state"].as_str() {
            Some("executed") => return Ok(found),
            Some("pending") if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(POLL).await;
            }
            Some("pending") => bail!(
                "transaction {hash} is still pending after {} s at {}",
                timeout.as_secs(),
                client.url()
            ),
            _ => bail!(
                "transaction {hash} is unknown at {} (dropped from the pool: look at the node's log)",
                client.url()
            ),
        }
    }
}
