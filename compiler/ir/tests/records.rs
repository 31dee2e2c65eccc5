//! Record fields by name and the bounded keyed lookup, on both engines: a table of 32 records
//! `(key, value: u128)` in the slab filled by `put` and read by `get`, against a `BTreeMap`;
//! an index past the capacity aborts with the table's code; the gas bound counts every probe.

use std::collections::BTreeMap;
use std::sync::Arc;

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Program, Record, Rvalue, Table, Ty};
use curve_ir::keyed::find_slot;
use curvevm::interp::NoHost;
use curvevm::isa::Segment;
use curvevm::{Instance, TrapKind};
use curvevm_jit::JitProgram;
use proptest::prelude::*;

static ENTRY: Record = Record {
    name: "entry",
    fields: &[("key", 1), ("flags", 1), ("value", 2)],
};

const CAPACITY: u32 = 32;
const BAD_INDEX: u8 = 3;
const FULL: u8 = 4;

fn table() -> Table {
    Table {
        segment: Segment::Slab,
        base: 2,
        capacity: CAPACITY,
        record: &ENTRY,
        code: BAD_INDEX,
    }
}

fn program(probes: u32) -> Program {
    let arg = |b: &mut FunctionBuilder, word| {
        b.let_(
            "arg",
            Ty::U64,
            Rvalue::Load(Addr::Fixed(Segment::Args, word)),
        )
    };
    // put(key, lo, hi): claims the key's slot and writes the value.
    let mut put = FunctionBuilder::new("put", 3, 0);
    let key = arg(&mut put, 0);
    let lo = arg(&mut put, 1);
    let hi = arg(&mut put, 2);
    let value = put.let_("value", Ty::U128, Rvalue::Join(lo, hi));
    let slot = find_slot(&mut put, table(), "key", key, probes, true);
    put.guard(Cond::NonZero(slot), FULL, "a free slot within the probes");
    let one = put.constant("one", 1);
    let index = put.let_("index", Ty::U64, Rvalue::Sub(slot, one));
    put.store(Addr::Field(table(), index, "key"), key);
    put.store(Addr::Field(table(), index, "value"), value);
    // get(key) -> (present, lo, hi)
    let mut get = FunctionBuilder::new("get", 1, 3);
    let key = arg(&mut get, 0);
    let slot = find_slot(&mut get, table(), "key", key, probes, false);
    get.if_(Cond::NonZero(slot), |b| {
        let one = b.constant("one", 1);
        let index = b.let_("index", Ty::U64, Rvalue::Sub(slot, one));
        let value = b.let_(
            "value",
            Ty::U128,
            Rvalue::Load(Addr::Field(table(), index, "value")),
        );
        b.store(Addr::Fixed(Segment::Ret, 0), one);
        b.store(Addr::Fixed(Segment::Ret, 1), value);
    });
    // value_at(index) -> (lo, hi): a field by index, checked against the capacity.
    let mut at = FunctionBuilder::new("value_at", 1, 2);
    let index = arg(&mut at, 0);
    let value = at.let_(
        "value",
        Ty::U128,
        Rvalue::Load(Addr::Field(table(), index, "value")),
    );
    at.store(Addr::Fixed(Segment::Ret, 0), value);
    Program {
        functions: vec![put.finish(), get.finish(), at.finish()],
        slab: 2 + CAPACITY * ENTRY.words(),
        ..Program::default()
    }
}

struct Engines {
    bounds: BTreeMap<String, u64>,
    jit: JitProgram,
    instances: [Instance; 2],
}

impl Engines {
    fn new(probes: u32) -> Engines {
        let lowered = curve_ir::lower(&program(probes)).expect("lowers");
        let bounds = lowered.gas_bounds.iter().cloned().collect();
        let loaded =
            Arc::new(curvevm::Program::load(lowered.module, &|_| false).expect("verifies"));
        let jit = JitProgram::compile(Arc::clone(&loaded)).expect("compiles");
        let instance = || Instance::new(Arc::clone(&loaded), &[]).expect("instance");
        Engines {
            bounds,
            jit,
            instances: [instance(), instance()],
        }
    }

