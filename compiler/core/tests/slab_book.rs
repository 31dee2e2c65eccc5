//! The SLAB program — `place_order`, `cancel_order`, `batch_open`, `set_maker_class`,
//! `reserve`, `commit`, `cancel`, `account` — against the independent reference model
//! (`slab_reference/`, written from the slab's README and percolator.md alone), on the
//! interpreter and the JIT in lockstep, each with its own host ledger (escrows, caps) and the
//! oracles' states mapped as views. After every step the outcome (return words, abort code or
//! host refusal), the whole decoded state, the ledger entries the call may touch and the gas
//! against the static bound are compared, and an aborted call must leave the segment byte for
//! byte as it was; the decoder also checks the book's links (S5: next/prev agree, heads and
//! tails, counts, no cycles), that every order's `reserved_qty` is what the live slices on it
//! hold (S8), and the slab's conservation (Σ cash − Σ basis + fees + insurance = collected).
//! Each planted bug of `slab::Mutation` must make the run fail. `CURVE_SEED=<n>` replays a
//! run; a mismatch prints the step and the calls before it.

mod slab_reference;
mod slab_support;

use std::collections::BTreeMap;
use std::sync::Arc;

use curve_compiler::templates::oracle;
use curve_compiler::templates::slab::{
    self, HEADER, INSTRUMENT, LEVEL, Mutation, SlabLayout, code, params,
};
use curve_ir::keyed::TOMBSTONE;
use curvescript_syntax::ast::BlockKind;
use curvevm::hostcall::id;
use curvevm::isa::Segment;
use curvevm::{Instance, Outcome, Program, TrapKind};
use curvevm_host::{Caller, Cap, Clock, Ledger, Role, RollupHost};
use curvevm_testkit::engines::Engine;
use curvevm_testkit::programs::{Rng, replay_seed};
use slab_reference::reference::{
    Abort, CapView, Committed, Model, Params, Reserved, reveal_commitment,
};
use slab_reference::state::{
    AccountState, AggressorState, FundingFeed, HoldState, InstrumentState, Level, OrderState,
    PositionState, SlabState, SliceState, TradeState,
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
    FEE maker_bps=2 taker_bps=5 rebate_bps=4 rebate_delay_ms=40
    RISK imr_bps=500 mmr_bps=350
    ANTI_TOXICITY kill_band_bps=150 jit_penalty=true arg_tax_bps=50 freeze_levels=2
    BATCH_WINDOW ms=50
    FUNDING interval_ms=86_400_000 rate_cap_bps=20
    INSTRUMENT "SOL-PERP" oracle="pyth:SOLUSD" tick=5 lot=2 price_max=2_000 qty_max=400 contract_size=10
    INSTRUMENT "ETH-PERP" oracle="pyth:ETHUSD" tick=1 lot=1 price_max=500 qty_max=1_000 contract_size=1
    POOLS accounts=8 orders=32 positions=16 reservations=4 slices=8 trades=8 aggressor=6
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
    slab_support::model_params(&c.layout, &c.params, CHAIN_ID)
}

/// The view each instrument's oracle is mapped at.
fn oracle_views(c: &Compiled) -> Vec<usize> {
    let count = c.params[params::param("instrument_count") as usize] as usize;
    (0..count)
        .map(|row| {
            c.params[params::instrument_param("oracle_view") as usize
                + row * params::INSTRUMENT_FIELDS.len()] as usize
        })
        .collect()
}

/// This slab's program id in the host (the caps' scope).
const SLAB_ID: u64 = 3;

/// The chain the worlds run on (what a reveal hashes).
const CHAIN_ID: u64 = 7;

/// An engine's world: the program's instance and the host around it.
struct World {
    instance: Instance,
    host: RollupHost,
}

impl World {
    fn new(c: &Compiled) -> World {
        World {
            instance: Instance::new(Arc::clone(&c.program), &c.params).expect("params fit"),
            host: RollupHost::new(
                Ledger::default(),
                Clock {
                    now_ms: 0,
                    height: 0,
                    chain_id: CHAIN_ID,
                },
                Caller {
                    id: SLAB_ID,
                    role: Role::Slab,
                },
            ),
        }
    }
}

/// The oracles' states with these marks and funding feeds, one per view.
fn oracle_states(marks: &[u64], feeds: &[FundingFeed]) -> Vec<Vec<u64>> {
    marks
        .iter()
        .zip(feeds)
        .map(|(&mark, feed)| {
            let mut state = vec![0; oracle::state::WORDS as usize];
            state[oracle::state::MARK as usize] = mark;
            let area = oracle::state::CUM_PRICE_MS as usize;
            state[area] = feed.cum_price_ms as u64;
            state[area + 1] = (feed.cum_price_ms >> 64) as u64;
            state[oracle::state::CUM_MS as usize] = feed.cum_ms;
            state[oracle::state::PRICE as usize] = feed.price;
            state
        })
        .collect()
}

