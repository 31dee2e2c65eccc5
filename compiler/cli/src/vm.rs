//! `curve asm`, `curve disasm` and `curve run`: the CurveVM tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use curve_formats::encoding::{Decode, Encode};
use curvevm::{ExecOptions, Instance, Module, Trace};
use curvevm_asm::text::instruction_text;
use curvevm_host::{Caller, Clock, Ledger, Role, RollupHost};
use curvevm_jit::JitProgram;

use crate::FormatArg;

/// Reads a module from `.cvm` text or binary (by its magic), reporting assembly errors with the
/// file's path. `Ok(Err(message))` is a rejected input (exit 1).
fn read_module(path: &Path) -> Result<std::result::Result<Module, String>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(&curvevm::module::MAGIC) {
        return Ok(Module::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display())));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{} is neither a module nor UTF-8 text", path.display()))?;
    Ok(curvevm_asm::assemble(&text).map_err(|e| format!("{}: {e}", path.display())))
}

fn parse_word(text: &str) -> Result<u64> {
    curvevm_asm::text::parse_number(text).with_context(|| format!("`{text}` is not a u64"))
}

/// `curve asm`: assemble and verify (any host call id accepted), write the binary module.
pub fn run_asm(input: &Path, output: Option<PathBuf>) -> Result<ExitCode> {
    let module = match read_module(input)? {
        Ok(module) => module,
        Err(message) => {
            errln!("error: {message}");
            return Ok(ExitCode::from(1));
        }
    };
    if let Err(error) = curvevm::verify(&module, &|_| true) {
        errln!("error: {}: {error}", input.display());
        return Ok(ExitCode::from(1));
    }
    let output = output.unwrap_or_else(|| input.with_extension("cvmb"));
    std::fs::write(&output, module.to_bytes())
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// `curve disasm`: print canonical `.cvm` text.
pub fn run_disasm(input: &Path) -> Result<ExitCode> {
    match read_module(input)? {
        Ok(module) => {
            out!("{}", curvevm_asm::disassemble(&module));
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            errln!("error: {message}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Options of `curve run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The module (binary or `.cvm` text), or a directory `curve compile` wrote: its
    /// program.cvmb, params.bin and role are used, and a trap is located in the script.
    input: PathBuf,
    /// Entrypoint name.
    #[arg(long)]
    entry: String,
    /// Gas limit.
    #[arg(long, default_value_t = 1_000_000)]
    gas: u64,
    /// An argument word (repeat for several; decimal or 0x hex).
    #[arg(long = "arg", value_name = "WORD")]
    args: Vec<String>,
    /// A parameter word, in order (missing ones are zero).
    #[arg(long = "param", value_name = "WORD")]
    params: Vec<String>,
    /// Run microcode as its pure-ISA expansion instead of natively.
    #[arg(long, conflicts_with = "jit")]
    pure: bool,
    /// Print every executed instruction to stderr.
    #[arg(long, conflicts_with = "jit")]
    trace: bool,
    /// Run compiled (Cranelift JIT); same outcome and gas as the interpreter.
    #[arg(long)]
    jit: bool,
    /// The program's role, which bounds the capabilities it may declare (default: the
    /// manifest's, else router).
    #[arg(long, value_parser = ["router", "slab", "oracle", "market"])]
    role: Option<String>,
    /// The calling program's id (escrow calls are scoped to it).
    #[arg(long, default_value_t = 0)]
    caller: u64,
    /// The rollup clock in milliseconds (what `host clock` returns).
    #[arg(long = "now", value_name = "NOW", default_value_t = 0)]
    now_ms: u64,
    /// The chain id `host clock` returns (what signed messages are bound to).
    #[arg(long, value_name = "ID", default_value_t = 1)]
    chain_id: u64,
    /// Print the outcome as human text or one JSON object.
    #[arg(long, value_enum, default_value_t = FormatArg::Human)]
    format: FormatArg,
}

/// What `curve compile` wrote for one block, as `curve run` uses it.
struct CompiledDir {
    params: Vec<u64>,
    manifest: String,
    role: Option<String>,
}

/// Reads `dir/params.bin` as little-endian words; `Ok(Err(reason))` when its length is not a
/// whole number of words.
pub(crate) fn param_words(dir: &Path) -> Result<std::result::Result<Vec<u64>, String>> {
    let path = dir.join("params.bin");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(curve_formats::encoding::le_words(&bytes).ok_or_else(|| {
        format!(
            "{}: {} bytes is not a whole number of words",
            path.display(),
            bytes.len()
        )
    }))
}

/// Reads an artifact directory: the module, the parameter words and the manifest.
fn read_compiled_dir(dir: &Path) -> Result<(std::result::Result<Module, String>, CompiledDir)> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let module = read_module(&dir.join("program.cvmb"))?;
    let params = param_words(dir)?.map_err(|message| anyhow::anyhow!(message))?;
    let manifest = String::from_utf8(read("manifest.json")?)
        .with_context(|| format!("{}: not UTF-8", dir.join("manifest.json").display()))?;
    let role = serde_json::from_str::<serde_json::Value>(&manifest)
        .with_context(|| format!("{}: not JSON", dir.join("manifest.json").display()))?
        .get("role")
        .and_then(|r| r.as_str())
        .map(str::to_string);
    Ok((
        module,
        CompiledDir {
            params,
            manifest,
            role,
        },
    ))
}

/// `curve run`: load, call one entrypoint, print the outcome; exit 1 on a trap or rejection.
pub fn run_run(run: RunArgs) -> Result<ExitCode> {
    let (module, compiled) = if run.input.is_dir() {
        let (module, compiled) = read_compiled_dir(&run.input)?;
        if !run.params.is_empty() {
            bail!(
                "{} holds its parameter table (params.bin); --param is for bare modules",
                run.input.display()
            );
        }
        (module, Some(compiled))
    } else {
        (read_module(&run.input)?, None)
    };
    let module = match module {
        Ok(module) => module,
        Err(message) => {
            errln!("error: {message}");
            return Ok(ExitCode::from(1));
        }
    };
    let args = run
        .args
        .iter()
        .map(|a| parse_word(a))
        .collect::<Result<Vec<_>>>()?;
    let mut params = match &compiled {
        Some(compiled) => compiled.params.clone(),
        None => run
            .params
            .iter()
            .map(|a| parse_word(a))
            .collect::<Result<Vec<_>>>()?,
    };
    let declared = module.layout.params as usize;
    if params.len() > declared {
        bail!(
            "{} parameter word(s) given; the module declares {declared}",
            params.len()
        );
    }
    params.resize(declared, 0);
    let mut views: Vec<Vec<u64>> = module
        .layout
        .views
        .iter()
        .map(|v| vec![0; v.words as usize])
        .collect();
    let role_name = run
        .role
        .clone()
        .or_else(|| compiled.as_ref().and_then(|c| c.role.clone()))
        .unwrap_or_else(|| "router".into());
    let role = Role::from_name(&role_name)
        .with_context(|| format!("unknown role `{role_name}` (router, slab, oracle, market)"))?;
    let program = match RollupHost::load(module, role) {
        Ok(program) => Arc::new(program),
        Err(error) => {
            errln!("error: {}: {error}", run.input.display());
            return Ok(ExitCode::from(1));
        }
    };
    // An empty ledger: host calls see the clock, hashes and signatures; balances start at zero.
    let mut host = RollupHost::new(
        Ledger::default(),
        Clock {
            now_ms: run.now_ms,
            height: 0,
            chain_id: run.chain_id,
        },
        Caller {
            id: run.caller,
            role,
        },
    );
    let jit = if run.jit {
        Some(JitProgram::compile(Arc::clone(&program)).map_err(|e| anyhow::anyhow!("{e}"))?)
    } else {
        None
    };
    let mut instance =
        Instance::new(Arc::clone(&program), &params).map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = ExecOptions {
        native_microcode: !run.pure,
    };
    let mut trace = Trace::default();
    let mut native_gas = None;
    let outcome = if let Some(jit) = &jit {
        jit.call(
            &mut instance,
            &run.entry,
            &args,
            run.gas,
            &mut views,
            &mut host,
        )
        .map(|(outcome, stats)| {
            native_gas = Some(stats.native_gas);
            outcome
        })
    } else if run.trace {
        instance.call_traced(
            &run.entry, &args, run.gas, &mut views, &mut host, options, &mut trace,
        )
    } else {
        instance.call(&run.entry, &args, run.gas, &mut views, &mut host, options)
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => bail!("{error}"),
    };
    let words = program.module().code.as_slice();
    let text_at = |pc: u32| instruction_text(words[pc as usize], &|target| target.to_string());
    if run.trace {
        for step in &trace.steps {
            errln!(
                "{:>6}  gas {:>10}  {}",
                step.pc,
                step.gas_left,
                text_at(step.pc)
            );
        }
    }
    let trapped = outcome.result.is_err();
    // A compiled program's trap is located in the script through the manifest's source map.
    let site = match (&compiled, &outcome.result) {
        (Some(compiled), Err(trap)) => {
            curve_compiler::manifest::trap_site(&compiled.manifest, trap.pc).with_context(|| {
                format!(
                    "{}: not a manifest",
                    run.input.join("manifest.json").display()
                )
            })?
        }
        _ => None,
    };
    if matches!(run.format, FormatArg::Json) {
        let mut value = match &outcome.result {
            Ok(words) => {
                serde_json::json!({"status": "returned", "gas_used": outcome.gas_used, "return": words})
            }
            Err(trap) => serde_json::json!({
                "status": "trapped",
                "gas_used": outcome.gas_used,
                "trap": trap.kind.name(),
                "message": trap.kind.to_string(),
                "pc": trap.pc,
                "instruction": text_at(trap.pc),
            }),
        };
        if let Some(site) = &site {
            value["script"] = serde_json::json!({
                "file": site.file,
                "step": site.step,
                "keyword": site.script.0,
                "line": site.script.1,
                "column": site.script.2,
                "guard": site.guard,
            });
        }
        value["engine"] = serde_json::json!(if run.jit { "jit" } else { "interpreter" });
        if let Some(native) = native_gas {
            value["native_gas"] = serde_json::json!(native);
        }
        value["events"] = serde_json::json!(
            host.events
                .iter()
                .map(|e| serde_json::json!({"topic": e.topic, "words": e.words}))
                .collect::<Vec<_>>()
        );
        outln!("{value}");
    } else {
        match &outcome.result {
            Ok(words) => outln!("returned {words:?}, gas used {}", outcome.gas_used),
            Err(trap) => outln!(
                "trapped: {} at instruction {} (`{}`), gas used {}",
                trap.kind,
                trap.pc,
                text_at(trap.pc),
                outcome.gas_used
            ),
        }
        if let Some(site) = &site {
            outln!("  --> {site}");
        }
    }
    Ok(if trapped {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
