//! `commit` of the SLAB program on both engines, against README.md's rules that need no
//! reference model: a commit fills exactly its hold at `vwap_px`, the escrow pays exactly
//! `total_debit` into the slab's ledger account, the margin after is at least initial margin,
//! and every refusal — unknown or committed hold, expiry, epoch, each cap check — aborts with
//! its code and leaves the segment and the ledger as they were; an increase enters at the
//! README's rounded average. (`slab_book`'s differential run against the reference model
//! covers positions, fees and prints at random.)

use std::sync::Arc;

use curve_compiler::templates::oracle;
use curve_compiler::templates::slab::{self, code};
use curvescript_syntax::ast::BlockKind;
use curvevm::hostcall::{Refusal, id};
use curvevm::isa::Segment;
use curvevm::{Instance, Outcome, Program, TrapKind};
use curvevm_host::{Caller, Cap, Clock, Ledger, Role, RollupHost};
use curvevm_testkit::engines::Engine;

const SCRIPT: &str = r#"
ORACLE "pyth:SOLUSD" {
    HEARTBEAT ms=500
}

SLAB "perp:TEST" {
    MAKER_CLASS DLP allowance=8_000_000
    FEE maker_bps=2 taker_bps=5
    RISK imr_bps=500 mmr_bps=350
    BATCH_WINDOW ms=50
    INSTRUMENT "SOL-PERP" oracle="pyth:SOLUSD" tick=5 lot=2 price_max=2_000 qty_max=400 contract_size=10
    POOLS accounts=6 orders=32 positions=8 reservations=4 slices=8 trades=8 aggressor=4
}
"#;

const SLAB_ID: u64 = 3;
const MAKER: u64 = 1;
const TAKER: u64 = 2;
const MARK: u64 = 1_000;

struct World<'a> {
    engine: &'a Engine,
    instance: Instance,
    host: RollupHost,
    oracle: Vec<u64>,
}

impl World<'_> {
    fn call(&mut self, entry: &str, args: &[u64], now: u64) -> Outcome {
        self.host.clock = Clock {
            now_ms: now,
            height: now / 100,
            chain_id: 7,
        };
        self.engine.call_with_views(
            &mut self.instance,
            entry,
            args,
            10_000_000,
            std::slice::from_mut(&mut self.oracle),
            &mut self.host,
        )
    }

    fn ok(&mut self, entry: &str, args: &[u64], now: u64) -> Vec<u64> {
        let outcome = self.call(entry, args, now);
        outcome.result.unwrap_or_else(|trap| {
            panic!("{entry}{args:?} on the {}: {trap:?}", self.engine.name())
        })
    }

    /// Calls `entry` expecting `kind`, and checks that the segment and the ledger are unchanged.
    fn refused(&mut self, entry: &str, args: &[u64], now: u64, kind: TrapKind) {
        let segment = self.instance.memory().words(Segment::Slab).to_vec();
        let ledger = self.host.ledger.clone();
        let outcome = self.call(entry, args, now);
        let trap = outcome.result.expect_err("refused");
        assert_eq!(
            trap.kind,
            kind,
            "{entry}{args:?} on the {}",
            self.engine.name()
        );
        assert!(self.instance.memory().words(Segment::Slab) == segment.as_slice());
        assert_eq!(self.host.ledger, ledger);
    }

    fn cap(&mut self, cap: Cap) -> u64 {
        self.host.ledger.add_cap(cap)
    }
}

fn wide(words: &[u64], at: usize) -> u128 {
    u128::from(words[at]) | u128::from(words[at + 1]) << 64
}

fn abort(code: u8) -> TrapKind {
    TrapKind::Abort { code }
}

fn refusal(refusal: Refusal) -> TrapKind {
    TrapKind::Host {
        id: id::SAFE_DEBIT,
        code: refusal as u32,
    }
}

/// The slab of `SCRIPT`, loaded, with its parameter words.
fn slab_program() -> (Arc<Program>, Vec<u64>) {
    slab_program_of(SCRIPT)
}

/// The slab of `script`, loaded, with its parameter words.
fn slab_program_of(script: &str) -> (Arc<Program>, Vec<u64>) {
    slab_program_with(script, slab::Mutation::None)
}

/// The slab of `script` with `mutation` planted.
fn slab_program_with(script: &str, mutation: slab::Mutation) -> (Arc<Program>, Vec<u64>) {
    let checked = curvescript_check::check_source(script, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let block = checked
        .script
        .blocks
        .iter()
        .find(|b| b.kind == BlockKind::Slab)
        .expect("a SLAB block");
    let mut built = slab::build(block).expect("fits");
    #[cfg(feature = "planted-mutations")]
    if mutation != slab::Mutation::None {
        let program = slab::program_with_mutation(&built.layout, mutation);
        built.lowered = curve_ir::lower(&program).expect("lowers");
    }
    #[cfg(not(feature = "planted-mutations"))]
    assert_eq!(mutation, slab::Mutation::None, "mutations need the feature");
    let program =
        Arc::new(RollupHost::load(built.lowered.module.clone(), Role::Slab).expect("loads"));
    (program, built.params)
}

/// A fresh slab instance on `engine`, its oracle at `MARK`.
fn world<'a>(engine: &'a Engine, program: &Arc<Program>, params: &[u64]) -> World<'a> {
    let mut oracle = vec![0; oracle::state::WORDS as usize];
    oracle[oracle::state::MARK as usize] = MARK;
    World {
        engine,
        instance: Instance::new(Arc::clone(program), params).expect("params fit"),
        host: RollupHost::new(
            Ledger::default(),
            Clock {
                now_ms: 0,
                height: 0,
                chain_id: 7,
            },
            Caller {
                id: SLAB_ID,
                role: Role::Slab,
            },
        ),
        oracle,
    }
}

