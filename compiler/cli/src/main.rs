//! `curve`: the one command-line tool of the CurveScript stack.
//!
//! This binary is the only place in the front end that touches the file system, the terminal
//! and the process exit code; the libraries below it return values. Exit codes: 0 clean, 1 when
//! a checked file has errors (or `fmt --check` finds unformatted files), 2 on usage or IO
//! errors.

/// A node allocates per transaction in many places (frames, JSON, the index, the pools); with
/// glibc's allocator that was ~15 % of a node's CPU under load (BENCHMARKS.md, issue 22).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[macro_use]
mod output;
mod bench;
mod certify;
mod demo;
mod deploy;
mod keygen;
mod node;
mod render;
mod sim;
mod vm;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use curvescript_check::Governance;
use curvescript_syntax::{Code, Diagnostic};
use render::{Emitter, OutputFormat};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "curve",
    version,
    about = "CurveScript policy language tools",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check CurveScript files (directories are searched for `*.curve`, recursively).
    Check {
        /// Files or directories to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Governance limits (fee caps, approved oracles); without it those checks are skipped.
        #[arg(long, value_name = "FILE")]
        governance: Option<PathBuf>,
        /// How diagnostics are printed.
        #[arg(long, value_enum, default_value_t = FormatArg::Human)]
        format: FormatArg,
        /// Human output stops after this many diagnostics (all are counted; 0 shows all).
        #[arg(long, value_name = "N", default_value_t = render::DEFAULT_SHOWN_MAX)]
        max_diagnostics: usize,
    },
    /// Format CurveScript files canonically, in place (`-` reads stdin and writes stdout).
    Fmt {
        /// Files or directories to format (directories are searched recursively).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write nothing; print what would change as a diff and exit 1 if any file is not
        /// formatted.
        #[arg(long)]
        check: bool,
    },
    /// Explain a diagnostic code, e.g. `curve explain E0201`.
    Explain {
        /// The code.
        code: String,
    },
    /// Assemble and verify `.cvm` text into a binary module (`.cvmb`).
    Asm {
        /// The `.cvm` file.
        input: PathBuf,
        /// Output path (default: the input with extension `.cvmb`).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a module (binary or text) as canonical `.cvm` text.
    Disasm {
        /// The module.
        input: PathBuf,
    },
    /// Call one entrypoint of a module (binary or `.cvm` text) and print the outcome.
    Run(vm::RunArgs),
    /// Compile a script: per compiled block, `DIR/<kind>-<id>/` gets program.cvmb,
    /// program.cvm (annotated disassembly), program.ir, params.bin and manifest.json.
    Compile {
        /// The script.
        input: PathBuf,
        /// Output directory.
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Governance limits (fee caps, approved oracles).
        #[arg(long, value_name = "FILE")]
        governance: Option<PathBuf>,
    },
    /// Prove a compiled block's invariant certificate: writes certificate.proof (and the
    /// alt_bn128 proof, key and inputs for Solana) and records the proof in manifest.json.
    Prove(certify::ProveArgs),
    /// Verify a compiled block's certificate against the bytes in its directory; exit 1 with the
    /// reason when it does not hold.
    Verify(certify::VerifyArgs),
    /// Simulate a scenario: compile, prove and deploy its programs into one in-process rollup
    /// runtime, apply its batches, print every outcome and the final state root.
    Sim(sim::SimArgs),
    /// Generate a node's consensus and network keys (Solana-style JSON key files, mode 0600).
    Keygen(keygen::KeygenArgs),
    /// Run a sequencer node from its configuration (stops on SIGINT or SIGTERM).
    Node(node::NodeArgs),
    /// Start a committee of nodes on this machine (configs and keys written on first run).
    Localnet(node::LocalnetArgs),
    /// Load a running localnet with pre-signed transfers at a target rate; report committed
    /// tx/s, finality percentiles, CPU per node and the load average.
    Bench(bench::BenchArgs),
    /// Print the payout leaf and Merkle path of a withdrawal (what the Anchor program's
    /// `withdraw` takes), by the withdrawal's transaction hash or by batch height and index.
    WithdrawProof(node::WithdrawProofArgs),
    /// The whole stack in one command: compile and prove the example script, start a
    /// four-node localnet with the local Solana endpoint, deploy and register the programs,
    /// deposit, transact while a node is killed and restarted, withdraw to Solana, and check
    /// a summary against the nodes and the Solana accounts.
    Demo(demo::DemoArgs),
    /// Deploy proved blocks (`curve prove` output directories) to a running node and wait
    /// until each is executed; prints each program's id.
    Deploy(deploy::DeployArgs),
    /// Generate Rust client bindings for a program interface (oracle, slab, market).
    Bindings {
        /// The interface.
        #[arg(value_parser = ["oracle", "slab", "market"])]
        interface: String,
        /// Write here instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Print the canonical descriptor text (what the descriptor hash is taken over) instead.
        #[arg(long)]
        descriptor: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    /// rustc-style text with source snippets.
    Human,
    /// One JSON object per diagnostic, one per line.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            paths,
            governance,
            format,
            max_diagnostics,
        } => {
            let format = match format {
                FormatArg::Human => OutputFormat::Human,
                FormatArg::Json => OutputFormat::Json,
            };
            let emitter = Emitter::new(format).with_shown_max(max_diagnostics);
            run_check(&paths, governance.as_deref(), emitter)
        }
        Command::Fmt { paths, check } => run_fmt(&paths, check),
        Command::Explain { code } => run_explain(&code),
        Command::Asm { input, output } => vm::run_asm(&input, output),
        Command::Disasm { input } => vm::run_disasm(&input),
        Command::Run(run) => vm::run_run(run),
        Command::Compile {
            input,
            output,
            governance,
        } => run_compile(&input, &output, governance.as_deref()),
        Command::Prove(args) => certify::run_prove(args),
        Command::Verify(args) => certify::run_verify(args),
        Command::Sim(args) => sim::run_sim(args),
        Command::Keygen(args) => keygen::run_keygen(args),
        Command::Node(args) => node::run_node(args),
        Command::Localnet(args) => node::run_localnet(args),
        Command::Bench(args) => bench::run_bench(args),
        Command::WithdrawProof(args) => node::run_withdraw_proof(args),
        Command::Deploy(args) => deploy::run_deploy(args),
        Command::Demo(args) => demo::run_demo(args),
        Command::Bindings {
            interface,
            output,
            descriptor,
        } => run_bindings(&interface, output.as_deref(), descriptor),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            errln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Expands directories to the `*.curve` files under them, recursively and sorted, so output
/// order is stable. Hidden directories and `target` are skipped; symbolic links to directories
/// are not followed (no cycles).
fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" || !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        let walk = walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                let name = entry.file_name().to_string_lossy();
                entry.depth() == 0
                    || !(entry.file_type().is_dir() && (name.starts_with('.') || name == "target"))
            });
        for entry in walk {
            let entry =
                entry.with_context(|| format!("cannot read directory {}", path.display()))?;
            if entry.file_type().is_file()
                && entry.path().extension().is_some_and(|ext| ext == "curve")
            {
                found.push(entry.into_path());
            }
        }
        if found.is_empty() {
            bail!("no .curve files in {}", path.display());
        }
        files.extend(found);
    }
    Ok(files)
}

