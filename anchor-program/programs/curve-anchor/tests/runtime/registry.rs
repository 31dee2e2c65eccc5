//! Verifying keys and program approvals, with the certificate `curve prove` made for the
//! example oracle (`tests/fixtures/oracle-pyth-SOLUSD`, development keys, 16×16).

use crate::harness::*;
use anchor_lang::InstructionData;
use anchor_lang::ToAccountMetas;
use anchor_lang::solana_program::instruction::Instruction;
use curve_anchor::{ProgramHashes, ProgramRecord, VerifyingKeyAccount, VerifyingKeyBytes};
use serde_json::Value;
use sha2::{Digest, Sha256};
use solana_keypair::Keypair;
use solana_signer::Signer;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/oracle-pyth-SOLUSD"
);

fn read(file: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURE}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn manifest() -> Value {
    serde_json::from_slice(&read("manifest.json")).expect("manifest.json")
}

/// The verifying key of `vk.alt_bn128`.
fn fixture_vk() -> VerifyingKeyBytes {
    let bytes = read("vk.alt_bn128");
    assert_eq!(bytes.len(), 64 + 3 * 128 + 5 * 64);
    let g2 = |k: usize| bytes[64 + 128 * k..][..128].try_into().unwrap();
    VerifyingKeyBytes {
        alpha: bytes[..64].try_into().unwrap(),
        beta: g2(0),
        gamma: g2(1),
        delta: g2(2),
        ic: core::array::from_fn(|k| bytes[448 + 64 * k..][..64].try_into().unwrap()),
    }
}

/// The registration the fixture states: names from the manifest, public inputs from
/// `public_inputs.alt_bn128`.
fn fixture_hashes() -> ProgramHashes {
    let manifest = manifest();
    let inputs = read("public_inputs.alt_bn128");
    let input = |k: usize| -> [u8; 32] { inputs[32 * k..][..32].try_into().unwrap() };
    let code = read("program.cvmb");
    let code_hash: [u8; 32] = Sha256::digest(&code).into();
    assert_eq!(hex::encode(code_hash), manifest["bytecode"]["sha256"]);
    let hashes = ProgramHashes {
        code_hash,
        descriptor_hash: hex32(&manifest["descriptor"]["hash"]),
        layout_hash: hex32(&manifest["layout"]["hash"]),
        h_code: input(1),
        h_conditions: input(2),
        h_params: input(3),
    };
    let certificate = &manifest["certificate"];
    assert_eq!(
        input(0),
        curve_anchor::certificate::public_inputs(&hashes)[0]
    );
    // The manifest prints field elements little-endian; the alt_bn128 layout is big-endian.
    for (name, mut value) in [
        ("h_code", hashes.h_code),
        ("h_conditions", hashes.h_conditions),
        ("h_params", hashes.h_params),
    ] {
        value.reverse();
        assert_eq!(
            certificate[name].as_str().unwrap(),
            hex::encode(value),
            "{name}"
        );
    }
    hashes
}

fn fixture_proof() -> [u8; 256] {
    read("proof.alt_bn128").try_into().expect("256 bytes")
}

fn register_vk_ix(governance: &Keypair, vk_hash: [u8; 32], key: VerifyingKeyBytes) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::RegisterVk {
            governance: governance.pubkey(),
            config: pda::config(),
            vk: pda::vk(&vk_hash),
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::RegisterVk { vk_hash, key }.data(),
    }
}

fn register_program_ix(
    governance: &Keypair,
    vk_hash: [u8; 32],
    hashes: ProgramHashes,
    proof: [u8; 256],
) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::RegisterProgram {
            governance: governance.pubkey(),
            config: pda::config(),
            vk: pda::vk(&vk_hash),
            program: pda::program(&hashes.code_hash),
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::RegisterProgram { hashes, proof }.data(),
    }
}

#[tokio::test]
async fn the_key_hash_is_the_circuits_name_for_the_development_key() {
    let vk = fixture_vk();
    let hash = curve_anchor::certificate::vk_hash(&vk);
    let manifest = manifest();
    assert_eq!(
        manifest["certificate"]["proof"]["vk_sha256"],
        hex::encode(hash)
    );
    assert_eq!(manifest["certificate"]["proof"]["keys"], "development");
    let listed = include_str!("../../../../../circuits/certificate/dev-keys.txt");
    let class = manifest["certificate"]["size_class"].as_str().unwrap();
    let line = listed
        .lines()
        .find(|l| l.starts_with(&format!("{class} ")))
        .expect("the class is listed");
    assert_eq!(
        line.split_whitespace().nth(1),
        Some(hex::encode(hash).as_str())
    );
    assert!(curve_anchor::certificate::is_dev_key(&hash));
}

