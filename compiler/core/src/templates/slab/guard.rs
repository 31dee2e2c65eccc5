//! Anti-toxicity and fees (percolator §4.8–4.12; README "Anti-toxicity and fees"): the kill
//! band, the reveal of a commitment, the governance fee caps, a maker's net fee rate (JIT
//! penalty and rebate delay), the aggressor round-trip guard and the top-K freeze. `commit`,
//! `place_order` and the `band` view call these at the steps README.md names.

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Subroutine, Ty, Var};
use curvevm::hostcall::{id, pointer};
use curvevm::isa::Segment;

use super::book::{self, SlabTables, arg, header, link, now, slot_of};
use super::hold::bps_of;
use super::{INSTRUMENTS_MAX, Mutation, code, params};
use crate::templates::oracle;

/// The name of the aggressor-ledger subroutine.
pub const LEDGER_ENTRY: &str = "aggressor_entry";

/// Scratch words the reveal uses: the 80-byte message, then the digest.
pub const SCRATCH_WORDS: u32 = (curve_formats::commitment::MESSAGE_WORDS + 4) as u32;

/// Most levels a freeze looks at: `freeze_levels` is at most 32 (the schema's bound).
const FREEZE_LEVELS_MAX: u32 = 32;

/// Word `word` of the oracle state mapped at `instrument`'s `oracle_view` (`instrument` checked
/// `< instrument_count`), read into a variable called `name`.
fn view_word(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    instrument: Var,
    word: u32,
    name: &'static str,
) -> Var {
    let view = params::load_instrument(b, instrument, "oracle_view");
    let value = b.constant(name, 0);
    for k in 0..t.views {
        let at = b.constant("view", u64::from(k));
        b.if_(Cond::Eq(view, at), |b| {
            b.assign(
                value,
                Rvalue::Load(Addr::Fixed(Segment::View(k as u8), word)),
            );
        });
    }
    value
}

/// The mark of `instrument` (checked `< instrument_count`): the `mark` word of the oracle state
/// mapped at its `oracle_view`, 0 while the feed has not published.
pub fn mark_or_zero(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var) -> Var {
    view_word(b, t, instrument, oracle::state::MARK, "mark")
}

/// Refuses `STALE_MARK` when the instrument's feed has published (`fresh_until_ms ≠ 0`) and
/// the batch time is past `fresh_until_ms` (F3): a slab marked by a stale price takes no new
/// reservation, so a router's probe finds the leg empty and fills elsewhere.
pub fn check_fresh(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var, now: Var) {
    let fresh_until = view_word(
        b,
        t,
        instrument,
        oracle::state::FRESH_UNTIL_MS,
        "fresh_until_ms",
    );
    b.if_(Cond::NonZero(fresh_until), |b| {
        b.guard(
            Cond::Le(now, fresh_until),
            code::STALE_MARK,
            "now ≤ the feed's fresh_until_ms",
        );
    });
}

/// The kill band around a reserve-time mark `m₀`, stored with the hold so that `commit` only
/// compares: `[m₀ − w, m₀ + w]` with `w = ⌊kill_band_bps × m₀ / 10,000⌋` (the low end 0 when
/// `w > m₀`). For an integer mark `m`, `|m − m₀| × 10,000 ≤ kill_band_bps × m₀` (README) holds
/// exactly when `|m − m₀| ≤ w`, so this is the README's rule, its multiplication paid once at
/// reserve. `kill_band_bps ≤ 10,000` (the schema's bound) keeps `w ≤ m₀` within a word.
pub fn band_edges(b: &mut FunctionBuilder, reserved_at: Var) -> (Var, Var) {
    let band_bps = params::load(b, "kill_band_bps");
    let ten_thousand = b.constant("ten_thousand", 10_000);
    let width = b.let_(
        "band_width",
        Ty::U64,
        Rvalue::MulDiv(reserved_at, band_bps, ten_thousand),
    );
    let low = b.constant("band_low", 0);
    b.if_(Cond::Le(width, reserved_at), |b| {
        b.assign(low, Rvalue::Sub(reserved_at, width))
    });
    // Saturated: a mark near 2^64 has no room above it anyway.
    let high = b.constant("band_high", u64::MAX);
    let room = b.let_("room", Ty::U64, Rvalue::Sub(high, reserved_at));
    b.if_(Cond::Le(width, room), |b| {
        b.assign(high, Rvalue::Add(reserved_at, width))
    });
    (low, high)
}

