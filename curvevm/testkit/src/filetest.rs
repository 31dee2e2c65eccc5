//! Cranelift-style file tests: a `.cvm` file whose comments say what running it must do.
//!
//! ```text
//! ; init: params[0]=7 slab[3]=5 view0[1]=2   initial memory (before the first run)
//! ; run: main(1, 2) == [3]                    a call and its return words
//! ; gas: 5                                    gas used by the preceding run
//! ; limit: 10                                 gas limit of the preceding run (default 1,000,000)
//! ; run: main(0)
//! ; trap: overflow at 4                       trap kind (and pc) of the preceding run
//! ; expect: slab[3]=5 view0[1]=2              memory after the preceding run
//! ; dirty: slab:0 view0:0                     pages committed since the previous `dirty:`
//! ; verify-error: at instruction 3: …         the module must be rejected with this message
//! ; load-error: may not declare …             the host must refuse to load it for its role
//! ; asm-error: line 4: …                      the text must not assemble
//! ; host: role=slab id=7 now=1000 height=3    the calling program and the clock (default router 0)
//! ; ledger: vault:1/2=500 escrow:1/7/2=100 cap:1/7/2=50@2000 account:7/2=0
//! ; trap: host(cap_expired) at 6              a host refusal, by name
//! ; ledger-expect: escrow:1/7/2=70 cap#0=20@2000 account:7/2=30 events=1 next-cap=1
//! ; program: id=2 role=slab interface=0x22 deny=fail   another program (below), for `invoke`
//! ; expect: p2.slab[0]=5 p2.view0[1]=3        memory of program 2 after the preceding run
//! ```
//!
//! Caps set up by `ledger:` get ids 0, 1, … in order. `ledger-expect:` checks the ledger after
//! the preceding run.
//!
//! **Several programs.** A `; program:` line starts the text of another program the main one
//! (the text before the first such line) can `invoke`: its id, its role, the byte its 32-byte
//! interface hash repeats (default 0, so zeroed memory pins it) and the entrypoints the
//! registry refuses to callers (`deny=a,b`). Its own `; init:` lines set its parameters, slab
//! and views. Callees run on the caller's engine (the traced engine runs them interpreted).
//!
//! Runs share one instance, in order, so a trapped run must leave the memory of the previous one.
//! Every file runs on every [`Engine`]; the outcomes must match the expectations on each.

use std::sync::Arc;

use curvevm::hostcall::Refusal;
use curvevm::memory::PageId;
use curvevm::{ExecOptions, Instance, Segment, Trace, TrapKind};
use curvevm_asm::{assemble, disassemble, parse_number};
use curvevm_host::{Callee, Caller, Clock, InvokeHost, Ledger, ProgramSet, Role, RollupHost};
use curvevm_jit::{JitCache, JitProgram};

/// The engines every file test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter with native microcode.
    Interpreter,
    /// The interpreter running microcode as its expansion.
    PureIsa,
    /// The interpreter in tracing mode (expansions, every step recorded).
    Traced,
    /// The Cranelift JIT (which hands gas-short tails to the interpreter).
    Jit,
}

impl Engine {
    /// All engines.
    pub const ALL: [Engine; 4] = [
        Engine::Interpreter,
        Engine::PureIsa,
        Engine::Traced,
        Engine::Jit,
    ];
}

#[derive(Debug, Default)]
struct Case {
    line: usize,
    entry: String,
    args: Vec<u64>,
    returns: Option<Vec<u64>>,
    trap: Option<(String, Option<u32>)>,
    gas: Option<u64>,
    limit: u64,
    expect: Vec<Assignment>,
    dirty: Option<Vec<(Segment, u32)>>,
    ledger_expect: Vec<LedgerTerm>,
}

/// One `ledger:` / `ledger-expect:` term.
#[derive(Clone, Copy, Debug)]
enum LedgerTerm {
    Vault(u64, u64, u128),
    Escrow(u64, u64, u64, u128),
    /// (user, slab, asset, allowance, expiry) when set up.
    NewCap(u64, u64, u64, u128, u64),
    /// (id, remaining, expiry) when expected.
    CapRemaining(u64, u128, Option<u64>),
    Account(u64, u64, u128),
    Events(usize),
    NextCap(u64),
}

