//! An O(1) keyed lookup over a [`Table`] of records: open addressing with a bounded probe
//! count, so its worst case is a loop of `probes` iterations that the static gas bound counts.
//!
//! The key lives in a one-word field of each record; 0 marks an empty slot, so keys are
//! nonzero (a zero key aborts with the table's code). A key's home slot is
//! `⌊h × capacity / 2^64⌋` where `h = key × 0x9E37_79B9_7F4A_7C15 mod 2^64` (Fibonacci
//! hashing: sequential ids spread over the table), then slots are probed in order, wrapping.
//!
//! A table whose keys come and go (an index from ids to pool slots) removes a key by writing
//! [`TOMBSTONE`] over it ([`remove`]): lookups probe past a tombstone, and [`insert_fresh`]
//! reuses the first tombstone or empty slot. Such keys must be neither 0 nor [`TOMBSTONE`].

use crate::ir::{Addr, Cond, FunctionBuilder, Rvalue, Table, Ty, Var};

/// The multiplier of the key hash (2^64 / φ).
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Emits the lookup of `key` in `table` (its `key_field`), probing at most `probes` slots.
/// Returns a `u64` variable holding the key's slot + 1, or — when `claim` — the first empty
/// slot's + 1 if the key is absent; 0 when neither was found within the probes. Stops at the
/// first empty slot (keys are never removed, so the key cannot be further on).
///
/// # Panics
/// If `probes` is 0 or above the table's capacity (a template bug).
pub fn find_slot(
    b: &mut FunctionBuilder,
    table: Table,
    key_field: &'static str,
    key: Var,
    probes: u32,
    claim: bool,
) -> Var {
    let (home, capacity) = home_slot(b, table, key, probes);
    let found = b.constant("found", 0);
    let done = b.constant("done", 0);
    let one = b.constant("one", 1);
    let count = b.constant("probes", u64::from(probes));
    b.for_each(count, probes, table.code, |b, probe| {
        b.if_(Cond::Zero(done), |b| {
            let slot = b.let_("slot", Ty::U64, Rvalue::Add(home, probe));
            b.if_(Cond::Le(capacity, slot), |b| {
                b.assign(slot, Rvalue::Sub(slot, capacity));
            });
            let stored = b.let_(
                "stored",
                Ty::U64,
                Rvalue::Load(Addr::Field(table, slot, key_field)),
            );
            b.if_else(
                Cond::Eq(stored, key),
                |b| {
                    b.assign(found, Rvalue::Add(slot, one));
                    b.assign(done, Rvalue::Copy(one));
                },
                |b| {
                    b.if_(Cond::Zero(stored), |b| {
                        if claim {
                            b.assign(found, Rvalue::Add(slot, one));
                        }
                        b.assign(done, Rvalue::Copy(one));
                    });
                },
            );
        });
    });
    found
}

/// The key a removed entry leaves behind: lookups probe past it, inserts reuse it.
pub const TOMBSTONE: u64 = u64::MAX;

/// `key`'s home slot in `table` and the capacity as a variable, after checking the probe
/// count (a template bug if wrong) and the key (≠ 0, else the table's code).
fn home_slot(b: &mut FunctionBuilder, table: Table, key: Var, probes: u32) -> (Var, Var) {
    assert!(
        (1..=table.capacity).contains(&probes),
        "between 1 and the capacity probes"
    );
    b.guard(Cond::NonZero(key), table.code, "key ≠ 0");
    let golden = b.constant("golden", GOLDEN);
    let spread = b.let_("spread", Ty::U128, Rvalue::WideMul(key, golden));
    let hash = b.let_("hash", Ty::U64, Rvalue::Low(spread));
    let capacity = b.constant("capacity", u64::from(table.capacity));
    let scaled = b.let_("scaled", Ty::U128, Rvalue::WideMul(hash, capacity));
    let home = b.let_("home", Ty::U64, Rvalue::High(scaled));
    (home, capacity)
}

/// Emits the placement of `key`, which the caller knows is absent (a fresh id), in a table
/// whose keys are removed with tombstones: returns the first empty or tombstoned slot's + 1
/// within `probes` slots of its home, or 0 when there is none. The key is not written.
///
/// # Panics
/// If `probes` is 0 or above the table's capacity (a template bug).
pub fn insert_fresh(
    b: &mut FunctionBuilder,
    table: Table,
    key_field: &'static str,
    key: Var,
    probes: u32,
) -> Var {
    let tombstone = b.constant("tombstone", TOMBSTONE);
    b.guard(Cond::Ne(key, tombstone), table.code, "key ≠ tombstone");
    let (home, capacity) = home_slot(b, table, key, probes);
    let found = b.constant("found", 0);
    let one = b.constant("one", 1);
    let count = b.constant("probes", u64::from(probes));
    b.for_each(count, probes, table.code, |b, probe| {
        b.if_(Cond::Zero(found), |b| {
            let slot = b.let_("slot", Ty::U64, Rvalue::Add(home, probe));
            b.if_(Cond::Le(capacity, slot), |b| {
                b.assign(slot, Rvalue::Sub(slot, capacity));
            });
            let stored = b.let_(
                "stored",
                Ty::U64,
                Rvalue::Load(Addr::Field(table, slot, key_field)),
            );
            let vacant = b.let_("vacant", Ty::U64, Rvalue::Test(Cond::Zero(stored)));
            b.if_(Cond::Eq(stored, tombstone), |b| {
                b.assign(vacant, Rvalue::Copy(one))
            });
            b.if_(Cond::NonZero(vacant), |b| {
                b.assign(found, Rvalue::Add(slot, one));
            });
        });
    });
    found
}

/// Emits the removal of the entry at `slot` (an index, from a lookup): its key becomes
/// [`TOMBSTONE`].
pub fn remove(b: &mut FunctionBuilder, table: Table, key_field: &'static str, slot: Var) {
    let tombstone = b.constant("tombstone", TOMBSTONE);
    b.store(Addr::Field(table, slot, key_field), tombstone);
}
