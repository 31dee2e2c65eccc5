//! The interpreter-vs-JIT differential harness: random programs ([`crate::programs`]) run on both
//! engines from the same state; the outcome (return words or trap kind and pc, gas used), the
//! slab, the views, the dirty pages, the ledger, the event log and the sequence of host calls
//! with their results must be identical — and so must
//! the slabs, views and dirty pages of the two generated callees the program can `invoke` (they
//! run on the caller's engine: interpreted, or compiled through a shared [`JitCache`]). Each
//! program is compiled once and run for many (input, gas limit) cases, including the gas sweep:
//! every limit for runs needing at most [`SWEEP_ALL_BELOW`] gas, else every basic-block boundary
//! ±1 plus random limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use curvevm::hostcall::{HOST_FUNCTIONS, Refusal, id};
use curvevm::isa::{BranchTarget, Opcode};
use curvevm::memory::PageId;
use curvevm::{ExecOptions, Host, Instance, Interpreter, Outcome, Program, Trace, TrapKind};
use curvevm_host::{Callee, Caller, Cap, Clock, InvokeHost, Ledger, ProgramSet, Role, RollupHost};
use curvevm_jit::{JitCache, JitProgram, JitStats};

use crate::programs::{self, Features, Rng};

/// Runs needing at most this much gas are swept at every limit.
pub const SWEEP_ALL_BELOW: u64 = 5_000;
/// The limit used to measure what a run needs.
const PROBE_GAS: u64 = 200_000;

/// The calling slab of every generated program.
pub const SLAB_ID: u64 = programs::CALLER_ID;

/// The ledger every case starts from: escrows of users 0–2 in assets 0–2 for slab 1, and caps
/// that are valid, expired, for another slab, and nearly spent.
pub fn standard_host() -> RollupHost {
    let mut ledger = Ledger::default();
    for user in 0..3 {
        for asset in 0..3 {
            ledger.set_escrow(user, SLAB_ID, asset, 100 * (user + asset + 1) as u128);
            ledger.set_vault(user, asset, 1_000);
        }
    }
    let caps = [
        (0, SLAB_ID, 0, 250, 10_000),
        (1, SLAB_ID, 1, 300, 500),
        (2, 2, 2, 300, 10_000),
        (1, SLAB_ID, 2, 5, 10_000),
    ];
    for (user, slab, asset, amount, expiry) in caps {
        ledger.add_cap(Cap::new(user, slab, asset, amount, expiry));
    }
    RollupHost::new(
        ledger,
        Clock {
            now_ms: 1_000,
            height: 7,
            chain_id: 7,
        },
        Caller {
            id: SLAB_ID,
            role: Role::Slab,
        },
    )
}

/// Everything a case's run leaves behind.
#[derive(Debug, PartialEq, Eq)]
struct Effects {
    outcome: Outcome,
    slab: Vec<u64>,
    views: Vec<Vec<u64>>,
    dirty: Vec<PageId>,
    ledger: Ledger,
    events: Vec<curvevm_host::Event>,
    /// Each callee's slab, views and dirty pages.
    callees: Vec<CalleeEffects>,
    /// The caller's host calls as the host ran them: function id and result, in order.
    host_calls: Vec<(u16, Result<(), u32>)>,
}

/// A host that records each call it runs (after the VM checked its capability and charged its
/// gas) and passes everything to the host it wraps.
struct Recording<'h> {
    inner: &'h mut dyn Host,
    calls: Vec<(u16, Result<(), u32>)>,
}

impl Host for Recording<'_> {
    fn provides(&self, id: u16) -> bool {
        self.inner.provides(id)
    }

    fn call(
        &mut self,
        id: u16,
        registers: &mut curvevm::interp::Registers,
        memory: &mut curvevm::memory::Memory,
        gas: &mut u64,
    ) -> Result<(), u32> {
        let result = self.inner.call(id, registers, memory, gas);
        self.calls.push((id, result));
        result
    }

    fn begin_call(&mut self) {
        self.inner.begin_call();
    }

    fn end_call(&mut self, commit: bool) {
        self.inner.end_call(commit);
    }
}

