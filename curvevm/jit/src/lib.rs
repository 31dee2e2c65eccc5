//! The CurveVM JIT: compiles a verified [`Program`] with Cranelift to native code whose result,
//! memory, gas used, trap kind and trap pc equal the interpreter's, for every program, input and
//! gas limit.
//!
//! Metering pre-charges each basic block; a block the remaining gas cannot pay for hands the
//! call to the interpreter (`curvevm::interp::resume`) at its first instruction — the gas-short
//! tail, the only case the interpreter ever runs. Host calls and native microcode go through the
//! same shared steps as the interpreter (`host_step`, `micro_step`). [`JitStats`] reports how
//! much of each call ran natively. Compiled code is cached by the SHA-256 of the module's bytes
//! ([`JitCache`]).
//!
//! `unsafe` is confined to `runtime` (the context, helpers and the call into generated code)
//! and the two lines of `compile` that free and cast the finalized code.

#![deny(unsafe_code)]

mod compile;
mod runtime;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use curve_formats::encoding::Encode;
use curvevm::interp::{State, resume};
use curvevm::isa::Segment;
use curvevm::memory::Memory;
use curvevm::{
    CallError, Engine, ExecOptions, Host, Instance, Interpreter, Outcome, Program, Trap,
};

pub use compile::CompileError;
use compile::{CompiledCode, STATUS_INTERNAL};
use runtime::{STATUS_BAIL, STATUS_RETURNED, STATUS_TRAP};

/// A program with its compiled code.
pub struct JitProgram {
    program: Arc<Program>,
    code: CompiledCode,
}

impl std::fmt::Debug for JitProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitProgram")
            .field("instructions", &self.code.instructions)
            .finish_non_exhaustive()
    }
}

/// How one call split between compiled code and the interpreter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JitStats {
    /// Gas spent in compiled code (instructions, host calls and native microcode it ran).
    pub native_gas: u64,
    /// Gas spent by the interpreter after a hand-over.
    pub interpreted_gas: u64,
    /// Whether the call was handed to the interpreter.
    pub bailed: bool,
}

// SAFETY-free marker impls are not needed: the JIT module's code is immutable after finalizing
// and the function pointer is plain data, so sharing a compiled program across threads is safe;
// `CompiledCode` holds only owned data and a code pointer.
#[allow(unsafe_code)]
// SAFETY: the finalized code and the module's allocations are never mutated after `compile`
// returns; every call gets its own context.
unsafe impl Send for JitProgram {}
#[allow(unsafe_code)]
// SAFETY: as above; calls share nothing mutable through `JitProgram`.
unsafe impl Sync for JitProgram {}

impl JitProgram {
    /// Compiles `program`.
    pub fn compile(program: Arc<Program>) -> Result<JitProgram, CompileError> {
        let code = compile::compile(&program)?;
        Ok(JitProgram { program, code })
    }

    /// Compiles `program` and returns its machine code as text too (Cranelift's listing after
    /// register allocation): for reading what a loop compiles to, and for tests that count the
    /// memory accesses of a block.
    pub fn compile_with_listing(
        program: Arc<Program>,
    ) -> Result<(JitProgram, String), CompileError> {
        let (code, listing) = compile::compile_with(&program, true)?;
        let listing = listing.ok_or_else(|| CompileError("no listing was produced".into()))?;
        Ok((JitProgram { program, code }, listing))
    }

    /// The program.
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// Instructions compiled (the reachable code).
    pub fn compiled_instructions(&self) -> usize {
        self.code.instructions
    }

    /// Calls `entry` on `instance` (which must run this program) in compiled code.
    pub fn call(
        &self,
        instance: &mut Instance,
        entry: &str,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
    ) -> Result<(Outcome, JitStats), CallError> {
        let index = instance
            .entry_index(entry)
            .ok_or_else(|| CallError::UnknownEntry(entry.to_string()))?;
        self.call_at(instance, index, args, gas_limit, views, host)
    }

    /// [`JitProgram::call`] of the entrypoint at `index` of the module's table.
    pub fn call_at(
        &self,
        instance: &mut Instance,
        index: usize,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
    ) -> Result<(Outcome, JitStats), CallError> {
        // Compiled code depends on the module only: instances loaded separately from the same
        // module share it (the cache is keyed by the module's bytes).
        assert!(
            Arc::ptr_eq(instance.program(), &self.program)
                || instance.program().module() == self.program.module(),
            "the instance runs another program"
        );
        self.call_compiled(instance, index, args, gas_limit, views, host)
    }

    /// [`JitProgram::call_at`] without comparing the instance's module with this code's: for
    /// the cache, which found this code by the instance's own program (its address, or its
    /// module's SHA-256). The comparison is a pass over the whole module — for a router a
    /// megabyte, more than the call itself — on every call of an instance loaded apart from
    /// the program the code was compiled from.
    fn call_compiled(
        &self,
        instance: &mut Instance,
        index: usize,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
    ) -> Result<(Outcome, JitStats), CallError> {
        let mut stats = JitStats::default();
        let outcome = instance.call_at_with(
            index,
            args,
            gas_limit,
            views,
            host,
            |program, memory, host, state| self.run(program, memory, host, state, &mut stats),
        )?;
        Ok((outcome, stats))
    }

