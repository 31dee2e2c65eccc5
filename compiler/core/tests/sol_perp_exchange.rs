//! `examples/perp_sol_exchange.scenario.toml` replayed on the reference models alone: the
//! ROUTER model (`router_reference/`) over two SLAB models (`slab_reference/`), `a` (liquidation
//! policy partial) and `b` (full), both marked by one ORACLE feed `sol` that this file models
//! itself (below). No template bytecode runs here: the scenario's hand-computed `returns` are
//! checked against models written from the READMEs, independently of the templates and of
//! `curve sim`.
//!
//! The test reads the scenario file, walks its batches and transactions in order and, for every
//! call the models can express (router `list_slab`, `route`, `margin`, `liquidate`; slab
//! `apply_funding`, `place_order`, `cancel_order`, `account`), compares the model's result,
//! encoded as the call's return words, with the file's `returns` (or, for `expect =
//! "reverted"`, requires the model to abort). Everything else is applied as its effect
//! (deposits, withdrawals, `set_maker_class`, oracle updates, `bind_views`) or skipped (deploys,
//! key registrations, `rejected` transactions). After every transaction each slab model's
//! conservation identity is checked, and at the end the final vaults, locks, slab cash and
//! positions computed by hand from the scenario's comments.

mod router_reference;
mod slab_reference;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use router_reference::RouterModel;
use sha2::{Digest, Sha256};
use slab_reference::reference::{InstrumentParams, Model, Params};
use slab_reference::state::{FundingFeed, SlabState};
use toml::Value;

/// The scenario, relative to this crate's manifest.
const SCENARIO: &str = "../../examples/perp_sol_exchange.scenario.toml";

/// The scenario's users, numbered as their accounts were created (its header comment).
const USERS: [(&str, u64); 6] = [
    ("alice", 1),
    ("relayer", 2),
    ("bob", 3),
    ("carol", 4),
    ("governance", 5),
    ("keeper", 6),
];

/// The router model's program ids of the two venues (any nonzero ids would do).
const SLAB_A: u64 = 1_001;
const SLAB_B: u64 = 1_002;
/// The venues by their scenario name, in registry order.
const SLABS: [(&str, u64); 2] = [("a", SLAB_A), ("b", SLAB_B)];

/// The ROUTER block of perp_sol_exchange.curve.
const CAP_TTL_MS: u64 = 60_000;
const BAND_BPS: u64 = 500;
const PRELIQ_BAND_BPS: u64 = 300;
const PRELIQ_BUFFER: u128 = 2_000;
const GRACE_MS: u64 = 60_000;

/// The chain the scenario runs on (`chain_id`), what a reveal would hash.
const CHAIN_ID: u64 = 1;

