//! The ORACLE template: one price feed.
//!
//! Entrypoints:
//! - `register_key(k0, k1, k2, k3)`: registers an Ed25519 public key (4 words) for the feed, up to
//!   `SIGNERS keys_max`. Who may call it is the runtime's decision (the feed's governance).
//! - `update(price, publish_ms, n, key_index[16], signature[16][8])`: accepts a price signed by
//!   `n` distinct registered keys (indices strictly increasing) over the 39-byte message
//!   `Tag(OraclePrice, chain) ‖ feed_tag ‖ price ‖ publish_ms` of `curve_formats::oracle` (the
//!   chain id from the `clock` host call, so a price signed for another chain or feed verifies
//!   for none); at least `quorum` signatures must verify. The price must be within `PRICE min..=max`, newer than the last one, not in the
//!   future and not stale by batch time. It then advances the mark (an EMA, ¾ old + ¼ new) and
//!   the funding feed (Σ price × elapsed ms, a time-weighted accumulator slabs difference).
//! - `read() -> (price, publish_ms, age_ms, status, mark)`: status 0 fresh, 1 heartbeat missed,
//!   2 stale, all by batch time. The state also keeps `fresh_until_ms` = `publish_ms +
//!   STALENESS`, so that a slab mapping the feed as a view tells a stale price without the
//!   feed's parameters (its `reserve` refuses one: a router routes around that slab).
//! - `price() -> (price)`: the price, aborting when stale (what slabs call).
//! - `reference() -> (price, mark)`: the kill-band reference, only for a feed with
//!   `KILL_BAND_SYNC`, aborting when the heartbeat is missed.
//! - `funding() -> (cum_lo, cum_hi, cum_ms, price)`: the funding accumulator, if `FEEDS funding`.
//!
//! Every script value is read from the parameter table ([`PARAMS`]), never an immediate: all
//! ORACLE blocks compile to the same bytecode.

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Program, Record, Rvalue, Ty, Var};
use curvevm::hostcall::{Capability, CapabilitySet, id, pointer};
use curvevm::isa::Segment;

use crate::Region;

/// Parameter slots: (name, statement keyword, argument). Slots without a keyword are fixed by
/// the template, not chosen by the script: `feed_tag` is derived from the block id
/// ([`curve_formats::oracle::feed_tag`]) and the [`CONSTANTS`] region holds the constants the
/// proven conditions compare against.
pub const PARAMS: [(&str, &str, &str); 13] = [
    ("heartbeat_ms", "HEARTBEAT", "ms"),
    ("staleness_ms", "STALENESS", "ms"),
    ("quorum", "SIGNERS", "quorum"),
    ("keys_max", "SIGNERS", "keys_max"),
    ("decimals", "PRICE", "decimals"),
    ("price_min", "PRICE", "min"),
    ("price_max", "PRICE", "max"),
    ("mark_enabled", "FEEDS", "mark"),
    ("funding_enabled", "FEEDS", "funding"),
    ("kill_band_reference", "KILL_BAND_SYNC", "router_ref"),
    ("feed_tag", "", ""),
    ("one", "", ""),
    ("keys_limit", "", ""),
];

/// The constant region of the parameter table: every verifier (the runtime at deploy, `curve
/// verify`) checks these words before trusting a certificate, so a proven `LE(one, quorum)` means
/// `quorum ≥ 1` and not `quorum ≥` whatever the deployer wrote.
pub const CONSTANTS: [(&str, u64); 2] = [("one", 1), ("keys_limit", KEYS_MAX as u64)];

/// The parameter slot called `name`.
pub fn param(name: &str) -> u32 {
    PARAMS
        .iter()
        .position(|(n, _, _)| *n == name)
        .expect("a template parameter") as u32
}

/// Most keys a feed can register (the bound of `SIGNERS keys_max`).
pub const KEYS_MAX: u32 = 16;

/// The feed's state: one record at the start of the slab.
pub static STATE: Record = Record {
    name: "oracle",
    fields: &[
        ("key_count", 1),
        ("price", 1),
        ("publish_ms", 1),
        ("updated_ms", 1),
        ("mark", 1),
        ("updates", 1),
        ("cum_price_ms", 2),
        ("cum_ms", 1),
        ("fresh_until_ms", 1),
        ("reserved", 6),
        ("keys", 4 * KEYS_MAX),
    ],
};