/// A callee's slab, views and dirty pages after a case.
type CalleeEffects = (Vec<u64>, Vec<Vec<u64>>, Vec<PageId>);

/// A callee's parameters, slab and views before a case.
pub type CalleeStart = (Vec<u64>, Vec<u64>, Vec<Vec<u64>>);

/// The initial memory of a case.
#[derive(Clone, Debug)]
pub struct Start {
    /// Parameters.
    pub params: Vec<u64>,
    /// Slab.
    pub slab: Vec<u64>,
    /// Views.
    pub views: Vec<Vec<u64>>,
    /// Arguments.
    pub args: Vec<u64>,
    /// Each callee's parameters, slab and views (their `params[4..8]` are the caller's: the
    /// interface hash every callee reports).
    pub callees: Vec<CalleeStart>,
}

impl Start {
    /// Random initial memory and arguments.
    pub fn random(rng: &mut Rng) -> Start {
        let mut words = |n: u32| (0..n).map(|_| rng.word()).collect::<Vec<u64>>();
        let params = words(programs::PARAMS);
        let slab = words(programs::SLAB);
        let views = vec![words(programs::VIEW0), words(programs::VIEW1)];
        let hash = programs::INTERFACE_AT as usize..programs::INTERFACE_AT as usize + 4;
        let callees = programs::CALLEE_IDS
            .iter()
            .map(|_| {
                let mut callee_params = words(programs::PARAMS);
                callee_params[hash.clone()].copy_from_slice(&params[hash.clone()]);
                let views = vec![words(programs::VIEW0), words(programs::VIEW1)];
                (callee_params, words(programs::SLAB), views)
            })
            .collect();
        // Arguments drive loop counts and recursion depth: mostly small, sometimes deep.
        let args = (0..programs::ARGS)
            .map(|_| match rng.below(10) {
                0 => 62 + rng.below(4),
                1 => rng.word(),
                _ => rng.below(12),
            })
            .collect();
        Start {
            params,
            slab,
            views,
            args,
            callees,
        }
    }

    /// The interface hash the callees report: the bytes of `params[4..8]`.
    fn interface_hash(&self) -> [u8; 32] {
        let mut hash = [0; 32];
        let at = programs::INTERFACE_AT as usize;
        for (chunk, word) in hash.chunks_mut(8).zip(&self.params[at..at + 4]) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        hash
    }
}

/// The callees of a case, as their start says.
fn callee_set(callees: &[Arc<Program>], start: &Start) -> ProgramSet {
    let mut set = ProgramSet::default();
    for ((program, (params, slab, views)), id) in
        callees.iter().zip(&start.callees).zip(programs::CALLEE_IDS)
    {
        let mut instance = Instance::new(Arc::clone(program), params).expect("sizes match");
        instance.set_slab(slab.clone()).expect("sizes match");
        set.programs.insert(
            id,
            Callee {
                instance,
                caller: Caller {
                    id,
                    role: Role::Slab,
                },
                interface_hash: start.interface_hash(),
                views: views.clone(),
            },
        );
    }
    set
}

