//! Self-checks of the router's reference model (`tests/router_reference/`) against examples
//! worked out from the router's and the slab's READMEs alone.

mod router_reference;
mod slab_reference;

use curvevm_testkit::programs::{Rng, replay_seed};
use router_reference::{RouteError, RouterModel, code};
use slab_reference::reference::{
    Abort, CapView, Committed, InstrumentParams, Model, Params, reveal_commitment,
};
use slab_reference::state::AggressorState;

const A: u64 = 11;
const B: u64 = 12;
const C: u64 = 13;
const MAKER: u64 = 7;
const TAKER: u64 = 1;
const NOW: u64 = 100;
const CAP_TTL: u64 = 30_000;
/// The oracle key of the feed every instrument is marked by unless a test says otherwise.
const KEY: u64 = 0x5eed_0001;
/// Another feed's key.
const OTHER_KEY: u64 = 0x0bad_f00d_0001;

fn instrument(oracle_key: u64) -> InstrumentParams {
    InstrumentParams {
        tick: 5,
        lot: 2,
        price_max: 2_000,
        qty_max: 400,
        contract_size: 10,
        oracle_key,
    }
}

fn slab_params() -> Params {
    Params {
        instruments: vec![instrument(KEY)],
        dlp_allowance: Some(1 << 60),
        reg_allowance: Some(1 << 60),
        batch_ms: 1_000,
        accounts_capacity: 64,
        orders_capacity: 256,
        reservations_capacity: 32,
        slices_capacity: 128,
        taker_bps: 5,
        maker_bps: 2,
        imr_bps: 500,
        mmr_bps: 350,
        positions_capacity: 64,
        trades_capacity: 64,
        rebate_bps: 0,
        rebate_delay_ms: 0,
        kill_band_bps: 0,
        jit_penalty: false,
        arg_tax_bps: 0,
        freeze_levels: 0,
        chain_id: 0,
        aggressor_capacity: 64,
        funding_interval_ms: 3_600_000,
        funding_rate_cap_bps: 100,
        liquidation_full: false,
        liquidation_band_bps: 200,
    }
}

/// A slab whose maker (a DLP: its orders are LIVE at once) rests `orders` as `(side, price,
/// qty)` on instrument 0.
fn slab(orders: &[(u64, u64, u64)]) -> Model {
    slab_keyed(KEY, orders)
}

/// [`slab`] with its instrument marked by the feed `oracle_key`.
fn slab_keyed(oracle_key: u64, orders: &[(u64, u64, u64)]) -> Model {
    let mut p = slab_params();
    p.instruments[0].oracle_key = oracle_key;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    for &(side, price, qty) in orders {
        m.place_order(0, MAKER, 0, side, price, qty).unwrap();
    }
    m
}

/// Three listed slabs A, B, C with the given books, marks 1,000, the taker's vault funded.
fn router(a: &[(u64, u64, u64)], b: &[(u64, u64, u64)], c: &[(u64, u64, u64)]) -> RouterModel {
    let mut r = RouterModel::new(
        CAP_TTL,
        vec![
            (A, slab(a), vec![1_000]),
            (B, slab(b), vec![1_000]),
            (C, slab(c), vec![1_000]),
        ],
    );
    assert_eq!(r.list_slab(A), Ok(0));
    assert_eq!(r.list_slab(B), Ok(1));
    assert_eq!(r.list_slab(C), Ok(2));
    r.deposit(TAKER, 1_000_000);
    r
}

fn asks_router() -> RouterModel {
    router(&[(1, 1_010, 10)], &[(1, 1_000, 10)], &[(1, 1_005, 10)])
}

#[test]
fn a_buy_fills_the_best_priced_slabs_first_and_leaves_no_escrow_or_cap() {
    let mut r = asks_router();
    let report = r
        .route_report(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C])
        .unwrap();
    // B (1,000) fills 10, C (1,005) the remaining 6; A (1,010) only had its probe cancelled.
    assert_eq!(report.filled_qty, 16);
    assert_eq!(report.notional, 10 * 1_000 + 6 * 1_005);
    assert_eq!(report.notional, 16_030);
    let slabs: Vec<u64> = report.legs.iter().map(|l| l.slab).collect();
    assert_eq!(slabs, vec![B, C]);
    // The commits are router-margined: each slab debits only its negative cash.
    // B: N = 100,000, fee 50 → cash −50, debit 50; max_charge 100,050.
    // C: N = 60,300, fee ⌊30.15⌋ = 30 → debit 30; max_charge 60,300 + 30 = 60,330.
    assert_eq!(report.legs[0].max_charge, 100_050);
    assert_eq!(report.legs[0].committed.total_debit, 50);
    assert_eq!(report.legs[1].max_charge, 60_330);
    assert_eq!(report.legs[1].committed.total_debit, 30);
    assert_eq!(report.total_debit, 80);
    // Margin: B equity 0, IM 5,000 (X = 100,000); C equity 6 × (1,000 − 1,005) × 10 = −300,
    // IM 3,000 (X = 60,000). Isolated: IM 8,000, E −300 → the lock is 8,300.
    assert_eq!(r.locked(TAKER), 8_300);
    assert_eq!(r.escrow(TAKER, 0), 8_300);
    assert_eq!(r.portfolio(TAKER), [(B, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.margin(TAKER), Ok((8_000, 8_000, 3_500 + 2_100, 8_300)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 80 - 8_300);
    for s in [A, B, C] {
        assert_eq!(r.escrow(TAKER, s), 0);
    }
    assert_eq!(r.collected(A), 0);
    assert_eq!(r.collected(B), 50);
    assert_eq!(r.collected(C), 30);
    assert_eq!(r.caps_count(), 2);
    assert!(r.all_caps_burned());
    assert_eq!(r.caps()[0].remaining, 100_050 - 50);
    assert_eq!(r.caps()[0].expiry_ms, NOW + CAP_TTL);
    assert_eq!(r.routes(), 1);

    // The slabs: A's ask is back, unreserved; B's is gone; C's has 4 left. No holds remain;
    // each probe and re-reserve took a hold id.
    let a = r.slab(A).state();
    assert!(a.holds.is_empty());
    assert_eq!(a.next_hold_id, 2);
    let o = &a.instruments[0].asks[0].orders[0];
    assert_eq!((o.qty, o.reserved_qty), (10, 0));
    assert_eq!(a.collected, 0);
    let b = r.slab(B).state();
    assert!(b.instruments[0].asks.is_empty());
    assert!(b.holds.is_empty());
    assert_eq!(b.next_hold_id, 3);
    assert_eq!(b.collected, 50);
    assert_eq!(b.accounts[&TAKER].cash, 0);
    assert_eq!(b.accounts[&TAKER].positions[&0].qty, 10);
    let c = r.slab(C).state();
    let o = &c.instruments[0].asks[0].orders[0];
    assert_eq!((o.qty, o.reserved_qty), (4, 0));
    assert_eq!(c.collected, 30);
    assert_eq!(c.accounts[&TAKER].positions[&0].qty, 6);

    // The plain form agrees.
    let mut r2 = asks_router();
    assert_eq!(
        r2.route(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C]),
        Ok((16, 16_030, 80, 2))
    );
    assert_eq!(r2.snapshot(), r.snapshot());
}

#[test]
fn a_sell_fills_the_highest_bids_first() {
    let mut r = router(&[(0, 985, 10)], &[(0, 995, 10)], &[(0, 990, 10)]);
    let report = r
        .route_report(NOW, TAKER, 1, 0, 1, 16, 985, [A, B, C])
        .unwrap();
    let slabs: Vec<u64> = report.legs.iter().map(|l| l.slab).collect();
    assert_eq!(slabs, vec![B, C]);
    assert_eq!(report.notional, 10 * 995 + 6 * 990);
    assert_eq!(r.slab(A).state().instruments[0].bids[0].orders[0].qty, 10);
    // Fees ⌊99,500 × 5 / 10⁴⌋ = 49 and ⌊59,400 × 5 / 10⁴⌋ = 29 are the debits. Shorts at 995
    // and 990 marked at 1,000: equity −500 and −600; IM 5,000 + 3,000 → the lock is 9,100.
    assert_eq!(report.total_debit, 49 + 29);
    assert_eq!(r.locked(TAKER), 9_100);
    assert_eq!(r.margin(TAKER), Ok((8_000, 8_000, 5_600, 9_100)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 78 - 9_100);
    assert!(r.all_caps_burned());
}

#[test]
fn equal_prices_keep_leg_order_and_empty_legs_do_not_matter() {
    // A and C both at 1,000, B at 1,005; legs [C, B, A]: C first (earlier leg), then A.
    let mut r = router(&[(1, 1_000, 10)], &[(1, 1_005, 10)], &[(1, 1_000, 10)]);
    let report = r
        .route_report(NOW, TAKER, 1, 0, 0, 12, 1_010, [C, B, A])
        .unwrap();
    let legs: Vec<(u64, u64)> = report
        .legs
        .iter()
        .map(|l| (l.slab, l.committed.filled_qty))
        .collect();
    assert_eq!(legs, vec![(C, 10), (A, 2)]);
    assert_eq!(r.collected(B), 0);

    // A leg with nothing within the limit is empty and is skipped.
    let mut r = router(&[(1, 1_050, 10)], &[(1, 1_000, 10)], &[(1, 1_005, 10)]);
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 20, 1_010, [A, B, C]),
        Ok((20, 10 * 1_000 + 10 * 1_005, 50 + 50, 2))
    );
}

#[test]
fn a_route_that_cannot_fill_changes_nothing() {
    let mut r = asks_router();
    let before = r.snapshot();
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 40, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::UNFILLED))
    );
    assert_eq!(r.snapshot(), before);
    // Within 1,005 only 20 are available.
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 22, 1_005, [A, B, C]),
        Err(RouteError::Abort(code::UNFILLED))
    );
    // A quantity the slabs refuse (not a multiple of the lot) leaves every leg empty.
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 3, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::UNFILLED))
    );
    // An unknown instrument likewise.
    assert_eq!(
        r.route(NOW, TAKER, 1, 5, 0, 2, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::UNFILLED))
    );
    assert_eq!(r.snapshot(), before);
    assert_eq!(r.routes(), 0);
}

#[test]
fn a_failed_commit_or_a_short_vault_changes_nothing() {
    let mut r = asks_router();
    // No mark on C: its commit aborts NO_MARK after B's leg committed; all of it is undone.
    r.set_marks(C, vec![0]);
    let before = r.snapshot();
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::LEG_FAILED))
    );
    assert_eq!(r.snapshot(), before);

    let mut r = asks_router();
    r.withdraw(TAKER, 1_000_000 - 6_000).unwrap();
    let before = r.snapshot();
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C]),
        Err(RouteError::Host("vault_balance"))
    );
    assert_eq!(r.snapshot(), before);
    assert_eq!(r.vault(TAKER), 6_000);
}

#[test]
fn admission_refusals() {
    let mut r = asks_router();
    let before = r.snapshot();
    let mut route = |user, side, qty, legs| r.route(NOW, user, 1, 0, side, qty, 1_010, legs);
    assert_eq!(
        route(0, 2, 0, [0, 0, 0]),
        Err(RouteError::Abort(code::BAD_USER))
    );
    assert_eq!(
        route(TAKER, 2, 0, [0, 0, 0]),
        Err(RouteError::Abort(code::BAD_SIDE))
    );
    assert_eq!(
        route(TAKER, 0, 0, [0, 0, 0]),
        Err(RouteError::Abort(code::BAD_QTY))
    );
    assert_eq!(
        route(TAKER, 0, 2, [0, 0, 0]),
        Err(RouteError::Abort(code::NO_LEGS))
    );
    assert_eq!(
        route(TAKER, 0, 2, [A, 99, 0]),
        Err(RouteError::Abort(code::UNLISTED))
    );
    assert_eq!(
        route(TAKER, 0, 2, [A, 0, A]),
        Err(RouteError::Abort(code::DUPLICATE_LEG))
    );
    assert_eq!(r.snapshot(), before);

    // A delisted slab is refused; the other legs alone still route.
    assert_eq!(r.delist_slab(C), Ok(2));
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 2, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::UNLISTED))
    );
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 2, 1_010, [0, B, 0]),
        Ok((2, 2_000, 10, 1))
    );
    assert_eq!(r.routes(), 1);
    assert_eq!(r.locked(TAKER), 1_000);
}

#[test]
fn the_registry_lists_delists_and_fills_up() {
    let mut r = RouterModel::new(CAP_TTL, vec![]);
    assert_eq!(r.list_slab(0), Err(RouteError::Abort(code::BAD_SLAB)));
    for i in 0..16u64 {
        assert_eq!(r.list_slab(100 + i), Ok(i));
    }
    assert_eq!(
        r.list_slab(200),
        Err(RouteError::Abort(code::REGISTRY_FULL))
    );
    assert_eq!(r.list_slab(103), Ok(3)); // already active: unchanged
    assert_eq!(r.delist_slab(103), Ok(3));
    assert_eq!(r.delist_slab(103), Err(RouteError::Abort(code::UNLISTED)));
    assert_eq!(r.delist_slab(200), Err(RouteError::Abort(code::UNLISTED)));
    assert_eq!(r.registry()[3], (103, false));
    assert_eq!(r.slabs_listed(), 16);
    // A delisted entry keeps its place and is reactivated there; it is not a free entry.
    assert_eq!(
        r.list_slab(200),
        Err(RouteError::Abort(code::REGISTRY_FULL))
    );
    assert_eq!(r.list_slab(103), Ok(3));
    assert_eq!(r.registry()[3], (103, true));
}

// ---- the slab model's router-facing parts: commit's margin flag and the exposure view ----

/// A slab with the maker's asks at 1,000 (20) and a hold of the taker buying 2 (hold 1:
/// N = 2 × 10 × 1,000 = 20,000, max_charge 20,000 + 10 = 20,010).
fn slab_with_hold() -> Model {
    let mut m = slab(&[(1, 1_000, 20)]);
    let r = m
        .reserve(NOW, 1, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[1_000])
        .unwrap();
    assert_eq!((r.hold_id, r.max_charge), (1, 20_010));
    m
}

fn cap(remaining: u128) -> Option<CapView> {
    Some(CapView {
        user: TAKER,
        slab: A,
        asset: 0,
        remaining,
        expiry_ms: NOW + 1_000,
        burned: false,
    })
}

#[test]
fn a_margin_flag_above_one_is_bad_margin_before_anything_else() {
    let mut m = slab_with_hold();
    let before = m.state();
    for margin in [2, 3, u64::MAX] {
        let got = m.commit(NOW, 1, cap(20_010), A, 20_010, &[1_000], [0; 4], margin);
        assert_eq!(got, Err(Abort::BadMargin));
        // Before UNKNOWN_HOLD, EXPIRED, NO_MARK and the cap.
        let got = m.commit(NOW + 1_000_000, 999, None, A, 0, &[0], [0; 4], margin);
        assert_eq!(got, Err(Abort::BadMargin));
    }
    assert_eq!(Abort::BadMargin.code(), 32);
    assert_eq!(m.state(), before);
}

#[test]
fn a_router_margined_commit_debits_only_what_the_fill_realised() {
    // margin = 0: the slab's own IM shortfall, 1,000 (5 % of 20,000) + the fee 10.
    let mut m = slab_with_hold();
    let c = m
        .commit(NOW, 1, cap(20_010), A, 20_010, &[1_000], [0; 4], 0)
        .unwrap();
    assert_eq!((c.total_fee, c.total_debit), (10, 1_010));
    assert_eq!(m.state().accounts[&TAKER].cash, 1_000);

    // margin = 1: only the negative cash, the fee.
    let mut m = slab_with_hold();
    let c = m
        .commit(NOW, 1, cap(20_010), A, 20_010, &[1_000], [0; 4], 1)
        .unwrap();
    assert_eq!(
        (c.filled_qty, c.avg_px, c.total_fee, c.total_debit),
        (2, 1_000, 10, 10)
    );
    assert_eq!(m.state().accounts[&TAKER].cash, 0);
    assert_eq!(m.state().collected, 10);

    // Marked down to 900 the taker's equity is 2 × (900 − 1,000) × 10 = −2,000 < MM: a slab
    // margined commit is below maintenance, a router-margined one is not checked.
    let mut m2 = m.clone();
    m.reserve(NOW, 2, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[1_000])
        .unwrap();
    m2.reserve(NOW, 2, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[1_000])
        .unwrap();
    assert_eq!(
        m.commit(NOW, 2, cap(20_010), A, 20_010, &[900], [0; 4], 0),
        Err(Abort::BelowMaintenance)
    );
    let c = m2
        .commit(NOW, 2, cap(20_010), A, 20_010, &[900], [0; 4], 1)
        .unwrap();
    assert_eq!(c.total_debit, 10);

    // A router-margined close at a loss debits the realised loss and the fee: the maker's bid
    // at 995 takes the long 2 back: −2 × 5 × 10 = −100, fee ⌊19,900 × 5 / 10⁴⌋ = 9.
    let mut m = slab(&[(1, 1_000, 20), (0, 995, 20)]);
    m.reserve(NOW, 1, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[1_000])
        .unwrap();
    m.commit(NOW, 1, cap(20_010), A, 20_010, &[1_000], [0; 4], 1)
        .unwrap();
    let r = m
        .reserve(NOW, 2, TAKER, 0, 1, 2, 995, CAP_TTL, [0; 4], &[1_000])
        .unwrap();
    assert_eq!(r.max_charge, 19_900 + 9);
    let c = m
        .commit(NOW, 2, cap(19_909), A, 19_909, &[1_000], [0; 4], 1)
        .unwrap();
    assert_eq!((c.total_fee, c.total_debit), (9, 109));
    let t = &m.state().accounts[&TAKER];
    assert!(t.positions.is_empty());
    assert_eq!(t.cash, 0);
}