fn ledger_terms(text: &str) -> Result<Vec<LedgerTerm>, String> {
    text.split_whitespace()
        .map(|item| {
            let bad = || {
                format!(
                    "expected `vault:U/A=N`, `escrow:U/S/A=N`, `cap:U/S/A=N@EXPIRY`, `cap#ID=N[@EXPIRY]`, \
                     `account:S/A=N`, `events=N` or `next-cap=N`, found `{item}`"
                )
            };
            let (place, value) = item.split_once('=').ok_or_else(bad)?;
            let amount = |text: &str| text.parse::<u128>().map_err(|_| bad());
            if let Some(id) = place.strip_prefix("cap#") {
                let (remaining, expiry) = match value.split_once('@') {
                    Some((remaining, expiry)) => (remaining, Some(number(expiry)?)),
                    None => (value, None),
                };
                return Ok(LedgerTerm::CapRemaining(number(id)?, amount(remaining)?, expiry));
            }
            match place {
                "events" => return Ok(LedgerTerm::Events(number(value)? as usize)),
                "next-cap" => return Ok(LedgerTerm::NextCap(number(value)?)),
                _ => {}
            }
            let (kind, key) = place.split_once(':').ok_or_else(bad)?;
            let key = key.split('/').map(number).collect::<Result<Vec<u64>, _>>()?;
            match (kind, key.as_slice()) {
                ("vault", &[user, asset]) => Ok(LedgerTerm::Vault(user, asset, amount(value)?)),
                ("escrow", &[user, slab, asset]) => {
                    Ok(LedgerTerm::Escrow(user, slab, asset, amount(value)?))
                }
                ("account", &[slab, asset]) => Ok(LedgerTerm::Account(slab, asset, amount(value)?)),
                ("cap", &[user, slab, asset]) => {
                    let (allowance, expiry) = value.split_once('@').ok_or_else(bad)?;
                    Ok(LedgerTerm::NewCap(
                        user,
                        slab,
                        asset,
                        amount(allowance)?,
                        number(expiry)?,
                    ))
                }
                _ => Err(bad()),
            }
        })
        .collect()
}

fn set_up(ledger: &mut Ledger, term: LedgerTerm) -> Result<(), String> {
    match term {
        LedgerTerm::Vault(user, asset, balance) => ledger.set_vault(user, asset, balance),
        LedgerTerm::Escrow(user, slab, asset, balance) => {
            ledger.set_escrow(user, slab, asset, balance)
        }
        LedgerTerm::Account(slab, asset, balance) => {
            ledger.set_account(slab, asset, balance);
        }
        LedgerTerm::NewCap(user, slab, asset, allowance, expiry) => {
            ledger.add_cap(curvevm_host::Cap::new(user, slab, asset, allowance, expiry));
        }
        other => return Err(format!("`ledger:` cannot set up {other:?}")),
    }
    Ok(())
}

fn check_ledger(host: &RollupHost, term: LedgerTerm) -> Option<String> {
    let ledger = &host.ledger;
    let (what, actual, expected) = match term {
        LedgerTerm::Vault(user, asset, balance) => (
            format!("vault {user}/{asset}"),
            ledger.vault_balance(user, asset),
            balance,
        ),
        LedgerTerm::Escrow(user, slab, asset, balance) => (
            format!("escrow {user}/{slab}/{asset}"),
            ledger.escrow_balance(user, slab, asset),
            balance,
        ),
        LedgerTerm::Account(slab, asset, balance) => (
            format!("account {slab}/{asset}"),
            ledger.account_balance(slab, asset),
            balance,
        ),
        LedgerTerm::CapRemaining(id, remaining, expiry) => {
            let cap = ledger.caps.get(&id);
            if let Some(expiry) = expiry
                && cap.map(|cap| cap.expiry_ms) != Some(expiry)
            {
                return Some(format!(
                    "cap #{id} expires at {:?}, expected {expiry}",
                    cap.map(|cap| cap.expiry_ms)
                ));
            }
            (
                format!("cap #{id} remaining"),
                cap.map_or(u128::MAX, |cap| cap.remaining),
                remaining,
            )
        }
        LedgerTerm::Events(count) => (
            "events".to_string(),
            host.events.len() as u128,
            count as u128,
        ),
        LedgerTerm::NextCap(next) => (
            "next cap id".to_string(),
            u128::from(ledger.next_cap),
            u128::from(next),
        ),
        LedgerTerm::NewCap(..) => return Some("`ledger-expect:` cannot mint caps".into()),
    };
    (actual != expected).then(|| format!("{what} is {actual}, expected {expected}"))
}

