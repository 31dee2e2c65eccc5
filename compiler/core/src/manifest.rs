//! `manifest.json`: everything the prover, the rollup and the Solana registry need to know about
//! one artifact, in a fixed field order so two compilations give identical bytes.
//!
//! Two lists are kept apart on purpose: `parameter_conditions` are what the invariant
//! certificate proves about the parameter table; `runtime_guards` are VM aborts the compiler
//! inserted, checked on every call and never claimed as proven.

use std::collections::BTreeMap;

use curve_formats::certificate::{Row, Statement, VERSION};
use curve_formats::domain::ANY_CHAIN;
use curve_formats::encoding::Encode;
use curve_formats::poseidon::to_bytes;
use curve_formats::program::ProgramIdentity;
use curve_formats::{Kind, Tag};
use curvescript_syntax::LineIndex;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Artifact, abi};

/// The manifest format tag.
pub const FORMAT: &str = "curve-manifest/1";

#[derive(Serialize)]
struct Manifest {
    format: &'static str,
    block: String,
    /// The block id (what derived parameters such as an oracle's feed tag come from).
    id: Option<String>,
    source: SourceFile,
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
    certificate: Certificate,
    /// Every abort code the template names, for clients decoding a trap.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    abort_codes: Vec<AbortCode>,
    runtime_guards: Vec<RuntimeGuard>,
    source_map: Vec<SourceEntry>,
}

#[derive(Serialize)]
struct Bytecode {
    file: &'static str,
    bytes: usize,
    instructions: usize,
    sha256: String,
}

#[derive(Serialize)]
struct Params {
    file: &'static str,
    slots: Vec<Slot>,
}

/// The invariant certificate's statement; `proof` stays `null` until `curve prove` fills it.
#[derive(Serialize)]
struct Certificate {
    statement_version: u64,
    size_class: &'static str,
    h_code: String,
    h_conditions: String,
    h_params: String,
    rows: Vec<CertificateRow>,
    proof: Option<()>,
}

#[derive(Serialize)]
struct CertificateRow {
    kind: &'static str,
    i: u16,
    j: u16,
    bits: u8,
    condition: String,
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
    /// What the runtime rebuilds a generated module from (`Template::shape`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    shape: BTreeMap<&'static str, u32>,
}

#[derive(Serialize)]
struct Region {
    name: &'static str,
    offset: u32,
    words: u32,
}

#[derive(Serialize)]
struct Descriptor {
    interface: &'static str,
    hash: String,
    entries: Vec<EntryAbi>,
}

#[derive(Serialize)]
struct EntryAbi {
    name: &'static str,
    arg_words: u16,
    return_words: u16,
    args: Vec<String>,
    returns: Vec<String>,
    cap_handles: Vec<&'static str>,
    accounts: Vec<String>,
}

fn field_text(field: &abi::Field) -> String {
    if field.count == 1 {
        format!("{}: {}", field.name, field.ty.name())
    } else {
        format!("{}: [{}; {}]", field.name, field.ty.name(), field.count)
    }
}

fn account_text(account: &abi::Account) -> String {
    format!("{} {}", account.access.name(), account.name)
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
    /// The bound split by template step (`Lowered::step_gas`): what each check costs at worst.
    steps: Vec<StepGas>,
}

#[derive(Serialize)]
struct StepGas {
    step: String,
    bound: u64,
}

#[derive(Serialize)]
struct AbortCode {
    code: u8,
    name: &'static str,
}

#[derive(Serialize)]
struct RuntimeGuard {
    pc: u32,
    entry: String,
    abort_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    abort: Option<&'static str>,
    guards: &'static str,
    step: Option<&'static str>,
}

#[derive(Serialize)]
struct SourceEntry {
    pcs: [u32; 2],
    step: String,
    script: ScriptSpan,
}

#[derive(Serialize)]
struct SourceFile {
    file: String,
    sha256: String,
}

