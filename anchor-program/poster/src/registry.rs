//! Program approvals: every program the rollup deployed is registered with the Anchor program
//! under governance's key, its verifying key first (`register_vk`, once per key), then the
//! program itself (`register_program`, which verifies the certificate on chain against the
//! stored key and the program's hashes).
//!
//! The node gives each program's certificate already in the Anchor program's form
//! (`curve_getPrograms`: big-endian field elements, `alt_bn128` points). Nothing is checked
//! here that the program checks: a certificate it refuses is logged with the program's reason
//! and not sent again by this process. No state is kept: a program whose record account exists
//! is skipped, so a restarted registrar resumes where the chain is.

use std::collections::BTreeSet;

use anchor_lang::{InstructionData, ToAccountMetas};
use curve_anchor::{ProgramHashes, VerifyingKeyBytes};
use serde_json::Value;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_signer::Signer;
use solana_transaction::Instruction;

use crate::NodeRpc;
use crate::genesis::send_typed;
use solana_rpc_client_api::client_error::TransactionError;

/// Compute units for a registration: `register_program` runs a Groth16 check (four pairings
/// through the `alt_bn128` syscalls) and creates one account.
const COMPUTE_UNITS: u32 = 1_400_000;

/// `["program", code_hash, h_params]`.
pub fn program_address(code_hash: &[u8; 32], h_params: &[u8; 32]) -> Pubkey {
    Pubkey::find_program_address(&[b"program", code_hash, h_params], &curve_anchor::ID).0
}

/// `["vk", vk_hash]`.
pub fn vk_address(vk_hash: &[u8; 32]) -> Pubkey {
    Pubkey::find_program_address(&[b"vk", vk_hash], &curve_anchor::ID).0
}

/// One deployed program as `curve_getPrograms` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// The rollup's program id.
    pub program: u64,
    /// Its template.
    pub template: String,
    /// What the record names and the certificate states.
    pub hashes: ProgramHashes,
    /// The proof, `alt_bn128` layout.
    pub proof: [u8; 256],
    /// The verifying key's name (SHA-256 of its compressed bytes).
    pub vk_hash: [u8; 32],
    /// The verifying key.
    pub vk: VerifyingKeyBytes,
}

fn bytes_field<const N: usize>(entry: &Value, name: &str) -> Result<[u8; N], String> {
    let text = entry[name].as_str().ok_or_else(|| format!("no `{name}`"))?;
    hex::decode(text)
        .ok()
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .ok_or_else(|| format!("`{name}` is not {N} bytes of hex"))
}

/// A verifying key from its `alt_bn128` bytes (α ‖ β ‖ γ ‖ δ ‖ IC\[0..=4\]).
pub fn verifying_key_bytes(bytes: &[u8]) -> Result<VerifyingKeyBytes, String> {
    const IC: usize = curve_anchor::state::PUBLIC_INPUTS + 1;
    if bytes.len() != 64 + 3 * 128 + IC * 64 {
        return Err(format!(
            "a verifying key for {} public inputs is {} bytes, not {}",
            IC - 1,
            64 + 3 * 128 + IC * 64,
            bytes.len()
        ));
    }
    let g2 = |k: usize| -> [u8; 128] { bytes[64 + 128 * k..][..128].try_into().expect("128") };
    Ok(VerifyingKeyBytes {
        alpha: bytes[..64].try_into().expect("64"),
        beta: g2(0),
        gamma: g2(1),
        delta: g2(2),
        ic: core::array::from_fn(|k| bytes[448 + 64 * k..][..64].try_into().expect("64")),
    })
}

impl Registration {
    /// Reads one entry of `curve_getPrograms`.
    pub fn from_json(entry: &Value) -> Result<Registration, String> {
        let program = entry["program"]
            .as_u64()
            .ok_or_else(|| "no `program`".to_string())?;
        let context = |e: String| format!("program {program}: {e}");
        if let Some(error) = entry["error"].as_str() {
            return Err(context(format!(
                "the node cannot give its certificate: {error}"
            )));
        }
        let vk = hex::decode(entry["vk"].as_str().unwrap_or_default())
            .map_err(|_| context("`vk` is not hex".into()))?;
        Ok(Registration {
            program,
            template: entry["template"].as_str().unwrap_or_default().to_string(),
            hashes: ProgramHashes {
                code_hash: bytes_field(entry, "code_hash").map_err(context)?,
                descriptor_hash: bytes_field(entry, "descriptor_hash").map_err(context)?,
                layout_hash: bytes_field(entry, "layout_hash").map_err(context)?,
                h_conditions: bytes_field(entry, "h_conditions").map_err(context)?,
                h_params: bytes_field(entry, "h_params").map_err(context)?,
            },
            proof: bytes_field(entry, "proof").map_err(context)?,
            vk_hash: bytes_field(entry, "vk_hash").map_err(context)?,
            vk: verifying_key_bytes(&vk).map_err(context)?,
        })
    }

    /// Its record's address.
    pub fn address(&self) -> Pubkey {
        program_address(&self.hashes.code_hash, &self.hashes.h_params)
    }
}

