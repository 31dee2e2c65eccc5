//! A plain-Rust reference model of the SLAB template's order book and reservations, written
//! from `compiler/core/src/templates/slab/README.md` (authoritative) and
//! `shared/spec/percolator.md` (background) alone, without reading the template.
//!
//! The model keeps the abstract [`SlabState`] itself as its data: per instrument and side a
//! `Vec<Level>` sorted best first, each level's orders in FIFO order, accounts and holds in
//! `BTreeMap`s. Lookups are linear scans over the book — slower than the template's indexes
//! but obviously correct, and O(book size) per call is plenty for the differential tests.
//!
//! Every entrypoint runs on a clone of the model and commits the clone only on success, so an
//! aborted call leaves the model exactly unchanged, as the VM undoes an aborted call's writes.
//!
//! Choices where the README is silent or ambiguous (each also commented where it is made):
//! - `set_maker_class` checks `BAD_CLASS`, then finds or creates the account (`BAD_USER` for
//!   user 0, `ACCOUNTS_FULL`), then `DLP_FULL`; a new account set to REG is still created.
//! - `cancel` of a hold bumps `book_seqno` once per slice whose order is closing (its visible
//!   `qty` drops by the slice), whether or not that slice empties the order.
//! - `batch_open` compares `now ≥ batch_open_ms + batch_ms` without overflow (in `u128`);
//!   `expiry_ms = now + ttl` saturates at `u64::MAX`; `epoch` increments with wrapping.
//! - The ids 0 and `u64::MAX` are never valid order or hold ids.

use std::collections::{BTreeMap, BTreeSet};

use super::state::*;

/// Longest reservation TTL; a longer one is clamped to it (README `reserve` step 2).
pub const TTL_MAX_MS: u64 = 120_000;
/// Most orders a reserve walk looks at, taken or skipped.
pub const RESERVE_VISITS_MAX: usize = 128;
/// Most slices one hold has.
pub const SLICES_PER_HOLD_MAX: usize = 8;
/// Most levels of an order's side that may be strictly better than its price.
pub const LEVEL_DEPTH_MAX: usize = 1_024;
/// Most PENDING orders per instrument.
pub const PENDING_MAX: usize = 2_048;
/// Most DLP accounts at once.
pub const DLP_MAX: u64 = 100;

/// One instrument's static parameters, as its `INSTRUMENT` statement declares them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentParams {
    /// Price granularity: every price is a multiple of it.
    pub tick: u64,
    /// Quantity granularity: every quantity is a multiple of it.
    pub lot: u64,
    /// Largest admissible price.
    pub price_max: u64,
    /// Largest admissible quantity.
    pub qty_max: u64,
    /// Underlying units per contract.
    pub contract_size: u64,
}

/// The slab's static parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// The instruments, in declaration order.
    pub instruments: Vec<InstrumentParams>,
    /// The DLP class's quoted-notional allowance; `None` (no `MAKER_CLASS` DLP statement) is 0.
    pub dlp_allowance: Option<u128>,
    /// The REG class's quoted-notional allowance; `None` is 0.
    pub reg_allowance: Option<u128>,
    /// The batch window: the least time between two `batch_open`s of an instrument.
    pub batch_ms: u64,
    /// Account pool capacity.
    pub accounts_capacity: u32,
    /// Order pool capacity (all instruments together).
    pub orders_capacity: u32,
    /// Reservation (hold) pool capacity.
    pub reservations_capacity: u32,
    /// Slice pool capacity (all holds together).
    pub slices_capacity: u32,
    /// Taker fee in basis points, used for `max_charge`.
    pub taker_bps: u64,
}