fn run(
    subject: &Subject,
    jit: bool,
    start: &Start,
    gas: u64,
) -> Result<(Effects, JitStats), String> {
    let program = &subject.program;
    let mut instance =
        Instance::new(Arc::clone(program), &start.params).map_err(|e| e.to_string())?;
    instance
        .set_slab(start.slab.clone())
        .map_err(|e| e.to_string())?;
    let mut views = start.views.clone();
    let mut host = standard_host();
    let mut set = callee_set(&subject.callees, start);
    let interpreter = Interpreter(ExecOptions::default());
    let engine: &dyn curvevm::Engine = if jit {
        &subject.callee_jit
    } else {
        &interpreter
    };
    let (outcome, stats, host_calls) = {
        let mut invoke = InvokeHost::new(&mut host, &mut set, engine);
        let mut recording = Recording {
            inner: &mut invoke,
            calls: Vec::new(),
        };
        let (outcome, stats) = if jit {
            subject
                .jit
                .call(
                    &mut instance,
                    "main",
                    &start.args,
                    gas,
                    &mut views,
                    &mut recording,
                )
                .map_err(|e| e.to_string())?
        } else {
            (
                instance
                    .call(
                        "main",
                        &start.args,
                        gas,
                        &mut views,
                        &mut recording,
                        ExecOptions::default(),
                    )
                    .map_err(|e| e.to_string())?,
                JitStats::default(),
            )
        };
        (outcome, stats, recording.calls)
    };
    let memory = instance.memory();
    let callees = set
        .programs
        .values_mut()
        .map(|callee| {
            let memory = callee.instance.memory();
            (
                memory.words(curvevm::Segment::Slab).to_vec(),
                callee.views.clone(),
                memory.take_dirty_pages(),
            )
        })
        .collect();
    Ok((
        Effects {
            outcome,
            slab: memory.words(curvevm::Segment::Slab).to_vec(),
            views,
            dirty: memory.take_dirty_pages(),
            ledger: host.ledger,
            events: host.events,
            callees,
            host_calls,
        },
        stats,
    ))
}

/// The coverage of a harness run.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// Programs generated.
    pub programs: u64,
    /// (program, input, gas limit) cases run on both engines.
    pub cases: u64,
    /// Cases whose program loops.
    pub looping: u64,
    /// Cases whose program calls the host.
    pub host: u64,
    /// Cases whose program touches the slab.
    pub slab: u64,
    /// Cases whose program calls microcode.
    pub microcode: u64,
    /// Cases whose program invokes another.
    pub invoke: u64,
    /// Cases whose program touches a view.
    pub view: u64,
    /// Cases in which a callee returned with writes (kept, or undone by a later trap).
    pub callee_committed: u64,
    /// Host calls the caller ran (on the interpreter), by function and result (`ok` or the
    /// refusal), and calls denied for a capability the module does not declare.
    pub host_calls: BTreeMap<(&'static str, &'static str), u64>,
    /// Cases ending in a refused `invoke`, by refusal.
    pub invoke_refusals: BTreeMap<&'static str, u64>,
    /// Cases that returned.
    pub returned: u64,
    /// Traps by kind name.
    pub traps: BTreeMap<&'static str, u64>,
    /// Out of gas at an instruction that is not the first of its basic block.
    pub out_of_gas_inside_block: u64,
    /// Cases the JIT handed to the interpreter.
    pub bailed: u64,
    /// Gas run in compiled code.
    pub native_gas: u64,
    /// Gas run by the interpreter after a hand-over.
    pub interpreted_gas: u64,
    /// Instructions compiled.
    pub compiled_instructions: u64,
}

impl Coverage {
    /// `count` as tenths of a percent of the cases.
    fn permille(&self, count: u64) -> u64 {
        count * 1_000 / self.cases.max(1)
    }

    /// The histogram as text.
    pub fn histogram(&self) -> String {
        let mut out = format!(
            "{} programs, {} cases ({} instructions compiled)\n",
            self.programs, self.cases, self.compiled_instructions
        );
        let mut row = |name: &str, count: u64| {
            let share = self.permille(count);
            out.push_str(&format!(
                "  {name:<36} {count:>8}  {:>3}.{} %  {}\n",
                share / 10,
                share % 10,
                "#".repeat((share / 20) as usize)
            ));
        };
        row("loop", self.looping);
        row("host call", self.host);
        row("slab segment", self.slab);
        row("microcode", self.microcode);
        row("invoke", self.invoke);
        row("view segment", self.view);
        row("a callee returned with writes", self.callee_committed);
        for (name, count) in &self.invoke_refusals {
            row(&format!("invoke refused: {name}"), *count);
        }
        for ((function, outcome), count) in &self.host_calls {
            row(&format!("host {function}: {outcome}"), *count);
        }
        row("returned", self.returned);
        for (name, count) in &self.traps {
            row(&format!("trap {name}"), *count);
        }
        row("out of gas inside a block", self.out_of_gas_inside_block);
        row("handed to the interpreter", self.bailed);
        let total = self.native_gas + self.interpreted_gas;
        let native = self.native_gas * 1_000 / total.max(1);
        out.push_str(&format!(
            "  gas run natively: {}.{} % of {total}\n",
            native / 10,
            native % 10
        ));
        out
    }