/// 1 when `mark` lies within the hold's (at slot `hold`) band edges.
fn within_band(b: &mut FunctionBuilder, t: &SlabTables, hold: Var, mark: Var) -> Var {
    let low = b.load("band_low", Addr::Field(t.reservations, hold, "band_low"));
    let high = b.load("band_high", Addr::Field(t.reservations, hold, "band_high"));
    let within = b.let_("within", Ty::U64, Rvalue::Test(Cond::Le(low, mark)));
    b.if_(Cond::Lt(high, mark), |b| b.assign(within, Rvalue::Const(0)));
    within
}

/// Commit step 7, the kill band (M10, R7): aborts `KILL_BAND` when the band is on and `mark`
/// left it around the hold's `mark_px`.
pub fn kill_band(b: &mut FunctionBuilder, t: &SlabTables, hold: Var, mark: Var) {
    if t.mutation == Mutation::KillBandOff {
        return;
    }
    let band_bps = params::load(b, "kill_band_bps");
    b.if_(Cond::NonZero(band_bps), |b| {
        let within = within_band(b, t, hold, mark);
        b.guard(
            Cond::NonZero(within),
            code::KILL_BAND,
            "the mark is within the kill band",
        );
    });
}

/// Commit step 4, the reveal (M6): with a nonzero commitment, SHA-256 of the reveal message
/// (`curve_formats::commitment`) built from the hold's fields and the commit's salt (argument
/// words 2–5) must be the commitment, else `BAD_REVEAL`.
pub fn reveal(b: &mut FunctionBuilder, t: &SlabTables, hold: Var) {
    let field = |b: &mut FunctionBuilder, name: &'static str| {
        b.load(name, Addr::Field(t.reservations, hold, name))
    };
    let commitment = [
        field(b, "commitment_0"),
        field(b, "commitment_1"),
        field(b, "commitment_2"),
        field(b, "commitment_3"),
    ];
    let committed = b.constant("committed", 0);
    for word in commitment {
        b.if_(Cond::NonZero(word), |b| {
            b.assign(committed, Rvalue::Const(1))
        });
    }
    b.if_(Cond::NonZero(committed), |b| {
        let now = b.var("now", Ty::U64);
        let height = b.var("height", Ty::U64);
        let chain = b.var("chain_id", Ty::U64);
        b.host(id::CLOCK, &[], &[now, height, chain], 0);
        // Word 0: the tag's first seven bytes and the chain id's low byte; word 1: the chain
        // id's other seven bytes and the side (README's byte table).
        let prefix = b.constant("tag_prefix", curve_formats::commitment::message_prefix());
        let low = b.let_("chain_low", Ty::U64, Rvalue::Shl(chain, 56));
        let word0 = b.let_("word0", Ty::U64, Rvalue::AddWrapping(prefix, low));
        let side = field(b, "side");
        let side = b.let_("side_byte", Ty::U64, Rvalue::Shl(side, 56));
        let high = b.let_("chain_high", Ty::U64, Rvalue::Shr(chain, 8));
        let word1 = b.let_("word1", Ty::U64, Rvalue::AddWrapping(high, side));
        let mut words = vec![
            word0,
            word1,
            field(b, "route_id"),
            field(b, "instrument"),
            field(b, "qty_asked"),
            field(b, "limit_px"),
        ];
        for salt in 0..4 {
            words.push(arg(b, "salt", 2 + salt));
        }
        for (at, word) in words.iter().enumerate() {
            b.store(Addr::Fixed(Segment::Scratch, at as u32), *word);
        }
        let digest_at = curve_formats::commitment::MESSAGE_WORDS as u32;
        let source = b.constant("message", pointer(Segment::Scratch, 0));
        let bytes = b.constant("bytes", curve_formats::commitment::MESSAGE_BYTES as u64);
        let target = b.constant("digest", pointer(Segment::Scratch, digest_at));
        b.host(id::SHA256, &[source, bytes, target], &[], 0);
        for (k, expected) in commitment.into_iter().enumerate() {
            let got = b.load(
                "digest",
                Addr::Fixed(Segment::Scratch, digest_at + k as u32),
            );
            b.guard(
                Cond::Eq(got, expected),
                code::BAD_REVEAL,
                "the reveal hashes to the commitment",
            );
        }
    });
}