/// `role=slab id=7 now=1000 height=3`.
fn host_line(text: &str, caller: &mut Caller, clock: &mut Clock) -> Result<(), String> {
    for item in text.split_whitespace() {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("expected `key=value`, found `{item}`"))?;
        match key {
            "role" => {
                caller.role =
                    Role::from_name(value).ok_or_else(|| format!("unknown role `{value}`"))?
            }
            "id" => caller.id = number(value)?,
            "now" => clock.now_ms = number(value)?,
            "height" => clock.height = number(value)?,
            _ => return Err(format!("unknown host setting `{key}`")),
        }
    }
    Ok(())
}

/// `[pN.]segment[address]=value`: the program (`None` for the main one), segment, address, value.
type Assignment = (Option<u64>, Segment, u64, u64);

#[derive(Debug, Default)]
struct Spec {
    init: Vec<Assignment>,
    cases: Vec<Case>,
    verify_error: Option<String>,
    load_error: Option<String>,
    asm_error: Option<String>,
    ledger: Vec<LedgerTerm>,
    caller: Option<Caller>,
    clock: Clock,
}

fn number(text: &str) -> Result<u64, String> {
    parse_number(text.trim()).ok_or_else(|| format!("bad number `{text}`"))
}

/// `a, b, c` (empty items ignored).
fn word_list(text: &str) -> Result<Vec<u64>, String> {
    text.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(number)
        .collect()
}

/// `[pN.]seg[addr]=value …`.
fn assignments(text: &str) -> Result<Vec<Assignment>, String> {
    text.split_whitespace()
        .map(|item| {
            let bad = || format!("expected `[pN.]segment[address]=value`, found `{item}`");
            let (place, value) = item.split_once('=').ok_or_else(bad)?;
            let (program, place) = match place.strip_prefix('p').and_then(|p| p.split_once('.')) {
                Some((id, place)) => (Some(number(id)?), place),
                None => (None, place),
            };
            let (name, address) = place
                .strip_suffix(']')
                .and_then(|p| p.split_once('['))
                .ok_or_else(bad)?;
            let segment = Segment::from_name(name).ok_or_else(bad)?;
            Ok((program, segment, number(address)?, number(value)?))
        })
        .collect()
}

/// Another program of a file: its `; program:` settings and its text.
struct ProgramText<'a> {
    line: usize,
    id: u64,
    role: Role,
    interface: u8,
    deny: Vec<String>,
    text: &'a str,
}

/// Splits a file at its `; program:` lines: the main text and the other programs.
fn split_programs(text: &str) -> Result<(&str, Vec<ProgramText<'_>>), String> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if let Some(settings) = line.trim().strip_prefix(';').map(str::trim)
            && let Some(settings) = settings.strip_prefix("program:")
        {
            starts.push((index + 1, offset, offset + line.len(), settings.trim()));
        }
        offset += line.len();
    }
    let main = &text[..starts.first().map_or(text.len(), |s| s.1)];
    let mut programs = Vec::new();
    for (i, &(line, _, body, settings)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(text.len(), |next| next.1);
        let at = |message: String| format!("line {line}: {message}");
        let mut program = ProgramText {
            line,
            id: 0,
            role: Role::Slab,
            interface: 0,
            deny: Vec::new(),
            text: &text[body..end],
        };
        let mut id = None;
        for item in settings.split_whitespace() {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| at(format!("expected `key=value`, found `{item}`")))?;
            match key {
                "id" => id = Some(number(value).map_err(at)?),
                "role" => {
                    program.role = Role::from_name(value)
                        .ok_or_else(|| at(format!("unknown role `{value}`")))?;
                }
                "interface" => {
                    program.interface = u8::try_from(number(value).map_err(at)?)
                        .map_err(|_| at(format!("interface byte `{value}` is above 255")))?;
                }
                "deny" => program.deny = value.split(',').map(str::to_string).collect(),
                _ => return Err(at(format!("unknown program setting `{key}`"))),
            }
        }
        program.id = id.ok_or_else(|| at("a `; program:` line needs `id=`".into()))?;
        programs.push(program);
    }
    Ok((main, programs))
}

