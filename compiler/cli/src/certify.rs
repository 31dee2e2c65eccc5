//! `curve prove` and `curve verify`: invariant certificates for `curve compile` output.
//!
//! Both take a block directory (with `manifest.json`) or a directory of block directories.
//! Neither trusts the manifest: the template is the one whose bytecode `program.cvmb` is, the
//! condition rows are that template's (as the runtime rebuilds them at deploy), the manifest's
//! `template`, `role`, `parameter_conditions`, rows and size class must say the same, the
//! parameter table must hold the template's constants and id-derived slots, and the statement is
//! rebuilt from the bytes; a mismatch is reported as the file that changed.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use curve_certificate::keys::{self, KeyStore, Mode, PreparedVerifyingKey, Progress, ProvingKey};
use curve_certificate::{proof, solana};
use curve_compiler::manifest::field_hex;
use curve_formats::certificate::{Row, RowKind, SizeClass, Statement};
use curve_formats::encoding::Decode;
use curve_formats::program::ProgramIdentity;
use indicatif::{ProgressBar, ProgressStyle};
use rand_core::{OsRng, RngCore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The proof file `curve prove` writes beside the manifest.
const PROOF_FILE: &str = "certificate.proof";

/// Options shared by both commands.
#[derive(clap::Args)]
pub struct KeyArgs {
    /// Where development keys are cached (default: `$CURVE_KEYS_DIR`, else
    /// `~/.cache/curve/keys`).
    #[arg(long, value_name = "DIR")]
    keys_dir: Option<PathBuf>,
}

impl KeyArgs {
    /// `--keys-dir`, when given.
    pub fn dir(&self) -> Option<&Path> {
        self.keys_dir.as_deref()
    }
}

/// `curve prove` arguments.
#[derive(clap::Args)]
pub struct ProveArgs {
    /// A `curve compile` output directory (one block, or a directory of blocks).
    dir: PathBuf,
    #[command(flatten)]
    keys: KeyArgs,
    /// A proving key from a ceremony (uncompressed arkworks encoding) instead of development keys.
    #[arg(long, value_name = "FILE")]
    pk: Option<PathBuf>,
}

/// `curve verify` arguments.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A `curve compile` output directory (one block, or a directory of blocks).
    dir: PathBuf,
    #[command(flatten)]
    keys: KeyArgs,
    /// A verifying key from a ceremony (compressed arkworks encoding); development keys are then
    /// refused.
    #[arg(long, value_name = "FILE")]
    vk: Option<PathBuf>,
}

/// The block directories under `dir`: itself if it holds a manifest, else its subdirectories
/// that do, sorted.
fn block_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir.join("manifest.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        if path.join("manifest.json").is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    if dirs.is_empty() {
        bail!(
            "{} holds no manifest.json (neither itself nor a subdirectory): run `curve compile` first",
            dir.display()
        );
    }
    Ok(dirs)
}

/// One block directory as the certificate sees it.
struct Block {
    /// What `program.cvmb` is: its hash, the template's interface and layout.
    identity: ProgramIdentity,
    /// `params.bin` as words.
    params: Vec<u64>,
    manifest: Value,
    class: SizeClass,
    rows: Vec<Row>,
    /// The statement rebuilt from the files.
    statement: Statement,
}

/// A refusal with its reason (exit 1), as opposed to an IO error (exit 2).
type Checked<T> = std::result::Result<T, String>;

fn read(dir: &Path, file: &str) -> Result<Vec<u8>> {
    let path = dir.join(file);
    std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn certificate_section<'a>(manifest: &'a Value, dir: &Path) -> Checked<&'a Value> {
    manifest.get("certificate").ok_or_else(|| {
        format!(
            "{}: the manifest has no certificate section (compiled by an older curve?)",
            dir.display()
        )
    })
}

fn parse_rows(certificate: &Value) -> Option<Vec<Row>> {
    certificate
        .get("rows")?
        .as_array()?
        .iter()
        .map(|row| {
            let field = |name: &str| row.get(name).and_then(Value::as_u64);
            Some(Row {
                kind: RowKind::from_name(row.get("kind")?.as_str()?)?,
                i: u16::try_from(field("i")?).ok()?,
                j: u16::try_from(field("j")?).ok()?,
                bits: u8::try_from(field("bits")?).ok()?,
            })
        })
        .collect()
}

