//! The keyed lookup with removal (`insert_fresh`, `remove`, tombstones) on both engines, against
//! a `BTreeMap`: random inserts of fresh keys, removals and lookups, over a table small enough
//! that tombstones pile up and probe chains wrap.

use std::collections::BTreeMap;
use std::sync::Arc;

use curve_ir::ir::{Addr, Cond, FunctionBuilder, Program, Record, Rvalue, Table, Ty};
use curve_ir::keyed::{TOMBSTONE, find_slot, insert_fresh, remove};
use curvevm::interp::NoHost;
use curvevm::isa::Segment;
use curvevm::{Instance, TrapKind};
use curvevm_jit::JitProgram;
use proptest::prelude::*;

static ENTRY: Record = Record {
    name: "entry",
    fields: &[("key", 1), ("value", 1)],
};

const CAPACITY: u32 = 16;
const BAD_INDEX: u8 = 3;
const FULL: u8 = 4;
const ABSENT: u8 = 5;

fn table() -> Table {
    Table {
        segment: Segment::Slab,
        base: 0,
        capacity: CAPACITY,
        record: &ENTRY,
        code: BAD_INDEX,
    }
}

fn program() -> Program {
    let arg = |b: &mut FunctionBuilder, word| b.load("arg", Addr::Fixed(Segment::Args, word));
    // insert(key, value): the caller promises the key is absent.
    let mut insert = FunctionBuilder::new("insert", 2, 0);
    let key = arg(&mut insert, 0);
    let value = arg(&mut insert, 1);
    let slot = insert_fresh(&mut insert, table(), "key", key, CAPACITY);
    insert.guard(Cond::NonZero(slot), FULL, "a vacancy");
    let one = insert.constant("one", 1);
    let index = insert.let_("index", Ty::U64, Rvalue::Sub(slot, one));
    insert.store(Addr::Field(table(), index, "key"), key);
    insert.store(Addr::Field(table(), index, "value"), value);
    // get(key) -> (present, value)
    let mut get = FunctionBuilder::new("get", 1, 2);
    let key = arg(&mut get, 0);
    let slot = find_slot(&mut get, table(), "key", key, CAPACITY, false);
    get.if_(Cond::NonZero(slot), |b| {
        let one = b.constant("one", 1);
        let index = b.let_("index", Ty::U64, Rvalue::Sub(slot, one));
        let value = b.load("value", Addr::Field(table(), index, "value"));
        b.store(Addr::Fixed(Segment::Ret, 0), one);
        b.store(Addr::Fixed(Segment::Ret, 1), value);
    });
    // delete(key): aborts ABSENT when the key is not there.
    let mut delete = FunctionBuilder::new("delete", 1, 0);
    let key = arg(&mut delete, 0);
    let slot = find_slot(&mut delete, table(), "key", key, CAPACITY, false);
    delete.guard(Cond::NonZero(slot), ABSENT, "present");
    let one = delete.constant("one", 1);
    let index = delete.let_("index", Ty::U64, Rvalue::Sub(slot, one));
    remove(&mut delete, table(), "key", index);
    Program {
        functions: vec![insert.finish(), get.finish(), delete.finish()],
        slab: CAPACITY * ENTRY.words(),
        ..Program::default()
    }
}

struct Engines {
    jit: JitProgram,
    instances: [Instance; 2],
}

impl Engines {
    fn new() -> Engines {
        let lowered = curve_ir::lower(&program()).expect("lowers");
        let loaded =
            Arc::new(curvevm::Program::load(lowered.module, &|_| false).expect("verifies"));
        let jit = JitProgram::compile(Arc::clone(&loaded)).expect("compiles");
        let instance = || Instance::new(Arc::clone(&loaded), &[]).expect("instance");
        Engines {
            jit,
            instances: [instance(), instance()],
        }
    }

    fn call(&mut self, entry: &str, args: &[u64]) -> Result<Vec<u64>, TrapKind> {
        let [interpreted, compiled] = &mut self.instances;
        let gas = 1_000_000;
        let a = interpreted
            .call(entry, args, gas, &mut [], &mut NoHost, Default::default())
            .expect("starts");
        let b = self
            .jit
            .call(compiled, entry, args, gas, &mut [], &mut NoHost)
            .expect("starts")
            .0;
        assert_eq!(a, b, "{entry}{args:?}: the engines differ");
        a.result.map_err(|trap| trap.kind)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn removal_leaves_tombstones_that_lookups_pass_and_inserts_reuse(
        ops in prop::collection::vec((0u8..3, 0u64..40, any::<u64>()), 1..200),
    ) {
        let mut engines = Engines::new();
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let mut next_key = 1u64;
        for (kind, pick, value) in ops {
            match kind {
                // A fresh key, while the table has room (at most half full).
                0 if model.len() < CAPACITY as usize / 2 => {
                    let key = next_key;
                    next_key += 1;
                    prop_assert_eq!(engines.call("insert", &[key, value]), Ok(vec![]));
                    model.insert(key, value);
                }
                1 if !model.is_empty() => {
                    let key = *model.keys().nth(pick as usize % model.len()).expect("a key");
                    prop_assert_eq!(engines.call("delete", &[key]), Ok(vec![]));
                    model.remove(&key);
                }
                _ => {
                    let key = pick % (next_key + 2);
                    if key == 0 {
                        prop_assert_eq!(
                            engines.call("get", &[key]),
                            Err(TrapKind::Abort { code: BAD_INDEX })
                        );
                        continue;
                    }
                    let want = model.get(&key).map_or(vec![0, 0], |v| vec![1, *v]);
                    prop_assert_eq!(engines.call("get", &[key]), Ok(want), "key {}", key);
                    if !model.contains_key(&key) {
                        prop_assert_eq!(
                            engines.call("delete", &[key]),
                            Err(TrapKind::Abort { code: ABSENT })
                        );
                    }
                }
            }
        }
        // Every live key is still found after all the churn.
        for (key, value) in &model {
            prop_assert_eq!(engines.call("get", &[*key]), Ok(vec![1, *value]));
        }
    }
}

#[test]
fn the_tombstone_is_not_a_key() {
    let mut engines = Engines::new();
    assert_eq!(
        engines.call("insert", &[TOMBSTONE, 1]),
        Err(TrapKind::Abort { code: BAD_INDEX })
    );
    // A table whose every slot is a tombstone still takes a fresh key.
    for key in 1..=u64::from(CAPACITY) {
        assert_eq!(engines.call("insert", &[key, key]), Ok(vec![]));
        assert_eq!(engines.call("delete", &[key]), Ok(vec![]));
    }
    assert_eq!(engines.call("insert", &[100, 7]), Ok(vec![]));
    assert_eq!(engines.call("get", &[100]), Ok(vec![1, 7]));
    assert_eq!(engines.call("get", &[5]), Ok(vec![0, 0]));
}