/// Assembles and loads another program with its `; init:` memory.
fn callee(program: &ProgramText<'_>) -> Result<Callee, String> {
    let at = |message: String| format!("program {} (line {}): {message}", program.id, program.line);
    let spec = parse_spec(program.text).map_err(at)?;
    let module = assemble(program.text).map_err(|e| at(e.to_string()))?;
    let loaded = RollupHost::load(module, program.role).map_err(|e| at(e.to_string()))?;
    let (params, slab, views) = initial_memory(loaded.module(), &spec.init).map_err(at)?;
    let mut instance = Instance::new(Arc::new(loaded), &params).map_err(|e| at(e.to_string()))?;
    instance.set_slab(slab).map_err(|e| at(e.to_string()))?;
    Ok(Callee {
        instance,
        caller: Caller {
            id: program.id,
            role: program.role,
        },
        interface_hash: [program.interface; 32],
        views,
    })
}

/// A program's parameters, slab and views, zeroed and then set by `init`.
type InitialMemory = (Vec<u64>, Vec<u64>, Vec<Vec<u64>>);

fn initial_memory(module: &curvevm::Module, init: &[Assignment]) -> Result<InitialMemory, String> {
    let layout = &module.layout;
    let mut params = vec![0; layout.params as usize];
    let mut slab = vec![0; layout.slab as usize];
    let mut views: Vec<Vec<u64>> = layout
        .views
        .iter()
        .map(|v| vec![0; v.words as usize])
        .collect();
    for &(program, segment, address, value) in init {
        if program.is_some() {
            return Err("`init:` sets the program it is written in; drop the `pN.`".into());
        }
        let target = match segment {
            Segment::Params => &mut params,
            Segment::Slab => &mut slab,
            Segment::View(index) => views
                .get_mut(usize::from(index))
                .ok_or_else(|| format!("`init:` names the undeclared view{index}"))?,
            other => return Err(format!("`init:` cannot set `{}`", other.name())),
        };
        *target.get_mut(address as usize).ok_or_else(|| {
            format!(
                "`init:` address {}[{address}] is out of bounds",
                segment.name()
            )
        })? = value;
    }
    Ok((params, slab, views))
}

