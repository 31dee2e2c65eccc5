//! The slab registry (README "State", `list_slab`, `delist_slab`, "Exposure cap"; P10–P11,
//! F3): which slabs a route may reach, and how much open interest it may put on each. Only
//! governance changes it (the runtime's direct-call rule).

use curve_ir::Function;
use curve_ir::ir::{Addr, Cond, FunctionBuilder, Rvalue, Ty, Var};
use curvevm::isa::Segment;

use super::margin::absolute;
use super::{SLABS_MAX, code, header, registry_table};

/// The first entry naming `slab` as index + 1, or 0 when none does; with `active_only`, only
/// an active entry counts.
pub fn find(b: &mut FunctionBuilder, slab: Var, active_only: bool) -> Var {
    let table = registry_table();
    let found = b.constant("found", 0);
    let n = b.constant("entries", u64::from(SLABS_MAX));
    b.for_each(n, SLABS_MAX, code::TABLE, |b, i| {
        let listed = b.load("listed", Addr::Field(table, i, "slab"));
        let matches = b.let_("matches", Ty::U64, Rvalue::Test(Cond::Eq(listed, slab)));
        b.if_(Cond::NonZero(found), |b| {
            b.assign(matches, Rvalue::Const(0))
        });
        b.if_(Cond::NonZero(matches), |b| {
            let one = b.constant("one", 1);
            let entry = b.let_("entry", Ty::U64, Rvalue::Add(i, one));
            if active_only {
                let active = b.load("active", Addr::Field(table, i, "active"));
                b.if_(Cond::NonZero(active), |b| {
                    b.assign(found, Rvalue::Copy(entry))
                });
            } else {
                b.assign(found, Rvalue::Copy(entry));
            }
        });
    });
    found
}

/// `list_slab(slab) -> (index)`.
pub fn list_slab() -> Function {
    let mut b = FunctionBuilder::new("list_slab", 1, 1);
    let slab = b.load("slab", Addr::Fixed(Segment::Args, 0));
    b.step("router.list_slab/slab", None, |b| {
        b.guard(Cond::NonZero(slab), code::BAD_SLAB, "slab ≠ 0");
    });
    b.step("router.list_slab/entry", None, |b| {
        let table = registry_table();
        let one = b.constant("one", 1);
        let entry = find(b, slab, false);
        b.if_(Cond::Zero(entry), |b| {
            // A free entry: the first with slab 0.
            let nobody = b.constant("nobody", 0);
            let free = find(b, nobody, false);
            b.guard(Cond::NonZero(free), code::REGISTRY_FULL, "a free entry");
            b.assign(entry, Rvalue::Copy(free));
            let index = b.let_("index", Ty::U64, Rvalue::Sub(free, one));
            b.store(Addr::Field(table, index, "slab"), slab);
            let listed = b.load("slabs_listed", header("slabs_listed"));
            let listed = b.let_("listed_after", Ty::U64, Rvalue::Add(listed, one));
            b.store(header("slabs_listed"), listed);
        });
        let index = b.let_("index", Ty::U64, Rvalue::Sub(entry, one));
        b.store(Addr::Field(table, index, "active"), one);
        b.store(Addr::Fixed(Segment::Ret, 0), index);
    });
    b.finish()
}

/// `delist_slab(slab) -> (index)`.
pub fn delist_slab() -> Function {
    let mut b = FunctionBuilder::new("delist_slab", 1, 1);
    let slab = b.load("slab", Addr::Fixed(Segment::Args, 0));
    b.step("router.delist_slab/entry", None, |b| {
        let entry = find(b, slab, true);
        b.guard(Cond::NonZero(entry), code::UNLISTED, "an active entry");
        let one = b.constant("one", 1);
        let index = b.let_("index", Ty::U64, Rvalue::Sub(entry, one));
        let inactive = b.constant("inactive", 0);
        b.store(Addr::Field(registry_table(), index, "active"), inactive);
        b.store(Addr::Fixed(Segment::Ret, 0), index);
    });
    b.finish()
}

/// The index of the entry naming `slab`, active or not; `UNLISTED` when none does.
fn listed(b: &mut FunctionBuilder, slab: Var) -> Var {
    let entry = find(b, slab, false);
    b.guard(
        Cond::NonZero(entry),
        code::UNLISTED,
        "an entry names the slab",
    );
    let one = b.constant("one", 1);
    b.let_("index", Ty::U64, Rvalue::Sub(entry, one))
}

/// `set_max_exposure(slab, max_qty) -> (index)`.
pub fn set_max_exposure() -> Function {
    let mut b = FunctionBuilder::new("set_max_exposure", 2, 1);
    let slab = b.load("slab", Addr::Fixed(Segment::Args, 0));
    let max_qty = b.load("max_qty", Addr::Fixed(Segment::Args, 1));
    b.step("router.set_max_exposure/entry", None, |b| {
        let index = listed(b, slab);
        b.store(
            Addr::Field(registry_table(), index, "max_exposure"),
            max_qty,
        );
        b.store(Addr::Fixed(Segment::Ret, 0), index);
    });
    b.finish()
}

/// `slab_exposure(slab) -> (max_exposure, open_qty)`.
pub fn slab_exposure() -> Function {
    let mut b = FunctionBuilder::new("slab_exposure", 1, 2);
    let slab = b.load("slab", Addr::Fixed(Segment::Args, 0));
    b.step("router.slab_exposure/entry", None, |b| {
        let index = listed(b, slab);
        for (word, field) in ["max_exposure", "open_qty"].into_iter().enumerate() {
            let value = b.load(field, Addr::Field(registry_table(), index, field));
            b.store(Addr::Fixed(Segment::Ret, word as u32), value);
        }
    });
    b.finish()
}

/// A slab's cap and routed open interest, as `(index, max_exposure, open_qty)`. Every slab a
/// route or a portfolio leg names has an entry (entries are never freed): none is a template
/// bug (`TABLE`).
pub fn exposure_of(b: &mut FunctionBuilder, slab: Var) -> (Var, Var, Var) {
    let entry = find(b, slab, false);
    b.guard(
        Cond::NonZero(entry),
        code::TABLE,
        "every routed slab has an entry",
    );
    let one = b.constant("one", 1);
    let index = b.let_("index", Ty::U64, Rvalue::Sub(entry, one));
    let max = b.load(
        "max_exposure",
        Addr::Field(registry_table(), index, "max_exposure"),
    );
    let open = b.load("open_qty", Addr::Field(registry_table(), index, "open_qty"));
    (index, max, open)
}

/// A leg's routed quantity went from `before` to `after` (`i128`s) on `slab`: its entry's
/// `open_qty += |after| − |before|` (README "Exposure cap": the sum stays exact).
pub fn move_open_qty(b: &mut FunctionBuilder, slab: Var, before: Var, after: Var) {
    let (index, _, open) = exposure_of(b, slab);
    let before = absolute(b, before);
    let after = absolute(b, after);
    let before = b.let_("before", Ty::U64, Rvalue::Low(before));
    let after = b.let_("after", Ty::U64, Rvalue::Low(after));
    // open ≥ |before|: it is one of the sum's terms.
    b.assign(open, Rvalue::Add(open, after));
    b.assign(open, Rvalue::Sub(open, before));
    b.store(Addr::Field(registry_table(), index, "open_qty"), open);
}
