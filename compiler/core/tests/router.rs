//! The ROUTER program over three real SLAB programs, on both engines (callees on the caller's
//! engine): the registry (P10–P11), the atomic multi-slab route by price (E2E1, E2E2) funded
//! through escrows and caps (P4–P7), and every refusal leaving every slab word and every
//! ledger entry as it was. Expectations come from the books the tests build and README.md's
//! rules, not from running the router.

mod router_reference;
mod router_world;
mod slab_reference;
mod slab_support;

use curve_compiler::templates::router::{self, code};
use curve_compiler::templates::{oracle, slab};
use curvevm::{Engine, ExecOptions, Interpreter, TrapKind};
use curvevm_jit::JitCache;
use router_world::*;

/// Asks of 10 on each slab: 1,010 on the first, 1,000 on the second, 1,005 on the third.
const ASKS: [Resting; 3] = [(0, 1, 1_010, 10), (1, 1, 1_000, 10), (2, 1, 1_005, 10)];

#[test]
fn a_route_fills_the_best_priced_slabs_first_all_or_nothing() {
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&ASKS);
        // Buy 16 within 1,010 over all three: 10 at 1,000 (slab 12), 6 at 1,005 (slab 13).
        let args = [TAKER, 77, 0, 0, 16, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        let got = w.ok(engine, "route", &args);
        let (filled, notional, debit, legs) = (got[0], wide(&got, 1), wide(&got, 3), got[5]);
        assert_eq!((filled, legs), (16, 2));
        assert_eq!(notional, 10 * 1_000 + 6 * 1_005);
        // E2E2: the blended price is within the limit.
        assert!(notional / u128::from(filled) <= 1_010);
        // The taker's positions: +10 on slab 12, +6 on slab 13, nothing on slab 11.
        let debits: u128 = SLABS.iter().map(|&s| w.ledger.account_balance(s, 0)).sum();
        assert_eq!(
            debits, debit,
            "the slabs collected exactly the route's debit"
        );
        // Router-margined: each slab took only the taker fee (5 bps) its fill realised.
        assert_eq!(w.ledger.account_balance(SLABS[0], 0), 0);
        assert_eq!(
            w.ledger.account_balance(SLABS[1], 0),
            10 * 10 * 1_000 * 5 / 10_000
        );
        assert_eq!(
            w.ledger.account_balance(SLABS[2], 0),
            6 * 10 * 1_005 * 5 / 10_000
        );
        // The margin lock: IM 5 % of 10 × 10 × 1,000 and of 6 × 10 × 1,000 at the mark, less
        // the equity, which is slab 13's loss of 6 × 10 × 5 at the mark.
        let im = (10 * 10 * 1_000 + 6 * 10 * 1_000) * 500 / 10_000;
        assert_eq!(w.locked(TAKER), im + 6 * 10 * 5);
        // P5–P7: the vault paid exactly the debit and the lock, no leg escrow keeps anything,
        // every cap burned.
        assert_eq!(
            w.ledger.vault_balance(TAKER, 0),
            FUNDS - debit - w.locked(TAKER)
        );
        for slab in SLABS {
            assert_eq!(w.ledger.escrow_balance(TAKER, slab, 0), 0);
        }
        assert!(w.ledger.caps.values().all(|cap| cap.burned));
        assert_eq!(w.ledger.caps.len(), 2, "one cap per committed leg");
        // The router's view: equity = lock + slab equity = IM; MM 3.5 % of the exposure.
        let mm = (10 * 10 * 1_000 + 6 * 10 * 1_000) * 350 / 10_000;
        assert_eq!(w.margin(engine, TAKER), (im as i128, im, mm, im + 300));
        // The slabs' own margin views agree: the taker holds IM on 12 and 13 only.
        assert_eq!(w.position_value(SLABS[0], TAKER)[2..4], [0, 0]);
        assert_ne!(w.position_value(SLABS[1], TAKER)[2..4], [0, 0]);
        assert_ne!(w.position_value(SLABS[2], TAKER)[2..4], [0, 0]);

        // E2E1: 30 more cannot be filled within 1,010 (14 are left): nothing happens.
        let args = [TAKER, 78, 0, 0, 30, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        w.refused(engine, "route", &args, abort(code::UNFILLED));
        // The rest fills exactly: 4 at 1,005 and 10 at 1,010.
        let args = [TAKER, 79, 0, 0, 14, 1_010, SLABS[2], SLABS[0], 0];
        let got = w.ok(engine, "route", &args);
        assert_eq!(
            (got[0], wide(&got, 1), got[5]),
            (14, 4 * 1_005 + 10 * 1_010, 2)
        );
    }
}

/// README "Two-phase routes" (F1, ESCROW): a reservation funds its legs now and commits
/// later, through the caps it minted, exactly as the one-call route would have; past the caps'
/// expiry the commit is refused with nothing changed, and only then may anyone sweep the
/// pledges back. Expected values come from the books and the slab's `max_charge` rule.
#[test]
fn a_pending_route_commits_before_its_expiry_and_is_swept_after_it() {
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&ASKS);
        let ttl = 60_000;
        // Buy 16 within 1,010: 10 at 1,000 on slab 12, 6 at 1,005 on slab 13. Each hold's
        // max_charge is every unit at its worst price (contract size 10) plus the 5 bps fee.
        let charge = |qty: u128, px: u128| qty * 10 * px + qty * 10 * px * 5 / 10_000;
        let pledged = charge(10, 1_000) + charge(6, 1_005);
        let args = [TAKER, 77, 0, 0, 16, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        assert_eq!(w.ok(engine, "route_reserve", &args), [16, 2, NOW + ttl]);
        assert_eq!(w.ledger.vault_balance(TAKER, 0), FUNDS - pledged);
        assert_eq!(
            w.ledger.escrow_balance(TAKER, SLABS[1], 0),
            charge(10, 1_000)
        );
        assert_eq!(
            w.ledger.escrow_balance(TAKER, SLABS[2], 0),
            charge(6, 1_005)
        );
        assert_eq!(w.ledger.caps.values().filter(|c| !c.burned).count(), 2);
        // A reservation is not a position: no lock, no routed exposure.
        assert_eq!(w.locked(TAKER), 0);
        assert_eq!(w.margin(engine, TAKER), (0, 0, 0, 0));
        // One pending route per user; a sweep before the expiry, a commit of another route id,
        // or another user's commit: refused, nothing changed.
        let again = [TAKER, 78, 0, 0, 1, 1_010, SLABS[0], 0, 0];
        w.refused(engine, "route_reserve", &again, abort(code::ROUTE_PENDING));
        w.now = NOW + ttl;
        w.refused(
            engine,
            "route_sweep",
            &[TAKER, 77],
            abort(code::NOT_EXPIRED),
        );
        w.refused(
            engine,
            "route_commit",
            &[TAKER, 78],
            abort(code::NO_PENDING),
        );
        w.refused(engine, "route_commit", &[4, 77], abort(code::NO_PENDING));
        // At the expiry (inclusive) it commits: the route's own result, the escrows emptied
        // back to the vault but for the debit, every cap burned, the margin lock taken.
        let got = w.ok(engine, "route_commit", &[TAKER, 77]);
        let (filled, notional, debit, legs) = (got[0], wide(&got, 1), wide(&got, 3), got[5]);
        assert_eq!((filled, notional, legs), (16, 10 * 1_000 + 6 * 1_005, 2));
        assert_eq!(debit, (10 * 10 * 1_000 + 6 * 10 * 1_005) * 5 / 10_000);
        for slab in SLABS {
            assert_eq!(w.ledger.escrow_balance(TAKER, slab, 0), 0);
        }
        assert!(w.ledger.caps.values().all(|cap| cap.burned));
        let im = (10 * 10 * 1_000 + 6 * 10 * 1_000) * 500 / 10_000;
        assert_eq!(w.locked(TAKER), im + 6 * 10 * 5);
        assert_eq!(
            w.ledger.vault_balance(TAKER, 0),
            FUNDS - debit - w.locked(TAKER)
        );
        w.refused(
            engine,
            "route_commit",
            &[TAKER, 77],
            abort(code::NO_PENDING),
        );

        // A second reservation (the 14 left: 4 at 1,005, 10 at 1,010), never committed.
        let before = w.ledger.vault_balance(TAKER, 0);
        let args = [TAKER, 79, 0, 0, 14, 1_010, SLABS[0], SLABS[2], 0];
        assert_eq!(w.ok(engine, "route_reserve", &args), [14, 2, w.now + ttl]);
        let pledged = charge(4, 1_005) + charge(10, 1_010);
        assert_eq!(w.ledger.vault_balance(TAKER, 0), before - pledged);
        // The holds keep the asks from anyone else meanwhile.
        let other = [4, 80, 0, 0, 2, 1_010, SLABS[0], SLABS[2], 0];
        w.refused(engine, "route", &other, abort(code::UNFILLED));
        // F1: one ms past the expiry the caps are dead: the commit is refused, nothing moves.
        w.now += ttl + 1;
        w.refused(engine, "route_commit", &[TAKER, 79], abort(code::EXPIRED));
        // The escrow sweep, by anyone: every pledge back, every cap burned, the holds freed.
        assert_eq!(
            w.ok(engine, "route_sweep", &[TAKER, 79])[..],
            [pledged as u64, 0, 2]
        );
        assert_eq!(w.ledger.vault_balance(TAKER, 0), before);
        for slab in SLABS {
            assert_eq!(w.ledger.escrow_balance(TAKER, slab, 0), 0);
        }
        assert!(w.ledger.caps.values().all(|cap| cap.burned));
        w.refused(engine, "route_sweep", &[TAKER, 79], abort(code::NO_PENDING));
        // The asks are free again: user 4 buys what the holds had kept.
        w.ledger.set_vault(4, 0, FUNDS);
        assert_eq!(w.ok(engine, "route", &other)[0], 2);
    }
}

#[test]
fn a_failing_leg_cancels_the_route_and_every_debit() {
    a_failing_leg_cancels_everything(router::Mutation::None);
}

/// The mutant that goes on after a failed commit is caught by the same check.
#[test]
fn a_route_that_commits_past_a_failed_leg_is_caught() {
    let caught = std::panic::catch_unwind(|| {
        a_failing_leg_cancels_everything(router::Mutation::CommitDespiteFailedLeg)
    });
    assert!(caught.is_err(), "the mutant passed");
}