    /// The minimum shares the harness promises; `Err` names each one missed.
    pub fn check(&self) -> Result<(), String> {
        let mut missed = Vec::new();
        let mut need = |what: &str, ok: bool| {
            if !ok {
                missed.push(what.to_string());
            }
        };
        need("≥ 50,000 cases", self.cases >= 50_000);
        need("≥ 20 % loop", self.permille(self.looping) >= 200);
        need("≥ 10 % host calls", self.permille(self.host) >= 100);
        need("≥ 10 % slab segment", self.permille(self.slab) >= 100);
        need("≥ 10 % invoke", self.permille(self.invoke) >= 100);
        need("≥ 10 % view segment", self.permille(self.view) >= 100);
        need(
            "≥ 500 cases in which a callee returned with writes",
            self.callee_committed >= 500,
        );
        for refusal in INVOKE_REFUSALS {
            need(
                &format!("≥ 20 invokes refused `{}`", refusal.name()),
                self.invoke_refusals
                    .get(refusal.name())
                    .copied()
                    .unwrap_or(0)
                    >= 20,
            );
        }
        // Every host function but `invoke` (counted by its refusals above) ran and answered,
        // and some calls were denied.
        for function in HOST_FUNCTIONS.iter().filter(|f| f.id != id::INVOKE) {
            let ran = self
                .host_calls
                .get(&(function.name, "ok"))
                .copied()
                .unwrap_or(0);
            need(
                &format!("≥ 20 `{}` calls answered", function.name),
                ran >= 20,
            );
        }
        let denied: u64 = self
            .host_calls
            .iter()
            .filter(|((_, outcome), _)| *outcome == "capability_denied")
            .map(|(_, count)| count)
            .sum();
        need("≥ 50 host calls denied", denied >= 50);
        need(
            "≥ 10 % out of gas inside a block",
            self.permille(self.out_of_gas_inside_block) >= 100,
        );
        for kind in TRAP_KINDS {
            need(
                &format!("≥ 100 traps `{kind}`"),
                self.traps.get(kind).copied().unwrap_or(0) >= 100,
            );
        }
        if missed.is_empty() {
            Ok(())
        } else {
            Err(format!("coverage missed: {}", missed.join(", ")))
        }
    }
}

/// A host function's name.
fn host_name(id: u16) -> &'static str {
    curvevm::hostcall::function(id).map_or("unknown", |f| f.name)
}

/// Every trap kind the harness must hit.
pub const TRAP_KINDS: [&str; 7] = [
    "out_of_gas",
    "overflow",
    "out_of_bounds",
    "call_depth",
    "abort",
    "division_by_zero",
    "host",
];

/// Every `invoke` refusal the generated programs must reach (depth and a callee's writable view
/// are the file tests').
pub const INVOKE_REFUSALS: [Refusal; 6] = [
    Refusal::UnknownProgram,
    Refusal::UnknownEntry,
    Refusal::ArgumentCount,
    Refusal::InterfaceMismatch,
    Refusal::Reentrancy,
    Refusal::BadPointer,
];

/// Basic-block leaders: entrypoints, branch targets and every instruction after a BRANCH.
fn leaders(program: &Program) -> Vec<bool> {
    let code = program.instructions();
    let mut leader = vec![false; code.len() + 1];
    for entry in &program.module().entries {
        leader[entry.pc as usize] = true;
    }
    for (pc, insn) in code.iter().enumerate() {
        if insn.op == Opcode::Branch {
            leader[pc + 1] = true;
            if let BranchTarget::Jump(target) | BranchTarget::Call(target) = insn.branch_target() {
                leader[target as usize] = true;
            }
        }
    }
    leader
}

