//! Proving and verifying. The statement is never taken on trust: callers build it from the
//! bytes they hold ([`Statement::in_class`]), and [`verify`] checks the proof against exactly
//! that.

use ark_bn254::Bn254;
use ark_groth16::Groth16;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use ark_snark::SNARK;
use curve_formats::certificate::{Row, RowError, SizeClass, Statement, StatementError, check_rows};
use curve_formats::program::ProgramIdentity;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::circuit::{CertificateCircuit, Witness};
use crate::keys::{KeyStore, PreparedVerifyingKey, ProvingKey, vk_hash};
use ark_groth16::prepare_verifying_key;
use sha2::{Digest, Sha256};

/// A Groth16 proof over BN254.
pub type Proof = ark_groth16::Proof<Bn254>;
/// Bytes of a compressed proof.
pub const PROOF_BYTES: usize = 128;

/// Why no proof was made.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    /// The table or rows do not fit the class.
    #[error(transparent)]
    Statement(#[from] StatementError),
    /// A row does not hold: there is nothing true to prove.
    #[error("condition row {index} ({row}) {error}")]
    RowFails {
        /// The row's index.
        index: usize,
        /// The row.
        row: Row,
        /// Why.
        error: RowError,
    },
    /// The prover failed.
    #[error("proving failed: {0}")]
    Prover(String),
}

/// Why a proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The bytes are not a proof.
    #[error("not a proof: {0}")]
    Malformed(String),
    /// The pairing check failed: the proof is not of this statement under this key.
    #[error("the proof does not verify against this statement and key")]
    Invalid,
}

/// Proves that `rows` hold over `params` for `program` in `class`; returns the statement and the
/// proof. Checks the rows natively first, so a false statement is reported, not attempted.
///
/// `blinding_seed` seeds the proof's zero-knowledge randomness (ChaCha20): take it from the
/// operating system (`OsRng`) for any proof that leaves the machine; a fixed seed gives
/// reproducible proof bytes for tests.
pub fn prove(
    pk: &ProvingKey,
    class: SizeClass,
    program: &ProgramIdentity,
    params: &[u64],
    rows: &[Row],
    blinding_seed: [u8; 32],
) -> Result<(Statement, Proof), ProveError> {
    let statement = Statement::in_class(class, program, params, rows)?;
    let proof = prove_statement(pk, class, &statement, params, rows, blinding_seed)?;
    Ok((statement, proof))
}

/// [`prove`] of a `statement` already built from `params` and `rows`.
fn prove_statement(
    pk: &ProvingKey,
    class: SizeClass,
    statement: &Statement,
    params: &[u64],
    rows: &[Row],
    blinding_seed: [u8; 32],
) -> Result<Proof, ProveError> {
    check_rows(class, params, rows).map_err(|(index, error)| ProveError::RowFails {
        index,
        row: rows[index],
        error,
    })?;
    let circuit = CertificateCircuit {
        class,
        public_inputs: Some(statement.public_inputs()),
        witness: Some(Witness::honest(class, params, rows)),
    };
    let mut rng = ChaCha20Rng::from_seed(blinding_seed);
    Groth16::<Bn254>::prove(pk, circuit, &mut rng).map_err(|e| ProveError::Prover(e.to_string()))
}

/// [`prove`] with a fixed `blinding_seed` (a reproducible proof: tests, simulations), reusing
/// the proof `store` kept from an earlier call with the same key, statement and seed.
///
/// The cache entry is named by SHA-256 of the verifying key, the class, the statement's public
/// inputs and the seed; those fix the proof's bytes (the statement commits to the parameters
/// and rows, which fix the witness), so a hit gives what proving again would. A cached proof
/// is verified against the statement before it is used; a missing, corrupt or foreign entry
/// is proved again and replaced. A cache that cannot be written only costs the next caller
/// the proving time. Proofs that leave the machine take OS randomness and never come here.
pub fn prove_cached(
    store: &KeyStore,
    pk: &ProvingKey,
    class: SizeClass,
    program: &ProgramIdentity,
    params: &[u64],
    rows: &[Row],
    blinding_seed: [u8; 32],
) -> Result<(Statement, Proof), ProveError> {
    let statement = Statement::in_class(class, program, params, rows)?;
    let mut named = Sha256::new();
    named.update(b"curve reproducible proof v1");
    named.update(vk_hash(&pk.vk));
    named.update(class.to_string());
    for input in statement.public_inputs() {
        let mut bytes = Vec::with_capacity(32);
        input
            .serialize_compressed(&mut bytes)
            .expect("serializing to memory");
        named.update(bytes);
    }
    named.update(blinding_seed);
    let path = store.proof_path(&named.finalize().into());
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(proof) = proof_from_bytes(&bytes)
        && verify(&prepare_verifying_key(&pk.vk), &statement, &proof).is_ok()
    {
        return Ok((statement, proof));
    }
    let proof = prove_statement(pk, class, &statement, params, rows, blinding_seed)?;
    let _ = store.keep(&path, &proof_to_bytes(&proof));
    Ok((statement, proof))
}

/// Verifies `proof` of `statement`.
pub fn verify(
    vk: &PreparedVerifyingKey,
    statement: &Statement,
    proof: &Proof,
) -> Result<(), VerifyError> {
    match Groth16::<Bn254>::verify_with_processed_vk(vk, &statement.public_inputs(), proof) {
        Ok(true) => Ok(()),
        Ok(false) => Err(VerifyError::Invalid),
        Err(e) => Err(VerifyError::Malformed(e.to_string())),
    }
}

/// The compressed proof (128 bytes).
pub fn proof_to_bytes(proof: &Proof) -> [u8; PROOF_BYTES] {
    let mut bytes = Vec::with_capacity(PROOF_BYTES);
    proof
        .serialize_compressed(&mut bytes)
        .expect("serializing to memory");
    bytes
        .try_into()
        .expect("a compressed BN254 proof is 128 bytes")
}

/// Reads a compressed proof, validating its points; refuses any other length.
pub fn proof_from_bytes(bytes: &[u8]) -> Result<Proof, VerifyError> {
    if bytes.len() != PROOF_BYTES {
        return Err(VerifyError::Malformed(format!(
            "{} bytes, a compressed proof has {PROOF_BYTES}",
            bytes.len()
        )));
    }
    Proof::deserialize_with_mode(bytes, Compress::Yes, Validate::Yes)
        .map_err(|e| VerifyError::Malformed(e.to_string()))
}
