//! The deposit watcher: one per committee member, beside its node. It reads the Anchor
//! program's deposit records (`["deposit", sequence]`, below the config's `next_deposit`) and
//! hands every record its node has not credited to the node (`curve_observeDeposit`); the node
//! signs it, shares the attestation with the committee, and the member whose turn it is sends
//! the one credit transaction (see `curve_node::deposits` in the main workspace).
//!
//! It keeps only a cursor: the lowest sequence not yet known credited. An uncredited record is
//! handed over again every round, so an attestation lost to a restarted or partitioned peer is
//! sent again until the credit lands.

use anchor_lang::AccountDeserialize;
use curve_anchor::{Config, DepositAccount};
use curve_formats::encoding::Encode;
use serde_json::json;
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;

use crate::config_address;
use crate::source::NodeRpc;

/// Most records handed over in one round.
const ROUND_MAX: u64 = 256;

/// A deposit record's PDA.
pub fn deposit_address(sequence: u64) -> Pubkey {
    Pubkey::find_program_address(&[b"deposit", &sequence.to_le_bytes()], &curve_anchor::ID).0
}

/// What one round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Records the program holds (its `next_deposit`).
    pub recorded: u64,
    /// Records below this are credited on the rollup.
    pub credited_below: u64,
    /// Records handed to the node this round.
    pub observed: u64,
}

/// Reads deposit records from Solana and hands them to one node.
pub struct DepositWatcher {
    solana: RpcClient,
    node: NodeRpc,
    cursor: u64,
}

impl DepositWatcher {
    /// A watcher reading `solana_url` at `commitment` (a deposit counts once it reaches it:
    /// `finalized` on a real cluster) and handing records to `node`.
    pub fn new(solana_url: String, commitment: CommitmentConfig, node: NodeRpc) -> Self {
        DepositWatcher {
            solana: RpcClient::new_with_commitment(solana_url, commitment),
            node,
            cursor: 0,
        }
    }

    /// One round: every record from the cursor (at most [`ROUND_MAX`]) that the node has not
    /// credited is handed to it.
    pub async fn round(&mut self) -> Result<Round, String> {
        let config = self.config().await?;
        let end = config
            .next_deposit
            .min(self.cursor.saturating_add(ROUND_MAX));
        let mut observed = 0;
        for sequence in self.cursor..end {
            let credited = self
                .node
                .call("curve_getDeposit", json!([sequence]))
                .await?["credited"]
                .as_bool()
                .ok_or_else(|| format!("curve_getDeposit {sequence}: no `credited` answer"))?;
            if credited {
                if sequence == self.cursor {
                    self.cursor += 1;
                }
                continue;
            }
            let Some(record) = self.record(sequence).await? else {
                // Counted by the config but not visible at this commitment yet.
                break;
            };
            let bytes = record.record(config.chain_id).to_bytes();
            self.node
                .call("curve_observeDeposit", json!([hex::encode(bytes)]))
                .await
                .map_err(|e| format!("deposit {sequence}: {e}"))?;
            observed += 1;
        }
        Ok(Round {
            recorded: config.next_deposit,
            credited_below: self.cursor,
            observed,
        })
    }

    async fn config(&self) -> Result<Config, String> {
        let account = self
            .solana
            .get_account_with_commitment(&config_address(), self.solana.commitment())
            .await
            .map_err(|e| format!("solana: {e}"))?
            .value
            .ok_or("solana: the Anchor program has no config account here")?;
        Config::try_deserialize(&mut account.data.as_slice())
            .map_err(|e| format!("solana: the config account: {e}"))
    }

    async fn record(&self, sequence: u64) -> Result<Option<DepositAccount>, String> {
        let Some(account) = self
            .solana
            .get_account_with_commitment(&deposit_address(sequence), self.solana.commitment())
            .await
            .map_err(|e| format!("solana: {e}"))?
            .value
        else {
            return Ok(None);
        };
        if account.owner != curve_anchor::ID {
            return Err(format!(
                "solana: deposit record {sequence} is owned by {}, not the program",
                account.owner
            ));
        }
        let record = DepositAccount::try_deserialize(&mut account.data.as_slice())
            .map_err(|e| format!("solana: deposit record {sequence}: {e}"))?;
        if record.sequence != sequence {
            return Err(format!(
                "solana: the record at deposit {sequence}'s address says sequence {}",
                record.sequence
            ));
        }
        Ok(Some(record))
    }
}