/// Gas limits for one (program, input): every limit up to what it needs when that is small,
/// else each basic-block boundary ±1 and random limits.
fn gas_limits(subject: &Subject, start: &Start, rng: &mut Rng) -> Vec<u64> {
    let leader = &subject.leader;
    let mut instance =
        Instance::new(Arc::clone(&subject.program), &start.params).expect("sizes match");
    instance.set_slab(start.slab.clone()).expect("sizes match");
    let mut views = start.views.clone();
    let mut trace = Trace::default();
    let mut host = standard_host();
    let mut set = callee_set(&subject.callees, start);
    let engine = Interpreter(ExecOptions::default());
    let outcome = instance
        .call_traced(
            "main",
            &start.args,
            PROBE_GAS,
            &mut views,
            &mut InvokeHost::new(&mut host, &mut set, &engine),
            ExecOptions::default(),
            &mut trace,
        )
        .expect("generated calls start");
    let needed = outcome.gas_used;
    if needed <= SWEEP_ALL_BELOW {
        return (0..=needed + 1).collect();
    }
    let mut limits = std::collections::BTreeSet::new();
    let mut before = PROBE_GAS;
    for step in &trace.steps {
        if leader[step.pc as usize] {
            let used = PROBE_GAS - before;
            limits.extend([used.saturating_sub(1), used, used + 1]);
        }
        before = step.gas_left;
    }
    let mut limits: Vec<u64> = limits.into_iter().collect();
    // Keep the sweep bounded for very long runs: an even sample of the boundaries.
    if limits.len() > 600 {
        let stride = limits.len() / 600 + 1;
        limits = limits.into_iter().step_by(stride).collect();
    }
    for _ in 0..20 {
        limits.push(rng.below(needed + 2));
    }
    limits.push(needed);
    limits.push(PROBE_GAS);
    limits
}

/// Generates `programs` programs from `seed` and compares the engines on every case: `swept`
/// inputs per program with the whole gas sweep, and `probed` more inputs each at its full gas and
/// one random limit (these reach the traps at the end of a run). `Err` describes the first
/// divergence with what replays it.
pub fn run_harness(seed: u64, programs: u64, swept: u64, probed: u64) -> Result<Coverage, String> {
    let mut rng = Rng::new(seed);
    let mut coverage = Coverage::default();
    for index in 0..programs {
        let program_seed = rng.next_u64();
        let mut program_rng = Rng::new(program_seed);
        let subject = Subject::generate(&mut program_rng)
            .map_err(|e| format!("program {index} (seed {program_seed:#x}): {e}"))?;
        coverage.programs += 1;
        coverage.compiled_instructions += subject.jit.compiled_instructions() as u64;
        for input in 0..swept + probed {
            let start = Start::random(&mut program_rng);
            let limits = if input < swept {
                gas_limits(&subject, &start, &mut program_rng)
            } else {
                vec![PROBE_GAS, program_rng.below(2_000)]
            };
            for gas in limits {
                subject.compare(&start, gas, &mut coverage).map_err(|e| {
                    format!(
                        "program seed {program_seed:#x}, args {:?}, gas {gas}: {e}",
                        start.args
                    )
                })?;
            }
        }
    }
    Ok(coverage)
}

/// A generated program, loaded as a slab and compiled, with what the harness classifies cases by.
pub struct Subject {
    /// The loaded program.
    pub program: Arc<Program>,
    /// Its compiled code.
    pub jit: JitProgram,
    /// Basic-block leaders (for "out of gas inside a block").
    pub leader: Vec<bool>,
    /// What the program contains.
    pub features: Features,
    /// The callees it can invoke (ids [`programs::CALLEE_IDS`]).
    pub callees: Vec<Arc<Program>>,
    /// The compiled callees, when the caller runs compiled.
    pub callee_jit: JitCache,
}