/// Reads a block directory and rebuilds its statement from the bytes and the template that owns
/// the bytecode; checks the bytecode with the VM's load-time verifier and the manifest's claims
/// and hashes against what was rebuilt.
fn load_block(dir: &Path) -> Result<Checked<Block>> {
    let manifest_text = read(dir, "manifest.json")?;
    let manifest: Value = match serde_json::from_slice(&manifest_text) {
        Ok(value) => value,
        Err(e) => return Ok(Err(format!("{}/manifest.json: {e}", dir.display()))),
    };
    let certificate = match certificate_section(&manifest, dir) {
        Ok(c) => c,
        Err(e) => return Ok(Err(e)),
    };
    let code = read(dir, "program.cvmb")?;
    let module = match curvevm::Module::from_bytes(&code) {
        Ok(module) => module,
        Err(e) => return Ok(Err(format!("{}/program.cvmb: {e}", dir.display()))),
    };
    if let Err(e) = curvevm::verify(&module, &|id| curvevm::hostcall::function(id).is_some()) {
        return Ok(Err(format!("{}/program.cvmb: {e}", dir.display())));
    }
    let Some(template) = curve_compiler::templates::by_image(&code, &manifest) else {
        return Ok(Err(format!(
            "{}/program.cvmb is not the bytecode of any template (sha256 {}): a certificate over \
             it proves nothing a deployer would accept",
            dir.display(),
            hex::encode(Sha256::digest(&code))
        )));
    };
    let rows = template.rows();
    let class = SizeClass::smallest_for(template.param_names.len(), rows.len())
        .expect("templates fit a size class");
    if let Err(e) = manifest_agrees(&manifest, &template, &rows, class) {
        return Ok(Err(format!("{}/manifest.json: {e}", dir.display())));
    }
    let params = match crate::vm::param_words(dir)? {
        Ok(params) => params,
        Err(message) => return Ok(Err(message)),
    };
    if params.len() != template.param_names.len() {
        return Ok(Err(format!(
            "{}/params.bin has {} words; the `{}` template takes {}",
            dir.display(),
            params.len(),
            template.name,
            template.param_names.len()
        )));
    }
    let id = manifest.get("id").and_then(Value::as_str);
    if let Err(e) = template.check_fixed_params(&params, id) {
        return Ok(Err(format!("{}/params.bin: {e}", dir.display())));
    }
    let mut layout_hash = [0u8; 32];
    hex::decode_to_slice(template.layout_hash(), &mut layout_hash).expect("layout hashes are hex");
    let identity = ProgramIdentity::of_module(&code, template.interface.hash(), layout_hash);
    let statement = match Statement::in_class(class, &identity, &params, &rows) {
        Ok(statement) => statement,
        Err(e) => return Ok(Err(format!("{}: {e}", dir.display()))),
    };
    for (key, file, value) in [
        (
            "h_code",
            "program.cvmb (with the template's interface and layout)",
            statement.code,
        ),
        ("h_params", "params.bin", statement.params),
        (
            "h_conditions",
            "the template's conditions",
            statement.conditions,
        ),
    ] {
        let recorded = certificate.get(key).and_then(Value::as_str).unwrap_or("");
        if recorded != field_hex(&value) {
            return Ok(Err(format!(
                "{}: {file} does not match the manifest ({key} is {}, the manifest records {})",
                dir.display(),
                field_hex(&value),
                if recorded.is_empty() {
                    "nothing"
                } else {
                    recorded
                }
            )));
        }
    }
    Ok(Ok(Block {
        identity,
        params,
        manifest,
        class,
        rows,
        statement,
    }))
}

