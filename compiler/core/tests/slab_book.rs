//! The SLAB program — `place_order`, `cancel_order`, `batch_open`, `set_maker_class`,
//! `reserve`, `cancel`, `account` — against the independent reference model
//! (`slab_reference/`, written from the slab's README and percolator.md alone), on the
//! interpreter and the JIT in lockstep. After every step the outcome (return words or abort
//! code), the whole decoded state and the gas against the static bound are compared, and an
//! aborted call must leave the segment byte for byte as it was; the decoder also checks the
//! book's links (S5: next/prev agree, heads and tails, counts, no cycles) and that every order's
//! `reserved_qty` is what the live slices on it hold (S8). Each planted bug of
//! `slab::Mutation` must make the run fail. `CURVE_SEED=<n>` replays a run; a mismatch prints
//! the step and the calls before it.

mod slab_reference;

use std::collections::BTreeMap;
use std::sync::Arc;

use curve_compiler::templates::oracle;
use curve_compiler::templates::slab::{
    self, HEADER, INSTRUMENT, LEVEL, Mutation, SlabLayout, code, params,
};
use curve_ir::keyed::TOMBSTONE;
use curvescript_syntax::ast::BlockKind;
use curvevm::isa::Segment;
use curvevm::{Instance, Outcome, Program, TrapKind};
use curvevm_host::{Caller, Clock, Ledger, Role, RollupHost};
use curvevm_testkit::engines::Engine;
use curvevm_testkit::programs::{Rng, replay_seed};
use slab_reference::reference::{Abort, InstrumentParams, Model, Params};
use slab_reference::state::{
    AccountState, HoldState, InstrumentState, Level, OrderState, SlabState, SliceState,
};

const SCRIPT: &str = r#"
ORACLE "pyth:SOLUSD" {
    HEARTBEAT ms=500
}

ORACLE "pyth:ETHUSD" {
    HEARTBEAT ms=500
}

SLAB "perp:TEST" {
    MAKER_CLASS DLP allowance=8_000_000
    MAKER_CLASS REG allowance=2_500_000
    FEE maker_bps=2 taker_bps=5
    RISK imr_bps=500 mmr_bps=350
    BATCH_WINDOW ms=50
    INSTRUMENT "SOL-PERP" oracle="pyth:SOLUSD" tick=5 lot=2 price_max=2_000 qty_max=400 contract_size=10
    INSTRUMENT "ETH-PERP" oracle="pyth:ETHUSD" tick=1 lot=1 price_max=500 qty_max=1_000 contract_size=1
    POOLS accounts=6 orders=32 positions=8 reservations=4 slices=8 trades=8 aggressor=4
}
"#;

/// The compiled slab: its layout, program and parameter table.
struct Compiled {
    layout: SlabLayout,
    program: Arc<Program>,
    params: Vec<u64>,
    bounds: BTreeMap<String, u64>,
}

fn compiled(script: &str) -> Compiled {
    compiled_with(script, Mutation::None)
}