/// The instrument's `oracle_key` (SLAB README `exposure`): the first 8 bytes, little-endian, of
/// `SHA-256("curve/oracle-key/" ‖ name)` with the low bit set. Both venues name `&ORACLE
/// "pyth:SOLUSD"`, so their positions net under `cross_alpha`.
fn oracle_key(name: &str) -> u64 {
    let digest = Sha256::digest(format!("curve/oracle-key/{name}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first) | 1
}

/// A SLAB block of perp_sol_exchange.curve; every value it does not write takes the schema
/// default of curvescript/SPEC.md (rebate 0 after 100 ms, JIT penalty on, the default pools,
/// the batch window of the router's `RESERVATION_BATCH ms=50`, no REG class).
fn slab_params(liquidation_full: bool) -> Params {
    Params {
        instruments: vec![InstrumentParams {
            tick: 1,
            lot: 1,
            price_max: 10_000_000,
            qty_max: 1_000_000,
            contract_size: 1,
            oracle_key: oracle_key("pyth:SOLUSD"),
        }],
        dlp_allowance: Some(100_000_000),
        reg_allowance: None,
        batch_ms: 50,
        accounts_capacity: 5_000,
        orders_capacity: 24_000,
        reservations_capacity: 4_000,
        slices_capacity: 16_000,
        taker_bps: 10,
        maker_bps: 0,
        imr_bps: 1_000,
        mmr_bps: 500,
        positions_capacity: 24_000,
        trades_capacity: 10_000,
        rebate_bps: 0,
        rebate_delay_ms: 100,
        kill_band_bps: 100,
        jit_penalty: true,
        arg_tax_bps: 0,
        freeze_levels: 0,
        chain_id: CHAIN_ID,
        aggressor_capacity: 5_000,
        funding_interval_ms: 3_600_000,
        funding_rate_cap_bps: 100,
        liquidation_full,
        liquidation_band_bps: 500,
    }
}

/// The ORACLE program's state as the slab reads it: the price, the mark (an EMA) and the
/// funding feed's accumulator. Modelled from its description, not from the template.
#[derive(Clone, Copy, Debug, Default)]
struct Oracle {
    price: u64,
    mark: u64,
    cum_price_ms: u128,
    cum_ms: u64,
}

impl Oracle {
    /// An accepted update with price `p` at batch time `now`: the accumulator takes the old
    /// price over the time since its last accumulation (not on the first update), then the mark
    /// moves a quarter of the way to `p` (the first price is the mark).
    fn update(&mut self, now: u64, p: u64) {
        if self.cum_ms != 0 {
            let since = now
                .checked_sub(self.cum_ms)
                .expect("the clock runs forward");
            self.cum_price_ms += u128::from(self.price) * u128::from(since);
        }
        self.cum_ms = now;
        self.mark = if self.mark == 0 {
            p
        } else {
            self.mark * 3 / 4 + p / 4
        };
        self.price = p;
    }

    fn feed(&self) -> FundingFeed {
        FundingFeed {
            cum_price_ms: self.cum_price_ms,
            cum_ms: self.cum_ms,
            price: self.price,
        }
    }
}

/// An `i128` as its two return words (low, high).
fn i128_words(v: i128) -> [u64; 2] {
    u128_words(v as u128)
}

/// A `u128` as its two return words (low, high).
fn u128_words(v: u128) -> [u64; 2] {
    [v as u64, (v >> 64) as u64]
}

/// One return word of the file: a number (a negative one is that `i64` as a `u64`).
fn file_word(v: &Value) -> u64 {
    match v {
        Value::Integer(n) => *n as u64,
        other => panic!("a return word that is not a number: {other:?}"),
    }
}

fn int(v: &Value) -> u64 {
    let n = v.as_integer().expect("an integer");
    u64::try_from(n).expect("a non-negative integer")
}

fn user_id(name: &str) -> u64 {
    USERS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("unknown user `{name}`"))
        .1
}

fn slab_id(name: &str) -> u64 {
    SLABS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("unknown slab `{name}`"))
        .1
}

/// A call argument: a number, or a venue's name (its program id).
fn arg_word(v: &Value) -> u64 {
    match v {
        Value::Integer(n) => *n as u64,
        Value::String(name) => slab_id(name),
        other => panic!("an argument that is neither a number nor a program: {other:?}"),
    }
}

/// A position as `(qty, entry_px, funding snapshot)`.
type Position = (i64, u64, i128);
/// A slab account as `(user, cash, its position in instrument 0)`.
type AccountRow = (u64, i128, Option<Position>);

/// The model's outcome of one call: its return words, or the abort (as text).
type Outcome = Result<Vec<u64>, String>;

fn outcome<T, E: Debug>(r: Result<T, E>, words: impl FnOnce(T) -> Vec<u64>) -> Outcome {
    r.map(words).map_err(|e| format!("{e:?}"))
}

/// `Σ cash − Σ basis − Σ F + fees_collected + insurance − collected` of a slab (SLAB README
/// "Positions": 0 when the slab balances), with `contract_size` 1 as both venues declare.
fn conservation_gap(st: &SlabState) -> i128 {
    let mut gap: i128 = 0;
    for account in st.accounts.values() {
        gap += account.cash;
        for (&instrument, pos) in &account.positions {
            let q = i128::from(pos.qty);
            let cum = st.instruments[instrument as usize].cum_funding;
            gap -= q * i128::from(pos.entry_px);
            gap -= q * (cum - pos.last_funding);
        }
    }
    gap + st.fees_collected as i128 + st.insurance as i128 - st.collected as i128
}

/// The replay: the router model (which owns both slab models), the oracle, which venues have
/// their view bound, and what was compared.
struct Replay {
    router: RouterModel,
    oracle: Oracle,
    bound: BTreeSet<u64>,
    /// Per kind of call: how many were compared.
    compared: BTreeMap<String, usize>,
    /// Per kind of transaction: how many were applied as their effect or skipped.
    effects: BTreeMap<&'static str, usize>,
    disagreements: Vec<String>,
    conservation_checks: usize,
}

impl Replay {
    fn new() -> Replay {
        let mut router = RouterModel::new(
            CAP_TTL_MS,
            vec![
                (SLAB_A, Model::new(slab_params(false)), vec![0]),
                (SLAB_B, Model::new(slab_params(true)), vec![0]),
            ],
        );
        router.set_cross_alpha(true);
        router.set_liquidation(BAND_BPS, PRELIQ_BAND_BPS, PRELIQ_BUFFER, GRACE_MS);
        Replay {
            router,
            oracle: Oracle::default(),
            bound: BTreeSet::new(),
            compared: BTreeMap::new(),
            effects: BTreeMap::new(),
            disagreements: Vec::new(),
            conservation_checks: 0,
        }
    }