    fn run(
        &self,
        program: &Program,
        memory: &mut Memory,
        host: &mut dyn Host,
        state: &mut State,
        stats: &mut JitStats,
    ) -> Result<(), Trap> {
        check_mapping(program, memory);
        let entry = self
            .code
            .entry_pcs
            .iter()
            .position(|&pc| pc == state.pc)
            .expect("calls start at an entrypoint") as u32;
        let start_gas = state.gas;
        let return_pcs = &self.code.return_pcs;
        // Ok(result) when the compiled code finished the call; Err(()) when it handed over.
        let finished = runtime::enter(
            self.code.function,
            entry,
            state.gas,
            program.module().capabilities,
            memory,
            host,
            |status, ctx| {
                state.gas = ctx.gas;
                match status {
                    STATUS_RETURNED => Ok(Ok(())),
                    STATUS_TRAP => {
                        let trap = ctx.trap();
                        state.pc = trap.pc;
                        Ok(Err(trap))
                    }
                    STATUS_BAIL => {
                        state.pc = ctx.pc as u32;
                        state.registers = ctx.registers;
                        state.carry = ctx.carry != 0;
                        state.stack = ctx.stack[..ctx.depth as usize]
                            .iter()
                            .map(|&ordinal| return_pcs[ordinal as usize])
                            .collect();
                        Err(())
                    }
                    STATUS_INTERNAL => {
                        panic!("JIT internal error: corrupt entry or return ordinal")
                    }
                    other => panic!("JIT internal error: status {other}"),
                }
            },
        );
        stats.native_gas = start_gas - state.gas;
        match finished {
            Ok(result) => result,
            Err(()) => {
                stats.bailed = true;
                let before = state.gas;
                let result = resume(program, memory, host, state, ExecOptions::default());
                stats.interpreted_gas = before - state.gas;
                result
            }
        }
    }
}

/// Compiled code trusts that every segment is mapped at its declared size (so direct addresses,
/// bounded by the verifier, need no run-time check). `Instance` guarantees it; this re-checks.
fn check_mapping(program: &Program, memory: &Memory) {
    let layout = &program.module().layout;
    let declared = [
        (Segment::Params, layout.params),
        (Segment::Args, layout.args),
        (Segment::Ret, layout.ret),
        (Segment::Scratch, layout.scratch),
        (Segment::Slab, layout.slab),
    ]
    .into_iter()
    .chain(
        layout
            .views
            .iter()
            .enumerate()
            .map(|(i, view)| (Segment::View(i as u8), view.words)),
    );
    for (segment, words) in declared {
        assert_eq!(
            memory.words(segment).len(),
            words as usize,
            "{} is not mapped at its declared size",
            segment.name()
        );
    }
}

/// The JIT as an [`Engine`] for `invoke`: the callee runs compiled (compiled on first use).
impl Engine for JitCache {
    fn call(
        &self,
        instance: &mut Instance,
        entry: usize,
        args: &[u64],
        gas_limit: u64,
        views: &mut [Vec<u64>],
        host: &mut dyn Host,
    ) -> Result<Outcome, CallError> {
        match self.get(instance.program()) {
            Ok(compiled) => compiled
                .call_compiled(instance, entry, args, gas_limit, views, host)
                .map(|(outcome, _)| outcome),
            // A verified program the JIT cannot compile runs interpreted: the engines agree on
            // every outcome, so the result is the same.
            Err(_) => Interpreter::default().call(instance, entry, args, gas_limit, views, host),
        }
    }
}

/// Compiled programs by the SHA-256 of their module bytes, and by loaded program (so a program
/// called again — every `invoke` — finds its code without hashing its module). One cache may
/// serve many runtimes for the life of a process: a loaded program that is dropped leaves only
/// a weak handle here, pruned when the next program is loaded.
#[derive(Default)]
pub struct JitCache {
    programs: Mutex<BTreeMap<[u8; 32], Arc<JitProgram>>>,
    /// By the address of a loaded program. The entry's weak handle keeps the allocation, so
    /// the address cannot be reused by another program while the entry is here.
    loaded: Mutex<BTreeMap<usize, LoadedEntry>>,
}

/// A loaded program (held weakly, so its address stays its own) and its compiled code.
type LoadedEntry = (Weak<Program>, Arc<JitProgram>);

impl std::fmt::Debug for JitCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitCache")
            .field("modules", &self.len())
            .finish_non_exhaustive()
    }
}

impl JitCache {
    /// The compiled code of `program`, compiling it on first use.
    pub fn get(&self, program: &Arc<Program>) -> Result<Arc<JitProgram>, CompileError> {
        let address = Arc::as_ptr(program) as usize;
        if let Some((_, compiled)) = self.loaded.lock().expect("cache lock").get(&address) {
            return Ok(Arc::clone(compiled));
        }
        let compiled = self.by_module(program)?;
        let mut loaded = self.loaded.lock().expect("cache lock");
        loaded.retain(|_, (program, _)| program.strong_count() > 0);
        loaded.insert(address, (Arc::downgrade(program), Arc::clone(&compiled)));
        Ok(compiled)
    }

    /// The compiled code of `program`'s module, compiling it on first use.
    fn by_module(&self, program: &Arc<Program>) -> Result<Arc<JitProgram>, CompileError> {
        use sha2::Digest;
        let mut bytes = Vec::new();
        program.module().encode(&mut bytes);
        let hash: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        let mut programs = self.programs.lock().expect("cache lock");
        if let Some(found) = programs.get(&hash) {
            return Ok(Arc::clone(found));
        }
        let compiled = Arc::new(JitProgram::compile(Arc::clone(program))?);
        programs.insert(hash, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Programs cached.
    pub fn len(&self) -> usize {
        self.programs.lock().expect("cache lock").len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