/// The README's abort codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// Instrument index out of range.
    UnknownInstrument = 1,
    /// Side not 0 or 1.
    BadSide = 2,
    /// Price 0 or above `price_max`.
    PriceRange = 3,
    /// Price not a multiple of `tick`.
    Tick = 4,
    /// Quantity 0 or above `qty_max`.
    QtyRange = 5,
    /// Quantity not a multiple of `lot`.
    Lot = 6,
    /// User id 0.
    BadUser = 7,
    /// No account slot.
    AccountsFull = 8,
    /// The maker class's allowance would be exceeded.
    Allowance = 9,
    /// A maker order would cross the opposite best.
    Crosses = 10,
    /// `PENDING_MAX` pending orders on the instrument.
    PendingFull = 11,
    /// No order slot.
    OrdersFull = 12,
    /// Too many better levels on the order's side.
    LevelDepth = 13,
    /// No resting order with that id.
    UnknownOrder = 14,
    /// The order belongs to another user.
    NotOwner = 15,
    /// `batch_open` before the batch window elapsed.
    BatchEarly = 16,
    /// Maker class not 0 or 1.
    BadClass = 17,
    /// `DLP_MAX` DLP accounts already.
    DlpFull = 18,
    /// An id index is full (never produced by the model: the tests keep indexes half empty).
    IndexFull = 19,
    /// A reservation TTL of 0.
    BadTtl = 20,
    /// No reservation slot.
    ReservationsFull = 21,
    /// No slice slot during the walk.
    SlicesFull = 22,
    /// The walk found nothing to hold.
    NoLiquidity = 23,
    /// An entrypoint of a later issue.
    NotBuilt = 40,
}

impl Abort {
    /// The numeric abort code the VM reports.
    pub fn code(self) -> u64 {
        self as u64
    }
}

/// What a successful `reserve` returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The new hold's id.
    pub hold_id: u64,
    /// Quantity held.
    pub filled_qty: u64,
    /// ⌊Σ take × price / filled⌋.
    pub vwap_px: u64,
    /// The last slice's price.
    pub worst_px: u64,
    /// Upper bound of what the commit can cost.
    pub max_charge: u128,
    /// `now + ttl` (TTL clamped).
    pub expiry_ms: u64,
    /// The current `book_seqno` (unchanged by the reserve).
    pub book_seqno: u64,
}

/// Where a resting order sits: instrument, side (0 bids, 1 asks), level index, index in level.
#[derive(Clone, Copy, Debug)]
struct Loc {
    instrument: usize,
    side: u64,
    level: usize,
    pos: usize,
}

/// The reference model: parameters plus the abstract state, which is its only data.
#[derive(Clone, Debug)]
pub struct Model {
    params: Params,
    st: SlabState,
}

impl Model {
    /// An empty slab: no accounts, orders or holds; both id counters at 1.
    pub fn new(params: Params) -> Model {
        let instruments = params
            .instruments
            .iter()
            .map(|_| InstrumentState::default())
            .collect();
        Model {
            params,
            st: SlabState {
                next_order_id: 1,
                book_seqno: 0,
                dlp_count: 0,
                accounts: BTreeMap::new(),
                instruments,
                next_hold_id: 1,
                holds: BTreeMap::new(),
            },
        }
    }

    /// Runs `f` on a clone and keeps the clone only when `f` succeeds, so that an aborted
    /// call changes nothing.
    fn atomic<T>(&mut self, f: impl FnOnce(&mut Model) -> Result<T, Abort>) -> Result<T, Abort> {
        let mut next = self.clone();
        let out = f(&mut next)?;
        *self = next;
        Ok(out)
    }

    /// `place_order(user, instrument, side, price, qty) -> order_id` (README, checks 1–10).
    pub fn place_order(
        &mut self,
        now_ms: u64,
        user: u64,
        instrument: u64,
        side: u64,
        price: u64,
        qty: u64,
    ) -> Result<u64, Abort> {
        self.atomic(|m| m.place_order_inner(now_ms, user, instrument, side, price, qty))
    }

