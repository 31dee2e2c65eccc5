//! The templates a program may be deployed from, and the deploy check.
//!
//! A program is admitted only if (1) its module is byte for byte a template's (the compiler's
//! one module per template; parameters live in the parameter table), (2) its parameter table
//! has the template's size, and (3) a Groth16 certificate proves the template's conditions over
//! exactly those parameter bytes and that code, under the chain's verifying key for the size
//! class. The runtime rebuilds the statement from the bytes it will load; nothing of the
//! deployer's is trusted, and the manifest shipped along must agree with what was rebuilt.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use curve_certificate::keys::{self, Mode, PreparedVerifyingKey};
use curve_certificate::{prepare_verifying_key, proof, solana};
use curve_compiler::manifest::field_hex;
use curve_compiler::templates::{self, Template};
use curve_formats::certificate::{Row, SizeClass, Statement, check_rows};
use curve_formats::encoding::le_words;
use curve_formats::program::ProgramIdentity;
use curve_formats::tx::ProgramImage;
use curvevm::Program;
use curvevm::module::Module;
use curvevm_host::{Role, RollupHost};
use sha2::{Digest, Sha256};

use crate::state::ProgramRecord;

/// A template the chain accepts programs of.
#[derive(Debug)]
pub struct Approved {
    /// The compiler's template.
    pub template: Template,
    /// The role its programs run as.
    pub role: Role,
    /// The loaded (verified) module every program of the template shares.
    pub program: Arc<Program>,
    /// The module bytes.
    pub code: Vec<u8>,
    /// SHA-256 of the module bytes.
    pub code_hash: [u8; 32],
    /// The certificate rows of its conditions.
    pub rows: Vec<Row>,
    /// The size class of its certificates.
    pub class: SizeClass,
    /// The interface's descriptor hash.
    pub descriptor_hash: [u8; 32],
    /// The layout hash.
    pub layout_hash: [u8; 32],
    /// A development probe (`curve_compiler::templates::probe`): admitted only in dev mode.
    pub dev_only: bool,
}

impl Approved {
    fn new(template: Template, dev_only: bool) -> Approved {
        let role = Role::from_name(template.role).expect("templates name a host role");
        let code = template.module_bytes();
        let module: Module = template.lowered.module.clone();
        let program = Arc::new(
            RollupHost::load(module, role).expect("every template passes the VM verifier"),
        );
        let rows = template.rows();
        let params = template.param_names.len();
        let class = SizeClass::smallest_for(params, rows.len()).expect("templates fit a class");
        let mut layout_hash = [0; 32];
        hex::decode_to_slice(template.layout_hash(), &mut layout_hash)
            .expect("layout hashes are hex");
        Approved {
            role,
            program,
            code_hash: Sha256::digest(&code).into(),
            code,
            rows,
            class,
            descriptor_hash: template.interface.hash(),
            layout_hash,
            template,
            dev_only,
        }
    }

    /// Entrypoints only the runtime calls, each with the system action that calls it.
    pub fn reserved_entries(&self) -> &'static [(&'static str, &'static str)] {
        match self.template.name {
            // The feed's keys are governance's decision.
            "oracle" => &[("register_key", "register_oracle_key")],
            _ => &[],
        }
    }
}

/// Every approved template, compiled once per process.
pub fn approved() -> &'static [Approved] {
    static APPROVED: OnceLock<Vec<Approved>> = OnceLock::new();
    APPROVED.get_or_init(|| {
        let probes = templates::probe::templates().into_iter();
        templates::deployable()
            .into_iter()
            .map(|template| Approved::new(template, false))
            .chain(probes.map(|template| Approved::new(template, true)))
            .collect()
    })
}

/// The approved template called `name`.
pub fn find(name: &str) -> Option<&'static Approved> {
    approved().iter().find(|a| a.template.name == name)
}

pub use templates::SHAPED;

/// The slab layout a manifest states.
pub fn slab_layout_of(manifest: &[u8]) -> Result<templates::slab::SlabLayout, String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    templates::slab::SlabLayout::from_manifest(&manifest)
}

/// The state words of a shaped template's program as its manifest's shape states them.
pub fn shaped_words(name: &str, manifest: &[u8]) -> Result<u32, String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    match name {
        "market" => Ok(templates::market::MarketLayout::from_manifest(&manifest)?.words()),
        _ => Ok(templates::slab::SlabLayout::from_manifest(&manifest)?.words()),
    }
}