#[test]
fn commit_fills_its_hold_and_debits_exactly_its_shortfall() {
    let (program, params) = slab_program();
    for engine in &Engine::both(&program) {
        let mut w = world(engine, &program, &params);
        let escrow = 10_000_000u128;
        w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, escrow);
        w.ok("set_maker_class", &[MAKER, 1], 1_000);
        // Asks: 20 at 1,000, 20 at 1,005.
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 20], 1_000);
        w.ok("place_order", &[MAKER, 0, 1, 1_005, 20], 1_000);
        // The taker buys 30 through both levels.
        let held = w.ok(
            "reserve",
            &[7, TAKER, 0, 0, 30, 1_005, 100, 0, 0, 0, 0],
            1_000,
        );
        let (hold, filled, vwap, max_charge) = (held[0], held[1], held[2], wide(&held, 4));
        assert_eq!(filled, 30);
        let good = Cap::new(TAKER, SLAB_ID, 0, max_charge, 2_000);

        // Refusals first, each without a trace.
        w.refused(
            "commit",
            &[hold + 1, 0, 0, 0, 0, 0, 0],
            1_010,
            abort(code::UNKNOWN_HOLD),
        );
        // Each cap check of the host, then the hold's TTL: (cap, or an id no cap has; time).
        let cases = [
            (
                Some(Cap {
                    user: MAKER,
                    ..good
                }),
                1_010,
                refusal(Refusal::CapScope),
            ),
            (
                Some(Cap {
                    expiry_ms: 1_009,
                    ..good
                }),
                1_010,
                refusal(Refusal::CapExpired),
            ),
            (
                Some(Cap {
                    remaining: 1,
                    ..good
                }),
                1_010,
                refusal(Refusal::CapRemaining),
            ),
            (None, 1_010, refusal(Refusal::UnknownCap)),
            (Some(good), 1_101, abort(code::EXPIRED)),
        ];
        for (cap, now, kind) in cases {
            let id = cap.map_or(999, |cap| w.cap(cap));
            w.refused("commit", &[hold, id, 0, 0, 0, 0, 0], now, kind);
        }
        let cap = w.cap(good);
        let spent = cap;
        let done = w.ok("commit", &[hold, cap, 0, 0, 0, 0, 0], 1_010);
        assert_eq!(done[0], filled, "the hold's quantity");
        assert_eq!(done[1], vwap, "⌊Σ t × p / filled⌋, as reserved");
        let notional: u128 = (20 * 1_000 + 10 * 1_005) * 10;
        assert_eq!(wide(&done, 2), notional * 5 / 10_000, "the taker fee");
        let debit = wide(&done, 4);
        assert!(debit <= max_charge, "S9");
        assert_eq!(
            w.host.ledger.escrow_balance(TAKER, SLAB_ID, 0),
            escrow - debit
        );
        assert_eq!(w.host.ledger.account_balance(SLAB_ID, 0), debit);
        // Back at initial margin: IM of 30 × 10 at the mark is what the account must cover.
        let account = w.ok("account", &[TAKER], 1_010);
        let im = wide(&account, 2);
        assert_eq!(im, 30 * 10 * u128::from(MARK) * 500 / 10_000);
        assert_eq!(wide(&account, 4), 30 * 10 * u128::from(MARK) * 350 / 10_000);
        // README: the entry is ⌈(20 × 1,000 + 10 × 1,005) / 30⌉ = 1,002 (against the long), so
        // at the mark the position is 30 × (1,000 − 1,002) × 10 = −600 under water, and the
        // debit brings equity (debit − fee − 600) exactly to IM.
        assert_eq!(debit, im + notional * 5 / 10_000 + 600);
        assert_eq!(
            wide(&account, 0) as i128,
            debit as i128 - (notional * 5 / 10_000) as i128
        );
        // Committed once (F3): the router's retry with the same cap finds no hold and takes
        // nothing more (`refused`: ledger and segment unchanged), nor does one with a new cap.
        w.refused(
            "commit",
            &[hold, spent, 0, 0, 0, 0, 0],
            1_020,
            abort(code::UNKNOWN_HOLD),
        );
        let cap = w.cap(good);
        w.refused(
            "commit",
            &[hold, cap, 0, 0, 0, 0, 0],
            1_020,
            abort(code::UNKNOWN_HOLD),
        );

        // A hold of the previous batch is gone with it (F1): the batch released it.
        let held = w.ok(
            "reserve",
            &[8, TAKER, 0, 0, 10, 1_005, 1_000, 0, 0, 0, 0],
            1_020,
        );
        assert_eq!(w.ok("batch_open", &[0], 1_100), [1, 0, 1]);
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), 5_000));
        w.refused(
            "commit",
            &[held[0], cap, 0, 0, 0, 0, 0],
            1_100,
            abort(code::UNKNOWN_HOLD),
        );
    }
}