fn a_failing_leg_cancels_everything(mutation: router::Mutation) {
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::with(&ASKS, mutation);
        // Slab 13's oracle has no mark: its commit refuses (after slab 12's committed), and
        // the route takes nothing anywhere.
        let callee = w.slabs.programs.get_mut(&SLABS[2]).expect("slab");
        callee.views[0][oracle::state::MARK as usize] = 0;
        let args = [TAKER, 77, 0, 0, 16, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        w.refused(engine, "route", &args, abort(code::LEG_FAILED));
        // A taker whose vault cannot fund a leg: the host refuses the pledge; nothing moves.
        let mut w = World::new(&ASKS);
        w.ledger.set_vault(TAKER, 0, 1);
        let outcome = w.call(engine, "route", &args);
        assert!(
            matches!(outcome.result, Err(ref t) if matches!(t.kind, TrapKind::Host { .. })),
            "{outcome:?}"
        );
    }
}

/// F3 (percolator §4.19): a slab whose feed went stale takes no reservation (`STALE_MARK` at
/// its `reserve`), so the route fills on the other slabs — here the cheapest slab's asks are
/// skipped for the dearer ones — and with every feed stale nothing fills: `UNFILLED`, nothing
/// changed. A feed fresh again is routed to again.
#[test]
fn a_route_goes_around_a_slab_whose_oracle_is_stale() {
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&ASKS);
        for slab in SLABS {
            w.set_fresh_until(slab, w.now);
        }
        // The second slab (asks at 1,000) is the cheapest; its feed goes stale.
        w.set_fresh_until(SLABS[1], w.now - 1);
        let args = [TAKER, 1, 0, 0, 12, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        let got = w.ok(engine, "route", &args);
        // 10 at 1,005 on the third slab, 2 at 1,010 on the first; none at 1,000.
        assert_eq!(
            (got[0], wide(&got, 1), got[5]),
            (12, 10 * 1_005 + 2 * 1_010, 2)
        );
        assert_eq!(
            w.ledger.account_balance(SLABS[1], 0),
            0,
            "the stale slab took nothing"
        );
        for slab in SLABS {
            w.set_fresh_until(slab, w.now - 1);
        }
        let args = [TAKER, 2, 0, 0, 2, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        w.refused(engine, "route", &args, abort(code::UNFILLED));
        w.set_fresh_until(SLABS[1], w.now);
        let got = w.ok(engine, "route", &args);
        assert_eq!((got[0], wide(&got, 1)), (2, 2 * 1_000));
    }
}

/// `slab_exposure(slab)`: the cap and the routed open interest.
fn exposure(w: &mut World, engine: &dyn Engine, slab: u64) -> (u64, u64) {
    let got = w.ok(engine, "slab_exposure", &[slab]);
    (got[0], got[1])
}

/// F3, E-max (percolator §4.19): a slab's exposure cap takes what of a route it has room for
/// and the next-priced slab the rest; a route the caps cannot hold is refused `EXPOSURE_CAP`
/// (not `UNFILLED`: the depth is there), nothing changed; a cap lowered below the open
/// interest refuses growth but never a close, and a flip goes through when the close frees the
/// room its new side needs. Every figure by hand from the book below.
#[test]
fn an_exposure_cap_sends_the_rest_elsewhere_and_never_refuses_a_close() {
    // Slab 12: asks 20 at 1,000, bids 20 at 990; slab 13: asks 20 at 1,005.
    const BOOK: [Resting; 3] = [(1, 1, 1_000, 20), (1, 0, 990, 20), (2, 1, 1_005, 20)];
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&BOOK);
        let (cheap, dear) = (SLABS[1], SLABS[2]);
        w.refused(engine, "set_max_exposure", &[14, 6], abort(code::UNLISTED));
        w.refused(engine, "slab_exposure", &[14], abort(code::UNLISTED));
        assert_eq!(
            exposure(&mut w, engine, cheap),
            (0, 0),
            "no cap when listed"
        );
        w.ok(engine, "set_max_exposure", &[cheap, 6]);
        // Buy 10 within 1,010: 6 at 1,000 on the capped slab, the other 4 at 1,005.
        let got = w.ok(
            engine,
            "route",
            &[TAKER, 1, 0, 0, 10, 1_010, cheap, dear, 0],
        );
        assert_eq!((got[0], wide(&got, 1), got[5]), (10, 6_000 + 4 * 1_005, 2));
        assert_eq!(exposure(&mut w, engine, cheap), (6, 6));
        assert_eq!(exposure(&mut w, engine, dear), (0, 4));
        // No room left on the cheap slab: growth there is refused although its asks remain.
        let buy = [TAKER, 2, 0, 0, 2, 1_010, cheap, 0, 0];
        w.refused(engine, "route", &buy, abort(code::EXPOSURE_CAP));
        // Governance lowers the cap below the open interest: closing 4 of the 6 still goes.
        w.ok(engine, "set_max_exposure", &[cheap, 2]);
        let got = w.ok(engine, "route", &[TAKER, 3, 0, 1, 4, 980, cheap, 0, 0]);
        assert_eq!((got[0], wide(&got, 1)), (4, 4 * 990));
        assert_eq!(exposure(&mut w, engine, cheap), (2, 2));
        // Selling 6 would close 2 and open a short of 4: room 0 + 2 closable.
        let flip = [TAKER, 4, 0, 1, 6, 980, cheap, 0, 0];
        w.refused(engine, "route", &flip, abort(code::EXPOSURE_CAP));
        // With a cap of 4 the room is 2 + 2: a flip of 4 (long 2 → short 2) goes, 6 does not.
        w.ok(engine, "set_max_exposure", &[cheap, 4]);
        w.refused(engine, "route", &flip, abort(code::EXPOSURE_CAP));
        let got = w.ok(engine, "route", &[TAKER, 5, 0, 1, 4, 980, cheap, 0, 0]);
        assert_eq!((got[0], wide(&got, 1)), (4, 4 * 990));
        assert_eq!(exposure(&mut w, engine, cheap), (4, 2));
        // Lifting the cap lets the refused growth through.
        w.ok(engine, "set_max_exposure", &[cheap, 0]);
        let got = w.ok(engine, "route", &buy);
        assert_eq!((got[0], wide(&got, 1)), (2, 2 * 1_000));
        assert_eq!(
            exposure(&mut w, engine, cheap),
            (0, 0),
            "the short of 2 closed"
        );
    }
}

#[test]
fn the_registry_decides_which_slabs_a_route_reaches() {
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&ASKS);
        let route = |a, b, c| [TAKER, 5, 0, 0, 4, 1_010, a, b, c];
        // P11: an unlisted slab, a delisted one, a slab twice, no slab, user 0, bad side/qty.
        w.refused(engine, "route", &route(14, 0, 0), abort(code::UNLISTED));
        w.ok(engine, "delist_slab", &[SLABS[1]]);
        w.refused(
            engine,
            "route",
            &route(SLABS[1], 0, 0),
            abort(code::UNLISTED),
        );
        w.refused(engine, "delist_slab", &[SLABS[1]], abort(code::UNLISTED));
        w.refused(
            engine,
            "route",
            &route(SLABS[0], SLABS[0], 0),
            abort(code::DUPLICATE_LEG),
        );
        w.refused(engine, "route", &route(0, 0, 0), abort(code::NO_LEGS));
        let mut bad = route(SLABS[0], 0, 0);
        bad[0] = 0;
        w.refused(engine, "route", &bad, abort(code::BAD_USER));
        bad = route(SLABS[0], 0, 0);
        bad[3] = 2;
        w.refused(engine, "route", &bad, abort(code::BAD_SIDE));
        bad[3] = 0;
        bad[4] = 0;
        w.refused(engine, "route", &bad, abort(code::BAD_QTY));
        w.refused(engine, "list_slab", &[0], abort(code::BAD_SLAB));
        // Relisting reuses the entry; the delisted slab's book is reachable again.
        assert_eq!(w.ok(engine, "list_slab", &[SLABS[1]]), vec![1]);
        let got = w.ok(engine, "route", &route(SLABS[1], 0, 0));
        assert_eq!((got[0], wide(&got, 1)), (4, 4 * 1_000));
        // The registry holds 16 slabs.
        for slab in 100..113 {
            w.ok(engine, "list_slab", &[slab]);
        }
        w.refused(engine, "list_slab", &[200], abort(code::REGISTRY_FULL));
    }
}

/// Books for the portfolio tests: asks of 20 at 1,000 on every slab and bids of 20 at 1,000
/// on the second and third, so a taker trades at the mark (1,000) and its equity is its cash.
const BOTH_SIDES: [Resting; 5] = [
    (0, 1, 1_000, 20),
    (1, 0, 1_000, 20),
    (2, 0, 1_000, 20),
    (1, 1, 1_005, 20),
    (2, 1, 1_005, 20),
];

/// The monolithic book's IM, computed here from the positions alone (percolator §4.15): one
/// book per feed, `⌊|Σ q × contract_size| × mark × imr / 10,000⌋` summed over feeds.
fn monolithic_im(positions: &[(&str, i128)]) -> u128 {
    let mut feeds: Vec<(&str, i128)> = Vec::new();
    for &(feed, q) in positions {
        match feeds.iter_mut().find(|(f, _)| *f == feed) {
            Some((_, net)) => *net += q,
            None => feeds.push((feed, q)),
        }
    }
    feeds
        .iter()
        .map(|(_, net)| net.unsigned_abs() * 10 * u128::from(MARK) * 500 / 10_000)
        .sum()
}

/// One capital-efficiency case: the trades (slab index, side, qty) routed one by one at 1,000
/// (the mark), then Σ IM over the slabs' own views, the router's IM and the lock.
fn portfolio_case(
    engine: &dyn Engine,
    setup: Setup,
    trades: &[(usize, u64, u64)],
) -> (u128, u128, u128) {
    let (per_slab, im, _, locked) = portfolio_margins(engine, setup, trades);
    (per_slab, im, locked)
}

/// [`portfolio_case`] with the router's MM: (Σ IM per slab, IM, MM, lock).
fn portfolio_margins(
    engine: &dyn Engine,
    setup: Setup,
    trades: &[(usize, u64, u64)],
) -> (u128, u128, u128, u128) {
    let mut w = World::build(&BOTH_SIDES, setup);
    for (n, &(slab, side, qty)) in trades.iter().enumerate() {
        let args = [
            TAKER,
            100 + n as u64,
            0,
            side,
            qty,
            1_000,
            SLABS[slab],
            0,
            0,
        ];
        w.ok(engine, "route", &args);
    }
    let per_slab: u128 = SLABS
        .iter()
        .map(|&s| wide(&w.position_value(s, TAKER), 2))
        .sum();
    let (equity, im, mm, locked) = w.margin(engine, TAKER);
    assert_eq!(locked, w.locked(TAKER), "the view's lock is the escrow's");
    // Traded at the mark: the slabs' equity is 0 (each fee was debited into cash).
    assert_eq!(equity, locked as i128);
    (per_slab, im, mm, locked)
}