#[test]
fn the_exposure_view_reads_the_account_and_one_signed_position() {
    let mut m = slab_with_hold();
    m.commit(NOW, 1, cap(20_010), A, 20_010, &[1_000], [0; 4], 1)
        .unwrap();
    // Taker long 2 at 1,000, cash 0: X = 20,000 → IM 1,000, MM 700, the position's the same.
    assert_eq!(
        m.exposure(TAKER, 0, &[1_000]),
        Ok((0, 1_000, 700, 1_000, 700, KEY, 1))
    );
    // The maker is short 2 and paid ⌊20,000 × 2 / 10⁴⌋ = 4: its position's margin is negative.
    assert_eq!(
        m.exposure(MAKER, 0, &[1_000]),
        Ok((-4, 1_000, 700, -1_000, -700, KEY, 1))
    );
    // At 1,001: X = 20,020 → IM ⌊1,001⌋, MM ⌊700.7⌋ = 700; equity 2 × 1 × 10 = 20.
    assert_eq!(
        m.exposure(TAKER, 0, &[1_001]),
        Ok((20, 1_001, 700, 1_001, 700, KEY, 1))
    );
    // No account: zeros but the key; no mark needed.
    assert_eq!(m.exposure(99, 0, &[0]), Ok((0, 0, 0, 0, 0, KEY, 0)));
    assert_eq!(m.exposure(99, 1, &[1_000]), Err(Abort::UnknownInstrument));
    assert_eq!(
        m.exposure(TAKER, 1, &[1_000]),
        Err(Abort::UnknownInstrument)
    );
    assert_eq!(m.exposure(TAKER, 0, &[0]), Err(Abort::NoMark));
    assert_eq!(m.exposure(TAKER, 0, &[]), Err(Abort::NoMark));

    // An account without a position in the instrument: its account words, zeros for the
    // position. Two instruments, the taker long 2 of instrument 0 only.
    let mut p = slab_params();
    p.instruments.push(instrument(OTHER_KEY));
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    m.place_order(0, MAKER, 0, 1, 1_000, 10).unwrap();
    m.reserve(NOW, 1, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[1_000, 0])
        .unwrap();
    m.commit(NOW, 1, cap(20_010), A, 20_010, &[1_000, 0], [0; 4], 1)
        .unwrap();
    assert_eq!(
        m.exposure(TAKER, 1, &[1_000, 0]),
        Ok((0, 1_000, 700, 0, 0, OTHER_KEY, 0))
    );
    // The account's position in instrument 0 needs its mark even for a view of instrument 1.
    assert_eq!(m.exposure(TAKER, 1, &[0, 500]), Err(Abort::NoMark));
}

// ---- portfolio margin ----

const D: u64 = 14;
const E: u64 = 15;

/// A: asks 1,000 (20) and bids 995 (20); B: bids 1,000 (20), its feed `key_b`; C: asks 1,000
/// (20). Marks 1,000, all listed, the taker's vault 1,000,000, the netting model as given.
fn margin_router(cross: bool, key_b: u64) -> RouterModel {
    let mut r = RouterModel::new(
        CAP_TTL,
        vec![
            (A, slab(&[(1, 1_000, 20), (0, 995, 20)]), vec![1_000]),
            (B, slab_keyed(key_b, &[(0, 1_000, 20)]), vec![1_000]),
            (C, slab(&[(1, 1_000, 20)]), vec![1_000]),
        ],
    );
    r.set_cross_alpha(cross);
    for s in [A, B, C] {
        r.list_slab(s).unwrap();
    }
    r.deposit(TAKER, 1_000_000);
    r
}

/// Buys `qty` of instrument 0 on `slab` at 1,000.
fn buy(r: &mut RouterModel, slab: u64, qty: u64) -> Result<(u64, u128, u128, u64), RouteError> {
    r.route(NOW, TAKER, 1, 0, 0, qty, 1_000, [slab, 0, 0])
}

/// Sells `qty` of instrument 0 on `slab` down to `limit`.
fn sell(
    r: &mut RouterModel,
    slab: u64,
    qty: u64,
    limit: u64,
) -> Result<(u64, u128, u128, u64), RouteError> {
    r.route(NOW, TAKER, 2, 0, 1, qty, limit, [slab, 0, 0])
}

#[test]
fn a_full_offset_across_slabs_needs_no_margin_under_cross_alpha() {
    // One unit = 2 contracts = 20 underlying at 1,000: X = 20,000, IM 1,000, MM 700; each
    // commit debits its fee ⌊20,000 × 5 / 10⁴⌋ = 10.
    for cross in [true, false] {
        let mut r = margin_router(cross, KEY);
        assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
        assert_eq!(r.portfolio(TAKER), [(A, 0), (0, 0), (0, 0), (0, 0)]);
        assert_eq!(r.locked(TAKER), 1_000);
        assert_eq!(r.escrow(TAKER, 0), 1_000);
        assert_eq!(r.vault(TAKER), 1_000_000 - 10 - 1_000);
        assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
        assert_eq!(
            r.slab(A).exposure(TAKER, 0, r.marks(A)),
            Ok((0, 1_000, 700, 1_000, 700, KEY, 1))
        );

        assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
        assert_eq!(r.portfolio(TAKER), [(A, 0), (B, 0), (0, 0), (0, 0)]);
        assert_eq!(
            r.slab(B).exposure(TAKER, 0, r.marks(B)),
            Ok((0, 1_000, 700, -1_000, -700, KEY, 1))
        );
        if cross {
            // N = 0, G = 2,000: the whole 2,000 is offset; the lock goes back.
            assert_eq!(r.margin(TAKER), Ok((0, 0, 0, 0)));
            assert_eq!(r.locked(TAKER), 0);
            assert_eq!(r.vault(TAKER), 1_000_000 - 10 - 10);
        } else {
            // Isolated: 2 × one unit's IM.
            assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
            assert_eq!(r.locked(TAKER), 2_000);
            assert_eq!(r.vault(TAKER), 1_000_000 - 10 - 10 - 2_000);
        }
        assert_eq!(r.escrow(TAKER, 0), r.locked(TAKER));
        assert_eq!(r.routes(), 2);
        assert!(r.all_caps_burned());
    }
}

#[test]
fn long_two_short_one_needs_one_units_margin() {
    for cross in [true, false] {
        let mut r = margin_router(cross, KEY);
        // Long 4 (two units): X = 40,000, IM 2,000, MM 1,400, fee 20.
        assert_eq!(buy(&mut r, A, 4), Ok((4, 4_000, 20, 1)));
        assert_eq!(r.locked(TAKER), 2_000);
        assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
        if cross {
            // IM: N = 1,000, G = 3,000 → 3,000 − 2,000 = 1,000; MM: 2,100 − 1,400 = 700.
            assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
            assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 10 - 1_000);
        } else {
            assert_eq!(r.margin(TAKER), Ok((3_000, 3_000, 2_100, 3_000)));
            assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 10 - 3_000);
        }
    }
}

#[test]
fn positions_on_different_feeds_do_not_net() {
    // B marked by another feed, or neither feed keyed (key 0 never nets).
    for (key_a, key_b) in [(KEY, OTHER_KEY), (0, 0)] {
        let mut r = RouterModel::new(
            CAP_TTL,
            vec![
                (A, slab_keyed(key_a, &[(1, 1_000, 20)]), vec![1_000]),
                (B, slab_keyed(key_b, &[(0, 1_000, 20)]), vec![1_000]),
            ],
        );
        r.set_cross_alpha(true);
        r.list_slab(A).unwrap();
        r.list_slab(B).unwrap();
        r.deposit(TAKER, 1_000_000);
        assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
        assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
        assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
        assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 2_000);
    }
}

#[test]
fn a_slabs_account_counts_once_and_its_instruments_net_under_cross_alpha() {
    // Slab D lists two instruments on one feed: the taker goes long 2 of instrument 0 and short
    // 2 of instrument 1 there, two legs on one slab.
    for cross in [true, false] {
        let mut p = slab_params();
        p.instruments.push(instrument(KEY));
        let mut d = Model::new(p);
        d.set_maker_class(MAKER, 1).unwrap();
        d.place_order(0, MAKER, 0, 1, 1_000, 10).unwrap();
        d.place_order(0, MAKER, 1, 0, 1_000, 10).unwrap();
        let mut r = RouterModel::new(CAP_TTL, vec![(D, d, vec![1_000, 1_000])]);
        r.set_cross_alpha(cross);
        r.list_slab(D).unwrap();
        r.deposit(TAKER, 1_000_000);
        assert_eq!(
            r.route(NOW, TAKER, 1, 0, 0, 2, 1_000, [D, 0, 0]),
            Ok((2, 2_000, 10, 1))
        );
        assert_eq!(
            r.route(NOW, TAKER, 2, 1, 1, 2, 1_000, [D, 0, 0]),
            Ok((2, 2_000, 10, 1))
        );
        assert_eq!(r.portfolio(TAKER), [(D, 0), (D, 1), (0, 0), (0, 0)]);
        // IM_D = ⌊40,000 × 5 %⌋ = 2,000 counted once (not 4,000); the positions ±1,000.
        if cross {
            assert_eq!(r.margin(TAKER), Ok((0, 0, 0, 0)));
        } else {
            assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
        }
        // Instrument 0 marked up to 1,100: E = 2 × 100 × 10 = 2,000 (once); X = 22,000 +
        // 20,000 → IM_D 2,100, MM_D 1,470; im_pos 1,100 and −1,000, mm_pos 770 and −700.
        r.set_marks(D, vec![1_100, 1_000]);
        if cross {
            // IM 2,100 − (2,100 − 100) = 100, MM 1,470 − (1,470 − 70) = 70; the lock stays 0.
            assert_eq!(r.margin(TAKER), Ok((2_000, 100, 70, 0)));
        } else {
            assert_eq!(r.margin(TAKER), Ok((4_000, 2_100, 1_470, 2_000)));
        }
    }
}