    fn place_order_inner(
        &mut self,
        now_ms: u64,
        user: u64,
        instrument: u64,
        side: u64,
        price: u64,
        qty: u64,
    ) -> Result<u64, Abort> {
        // 1.
        let ip = self.instrument_params(instrument)?.clone();
        let i = instrument as usize;
        // 2.
        if side > 1 {
            return Err(Abort::BadSide);
        }
        // 3.
        check_price(&ip, price)?;
        // 4.
        check_qty(&ip, qty)?;
        // 5.
        self.find_or_create_account(user)?;
        let acct = self.st.accounts[&user].clone();
        // 6. The allowance of the account's class at this moment.
        let notional = notional(qty, ip.contract_size, price);
        let allowance = if acct.dlp {
            self.params.dlp_allowance
        } else {
            self.params.reg_allowance
        }
        .unwrap_or(0);
        match acct.quoted.checked_add(notional) {
            Some(total) if total <= allowance => {}
            _ => return Err(Abort::Allowance),
        }
        // 7. Post-only against the opposite side's best level, LIVE or PENDING orders alike
        // (levels hold both).
        let inst = &self.st.instruments[i];
        let crosses = if side == 0 {
            inst.asks
                .first()
                .is_some_and(|best_ask| price >= best_ask.price)
        } else {
            inst.bids
                .first()
                .is_some_and(|best_bid| price <= best_bid.price)
        };
        if crosses {
            return Err(Abort::Crosses);
        }
        // 8. REG only.
        if !acct.dlp && inst.pending.len() >= PENDING_MAX {
            return Err(Abort::PendingFull);
        }
        // 9.
        if self.resting_orders() >= self.params.orders_capacity as usize {
            return Err(Abort::OrdersFull);
        }
        // 10. The number of strictly better levels is the insertion index in a best-first list.
        let levels = side_levels(inst, side);
        let better = levels
            .iter()
            .take_while(|l| is_better(side, l.price, price))
            .count();
        if better > LEVEL_DEPTH_MAX {
            return Err(Abort::LevelDepth);
        }

        let order_id = self.st.next_order_id;
        self.st.next_order_id = self.st.next_order_id.wrapping_add(1);
        let order = OrderState {
            order_id,
            user,
            qty,
            reserved_qty: 0,
            qty_orig: qty,
            live: acct.dlp,
            closing: false,
            created_ms: now_ms,
        };
        let inst = &mut self.st.instruments[i];
        if !acct.dlp {
            inst.pending.push(order_id);
        }
        let levels = side_levels_mut(inst, side);
        match levels.get_mut(better) {
            Some(level) if level.price == price => level.orders.push(order),
            _ => levels.insert(
                better,
                Level {
                    price,
                    orders: vec![order],
                },
            ),
        }
        let a = self
            .st
            .accounts
            .get_mut(&user)
            .expect("account just found or created");
        a.quoted += notional;
        a.orders += 1;
        self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        Ok(order_id)
    }

    /// `cancel_order(user, order_id) -> cancelled_qty`: cancels the unreserved quantity and
    /// marks the order closing.
    pub fn cancel_order(&mut self, now_ms: u64, user: u64, order_id: u64) -> Result<u64, Abort> {
        let _ = now_ms; // The README's cancel_order does not use the clock.
        self.atomic(|m| m.cancel_order_inner(user, order_id))
    }

    fn cancel_order_inner(&mut self, user: u64, order_id: u64) -> Result<u64, Abort> {
        // 1. (0 and u64::MAX never name an order: find_order cannot match them since ids start
        // at 1 and never reach MAX in practice, but reject them explicitly all the same.)
        if order_id == 0 || order_id == u64::MAX {
            return Err(Abort::UnknownOrder);
        }
        let loc = self.find_order(order_id).ok_or(Abort::UnknownOrder)?;
        // 2.
        let (owner, price, qty, reserved) = {
            let o = self.order(loc);
            (o.user, self.level_price(loc), o.qty, o.reserved_qty)
        };
        if owner != user {
            return Err(Abort::NotOwner);
        }
        let cancelled = qty - reserved;
        {
            let o = self.order_mut(loc);
            o.qty = reserved;
            o.closing = true;
        }
        let cs = self.params.instruments[loc.instrument].contract_size;
        let a = self
            .st
            .accounts
            .get_mut(&owner)
            .expect("an order's owner has an account");
        a.quoted -= notional(cancelled, cs, price);
        if reserved == 0 {
            self.remove_order(loc);
        }
        if cancelled > 0 {
            self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        }
        Ok(cancelled)
    }

    /// `batch_open(instrument) -> (epoch, promoted)`: opens a batch and promotes every PENDING
    /// order of the instrument.
    pub fn batch_open(&mut self, now_ms: u64, instrument: u64) -> Result<(u64, u64), Abort> {
        self.atomic(|m| m.batch_open_inner(now_ms, instrument))
    }