fn compiled_with(script: &str, mutation: Mutation) -> Compiled {
    let checked = curvescript_check::check_source(script, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let block = checked
        .script
        .blocks
        .iter()
        .find(|b| b.kind == BlockKind::Slab)
        .expect("a SLAB block");
    let mut built = slab::build(block).expect("fits");
    if mutation != Mutation::None {
        let program = slab::program_with_mutation(&built.layout, mutation);
        built.lowered = curve_ir::lower(&program).expect("lowers");
    }
    let program =
        Arc::new(RollupHost::load(built.lowered.module.clone(), Role::Slab).expect("loads"));
    Compiled {
        layout: built.layout,
        program,
        params: built.params,
        bounds: built.lowered.gas_bounds.into_iter().collect(),
    }
}

fn model_params(c: &Compiled) -> Params {
    let count = c.params[params::param("instrument_count") as usize] as usize;
    let instruments = (0..count)
        .map(|row| {
            let field = |name| {
                c.params[params::instrument_param(name) as usize
                    + row * params::INSTRUMENT_FIELDS.len()]
            };
            InstrumentParams {
                tick: field("tick"),
                lot: field("lot"),
                price_max: field("price_max"),
                qty_max: field("qty_max"),
                contract_size: field("contract_size"),
            }
        })
        .collect();
    let allowance = |class: &str| {
        let lo = c.params[params::param(&format!("{class}_allowance_lo")) as usize];
        let hi = c.params[params::param(&format!("{class}_allowance_hi")) as usize];
        let value = u128::from(lo) | u128::from(hi) << 64;
        (value != 0).then_some(value)
    };
    Params {
        instruments,
        dlp_allowance: allowance("dlp"),
        reg_allowance: allowance("reg"),
        batch_ms: c.params[params::param("batch_ms") as usize],
        accounts_capacity: c.layout.capacity("accounts"),
        orders_capacity: c.layout.capacity("orders"),
        reservations_capacity: c.layout.capacity("reservations"),
        slices_capacity: c.layout.capacity("slices"),
        taker_bps: c.params[params::param("taker_bps") as usize],
    }
}

fn run(engine: &Engine, instance: &mut Instance, entry: &str, args: &[u64], now: u64) -> Outcome {
    let mut host = RollupHost::new(
        Ledger::default(),
        Clock {
            now_ms: now,
            height: now / 100,
            chain_id: 7,
        },
        Caller {
            id: 3,
            role: Role::Slab,
        },
    );
    // No marks yet: the calls here never read them (no position exists without a commit).
    let mut views = vec![vec![0; oracle::state::WORDS as usize]; 2];
    engine.call_with_views(instance, entry, args, 10_000_000, &mut views, &mut host)
}

/// Reads the template's segment back into the behaviour's terms, checking every link on the way.
struct Decoder<'a> {
    words: &'a [u64],
    layout: &'a SlabLayout,
}

