//! `curve prove` / `curve verify` as a user meets them: every example proves and verifies, one
//! byte of bytecode or parameters changed fails verification with the file named, and the
//! examples' statement and key hashes are pinned (the CI regression).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{curve_command, workspace};

/// Runs `curve` with development keys cached under the shared test target directory.
fn curve(args: &[&str]) -> Output {
    curve_command(args)
        .env(
            "CURVE_KEYS_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"),
        )
        .output()
        .expect("run curve")
}

fn ok(output: &Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Exit 1 and the reason on stderr.
fn refused(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn examples() -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(workspace().join("examples"))
        .expect("examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "curve"))
        .map(|p| p.file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

/// Compiles `example` into a fresh directory and proves it.
fn proved(example: &str, tmp: &Path) -> PathBuf {
    let out = tmp.join(example);
    let script = format!("examples/{example}.curve");
    ok(&curve(&[
        "compile",
        &script,
        "-o",
        out.to_str().expect("utf-8"),
    ]));
    let stdout = ok(&curve(&["prove", out.to_str().expect("utf-8")]));
    assert!(stdout.contains("proved "), "{stdout}");
    out
}

fn block_dirs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("output")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("manifest.json").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest"))
        .expect("JSON")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

#[test]
fn every_example_proves_and_verifies_and_the_hashes_are_pinned() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut pinned = String::new();
    for example in examples() {
        let out = proved(&example, tmp.path());
        let stdout = ok(&curve(&["verify", path(&out)]));
        let blocks = block_dirs(&out);
        assert!(!blocks.is_empty(), "{example} compiles no block");
        assert_eq!(
            stdout.matches("verified ").count(),
            blocks.len(),
            "{stdout}"
        );
        for dir in blocks {
            let certificate = &manifest(&dir)["certificate"];
            assert_eq!(certificate["proof"]["keys"], "development");
            pinned.push_str(&format!(
                "{example}/{}: class {} h_code {} h_conditions {} h_params {} vk {}\n",
                dir.file_name().expect("name").to_string_lossy(),
                certificate["size_class"].as_str().expect("class"),
                certificate["h_code"].as_str().expect("h_code"),
                certificate["h_conditions"].as_str().expect("h_conditions"),
                certificate["h_params"].as_str().expect("h_params"),
                certificate["proof"]["vk_sha256"].as_str().expect("vk"),
            ));
        }
    }
    // Re-bless with UPDATE_EXPECT=1 when a template, the statement format or the keys change.
    expect_test::expect_file!["golden/certificates.txt"].assert_eq(&pinned);
}

#[test]
fn one_changed_byte_of_code_or_parameters_fails_verification() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = proved("perp_sol", tmp.path());
    let dir = block_dirs(&out).remove(0);
    let pristine: Vec<(String, Vec<u8>)> = [
        "program.cvmb",
        "params.bin",
        "manifest.json",
        "certificate.proof",
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(dir.join(f)).expect("file")))
    .collect();
    let restore = || {
        for (file, bytes) in &pristine {
            std::fs::write(dir.join(file), bytes).expect("restore");
        }
    };
    let flip = |file: &str, at: usize| {
        let mut bytes = std::fs::read(dir.join(file)).expect("file");
        bytes[at] ^= 0x01;
        std::fs::write(dir.join(file), bytes).expect("write");
    };
    ok(&curve(&["verify", path(&dir)]));

    let code_len = pristine[0].1.len();
    for at in [0, 8, code_len / 2, code_len - 1] {
        flip("program.cvmb", at);
        let reason = refused(&curve(&["verify", path(&dir)]));
        assert!(reason.contains("program.cvmb"), "byte {at}: {reason}");
        restore();
    }
    for at in [0, 7, pristine[1].1.len() - 1] {
        flip("params.bin", at);
        let reason = refused(&curve(&["verify", path(&dir)]));
        // A script value changes the hash; a byte of the constant region (the last word) is
        // refused before any hash, as not the template's.
        assert!(
            reason.contains("params.bin does not match the manifest")
                || reason.contains("params.bin: parameter `keys_limit`"),
            "byte {at}: {reason}"
        );
        restore();
    }

    // An attacker who also rewrites the manifest's hashes is stopped by the proof.
    let mut rewritten = manifest(&dir);
    let params: Vec<u64> = pristine[1]
        .1
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    let mut raised = params.clone();
    raised[0] += 1;
    let class = curve_formats::certificate::SizeClass::from_name(
        rewritten["certificate"]["size_class"]
            .as_str()
            .expect("class"),
    )
    .expect("known");
    rewritten["certificate"]["h_params"] =
        Value::String(hex::encode(curve_formats::poseidon::to_bytes(
            &curve_formats::certificate::params_hash(class, &raised).expect("fits"),
        )));
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&rewritten).expect("json"),
    )
    .expect("write");
    let raised_bytes: Vec<u8> = raised.iter().flat_map(|w| w.to_le_bytes()).collect();
    std::fs::write(dir.join("params.bin"), raised_bytes).expect("write");
    let reason = refused(&curve(&["verify", path(&dir)]));
    assert!(reason.contains("does not verify"), "{reason}");
    restore();

    // Another proof file, or a proof whose recorded hash was updated with it.
    flip("certificate.proof", 5);
    let reason = refused(&curve(&["verify", path(&dir)]));
    assert!(
        reason.contains("not the proof the manifest records"),
        "{reason}"
    );
    let proof = std::fs::read(dir.join("certificate.proof")).expect("proof");
    let mut recorded = manifest(&dir);
    recorded["certificate"]["proof"]["sha256"] =
        Value::String(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&proof)));
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&recorded).expect("json"),
    )
    .expect("write");
    let reason = refused(&curve(&["verify", path(&dir)]));
    assert!(
        reason.contains("not a proof") || reason.contains("does not verify"),
        "{reason}"
    );
    restore();
    ok(&curve(&["verify", path(&dir)]));
}

