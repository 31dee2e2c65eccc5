//! Times CurveVM (interpreter and Cranelift JIT) against solana-sbpf (interpreter and JIT) on
//! three loops doing the same work: ALU, load/add/store over a memory region, and calls of a
//! tiny function. Every engine must return the same result after the same instruction count
//! before anything is timed. `--json` prints the figures as JSON; `--sbpf-v0` assembles the sbpf
//! loops for SBPFv0 instead of the default config's newest version.

mod sbpf;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use curvevm::bench_programs::{alu_loop, slab_loop};
use curvevm::builder::Builder;
use curvevm::isa::{Cond, Segment};
use curvevm::module::{Entry, Layout};
use curvevm::{ExecOptions, Instance, Module, NoHost, Outcome, Program};
use curvevm_jit::JitProgram;
use solana_sbpf::ebpf::MM_INPUT_START;
use solana_sbpf::program::SBPFVersion;

/// The instruction (gas) limit of every run on every engine: Solana's per-transaction
/// compute-unit cap, well above the ~300,000 instructions of each loop.
const BUDGET: u64 = 1_400_000;
/// The solana-sbpf release Cargo.lock pins (printed with the figures).
const SBPF_VERSION: &str = "0.26.0";
const WARM_UP_RUNS: usize = 5;
const TIMED_RUNS: usize = 51;
const ENGINES: [&str; 4] = [
    "CurveVM interpreter",
    "CurveVM JIT",
    "sbpf interpreter",
    "sbpf JIT",
];

/// One loop as each VM spells it, with its iteration count.
struct Workload {
    name: &'static str,
    n: u64,
    /// Instructions per iteration: every engine must charge `per_iteration × n + 3`.
    per_iteration: u64,
    curvevm: Module,
    sbpf: &'static str,
    /// The sbpf input region for `n`.
    sbpf_input: Vec<u8>,
}

/// `main(n)`: n iterations of (call a function that adds 1 to r3 and returns, decrement,
/// branch), then returns r3; 5n + 3 instructions.
fn call_loop() -> Module {
    let mut b = Builder::new(0);
    let add_one = b.label();
    b.load(4, Segment::Args, 0);
    let top = b.label();
    b.bind(top);
    b.call_to(Cond::Always, 0, add_one);
    b.decrement(4);
    b.jump(Cond::NonZero, 4, top);
    b.store(3, Segment::Ret, 0);
    b.ret(Cond::Always, 0);
    b.bind(add_one);
    b.add_imm(0, 3, 1);
    b.ret(Cond::Always, 0);
    Module {
        code: b.finish().iter().map(|insn| insn.encode()).collect(),
        entries: vec![Entry {
            name: "main".into(),
            pc: 0,
            args: 1,
            ret: 1,
        }],
        layout: Layout {
            args: 1,
            ret: 1,
            ..Layout::default()
        },
        ..Module::default()
    }
}

fn workloads() -> Vec<Workload> {
    // CurveVM's slab is 2^20 words: the sbpf loop gets an input region of the same 8 MiB, whose
    // first word is the end address `input + 8n` (words n..1 are walked, word 0 is not).
    let slab_n = 50_000u64;
    let mut slab_input = vec![0u8; 8 << 20];
    slab_input[..8].copy_from_slice(&(MM_INPUT_START + 8 * slab_n).to_le_bytes());
    vec![
        Workload {
            name: "alu_loop",
            n: 75_000,
            per_iteration: 4,
            curvevm: alu_loop(),
            sbpf: sbpf::ALU_LOOP,
            sbpf_input: 75_000u64.to_le_bytes().to_vec(),
        },
        Workload {
            name: "slab_loop",
            n: slab_n,
            per_iteration: 6,
            curvevm: slab_loop(),
            sbpf: sbpf::SLAB_LOOP,
            sbpf_input: slab_input,
        },
        Workload {
            name: "call_loop",
            n: 60_000,
            per_iteration: 5,
            curvevm: call_loop(),
            sbpf: sbpf::CALL_LOOP,
            sbpf_input: 60_000u64.to_le_bytes().to_vec(),
        },
    ]
}

