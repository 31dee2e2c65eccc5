//! The engine differential at the runtime's level (issue 30): two replicas of a chain with an
//! oracle and a SLAB, one executing calls on the JIT and one on the interpreter, apply the same
//! random batches — makers placing and cancelling orders (valid and not), batch opens, oracle
//! updates, governance setting maker classes, views of accounts and exposures, arguments out of
//! every range — and give byte-identical receipts (status, trap kind and pc, gas, fee, returns,
//! events), batch headers and state roots after every batch. A coverage printout counts what
//! ran; the seed is printed and `ENGINES_SEED` replays it.

mod common;

use common::slab::*;
use common::*;
use curve_formats::tx::Action;
use curve_runtime::{Batch, ExecutionEngine, MemoryStorage, Runtime, Status};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

const MAKERS: [&str; 3] = ["alice", "bob", "carol"];
const BATCHES: usize = 24;
const PER_BATCH: usize = 24;

/// The slab world on one replica: alice, bob and carol funded, the oracle with two feed keys,
/// the slab deployed with its view bound, alice and bob designated LPs.
fn world(engine: ExecutionEngine) -> Runtime<MemoryStorage> {
    let mut runtime = funded();
    runtime.set_engine(engine);
    assert_eq!(
        deploy(&mut runtime, 1, slab_image().clone()),
        Status::Committed
    );
    let setup = apply(
        &mut runtime,
        vec![
            relay(2, deposit(2, "bob", 1_000_000_000, QUORUM as usize)),
            relay(3, deposit(3, "carol", 1_000_000_000, QUORUM as usize)),
            tx(
                "governance",
                0,
                Action::BindViews {
                    program: SLAB,
                    views: vec![ORACLE],
                },
            ),
            tx(
                "governance",
                1,
                Action::RegisterOracleKey {
                    program: ORACLE,
                    key: public("feed-0"),
                },
            ),
            tx(
                "governance",
                2,
                Action::RegisterOracleKey {
                    program: ORACLE,
                    key: public("feed-1"),
                },
            ),
        ],
    );
    assert!(
        setup.receipts.iter().all(|r| r.status == Status::Committed),
        "{:?}",
        setup.receipts
    );
    let (alice, bob) = (user_id(&runtime, "alice"), user_id(&runtime, "bob"));
    let classes = apply(
        &mut runtime,
        vec![
            tx(
                "governance",
                3,
                call(SLAB, "set_maker_class", &[alice, 1], &[ORACLE]),
            ),
            tx(
                "governance",
                4,
                call(SLAB, "set_maker_class", &[bob, 1], &[ORACLE]),
            ),
        ],
    );
    assert!(
        classes
            .receipts
            .iter()
            .all(|r| r.status == Status::Committed),
        "{:?}",
        classes.receipts
    );
    runtime
}

fn user_id(runtime: &Runtime<MemoryStorage>, name: &str) -> u64 {
    runtime.account(&public(name)).expect("funded").user
}

fn nonce(runtime: &Runtime<MemoryStorage>, name: &str) -> u64 {
    runtime.account(&public(name)).map_or(0, |a| a.nonce)
}

/// What one random transaction exercises (for the coverage printout).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Place,
    Cancel,
    BatchOpen,
    Account,
    Exposure,
    Class,
    Update,
    Wild,
}