#[test]
fn closing_releases_the_lock_and_frees_the_leg_slot() {
    let mut r = margin_router(false, KEY);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(buy(&mut r, C, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.portfolio(TAKER), [(A, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.locked(TAKER), 2_000);
    // Closing A at 995: realised −100, fee 9 → the slab debits 109; A's leg is cleared and
    // only C's 1,000 stays locked.
    assert_eq!(sell(&mut r, A, 2, 995), Ok((2, 1_990, 109, 1)));
    assert_eq!(r.portfolio(TAKER), [(0, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.locked(TAKER), 1_000);
    assert_eq!(r.escrow(TAKER, 0), 1_000);
    assert_eq!(r.vault(TAKER), 1_000_000 - 10 - 10 - 109 - 1_000);
    assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
    // The freed slot 0 is the lowest free one.
    assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.portfolio(TAKER), [(B, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.locked(TAKER), 2_000);

    // Closing the only position releases the whole lock.
    let mut r = margin_router(true, KEY);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.locked(TAKER), 1_000);
    assert_eq!(sell(&mut r, A, 2, 995), Ok((2, 1_990, 109, 1)));
    assert_eq!(r.locked(TAKER), 0);
    assert_eq!(r.escrow(TAKER, 0), 0);
    assert_eq!(r.portfolio(TAKER), [(0, 0); 4]);
    assert_eq!(r.margin(TAKER), Ok((0, 0, 0, 0)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 10 - 109);
}

#[test]
fn a_vault_that_cannot_cover_the_lock_refuses_the_route_and_changes_nothing() {
    let mut r = margin_router(false, KEY);
    // Long 10 on A: fee 50, IM 5,000.
    assert_eq!(buy(&mut r, A, 10), Ok((10, 10_000, 50, 1)));
    assert_eq!(r.locked(TAKER), 5_000);
    assert_eq!(r.vault(TAKER), 1_000_000 - 50 - 5_000);
    // A's mark halves: equity 10 × (500 − 1,000) × 10 = −50,000; IM ⌊50,000 × 5 %⌋ = 2,500.
    r.set_marks(A, vec![500]);
    assert_eq!(r.margin(TAKER), Ok((5_000 - 50_000, 2_500, 1_750, 5_000)));
    // Keep just what C's funded leg pledges (20,010).
    r.withdraw(TAKER, 994_950 - 20_010).unwrap();
    let before = r.snapshot();
    // Buying 2 on C: the leg debits 10 and gives 20,000 back; then IM 2,500 + 1,000, E −50,000
    // → required 53,500, a pledge of 48,500 the vault's 20,000 cannot pay.
    assert_eq!(buy(&mut r, C, 2), Err(RouteError::Host("vault_balance")));
    assert_eq!(r.snapshot(), before);
    assert_eq!(r.vault(TAKER), 20_010);
    assert_eq!(r.locked(TAKER), 5_000);
    assert_eq!(r.portfolio(TAKER), [(A, 0), (0, 0), (0, 0), (0, 0)]);
    // With exactly enough it goes through and empties the vault.
    r.deposit(TAKER, 28_500);
    assert_eq!(buy(&mut r, C, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.vault(TAKER), 0);
    assert_eq!(r.locked(TAKER), 53_500);
    assert_eq!(r.escrow(TAKER, 0), 53_500);
    assert_eq!(r.margin(TAKER), Ok((3_500, 3_500, 2_450, 53_500)));
}

#[test]
fn a_refused_view_is_margin_view_and_changes_nothing() {
    let mut r = margin_router(true, KEY);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    r.set_marks(A, vec![0]);
    assert_eq!(r.margin(TAKER), Err(RouteError::Abort(code::MARGIN_VIEW)));
    let before = r.snapshot();
    // C's commit succeeds; A's view (a leg of the portfolio) has no mark.
    assert_eq!(buy(&mut r, C, 2), Err(RouteError::Abort(code::MARGIN_VIEW)));
    assert_eq!(r.snapshot(), before);
    // A user without a portfolio reads zeros.
    assert_eq!(r.margin(MAKER), Ok((0, 0, 0, 0)));
    assert_eq!(r.portfolio(MAKER), [(0, 0); 4]);
    assert_eq!(r.locked(MAKER), 0);
}

#[test]
fn a_fifth_pair_is_portfolio_full_and_changes_nothing() {
    let book = [(1, 1_000, 20)];
    let mut r = RouterModel::new(
        CAP_TTL,
        vec![
            (A, slab(&book), vec![1_000]),
            (B, slab(&book), vec![1_000]),
            (C, slab(&book), vec![1_000]),
            (D, slab(&book), vec![1_000]),
            (E, slab(&book), vec![1_000]),
        ],
    );
    for s in [A, B, C, D, E] {
        r.list_slab(s).unwrap();
    }
    r.deposit(TAKER, 10_000_000);
    // Equal prices keep leg order: A 20, B 20, C 10.
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 50, 1_000, [A, B, C]),
        Ok((50, 50_000, 100 + 100 + 50, 3))
    );
    assert_eq!(r.portfolio(TAKER), [(A, 0), (B, 0), (C, 0), (0, 0)]);
    // IM: X = 200,000, 200,000 and 100,000 → 10,000 + 10,000 + 5,000.
    assert_eq!(r.locked(TAKER), 25_000);
    let before = r.snapshot();
    // D 20 then E 2: E would be a fifth pair.
    assert_eq!(
        r.route(NOW, TAKER, 2, 0, 0, 22, 1_000, [D, E, 0]),
        Err(RouteError::Abort(code::PORTFOLIO_FULL))
    );
    assert_eq!(r.snapshot(), before);
    assert_eq!(buy(&mut r, D, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.portfolio(TAKER), [(A, 0), (B, 0), (C, 0), (D, 0)]);
    // A pair already held still routes; a new one does not.
    assert_eq!(buy(&mut r, C, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(
        buy(&mut r, E, 2),
        Err(RouteError::Abort(code::PORTFOLIO_FULL))
    );
    assert_eq!(r.locked(TAKER), 25_000 + 1_000 + 1_000);
}

// ---- sync_margin ----

#[test]
fn sync_margin_releases_what_a_favourable_mark_frees() {
    let mut r = margin_router(false, KEY);
    // Long 2 on A at 1,000: fee 10, IM 1,000 → the lock is 1,000.
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.locked(TAKER), 1_000);
    assert_eq!(r.vault(TAKER), 998_990);
    // Nothing moved: the lock is already max(0, IM − E); nothing changes.
    let before = r.snapshot();
    assert_eq!(r.sync_margin(TAKER), Ok(1_000));
    assert_eq!(r.snapshot(), before);

    // A's mark up to 1,020: E = 2 × 20 × 10 = 400; X = 20,400 → IM 1,020, MM ⌊714⌋ = 714.
    // required = 1,020 − 400 = 620: 380 of the 1,000 goes back to the vault.
    r.set_marks(A, vec![1_020]);
    assert_eq!(r.margin(TAKER), Ok((1_400, 1_020, 714, 1_000)));
    assert_eq!(r.sync_margin(TAKER), Ok(620));
    assert_eq!(r.locked(TAKER), 620);
    assert_eq!(r.escrow(TAKER, 0), 620);
    assert_eq!(r.vault(TAKER), 998_990 + 380);
    assert_eq!(r.margin(TAKER), Ok((1_020, 1_020, 714, 620)));

    // Up to 1,100: E = 2,000 ≥ IM 1,100 → required 0, the whole lock is released.
    r.set_marks(A, vec![1_100]);
    assert_eq!(r.sync_margin(TAKER), Ok(0));
    assert_eq!(r.locked(TAKER), 0);
    assert_eq!(r.escrow(TAKER, 0), 0);
    assert_eq!(r.vault(TAKER), 999_990);
    assert_eq!(r.margin(TAKER), Ok((2_000, 1_100, 770, 0)));
    // The leg is still open: it stays. No route was counted.
    assert_eq!(r.portfolio(TAKER), [(A, 0), (0, 0), (0, 0), (0, 0)]);
    assert_eq!(r.routes(), 1);
    assert!(r.all_caps_burned());
    assert_eq!(r.caps_count(), 1);
    // What the profit freed can be withdrawn.
    assert_eq!(r.withdraw(TAKER, 999_990), Ok(()));
}

#[test]
fn sync_margin_pledges_after_a_crash_or_is_refused_by_a_short_vault() {
    let mut r = margin_router(false, KEY);
    // Long 10 on A: fee 50, IM 5,000.
    assert_eq!(buy(&mut r, A, 10), Ok((10, 10_000, 50, 1)));
    assert_eq!(r.locked(TAKER), 5_000);
    assert_eq!(r.vault(TAKER), 994_950);
    // A's mark halves: E = 10 × (500 − 1,000) × 10 = −50,000; X = 50,000 → IM 2,500, MM 1,750.
    // required = 2,500 + 50,000 = 52,500: a pledge of 47,500.
    r.set_marks(A, vec![500]);
    assert_eq!(r.margin(TAKER), Ok((5_000 - 50_000, 2_500, 1_750, 5_000)));
    // One short of it: the host refuses the pledge and nothing changes.
    r.withdraw(TAKER, 994_950 - 47_499).unwrap();
    let before = r.snapshot();
    assert_eq!(r.sync_margin(TAKER), Err(RouteError::Host("vault_balance")));
    assert_eq!(r.snapshot(), before);
    assert_eq!(r.vault(TAKER), 47_499);
    assert_eq!(r.locked(TAKER), 5_000);
    assert_eq!(r.escrow(TAKER, 0), 5_000);
    // Exactly enough: the vault is emptied into the lock.
    r.deposit(TAKER, 1);
    assert_eq!(r.sync_margin(TAKER), Ok(52_500));
    assert_eq!(r.vault(TAKER), 0);
    assert_eq!(r.locked(TAKER), 52_500);
    assert_eq!(r.escrow(TAKER, 0), 52_500);
    assert_eq!(r.margin(TAKER), Ok((2_500, 2_500, 1_750, 52_500)));
    assert_eq!(r.portfolio(TAKER), [(A, 0), (0, 0), (0, 0), (0, 0)]);
    assert_eq!(r.routes(), 1);

    // The mark recovers to 1,000: E = 0, IM 5,000 → 47,500 goes back.
    r.set_marks(A, vec![1_000]);
    assert_eq!(r.sync_margin(TAKER), Ok(5_000));
    assert_eq!(r.vault(TAKER), 47_500);
}

#[test]
fn sync_margin_nets_per_the_routers_model() {
    // Long 2 on A, short 2 on B, one feed; both marks crash to 500: A's E −10,000, B's
    // +10,000; X = 10,000 each → IM 500 and MM 350 per slab, im_pos ±500, mm_pos ±350.
    for cross in [true, false] {
        let mut r = margin_router(cross, KEY);
        assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
        assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
        r.set_marks(A, vec![500]);
        r.set_marks(B, vec![500]);
        if cross {
            // Fully offset: IM 0, E 0 → the lock stays 0; nothing changes.
            assert_eq!(r.locked(TAKER), 0);
            let before = r.snapshot();
            assert_eq!(r.sync_margin(TAKER), Ok(0));
            assert_eq!(r.snapshot(), before);
            assert_eq!(r.margin(TAKER), Ok((0, 0, 0, 0)));
        } else {
            // Isolated: IM 1,000, E 0 → 1,000 of the 2,000 lock goes back.
            assert_eq!(r.locked(TAKER), 2_000);
            assert_eq!(r.sync_margin(TAKER), Ok(1_000));
            assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 2_000 + 1_000);
            assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
        }
        assert_eq!(r.escrow(TAKER, 0), r.locked(TAKER));
        assert_eq!(r.portfolio(TAKER), [(A, 0), (B, 0), (0, 0), (0, 0)]);
    }
}

#[test]
fn sync_margin_without_a_portfolio_is_zero_and_changes_nothing() {
    let mut r = margin_router(true, KEY);
    let before = r.snapshot();
    // Nobody has traded: no record, nothing to do, and no record is created.
    for user in [TAKER, MAKER, 0] {
        assert_eq!(r.sync_margin(user), Ok(0));
    }
    assert_eq!(r.snapshot(), before);
    assert!(r.portfolios().is_empty());
    // After the taker's trade the maker still has none.
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    let before = r.snapshot();
    assert_eq!(r.sync_margin(MAKER), Ok(0));
    assert_eq!(r.sync_margin(0), Ok(0));
    assert_eq!(r.snapshot(), before);
    // A leg's slab that refuses the view (no mark) is MARGIN_VIEW; nothing changes.
    r.set_marks(A, vec![0]);
    let before = r.snapshot();
    assert_eq!(
        r.sync_margin(TAKER),
        Err(RouteError::Abort(code::MARGIN_VIEW))
    );
    assert_eq!(r.snapshot(), before);
}

/// Closes the taker's long 2 on slab A outside the router: the slab model is driven directly
/// (a sell of 2 at 995 against A's bids, committed router-margined), so only A's state changes
/// — the router's ledger and portfolio do not see it. Realised −100, fee ⌊19,900 × 5 / 10⁴⌋
/// = 9: the slab debits 109.
fn close_a_outside_the_router(r: &mut RouterModel) {
    let marks = r.marks(A).to_vec();
    let m = r.slab_mut(A);
    let hold = m
        .reserve(NOW, 9, TAKER, 0, 1, 2, 995, CAP_TTL, [0; 4], &marks)
        .unwrap();
    assert_eq!(hold.filled_qty, 2);
    let cap = CapView {
        user: TAKER,
        slab: A,
        asset: 0,
        remaining: hold.max_charge,
        expiry_ms: NOW + 1_000,
        burned: false,
    };
    let c = m
        .commit(
            NOW,
            hold.hold_id,
            Some(cap),
            A,
            hold.max_charge,
            &marks,
            [0; 4],
            1,
        )
        .unwrap();
    assert_eq!(c.total_debit, 109);
    assert_eq!(m.exposure(TAKER, 0, &marks), Ok((0, 0, 0, 0, 0, KEY, 0)));
}

#[test]
fn sync_margin_prunes_a_leg_closed_elsewhere() {
    let mut r = margin_router(false, KEY);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(buy(&mut r, C, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.portfolio(TAKER), [(A, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.locked(TAKER), 2_000);
    assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 2_000);
    close_a_outside_the_router(&mut r);
    // margin reads A's closed account (all zeros) and removes nothing.
    assert_eq!(r.margin(TAKER), Ok((2_000, 1_000, 700, 2_000)));
    assert_eq!(r.portfolio(TAKER), [(A, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.leg_qtys(TAKER), [2, 2, 0, 0]);
    assert_eq!(r.slab_exposure(A), Ok((0, 2)));
    // sync_margin prunes A's leg and releases its 1,000; C's leg keeps its slot. The pruned
    // leg's qty (2, the router's account) leaves A's open_qty.
    assert_eq!(r.sync_margin(TAKER), Ok(1_000));
    assert_eq!(r.portfolio(TAKER), [(0, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.leg_qtys(TAKER), [0, 2, 0, 0]);
    assert_eq!(r.slab_exposure(A), Ok((0, 0)));
    assert_eq!(r.slab_exposure(C), Ok((0, 2)));
    assert_eq!(r.locked(TAKER), 1_000);
    assert_eq!(r.escrow(TAKER, 0), 1_000);
    assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 1_000);
    assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
    // Once more: nothing left to change.
    let before = r.snapshot();
    assert_eq!(r.sync_margin(TAKER), Ok(1_000));
    assert_eq!(r.snapshot(), before);

    // The only leg closed elsewhere: the portfolio empties and the whole lock goes back; the
    // record remains, reading like no portfolio, and a later sync changes nothing.
    let mut r = margin_router(true, KEY);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    close_a_outside_the_router(&mut r);
    assert_eq!(r.sync_margin(TAKER), Ok(0));
    assert_eq!(r.portfolio(TAKER), [(0, 0); 4]);
    assert_eq!(r.locked(TAKER), 0);
    assert_eq!(r.escrow(TAKER, 0), 0);
    assert_eq!(r.vault(TAKER), 1_000_000 - 10);
    assert_eq!(r.margin(TAKER), Ok((0, 0, 0, 0)));
    assert!(r.portfolios().contains_key(&TAKER));
    let before = r.snapshot();
    assert_eq!(r.sync_margin(TAKER), Ok(0));
    assert_eq!(r.snapshot(), before);
}

// ---- correlation pairs (cross_alpha) ----

/// A third feed's key (keys have their low bit set).
const THIRD_KEY: u64 = 0x7777_0001;
/// A fourth feed's key.
const FOURTH_KEY: u64 = 0x4444_0001;
/// A feed no leg of these tests is marked by.
const UNHELD_KEY: u64 = 0x1234_0001;

/// A slab as [`slab_keyed`] with its own IM and MM rates (bps).
fn slab_rated(oracle_key: u64, imr_bps: u64, mmr_bps: u64, orders: &[(u64, u64, u64)]) -> Model {
    let mut p = slab_params();
    p.instruments[0].oracle_key = oracle_key;
    p.imr_bps = imr_bps;
    p.mmr_bps = mmr_bps;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    for &(side, price, qty) in orders {
        m.place_order(0, MAKER, 0, side, price, qty).unwrap();
    }
    m
}

/// A router over `slabs` `(id, model)`, marks 1,000, all listed, the taker's vault 1,000,000,
/// the netting model as given.
fn feeds_router(cross: bool, slabs: Vec<(u64, Model)>) -> RouterModel {
    let ids: Vec<u64> = slabs.iter().map(|s| s.0).collect();
    let mut r = RouterModel::new(
        CAP_TTL,
        slabs
            .into_iter()
            .map(|(id, m)| (id, m, vec![1_000]))
            .collect(),
    );
    r.set_cross_alpha(cross);
    for s in ids {
        r.list_slab(s).unwrap();
    }
    r.deposit(TAKER, 1_000_000);
    r
}

/// Asks 1,000 (20): a slab to go long on.
const ASKS: &[(u64, u64, u64)] = &[(1, 1_000, 20)];
/// Bids 1,000 (20): a slab to go short on.
const BIDS: &[(u64, u64, u64)] = &[(0, 1_000, 20)];

#[test]
fn a_correlation_pair_offsets_alpha_of_the_smaller_net_rounded_down() {
    // margin_router with B on another feed: A (KEY) long 2, B (OTHER_KEY) short 2. One unit
    // (2 contracts at 1,000): IM 1,000, MM 700, im_pos ±1,000, mm_pos ±700, fee 10. Each feed
    // has one leg, so no per-feed offset: the nets are N_KEY = +1,000, N_OTHER = −1,000
    // (IM) and +700, −700 (MM). The pair's keys in either order.
    for pair in [(KEY, OTHER_KEY, 7_000), (OTHER_KEY, KEY, 7_000)] {
        let mut r = margin_router(true, OTHER_KEY);
        r.set_correlations(&[pair]);
        assert_eq!(r.correlations(), [pair, (0, 0, 0), (0, 0, 0), (0, 0, 0)]);
        // Long on KEY alone: OTHER_KEY is not among the legs, the pair offsets nothing.
        assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
        assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
        // The short on OTHER_KEY through a two-phase route (route_commit's margin step):
        // m = min(1,000, 1,000) = 1,000 → offset ⌊7,000 × 1,000 / 10⁴⌋ = 700:
        // IM = 1,000 + 1,000 − 700 = 1,300; MM: m = 700 → ⌊490⌋ = 490: 1,400 − 490 = 910.
        assert_eq!(
            r.route_reserve(NOW, TAKER, 7, 0, 1, 2, 1_000, [B, 0, 0]),
            Ok((2, 1, NOW + CAP_TTL))
        );
        assert_eq!(r.locked(TAKER), 1_000);
        assert_eq!(r.route_commit(NOW, TAKER, 7), Ok((2, 2_000, 10, 1)));
        assert_eq!(r.margin(TAKER), Ok((1_300, 1_300, 910, 1_300)));
        assert_eq!(r.locked(TAKER), 1_300);
        assert_eq!(r.escrow(TAKER, 0), 1_300);
        assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 1_300);

        // The floor: A marked 1,003, B 1,005. A: X = 20,060 → IM ⌊1,003⌋ = 1,003, MM
        // ⌊702.1⌋ = 702, E_A = 2 × 3 × 10 = 60; B: X = 20,100 → IM 1,005, MM ⌊703.5⌋ = 703,
        // E_B = −2 × 5 × 10 = −100; E = −40.
        // IM: m = min(1,003, 1,005) = 1,003 → ⌊7,000 × 1,003 / 10⁴⌋ = ⌊702.1⌋ = 702:
        //     1,003 + 1,005 − 702 = 1,306.
        // MM: m = min(702, 703) = 702 → ⌊7,000 × 702 / 10⁴⌋ = ⌊491.4⌋ = 491:
        //     702 + 703 − 491 = 914.
        r.set_marks(A, vec![1_003]);
        r.set_marks(B, vec![1_005]);
        assert_eq!(r.margin(TAKER), Ok((1_300 - 40, 1_306, 914, 1_300)));
        // sync_margin locks max(0, 1,306 − (−40)) = 1,346.
        assert_eq!(r.sync_margin(TAKER), Ok(1_346));
        assert_eq!(r.margin(TAKER), Ok((1_306, 1_306, 914, 1_346)));
        assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 1_346);
    }
}

#[test]
fn correlation_pairs_do_nothing_under_isolated() {
    // The same portfolio as above with the pair set, but the model isolated: 2 × one unit.
    let mut r = margin_router(false, OTHER_KEY);
    r.set_correlations(&[(KEY, OTHER_KEY, 7_000)]);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 20 - 2_000);
    // And cross_alpha without any pair: the two feeds do not net either (the default).
    let mut r = margin_router(true, OTHER_KEY);
    assert_eq!(r.correlations(), [(0, 0, 0); 4]);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
    // Setting the pair afterwards: margin and sync_margin see it (1,300 as above).
    r.set_correlations(&[(KEY, OTHER_KEY, 7_000)]);
    assert_eq!(r.margin(TAKER), Ok((2_000, 1_300, 910, 2_000)));
    assert_eq!(r.sync_margin(TAKER), Ok(1_300));
    // And an empty list removes it again.
    r.set_correlations(&[]);
    assert_eq!(r.margin(TAKER), Ok((1_300, 2_000, 1_400, 1_300)));
}

#[test]
fn nets_on_the_same_side_zero_or_unheld_offset_nothing() {
    // Long 2 on KEY (slab A) and long 2 on OTHER_KEY (slab B): N = +1,000 and +1,000 (IM),
    // +700 and +700 (MM) — the same side. Pairs that cannot offset: the two feeds on the same
    // side, a pair of keys no leg has (net 0 each), unused all-zeros pairs (twice: they may
    // repeat). A feed with itself is refused (`a_feed_paired_with_itself_is_a_test_bug`).
    let mut r = feeds_router(
        true,
        vec![
            (A, slab_keyed(KEY, ASKS)),
            (B, slab_keyed(OTHER_KEY, ASKS)),
            (C, slab_keyed(KEY, BIDS)),
        ],
    );
    r.set_correlations(&[
        (KEY, OTHER_KEY, 10_000),
        (THIRD_KEY, UNHELD_KEY, 10_000),
        (0, 0, 0),
        (0, 0, 0),
    ]);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(buy(&mut r, B, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
    // Short 2 on KEY (slab C): KEY's per-feed offset G − |N| = 2,000 − 0 = 2,000 (MM 1,400);
    // its net is 0, so the pair with OTHER_KEY still offsets nothing:
    // IM = 3,000 − 2,000 = 1,000, MM = 2,100 − 1,400 = 700.
    assert_eq!(sell(&mut r, C, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 30 - 1_000);
}

#[test]
fn a_pair_offsets_the_net_left_by_the_per_feed_netting() {
    // Long 4 on KEY (A: IM 2,000, MM 1,400), short 2 on KEY (C: 1,000, 700), short 2 on
    // OTHER_KEY (B: 1,000, 700). IM_iso = 4,000, MM_iso = 2,800.
    // Per feed KEY: N = 1,000, G = 3,000 → offset 2,000 (MM: N = 700, G = 2,100 → 1,400).
    // Residuals R_KEY = +1,000, R_OTHER = −1,000 → pair α = 7,000: m = 1,000, offset 700.
    // IM = 4,000 − 2,000 − 700 = 1,300; MM: m = 700 → 490, 2,800 − 1,400 − 490 = 910.
    let mut r = feeds_router(
        true,
        vec![
            (A, slab_keyed(KEY, ASKS)),
            (B, slab_keyed(OTHER_KEY, BIDS)),
            (C, slab_keyed(KEY, BIDS)),
        ],
    );
    r.set_correlations(&[(KEY, OTHER_KEY, 7_000)]);
    assert_eq!(buy(&mut r, A, 4), Ok((4, 4_000, 20, 1)));
    assert_eq!(sell(&mut r, C, 2, 1_000), Ok((2, 2_000, 10, 1)));
    // Before the OTHER_KEY leg: IM 3,000 − 2,000 = 1,000, MM 2,100 − 1,400 = 700.
    assert_eq!(r.margin(TAKER), Ok((1_000, 1_000, 700, 1_000)));
    assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.margin(TAKER), Ok((1_300, 1_300, 910, 1_300)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 40 - 1_300);
}

/// Four slabs, one feed each, marks 1,000, all listed, the taker's vault 1,000,000,
/// `cross_alpha`: A (KEY) asks 1,000 (20) and bids 995 (20); B (OTHER_KEY) bids 1,000 (20);
/// C (THIRD_KEY) asks 1,000 (20); D (FOURTH_KEY) bids 1,000 (20) and asks 1,005 (20).
fn four_feeds_router() -> RouterModel {
    feeds_router(
        true,
        vec![
            (A, slab_keyed(KEY, &[(1, 1_000, 20), (0, 995, 20)])),
            (B, slab_keyed(OTHER_KEY, BIDS)),
            (C, slab_keyed(THIRD_KEY, ASKS)),
            (D, slab_keyed(FOURTH_KEY, &[(0, 1_000, 20), (1, 1_005, 20)])),
        ],
    )
}

/// [`four_feeds_router`] with the pairs (KEY, OTHER_KEY, 70 %) and (FOURTH_KEY, THIRD_KEY,
/// 33.33 %) and the taker long 4 on A, short 2 on B, long 6 on C, short 4 on D (fees 20, 10,
/// 30, 20). Per leg at 1,000 (size 10, IM 5 %, MM 3.5 %): A X = 40,000 → IM 2,000, MM 1,400;
/// B X = 20,000 → 1,000, 700; C X = 60,000 → 3,000, 2,100; D 2,000, 1,400. E = 0.
/// One leg per feed, so no per-feed offset; the nets: IM +2,000 / −1,000 / +3,000 / −2,000,
/// MM +1,400 / −700 / +2,100 / −1,400.
fn four_feeds_portfolio() -> RouterModel {
    let mut r = four_feeds_router();
    r.set_correlations(&[
        (KEY, OTHER_KEY, 7_000),
        (FOURTH_KEY, THIRD_KEY, 3_333),
        (0, 0, 0),
        (0, 0, 0),
    ]);
    assert_eq!(
        r.correlations(),
        [
            (KEY, OTHER_KEY, 7_000),
            (FOURTH_KEY, THIRD_KEY, 3_333),
            (0, 0, 0),
            (0, 0, 0)
        ]
    );
    // Long 4 on KEY alone: OTHER_KEY has no leg (net 0), nothing offsets. IM 2,000, MM 1,400.
    assert_eq!(buy(&mut r, A, 4), Ok((4, 4_000, 20, 1)));
    assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
    // Short 2 on OTHER_KEY: pair 0 min(2,000, 1,000) = 1,000 → ⌊7,000 × 1,000 / 10⁴⌋ = 700:
    // IM = 3,000 − 700 = 2,300; MM min(1,400, 700) = 700 → ⌊7,000 × 700 / 10⁴⌋ = 490:
    // MM = 2,100 − 490 = 1,610.
    assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.margin(TAKER), Ok((2_300, 2_300, 1_610, 2_300)));
    // Long 6 on THIRD_KEY: FOURTH_KEY has no leg, pair 1 offsets nothing yet.
    // IM = 6,000 − 700 = 5,300; MM = 4,200 − 490 = 3,710.
    assert_eq!(buy(&mut r, C, 6), Ok((6, 6_000, 30, 1)));
    assert_eq!(r.margin(TAKER), Ok((5_300, 5_300, 3_710, 5_300)));
    // Short 4 on FOURTH_KEY: pair 1 min(2,000, 3,000) = 2,000 → ⌊3,333 × 2,000 / 10⁴⌋ =
    // ⌊666.6⌋ = 666; MM min(1,400, 2,100) = 1,400 → ⌊3,333 × 1,400 / 10⁴⌋ = ⌊466.62⌋ = 466.
    // IM = 8,000 − 700 − 666 = 6,634; MM = 5,600 − 490 − 466 = 4,644.
    assert_eq!(sell(&mut r, D, 4, 1_000), Ok((4, 4_000, 20, 1)));
    assert_eq!(r.margin(TAKER), Ok((6_634, 6_634, 4_644, 6_634)));
    assert_eq!(r.portfolio(TAKER), [(A, 0), (B, 0), (C, 0), (D, 0)]);
    assert_eq!(r.escrow(TAKER, 0), 6_634);
    assert_eq!(r.vault(TAKER), 1_000_000 - 80 - 6_634);
    r
}

#[test]
fn two_disjoint_pairs_offset_each_from_its_own_feeds_nets() {
    let mut r = four_feeds_portfolio();
    // The pairs' order and the zeros' places do not matter (each pair reads the nets
    // directly): the same 6,634 / 4,644.
    r.set_correlations(&[
        (0, 0, 0),
        (THIRD_KEY, FOURTH_KEY, 3_333),
        (0, 0, 0),
        (OTHER_KEY, KEY, 7_000),
    ]);
    assert_eq!(r.margin(TAKER), Ok((6_634, 6_634, 4_644, 6_634)));
    // One pair only: IM 8,000 − 700 = 7,300; MM 5,600 − 490 = 5,110.
    r.set_correlations(&[(KEY, OTHER_KEY, 7_000)]);
    assert_eq!(r.margin(TAKER), Ok((6_634, 7_300, 5_110, 6_634)));
    // Pairs whose feeds sit on one side (KEY +, THIRD +; OTHER −, FOURTH −): nothing.
    r.set_correlations(&[(KEY, THIRD_KEY, 10_000), (OTHER_KEY, FOURTH_KEY, 10_000)]);
    assert_eq!(r.margin(TAKER), Ok((6_634, 8_000, 5_600, 6_634)));
    // Paired the other way round at 100 %: (KEY, FOURTH) min(2,000, 2,000) = 2,000 → 2,000;
    // (THIRD, OTHER) min(3,000, 1,000) = 1,000 → 1,000. IM = 8,000 − 3,000 = 5,000 (Σ pair
    // offsets 3,000 ≤ ½ Σ |N| = 4,000). MM: min(1,400, 1,400) → 1,400; min(2,100, 700) → 700:
    // MM = 5,600 − 2,100 = 3,500. sync_margin releases 6,634 − 5,000 = 1,634.
    r.set_correlations(&[(KEY, FOURTH_KEY, 10_000), (THIRD_KEY, OTHER_KEY, 10_000)]);
    assert_eq!(r.margin(TAKER), Ok((6_634, 5_000, 3_500, 6_634)));
    assert_eq!(r.sync_margin(TAKER), Ok(5_000));
    assert_eq!(r.vault(TAKER), 1_000_000 - 80 - 5_000);
    // No pairs at all: the iso sums (no per-feed offsets either).
    r.set_correlations(&[]);
    assert_eq!(r.correlations(), [(0, 0, 0); 4]);
    assert_eq!(r.margin(TAKER), Ok((5_000, 8_000, 5_600, 5_000)));
}

#[test]
fn closing_part_of_a_leg_never_raises_the_margin_with_disjoint_pairs() {
    // README: closing d of a feed's net lowers its |N| by d and its one pair's offset by at
    // most d, so a closing trade never raises IM or MM.
    let mut r = four_feeds_portfolio();
    // IM 6,634, MM 4,644 (four_feeds_portfolio). Close 2 of A's long 4 at 995: realised
    // 2 × (995 − 1,000) × 10 = −100, fee ⌊19,900 × 5 / 10⁴⌋ = 9 → debit 109; A long 2 at
    // entry 1,000 (E_A 0): IM 1,000, MM 700. N_KEY = +1,000 meets N_OTHER = −1,000: pair 0
    // still min(1,000, 1,000) = 1,000 → 700 (KEY was its larger side); MM → 490.
    // IM = 7,000 − 700 − 666 = 5,634 (−1,000 = d); MM = 4,900 − 490 − 466 = 3,944.
    assert_eq!(sell(&mut r, A, 2, 995), Ok((2, 1_990, 109, 1)));
    assert_eq!(r.margin(TAKER), Ok((5_634, 5_634, 3_944, 5_634)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 80 - 109 - 5_634);
    // Close 2 of D's short 4 at 1,005 (the smaller side of pair 1): realised 2 × (1,000 −
    // 1,005) × 10 = −100, fee ⌊20,100 × 5 / 10⁴⌋ = 10 → debit 110; D short 2 (E_D 0): IM
    // 1,000, MM 700. Pair 1: min(1,000, 3,000) = 1,000 → ⌊3,333 × 1,000 / 10⁴⌋ = 333 (666
    // before: the offset falls by 333 ≤ d); MM min(700, 2,100) = 700 → ⌊233.31⌋ = 233.
    // IM = 6,000 − 700 − 333 = 4,967 (−667); MM = 4,200 − 490 − 233 = 3,477 (−467).
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 2, 1_005, [D, 0, 0]),
        Ok((2, 2_010, 110, 1))
    );
    assert_eq!(r.margin(TAKER), Ok((4_967, 4_967, 3_477, 4_967)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 80 - 109 - 110 - 4_967);

    // The README's chain with its middle pair removed (the chain is refused:
    // `a_feed_named_by_two_pairs_is_a_test_bug`): (KEY, OTHER, 100 %), (THIRD, FOURTH,
    // 100 %), nets +1,000 / −1,000 / +1,000 / −1,000 (2 contracts each, fees 10 each).
    // IM = 4,000 − 1,000 − 1,000 = 2,000; MM = 2,800 − 700 − 700 = 1,400.
    let mut r = four_feeds_router();
    r.set_correlations(&[(KEY, OTHER_KEY, 10_000), (THIRD_KEY, FOURTH_KEY, 10_000)]);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(buy(&mut r, C, 2), Ok((2, 2_000, 10, 1)));
    assert_eq!(sell(&mut r, D, 2, 1_000), Ok((2, 2_000, 10, 1)));
    assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
    // Closing A entirely (debit 109, the leg pruned): N_KEY = 0, pair 0 offsets nothing, pair
    // 1 still 1,000: IM = 3,000 − 1,000 = 2,000, MM = 2,100 − 700 = 1,400 — not raised (the
    // chain's (OTHER, THIRD, 10 %) would have raised it, README: 20 → 29 in its units).
    assert_eq!(sell(&mut r, A, 2, 995), Ok((2, 1_990, 109, 1)));
    assert_eq!(r.portfolio(TAKER), [(0, 0), (B, 0), (C, 0), (D, 0)]);
    assert_eq!(r.margin(TAKER), Ok((2_000, 2_000, 1_400, 2_000)));
    assert_eq!(r.vault(TAKER), 1_000_000 - 40 - 109 - 2_000);
}

#[test]
#[should_panic(expected = "is named by two correlation pairs")]
fn a_feed_named_by_two_pairs_is_a_test_bug() {
    // The README's chained counterexample: OTHER_KEY and THIRD_KEY each in two pairs.
    let mut r = four_feeds_router();
    r.set_correlations(&[
        (KEY, OTHER_KEY, 10_000),
        (OTHER_KEY, THIRD_KEY, 1_000),
        (THIRD_KEY, FOURTH_KEY, 10_000),
    ]);
}

#[test]
#[should_panic(expected = "with itself")]
fn a_feed_paired_with_itself_is_a_test_bug() {
    let mut r = four_feeds_router();
    r.set_correlations(&[(KEY, OTHER_KEY, 7_000), (THIRD_KEY, THIRD_KEY, 5_000)]);
}

#[test]
fn the_mm_pairs_use_the_mm_nets_of_their_own() {
    // Slab A (KEY, 5 % / 3.5 %): long 2 → im_pos 1,000, mm_pos 700. Slab C (KEY, rates below):
    // short 2. Slab B (OTHER_KEY, 5 % / 3.5 %): short 2 → im_pos −1,000, mm_pos −700.
    // The pair (KEY, OTHER_KEY, 50 %). E = 0; fees 10 each.
    //
    // C at 4 % / 3.8 %: im_pos −800, mm_pos −760.
    //   IM: iso 1,000 + 800 + 1,000 = 2,800; KEY N = 200, G = 1,800 → 1,600; nets +200,
    //       −1,000 (opposite) → m = 200, ⌊5,000 × 200 / 10⁴⌋ = 100. IM = 2,800 − 1,600 − 100
    //       = 1,100.
    //   MM: iso 700 + 760 + 700 = 2,160; KEY N = −60, G = 1,460 → 1,400; nets −60, −700
    //       (same side) → nothing. MM = 760.
    // C at 6 % / 3 %: im_pos −1,200, mm_pos −600.
    //   IM: iso 3,200; KEY N = −200, G = 2,200 → 2,000; nets −200, −1,000 (same side) →
    //       nothing. IM = 1,200.
    //   MM: iso 2,000; KEY N = 100, G = 1,300 → 1,200; nets +100, −700 → m = 100, 50.
    //       MM = 2,000 − 1,200 − 50 = 750.
    for (imr, mmr, im, mm) in [(400, 380, 1_100, 760), (600, 300, 1_200, 750)] {
        let mut r = feeds_router(
            true,
            vec![
                (A, slab_keyed(KEY, ASKS)),
                (B, slab_keyed(OTHER_KEY, BIDS)),
                (C, slab_rated(KEY, imr, mmr, BIDS)),
            ],
        );
        r.set_correlations(&[(KEY, OTHER_KEY, 5_000)]);
        assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
        assert_eq!(sell(&mut r, C, 2, 1_000), Ok((2, 2_000, 10, 1)));
        assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
        assert_eq!(r.margin(TAKER), Ok((im as i128, im, mm, im)));
        assert_eq!(r.vault(TAKER), 1_000_000 - 30 - im);
    }
}

#[test]
fn liquidation_measures_health_with_the_pairs() {
    // A (KEY) long 2, B (OTHER_KEY) short 2, the pair (KEY, OTHER_KEY, 70 %): the lock 1,300
    // (as in the first pair test); the vault emptied. Hard band 200, no buffer, no grace.
    // A marked down to 990: E_A = 2 × (−10) × 10 = −200; X_A = 19,800 → IM 990, MM ⌊693⌋ =
    // 693. B: IM 1,000, MM 700, E_B 0. T = 1,300 − 200 = 1,100.
    //   With the pair: IM = 1,990 − ⌊0.7 × 990⌋ = 1,990 − 693 = 1,297; MM = 1,393 −
    //   ⌊0.7 × 693⌋ = 1,393 − ⌊485.1⌋ = 908. H = 1,100 − 908 = 192 ≥ 0: not short, healthy.
    //   Without it: IM 1,990, MM 1,393, H = −293 < 0 and T < IM: short min(293, 890) = 293.
    for paired in [true, false] {
        let mut r = margin_router(true, OTHER_KEY);
        r.set_correlations(&[(KEY, OTHER_KEY, 7_000)]);
        r.set_liquidation(200, 100, 0, 0);
        assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
        assert_eq!(sell(&mut r, B, 2, 1_000), Ok((2, 2_000, 10, 1)));
        assert_eq!(r.locked(TAKER), 1_300);
        r.withdraw(TAKER, 1_000_000 - 20 - 1_300).unwrap();
        r.set_marks(A, vec![990]);
        if paired {
            assert_eq!(r.margin(TAKER), Ok((1_100, 1_297, 908, 1_300)));
            let before = r.snapshot();
            assert_eq!(r.liquidate(NOW, TAKER), Ok((3, 192, 0)));
            assert_eq!(r.snapshot(), before);
            continue;
        }
        r.set_correlations(&[]);
        assert_eq!(r.margin(TAKER), Ok((1_100, 1_990, 1_393, 1_300)));
        // The sweep: band 200 (H < 0); the lock (1,300) back to the vault. Shares per feed:
        // A's |mm_pos| 693, B's 700; d_A = min(293, 693) = 293. A needs ⌈293 × 10⁴ / (10 ×
        // 990 × 350)⌉ = ⌈0.85⌉ = 1 → 2 contracts (the lot), sold to A's bid at 995 (within
        // 990 − ⌊19.8⌋ = 971); covered ⌊2 × 10 × 990 × 350 / 10⁴⌋ = 693 ≥ 293: residual 0.
        // Realised 2 × (995 − 1,000) × 10 = −100: the debit. B's d = 0: skipped.
        // Re-lock: A's leg closed and pruned; B alone: IM 1,000, E 0 → 1,000 of the vault's
        // 1,300 − 100 = 1,200; H = 1,000 − 700 = 300.
        let report = r.liquidate_report(NOW, TAKER).unwrap();
        assert_eq!(report.legs.len(), 1);
        assert_eq!(report.legs[0].slab, A);
        assert_eq!(report.legs[0].deficit, 293);
        assert_eq!(report.legs[0].closed_qty, 2);
        assert_eq!(report.legs[0].debit, 100);
        assert_eq!((report.status, report.health, report.residual), (2, 300, 0));
        assert_eq!(report.relocked, 1_000);
        assert_eq!(r.vault(TAKER), 200);
        assert_eq!(r.portfolio(TAKER), [(0, 0), (B, 0), (0, 0), (0, 0)]);
    }
}

#[test]
#[should_panic(expected = "at most 4 correlation pairs")]
fn a_fifth_correlation_pair_is_a_test_bug() {
    let mut r = margin_router(true, OTHER_KEY);
    r.set_correlations(&[(KEY, OTHER_KEY, 1); 5]);
}

// ---- exposure cap (E-max) ----

#[test]
fn set_max_exposure_and_slab_exposure_name_any_entry_active_or_not() {
    let mut r = asks_router();
    // Listing starts an entry at no cap and no open interest.
    for s in [A, B, C] {
        assert_eq!(r.slab_exposure(s), Ok((0, 0)));
    }
    assert_eq!(r.set_max_exposure(B, 6), Ok(1));
    assert_eq!(r.slab_exposure(B), Ok((6, 0)));
    // No entry names 99 (or 0): UNLISTED, nothing changes.
    let before = r.snapshot();
    assert_eq!(
        r.set_max_exposure(99, 6),
        Err(RouteError::Abort(code::UNLISTED))
    );
    assert_eq!(
        r.set_max_exposure(0, 6),
        Err(RouteError::Abort(code::UNLISTED))
    );
    assert_eq!(r.slab_exposure(99), Err(RouteError::Abort(code::UNLISTED)));
    assert_eq!(r.snapshot(), before);
    // A delisted entry still takes a cap and is read; re-listing keeps it.
    assert_eq!(r.delist_slab(C), Ok(2));
    assert_eq!(r.set_max_exposure(C, 40), Ok(2));
    assert_eq!(r.slab_exposure(C), Ok((40, 0)));
    assert_eq!(r.list_slab(C), Ok(2));
    assert_eq!(r.slab_exposure(C), Ok((40, 0)));
    // 0 lifts the cap.
    assert_eq!(r.set_max_exposure(B, 0), Ok(1));
    assert_eq!(r.slab_exposure(B), Ok((0, 0)));
    assert_eq!(r.registry(), vec![(A, true), (B, true), (C, true)]);
}

#[test]
fn a_cap_with_room_for_part_of_a_buy_sends_the_rest_to_the_next_priced_slab() {
    // Asks: A 1,010 (10), B 1,000 (10), C 1,005 (10). B capped at 6 contracts.
    let mut r = asks_router();
    assert_eq!(r.set_max_exposure(B, 6), Ok(1));
    let report = r
        .route_report(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C])
        .unwrap();
    // Price order B, C, A. B: room = max(0, 6 − 0) + 0 = 6 < min(16, 10) = 10, so B is capped
    // and takes 6 (need 10); C (no cap) takes min(10, 10) = 10 (need 0); A only had its probe
    // cancelled.
    let legs: Vec<(u64, u64)> = report
        .legs
        .iter()
        .map(|l| (l.slab, l.committed.filled_qty))
        .collect();
    assert_eq!(legs, vec![(B, 6), (C, 10)]);
    // notional 6 × 1,000 + 10 × 1,005 = 16,050. Debits are the fees: B ⌊60,000 × 5 / 10⁴⌋
    // = 30 (max_charge 60,030), C ⌊100,500 × 5 / 10⁴⌋ = 50 (max_charge 100,550).
    assert_eq!(report.notional, 16_050);
    assert_eq!(report.legs[0].max_charge, 60_030);
    assert_eq!(report.legs[1].max_charge, 100_550);
    assert_eq!(report.total_debit, 80);
    // The legs' qty and both slabs' open interest.
    assert_eq!(r.portfolio(TAKER), [(B, 0), (C, 0), (0, 0), (0, 0)]);
    assert_eq!(r.leg_qtys(TAKER), [6, 10, 0, 0]);
    assert_eq!(r.slab_exposure(B), Ok((6, 6)));
    assert_eq!(r.slab_exposure(C), Ok((0, 10)));
    assert_eq!(r.slab_exposure(A), Ok((0, 0)));
    // Margin: B equity 0, IM 3,000 (X = 60,000); C equity 10 × (1,000 − 1,005) × 10 = −500,
    // IM 5,000 → the lock is 8,500.
    assert_eq!(r.locked(TAKER), 8_500);
    assert_eq!(r.vault(TAKER), 1_000_000 - 80 - 8_500);
    // The slabs: B's ask keeps 4 (probe hold 1, re-reserve hold 2); C's is gone; A's is back.
    let b = r.slab(B).state();
    let o = &b.instruments[0].asks[0].orders[0];
    assert_eq!((o.qty, o.reserved_qty), (4, 0));
    assert_eq!(b.next_hold_id, 3);
    assert_eq!(b.accounts[&TAKER].positions[&0].qty, 6);
    assert!(r.slab(C).state().instruments[0].asks.is_empty());
    assert_eq!(r.slab(A).state().instruments[0].asks[0].orders[0].qty, 10);

    // B is at its cap (open_qty 6 = max_exposure 6): a buy of 4 on [B, A]. B probes 4 at
    // 1,000 (hold 3) but its room is 0 < min(4, 4): capped, a take of 0 reserves nothing;
    // A fills the 4 at 1,010: N = 40,400, fee ⌊20.2⌋ = 20.
    assert_eq!(
        r.route(NOW, TAKER, 2, 0, 0, 4, 1_010, [B, A, 0]),
        Ok((4, 4_040, 20, 1))
    );
    assert_eq!(r.portfolio(TAKER), [(B, 0), (C, 0), (A, 0), (0, 0)]);
    assert_eq!(r.leg_qtys(TAKER), [6, 10, 4, 0]);
    assert_eq!(r.slab_exposure(A), Ok((0, 4)));
    assert_eq!(r.slab_exposure(B), Ok((6, 6)));
    let b = r.slab(B).state();
    assert_eq!(b.next_hold_id, 4); // only the probe took an id
    let o = &b.instruments[0].asks[0].orders[0];
    assert_eq!((o.qty, o.reserved_qty), (4, 0));
    // A: equity 4 × (1,000 − 1,010) × 10 = −400, IM 2,000: IM 10,000, E −900.
    assert_eq!(r.locked(TAKER), 10_900);
    assert_eq!(r.routes(), 2);
    assert!(r.all_caps_burned());
}

#[test]
fn caps_leaving_too_little_room_refuse_exposure_cap_and_change_nothing() {
    // Asks: A 1,010 (10), B 1,000 (10), C 1,005 (10): 30 within 1,010. Each slab capped at 4.
    let mut r = asks_router();
    for (i, s) in [A, B, C].into_iter().enumerate() {
        assert_eq!(r.set_max_exposure(s, 4), Ok(i as u64));
    }
    let before = r.snapshot();
    // Buying 16: B takes min(16, 10, 4) = 4 (capped), C 4 (capped), A 4 (capped): need 4 left
    // and a leg was capped → EXPOSURE_CAP; every hold is undone.
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::EXPOSURE_CAP))
    );
    assert_eq!(r.snapshot(), before);
    assert_eq!(r.routes(), 0);
    assert_eq!(r.caps_count(), 0);
    // 12 fit exactly: 4 on each, in price order B, C, A.
    let mut exact = r.clone();
    assert_eq!(
        exact.route(NOW, TAKER, 1, 0, 0, 12, 1_010, [A, B, C]),
        Ok((12, 4 * 1_000 + 4 * 1_005 + 4 * 1_010, 20 + 20 + 20, 3))
    );
    assert_eq!(exact.leg_qtys(TAKER), [4, 4, 4, 0]);
    assert_eq!(exact.portfolio(TAKER), [(B, 0), (C, 0), (A, 0), (0, 0)]);
    for s in [A, B, C] {
        assert_eq!(exact.slab_exposure(s), Ok((4, 4)));
    }
    // The step-4 rule is "a leg was capped": a quantity the books could not fill even without
    // caps (40 > 30) is EXPOSURE_CAP while a cap binds a leg (room 4 < min(40, 10))...
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 40, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::EXPOSURE_CAP))
    );
    // ...and UNFILLED when no cap binds (room 20 ≥ min(need, 10) at every leg).
    let mut loose = r.clone();
    for s in [A, B, C] {
        loose.set_max_exposure(s, 20).unwrap();
    }
    assert_eq!(
        loose.route(NOW, TAKER, 1, 0, 0, 40, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::UNFILLED))
    );
    assert_eq!(r.snapshot(), before);

    // The same route of 16 without caps fills (so the refusal was not UNFILLED): B 10, C 6.
    for s in [A, B, C] {
        r.set_max_exposure(s, 0).unwrap();
    }
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C]),
        Ok((16, 16_030, 80, 2))
    );
    assert_eq!(r.leg_qtys(TAKER), [10, 6, 0, 0]);
    assert_eq!(r.slab_exposure(B), Ok((0, 10)));
    assert_eq!(r.slab_exposure(C), Ok((0, 6)));
}