/// F1 (percolator §4.19): a hold whose cap expired fails its commit with the escrow unchanged,
/// and the next batch gives its quantity back — the 3 oldest dead holds per `batch_open`, in
/// the order they were reserved; a 4th keeps its quantity until the batch after (its commit
/// meanwhile refused by `EPOCH`), and a closing order whose rest was held leaves the book when
/// that hold goes.
fn dead_holds((program, params): (Arc<Program>, Vec<u64>)) {
    for engine in &Engine::both(&program) {
        let mut w = world(engine, &program, &params);
        let escrow = 10_000_000u128;
        w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, escrow);
        w.ok("set_maker_class", &[MAKER, 1], 1_000);
        // One ask of 40 at 1,000; 4 holds of 2 on it, each for a second.
        let order = w.ok("place_order", &[MAKER, 0, 1, 1_000, 40], 1_000)[0];
        let holds: Vec<Vec<u64>> = (0..4)
            .map(|route| {
                w.ok(
                    "reserve",
                    &[route, TAKER, 0, 0, 2, 1_000, 1_000, 0, 0, 0, 0],
                    1_000,
                )
            })
            .collect();
        // The router's cap for the first hold expired before its commit: refused, nothing
        // changed (escrow, ledger and segment are compared by `refused`).
        let expired = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&holds[0], 4), 1_040));
        w.refused(
            "commit",
            &[holds[0][0], expired, 0, 0, 0, 0, 0],
            1_050,
            refusal(Refusal::CapExpired),
        );
        assert_eq!(w.host.ledger.escrow_balance(TAKER, SLAB_ID, 0), escrow);
        // The next batch: the 3 oldest go, 2 × 3 of the 8 held are free again.
        assert_eq!(w.ok("batch_open", &[0], 1_101), [1, 0, 3]);
        // The 4th is of the dead epoch: no commit, though still holding its 2.
        for (held, refusal) in holds
            .iter()
            .zip([code::UNKNOWN_HOLD; 3].into_iter().chain([code::EPOCH]))
        {
            let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(held, 4), 5_000));
            w.refused(
                "commit",
                &[held[0], cap, 0, 0, 0, 0, 0],
                1_101,
                abort(refusal),
            );
        }
        let again = w.ok(
            "reserve",
            &[99, TAKER, 0, 0, 40, 1_000, 100, 0, 0, 0, 0],
            1_101,
        );
        assert_eq!(again[1], 38, "all but the 4th hold's 2 are free");
        assert_eq!(w.ok("cancel", &[again[0]], 1_101), [38]);
        // The maker cancels: the 38 unreserved go, the order is closing on the held 2.
        assert_eq!(w.ok("cancel_order", &[MAKER, order], 1_101), [38]);
        // The batch after releases the 4th, and the closing order leaves the book.
        assert_eq!(w.ok("batch_open", &[0], 1_151), [2, 0, 1]);
        w.refused(
            "cancel_order",
            &[MAKER, order],
            1_151,
            abort(code::UNKNOWN_ORDER),
        );
        assert_eq!(w.ok("batch_open", &[0], 1_201), [3, 0, 0]);
    }
}

/// F3: once the feed has published, a reservation needs its price fresh by batch time
/// (`now ≤ fresh_until_ms`, the feed's publish time plus its `STALENESS`): a stale one is
/// refused `STALE_MARK` with nothing changed; a feed that never published is not checked.
#[test]
fn a_stale_feed_refuses_new_reservations() {
    let (program, params) = slab_program();
    for engine in &Engine::both(&program) {
        let mut w = world(engine, &program, &params);
        w.ok("set_maker_class", &[MAKER, 1], 1_000);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 20], 1_000);
        let reserve = |route| [route, TAKER, 0, 0, 2, 1_000, 1_000, 0, 0, 0, 0];
        // Never published: no check.
        let held = w.ok("reserve", &reserve(1), 5_000);
        w.ok("cancel", &[held[0]], 5_000);
        w.oracle[oracle::state::FRESH_UNTIL_MS as usize] = 6_000;
        let held = w.ok("reserve", &reserve(2), 6_000);
        w.ok("cancel", &[held[0]], 6_000);
        w.refused("reserve", &reserve(3), 6_001, abort(code::STALE_MARK));
    }
}

/// `SCRIPT` with room for more holds than one batch releases.
fn deep_holds() -> String {
    let deep = SCRIPT.replace("reservations=4 slices=8", "reservations=24 slices=48");
    assert_ne!(deep, SCRIPT, "the pools are widened");
    deep
}

#[test]
fn an_expired_hold_is_released_by_the_next_batch() {
    dead_holds(slab_program_of(&deep_holds()));
}

/// Mutation `NoEpoch`: a hold of a dead epoch (the 4th, beyond the batch's releases) commits.
/// (The differential cannot reach it: its dead holds are all released first.)
#[cfg(feature = "planted-mutations")]
#[test]
fn a_commit_of_a_dead_epoch_is_caught() {
    let program = slab_program_with(&deep_holds(), slab::Mutation::NoEpoch);
    let run = std::panic::catch_unwind(|| dead_holds(program));
    assert!(run.is_err(), "NoEpoch went unnoticed");
}

/// Mutation `HoldsOutliveTheirBatch`: `batch_open` releases nothing.
#[cfg(feature = "planted-mutations")]
#[test]
fn holds_outliving_their_batch_are_caught() {
    let program = slab_program_with(&deep_holds(), slab::Mutation::HoldsOutliveTheirBatch);
    let run = std::panic::catch_unwind(|| dead_holds(program));
    assert!(run.is_err(), "HoldsOutliveTheirBatch went unnoticed");
}

/// README "increase": a long of 2 at 1,000 bought up by 20 at 1,100 enters at
/// ⌈(2 × 1,000 + 20 × 1,100) / 22⌉ = ⌈1,090.9⌉ = 1,091, which the second debit shows: at the
/// mark of 1,000 the position is 22 × (1,000 − 1,091) × 10 = −20,020 under water.
#[test]
fn an_increase_enters_at_the_quantity_weighted_price_rounded_against_the_holder() {
    let (program, params) = slab_program();
    for engine in &Engine::both(&program) {
        let mut w = world(engine, &program, &params);
        w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, 10_000_000);
        w.ok("set_maker_class", &[MAKER, 1], 1_000);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 2], 1_000);
        w.ok("place_order", &[MAKER, 0, 1, 1_100, 20], 1_000);
        let buy = |w: &mut World, route: u64, qty: u64, limit: u64| {
            let held = w.ok(
                "reserve",
                &[route, TAKER, 0, 0, qty, limit, 100, 0, 0, 0, 0],
                1_000,
            );
            let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), 2_000));
            let done = w.ok("commit", &[held[0], cap, 0, 0, 0, 0, 0], 1_010);
            (wide(&done, 2), wide(&done, 4))
        };
        // 2 at 1,000: fee ⌊20,000 × 5 / 10,000⌋ = 10; IM 2 × 10 × 1,000 × 5 % = 1,000 and
        // equity −10, so the debit is 1,010 and cash 1,000.
        assert_eq!(buy(&mut w, 1, 2, 1_000), (10, 1_010));
        // 20 at 1,100: fee ⌊220,000 × 5 / 10,000⌋ = 110; IM 22 × 10 × 1,000 × 5 % = 11,000;
        // equity 1,000 − 110 − 20,020 = −19,130, so the debit is 30,130.
        assert_eq!(
            buy(&mut w, 2, 20, 1_100),
            (110, 30_130),
            "on the {}",
            engine.name()
        );
        let account = w.ok("account", &[TAKER], 1_010);
        assert_eq!(wide(&account, 0) as i128, 1_000 - 110 + 30_130);
        assert_eq!(wide(&account, 2), 11_000);
    }
}