/// What one run computed: the returned word and the instructions it was charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    result: u64,
    instructions: u64,
}

type Engine = Box<dyn FnMut() -> Run>;

fn curvevm_run(outcome: Outcome) -> Run {
    Run {
        result: outcome.result.expect("the loop returns")[0],
        instructions: outcome.gas_used,
    }
}

/// The four engines for `workload`, in the order of [`ENGINES`], each with its own memory.
fn engines(workload: &Workload, sbpf_version: Option<SBPFVersion>) -> [Engine; 4] {
    let n = workload.n;
    let program =
        Arc::new(Program::load(workload.curvevm.clone(), &|_| false).expect("the loop verifies"));
    let jit = JitProgram::compile(Arc::clone(&program)).expect("the loop compiles");
    let mut interpreted = Instance::new(Arc::clone(&program), &[]).expect("no params");
    let mut compiled = Instance::new(program, &[]).expect("no params");
    let executable = sbpf::executable(workload.sbpf, sbpf::config(sbpf_version));
    let mut sbpf_interpreted =
        sbpf::Machine::new(Arc::clone(&executable), &workload.sbpf_input, false);
    let mut sbpf_compiled = sbpf::Machine::new(executable, &workload.sbpf_input, true);
    let sbpf_run = |(result, instructions)| Run {
        result,
        instructions,
    };
    [
        Box::new(move || {
            curvevm_run(
                interpreted
                    .call(
                        "main",
                        &[black_box(n)],
                        BUDGET,
                        &mut [],
                        &mut NoHost,
                        ExecOptions::default(),
                    )
                    .expect("the call starts"),
            )
        }),
        Box::new(move || {
            let (outcome, stats) = jit
                .call(
                    &mut compiled,
                    "main",
                    &[black_box(n)],
                    BUDGET,
                    &mut [],
                    &mut NoHost,
                )
                .expect("the call starts");
            assert!(!stats.bailed, "the JIT ran the loop natively throughout");
            curvevm_run(outcome)
        }),
        Box::new(move || sbpf_run(sbpf_interpreted.run(BUDGET))),
        Box::new(move || sbpf_run(sbpf_compiled.run(BUDGET))),
    ]
}

