//! The node's index in the `chain` column family: what clients ask for by height or hash.
//! JSON documents outside the state root, written in the same atomic RocksDB write as the
//! state of the height they describe, so the index never lags or leads the state.
//!
//! Keys: `identity` (chain id ‖ genesis hash), `height/<u64 BE>` (block summary with receipts),
//! `tx/<hash>` (height and index), `anchor/<u64 BE>` (anchor certificate). A block summary
//! carries its payout leaves, from which [`withdrawal_proof`] rebuilds the payout tree.

use anyhow::{Context, Result, bail};
use curve_consensus::{AnchorCertificate, DecidedBlock};
use curve_formats::batch::BatchHeader;
use curve_formats::encoding::{Decode, Encode};
use curve_formats::leaf::PayoutLeaf;
use curve_formats::merkle::MerkleTree;
use curve_runtime::{Receipt, Status};
use curve_store::RocksStorage;
use serde_json::{Value, json};

fn height_key(prefix: &str, height: u64) -> Vec<u8> {
    let mut key = prefix.as_bytes().to_vec();
    key.extend_from_slice(&height.to_be_bytes());
    key
}

fn tx_key(hash: &[u8; 32]) -> Vec<u8> {
    let mut key = b"tx/".to_vec();
    key.extend_from_slice(hash);
    key
}

/// The data directory's chain: written on first start, checked on every later one, so a node
/// never runs one chain's configuration over another chain's data.
pub fn check_identity(store: &RocksStorage, chain_id: u64, genesis: &[u8; 32]) -> Result<()> {
    let mut identity = chain_id.to_le_bytes().to_vec();
    identity.extend_from_slice(genesis);
    match store.index(b"identity")? {
        None => store.put_index(&[(b"identity".to_vec(), identity)], &[], true)?,
        Some(stored) if stored == identity => {}
        Some(stored) => {
            let other = stored
                .get(..8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
            if other == Some(chain_id) {
                bail!(
                    "the data directory holds chain {chain_id:#x} with another genesis \
                     (another committee or governance key); use a fresh data_dir"
                );
            }
            bail!(
                "the data directory belongs to chain {:#x}, this configuration is chain \
                 {chain_id:#x}; use a fresh data_dir",
                other.unwrap_or(0)
            );
        }
    }
    Ok(())
}

/// A header as JSON.
pub fn header_json(header: &BatchHeader) -> Value {
    json!({
        "height": header.height,
        "prev_root": hex::encode(header.prev_root),
        "state_root": hex::encode(header.state_root),
        "transactions_root": hex::encode(header.transactions_root),
        "withdrawal_root": hex::encode(header.withdrawal_root),
        "withdrawal_count": header.withdrawal_count,
        "withdrawal_total": header.withdrawal_total.to_string(),
        "timestamp_ms": header.timestamp_ms,
    })
}

/// A receipt as JSON.
pub fn receipt_json(receipt: &Receipt) -> Value {
    serde_json::to_value(ReceiptView::of(receipt)).expect("a receipt serialises")
}

/// A receipt's JSON fields, serialised straight to bytes: a block's summary carries every
/// receipt, and building a `Value` per receipt (a map, its keys, its strings) cost a node at
/// several thousand transactions a second about a tenth of its time.
#[derive(serde::Serialize)]
struct ReceiptView<'a> {
    tx_hash: String,
    action: &'a str,
    status: &'a str,
    /// `null` when committed.
    detail: Option<String>,
    gas_used: u64,
    fee: String,
    returns: &'a [u64],
    events: usize,
    program: Option<curve_runtime::ProgramId>,
}

impl<'a> ReceiptView<'a> {
    fn of(receipt: &'a Receipt) -> ReceiptView<'a> {
        ReceiptView {
            tx_hash: hex::encode(receipt.tx_hash),
            action: receipt.action,
            status: receipt.status.name(),
            detail: match &receipt.status {
                Status::Committed => None,
                Status::Reverted(revert) => Some(revert.trap.clone()),
                Status::Rejected(rejection) => Some(rejection.to_string()),
            },
            gas_used: receipt.gas_used,
            fee: receipt.fee.to_string(),
            returns: &receipt.returns,
            events: receipt.events.len(),
            program: receipt.program,
        }
    }
}

/// A block's summary under `height/<u64 BE>`.
#[derive(serde::Serialize)]
struct BlockSummary<'a> {
    height: u64,
    decided_at_ms: u64,
    executed_at_ms: u64,
    hash: String,
    view: u64,
    timestamp_ms: u64,
    header: Value,
    receipts: Vec<ReceiptView<'a>>,
    payouts: Vec<Value>,
}

/// Where a transaction landed, under `tx/<hash>`.
#[derive(serde::Serialize)]
struct Location {
    height: u64,
    index: usize,
}