/// The slab with every anti-toxicity mechanism on (README "Anti-toxicity and fees"): a 4 bps
/// rebate after 40 ms of resting, a 100 bps kill band, the JIT penalty, a 50 bps round-trip
/// tax and the top two levels frozen.
const GUARDED: &str = r#"
ORACLE "pyth:SOLUSD" {
    HEARTBEAT ms=500
}

SLAB "perp:TEST" {
    MAKER_CLASS DLP allowance=80_000_000
    MAKER_CLASS REG allowance=80_000_000
    FEE maker_bps=2 taker_bps=5 rebate_bps=4 rebate_delay_ms=40
    RISK imr_bps=500 mmr_bps=350
    ANTI_TOXICITY kill_band_bps=100 jit_penalty=true arg_tax_bps=50 freeze_levels=2
    BATCH_WINDOW ms=50
    INSTRUMENT "SOL-PERP" oracle="pyth:SOLUSD" tick=5 lot=2 price_max=2_000 qty_max=400 contract_size=10
    POOLS accounts=8 orders=32 positions=8 reservations=4 slices=8 trades=8 aggressor=4
}
"#;

const REG_MAKER: u64 = 4;

/// Reserves `qty` for `TAKER` on `side` up to `limit` with `commitment` and commits it at `now`
/// with `salt`, funded with the hold's `max_charge`: the commit's outcome.
fn take(
    w: &mut World,
    (route, side, qty, limit): (u64, u64, u64, u64),
    commitment: [u64; 4],
    salt: [u64; 4],
    now: u64,
) -> Result<Vec<u64>, TrapKind> {
    let mut args = vec![route, TAKER, 0, side, qty, limit, 1_000];
    args.extend(commitment);
    let held = w.ok("reserve", &args, now);
    let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), now + 1_000));
    let mut args = vec![held[0], cap];
    args.extend(salt);
    args.push(0);
    let segment = w.instance.memory().words(Segment::Slab).to_vec();
    let result = w.call("commit", &args, now).result.map_err(|t| t.kind);
    if result.is_err() {
        assert!(w.instance.memory().words(Segment::Slab) == segment.as_slice());
        w.ok("cancel", &[held[0]], now);
    }
    result
}

fn guarded_world<'a>(engine: &'a Engine, program: &Arc<Program>, params: &[u64]) -> World<'a> {
    let mut w = world(engine, program, params);
    w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, 100_000_000);
    for maker in [MAKER, 5, 6] {
        w.ok("set_maker_class", &[maker, 1], 900);
    }
    w
}

/// M6: a commitment binds the route, instrument, side, quantity, limit and chain; the commit's
/// salt opens it, and a wrong salt or any other field does not (curve-formats' encoding).
#[test]
fn a_commit_opens_its_commitment_with_the_salt_and_nothing_else() {
    use curve_formats::commitment::{Reveal, digest_words, words_bytes};
    let (program, params) = slab_program_of(GUARDED);
    let salt = [11, 22, 33, 44];
    let reveal = Reveal {
        chain_id: 7,
        route_id: 9,
        instrument: 0,
        side: 0,
        qty: 4,
        limit_px: 1_000,
        salt: words_bytes(&salt),
    };
    for engine in &Engine::both(&program) {
        let mut w = guarded_world(engine, &program, &params);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 40], 900);
        let order = (9, 0, 4, 1_000);
        let committed = digest_words(&reveal.commitment());
        let mut wrong = salt;
        wrong[3] ^= 1;
        assert_eq!(
            take(&mut w, order, committed, wrong, 1_000),
            Err(abort(code::BAD_REVEAL))
        );
        // Each field of the reveal changed in turn: the slab's own fields do not open it.
        let mut altered = [reveal; 6];
        altered[0].chain_id = 8;
        altered[1].route_id = 10;
        altered[2].instrument = 1;
        altered[3].side = 1;
        altered[4].qty = 6;
        altered[5].limit_px = 1_005;
        for other in altered {
            let commitment = digest_words(&other.commitment());
            assert_eq!(
                take(&mut w, order, commitment, salt, 1_000),
                Err(abort(code::BAD_REVEAL)),
                "{other:?}"
            );
        }
        let done = take(&mut w, order, committed, salt, 1_000).expect("the reveal opens it");
        assert_eq!(done[0], 4);
        // No commitment, no reveal: any salt.
        assert!(take(&mut w, order, [0; 4], wrong, 1_000).is_ok());
    }
}

/// M10, R7: a commit is refused once the mark left the band around the mark at reserve
/// (`|m − m₀| × 10,000 > 100 × m₀`), exactly at the band's edge it passes, and the `band` view
/// tells a router beforehand what the commit will do.
#[test]
fn the_kill_band_refuses_a_commit_after_the_mark_moved_and_the_router_sees_it_first() {
    kill_band(slab_program_of(GUARDED));
}