#[derive(Serialize)]
struct ScriptSpan {
    keyword: String,
    line: usize,
    column: usize,
    bytes: [usize; 2],
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The module's canonical bytes (the `.cvmb` file).
pub fn module_bytes(artifact: &Artifact) -> Vec<u8> {
    artifact.lowered.module.to_bytes()
}

/// The parameter table's bytes (`params.bin`: little-endian words).
pub fn params_bytes(artifact: &Artifact) -> Vec<u8> {
    curve_formats::encoding::le_bytes(&artifact.param_words())
}

/// The layout hash: SHA-256 over the state regions and the segment size. Values (fees, limits)
/// never enter it; pool sizes do.
pub fn layout_hash(artifact: &Artifact) -> String {
    layout_hash_of(
        artifact.template,
        artifact.lowered.module.layout.slab,
        &artifact.layout,
        &artifact.shape,
    )
}

/// The layout hash of `template`'s state of `slab_words` words made of `regions`, its module
/// generated for `shape` (none for a template with one module).
pub fn layout_hash_of(
    template: &str,
    slab_words: u32,
    regions: &[crate::Region],
    shape: &[(&str, u32)],
) -> String {
    let mut text = format!("layout/v1 {template} slab {slab_words}\n");
    for region in regions {
        text.push_str(&format!(
            "{} {} {}\n",
            region.name, region.offset, region.words
        ));
    }
    for (dimension, value) in shape {
        text.push_str(&format!("shape {dimension} {value}\n"));
    }
    hex::encode(Tag::new(Kind::Layout, ANY_CHAIN).digest(text.as_bytes()))
}

/// The descriptor hash: SHA-256 over the interface's canonical text ([`abi::Interface::hash`]).
pub fn descriptor_hash(artifact: &Artifact) -> String {
    hex::encode(artifact.interface.hash())
}

/// The identity the certificate binds: the module bytes `code`, the interface and the layout.
pub fn program_identity(artifact: &Artifact, code: &[u8]) -> ProgramIdentity {
    let mut layout = [0u8; 32];
    hex::decode_to_slice(layout_hash(artifact), &mut layout).expect("layout hashes are hex");
    ProgramIdentity::of_module(code, artifact.interface.hash(), layout)
}

/// A field element as manifests write it: 32 bytes little-endian, hex.
pub fn field_hex(element: &ark_bn254::Fr) -> String {
    hex::encode(to_bytes(element))
}

/// The certificate section over the module bytes `code` (already serialised by the caller):
/// each condition's row with its text, and the statement in the smallest class that holds it.
fn certificate(artifact: &Artifact, code: &[u8]) -> Certificate {
    let rows: Vec<Row> = artifact
        .conditions
        .iter()
        .map(|condition| condition.row(&artifact.params))
        .collect();
    let statement = Statement::new(
        &program_identity(artifact, code),
        &artifact.param_words(),
        &rows,
    )
    .expect("templates stay within the largest size class");
    Certificate {
        statement_version: VERSION,
        size_class: statement.class.name(),
        h_code: field_hex(&statement.code),
        h_conditions: field_hex(&statement.conditions),
        h_params: field_hex(&statement.params),
        rows: rows
            .iter()
            .zip(&artifact.conditions)
            .map(|(row, condition)| CertificateRow {
                kind: row.kind.name(),
                i: row.i,
                j: row.j,
                bits: row.bits,
                condition: condition.text(),
            })
            .collect(),
        proof: None,
    }
}

/// The manifest of `artifact`, compiled from `source` read from a file called `file_name` (a
/// name, not a path, so that the bytes do not depend on where the compiler ran).
pub fn manifest(artifact: &Artifact, file_name: &str, source: &str) -> String {
    let module = &artifact.lowered.module;
    let code = module_bytes(artifact);
    let lines = LineIndex::new(source);
    let fingerprint_text: String = artifact
        .params
        .iter()
        .filter(|slot| !slot.keyword.is_empty())
        .map(|slot| format!("{}.{}={}\n", slot.keyword, slot.arg, slot.value))
        .collect();
    // Steps without a statement of their own point at the block header.
    let script_span = |keyword: Option<&'static str>| {
        let span = artifact.keyword_span(keyword);
        let at = lines.line_col(source, span.start);
        ScriptSpan {
            keyword: keyword.map_or_else(|| artifact.kind.to_string(), str::to_string),
            line: at.line,
            column: at.col,
            bytes: [span.start, span.end],
        }
    };
    let manifest = Manifest {
        format: FORMAT,
        block: match &artifact.id {
            Some(id) => format!("{} {id:?}", artifact.kind),
            None => artifact.kind.to_string(),
        },
        id: artifact.id.clone(),
        source: SourceFile {
            file: file_name.to_string(),
            sha256: sha256_hex(source.as_bytes()),
        },
        template: artifact.template,
        role: artifact.role,
        bytecode: Bytecode {
            file: "program.cvmb",
            bytes: code.len(),
            instructions: module.code.len(),
            sha256: sha256_hex(&code),
        },
        params: Params {
            file: "params.bin",
            slots: artifact
                .params
                .iter()
                .enumerate()
                .map(|(index, slot)| Slot {
                    index,
                    name: slot.name,
                    source: if artifact
                        .constants
                        .iter()
                        .any(|(name, _)| *name == slot.name)
                    {
                        "constant".into()
                    } else if slot.keyword.is_empty() {
                        "derived".into()
                    } else {
                        format!("{} {}", slot.keyword, slot.arg)
                    },
                    value: slot.value.to_string(),
                })
                .collect(),
        },
        config_fingerprint: hex::encode(
            Tag::new(Kind::Manifest, ANY_CHAIN).digest(fingerprint_text.as_bytes()),
        ),
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
            shape: artifact.shape.iter().copied().collect(),
        },
        descriptor: Descriptor {
            interface: artifact.interface.template,
            hash: descriptor_hash(artifact),
            entries: artifact
                .interface
                .entries
                .iter()
                .map(|e| EntryAbi {
                    name: e.name,
                    arg_words: e.arg_words(),
                    return_words: e.return_words(),
                    args: e.args.iter().map(field_text).collect(),
                    returns: e.returns.iter().map(field_text).collect(),
                    cap_handles: e.cap_handles().map(|f| f.name).collect(),
                    accounts: e.accounts.iter().map(account_text).collect(),
                })
                .collect(),
        },
        capabilities: module.capabilities.iter().map(|c| c.name()).collect(),
        accounts: {
            let mut accounts: Vec<String> = artifact
                .interface
                .entries
                .iter()
                .flat_map(|e| e.accounts.iter().map(|a| a.name.to_string()))
                .collect();
            accounts.sort();
            accounts.dedup();
            accounts
        },
        gas: Gas {
            budget: artifact.gas_budget,
            bounds: artifact
                .lowered
                .gas_bounds
                .iter()
                .map(|(entry, bound)| EntryGas {
                    entry: entry.clone(),
                    bound: *bound,
                    steps: artifact
                        .lowered
                        .step_gas
                        .iter()
                        .find(|(name, _)| name == entry)
                        .map(|(_, steps)| {
                            steps
                                .iter()
                                .map(|(step, bound)| StepGas {
                                    step: step.clone(),
                                    bound: *bound,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        },
        parameter_conditions: artifact.conditions.iter().map(|c| c.text()).collect(),
        certificate: certificate(artifact, &code),
        abort_codes: artifact
            .interface
            .abort_codes
            .iter()
            .map(|&(code, name)| AbortCode { code, name })
            .collect(),
        runtime_guards: artifact
            .lowered
            .guards
            .iter()
            .map(|g| RuntimeGuard {
                pc: g.pc,
                entry: g.entry.clone(),
                abort_code: g.code,
                abort: artifact.interface.abort_name(g.code),
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

/// Where a trap happened in script terms, read back from a manifest's source map and guard list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrapSite {
    /// The script file's name.
    pub file: String,
    /// The template step, e.g. `oracle.read/staleness`.
    pub step: String,
    /// The statement keyword (the block kind for steps without one) and its 1-based line
    /// and column.
    pub script: (String, usize, usize),
    /// The runtime guard at that pc, if the trap is a compiler-inserted guard's abort.
    pub guard: Option<String>,
}

impl std::fmt::Display for TrapSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (keyword, line, column) = &self.script;
        write!(
            f,
            "{}:{line}:{column} ({keyword}), template step {}",
            self.file, self.step
        )?;
        if let Some(guard) = &self.guard {
            write!(f, "; runtime guard `{guard}`")?;
        }
        Ok(())
    }
}

#[derive(serde::Deserialize)]
struct ManifestView {
    source: SourceView,
    runtime_guards: Vec<GuardView>,
    source_map: Vec<SourceEntryView>,
}

#[derive(serde::Deserialize)]
struct SourceView {
    file: String,
}

#[derive(serde::Deserialize)]
struct GuardView {
    pc: u32,
    guards: String,
}

#[derive(serde::Deserialize)]
struct SourceEntryView {
    pcs: [u32; 2],
    step: String,
    script: ScriptView,
}

#[derive(serde::Deserialize)]
struct ScriptView {
    keyword: String,
    line: usize,
    column: usize,
}

/// A manifest's trap locations, parsed once (a runtime keeps one per live program, so a
/// reverted call does not re-read the manifest's JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrapSites {
    file: String,
    /// Source-map entries in manifest order.
    ranges: Vec<SourceRange>,
    guards: std::collections::BTreeMap<u32, String>,
}

/// One source-map entry: the `[start, end)` pcs of a template step and its script site.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SourceRange {
    pcs: [u32; 2],
    step: String,
    script: (String, usize, usize),
}

impl TrapSites {
    /// Reads the source map and guard list of a manifest; `Err` when the text is not a manifest.
    pub fn parse(manifest_json: &str) -> Result<Self, serde_json::Error> {
        let view: ManifestView = serde_json::from_str(manifest_json)?;
        let mut guards = std::collections::BTreeMap::new();
        for guard in view.runtime_guards {
            // The first guard listed at a pc names it, as a front-to-back search would.
            guards.entry(guard.pc).or_insert(guard.guards);
        }
        Ok(TrapSites {
            file: view.source.file,
            ranges: view
                .source_map
                .into_iter()
                .map(|e| SourceRange {
                    pcs: e.pcs,
                    step: e.step,
                    script: (e.script.keyword, e.script.line, e.script.column),
                })
                .collect(),
            guards,
        })
    }

    /// The script location of the instruction at `pc`; `None` when no source-map range covers
    /// it.
    pub fn at(&self, pc: u32) -> Option<TrapSite> {
        let range = self
            .ranges
            .iter()
            .find(|r| r.pcs[0] <= pc && pc < r.pcs[1])?;
        Some(TrapSite {
            file: self.file.clone(),
            step: range.step.clone(),
            script: range.script.clone(),
            guard: self.guards.get(&pc).cloned(),
        })
    }
}

/// The script location of the instruction at `pc`, from the manifest text; `Ok(None)` when
/// no source-map range covers it, `Err` when the text is not a manifest.
pub fn trap_site(manifest_json: &str, pc: u32) -> Result<Option<TrapSite>, serde_json::Error> {
    Ok(TrapSites::parse(manifest_json)?.at(pc))
}
