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
    vk_of(&read("vk.alt_bn128"))
}

/// A verifying key from its `alt_bn128` bytes.
fn vk_of(bytes: &[u8]) -> VerifyingKeyBytes {
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
        h_conditions: input(2),
        h_params: input(3),
    };
    let certificate = &manifest["certificate"];
    // The program computes the version and the program identity input itself; both equal what
    // the prover stated.
    let computed = curve_anchor::certificate::public_inputs(&hashes);
    assert_eq!(computed[0], input(0), "the statement version");
    assert_eq!(
        computed[1],
        input(1),
        "H_code from the code, descriptor and layout hashes"
    );
    // The manifest prints field elements little-endian; the alt_bn128 layout is big-endian.
    for (name, mut value) in [
        ("h_code", computed[1]),
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
            program: pda::program(&hashes.code_hash, &hashes.h_params),
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
    let watched = [pda::program(&hashes.code_hash, &hashes.h_params)];

    // A flipped byte anywhere in the proof, or in any stated hash, fails the pairing check.
    for at in [0, 63, 100, 200, 255] {
        let mut bad = proof;
        bad[at] ^= 0x01;
        let ix = register_program_ix(&governance, vk_hash, hashes, bad);
        env.refused(6018, &[ix], &[&governance], &watched).await;
    }
    // The same valid certificate filed under another program's hashes — other bytecode,
    // interface or layout — or stating other conditions or parameters: the program identity
    // input is computed from the hashes it is filed under, so none verifies.
    for change in 0..5 {
        let mut other = hashes;
        let field = match change {
            0 => &mut other.code_hash,
            1 => &mut other.descriptor_hash,
            2 => &mut other.layout_hash,
            3 => &mut other.h_conditions,
            _ => &mut other.h_params,
        };
        field[31] ^= 0x01;
        let ix = register_program_ix(&governance, vk_hash, other, proof);
        env.refused(
            6018,
            &[ix],
            &[&governance],
            &[pda::program(&other.code_hash, &other.h_params)],
        )
        .await;
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
    let record: ProgramRecord = env
        .account(pda::program(&hashes.code_hash, &hashes.h_params))
        .await;
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

    // Degenerate keys anyone can forge proofs for: δ = γ (no phase-2 contribution), δ = −γ, an
    // identity point among α, β, γ, δ or the public-input points.
    let ceremony = forged_fixture().ceremony;
    let mut degenerates = Vec::new();
    let mut same = ceremony;
    same.delta = same.gamma;
    degenerates.push(same);
    let mut negated = ceremony;
    negated.delta = negated.gamma;
    // −γ: y = (y.c1, y.c0) with p − y in each coordinate.
    negated.delta[64..96].copy_from_slice(&fq_neg(&ceremony.gamma[64..96]));
    negated.delta[96..].copy_from_slice(&fq_neg(&ceremony.gamma[96..]));
    degenerates.push(negated);
    let mut no_alpha = ceremony;
    no_alpha.alpha = [0; 64];
    degenerates.push(no_alpha);
    let mut no_delta = ceremony;
    no_delta.delta = [0; 128];
    degenerates.push(no_delta);
    let mut no_input = ceremony;
    no_input.ic[2] = [0; 64];
    degenerates.push(no_input);
    for degenerate in degenerates {
        let hash = curve_anchor::certificate::vk_hash(&degenerate);
        let ix = register_vk_ix(&governance, hash, degenerate);
        env.refused(6016, &[ix], &[&governance], &[pda::vk(&hash)])
            .await;
    }

    // The development key with its public-input points swapped: another hash, but α, β, γ, δ
    // are the development setup's, whose trapdoor anyone can compute.
    let mut shuffled = vk;
    shuffled.ic.swap(1, 2);
    let hash = curve_anchor::certificate::vk_hash(&shuffled);
    assert!(!curve_anchor::certificate::is_dev_key(&hash));
    let ix = register_vk_ix(&governance, hash, shuffled);
    env.refused(6035, &[ix], &[&governance], &[pda::vk(&hash)])
        .await;

    // A key from an unrelated setup, under a wrong name.
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
    // Not while paused.
    env.set_paused(true).await;
    let ix = register_vk_ix(&governance, hash, ceremony);
    env.refused(6000, &[ix], &[&governance], &[pda::vk(&hash)])
        .await;
    env.set_paused(false).await;
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
        &[pda::program(&hashes.code_hash, &hashes.h_params)],
    )
    .await;
}