/// Commit step 5, the fee caps (ADV3): once governance set them, `maker_bps` and `taker_bps`
/// must be within them, else `FEE_CAP`.
pub fn fee_caps(b: &mut FunctionBuilder, t: &SlabTables) {
    if t.mutation == Mutation::FeeCapUnchecked {
        return;
    }
    let set = b.load("fee_caps_set", header("fee_caps_set"));
    b.if_(Cond::NonZero(set), |b| {
        for (rate, cap) in [
            ("maker_bps", "maker_bps_cap"),
            ("taker_bps", "taker_bps_cap"),
        ] {
            let rate = params::load(b, rate);
            let cap = b.load(cap, header(cap));
            b.guard(Cond::Le(rate, cap), code::FEE_CAP, "a fee within its cap");
        }
    });
}

/// The parameters of a maker's fee, loaded once per commit: the net rate of a fill that earns
/// its rebate (`|maker_bps − rebate_bps|`, and whether it is paid to the maker) is worked out
/// once, so a fill only chooses between it and `maker_bps`.
#[derive(Clone, Copy)]
pub struct MakerFees {
    jit_penalty: Var,
    rebate_delay_ms: Var,
    maker_bps: Var,
    earning_rate: Var,
    earning_credit: Var,
    /// The instrument's current `batch_open_ms`.
    batch_open_ms: Var,
}

impl MakerFees {
    /// Loads them for fills in `instrument`.
    pub fn load(b: &mut FunctionBuilder, t: &SlabTables, instrument: Var) -> MakerFees {
        let maker_bps = params::load(b, "maker_bps");
        let rebate_bps = params::load(b, "rebate_bps");
        let earning_credit = b.let_(
            "earning_credit",
            Ty::U64,
            Rvalue::Test(Cond::Lt(maker_bps, rebate_bps)),
        );
        let earning_rate = b.var("earning_rate", Ty::U64);
        b.if_else(
            Cond::NonZero(earning_credit),
            |b| b.assign(earning_rate, Rvalue::Sub(rebate_bps, maker_bps)),
            |b| b.assign(earning_rate, Rvalue::Sub(maker_bps, rebate_bps)),
        );
        MakerFees {
            jit_penalty: params::load(b, "jit_penalty"),
            rebate_delay_ms: params::load(b, "rebate_delay_ms"),
            maker_bps,
            earning_rate,
            earning_credit,
            batch_open_ms: b.load(
                "batch_open_ms",
                Addr::Field(t.instruments, instrument, "batch_open_ms"),
            ),
        }
    }

    /// A maker's fee on a fill of notional `traded` (`u128`) by the order at slot `order` at
    /// batch time `now` (commit step 9): at the net rate when the order earns its rebate (not
    /// JIT, rested `rebate_delay_ms`), else at `maker_bps`. Returns `(amount, credit)`:
    /// `⌊traded × |rate| / 10,000⌋` and 1 when it is paid to the maker.
    pub fn fee(
        self,
        b: &mut FunctionBuilder,
        t: &SlabTables,
        order: Var,
        now: Var,
        traded: Var,
    ) -> (Var, Var) {
        let created = b.load("created_ms", Addr::Field(t.orders, order, "created_ms"));
        let rate = b.let_("rate", Ty::U64, Rvalue::Copy(self.earning_rate));
        let credit = b.let_("credit", Ty::U64, Rvalue::Copy(self.earning_credit));
        let forfeit = |b: &mut FunctionBuilder| {
            b.assign(rate, Rvalue::Copy(self.maker_bps));
            b.assign(credit, Rvalue::Const(0));
        };
        // JIT (M9): created at or after its batch opened.
        b.if_(Cond::NonZero(self.jit_penalty), |b| {
            b.if_(Cond::Le(self.batch_open_ms, created), forfeit);
        });
        // The rebate delay (an order is never created later than the batch that fills it).
        let rested = b.let_("rested", Ty::U64, Rvalue::Sub(now, created));
        b.if_(Cond::Lt(rested, self.rebate_delay_ms), forfeit);
        (bps_of(b, traded, rate), credit)
    }
}

