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
    let checked = curvescript_check::check_source(SCRIPT, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let block = checked
        .script
        .blocks
        .iter()
        .find(|b| b.kind == BlockKind::Slab)
        .expect("a SLAB block");
    let built = slab::build(block).expect("fits");
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
            &[7, TAKER, 0, 0, 30, 1_005, 100, 1, 2, 3, 4],
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
        // Committed once: a second commit finds no hold.
        let cap = w.cap(good);
        w.refused(
            "commit",
            &[hold, cap, 0, 0, 0, 0, 0],
            1_020,
            abort(code::UNKNOWN_HOLD),
        );

        // A hold of the previous batch does not commit.
        let held = w.ok(
            "reserve",
            &[8, TAKER, 0, 0, 10, 1_005, 1_000, 0, 0, 0, 0],
            1_020,
        );
        w.ok("batch_open", &[0], 1_100);
        let cap = w.cap(Cap::new(TAKER, SLAB_ID, 0, wide(&held, 4), 5_000));
        w.refused(
            "commit",
            &[held[0], cap, 0, 0, 0, 0, 0],
            1_100,
            abort(code::EPOCH),
        );
    }
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