fn run(engine: &Engine, world: &mut World, s: &Step, oracles: &Oracles) -> Outcome {
    world.host.clock = Clock {
        now_ms: s.now,
        height: s.now / 100,
        chain_id: CHAIN_ID,
    };
    let mut views = oracle_states(&oracles.marks, &oracles.feeds);
    engine.call_with_views(
        &mut world.instance,
        s.entry,
        &s.args,
        10_000_000,
        &mut views,
        &mut world.host,
    )
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

    fn header_wide(&self, field: &str) -> u128 {
        let at = HEADER.field(field) as usize;
        u128::from(self.words[at]) | u128::from(self.words[at + 1]) << 64
    }

    /// The positions of the account at `slot`, walking its list (checked acyclic and owned).
    fn positions(&self, slot: u64) -> BTreeMap<u64, PositionState> {
        let record = self.pool("positions");
        let mut positions = BTreeMap::new();
        let mut at = self.field("accounts", self.pool("accounts"), slot, "position_head");
        while at != 0 {
            let p = at - 1;
            assert!(
                positions.len() < 64,
                "a cycle in account {slot}'s positions"
            );
            assert_eq!(self.field("positions", record, p, "account"), slot + 1);
            let instrument = self.field("positions", record, p, "instrument");
            let position = PositionState {
                qty: self.field("positions", record, p, "qty") as i64,
                entry_px: self.field("positions", record, p, "entry_px"),
                last_funding: self.wide("positions", record, p, "last_funding") as i128,
            };
            assert_ne!(position.qty, 0, "a position of 0 rests");
            assert!(
                positions.insert(instrument, position).is_none(),
                "two positions of account {slot} in instrument {instrument}"
            );
            at = self.field("positions", record, p, "next_in_account");
        }
        positions
    }

    /// The ring's prints, oldest first.
    fn trades(&self) -> Vec<TradeState> {
        let record = self.pool("trades");
        let written = self.header("trades_written");
        let capacity = u64::from(self.layout.capacity("trades"));
        (written.saturating_sub(capacity)..written)
            .map(|k| {
                let field = |name| self.field("trades", record, k % capacity, name);
                TradeState {
                    ms: field("ms"),
                    maker_order: field("maker_order"),
                    route_id: field("route_id"),
                    instrument: field("instrument"),
                    side: field("side"),
                    price: field("price"),
                    qty: field("qty"),
                }
            })
            .collect()
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
                    positions: self.positions(slot),
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
        let mut hold_queues: Vec<Vec<u64>> = Vec::new();
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
            // The hold queue (F1): its holds' ids, head to tail, links consistent.
            let holds_record = self.pool("reservations");
            let mut queued = Vec::new();
            let mut at = row("holds_head");
            let mut before = 0;
            while at != 0 {
                assert!(queued.len() < 1 << 20, "a cycle in the hold queue");
                let slot = at - 1;
                assert_eq!(
                    self.field("reservations", holds_record, slot, "prev_hold"),
                    before
                );
                queued.push(self.field("reservations", holds_record, slot, "hold_id"));
                before = at;
                at = self.field("reservations", holds_record, slot, "next_hold");
            }
            assert_eq!(row("holds_tail"), before);
            assert_eq!(row("holds_count"), queued.len() as u64);
            hold_queues.push(queued);
            let asks = sides.pop().expect("two sides");
            let bids = sides.pop().expect("two sides");
            let wide = |field| self.wide("instruments", &slab::INSTRUMENT, i, field);
            rows.push(InstrumentState {
                epoch: row("epoch"),
                batch_open_ms: row("batch_open_ms"),
                freeze_until_ms: row("freeze_until_ms"),
                cum_funding: wide("cum_funding") as i128,
                funding_rate: row("funding_rate") as i64,
                funding_interval: row("funding_interval"),
                index_area: wide("index_area"),
                index_ms: row("index_ms"),
                fill_qty: wide("fill_qty"),
                fill_notional: wide("fill_notional"),
                bids,
                asks,
                pending,
            });
        }
        assert_eq!(indexed_orders.len(), resting, "every indexed order rests");
        let (holds, slices_used) = self.holds(&user_of, &indexed_orders);
        // Each instrument's queue holds exactly its live holds, in reserve (id) order.
        for (i, queued) in hold_queues.iter().enumerate() {
            let live: Vec<u64> = holds
                .iter()
                .filter(|(_, h)| h.instrument == i as u64)
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(queued, &live, "instrument {i}'s hold queue");
        }
        let pools = HEADER.field("pools") as usize;
        let used = |k: usize| self.words[pools + 3 * k + 2] as usize;
        assert_eq!(used(1), resting, "orders in use");
        assert_eq!(used(2), level_total, "levels in use");
        assert_eq!(used(0), accounts.len(), "accounts in use");
        let positions: usize = accounts.values().map(|a| a.positions.len()).sum();
        assert_eq!(used(3), positions, "positions in use");
        assert_eq!(used(4), holds.len(), "reservations in use");
        assert_eq!(used(5), slices_used, "slices in use");
        let aggressor = self.aggressor(&user_of);
        assert_eq!(used(6), aggressor.len(), "aggressor entries in use");
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
            fees_collected: self.header_wide("fees_collected"),
            insurance: self.header_wide("insurance"),
            collected: self.header_wide("collected"),
            trades_written: self.header("trades_written"),
            trades: self.trades(),
            fee_caps: (self.header("fee_caps_set") == 1)
                .then(|| (self.header("maker_bps_cap"), self.header("taker_bps_cap"))),
            aggressor,
        }
    }

    /// Every aggressor-ledger entry by (user, instrument), walked from each account's list
    /// (one entry per instrument at most, each naming its account).
    fn aggressor(&self, user_of: &BTreeMap<u64, u64>) -> BTreeMap<(u64, u64), AggressorState> {
        let accounts = self.pool("accounts");
        let record = self.pool("aggressor");
        let mut entries = BTreeMap::new();
        for (&link, &user) in user_of {
            let mut at = self.field("accounts", accounts, link - 1, "aggressor_head");
            while at != 0 {
                let slot = at - 1;
                let field = |name| self.field("aggressor", record, slot, name);
                assert_eq!(field("account"), link, "a ledger entry names its account");
                let instrument = field("instrument");
                let entry = AggressorState {
                    epoch: field("epoch"),
                    buy_qty: field("buy_qty"),
                    buy_notional: self.wide("aggressor", record, slot, "buy_notional"),
                    sell_qty: field("sell_qty"),
                    sell_notional: self.wide("aggressor", record, slot, "sell_notional"),
                };
                assert!(
                    entries.insert((user, instrument), entry).is_none(),
                    "user {user} has two ledger entries for instrument {instrument}"
                );
                at = field("next_in_account");
            }
        }
        entries
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
                    qty_asked: field("qty_asked"),
                    limit_px: field("limit_px"),
                    mark_px: field("mark_px"),
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
    /// A commit's funding, set up in every engine's ledger before the call.
    funding: Option<Funding>,
}

/// What the router would have done before a commit: minted a cap (none when the call names
/// an id no cap has) and pledged the taker's escrow.
#[derive(Clone, Copy, Debug)]
struct Funding {
    cap: Option<Cap>,
    user: u64,
    escrow: u128,
}

/// The harness's side of the world: the oracles' marks (one per view), which view each
/// instrument reads, and the id the next minted cap gets.
struct Oracles {
    marks: Vec<u64>,
    /// Each view's funding feed: the accumulator advances whenever its mark is published.
    feeds: Vec<FundingFeed>,
    views: Vec<usize>,
    next_cap: u64,
    /// The hold the last call reserved: the router commits it next, mostly.
    just_reserved: Option<u64>,
    /// The salt each route committed with (the router keeps it until the commit).
    salts: BTreeMap<u64, [u64; 4]>,
    /// The taker, instrument and side of the last commit drawn: a round trip reverses it.
    last_take: Option<(u64, u64, u64)>,
    /// A profitable round trip under way (ARG), one call per step.
    round_trip: Option<RoundTrip>,
    /// How far (in ticks) each instrument's quotes have drifted from the middle of its range:
    /// prices that move within a batch make some round trips profitable (ARG).
    drift: Vec<i64>,
}

impl Oracles {
    /// The price quotes centre on for instrument `row`.
    fn mid(&self, p: &Params, row: usize) -> u64 {
        let ip = &p.instruments[row];
        let ticks = self.drift[row] * ip.tick as i64;
        (ip.price_max as i64 / 2 + ticks).max(ip.tick as i64) as u64
    }

    /// Each instrument's mark.
    fn by_instrument(&self) -> Vec<u64> {
        self.views.iter().map(|&v| self.marks[v]).collect()
    }