#[tokio::test]
async fn a_certificate_from_curve_prove_registers_the_program() {
    let env = &mut Env::new().await;
    let governance = env.governance.insecure_clone();
    let vk = fixture_vk();
    let vk_hash = curve_anchor::certificate::vk_hash(&vk);
    env.send(&[register_vk_ix(&governance, vk_hash, vk)], &[&governance])
        .await
        .expect("register_vk");
    let stored: VerifyingKeyAccount = env.account(pda::vk(&vk_hash)).await;
    assert_eq!(
        (stored.vk_hash, stored.dev, stored.key),
        (vk_hash, true, vk)
    );

    let hashes = fixture_hashes();
    let proof = fixture_proof();
    let watched = [pda::program(&hashes.code_hash)];

    // A flipped byte anywhere in the proof, or in any stated hash, fails the pairing check.
    for at in [0, 63, 100, 200, 255] {
        let mut bad = proof;
        bad[at] ^= 0x01;
        let ix = register_program_ix(&governance, vk_hash, hashes, bad);
        env.refused(6018, &[ix], &[&governance], &watched).await;
    }
    // The same certificate stated for other bytecode (or other conditions, or parameters).
    for change in 0..3 {
        let mut other = hashes;
        let field = match change {
            0 => &mut other.h_code,
            1 => &mut other.h_conditions,
            _ => &mut other.h_params,
        };
        field[31] ^= 0x01;
        let ix = register_program_ix(&governance, vk_hash, other, proof);
        env.refused(6018, &[ix], &[&governance], &watched).await;
    }
    // A stranger cannot approve even a valid certificate.
    let stranger = keypair("stranger");
    env.fund(stranger.pubkey()).await;
    let ix = register_program_ix(&stranger, vk_hash, hashes, proof);
    env.refused(6001, &[ix], &[&stranger], &watched).await;
    // Nor can governance while paused.
    env.set_paused(true).await;
    let ix = register_program_ix(&governance, vk_hash, hashes, proof);
    env.refused(6000, &[ix], &[&governance], &watched).await;
    env.set_paused(false).await;

    let ix = register_program_ix(&governance, vk_hash, hashes, proof);
    env.send(&[ix], &[&governance])
        .await
        .expect("register_program");
    let record: ProgramRecord = env.account(pda::program(&hashes.code_hash)).await;
    assert_eq!(record.hashes, hashes);
    assert_eq!(record.vk_hash, vk_hash);
    assert_eq!(record.proof_hash, <[u8; 32]>::from(Sha256::digest(proof)));
}

#[tokio::test]
async fn keys_are_refused_when_forgeable_misnamed_dev_outside_dev_mode_or_not_from_governance() {
    let env = &mut Env::with(false).await;
    let governance = env.governance.insecure_clone();
    let vk = fixture_vk();
    let vk_hash = curve_anchor::certificate::vk_hash(&vk);
    let ix = register_vk_ix(&governance, vk_hash, vk);
    env.refused(6015, &[ix], &[&governance], &[pda::vk(&vk_hash)])
        .await;

    // δ = γ (no phase-2 contribution): a key anyone can forge proofs for.
    let mut degenerate = vk;
    degenerate.delta = degenerate.gamma;
    let hash = curve_anchor::certificate::vk_hash(&degenerate);
    let ix = register_vk_ix(&governance, hash, degenerate);
    env.refused(6016, &[ix], &[&governance], &[pda::vk(&hash)])
        .await;

    // A ceremony-like key (not a listed development key) under a wrong name.
    let mut ceremony = vk;
    ceremony.ic.swap(1, 2);
    let hash = curve_anchor::certificate::vk_hash(&ceremony);
    let mut wrong = hash;
    wrong[0] ^= 1;
    let ix = register_vk_ix(&governance, wrong, ceremony);
    env.refused(6017, &[ix], &[&governance], &[pda::vk(&wrong)])
        .await;

    let stranger = keypair("stranger");
    env.fund(stranger.pubkey()).await;
    let ix = register_vk_ix(&stranger, hash, ceremony);
    env.refused(6001, &[ix], &[&stranger], &[pda::vk(&hash)])
        .await;
    // Under its own name, from governance, outside dev mode: stored, not marked dev.
    let ix = register_vk_ix(&governance, hash, ceremony);
    env.send(&[ix], &[&governance]).await.expect("register_vk");
    let stored: VerifyingKeyAccount = env.account(pda::vk(&hash)).await;
    assert!(!stored.dev);
    // The fixture's certificate does not verify under a different key.
    let hashes = fixture_hashes();
    let ix = register_program_ix(&governance, hash, hashes, fixture_proof());
    env.refused(
        6018,
        &[ix],
        &[&governance],
        &[pda::program(&hashes.code_hash)],
    )
    .await;
}
