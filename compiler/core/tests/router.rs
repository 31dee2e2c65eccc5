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
use curvescript_syntax::ast::BlockKind;
use curvevm::{Engine, ExecOptions, Interpreter, TrapKind};
use curvevm_jit::JitCache;
use router_world::*;

fn engines() -> [Box<dyn Engine>; 2] {
    [
        Box::new(Interpreter(ExecOptions::default())),
        Box::new(JitCache::default()),
    ]
}

fn abort(code: u8) -> TrapKind {
    TrapKind::Abort { code }
}

fn wide(words: &[u64], at: usize) -> u128 {
    u128::from(words[at]) | u128::from(words[at + 1]) << 64
}

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
        assert_eq!(w.ledger.account_balance(SLABS[0], 0), 0);
        assert!(w.ledger.account_balance(SLABS[1], 0) > 0);
        assert!(w.ledger.account_balance(SLABS[2], 0) > 0);
        // P5–P7: the vault paid exactly the debit, no escrow keeps anything, every cap burned.
        assert_eq!(w.ledger.vault_balance(TAKER, 0), FUNDS - debit);
        for slab in SLABS {
            assert_eq!(w.ledger.escrow_balance(TAKER, slab, 0), 0);
        }
        assert!(w.ledger.caps.values().all(|cap| cap.burned));
        assert_eq!(w.ledger.caps.len(), 2, "one cap per committed leg");
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
    committed: usize,
    two_or_more_legs: usize,
    refusals: std::collections::BTreeMap<u8, usize>,
    host_refusals: usize,
    orders: usize,
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
const TAKERS: [u64; 3] = [TAKER, 4, 5];

/// The router and three slabs against the reference model (`router_reference/`, written from
/// README.md and composing the slab's model): makers rest and cancel orders, takers route
/// random quantities, sides, limits and leg lists, governance delists and relists, marks move
/// (a missing mark fails a leg's commit), one taker is short of collateral. After every step the
/// route's result or refusal, every slab account (cash, IM, MM) of every user, every vault,
/// escrow and slab collection, and the caps agree.
fn differential(engine: &dyn Engine, rng: &mut Rng, steps: usize) -> Result<Coverage, String> {
    use router_reference::{RouteError, RouterModel};
    let mut coverage = Coverage::default();
    let mut w = World::new(&[]);
    let (_, params) = slab_program();
    let layout = {
        let checked = curvescript_check::check_source(SCRIPT, None);
        let block = checked
            .script
            .blocks
            .iter()
            .find(|b| b.kind == BlockKind::Slab)
            .expect("a SLAB block");
        slab::build(block).expect("fits").layout
    };
    let model_params = slab_support::model_params(&layout, &params);
    let mut model = RouterModel::new(
        60_000,
        SLABS
            .iter()
            .map(|&id| {
                let mut slab = slab_reference::reference::Model::new(model_params.clone());
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
        let funds = if *taker == 5 { 2_000 } else { FUNDS };
        w.ledger.set_vault(*taker, 0, funds);
        model.deposit(*taker, funds);
    }
    let mut delisted: Vec<u64> = Vec::new();
    for step in 0..steps {
        w.now += rng.below(20);
        let what;
        match rng.below(20) {
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
                    _ => 950 + 5 * rng.below(20),
                };
                w.slabs.programs.get_mut(&slab).expect("slab").views[0]
                    [oracle::state::MARK as usize] = mark;
                model.set_marks(slab, vec![mark]);
                what = "mark";
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
                let user = if rng.below(8) == 0 {
                    5
                } else {
                    TAKERS[rng.below(2) as usize]
                };
                let side = rng.below(2);
                let qty = 2 * (1 + rng.below(20));
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
                let outcome = w.call(engine, "route", &args);
                let want = model.route(w.now, user, step as u64, 0, side, qty, limit, legs);
                coverage.routes += 1;
                let agree = match (&outcome.result, &want) {
                    (Ok(r), Ok((filled, notional, debit, legs))) => {
                        coverage.committed += 1;
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
            for user in TAKERS {
                if w.ledger.escrow_balance(user, slab, 0) != 0 || model.escrow(user, slab) != 0 {
                    return Err(format!("step {step}: an escrow kept collateral"));
                }
            }
        }
        for user in TAKERS {
            if w.ledger.vault_balance(user, 0) != model.vault(user) {
                return Err(format!(
                    "step {step} after {what}: vault of {user}: {} vs {}",
                    w.ledger.vault_balance(user, 0),
                    model.vault(user)
                ));
            }
        }
        if w.ledger.caps.len() != model.caps_count() || !w.ledger.caps.values().all(|c| c.burned) {
            return Err(format!(
                "step {step}: caps {} vs {}",
                w.ledger.caps.len(),
                model.caps_count()
            ));
        }
    }
    Ok(coverage)
}

#[test]
fn the_router_matches_the_reference_on_both_engines() {
    let mut rng = Rng::new("router_differential");
    let interpreted = differential(&Interpreter(ExecOptions::default()), &mut rng, 1_200)
        .unwrap_or_else(|e| panic!("interpreter: {e}"));
    println!("interpreter: {interpreted:?}");
    let compiled =
        differential(&JitCache::default(), &mut rng, 400).unwrap_or_else(|e| panic!("jit: {e}"));
    println!("jit: {compiled:?}");
    assert!(interpreted.committed >= 100, "{interpreted:?}");
    assert!(interpreted.two_or_more_legs >= 10, "{interpreted:?}");
    assert!(interpreted.host_refusals >= 3, "{interpreted:?}");
    for code in [
        code::UNFILLED,
        code::LEG_FAILED,
        code::UNLISTED,
        code::DUPLICATE_LEG,
    ] {
        assert!(
            interpreted.refusals.contains_key(&code),
            "never {code}: {interpreted:?}"
        );
    }
    assert!(compiled.committed >= 30, "{compiled:?}");
}
