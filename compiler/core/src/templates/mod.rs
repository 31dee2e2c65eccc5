//! Canonical templates, one module per block kind, each written in the IR.

pub mod debit;
pub mod market;
pub mod oracle;
pub mod probe;
pub mod router;
pub mod slab;

use curve_formats::certificate::Row;
use curve_formats::encoding::Encode;
use curve_ir::Lowered;
use curvescript_check::CheckedBlock;

use crate::{Artifact, Condition, ParamSlot, Region, feed_tag, keyword_spans};

/// How a parameter slot follows from the program's id (an oracle's feed tag from its feed id).
pub type Derivation = fn(&str) -> u64;

/// A template as a deployer sees it, independent of any script: the one module every parameter
/// set of it runs, its interface, the names of its parameter slots, the conditions its
/// certificate proves over them, and its state layout. The rollup runtime admits a program only
/// if its bytecode is a template's and its certificate proves that template's conditions.
#[derive(Clone, Debug)]
pub struct Template {
    /// `oracle`, `slab`, `market`, `router`.
    pub name: &'static str,
    /// The host role its programs run as.
    pub role: &'static str,
    /// Its interface (the CPI descriptor).
    pub interface: &'static crate::abi::Interface,
    /// The lowered module with gas bounds, guards and source map.
    pub lowered: Lowered,
    /// Parameter slot names, in table order.
    pub param_names: Vec<&'static str>,
    /// What the certificate proves about the parameter table.
    pub conditions: Vec<Condition>,
    /// Parameter slots the template fixes, with their values (the constant region).
    pub constants: Vec<(&'static str, u64)>,
    /// Parameter slots derived from the program's id, with the derivation.
    pub derived: Vec<(&'static str, Derivation)>,
    /// The state layout.
    pub layout: Vec<Region>,
    /// The dimensions the module was generated for, when it is generated per program (a
    /// slab's pool capacities and oracle views); empty for a template with one module.
    pub shape: Vec<(&'static str, u32)>,
    /// Gas budget per call.
    pub gas_budget: u64,
}

impl Template {
    /// The certificate rows of its conditions.
    pub fn rows(&self) -> Vec<Row> {
        self.conditions
            .iter()
            .map(|condition| condition.row_in(&self.param_names))
            .collect()
    }

    /// Checks the slots a deployer does not choose: each constant holds its value and each
    /// derived slot its derivation from `id` (the block id the program declares). A certificate
    /// proves its conditions over the whole table, but conditions such as `LE(one, quorum)` mean
    /// what they say only when these hold, so every verifier checks them first.
    pub fn check_fixed_params(&self, params: &[u64], id: Option<&str>) -> Result<(), String> {
        let slot = |name: &str| self.param_names.iter().position(|n| *n == name);
        for &(name, value) in &self.constants {
            let found = slot(name).and_then(|i| params.get(i)).copied();
            if found != Some(value) {
                return Err(format!(
                    "parameter `{name}` is {} but the `{}` template fixes it at {value}",
                    found.map_or_else(|| "missing".to_string(), |f| f.to_string()),
                    self.name
                ));
            }
        }
        for &(name, derive) in &self.derived {
            let Some(id) = id else {
                return Err(format!(
                    "a `{}` program declares its id, from which `{name}` is derived",
                    self.name
                ));
            };
            let expected = derive(id);
            let found = slot(name).and_then(|i| params.get(i)).copied();
            if found != Some(expected) {
                return Err(format!(
                    "parameter `{name}` is {} but the id {id:?} gives {expected}",
                    found.map_or_else(|| "missing".to_string(), |f| f.to_string()),
                ));
            }
        }
        Ok(())
    }

    /// The module's canonical bytes.
    pub fn module_bytes(&self) -> Vec<u8> {
        self.lowered.module.to_bytes()
    }

    /// The layout hash (hex), as manifests carry it.
    pub fn layout_hash(&self) -> String {
        crate::manifest::layout_hash_of(
            self.name,
            self.lowered.module.layout.slab,
            &self.layout,
            &self.shape,
        )
    }
}

/// An entrypoint of a later issue: it takes and returns `interface`'s words for `name` and
/// aborts with `code` (the template's `NOT_BUILT`) at step `step`.
pub fn not_built(
    interface: &crate::abi::Interface,
    name: &str,
    step: &'static str,
    code: u8,
) -> curve_ir::Function {
    use curve_ir::ir::{Cond, FunctionBuilder};
    let entry = interface
        .entry(name)
        .unwrap_or_else(|| panic!("the {} interface has `{name}`", interface.template));
    let mut b = FunctionBuilder::new(name, entry.arg_words(), entry.return_words());
    b.step(step, None, |b| {
        let never = b.constant("never", 0);
        b.guard(Cond::NonZero(never), code, "built in a later issue");
    });
    b.finish()
}

/// Every template that compiles to a deployable program.
pub fn deployable() -> Vec<Template> {
    vec![oracle_template(), router::template()]
}

/// The deployable template whose module is exactly `code`, if any: what a verifier trusts
/// instead of a manifest's claims.
pub fn by_module(code: &[u8]) -> Option<Template> {
    deployable()
        .into_iter()
        .find(|template| template.module_bytes() == code)
}

/// Templates whose module is generated per program for a shape ([`Template::shape`]): a
/// verifier rebuilds the module from the shape the manifest states and compares bytes.
pub const SHAPED: &[&str] = &["slab", "market"];

/// The shape a manifest states (`layout.shape`), as `(dimension, value)` pairs.
pub fn manifest_shape(manifest: &serde_json::Value) -> Result<Vec<(String, u32)>, String> {
    let shape = manifest
        .get("layout")
        .and_then(|layout| layout.get("shape"))
        .and_then(serde_json::Value::as_object)
        .ok_or("the manifest states no `layout.shape`, which a slab's module is built for")?;
    shape
        .iter()
        .map(|(name, value)| {
            value
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .map(|v| (name.clone(), v))
                .ok_or_else(|| format!("`layout.shape.{name}` is not a count"))
        })
        .collect()
}

/// The template of a shaped program of template `name` built for the shape `manifest` states.
pub fn shaped(name: &str, manifest: &serde_json::Value) -> Result<Template, String> {
    match name {
        "slab" => Ok(slab::template(&slab::SlabLayout::from_manifest(manifest)?)),
        "market" => Ok(market::template(&market::MarketLayout::from_manifest(
            manifest,
        )?)),
        _ => Err(format!("`{name}` is not a shaped template")),
    }
}

/// The template a compiled block's files are of: a deployable template whose module is exactly
/// `code`, or a shaped one rebuilt from the manifest's shape whose module is exactly `code`.
pub fn by_image(code: &[u8], manifest: &serde_json::Value) -> Option<Template> {
    by_module(code).or_else(|| {
        let name = manifest.get("template")?.as_str()?;
        shaped(name, manifest)
            .ok()
            .filter(|template| template.module_bytes() == code)
    })
}

/// The ORACLE template.
pub fn oracle_template() -> Template {
    let ir = oracle::program();
    Template {
        name: "oracle",
        role: "oracle",
        interface: &crate::abi::ORACLE,
        lowered: curve_ir::lower(&ir).expect("the ORACLE template lowers"),
        param_names: oracle::PARAMS.iter().map(|&(name, _, _)| name).collect(),
        // Every bound the template's code relies on: at least one signature (a quorum of 0
        // would accept unsigned prices), at most the 16 key slots the state has, a positive
        // price floor and heartbeat, the staleness window above the heartbeat; flags are bits.
        conditions: vec![
            Condition::Le("one", "quorum"),
            Condition::Le("quorum", "keys_max"),
            Condition::Le("keys_max", "keys_limit"),
            Condition::Le("one", "price_min"),
            Condition::Le("price_min", "price_max"),
            Condition::Le("one", "heartbeat_ms"),
            Condition::Le("heartbeat_ms", "staleness_ms"),
            Condition::Range("decimals", 5),
            Condition::Range("mark_enabled", 1),
            Condition::Range("funding_enabled", 1),
            Condition::Range("kill_band_reference", 1),
        ],
        constants: oracle::CONSTANTS.to_vec(),
        derived: vec![("feed_tag", feed_tag)],
        layout: oracle::layout(),
        shape: Vec::new(),
        gas_budget: DEFAULT_GAS_BUDGET,
    }
}

/// Gas budget of calls into programs without a declared budget (slab calls' budget).
pub const DEFAULT_GAS_BUDGET: u64 = 300_000;

/// The largest static gas bound among `lowered`'s entrypoints (0 without any).
pub fn largest_gas_bound(lowered: &Lowered) -> u64 {
    lowered
        .gas_bounds
        .iter()
        .map(|(_, bound)| *bound)
        .max()
        .unwrap_or(0)
}

/// The ORACLE block's artifact.
pub fn oracle_artifact(block: &CheckedBlock) -> Artifact {
    let id = block.id.clone().unwrap_or_default();
    let params = oracle::PARAMS
        .iter()
        .map(|&(name, keyword, arg)| {
            let constant = oracle::CONSTANTS.iter().find(|(c, _)| *c == name);
            let value = match name {
                _ if constant.is_some() => constant.map_or(0, |&(_, value)| value),
                "feed_tag" => feed_tag(&id),
                // Present or absent: the statement is optional.
                "kill_band_reference" => u64::from(block.statement(keyword).is_some()),
                _ => {
                    let value = block
                        .value(keyword, arg)
                        .expect("the checker fills every ORACLE default");
                    match value.as_bool() {
                        Some(flag) => u64::from(flag),
                        None => value
                            .as_u128()
                            .and_then(|n| u64::try_from(n).ok())
                            .expect("ORACLE values are bounded to u64 by the schema"),
                    }
                }
            };
            let span = if keyword.is_empty() {
                block.header_span
            } else {
                block
                    .statement(keyword)
                    .and_then(|s| s.arg_span(arg))
                    .unwrap_or(block.header_span)
            };
            ParamSlot {
                name,
                keyword,
                arg,
                value,
                span,
            }
        })
        .collect();
    let template = oracle_template();
    Artifact {
        kind: block.kind,
        id: block.id.clone(),
        template: template.name,
        role: template.role,
        interface: template.interface,
        ir: oracle::program(),
        lowered: template.lowered,
        params,
        conditions: template.conditions,
        constants: template.constants,
        layout: template.layout,
        shape: Vec::new(),
        gas_budget: DEFAULT_GAS_BUDGET,
        keyword_spans: keyword_spans(
            block,
            &[
                "HEARTBEAT",
                "STALENESS",
                "KILL_BAND_SYNC",
                "SIGNERS",
                "PRICE",
                "FEEDS",
            ],
        ),
        block_span: block.span,
    }
}

/// The batch time: the host's clock (`now_ms`; the height it also gives is dropped).
pub fn now(b: &mut curve_ir::ir::FunctionBuilder) -> curve_ir::ir::Var {
    let now = b.var("now", curve_ir::ir::Ty::U64);
    let height = b.var("height", curve_ir::ir::Ty::U64);
    b.host(curvevm::hostcall::id::CLOCK, &[], &[now, height], 0);
    now
}