    /// A venue's mark as the slab reads it through its view (0 before `bind_views`).
    fn marks(&self, slab: u64) -> Vec<u64> {
        vec![if self.bound.contains(&slab) {
            self.oracle.mark
        } else {
            0
        }]
    }

    /// A venue's funding feed (none before `bind_views`).
    fn feeds(&self, slab: u64) -> Vec<FundingFeed> {
        vec![if self.bound.contains(&slab) {
            self.oracle.feed()
        } else {
            FundingFeed::default()
        }]
    }

    /// Gives every slab model the current mark (before every call, as the views would).
    fn sync_marks(&mut self) {
        for (_, id) in SLABS {
            let marks = self.marks(id);
            self.router.set_marks(id, marks);
        }
    }

    fn effect(&mut self, kind: &'static str) {
        *self.effects.entry(kind).or_default() += 1;
    }

    /// Runs one `call` on the models; `None` for a call with no model counterpart.
    fn call(&mut self, now: u64, program: &str, entry: &str, args: &[u64]) -> Option<Outcome> {
        self.sync_marks();
        let r = &mut self.router;
        if program == "router" {
            return Some(match entry {
                "list_slab" => outcome(r.list_slab(args[0]), |i| vec![i]),
                "route" => outcome(
                    r.route(
                        now,
                        args[0],
                        args[1],
                        args[2],
                        args[3],
                        args[4],
                        args[5],
                        [args[6], args[7], args[8]],
                    ),
                    |(filled, notional, debit, legs)| {
                        let [n0, n1] = u128_words(notional);
                        let [d0, d1] = u128_words(debit);
                        vec![filled, n0, n1, d0, d1, legs]
                    },
                ),
                "margin" => outcome(r.margin(args[0]), |(equity, im, mm, locked)| {
                    [
                        i128_words(equity),
                        u128_words(im),
                        u128_words(mm),
                        u128_words(locked),
                    ]
                    .concat()
                }),
                "liquidate" => outcome(r.liquidate(now, args[0]), |(status, health, residual)| {
                    [
                        [status].as_slice(),
                        &i128_words(health),
                        &u128_words(residual),
                    ]
                    .concat()
                }),
                other => panic!("router entry `{other}` is not modelled by this test"),
            });
        }
        let id = slab_id(program);
        let marks = self.marks(id);
        let feeds = self.feeds(id);
        let slab = self.router.slab_mut(id);
        Some(match entry {
            // Governance's reserved entrypoint: its effect, nothing returned to compare.
            "set_maker_class" => outcome(slab.set_maker_class(args[0], args[1]), |()| vec![]),
            "apply_funding" => outcome(
                slab.apply_funding(now, args[0], &feeds),
                |(cum, intervals)| [i128_words(cum).as_slice(), &[intervals]].concat(),
            ),
            "place_order" => outcome(
                slab.place_order(now, args[0], args[1], args[2], args[3], args[4]),
                |id| vec![id],
            ),
            "cancel_order" => outcome(slab.cancel_order(now, args[0], args[1]), |q| vec![q]),
            "account" => outcome(slab.account(args[0], &marks), |(cash, im, mm)| {
                [i128_words(cash), u128_words(im), u128_words(mm)].concat()
            }),
            other => panic!("slab entry `{other}` is not modelled by this test"),
        })
    }

    /// After a transaction: every slab balances, collected what the router's ledger paid it,
    /// and no escrow of a venue keeps anything (P5) nor any cap outlives its call (P6, P7).
    fn check_invariants(&mut self, at: &str) {
        for (name, id) in SLABS {
            let st = self.router.slab(id).state();
            let gap = conservation_gap(&st);
            if gap != 0 {
                self.disagreements
                    .push(format!("{at}: slab {name} off balance by {gap}"));
            }
            if st.collected != self.router.collected(id) {
                self.disagreements.push(format!(
                    "{at}: slab {name} collected {} but the ledger paid it {}",
                    st.collected,
                    self.router.collected(id)
                ));
            }
            for (_, user) in USERS {
                if self.router.escrow(user, id) != 0 {
                    self.disagreements.push(format!(
                        "{at}: user {user} keeps {} in slab {name}'s escrow",
                        self.router.escrow(user, id)
                    ));
                }
            }
            self.conservation_checks += 1;
        }
        assert!(
            self.router.all_caps_burned(),
            "{at}: a cap outlived its call"
        );
        for (_, user) in USERS {
            assert_eq!(
                self.router.escrow(user, 0),
                self.router.locked(user),
                "{at}: the lock is the escrow (user, 0)"
            );
        }
    }