/// Slab layout (words), from [`STATE`].
pub mod state {
    use super::STATE;
    /// Registered keys.
    pub const KEY_COUNT: u32 = STATE.offset("key_count");
    /// Last accepted price.
    pub const PRICE: u32 = STATE.offset("price");
    /// Its publish time.
    pub const PUBLISH_MS: u32 = STATE.offset("publish_ms");
    /// Batch time it was accepted at.
    pub const UPDATED_MS: u32 = STATE.offset("updated_ms");
    /// Mark price.
    pub const MARK: u32 = STATE.offset("mark");
    /// Accepted updates.
    pub const UPDATES: u32 = STATE.offset("updates");
    /// Funding accumulator Σ price × ms (u128, two words).
    pub const CUM_PRICE_MS: u32 = STATE.offset("cum_price_ms");
    /// Batch time of the last accumulation.
    pub const CUM_MS: u32 = STATE.offset("cum_ms");
    /// The last batch time the price is fresh at: its publish time plus `STALENESS` (0 before
    /// the first price). Slabs compare it with the batch time without knowing the parameter.
    pub const FRESH_UNTIL_MS: u32 = STATE.offset("fresh_until_ms");
    /// Keys, four words each.
    pub const KEYS: u32 = STATE.offset("keys");
    /// Slab words.
    pub const WORDS: u32 = STATE.words();
}

/// The slab layout as named regions (offset, words), for the layout hash: [`STATE`]'s fields.
pub fn layout() -> Vec<Region> {
    let mut offset = 0;
    STATE
        .fields
        .iter()
        .map(|&(name, words)| {
            let region = Region {
                name,
                offset,
                words,
            };
            offset += words;
            region
        })
        .collect()
}

/// A field of the feed's state.
fn field(name: &str) -> Addr {
    STATE.at(Segment::Slab, 0, name)
}

/// Argument layout of `update`.
pub mod update_args {
    /// Price.
    pub const PRICE: u32 = 0;
    /// Publish time.
    pub const PUBLISH_MS: u32 = 1;
    /// Number of signatures.
    pub const COUNT: u32 = 2;
    /// Key indices, one word each.
    pub const KEY_INDEX: u32 = 3;
    /// Signatures, eight words each.
    pub const SIGNATURES: u32 = KEY_INDEX + super::KEYS_MAX;
    /// Argument words.
    pub const WORDS: u16 = (SIGNATURES + 8 * super::KEYS_MAX) as u16;
}

/// The signed message's length in bytes (`curve_formats::oracle::MESSAGE_BYTES`).
pub const MESSAGE_BYTES: u64 = curve_formats::oracle::MESSAGE_BYTES as u64;

/// Abort codes.
pub mod code {
    /// Price outside `PRICE min..=max`.
    pub const PRICE_RANGE: u8 = 1;
    /// Not newer than the last accepted price.
    pub const NOT_NEWER: u8 = 2;
    /// Published after the batch time.
    pub const FUTURE: u8 = 3;
    /// Older than `STALENESS` by batch time.
    pub const STALE: u8 = 4;
    /// Fewer valid signatures than `SIGNERS quorum`.
    pub const QUORUM: u8 = 5;
    /// A key index not registered, or not strictly increasing.
    pub const BAD_SIGNER: u8 = 6;
    /// `SIGNERS keys_max` keys already registered.
    pub const KEYS_FULL: u8 = 7;
    /// More signatures than keys can exist.
    pub const TOO_MANY_SIGNATURES: u8 = 8;
    /// No price accepted yet.
    pub const NO_PRICE: u8 = 9;
    /// The entrypoint's feature is off for this feed (`KILL_BAND_SYNC`, `FEEDS`).
    pub const DISABLED: u8 = 10;
    /// The heartbeat was missed (kill-band reference only).
    pub const HEARTBEAT_MISSED: u8 = 11;
}

/// Read status values of `read`.
pub mod status {
    /// Within the heartbeat.
    pub const FRESH: u64 = 0;
    /// Older than the heartbeat, not stale.
    pub const HEARTBEAT_MISSED: u64 = 1;
    /// Older than the staleness limit.
    pub const STALE: u64 = 2;
}