/// `aggressor_entry(account, instrument) -> (entry)`: commit step 11's ledger steps 1–2: the
/// slot of the account's (a slot) ledger entry for `instrument`, reset to zeros when it is of an
/// earlier epoch than the instrument's current one, or created (`AGGRESSOR_FULL`).
pub fn ledger_subroutine(t: &SlabTables) -> Subroutine {
    let mut b = FunctionBuilder::new(LEDGER_ENTRY, 0, 0);
    let account = b.var("account", Ty::U64);
    let instrument = b.var("instrument", Ty::U64);
    let found = b.var("entry", Ty::U64);
    b.step("slab.commit/arg-ledger", Some("ANTI_TOXICITY"), |b| {
        let epoch = b.load("epoch", Addr::Field(t.instruments, instrument, "epoch"));
        let zero = b.constant("zero", 0);
        let reset = |b: &mut FunctionBuilder, at: Var| {
            b.store(Addr::Field(t.aggressor, at, "epoch"), epoch);
            for side in ["buy", "sell"] {
                let (qty, notional) = ledger_fields(side);
                b.store(Addr::Field(t.aggressor, at, qty), zero);
                let wide = b.let_("zero", Ty::U128, Rvalue::Const(0));
                b.store(Addr::Field(t.aggressor, at, notional), wide);
            }
        };
        let cursor = b.load("cursor", Addr::Field(t.accounts, account, "aggressor_head"));
        b.assign(found, Rvalue::Const(0));
        // One entry per instrument at most: the walk sees them all.
        let walk = b.constant("walk", u64::from(INSTRUMENTS_MAX));
        b.for_each(walk, INSTRUMENTS_MAX, code::TABLE, |b, _| {
            b.if_(Cond::NonZero(cursor), |b| {
                let at = slot_of(b, cursor);
                let of = b.load("instrument", Addr::Field(t.aggressor, at, "instrument"));
                b.if_(Cond::Eq(of, instrument), |b| {
                    b.assign(found, Rvalue::Copy(cursor));
                });
                b.assign(
                    cursor,
                    Rvalue::Load(Addr::Field(t.aggressor, at, "next_in_account")),
                );
            });
        });
        b.if_else(
            Cond::NonZero(found),
            |b| {
                let at = slot_of(b, found);
                let held = b.load("held", Addr::Field(t.aggressor, at, "epoch"));
                b.if_(Cond::Ne(held, epoch), |b| reset(b, at));
                b.assign(found, Rvalue::Copy(at));
            },
            |b| {
                let at = book::alloc(b, "aggressor", t.aggressor, code::AGGRESSOR_FULL);
                let owner = link(b, account);
                b.store(Addr::Field(t.aggressor, at, "account"), owner);
                b.store(Addr::Field(t.aggressor, at, "instrument"), instrument);
                reset(b, at);
                let head = b.load("head", Addr::Field(t.accounts, account, "aggressor_head"));
                b.store(Addr::Field(t.aggressor, at, "next_in_account"), head);
                let this = link(b, at);
                b.store(Addr::Field(t.accounts, account, "aggressor_head"), this);
                b.assign(found, Rvalue::Copy(at));
            },
        );
    });
    Subroutine::new(b, &[account, instrument], &[found])
}

fn ledger_fields(side: &str) -> (&'static str, &'static str) {
    if side == "buy" {
        ("buy_qty", "buy_notional")
    } else {
        ("sell_qty", "sell_notional")
    }
}

