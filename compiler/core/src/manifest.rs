//! `manifest.json`: everything the prover, the rollup and the Solana registry need to know about
//! one artifact, in a fixed field order so two compilations give identical bytes.
//!
//! Two lists are kept apart on purpose: `parameter_conditions` are what the invariant
//! certificate proves about the parameter table; `runtime_guards` are VM aborts the compiler
//! inserted, checked on every call and never claimed as proven.

use curve_formats::encoding::Encode;
use curve_formats::poseidon::{Domain, hash_bytes, to_bytes};
use curvescript_syntax::LineIndex;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Artifact;

/// The manifest format tag.
pub const FORMAT: &str = "curve-manifest/1";

#[derive(Serialize)]
struct Manifest {
    format: &'static str,
    block: String,
    template: &'static str,
    role: &'static str,
    bytecode: Bytecode,
    params: Params,
    config_fingerprint: String,
    layout: Layout,
    descriptor: Descriptor,
    capabilities: Vec<&'static str>,
    accounts: Vec<String>,
    gas: Gas,
    parameter_conditions: Vec<String>,
    runtime_guards: Vec<RuntimeGuard>,
    source_map: Vec<SourceEntry>,
}

#[derive(Serialize)]
struct Bytecode {
    file: &'static str,
    bytes: usize,
    instructions: usize,
    sha256: String,
    poseidon: String,
}

#[derive(Serialize)]
struct Params {
    file: &'static str,
    poseidon: String,
    slots: Vec<Slot>,
}

#[derive(Serialize)]
struct Slot {
    index: usize,
    name: &'static str,
    source: String,
    value: String,
}

#[derive(Serialize)]
struct Layout {
    hash: String,
    slab_words: u32,
    regions: Vec<Region>,
}

#[derive(Serialize)]
struct Region {
    name: &'static str,
    offset: u32,
    words: u32,
}

#[derive(Serialize)]
struct Descriptor {
    hash: String,
    entries: Vec<EntryAbi>,
}

#[derive(Serialize)]
struct EntryAbi {
    name: String,
    args: u16,
    ret: u16,
}

#[derive(Serialize)]
struct Gas {
    budget: u64,
    bounds: Vec<EntryGas>,
}

#[derive(Serialize)]
struct EntryGas {
    entry: String,
    bound: u64,
}

#[derive(Serialize)]
struct RuntimeGuard {
    pc: u32,
    entry: String,
    abort_code: u8,
    guards: &'static str,
    step: Option<&'static str>,
}

#[derive(Serialize)]
struct SourceEntry {
    pcs: [u32; 2],
    step: String,
    script: Option<ScriptSpan>,
}