#[test]
fn a_room_off_the_lot_fills_nothing_on_that_slab() {
    // The README takes min(need, filled, room) as it is: B's room 5 (lot 2) is a take the slab
    // refuses (LOT), so B fills nothing; C fills 10 and A the remaining 6. B was capped, but
    // need reached 0: the route commits.
    let mut r = asks_router();
    r.set_max_exposure(B, 5).unwrap();
    let report = r
        .route_report(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C])
        .unwrap();
    let legs: Vec<(u64, u64)> = report
        .legs
        .iter()
        .map(|l| (l.slab, l.committed.filled_qty))
        .collect();
    assert_eq!(legs, vec![(C, 10), (A, 6)]);
    assert_eq!(report.notional, 10 * 1_005 + 6 * 1_010);
    assert_eq!(r.slab_exposure(B), Ok((5, 0)));
    assert_eq!(r.leg_qtys(TAKER), [10, 6, 0, 0]);
    // B: only the probe took a hold id; its ask is whole again.
    let b = r.slab(B).state();
    assert_eq!(b.next_hold_id, 2);
    assert_eq!(b.instruments[0].asks[0].orders[0].qty, 10);
    // Capped and short of qty: EXPOSURE_CAP.
    let mut r = asks_router();
    r.set_max_exposure(B, 5).unwrap();
    r.set_max_exposure(C, 1).unwrap();
    assert_eq!(
        r.route(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C]),
        Err(RouteError::Abort(code::EXPOSURE_CAP))
    );
}