    /// Each instrument's funding feed.
    fn feeds_by_instrument(&self) -> Vec<FundingFeed> {
        self.views.iter().map(|&v| self.feeds[v]).collect()
    }

    /// Moves one oracle's mark: near the instruments' mid price, now and then far off it. A
    /// published mark also advances the view's funding accumulator as the ORACLE template
    /// does: `Σ price × ms` of the price that held since the last publication, which the new
    /// one replaces.
    fn move_mark(&mut self, rng: &mut Rng, p: &Params, now: u64) -> String {
        let view = rng.below(self.marks.len() as u64) as usize;
        let row = self
            .views
            .iter()
            .position(|&v| v == view)
            .expect("a view is read");
        let mid = p.instruments[row].price_max / 2;
        let reach = if rng.below(8) == 0 { mid / 3 } else { mid / 80 };
        let offset = rng.below(2 * reach + 1);
        self.marks[view] = if rng.below(16) == 0 {
            // The feed withdrawn: commits and views on its instruments see no mark.
            0
        } else {
            (mid + offset).saturating_sub(reach).max(1)
        };
        if self.marks[view] != 0 {
            let feed = &mut self.feeds[view];
            if feed.cum_ms != 0 {
                feed.cum_price_ms += u128::from(feed.price) * u128::from(now - feed.cum_ms);
            }
            feed.cum_ms = now;
            feed.price = self.marks[view];
        }
        format!("mark of view {view} ← {}", self.marks[view])
    }
}