/// The manifest cannot choose what is proven. A valid proof over a table that breaks the
/// template's conditions exists if the statement has no rows; once `curve verify` read the rows
/// from the manifest, so deleting them there made that proof pass. The rows are the template's.
#[test]
fn a_manifest_without_rows_and_a_zero_row_proof_over_broken_parameters_is_refused() {
    use curve_formats::certificate::{SizeClass, Statement, params_hash};
    let tmp = tempfile::tempdir().expect("tmp");
    let out = proved("perp_sol", tmp.path());
    let dir = block_dirs(&out).remove(0);
    let proved_files: Vec<(&str, Vec<u8>)> = ["params.bin", "manifest.json", "certificate.proof"]
        .into_iter()
        .map(|f| (f, std::fs::read(dir.join(f)).expect("file")))
        .collect();
    let pristine = manifest(&dir);
    let code = std::fs::read(dir.join("program.cvmb")).expect("code");
    let mut params: Vec<u64> = std::fs::read(dir.join("params.bin"))
        .expect("params")
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    let quorum = manifest(&dir)["params"]["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .position(|slot| slot["name"] == "quorum")
        .expect("a quorum slot");
    params[quorum] = 0; // a feed that would accept unsigned prices
    let class = SizeClass::C16;
    let store = curve_certificate::keys::KeyStore::new(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"),
    );
    let pk = store
        .dev_keys(class, &mut |_| {})
        .expect("development keys");
    let hash_at = |path: [&str; 2]| -> [u8; 32] {
        let text = pristine[path[0]][path[1]].as_str().expect("a hash");
        hex::decode(text)
            .expect("hex")
            .try_into()
            .expect("32 bytes")
    };
    let identity = curve_formats::program::ProgramIdentity::of_module(
        &code,
        hash_at(["descriptor", "hash"]),
        hash_at(["layout", "hash"]),
    );
    let (statement, proof) = curve_certificate::prove(&pk, class, &identity, &params, &[], [7; 32])
        .expect("no rows to break");
    assert_eq!(
        statement,
        Statement::in_class(class, &identity, &params, &[]).expect("fits")
    );
    let proof_bytes = curve_certificate::proof::proof_to_bytes(&proof);
    std::fs::write(dir.join("certificate.proof"), proof_bytes).expect("write");
    std::fs::write(
        dir.join("params.bin"),
        params
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .expect("write");
    let mut forged = manifest(&dir);
    let hex_of = |element| hex::encode(curve_formats::poseidon::to_bytes(element));
    forged["parameter_conditions"] = Value::Array(vec![]);
    forged["certificate"]["rows"] = Value::Array(vec![]);
    forged["certificate"]["h_conditions"] = Value::String(hex_of(&statement.conditions));
    forged["certificate"]["h_params"] =
        Value::String(hex_of(&params_hash(class, &params).expect("fits")));
    forged["certificate"]["proof"]["sha256"] = Value::String(hex::encode(
        <sha2::Sha256 as sha2::Digest>::digest(proof_bytes),
    ));
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&forged).expect("json"),
    )
    .expect("write");
    let reason = refused(&curve(&["verify", path(&dir)]));
    assert!(
        reason.contains("`parameter_conditions` are not the `oracle` template's"),
        "{reason}"
    );
    // With the conditions text left alone, the rows themselves give it away.
    let mut forged_rows = forged.clone();
    forged_rows["parameter_conditions"] = pristine["parameter_conditions"].clone();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&forged_rows).expect("json"),
    )
    .expect("write");
    let reason = refused(&curve(&["verify", path(&dir)]));
    assert!(
        reason.contains("`certificate.rows` are not the rows"),
        "{reason}"
    );
    // Back to the proved block: it verifies; naming another template or role in its manifest
    // is refused.
    for (file, bytes) in &proved_files {
        std::fs::write(dir.join(file), bytes).expect("restore");
    }
    ok(&curve(&["verify", path(&dir)]));
    for (key, value) in [("template", "slab"), ("role", "router")] {
        let mut other = pristine.clone();
        other[key] = Value::String(value.to_string());
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec_pretty(&other).expect("json"),
        )
        .expect("write");
        let reason = refused(&curve(&["verify", path(&dir)]));
        assert!(reason.contains(&format!("`{key}` is")), "{reason}");
    }
}