    /// One transaction of batch `batch` (1-based) at index `index` (0-based) at time `now`.
    fn transaction(&mut self, batch: usize, index: usize, now: u64, tx: &toml::Table) {
        let at = format!("batch {batch} tx {index}");
        let from = tx["from"].as_str().expect("from");
        let expect = tx
            .get("expect")
            .and_then(Value::as_str)
            .unwrap_or("committed");
        let returns: Option<Vec<u64>> = tx.get("returns").map(|v| {
            v.as_array()
                .expect("returns")
                .iter()
                .map(file_word)
                .collect()
        });
        if expect == "rejected" {
            // Refused before execution (a replayed nonce, a transaction that calls the
            // router-only `liquidation_call`, R10): the runtime's, nothing changes, nothing to
            // model.
            self.effect("rejected (skipped)");
            return;
        }
        let committed = match expect {
            "committed" => true,
            "reverted" => false,
            other => panic!("{at}: unknown expectation `{other}`"),
        };
        if let Some(d) = tx.get("deposit") {
            // A bridge deposit: the runtime credits the recipient's vault.
            assert!(committed, "{at}: a deposit the model cannot refuse");
            let to = user_id(d["to"].as_str().expect("to"));
            self.router.deposit(to, u128::from(int(&d["amount"])));
            self.effect("deposit (vault credit)");
        } else if let Some(w) = tx.get("withdraw") {
            // A withdrawal: the runtime debits the sender's vault (refused above its balance).
            let got = self
                .router
                .withdraw(user_id(from), u128::from(int(&w["amount"])));
            if got.is_ok() != committed {
                self.disagreements.push(format!(
                    "{at}: withdraw expected {expect}, the model: {got:?}"
                ));
            }
            self.effect("withdraw (vault debit)");
        } else if tx.contains_key("deploy") {
            // Deploying a program: the models exist from the start (empty, as deployed).
            self.effect("deploy (skipped)");
        } else if tx.contains_key("register_oracle_key") {
            // A feed signer's key: signatures are the runtime's; every update here is accepted.
            self.effect("register_oracle_key (skipped)");
        } else if let Some(b) = tx.get("bind_views") {
            // The venue's view0 becomes the feed: from now on it reads the oracle's mark and
            // funding feed.
            let id = slab_id(b["program"].as_str().expect("program"));
            let views = b["views"].as_array().expect("views");
            assert_eq!(views.len(), 1, "{at}: one feed per venue");
            assert_eq!(views[0].as_str(), Some("sol"), "{at}: the feed `sol`");
            self.bound.insert(id);
            self.effect("bind_views (the venue reads the feed)");
        } else if let Some(u) = tx.get("oracle_update") {
            // An accepted price: the oracle model's accumulator and mark (age_ms sets only the
            // publish time, which nothing here reads).
            assert!(committed, "{at}: an oracle update the model cannot refuse");
            assert_eq!(u["program"].as_str(), Some("sol"));
            self.oracle.update(now, int(&u["price"]));
            self.effect("oracle_update (oracle model)");
        } else if let Some(c) = tx.get("call") {
            let program = c["program"].as_str().expect("program");
            let entry = c["entry"].as_str().expect("entry");
            let args: Vec<u64> = c
                .get("args")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(arg_word).collect())
                .unwrap_or_default();
            let got = self
                .call(now, program, entry, &args)
                .expect("every call of the scenario is modelled");
            let label = format!("{program}.{entry}");
            match (&got, committed, &returns) {
                (Ok(words), true, Some(expected)) => {
                    if words != expected {
                        self.disagreements.push(format!(
                            "{at} ({from} {label}{args:?}): file returns {expected:?}, model {words:?}"
                        ));
                    }
                    *self.compared.entry(label).or_default() += 1;
                }
                (Ok(_), true, None) => {
                    // Committed with nothing to compare (set_maker_class): its effect only.
                    self.effect("call without returns (effect)");
                }
                (Err(e), false, _) => {
                    println!("{at} ({from} {label}{args:?}): reverted as expected: {e}");
                    *self.compared.entry(format!("{label} (reverted)")).or_default() += 1;
                }
                (Ok(words), false, _) => self.disagreements.push(format!(
                    "{at} ({from} {label}{args:?}): file expects a revert, the model returned {words:?}"
                )),
                (Err(e), true, _) => self.disagreements.push(format!(
                    "{at} ({from} {label}{args:?}): file expects {returns:?}, the model aborted {e}"
                )),
            }
        } else {
            panic!("{at}: a transaction kind this test does not know: {tx:?}");
        }
        self.check_invariants(&at);
    }
}

