//! The JIT cache: compiled code is shared by every program loaded from the same module bytes
//! (issue 30 — a separately loaded identical module used to hit the cache and panic with "the
//! instance runs another program"), and kept apart for different modules.

use std::sync::Arc;

use curvevm::bench_programs::{alu_loop, slab_loop};
use curvevm::interp::Engine;
use curvevm::{ExecOptions, Instance, Interpreter, Module, NoHost, Program};
use curvevm_jit::JitCache;

fn load(module: Module) -> Arc<Program> {
    Arc::new(Program::load(module, &|_| false).expect("bench programs verify"))
}

fn call_both(cache: &JitCache, program: &Arc<Program>, n: u64) {
    let mut compiled = Instance::new(Arc::clone(program), &[]).expect("no params");
    let mut interpreted = Instance::new(Arc::clone(program), &[]).expect("no params");
    let entry = compiled.entry_index("main").expect("main");
    let jit = cache
        .call(&mut compiled, entry, &[n], 1 << 40, &mut [], &mut NoHost)
        .expect("starts");
    let reference = Interpreter(ExecOptions::default())
        .call(&mut interpreted, entry, &[n], 1 << 40, &mut [], &mut NoHost)
        .expect("starts");
    assert_eq!(jit, reference, "the engines differ");
}

#[test]
fn two_separately_loaded_identical_modules_share_one_compiled_program() {
    let cache = JitCache::default();
    let first = load(alu_loop());
    let second = load(alu_loop());
    assert!(!Arc::ptr_eq(&first, &second));
    call_both(&cache, &first, 100);
    call_both(&cache, &second, 200);
    // Calls through either load and again through the first: one compilation.
    call_both(&cache, &first, 300);
    assert_eq!(cache.len(), 1);
    let (a, b) = (
        cache.get(&first).expect("compiles"),
        cache.get(&second).expect("compiles"),
    );
    assert!(Arc::ptr_eq(&a, &b), "one compiled program for one module");
    // Compiled code found for another load runs on an instance of this one.
    let mut instance = Instance::new(Arc::clone(&second), &[]).expect("no params");
    let (outcome, stats) = a
        .call(&mut instance, "main", &[10], 1 << 40, &mut [], &mut NoHost)
        .expect("runs an identical module's instance");
    assert!(outcome.result.is_ok() && !stats.bailed);
}

#[test]
fn different_modules_get_different_code() {
    let cache = JitCache::default();
    let (alu, slab) = (load(alu_loop()), load(slab_loop()));
    call_both(&cache, &alu, 50);
    call_both(&cache, &slab, 50);
    assert_eq!(cache.len(), 2);
    let compiled = cache.get(&alu).expect("compiles");
    let mut other = Instance::new(Arc::clone(&slab), &[]).expect("no params");
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        compiled.call(&mut other, "main", &[1], 1 << 40, &mut [], &mut NoHost)
    }));
    assert!(
        refused.is_err(),
        "code of one module never runs another's instance"
    );
}
