//! Signed transactions for load generators and tests: deposits the committee attests (a
//! localnet's keys are on disk) and transfers between funded accounts.

use curve_formats::deposit::DepositRecord;
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, Transaction};
use curve_runtime::client::{attest, sign};
use ed25519_dalek::SigningKey;

/// Gas limit of a transfer or deposit credit (above what either uses, and small: a block
/// admits a transaction only while its limit fits in the block's remaining gas).
pub const GAS_LIMIT: u64 = 100_000;

/// A deposit of `amount` to `recipient`, attested by `committee` (index, key) — a quorum of
/// them — and sent by `recipient` at `nonce`.
pub fn deposit(
    chain_id: u64,
    sequence: u64,
    recipient: &SigningKey,
    nonce: u64,
    amount: u64,
    committee: &[(u16, &SigningKey)],
) -> Vec<u8> {
    let record = DepositRecord {
        chain_id,
        sequence,
        depositor: [0; 32],
        recipient: recipient.verifying_key().to_bytes(),
        amount,
        slot: sequence,
    };
    let action = Action::CreditDeposit {
        attestations: attest(&record, committee),
        record,
    };
    signed(chain_id, recipient, nonce, action)
}

/// A transfer of `amount` from `from` (at `nonce`) to `to`.
pub fn transfer(
    chain_id: u64,
    from: &SigningKey,
    nonce: u64,
    to: [u8; 32],
    amount: u128,
) -> Vec<u8> {
    signed(chain_id, from, nonce, Action::Transfer { to, amount })
}

/// `action` from `sender` at `nonce`, with [`GAS_LIMIT`] and no fee, signed.
fn signed(chain_id: u64, sender: &SigningKey, nonce: u64, action: Action) -> Vec<u8> {
    let tx = Transaction {
        chain_id,
        sender: sender.verifying_key().to_bytes(),
        nonce,
        gas_limit: GAS_LIMIT,
        fee_per_gas: 0,
        action,
    };
    sign(tx, sender).to_bytes()
}