/// The approved template an image or a stored record of template `name` runs: a listed
/// template, or a shaped one rebuilt from its manifest's shape (once per shape and process).
pub fn lookup(name: &str, manifest: &[u8]) -> Result<&'static Approved, String> {
    if !SHAPED.contains(&name) {
        return find(name).ok_or_else(|| format!("no template `{name}`"));
    }
    type Shapes = BTreeMap<(String, Vec<(String, u32)>), &'static Approved>;
    static BUILT: OnceLock<Mutex<Shapes>> = OnceLock::new();
    let manifest: serde_json::Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let key = (name.to_string(), templates::manifest_shape(&manifest)?);
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // One leaked template per distinct shape: shapes are few on a chain (each deploy of a new
    // one pays `SHAPED_BUILD_GAS`), and programs hold `&'static Approved`.
    if let Some(approved) = built.get(&key) {
        return Ok(approved);
    }
    let template = templates::shaped(name, &manifest)?;
    let approved: &'static Approved = Box::leak(Box::new(Approved::new(template, false)));
    built.insert(key, approved);
    Ok(approved)
}

/// Prepared verifying keys by size class.
#[derive(Clone, Default)]
pub struct VerifyingKeys {
    keys: BTreeMap<u8, PreparedVerifyingKey>,
}

impl std::fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys.keys()).finish()
    }
}

/// The size class with discriminant `class`.
pub fn class_of(class: u8) -> Option<SizeClass> {
    SizeClass::ALL.get(usize::from(class)).copied()
}

/// The discriminant of `class`.
pub fn class_index(class: SizeClass) -> u8 {
    SizeClass::ALL
        .iter()
        .position(|c| *c == class)
        .expect("a listed class") as u8
}

impl VerifyingKeys {
    /// Checks and prepares a compressed verifying key for `class`; development keys only in
    /// development mode, and never a key with δ = γ or an identity point.
    pub fn check(class: u8, bytes: &[u8], dev_mode: bool) -> Result<PreparedVerifyingKey, String> {
        let size = class_of(class).ok_or_else(|| format!("no size class {class}"))?;
        let mode = if dev_mode {
            Mode::Development
        } else {
            Mode::Production
        };
        let vk = keys::load_vk(bytes, mode).map_err(|e| e.to_string())?;
        if let Some(dev) = keys::dev_class_of(&vk)
            && dev != size
        {
            return Err(format!(
                "this is the development key of size class {dev}, not {size}"
            ));
        }
        Ok(prepare_verifying_key(&vk))
    }

    /// Sets the key of `class`.
    pub fn insert(&mut self, class: u8, key: PreparedVerifyingKey) {
        self.keys.insert(class, key);
    }

    /// The key of `class`.
    pub fn get(&self, class: SizeClass) -> Option<&PreparedVerifyingKey> {
        self.keys.get(&class_index(class))
    }
}

/// A program image that passed every deploy check.
#[derive(Debug)]
pub struct Admitted {
    /// Its template.
    pub approved: &'static Approved,
    /// The parameter table.
    pub params: Vec<u64>,
    /// The registry record.
    pub record: ProgramRecord,
}

