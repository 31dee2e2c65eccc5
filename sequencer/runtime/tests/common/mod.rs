//! Shared set-up: named test keys, a chain in dev mode with a 4-member committee, an ORACLE
//! program compiled and proved with the development keys, and signed transaction bytes.
#![allow(dead_code)]

pub mod slab;

use std::path::Path;
use std::sync::OnceLock;

use curve_certificate::keys::{self, KeyStore, ProvingKey};
use curve_formats::certificate::SizeClass;
use curve_formats::deposit::DepositRecord;
use curve_formats::encoding::Encode;
use curve_formats::tx::{Action, ProgramImage, PublicKey, Transaction};
use curve_runtime::{Batch, BatchOutcome, Config, MemoryStorage, Runtime, client};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

pub const CHAIN: u64 = 0xC0FFEE;
pub const COMMITTEE: usize = 4;
pub const QUORUM: u16 = 3;
pub const GAS: u64 = 10_000_000;

/// A key derived from a name (tests only).
pub fn key(name: &str) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("curve-runtime-test/{name}")).into())
}

pub fn public(name: &str) -> PublicKey {
    key(name).verifying_key().to_bytes()
}

pub fn member(i: usize) -> SigningKey {
    key(&format!("committee-{i}"))
}

/// The 16×16 development proving key, cached beside the other tests' keys.
pub fn dev_pk() -> &'static ProvingKey {
    static PK: OnceLock<ProvingKey> = OnceLock::new();
    PK.get_or_init(|| {
        KeyStore::new(Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"))
            .dev_keys(SizeClass::C16, &mut |_| {})
            .expect("development keys")
    })
}

pub const ORACLE_SOURCE: &str = r#"ORACLE "test:FEED" {
    HEARTBEAT ms=1_000
    STALENESS ms=5_000
    SIGNERS quorum=2 keys_max=4
    PRICE decimals=6 min=1 max=10_000_000_000
}
"#;

/// The feed tag of `test:FEED`.
pub fn feed_tag() -> u64 {
    curve_compiler::feed_tag("test:FEED")
}

/// `source`'s first block compiled, proved with the development keys and packaged.
pub fn image(source: &str) -> ProgramImage {
    image_with(source, |_| {}).expect("the example's conditions hold")
}

/// `source`'s first block compiled, its parameter table edited by `edit` (slot name → value) as
/// a hostile deployer would, then proved honestly over the edited table with the development
/// keys and packaged; `Err` when no certificate can prove the template's conditions over it.
pub fn image_with(
    source: &str,
    edit: impl FnOnce(&mut Vec<(&'static str, u64)>),
) -> Result<ProgramImage, curve_certificate::ProveError> {
    let checked = curvescript_check::check_source(source, None);
    assert!(
        !checked.diagnostics.iter().any(|d| d.is_error()),
        "{:?}",
        checked.diagnostics
    );
    let compiled = curve_compiler::compile(&checked.script);
    let mut artifact = compiled.artifacts[0].clone();
    let mut slots: Vec<(&'static str, u64)> =
        artifact.params.iter().map(|s| (s.name, s.value)).collect();
    edit(&mut slots);
    for (slot, (_, value)) in artifact.params.iter_mut().zip(slots) {
        slot.value = value;
    }
    curve_runtime::templates::prove_image(&artifact, "test.curve", source, dev_pk(), [7; 32])
}

/// Sets slot `name` to `value` in an [`image_with`] edit.
pub fn set(slots: &mut [(&'static str, u64)], name: &str, value: u64) {
    slots
        .iter_mut()
        .find(|(slot, _)| *slot == name)
        .unwrap_or_else(|| panic!("no parameter slot `{name}`"))
        .1 = value;
}

pub fn oracle_image() -> &'static ProgramImage {
    static IMAGE: OnceLock<ProgramImage> = OnceLock::new();
    IMAGE.get_or_init(|| image(ORACLE_SOURCE))
}

pub fn config(dev_mode: bool, vk: Vec<u8>) -> Config {
    Config {
        chain_id: CHAIN,
        governance: public("governance"),
        committee: (0..COMMITTEE)
            .map(|i| member(i).verifying_key().to_bytes())
            .collect(),
        quorum: QUORUM,
        dev_mode,
        verifying_keys: vec![(0, vk)],
    }
}

pub fn dev_vk_bytes() -> Vec<u8> {
    keys::vk_bytes(&dev_pk().vk)
}

/// A dev-mode chain with the 16×16 development key.
pub fn genesis() -> Runtime<MemoryStorage> {
    Runtime::genesis(config(true, dev_vk_bytes()), MemoryStorage::new()).expect("genesis")
}

/// `sender`'s signed transaction bytes.
pub fn tx(sender: &str, nonce: u64, action: Action) -> Vec<u8> {
    tx_with(sender, nonce, GAS, 1, action)
}

pub fn tx_with(
    sender: &str,
    nonce: u64,
    gas_limit: u64,
    fee_per_gas: u64,
    action: Action,
) -> Vec<u8> {
    client::sign(
        Transaction {
            chain_id: CHAIN,
            sender: public(sender),
            nonce,
            gas_limit,
            fee_per_gas,
            action,
        },
        &key(sender),
    )
    .to_bytes()
}

/// A deposit record of `amount` for `recipient`, attested by the first `signers` members.
pub fn deposit(sequence: u64, recipient: &str, amount: u64, signers: usize) -> Action {
    let record = DepositRecord {
        chain_id: CHAIN,
        sequence,
        depositor: [0xD0; 32],
        recipient: public(recipient),
        amount,
        slot: 1_000 + sequence,
    };
    let members: Vec<SigningKey> = (0..signers).map(member).collect();
    let pairs: Vec<(u16, &SigningKey)> = members
        .iter()
        .enumerate()
        .map(|(i, k)| (i as u16, k))
        .collect();
    Action::CreditDeposit {
        attestations: client::attest(&record, &pairs),
        record,
    }
}

/// Applies one batch at the next height, one second after the last.
pub fn apply(runtime: &mut Runtime<MemoryStorage>, transactions: Vec<Vec<u8>>) -> BatchOutcome {
    let height = runtime.meta().height + 1;
    runtime
        .apply_batch(&Batch {
            height,
            timestamp_ms: 1_000_000 + height * 1_000,
            transactions,
        })
        .expect("batch")
}

/// A deposit credit relayed by a key with no funds (credits pay no fee).
pub fn relay(nonce: u64, action: Action) -> Vec<u8> {
    tx_with("relayer", nonce, GAS, 0, action)
}

/// Transactions by which governance (from nonce 0) registers `feed-0` … `feed-{n-1}` as
/// program 1's oracle keys.
pub fn register_feed_keys(n: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            tx(
                "governance",
                i,
                Action::RegisterOracleKey {
                    program: 1,
                    key: public(&format!("feed-{i}")),
                },
            )
        })
        .collect()
}
