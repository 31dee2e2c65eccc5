//! A slab on a dev chain: a small SLAB block (with its ORACLE) compiled and proved with the
//! 256×256 development key, a chain that accepts it, and the oracle deployed and funded.

use std::sync::OnceLock;

use curve_certificate::ProvingKey;
use curve_certificate::keys::{self, KeyStore};
use curve_formats::certificate::SizeClass;
use curve_formats::tx::{Action, Arg, ProgramImage, Value};
use curve_runtime::{MemoryStorage, Runtime, Status};

use super::*;

/// Small pools: the slab's segment stays a few hundred KiB.
pub const SLAB_SOURCE: &str = r#"
ORACLE "test:FEED" {
    HEARTBEAT ms=1_000
}

SLAB "perp:TEST" {
    MAKER_CLASS DLP allowance=8_000_000
    FEE maker_bps=2 taker_bps=5
    RISK imr_bps=500 mmr_bps=350
    INSTRUMENT "TEST-PERP" oracle="test:FEED" tick=5 lot=2 price_max=2_000 qty_max=400
    POOLS accounts=64 orders=256 positions=128 reservations=32 slices=64 trades=64 aggressor=32
}
"#;

pub const ORACLE: u64 = 1;
pub const SLAB: u64 = 2;

/// The development proving key of `class`, cached beside the other tests' keys.
fn cached_dev_pk(class: SizeClass, cell: &'static OnceLock<ProvingKey>) -> &'static ProvingKey {
    cell.get_or_init(|| {
        KeyStore::new(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("curve-keys"))
            .dev_keys(class, &mut |_| {})
            .expect("development keys")
    })
}

/// The 256×256 development proving key (a slab's certificate class).
pub fn dev_pk_256() -> &'static ProvingKey {
    static PK: OnceLock<ProvingKey> = OnceLock::new();
    cached_dev_pk(SizeClass::C256, &PK)
}

/// The 64×64 development proving key (a router's certificate class: its table has 17 slots).
pub fn dev_pk_64() -> &'static ProvingKey {
    static PK: OnceLock<ProvingKey> = OnceLock::new();
    cached_dev_pk(SizeClass::C64, &PK)
}

pub fn artifact(source: &str, template: &str) -> curve_compiler::Artifact {
    let checked = curvescript_check::check_source(source, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    curve_compiler::compile(&checked.script)
        .artifacts
        .into_iter()
        .find(|a| a.template == template)
        .unwrap_or_else(|| panic!("a {template} artifact"))
}

pub fn slab_image() -> &'static ProgramImage {
    static IMAGE: OnceLock<ProgramImage> = OnceLock::new();
    IMAGE.get_or_init(|| {
        curve_runtime::templates::prove_image(
            &artifact(SLAB_SOURCE, "slab"),
            "test.curve",
            SLAB_SOURCE,
            dev_pk_256(),
            [7; 32],
        )
        .expect("the slab's conditions hold")
    })
}

/// A dev chain with the 16×16, 64×64 and 256×256 development keys.
pub fn chain() -> Runtime<MemoryStorage> {
    let mut config = config(true, dev_vk_bytes());
    for (class, pk) in [
        (SizeClass::C64, dev_pk_64()),
        (SizeClass::C256, dev_pk_256()),
    ] {
        config.verifying_keys.push((
            curve_runtime::templates::class_index(class),
            keys::vk_bytes(&pk.vk),
        ));
    }
    Runtime::genesis(config, MemoryStorage::new()).expect("genesis")
}

pub fn deploy(runtime: &mut Runtime<MemoryStorage>, nonce: u64, image: ProgramImage) -> Status {
    let out = apply(
        runtime,
        vec![tx_with(
            "alice",
            nonce,
            60_000_000,
            1,
            Action::Deploy(image),
        )],
    );
    out.receipts[0].status.clone()
}

pub fn call(program: u64, entry: &str, args: &[u64], access: &[u64]) -> Action {
    Action::Call {
        program,
        entry: entry.into(),
        args: args.iter().map(|v| Arg::One(Value::U64(*v))).collect(),
        access: access.to_vec(),
    }
}

/// alice (user 1) and governance funded, the oracle deployed.
pub fn funded() -> Runtime<MemoryStorage> {
    let mut runtime = chain();
    let out = apply(
        &mut runtime,
        vec![
            relay(0, deposit(0, "alice", 1_000_000_000, QUORUM as usize)),
            relay(1, deposit(1, "governance", 1_000_000_000, QUORUM as usize)),
        ],
    );
    assert!(out.receipts.iter().all(|r| r.status == Status::Committed));
    let oracle = curve_runtime::templates::prove_image(
        &artifact(SLAB_SOURCE, "oracle"),
        "test.curve",
        SLAB_SOURCE,
        dev_pk(),
        [7; 32],
    )
    .expect("the oracle's conditions hold");
    assert_eq!(deploy(&mut runtime, 0, oracle), Status::Committed);
    runtime
}