/// RM4, RM5 across feeds (README "Correlation pairs"): opposite nets on two feeds that a
/// `CORRELATION` pair names offset `⌊α × min / 10,000⌋` of the smaller, in IM and in MM,
/// after a feed's own legs net; a feed no pair names keeps its margin; nets on one side, or
/// a pair no leg's feed is in, offset nothing. Every figure is computed here from
/// the README: 10 contracts (size 10) at the mark 1,000 have IM 5,000 (500 bps) and MM
/// 3,500 (350 bps) on every slab.
#[test]
fn a_correlation_pair_offsets_opposite_nets_on_two_feeds() {
    let key = slab::params::oracle_key;
    let (sol, eth, btc) = (key("pyth:SOLUSD"), key("pyth:ETHUSD"), key("pyth:BTCUSD"));
    // A pair no slab's feed is in.
    let unheld = (btc, key("pyth:AVAXUSD"), 9_000);
    let none = (0, 0, 0);
    // (name, pairs, trades (slab, side 0 buy / 1 sell, qty), BTC on the second slab,
    // expected IM, expected MM).
    type PairCase = (
        &'static str,
        [(u64, u64, u64); 4],
        &'static [(usize, u64, u64)],
        bool,
        u128,
        u128,
    );
    let cases: [PairCase; 8] = [
        // 10,000 − ⌊0.7 × 5,000⌋; 7,000 − ⌊0.7 × 3,500⌋.
        (
            "long SOL / short ETH",
            [(sol, eth, 7_000), none, none, none],
            &[(0, 0, 10), (2, 1, 10)],
            false,
            6_500,
            4_550,
        ),
        (
            "the pair written the other way",
            [(eth, sol, 7_000), none, none, none],
            &[(0, 0, 10), (2, 1, 10)],
            false,
            6_500,
            4_550,
        ),
        // SOL 10,000 against ETH −5,000: the smaller is ETH's.
        (
            "long 2 SOL / short 1 ETH",
            [(sol, eth, 7_000), none, none, none],
            &[(0, 0, 20), (2, 1, 10)],
            false,
            11_500,
            8_050,
        ),
        (
            "both short",
            [(sol, eth, 7_000), none, none, none],
            &[(1, 1, 10), (2, 1, 10)],
            false,
            10_000,
            7_000,
        ),
        // ⌊0.3333 × 5,000⌋ = 1,666; ⌊0.3333 × 3,500⌋ = 1,166 (the pair in the second slot).
        (
            "α rounds down",
            [none, (sol, eth, 3_333), unheld, none],
            &[(0, 0, 10), (2, 1, 10)],
            false,
            8_334,
            5_834,
        ),
        // 20 contracts a side: min 10,000, ⌊0.3333 × 10,000⌋ = 3,333; MM min 7,000,
        // ⌊0.3333 × 7,000⌋ = 2,333.
        (
            "whole units of 10,000",
            [(sol, eth, 3_333), none, none, none],
            &[(0, 0, 20), (2, 1, 20)],
            false,
            16_667,
            11_667,
        ),
        // Long 20 SOL on the first slab, short 10 SOL on the second: the feed's net is
        // 10,000 − 5,000 = 5,000 (IM 20,000 − 10,000 after the per-feed offset), against
        // ETH's −5,000: −3,500. MM 14,000 − 7,000 − ⌊0.7 × 3,500⌋ = 4,550.
        (
            "a feed on two slabs, then the pair",
            [(sol, eth, 7_000), none, none, none],
            &[(0, 0, 20), (1, 1, 10), (2, 1, 10)],
            false,
            6_500,
            4_550,
        ),
        // Three feeds: long SOL and short BTC offset ⌊0.5 × 5,000⌋ = 2,500 (MM 1,750); the
        // ETH short is in no pair and keeps its 5,000 (MM 3,500).
        (
            "a feed in no pair",
            [(sol, btc, 5_000), none, none, none],
            &[(0, 0, 10), (1, 1, 10), (2, 1, 10)],
            true,
            12_500,
            8_750,
        ),
    ];
    for engine in engines() {
        let engine = engine.as_ref();
        for (name, correlations, trades, btc_second, im, mm) in cases {
            let setup = Setup {
                cross: true,
                other_feed_on_third: true,
                feed_of_second: btc_second.then_some("pyth:BTCUSD"),
                correlations,
                ..Setup::default()
            };
            let (per_slab, got_im, got_mm, locked) = portfolio_margins(engine, setup, trades);
            println!("{name}: Σ IM per slab {per_slab}, router IM {got_im}, MM {got_mm}");
            assert_eq!((got_im, got_mm), (im, mm), "{name}");
            assert_eq!(
                locked, im,
                "{name}: the lock is the IM (equity 0 at the mark)"
            );
            assert!(per_slab >= got_im, "RM4 in {name}");
            // The pairs are `cross_alpha`'s: `isolated` margins per slab (once per engine:
            // each case builds and compiles a world).
            if name != cases[0].0 {
                continue;
            }
            let isolated = Setup {
                cross: false,
                ..setup
            };
            let (per_slab, got_im, _, _) = portfolio_margins(engine, isolated, trades);
            assert_eq!(got_im, per_slab, "isolated ignores the pairs in {name}");
        }
    }
}

/// P8, RM4, RM5 and the capital-efficiency target (percolator §4.15): positions on two slabs
/// marked by one feed net; the router's IM is at most the per-slab sum and within 5 % of a
/// monolithic book's; positions on different feeds do not net.
#[test]
fn portfolio_margin_nets_opposite_positions_across_slabs() {
    portfolio_margin_nets(router::Mutation::None);
}

/// The mutant that margins per slab only is caught by the same checks.
#[test]
fn margin_computed_per_slab_only_is_caught() {
    let caught =
        std::panic::catch_unwind(|| portfolio_margin_nets(router::Mutation::MarginPerSlab));
    assert!(caught.is_err(), "the mutant passed");
}

/// A capital-efficiency case: its name, the trades (slab index, side, qty), the positions by
/// feed they leave, and whether the third slab is on another feed.
type Case = (
    &'static str,
    &'static [(usize, u64, u64)],
    &'static [(&'static str, i128)],
    bool,
);

fn portfolio_margin_nets(mutation: router::Mutation) {
    let unit_im = 10 * 10 * u128::from(MARK) * 500 / 10_000; // 10 contracts of 10 at 1,000
    let cases: [Case; 4] = [
        (
            "full offset",
            &[(0, 0, 10), (1, 1, 10)],
            &[("SOL", 10), ("SOL", -10)],
            false,
        ),
        (
            "long 2 / short 1",
            &[(0, 0, 20), (1, 1, 10)],
            &[("SOL", 20), ("SOL", -10)],
            false,
        ),
        (
            "same side",
            &[(1, 1, 10), (2, 1, 10)],
            &[("SOL", -10), ("SOL", -10)],
            false,
        ),
        (
            "other feed",
            &[(0, 0, 10), (2, 1, 10)],
            &[("SOL", 10), ("ETH", -10)],
            true,
        ),
    ];
    for engine in engines() {
        let engine = engine.as_ref();
        for (name, trades, positions, other_feed) in cases {
            let cross = Setup {
                mutation,
                cross: true,
                other_feed_on_third: other_feed,
                ..Setup::default()
            };
            let (per_slab, im, locked) = portfolio_case(engine, cross, trades);
            let monolithic = monolithic_im(positions);
            println!(
                "{name}: Σ IM per slab {per_slab}, router IM {im}, monolithic {monolithic}, lock {locked}"
            );
            assert!(per_slab >= im, "RM4 in {name}");
            assert!(
                im * 100 <= monolithic * 105,
                "within 5 % of monolithic in {name}"
            );
            assert!(
                monolithic * 100 <= im * 105,
                "within 5 % of monolithic in {name}"
            );
            assert_eq!(
                locked, im,
                "{name}: the lock is the IM (equity 0 at the mark)"
            );
            // `isolated` margins per slab: the sum.
            let isolated = Setup {
                cross: false,
                ..cross
            };
            let (per_slab, im, _) = portfolio_case(engine, isolated, trades);
            assert_eq!(im, per_slab, "isolated is the per-slab sum in {name}");
        }
        // The figures themselves (RM5): a full offset needs nothing, long 2 / short 1 one
        // unit's IM, against 2 and 3 units per slab.
        let setup = Setup {
            mutation,
            cross: true,
            ..Setup::default()
        };
        let (per_slab, im, _) = portfolio_case(engine, setup, &[(0, 0, 10), (1, 1, 10)]);
        assert_eq!((per_slab, im), (2 * unit_im, 0));
        let (per_slab, im, _) = portfolio_case(engine, setup, &[(0, 0, 20), (1, 1, 10)]);
        assert_eq!((per_slab, im), (3 * unit_im, unit_im));
    }
}

/// RM1, RM2, RM5: the router's IM follows the net exposure of one feed: it grows with every
/// buy on one slab, falls with every sell on another until the two offset (0), and grows
/// again past it — always exactly the monolithic book's IM of the net position.
#[test]
fn router_im_is_monotone_in_net_exposure() {
    for engine in engines() {
        let engine = engine.as_ref();
        let setup = Setup {
            cross: true,
            ..Setup::default()
        };
        let mut w = World::build(&BOTH_SIDES, setup);
        let mut net: i128 = 0;
        let mut previous = 0;
        let steps = [(0, 0); 5].into_iter().chain([(1, 1); 10]);
        for (n, (slab, side)) in steps.enumerate() {
            let args = [TAKER, n as u64, 0, side, 2, 1_000, SLABS[slab], 0, 0];
            w.ok(engine, "route", &args);
            net += if side == 0 { 2 } else { -2 };
            let (_, im, _, _) = w.margin(engine, TAKER);
            assert_eq!(im, monolithic_im(&[("SOL", net)]), "after {n}: net {net}");
            if !(5..10).contains(&n) {
                assert!(im > previous, "RM1: more net exposure, more IM (step {n})");
            } else {
                assert!(
                    im < previous,
                    "RM2/RM5: an offsetting trade lowers IM (step {n})"
                );
            }
            previous = im;
        }
    }
}

