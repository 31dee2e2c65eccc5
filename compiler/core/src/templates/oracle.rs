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
//!   2 stale, all by batch time.
//! - `price() -> (price)`: the price, aborting when stale (what slabs call).
//! - `reference() -> (price, mark)`: the kill-band reference, only for a feed with
//!   `KILL_BAND_SYNC`, aborting when the heartbeat is missed.
//! - `funding() -> (cum_lo, cum_hi, cum_ms, price)`: the funding accumulator, if `FEEDS funding`.
//!
//! Every script value is read from the parameter table ([`PARAMS`]), never an immediate: all
//! ORACLE blocks compile to the same bytecode.

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Program, Rvalue, Ty, Var};
use curvevm::hostcall::{Capability, CapabilitySet, id, pointer};
use curvevm::isa::Segment;

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

/// Slab layout (words).
pub mod state {
    /// Registered keys.
    pub const KEY_COUNT: u32 = 0;
    /// Last accepted price.
    pub const PRICE: u32 = 1;
    /// Its publish time.
    pub const PUBLISH_MS: u32 = 2;
    /// Batch time it was accepted at.
    pub const UPDATED_MS: u32 = 3;
    /// Mark price.
    pub const MARK: u32 = 4;
    /// Accepted updates.
    pub const UPDATES: u32 = 5;
    /// Funding accumulator Σ price × ms (u128, two words).
    pub const CUM_PRICE_MS: u32 = 6;
    /// Batch time of the last accumulation.
    pub const CUM_MS: u32 = 8;
    /// Keys, four words each.
    pub const KEYS: u32 = 16;
    /// Slab words.
    pub const WORDS: u32 = KEYS + 4 * super::KEYS_MAX;
}

/// The slab layout as named regions (offset, words), for the layout hash.
pub const LAYOUT: [(&str, u32, u32); 10] = [
    ("key_count", state::KEY_COUNT, 1),
    ("price", state::PRICE, 1),
    ("publish_ms", state::PUBLISH_MS, 1),
    ("updated_ms", state::UPDATED_MS, 1),
    ("mark", state::MARK, 1),
    ("updates", state::UPDATES, 1),
    ("cum_price_ms", state::CUM_PRICE_MS, 2),
    ("cum_ms", state::CUM_MS, 1),
    ("reserved", 9, 7),
    ("keys", state::KEYS, 4 * KEYS_MAX),
];

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

fn load_state(b: &mut FunctionBuilder, name: &str, word: u32) -> Var {
    b.let_(
        name,
        Ty::U64,
        Rvalue::Load(Addr::Fixed(Segment::Slab, word)),
    )
}

fn clock(b: &mut FunctionBuilder) -> Var {
    let now = b.var("now", Ty::U64);
    let height = b.var("height", Ty::U64);
    b.host(id::CLOCK, &[], &[now, height], 0);
    now
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
    let now = clock(b);
    let price = load_state(b, "price", state::PRICE);
    b.guard(Cond::NonZero(price), code::NO_PRICE, "a price was accepted");
    let published = load_state(b, "publish_ms", state::PUBLISH_MS);
    let age = b.let_("age", Ty::U64, Rvalue::Sub(now, published));
    (price, published, age)
}

fn register_key() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("register_key", 4, 0);
    b.at("oracle.register_key/capacity", Some("SIGNERS"));
    let count = load_state(&mut b, "key_count", state::KEY_COUNT);
    let keys_max = load_param(&mut b, "keys_max");
    b.guard(
        Cond::Lt(count, keys_max),
        code::KEYS_FULL,
        "key_count < keys_max",
    );
    b.at("oracle.register_key/store", None);
    let slot = b.let_("slot", Ty::U64, Rvalue::Shl(count, 2));
    for word in 0..4 {
        let key = b.let_(
            "key",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, word)),
        );
        b.store(Addr::Indexed(Segment::Slab, slot, state::KEYS + word), key);
    }
    let one = b.constant("one", 1);
    let count = b.let_("key_count", Ty::U64, Rvalue::Add(count, one));
    b.store(Addr::Fixed(Segment::Slab, state::KEY_COUNT), count);
    b.finish()
}