/// The warning printed when no governance file is given: its checks were skipped.
fn no_governance_warning(emitter: &mut Emitter) {
    let warning = Diagnostic::warning(
        Code::NoGovernance,
        Default::default(),
        "no --governance file given: fee caps and oracle approval were not checked",
    );
    emitter.emit_unlocated(&warning);
}

fn read_source(path: &Path) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Reads and parses a governance file; a parse error is rendered through `emitter` and gives
/// the exit code (2) to stop with.
fn read_governance(path: &Path, emitter: &mut Emitter) -> Result<Result<Governance, ExitCode>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read governance file {}", path.display()))?;
    Ok(match Governance::parse(&text) {
        Ok(governance) => Ok(governance),
        Err(diagnostic) => {
            emitter.emit(&path.display().to_string(), &text, &[diagnostic]);
            Err(ExitCode::from(2))
        }
    })
}

/// Checks and compiles one script; writes nothing unless both succeed.
fn run_compile(input: &Path, output: &Path, governance: Option<&Path>) -> Result<ExitCode> {
    let mut emitter = Emitter::new(OutputFormat::Human);
    let governance = match governance {
        Some(path) => match read_governance(path, &mut emitter)? {
            Ok(governance) => Some(governance),
            Err(code) => {
                emitter.summary("not compiled");
                return Ok(code);
            }
        },
        None => {
            no_governance_warning(&mut emitter);
            None
        }
    };
    let text = read_source(input)?;
    let name = input.display().to_string();
    let checked = curvescript_check::check_source(&text, governance.as_ref());
    if checked.has_errors() {
        emitter.emit(&name, &text, &checked.diagnostics);
        emitter.summary("not compiled");
        return Ok(ExitCode::from(1));
    }
    let compiled = curve_compiler::compile(&checked.script);
    let mut diagnostics = checked.diagnostics;
    diagnostics.extend(compiled.diagnostics.iter().cloned());
    emitter.emit(&name, &text, &diagnostics);
    if compiled.has_errors() {
        emitter.summary("not compiled: no artifact written");
        return Ok(ExitCode::from(1));
    }
    let file_name = input
        .file_name()
        .map_or_else(|| name.clone(), |n| n.to_string_lossy().into_owned());
    for artifact in &compiled.artifacts {
        let dir = output.join(artifact.slug());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let files: [(&str, Vec<u8>); 5] = [
            (
                "program.cvmb",
                curve_compiler::manifest::module_bytes(artifact),
            ),
            (
                "program.cvm",
                curve_compiler::listing::listing(artifact).into_bytes(),
            ),
            (
                "program.ir",
                curve_ir::print::program(&artifact.ir).into_bytes(),
            ),
            (
                "params.bin",
                curve_compiler::manifest::params_bytes(artifact),
            ),
            (
                "manifest.json",
                curve_compiler::manifest::manifest(artifact, &file_name, &text).into_bytes(),
            ),
        ];
        for (file, bytes) in files {
            let path = dir.join(file);
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        outln!("compiled {} → {}", artifact.slug(), dir.display());
    }
    emitter.summary(&format!(
        "compiled {} block{}",
        compiled.artifacts.len(),
        if compiled.artifacts.len() == 1 {
            ""
        } else {
            "s"
        }
    ));
    Ok(ExitCode::SUCCESS)
}

fn run_bindings(interface: &str, output: Option<&Path>, descriptor: bool) -> Result<ExitCode> {
    let interface = curve_compiler::abi::interface(interface)
        .with_context(|| format!("no interface `{interface}` (oracle, slab, market)"))?;
    let text = if descriptor {
        interface.canonical_text()
    } else {
        curve_compiler::bindings::generate(interface)
    };
    match output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

fn run_check(
    paths: &[PathBuf],
    governance_path: Option<&Path>,
    mut emitter: Emitter,
) -> Result<ExitCode> {
    let files = expand_paths(paths)?;
    let governance = match governance_path {
        Some(path) => match read_governance(path, &mut emitter)? {
            Ok(governance) => Some(governance),
            Err(code) => {
                emitter.summary("checked 0 files");
                return Ok(code);
            }
        },
        None => {
            no_governance_warning(&mut emitter);
            None
        }
    };
    // Read every file before checking any, so an unreadable path fails fast with exit 2.
    let mut sources = Vec::with_capacity(files.len());
    for file in &files {
        sources.push((file.display().to_string(), read_source(file)?));
    }
    for (name, text) in &sources {
        let checked = curvescript_check::check_source(text, governance.as_ref());
        emitter.emit(name, text, &checked.diagnostics);
    }
    emitter.summary(&format!(
        "checked {} file{}",
        sources.len(),
        if sources.len() == 1 { "" } else { "s" }
    ));
    Ok(if emitter.error_count() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_fmt(paths: &[PathBuf], check_only: bool) -> Result<ExitCode> {
    let files = expand_paths(paths)?;
    let mut emitter = Emitter::new(OutputFormat::Human);
    let mut unformatted = 0usize;
    for file in &files {
        let text = read_source(file)?;
        let name = file.display().to_string();
        let parsed = curvescript_syntax::parse(&text);
        if parsed.has_errors() {
            emitter.emit(&name, &text, &parsed.diagnostics);
            continue;
        }
        let formatted = curvescript_syntax::format::format_file(&parsed.file);
        if file.as_os_str() == "-" && !check_only {
            out!("{formatted}");
        } else if formatted != text {
            unformatted += 1;
            if check_only {
                // What `curve fmt` would change, as a unified diff on stdout.
                let diff = similar::TextDiff::from_lines(text.as_str(), formatted.as_str());
                out!(
                    "{}",
                    diff.unified_diff()
                        .context_radius(3)
                        .header(&name, &format!("{name} (formatted)"))
                );
                errln!("would reformat {name}");
            } else {
                std::fs::write(file, &formatted).with_context(|| format!("cannot write {name}"))?;
            }
        }
    }
    if emitter.error_count() > 0 {
        emitter.summary("not formatted: fix the syntax errors first");
        return Ok(ExitCode::from(1));
    }
    Ok(if check_only && unformatted > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run_explain(code: &str) -> Result<ExitCode> {
    let wanted = code.trim().to_ascii_uppercase();
    match Code::ALL.iter().find(|c| c.as_str() == wanted) {
        Some(found) => {
            outln!("{}: {}", found.as_str(), found.title());
            Ok(ExitCode::SUCCESS)
        }
        None => bail!("unknown diagnostic code `{code}`; codes look like E0201"),
    }
}