/// Runs every deploy check on `image`.
pub fn admit(
    image: &ProgramImage,
    vks: &VerifyingKeys,
    dev_mode: bool,
) -> Result<Admitted, String> {
    let unknown = || {
        let names: Vec<&str> = approved()
            .iter()
            .filter(|a| dev_mode || !a.dev_only)
            .map(|a| a.template.name)
            .chain(SHAPED.iter().copied())
            .collect();
        format!(
            "no deployable template `{}` (deployable: {})",
            image.template,
            names.join(", ")
        )
    };
    let approved = match find(&image.template) {
        Some(listed) if dev_mode || !listed.dev_only => listed,
        None if SHAPED.contains(&image.template.as_str()) => {
            lookup(&image.template, &image.manifest)?
        }
        _ => return Err(unknown()),
    };
    let code_hash: [u8; 32] = Sha256::digest(&image.module).into();
    if code_hash != approved.code_hash {
        return Err(format!(
            "the module (sha256 {}) is not the `{}` template's bytecode (sha256 {})",
            hex::encode(code_hash),
            approved.template.name,
            hex::encode(approved.code_hash)
        ));
    }
    let expected_words = approved.program.module().layout.params as usize;
    if image.params.len() != expected_words * 8 {
        return Err(format!(
            "the parameter table has {} bytes; the `{}` template takes {expected_words} words ({} bytes)",
            image.params.len(),
            approved.template.name,
            expected_words * 8
        ));
    }
    let params = le_words(&image.params).expect("the length was checked to be whole words");
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest)
        .map_err(|e| format!("the manifest is not JSON: {e}"))?;
    // The constant region and the id-derived slots first: the certificate's conditions mean
    // what they say only over the template's constants (`LE(one, quorum)` is `quorum ≥ 1` only
    // when `one` is 1), and an oracle's feed tag is its feed id's, not the deployer's choice.
    let id = manifest.get("id").and_then(serde_json::Value::as_str);
    approved
        .template
        .check_fixed_params(&params, id)
        .map_err(|e| {
            format!("the parameter table does not hold the template's fixed values: {e}")
        })?;
    if let Err((index, error)) = check_rows(approved.class, &params, &approved.rows) {
        return Err(format!(
            "the parameters break condition {} of the template ({error}); no certificate can prove it",
            approved.template.conditions[index].text()
        ));
    }
    let identity = ProgramIdentity {
        code_hash,
        descriptor_hash: approved.descriptor_hash,
        layout_hash: approved.layout_hash,
    };
    let statement = Statement::in_class(approved.class, &identity, &params, &approved.rows)
        .map_err(|e| e.to_string())?;
    let vk = vks.get(approved.class).ok_or_else(|| {
        format!(
            "the chain has no verifying key for size class {} (development keys are refused outside dev mode)",
            approved.class
        )
    })?;
    let proof = proof::proof_from_bytes(&image.proof)
        .map_err(|e| format!("the certificate proof is malformed: {e}"))?;
    curve_certificate::verify(vk, &statement, &proof).map_err(|_| {
        format!(
            "the certificate does not verify for this bytecode and parameter table under the chain's {} key",
            approved.class
        )
    })?;
    check_manifest(&manifest, approved, &statement, &code_hash)?;
    Ok(Admitted {
        approved,
        params,
        record: ProgramRecord {
            template: approved.template.name.to_string(),
            code_hash,
            proof: image.proof.clone(),
            descriptor_hash: approved.descriptor_hash,
            layout_hash: approved.layout_hash,
            module: image.module.clone(),
            params: image.params.clone(),
            manifest: image.manifest.clone(),
            registered_slab: false,
            views: Vec::new(),
        },
    })
}

/// The manifest must state what the runtime rebuilt: a manifest from another compile would
/// give wrong trap locations.
fn check_manifest(
    manifest: &serde_json::Value,
    approved: &Approved,
    statement: &Statement,
    code_hash: &[u8; 32],
) -> Result<(), String> {
    let expected = [
        ("template", approved.template.name.to_string()),
        ("bytecode.sha256", hex::encode(code_hash)),
        ("layout.hash", hex::encode(approved.layout_hash)),
        ("descriptor.hash", hex::encode(approved.descriptor_hash)),
        ("certificate.h_code", field_hex(&statement.code)),
        ("certificate.h_conditions", field_hex(&statement.conditions)),
        ("certificate.h_params", field_hex(&statement.params)),
    ];
    for (path, value) in expected {
        let found = path
            .split('.')
            .try_fold(manifest, |v, part| v.get(part))
            .and_then(serde_json::Value::as_str);
        if found != Some(value.as_str()) {
            return Err(format!(
                "the manifest's `{path}` is {}, but the deployed bytes give {value}",
                found.map_or_else(|| "missing".to_string(), |f| format!("{f:?}"))
            ));
        }
    }
    Ok(())
}

/// A deployed program's certificate in the form the Anchor program's `register_vk` and
/// `register_program` take: the `alt_bn128` layout, field elements big-endian.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SolanaCertificate {
    /// The template.
    pub template: String,
    /// SHA-256 of the module bytes.
    pub code_hash: [u8; 32],
    /// The interface descriptor hash.
    pub descriptor_hash: [u8; 32],
    /// The layout hash.
    pub layout_hash: [u8; 32],
    /// `H_conditions` (public input 2).
    pub h_conditions: [u8; 32],
    /// `H_params` (public input 3).
    pub h_params: [u8; 32],
    /// The proof, A ‖ B ‖ C.
    pub proof: [u8; solana::PROOF_BYTES],
    /// The size class the proof verifies in.
    pub class: SizeClass,
    /// The chain's verifying key for that class: SHA-256 of its compressed bytes (the name the
    /// circuits and the Anchor program give it) and its `alt_bn128` bytes.
    pub vk_hash: [u8; 32],
    /// The verifying key, `alt_bn128` layout.
    pub vk: Vec<u8>,
}