/// The manifest says what the template says: its name and role, its conditions (as text and as
/// rows) and the size class. A manifest whose rows were edited (or deleted) is refused here,
/// whatever proof comes with it.
fn manifest_agrees(
    manifest: &Value,
    template: &curve_compiler::templates::Template,
    rows: &[Row],
    class: SizeClass,
) -> Checked<()> {
    let text = |path: &[&str]| {
        path.iter()
            .try_fold(manifest, |v, key| v.get(key))
            .and_then(Value::as_str)
    };
    for (path, expected) in [
        (&["template"][..], template.name),
        (&["role"][..], template.role),
        (&["certificate", "size_class"][..], class.name()),
    ] {
        if text(path) != Some(expected) {
            return Err(format!(
                "`{}` is {}, but the bytecode is the `{}` template's, which says {expected:?}",
                path.join("."),
                text(path).map_or_else(|| "missing".to_string(), |f| format!("{f:?}")),
                template.name
            ));
        }
    }
    let conditions: Vec<String> = template.conditions.iter().map(|c| c.text()).collect();
    let stated: Option<Vec<&str>> = manifest
        .get("parameter_conditions")
        .and_then(Value::as_array)
        .and_then(|list| list.iter().map(Value::as_str).collect());
    if stated != Some(conditions.iter().map(String::as_str).collect()) {
        return Err(format!(
            "`parameter_conditions` are not the `{}` template's ({})",
            template.name,
            conditions.join(", ")
        ));
    }
    match manifest.get("certificate").and_then(parse_rows) {
        Some(stated) if stated == rows => Ok(()),
        Some(_) => Err(format!(
            "`certificate.rows` are not the rows of the `{}` template's conditions",
            template.name
        )),
        None => Err("`certificate.rows` is missing or malformed".to_string()),
    }
}

fn name_of(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Development keys from the cache, with a spinner while a setup runs.
pub(crate) fn dev_keys(store: &KeyStore, class: SizeClass) -> Result<ProvingKey> {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("a valid template"),
    );
    let mut report = |progress: Progress| match progress {
        Progress::Loading(class) => {
            spinner.set_message(format!("loading development keys for {class}"));
        }
        Progress::Generating { class, constraints } => {
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner.set_message(format!(
                "generating development keys for {class} ({constraints} constraints; cached in {})",
                store.dev_path(class).display()
            ));
        }
        Progress::Saving(class) => spinner.set_message(format!("caching keys for {class}")),
    };
    let keys = store.dev_keys(class, &mut report);
    spinner.finish_and_clear();
    Ok(keys?)
}

pub(crate) fn store(args: &KeyArgs) -> KeyStore {
    KeyStore::new(args.keys_dir.clone().unwrap_or_else(KeyStore::default_dir))
}