    fn batch_open_inner(&mut self, now_ms: u64, instrument: u64) -> Result<(u64, u64), Abort> {
        // 1.
        self.instrument_params(instrument)?;
        let i = instrument as usize;
        // 2. Compared in u128 so that a huge batch_open_ms + batch_ms cannot wrap (README
        // silent on overflow; the mathematical comparison is the contract's meaning).
        let inst = &self.st.instruments[i];
        if (now_ms as u128) < inst.batch_open_ms as u128 + self.params.batch_ms as u128 {
            return Err(Abort::BatchEarly);
        }
        let inst = &mut self.st.instruments[i];
        inst.epoch = inst.epoch.wrapping_add(1);
        inst.batch_open_ms = now_ms;
        // A set only to keep the promotion O(book × log pending).
        let pending: BTreeSet<u64> = std::mem::take(&mut inst.pending).into_iter().collect();
        // Promotion only flips the LIVE flag: orders keep their id and place in their level.
        for level in inst.bids.iter_mut().chain(inst.asks.iter_mut()) {
            for o in level.orders.iter_mut() {
                if pending.contains(&o.order_id) {
                    debug_assert!(!o.live);
                    o.live = true;
                }
            }
        }
        let epoch = inst.epoch;
        let promoted = pending.len() as u64;
        if promoted > 0 {
            self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
        }
        Ok((epoch, promoted))
    }

    /// `set_maker_class(user, class)`: 0 = REG, 1 = DLP.
    pub fn set_maker_class(&mut self, user: u64, class: u64) -> Result<(), Abort> {
        self.atomic(|m| m.set_maker_class_inner(user, class))
    }

    fn set_maker_class_inner(&mut self, user: u64, class: u64) -> Result<(), Abort> {
        if class > 1 {
            return Err(Abort::BadClass);
        }
        // README silent on the order of the remaining checks: the account must exist to know
        // its class, so find-or-create (BAD_USER, ACCOUNTS_FULL) comes before DLP_FULL. A new
        // account is created even when set to REG, the class it already has.
        self.find_or_create_account(user)?;
        let dlp = class == 1;
        let was = self.st.accounts[&user].dlp;
        if was == dlp {
            return Ok(());
        }
        if dlp {
            if self.st.dlp_count >= DLP_MAX {
                return Err(Abort::DlpFull);
            }
            self.st.dlp_count += 1;
        } else {
            self.st.dlp_count -= 1;
        }
        self.st.accounts.get_mut(&user).expect("just created").dlp = dlp;
        Ok(())
    }