#[derive(Serialize)]
struct ScriptSpan {
    keyword: &'static str,
    line: usize,
    bytes: [usize; 2],
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn words_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The module's canonical bytes (the `.cvmb` file).
pub fn module_bytes(artifact: &Artifact) -> Vec<u8> {
    artifact.lowered.module.to_bytes()
}

/// The parameter table's bytes (`params.bin`: little-endian words).
pub fn params_bytes(artifact: &Artifact) -> Vec<u8> {
    words_bytes(&artifact.param_words())
}

/// The layout hash: SHA-256 over the state regions and the segment sizes. Values (fees, limits)
/// never enter it; pool sizes do.
pub fn layout_hash(artifact: &Artifact) -> String {
    let mut text = format!(
        "layout/v1 {} slab {}\n",
        artifact.template, artifact.lowered.module.layout.slab
    );
    for region in &artifact.layout {
        text.push_str(&format!(
            "{} {} {}\n",
            region.name, region.offset, region.words
        ));
    }
    sha256_hex(text.as_bytes())
}

/// The descriptor hash: SHA-256 over the entrypoint ABI (names, argument and return words) and
/// the declared capabilities.
pub fn descriptor_hash(artifact: &Artifact) -> String {
    let module = &artifact.lowered.module;
    let mut text = format!("descriptor/v1 {}\n", artifact.template);
    for entry in &module.entries {
        text.push_str(&format!("{} {} {}\n", entry.name, entry.args, entry.ret));
    }
    for capability in module.capabilities.iter() {
        text.push_str(&format!("cap {}\n", capability.name()));
    }
    sha256_hex(text.as_bytes())
}

/// The manifest of `artifact`, compiled from `source`.
pub fn manifest(artifact: &Artifact, source: &str) -> String {
    let module = &artifact.lowered.module;
    let code = module_bytes(artifact);
    let params = params_bytes(artifact);
    let lines = LineIndex::new(source);
    let fingerprint_text: String = artifact
        .params
        .iter()
        .filter(|slot| !slot.keyword.is_empty())
        .map(|slot| format!("{}.{}={}\n", slot.keyword, slot.arg, slot.value))
        .collect();
    let script_span = |keyword: Option<&'static str>| {
        keyword.map(|keyword| {
            let span = artifact.keyword_span(Some(keyword));
            ScriptSpan {
                keyword,
                line: lines.line_col(source, span.start).line,
                bytes: [span.start, span.end],
            }
        })
    };
    let manifest = Manifest {
        format: FORMAT,
        block: match &artifact.id {
            Some(id) => format!("{} {id:?}", artifact.kind),
            None => artifact.kind.to_string(),
        },
        template: artifact.template,
        role: artifact.role,
        bytecode: Bytecode {
            file: "program.cvmb",
            bytes: code.len(),
            instructions: module.code.len(),
            sha256: sha256_hex(&code),
            poseidon: hex::encode(to_bytes(&hash_bytes(Domain::Code, &code))),
        },
        params: Params {
            file: "params.bin",
            poseidon: hex::encode(to_bytes(&hash_bytes(Domain::Params, &params))),
            slots: artifact
                .params
                .iter()
                .enumerate()
                .map(|(index, slot)| Slot {
                    index,
                    name: slot.name,
                    source: if slot.keyword.is_empty() {
                        "derived".into()
                    } else {
                        format!("{} {}", slot.keyword, slot.arg)
                    },
                    value: slot.value.to_string(),
                })
                .collect(),
        },
        config_fingerprint: sha256_hex(fingerprint_text.as_bytes()),
        layout: Layout {
            hash: layout_hash(artifact),
            slab_words: module.layout.slab,
            regions: artifact
                .layout
                .iter()
                .map(|r| Region {
                    name: r.name,
                    offset: r.offset,
                    words: r.words,
                })
                .collect(),
        },
        descriptor: Descriptor {
            hash: descriptor_hash(artifact),
            entries: module
                .entries
                .iter()
                .map(|e| EntryAbi {
                    name: e.name.clone(),
                    args: e.args,
                    ret: e.ret,
                })
                .collect(),
        },
        capabilities: module.capabilities.iter().map(|c| c.name()).collect(),
        accounts: Vec::new(),
        gas: Gas {
            budget: artifact.gas_budget,
            bounds: artifact
                .lowered
                .gas_bounds
                .iter()
                .map(|(entry, bound)| EntryGas {
                    entry: entry.clone(),
                    bound: *bound,
                })
                .collect(),
        },
        parameter_conditions: artifact.conditions.iter().map(|c| c.text()).collect(),
        runtime_guards: artifact
            .lowered
            .guards
            .iter()
            .map(|g| RuntimeGuard {
                pc: g.pc,
                entry: g.entry.clone(),
                abort_code: g.code,
                guards: g.what,
                step: g.origin.map(|o| o.step),
            })
            .collect(),
        source_map: artifact
            .lowered
            .source_map
            .iter()
            .map(|range| SourceEntry {
                pcs: [range.start, range.end],
                step: range.step(),
                script: script_span(range.origin.and_then(|o| o.keyword)),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&manifest).expect("the manifest serializes");
    text.push('\n');
    text
}