/// Commit step 11, the aggressor round-trip guard (S11, M11): adds the hold's `filled`
/// contracts and `prices = Σ t × p` to the taker's (a slot) ledger on its side and returns the
/// tax of the newly created overlap when it is profitable against the other side's batch
/// average (0 otherwise, and when `arg_tax_bps = 0`). `average` is the commit's `⌊prices /
/// filled⌋`. The caller takes the tax from the taker's cash into `fees_collected`.
#[allow(clippy::too_many_arguments)]
pub fn round_trip_tax(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    taker: Var,
    instrument: Var,
    sells: Var,
    filled: Var,
    prices: Var,
    average: Var,
) -> Var {
    let tax = b.let_("tax", Ty::U128, Rvalue::Const(0));
    let rate = params::load(b, "arg_tax_bps");
    b.if_(Cond::NonZero(rate), |b| {
        let entry = b.var("entry", Ty::U64);
        b.call(LEDGER_ENTRY, &[taker, instrument], &[entry]);
        let load_side = |b: &mut FunctionBuilder, side: &str| {
            let (qty, notional) = ledger_fields(side);
            let q = b.load(qty, Addr::Field(t.aggressor, entry, qty));
            let n = b.let_(
                notional,
                Ty::U128,
                Rvalue::Load(Addr::Field(t.aggressor, entry, notional)),
            );
            (q, n)
        };
        let (bought, buy_notional) = load_side(b, "buy");
        let (sold, sell_notional) = load_side(b, "sell");
        let before = min(b, bought, sold);
        // This commit's side grows; the other side's quantity and notional are its earlier
        // fills in the batch.
        let other_qty = b.var("other_qty", Ty::U64);
        let other_notional = b.var("other_notional", Ty::U128);
        b.if_else(
            Cond::Zero(sells),
            |b| {
                b.assign(bought, Rvalue::Add(bought, filled));
                b.assign(buy_notional, Rvalue::Add(buy_notional, prices));
                b.store(Addr::Field(t.aggressor, entry, "buy_qty"), bought);
                b.store(
                    Addr::Field(t.aggressor, entry, "buy_notional"),
                    buy_notional,
                );
                b.assign(other_qty, Rvalue::Copy(sold));
                b.assign(other_notional, Rvalue::Copy(sell_notional));
            },
            |b| {
                b.assign(sold, Rvalue::Add(sold, filled));
                b.assign(sell_notional, Rvalue::Add(sell_notional, prices));
                b.store(Addr::Field(t.aggressor, entry, "sell_qty"), sold);
                b.store(
                    Addr::Field(t.aggressor, entry, "sell_notional"),
                    sell_notional,
                );
                b.assign(other_qty, Rvalue::Copy(bought));
                b.assign(other_notional, Rvalue::Copy(buy_notional));
            },
        );
        let after = min(b, bought, sold);
        let overlap = match t.mutation {
            // Percolator's defect: the whole overlap again, whatever its sign.
            Mutation::ArgEveryCommit => after,
            _ => b.sub("new_overlap", after, before),
        };
        // The overlap exists only if the other side has fills: its average is defined.
        b.if_(Cond::NonZero(overlap), |b| {
            let other = mean(b, other_notional, other_qty);
            let (sell_px, buy_px) = (b.var("sell_px", Ty::U64), b.var("buy_px", Ty::U64));
            b.if_else(
                Cond::Zero(sells),
                |b| {
                    b.assign(sell_px, Rvalue::Copy(other));
                    b.assign(buy_px, Rvalue::Copy(average));
                },
                |b| {
                    b.assign(sell_px, Rvalue::Copy(average));
                    b.assign(buy_px, Rvalue::Copy(other));
                },
            );
            let contract_size = params::load_instrument(b, instrument, "contract_size");
            if t.mutation == Mutation::ArgEveryCommit {
                let units = b.let_("units", Ty::U128, Rvalue::WideMul(overlap, contract_size));
                let top = b.let_("top", Ty::U64, Rvalue::Copy(buy_px));
                b.if_(Cond::Lt(buy_px, sell_px), |b| {
                    b.assign(top, Rvalue::Copy(sell_px))
                });
                let top = b.let_("top", Ty::U128, Rvalue::Widen(top));
                let notional = b.let_("notional", Ty::U128, Rvalue::Mul(units, top));
                let charge = bps_of(b, notional, rate);
                b.assign(tax, Rvalue::Copy(charge));
                return;
            }
            // Profitable: sold above what was bought. The new overlap is at most this commit's
            // fill, so `new × contract_size` is a word (a proven condition bounds `qty_max ×
            // contract_size`).
            b.if_(Cond::Lt(buy_px, sell_px), |b| {
                let units = b.let_("units", Ty::U128, Rvalue::WideMul(overlap, contract_size));
                let units = b.let_("units", Ty::U64, Rvalue::Low(units));
                let gap = b.let_("gap", Ty::U64, Rvalue::Sub(sell_px, buy_px));
                let gain = b.let_("gain", Ty::U128, Rvalue::WideMul(units, gap));
                let notional = b.let_("notional", Ty::U128, Rvalue::WideMul(units, sell_px));
                let charge = bps_of(b, notional, rate);
                b.assign(tax, Rvalue::Add(gain, charge));
            });
        });
    });
    tax
}

/// `min(a, c)` of two words.
fn min(b: &mut FunctionBuilder, a: Var, c: Var) -> Var {
    let least = b.let_("least", Ty::U64, Rvalue::Copy(a));
    b.if_(Cond::Lt(c, a), |b| b.assign(least, Rvalue::Copy(c)));
    least
}

/// `⌊notional / qty⌋` (`qty ≥ 1`): an average of prices, so it fits a word.
pub fn mean(b: &mut FunctionBuilder, notional: Var, qty: Var) -> Var {
    let wide = b.let_("qty", Ty::U128, Rvalue::Widen(qty));
    let quotient = b.let_("average", Ty::U128, Rvalue::Div(notional, wide));
    b.let_("average", Ty::U64, Rvalue::Low(quotient))
}