#[test]
fn a_cap_below_the_open_interest_refuses_growth_but_lets_positions_close() {
    // A: asks 1,000 (20), bids 995 (20).
    let mut r = margin_router(false, KEY);
    r.deposit(TAKER2, 1_000_000);
    assert_eq!(buy(&mut r, A, 10), Ok((10, 10_000, 50, 1)));
    assert_eq!(r.leg_qtys(TAKER), [10, 0, 0, 0]);
    assert_eq!(r.slab_exposure(A), Ok((0, 10)));
    // Governance lowers A's cap to 8, below its open interest 10: the position stays.
    assert_eq!(r.set_max_exposure(A, 8), Ok(0));
    assert_eq!(r.slab_exposure(A), Ok((8, 10)));
    assert_eq!(r.leg_qtys(TAKER), [10, 0, 0, 0]);
    let before = r.snapshot();
    // Growth is refused: the taker's buy has room max(0, 8 − 10) + 0 = 0 (a long is on the
    // buy's side), and so has another user's.
    assert_eq!(
        buy(&mut r, A, 2),
        Err(RouteError::Abort(code::EXPOSURE_CAP))
    );
    assert_eq!(
        r.route(NOW, TAKER2, 1, 0, 0, 2, 1_000, [A, 0, 0]),
        Err(RouteError::Abort(code::EXPOSURE_CAP))
    );
    assert_eq!(r.snapshot(), before);
    // A closing sell of 4 at 995: room 0 + closable 10 ≥ 4. Realised 4 × (995 − 1,000) × 10
    // = −200, fee ⌊39,800 × 5 / 10⁴⌋ = 19: debit 219. qty 10 → 6, open_qty 10 → 6.
    assert_eq!(sell(&mut r, A, 4, 995), Ok((4, 3_980, 219, 1)));
    assert_eq!(r.leg_qtys(TAKER), [6, 0, 0, 0]);
    assert_eq!(r.slab_exposure(A), Ok((8, 6)));
    // A flip of 10 (close 6, open 4 short) needs 10 but the room is max(0, 8 − 6) + 6 = 8:
    // refused, although open_qty would end at 4 (the room counts the closable once).
    let before = r.snapshot();
    assert_eq!(
        sell(&mut r, A, 10, 995),
        Err(RouteError::Abort(code::EXPOSURE_CAP))
    );
    assert_eq!(r.snapshot(), before);
    // A flip of 8 fits the room exactly: close 6 (realised −300), open 2 short at 995; fee
    // ⌊79,600 × 5 / 10⁴⌋ = 39: debit 339. qty 6 → −2, open_qty 6 → 2.
    assert_eq!(sell(&mut r, A, 8, 995), Ok((8, 7_960, 339, 1)));
    assert_eq!(r.leg_qtys(TAKER), [-2, 0, 0, 0]);
    assert_eq!(r.slab_exposure(A), Ok((8, 2)));
    assert_eq!(r.slab(A).state().accounts[&TAKER].positions[&0].qty, -2);
    // Closing the short: a buy of 2 at 1,000, realised 2 × (995 − 1,000) × 10 = −100, fee 10.
    // qty −2 → 0 and the position is gone: the leg is pruned, open_qty 0.
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 110, 1)));
    assert_eq!(r.portfolio(TAKER), [(0, 0); 4]);
    assert_eq!(r.leg_qtys(TAKER), [0; 4]);
    assert_eq!(r.slab_exposure(A), Ok((8, 0)));
    // Below the cap again, growth up to it is allowed (room 8 ≥ 8).
    assert_eq!(
        r.route(NOW, TAKER2, 3, 0, 0, 8, 1_000, [A, 0, 0]),
        Ok((8, 8_000, 40, 1))
    );
    assert_eq!(r.slab_exposure(A), Ok((8, 8)));
    assert_eq!(r.leg_qtys(TAKER2), [8, 0, 0, 0]);
}

/// Buys `qty` of instrument 0 for the taker on slab A outside the router (the slab model
/// driven directly, committed router-margined at 1,000 against A's asks): the slab's position
/// grows but the router's ledger and portfolio do not see it. The fee ⌊qty × 10,000 × 5 /
/// 10⁴⌋ is the debit.
fn buy_on_a_outside_the_router(r: &mut RouterModel, qty: u64) {
    let marks = r.marks(A).to_vec();
    let m = r.slab_mut(A);
    let hold = m
        .reserve(NOW, 9, TAKER, 0, 0, qty, 1_000, CAP_TTL, [0; 4], &marks)
        .unwrap();
    assert_eq!(hold.filled_qty, qty);
    let cap = CapView {
        user: TAKER,
        slab: A,
        asset: 0,
        remaining: hold.max_charge,
        expiry_ms: NOW + 1_000,
        burned: false,
    };
    let c = m
        .commit(
            NOW,
            hold.hold_id,
            Some(cap),
            A,
            hold.max_charge,
            &marks,
            [0; 4],
            1,
        )
        .unwrap();
    assert_eq!(c.total_debit, qty as u128 * 5);
}

#[test]
fn a_liquidation_lowers_qty_and_open_qty_by_the_closed_quantity() {
    // Hard band 200 bps, no buffer, no grace. A: asks 1,000 (20), bids 995 (20).
    let mut r = margin_router(false, KEY);
    r.set_liquidation(200, 100, 0, 0);
    // Long 10 at 1,000: fee 50, IM 5,000 locked; the rest of the vault withdrawn.
    assert_eq!(buy(&mut r, A, 10), Ok((10, 10_000, 50, 1)));
    assert_eq!(r.slab_exposure(A), Ok((0, 10)));
    r.withdraw(TAKER, 1_000_000 - 50 - 5_000).unwrap();
    // Mark 960: E = 10 × (960 − 1,000) × 10 = −4,000; X = 96,000 → IM 4,800, MM 3,360.
    r.set_marks(A, vec![960]);
    assert_eq!(r.margin(TAKER), Ok((1_000, 4_800, 3_360, 5_000)));
    // T = 1,000, H = −2,360: short min(0 + 2,360, 4,800 − 1,000) = 2,360, nothing to re-pledge,
    // no grace: the sweep. The lock (5,000) back to the vault; A's share |mm_pos| = 3,360 →
    // d = 2,360; the slab needs ⌈2,360 × 10⁴ / (10 × 960 × 350)⌉ = ⌈7.02⌉ = 8 contracts
    // (a lot multiple), closed against the bid at 995 (within 960 − ⌊19.2⌋ = 941); covered
    // ⌊8 × 10 × 960 × 350 / 10⁴⌋ = 2,688 ≥ 2,360: residual 0. Realised 8 × (995 − 1,000) × 10
    // = −400: the debit. The leg's qty moves min(8, 10) = 8 towards 0: 10 → 2; open_qty too.
    let report = r.liquidate_report(NOW, TAKER).unwrap();
    assert_eq!(report.legs.len(), 1);
    assert_eq!(report.legs[0].deficit, 2_360);
    assert_eq!(report.legs[0].closed_qty, 8);
    assert_eq!(report.legs[0].debit, 400);
    assert_eq!(r.leg_qtys(TAKER), [2, 0, 0, 0]);
    assert_eq!(r.portfolio(TAKER), [(A, 0), (0, 0), (0, 0), (0, 0)]);
    assert_eq!(r.slab_exposure(A), Ok((0, 2)));
    assert_eq!(r.slab(A).state().accounts[&TAKER].positions[&0].qty, 2);
    // Re-lock: the debit paid the cash back to 0, so E = 2 × (960 − 1,000) × 10 = −800;
    // X = 19,200 → IM 960, MM 672; required 960 + 800 = 1,760 of the vault's 5,000 − 400;
    // H = −800 + 1,760 − 672 = 288.
    assert_eq!((report.status, report.health, report.residual), (2, 288, 0));
    assert_eq!(report.relocked, 1_760);
    assert_eq!(r.vault(TAKER), 4_600 - 1_760);

    // The slab closes more than the router routed there: the taker bought 2 through the
    // router and 8 more directly on A (the router's qty stays 2, the slab's position is 10).
    let mut r = margin_router(false, KEY);
    r.set_liquidation(200, 100, 0, 0);
    assert_eq!(buy(&mut r, A, 2), Ok((2, 2_000, 10, 1)));
    buy_on_a_outside_the_router(&mut r, 8);
    assert_eq!(r.leg_qtys(TAKER), [2, 0, 0, 0]);
    assert_eq!(r.slab_exposure(A), Ok((0, 2)));
    // sync_margin locks IM 5,000 (X = 100,000, E 0); then the vault is emptied and the mark
    // falls to 960: the same numbers as above, 8 contracts closed.
    assert_eq!(r.sync_margin(TAKER), Ok(5_000));
    r.withdraw(TAKER, r.vault(TAKER)).unwrap();
    r.set_marks(A, vec![960]);
    let report = r.liquidate_report(NOW, TAKER).unwrap();
    assert_eq!(report.legs[0].closed_qty, 8);
    assert_eq!((report.status, report.health, report.residual), (2, 288, 0));
    // qty moves min(8, 2) = 2 towards 0, never past it: 0, open_qty 0. The position (2) is
    // still open, so the leg stays with qty 0.
    assert_eq!(r.leg_qtys(TAKER), [0, 0, 0, 0]);
    assert_eq!(r.portfolio(TAKER), [(A, 0), (0, 0), (0, 0), (0, 0)]);
    assert_eq!(r.slab_exposure(A), Ok((0, 0)));
    assert_eq!(r.slab(A).state().accounts[&TAKER].positions[&0].qty, 2);
    // Selling the 2 through the router: qty 0 → −2 and open_qty 2 at step 6, then the closed
    // position's leg is pruned at step 2: open_qty −= 2 → 0, the slot emptied.
    r.deposit(TAKER, 30_000);
    assert_eq!(sell(&mut r, A, 2, 995).map(|x| x.0), Ok(2));
    assert_eq!(r.portfolio(TAKER), [(0, 0); 4]);
    assert_eq!(r.leg_qtys(TAKER), [0; 4]);
    assert_eq!(r.slab_exposure(A), Ok((0, 0)));
}