impl Decoder<'_> {
    fn field(&self, region: &str, record: &slab::Record, slot: u64, field: &str) -> u64 {
        let base = self.layout.region(region).expect("a region").offset as u64;
        let at = base + slot * u64::from(record.words()) + u64::from(record.field(field));
        self.words[at as usize]
    }

    fn wide(&self, region: &str, record: &slab::Record, slot: u64, field: &str) -> u128 {
        let lo = self.field(region, record, slot, field);
        let base = self.layout.region(region).expect("a region").offset as u64;
        let at = base + slot * u64::from(record.words()) + u64::from(record.field(field)) + 1;
        u128::from(lo) | u128::from(self.words[at as usize]) << 64
    }

    fn header(&self, field: &str) -> u64 {
        self.words[HEADER.field(field) as usize]
    }

    fn pool(&self, name: &str) -> &'static slab::Record {
        &slab::POOLS
            .iter()
            .find(|(pool, _)| *pool == name)
            .expect("a pool")
            .1
    }

    fn state(&self, instruments: usize) -> SlabState {
        let accounts_record = self.pool("accounts");
        let orders_record = self.pool("orders");
        let mut accounts = BTreeMap::new();
        let mut user_of = BTreeMap::new();
        for entry in 0..u64::from(self.layout.capacity("account_index")) {
            let key = self.field("account_index", &slab::INDEX_ENTRY, entry, "key");
            if key == 0 || key == TOMBSTONE {
                continue;
            }
            let slot = self.field("account_index", &slab::INDEX_ENTRY, entry, "slot");
            assert_eq!(
                self.field("accounts", accounts_record, slot, "user"),
                key,
                "account index entry {entry} names the account of its key"
            );
            user_of.insert(slot + 1, key);
            accounts.insert(
                key,
                AccountState {
                    dlp: self.field("accounts", accounts_record, slot, "class") == 1,
                    quoted: self.wide("accounts", accounts_record, slot, "quoted"),
                    orders: self.field("accounts", accounts_record, slot, "orders"),
                    cash: self.wide("accounts", accounts_record, slot, "cash") as i128,
                },
            );
        }
        let mut resting = 0;
        let mut indexed_orders = BTreeMap::new();
        for entry in 0..u64::from(self.layout.capacity("order_index")) {
            let key = self.field("order_index", &slab::INDEX_ENTRY, entry, "key");
            if key != 0 && key != TOMBSTONE {
                let slot = self.field("order_index", &slab::INDEX_ENTRY, entry, "slot");
                assert!(
                    indexed_orders.insert(key, slot).is_none(),
                    "order {key} indexed twice"
                );
            }
        }
        let order = |slot: u64| OrderState {
            order_id: self.field("orders", orders_record, slot, "order_id"),
            user: user_of[&self.field("orders", orders_record, slot, "account")],
            qty: self.field("orders", orders_record, slot, "qty"),
            reserved_qty: self.field("orders", orders_record, slot, "reserved_qty"),
            qty_orig: self.field("orders", orders_record, slot, "qty_orig"),
            live: self.field("orders", orders_record, slot, "live") == 1,
            closing: self.field("orders", orders_record, slot, "closing") == 1,
            created_ms: self.field("orders", orders_record, slot, "created_ms"),
        };
        let mut rows = Vec::new();
        let mut level_total = 0;
        for i in 0..instruments as u64 {
            let mut sides = Vec::new();
            for side in 0..2 {
                let book = 2 * i + side;
                let mut levels = Vec::new();
                let mut cursor = self.field("books", &slab::BOOK, book, "best");
                let mut prev = 0;
                while cursor != 0 {
                    let level = cursor - 1;
                    assert!(levels.len() <= 1_000_000, "a cycle in book {book}");
                    assert_eq!(
                        self.field("levels", &LEVEL, level, "prev"),
                        prev,
                        "level links"
                    );
                    assert_eq!(self.field("levels", &LEVEL, level, "book"), book);
                    let price = self.field("levels", &LEVEL, level, "price");
                    let mut orders = Vec::new();
                    let mut at = self.field("levels", &LEVEL, level, "head");
                    let mut before = 0;
                    while at != 0 {
                        let slot = at - 1;
                        assert_eq!(self.field("orders", orders_record, slot, "prev"), before);
                        assert_eq!(self.field("orders", orders_record, slot, "level"), cursor);
                        assert_eq!(self.field("orders", orders_record, slot, "price"), price);
                        let state = order(slot);
                        assert_eq!(indexed_orders.get(&state.order_id), Some(&slot));
                        orders.push(state);
                        before = at;
                        at = self.field("orders", orders_record, slot, "next");
                    }
                    assert_eq!(self.field("levels", &LEVEL, level, "tail"), before);
                    assert_eq!(
                        self.field("levels", &LEVEL, level, "count"),
                        orders.len() as u64
                    );
                    assert!(!orders.is_empty(), "an empty level rests in book {book}");
                    resting += orders.len();
                    levels.push(Level { price, orders });
                    prev = cursor;
                    cursor = self.field("levels", &LEVEL, level, "next");
                }
                assert_eq!(
                    self.field("books", &slab::BOOK, book, "levels"),
                    levels.len() as u64
                );
                level_total += levels.len();
                sides.push(levels);
            }
            let row = |field| self.field("instruments", &INSTRUMENT, i, field);
            let mut pending = Vec::new();
            let mut at = row("pending_head");
            let mut before = 0;
            while at != 0 {
                let slot = at - 1;
                assert_eq!(
                    self.field("orders", orders_record, slot, "pending_prev"),
                    before
                );
                assert_eq!(self.field("orders", orders_record, slot, "live"), 0);
                pending.push(self.field("orders", orders_record, slot, "order_id"));
                before = at;
                at = self.field("orders", orders_record, slot, "pending_next");
            }
            assert_eq!(row("pending_tail"), before);
            assert_eq!(row("pending_count"), pending.len() as u64);
            let asks = sides.pop().expect("two sides");
            let bids = sides.pop().expect("two sides");
            rows.push(InstrumentState {
                epoch: row("epoch"),
                batch_open_ms: row("batch_open_ms"),
                bids,
                asks,
                pending,
            });
        }
        assert_eq!(indexed_orders.len(), resting, "every indexed order rests");
        let (holds, slices_used) = self.holds(&user_of, &indexed_orders);
        let pools = HEADER.field("pools") as usize;
        let used = |k: usize| self.words[pools + 3 * k + 2] as usize;
        assert_eq!(used(1), resting, "orders in use");
        assert_eq!(used(2), level_total, "levels in use");
        assert_eq!(used(0), accounts.len(), "accounts in use");
        assert_eq!(used(4), holds.len(), "reservations in use");
        assert_eq!(used(5), slices_used, "slices in use");
        // S5/S8: every order's reserved quantity is what the live slices on it hold, ≤ qty.
        let mut held: BTreeMap<u64, u64> = BTreeMap::new();
        for slice in holds.values().flat_map(|h| &h.slices) {
            *held.entry(slice.order_id).or_default() += slice.qty;
        }
        for order in rows
            .iter()
            .flat_map(|i| i.bids.iter().chain(&i.asks))
            .flat_map(|l| &l.orders)
        {
            let on_it = held.get(&order.order_id).copied().unwrap_or(0);
            assert_eq!(
                order.reserved_qty, on_it,
                "order {} reserved",
                order.order_id
            );
            assert!(
                order.reserved_qty <= order.qty,
                "order {} over-reserved",
                order.order_id
            );
        }
        SlabState {
            next_order_id: self.header("orders_issued") + 1,
            book_seqno: self.header("book_seqno"),
            dlp_count: self.header("dlp_count"),
            accounts,
            instruments: rows,
            next_hold_id: self.header("holds_issued") + 1,
            holds,
        }
    }

    /// The live holds by id, and how many slices they hold.
    fn holds(
        &self,
        user_of: &BTreeMap<u64, u64>,
        orders: &BTreeMap<u64, u64>,
    ) -> (BTreeMap<u64, HoldState>, usize) {
        let record = self.pool("reservations");
        let slice_record = self.pool("slices");
        let mut holds = BTreeMap::new();
        let mut slices_used = 0;
        for entry in 0..u64::from(self.layout.capacity("hold_index")) {
            let key = self.field("hold_index", &slab::INDEX_ENTRY, entry, "key");
            if key == 0 || key == TOMBSTONE {
                continue;
            }
            let slot = self.field("hold_index", &slab::INDEX_ENTRY, entry, "slot");
            let field = |name| self.field("reservations", record, slot, name);
            assert_eq!(field("hold_id"), key, "hold index entry {entry}");
            let mut slices = Vec::new();
            let mut at = field("slice_head");
            while at != 0 {
                assert!(slices.len() < 64, "a cycle in hold {key}'s slices");
                let s = at - 1;
                let order_id = self.field("slices", slice_record, s, "order_id");
                assert!(
                    orders.contains_key(&order_id),
                    "slice on a gone order {order_id}"
                );
                slices.push(SliceState {
                    order_id,
                    price: self.field("slices", slice_record, s, "price"),
                    qty: self.field("slices", slice_record, s, "qty"),
                });
                at = self.field("slices", slice_record, s, "next");
            }
            assert_eq!(
                field("slices"),
                slices.len() as u64,
                "hold {key}'s slice count"
            );
            slices_used += slices.len();
            holds.insert(
                key,
                HoldState {
                    route_id: field("route_id"),
                    user: user_of[&field("account")],
                    instrument: field("instrument"),
                    side: field("side"),
                    qty: field("qty"),
                    vwap_px: field("vwap_px"),
                    worst_px: field("worst_px"),
                    max_charge: self.wide("reservations", record, slot, "max_charge"),
                    commitment: [
                        field("commitment_0"),
                        field("commitment_1"),
                        field("commitment_2"),
                        field("commitment_3"),
                    ],
                    book_seqno: field("book_seqno"),
                    expiry_ms: field("expiry_ms"),
                    epoch: field("epoch"),
                    slices,
                },
            );
        }
        (holds, slices_used)
    }
}