/// Median, minimum and maximum of the timed runs.
#[derive(Clone, Copy)]
struct Timing {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Timing {
    fn of(mut samples: Vec<Duration>) -> Timing {
        samples.sort();
        Timing {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }
}

struct Measured {
    workload: &'static str,
    n: u64,
    run: Run,
    timings: [Timing; 4],
}

/// Checks that the engines agree on a fresh state, warms them up, then times them in turn
/// (one run of each per round, so load on the machine falls on all four alike).
fn measure(workload: &Workload, sbpf_version: Option<SBPFVersion>) -> Measured {
    let mut engines = engines(workload, sbpf_version);
    let runs: Vec<Run> = engines.iter_mut().map(|engine| engine()).collect();
    for (name, run) in ENGINES.iter().zip(&runs) {
        assert_eq!(
            *run, runs[0],
            "{}: {name} differs from {}",
            workload.name, ENGINES[0]
        );
    }
    assert_eq!(
        runs[0].instructions,
        workload.per_iteration * workload.n + 3
    );
    for engine in &mut engines {
        for _ in 0..WARM_UP_RUNS {
            black_box(engine());
        }
    }
    let mut samples: [Vec<Duration>; 4] = Default::default();
    for _ in 0..TIMED_RUNS {
        for (engine, samples) in engines.iter_mut().zip(&mut samples) {
            let start = Instant::now();
            black_box(engine());
            samples.push(start.elapsed());
        }
    }
    Measured {
        workload: workload.name,
        n: workload.n,
        run: runs[0],
        timings: samples.map(Timing::of),
    }
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn ratio(numerator: Duration, denominator: Duration) -> f64 {
    numerator.as_secs_f64() / denominator.as_secs_f64()
}

fn print_table(results: &[Measured]) {
    println!(
        "{:<10} {:>7} {:>12}  {:<20} {:>11} {:>23} {:>10}",
        "loop", "n", "instructions", "engine", "median µs", "min – max µs", "Minsn/s"
    );
    for m in results {
        for (engine, timing) in ENGINES.iter().zip(&m.timings) {
            println!(
                "{:<10} {:>7} {:>12}  {:<20} {:>11.1} {:>23} {:>10.1}",
                m.workload,
                m.n,
                m.run.instructions,
                engine,
                micros(timing.median),
                format!("{:.1} – {:.1}", micros(timing.min), micros(timing.max)),
                m.run.instructions as f64 / timing.median.as_secs_f64() / 1e6,
            );
        }
        let [interpreter, jit, sbpf_interpreter, sbpf_jit] = m.timings.map(|t| t.median);
        println!(
            "{:<10} result {}; CurveVM JIT / sbpf JIT time {:.2}x; CurveVM JIT speedup over its \
             interpreter {:.1}x; CurveVM interpreter / sbpf interpreter time {:.2}x",
            "",
            m.run.result,
            ratio(jit, sbpf_jit),
            ratio(interpreter, jit),
            ratio(interpreter, sbpf_interpreter),
        );
    }
}

fn print_json(results: &[Measured], config: &str, sbpf_version: &str) {
    let loops: Vec<String> = results
        .iter()
        .map(|m| {
            let engines: Vec<String> = ENGINES
                .iter()
                .zip(&m.timings)
                .map(|(engine, t)| {
                    format!(
                        r#"{{"engine": "{engine}", "median_us": {:.3}, "min_us": {:.3}, "max_us": {:.3}, "instructions_per_second": {:.0}}}"#,
                        micros(t.median),
                        micros(t.min),
                        micros(t.max),
                        m.run.instructions as f64 / t.median.as_secs_f64(),
                    )
                })
                .collect();
            let [interpreter, jit, sbpf_interpreter, sbpf_jit] = m.timings.map(|t| t.median);
            format!(
                r#"    {{"loop": "{}", "n": {}, "instructions": {}, "result": {}, "engines": [{}], "curvevm_jit_over_sbpf_jit": {:.4}, "curvevm_jit_speedup_over_interpreter": {:.4}, "curvevm_interpreter_over_sbpf_interpreter": {:.4}}}"#,
                m.workload,
                m.n,
                m.run.instructions,
                m.run.result,
                engines.join(", "),
                ratio(jit, sbpf_jit),
                ratio(interpreter, jit),
                ratio(interpreter, sbpf_interpreter),
            )
        })
        .collect();
    println!(
        "{{\n  \"sbpf_crate\": \"{SBPF_VERSION}\",\n  \"sbpf_config\": \"{config}\",\n  \"sbpf_version\": \"{sbpf_version}\",\n  \"timed_runs\": {TIMED_RUNS},\n  \"loops\": [\n{}\n  ]\n}}",
        loops.join(",\n")
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|arg| arg == "--json");
    let sbpf_version = args
        .iter()
        .any(|arg| arg == "--sbpf-v0")
        .then_some(SBPFVersion::V0);
    if let Some(unknown) = args
        .iter()
        .find(|arg| !["--json", "--sbpf-v0"].contains(&arg.as_str()))
    {
        eprintln!("unknown argument {unknown}; usage: curvevm-peer-bench [--json] [--sbpf-v0]");
        std::process::exit(2);
    }
    let config = match sbpf_version {
        Some(version) => {
            format!("Config::default() with enabled_sbpf_versions {version:?}..={version:?}")
        }
        None => "Config::default()".to_string(),
    };
    let version = format!(
        "{:?}",
        sbpf::config(sbpf_version).enabled_sbpf_versions.end()
    );
    let results: Vec<Measured> = workloads()
        .iter()
        .map(|workload| measure(workload, sbpf_version))
        .collect();
    if json {
        print_json(&results, &config, &version);
    } else {
        println!(
            "solana-sbpf {SBPF_VERSION}, {config} (instruction meter on), assembled as \
             SBPF{version}; median of {TIMED_RUNS} runs after {WARM_UP_RUNS} warm-up runs"
        );
        print_table(&results);
    }
}