fn kill_band((program, params): (Arc<Program>, Vec<u64>)) {
    for engine in &Engine::both(&program) {
        let mut w = guarded_world(engine, &program, &params);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 100], 900);
        // (mark at commit, passes): 1 % of 1,000 is 10 either way.
        for (mark, passes) in [(1_010, true), (990, true), (1_011, false), (989, false)] {
            w.oracle[oracle::state::MARK as usize] = MARK;
            let held = w.ok(
                "reserve",
                &[1, TAKER, 0, 0, 2, 1_000, 1_000, 0, 0, 0, 0],
                1_000,
            );
            w.oracle[oracle::state::MARK as usize] = mark;
            let band = w.ok("band", &[held[0]], 1_000);
            assert_eq!(band, vec![MARK, mark, u64::from(passes)], "mark {mark}");
            let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), 2_000));
            // Router-margined (margin 1): the marks move the taker's margin, not this test.
            let args = [held[0], cap, 0, 0, 0, 0, 1];
            if passes {
                w.ok("commit", &args, 1_000);
            } else {
                w.refused("commit", &args, 1_000, abort(code::KILL_BAND));
                w.ok("cancel", &[held[0]], 1_000);
            }
        }
        // A hold reserved before the feed published has no band to be in.
        w.oracle[oracle::state::MARK as usize] = 0;
        let held = w.ok(
            "reserve",
            &[2, TAKER, 0, 0, 2, 1_000, 1_000, 0, 0, 0, 0],
            1_000,
        );
        w.oracle[oracle::state::MARK as usize] = MARK;
        assert_eq!(w.ok("band", &[held[0]], 1_000), vec![0, MARK, 0]);
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), 2_000));
        w.refused(
            "commit",
            &[held[0], cap, 0, 0, 0, 0, 0],
            1_000,
            abort(code::KILL_BAND),
        );
        w.refused("band", &[held[0] + 1], 1_000, abort(code::UNKNOWN_HOLD));
    }
}

/// ADV3, S2: once governance caps the fees below the slab's, every commit is refused, and
/// caps at or above them let commits through again.
#[test]
fn fee_caps_below_the_slab_fees_refuse_every_commit() {
    fee_caps(slab_program_of(GUARDED));
}

fn fee_caps((program, params): (Arc<Program>, Vec<u64>)) {
    for engine in &Engine::both(&program) {
        let mut w = guarded_world(engine, &program, &params);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 40], 900);
        let order = (1, 0, 2, 1_000);
        for (maker_cap, taker_cap, passes) in [(1, 5, false), (2, 4, false), (2, 5, true)] {
            w.ok("set_fee_caps", &[maker_cap, taker_cap], 1_000);
            let result = take(&mut w, order, [0; 4], [0; 4], 1_000);
            assert_eq!(
                result.is_ok(),
                passes,
                "caps ({maker_cap}, {taker_cap}): {result:?}"
            );
            if !passes {
                assert_eq!(result, Err(abort(code::FEE_CAP)));
            }
        }
    }
}

/// M9 and the rebate delay: a maker order earns the 4 bps rebate (net 2 bps paid to it) only
/// when it was placed before its batch opened and rested 40 ms; a JIT order and a fresh one
/// pay the 2 bps maker fee instead.
#[test]
fn a_rebate_is_paid_only_to_orders_that_rested_and_are_not_jit() {
    let (program, params) = slab_program_of(GUARDED);
    for engine in &Engine::both(&program) {
        let mut w = guarded_world(engine, &program, &params);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 10], 900); // rested 110 ms at the commit
        w.ok("place_order", &[5, 0, 1, 1_005, 4], 990); // rested 20 ms: too fresh
        w.ok("batch_open", &[0], 1_000);
        w.ok("place_order", &[6, 0, 1, 1_010, 6], 1_005); // after the batch opened: JIT
        let done = take(&mut w, (1, 0, 14, 1_005), [0; 4], [0; 4], 1_010).expect("fills");
        assert_eq!(done[0], 14);
        // The JIT order has rested 55 ms by now, past the delay: only the JIT rule withholds
        // its rebate.
        let done = take(&mut w, (2, 0, 6, 1_010), [0; 4], [0; 4], 1_060).expect("fills");
        assert_eq!(done[0], 6);
        let cash = |w: &mut World, maker: u64| wide(&w.ok("account", &[maker], 1_060), 0) as i128;
        // Notionals 100,000, 40,200 and 60,600.
        assert_eq!(cash(&mut w, MAKER), 100_000 * 2 / 10_000, "paid");
        assert_eq!(cash(&mut w, 5), -(40_200 * 2 / 10_000), "fresh");
        assert_eq!(cash(&mut w, 6), -(60_600 * 2 / 10_000), "JIT");
    }
}

/// S11, M11: a round trip of aggressive legs in one batch is charged when it is profitable —
/// its gain (the commit's price against the other side's batch average) handed back plus 50 bps
/// of its notional — once for the overlap it newly creates; a later leg that overlaps nothing new, a losing round trip and
/// a round trip across batches pay nothing.
#[test]
fn the_round_trip_guard_charges_a_new_profitable_overlap_once() {
    round_trip(slab_program_of(GUARDED));
}

