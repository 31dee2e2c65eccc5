//! Self-checks of the router's reference model (`tests/router_reference/`) against examples
//! worked out from the router's README alone.

mod router_reference;
mod slab_reference;

use router_reference::{RouteError, RouterModel, code};
use slab_reference::reference::{InstrumentParams, Model, Params};

const A: u64 = 11;
const B: u64 = 12;
const C: u64 = 13;
const MAKER: u64 = 7;
const TAKER: u64 = 1;
const NOW: u64 = 100;
const CAP_TTL: u64 = 30_000;

fn slab_params() -> Params {
    Params {
        instruments: vec![InstrumentParams {
            tick: 5,
            lot: 2,
            price_max: 2_000,
            qty_max: 400,
            contract_size: 10,
        }],
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
    }
}

/// A slab whose maker (a DLP: its orders are LIVE at once) rests `orders` as `(side, price,
/// qty)` on instrument 0.
fn slab(orders: &[(u64, u64, u64)]) -> Model {
    let mut m = Model::new(slab_params());
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
    // B: N = 100,000, fee 50, equity −50, IM 5,000 → debit 5,050; max_charge 100,050.
    // C: N = 60,300, fee 30, uPnL 6 × (1,000 − 1,005) × 10 = −300, IM 3,000 → debit 3,330.
    assert_eq!(report.legs[0].max_charge, 100_050);
    assert_eq!(report.legs[0].committed.total_debit, 5_050);
    assert_eq!(report.legs[1].max_charge, 60_330);
    assert_eq!(report.legs[1].committed.total_debit, 3_330);
    assert_eq!(report.total_debit, 8_380);
    assert_eq!(r.vault(TAKER), 1_000_000 - 8_380);
    for s in [A, B, C] {
        assert_eq!(r.escrow(TAKER, s), 0);
    }
    assert_eq!(r.collected(A), 0);
    assert_eq!(r.collected(B), 5_050);
    assert_eq!(r.collected(C), 3_330);
    assert_eq!(r.caps_count(), 2);
    assert!(r.all_caps_burned());
    assert_eq!(r.caps()[0].remaining, 100_050 - 5_050);
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
    assert_eq!(b.collected, 5_050);
    assert_eq!(b.accounts[&TAKER].positions[&0].qty, 10);
    let c = r.slab(C).state();
    let o = &c.instruments[0].asks[0].orders[0];
    assert_eq!((o.qty, o.reserved_qty), (4, 0));
    assert_eq!(c.collected, 3_330);
    assert_eq!(c.accounts[&TAKER].positions[&0].qty, 6);

    // The plain form agrees.
    let mut r2 = asks_router();
    assert_eq!(
        r2.route(NOW, TAKER, 1, 0, 0, 16, 1_010, [A, B, C]),
        Ok((16, 16_030, 8_380, 2))
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
    assert_eq!(r.vault(TAKER), 1_000_000 - report.total_debit);
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
        Ok((20, 10 * 1_000 + 10 * 1_005, 5_050 + (5_000 + 500 + 50), 2))
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
        Ok((2, 2_000, 1_000 + 10, 1))
    );
    assert_eq!(r.routes(), 1);
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