/// Issue 25: a router call's own margin work stays within 300,000 gas. The static bound of
/// `margin` (and of `sync_margin`) is the router's own steps plus, for each of the four
/// portfolio legs, the most gas a slab view may use; what is left is the router's.
#[test]
fn the_routers_own_margin_gas_is_bounded() {
    let lowered = curve_ir::lower(&router::program()).expect("lowers");
    let views = router::LEGS_PER_PORTFOLIO as u64 * curve_compiler::templates::probe::SLAB_CALL_GAS;
    for entry in ["margin", "sync_margin"] {
        let bound = lowered
            .gas_bounds
            .iter()
            .find(|(name, _)| name == entry)
            .map(|(_, bound)| *bound)
            .expect("a bound");
        let own = bound - views;
        println!("{entry}: static bound {bound} gas, of which the router's own {own}");
        assert!(own <= 300_000, "{entry}: {own}");
    }
}

/// P9 and RM2: the router's equity follows the marks (cash + Σ unrealised PnL + lock) and a
/// route recomputes the lock from it — a profit frees margin, a closing trade releases it and
/// leaves the portfolio; a user whose vault cannot cover the lock is refused, nothing changes.
#[test]
fn the_margin_lock_follows_equity_and_closing_releases_it() {
    for engine in engines() {
        let engine = engine.as_ref();
        let setup = Setup {
            cross: true,
            ..Setup::default()
        };
        let mut w = World::build(&BOTH_SIDES, setup);
        let fees = |n: u128| n * 10 * 1_000 * 5 / 10_000;
        w.ok(
            engine,
            "route",
            &[TAKER, 1, 0, 0, 20, 1_000, SLABS[0], 0, 0],
        );
        w.ok(
            engine,
            "route",
            &[TAKER, 2, 0, 1, 10, 1_000, SLABS[1], 0, 0],
        );
        let unit_im = 10 * 10 * 1_000 * 500 / 10_000;
        assert_eq!(w.locked(TAKER), unit_im);
        assert_eq!(w.ledger.vault_balance(TAKER, 0), FUNDS - fees(30) - unit_im);
        // Both marks to 1,100: +20 × 10 × 100 on slab 11, −10 × 10 × 100 on slab 12.
        for slab in SLABS {
            w.set_mark(slab, 1_100);
        }
        let (equity, im, mm, locked) = w.margin(engine, TAKER);
        assert_eq!(equity, unit_im as i128 + 20_000 - 10_000);
        // IM: 20 × 10 × 1,100 × 5 % long against 10 × 10 × 1,100 × 5 % short: the net 10.
        assert_eq!(im, 10 * 10 * 1_100 * 500 / 10_000);
        assert_eq!(mm, 10 * 10 * 1_100 * 350 / 10_000);
        assert_eq!(locked, unit_im, "a view changes nothing");
        // The next route recomputes the lock: equity covers IM, the lock goes back.
        w.ok(engine, "route", &[TAKER, 3, 0, 1, 2, 1_000, SLABS[2], 0, 0]);
        assert_eq!(w.locked(TAKER), 0);
        // Back to 1,000, then close everything: the lock stays 0, the portfolio empties.
        for slab in SLABS {
            w.set_mark(slab, 1_000);
        }
        w.slab_call(SLABS[0], "place_order", &[MAKER, 0, 0, 1_000, 20])
            .expect("a bid on slab 11");
        w.ok(
            engine,
            "route",
            &[TAKER, 4, 0, 1, 20, 1_000, SLABS[0], 0, 0],
        );
        w.ok(
            engine,
            "route",
            &[TAKER, 5, 0, 0, 10, 1_005, SLABS[1], 0, 0],
        );
        w.ok(engine, "route", &[TAKER, 6, 0, 0, 2, 1_005, SLABS[2], 0, 0]);
        assert_eq!(w.margin(engine, TAKER).1, 0, "RM2: no position, no IM");
        assert_eq!(w.locked(TAKER), 0);
        for slab in SLABS {
            assert_eq!(wide(&w.position_value(slab, TAKER), 2), 0);
        }

        // A user without margin: long 10 on slab 11, then its mark falls to 100 (a loss of
        // 90,000); the vault pays one more leg's pledge but not the lock it then needs.
        let mut w = World::build(&BOTH_SIDES, setup);
        w.ok(
            engine,
            "route",
            &[TAKER, 1, 0, 0, 10, 1_000, SLABS[0], 0, 0],
        );
        w.set_mark(SLABS[0], 100);
        w.ledger.set_vault(TAKER, 0, 25_000);
        let before = w.snapshot();
        let outcome = w.call(engine, "route", &[TAKER, 2, 0, 0, 2, 1_005, SLABS[1], 0, 0]);
        assert_eq!(
            outcome.result.map_err(|t| t.kind),
            Err(TrapKind::Host {
                id: curvevm::hostcall::id::VAULT_PLEDGE,
                code: curvevm::hostcall::Refusal::VaultBalance.code(),
            })
        );
        assert!(w.snapshot() == before, "a refused route changed state");
        // The same route at the old mark needs 1,100 more lock (IM 6,000 less the equity of
        // −2 × 10 × 5): the vault pays it, so the refusal above was the lock's.
        w.set_mark(SLABS[0], 1_000);
        w.ok(engine, "route", &[TAKER, 2, 0, 0, 2, 1_005, SLABS[1], 0, 0]);
        assert_eq!(w.locked(TAKER), 6_100);
    }
}

/// P2, P6: a slab that tries to take its debit without the router's cap is refused by the
/// host, so its leg fails and the route cancels every leg and debit; the same route on the
/// template as specified commits.
#[test]
fn a_slab_debit_without_a_cap_is_refused() {
    for engine in engines() {
        let engine = engine.as_ref();
        let args = [TAKER, 77, 0, 0, 16, 1_010, SLABS[0], SLABS[1], SLABS[2]];
        let setup = Setup {
            slab_mutation: slab::Mutation::DebitWithoutCap,
            ..Setup::default()
        };
        let mut w = World::build(&ASKS, setup);
        w.refused(engine, "route", &args, abort(code::LEG_FAILED));
        // At the slab itself: the hold's commit asks the host for a debit under cap id 0,
        // which the host refuses (`unknown_cap`) whatever cap the router passed.
        let held = w
            .slab_call(
                SLABS[1],
                "reserve",
                &[9, TAKER, 0, 0, 4, 1_010, 60_000, 0, 0, 0, 0],
            )
            .expect("a hold");
        assert_eq!(
            w.slab_call(SLABS[1], "commit", &[held[0], 1, 0, 0, 0, 0, 1]),
            Err(TrapKind::Host {
                id: curvevm::hostcall::id::SAFE_DEBIT,
                code: curvevm::hostcall::Refusal::UnknownCap.code(),
            })
        );
        // The template as specified commits the same route.
        assert_eq!(World::new(&ASKS).ok(engine, "route", &args)[0], 16);
    }
}

/// GOV1: a listed slab whose program no longer implements the pinned slab interface (its
/// descriptor hash differs) is refused at the invoke, and the route changes nothing.
#[test]
fn a_slab_with_another_interface_is_refused() {
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&ASKS);
        w.slabs
            .programs
            .get_mut(&SLABS[1])
            .expect("slab")
            .interface_hash = [0x22; 32];
        let args = [TAKER, 5, 0, 0, 4, 1_010, SLABS[1], 0, 0];
        w.refused(
            engine,
            "route",
            &args,
            TrapKind::Host {
                id: curvevm::hostcall::id::INVOKE,
                code: curvevm::hostcall::Refusal::InterfaceMismatch.code(),
            },
        );
        // The other slabs still route.
        let args = [TAKER, 6, 0, 0, 4, 1_010, SLABS[0], SLABS[2], 0];
        assert_eq!(w.ok(engine, "route", &args)[0], 4);
    }
}

#[test]
fn a_sell_route_fills_the_highest_bids_first() {
    // Bids of 10: 990 on the first slab, 995 on the second, 985 on the third.
    let bids: [Resting; 3] = [(0, 0, 990, 10), (1, 0, 995, 10), (2, 0, 985, 10)];
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&bids);
        let args = [TAKER, 9, 0, 1, 14, 985, SLABS[0], SLABS[1], SLABS[2]];
        let got = w.ok(engine, "route", &args);
        assert_eq!((got[0], wide(&got, 1), got[5]), (14, 10 * 995 + 4 * 990, 2));
        assert!(wide(&got, 1) / 14 >= 985, "E2E2 for a sell");
    }
}

/// What the differential run reached.
#[derive(Debug, Default)]
struct Coverage {
    routes: usize,
    /// Margin views a correlation pair lowered.
    pair_netted: usize,
    committed: usize,
    two_or_more_legs: usize,
    refusals: std::collections::BTreeMap<u8, usize>,
    host_refusals: usize,
    orders: usize,
    /// Routes after which the lock grew, and after which it shrank.
    locks_pledged: usize,
    locks_released: usize,
    /// Margin checks where the router's IM was below the per-slab sum (netting happened).
    netted: usize,
    /// Margin views refused (a slab without a mark).
    margin_views_refused: usize,
    /// Routes after the slabs' upgrade.
    routes_after_upgrade: usize,
    /// Routes and syncs refused because the vault could not pay the margin lock (every leg
    /// could).
    margin_refusals: usize,
    /// Margin syncs that succeeded.
    syncs: usize,
    /// Keeper liquidations by status: saved, in grace, liquidated, healthy.
    liquidations: [usize; 4],
    /// Exposure caps set (E-max), and committed routes after which a capped slab's open
    /// interest stood exactly at its cap.
    caps_set: usize,
    at_cap: usize,
    /// Two-phase routes: reserved, committed, refused `EXPIRED` (the caps expired), swept
    /// after their expiry, and sweeps refused `NOT_EXPIRED`.
    reserved: usize,
    pending_committed: usize,
    commit_refusals: std::collections::BTreeMap<u8, usize>,
    expired: usize,
    swept: usize,
    not_expired: usize,
}

/// Whether a route the model refused with `vault_balance` failed at the margin lock: with
/// unlimited funds it succeeds, and the user's vault would have paid every leg's pledge.
fn lock_refused(
    model: &router_reference::RouterModel,
    now: u64,
    args: &[u64; 9],
    legs: [u64; 3],
) -> bool {
    let user = args[0];
    let mut rich = model.clone();
    rich.deposit(user, 1 << 100);
    let r = rich.route_report(now, user, args[1], 0, args[3], args[4], args[5], legs);
    let Ok(report) = r else {
        return false;
    };
    let mut vault = model.vault(user);
    for leg in &report.legs {
        if vault < leg.max_charge {
            return false;
        }
        vault -= leg.committed.total_debit;
    }
    true
}

/// A small deterministic generator (xorshift); the seed is printed.
struct Rng(u64);