/// Draws the next call from the model's state: mostly valid orders around a mid price,
/// cancels of resting ids, reserves and commits, batches; sometimes each kind of bad input.
fn draw(
    rng: &mut Rng,
    model: &mut Model,
    p: &Params,
    now: &mut u64,
    oracles: &mut Oracles,
) -> Step {
    *now += rng.below(30);
    let user = if rng.below(60) == 0 {
        0
    } else {
        1 + rng.below(7)
    };
    let state = model.state();
    // Makers are users 3–9 (9 seldom) and takers 1–3: users 1 and 2 only take, so their cash is what
    // commits debited and their margin what the marks make of it (a maker's is unfunded until
    // the router part).
    let maker = match user {
        0 => 0,
        // A ninth user, now and then, once the other eight fill the accounts pool.
        7 if rng.below(4) == 0 && state.accounts.len() == p.accounts_capacity as usize => 9,
        _ => 3 + user % 6,
    };
    let taker = match user {
        0 => 0,
        7 => 3,
        _ => 1 + user % 2,
    };
    let marks = oracles.by_instrument();
    if oracles.round_trip.is_none() && rng.below(40) == 0 {
        oracles.round_trip = RoundTrip::start(rng, &state);
    }
    if let Some(step) = round_trip_step(model, p, now, oracles, &state, &marks) {
        return step;
    }
    let follow_up = oracles.just_reserved.take().filter(|_| rng.below(8) != 0);
    let arm = if follow_up.is_some() {
        26
    } else {
        rng.below(33)
    };
    match arm {
        26..=29 => {
            let live: Vec<u64> = state.holds.keys().copied().collect();
            let hold_id = match rng.below(10) {
                _ if follow_up.is_some() => follow_up.unwrap_or_default(),
                _ if live.is_empty() => rng.below(state.next_hold_id + 2),
                0 => rng.below(state.next_hold_id + 2),
                1 => TOMBSTONE,
                _ => live[rng.below(live.len() as u64) as usize],
            };
            if rng.below(20) == 0 {
                // Past most holds' TTL.
                *now += 3_000;
            }
            let hold = state.holds.get(&hold_id);
            let taker = hold.map_or(1, |h| h.user);
            if let Some(h) = hold {
                oracles.last_take = Some((h.user, h.instrument, h.side));
            }
            let max_charge = hold.map_or(1_000_000, |h| h.max_charge);
            let mut cap = Cap::new(taker, SLAB_ID, 0, max_charge, *now + 1_000);
            let mut escrow = max_charge * 2;
            let mut minted = true;
            // What the commit would debit with a cap and escrow that pay it (a probe of the
            // model): the cap or escrow cut below it is refused whenever it is nonzero.
            let salt_of = |h: &HoldState| oracles.salts.get(&h.route_id).copied();
            let short = hold
                .and_then(|h| {
                    let full = CapView {
                        user: taker,
                        slab: SLAB_ID,
                        asset: 0,
                        remaining: max_charge,
                        expiry_ms: *now + 1_000,
                        burned: false,
                    };
                    let salt = salt_of(h).unwrap_or_default();
                    let probe = model.clone().commit(
                        *now,
                        hold_id,
                        Some(full),
                        SLAB_ID,
                        escrow,
                        &marks,
                        salt,
                        0,
                    );
                    probe.ok().map(|c| c.total_debit)
                })
                .filter(|&debit| debit > 0);
            // A commit that debits is the one a short cap or escrow refuses: cut one, often.
            let variant = match short {
                Some(_) if rng.below(3) == 0 => 6 + rng.below(2),
                _ => rng.below(16),
            };
            let short = short.map_or(max_charge / 50, |debit| debit - 1);
            match variant {
                0 => minted = false,
                1 => cap.expiry_ms = *now - 1,
                2 => cap.burned = true,
                3 => cap.user = taker + 1,
                4 => cap.asset = 1,
                5 => cap.slab = SLAB_ID + 1,
                6 => {
                    cap.amount_max = short;
                    cap.remaining = short;
                }
                7 => escrow = short,
                _ => {}
            }
            let cap_id = if minted {
                oracles.next_cap += 1;
                oracles.next_cap - 1
            } else {
                oracles.next_cap + 1_000
            };
            let view = minted.then_some(CapView {
                user: cap.user,
                slab: cap.slab,
                asset: cap.asset,
                remaining: cap.remaining,
                expiry_ms: cap.expiry_ms,
                burned: cap.burned,
            });
            // The salt the route committed with, now and then a wrong one.
            let mut salt = hold
                .and_then(|h| oracles.salts.get(&h.route_id).copied())
                .unwrap_or([rng.next_u64(), 0, 0, rng.next_u64()]);
            if rng.below(25) == 0 {
                salt[rng.below(4) as usize] ^= 1 << rng.below(64);
            }
            let mut args = vec![hold_id, cap_id];
            args.extend(salt);
            args.push(0); // the slab margins its own accounts
            let expected = model
                .commit(*now, hold_id, view, SLAB_ID, escrow, &marks, salt, 0)
                .map(|c| committed_words(&c));
            Step {
                entry: "commit",
                args,
                now: *now,
                expected,
                funding: Some(Funding {
                    cap: minted.then_some(cap),
                    user: taker,
                    escrow,
                }),
            }
        }
        19..=22 => {
            let mut instrument = if rng.below(40) == 0 { 2 } else { rng.below(2) };
            let mut side = if rng.below(50) == 0 { 2 } else { rng.below(2) };
            let mut taker = taker;
            // Now and then the last taker reverses its trade: a round trip (ARG).
            if let Some((last, row, bought)) = oracles.last_take.filter(|_| rng.below(3) == 0) {
                (taker, instrument, side) = (last, row, 1 - bought);
            }
            let ip = &p.instruments[(instrument as usize).min(1)];
            let mid = oracles.mid(p, (instrument as usize).min(1));
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
            // Mostly a commitment the router opens at commit, else none, now and then one
            // nothing opens.
            let salt = [
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64(),
            ];
            let commitment = match rng.below(12) {
                0 => [0; 4],
                1 => [rng.next_u64(), rng.next_u64(), 0, rng.next_u64()],
                _ => {
                    oracles.salts.insert(route_id, salt);
                    reveal_commitment(CHAIN_ID, route_id, instrument, side, qty, limit, salt)
                }
            };
            let mut args = vec![route_id, taker, instrument, side, qty, limit, ttl];
            args.extend(commitment);
            let expected = model
                .reserve(
                    *now, route_id, taker, instrument, side, qty, limit, ttl, commitment, &marks,
                )
                .map(|r| reserved_words(&r));
            oracles.just_reserved = expected.as_ref().ok().map(|words| words[0]);
            Step {
                entry: "reserve",
                args,
                now: *now,
                expected,
                funding: None,
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
                funding: None,
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
            let mid = oracles.mid(p, (instrument as usize).min(1));
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
            let args = vec![maker, instrument, side, price, qty];
            let expected = model
                .place_order(*now, maker, instrument, side, price, qty)
                .map(|id| vec![id]);
            Step {
                entry: "place_order",
                args,
                now: *now,
                expected,
                funding: None,
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
                funding: None,
            }
        }
        15 | 16 => {
            if rng.below(2) == 0 {
                *now += p.batch_ms;
            }
            // Now and then a day or more passes: the funding interval turns, once or many
            // times, under the batch_open that follows.
            if rng.below(40) == 0 {
                *now += rng.below(3 * p.funding_interval_ms);
            }
            let instrument = if rng.below(30) == 0 { 2 } else { rng.below(2) };
            let expected = model
                .batch_open(*now, instrument, &oracles.feeds_by_instrument())
                .map(|(epoch, promoted, released)| vec![epoch, promoted, released]);
            Step {
                entry: "batch_open",
                args: vec![instrument],
                now: *now,
                expected,
                funding: None,
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
                funding: None,
            }
        }
        18 if rng.below(2) == 0 => {
            // The router liquidates: mostly a position that exists, a deficit around its
            // maintenance margin, a cap and escrow that may or may not cover the loss.
            // Mostly the makers' positions: the takers' stay for the margin refusals of commit.
            let held: Vec<(u64, u64)> = state
                .accounts
                .iter()
                .filter(|(u, _)| **u >= 3 || rng.below(5) == 0)
                .flat_map(|(&u, a)| a.positions.keys().map(move |&i| (u, i)))
                .collect();
            // Positions at a loss at the current marks most: their closing can leave bad debt.
            let losing: Vec<(u64, u64)> = held
                .iter()
                .copied()
                .filter(|&(u, i)| {
                    let position = &state.accounts[&u].positions[&i];
                    let mark = marks.get(i as usize).copied().unwrap_or(0);
                    (mark as i128 - position.entry_px as i128) * i128::from(position.qty) < 0
                })
                .collect();
            let (user, instrument) = match rng.below(10) {
                _ if held.is_empty() => (taker, rng.below(2)),
                0 => (taker, if rng.below(10) == 0 { 2 } else { rng.below(2) }),
                1..=5 if !losing.is_empty() => losing[rng.below(losing.len() as u64) as usize],
                _ => held[rng.below(held.len() as u64) as usize],
            };
            let deficit = match rng.below(6) {
                0 => 0,
                1 => u128::from(rng.below(1 << 40)),
                _ => u128::from(rng.below(20_000)),
            };
            let band = match rng.below(10) {
                0 => 0,
                1 => 10_001,
                2 => 10_000,
                _ => 1 + rng.below(400),
            };
            let mut cap = Cap::new(user, SLAB_ID, 0, 1 << 40, *now + 1_000);
            let escrow = match rng.below(8) {
                0..=4 => 0,
                5 => u128::from(rng.below(5_000)),
                _ => 1 << 40,
            };
            cap.amount_max = escrow;
            cap.remaining = escrow;
            match rng.below(8) {
                0 => cap.expiry_ms = *now - 1,
                1 => cap.user = user + 1,
                _ => {}
            }
            oracles.next_cap += 1;
            let cap_id = oracles.next_cap - 1;
            let view = Some(CapView {
                user: cap.user,
                slab: cap.slab,
                asset: cap.asset,
                remaining: cap.remaining,
                expiry_ms: cap.expiry_ms,
                burned: cap.burned,
            });
            let expected = model
                .liquidation_call(
                    *now, user, instrument, deficit, band, view, SLAB_ID, escrow, &marks,
                )
                .map(|(residual, closed, debit)| {
                    vec![
                        residual as u64,
                        (residual >> 64) as u64,
                        closed,
                        debit as u64,
                        (debit >> 64) as u64,
                    ]
                });
            Step {
                entry: "liquidation_call",
                args: vec![
                    user,
                    instrument,
                    deficit as u64,
                    (deficit >> 64) as u64,
                    band,
                    cap_id,
                ],
                now: *now,
                expected,
                funding: Some(Funding {
                    cap: Some(cap),
                    user,
                    escrow,
                }),
            }
        }
        30 if rng.below(2) == 0 => {
            // Governance pays bad debt from the slab's insurance: mostly an account that has
            // some.
            let owing: Vec<u64> = state
                .accounts
                .iter()
                .filter(|(_, a)| a.cash < 0)
                .map(|(&u, _)| u)
                .collect();
            let user = match owing.len() {
                0 => user,
                n if rng.below(8) != 0 => owing[rng.below(n as u64) as usize],
                _ => user,
            };
            let amount = u128::from(rng.below(2_000));
            let expected = model
                .cover_bad_debt(user, amount)
                .map(|covered| vec![covered as u64, (covered >> 64) as u64]);
            Step {
                entry: "cover_bad_debt",
                args: vec![user, amount as u64, 0],
                now: *now,
                expected,
                funding: None,
            }
        }
        31 => {
            let live: Vec<u64> = state.holds.keys().copied().collect();
            let hold_id = match rng.below(6) {
                _ if live.is_empty() => rng.below(state.next_hold_id + 2),
                0 => rng.below(state.next_hold_id + 2),
                _ => live[rng.below(live.len() as u64) as usize],
            };
            let expected = model
                .band(hold_id, &marks)
                .map(|(then, now, within)| vec![then, now, within]);
            Step {
                entry: "band",
                args: vec![hold_id],
                now: *now,
                expected,
                funding: None,
            }
        }
        32 if rng.below(4) == 0 => {
            // Governance caps the fees: mostly above the slab's (2 and 5 bps), now and then
            // below one of them, so commits are refused until the next call.
            let (maker, taker) = match rng.below(12) {
                0 => (1, 10),
                1 => (10, 4),
                _ => (2 + rng.below(5), 5 + rng.below(5)),
            };
            let expected = model.set_fee_caps(maker, taker).map(|()| vec![]);
            Step {
                entry: "set_fee_caps",
                args: vec![maker, taker],
                now: *now,
                expected,
                funding: None,
            }
        }
        32 => {
            // A keeper's funding call, mostly after the interval turned (once or many times);
            // otherwise a no-op within an interval already applied.
            if rng.below(4) == 0 {
                *now += rng.below(2 * p.funding_interval_ms);
            }
            let instrument = if rng.below(30) == 0 { 2 } else { rng.below(2) };
            let expected = model
                .apply_funding(*now, instrument, &oracles.feeds_by_instrument())
                .map(|(cum, intervals)| {
                    let cum = cum as u128;
                    vec![cum as u64, (cum >> 64) as u64, intervals]
                });
            Step {
                entry: "apply_funding",
                args: vec![instrument],
                now: *now,
                expected,
                funding: None,
            }
        }
        _ => {
            let expected = model.account(user, &marks).map(|(cash, im, mm)| {
                vec![
                    cash as u64,
                    (cash >> 64) as u64,
                    im as u64,
                    (im >> 64) as u64,
                    mm as u64,
                    (mm >> 64) as u64,
                ]
            });
            Step {
                entry: "account",
                args: vec![user],
                now: *now,
                expected,
                funding: None,
            }
        }
    }
}

/// The return words of a `reserve` the model made.
fn reserved_words(r: &Reserved) -> Vec<u64> {
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
}

/// The return words of a `commit` the model made.
fn committed_words(c: &Committed) -> Vec<u64> {
    vec![
        c.filled_qty,
        c.avg_px,
        c.total_fee as u64,
        (c.total_fee >> 64) as u64,
        c.total_debit as u64,
        (c.total_debit >> 64) as u64,
    ]
}

/// A round trip that makes a profit within one batch, so the guard's tax is exercised: a DLP
/// maker asks, the taker buys it, the maker bids above that price, the taker sells to the bid.
/// Each stage is one call; the plan ends at the first call the model refuses.
#[derive(Clone, Copy, Debug)]
struct RoundTrip {
    instrument: u64,
    maker: u64,
    taker: u64,
    stage: u8,
    bought_at: u64,
    hold: u64,
}

impl RoundTrip {
    fn start(rng: &mut Rng, state: &SlabState) -> Option<RoundTrip> {
        let maker = state
            .accounts
            .iter()
            .find(|(user, a)| a.dlp && **user >= 3)
            .map(|(&user, _)| user)?;
        Some(RoundTrip {
            instrument: rng.below(2),
            maker,
            taker: 1 + rng.below(2),
            stage: 0,
            bought_at: 0,
            hold: 0,
        })
    }
}

/// The next call of the round trip under way, if any (README "Aggressor round-trip guard").
fn round_trip_step(
    model: &mut Model,
    p: &Params,
    now: &mut u64,
    oracles: &mut Oracles,
    state: &SlabState,
    marks: &[u64],
) -> Option<Step> {
    let mut plan = oracles.round_trip.take()?;
    let row = plan.instrument as usize;
    let ip = &p.instruments[row];
    let book = &state.instruments[row];
    let qty = 2 * ip.lot;
    // Quotes wait for the freeze window to close, so they are not refused for it.
    let unfrozen = |now: &mut u64| *now = (*now).max(book.freeze_until_ms);
    let step = match plan.stage {
        0 | 3 => {
            unfrozen(now);
            let (side, price) = if plan.stage == 0 {
                let above_bids = book.bids.first().map_or(0, |l| l.price + ip.tick);
                (1, oracles.mid(p, row).max(above_bids))
            } else {
                let below_asks = book.asks.first().map_or(u64::MAX, |l| l.price - ip.tick);
                let price = (plan.bought_at + 2 * ip.tick).min(below_asks);
                if price <= plan.bought_at {
                    return None;
                }
                (0, price)
            };
            plan.bought_at = price;
            let expected = model
                .place_order(*now, plan.maker, plan.instrument, side, price, qty)
                .map(|id| vec![id]);
            Step {
                entry: "place_order",
                args: vec![plan.maker, plan.instrument, side, price, qty],
                now: *now,
                expected,
                funding: None,
            }
        }
        1 | 4 => {
            let side = u64::from(plan.stage == 4);
            let args = vec![
                1,
                plan.taker,
                plan.instrument,
                side,
                qty,
                plan.bought_at,
                1_000,
            ];
            let expected = model
                .reserve(
                    *now,
                    1,
                    plan.taker,
                    plan.instrument,
                    side,
                    qty,
                    plan.bought_at,
                    1_000,
                    [0; 4],
                    marks,
                )
                .map(|r| {
                    plan.hold = r.hold_id;
                    reserved_words(&r)
                });
            let mut args = args;
            args.extend([0; 4]);
            Step {
                entry: "reserve",
                args,
                now: *now,
                expected,
                funding: None,
            }
        }
        _ => {
            let max_charge = state.holds.get(&plan.hold)?.max_charge;
            let cap = Cap::new(plan.taker, SLAB_ID, 0, max_charge, *now + 1_000);
            let escrow = max_charge * 2;
            oracles.next_cap += 1;
            let view = CapView {
                user: cap.user,
                slab: cap.slab,
                asset: cap.asset,
                remaining: cap.remaining,
                expiry_ms: cap.expiry_ms,
                burned: cap.burned,
            };
            let expected = model
                .commit(
                    *now,
                    plan.hold,
                    Some(view),
                    SLAB_ID,
                    escrow,
                    marks,
                    [0; 4],
                    0,
                )
                .map(|c| committed_words(&c));
            Step {
                entry: "commit",
                args: vec![plan.hold, oracles.next_cap - 1, 0, 0, 0, 0, 0],
                now: *now,
                expected,
                funding: Some(Funding {
                    cap: Some(cap),
                    user: plan.taker,
                    escrow,
                }),
            }
        }
    };
    if step.expected.is_ok() && plan.stage < 5 {
        plan.stage += 1;
        oracles.round_trip = Some(plan);
    }
    Some(step)
}

/// What a differential run reached.
#[derive(Debug, Default)]
struct Coverage {
    outcomes: BTreeMap<(&'static str, String), u64>,
    most_levels: usize,
    most_orders: usize,
    promoted: u64,
    /// Holds of an earlier epoch a `batch_open` released (F1).
    released_holds: u64,
    multi_level_holds: u64,
    pool_full: u64,
    flips: u64,
    partial_fills: u64,
    prints_overwritten: bool,
    /// Fills of maker orders placed after their batch opened (M9).
    jit_fills: u64,
    /// Fills that paid a maker its rebate, and fills that withheld it (JIT or too fresh).
    rebates_paid: u64,
    rebates_withheld: u64,
    /// Commits that created an overlap of round-trip legs: taxed (profitable) or not.
    arg_taxed: u64,
    arg_untaxed: u64,
    /// Funding: applications that moved an index, that applied several intervals at once,
    /// keeper calls within an interval already applied (no-ops), and positions that settled
    /// funding at a fill.
    funding_moved: u64,
    funding_many_intervals: u64,
    funding_noops: u64,
    funding_settled: u64,
    /// Liquidations: positions partly and fully closed, deficits left over, sweeps stopped by
    /// the band with depth beyond it, bad debt left, bad debt governance covered.
    liquidated_partly: u64,
    liquidated_fully: u64,
    liquidation_residuals: u64,
    liquidation_band_hits: u64,
    bad_debts: u64,
    bad_debt_covered: u64,
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

/// `Σ cash − Σ qty × entry × contract_size − Σ F + fees + insurance − collected`, with `F =
/// qty × contract_size × (cum_funding − last_funding)` a position's unsettled funding: zero when
/// the slab balances (README, "Positions").
fn conservation_gap(state: &SlabState, p: &Params) -> i128 {
    let cash: i128 = state.accounts.values().map(|a| a.cash).sum();
    let (basis, unsettled): (Vec<i128>, Vec<i128>) = state
        .accounts
        .values()
        .flat_map(|a| &a.positions)
        .map(|(&i, pos)| {
            let units = i128::from(pos.qty) * i128::from(p.instruments[i as usize].contract_size);
            let index = state.instruments[i as usize].cum_funding;
            (
                units * i128::from(pos.entry_px),
                units * (index - pos.last_funding),
            )
        })
        .unzip();
    let basis: i128 = basis.iter().sum();
    let unsettled: i128 = unsettled.iter().sum();
    cash - basis - unsettled + state.fees_collected as i128 + state.insurance as i128
        - state.collected as i128
}

/// The cap id a step presents: `liquidation_call`'s sixth argument, `commit`'s second.
fn cap_arg(s: &Step) -> u64 {
    if s.entry == "liquidation_call" {
        s.args[5]
    } else {
        s.args[1]
    }
}

/// Whether the outcome is the one the reference expects.
fn same_outcome(expected: &Result<Vec<u64>, Abort>, outcome: &Outcome) -> bool {
    match (expected, &outcome.result) {
        (Ok(words), Ok(ret)) => ret == words,
        (Err(Abort::Refused(refusal)), Err(trap)) => {
            trap.kind
                == TrapKind::Host {
                    id: id::SAFE_DEBIT,
                    code: refusal.host_code(),
                }
        }
        (Err(abort), Err(trap)) => {
            trap.kind
                == TrapKind::Abort {
                    code: abort.code() as u8,
                }
        }
        _ => false,
    }
}

fn run_differential(c: &Compiled, seed: u64, steps: usize) -> Coverage {
    let p = model_params(c);
    let instruments = p.instruments.len();
    let engines = Engine::both(&c.program);
    let mut worlds: Vec<World> = engines.iter().map(|_| World::new(c)).collect();
    let mut model = Model::new(model_params(c));
    let mut rng = Rng::new(seed);
    let mut now = 1_000u64;
    let views = oracle_views(c);
    let mut oracles = Oracles {
        marks: vec![0; c.layout.views as usize],
        feeds: vec![FundingFeed::default(); c.layout.views as usize],
        views,
        next_cap: 0,
        just_reserved: None,
        salts: BTreeMap::new(),
        last_take: None,
        round_trip: None,
        drift: vec![0; instruments],
    };
    let mut coverage = Coverage::default();
    let mut history: Vec<String> = Vec::new();
    for step in 0..steps {
        if rng.below(25) == 0 {
            history.push(oracles.move_mark(&mut rng, &p, now));
        }
        if rng.below(40) == 0 {
            let row = rng.below(instruments as u64) as usize;
            let step = 1 + rng.below(8) as i64;
            let up = rng.below(2) == 0;
            oracles.drift[row] =
                (oracles.drift[row] + if up { step } else { -step }).clamp(-40, 40);
            history.push(format!(
                "quotes of instrument {row} centre {} ticks off",
                oracles.drift[row]
            ));
        }
        let before = model.state();
        let s = draw(&mut rng, &mut model, &p, &mut now, &mut oracles);
        history.push(format!(
            "{} {:?} at {}{}",
            s.entry,
            s.args,
            s.now,
            s.funding
                .map(|f| format!(" with {f:?}"))
                .unwrap_or_default()
        ));
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
        assert_eq!(
            conservation_gap(&want, &p),
            0,
            "{}: the reference does not balance",
            context()
        );
        for (engine, world) in engines.iter().zip(&mut worlds) {
            if let Some(funding) = s.funding {
                if let Some(cap) = funding.cap {
                    assert_eq!(world.host.ledger.add_cap(cap), cap_arg(&s), "cap ids agree");
                }
                world
                    .host
                    .ledger
                    .set_escrow(funding.user, SLAB_ID, 0, funding.escrow);
            }
            let segment_before = world.instance.memory().words(Segment::Slab).to_vec();
            let outcome = run(engine, world, &s, &oracles);
            if outcome.result.is_err() {
                // An abort changes nothing, byte for byte (the VM's journal undid every write).
                assert!(
                    world.instance.memory().words(Segment::Slab) == segment_before.as_slice(),
                    "{}: an aborted call changed the slab",
                    context()
                );
            }
            assert!(
                same_outcome(&s.expected, &outcome),
                "{} on the {}\nreference {:?}, program {:?}",
                context(),
                engine.name(),
                s.expected,
                outcome.result
            );
            assert!(
                outcome.gas_used <= c.bounds[s.entry],
                "{}: gas {} above the bound {}",
                context(),
                outcome.gas_used,
                c.bounds[s.entry]
            );
            // The ledger: the escrow paid exactly the debit, which the slab's account holds.
            if let Some(funding) = s.funding {
                // Where the call returns its debit: commit's fourth value, the liquidation's third.
                let at = if s.entry == "commit" { 4 } else { 3 };
                let debit = match &s.expected {
                    Ok(words) => u128::from(words[at]) | u128::from(words[at + 1]) << 64,
                    Err(_) => 0,
                };
                let ledger = &world.host.ledger;
                assert_eq!(
                    ledger.escrow_balance(funding.user, SLAB_ID, 0),
                    funding.escrow - debit,
                    "{}: escrow on the {}",
                    context(),
                    engine.name()
                );
                if let Some(cap) = funding.cap {
                    assert_eq!(
                        ledger.caps[&cap_arg(&s)].remaining,
                        cap.remaining - debit,
                        "{}: cap on the {}",
                        context(),
                        engine.name()
                    );
                }
            }
            assert_eq!(
                world.host.ledger.account_balance(SLAB_ID, 0),
                want.collected,
                "{}: the slab's ledger account on the {}",
                context(),
                engine.name()
            );
            let words = world.instance.memory().words(Segment::Slab);
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
                "batch_open" => {
                    coverage.promoted += words[1];
                    coverage.released_holds += words[2];
                }
                "reserve" => {
                    let slices = &want.holds[&words[0]].slices;
                    if slices.first().map(|s| s.price) != slices.last().map(|s| s.price) {
                        coverage.multi_level_holds += 1;
                    }
                }
                "commit" => record_commit(&mut coverage, &p, &before, &want, &s, words),
                _ => {}
            }
            match s.entry {
                "liquidation_call" => {
                    record_liquidation(&mut coverage, &p, &before, &want, &s, words, &oracles)
                }
                "cover_bad_debt" => coverage.bad_debt_covered += u64::from(words[0] > 0),
                _ => {}
            }
            if matches!(s.entry, "batch_open" | "apply_funding") {
                let i = s.args[0] as usize;
                let (was, is) = (&before.instruments[i], &want.instruments[i]);
                coverage.funding_moved += u64::from(was.cum_funding != is.cum_funding);
                coverage.funding_many_intervals +=
                    u64::from(is.funding_interval > was.funding_interval + 1 && was.index_ms != 0);
                coverage.funding_noops += u64::from(s.entry == "apply_funding" && words[2] == 0);
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
        coverage.prints_overwritten |= want.trades_written > p.trades_capacity as u64;
    }
    coverage
}

/// Counts what a successful commit (step `s`, returning `words`) did: positions that flipped,
/// maker orders left partly filled, JIT fills, rebates paid and withheld, round-trip overlaps
/// taxed and not.
fn record_commit(
    coverage: &mut Coverage,
    p: &Params,
    before: &SlabState,
    after: &SlabState,
    s: &Step,
    words: &[u64],
) {
    let hold_id = s.args[0];
    let hold = &before.holds[&hold_id];
    let instrument = &before.instruments[hold.instrument as usize];
    let orders: BTreeMap<u64, &OrderState> = instrument
        .bids
        .iter()
        .chain(&instrument.asks)
        .flat_map(|l| &l.orders)
        .map(|o| (o.order_id, o))
        .collect();
    // Positions in the hold's instrument that owed or were owed funding and settled it.
    let index = |state: &SlabState| state.instruments[hold.instrument as usize].cum_funding;
    for (user, account) in &before.accounts {
        let Some(position) = account.positions.get(&hold.instrument) else {
            continue;
        };
        let settled = after.accounts[user]
            .positions
            .get(&hold.instrument)
            .is_none_or(|p| p.last_funding != position.last_funding);
        if position.last_funding != index(before) && settled {
            coverage.funding_settled += 1;
        }
    }
    let mut notional = 0u128;
    for slice in &hold.slices {
        let order = orders[&slice.order_id];
        let jit = p.jit_penalty && order.created_ms >= instrument.batch_open_ms;
        coverage.jit_fills += u64::from(jit);
        if !jit && s.now - order.created_ms >= p.rebate_delay_ms {
            coverage.rebates_paid += 1;
        } else {
            coverage.rebates_withheld += 1;
        }
        notional += u128::from(slice.qty)
            * u128::from(p.instruments[hold.instrument as usize].contract_size)
            * u128::from(slice.price);
    }
    // The overlap this commit created, from the ledger before and after it.
    let overlap = |state: &SlabState| {
        state
            .aggressor
            .get(&(hold.user, hold.instrument))
            .filter(|e| e.epoch == instrument.epoch)
            .map_or(0, |e| e.buy_qty.min(e.sell_qty))
    };
    if overlap(after) > overlap(before) {
        let total_fee = u128::from(words[2]) | u128::from(words[3]) << 64;
        let taker_fee = notional * u128::from(p.taker_bps) / 10_000;
        if total_fee > taker_fee {
            coverage.arg_taxed += 1;
        } else {
            coverage.arg_untaxed += 1;
        }
    }
    for (user, account) in &before.accounts {
        for (instrument, position) in &account.positions {
            let now = after.accounts[user].positions.get(instrument);
            if now.is_some_and(|p| p.qty.signum() == -position.qty.signum()) {
                coverage.flips += 1;
            }
        }
    }
    let resting: BTreeMap<u64, u64> = after
        .instruments
        .iter()
        .flat_map(|i| i.bids.iter().chain(&i.asks))
        .flat_map(|l| &l.orders)
        .map(|o| (o.order_id, o.qty))
        .collect();
    for slice in &before.holds[&hold_id].slices {
        if resting.get(&slice.order_id).is_some_and(|&qty| qty > 0) {
            coverage.partial_fills += 1;
        }
    }
}

/// Counts what a successful `liquidation_call` (step `s`, returning `words`) did.
fn record_liquidation(
    coverage: &mut Coverage,
    p: &Params,
    before: &SlabState,
    after: &SlabState,
    s: &Step,
    words: &[u64],
    oracles: &Oracles,
) {
    let (user, instrument, band) = (s.args[0], s.args[1] as usize, s.args[4]);
    let (residual, closed) = (u128::from(words[0]) | u128::from(words[1]) << 64, words[2]);
    let position = |state: &SlabState| {
        state
            .accounts
            .get(&user)
            .and_then(|a| a.positions.get(&(instrument as u64)))
            .cloned()
    };
    let Some(held) = position(before) else {
        return;
    };
    let left = position(after);
    if closed > 0 {
        if left.is_some() {
            coverage.liquidated_partly += 1;
        } else {
            coverage.liquidated_fully += 1;
        }
    }
    if residual > 0 && left.is_some() {
        coverage.liquidation_residuals += 1;
        // Depth of others the band kept the sweep from (L3).
        let mark = oracles.by_instrument()[instrument];
        let width = mark * band.min(p.liquidation_band_bps) / 10_000;
        let book = &before.instruments[instrument];
        let (levels, beyond): (&Vec<Level>, Box<dyn Fn(u64) -> bool>) = if held.qty > 0 {
            (&book.bids, Box::new(move |price| price < mark - width))
        } else {
            (&book.asks, Box::new(move |price| price > mark + width))
        };
        let blocked = levels.iter().any(|level| {
            beyond(level.price)
                && level
                    .orders
                    .iter()
                    .any(|o| o.live && o.user != user && o.qty > o.reserved_qty)
        });
        coverage.liquidation_band_hits += u64::from(blocked);
    }
    if after.accounts[&user].cash < 0 {
        coverage.bad_debts += 1;
    }
}

/// Steps per run: ≥ 2,000 per CI run (issue 23).
const STEPS: usize = 8_000;

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
         dead holds released by batch_open {}, holds across levels {}, pool-full refusals {}, \
         position flips {}, partial maker fills {}, trade ring wrapped {}",
        coverage.most_levels,
        coverage.most_orders,
        coverage.promoted,
        coverage.released_holds,
        coverage.multi_level_holds,
        coverage.pool_full,
        coverage.flips,
        coverage.partial_fills,
        coverage.prints_overwritten
    );
    println!(
        "anti-toxicity: JIT fills {}, rebates paid {} and withheld {}, round trips taxed {} and \
         not taxed (unprofitable) {}",
        coverage.jit_fills,
        coverage.rebates_paid,
        coverage.rebates_withheld,
        coverage.arg_taxed,
        coverage.arg_untaxed
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
        ("commit", "ok"),
        ("apply_funding", "ok"),
        ("liquidation_call", "ok"),
        ("liquidation_call", "BadBand"),
        ("liquidation_call", "Refused(CapExpired)"),
        ("liquidation_call", "Refused(CapScope)"),
        ("commit", "UnknownHold"),
        ("commit", "Expired"),
        ("commit", "NoMark"),
        ("commit", "BelowMaintenance"),
        ("commit", "Refused(UnknownCap)"),
        ("commit", "Refused(CapExpired)"),
        ("commit", "Refused(CapScope)"),
        ("commit", "Refused(CapRemaining)"),
        ("commit", "Refused(EscrowBalance)"),
        ("commit", "KillBand"),
        ("commit", "BadReveal"),
        ("commit", "FeeCap"),
        ("place_order", "Frozen"),
        ("band", "ok"),
        ("set_fee_caps", "ok"),
        ("account", "ok"),
    ] {
        assert!(
            coverage.outcomes.contains_key(&(entry, label.to_string())),
            "{entry} never gave {label}"
        );
    }
    assert!(coverage.promoted > 0, "no pending order was promoted");
    // F1: a batch releases the holds its epoch killed. (So a commit's `EPOCH` refusal needs
    // more than 16 dead holds on one instrument: `slab_commit.rs` reaches it.)
    assert!(coverage.released_holds > 0, "no batch_open released a hold");
    assert!(coverage.multi_level_holds > 0, "no hold walked two levels");
    assert!(coverage.flips > 0, "no position flipped");
    assert!(
        coverage.partial_fills > 0,
        "no maker order was partly filled"
    );
    assert!(coverage.prints_overwritten, "the trade ring never wrapped");
    assert!(coverage.jit_fills > 0, "no JIT order filled");
    assert!(coverage.rebates_paid > 0, "no rebate was paid");
    assert!(coverage.rebates_withheld > 0, "no rebate was withheld");
    assert!(coverage.arg_taxed > 0, "no round trip was taxed");
    println!(
        "funding: indexes moved {}, several intervals at once {}, keeper no-ops {}, positions settled at a fill {}",
        coverage.funding_moved,
        coverage.funding_many_intervals,
        coverage.funding_noops,
        coverage.funding_settled
    );
    assert!(coverage.funding_moved > 0, "no funding index moved");
    assert!(
        coverage.funding_many_intervals > 0,
        "funding never applied several intervals at once"
    );
    assert!(coverage.funding_noops > 0, "no keeper call was a no-op");
    assert!(coverage.funding_settled > 0, "no position settled funding");
    println!(
        "liquidation: partly closed {}, fully closed {}, deficits left {}, stopped by the band {}, bad debts {}, bad debt covered {}",
        coverage.liquidated_partly,
        coverage.liquidated_fully,
        coverage.liquidation_residuals,
        coverage.liquidation_band_hits,
        coverage.bad_debts,
        coverage.bad_debt_covered
    );
    assert!(
        coverage.liquidated_partly > 0,
        "no liquidation closed part of a position"
    );
    assert!(
        coverage.liquidated_fully > 0,
        "no liquidation closed a whole position"
    );
    assert!(
        coverage.liquidation_residuals > 0,
        "no liquidation left a deficit"
    );
    assert!(
        coverage.liquidation_band_hits > 0,
        "the band never stopped a liquidation"
    );
    assert!(coverage.bad_debts > 0, "no liquidation left bad debt");
    assert!(
        coverage.bad_debt_covered > 0,
        "governance never covered bad debt"
    );
    assert!(
        coverage.arg_untaxed > 0,
        "no unprofitable round trip went untaxed"
    );
}

/// Each planted bug (one guard left out of the template) is caught by the differential run.
#[test]
fn every_planted_bug_is_caught() {
    let seed = replay_seed("CURVE_SEED", 0x51AB);
    println!("seed {seed}");
    // `NoDebitGuard` shows only when a commit's shortfall exceeds its `max_charge`, which the
    // random walk reaches in some runs and not others: `slab_commit`'s
    // `a_commit_without_its_debit_guard_is_caught` catches it every time. `NoEpoch` needs a
    // hold of a dead epoch that its batch did not release (more than 3 on one instrument):
    // `a_commit_of_a_dead_epoch_is_caught`.
    for mutation in Mutation::ALL
        .into_iter()
        .filter(|m| !matches!(m, Mutation::NoDebitGuard | Mutation::NoEpoch))
    {
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
        "    POOLS accounts=8 orders=32 positions=16 reservations=4 slices=8 trades=8 aggressor=6\n",
        "",
    );
    let c = compiled(&script);
    for (entry, bound) in &c.bounds {
        println!("{entry}: {bound} gas");
        // Seed 002's ceiling: 300,000 compute units per instruction.
        assert!(*bound <= 300_000, "{entry}: {bound}");
    }
    // Each anti-toxicity check is a step of its own, so the manifest states what it costs.
    let checked = curvescript_check::check_source(&script, None);
    let block = checked
        .script
        .blocks
        .iter()
        .find(|b| b.kind == BlockKind::Slab)
        .expect("a SLAB block");
    let lowered = slab::build(block).expect("fits").lowered;
    let step = |entry: &str, name: &str| {
        lowered
            .step_gas
            .iter()
            .find(|(e, _)| e == entry)
            .and_then(|(_, steps)| steps.iter().find(|(s, _)| s == name))
            .map(|(_, gas)| *gas)
            .unwrap_or_else(|| panic!("{entry} has no step {name}"))
    };
    for (entry, name) in [
        ("commit", "slab.commit/reveal"),
        ("commit", "slab.commit/fee-caps"),
        ("commit", "slab.commit/kill-band"),
        ("commit", "slab.commit/round-trip-guard"),
        ("place_order", "slab.place_order/freeze"),
        ("batch_open", "slab.batch_open/freeze"),
        ("batch_open", "slab.batch_open/funding"),
    ] {
        println!("{name}: {} gas at most", step(entry, name));
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