/// One call and what the model says it does.
struct Step {
    entry: &'static str,
    args: Vec<u64>,
    now: u64,
    expected: Result<Vec<u64>, Abort>,
}

/// Draws the next call from the model's state: mostly valid orders around a mid price,
/// cancels of resting ids, batches; sometimes each kind of bad input.
fn draw(rng: &mut Rng, model: &mut Model, p: &Params, now: &mut u64) -> Step {
    *now += rng.below(30);
    let user = if rng.below(60) == 0 {
        0
    } else {
        1 + rng.below(7)
    };
    let state = model.state();
    match rng.below(26) {
        19..=22 => {
            let instrument = if rng.below(40) == 0 { 2 } else { rng.below(2) };
            let side = if rng.below(50) == 0 { 2 } else { rng.below(2) };
            let ip = &p.instruments[(instrument as usize).min(1)];
            let mid = ip.price_max / 2;
            // Through a few levels of the other side, sometimes short of the best.
            let reach = ip.tick * rng.below(16);
            let mut limit = if side == 0 {
                mid + reach
            } else {
                mid.saturating_sub(reach).max(ip.tick)
            };
            if rng.below(30) == 0 {
                limit += 1;
            }
            let mut qty = ip.lot * (1 + rng.below(60));
            match rng.below(30) {
                0 => qty = 0,
                1 => qty += 1,
                2 => qty = ip.qty_max + ip.lot,
                _ => {}
            }
            let ttl = match rng.below(20) {
                0 => 0,
                1 => 500_000,
                _ => 1 + rng.below(5_000),
            };
            let route_id = rng.below(1 << 40);
            let commitment = [
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            ];
            let mut args = vec![route_id, user, instrument, side, qty, limit, ttl];
            args.extend(commitment);
            let expected = model
                .reserve(
                    *now, route_id, user, instrument, side, qty, limit, ttl, commitment,
                )
                .map(|r| {
                    vec![
                        r.hold_id,
                        r.filled_qty,
                        r.vwap_px,
                        r.worst_px,
                        r.max_charge as u64,
                        (r.max_charge >> 64) as u64,
                        r.expiry_ms,
                        r.book_seqno,
                    ]
                });
            Step {
                entry: "reserve",
                args,
                now: *now,
                expected,
            }
        }
        23..=25 => {
            let live: Vec<u64> = state.holds.keys().copied().collect();
            let hold_id = match rng.below(8) {
                _ if live.is_empty() => rng.below(state.next_hold_id + 2),
                0 => rng.below(state.next_hold_id + 2),
                1 => TOMBSTONE,
                _ => live[rng.below(live.len() as u64) as usize],
            };
            let expected = model.cancel(*now, hold_id).map(|q| vec![q]);
            Step {
                entry: "cancel",
                args: vec![hold_id],
                now: *now,
                expected,
            }
        }
        0..=10 => {
            let instrument = if rng.below(40) == 0 {
                2 + rng.below(3)
            } else {
                rng.below(2)
            };
            let side = if rng.below(50) == 0 { 2 } else { rng.below(2) };
            let ip = &p.instruments[(instrument as usize).min(1)];
            // Bids below a mid, asks above, within a few ticks: levels repeat and cross now
            // and then.
            let mid = ip.price_max / 2;
            let offset = ip.tick * rng.below(12);
            let mut price = if side == 0 {
                mid.saturating_sub(offset).max(ip.tick)
            } else {
                mid + offset
            };
            match rng.below(30) {
                0 => price = 0,
                1 => price += 1,
                2 => price = ip.price_max + ip.tick,
                3 => price = ip.price_max,
                4 => {
                    price = if side == 0 {
                        mid + ip.tick * 2
                    } else {
                        mid - ip.tick * 2
                    }
                }
                _ => {}
            }
            let mut qty = ip.lot * (1 + rng.below(20));
            match rng.below(30) {
                0 => qty = 0,
                1 => qty += 1,
                2 => qty = ip.qty_max + ip.lot,
                3 => qty = ip.qty_max,
                _ => {}
            }
            let args = vec![user, instrument, side, price, qty];
            let expected = model
                .place_order(*now, user, instrument, side, price, qty)
                .map(|id| vec![id]);
            Step {
                entry: "place_order",
                args,
                now: *now,
                expected,
            }
        }
        11..=14 => {
            let resting: Vec<(u64, u64)> = state
                .instruments
                .iter()
                .flat_map(|i| i.bids.iter().chain(&i.asks))
                .flat_map(|l| &l.orders)
                .map(|o| (o.order_id, o.user))
                .collect();
            let (order_id, user) = match rng.below(10) {
                _ if resting.is_empty() => (rng.below(state.next_order_id + 2), user),
                0 => (rng.below(state.next_order_id + 2), user),
                1 => (resting[rng.below(resting.len() as u64) as usize].0, user),
                2 => (TOMBSTONE, user),
                _ => resting[rng.below(resting.len() as u64) as usize],
            };
            let expected = model.cancel_order(*now, user, order_id).map(|q| vec![q]);
            Step {
                entry: "cancel_order",
                args: vec![user, order_id],
                now: *now,
                expected,
            }
        }
        15 | 16 => {
            if rng.below(2) == 0 {
                *now += p.batch_ms;
            }
            let instrument = if rng.below(30) == 0 { 2 } else { rng.below(2) };
            let expected = model
                .batch_open(*now, instrument)
                .map(|(epoch, promoted)| vec![epoch, promoted]);
            Step {
                entry: "batch_open",
                args: vec![instrument],
                now: *now,
                expected,
            }
        }
        17 => {
            let class = if rng.below(20) == 0 { 2 } else { rng.below(2) };
            let expected = model.set_maker_class(user, class).map(|()| vec![]);
            Step {
                entry: "set_maker_class",
                args: vec![user, class],
                now: *now,
                expected,
            }
        }
        _ => {
            let (cash, im, mm) = model.account(user);
            let words = vec![
                cash as u64,
                (cash >> 64) as u64,
                im as u64,
                (im >> 64) as u64,
                mm as u64,
                (mm >> 64) as u64,
            ];
            Step {
                entry: "account",
                args: vec![user],
                now: *now,
                expected: Ok(words),
            }
        }
    }
}

