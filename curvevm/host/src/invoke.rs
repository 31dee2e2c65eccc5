//! `invoke`: one program calling another's entrypoint inside the same call tree.
//!
//! [`InvokeHost`] wraps a [`RollupHost`] and the chain's [`Programs`]. Every host call but
//! `invoke` goes to the wrapped host, scoped to the program running at the top of the call stack
//! (so a callee's escrow calls are its own). `invoke` checks, before anything runs, the depth
//! ([`MAX_INVOKE_DEPTH`]), re-entrancy (no program on the stack is invoked), the callee's
//! existence and whether the transaction declared it ([`Programs::take`]), its interface hash
//! against the one the caller pins, the entry and argument count, and the registry's role rules
//! ([`Programs::may_invoke`]); then it runs the callee in its own instance on the caller's
//! [`Engine`], with its views mapped (read-only: a writable view is an outermost call's only),
//! with the least of the caller's remaining gas, the caller's cap (r7) and the entry's budget,
//! and charges the gas used to the caller.
//!
//! **One journal across frames.** A callee that traps has its memory and host changes undone by
//! its own call's end, and its trap comes back to the caller as a code. A callee that returns
//! keeps its writes only provisionally: the pre-images of the pages it committed are kept with
//! the caller's call, handed up to each enclosing call as it commits, and restored if any
//! enclosing call traps. The ledger and the event log nest the same way (savepoints per call).
//! So a transaction's outermost call either keeps every write of every program it reached, or
//! none.

use std::collections::BTreeMap;

use curvevm::hostcall::{MAX_INVOKE_DEPTH, Refusal, id};
use curvevm::interp::Registers;
use curvevm::memory::{CommittedPages, Memory};
use curvevm::{Engine, Host, Instance};

use crate::{Caller, RollupHost, SlabId, read_hash, read_words, write_words};

/// A program `invoke` can reach: its instance, who it is when it runs (host calls it makes are
/// scoped to this id and role), the interface hash its callers pin, and the words of the views
/// it declares (other programs' state, lent for the call).
#[derive(Debug)]
pub struct Callee {
    /// Its instance (parameters and slab).
    pub instance: Instance,
    /// Its id and role.
    pub caller: Caller,
    /// The hash of its interface (the compiler's descriptor hash).
    pub interface_hash: [u8; 32],
    /// One word vector per declared view, in order (empty while not taken).
    pub views: Vec<Vec<u64>>,
}

/// The programs of a chain, as `invoke` reaches them.
pub trait Programs {
    /// Takes program `id` out while it runs, with its views mapped: `unknown_program`,
    /// `undeclared_program` (not in the access list) or `program_in_use` (its state or a view's
    /// is lent to the running call tree) otherwise. Nothing changes on a refusal.
    fn take(&mut self, id: SlabId) -> Result<Callee, Refusal>;
    /// Puts a program taken by [`Programs::take`] back, returning its views' words.
    fn put(&mut self, id: SlabId, callee: Callee);
    /// Restores pages a call of program `id` committed (an enclosing call trapped).
    fn restore(&mut self, id: SlabId, pages: CommittedPages);
    /// Whether `caller` may call entrypoint `entry` of `callee`: the registry's rules.
    fn may_invoke(&self, caller: Caller, callee: Caller, entry: &str) -> bool;
    /// The most gas one call of `entry` of program `id` may use (its static budget).
    fn gas_bound(&self, id: SlabId, entry: &str) -> u64;
}

/// Programs by id in a map, any program allowed to call any entry of another but the ones
/// listed in `denied`, no gas bound beyond the caller's, views as the callee holds them: for
/// tests and tools.
#[derive(Debug, Default)]
pub struct ProgramSet {
    /// The programs.
    pub programs: BTreeMap<SlabId, Callee>,
    /// `(program, entry)` pairs no caller may invoke.
    pub denied: Vec<(SlabId, String)>,
}

impl Programs for ProgramSet {
    fn take(&mut self, id: SlabId) -> Result<Callee, Refusal> {
        self.programs.remove(&id).ok_or(Refusal::UnknownProgram)
    }
    fn put(&mut self, id: SlabId, callee: Callee) {
        self.programs.insert(id, callee);
    }
    fn restore(&mut self, id: SlabId, pages: CommittedPages) {
        if let Some(callee) = self.programs.get_mut(&id) {
            callee.instance.memory().restore(pages);
        }
    }
    fn may_invoke(&self, _: Caller, callee: Caller, entry: &str) -> bool {
        !self
            .denied
            .iter()
            .any(|(id, denied)| *id == callee.id && denied == entry)
    }
    fn gas_bound(&self, _: SlabId, _: &str) -> u64 {
        u64::MAX
    }
}

/// A bug planted on purpose, so that a test can show the suite catches it.
#[cfg(feature = "planted-mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// A callee that returned keeps its writes when its caller traps.
    KeepCalleeWrites,
}

/// A [`RollupHost`] that can run other programs: see the module documentation.
pub struct InvokeHost<'a> {
    /// The wrapped host (ledger, clock, events); its `caller` is the running program's.
    pub host: &'a mut RollupHost,
    programs: &'a mut dyn Programs,
    engine: &'a dyn Engine,
    /// The programs running, outermost first.
    stack: Vec<Caller>,
    /// Per open call, the pages of callees that returned inside it, to restore if it traps.
    frames: Vec<Vec<(SlabId, CommittedPages)>>,
    #[cfg(feature = "planted-mutations")]
    mutation: Option<Mutation>,
}