impl Rng {
    fn new(test: &str) -> Rng {
        let seed = std::env::var("ROUTER_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5EED_0025 ^ test.len() as u64);
        println!("{test}: seed {seed} (ROUTER_SEED={seed} replays it)");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

const MAKERS: [u64; 2] = [MAKER, 3];
const TAKERS: [u64; 4] = [TAKER, 4, 5, 6];

/// The router and three slabs against the reference model (`router_reference/`, written from
/// README.md and composing the slab's model): makers rest and cancel orders, takers route
/// random quantities, sides, limits and leg lists, governance delists and relists and sets
/// exposure caps near (and below) a slab's open interest, marks move (a missing mark fails a
/// leg's commit), one taker is short of collateral. After every step the route's result or
/// refusal, every slab's cap and routed open interest, every slab account (cash, IM, MM) of
/// every user, every vault, escrow and slab collection, and the caps agree.
/// The upgrade of the differential's middle: the slab template built without its tick guard —
/// other bytecode with the same layout and interface, which no differential input can tell
/// apart (every price it sends is on the tick).
fn upgraded_slab() -> std::sync::Arc<curvevm::Program> {
    mutated_slab(slab::Mutation::NoTick)
}

fn differential(
    engine: &dyn Engine,
    rng: &mut Rng,
    steps: usize,
    setup: Setup,
) -> Result<Coverage, String> {
    use router_reference::{RouteError, RouterModel};
    let mut coverage = Coverage::default();
    // A buffer of 50,000 above maintenance and a grace window of 60 ms (a few steps).
    let liquidation = setup.liquidation.unwrap_or((200, 100, 50_000, 60));
    let setup = Setup {
        liquidation: Some(liquidation),
        ..setup
    };
    let mut w = World::build(&[], setup);
    let (_, params) = slab_program();
    let layout = built_slab().layout;
    let model_params = slab_support::model_params(&layout, &params, 7);
    let mut model = RouterModel::new(
        60_000,
        SLABS
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let mut params = model_params.clone();
                if setup.other_feed_on_third && i == 2 {
                    params.instruments[0].oracle_key = slab::params::oracle_key("pyth:ETHUSD");
                }
                let mut slab = slab_reference::reference::Model::new(params);
                slab.set_maker_class(MAKER, 1).expect("a DLP");
                (id, slab, vec![MARK])
            })
            .collect(),
    );
    for slab in SLABS {
        model.list_slab(slab).expect("lists");
        w.slab_call(slab, "set_maker_class", &[3, 1])
            .expect("a DLP");
        model.slab_mut(slab).set_maker_class(3, 1).expect("a DLP");
    }
    model.deposit(TAKER, FUNDS);
    for taker in &TAKERS[1..] {
        // Taker 5 cannot pay most routes' legs; taker 6 pays its small legs but, after a
        // crash of the mark, not always its margin.
        let funds = match *taker {
            5 => 2_000,
            6 => 120_000,
            _ => FUNDS,
        };
        w.ledger.set_vault(*taker, 0, funds);
        model.deposit(*taker, funds);
    }
    model.set_cross_alpha(setup.cross);
    model.set_correlations(&setup.correlations);
    let (band, preliq_band, buffer, grace) = liquidation;
    model.set_liquidation(band, preliq_band, buffer, grace);
    let upgrade = upgraded_slab();
    let mut delisted: Vec<u64> = Vec::new();
    // A taker the last liquidation left in its grace window.
    let mut graced: Option<u64> = None;
    for step in 0..steps {
        if step == steps / 2 {
            w.upgrade_slabs(&upgrade);
        }
        w.now += rng.below(20);
        let what;
        match rng.below(23) {
            0..=7 => {
                let slab = SLABS[rng.below(3) as usize];
                let maker = MAKERS[rng.below(2) as usize];
                let side = rng.below(2);
                let price = if side == 1 {
                    5 * (200 + rng.below(12))
                } else {
                    5 * (188 + rng.below(12))
                };
                let qty = 2 * (1 + rng.below(10));
                let args = [maker, 0, side, price, qty];
                let got = w.slab_call(slab, "place_order", &args).map(|r| r[0]);
                let want = model
                    .slab_mut(slab)
                    .place_order(w.now, maker, 0, side, price, qty);
                coverage.orders += usize::from(got.is_ok());
                if got != want.map_err(|a| abort(a.code() as u8)) {
                    return Err(format!(
                        "step {step}: place_order{args:?} on {slab}: vm {got:?}, model {want:?}"
                    ));
                }
                what = "place_order";
            }
            8 => {
                let slab = SLABS[rng.below(3) as usize];
                let maker = MAKERS[rng.below(2) as usize];
                let order = 1 + rng.below(20);
                let got = w
                    .slab_call(slab, "cancel_order", &[maker, order])
                    .map(|r| r[0]);
                let want = model.slab_mut(slab).cancel_order(w.now, maker, order);
                if got != want.map_err(|a| abort(a.code() as u8)) {
                    return Err(format!(
                        "step {step}: cancel_order {order} on {slab}: vm {got:?}, model {want:?}"
                    ));
                }
                what = "cancel_order";
            }
            9 => {
                // A missing mark lasts until the next mark step.
                for slab in SLABS {
                    if model.marks(slab)[0] == 0 {
                        w.slabs.programs.get_mut(&slab).expect("slab").views[0]
                            [oracle::state::MARK as usize] = MARK;
                        model.set_marks(slab, vec![MARK]);
                    }
                }
                let slab = SLABS[rng.below(3) as usize];
                let mark = match rng.below(8) {
                    0 => 0,
                    1 => 100, // a crash, until this slab's next mark
                    _ => 950 + 5 * rng.below(20),
                };
                w.slabs.programs.get_mut(&slab).expect("slab").views[0]
                    [oracle::state::MARK as usize] = mark;
                model.set_marks(slab, vec![mark]);
                what = "mark";
            }
            20 | 21 => {
                // A taker brings its lock to its margin without trading.
                let user = TAKERS[rng.below(TAKERS.len() as u64) as usize];
                let got = w.call(engine, "sync_margin", &[user]).result;
                let want = model.sync_margin(user);
                let agree = match (&got, &want) {
                    (Ok(r), Ok(locked)) => {
                        coverage.syncs += 1;
                        wide(r, 0) == *locked
                    }
                    (Err(t), Err(RouteError::Abort(code))) => t.kind == abort(*code),
                    (Err(t), Err(RouteError::Host(_))) => {
                        coverage.margin_refusals += 1;
                        matches!(t.kind, TrapKind::Host { .. })
                    }
                    _ => false,
                };
                if !agree {
                    return Err(format!(
                        "step {step}: sync_margin({user}): vm {got:?}, model {want:?}"
                    ));
                }
                what = "sync_margin";
            }
            11 | 12 => {
                // A keeper liquidates a taker: mostly healthy, short after a crash of a mark;
                // one in its grace window is called again until the window ends.
                // Taker 6 is left to the margin refusals its vault runs into.
                let keeper_takers: Vec<u64> = TAKERS.iter().copied().filter(|&u| u != 6).collect();
                let short: Vec<u64> = keeper_takers
                    .iter()
                    .copied()
                    .filter(|&u| {
                        model.margin(u).is_ok_and(|(equity, im, mm, _)| {
                            equity < im as i128 && equity - (mm as i128) < liquidation.2 as i128
                        })
                    })
                    .collect();
                let user = match graced {
                    Some(user) if rng.below(4) != 0 => user,
                    _ if !short.is_empty() && rng.below(2) == 0 => {
                        short[rng.below(short.len() as u64) as usize]
                    }
                    _ => keeper_takers[rng.below(keeper_takers.len() as u64) as usize],
                };
                if user != TAKERS[0] && short.contains(&user) && rng.below(2) == 0 {
                    // The user has spent its free collateral elsewhere: nothing to re-pledge.
                    let vault = model.vault(user);
                    model.withdraw(user, vault).expect("its own balance");
                    w.ledger.set_vault(user, 0, 0);
                }
                let got = w.call(engine, "liquidate", &[user]).result;
                let want = model.liquidate(w.now, user);
                let agree = match (&got, &want) {
                    (Ok(r), Ok((status, health, residual))) => {
                        coverage.liquidations[*status as usize] += 1;
                        graced = (*status == 1).then_some(user);
                        (r[0], wide(r, 1) as i128, wide(r, 3)) == (*status, *health, *residual)
                    }
                    (Err(t), Err(RouteError::Abort(code))) => t.kind == abort(*code),
                    (Err(t), Err(RouteError::Host(_))) => matches!(t.kind, TrapKind::Host { .. }),
                    _ => false,
                };
                if !agree {
                    return Err(format!(
                        "step {step}: liquidate({user}): vm {got:?}, model {want:?}"
                    ));
                }
                margin_agrees(engine, &mut w, &mut model, user, &mut coverage)
                    .map_err(|e| format!("step {step} after liquidate({user}): {e}"))?;
                what = "liquidate";
            }
            22 => {
                // Governance caps a slab near its routed open interest (even: the lot is 2),
                // below it now and then, or lifts the cap.
                let slab = SLABS[rng.below(3) as usize];
                let (_, open) = model.slab_exposure(slab).expect("listed");
                let max = match rng.below(5) {
                    0 | 1 => 0,
                    _ => (open + 2 * rng.below(16)).saturating_sub(4),
                };
                let got = w
                    .call(engine, "set_max_exposure", &[slab, max])
                    .result
                    .map(|r| r[0]);
                let want = model.set_max_exposure(slab, max);
                if got.is_err() || got.ok() != want.ok() {
                    return Err(format!(
                        "step {step}: set_max_exposure({slab}, {max}): vm {got:?}, model {want:?}"
                    ));
                }
                coverage.caps_set += 1;
                what = "set_max_exposure";
            }
            10 if rng.below(3) == 0 => {
                // Delist a slab, or relist the one delisted: at most one is out at a time.
                let out = SLABS.iter().copied().find(|s| delisted.contains(s));
                let slab = out.unwrap_or(SLABS[rng.below(3) as usize]);
                let (entry, got, want) = if out.is_none() {
                    delisted.push(slab);
                    let got = w.call(engine, "delist_slab", &[slab]);
                    ("delist_slab", got, model.delist_slab(slab))
                } else {
                    delisted.retain(|&s| s != slab);
                    let got = w.call(engine, "list_slab", &[slab]);
                    ("list_slab", got, model.list_slab(slab))
                };
                let got = got.result.map(|r| r[0]).map_err(|t| t.kind);
                let want = want.map_err(|e| match e {
                    RouteError::Abort(code) => abort(code),
                    RouteError::Host(_) => TrapKind::Host { id: 0, code: 0 },
                });
                if got != want {
                    return Err(format!(
                        "step {step}: {entry} {slab}: vm {got:?}, model {want:?}"
                    ));
                }
                what = entry;
            }
            _ => {
                // The short taker (5) now and then.
                // The short taker (5) and the accumulating one (6) now and then.
                let user = match rng.below(8) {
                    0 => 5,
                    1 => 6,
                    _ => TAKERS[rng.below(2) as usize],
                };
                // Taker 6 only buys, a little at a time: its long grows until a crash of the
                // mark makes the lock more than its vault holds.
                let side = if user == 6 { 0 } else { rng.below(2) };
                let qty = if user == 6 {
                    2
                } else {
                    2 * (1 + rng.below(20))
                };
                let limit = if side == 0 {
                    5 * (200 + rng.below(14))
                } else {
                    5 * (186 + rng.below(14))
                };
                let mut legs = [0u64; 3];
                for leg in &mut legs {
                    *leg = match rng.below(10) {
                        0 => 0,
                        1 if rng.below(8) == 0 => 14,
                        _ => SLABS[rng.below(3) as usize],
                    };
                }
                if rng.below(4) != 0 {
                    // Mostly the listed slabs, distinct, in a random order.
                    let start = rng.below(3) as usize;
                    legs = [SLABS[start], SLABS[(start + 1) % 3], SLABS[(start + 2) % 3]];
                    for leg in &mut legs {
                        if delisted.contains(leg) {
                            *leg = 0;
                        }
                    }
                    if rng.below(3) == 0 {
                        legs[2] = 0;
                    }
                }
                let args = [
                    user,
                    step as u64,
                    0,
                    side,
                    qty,
                    limit,
                    legs[0],
                    legs[1],
                    legs[2],
                ];
                if rng.below(3) == 0 {
                    two_phase(engine, &mut w, &mut model, rng, args, &mut coverage)
                        .map_err(|e| format!("step {step}: {e}"))?;
                    margin_agrees(engine, &mut w, &mut model, user, &mut coverage)
                        .map_err(|e| format!("step {step} after two-phase {args:?}: {e}"))?;
                    what = "two-phase";
                } else {
                    let locked = model.locked(user);
                    let outcome = w.call(engine, "route", &args);
                    let want = model.route(w.now, user, step as u64, 0, side, qty, limit, legs);
                    coverage.routes += 1;
                    coverage.locks_pledged += usize::from(model.locked(user) > locked);
                    coverage.locks_released += usize::from(model.locked(user) < locked);
                    coverage.routes_after_upgrade += usize::from(step > steps / 2 && want.is_ok());
                    margin_agrees(engine, &mut w, &mut model, user, &mut coverage)
                        .map_err(|e| format!("step {step} after route{args:?}: {e}"))?;
                    let agree = match (&outcome.result, &want) {
                        (Ok(r), Ok((filled, notional, debit, legs))) => {
                            coverage.committed += 1;
                            coverage.at_cap += usize::from(SLABS.iter().any(|&s| {
                                model
                                    .slab_exposure(s)
                                    .is_ok_and(|(max, open)| max != 0 && open == max)
                            }));
                            coverage.two_or_more_legs += usize::from(*legs >= 2);
                            r[0] == *filled
                                && wide(r, 1) == *notional
                                && wide(r, 3) == *debit
                                && r[5] == *legs
                        }
                        (Err(t), Err(RouteError::Abort(code))) => {
                            *coverage.refusals.entry(*code).or_default() += 1;
                            t.kind == abort(*code)
                        }
                        (Err(t), Err(RouteError::Host(_))) => {
                            coverage.host_refusals += 1;
                            coverage.margin_refusals +=
                                usize::from(lock_refused(&model, w.now, &args, legs));
                            matches!(t.kind, TrapKind::Host { .. })
                        }
                        _ => false,
                    };
                    if !agree {
                        return Err(format!(
                            "step {step}: route{args:?}: vm {:?}, model {want:?}",
                            outcome.result
                        ));
                    }
                    what = "route";
                }
            }
        }
        // Every slab's cap and routed open interest.
        for slab in SLABS {
            let got = w.call(engine, "slab_exposure", &[slab]).result;
            let want = model.slab_exposure(slab);
            if got.as_ref().ok().map(|r| (r[0], r[1])) != want.as_ref().ok().copied() {
                return Err(format!(
                    "step {step} after {what}: slab_exposure({slab}): vm {got:?}, model {want:?}"
                ));
            }
        }
        // Every account of every user on every slab, and the ledger.
        for slab in SLABS {
            let marks = model.marks(slab).to_vec();
            for user in MAKERS.iter().chain(&TAKERS) {
                if marks[0] == 0 {
                    break; // no account view without a mark
                }
                let got = w.position_value(slab, *user);
                let (cash, im, mm) = model.slab(slab).account(*user, &marks).unwrap_or((0, 0, 0));
                let vm_cash = wide(&got, 0) as i128;
                if (vm_cash, wide(&got, 2), wide(&got, 4)) != (cash, im, mm) {
                    return Err(format!(
                        "step {step} after {what}: slab {slab} user {user}: vm {got:?}, model {:?}",
                        (cash, im, mm)
                    ));
                }
            }
            let collected = w.ledger.account_balance(slab, 0);
            if collected != model.collected(slab) {
                return Err(format!(
                    "step {step} after {what}: slab {slab} collected {collected} vs {}",
                    model.collected(slab)
                ));
            }
            // An escrow holds exactly what its user's pending route pledged there (0 without).
            for user in TAKERS {
                let escrow = w.ledger.escrow_balance(user, slab, 0);
                let pledged = model.pending_charge(user, slab);
                if escrow != model.escrow(user, slab) || escrow != pledged {
                    return Err(format!(
                        "step {step} after {what}: escrow ({user}, {slab}) {escrow}, model {}, pending {pledged}",
                        model.escrow(user, slab)
                    ));
                }
            }
        }
        for user in TAKERS {
            if w.locked(user) != model.locked(user) {
                return Err(format!(
                    "step {step} after {what}: lock of {user}: {} vs {}",
                    w.locked(user),
                    model.locked(user)
                ));
            }
            if w.ledger.vault_balance(user, 0) != model.vault(user) {
                return Err(format!(
                    "step {step} after {what}: vault of {user}: {} vs {}",
                    w.ledger.vault_balance(user, 0),
                    model.vault(user)
                ));
            }
        }
        // Every cap burned but a pending route's.
        let unburned = w.ledger.caps.values().filter(|c| !c.burned).count();
        let pending_caps = model.caps().iter().filter(|c| !c.burned).count();
        if w.ledger.caps.len() != model.caps_count()
            || unburned != pending_caps
            || !model.unburned_caps_are_pending()
        {
            return Err(format!(
                "step {step} after {what}: caps {} ({unburned} unburned) vs {} ({pending_caps})",
                w.ledger.caps.len(),
                model.caps_count()
            ));
        }
    }
    Ok(coverage)
}

/// A two-phase route step (README "Two-phase routes") for `args`' user, against the model:
/// with no pending route, `route_reserve(args)` (and half the time on at once); with one,
/// now and then the clock past its
/// expiry first (its caps expire), then mostly `route_commit` before the expiry and
/// `route_sweep` after it, and now and then the other (refused `EXPIRED`, `NOT_EXPIRED`); now
/// and then a wrong route id (`NO_PENDING`).
fn two_phase(
    engine: &dyn Engine,
    w: &mut World,
    model: &mut router_reference::RouterModel,
    rng: &mut Rng,
    args: [u64; 9],
    coverage: &mut Coverage,
) -> Result<(), String> {
    use router_reference::RouteError;
    let user = args[0];
    let agree = |got: &Result<Vec<u64>, curvevm::Trap>, want: Result<Vec<u64>, RouteError>| match (
        got, &want,
    ) {
        (Ok(r), Ok(words)) => r[..words.len()] == words[..],
        (Err(t), Err(RouteError::Abort(code))) => t.kind == abort(*code),
        (Err(t), Err(RouteError::Host(_))) => matches!(t.kind, TrapKind::Host { .. }),
        _ => false,
    };
    let refused = |want: &Result<Vec<u64>, RouteError>, code: u8| matches!(want, Err(RouteError::Abort(c)) if *c == code);
    if model.pending(user).is_none() {
        let got = w.call(engine, "route_reserve", &args).result;
        let want = model
            .route_reserve(
                w.now,
                user,
                args[1],
                0,
                args[3],
                args[4],
                args[5],
                [args[6], args[7], args[8]],
            )
            .map(|(filled, legs, expiry)| vec![filled, legs, expiry]);
        coverage.reserved += usize::from(want.is_ok());
        if let Err(RouteError::Abort(code)) = want {
            *coverage.refusals.entry(code).or_default() += 1;
        }
        if !agree(&got, want.clone()) {
            return Err(format!("route_reserve{args:?}: vm {got:?}, model {want:?}"));
        }
        // Half the reservations go on to their commit at once, the others wait.
        if want.is_err() || rng.below(2) == 0 {
            return Ok(());
        }
    }
    let (route_id, expiry) = model.pending(user).expect("a pending route");
    if rng.below(5) == 0 {
        w.now = w.now.max(expiry + 1 + rng.below(3));
    }
    let route_id = if rng.below(10) == 0 {
        route_id + 1
    } else {
        route_id
    };
    let call = [user, route_id];
    // Mostly a commit before the expiry and a sweep after it; now and then the other.
    if (rng.below(4) != 0) == (w.now <= expiry) {
        let got = w.call(engine, "route_commit", &call).result;
        let want =
            model
                .route_commit(w.now, user, route_id)
                .map(|(filled, notional, debit, legs)| {
                    let mut words = vec![filled];
                    words.extend(u128_words(notional));
                    words.extend(u128_words(debit));
                    words.push(legs);
                    words
                });
        coverage.pending_committed += usize::from(want.is_ok());
        if let Err(RouteError::Abort(code)) = want {
            *coverage.commit_refusals.entry(code).or_default() += 1;
        }
        coverage.expired += usize::from(refused(&want, code::EXPIRED));
        if !agree(&got, want.clone()) {
            return Err(format!("route_commit{call:?}: vm {got:?}, model {want:?}"));
        }
    } else {
        let got = w.call(engine, "route_sweep", &call).result;
        let want = model
            .route_sweep(w.now, user, route_id)
            .map(|(released, legs)| {
                let mut words = u128_words(released).to_vec();
                words.push(legs);
                words
            });
        coverage.swept += usize::from(want.is_ok());
        coverage.not_expired += usize::from(refused(&want, code::NOT_EXPIRED));
        if !agree(&got, want.clone()) {
            return Err(format!("route_sweep{call:?}: vm {got:?}, model {want:?}"));
        }
    }
    Ok(())
}

/// A `u128` as its two words, low first.
fn u128_words(value: u128) -> [u64; 2] {
    [value as u64, (value >> 64) as u64]
}

/// The router's `margin(user)` view equals the model's, and RM4 holds: the router's IM is at
/// most the sum of the slabs' own IM.
fn margin_agrees(
    engine: &dyn Engine,
    w: &mut World,
    model: &mut router_reference::RouterModel,
    user: u64,
    coverage: &mut Coverage,
) -> Result<(), String> {
    let got = w.call(engine, "margin", &[user]).result;
    // Coverage: what the margin would be without the correlation table.
    let pairs = model.correlations();
    model.set_correlations(&[]);
    let without_pairs = model.margin(user);
    model.set_correlations(&pairs);
    let want = model.margin(user);
    match (&got, &want) {
        (Ok(r), Ok((equity, im, mm, locked))) => {
            let view = (wide(r, 0) as i128, wide(r, 2), wide(r, 4), wide(r, 6));
            if view != (*equity, *im, *mm, *locked) {
                return Err(format!("margin({user}): vm {view:?}, model {want:?}"));
            }
            let per_slab: u128 = SLABS
                .iter()
                .map(|&s| {
                    let marks = model.marks(s).to_vec();
                    model
                        .slab(s)
                        .account(user, &marks)
                        .map_or(0, |(_, im, _)| im)
                })
                .sum();
            if *im > per_slab {
                return Err(format!("RM4: router IM {im} above the slabs' {per_slab}"));
            }
            coverage.netted += usize::from(*im < per_slab);
            coverage.pair_netted +=
                usize::from(matches!(without_pairs, Ok((_, plain, _, _)) if plain > *im));
            Ok(())
        }
        (Err(t), Err(router_reference::RouteError::Abort(code))) if t.kind == abort(*code) => {
            coverage.margin_views_refused += 1;
            Ok(())
        }
        _ => Err(format!("margin({user}): vm {got:?}, model {want:?}")),
    }
}

#[test]
fn the_router_matches_the_reference_on_both_engines() {
    let mut rng = Rng::new("router_differential");
    let key = slab::params::oracle_key;
    // SOL (the first two slabs) against ETH (the third), and a pair no leg's feed is in.
    let cross = Setup {
        cross: true,
        other_feed_on_third: true,
        correlations: [
            (key("pyth:BTCUSD"), key("pyth:AVAXUSD"), 9_000),
            (key("pyth:SOLUSD"), key("pyth:ETHUSD"), 6_500),
            (0, 0, 0),
            (0, 0, 0),
        ],
        ..Setup::default()
    };
    let interpreted = differential(&Interpreter(ExecOptions::default()), &mut rng, 2_400, cross)
        .unwrap_or_else(|e| panic!("interpreter: {e}"));
    println!("interpreter: {interpreted:?}");
    let compiled = differential(&JitCache::default(), &mut rng, 500, Setup::default())
        .unwrap_or_else(|e| panic!("jit: {e}"));
    println!("jit: {compiled:?}");
    assert!(interpreted.committed >= 100, "{interpreted:?}");
    assert!(interpreted.two_or_more_legs >= 10, "{interpreted:?}");
    assert!(interpreted.host_refusals >= 3, "{interpreted:?}");
    for code in [
        code::UNFILLED,
        code::LEG_FAILED,
        code::UNLISTED,
        code::DUPLICATE_LEG,
        code::EXPOSURE_CAP,
    ] {
        assert!(
            interpreted.refusals.contains_key(&code),
            "never {code}: {interpreted:?}"
        );
    }
    assert!(compiled.committed >= 30, "{compiled:?}");
    assert!(interpreted.locks_pledged >= 20, "{interpreted:?}");
    assert!(interpreted.locks_released >= 10, "{interpreted:?}");
    assert!(interpreted.netted >= 10, "{interpreted:?}");
    assert!(interpreted.pair_netted >= 10, "{interpreted:?}");
    assert!(interpreted.routes_after_upgrade >= 20, "{interpreted:?}");
    assert!(interpreted.margin_refusals >= 3, "{interpreted:?}");
    assert!(interpreted.syncs >= 30, "{interpreted:?}");
    assert!(compiled.routes_after_upgrade >= 5, "{compiled:?}");
    assert!(interpreted.caps_set >= 30, "{interpreted:?}");
    // Two-phase routes: reserved and committed, refused after their caps expired (cap
    // expiry), swept back after it, and a sweep refused before it.
    assert!(interpreted.reserved >= 15, "{interpreted:?}");
    assert!(interpreted.pending_committed >= 5, "{interpreted:?}");
    assert!(interpreted.expired >= 3, "{interpreted:?}");
    assert!(interpreted.swept >= 3, "{interpreted:?}");
    assert!(interpreted.not_expired >= 1, "{interpreted:?}");
    assert!(
        compiled.reserved >= 3
            && compiled.pending_committed >= 1
            && compiled.expired >= 1
            && compiled.swept >= 1,
        "{compiled:?}"
    );
    assert!(interpreted.at_cap >= 10, "{interpreted:?}");
    // Keepers' liquidations: saved, in grace, liquidated and healthy each seen.
    for (status, name) in ["saved", "in grace", "liquidated", "healthy"]
        .iter()
        .enumerate()
    {
        assert!(
            interpreted.liquidations[status] >= 1,
            "no liquidation {name}: {interpreted:?}"
        );
    }
}

/// The router's `liquidate(user)` words: (status, health, residual).
fn liquidate(w: &mut World, engine: &dyn Engine, user: u64) -> (u64, i128, u128) {
    let got = w.ok(engine, "liquidate", &[user]);
    (got[0], wide(&got, 1) as i128, wide(&got, 3))
}

/// The best bid left on `slab` (a maker's probe: reserve 2 at any price, then cancel).
fn best_bid(w: &mut World, slab: u64) -> u64 {
    let held = w
        .slab_call(slab, "reserve", &[99, 77, 0, 1, 2, 5, 100, 0, 0, 0, 0])
        .expect("a bid rests");
    w.slab_call(slab, "cancel", &[held[0]]).expect("cancels");
    held[3]
}

/// The LIQUIDATION values of these tests: bands 200 and 100 bps, a buffer of 2,000 above
/// maintenance, and a grace window of 5 s.
const LIQUIDATION: Liquidation = (200, 100, 2_000, 5_000);

/// L1, L3, RM3: a long 10 at 1,000 (lock 5,000) is left alone while healthy; when its mark
/// falls it is first saved by the user's free collateral; with an empty vault it waits out
/// the grace window untouched; then the slab closes what the deficit needs within the band,
/// never the depth beyond it.
#[test]
fn liquidation_saves_first_waits_out_the_grace_and_then_closes_within_the_band() {
    for engine in engines() {
        let engine = engine.as_ref();
        let setup = Setup {
            liquidation: Some(LIQUIDATION),
            ..Setup::default()
        };
        let mut w = World::build(&BOTH_SIDES, setup);
        w.ok(
            engine,
            "route",
            &[TAKER, 1, 0, 0, 10, 1_000, SLABS[0], 0, 0],
        );
        let im = |mark: u128| 10 * 10 * mark * 500 / 10_000;
        let mm = |mark: u128| 10 * 10 * mark * 350 / 10_000;
        assert_eq!(w.locked(TAKER), im(1_000));
        // Healthy: the equity at the router (the lock) is initial margin.
        assert_eq!(liquidate(&mut w, engine, TAKER).0, 3, "healthy");
        assert_eq!(liquidate(&mut w, engine, 42), (3, 0, 0), "no portfolio");

        // The mark falls to 960: T = 5,000 − 4,000 = 1,000 against MM 3,360 and IM 4,800, so
        // the account is short by min(2,000 + 2,360, 4,800 − 1,000) = 3,800: the vault pays.
        w.set_mark(SLABS[0], 960);
        let vault = w.ledger.vault_balance(TAKER, 0);
        let health = 1_000 + 3_800 - mm(960) as i128;
        assert_eq!(liquidate(&mut w, engine, TAKER), (0, health, 0), "saved");
        assert_eq!(w.locked(TAKER), im(1_000) + 3_800);
        assert_eq!(w.ledger.vault_balance(TAKER, 0), vault - 3_800);
        assert_eq!(
            wide(&w.position_value(SLABS[0], TAKER), 2),
            im(960),
            "untouched"
        );

        // An empty vault and the mark at 940: T = 8,800 − 6,000 = 2,800, MM 3,290 (H = −490),
        // IM 4,700: short by min(2,490, 1,900) = 1,900. The grace window opens.
        w.ledger.set_vault(TAKER, 0, 0);
        w.set_mark(SLABS[0], 940);
        let h = 2_800 - mm(940) as i128;
        assert_eq!(liquidate(&mut w, engine, TAKER), (1, h, 1_900), "in grace");
        w.now = NOW + 4_999;
        assert_eq!(
            liquidate(&mut w, engine, TAKER),
            (1, h, 1_900),
            "still in grace"
        );
        assert_eq!(
            wide(&w.position_value(SLABS[0], TAKER), 2),
            im(940),
            "untouched"
        );

        // Bids near the new mark; the band (2 %: ⌊940 × 200 / 10,000⌋ = 18) keeps the sweep at
        // 922 or above, so the 915 bid is never hit.
        for (price, qty) in [(935, 2), (930, 2), (925, 2), (915, 20)] {
            w.slab_call(SLABS[0], "place_order", &[MAKER, 0, 0, price, qty])
                .expect("a bid");
        }
        w.now = NOW + 5_000;
        // 1,900 of maintenance margin: ⌈1,900 / (10 × 940 × 3.5 %)⌉ = 6 contracts, sold at
        // 935, 930 and 925 — a loss of 4,200 the slab takes through the cap from the 8,800
        // the lock had (L2). What is left: a long 4, IM 1,880, its equity −2,400, so the lock
        // becomes 4,280 and health E + lock − MM = −2,400 + 4,280 − 1,316 = 564.
        let got = liquidate(&mut w, engine, TAKER);
        assert_eq!(got, (2, 564, 0), "liquidated");
        assert_eq!(
            wide(&w.position_value(SLABS[0], TAKER), 2),
            1_880,
            "a long 4"
        );
        assert_eq!(w.locked(TAKER), 4_280);
        assert_eq!(w.ledger.vault_balance(TAKER, 0), 8_800 - 4_200 - 4_280);
        assert_eq!(
            best_bid(&mut w, SLABS[0]),
            915,
            "the depth beyond the band is left"
        );
        // Back at initial margin (T = 1,880 = IM): healthy again.
        assert_eq!(liquidate(&mut w, engine, TAKER).0, 3);
    }
}

/// E2E3: the same long 10 on slab 11 and short 8 on slab 12 (one feed) and the same crash to
/// 800, liquidated by a router that nets (`cross_alpha`: the net long 2 is what is sold) and by
/// one that margins each slab alone (`isolated`: the long is sold down to cover its own
/// margin). The netted liquidation sells less and leaves the bid book higher.
#[test]
fn a_netted_liquidation_moves_the_book_less_than_slab_by_slab() {
    for engine in engines() {
        let engine = engine.as_ref();
        let mut outcome = Vec::new();
        for cross in [true, false] {
            let setup = Setup {
                cross,
                liquidation: Some((200, 100, 2_000, 0)),
                ..Setup::default()
            };
            let mut w = World::build(&BOTH_SIDES, setup);
            w.ok(
                engine,
                "route",
                &[TAKER, 1, 0, 0, 10, 1_000, SLABS[0], 0, 0],
            );
            w.ok(engine, "route", &[TAKER, 2, 0, 1, 8, 1_000, SLABS[1], 0, 0]);
            w.ledger.set_vault(TAKER, 0, 0);
            for slab in SLABS {
                w.set_mark(slab, 800);
            }
            for price in [795, 790, 785, 780, 775] {
                w.slab_call(SLABS[0], "place_order", &[MAKER, 0, 0, price, 2])
                    .expect("a bid");
            }
            let (status, _, _) = liquidate(&mut w, engine, TAKER);
            assert_eq!(status, 2, "liquidated");
            let left = wide(&w.position_value(SLABS[0], TAKER), 2) / (10 * 800 * 500 / 10_000);
            outcome.push((10 - left, best_bid(&mut w, SLABS[0])));
        }
        let (netted, alone) = (outcome[0], outcome[1]);
        // Netted: MM of the net long 2 (560) bounds slab 11's share: ⌈560 / 280⌉ = 2 sold at
        // 795. Alone: the deficit min(2,000 + 40, 7,200 − 5,000) = 2,040 wants ⌈2,040 / 280⌉ =
        // 8, and the band (≥ 800 − 16) lets it sell 6, down to 785.
        assert_eq!(netted, (2, 790));
        assert_eq!(alone, (6, 780));
        assert!(
            netted.1 > alone.1,
            "E2E3: the netted liquidation pushed the book less"
        );
    }
}

/// `x` base units as collateral units, and back: the closed forms below are in units.
fn units(x: u128) -> f64 {
    x as f64 / 1e6
}

/// lmsr.md §1.2's cost of `x` units of a basket of price `p` with liquidity `b` units, plus the
/// market's fee `⌈charge·bps / 10^4⌉` (its README "buy" step 3): computed here from the
/// closed form, not by the template.
fn closed_form_cost(b: f64, p: f64, x: f64, bps: u128) -> (u128, u128) {
    let charge = (b * (1.0 + p * ((x / b).exp() - 1.0)).ln() * 1e6).round() as u128;
    (charge, (charge * bps).div_ceil(10_000))
}

/// The router's market entries (README "Markets"): each is one funded leg — the user's bound
/// pledged and capped, the market's entry invoked with the cap, the rest released and the cap
/// burned — so the user's vault pays exactly what the market took, the market's account holds
/// it, no escrow keeps anything and every cap is burned. Figures against lmsr.md's closed forms.
#[test]
fn market_trades_are_funded_legs_paying_exactly_what_the_market_took() {
    const FUNDER: u64 = 4;
    const B: f64 = 100.0;
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&[]);
        w.add_market();
        w.ledger.set_vault(FUNDER, 0, 1_000_000_000);
        let funder_vault = w.ledger.vault_balance(FUNDER, 0);