fn compute_budget() -> Instruction {
    solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(COMPUTE_UNITS)
}

/// `register_vk` of `key` under `vk_hash`, by `governance`.
pub fn register_vk_instruction(
    governance: Pubkey,
    vk_hash: [u8; 32],
    key: VerifyingKeyBytes,
) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::RegisterVk {
            governance,
            config: crate::config_address(),
            vk: vk_address(&vk_hash),
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::RegisterVk { vk_hash, key }.data(),
    }
}

/// `register_program` of `registration`, by `governance`.
pub fn register_program_instruction(
    governance: Pubkey,
    registration: &Registration,
) -> Instruction {
    Instruction {
        program_id: curve_anchor::ID,
        accounts: curve_anchor::accounts::RegisterProgram {
            governance,
            config: crate::config_address(),
            vk: vk_address(&registration.vk_hash),
            program: registration.address(),
            system_program: anchor_lang::system_program::ID,
        }
        .to_account_metas(None),
        data: curve_anchor::instruction::RegisterProgram {
            hashes: registration.hashes,
            proof: registration.proof,
        }
        .data(),
    }
}

/// Registers the node's programs with the Anchor program, round by round.
pub struct Registrar {
    client: RpcClient,
    governance: Keypair,
    node: NodeRpc,
    /// Records known to exist (never looked up again).
    registered: BTreeSet<Pubkey>,
    /// Records the program refused (logged once, not sent again by this process).
    refused: BTreeSet<Pubkey>,
}

impl Registrar {
    /// A registrar sending as `governance` to the endpoint at `solana_url`.
    pub fn new(
        solana_url: String,
        commitment: CommitmentConfig,
        governance: Keypair,
        node: NodeRpc,
    ) -> Registrar {
        Registrar {
            client: RpcClient::new_with_commitment(solana_url, commitment),
            governance,
            node,
            registered: BTreeSet::new(),
            refused: BTreeSet::new(),
        }
    }

    /// How many programs this process has seen registered on chain.
    pub fn registered(&self) -> usize {
        self.registered.len()
    }

    async fn exists(&self, address: &Pubkey) -> Result<bool, String> {
        Ok(self
            .client
            .get_account_with_commitment(address, self.client.commitment())
            .await
            .map_err(|e| format!("solana: {e}"))?
            .value
            .is_some())
    }

    /// Sends one registration instruction: `Ok(true)` once it landed, `Ok(false)` when the
    /// program refused it (logged with the reason: sending it again would be refused again),
    /// `Err` when the endpoint failed (the round is retried).
    async fn submit(&self, instruction: Instruction, what: &str, of: &str) -> Result<bool, String> {
        let instructions = [compute_budget(), instruction];
        match send_typed(&self.client, &instructions, &[&self.governance]).await {
            Ok(()) => Ok(true),
            Err(e) => match e.get_transaction_error() {
                Some(TransactionError::InstructionError(_, reason)) => {
                    eprintln!(
                        "curve-batch-poster: the Anchor program refused {what} of {of}: {reason}; not sent again"
                    );
                    Ok(false)
                }
                _ => Err(format!("registering {what} of {of}: {e}")),
            },
        }
    }

    /// One round: every program the node lists whose record does not exist yet is registered
    /// (and its key before it, when missing). Returns how many were registered now. A program
    /// the Anchor program refuses is logged and left; a failure to reach either side ends the
    /// round with the error (the caller retries).
    pub async fn round(&mut self) -> Result<usize, String> {
        let listed = self
            .node
            .call("curve_getPrograms", Value::Array(Vec::new()))
            .await?;
        let entries = listed
            .as_array()
            .ok_or_else(|| "curve_getPrograms: not a list".to_string())?;
        let mut now = 0;
        for entry in entries {
            let registration = match Registration::from_json(entry) {
                Ok(registration) => registration,
                Err(e) => {
                    eprintln!("curve-batch-poster: registry: {e}; skipped");
                    continue;
                }
            };
            let address = registration.address();
            if self.registered.contains(&address) || self.refused.contains(&address) {
                continue;
            }
            if self.exists(&address).await? {
                self.registered.insert(address);
                continue;
            }
            let governance = self.governance.pubkey();
            let what = format!(
                "program {} ({}, record {address})",
                registration.program, registration.template
            );
            if !self.exists(&vk_address(&registration.vk_hash)).await? {
                let register =
                    register_vk_instruction(governance, registration.vk_hash, registration.vk);
                let key = format!("key {}", hex::encode(registration.vk_hash));
                if !self.submit(register, &key, &what).await? {
                    self.refused.insert(address);
                    continue;
                }
                println!("curve-batch-poster: registered the verifying {key}");
            }
            let register = register_program_instruction(governance, &registration);
            if self.submit(register, "the certificate", &what).await? {
                println!("curve-batch-poster: registered {what}");
                self.registered.insert(address);
                now += 1;
            } else {
                self.refused.insert(address);
            }
        }
        Ok(now)
    }
}
