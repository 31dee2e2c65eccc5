//! `curve keygen`: a node's two Ed25519 keys — the consensus key (votes, proposals, execution
//! attestations) and the network key (the transport's peer identity) — kept apart so that
//! rotating one never exposes the other. Each is a Solana-style JSON key file: an array of the
//! 64 bytes `secret seed ‖ public key`, created with mode 0600 (never over an existing file),
//! from the operating system's random source.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ed25519_dalek::SigningKey;
use rand_core::{OsRng, RngCore};

/// `curve keygen` arguments.
#[derive(clap::Args)]
pub struct KeygenArgs {
    /// Directory the key files go to (created if missing).
    #[arg(short, long, value_name = "DIR")]
    out: PathBuf,
    /// File name prefix: `<NAME>.consensus.json` and `<NAME>.network.json`.
    #[arg(long, default_value = "node")]
    name: String,
}

/// The Solana key-file text of `key`: `[b0,b1,…,b63]`.
pub fn key_file_text(key: &SigningKey) -> String {
    let bytes: Vec<String> = key
        .to_bytes()
        .iter()
        .chain(key.verifying_key().as_bytes())
        .map(|b| b.to_string())
        .collect();
    format!("[{}]", bytes.join(","))
}

/// Writes `text` to a new file with mode 0600; refuses to replace an existing file.
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        if path.exists() {
            format!("{} exists; keygen never replaces a key", path.display())
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `curve keygen`.
pub fn run_keygen(args: KeygenArgs) -> Result<ExitCode> {
    if args.name.is_empty()
        || !args
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        bail!(
            "--name {:?}: use letters, digits, `-` and `_` only (it becomes a file name)",
            args.name
        );
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let paths = ["consensus", "network"]
        .map(|role| (role, args.out.join(format!("{}.{role}.json", args.name))));
    if let Some((_, existing)) = paths.iter().find(|(_, path)| path.exists()) {
        bail!(
            "{} exists; keygen never replaces a key (choose another --name or --out)",
            existing.display()
        );
    }
    for (role, path) in &paths {
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let key = SigningKey::from_bytes(&seed);
        write_private(path, &key_file_text(&key))?;
        outln!(
            "{role} key {} -> {}",
            hex::encode(key.verifying_key().as_bytes()),
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