/// A slab for the random run: two instruments on one feed, the maker's asks at 1,000 + 5k and
/// bids at 995 − 5k (k < 6) on both, 20 each.
fn random_slab() -> Model {
    let mut p = slab_params();
    p.instruments.push(instrument(KEY));
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    for i in 0..2 {
        for k in 0..6 {
            m.place_order(0, MAKER, i, 1, 1_000 + 5 * k, 20).unwrap();
            m.place_order(0, MAKER, i, 0, 995 - 5 * k, 20).unwrap();
        }
    }
    m
}

/// Checks the E-max bookkeeping of `r` over `users` (who trade only through the router):
/// every registry entry's `open_qty` is `Σ |qty|` over every portfolio leg on its slab, a free
/// slot's `qty` is 0, and each user's leg `qty` is its position on that slab (0 for none), a
/// position without a leg being 0.
fn check_open_qty(r: &RouterModel, users: &[u64], at: &str) {
    for (s, _) in r.registry() {
        let sum: u128 = r
            .portfolios()
            .iter()
            .flat_map(|(&u, _)| {
                let legs = r.portfolio(u);
                let qtys = r.leg_qtys(u);
                (0..4)
                    .filter(move |&k| legs[k].0 == s)
                    .map(move |k| qtys[k].unsigned_abs())
            })
            .sum();
        let (_, open) = r.slab_exposure(s).unwrap();
        assert_eq!(open as u128, sum, "{at}: open_qty of slab {s}");
    }
    for &u in users {
        let legs = r.portfolio(u);
        let qtys = r.leg_qtys(u);
        for k in 0..4 {
            if legs[k].0 == 0 {
                assert_eq!(qtys[k], 0, "{at}: user {u} free slot {k}");
            }
        }
        for s in [A, B, C] {
            let st = r.slab(s).state();
            for i in 0..2u64 {
                let pos = st
                    .accounts
                    .get(&u)
                    .and_then(|a| a.positions.get(&i))
                    .map_or(0, |p| p.qty as i128);
                let leg = (0..4).find(|&k| legs[k] == (s, i)).map(|k| qtys[k]);
                assert_eq!(
                    leg.unwrap_or(0),
                    pos,
                    "{at}: user {u} slab {s} instrument {i}"
                );
            }
        }
    }
}

#[test]
fn open_qty_is_the_sum_of_the_legs_qty_through_random_routes_and_liquidations() {
    let seed = replay_seed("CURVE_SEED", 0xE3A7);
    println!("seed {seed} (CURVE_SEED={seed} replays)");
    let users = [TAKER, 2, TAKER2, TAKER3];
    // (routes, EXPOSURE_CAP, committed legs that filled exactly their room, liquidation legs
    // that closed something, prunes)
    let mut seen = [0u64; 5];
    for run in 0..4u64 {
        let mut rng = Rng::new(seed.wrapping_add(run));
        let mut r = RouterModel::new(
            CAP_TTL,
            vec![
                (A, random_slab(), vec![1_000, 1_000]),
                (B, random_slab(), vec![1_000, 1_000]),
                (C, random_slab(), vec![1_000, 1_000]),
            ],
        );
        r.set_liquidation(200, 100, rng.below(3) as u128 * 500, rng.below(2) * 300);
        for s in [A, B, C] {
            r.list_slab(s).unwrap();
            r.set_max_exposure(s, rng.below(4) * 20).unwrap();
        }
        for &u in &users {
            r.deposit(u, 100_000 + rng.below(300_000) as u128);
        }
        let mut now = NOW;
        for step in 0..300 {
            now += rng.below(200);
            let at = format!("seed {} step {step}", seed.wrapping_add(run));
            let user = users[rng.below(users.len() as u64) as usize];
            let before = r.snapshot();
            let legs_before = r.portfolio(user).iter().filter(|l| l.0 != 0).count();
            let open_before: Vec<(u64, u64, u64)> = [A, B, C]
                .iter()
                .map(|&s| {
                    let (cap, open) = r.slab_exposure(s).unwrap();
                    (s, cap, open)
                })
                .collect();
            let what = rng.below(100);
            let failed = match what {
                0..=39 => {
                    let instrument = rng.below(2);
                    let side = rng.below(2);
                    let qty = 2 * (1 + rng.below(15));
                    let k = rng.below(12);
                    let limit = if side == 0 {
                        1_000 + 5 * k
                    } else {
                        995 - 5 * k
                    };
                    let mut legs = [A, B, C];
                    for j in (1..3).rev() {
                        legs.swap(j, rng.below(j as u64 + 1) as usize);
                    }
                    for l in legs.iter_mut() {
                        if rng.below(3) == 0 {
                            *l = 0;
                        }
                    }
                    // Each slab's room (README "Exposure cap") from the words before the route.
                    let pre_legs = r.portfolio(user);
                    let pre_qtys = r.leg_qtys(user);
                    let room = |s: u64| -> Option<u128> {
                        let (_, cap, open) = open_before[(s - A) as usize];
                        let q = (0..4)
                            .find(|&k| pre_legs[k] == (s, instrument))
                            .map_or(0, |k| pre_qtys[k]);
                        let closable = if (side == 1 && q > 0) || (side == 0 && q < 0) {
                            q.unsigned_abs()
                        } else {
                            0
                        };
                        (cap != 0).then(|| cap.saturating_sub(open) as u128 + closable)
                    };
                    let got = r.route_report(now, user, step, instrument, side, qty, limit, legs);
                    match &got {
                        Ok(rep) => {
                            seen[0] += 1;
                            // No slab filled more than its room; count legs the room bound.
                            for l in &rep.legs {
                                if let Some(room) = room(l.slab) {
                                    let filled = l.committed.filled_qty as u128;
                                    assert!(
                                        filled <= room,
                                        "{at}: slab {} filled {filled} > room {room}",
                                        l.slab
                                    );
                                    if filled == room {
                                        seen[2] += 1;
                                    }
                                }
                            }
                            // The README's guarantee: a capped slab ends at most at its cap
                            // or no higher than before the route.
                            for &(s, cap, open) in &open_before {
                                let (_, after) = r.slab_exposure(s).unwrap();
                                assert!(
                                    cap == 0 || after <= cap || after <= open,
                                    "{at}: slab {s} cap {cap} open {open} → {after}"
                                );
                            }
                        }
                        Err(RouteError::Abort(code::EXPOSURE_CAP)) => seen[1] += 1,
                        Err(_) => {}
                    }
                    got.is_err()
                }
                40..=47 => {
                    let s = [A, B, C][rng.below(3) as usize];
                    let i = rng.below(2);
                    let side = rng.below(2);
                    let k = rng.below(8);
                    let px = if side == 1 {
                        1_000 + 5 * k
                    } else {
                        995 - 5 * k
                    };
                    let _ =
                        r.slab_mut(s)
                            .place_order(now, MAKER, i, side, px, 2 * (1 + rng.below(20)));
                    false
                }
                48..=59 => {
                    let s = [A, B, C][rng.below(3) as usize];
                    let mut marks = r.marks(s).to_vec();
                    let i = rng.below(2) as usize;
                    marks[i] = if rng.below(40) == 0 {
                        0
                    } else {
                        850 + rng.below(301)
                    };
                    r.set_marks(s, marks);
                    false
                }
                60..=65 => r.sync_margin(user).is_err(),
                66..=79 => match r.liquidate_report(now, user) {
                    Ok(rep) => {
                        seen[3] += rep.legs.iter().filter(|l| l.closed_qty > 0).count() as u64;
                        false
                    }
                    Err(_) => true,
                },
                80..=85 => {
                    let s = [A, B, C][rng.below(3) as usize];
                    let cap = if rng.below(3) == 0 {
                        0
                    } else {
                        1 + rng.below(80)
                    };
                    r.set_max_exposure(s, cap).unwrap();
                    false
                }
                86..=96 => {
                    // A deposit that funds routes, a withdrawal that leaves little to re-pledge
                    // (liquidations need a short account), or one beyond the vault (refused).
                    let v = r.vault(user);
                    match rng.below(3) {
                        0 => {
                            r.deposit(user, 50_000 + rng.below(300_000) as u128);
                            false
                        }
                        1 => r
                            .withdraw(user, v.saturating_sub(rng.below(5_000) as u128))
                            .is_err(),
                        _ => r.withdraw(user, v + 1).is_err(),
                    }
                }
                _ => {
                    let s = [A, B, C][rng.below(3) as usize];
                    if rng.below(5) == 0 {
                        r.delist_slab(s).is_err()
                    } else {
                        r.list_slab(s).is_err()
                    }
                }
            };
            if failed {
                assert_eq!(
                    r.snapshot(),
                    before,
                    "{at}: a refused call changed something"
                );
            }
            if r.portfolio(user).iter().filter(|l| l.0 != 0).count() < legs_before {
                seen[4] += 1;
            }
            check_open_qty(&r, &users, &at);
        }
    }
    println!(
        "routes {}, EXPOSURE_CAP {}, legs filled to their room {}, liquidation legs closing {}, \
         prunes {}",
        seen[0], seen[1], seen[2], seen[3], seen[4]
    );
    assert!(seen.iter().all(|&n| n > 0), "coverage: {seen:?}");
}

// ---- the slab model's anti-toxicity and fee rules (slab README "Anti-toxicity and fees") ----

/// A second maker (REG unless a test says otherwise).
const MAKER2: u64 = 8;
/// Two more takers.
const TAKER2: u64 = 3;
const TAKER3: u64 = 4;

/// A cap on slab A for `user` that never expires.
fn open_cap(user: u64, remaining: u128) -> Option<CapView> {
    Some(CapView {
        user,
        slab: A,
        asset: 0,
        remaining,
        expiry_ms: u64::MAX,
        burned: false,
    })
}

/// Reserves `qty` of instrument 0 for `user` up to `limit` and commits it router-margined at
/// once, with the mark 1,000 throughout and an escrow and cap of exactly `max_charge`.
fn take(
    m: &mut Model,
    now: u64,
    route: u64,
    user: u64,
    side: u64,
    qty: u64,
    limit: u64,
) -> Result<Committed, Abort> {
    let r = m.reserve(
        now,
        route,
        user,
        0,
        side,
        qty,
        limit,
        CAP_TTL,
        [0; 4],
        &[1_000],
    )?;
    let cap = open_cap(user, r.max_charge);
    m.commit(now, r.hold_id, cap, A, r.max_charge, &[1_000], [0; 4], 1)
}

/// README conservation: `Σ cash − Σ basis + fees_collected + insurance = collected` (every
/// instrument of `slab_params` has contract size 10).
fn assert_conserved(m: &Model) {
    let s = m.state();
    let cash: i128 = s.accounts.values().map(|a| a.cash).sum();
    let basis: i128 = s
        .accounts
        .values()
        .flat_map(|a| a.positions.values())
        .map(|p| p.qty as i128 * p.entry_px as i128 * 10)
        .sum();
    assert_eq!(
        cash - basis + s.fees_collected as i128 + s.insurance as i128,
        s.collected as i128
    );
}

#[test]
fn the_new_abort_codes() {
    assert_eq!(Abort::Frozen.code(), 33);
    assert_eq!(Abort::KillBand.code(), 34);
    assert_eq!(Abort::BadReveal.code(), 35);
    assert_eq!(Abort::FeeCap.code(), 36);
    assert_eq!(Abort::AggressorFull.code(), 37);
}

#[test]
fn the_freeze_keeps_orders_of_both_classes_behind_the_top_k_levels_while_its_window_is_open() {
    let mut p = slab_params();
    p.freeze_levels = 2;
    p.orders_capacity = 6;
    let mut m = Model::new(p.clone());
    m.set_maker_class(MAKER, 1).unwrap();
    for (side, price) in [(1, 1_010), (1, 1_020), (1, 1_030), (0, 990)] {
        m.place_order(0, MAKER, 0, side, price, 2).unwrap();
    }
    // No window before the first batch_open; batch_open opens one of batch_ms.
    assert_eq!(m.state().instruments[0].freeze_until_ms, 0);
    assert_eq!(m.place_order(0, MAKER, 0, 1, 1_005, 2), Ok(5));
    assert_eq!(m.cancel_order(0, MAKER, 5), Ok(2));
    assert_eq!(m.batch_open(1_000, 0, &[]), Ok((1, 0, 0)));
    assert_eq!(m.state().instruments[0].freeze_until_ms, 2_000);
    let before = m.state();
    // Asks 1,010 / 1,020 / 1,030: k = min(2, 3) = 2, the 2nd best is 1,020; 1,015 is ahead.
    assert_eq!(
        m.place_order(1_500, MAKER, 0, 1, 1_015, 2),
        Err(Abort::Frozen)
    );
    // Bids 990 alone: k = min(2, 1) = 1.
    assert_eq!(
        m.place_order(1_999, MAKER, 0, 0, 995, 2),
        Err(Abort::Frozen)
    );
    // CROSSES comes first.
    assert_eq!(
        m.place_order(1_500, MAKER, 0, 0, 1_010, 2),
        Err(Abort::Crosses)
    );
    assert_eq!(m.state(), before);
    // Joining the k-th level, or a worse one, is allowed.
    assert_eq!(m.place_order(1_500, MAKER, 0, 1, 1_020, 2), Ok(6));
    assert_eq!(m.place_order(1_500, MAKER, 0, 0, 985, 2), Ok(7));
    assert_eq!(m.cancel_order(1_500, MAKER, 7), Ok(2));
    // A REG order is frozen as a DLP one is: ahead of the 2nd best ask (1,020), on either side.
    let before = m.state();
    assert_eq!(
        m.place_order(1_500, MAKER2, 0, 1, 1_015, 2),
        Err(Abort::Frozen)
    );
    assert_eq!(
        m.place_order(1_500, MAKER2, 0, 0, 995, 2),
        Err(Abort::Frozen)
    );
    assert_eq!(m.state(), before);
    // Behind the k-th level it rests, PENDING, on a new level that counts: bids 990 / 985
    // (pending) make k = min(2, 2) = 2 and the 2nd best 985, so now joining 990 is ahead.
    assert_eq!(m.place_order(1_500, MAKER2, 0, 0, 985, 2), Ok(8));
    assert!(!m.state().instruments[0].bids[1].orders[0].live);
    assert_eq!(
        m.place_order(1_500, MAKER, 0, 0, 990, 2),
        Err(Abort::Frozen)
    );
    assert_eq!(
        m.place_order(1_500, MAKER2, 0, 0, 990, 2),
        Err(Abort::Frozen)
    );
    // The pool (6) is full: 985 passes the freeze and meets it; FROZEN comes first.
    assert_eq!(
        m.place_order(1_500, MAKER, 0, 0, 985, 2),
        Err(Abort::OrdersFull)
    );
    assert_eq!(
        m.place_order(1_500, MAKER, 0, 1, 1_000, 2),
        Err(Abort::Frozen)
    );
    // The window is open while now < 2,000.
    assert_eq!(
        m.place_order(1_999, MAKER2, 0, 0, 990, 2),
        Err(Abort::Frozen)
    );
    assert_eq!(
        m.place_order(2_000, MAKER2, 0, 0, 990, 2),
        Err(Abort::OrdersFull)
    );
    assert_eq!(
        m.place_order(2_000, MAKER, 0, 1, 1_000, 2),
        Err(Abort::OrdersFull)
    );

    // freeze_levels = 0: nothing is frozen.
    p.freeze_levels = 0;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    m.place_order(0, MAKER, 0, 1, 1_010, 2).unwrap();
    m.place_order(0, MAKER, 0, 1, 1_020, 2).unwrap();
    m.batch_open(1_000, 0, &[]).unwrap();
    assert_eq!(m.place_order(1_500, MAKER, 0, 1, 1_000, 2), Ok(3));
}