fn round_trip((program, params): (Arc<Program>, Vec<u64>)) {
    for engine in &Engine::both(&program) {
        let mut w = guarded_world(engine, &program, &params);
        let fee = |notional: u128| notional * 5 / 10_000;
        let total_fee = |done: &[u64]| wide(done, 2);
        // Buy 4 at 1,000, then sell 6 to a bid at 1,010 in the same batch.
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 4], 900);
        let bought = take(&mut w, (1, 0, 4, 1_000), [0; 4], [0; 4], 1_000).expect("buys");
        assert_eq!(total_fee(&bought), fee(40_000), "no overlap yet");
        w.ok("place_order", &[5, 0, 0, 1_010, 10], 1_000);
        let sold = take(&mut w, (2, 1, 6, 1_010), [0; 4], [0; 4], 1_000).expect("sells");
        // Overlap 4: gain 4 × 10 × (1,010 − 1,000) = 400, plus ⌊40,400 × 50 / 10,000⌋ = 202.
        assert_eq!(total_fee(&sold), fee(60_600) + 400 + 202);
        // Selling 2 more overlaps nothing new: 4 bought, 8 sold.
        let more = take(&mut w, (3, 1, 2, 1_010), [0; 4], [0; 4], 1_000).expect("sells");
        assert_eq!(total_fee(&more), fee(20_200));
        // A losing round trip: buying 2 back at 1,100 in the same batch grows the overlap by 2,
        // but at 1,100, above the batch's average sell, 1,010: nothing is charged.
        w.ok("place_order", &[6, 0, 1, 1_100, 2], 1_000);
        let back = take(&mut w, (4, 0, 2, 1_100), [0; 4], [0; 4], 1_000).expect("buys");
        assert_eq!(total_fee(&back), fee(22_000));
        // The next batch starts a new ledger: buying 2 at 1,000 would overlap the old batch's
        // sales at 1,010 profitably, but overlaps nothing now. (Maker 5's last bid goes first,
        // so the ask does not cross it.)
        w.ok("cancel_order", &[5, 2], 1_100);
        w.ok("batch_open", &[0], 1_100);
        w.ok("place_order", &[6, 0, 1, 1_000, 2], 1_100);
        let later = take(&mut w, (5, 0, 2, 1_000), [0; 4], [0; 4], 1_100).expect("buys");
        assert_eq!(total_fee(&later), fee(20_000));
    }
}

/// M8: for the 50 ms after a batch opens, an order may not be better than the second-best
/// level of its side, of either maker class; joining that level or behind it is fine, and after
/// the window prices improve freely.
#[test]
fn the_top_levels_are_frozen_for_the_batch_window() {
    let (program, params) = slab_program_of(GUARDED);
    for engine in &Engine::both(&program) {
        let mut w = guarded_world(engine, &program, &params);
        for price in [1_000, 1_005, 1_010] {
            w.ok("place_order", &[MAKER, 0, 1, price, 2], 900);
        }
        w.ok("batch_open", &[0], 1_000);
        for (maker, price) in [(5, 1_000), (5, 995), (REG_MAKER, 1_000), (REG_MAKER, 990)] {
            w.refused(
                "place_order",
                &[maker, 0, 1, price, 2],
                1_020,
                abort(code::FROZEN),
            );
        }
        w.ok("place_order", &[5, 0, 1, 1_005, 2], 1_020); // joins the second level
        w.ok("place_order", &[REG_MAKER, 0, 1, 1_015, 2], 1_049);
        w.ok("place_order", &[5, 0, 0, 990, 2], 1_020); // bids: no levels, nothing frozen
        w.ok("place_order", &[5, 0, 1, 995, 2], 1_050); // the window closed
    }
}

/// Runs `scenario` on the GUARDED slab with `mutation` planted: it must fail.
#[cfg(feature = "planted-mutations")]
fn caught(mutation: slab::Mutation, scenario: fn((Arc<Program>, Vec<u64>))) {
    let program = slab_program_with(GUARDED, mutation);
    let run = std::panic::catch_unwind(|| scenario(program));
    assert!(run.is_err(), "{mutation:?} went unnoticed");
}

/// Mutation `KillBandOff`: a commit after the mark left the band goes through.
#[cfg(feature = "planted-mutations")]
#[test]
fn a_slab_without_its_kill_band_is_caught() {
    caught(slab::Mutation::KillBandOff, kill_band);
}

/// Mutation `ArgEveryCommit` (percolator's defect): the whole overlap is taxed on every commit,
/// profitable or not.
#[cfg(feature = "planted-mutations")]
#[test]
fn a_round_trip_tax_on_every_commit_is_caught() {
    caught(slab::Mutation::ArgEveryCommit, round_trip);
}

/// Mutation `FeeCapUnchecked`: commits go through above the governance caps.
#[cfg(feature = "planted-mutations")]
#[test]
fn fees_above_the_caps_unchecked_are_caught() {
    caught(slab::Mutation::FeeCapUnchecked, fee_caps);
}