fn update() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("update", update_args::WORDS, 0);
    let arg = |b: &mut FunctionBuilder, name: &str, word: u32| {
        b.let_(
            name,
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, word)),
        )
    };
    let price = arg(&mut b, "price", update_args::PRICE);
    let published = arg(&mut b, "publish_ms", update_args::PUBLISH_MS);
    let count = arg(&mut b, "n", update_args::COUNT);

    b.at("oracle.update/price-range", Some("PRICE"));
    let min = load_param(&mut b, "price_min");
    let max = load_param(&mut b, "price_max");
    b.guard(Cond::Le(min, price), code::PRICE_RANGE, "price ≥ price.min");
    b.guard(Cond::Le(price, max), code::PRICE_RANGE, "price ≤ price.max");

    b.at("oracle.update/order", None);
    let last = load_state(&mut b, "last_publish_ms", state::PUBLISH_MS);
    b.guard(
        Cond::Lt(last, published),
        code::NOT_NEWER,
        "publish_ms > last publish_ms",
    );
    let now = clock(&mut b);
    b.guard(
        Cond::Le(published, now),
        code::FUTURE,
        "publish_ms ≤ batch time",
    );

    b.at("oracle.update/staleness", Some("STALENESS"));
    let age = b.let_("age", Ty::U64, Rvalue::Sub(now, published));
    let staleness = load_param(&mut b, "staleness_ms");
    b.guard(Cond::Le(age, staleness), code::STALE, "age ≤ staleness.ms");

    b.at("oracle.update/signatures", Some("SIGNERS"));
    price_message(&mut b, price, published);
    let key_count = load_state(&mut b, "key_count", state::KEY_COUNT);
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
        let key = b.let_(
            "key_index",
            Ty::U64,
            Rvalue::Load(Addr::Indexed(Segment::Args, i, update_args::KEY_INDEX)),
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
    let quorum = load_param(&mut b, "quorum");
    b.guard(
        Cond::Le(quorum, valid),
        code::QUORUM,
        "valid signatures ≥ quorum",
    );

    b.at("oracle.update/funding", Some("FEEDS"));
    let funding = load_param(&mut b, "funding_enabled");
    b.if_(Cond::NonZero(funding), |b| {
        let since = load_state(b, "cum_ms", state::CUM_MS);
        b.if_(Cond::NonZero(since), |b| {
            let old_price = load_state(b, "old_price", state::PRICE);
            let elapsed = b.let_("elapsed", Ty::U64, Rvalue::Sub(now, since));
            let area = b.let_("area", Ty::U128, Rvalue::WideMul(old_price, elapsed));
            let cum = b.let_(
                "cum",
                Ty::U128,
                Rvalue::Load(Addr::Fixed(Segment::Slab, state::CUM_PRICE_MS)),
            );
            let cum = b.let_("cum", Ty::U128, Rvalue::Add(cum, area));
            b.store(Addr::Fixed(Segment::Slab, state::CUM_PRICE_MS), cum);
        });
        b.store(Addr::Fixed(Segment::Slab, state::CUM_MS), now);
    });

    b.at("oracle.update/mark", Some("FEEDS"));
    let mark_enabled = load_param(&mut b, "mark_enabled");
    b.if_(Cond::NonZero(mark_enabled), |b| {
        let old = load_state(b, "old_mark", state::MARK);
        let mark = b.var("mark", Ty::U64);
        b.if_else(
            Cond::Zero(old),
            |b| b.assign(mark, Rvalue::Copy(price)),
            |b| {
                let three = b.constant("three", 3);
                let four = b.constant("four", 4);
                let kept = b.let_("kept", Ty::U64, Rvalue::MulDiv(old, three, four));
                let added = b.let_("added", Ty::U64, Rvalue::Shr(price, 2));
                b.assign(mark, Rvalue::Add(kept, added));
            },
        );
        b.store(Addr::Fixed(Segment::Slab, state::MARK), mark);
    });

    b.at("oracle.update/store", None);
    b.store(Addr::Fixed(Segment::Slab, state::PRICE), price);
    b.store(Addr::Fixed(Segment::Slab, state::PUBLISH_MS), published);
    b.store(Addr::Fixed(Segment::Slab, state::UPDATED_MS), now);
    let updates = load_state(&mut b, "updates", state::UPDATES);
    let updates = b.let_("updates", Ty::U64, Rvalue::Add(updates, one));
    b.store(Addr::Fixed(Segment::Slab, state::UPDATES), updates);
    b.finish()
}

fn read() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("read", 0, 5);
    b.at("oracle.read/age", None);
    let (price, published, age) = age(&mut b);
    let status = b.constant("status", status::FRESH);
    b.at("oracle.read/heartbeat", Some("HEARTBEAT"));
    let heartbeat = load_param(&mut b, "heartbeat_ms");
    b.if_(Cond::Lt(heartbeat, age), |b| {
        b.assign(status, Rvalue::Const(status::HEARTBEAT_MISSED.into()));
    });
    b.at("oracle.read/staleness", Some("STALENESS"));
    let staleness = load_param(&mut b, "staleness_ms");
    b.if_(Cond::Lt(staleness, age), |b| {
        b.assign(status, Rvalue::Const(status::STALE.into()));
    });
    b.at("oracle.read/return", None);
    let mark = load_state(&mut b, "mark", state::MARK);
    for (word, var) in [price, published, age, status, mark]
        .into_iter()
        .enumerate()
    {
        b.store(Addr::Fixed(Segment::Ret, word as u32), var);
    }
    b.finish()
}

fn price() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("price", 0, 1);
    b.at("oracle.price/age", None);
    let (price, _, age) = age(&mut b);
    b.at("oracle.price/staleness", Some("STALENESS"));
    let staleness = load_param(&mut b, "staleness_ms");
    b.guard(Cond::Le(age, staleness), code::STALE, "age ≤ staleness.ms");
    b.store(Addr::Fixed(Segment::Ret, 0), price);
    b.finish()
}

fn reference() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("reference", 0, 2);
    b.at("oracle.reference/kill-band", Some("KILL_BAND_SYNC"));
    let enabled = load_param(&mut b, "kill_band_reference");
    b.guard(
        Cond::NonZero(enabled),
        code::DISABLED,
        "the feed is a kill-band reference",
    );
    let (price, _, age) = age(&mut b);
    b.at("oracle.reference/heartbeat", Some("HEARTBEAT"));
    let heartbeat = load_param(&mut b, "heartbeat_ms");
    b.guard(
        Cond::Le(age, heartbeat),
        code::HEARTBEAT_MISSED,
        "age ≤ heartbeat.ms",
    );
    let mark = load_state(&mut b, "mark", state::MARK);
    b.store(Addr::Fixed(Segment::Ret, 0), price);
    b.store(Addr::Fixed(Segment::Ret, 1), mark);
    b.finish()
}

fn funding() -> curve_ir::Function {
    let mut b = FunctionBuilder::new("funding", 0, 4);
    b.at("oracle.funding/enabled", Some("FEEDS"));
    let enabled = load_param(&mut b, "funding_enabled");
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
        let value = load_state(&mut b, "value", at);
        b.store(Addr::Fixed(Segment::Ret, word), value);
    }
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