#[test]
fn the_kill_band_compares_the_commit_mark_with_the_reserve_mark() {
    let mut p = slab_params();
    p.kill_band_bps = 100;
    let mut m = Model::new(p.clone());
    m.set_maker_class(MAKER, 1).unwrap();
    m.place_order(0, MAKER, 0, 1, 1_000, 2).unwrap();
    // Asked 4 up to 1,005, only 2 rest: the hold keeps what was asked and the mark now.
    let r = m
        .reserve(NOW, 1, TAKER, 0, 0, 4, 1_005, CAP_TTL, [0; 4], &[1_000])
        .unwrap();
    assert_eq!((r.hold_id, r.filled_qty, r.max_charge), (1, 2, 20_010));
    let h = m.state().holds[&1].clone();
    assert_eq!(
        (h.qty, h.qty_asked, h.limit_px, h.mark_px),
        (2, 4, 1_005, 1_000)
    );
    // |m − 1,000| × 10⁴ ≤ 100 × 1,000: within for 990 ≤ m ≤ 1,010.
    assert_eq!(m.band(1, &[1_010]), Ok((1_000, 1_010, 1)));
    assert_eq!(m.band(1, &[990]), Ok((1_000, 990, 1)));
    assert_eq!(m.band(1, &[1_011]), Ok((1_000, 1_011, 0)));
    assert_eq!(m.band(1, &[989]), Ok((1_000, 989, 0)));
    assert_eq!(m.band(1, &[0]), Ok((1_000, 0, 0)));
    assert_eq!(m.band(1, &[]), Ok((1_000, 0, 0)));
    assert_eq!(m.band(0, &[1_000]), Err(Abort::UnknownHold));
    assert_eq!(m.band(2, &[1_000]), Err(Abort::UnknownHold));
    let before = m.state();
    for marks in [[1_011], [989]] {
        assert_eq!(
            m.commit(NOW, 1, cap(20_010), A, 20_010, &marks, [0; 4], 1),
            Err(Abort::KillBand)
        );
    }
    // NO_MARK (step 6) before the band (step 7).
    assert_eq!(
        m.commit(NOW, 1, cap(20_010), A, 20_010, &[0], [0; 4], 1),
        Err(Abort::NoMark)
    );
    assert_eq!(m.state(), before);
    let c = m
        .commit(NOW, 1, cap(20_010), A, 20_010, &[1_010], [0; 4], 1)
        .unwrap();
    assert_eq!((c.filled_qty, c.total_fee, c.total_debit), (2, 10, 10));
    assert_eq!(m.band(1, &[1_000]), Err(Abort::UnknownHold));

    // Reserved before the feed published (m₀ = 0): never within while the band is on.
    m.place_order(0, MAKER, 0, 1, 1_000, 2).unwrap();
    let r = m
        .reserve(NOW, 2, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[0])
        .unwrap();
    assert_eq!(m.state().holds[&r.hold_id].mark_px, 0);
    assert_eq!(m.band(r.hold_id, &[1_000]), Ok((0, 1_000, 0)));
    assert_eq!(
        m.commit(NOW, r.hold_id, cap(20_010), A, 20_010, &[1_000], [0; 4], 1),
        Err(Abort::KillBand)
    );

    // The band off: always within, even without a mark; commit does not look.
    p.kill_band_bps = 0;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    m.place_order(0, MAKER, 0, 1, 1_000, 2).unwrap();
    let r = m
        .reserve(NOW, 1, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[])
        .unwrap();
    assert_eq!(m.band(r.hold_id, &[0]), Ok((0, 0, 1)));
    assert_eq!(m.band(r.hold_id, &[5_000]), Ok((0, 5_000, 1)));
    let c = m
        .commit(NOW, 1, cap(20_010), A, 20_010, &[5_000], [0; 4], 1)
        .unwrap();
    assert_eq!(c.total_debit, 10);
}

#[test]
fn a_commitment_needs_its_reveal_and_commit_checks_in_the_readmes_order() {
    // A fixed vector: SHA-256 (Python's hashlib) of the README's 80 bytes for chain 7, route 5,
    // instrument 0, side 0, qty 4, limit 1,005, salt [1, 2, 3, 4].
    assert_eq!(
        reveal_commitment(7, 5, 0, 0, 4, 1_005, [1, 2, 3, 4]),
        [
            0x53de_0d56_fb41_f399,
            0x94ac_d103_dbe5_bf6a,
            0x3e38_cf08_ad43_6173,
            0x0cf8_d74c_03db_80f1
        ]
    );
    assert_eq!(
        reveal_commitment(7, 5, 0, 0, 4, 1_005, [1, 2, 3, 5]),
        [
            0x5053_4ef3_1ad6_478f,
            0x55e7_eb5e_9b35_a511,
            0x3e53_ae65_cf89_209e,
            0x1d99_c632_9be8_122b
        ]
    );
    let mut p = slab_params();
    p.chain_id = 7;
    p.kill_band_bps = 100;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    m.place_order(0, MAKER, 0, 1, 1_000, 2).unwrap();
    let salt = [1, 2, 3, 4];
    let commitment = reveal_commitment(7, 5, 0, 0, 4, 1_005, salt);
    // Asked 4, filled 2: the reveal hashes what was asked.
    let r = m
        .reserve(NOW, 5, TAKER, 0, 0, 4, 1_005, CAP_TTL, commitment, &[1_000])
        .unwrap();
    assert_eq!((r.hold_id, r.filled_qty), (1, 2));
    assert_eq!(m.state().holds[&1].commitment, commitment);
    assert_eq!(m.state().fee_caps, None);
    assert_eq!(m.set_fee_caps(1, 5), Ok(())); // maker_bps 2 is above its cap
    assert_eq!(m.state().fee_caps, Some((1, 5)));
    let commit = |m: &mut Model, now: u64, marks: &[u64], salt: [u64; 4]| {
        m.commit(now, 1, cap(20_010), A, 20_010, marks, salt, 1)
    };
    let before = m.state();
    // EXPIRED comes before the reveal (EPOCH too: see
    // `slab_model_batch_open_releases_dead_holds_oldest_first`, whose fourth dead hold of the
    // instrument outlives the batch). The next batch releases this dead hold (F1): a commit then finds none.
    assert_eq!(
        commit(&mut m, NOW + CAP_TTL + 1, &[0], [9; 4]),
        Err(Abort::Expired)
    );
    let mut later = m.clone();
    assert_eq!(later.batch_open(1_000, 0, &[]), Ok((1, 0, 1)));
    assert_eq!(
        commit(&mut later, 1_000, &[0], [9; 4]),
        Err(Abort::UnknownHold)
    );
    // The reveal, then the fee caps, then the mark, then the band.
    assert_eq!(
        commit(&mut m, NOW, &[0], [1, 2, 3, 5]),
        Err(Abort::BadReveal)
    );
    assert_eq!(commit(&mut m, NOW, &[0], [0; 4]), Err(Abort::BadReveal));
    assert_eq!(commit(&mut m, NOW, &[0], salt), Err(Abort::FeeCap));
    m.set_fee_caps(2, 4).unwrap(); // taker_bps 5 is above its cap
    assert_eq!(commit(&mut m, NOW, &[0], salt), Err(Abort::FeeCap));
    m.set_fee_caps(2, 5).unwrap(); // equal to the caps passes
    assert_eq!(commit(&mut m, NOW, &[0], salt), Err(Abort::NoMark));
    assert_eq!(commit(&mut m, NOW, &[1_011], salt), Err(Abort::KillBand));
    let mut expected = before.clone();
    expected.fee_caps = Some((2, 5));
    assert_eq!(m.state(), expected);
    let c = commit(&mut m, NOW, &[1_000], salt).unwrap();
    assert_eq!((c.filled_qty, c.total_fee, c.total_debit), (2, 10, 10));

    // Any field differing from the reserve's does not match: the filled qty instead of the
    // asked one, another route, another chain.
    m.place_order(0, MAKER, 0, 1, 1_000, 2).unwrap();
    for bad in [
        reveal_commitment(7, 6, 0, 0, 2, 1_005, salt),
        reveal_commitment(7, 5, 0, 0, 4, 1_005, salt),
        reveal_commitment(8, 6, 0, 0, 4, 1_005, salt),
        reveal_commitment(7, 6, 0, 1, 4, 1_005, salt),
        reveal_commitment(7, 6, 0, 0, 4, 1_000, salt),
    ] {
        let r = m
            .reserve(NOW, 6, TAKER, 0, 0, 4, 1_005, CAP_TTL, bad, &[1_000])
            .unwrap();
        assert_eq!(
            m.commit(NOW, r.hold_id, cap(20_010), A, 20_010, &[1_000], salt, 1),
            Err(Abort::BadReveal)
        );
        assert_eq!(m.cancel(NOW, r.hold_id), Ok(2));
    }
    let good = reveal_commitment(7, 6, 0, 0, 4, 1_005, salt);
    let r = m
        .reserve(NOW, 6, TAKER, 0, 0, 4, 1_005, CAP_TTL, good, &[1_000])
        .unwrap();
    assert!(
        m.commit(NOW, r.hold_id, cap(20_010), A, 20_010, &[1_000], salt, 1)
            .is_ok()
    );
}

#[test]
fn a_maker_earns_its_rebate_unless_jit_or_too_young() {
    // Asks at 1,000: order 1 (DLP, placed at 500) and order 2 (REG, placed at 500, promoted at
    // the open at 1,000); order 3 at 1,005 (DLP, placed at 1,200, after the open). At 1,250
    // the taker buys all 6: maker 2 bps, rebate 5 bps (net −3 bps), taker 5 bps.
    // Returns the commit, both makers' cash and fees_collected.
    let run = |jit: bool, delay: u64| -> (Committed, i128, i128, u128) {
        let mut p = slab_params();
        p.rebate_bps = 5;
        p.rebate_delay_ms = delay;
        p.jit_penalty = jit;
        let mut m = Model::new(p);
        m.set_maker_class(MAKER, 1).unwrap();
        assert_eq!(m.place_order(500, MAKER, 0, 1, 1_000, 2), Ok(1));
        assert_eq!(m.place_order(500, MAKER2, 0, 1, 1_000, 2), Ok(2));
        assert_eq!(m.batch_open(1_000, 0, &[]), Ok((1, 1, 0)));
        assert_eq!(m.place_order(1_200, MAKER, 0, 1, 1_005, 2), Ok(3));
        let r = m
            .reserve(1_250, 1, TAKER, 0, 0, 6, 1_005, CAP_TTL, [0; 4], &[1_000])
            .unwrap();
        // N = 6 × 10 × 1,005 = 60,300, plus ⌊30.15⌋.
        assert_eq!(r.max_charge, 60_330);
        let c = m
            .commit(
                1_250,
                r.hold_id,
                open_cap(TAKER, 60_330),
                A,
                60_330,
                &[1_000],
                [0; 4],
                1,
            )
            .unwrap();
        assert_conserved(&m);
        let s = m.state();
        assert!(s.aggressor.is_empty()); // the guard is off
        (
            c,
            s.accounts[&MAKER].cash,
            s.accounts[&MAKER2].cash,
            s.fees_collected,
        )
    };
    // Taker fee ⌊60,100 × 5 / 10⁴⌋ = 30 (the debit of a router-margined commit), avg
    // ⌊6,010 / 6⌋ = 1,001. A rebate on 20,000 is ⌊20,000 × 3 / 10⁴⌋ = 6, a fee ⌊4⌋ = 4; on
    // 20,100 a rebate ⌊6.03⌋ = 6, a fee ⌊4.02⌋ = 4.
    let (c, maker, maker2, fees) = run(true, 100);
    assert_eq!(
        (c.filled_qty, c.avg_px, c.total_fee, c.total_debit),
        (6, 1_001, 30, 30)
    );
    // Orders 1 and 2 rested 750 ≥ 100: rebates; order 3 is JIT: the fee.
    assert_eq!((maker, maker2, fees), (6 - 4, 6, 30 + 4 - 12));
    // Rested 750 < 800: no rebate for anyone.
    let (_, maker, maker2, fees) = run(true, 800);
    assert_eq!((maker, maker2, fees), (-8, -4, 30 + 12));
    // No JIT penalty: order 3 rested 50 ≥ 50 and earns its rebate too.
    let (_, maker, maker2, fees) = run(false, 50);
    assert_eq!((maker, maker2, fees), (12, 6, 30 - 18));
    // … but not with a delay of 51.
    let (c, maker, maker2, fees) = run(false, 51);
    assert_eq!((maker, maker2, fees), (2, 6, 22));
    assert_eq!(c.total_fee, 30);
}

#[test]
fn the_arg_taxes_only_a_newly_created_profitable_overlap() {
    let mut p = slab_params();
    p.arg_tax_bps = 100;
    p.aggressor_capacity = 2;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    assert_eq!(m.batch_open(1_000, 0, &[]), Ok((1, 0, 0)));
    m.place_order(1_000, MAKER, 0, 1, 1_000, 4).unwrap();
    // Buy 4 at 1,000: no overlap; the taker fee ⌊40,000 × 5 / 10⁴⌋ = 20 only.
    let c = take(&mut m, 1_000, 1, TAKER, 0, 4, 1_000).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (20, 20));
    let entry = |epoch, buy_qty, buy_notional, sell_qty, sell_notional| AggressorState {
        epoch,
        buy_qty,
        buy_notional,
        sell_qty,
        sell_notional,
    };
    assert_eq!(m.state().aggressor[&(TAKER, 0)], entry(1, 4, 4_000, 0, 0));
    // The asks are gone: the maker bids above them.
    m.place_order(1_000, MAKER, 0, 0, 1_020, 6).unwrap();
    // Sell 2 at 1,020: new overlap 2, buy_avg 1,000 < sell_avg 1,020: tax 2 × 10 × 20 +
    // ⌊2 × 10 × 1,020 × 100 / 10⁴⌋ = 400 + 204 = 604, fee ⌊20,400 × 5 / 10⁴⌋ = 10. Realised
    // 2 × 20 × 10 = 400: cash 400 − 10 − 604 = −214, the debit.
    let c = take(&mut m, 1_000, 2, TAKER, 1, 2, 1_020).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (614, 214));
    assert_eq!(
        m.state().aggressor[&(TAKER, 0)],
        entry(1, 4, 4_000, 2, 2_040)
    );
    // (Every commit here fills at one price, so its avg_px is its side's batch average too:
    // the README's step-4 pricing — this commit's avg_px against the other side's average
    // before it — gives the same numbers as whole-batch averages would; recomputed by hand.)
    // Sell 2 more: the overlap grows 2 → 4 at sell_px 1,020 against buy_px 1,000, the same
    // again.
    let c = take(&mut m, 1_000, 3, TAKER, 1, 2, 1_020).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (614, 214));
    // Sell 2 more (opening a short): the overlap stays 4, no tax.
    let c = take(&mut m, 1_000, 4, TAKER, 1, 2, 1_020).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (10, 10));
    assert_eq!(
        m.state().aggressor[&(TAKER, 0)],
        entry(1, 4, 4_000, 6, 6_120)
    );
    // Maker fees 8 + 3 × ⌊4.08⌋ = 20, taker fees 20 + 3 × 10 = 50, taxes 1,208.
    assert_eq!(m.state().fees_collected, 20 + 50 + 1_208);
    assert_conserved(&m);

    // A losing round trip is not taxed: buy 2 at 1,030, sell 2 at 1,010.
    m.place_order(1_000, MAKER, 0, 1, 1_030, 2).unwrap();
    let c = take(&mut m, 1_000, 5, TAKER2, 0, 2, 1_030).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (10, 10)); // ⌊10.3⌋
    // The 1,020 bid was filled whole and the asks are gone again: the maker bids 1,010.
    assert_eq!(m.place_order(1_000, MAKER, 0, 0, 1_010, 2), Ok(4));
    // Realised 2 × (1,010 − 1,030) × 10 = −400, fee ⌊10.1⌋ = 10.
    let c = take(&mut m, 1_000, 6, TAKER2, 1, 2, 1_010).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (10, 410));
    assert_eq!(
        m.state().aggressor[&(TAKER2, 0)],
        entry(1, 2, 2_060, 2, 2_020)
    );
    assert_conserved(&m);

    // The pool (2) is full: a third taker's first commit is AGGRESSOR_FULL, changing nothing.
    m.place_order(1_000, MAKER, 0, 1, 1_040, 4).unwrap();
    let r = m
        .reserve(1_000, 7, TAKER3, 0, 0, 2, 1_040, CAP_TTL, [0; 4], &[1_000])
        .unwrap();
    let before = m.state();
    assert_eq!(
        m.commit(
            1_000,
            r.hold_id,
            open_cap(TAKER3, r.max_charge),
            A,
            r.max_charge,
            &[1_000],
            [0; 4],
            1
        ),
        Err(Abort::AggressorFull)
    );
    assert_eq!(m.state(), before);
    m.cancel(1_000, r.hold_id).unwrap();
    // A new batch: entries are never removed, so the pool stays full for a new taker.
    assert_eq!(m.batch_open(2_000, 0, &[]), Ok((2, 0, 0)));
    assert_eq!(m.state().aggressor.len(), 2);
    assert_eq!(
        take(&mut m, 2_000, 8, TAKER3, 0, 2, 1_040).map(|_| ()),
        Err(Abort::AggressorFull)
    );
    // The first taker's entry (epoch 1: bought 4, sold 6) is reset in place to epoch 2 and
    // zeros before its buy is added: no overlap in the new batch (without the reset, buying 2
    // would raise min(6, 6) over 4 and be taxed).
    let c = take(&mut m, 2_000, 9, TAKER, 0, 2, 1_040).unwrap();
    assert_eq!(c.total_fee, 10); // ⌊20,800 × 5 / 10⁴⌋
    let ledger: Vec<_> = m.state().aggressor.into_iter().collect();
    assert_eq!(
        ledger,
        vec![
            ((TAKER, 0), entry(2, 2, 2_080, 0, 0)),
            ((TAKER2, 0), entry(1, 2, 2_060, 2, 2_020)),
        ]
    );
    assert_conserved(&m);
}