fn parse_spec(text: &str) -> Result<Spec, String> {
    let mut spec = Spec::default();
    for (index, line) in text.lines().enumerate() {
        let Some(comment) = line.trim().strip_prefix(';') else {
            continue;
        };
        let Some((key, value)) = comment.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        let at = |message: String| format!("line {}: {message}", index + 1);
        match key.trim() {
            "init" => spec.init.extend(assignments(value).map_err(at)?),
            "run" => {
                let (call, returns) = match value.split_once("==") {
                    Some((call, returns)) => (call.trim(), Some(returns.trim())),
                    None => (value, None),
                };
                let (entry, args) = call
                    .strip_suffix(')')
                    .and_then(|c| c.split_once('('))
                    .ok_or_else(|| at(format!("expected `entry(args)`, found `{call}`")))?;
                let args = word_list(args).map_err(at)?;
                let returns = match returns {
                    Some(list) => {
                        let inner = list
                            .strip_prefix('[')
                            .and_then(|l| l.strip_suffix(']'))
                            .ok_or_else(|| at(format!("expected `[words]`, found `{list}`")))?;
                        Some(word_list(inner).map_err(at)?)
                    }
                    None => None,
                };
                spec.cases.push(Case {
                    line: index + 1,
                    entry: entry.trim().to_string(),
                    args,
                    returns,
                    limit: 1_000_000,
                    ..Case::default()
                });
            }
            "ledger" => spec.ledger.extend(ledger_terms(value).map_err(at)?),
            "host" => {
                let caller = spec.caller.get_or_insert(Caller {
                    id: 0,
                    role: Role::Router,
                });
                host_line(value, caller, &mut spec.clock).map_err(at)?;
            }
            key @ ("trap" | "gas" | "limit" | "expect" | "dirty" | "ledger-expect") => {
                let case = spec
                    .cases
                    .last_mut()
                    .ok_or_else(|| at(format!("`{key}:` before any `run:`")))?;
                match key {
                    "trap" => {
                        let (kind, pc) = match value.split_once(" at ") {
                            Some((kind, pc)) => (kind.trim(), Some(number(pc).map_err(at)? as u32)),
                            None => (value, None),
                        };
                        case.trap = Some((kind.to_string(), pc));
                    }
                    "gas" => case.gas = Some(number(value).map_err(at)?),
                    "ledger-expect" => case.ledger_expect.extend(ledger_terms(value).map_err(at)?),
                    "limit" => case.limit = number(value).map_err(at)?,
                    "expect" => case.expect.extend(assignments(value).map_err(at)?),
                    _ => {
                        let pages = value
                            .split_whitespace()
                            .map(|item| {
                                let (name, page) = item.split_once(':').ok_or_else(|| {
                                    format!("expected `segment:page`, found `{item}`")
                                })?;
                                let segment = Segment::from_name(name)
                                    .ok_or_else(|| format!("unknown segment `{name}`"))?;
                                Ok((segment, number(page)? as u32))
                            })
                            .collect::<Result<Vec<_>, String>>()
                            .map_err(at)?;
                        case.dirty = Some(pages);
                    }
                }
            }
            "verify-error" => spec.verify_error = Some(value.to_string()),
            "load-error" => spec.load_error = Some(value.to_string()),
            "asm-error" => spec.asm_error = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(spec)
}

/// Runs the file test `text` on `engine`; `Err` lists every failed expectation.
pub fn run_file(file: &str, engine: Engine) -> Result<(), String> {
    let (text, others) = split_programs(file)?;
    let spec = parse_spec(text)?;
    let module = match assemble(text) {
        Ok(module) => module,
        Err(error) => {
            return match &spec.asm_error {
                Some(expected) if error.to_string().contains(expected.as_str()) => Ok(()),
                _ => Err(format!("assembly failed: {error}")),
            };
        }
    };
    if let Some(expected) = &spec.asm_error {
        return Err(format!(
            "expected the assembly error `{expected}`, but it assembled"
        ));
    }
    // Every file doubles as a round-trip test of the text form.
    let disassembled = disassemble(&module);
    match assemble(&disassembled) {
        Ok(again) if again == module => {}
        Ok(_) => {
            return Err(format!(
                "disassembly does not reassemble to the same module:\n{disassembled}"
            ));
        }
        Err(error) => {
            return Err(format!(
                "disassembly does not assemble ({error}):\n{disassembled}"
            ));
        }
    }

    let caller = spec.caller.unwrap_or(Caller {
        id: 0,
        role: Role::Router,
    });
    let program = match RollupHost::load(module, caller.role) {
        Ok(program) => program,
        Err(error @ curvevm_host::LoadError::CapabilityNotGranted { .. }) => {
            return match &spec.load_error {
                Some(expected) if error.to_string().contains(expected.as_str()) => Ok(()),
                _ => Err(format!("loading failed: {error}")),
            };
        }
        Err(curvevm_host::LoadError::Verify(error)) => {
            return match &spec.verify_error {
                Some(expected) if error.to_string().contains(expected.as_str()) => Ok(()),
                _ => Err(format!("verification failed: {error}")),
            };
        }
    };
    if let Some(expected) = spec.verify_error.as_ref().or(spec.load_error.as_ref()) {
        return Err(format!(
            "expected the load error `{expected}`, but the module loaded"
        ));
    }
    let (params, slab, mut views) = initial_memory(program.module(), &spec.init)?;
    let program = Arc::new(program);
    let jit = match engine {
        Engine::Jit => Some(JitProgram::compile(Arc::clone(&program)).map_err(|e| e.to_string())?),
        _ => None,
    };
    let mut instance = Instance::new(program, &params).map_err(|e| e.to_string())?;
    instance.set_slab(slab).map_err(|e| e.to_string())?;

    let mut failures = Vec::new();
    let mut ledger = Ledger::default();
    for &term in &spec.ledger {
        set_up(&mut ledger, term)?;
    }
    let mut host = RollupHost::new(ledger, spec.clock, caller);
    let mut set = ProgramSet::default();
    for other in &others {
        set.programs.insert(other.id, callee(other)?);
        for entry in &other.deny {
            set.denied.push((other.id, entry.clone()));
        }
    }
    // Callees run on the caller's engine; the traced engine runs them interpreted.
    let interpreter = curvevm::Interpreter(ExecOptions {
        native_microcode: engine == Engine::Interpreter,
    });
    let jit_cache = JitCache::default();
    let callee_engine: &dyn curvevm::Engine = match engine {
        Engine::Jit => &jit_cache,
        _ => &interpreter,
    };
    for case in &spec.cases {
        let mut invoke = InvokeHost::new(&mut host, &mut set, callee_engine);
        let options = ExecOptions {
            native_microcode: engine == Engine::Interpreter,
        };
        let outcome = if engine == Engine::Traced {
            let mut trace = Trace::default();
            let outcome = instance.call_traced(
                &case.entry,
                &case.args,
                case.limit,
                &mut views,
                &mut invoke,
                options,
                &mut trace,
            );
            if let Ok(outcome) = &outcome {
                // Every paid instruction is one step, except the faulting one of a trap.
                let steps = trace.steps.len() as u64;
                let paid = match &outcome.result {
                    Ok(_) => outcome.gas_used,
                    Err(_) => steps,
                };
                if trace.steps.iter().any(|s| s.gas_left > case.limit) || steps > paid {
                    failures.push(format!(
                        "line {}: the trace has {steps} steps for {paid} gas",
                        case.line
                    ));
                }
                if let Some(last) = trace.steps.last()
                    && outcome.result.is_ok()
                    && last.gas_left != case.limit - outcome.gas_used
                {
                    failures.push(format!(
                        "line {}: the trace's gas does not end at the outcome's",
                        case.line
                    ));
                }
            }
            outcome
        } else if let Some(jit) = &jit {
            jit.call(
                &mut instance,
                &case.entry,
                &case.args,
                case.limit,
                &mut views,
                &mut invoke,
            )
            .map(|(outcome, _)| outcome)
        } else {
            instance.call(
                &case.entry,
                &case.args,
                case.limit,
                &mut views,
                &mut invoke,
                options,
            )
        };
        drop(invoke);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                failures.push(format!(
                    "line {}: the call could not start: {error}",
                    case.line
                ));
                continue;
            }
        };
        let mut fail =
            |message: String| failures.push(format!("line {} ({engine:?}): {message}", case.line));
        match (&outcome.result, &case.returns, &case.trap) {
            (Ok(words), Some(expected), None) if words != expected => {
                fail(format!("returned {words:?}, expected {expected:?}"));
            }
            (Ok(_), _, Some((kind, _))) => fail(format!("returned, expected the trap `{kind}`")),
            (Err(trap), _, None) => fail(format!("trapped: {trap}")),
            (Err(trap), _, Some((kind, pc))) => {
                let name = match trap.kind {
                    TrapKind::Host { code, .. } => format!(
                        "host({})",
                        Refusal::from_code(code).map_or("?", Refusal::name)
                    ),
                    other => other.name().to_string(),
                };
                // `host` alone accepts any refusal.
                if name != *kind && !(kind == "host" && name.starts_with("host(")) {
                    fail(format!("trapped with `{name}` ({trap}), expected `{kind}`"));
                }
                if let Some(pc) = pc
                    && trap.pc != *pc
                {
                    fail(format!("trapped at {}, expected at {pc}", trap.pc));
                }
            }
            _ => {}
        }
        if let Some(gas) = case.gas
            && outcome.gas_used != gas
        {
            fail(format!("used {} gas, expected {gas}", outcome.gas_used));
        }
        for &(program, segment, address, value) in &case.expect {
            let (memory, views) = match program {
                None => (instance.memory(), &views),
                Some(id) => match set.programs.get_mut(&id) {
                    Some(callee) => (callee.instance.memory(), &callee.views),
                    None => {
                        fail(format!(
                            "`expect:` names program {id}, which the file lacks"
                        ));
                        continue;
                    }
                },
            };
            let actual = match segment {
                Segment::View(index) => views
                    .get(usize::from(index))
                    .and_then(|v| v.get(address as usize))
                    .copied(),
                _ => memory.read(segment, address).ok(),
            };
            if actual != Some(value) {
                let prefix = program.map(|id| format!("p{id}.")).unwrap_or_default();
                fail(format!(
                    "{prefix}{}[{address}] is {actual:?}, expected {value}",
                    segment.name()
                ));
            }
        }
        for &term in &case.ledger_expect {
            if let Some(message) = check_ledger(&host, term) {
                fail(message);
            }
        }
        if let Some(expected) = &case.dirty {
            let pages: Vec<PageId> = instance.memory().take_dirty_pages();
            let pages: Vec<(Segment, u32)> = pages.iter().map(|p| (p.segment, p.page)).collect();
            if &pages != expected {
                fail(format!("dirty pages {pages:?}, expected {expected:?}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}