impl<'a> InvokeHost<'a> {
    /// A host for a call of `host.caller`, reaching `programs` (which must not hold the caller)
    /// and running callees on `engine`.
    pub fn new(
        host: &'a mut RollupHost,
        programs: &'a mut dyn Programs,
        engine: &'a dyn Engine,
    ) -> InvokeHost<'a> {
        let stack = vec![host.caller];
        InvokeHost {
            host,
            programs,
            engine,
            stack,
            frames: Vec::new(),
            #[cfg(feature = "planted-mutations")]
            mutation: None,
        }
    }

    /// The same host with a planted bug.
    #[cfg(feature = "planted-mutations")]
    pub fn with_mutation(mut self, mutation: Mutation) -> Self {
        self.mutation = Some(mutation);
        self
    }

    /// `invoke` with `r` its registers (written only on success).
    fn invoke(
        &mut self,
        r: &mut Registers,
        memory: &mut Memory,
        gas: &mut u64,
    ) -> Result<(), Refusal> {
        let caller = *self.stack.last().expect("a call is running");
        if self.stack.len() > MAX_INVOKE_DEPTH {
            return Err(Refusal::InvokeDepth);
        }
        let id = r[1];
        if self.stack.iter().any(|running| running.id == id) {
            return Err(Refusal::Reentrancy);
        }
        let expected = read_hash(memory, r[6])?;
        let args = read_words(memory, r[3], r[4])?;
        let mut callee = self.programs.take(id)?;
        let result = self.run(caller, &mut callee, r, &expected, &args, memory, gas);
        self.programs.put(id, callee);
        result
    }

    /// Checks and runs one invoke of the taken `callee`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        caller: Caller,
        callee: &mut Callee,
        r: &mut Registers,
        expected: &[u8; 32],
        args: &[u64],
        memory: &mut Memory,
        gas: &mut u64,
    ) -> Result<(), Refusal> {
        if callee.interface_hash != *expected {
            return Err(Refusal::InterfaceMismatch);
        }
        let index = usize::try_from(r[2]).map_err(|_| Refusal::UnknownEntry)?;
        // The entry's facts, read before the callee's instance is lent to the engine.
        let (ret, bound) = {
            let module = callee.instance.program().module();
            let entry = module.entries.get(index).ok_or(Refusal::UnknownEntry)?;
            if args.len() != usize::from(entry.args) {
                return Err(Refusal::ArgumentCount);
            }
            if module.layout.views.iter().any(|view| view.writable) {
                return Err(Refusal::CalleeViews);
            }
            if !self.programs.may_invoke(caller, callee.caller, &entry.name) {
                return Err(Refusal::InvokeDenied);
            }
            (
                entry.ret,
                self.programs.gas_bound(callee.caller.id, &entry.name),
            )
        };
        // The return words must fit where the caller wants them before the callee runs.
        check_writable(memory, r[5], u64::from(ret))?;

        let limit = (*gas).min(bound).min(r[7]);
        self.stack.push(callee.caller);
        let outer = std::mem::replace(&mut self.host.caller, callee.caller);
        let engine = self.engine;
        let outcome = engine.call(
            &mut callee.instance,
            index,
            args,
            limit,
            &mut callee.views,
            self,
        );
        self.host.caller = outer;
        self.stack.pop();
        // The entry, argument count and views (mapped by `take`) were checked above.
        let outcome = outcome.map_err(|_| Refusal::UnknownEntry)?;
        *gas -= outcome.gas_used;
        match outcome.result {
            Ok(words) => {
                let committed = callee.instance.memory().take_committed();
                #[cfg(feature = "planted-mutations")]
                let committed = if self.mutation == Some(Mutation::KeepCalleeWrites) {
                    CommittedPages::default()
                } else {
                    committed
                };
                self.frames
                    .last_mut()
                    .expect("the caller's call is open")
                    .push((callee.caller.id, committed));
                if !words.is_empty() {
                    write_words(memory, r[5], &words)?;
                }
                (r[1], r[2]) = (0, 0);
            }
            Err(trap) => (r[1], r[2]) = trap.kind.invoke_code(),
        }
        Ok(())
    }
}

/// `count` writable words at `pointer`.
fn check_writable(memory: &Memory, pointer: u64, count: u64) -> Result<(), Refusal> {
    if count == 0 {
        return Ok(());
    }
    let (sel, address) = curvevm::hostcall::split_pointer(pointer);
    let segment = u8::try_from(sel)
        .ok()
        .and_then(curvevm::Segment::from_sel)
        .ok_or(Refusal::BadPointer)?;
    let last = address.checked_add(count - 1).ok_or(Refusal::BadPointer)?;
    memory
        .read(segment, last)
        .map_err(|_| Refusal::BadPointer)?;
    if !memory.is_writable(segment) {
        return Err(Refusal::BadPointer);
    }
    Ok(())
}

impl Host for InvokeHost<'_> {
    fn provides(&self, id: u16) -> bool {
        self.host.provides(id)
    }

    fn call(
        &mut self,
        function: u16,
        registers: &mut Registers,
        memory: &mut Memory,
        gas: &mut u64,
    ) -> Result<(), u32> {
        if function != id::INVOKE {
            return self.host.call(function, registers, memory, gas);
        }
        // Refusals leave registers as they were.
        let mut scratch = *registers;
        self.invoke(&mut scratch, memory, gas)
            .map_err(Refusal::code)?;
        *registers = scratch;
        Ok(())
    }

    fn begin_call(&mut self) {
        self.host.begin_call();
        self.frames.push(Vec::new());
    }

    fn end_call(&mut self, commit: bool) {
        self.host.end_call(commit);
        let frame = self.frames.pop().unwrap_or_default();
        if commit {
            if let Some(parent) = self.frames.last_mut() {
                parent.extend(frame);
            }
        } else {
            for (id, pages) in frame.into_iter().rev() {
                self.programs.restore(id, pages);
            }
        }
    }
}