/// What a differential run reached.
#[derive(Debug, Default)]
struct Coverage {
    outcomes: BTreeMap<(&'static str, String), u64>,
    most_levels: usize,
    most_orders: usize,
    promoted: u64,
    multi_level_holds: u64,
    pool_full: u64,
}

/// Runs `steps` random calls on both engines of the slab (with `mutation` planted) against
/// the reference; the first difference is the error, with the step and the calls before it.
fn differential(seed: u64, steps: usize, mutation: Mutation) -> Result<Coverage, String> {
    let c = compiled_with(SCRIPT, mutation);
    let run_all = std::panic::AssertUnwindSafe(|| run_differential(&c, seed, steps));
    std::panic::catch_unwind(run_all).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into())
    })
}

fn run_differential(c: &Compiled, seed: u64, steps: usize) -> Coverage {
    let p = model_params(c);
    let instruments = p.instruments.len();
    let engines = Engine::both(&c.program);
    let mut instances: Vec<Instance> = engines
        .iter()
        .map(|_| Instance::new(Arc::clone(&c.program), &c.params).expect("params fit"))
        .collect();
    let mut model = Model::new(model_params(c));
    let mut rng = Rng::new(seed);
    let mut now = 1_000u64;
    let mut coverage = Coverage::default();
    let mut history: Vec<String> = Vec::new();
    for step in 0..steps {
        let s = draw(&mut rng, &mut model, &p, &mut now);
        history.push(format!("{} {:?} at {}", s.entry, s.args, s.now));
        let context = || {
            let tail = history.len().saturating_sub(12);
            format!(
                "seed {seed} step {step}: {} {:?} at {}\nlast calls:\n  {}",
                s.entry,
                s.args,
                s.now,
                history[tail..].join("\n  ")
            )
        };
        let want = model.state();
        for (engine, instance) in engines.iter().zip(&mut instances) {
            let before = instance.memory().words(Segment::Slab).to_vec();
            let outcome = run(engine, instance, s.entry, &s.args, s.now);
            if outcome.result.is_err() {
                // An abort changes nothing, byte for byte (the VM's journal undid every write).
                assert!(
                    instance.memory().words(Segment::Slab) == before.as_slice(),
                    "{}: an aborted call changed the slab",
                    context()
                );
            }
            match (&s.expected, &outcome.result) {
                (Ok(words), Ok(ret)) => {
                    assert_eq!(ret, words, "{} on the {}", context(), engine.name())
                }
                (Err(abort), Err(trap)) => assert_eq!(
                    trap.kind,
                    TrapKind::Abort {
                        code: abort.code() as u8
                    },
                    "{} on the {}",
                    context(),
                    engine.name()
                ),
                _ => panic!(
                    "{} on the {}\nreference {:?}, program {:?}",
                    context(),
                    engine.name(),
                    s.expected,
                    outcome.result
                ),
            }
            assert!(
                outcome.gas_used <= c.bounds[s.entry],
                "{}: gas {} above the bound {}",
                context(),
                outcome.gas_used,
                c.bounds[s.entry]
            );
            let words = instance.memory().words(Segment::Slab);
            let decoded = Decoder {
                words,
                layout: &c.layout,
            }
            .state(instruments);
            assert_eq!(
                decoded,
                want,
                "{}: state on the {}",
                context(),
                engine.name()
            );
        }
        let label = match &s.expected {
            Ok(_) => "ok".to_string(),
            Err(abort) => format!("{abort:?}"),
        };
        if label.ends_with("Full") {
            coverage.pool_full += 1;
        }
        *coverage.outcomes.entry((s.entry, label)).or_default() += 1;
        if let Ok(words) = &s.expected {
            match s.entry {
                "batch_open" => coverage.promoted += words[1],
                "reserve" => {
                    let slices = &want.holds[&words[0]].slices;
                    if slices.first().map(|s| s.price) != slices.last().map(|s| s.price) {
                        coverage.multi_level_holds += 1;
                    }
                }
                _ => {}
            }
        }
        for i in &want.instruments {
            coverage.most_levels = coverage.most_levels.max(i.bids.len().max(i.asks.len()));
        }
        let orders: usize = want
            .instruments
            .iter()
            .flat_map(|i| i.bids.iter().chain(&i.asks))
            .map(|l| l.orders.len())
            .sum();
        coverage.most_orders = coverage.most_orders.max(orders);
    }
    coverage
}