#[test]
fn the_arg_prices_a_new_overlap_at_the_commits_avg_px_against_the_other_sides_batch_average() {
    // README "Anti-toxicity", ARG step 4: `sell_px`/`buy_px` are this commit's `avg_px =
    // ⌊Σ t × p / filled⌋` on its own side and the other side's `⌊notional / qty⌋` from the
    // entry before this commit; the commit's earlier same-side fills in the batch do not
    // enter the price. All numbers below are worked from the README by hand (contract_size
    // 10, taker_bps 5, arg_tax_bps 100, router-margined: the debit is max(0, −cash)).
    let mut p = slab_params();
    p.arg_tax_bps = 100;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    assert_eq!(m.batch_open(1_000, 0, &[]), Ok((1, 0, 0)));
    let entry = |buy_qty, buy_notional, sell_qty, sell_notional| AggressorState {
        epoch: 1,
        buy_qty,
        buy_notional,
        sell_qty,
        sell_notional,
    };
    // Buy 4 at 1,000: no overlap; fee ⌊40,000 × 5 / 10⁴⌋ = 20, debit 20.
    m.place_order(1_000, MAKER, 0, 1, 1_000, 4).unwrap();
    let c = take(&mut m, 1_000, 1, TAKER, 0, 4, 1_000).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (20, 20));
    // Sell 2 at 980: new overlap min(4, 2) − 0 = 2 at sell_px 980 (this commit) < buy_px
    // ⌊4,000 / 4⌋ = 1,000: a losing round trip, no tax. Fee ⌊19,600 × 5 / 10⁴⌋ = 9;
    // realised 2 × (980 − 1,000) × 10 = −400: cash −409, the debit.
    m.place_order(1_000, MAKER, 0, 0, 980, 2).unwrap();
    let c = take(&mut m, 1_000, 2, TAKER, 1, 2, 980).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (9, 409));
    assert_eq!(m.state().aggressor[&(TAKER, 0)], entry(4, 4_000, 2, 1_960));
    // Sell 2 at 1,020: new overlap min(4, 4) − 2 = 2 at sell_px 1,020 (this commit's avg_px,
    // not the sell side's batch average ⌊4,000 / 4⌋ = 1,000, which would tax nothing) >
    // buy_px 1,000: tax 2 × 10 × 20 + ⌊2 × 10 × 1,020 × 100 / 10⁴⌋ = 400 + 204 = 604; fee
    // ⌊20,400 × 5 / 10⁴⌋ = 10. Realised 2 × 20 × 10 = 400: cash 400 − 10 − 604 = −214.
    m.place_order(1_000, MAKER, 0, 0, 1_020, 2).unwrap();
    let c = take(&mut m, 1_000, 3, TAKER, 1, 2, 1_020).unwrap();
    assert_eq!((c.avg_px, c.total_fee, c.total_debit), (1_020, 614, 214));
    assert_eq!(m.state().aggressor[&(TAKER, 0)], entry(4, 4_000, 4, 4_000));
    assert_conserved(&m);

    // The commit's avg_px floors: TAKER2 sells 6 at 1,010 (no overlap; fee ⌊30.3⌋ = 30),
    // then buys 2 at 1,000 and 4 at 1,005 in one commit: avg_px ⌊6,020 / 6⌋ = 1,003 <
    // sell_px ⌊6,060 / 6⌋ = 1,010, new overlap 6: tax 6 × 10 × 7 + ⌊6 × 10 × 1,010 × 100 /
    // 10⁴⌋ = 420 + 606 = 1,026; fee ⌊60,200 × 5 / 10⁴⌋ = 30. Realised 2 × (1,010 − 1,000) ×
    // 10 + 4 × (1,010 − 1,005) × 10 = 400: cash 400 − 30 − 1,026 = −656.
    m.place_order(1_000, MAKER, 0, 0, 1_010, 6).unwrap();
    let c = take(&mut m, 1_000, 4, TAKER2, 1, 6, 1_010).unwrap();
    assert_eq!((c.total_fee, c.total_debit), (30, 30));
    m.place_order(1_000, MAKER, 0, 1, 1_000, 2).unwrap();
    m.place_order(1_000, MAKER, 0, 1, 1_005, 4).unwrap();
    let c = take(&mut m, 1_000, 5, TAKER2, 0, 6, 1_005).unwrap();
    assert_eq!((c.avg_px, c.total_fee, c.total_debit), (1_003, 1_056, 656));
    assert_eq!(m.state().aggressor[&(TAKER2, 0)], entry(6, 6_020, 6, 6_060));
    assert_conserved(&m);
}

#[test]
fn aggressor_entries_are_reset_never_removed_and_each_keeps_its_slot() {
    let mut p = slab_params();
    p.instruments = vec![instrument(KEY), instrument(KEY)];
    p.arg_tax_bps = 100;
    p.aggressor_capacity = 2;
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    let marks = [1_000, 1_000];
    // Reserve and commit at once on `instrument` (router-margined, an exact cap).
    let take_in = |m: &mut Model, now, route, user, instrument, side, limit| {
        let r = m.reserve(
            now, route, user, instrument, side, 2, limit, CAP_TTL, [0; 4], &marks,
        )?;
        let cap = open_cap(user, r.max_charge);
        m.commit(now, r.hold_id, cap, A, r.max_charge, &marks, [0; 4], 1)
    };
    let entry = |epoch, buy_qty, buy_notional| AggressorState {
        epoch,
        buy_qty,
        buy_notional,
        ..AggressorState::default()
    };
    assert_eq!(m.batch_open(1_000, 0, &[]), Ok((1, 0, 0)));
    assert_eq!(m.batch_open(1_000, 1, &[]), Ok((1, 0, 0)));
    for instrument in [0, 1] {
        m.place_order(1_000, MAKER, instrument, 1, 1_000, 20)
            .unwrap();
    }
    // TAKER buys in instrument 0 (epoch 1).
    take_in(&mut m, 1_000, 1, TAKER, 0, 0, 1_000).unwrap();
    // Instrument 0's batch moves on: TAKER's entry there is stale. Its first commit in
    // instrument 1 creates a second entry and keeps the stale one (no removal).
    assert_eq!(m.batch_open(2_000, 0, &[]), Ok((2, 0, 0)));
    take_in(&mut m, 2_000, 2, TAKER, 1, 0, 1_000).unwrap();
    let ledger: Vec<_> = m.state().aggressor.into_iter().collect();
    assert_eq!(
        ledger,
        vec![
            ((TAKER, 0), entry(1, 2, 2_000)),
            ((TAKER, 1), entry(1, 2, 2_000)),
        ]
    );
    // The pool (2) counts every entry ever created: TAKER2 finds no slot, though one entry is
    // stale, and the failed commit changes nothing.
    let r = m
        .reserve(2_000, 3, TAKER2, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &marks)
        .unwrap();
    let before = m.state();
    assert_eq!(
        m.commit(
            2_000,
            r.hold_id,
            open_cap(TAKER2, r.max_charge),
            A,
            r.max_charge,
            &marks,
            [0; 4],
            1
        ),
        Err(Abort::AggressorFull)
    );
    assert_eq!(m.state(), before);
    m.cancel(2_000, r.hold_id).unwrap();
    // TAKER's commit in instrument 0 needs no new slot: its stale entry is reset to epoch 2.
    take_in(&mut m, 2_000, 4, TAKER, 0, 0, 1_000).unwrap();
    let ledger: Vec<_> = m.state().aggressor.into_iter().collect();
    assert_eq!(
        ledger,
        vec![
            ((TAKER, 0), entry(2, 2, 2_000)),
            ((TAKER, 1), entry(1, 2, 2_000)),
        ]
    );
    assert_conserved(&m);
}

#[test]
fn slab_model_batch_open_releases_dead_holds_oldest_first() {
    // README `batch_open` (F1): after the epoch moves, the instrument's live holds — all of an
    // earlier epoch — are released oldest first (ascending hold id), at most 3 per call, each
    // as `cancel` releases a hold; holds of other instruments are not touched (nor counted).
    let mut p = slab_params();
    p.instruments = vec![instrument(KEY), instrument(KEY)];
    let mut m = Model::new(p);
    m.set_maker_class(MAKER, 1).unwrap();
    let marks = [1_000, 1_000];
    // Instrument 0: asks 1,000 (8) and 1,005 (2); instrument 1: ask 1,000 (2); a REG bid
    // (PENDING) on instrument 0.
    assert_eq!(m.place_order(0, MAKER, 0, 1, 1_000, 8), Ok(1));
    assert_eq!(m.place_order(0, MAKER, 0, 1, 1_005, 2), Ok(2));
    assert_eq!(m.place_order(0, MAKER, 1, 1, 1_000, 2), Ok(3));
    assert_eq!(m.place_order(0, MAKER2, 0, 0, 990, 2), Ok(4));
    let reserve = |m: &mut Model, route: u64, instrument: u64, limit: u64, commitment| {
        m.reserve(
            NOW, route, TAKER, instrument, 0, 2, limit, CAP_TTL, commitment, &marks,
        )
        .map(|r| (r.hold_id, r.filled_qty))
    };
    // Holds 1 and 2 take 2 each of order 1; hold 3 is on instrument 1 (order 3), between
    // instrument 0's holds; hold 4 takes 2 more of order 1 (6 of its 8).
    assert_eq!(reserve(&mut m, 1, 0, 1_000, [0; 4]), Ok((1, 2)));
    assert_eq!(reserve(&mut m, 2, 0, 1_000, [0; 4]), Ok((2, 2)));
    assert_eq!(reserve(&mut m, 3, 1, 1_000, [0; 4]), Ok((3, 2)));
    assert_eq!(reserve(&mut m, 4, 0, 1_000, [0; 4]), Ok((4, 2)));
    // Hold 5 takes order 1's last 2 (with a commitment); hold 6 skips order 1 (nothing
    // available) and takes order 2 whole.
    assert_eq!(reserve(&mut m, 5, 0, 1_000, [1, 2, 3, 4]), Ok((5, 2)));
    assert_eq!(reserve(&mut m, 6, 0, 1_005, [0; 4]), Ok((6, 2)));
    // Order 2 is all reserved: cancelling it cancels nothing and only marks it closing.
    assert_eq!(m.cancel_order(NOW, MAKER, 2), Ok(0));
    let s = m.state();
    let asks = &s.instruments[0].asks;
    assert_eq!(
        (asks[0].orders[0].qty, asks[0].orders[0].reserved_qty),
        (8, 8)
    );
    let o2 = &asks[1].orders[0];
    assert_eq!(
        (o2.order_id, o2.qty, o2.reserved_qty, o2.closing),
        (2, 2, 2, true)
    );
    assert_eq!(s.holds.len(), 6);
    // Four placements; the cancel that cancelled nothing does not count.
    assert_eq!(s.book_seqno, 4);
    // Quoted: 8 × 10 × 1,000 + 2 × 10 × 1,005 + 2 × 10 × 1,000.
    assert_eq!(
        (s.accounts[&MAKER].quoted, s.accounts[&MAKER].orders),
        (120_100, 3)
    );

    // The first batch of instrument 0: epoch 1, the REG bid promoted, holds 1, 2 and 4 (the 3
    // oldest of instrument 0's 5; hold 3 is instrument 1's, neither released nor counted)
    // released: order 1 gets its 6 back (not closing: its qty stays). Holds 5 and 6 wait.
    assert_eq!(m.batch_open(1_000, 0, &[]), Ok((1, 1, 3)));
    let s = m.state();
    assert_eq!(s.holds.keys().copied().collect::<Vec<_>>(), vec![3, 5, 6]);
    let asks = &s.instruments[0].asks;
    assert_eq!(asks.len(), 2);
    assert_eq!(
        (asks[0].orders[0].qty, asks[0].orders[0].reserved_qty),
        (8, 2)
    );
    let o2 = &asks[1].orders[0];
    assert_eq!((o2.qty, o2.reserved_qty, o2.closing), (2, 2, true));
    assert_eq!(s.instruments[1].asks[0].orders[0].reserved_qty, 2);
    assert!(s.instruments[0].bids[0].orders[0].live);
    assert_eq!((s.instruments[0].epoch, s.instruments[1].epoch), (1, 0));
    // Only the promotion moved the book: no released slice was of a closing order.
    assert_eq!(s.book_seqno, 5);
    assert_eq!(s.accounts[&MAKER].quoted, 120_100);
    // A dead hold the batch did not reach cannot commit: EPOCH (step 3) comes before the
    // reveal (step 4) — the salt is wrong — and changes nothing.
    assert_eq!(
        m.commit(1_000, 5, cap(20_010), A, 20_010, &marks, [9; 4], 1),
        Err(Abort::Epoch)
    );
    assert_eq!(m.state(), s);
    // Within the batch window: BATCH_EARLY, nothing released.
    assert_eq!(m.batch_open(1_999, 0, &[]), Err(Abort::BatchEarly));
    assert_eq!(m.state(), s);

    // The next batch releases the other two: order 1's last 2 back; order 2 is closing, so it
    // loses its 2, reaches 0 and leaves the book (its level too); the maker's quoted drops by
    // 2 × 10 × 1,005 and its orders count by one; the book moved (one closing slice).
    assert_eq!(m.batch_open(2_000, 0, &[]), Ok((2, 0, 2)));
    let s = m.state();
    assert_eq!(s.holds.keys().copied().collect::<Vec<_>>(), vec![3]);
    let asks = &s.instruments[0].asks;
    assert_eq!(asks.len(), 1);
    assert_eq!(asks[0].orders.len(), 1);
    let o1 = &asks[0].orders[0];
    assert_eq!((o1.order_id, o1.qty, o1.reserved_qty), (1, 8, 0));
    assert_eq!(
        (s.accounts[&MAKER].quoted, s.accounts[&MAKER].orders),
        (100_000, 2)
    );
    assert_eq!(s.book_seqno, 6);
    assert_eq!(m.cancel_order(2_000, MAKER, 2), Err(Abort::UnknownOrder));
    // Order 1's whole quantity is free again.
    let r = m
        .reserve(2_000, 7, TAKER2, 0, 0, 8, 1_000, CAP_TTL, [0; 4], &marks)
        .unwrap();
    assert_eq!((r.hold_id, r.filled_qty), (7, 8));

    // Instrument 1's first batch releases its own hold 3 and leaves hold 7 (instrument 0).
    assert_eq!(m.batch_open(2_000, 1, &[]), Ok((1, 0, 1)));
    let s = m.state();
    assert_eq!(s.holds.keys().copied().collect::<Vec<_>>(), vec![7]);
    assert_eq!(s.instruments[1].asks[0].orders[0].reserved_qty, 0);
    assert_eq!(s.instruments[0].asks[0].orders[0].reserved_qty, 8);
    // With no live hold, a batch releases nothing.
    assert_eq!(m.cancel(2_000, 7), Ok(8));
    assert_eq!(m.batch_open(3_000, 0, &[]), Ok((3, 0, 0)));
}

#[test]
fn slab_model_reserve_refuses_a_stale_feed() {
    // README `reserve` step 5 (F3): once the instrument's feed has published, `now ≤
    // fresh_until_ms` — else `STALE_MARK` (code 40); a feed that never published
    // (`fresh_until_ms = 0`) is not checked. Steps 1–4 come first; a refusal changes nothing
    // (no account is created, nothing is held).
    assert_eq!(Abort::StaleMark.code(), 40);
    let mut m = slab(&[(1, 1_000, 20)]);
    let reserve = |m: &mut Model, now: u64, user: u64, limit: u64| {
        m.reserve(now, 1, user, 0, 0, 2, limit, CAP_TTL, [0; 4], &[1_000])
            .map(|r| r.hold_id)
    };
    // Never published (never set, then set to 0): not checked, however late.
    assert_eq!(reserve(&mut m, NOW, TAKER, 1_000), Ok(1));
    m.set_fresh_until(0, 0);
    assert_eq!(reserve(&mut m, u64::MAX / 2, TAKER, 1_000), Ok(2));
    // Fresh until NOW: fresh at exactly NOW.
    m.set_fresh_until(0, NOW);
    assert_eq!(reserve(&mut m, NOW, TAKER, 1_000), Ok(3));

    // One ms later: stale. Nothing changed — the hold id is not used, the new user gets no
    // account, the book holds what it held.
    let s = m.state();
    const NEWCOMER: u64 = 99;
    assert_eq!(
        reserve(&mut m, NOW + 1, NEWCOMER, 1_000),
        Err(Abort::StaleMark)
    );
    assert_eq!(m.state(), s);
    assert!(!s.accounts.contains_key(&NEWCOMER));
    // Steps 1–4 win over it: TICK (step 4), LOT (step 3), BAD_TTL (step 2),
    // UNKNOWN_INSTRUMENT (step 1).
    assert_eq!(reserve(&mut m, NOW + 1, TAKER, 1_001), Err(Abort::Tick));
    assert_eq!(
        m.reserve(NOW + 1, 1, TAKER, 0, 0, 3, 1_000, CAP_TTL, [0; 4], &[1_000]),
        Err(Abort::Lot)
    );
    assert_eq!(
        m.reserve(NOW + 1, 1, TAKER, 0, 0, 2, 1_000, 0, [0; 4], &[1_000]),
        Err(Abort::BadTtl)
    );
    assert_eq!(
        m.reserve(NOW + 1, 1, TAKER, 1, 0, 2, 1_000, CAP_TTL, [0; 4], &[1_000]),
        Err(Abort::UnknownInstrument)
    );
    // It wins over steps 6–9: BAD_USER (user 0) and NO_LIQUIDITY (a limit below the asks).
    assert_eq!(reserve(&mut m, NOW + 1, 0, 1_000), Err(Abort::StaleMark));
    assert_eq!(reserve(&mut m, NOW + 1, TAKER, 995), Err(Abort::StaleMark));
    assert_eq!(m.state(), s);
    // The mark does not matter to it: stale with or without one.
    assert_eq!(
        m.reserve(NOW + 1, 1, TAKER, 0, 0, 2, 1_000, CAP_TTL, [0; 4], &[]),
        Err(Abort::StaleMark)
    );
    // Only reserve checks it: cancelling a hold still works on a stale feed.
    assert_eq!(m.cancel(NOW + 1, 3), Ok(2));
    // The feed publishes again: fresh, and the next hold id is 4 (the refusals took none).
    m.set_fresh_until(0, NOW + 1_000);
    assert_eq!(reserve(&mut m, NOW + 1, TAKER, 1_000), Ok(4));
    assert_eq!(reserve(&mut m, NOW + 1_000, TAKER, 1_000), Ok(5));
    assert_eq!(
        reserve(&mut m, NOW + 1_001, TAKER, 1_000),
        Err(Abort::StaleMark)
    );
}