        // market_open: the subsidy is b·ln(1 / min p) = 100·ln 4 units for prior 1 : 1 : 2.
        let got = w.ok(engine, "market_open", &[FUNDER, MARKET_ID, 400_000_000, 0]);
        let subsidy = wide(&got, 0);
        let expected = (B * 4f64.ln() * 1e6).round() as u128;
        assert!(
            subsidy.abs_diff(expected) <= 2,
            "subsidy {subsidy} vs {expected}"
        );
        assert_eq!(w.ledger.vault_balance(FUNDER, 0), funder_vault - subsidy);
        assert_eq!(w.ledger.account_balance(MARKET_ID, 0), subsidy);
        assert_eq!(w.ledger.escrow_balance(FUNDER, MARKET_ID, 0), 0);

        // market_buy: 10 shares of outcome c (p = 1/2) for at most 7 units.
        let quote = w
            .market_call("quote", &[0b100, 0, 10_000_000, 0])
            .expect("quote");
        let (charge, fee) = closed_form_cost(B, 0.5, 10.0, 100);
        let got = w.ok(
            engine,
            "market_buy",
            &[TAKER, MARKET_ID, 0b100, 0, 10_000_000, 0, 7_000_000, 0],
        );
        let cost = wide(&got, 0);
        assert!(
            cost.abs_diff(charge + fee) <= 3,
            "cost {cost} vs {charge} + {fee}"
        );
        assert_eq!(cost, wide(&quote, 0), "what the quote said");
        assert_eq!(w.ledger.vault_balance(TAKER, 0), FUNDS - cost);
        assert_eq!(w.ledger.account_balance(MARKET_ID, 0), subsidy + cost);
        assert_eq!(w.ledger.escrow_balance(TAKER, MARKET_ID, 0), 0);
        let held = w.market_call("position", &[TAKER, 2]).expect("position");
        assert_eq!(wide(&held, 0), 10_000_000);

