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
//! ; asm-error: line 4: …                      the text must not assemble
//! ```
//!
//! Runs share one instance, in order, so a trapped run must leave the memory of the previous one.
//! Every file runs on every [`Engine`]; the outcomes must match the expectations on each.

use std::sync::Arc;

use curvevm::interp::Registers;
use curvevm::memory::{AccessError, Memory, PageId};
use curvevm::{ExecOptions, Host, Instance, Program, Segment, Trace};

use crate::text::{assemble, disassemble, parse_number};

/// The engines every file test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter with native microcode.
    Interpreter,
    /// The interpreter running microcode as its expansion.
    PureIsa,
    /// The interpreter in tracing mode (expansions, every step recorded).
    Traced,
}

impl Engine {
    /// All engines.
    pub const ALL: [Engine; 3] = [Engine::Interpreter, Engine::PureIsa, Engine::Traced];
}

/// The host the file tests run against (the real host calls arrive with the runtime):
///
/// | id | cost | effect |
/// |---|---|---|
/// | 0 | 10 | `r0 ← r0 + r1` (wrapping) |
/// | 1 | 1 | refuses with code `r0` |
/// | 2 | 1,000,000 | nothing (exhausts any small budget) |
/// | 3 | 2 | `slab[r0] ← r1` through the journal; refuses with code 1 when out of bounds |
#[derive(Clone, Copy, Debug, Default)]
pub struct TestHost;

impl Host for TestHost {
    fn provides(&self, id: u16) -> bool {
        id <= 3
    }

    fn cost(&self, id: u16, _: &Registers) -> u64 {
        [10, 1, 1_000_000, 2][usize::from(id.min(3))]
    }

    fn call(&mut self, id: u16, registers: &mut Registers, memory: &mut Memory) -> Result<(), u32> {
        match id {
            0 => {
                registers[0] = registers[0].wrapping_add(registers[1]);
                Ok(())
            }
            1 => Err(registers[0] as u32),
            2 => Ok(()),
            _ => memory
                .write(Segment::Slab, registers[0], registers[1])
                .map_err(|e| match e {
                    AccessError::OutOfBounds => 1,
                    AccessError::ReadOnly => 2,
                }),
        }
    }
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
    expect: Vec<(Segment, u64, u64)>,
    dirty: Option<Vec<(Segment, u32)>>,
}

#[derive(Debug, Default)]
struct Spec {
    init: Vec<(Segment, u64, u64)>,
    cases: Vec<Case>,
    verify_error: Option<String>,
    asm_error: Option<String>,
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

/// `seg[addr]=value …`.
fn assignments(text: &str) -> Result<Vec<(Segment, u64, u64)>, String> {
    text.split_whitespace()
        .map(|item| {
            let bad = || format!("expected `segment[address]=value`, found `{item}`");
            let (place, value) = item.split_once('=').ok_or_else(bad)?;
            let (name, address) = place
                .strip_suffix(']')
                .and_then(|p| p.split_once('['))
                .ok_or_else(bad)?;
            let segment = Segment::from_name(name).ok_or_else(bad)?;
            Ok((segment, number(address)?, number(value)?))
        })
        .collect()
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
            key @ ("trap" | "gas" | "limit" | "expect" | "dirty") => {
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
            "asm-error" => spec.asm_error = Some(value.to_string()),
            _ => {}
        }
    }
    Ok(spec)
}

/// Runs the file test `text` on `engine`; `Err` lists every failed expectation.
pub fn run_file(text: &str, engine: Engine) -> Result<(), String> {
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

    let host = TestHost;
    let program = match Program::load(module, &|id| host.provides(id)) {
        Ok(program) => program,
        Err(error) => {
            return match &spec.verify_error {
                Some(expected) if error.to_string().contains(expected.as_str()) => Ok(()),
                _ => Err(format!("verification failed: {error}")),
            };
        }
    };
    if let Some(expected) = &spec.verify_error {
        return Err(format!(
            "expected the verifier error `{expected}`, but the module verified"
        ));
    }
    let layout = program.module().layout.clone();
    let mut params = vec![0; layout.params as usize];
    let mut slab = vec![0; layout.slab as usize];
    let mut views: Vec<Vec<u64>> = layout
        .views
        .iter()
        .map(|v| vec![0; v.words as usize])
        .collect();
    for &(segment, address, value) in &spec.init {
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
    let mut instance = Instance::new(Arc::new(program), &params).map_err(|e| e.to_string())?;
    instance.set_slab(slab).map_err(|e| e.to_string())?;

    let mut failures = Vec::new();
    let mut host = TestHost;
    for case in &spec.cases {
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
                &mut host,
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
        } else {
            instance.call(
                &case.entry,
                &case.args,
                case.limit,
                &mut views,
                &mut host,
                options,
            )
        };
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
                if trap.kind.name() != kind {
                    fail(format!(
                        "trapped with `{}` ({trap}), expected `{kind}`",
                        trap.kind.name()
                    ));
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
        for &(segment, address, value) in &case.expect {
            let actual = match segment {
                Segment::View(index) => views
                    .get(usize::from(index))
                    .and_then(|v| v.get(address as usize))
                    .copied(),
                _ => instance.memory().read(segment, address).ok(),
            };
            if actual != Some(value) {
                fail(format!(
                    "{}[{address}] is {actual:?}, expected {value}",
                    segment.name()
                ));
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