#[test]
fn the_sol_perp_exchange_scenario_matches_the_reference_models() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let scenario: toml::Table = toml::from_str(&text).expect("the scenario parses");
    assert_eq!(scenario["chain_id"].as_integer(), Some(CHAIN_ID as i64));

    let mut replay = Replay::new();
    let batches = scenario["batches"].as_array().expect("batches");
    let mut last_now = 0;
    for (b, batch) in batches.iter().enumerate() {
        let now = int(&batch["time_ms"]);
        assert!(now >= last_now, "batch {}: the clock runs forward", b + 1);
        last_now = now;
        let txs = batch["tx"].as_array().expect("tx");
        for (i, tx) in txs.iter().enumerate() {
            replay.transaction(b + 1, i, now, tx.as_table().expect("a transaction table"));
        }
    }

    // The final balances, by hand from the scenario's comments.
    // Vaults and locks: alice and the others only deposited; bob 1,200,000 − 1,004 − 105,280 −
    // 1,090,000 = 3,716 (pledged in batch 7), then in batch 11 200,000 − 16,519 + 9,280 with
    // the lock at 67,676; carol 2,124 left after batch 5 (pledged in batch 7), then 10,000 −
    // 6,440 with the lock at 31,800 + 10,600 + 2,124 + 6,440 = 50,964.
    let expected_vaults: [(&str, u128, u128); 6] = [
        ("alice", 10_000_000, 0),
        ("relayer", 0, 0),
        ("bob", 192_761, 67_676),
        ("carol", 3_560, 50_964),
        ("governance", 1_000_000, 0),
        ("keeper", 1_000_000, 0),
    ];
    for (name, vault, lock) in expected_vaults {
        let id = user_id(name);
        let got = (replay.router.vault(id), replay.router.locked(id));
        if got != (vault, lock) {
            replay.disagreements.push(format!(
                "final: {name}'s (vault, lock) expected ({vault}, {lock}), the model {got:?}"
            ));
        }
    }
    // Slab cash: on a, alice's 32,040 + 374 + 2 × 7,980 and bob's 0 after his debits; on b,
    // alice's short of 7 received 7 × 25 when it settled at carol's second fill (makers pay no
    // fee), bob's and carol's debits left them at 0. Positions: nothing on a; on b alice short
    // 8 at 100,600 (settled at 25), bob long 4 (never settled), carol long 4 (settled at 25).
    let expected_slabs: [(&str, &[AccountRow]); 2] = [
        ("a", &[(1, 48_374, None), (3, 0, None)]),
        (
            "b",
            &[
                (1, 175, Some((-8, 100_600, 25))),
                (3, 0, Some((4, 100_600, 0))),
                (4, 0, Some((4, 100_600, 25))),
            ],
        ),
    ];
    for (name, accounts) in expected_slabs {
        let st = replay.router.slab(slab_id(name)).state();
        let got: Vec<AccountRow> = st
            .accounts
            .iter()
            .map(|(&user, a)| {
                assert!(a.positions.len() <= 1, "one instrument");
                let pos = a
                    .positions
                    .get(&0)
                    .map(|p| (p.qty, p.entry_px, p.last_funding));
                (user, a.cash, pos)
            })
            .collect();
        if got != accounts {
            replay.disagreements.push(format!(
                "final: slab {name}'s (user, cash, position) expected {accounts:?}, the model {got:?}"
            ));
        }
        assert_eq!(conservation_gap(&st), 0, "slab {name} balances at the end");
    }

    let total: usize = replay.compared.values().sum();
    let effects: usize = replay.effects.values().sum();
    println!("compared: {:?}", replay.compared);
    println!("applied or skipped: {:?}", replay.effects);
    println!(
        "sol_perp_exchange: {total} transactions compared with the reference models, {effects} \
         applied as effects or skipped, {} conservation checks, {} disagreements",
        replay.conservation_checks,
        replay.disagreements.len()
    );
    for d in &replay.disagreements {
        println!("DISAGREEMENT {d}");
    }
    assert!(
        replay.disagreements.is_empty(),
        "the scenario and the reference models disagree:\n{}",
        replay.disagreements.join("\n")
    );
}