        // market_spend: 2 units on outcome a buys the most shares 2 units pay for (lmsr.md
        // §7.5; the template may land one share below). p(a) after the buy, from the closed
        // form: e^0 / (e^0 + e^0 + 2·e^0.1).
        let p_a = 1.0 / (2.0 + 2.0 * 0.1f64.exp());
        let budget = 2.0 * 1e4 / (1e4 + 100.0);
        let k = B * (((budget / B).exp() - 1.0) / p_a + 1.0).ln();
        let vault = w.ledger.vault_balance(TAKER, 0);
        let got = w.ok(
            engine,
            "market_spend",
            &[TAKER, MARKET_ID, 0b001, 0, 2_000_000, 0, 1, 0],
        );
        let (shares, cost) = (wide(&got, 0), wide(&got, 2));
        let k_base = (k * 1e6).floor() as u128;
        assert!(
            shares + 2 >= k_base && shares <= k_base + 1,
            "{} shares vs k* = {k}",
            units(shares)
        );
        assert!(cost <= 2_000_000);
        assert_eq!(w.ledger.vault_balance(TAKER, 0), vault - cost);
        assert_eq!(w.ledger.escrow_balance(TAKER, MARKET_ID, 0), 0);
        assert!(w.ledger.caps.values().all(|cap| cap.burned));
        assert_eq!(w.ledger.caps.len(), 3, "one cap per funded leg");
    }
}