/// The index entries of an executed block: its summary with header, receipts and payout
/// leaves (each with the withdrawal that made it), and where each transaction landed.
/// `decided_at_ms` and `executed_at_ms` are this node's wall clock (for latency measurements,
/// not consensus data).
///
/// A transaction that lands again (a faulty leader's repeat, or a replay) is rejected for its
/// spent nonce: that receipt does not hide the one that counted, so a rejected receipt is
/// indexed only for a transaction without a location yet (`located`: in an earlier block).
pub fn executed_entries(
    block: &DecidedBlock,
    header: &BatchHeader,
    receipts: &[Receipt],
    payouts: &[PayoutLeaf],
    decided_at_ms: u64,
    located: impl Fn(&[u8; 32]) -> bool,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    // Each committed withdrawal appends one leaf, in transaction order.
    let withdrawals = receipts
        .iter()
        .filter(|r| r.action == "withdraw" && matches!(r.status, Status::Committed));
    let payouts: Vec<Value> = payouts
        .iter()
        .zip(withdrawals)
        .map(|(leaf, receipt)| {
            json!({
                "tx_hash": hex::encode(receipt.tx_hash),
                "leaf": hex::encode(leaf.to_leaf_bytes()),
            })
        })
        .collect();
    let summary = BlockSummary {
        height: block.height,
        decided_at_ms,
        executed_at_ms: crate::driver::now_ms(),
        hash: hex::encode(block.hash),
        view: block.view,
        timestamp_ms: block.timestamp_ms,
        header: header_json(header),
        receipts: receipts.iter().map(ReceiptView::of).collect(),
        payouts,
    };
    // Serialising plain structs (strings, numbers, `Value`s) cannot fail.
    let mut puts = Vec::with_capacity(receipts.len() + 1);
    puts.push((
        height_key("height/", block.height),
        serde_json::to_vec(&summary).expect("a summary serialises"),
    ));
    let mut here = std::collections::BTreeSet::new();
    for (index, receipt) in receipts.iter().enumerate() {
        let first = here.insert(receipt.tx_hash);
        if matches!(receipt.status, Status::Rejected(_)) && (!first || located(&receipt.tx_hash)) {
            continue;
        }
        let location = Location {
            height: block.height,
            index,
        };
        let location = serde_json::to_vec(&location).expect("a location serialises");
        puts.push((tx_key(&receipt.tx_hash), location));
    }
    puts
}

/// Records an anchor certificate (readable as JSON, and in its canonical encoding under
/// `encoded`, which [`anchor_certificate`] reads back).
pub fn put_anchor(store: &RocksStorage, certificate: &AnchorCertificate) -> Result<()> {
    let document = json!({
        "encoded": hex::encode(certificate.to_bytes()),
        "header": header_json(&certificate.header),
        "signatures": certificate
            .signatures
            .iter()
            .map(|(replica, signature)| json!({"replica": replica, "signature": hex::encode(signature)}))
            .collect::<Vec<_>>(),
    });
    store
        .put_index(
            &[(
                height_key("anchor/", certificate.header.height),
                document.to_string().into_bytes(),
            )],
            &[],
            false,
        )
        .context("storing an anchor certificate")
}

fn read_json(store: &RocksStorage, key: &[u8]) -> Result<Option<Value>> {
    match store.index(key)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(
            serde_json::from_slice(&bytes).context("a corrupt index entry")?,
        )),
    }
}

/// The executed block at `height`.
pub fn block(store: &RocksStorage, height: u64) -> Result<Option<Value>> {
    read_json(store, &height_key("height/", height))
}

/// The anchor certificate ending at `height`.
pub fn anchor(store: &RocksStorage, height: u64) -> Result<Option<Value>> {
    read_json(store, &height_key("anchor/", height))
}

/// The anchor certificate at `height`, decoded.
pub fn anchor_certificate(store: &RocksStorage, height: u64) -> Result<Option<AnchorCertificate>> {
    let Some(document) = anchor(store, height)? else {
        return Ok(None);
    };
    let bytes = document["encoded"]
        .as_str()
        .and_then(|text| hex::decode(text).ok())
        .context("an anchor certificate without its encoding")?;
    let certificate = AnchorCertificate::from_bytes(&bytes)
        .map_err(|e| anyhow::anyhow!("a corrupt anchor certificate at {height}: {e}"))?;
    Ok(Some(certificate))
}

/// Whether transaction `hash` has a location (an unreadable entry counts as one: it is not
/// overwritten by a rejection).
pub fn located(store: &RocksStorage, hash: &[u8; 32]) -> bool {
    !matches!(store.index(&tx_key(hash)), Ok(None))
}

