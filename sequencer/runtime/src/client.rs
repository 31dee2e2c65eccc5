//! Building transactions as a client does: signing, committee attestations of deposits, and
//! the arguments of calls whose signatures are made off-chain (oracle price updates). Used by
//! `curve sim`, the tests and, later, the node's RPC clients.

use curve_compiler::templates::oracle;
use curve_formats::deposit::DepositRecord;
use curve_formats::oracle::PriceUpdate;
use curve_formats::tx::{Arg, CommitteeSignature, SignedTransaction, Transaction, Value};
use ed25519_dalek::{Signer, SigningKey};

/// Signs `tx` with `key`.
pub fn sign(tx: Transaction, key: &SigningKey) -> SignedTransaction {
    let signature = key.sign(&tx.signing_message()).to_bytes();
    SignedTransaction { tx, signature }
}

/// Committee signatures over a deposit record by `members` (index, key), in index order.
pub fn attest(record: &DepositRecord, members: &[(u16, &SigningKey)]) -> Vec<CommitteeSignature> {
    let message = record.attestation_message();
    members
        .iter()
        .map(|(member, key)| CommitteeSignature {
            member: *member,
            signature: key.sign(&message).to_bytes(),
        })
        .collect()
}

/// The arguments of an ORACLE `update` on chain `chain_id`: the price signed by `signers`
/// (registered key index, key) over `curve_formats::oracle::PriceUpdate::message`, indices
/// increasing; the arrays are padded to the template's 16 slots.
pub fn oracle_update_args(
    chain_id: u64,
    feed_tag: u64,
    price: u64,
    publish_ms: u64,
    signers: &[(u64, &SigningKey)],
) -> Vec<Arg> {
    let message = PriceUpdate {
        feed: feed_tag,
        price,
        publish_ms,
    }
    .message(chain_id);
    let slots = oracle::KEYS_MAX as usize;
    let mut indices = vec![Value::U64(0); slots];
    let mut signatures = vec![Value::Signature([0; 64]); slots];
    for (slot, (index, key)) in signers.iter().enumerate().take(slots) {
        indices[slot] = Value::U64(*index);
        signatures[slot] = Value::Signature(key.sign(&message).to_bytes());
    }
    vec![
        Arg::One(Value::U64(price)),
        Arg::One(Value::U64(publish_ms)),
        Arg::One(Value::U64(signers.len() as u64)),
        Arg::Many(indices),
        Arg::Many(signatures),
    ]
}