/// One random transaction of `batch` and what it exercises. Nonces are counted per sender;
/// every transaction below is admitted or rejected without touching the nonce in the same way
/// on both replicas, so a wrong guess only makes later ones of that sender rejected on both.
fn random_tx(
    rng: &mut ChaCha8Rng,
    runtime: &Runtime<MemoryStorage>,
    nonces: &mut std::collections::BTreeMap<&'static str, u64>,
    now_ms: u64,
) -> (Kind, Vec<u8>) {
    let mut pick = |n: u64| rng.next_u64() % n;
    let maker = MAKERS[pick(3) as usize];
    let user = user_id(runtime, maker);
    let kind = match pick(16) {
        0..=5 => Kind::Place,
        6..=8 => Kind::Cancel,
        9 => Kind::BatchOpen,
        10 => Kind::Account,
        11 => Kind::Exposure,
        12 => Kind::Class,
        13 => Kind::Update,
        _ => Kind::Wild,
    };
    let (sender, action) = match kind {
        Kind::Place => {
            // Mostly on the tick and lot grid, near a mid of 1,000; sometimes off it or out
            // of range.
            let side = if pick(20) == 0 { 2 } else { pick(2) };
            let offset = 5 * (1 + pick(40));
            let mut price = if side == 0 {
                1_000 - offset
            } else {
                1_000 + offset
            };
            if pick(12) == 0 {
                price = [0, 3, 2_005, 999]
                    .into_iter()
                    .nth(pick(4) as usize)
                    .expect("4");
            }
            let qty = if pick(12) == 0 {
                [0, 3, 402][pick(3) as usize]
            } else {
                2 * (1 + pick(30))
            };
            (
                maker,
                call(
                    SLAB,
                    "place_order",
                    &[user, pick(9) / 8, side, price, qty],
                    &[ORACLE],
                ),
            )
        }
        Kind::Cancel => (
            maker,
            call(SLAB, "cancel_order", &[user, pick(60)], &[ORACLE]),
        ),
        Kind::BatchOpen => (maker, call(SLAB, "batch_open", &[pick(9) / 8], &[ORACLE])),
        Kind::Account => (maker, call(SLAB, "account", &[user], &[ORACLE])),
        Kind::Exposure => (
            maker,
            call(SLAB, "exposure", &[user, pick(9) / 8], &[ORACLE]),
        ),
        Kind::Class => {
            let target = user_id(runtime, MAKERS[pick(3) as usize]);
            (
                "governance",
                call(SLAB, "set_maker_class", &[target, pick(3)], &[ORACLE]),
            )
        }
        Kind::Update => {
            let signers = [key("feed-0"), key("feed-1")];
            let count = 1 + pick(2) as usize;
            let pairs: Vec<(u64, &ed25519_dalek::SigningKey)> =
                (0..count as u64).zip(signers.iter()).collect();
            let price = 900 + pick(200);
            let args = curve_runtime::client::oracle_update_args(
                CHAIN,
                curve_compiler::feed_tag("test:FEED"),
                price,
                now_ms.saturating_sub(pick(8_000)),
                &pairs,
            );
            (
                maker,
                Action::Call {
                    program: ORACLE,
                    entry: "update".into(),
                    args,
                    access: Vec::new(),
                },
            )
        }
        Kind::Wild => {
            // Any words at all, as the sender's own user.
            let words = [
                user,
                pick(4),
                rng_word(&mut pick),
                rng_word(&mut pick),
                rng_word(&mut pick),
            ];
            (maker, call(SLAB, "place_order", &words, &[ORACLE]))
        }
    };
    let next = nonces
        .entry(sender)
        .or_insert_with(|| nonce(runtime, sender));
    let bytes = tx_with(sender, *next, GAS, 1, action);
    *next += 1;
    (kind, bytes)
}

/// A word from the edges of the u64 range or small.
fn rng_word(pick: &mut impl FnMut(u64) -> u64) -> u64 {
    match pick(4) {
        0 => u64::MAX - pick(3),
        1 => pick(1 << 62) << 2,
        _ => pick(3_000),
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // The test reads its replay seed; the library reads nothing.
fn the_jit_and_the_interpreter_give_the_same_receipts_and_roots() {
    let seed = std::env::var("ENGINES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xE261_u64);
    println!("engine differential: seed {seed} (ENGINES_SEED={seed} replays it)");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut jit = world(ExecutionEngine::Jit);
    let mut interpreted = world(ExecutionEngine::Interpreter);
    assert_eq!(jit.root(), interpreted.root());
    let mut coverage = std::collections::BTreeMap::<(Kind, &str), u64>::new();
    let mut reverts = std::collections::BTreeSet::new();
    let mut gas = 0u64;
    for _ in 0..BATCHES {
        let height = jit.meta().height + 1;
        let timestamp_ms = jit.meta().timestamp_ms + 250 + rng.next_u64() % 2_000;
        let mut nonces = std::collections::BTreeMap::new();
        let (kinds, transactions): (Vec<Kind>, Vec<Vec<u8>>) = (0..PER_BATCH)
            .map(|_| random_tx(&mut rng, &jit, &mut nonces, timestamp_ms))
            .unzip();
        let batch = Batch {
            height,
            timestamp_ms,
            transactions,
        };
        let a = jit.apply_batch(&batch).expect("conserved");
        let b = interpreted.apply_batch(&batch).expect("conserved");
        for (index, (x, y)) in a.receipts.iter().zip(&b.receipts).enumerate() {
            assert_eq!(
                x, y,
                "batch {height} tx {index} ({:?}): the engines differ",
                kinds[index]
            );
        }
        assert_eq!(a.header, b.header, "batch {height}");
        assert_eq!(jit.root(), interpreted.root(), "batch {height}");
        for (kind, receipt) in kinds.iter().zip(&a.receipts) {
            *coverage.entry((*kind, receipt.status.name())).or_default() += 1;
            gas += receipt.gas_used;
            if let Status::Reverted(revert) = &receipt.status {
                reverts.insert(revert.trap.clone());
            }
        }
    }
    println!("engine differential: {gas} gas over {BATCHES} batches; by kind and status:");
    for ((kind, status), count) in &coverage {
        println!("  {kind:?} {status}: {count}");
    }
    println!("  distinct reverts: {}", reverts.len());
    let count = |kind, status| coverage.get(&(kind, status)).copied().unwrap_or(0);
    for kind in [
        Kind::Place,
        Kind::Cancel,
        Kind::BatchOpen,
        Kind::Account,
        Kind::Update,
    ] {
        assert!(
            count(kind, "committed") >= 3,
            "{kind:?} committed too rarely: {coverage:?}"
        );
    }
    assert!(count(Kind::Place, "reverted") >= 3, "{coverage:?}");
    assert!(reverts.len() >= 6, "too few distinct aborts: {reverts:?}");
}