/// Where a transaction landed and its receipt.
pub fn transaction(store: &RocksStorage, hash: &[u8; 32]) -> Result<Option<Value>> {
    let Some(location) = read_json(store, &tx_key(hash))? else {
        return Ok(None);
    };
    let height = location["height"].as_u64().unwrap_or(0);
    let index = location["index"].as_u64().unwrap_or(0) as usize;
    let receipt = block(store, height)?.map(|b| b["receipts"][index].clone());
    Ok(Some(
        json!({"height": height, "index": index, "receipt": receipt}),
    ))
}

/// Payout `index` of the block at `height` with its inclusion proof against the block's
/// `withdrawal_root`: what the Anchor program's `withdraw` takes. `None` when the block is not
/// executed here (or pruned) or has no such leaf.
pub fn withdrawal_proof(
    store: &RocksStorage,
    chain_id: u64,
    height: u64,
    index: u64,
) -> Result<Option<Value>> {
    let Some(block) = block(store, height)? else {
        return Ok(None);
    };
    let mut leaves = Vec::new();
    let mut hashes = Vec::new();
    for payout in block["payouts"].as_array().into_iter().flatten() {
        let bytes = payout["leaf"]
            .as_str()
            .and_then(|text| hex::decode(text).ok())
            .context("a payout without its leaf")?;
        leaves.push(bytes);
        hashes.push(payout["tx_hash"].clone());
    }
    let Some(bytes) = leaves.get(index as usize) else {
        return Ok(None);
    };
    let leaf = PayoutLeaf::from_leaf_bytes(bytes, chain_id)
        .map_err(|e| anyhow::anyhow!("a corrupt payout leaf at {height}/{index}: {e}"))?;
    let tree = MerkleTree::from_leaves(&leaves)
        .map_err(|e| anyhow::anyhow!("the payout tree at {height}: {e}"))?;
    let header = &block["header"];
    if header["withdrawal_root"] != hex::encode(tree.root()) {
        bail!("the payouts indexed at {height} do not hash to the block's withdrawal root");
    }
    let proof = tree
        .proof(index)
        .context("a leaf below the count has a proof")?;
    let (origin, origin_id) = leaf.origin.to_parts();
    Ok(Some(json!({
        "height": height,
        "index": index,
        "tx_hash": hashes[index as usize],
        "recipient": hex::encode(leaf.recipient),
        "amount": leaf.amount.to_string(),
        "origin": origin,
        "origin_id": hex::encode(origin_id),
        "leaf": hex::encode(bytes),
        "proof": proof.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
        "withdrawal_root": header["withdrawal_root"],
        "withdrawal_count": header["withdrawal_count"],
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve_runtime::Rejection;

    fn receipt(tx_hash: [u8; 32], status: Status) -> Receipt {
        Receipt {
            tx_hash,
            action: "transfer",
            status,
            gas_used: 0,
            fee: 0,
            returns: Vec::new(),
            events: Vec::new(),
            program: None,
        }
    }

    fn spent_nonce() -> Status {
        Status::Rejected(Rejection::BadNonce {
            expected: 1,
            found: 0,
        })
    }

    /// The (hash, location) entries `executed_entries` writes for `receipts` at height 9.
    fn locations(receipts: &[Receipt], located: &[[u8; 32]]) -> Vec<([u8; 32], u64)> {
        let block = DecidedBlock {
            height: 9,
            hash: [0; 32],
            view: 10,
            timestamp_ms: 0,
            payload: Vec::new(),
        };
        let header = BatchHeader {
            height: 9,
            prev_root: [0; 32],
            state_root: [0; 32],
            transactions_root: [0; 32],
            withdrawal_root: [0; 32],
            withdrawal_count: 0,
            withdrawal_total: 0,
            timestamp_ms: 0,
        };
        executed_entries(&block, &header, receipts, &[], 0, |hash| {
            located.contains(hash)
        })
        .into_iter()
        .filter_map(|(key, value)| {
            let hash: [u8; 32] = key.strip_prefix(b"tx/")?.try_into().ok()?;
            let location: Value = serde_json::from_slice(&value).ok()?;
            assert_eq!(location["height"], 9);
            Some((hash, location["index"].as_u64()?))
        })
        .collect()
    }

    #[test]
    fn a_repeat_rejected_for_its_spent_nonce_does_not_hide_the_receipt_that_counted() {
        let (x, y) = ([1; 32], [2; 32]);
        // Twice in one block: the first stays.
        assert_eq!(
            locations(
                &[
                    receipt(x, Status::Committed),
                    receipt(y, spent_nonce()),
                    receipt(x, spent_nonce()),
                ],
                &[],
            ),
            vec![(x, 0), (y, 1)],
        );
        // Again in a later block: the earlier location stays.
        assert_eq!(locations(&[receipt(x, spent_nonce())], &[x]), vec![]);
        // A rejected transaction carried again and committed: the commit is where it landed.
        assert_eq!(
            locations(&[receipt(x, Status::Committed)], &[x]),
            vec![(x, 0)]
        );
    }
}