impl Subject {
    /// The next program of `rng`, loaded and compiled.
    pub fn generate(rng: &mut Rng) -> Result<Subject, String> {
        let generated = programs::program(rng, false);
        let program = RollupHost::load(generated.module, generated.role)
            .map_err(|e| format!("does not load: {e}"))?;
        let program = Arc::new(program);
        let callees = programs::CALLEE_IDS
            .iter()
            .map(|_| {
                let callee = programs::program(rng, true);
                RollupHost::load(callee.module, Role::Slab)
                    .map(Arc::new)
                    .map_err(|e| format!("a callee does not load: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let jit = JitProgram::compile(Arc::clone(&program)).map_err(|e| e.to_string())?;
        let leader = leaders(&program);
        Ok(Subject {
            program,
            jit,
            leader,
            features: generated.features,
            callees,
            callee_jit: JitCache::default(),
        })
    }

    /// One case on both engines.
    pub fn compare(&self, start: &Start, gas: u64, coverage: &mut Coverage) -> Result<(), String> {
        compare(self, start, gas, coverage)
    }
}

/// One case on both engines.
fn compare(
    subject: &Subject,
    start: &Start,
    gas: u64,
    coverage: &mut Coverage,
) -> Result<(), String> {
    let (program, leader, features) = (&subject.program, &subject.leader, subject.features);
    let (expected, _) = run(subject, false, start, gas)?;
    let (actual, stats) = run(subject, true, start, gas)?;
    if expected != actual {
        return Err(format!(
            "the engines differ:\ninterpreter {:?}\njit         {:?}{}",
            expected.outcome,
            actual.outcome,
            if expected.outcome == actual.outcome {
                " (memory, dirty pages, ledger, events or a callee's state differ)"
            } else {
                ""
            }
        ));
    }
    // The interpreter may only finish a gas-short tail: less than one block or routine.
    let longest_routine = curvevm::interp::routine_costs()
        .iter()
        .map(|cost| cost.gas)
        .max()
        .unwrap_or(0);
    let longest_tail = (program.instructions().len() as u64).max(longest_routine);
    if stats.bailed && stats.interpreted_gas > longest_tail {
        return Err(format!(
            "the interpreter ran {} gas after the hand-over: more than a gas-short tail",
            stats.interpreted_gas
        ));
    }
    coverage.cases += 1;
    coverage.looping += u64::from(features.looping);
    coverage.host += u64::from(features.host);
    coverage.slab += u64::from(features.slab);
    coverage.microcode += u64::from(features.microcode);
    coverage.invoke += u64::from(features.invoke);
    coverage.view += u64::from(features.view);
    // A callee's committed pages stay in its dirty set, restored or not.
    coverage.callee_committed +=
        u64::from(actual.callees.iter().any(|(_, _, dirty)| !dirty.is_empty()));
    coverage.bailed += u64::from(stats.bailed);
    coverage.native_gas += stats.native_gas;
    coverage.interpreted_gas += stats.interpreted_gas;
    for &(id, result) in &expected.host_calls {
        let outcome = match result {
            Ok(()) => "ok",
            Err(code) => Refusal::from_code(code).map_or("other", Refusal::name),
        };
        *coverage
            .host_calls
            .entry((host_name(id), outcome))
            .or_default() += 1;
    }
    match &actual.outcome.result {
        Ok(_) => coverage.returned += 1,
        Err(trap) => {
            *coverage.traps.entry(trap.kind.name()).or_default() += 1;
            // A denial traps before the host runs: the trap names the function.
            if let TrapKind::Host { id, code } = trap.kind
                && code == Refusal::CapabilityDenied.code()
            {
                *coverage
                    .host_calls
                    .entry((host_name(id), "capability_denied"))
                    .or_default() += 1;
            }
            if let TrapKind::Host {
                id: id::INVOKE,
                code,
            } = trap.kind
                && let Some(refusal) = Refusal::from_code(code)
            {
                *coverage.invoke_refusals.entry(refusal.name()).or_default() += 1;
            }
            if trap.kind == TrapKind::OutOfGas && !leader[trap.pc as usize] {
                coverage.out_of_gas_inside_block += 1;
            }
        }
    }
    Ok(())
}