/// Rebuilds a stored program's statement and converts its certificate for Solana, with the
/// chain's key of its class (`verifying_keys` as the runtime's config lists them).
pub fn solana_certificate(
    record: &ProgramRecord,
    verifying_keys: &[(u8, Vec<u8>)],
) -> Result<SolanaCertificate, String> {
    let approved = lookup(&record.template, &record.manifest)?;
    let params = le_words(&record.params)
        .ok_or_else(|| "the stored parameter table is not whole words".to_string())?;
    let identity = ProgramIdentity {
        code_hash: record.code_hash,
        descriptor_hash: record.descriptor_hash,
        layout_hash: record.layout_hash,
    };
    let statement = Statement::in_class(approved.class, &identity, &params, &approved.rows)
        .map_err(|e| e.to_string())?;
    let proof = proof::proof_from_bytes(&record.proof)
        .map_err(|e| format!("the stored certificate proof is malformed: {e}"))?;
    let class = class_index(approved.class);
    let vk_bytes = verifying_keys
        .iter()
        .find(|(c, _)| *c == class)
        .map(|(_, bytes)| bytes)
        .ok_or_else(|| {
            format!(
                "the chain has no verifying key for size class {}",
                approved.class
            )
        })?;
    // The key was checked when it was set; the mode only decides whether a development key
    // is refused, and reading it back must not refuse what the chain accepted.
    let vk = keys::load_vk(vk_bytes, Mode::Development).map_err(|e| e.to_string())?;
    Ok(SolanaCertificate {
        template: record.template.clone(),
        code_hash: record.code_hash,
        descriptor_hash: record.descriptor_hash,
        layout_hash: record.layout_hash,
        h_conditions: solana::fr_be(&statement.conditions),
        h_params: solana::fr_be(&statement.params),
        proof: solana::proof_be(&proof),
        class: approved.class,
        vk_hash: Sha256::digest(vk_bytes).into(),
        vk: solana::vk_be(&vk),
    })
}

/// Packages one compiled block and its certificate proof as a deploy image: what `curve
/// compile` writes (`program.cvmb`, `params.bin`, `manifest.json`) plus `certificate.proof`.
pub fn image_of(
    artifact: &curve_compiler::Artifact,
    source_name: &str,
    source: &str,
    proof: &[u8],
) -> ProgramImage {
    use curve_compiler::manifest;
    ProgramImage {
        template: artifact.template.to_string(),
        module: manifest::module_bytes(artifact),
        params: manifest::params_bytes(artifact),
        proof: proof.to_vec(),
        manifest: manifest::manifest(artifact, source_name, source).into_bytes(),
    }
}

/// Proves `artifact`'s certificate with `pk` (the proving key of the artifact's size class) and
/// packages it with [`image_of`]. `blinding_seed` as for [`curve_certificate::prove`].
pub fn prove_image(
    artifact: &curve_compiler::Artifact,
    source_name: &str,
    source: &str,
    pk: &curve_certificate::ProvingKey,
    blinding_seed: [u8; 32],
) -> Result<ProgramImage, curve_certificate::ProveError> {
    prove_image_in(artifact, source_name, source, pk, blinding_seed, None)
}

/// [`prove_image`] with the proof kept in `store` and taken from there when the same statement
/// was proved with the same key and seed before ([`curve_certificate::prove_cached`]): the
/// same image bytes, without proving again.
pub fn prove_image_cached(
    artifact: &curve_compiler::Artifact,
    source_name: &str,
    source: &str,
    pk: &curve_certificate::ProvingKey,
    blinding_seed: [u8; 32],
    store: &curve_certificate::KeyStore,
) -> Result<ProgramImage, curve_certificate::ProveError> {
    prove_image_in(
        artifact,
        source_name,
        source,
        pk,
        blinding_seed,
        Some(store),
    )
}

fn prove_image_in(
    artifact: &curve_compiler::Artifact,
    source_name: &str,
    source: &str,
    pk: &curve_certificate::ProvingKey,
    blinding_seed: [u8; 32],
    store: Option<&curve_certificate::KeyStore>,
) -> Result<ProgramImage, curve_certificate::ProveError> {
    let code = curve_compiler::manifest::module_bytes(artifact);
    let identity = curve_compiler::manifest::program_identity(artifact, &code);
    let rows: Vec<Row> = artifact
        .conditions
        .iter()
        .map(|c| c.row(&artifact.params))
        .collect();
    let params = artifact.param_words();
    let class = artifact_class(artifact);
    let (_, proof) = match store {
        Some(store) => curve_certificate::prove_cached(
            store,
            pk,
            class,
            &identity,
            &params,
            &rows,
            blinding_seed,
        )?,
        None => curve_certificate::prove(pk, class, &identity, &params, &rows, blinding_seed)?,
    };
    Ok(image_of(
        artifact,
        source_name,
        source,
        &proof::proof_to_bytes(&proof),
    ))
}

/// The certificate size class of an artifact (the smallest that holds its table and rows).
pub fn artifact_class(artifact: &curve_compiler::Artifact) -> SizeClass {
    SizeClass::smallest_for(artifact.params.len(), artifact.conditions.len())
        .expect("the compiler only emits artifacts that fit a size class")
}