/// `place_order` step 8, the top-K freeze (M8): during the freeze window an order must not be
/// strictly better than the `k`-th best level of its side (`book`), `k = min(freeze_levels,
/// levels)`, else `FROZEN`.
pub fn freeze(
    b: &mut FunctionBuilder,
    t: &SlabTables,
    instrument: Var,
    book: Var,
    side: Var,
    price: Var,
) {
    let until = b.load(
        "freeze_until_ms",
        Addr::Field(t.instruments, instrument, "freeze_until_ms"),
    );
    let now = now(b);
    b.if_(Cond::Lt(now, until), |b| {
        let k = params::load(b, "freeze_levels");
        let levels = b.load("levels", Addr::Field(t.books, book, "levels"));
        b.if_(Cond::Lt(levels, k), |b| b.assign(k, Rvalue::Copy(levels)));
        let most = b.constant("freeze_max", u64::from(FREEZE_LEVELS_MAX));
        b.if_(Cond::Lt(most, k), |b| b.assign(k, Rvalue::Copy(most)));
        b.if_(Cond::NonZero(k), |b| {
            let level = b.load("level", Addr::Field(t.books, book, "best"));
            let frozen = b.constant("frozen_px", 0);
            b.for_each(k, FREEZE_LEVELS_MAX, code::TABLE, |b, _| {
                let at = slot_of(b, level);
                b.assign(frozen, Rvalue::Load(Addr::Field(t.levels, at, "price")));
                b.assign(level, Rvalue::Load(Addr::Field(t.levels, at, "next")));
            });
            // Bids may not rise above it, asks not fall below it.
            let behind = b.var("behind", Ty::U64);
            b.if_else(
                Cond::Zero(side),
                |b| b.assign(behind, Rvalue::Test(Cond::Le(price, frozen))),
                |b| b.assign(behind, Rvalue::Test(Cond::Le(frozen, price))),
            );
            b.guard(
                Cond::NonZero(behind),
                code::FROZEN,
                "no order ahead of the frozen levels",
            );
        });
    });
}

/// Finds the live hold `hold_id` (else `UNKNOWN_HOLD`): its reservation slot and index entry.
pub fn find_hold(b: &mut FunctionBuilder, t: &SlabTables, hold_id: Var) -> (Var, Var) {
    book::find_indexed(
        b,
        t.hold_index,
        hold_id,
        code::UNKNOWN_HOLD,
        [
            "hold_id ≠ 0",
            "hold_id is not the tombstone",
            "the hold is live",
        ],
    )
}

/// `band(hold_id) -> (mark_px, mark, within)`: the router's kill-band pre-check (M10).
pub fn band(t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("band", 1, 3);
    let hold_id = arg(&mut b, "hold_id", 0);
    let hold = b.step("slab.band/find", None, |b| find_hold(b, t, hold_id).0);
    b.step("slab.band/within", Some("ANTI_TOXICITY"), |b| {
        let instrument = b.load(
            "instrument",
            Addr::Field(t.reservations, hold, "instrument"),
        );
        let reserved_at = b.load("mark_px", Addr::Field(t.reservations, hold, "mark_px"));
        let mark = mark_or_zero(b, t, instrument);
        let within = b.constant("within", 1);
        let band_bps = params::load(b, "kill_band_bps");
        b.if_(Cond::NonZero(band_bps), |b| {
            b.assign(within, Rvalue::Const(0));
            b.if_(Cond::NonZero(mark), |b| {
                let inside = within_band(b, t, hold, mark);
                b.assign(within, Rvalue::Copy(inside));
            });
        });
        for (word, var) in [reserved_at, mark, within].into_iter().enumerate() {
            b.store(Addr::Fixed(Segment::Ret, word as u32), var);
        }
    });
    b.finish()
}

/// `set_fee_caps(maker_bps_max, taker_bps_max)`: governance's (a reserved entrypoint).
pub fn set_fee_caps(_t: &SlabTables) -> Function {
    let mut b = FunctionBuilder::new("set_fee_caps", 2, 0);
    b.step("slab.set_fee_caps/store", Some("FEE"), |b| {
        let maker = arg(b, "maker_bps_max", 0);
        let taker = arg(b, "taker_bps_max", 1);
        let one = b.constant("one", 1);
        b.store(header("maker_bps_cap"), maker);
        b.store(header("taker_bps_cap"), taker);
        b.store(header("fee_caps_set"), one);
    });
    b.finish()
}