fn load_param(b: &mut FunctionBuilder, name: &'static str) -> Var {
    b.let_(
        name,
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Params, param(name))),
    )
}

fn load_state(b: &mut FunctionBuilder, name: &str, state_field: &str) -> Var {
    b.load(name, field(state_field))
}

/// Writes the signed price message `Tag(OraclePrice, chain) ‖ feed_tag ‖ price ‖ publish_ms`
/// (39 bytes) to scratch words 0–4: each field after the tag's first seven bytes starts one byte
/// into a word, so every word is the high byte of one field over the low seven of the next.
fn price_message(b: &mut FunctionBuilder, price: Var, published: Var) {
    let now = b.var("now", Ty::U64);
    let height = b.var("height", Ty::U64);
    let chain = b.var("chain_id", Ty::U64);
    b.host(id::CLOCK, &[], &[now, height, chain], 0);
    let tag = load_param(b, "feed_tag");
    let prefix = b.constant("tag_prefix", curve_formats::oracle::message_prefix());
    let mut previous = prefix;
    for (word, field) in [chain, tag, price, published].into_iter().enumerate() {
        let low = b.let_("low_byte", Ty::U64, Rvalue::Shl(field, 56));
        let packed = b.let_("packed", Ty::U64, Rvalue::AddWrapping(previous, low));
        b.store(Addr::Fixed(Segment::Scratch, word as u32), packed);
        previous = b.let_("high_bytes", Ty::U64, Rvalue::Shr(field, 8));
    }
    b.store(Addr::Fixed(Segment::Scratch, 4), previous);
}

/// `age ← now − publish_ms` of the stored price (aborting when there is none).
fn age(b: &mut FunctionBuilder) -> (Var, Var, Var) {
    let now = crate::templates::now(b);
    let price = load_state(b, "price", "price");
    b.guard(Cond::NonZero(price), code::NO_PRICE, "a price was accepted");
    let published = load_state(b, "publish_ms", "publish_ms");
    let age = b.sub("age", now, published);
    (price, published, age)
}

fn register_key() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("register_key", 4, 0);
    let count = b.step("oracle.register_key/capacity", Some("SIGNERS"), |b| {
        let count = load_state(b, "key_count", "key_count");
        let keys_max = load_param(b, "keys_max");
        b.guard(
            Cond::Lt(count, keys_max),
            code::KEYS_FULL,
            "key_count < keys_max",
        );
        count
    });
    b.step("oracle.register_key/store", None, |b| {
        let slot = b.let_("slot", Ty::U64, Rvalue::Shl(count, 2));
        for word in 0..4 {
            let key = b.load("key", Addr::Fixed(Segment::Args, word));
            b.store(Addr::Indexed(Segment::Slab, slot, state::KEYS + word), key);
        }
        let one = b.constant("one", 1);
        let count = b.add("key_count", count, one);
        b.store(field("key_count"), count);
    });
    b.finish()
}