fn write(dir: &Path, file: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn refuse(message: &str) -> ExitCode {
    errln!("error: {message}");
    ExitCode::from(1)
}

/// `curve prove DIR`.
pub fn run_prove(args: ProveArgs) -> Result<ExitCode> {
    let store = store(&args.keys);
    let ceremony = args
        .pk
        .as_ref()
        .map(|path| std::fs::read(path).with_context(|| format!("cannot read {}", path.display())))
        .transpose()?;
    let mut loaded: BTreeMap<SizeClass, ProvingKey> = BTreeMap::new();
    for dir in block_dirs(&args.dir)? {
        let block = match load_block(&dir)? {
            Ok(block) => block,
            Err(message) => return Ok(refuse(&message)),
        };
        // Each class's key is loaded (and its shape checked) once per invocation.
        let pk = match loaded.entry(block.class) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(match &ceremony {
                Some(bytes) => match keys::load_pk(bytes, block.class, None, Mode::Production) {
                    Ok(pk) => pk,
                    Err(e) => {
                        return Ok(refuse(&format!(
                            "{}: {e}",
                            args.pk.as_ref().expect("given").display()
                        )));
                    }
                },
                None => dev_keys(&store, block.class)?,
            }),
        };
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let started = Instant::now();
        let (statement, proof) = match curve_certificate::prove(
            pk,
            block.class,
            &block.identity,
            &block.params,
            &block.rows,
            seed,
        ) {
            Ok(result) => result,
            Err(e) => return Ok(refuse(&format!("{}: {e}", dir.display()))),
        };
        let elapsed = started.elapsed();
        debug_assert_eq!(statement, block.statement);
        let proof_bytes = proof::proof_to_bytes(&proof);
        write(&dir, PROOF_FILE, &proof_bytes)?;
        write(&dir, "proof.alt_bn128", &solana::proof_be(&proof))?;
        write(&dir, "vk.alt_bn128", &solana::vk_be(&pk.vk))?;
        write(
            &dir,
            "public_inputs.alt_bn128",
            &solana::public_inputs_be(&statement.public_inputs()),
        )?;
        let mut manifest = block.manifest;
        let dev = keys::dev_class_of(&pk.vk).is_some();
        manifest["certificate"]["proof"] = json!({
            "file": PROOF_FILE,
            "sha256": hex::encode(Sha256::digest(proof_bytes)),
            "vk_sha256": hex::encode(keys::vk_hash(&pk.vk)),
            "keys": if dev { "development" } else { "ceremony" },
        });
        let mut text = serde_json::to_string_pretty(&manifest).expect("JSON serializes");
        text.push('\n');
        write(&dir, "manifest.json", text.as_bytes())?;
        outln!(
            "proved {} ({}, {} rows) in {:.2} s: {PROOF_FILE} ({} bytes){}",
            name_of(&dir),
            block.class,
            block.rows.len(),
            elapsed.as_secs_f64(),
            proof_bytes.len(),
            if dev {
                ", development keys (INSECURE)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `curve verify DIR`.
pub fn run_verify(args: VerifyArgs) -> Result<ExitCode> {
    let store = store(&args.keys);
    let ceremony: Option<PreparedVerifyingKey> = match &args.vk {
        Some(path) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            match keys::load_vk(&bytes, Mode::Production) {
                Ok(vk) => Some(curve_certificate::prepare_verifying_key(&vk)),
                Err(e) => return Ok(refuse(&format!("{}: {e}", path.display()))),
            }
        }
        None => None,
    };
    let mut dev_vks: BTreeMap<SizeClass, PreparedVerifyingKey> = BTreeMap::new();
    let mut warned = false;
    for dir in block_dirs(&args.dir)? {
        let block = match load_block(&dir)? {
            Ok(block) => block,
            Err(message) => return Ok(refuse(&message)),
        };
        let certificate = &block.manifest["certificate"];
        let Some(recorded) = certificate["proof"]["sha256"].as_str() else {
            return Ok(refuse(&format!(
                "{}: no proof recorded in the manifest: run `curve prove {}`",
                dir.display(),
                dir.display()
            )));
        };
        let proof_bytes = read(&dir, PROOF_FILE)?;
        if hex::encode(Sha256::digest(&proof_bytes)) != recorded {
            return Ok(refuse(&format!(
                "{}/{PROOF_FILE} is not the proof the manifest records",
                dir.display()
            )));
        }
        let proof = match proof::proof_from_bytes(&proof_bytes) {
            Ok(proof) => proof,
            Err(e) => return Ok(refuse(&format!("{}/{PROOF_FILE}: {e}", dir.display()))),
        };
        let prepared = match &ceremony {
            Some(vk) => vk,
            None => {
                if !warned {
                    errln!(
                        "warning: verifying with development keys (INSECURE: their setup seed is public, so anyone can forge a proof); pass --vk for ceremony keys"
                    );
                    warned = true;
                }
                // Each class's development key is loaded once per invocation.
                match dev_vks.entry(block.class) {
                    Entry::Occupied(entry) => entry.into_mut(),
                    Entry::Vacant(entry) => entry.insert(curve_certificate::prepare_verifying_key(
                        &dev_keys(&store, block.class)?.vk,
                    )),
                }
            }
        };
        let vk = &prepared.vk;
        if let Err(e) = curve_certificate::verify(prepared, &block.statement, &proof) {
            let keys_note = match certificate["proof"]["vk_sha256"].as_str() {
                Some(made_with) if made_with != hex::encode(keys::vk_hash(vk)) => {
                    format!(" (it was made with verifying key {made_with})")
                }
                _ => String::new(),
            };
            return Ok(refuse(&format!("{}: {e}{keys_note}", dir.display())));
        }
        outln!(
            "verified {} ({}, {} rows): H_code {}",
            name_of(&dir),
            block.class,
            block.rows.len(),
            field_hex(&block.statement.code)
        );
    }
    Ok(ExitCode::SUCCESS)
}
