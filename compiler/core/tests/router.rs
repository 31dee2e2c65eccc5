//! The ROUTER program over three real SLAB programs, on both engines (callees on the caller's
//! engine): the registry (P10–P11), the atomic multi-slab route by price (E2E1, E2E2) funded
//! through escrows and caps (P4–P7), and every refusal leaving every slab word and every
//! ledger entry as it was. Expectations come from the books the tests build and README.md's
//! rules, not from running the router.

use std::sync::Arc;

use curve_compiler::templates::router::{self, code};
use curve_compiler::templates::{oracle, slab};
use curvescript_syntax::ast::BlockKind;
use curvevm::isa::Segment;
use curvevm::{Engine, ExecOptions, Instance, Interpreter, Outcome, Program, TrapKind};
use curvevm_host::{Callee, Caller, Clock, InvokeHost, Ledger, ProgramSet, Role, RollupHost};
use curvevm_jit::JitCache;

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
    POOLS accounts=6 orders=32 positions=8 reservations=6 slices=8 trades=8 aggressor=4
}
"#;

const ROUTER_ID: u64 = 1;
const SLABS: [u64; 3] = [11, 12, 13];
const MAKER: u64 = 1;
const TAKER: u64 = 2;
const MARK: u64 = 1_000;
const NOW: u64 = 1_000;
const GAS: u64 = 50_000_000;
const FUNDS: u128 = 10_000_000;

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

fn router_params() -> Vec<u64> {
    let constants = router::constants();
    router::PARAMS
        .iter()
        .map(|name| match constants.iter().find(|(c, _)| c == name) {
            Some(&(_, value)) => value,
            None => 60_000, // CAP_TTL ms
        })
        .collect()
}

fn host(id: u64, role: Role, ledger: Ledger) -> RollupHost {
    RollupHost::new(
        ledger,
        Clock {
            now_ms: NOW,
            height: 10,
            chain_id: 7,
        },
        Caller { id, role },
    )
}

/// The router, three slabs with their books and oracle marks, and the ledger.
struct World {
    router: Instance,
    slabs: ProgramSet,
    ledger: Ledger,
}

/// An ask or bid a maker rests on slab `slab`: (slab index, side of the maker: 1 ask, 0 bid,
/// price, qty).
type Resting = (usize, u64, u64, u64);

impl World {
    fn new(books: &[Resting]) -> World {
        let (program, params) = slab_program();
        let mut slabs = ProgramSet::default();
        for (i, &id) in SLABS.iter().enumerate() {
            let mut instance = Instance::new(Arc::clone(&program), &params).expect("fits");
            let mut oracle_words = vec![0; oracle::state::WORDS as usize];
            oracle_words[oracle::state::MARK as usize] = MARK;
            let mut views = vec![oracle_words];
            let mut maker_host = host(id, Role::Slab, Ledger::default());
            let mut call = |entry: &str, args: &[u64]| {
                let index = instance.entry_index(entry).expect("a slab entry");
                let outcome = Interpreter(ExecOptions::default())
                    .call(&mut instance, index, args, GAS, &mut views, &mut maker_host)
                    .expect("starts");
                outcome
                    .result
                    .unwrap_or_else(|trap| panic!("slab {id} {entry}{args:?}: {trap:?}"))
            };
            call("set_maker_class", &[MAKER, 1]);
            for &(slab, side, price, qty) in books {
                if slab == i {
                    call("place_order", &[MAKER, 0, side, price, qty]);
                }
            }
            slabs.programs.insert(
                id,
                Callee {
                    instance,
                    caller: Caller {
                        id,
                        role: Role::Slab,
                    },
                    interface_hash: curve_compiler::abi::SLAB.hash(),
                    views,
                },
            );
        }
        let lowered = curve_ir::lower(&router::program()).expect("lowers");
        let program = Arc::new(RollupHost::load(lowered.module, Role::Router).expect("loads"));
        let mut ledger = Ledger::default();
        ledger.set_vault(TAKER, 0, FUNDS);
        let mut world = World {
            router: Instance::new(program, &router_params()).expect("fits"),
            slabs,
            ledger,
        };
        for slab in SLABS {
            world.ok(&Interpreter(ExecOptions::default()), "list_slab", &[slab]);
        }
        world
    }

    fn call(&mut self, engine: &dyn Engine, entry: &str, args: &[u64]) -> Outcome {
        let mut host = host(ROUTER_ID, Role::Router, std::mem::take(&mut self.ledger));
        let index = self.router.entry_index(entry).expect("a router entry");
        let outcome = {
            let mut invoke = InvokeHost::new(&mut host, &mut self.slabs, engine);
            engine
                .call(&mut self.router, index, args, GAS, &mut [], &mut invoke)
                .expect("starts")
        };
        self.ledger = host.ledger;
        outcome
    }

    fn ok(&mut self, engine: &dyn Engine, entry: &str, args: &[u64]) -> Vec<u64> {
        self.call(engine, entry, args)
            .result
            .unwrap_or_else(|trap| panic!("{entry}{args:?}: {trap:?}"))
    }

    /// Every word of the router and the slabs, and the ledger.
    fn snapshot(&self) -> (Vec<Vec<u64>>, Ledger) {
        let mut words = vec![self.router.words(Segment::Slab).to_vec()];
        for callee in self.slabs.programs.values() {
            words.push(callee.instance.words(Segment::Slab).to_vec());
        }
        (words, self.ledger.clone())
    }

    /// `entry` is refused with `kind` and changes nothing anywhere.
    fn refused(&mut self, engine: &dyn Engine, entry: &str, args: &[u64], kind: TrapKind) {
        let before = self.snapshot();
        let outcome = self.call(engine, entry, args);
        assert_eq!(
            outcome.result.map_err(|t| t.kind),
            Err(kind),
            "{entry}{args:?}"
        );
        assert!(self.snapshot() == before, "{entry}{args:?} changed state");
    }

    /// The slab's `account(user)` (cash, IM, MM) read directly.
    fn position_value(&mut self, slab: u64, user: u64) -> Vec<u64> {
        let callee = self.slabs.programs.get_mut(&slab).expect("slab");
        let index = callee.instance.entry_index("account").expect("account");
        let mut h = host(slab, Role::Slab, Ledger::default());
        Interpreter(ExecOptions::default())
            .call(
                &mut callee.instance,
                index,
                &[user],
                GAS,
                &mut callee.views,
                &mut h,
            )
            .expect("starts")
            .result
            .expect("reads")
    }
}

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
    for engine in engines() {
        let engine = engine.as_ref();
        let mut w = World::new(&ASKS);
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