/// `update`: each step is one paragraph of the module documentation, in its order.
fn update() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("update", update_args::WORDS, 0);
    let arg = |word| Addr::Fixed(Segment::Args, word);
    let price = b.load("price", arg(update_args::PRICE));
    let published = b.load("publish_ms", arg(update_args::PUBLISH_MS));
    let count = b.load("n", arg(update_args::COUNT));

    b.step("oracle.update/price-range", Some("PRICE"), |b| {
        let min = load_param(b, "price_min");
        let max = load_param(b, "price_max");
        b.guard(Cond::Le(min, price), code::PRICE_RANGE, "price ≥ price.min");
        b.guard(Cond::Le(price, max), code::PRICE_RANGE, "price ≤ price.max");
    });

    let now = b.step("oracle.update/order", None, |b| {
        let last = load_state(b, "last_publish_ms", "publish_ms");
        b.guard(
            Cond::Lt(last, published),
            code::NOT_NEWER,
            "publish_ms > last publish_ms",
        );
        let now = crate::templates::now(b);
        b.guard(
            Cond::Le(published, now),
            code::FUTURE,
            "publish_ms ≤ batch time",
        );
        now
    });

    b.step("oracle.update/staleness", Some("STALENESS"), |b| {
        let age = b.sub("age", now, published);
        let staleness = load_param(b, "staleness_ms");
        b.guard(Cond::Le(age, staleness), code::STALE, "age ≤ staleness.ms");
    });

    let one = b.step("oracle.update/signatures", Some("SIGNERS"), |b| {
        price_message(b, price, published);
        verify_signatures(b, count)
    });

    b.step("oracle.update/funding", Some("FEEDS"), |b| {
        let funding = load_param(b, "funding_enabled");
        b.if_(Cond::NonZero(funding), |b| {
            let since = load_state(b, "cum_ms", "cum_ms");
            b.if_(Cond::NonZero(since), |b| {
                let old_price = load_state(b, "old_price", "price");
                let elapsed = b.sub("elapsed", now, since);
                let area = b.let_("area", Ty::U128, Rvalue::WideMul(old_price, elapsed));
                let cum = b.let_("cum", Ty::U128, Rvalue::Load(field("cum_price_ms")));
                let cum = b.add("cum", cum, area);
                b.store(field("cum_price_ms"), cum);
            });
            b.store(field("cum_ms"), now);
        });
    });

    b.step("oracle.update/mark", Some("FEEDS"), |b| {
        let mark_enabled = load_param(b, "mark_enabled");
        b.if_(Cond::NonZero(mark_enabled), |b| {
            let old = load_state(b, "old_mark", "mark");
            let mark = b.var("mark", Ty::U64);
            b.if_else(
                Cond::Zero(old),
                |b| b.assign(mark, Rvalue::Copy(price)),
                |b| {
                    // ¾ old + ¼ new.
                    let three = b.constant("three", 3);
                    let four = b.constant("four", 4);
                    let kept = b.let_("kept", Ty::U64, Rvalue::MulDiv(old, three, four));
                    let added = b.let_("added", Ty::U64, Rvalue::Shr(price, 2));
                    b.assign(mark, Rvalue::Add(kept, added));
                },
            );
            b.store(field("mark"), mark);
        });
    });

    b.step("oracle.update/store", None, |b| {
        b.store(field("price"), price);
        b.store(field("publish_ms"), published);
        b.store(field("updated_ms"), now);
        // publish_ms ≤ batch time < 2^63 and staleness ≤ 86,400,000: no overflow.
        let staleness = load_param(b, "staleness_ms");
        let fresh_until = b.add("fresh_until_ms", published, staleness);
        b.store(field("fresh_until_ms"), fresh_until);
        let updates = load_state(b, "updates", "updates");
        let updates = b.add("updates", updates, one);
        b.store(field("updates"), updates);
    });
    b.finish()
}

/// The signature check of `update`: `count` signatures by registered keys with strictly
/// increasing indices, at least `quorum` of them valid over the message in scratch. Returns
/// the constant 1 the later steps reuse.
fn verify_signatures(b: &mut FunctionBuilder, count: Var) -> Var {
    let key_count = load_state(b, "key_count", "key_count");
    let next_key = b.constant("next_key", 0);
    let valid = b.constant("valid", 0);
    let one = b.constant("one", 1);
    let message = b.constant("message", pointer(Segment::Scratch, 0));
    let length = b.constant("message_bytes", MESSAGE_BYTES);
    let keys = b.constant("keys", pointer(Segment::Slab, state::KEYS));
    let signatures = b.constant(
        "signatures",
        pointer(Segment::Args, update_args::SIGNATURES),
    );
    b.for_each(count, KEYS_MAX, code::TOO_MANY_SIGNATURES, |b, i| {
        let key = b.load(
            "key_index",
            Addr::Indexed(Segment::Args, i, update_args::KEY_INDEX),
        );
        b.guard(
            Cond::Lt(key, key_count),
            code::BAD_SIGNER,
            "key_index < key_count",
        );
        b.guard(
            Cond::Le(next_key, key),
            code::BAD_SIGNER,
            "key indices strictly increase (distinct signers)",
        );
        b.assign(next_key, Rvalue::Add(key, one));
        let key_offset = b.let_("key_offset", Ty::U64, Rvalue::Shl(key, 2));
        let key_pointer = b.let_(
            "key_pointer",
            Ty::U64,
            Rvalue::AddWrapping(keys, key_offset),
        );
        let sig_offset = b.let_("sig_offset", Ty::U64, Rvalue::Shl(i, 3));
        let sig_pointer = b.let_(
            "sig_pointer",
            Ty::U64,
            Rvalue::AddWrapping(signatures, sig_offset),
        );
        let ok = b.var("ok", Ty::U64);
        b.host(
            id::ED25519_VERIFY,
            &[key_pointer, sig_pointer, message, length],
            &[ok],
            MESSAGE_BYTES,
        );
        b.assign(valid, Rvalue::Add(valid, ok));
    });
    let quorum = load_param(b, "quorum");
    b.guard(
        Cond::Le(quorum, valid),
        code::QUORUM,
        "valid signatures ≥ quorum",
    );
    one
}