/// `tests/fixtures/forged_certificate.txt` (written by curve-certificate's tests): a disguised
/// development key, a proof it accepts of a false statement with the hashes it states, and a key
/// from an unrelated setup.
struct Forged {
    vk_hash: [u8; 32],
    vk: VerifyingKeyBytes,
    proof: [u8; 256],
    hashes: ProgramHashes,
    ceremony_hash: [u8; 32],
    ceremony: VerifyingKeyBytes,
}

fn forged_fixture() -> Forged {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/forged_certificate.txt"
    ))
    .expect("the forged-certificate fixture");
    let field = |name: &str| -> Vec<u8> {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no `{name}` in the fixture"));
        hex::decode(line.split_whitespace().nth(1).expect("a value")).expect("hex")
    };
    let h32 = |name: &str| -> [u8; 32] { field(name).try_into().expect("32 bytes") };
    Forged {
        vk_hash: h32("vk_hash"),
        vk: vk_of(&field("vk")),
        proof: field("proof").try_into().expect("256 bytes"),
        hashes: ProgramHashes {
            code_hash: h32("code_hash"),
            descriptor_hash: h32("descriptor_hash"),
            layout_hash: h32("layout_hash"),
            h_conditions: h32("h_conditions"),
            h_params: h32("h_params"),
        },
        ceremony_hash: h32("ceremony_vk_hash"),
        ceremony: vk_of(&field("ceremony_vk")),
    }
}

/// `p − x` for a big-endian base-field coordinate (BN254's p), by schoolbook subtraction.
fn fq_neg(x: &[u8]) -> [u8; 32] {
    const P: [u8; 32] = [
        0x30, 0x64, 0x4e, 0x72, 0xe1, 0x31, 0xa0, 0x29, 0xb8, 0x50, 0x45, 0xb6, 0x81, 0x81, 0x58,
        0x5d, 0x97, 0x81, 0x6a, 0x91, 0x68, 0x71, 0xca, 0x8d, 0x3c, 0x20, 0x8c, 0x16, 0xd8, 0x7c,
        0xfd, 0x47,
    ];
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for k in (0..32).rev() {
        let mut digit = i16::from(P[k]) - i16::from(x[k]) - borrow;
        borrow = i16::from(digit < 0);
        if digit < 0 {
            digit += 256;
        }
        out[k] = digit as u8;
    }
    out
}

/// A development key in disguise (γ and δ swapped) has a hash on no list, no degenerate
/// element — and a public trapdoor: the fixture's proof of a false statement verifies under it.
/// A check by hash alone registered it, and then the forged certificate; outside development
/// mode it is now refused for sharing elements with a development key.
#[tokio::test]
async fn a_disguised_development_key_with_a_forged_certificate_is_refused() {
    let forged = forged_fixture();
    assert_eq!(
        curve_anchor::certificate::vk_hash(&forged.vk),
        forged.vk_hash
    );
    assert!(!curve_anchor::certificate::is_dev_key(&forged.vk_hash));
    assert!(!curve_anchor::certificate::is_degenerate(&forged.vk));
    // The forgery is real: the on-chain verifier accepts it under the disguised key.
    curve_anchor::certificate::verify(&forged.vk, &forged.hashes, &forged.proof)
        .expect("the forged proof verifies under the disguised key");
    assert!(curve_anchor::certificate::shares_dev_element(&forged.vk));
    assert!(!curve_anchor::certificate::shares_dev_element(
        &forged.ceremony
    ));

    let env = &mut Env::with(false).await;
    let governance = env.governance.insecure_clone();
    let ix = register_vk_ix(&governance, forged.vk_hash, forged.vk);
    env.refused(6035, &[ix], &[&governance], &[pda::vk(&forged.vk_hash)])
        .await;
    // So the forged certificate has no key to be checked against.
    let ix = register_program_ix(&governance, forged.vk_hash, forged.hashes, forged.proof);
    let result = env.send(&[ix], &[&governance]).await;
    assert!(result.is_err(), "no key is registered under that name");
    // The unrelated key registers, and the forged proof does not verify under it.
    let ix = register_vk_ix(&governance, forged.ceremony_hash, forged.ceremony);
    env.send(&[ix], &[&governance])
        .await
        .expect("a ceremony key registers");
    let ix = register_program_ix(
        &governance,
        forged.ceremony_hash,
        forged.hashes,
        forged.proof,
    );
    env.refused(
        6018,
        &[ix],
        &[&governance],
        &[pda::program(
            &forged.hashes.code_hash,
            &forged.hashes.h_params,
        )],
    )
    .await;
}