/// Steps per run: ≥ 2,000 per CI run (issue 23).
const STEPS: usize = 2_500;

#[test]
fn the_slab_matches_the_reference_on_both_engines() {
    let seed = replay_seed("CURVE_SEED", 0x51AB);
    println!("seed {seed} (CURVE_SEED={seed} replays)");
    // `SLAB_STEPS=<n>` runs longer.
    let steps = std::env::var("SLAB_STEPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(STEPS);
    let coverage = differential(seed, steps, Mutation::None).unwrap_or_else(|e| panic!("{e}"));
    println!("outcomes: {:?}", coverage.outcomes);
    println!(
        "coverage: most levels on a side {}, most resting orders {}, pending orders promoted {}, \
         holds across levels {}, pool-full refusals {}",
        coverage.most_levels,
        coverage.most_orders,
        coverage.promoted,
        coverage.multi_level_holds,
        coverage.pool_full
    );
    // The run must reach what it is meant to test.
    for (entry, label) in [
        ("place_order", "ok"),
        ("place_order", "OrdersFull"),
        ("place_order", "Allowance"),
        ("place_order", "Crosses"),
        ("place_order", "Tick"),
        ("place_order", "Lot"),
        ("cancel_order", "ok"),
        ("cancel_order", "UnknownOrder"),
        ("cancel_order", "NotOwner"),
        ("batch_open", "ok"),
        ("batch_open", "BatchEarly"),
        ("set_maker_class", "ok"),
        ("reserve", "ok"),
        ("reserve", "NoLiquidity"),
        ("reserve", "BadTtl"),
        ("cancel", "ok"),
    ] {
        assert!(
            coverage.outcomes.contains_key(&(entry, label.to_string())),
            "{entry} never gave {label}"
        );
    }
    assert!(coverage.promoted > 0, "no pending order was promoted");
    assert!(coverage.multi_level_holds > 0, "no hold walked two levels");
}

/// Each planted bug (one guard left out of the template) is caught by the differential run.
#[test]
fn every_planted_bug_is_caught() {
    let seed = replay_seed("CURVE_SEED", 0x51AB);
    println!("seed {seed}");
    // `commit`'s planted bugs (TTL, epoch, debit guard, margin) need commits in the run: they
    // join once the reference models `commit`.
    let book = Mutation::ALL.into_iter().filter(|m| {
        !matches!(
            m,
            Mutation::NoTtl | Mutation::NoEpoch | Mutation::NoDebitGuard | Mutation::NoMargin
        )
    });
    for mutation in book {
        match differential(seed, STEPS, mutation) {
            Ok(_) => panic!("{mutation:?} was not caught in {STEPS} steps"),
            Err(error) => {
                let first = error.lines().next().unwrap_or_default();
                println!("{mutation:?} caught: {first}");
            }
        }
    }
}

#[test]
fn static_gas_bounds_are_within_the_slab_budget_at_the_default_pools() {
    let script = SCRIPT.replace(
        "    POOLS accounts=6 orders=32 positions=8 reservations=4 slices=8 trades=8 aggressor=4\n",
        "",
    );
    let c = compiled(&script);
    for (entry, bound) in &c.bounds {
        println!("{entry}: {bound} gas");
        // Seed 002's ceiling: 300,000 compute units per instruction.
        assert!(*bound <= 300_000, "{entry}: {bound}");
    }
    for entry in [
        "reserve",
        "commit",
        "cancel",
        "place_order",
        "batch_open",
        "account",
    ] {
        assert!(c.bounds.contains_key(entry), "{entry} has a bound");
    }
}

/// Every abort code a user can meet has a distinct name and a distinct number.
#[test]
fn abort_codes_are_named_once() {
    let mut numbers: Vec<u8> = code::NAMES.iter().map(|(n, _)| *n).collect();
    let mut names: Vec<&str> = code::NAMES.iter().map(|(_, n)| *n).collect();
    numbers.sort_unstable();
    numbers.dedup();
    names.sort_unstable();
    names.dedup();
    assert_eq!(numbers.len(), code::NAMES.len());
    assert_eq!(names.len(), code::NAMES.len());
    assert!(numbers.iter().all(|&n| n < code::TABLE));
}
