//! `curve keygen` as an operator meets it: two distinct Solana-style key files whose public
//! halves belong to their secrets and match what it printed, readable by the owner only, and
//! never an existing key overwritten.

mod common;

use common::curve_command;
use ed25519_dalek::SigningKey;

fn read(path: &std::path::Path) -> SigningKey {
    let bytes: Vec<u8> = serde_json::from_str(&std::fs::read_to_string(path).expect("readable"))
        .expect("a JSON byte array");
    let bytes: [u8; 64] = bytes.try_into().expect("64 bytes");
    SigningKey::from_keypair_bytes(&bytes).expect("the public half is the secret's")
}

/// `curve keygen --out dir --name name`.
fn keygen(dir: &std::path::Path, name: &str) -> std::process::Output {
    curve_command(&[
        "keygen",
        "--out",
        dir.to_str().expect("utf-8"),
        "--name",
        name,
    ])
    .output()
    .expect("runs")
}

#[test]
fn keygen_writes_two_private_key_files_and_never_overwrites() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("keygen");
    let _ = std::fs::remove_dir_all(&dir);
    let run = keygen(&dir, "n0");
    assert!(run.status.success(), "{run:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let consensus = read(&dir.join("n0.consensus.json"));
    let network = read(&dir.join("n0.network.json"));
    assert_ne!(consensus.to_bytes(), network.to_bytes());
    for key in [&consensus, &network] {
        assert!(
            stdout.contains(&hex::encode(key.verifying_key().as_bytes())),
            "{stdout}"
        );
    }
    #[cfg(unix)]
    for file in ["n0.consensus.json", "n0.network.json"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(file))
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // Again: refused, the keys untouched.
    let again = keygen(&dir, "n0");
    assert!(!again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("keygen never replaces a key"));
    assert_eq!(
        read(&dir.join("n0.consensus.json")).to_bytes(),
        consensus.to_bytes()
    );
    // A name that is not a plain file name is refused.
    let bad = keygen(&dir, "../x");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("it becomes a file name"));
    assert!(!dir.join("../x.consensus.json").exists());
}