/// A refused market trade aborts the router (README "Markets"): the market's code `c` as
/// `128 + c`, any other trap of the market `MARKET_FAILED`, the router's own admission first —
/// and changes nothing anywhere (every program's words and the ledger).
#[test]
fn a_refused_market_trade_aborts_with_the_markets_code_and_changes_nothing() {
    const FUNDER: u64 = 4;
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&[]);
        w.add_market();
        w.ledger.set_vault(FUNDER, 0, 1_000_000_000);
        let buy = |user: u64, market: u64, max_cost: u64| {
            [user, market, 0b100, 0, 10_000_000, 0, max_cost, 0]
        };
        // Before the open: NOT_OPEN.
        w.refused(
            engine,
            "market_buy",
            &buy(TAKER, MARKET_ID, 7_000_000),
            abort(code::MARKET + 1),
        );
        // Less than the subsidy (100·ln 4 units): the host refuses the market's debit through
        // the cap, a trap of the market that is not its own abort.
        w.refused(
            engine,
            "market_open",
            &[FUNDER, MARKET_ID, 100_000_000, 0],
            abort(code::MARKET_FAILED),
        );
        w.ok(engine, "market_open", &[FUNDER, MARKET_ID, 400_000_000, 0]);
        w.refused(
            engine,
            "market_open",
            &[FUNDER, MARKET_ID, 400_000_000, 0],
            abort(code::MARKET + 2),
        );
        // A bound below the cost: SLIPPAGE.
        w.refused(
            engine,
            "market_buy",
            &buy(TAKER, MARKET_ID, 1_000_000),
            abort(code::MARKET + 7),
        );
        // An empty basket: BAD_BASKET.
        w.refused(
            engine,
            "market_spend",
            &[TAKER, MARKET_ID, 0, 0, 2_000_000, 0, 1, 0],
            abort(code::MARKET + 5),
        );
        // The router's admission.
        w.refused(
            engine,
            "market_buy",
            &buy(0, MARKET_ID, 7_000_000),
            abort(code::BAD_USER),
        );
        w.refused(
            engine,
            "market_buy",
            &buy(TAKER, 0, 7_000_000),
            abort(code::BAD_MARKET),
        );
        // A slab is no market: the host refuses the invoke (its interface is not the pinned
        // market's) before the slab runs.
        w.refused(
            engine,
            "market_buy",
            &buy(TAKER, SLABS[0], 7_000_000),
            TrapKind::Host {
                id: curvevm::hostcall::id::INVOKE,
                code: curvevm::hostcall::Refusal::InterfaceMismatch.code(),
            },
        );
        // A bound the vault cannot pledge: the host's refusal, before the market runs.
        w.refused(
            engine,
            "market_buy",
            &buy(TAKER, MARKET_ID, FUNDS as u64 + 1),
            TrapKind::Host {
                id: curvevm::hostcall::id::VAULT_PLEDGE,
                code: curvevm::hostcall::Refusal::VaultBalance.code(),
            },
        );
        // At the close: CLOSED.
        w.now = MARKET_CLOSE_MS;
        w.refused(
            engine,
            "market_buy",
            &buy(TAKER, MARKET_ID, 7_000_000),
            abort(code::MARKET + 3),
        );
    }
}

/// Every market abort code has its router code `128 + c` named `MARKET_` + the market's name,
/// below the microcode's reserved codes.
#[test]
fn the_router_names_every_market_code() {
    use curve_compiler::templates::market;
    for (c, name) in market::code::NAMES {
        let mapped = code::MARKET + c;
        assert!(mapped < 0xF0, "{name}: {mapped} is a microcode code");
        assert_eq!(
            curve_compiler::abi::ROUTER.abort_name(mapped),
            Some(format!("MARKET_{name}").as_str()),
            "market code {c}"
        );
    }
    assert_eq!(
        code::NAMES.len(),
        20 + market::code::NAMES.len(),
        "the router's own codes and the market's"
    );
}