/// RM6: funding moves the index once per interval, by the premium of the slab's fills (1,000)
/// over the oracle's time-weighted index (900), a day's premium prorated to the hour: ⌊100 /
/// 24⌋ = 4 per unit per interval (under the cap ⌊900 × 100 bps⌋ = 9); a second call in the
/// same interval changes nothing; a position untouched for two intervals owes both, and pays
/// them (exactly, into the short's equity) when a fill next touches it.
fn funding((program, params): (Arc<Program>, Vec<u64>)) {
    const HOUR: u64 = 3_600_000;
    for engine in &Engine::both(&program) {
        let mut w = world(engine, &program, &params);
        // The index: 900 since time 1,000 (the feed's accumulator is Σ price × ms).
        w.oracle[oracle::state::CUM_MS as usize] = 1_000;
        w.oracle[oracle::state::PRICE as usize] = 900;
        w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, 10_000_000);
        let funding = |w: &mut World, now: u64| {
            let words = w.ok("apply_funding", &[0], now);
            (wide(&words, 0) as i128, words[2])
        };
        // Interval 0 is where the index starts: nothing to apply; the first interval that
        // turns applies a step of 0 (no snapshot to measure from) and takes the snapshot.
        assert_eq!(funding(&mut w, 1_000), (0, 0));
        assert_eq!(funding(&mut w, HOUR), (0, 1));
        // The taker buys 20 from the maker at 1,000.
        w.ok("set_maker_class", &[MAKER, 1], HOUR);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 20], HOUR);
        let held = w.ok(
            "reserve",
            &[1, TAKER, 0, 0, 20, 1_000, 100, 0, 0, 0, 0],
            HOUR,
        );
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), HOUR + 1_000));
        w.ok("commit", &[held[0], cap, 0, 0, 0, 0, 0], HOUR + 10);
        let equity = |w: &mut World, user: u64, now: u64| {
            wide(&w.ok("exposure", &[user, 0], now), 0) as i128
        };
        let (taker_before, maker_before) = (
            equity(&mut w, TAKER, HOUR + 10),
            equity(&mut w, MAKER, HOUR + 10),
        );
        // Later in the same interval: applied already (RM6), however many calls or batches.
        assert_eq!(funding(&mut w, HOUR + 500_000), (0, 0), "once per interval");
        w.ok("batch_open", &[0], HOUR + 600_000);
        assert_eq!(funding(&mut w, 2 * HOUR - 1), (0, 0), "once per interval");
        // Two intervals later: 2 × 4 per unit, owed by the long's 20 × 10 units.
        assert_eq!(funding(&mut w, 3 * HOUR + 5), (8, 2));
        let owed = 20 * 10 * 8;
        assert_eq!(equity(&mut w, TAKER, 3 * HOUR + 5), taker_before - owed);
        assert_eq!(equity(&mut w, MAKER, 3 * HOUR + 5), maker_before + owed);
        // No fills since: the next interval's step is 0.
        assert_eq!(funding(&mut w, 4 * HOUR), (8, 1));
        // A fill settles both positions into cash: the taker sells 2 to the maker's bid at
        // 1,000 (no PnL), paying the fee ⌊2 × 10 × 1,000 × 5 / 10,000⌋ = 10 besides, and the
        // maker's fee is ⌊20,000 × 2 / 10,000⌋ = 4.
        let cash = |w: &mut World, user: u64| wide(&w.ok("account", &[user], 4 * HOUR), 0) as i128;
        let (taker_cash, maker_cash) = (cash(&mut w, TAKER), cash(&mut w, MAKER));
        w.ok("batch_open", &[0], 4 * HOUR);
        w.ok("place_order", &[MAKER, 0, 0, 1_000, 2], 4 * HOUR);
        let held = w.ok(
            "reserve",
            &[2, TAKER, 0, 1, 2, 1_000, 100, 0, 0, 0, 0],
            4 * HOUR,
        );
        let cap = w.cap(Cap::new(
            TAKER,
            SLAB_ID,
            0,
            wide(&held, 4),
            4 * HOUR + 1_000,
        ));
        w.ok("commit", &[held[0], cap, 0, 0, 0, 0, 1], 4 * HOUR);
        assert_eq!(cash(&mut w, TAKER), taker_cash - owed - 10, "the long paid");
        assert_eq!(
            cash(&mut w, MAKER),
            maker_cash + owed - 4,
            "the short received"
        );
        // Settled: the equities moved only by the fees.
        assert_eq!(equity(&mut w, TAKER, 4 * HOUR), taker_before - owed - 10);
        assert_eq!(equity(&mut w, MAKER, 4 * HOUR), maker_before + owed - 4);
    }
}

#[test]
fn funding_moves_once_per_interval_and_settles_at_the_next_fill() {
    funding(slab_program());
}

/// Mutation `FundingTwice`: a second call in an interval applies its funding again.
#[cfg(feature = "planted-mutations")]
#[test]
fn funding_applied_twice_in_an_interval_is_caught() {
    let program = slab_program_with(SCRIPT, slab::Mutation::FundingTwice);
    let run = std::panic::catch_unwind(|| funding(program));
    assert!(run.is_err(), "FundingTwice went unnoticed");
}