#[test]
fn verify_refuses_unproved_blocks_and_development_keys_outside_dev_mode() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("unproved");
    ok(&curve(&[
        "compile",
        "examples/perp_sol.curve",
        "-o",
        path(&out),
    ]));
    let reason = refused(&curve(&["verify", path(&out)]));
    assert!(reason.contains("no proof recorded"), "{reason}");

    let out = proved("perp_sol", tmp.path());
    let dir = block_dirs(&out).remove(0);
    let verify = curve(&["verify", path(&dir)]);
    ok(&verify);
    assert!(String::from_utf8_lossy(&verify.stderr).contains("INSECURE"));
    // The development verifying key handed over as a ceremony key is refused.
    let dev_vk = curve_certificate::keys::KeyStore::new(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"),
    )
    .dev_keys(curve_formats::certificate::SizeClass::C16, &mut |_| {})
    .expect("dev keys")
    .vk;
    let vk_file = tmp.path().join("dev.vk");
    std::fs::write(&vk_file, curve_certificate::keys::vk_bytes(&dev_vk)).expect("write");
    let reason = refused(&curve(&["verify", path(&dir), "--vk", path(&vk_file)]));
    assert!(reason.contains("refusing the development key"), "{reason}");
}

/// The certificate the Anchor program's tests verify on chain
/// (`anchor-program/programs/curve-anchor/tests/fixtures/oracle-pyth-SOLUSD`) is this compiler's
/// output for the example oracle, and `curve verify` accepts it. Proofs are randomised, so the
/// fixture is refreshed rather than compared byte for byte: run with
/// `UPDATE_ANCHOR_FIXTURE=1` when the compiler, the statement or the keys change.
#[test]
fn the_anchor_programs_fixture_is_this_compilers_certificate() {
    let fixture =
        workspace().join("anchor-program/programs/curve-anchor/tests/fixtures/oracle-pyth-SOLUSD");
    let tmp = tempfile::tempdir().expect("tmp");
    let out = proved("perp_sol", tmp.path());
    let fresh = out.join("oracle-pyth-SOLUSD");
    let files = [
        "manifest.json",
        "program.cvmb",
        "params.bin",
        "certificate.proof",
        "proof.alt_bn128",
        "vk.alt_bn128",
        "public_inputs.alt_bn128",
    ];
    if std::env::var_os("UPDATE_ANCHOR_FIXTURE").is_some() {
        for file in files {
            std::fs::copy(fresh.join(file), fixture.join(file)).expect("copy");
        }
    }
    for file in [
        "program.cvmb",
        "params.bin",
        "public_inputs.alt_bn128",
        "vk.alt_bn128",
    ] {
        assert!(
            std::fs::read(fresh.join(file)).expect("fresh")
                == std::fs::read(fixture.join(file)).expect("fixture"),
            "{file} of the Anchor fixture is stale: rerun with UPDATE_ANCHOR_FIXTURE=1"
        );
    }
    let (now, then) = (manifest(&fresh), manifest(&fixture));
    for field in ["size_class", "h_code", "h_conditions", "h_params"] {
        assert_eq!(
            now["certificate"][field], then["certificate"][field],
            "{field}"
        );
    }
    let stdout = ok(&curve(&["verify", path(&fixture)]));
    assert!(stdout.contains("verified oracle-pyth-SOLUSD"), "{stdout}");
}