    /// Runs on both engines (each on its own instance); returns the agreed outcome.
    fn call(&mut self, entry: &str, args: &[u64]) -> Result<Vec<u64>, TrapKind> {
        let bound = self.bounds[entry];
        let [interpreted, compiled] = &mut self.instances;
        let a = interpreted
            .call(entry, args, bound, &mut [], &mut NoHost, Default::default())
            .expect("starts");
        let b = self
            .jit
            .call(compiled, entry, args, bound, &mut [], &mut NoHost)
            .expect("starts")
            .0;
        assert_eq!(a, b, "{entry}{args:?}: the engines differ");
        assert_eq!(
            interpreted.words(Segment::Slab),
            compiled.words(Segment::Slab)
        );
        assert!(a.gas_used <= bound);
        a.result.map_err(|trap| trap.kind)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn the_table_behaves_like_a_map(
        keys in prop::collection::vec(1u64..60, 1..16),
        values in prop::collection::vec(any::<u128>(), 16),
        probes_seen in prop::collection::vec(0u64..80, 8),
    ) {
        // At most 16 distinct keys in 32 slots, probing the whole table: never full.
        let mut engines = Engines::new(CAPACITY);
        let mut model = BTreeMap::new();
        for (key, value) in keys.iter().zip(&values) {
            engines.call("put", &[*key, *value as u64, (*value >> 64) as u64]).expect("put");
            model.insert(*key, *value);
        }
        for key in keys.iter().chain(&probes_seen) {
            let got = engines.call("get", &[*key]);
            let want = match model.get(key) {
                Some(value) => vec![1, *value as u64, (*value >> 64) as u64],
                None if *key == 0 => {
                    prop_assert_eq!(got, Err(TrapKind::Abort { code: BAD_INDEX }));
                    continue;
                }
                None => vec![0, 0, 0],
            };
            prop_assert_eq!(got, Ok(want), "key {}", key);
        }
    }
}

#[test]
fn fields_are_checked_against_the_capacity_and_probes_enter_the_bound() {
    let mut engines = Engines::new(4);
    assert_eq!(engines.call("value_at", &[31]), Ok(vec![0, 0]));
    assert_eq!(
        engines.call("value_at", &[32]),
        Err(TrapKind::Abort { code: BAD_INDEX })
    );
    assert_eq!(
        engines.call("value_at", &[u64::MAX]),
        Err(TrapKind::Abort { code: BAD_INDEX })
    );
    // A field a record does not have does not lower.
    let mut b = FunctionBuilder::new("f", 0, 0);
    let zero = b.constant("zero", 0);
    b.store(Addr::Field(table(), zero, "missing"), zero);
    let error = curve_ir::lower(&Program {
        functions: vec![b.finish()],
        slab: 2 + CAPACITY * ENTRY.words(),
        ..Program::default()
    })
    .expect_err("no such field");
    assert!(
        error.0.contains("record `entry` has no field `missing`"),
        "{error}"
    );
    // Each further probe adds the same cost to the bound: the worst case is counted.
    let bound = |probes| Engines::new(probes).bounds["get"];
    let (one, two, eight) = (bound(1), bound(2), bound(8));
    assert!(two > one);
    assert_eq!(eight - one, 7 * (two - one));
}

#[test]
fn a_full_probe_window_refuses_the_put() {
    // One probe: a second key whose home slot is taken cannot be placed.
    let mut engines = Engines::new(1);
    let home = |key: u64| {
        let hash = key.wrapping_mul(curve_ir::keyed::GOLDEN);
        ((u128::from(hash) * u128::from(CAPACITY)) >> 64) as u64
    };
    let first = 1u64;
    let clash = (2..1_000)
        .find(|k| home(*k) == home(first))
        .expect("a key with the same home slot");
    assert_eq!(engines.call("put", &[first, 5, 0]), Ok(vec![]));
    assert_eq!(
        engines.call("put", &[clash, 6, 0]),
        Err(TrapKind::Abort { code: FULL })
    );
    assert_eq!(engines.call("get", &[first]), Ok(vec![1, 5, 0]));
    assert_eq!(engines.call("get", &[clash]), Ok(vec![0, 0, 0]));
}