fn read() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("read", 0, 5);
    let (price, published, age) = b.step("oracle.read/age", None, age);
    let status = b.constant("status", status::FRESH);
    b.step("oracle.read/heartbeat", Some("HEARTBEAT"), |b| {
        let heartbeat = load_param(b, "heartbeat_ms");
        b.if_(Cond::Lt(heartbeat, age), |b| {
            b.assign(status, Rvalue::Const(status::HEARTBEAT_MISSED.into()));
        });
    });
    b.step("oracle.read/staleness", Some("STALENESS"), |b| {
        let staleness = load_param(b, "staleness_ms");
        b.if_(Cond::Lt(staleness, age), |b| {
            b.assign(status, Rvalue::Const(status::STALE.into()));
        });
    });
    b.step("oracle.read/return", None, |b| {
        let mark = load_state(b, "mark", "mark");
        for (word, var) in [price, published, age, status, mark]
            .into_iter()
            .enumerate()
        {
            b.store(Addr::Fixed(Segment::Ret, word as u32), var);
        }
    });
    b.finish()
}

fn price() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("price", 0, 1);
    let (price, _, age) = b.step("oracle.price/age", None, age);
    b.step("oracle.price/staleness", Some("STALENESS"), |b| {
        let staleness = load_param(b, "staleness_ms");
        b.guard(Cond::Le(age, staleness), code::STALE, "age ≤ staleness.ms");
        b.store(Addr::Fixed(Segment::Ret, 0), price);
    });
    b.finish()
}

fn reference() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("reference", 0, 2);
    let (price, age) = b.step("oracle.reference/kill-band", Some("KILL_BAND_SYNC"), |b| {
        let enabled = load_param(b, "kill_band_reference");
        b.guard(
            Cond::NonZero(enabled),
            code::DISABLED,
            "the feed is a kill-band reference",
        );
        let (price, _, age) = age(b);
        (price, age)
    });
    b.step("oracle.reference/heartbeat", Some("HEARTBEAT"), |b| {
        let heartbeat = load_param(b, "heartbeat_ms");
        b.guard(
            Cond::Le(age, heartbeat),
            code::HEARTBEAT_MISSED,
            "age ≤ heartbeat.ms",
        );
        let mark = load_state(b, "mark", "mark");
        b.store(Addr::Fixed(Segment::Ret, 0), price);
        b.store(Addr::Fixed(Segment::Ret, 1), mark);
    });
    b.finish()
}

fn funding() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("funding", 0, 4);
    b.step("oracle.funding/enabled", Some("FEEDS"), |b| {
        let enabled = load_param(b, "funding_enabled");
        b.guard(
            Cond::NonZero(enabled),
            code::DISABLED,
            "the funding feed is on",
        );
        for (word, at) in [
            (0, state::CUM_PRICE_MS),
            (1, state::CUM_PRICE_MS + 1),
            (2, state::CUM_MS),
            (3, state::PRICE),
        ] {
            let value = b.load("value", Addr::Fixed(Segment::Slab, at));
            b.store(Addr::Fixed(Segment::Ret, word), value);
        }
    });
    b.finish()
}

/// The ORACLE program (the same for every parameter set).
pub fn program() -> Program {
    Program {
        functions: vec![
            register_key(),
            update(),
            read(),
            price(),
            reference(),
            funding(),
        ],
        params: PARAMS.len() as u32,
        slab: state::WORDS,
        // The signed price message (`price_message`) is built in the first words.
        scratch_reserved: curve_formats::oracle::MESSAGE_WORDS as u32,
        capabilities: CapabilitySet::of(&[Capability::Clock, Capability::Ed25519]),
        views: Vec::new(),
        subroutines: Vec::new(),
    }
}