    /// `reserve(...)`: holds quantity of LIVE resting orders for a taker (README checks 1–9).
    #[allow(clippy::too_many_arguments)]
    pub fn reserve(
        &mut self,
        now_ms: u64,
        route_id: u64,
        user: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        ttl_ms: u64,
        commitment: [u64; 4],
    ) -> Result<Reserved, Abort> {
        self.atomic(|m| {
            m.reserve_inner(
                now_ms, route_id, user, instrument, side, qty, limit_px, ttl_ms, commitment,
            )
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn reserve_inner(
        &mut self,
        now_ms: u64,
        route_id: u64,
        user: u64,
        instrument: u64,
        side: u64,
        qty: u64,
        limit_px: u64,
        ttl_ms: u64,
        commitment: [u64; 4],
    ) -> Result<Reserved, Abort> {
        // 1.
        let ip = self.instrument_params(instrument)?.clone();
        let i = instrument as usize;
        if side > 1 {
            return Err(Abort::BadSide);
        }
        // 2.
        if ttl_ms == 0 {
            return Err(Abort::BadTtl);
        }
        let ttl = ttl_ms.min(TTL_MAX_MS);
        // 3. (quantity before price here, unlike place_order.)
        check_qty(&ip, qty)?;
        // 4.
        check_price(&ip, limit_px)?;
        // 5.
        self.find_or_create_account(user)?;
        // 6.
        if self.st.holds.len() >= self.params.reservations_capacity as usize {
            return Err(Abort::ReservationsFull);
        }
        // 7. The walk over the opposite side: a taker buying (0) walks the asks (1).
        let slices_in_use: usize = self.st.holds.values().map(|h| h.slices.len()).sum();
        let slices_capacity = self.params.slices_capacity as usize;
        let contra = 1 - side;
        let mut qty_left = qty;
        let mut visits = 0usize;
        let mut slices: Vec<SliceState> = Vec::new();
        let inst = &mut self.st.instruments[i];
        let levels = side_levels_mut(inst, contra);
        'walk: for level in levels.iter_mut() {
            let crosses = if side == 0 {
                level.price <= limit_px
            } else {
                level.price >= limit_px
            };
            if !crosses {
                break;
            }
            for o in level.orders.iter_mut() {
                if qty_left == 0
                    || visits >= RESERVE_VISITS_MAX
                    || slices.len() >= SLICES_PER_HOLD_MAX
                {
                    break 'walk;
                }
                visits += 1;
                // A closing order's remaining quantity is all reserved, so `available` is 0
                // for it anyway; the explicit test documents the rule.
                let available = o.qty - o.reserved_qty;
                if !o.live || available == 0 || o.closing || o.user == user {
                    continue;
                }
                if slices_in_use + slices.len() >= slices_capacity {
                    return Err(Abort::SlicesFull);
                }
                let take = qty_left.min(available);
                o.reserved_qty += take;
                qty_left -= take;
                slices.push(SliceState {
                    order_id: o.order_id,
                    price: level.price,
                    qty: take,
                });
            }
        }
        // 8.
        let filled = qty - qty_left;
        if filled == 0 {
            return Err(Abort::NoLiquidity);
        }
        // 9. INDEX_FULL cannot happen in the model.

        let hold_id = self.st.next_hold_id;
        self.st.next_hold_id = self.st.next_hold_id.wrapping_add(1);
        let sum: u128 = slices.iter().map(|s| s.qty as u128 * s.price as u128).sum();
        let vwap_px = (sum / filled as u128) as u64;
        let worst_px = slices.last().expect("filled ≥ 1").price;
        let n = filled as u128 * ip.contract_size as u128 * worst_px as u128;
        let max_charge = n + n * self.params.taker_bps as u128 / 10_000;
        // README silent on overflow of now + ttl: saturate (tests keep the clock small).
        let expiry_ms = now_ms.saturating_add(ttl);
        let book_seqno = self.st.book_seqno;
        let epoch = self.st.instruments[i].epoch;
        self.st.holds.insert(
            hold_id,
            HoldState {
                route_id,
                user,
                instrument,
                side,
                qty: filled,
                vwap_px,
                worst_px,
                max_charge,
                commitment,
                book_seqno,
                expiry_ms,
                epoch,
                slices,
            },
        );
        Ok(Reserved {
            hold_id,
            filled_qty: filled,
            vwap_px,
            worst_px,
            max_charge,
            expiry_ms,
            book_seqno,
        })
    }

    /// `cancel(hold_id) -> released_qty`: idempotent; an id naming no live hold returns 0.
    pub fn cancel(&mut self, now_ms: u64, hold_id: u64) -> Result<u64, Abort> {
        let _ = now_ms; // Expiry does not matter to cancel: an expired hold is still released.
        self.atomic(|m| m.cancel_inner(hold_id))
    }

    fn cancel_inner(&mut self, hold_id: u64) -> Result<u64, Abort> {
        if hold_id == 0 || hold_id == u64::MAX {
            return Ok(0);
        }
        let hold = match self.st.holds.remove(&hold_id) {
            Some(h) => h,
            None => return Ok(0),
        };
        let cs = self.params.instruments[hold.instrument as usize].contract_size;
        let mut released = 0u64;
        for s in &hold.slices {
            released += s.qty;
            // A slice's order always still rests: its reserved quantity keeps qty ≥ take > 0.
            let loc = self
                .find_order(s.order_id)
                .expect("a live slice's order rests on the book");
            let price = self.level_price(loc);
            let (owner, closing, qty_now) = {
                let o = self.order_mut(loc);
                o.reserved_qty -= s.qty;
                if o.closing {
                    o.qty -= s.qty;
                }
                (o.user, o.closing, o.qty)
            };
            if closing {
                let a = self
                    .st
                    .accounts
                    .get_mut(&owner)
                    .expect("owner has an account");
                a.quoted -= notional(s.qty, cs, price);
                // Reading of "(and book_seqno increments)": the visible qty of a closing order
                // changed, which is a book change like a cancel_order with cancelled > 0, so
                // it counts once per such slice, whether or not the order is removed.
                self.st.book_seqno = self.st.book_seqno.wrapping_add(1);
                if qty_now == 0 {
                    self.remove_order(loc);
                }
            }
        }
        Ok(released)
    }

    /// `account(user) -> (cash, im, mm)`: zeros for an unknown user; margins are 0 while no
    /// fills exist.
    pub fn account(&self, user: u64) -> (i128, u128, u128) {
        match self.st.accounts.get(&user) {
            Some(a) => (a.cash, 0, 0),
            None => (0, 0, 0),
        }
    }

    /// The abstract state, for comparison with the template's decoded segment.
    pub fn state(&self) -> SlabState {
        self.st.clone()
    }

    // ---- helpers ----

    fn instrument_params(&self, instrument: u64) -> Result<&InstrumentParams, Abort> {
        usize::try_from(instrument)
            .ok()
            .and_then(|i| self.params.instruments.get(i))
            .ok_or(Abort::UnknownInstrument)
    }

    /// README "found or created": `BAD_USER` for 0, `ACCOUNTS_FULL` when a new one has no slot
    /// (accounts are never freed, so the pool's use is the number of accounts).
    fn find_or_create_account(&mut self, user: u64) -> Result<(), Abort> {
        if user == 0 {
            return Err(Abort::BadUser);
        }
        if self.st.accounts.contains_key(&user) {
            return Ok(());
        }
        if self.st.accounts.len() >= self.params.accounts_capacity as usize {
            return Err(Abort::AccountsFull);
        }
        self.st.accounts.insert(user, AccountState::default());
        Ok(())
    }

    /// Orders resting on all instruments: the order pool's use.
    fn resting_orders(&self) -> usize {
        self.st
            .instruments
            .iter()
            .flat_map(|i| i.bids.iter().chain(i.asks.iter()))
            .map(|l| l.orders.len())
            .sum()
    }

    fn find_order(&self, order_id: u64) -> Option<Loc> {
        for (ii, inst) in self.st.instruments.iter().enumerate() {
            for side in 0..2u64 {
                for (li, level) in side_levels(inst, side).iter().enumerate() {
                    if let Some(pos) = level.orders.iter().position(|o| o.order_id == order_id) {
                        return Some(Loc {
                            instrument: ii,
                            side,
                            level: li,
                            pos,
                        });
                    }
                }
            }
        }
        None
    }

    fn order(&self, loc: Loc) -> &OrderState {
        &side_levels(&self.st.instruments[loc.instrument], loc.side)[loc.level].orders[loc.pos]
    }

    fn order_mut(&mut self, loc: Loc) -> &mut OrderState {
        &mut side_levels_mut(&mut self.st.instruments[loc.instrument], loc.side)[loc.level].orders
            [loc.pos]
    }

    fn level_price(&self, loc: Loc) -> u64 {
        side_levels(&self.st.instruments[loc.instrument], loc.side)[loc.level].price
    }

    /// Unlinks an order (from its level, the pending queue if PENDING, and its level if that
    /// empties) and drops its owner's order count. Its quoted notional must already be gone.
    fn remove_order(&mut self, loc: Loc) {
        let inst = &mut self.st.instruments[loc.instrument];
        let levels = side_levels_mut(inst, loc.side);
        let o = levels[loc.level].orders.remove(loc.pos);
        if levels[loc.level].orders.is_empty() {
            levels.remove(loc.level);
        }
        if !o.live {
            inst.pending.retain(|&id| id != o.order_id);
        }
        let a = self
            .st
            .accounts
            .get_mut(&o.user)
            .expect("owner has an account");
        a.orders -= 1;
    }
}

/// README `place_order` check 3 / `reserve` check 4.
fn check_price(ip: &InstrumentParams, price: u64) -> Result<(), Abort> {
    if price == 0 || price > ip.price_max {
        return Err(Abort::PriceRange);
    }
    if ip.tick == 0 || !price.is_multiple_of(ip.tick) {
        return Err(Abort::Tick);
    }
    Ok(())
}

/// README `place_order` check 4 / `reserve` check 3.
fn check_qty(ip: &InstrumentParams, qty: u64) -> Result<(), Abort> {
    if qty == 0 || qty > ip.qty_max {
        return Err(Abort::QtyRange);
    }
    if ip.lot == 0 || !qty.is_multiple_of(ip.lot) {
        return Err(Abort::Lot);
    }
    Ok(())
}

/// The one notional convention: `qty × contract_size × price` in `u128`.
fn notional(qty: u64, contract_size: u64, price: u64) -> u128 {
    qty as u128 * contract_size as u128 * price as u128
}

/// Whether a level at `level_px` ranks strictly before `px` on `side` (0 bids: higher first;
/// 1 asks: lower first).
fn is_better(side: u64, level_px: u64, px: u64) -> bool {
    if side == 0 {
        level_px > px
    } else {
        level_px < px
    }
}

fn side_levels(inst: &InstrumentState, side: u64) -> &Vec<Level> {
    if side == 0 { &inst.bids } else { &inst.asks }
}

fn side_levels_mut(inst: &mut InstrumentState, side: u64) -> &mut Vec<Level> {
    if side == 0 {
        &mut inst.bids
    } else {
        &mut inst.asks
    }
}