/// L2, L3, R10, E2E4: a liquidation closes a long 20 (entered at 1,005, so `insurance` holds
/// the entry's rounding) against LIVE depth within 2 % of the mark 1,000 (bids ≥ 980),
/// skipping the user's own bid and reserved quantity, until the maintenance margin closed
/// covers the deficit; it takes the loss it realised through the cap but never more than the
/// escrow; what stays owed is bad debt that only governance's `cover_bad_debt` pays, from
/// `insurance`.
fn liquidation((program, params): (Arc<Program>, Vec<u64>)) {
    for engine in &Engine::both(&program) {
        let mut w = world(engine, &program, &params);
        w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, 10_000_000);
        // Every account may quote: the taker's own bid is one the sweep must skip.
        for maker in [MAKER, 5, 6, TAKER] {
            w.ok("set_maker_class", &[maker, 1], 1_000);
        }
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 2], 1_000);
        w.ok("place_order", &[MAKER, 0, 1, 1_005, 18], 1_000);
        // The taker buys 20, router-margined (its cash ends at 0): the entry is ⌈20,090 / 20⌉
        // = 1,005 and its rounding, (20,100 − 20,090) × 10 = 100, is the slab's insurance.
        let held = w.ok(
            "reserve",
            &[1, TAKER, 0, 0, 20, 1_005, 100, 0, 0, 0, 0],
            1_000,
        );
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), 2_000));
        w.ok("commit", &[held[0], cap, 0, 0, 0, 0, 1], 1_000);
        // Bids: the taker's own at 995 (skipped), 4 at 990, 4 at 985 of which a hold
        // reserves 2, and 10 at 975 (outside the band).
        // (The hold first, while 985 is the best bid.)
        w.ok("place_order", &[6, 0, 0, 985, 4], 1_000);
        w.ok("reserve", &[2, MAKER, 0, 1, 2, 985, 100, 0, 0, 0, 0], 1_000);
        w.ok("place_order", &[TAKER, 0, 0, 995, 2], 1_000);
        w.ok("place_order", &[5, 0, 0, 990, 4], 1_000);
        w.ok("place_order", &[5, 0, 0, 975, 10], 1_000);
        // The escrow holds only 500 of the loss the closing realises.
        w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, 500);
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, 500, 2_000));
        // 2,000 of margin: ⌈2,000 / (10 × 1,000 × 3.5 %)⌉ = 6 contracts; a band of 100 % is
        // clamped to the slab's 2 %.
        let before = w.host.ledger.account_balance(SLAB_ID, 0);
        w.refused(
            "liquidation_call",
            &[TAKER, 0, 2_000, 0, 0, 0],
            1_010,
            abort(code::BAD_BAND),
        );
        let out = w.ok(
            "liquidation_call",
            &[TAKER, 0, 2_000, 0, 10_000, cap],
            1_010,
        );
        // 4 at 990 and the 2 unreserved at 985: 6 × 10 × 1,000 × 3.5 % = 2,100 covers it.
        assert_eq!((wide(&out, 0), out[2]), (0, 6), "residual and closed");
        // Realised: 4 × 10 × (990 − 1,005) + 2 × 10 × (985 − 1,005) = −1,000, no fees; the
        // escrow pays 500 of it (L2) and 500 is bad debt.
        assert_eq!(wide(&out, 3), 500, "the debit stops at the escrow");
        assert_eq!(w.host.ledger.escrow_balance(TAKER, SLAB_ID, 0), 0);
        assert_eq!(w.host.ledger.account_balance(SLAB_ID, 0), before + 500);
        let cash = |w: &mut World| wide(&w.ok("account", &[TAKER], 1_010), 0) as i128;
        assert_eq!(cash(&mut w), -500, "bad debt stays in the account");
        let exposure = w.ok("exposure", &[TAKER, 0], 1_010);
        assert_eq!(
            wide(&exposure, 8) as i128,
            14 * 350,
            "a long 14 is left: its MM"
        );
        // Nothing more within the band: the rest of the deficit comes back.
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, 0, 2_000));
        let out = w.ok("liquidation_call", &[TAKER, 0, 5_000, 0, 200, cap], 1_020);
        assert_eq!((wide(&out, 0), out[2], wide(&out, 3)), (5_000, 0, 0));
        // A user without an account: a no-op returning the deficit.
        let out = w.ok("liquidation_call", &[42, 0, 700, 0, 200, cap], 1_020);
        assert_eq!((wide(&out, 0), out[2]), (700, 0));
        // E2E4: only governance's path pays bad debt, at most the insurance: 200, the two
        // entries' rounding (the maker's short 20 entered at ⌊20,090 / 20⌋ = 1,004: 100).
        let covered = w.ok("cover_bad_debt", &[TAKER, 1_000, 0], 1_020);
        assert_eq!(wide(&covered, 0), 200);
        assert_eq!(cash(&mut w), -300);
        let covered = w.ok("cover_bad_debt", &[TAKER, 1_000, 0], 1_020);
        assert_eq!(wide(&covered, 0), 0, "the insurance is spent");
    }
}

#[test]
fn a_liquidation_closes_live_depth_within_the_band_and_takes_at_most_the_escrow() {
    liquidation(slab_program());
}

/// Mutation `LiquidationUnbounded`: the liquidation debits the whole loss, beyond the escrow
/// the router pledged; the host refuses it, so the liquidation fails.
#[cfg(feature = "planted-mutations")]
#[test]
fn a_liquidation_debit_beyond_the_escrow_is_caught() {
    let program = slab_program_with(SCRIPT, slab::Mutation::LiquidationUnbounded);
    let run = std::panic::catch_unwind(|| liquidation(program));
    assert!(run.is_err(), "LiquidationUnbounded went unnoticed");
}

/// S9: a commit never takes more than its hold's `max_charge`. A long 200 at 1,000 whose mark
/// fell to 985 is above maintenance (equity 100,050 − 30,000 against MM 68,950) but 28,500
/// short of initial margin; buying 2 more at 1,000 reserves a `max_charge` of 20,010, so the
/// commit's shortfall (≈ 30,000) is refused `MAX_CHARGE`, with nothing changed.
fn max_charge((program, params): (Arc<Program>, Vec<u64>)) {
    for engine in &Engine::both(&program) {
        let mut w = world(engine, &program, &params);
        w.host.ledger.set_escrow(TAKER, SLAB_ID, 0, 10_000_000);
        w.ok("set_maker_class", &[MAKER, 1], 1_000);
        w.ok("place_order", &[MAKER, 0, 1, 1_000, 202], 1_000);
        let buy = |w: &mut World, route: u64, qty: u64| {
            let held = w.ok(
                "reserve",
                &[route, TAKER, 0, 0, qty, 1_000, 100, 0, 0, 0, 0],
                1_000,
            );
            (held[0], wide(&held, 4))
        };
        let (hold, charge) = buy(&mut w, 1, 200);
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, charge, 2_000));
        w.ok("commit", &[hold, cap, 0, 0, 0, 0, 0], 1_000);
        w.oracle[oracle::state::MARK as usize] = 985;
        let (hold, charge) = buy(&mut w, 2, 2);
        assert_eq!(charge, 20_010, "2 × 10 × 1,000 plus the taker fee");
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, 1_000_000, 2_000));
        w.refused(
            "commit",
            &[hold, cap, 0, 0, 0, 0, 0],
            1_010,
            abort(code::MAX_CHARGE),
        );
    }
}

#[test]
fn a_commit_above_its_max_charge_is_refused() {
    max_charge(slab_program());
}

/// Mutation `NoDebitGuard`: the commit takes its whole shortfall, above `max_charge`.
#[cfg(feature = "planted-mutations")]
#[test]
fn a_commit_without_its_debit_guard_is_caught() {
    let program = slab_program_with(SCRIPT, slab::Mutation::NoDebitGuard);
    let run = std::panic::catch_unwind(|| max_charge(program));
    assert!(run.is_err(), "NoDebitGuard went unnoticed");
}
