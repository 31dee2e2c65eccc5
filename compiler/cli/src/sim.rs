//! `curve sim SCENARIO`: compiles the scripts a scenario names, proves and deploys their
//! blocks into one in-process runtime, applies the scenario's batches, prints every outcome and
//! the final state root.
//!
//! Keys are derived from names (`SHA-256("curve-sim/" ‖ name)`): INSECURE, for simulation only.
//! The chain runs in dev mode with the development certificate keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use curve_certificate::keys::{self, KeyStore};
use curve_formats::deposit::DepositRecord;
use curve_formats::encoding::Encode;
use curve_formats::leaf::Origin;
use curve_formats::tx::{Action, Arg, ProgramImage, PublicKey, Transaction, Value};
use curve_runtime::{Batch, Config, MemoryStorage, Runtime, Status, client};
use ed25519_dalek::SigningKey;
use serde::Deserialize;
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::certify::{KeyArgs, dev_keys, store};

/// `curve sim` arguments.
#[derive(clap::Args)]
pub struct SimArgs {
    /// The scenario file (TOML).
    scenario: PathBuf,
    /// Output: human text or one JSON document.
    #[arg(long, value_enum, default_value = "human")]
    format: crate::FormatArg,
    /// The CurveVM engine that runs program calls: `jit` or `interpreter` (the reference).
    /// Receipts, gas and roots are the same on both.
    #[arg(long, default_value = "jit")]
    engine: curve_runtime::ExecutionEngine,
    #[command(flatten)]
    keys: KeyArgs,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    chain_id: u64,
    governance: String,
    committee: Vec<String>,
    quorum: u16,
    #[serde(default)]
    programs: Vec<ProgramSpec>,
    batches: Vec<BatchSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgramSpec {
    /// The handle later steps use.
    name: String,
    /// The script, relative to the scenario file (with `block`).
    #[serde(default)]
    script: Option<PathBuf>,
    /// The block id (`"pyth:SOLUSD"`).
    #[serde(default)]
    block: Option<String>,
    /// Instead of a script block: a development probe template (`probe_reader`,
    /// `probe_caller`; see `curve_compiler::templates::probe`).
    #[serde(default)]
    template: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchSpec {
    time_ms: u64,
    #[serde(default)]
    tx: Vec<TxSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxSpec {
    from: String,
    #[serde(default)]
    nonce: Option<u64>,
    #[serde(default = "default_gas")]
    gas_limit: u64,
    #[serde(default)]
    fee_per_gas: u64,
    /// `committed`, `reverted` or `rejected`: the run fails when the outcome differs.
    #[serde(default)]
    expect: Option<String>,
    /// Text the revert's or rejection's reason must contain (`MARKET_SLIPPAGE`): the run
    /// fails when it does not, or when the transaction committed.
    #[serde(default)]
    reason: Option<String>,
    /// The return words the call must give (numbers or program names).
    #[serde(default)]
    returns: Option<Vec<Word>>,
    #[serde(flatten)]
    action: ActionSpec,
}

fn default_gas() -> u64 {
    5_000_000
}

/// A `u64` word, written as a number or as a deployed program's name (its id); as a call
/// argument, one field of the entrypoint's descriptor: a negative number for an `i64`, a
/// number for a `u128` or a `cap`, a number (its first word) or `"0x…"` (64 hex digits) for a
/// `bytes32`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Word {
    Number(u64),
    Negative(i64),
    Program(String),
}

impl Word {
    fn value(&self, programs: &mut BTreeMap<String, Program>) -> Result<u64> {
        match self {
            Word::Number(value) => Ok(*value),
            Word::Negative(value) => Ok(*value as u64),
            Word::Program(name) => deployed_id(programs, name),
        }
    }

    /// The argument for a field of type `ty`.
    fn value_as(
        &self,
        ty: curve_compiler::abi::FieldType,
        programs: &mut BTreeMap<String, Program>,
    ) -> Result<Value> {
        use curve_compiler::abi::FieldType as T;
        Ok(match (ty, self) {
            (T::I64, Word::Negative(value)) => Value::I64(*value),
            (T::I64, word) => Value::I64(word.value(programs)? as i64),
            (T::U128, word) => Value::U128(u128::from(word.value(programs)?)),
            (T::I128, Word::Negative(value)) => Value::I128(i128::from(*value)),
            (T::I128, word) => Value::I128(i128::from(word.value(programs)?)),
            (T::Cap, word) => Value::Cap(word.value(programs)?),
            (T::Bytes32, Word::Program(text)) if text.starts_with("0x") => {
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(&text[2..], &mut bytes)
                    .with_context(|| format!("`{text}` is not 32 bytes of hex"))?;
                Value::Bytes32(bytes)
            }
            (T::Bytes32, word) => {
                let mut bytes = [0u8; 32];
                bytes[..8].copy_from_slice(&word.value(programs)?.to_le_bytes());
                Value::Bytes32(bytes)
            }
            (_, word) => Value::U64(word.value(programs)?),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ActionSpec {
    Deposit {
        sequence: u64,
        to: String,
        amount: u64,
    },
    Transfer {
        to: String,
        amount: u64,
    },
    Withdraw {
        amount: u64,
        recipient: String,
    },
    Deploy(String),
    RegisterOracleKey {
        program: String,
        key: String,
    },
    Call {
        program: String,
        entry: String,
        #[serde(default)]
        args: Vec<Word>,
        /// The other programs the call may reach (any order; sent ascending).
        #[serde(default)]
        access: Vec<String>,
    },
    BindViews {
        program: String,
        views: Vec<String>,
    },
    OracleUpdate {
        program: String,
        price: u64,
        age_ms: u64,
        signers: Vec<String>,
    },
}

/// A named simulation key.
fn sim_key(name: &str) -> SigningKey {
    SigningKey::from_bytes(&Sha256::digest(format!("curve-sim/{name}")).into())
}

fn public(name: &str) -> PublicKey {
    sim_key(name).verifying_key().to_bytes()
}

/// A deployable program of the scenario: its image and the block it came from.
struct Program {
    image: ProgramImage,
    feed_tag: u64,
    /// Filled at deploy.
    id: Option<u64>,
    /// Oracle keys in registration order (their indices in `update`).
    keys: Vec<String>,
    /// Its interface: how call arguments are typed.
    interface: &'static curve_compiler::abi::Interface,
    /// The size class of its certificate.
    class: curve_formats::certificate::SizeClass,
}

fn compile_program(spec: &ProgramSpec, base: &Path, store: &KeyStore) -> Result<Program> {
    let (script, block) = match (&spec.script, &spec.block, &spec.template) {
        (Some(script), Some(block), None) => (script, block),
        (None, None, Some(template)) => return probe_program(template, store),
        _ => bail!(
            "program `{}`: give either `script` and `block`, or `template`",
            spec.name
        ),
    };
    let path = base.join(script);
    let source = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let checked = curvescript_check::check_source(&source, None);
    if let Some(error) = checked.diagnostics.iter().find(|d| d.is_error()) {
        bail!(
            "{} does not check: {} (run `curve check {}`)",
            path.display(),
            error.message,
            path.display()
        );
    }
    let compiled = curve_compiler::compile(&checked.script);
    let Some(artifact) = compiled.artifacts.iter().find(|a| match &a.id {
        Some(id) => id == block,
        // The ROUTER block has no id: `block = "ROUTER"`.
        None => a.kind.to_string() == *block,
    }) else {
        bail!(
            "{} has no compiled block \"{}\" (compiled: {})",
            path.display(),
            block,
            compiled
                .artifacts
                .iter()
                .filter_map(|a| a.id.clone())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let pk = dev_keys(store, curve_runtime::templates::artifact_class(artifact))?;
    // A fixed blinding seed: the simulation's output is reproducible byte for byte, and a
    // second run of the same script takes its proofs from the key store.
    let file_name = script.to_string_lossy().into_owned();
    let image = curve_runtime::templates::prove_image_cached(
        artifact, &file_name, &source, &pk, [0x51; 32], store,
    )?;
    Ok(Program {
        image,
        feed_tag: curve_compiler::feed_tag(block),
        id: None,
        keys: Vec::new(),
        interface: artifact.interface,
        class: curve_runtime::templates::artifact_class(artifact),
    })
}

/// A development probe template, proved like a script block (dev mode admits it).
fn probe_program(name: &str, store: &KeyStore) -> Result<Program> {
    use curve_compiler::templates::probe;
    let Some(template) = probe::templates().into_iter().find(|t| t.name == name) else {
        let names: Vec<&str> = probe::templates().iter().map(|t| t.name).collect();
        bail!("no probe template `{name}` (probes: {})", names.join(", "));
    };
    let artifact = probe::artifact(template);
    Ok(Program {
        image: probe_image(&artifact, name, store)?,
        feed_tag: 0,
        id: None,
        keys: Vec::new(),
        interface: artifact.interface,
        class: curve_runtime::templates::artifact_class(&artifact),
    })
}

/// A probe's image, proved with the development keys of its size class.
fn probe_image(
    artifact: &curve_compiler::Artifact,
    name: &str,
    store: &KeyStore,
) -> Result<ProgramImage> {
    let pk = dev_keys(store, curve_runtime::templates::artifact_class(artifact))?;
    Ok(curve_runtime::templates::prove_image_cached(
        artifact, name, "", &pk, [0x51; 32], store,
    )?)
}

fn program<'a>(programs: &'a mut BTreeMap<String, Program>, name: &str) -> Result<&'a mut Program> {
    programs
        .get_mut(name)
        .with_context(|| format!("the scenario declares no program `{name}`"))
}

fn deployed_id(programs: &mut BTreeMap<String, Program>, name: &str) -> Result<u64> {
    program(programs, name)?
        .id
        .with_context(|| format!("program `{name}` is used before its deploy"))
}

fn action(
    spec: &ActionSpec,
    scenario: &Scenario,
    programs: &mut BTreeMap<String, Program>,
    next_program: &mut u64,
    time_ms: u64,
) -> Result<Action> {
    Ok(match spec {
        ActionSpec::Deposit {
            sequence,
            to,
            amount,
        } => {
            let record = DepositRecord {
                chain_id: scenario.chain_id,
                sequence: *sequence,
                depositor: [0; 32],
                recipient: public(to),
                amount: *amount,
                slot: *sequence,
            };
            let keys: Vec<SigningKey> = scenario.committee.iter().map(|n| sim_key(n)).collect();
            let members: Vec<(u16, &SigningKey)> = keys
                .iter()
                .enumerate()
                .take(usize::from(scenario.quorum))
                .map(|(i, k)| (i as u16, k))
                .collect();
            Action::CreditDeposit {
                attestations: client::attest(&record, &members),
                record,
            }
        }
        ActionSpec::Transfer { to, amount } => Action::Transfer {
            to: public(to),
            amount: u128::from(*amount),
        },
        ActionSpec::Withdraw { amount, recipient } => Action::Withdraw {
            amount: u128::from(*amount),
            recipient: public(recipient),
        },
        // Ids are sequential: a deploy that lands gets the next one, so later steps (even in
        // the same batch) can name it; a refused deploy makes them fail visibly.
        ActionSpec::Deploy(name) => {
            let feed = program(programs, name)?;
            feed.id = Some(*next_program);
            *next_program += 1;
            Action::Deploy(feed.image.clone())
        }
        ActionSpec::RegisterOracleKey { program: name, key } => {
            let id = deployed_id(programs, name)?;
            program(programs, name)?.keys.push(key.clone());
            Action::RegisterOracleKey {
                program: id,
                key: public(key),
            }
        }
        ActionSpec::Call {
            program: name,
            entry,
            args,
            access,
        } => {
            let mut ids = access
                .iter()
                .map(|name| deployed_id(programs, name))
                .collect::<Result<Vec<u64>>>()?;
            ids.sort_unstable();
            // Typed by the descriptor; an unknown entrypoint's words go as they are, for the
            // runtime to refuse.
            let fields = program(programs, name)?
                .interface
                .entry(entry)
                .map(|e| e.args.iter().map(|f| f.ty).collect::<Vec<_>>())
                .unwrap_or_default();
            Action::Call {
                program: deployed_id(programs, name)?,
                entry: entry.clone(),
                args: args
                    .iter()
                    .enumerate()
                    .map(|(i, word)| {
                        let ty = fields
                            .get(i)
                            .copied()
                            .unwrap_or(curve_compiler::abi::FieldType::U64);
                        Ok(Arg::One(word.value_as(ty, programs)?))
                    })
                    .collect::<Result<_>>()?,
                access: ids,
            }
        }
        ActionSpec::BindViews {
            program: name,
            views,
        } => Action::BindViews {
            program: deployed_id(programs, name)?,
            views: views
                .iter()
                .map(|view| deployed_id(programs, view))
                .collect::<Result<_>>()?,
        },
        ActionSpec::OracleUpdate {
            program: name,
            price,
            age_ms,
            signers,
        } => {
            let id = deployed_id(programs, name)?;
            let feed = program(programs, name)?;
            let keys: Vec<(u64, SigningKey)> = signers
                .iter()
                .map(|signer| {
                    let index = feed
                        .keys
                        .iter()
                        .position(|k| k == signer)
                        .with_context(|| {
                            format!("`{signer}` is not a registered key of `{name}`")
                        })?;
                    Ok((index as u64, sim_key(signer)))
                })
                .collect::<Result<_>>()?;
            let pairs: Vec<(u64, &SigningKey)> = keys.iter().map(|(i, k)| (*i, k)).collect();
            Action::Call {
                program: id,
                entry: "update".into(),
                args: client::oracle_update_args(
                    scenario.chain_id,
                    feed.feed_tag,
                    *price,
                    time_ms.saturating_sub(*age_ms),
                    &pairs,
                ),
                access: Vec::new(),
            }
        }
    })
}

fn hex32(bytes: &[u8; 32]) -> String {
    hex::encode(bytes)
}

/// Runs `curve sim`.
pub fn run_sim(args: SimArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("cannot read {}", args.scenario.display()))?;
    let scenario: Scenario = match toml::from_str(&text) {
        Ok(scenario) => scenario,
        Err(error) => {
            errln!("error: {}: {error}", args.scenario.display());
            return Ok(ExitCode::from(1));
        }
    };
    let base = args.scenario.parent().unwrap_or(Path::new("."));
    let store = store(&args.keys);
    let mut programs = BTreeMap::new();
    for spec in &scenario.programs {
        programs.insert(spec.name.clone(), compile_program(spec, base, &store)?);
    }
    // The development key of every size class a program of the scenario needs.
    let mut classes = vec![curve_formats::certificate::SizeClass::C16];
    for program in programs.values() {
        if !classes.contains(&program.class) {
            classes.push(program.class);
        }
    }
    // The genesis lists them by ascending size class.
    classes.sort_by_key(|class| curve_runtime::templates::class_index(*class));
    let verifying_keys = classes
        .into_iter()
        .map(|class| {
            let vk = keys::vk_bytes(&dev_keys(&store, class)?.vk);
            Ok((curve_runtime::templates::class_index(class), vk))
        })
        .collect::<Result<Vec<_>>>()?;
    let config = Config {
        chain_id: scenario.chain_id,
        governance: public(&scenario.governance),
        committee: scenario.committee.iter().map(|n| public(n)).collect(),
        quorum: scenario.quorum,
        dev_mode: true,
        verifying_keys,
    };
    let mut runtime = match Runtime::genesis(config, MemoryStorage::new()) {
        Ok(runtime) => runtime,
        Err(error) => {
            errln!("error: {}: {error}", args.scenario.display());
            return Ok(ExitCode::from(1));
        }
    };
    runtime.set_engine(args.engine);
    let human = matches!(args.format, crate::FormatArg::Human);
    if human {
        outln!(
            "chain {:#x}, dev mode (INSECURE development certificate keys and name-derived account keys)",
            scenario.chain_id
        );
        outln!("genesis state root {}", hex32(&runtime.root()));
    }
    let mut failures = Vec::new();
    let mut batches_json = Vec::new();
    for (number, batch_spec) in scenario.batches.iter().enumerate() {
        let mut transactions = Vec::new();
        // Each sender's nonces continue from the state, one per transaction of the batch.
        let mut nonces: BTreeMap<String, u64> = BTreeMap::new();
        let mut next_program = runtime.meta().next_program;
        for tx in &batch_spec.tx {
            let action = action(
                &tx.action,
                &scenario,
                &mut programs,
                &mut next_program,
                batch_spec.time_ms,
            )?;
            let next = nonces.entry(tx.from.clone()).or_insert_with(|| {
                runtime
                    .account(&public(&tx.from))
                    .map_or(0, |account| account.nonce)
            });
            let nonce = tx.nonce.unwrap_or(*next);
            *next += 1;
            let signed = client::sign(
                Transaction {
                    chain_id: scenario.chain_id,
                    sender: public(&tx.from),
                    nonce,
                    gas_limit: tx.gas_limit,
                    fee_per_gas: tx.fee_per_gas,
                    action,
                },
                &sim_key(&tx.from),
            );
            transactions.push(signed.to_bytes());
        }
        let batch = Batch {
            height: runtime.meta().height + 1,
            timestamp_ms: batch_spec.time_ms,
            transactions,
        };
        let outcome = match runtime.apply_batch(&batch) {
            Ok(outcome) => outcome,
            Err(error) => {
                errln!("error: batch {}: {error}", number + 1);
                return Ok(ExitCode::from(1));
            }
        };
        if human {
            outln!("batch {} at {} ms", batch.height, batch.timestamp_ms);
        }
        let mut receipts_json = Vec::new();
        for (index, (receipt, tx)) in outcome.receipts.iter().zip(&batch_spec.tx).enumerate() {
            let reason = match &receipt.status {
                Status::Committed => None,
                Status::Reverted(revert) => Some(match &revert.location {
                    Some(location) => format!("{}, {location}", revert.trap),
                    None => revert.trap.clone(),
                }),
                Status::Rejected(rejection) => Some(rejection.to_string()),
            };
            if let Some(expected) = &tx.expect
                && expected != receipt.status.name()
            {
                failures.push(format!(
                    "batch {} tx {index} ({} {}): expected {expected}, got {}{}",
                    batch.height,
                    tx.from,
                    receipt.action,
                    receipt.status.name(),
                    reason
                        .as_deref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                ));
            }
            if let Some(expected) = &tx.reason
                && !reason
                    .as_deref()
                    .is_some_and(|r| r.contains(expected.as_str()))
            {
                failures.push(format!(
                    "batch {} tx {index} ({} {}): expected a reason containing `{expected}`, got {}",
                    batch.height,
                    tx.from,
                    receipt.action,
                    reason.as_deref().unwrap_or("none (committed)")
                ));
            }
            if let Some(expected) = &tx.returns {
                let expected = expected
                    .iter()
                    .map(|word| word.value(&mut programs))
                    .collect::<Result<Vec<u64>>>()?;
                if expected != receipt.returns {
                    failures.push(format!(
                        "batch {} tx {index} ({} {}): expected returns {expected:?}, got {:?}",
                        batch.height, tx.from, receipt.action, receipt.returns
                    ));
                }
            }
            if human {
                outln!(
                    "  {index:>3} {:<12} {:<20} {:<9} gas {:>9} fee {}",
                    tx.from,
                    receipt.action,
                    receipt.status.name(),
                    receipt.gas_used,
                    receipt.fee
                );
                if let Some(reason) = &reason {
                    outln!("      {reason}");
                }
                if let Some(id) = receipt.program {
                    outln!("      program id {id}");
                }
                if !receipt.returns.is_empty() {
                    outln!("      returns {:?}", receipt.returns);
                }
                for event in &receipt.events {
                    outln!("      event topic {} {:?}", event.topic, event.words);
                }
            }
            receipts_json.push(json!({
                "index": index,
                "from": tx.from,
                "action": receipt.action,
                "status": receipt.status.name(),
                "reason": reason,
                "gas_used": receipt.gas_used,
                "fee": receipt.fee.to_string(),
                "returns": receipt.returns,
                "program": receipt.program,
                "events": receipt.events.iter().map(|e| json!({"emitter": e.emitter, "topic": e.topic, "words": e.words})).collect::<Vec<_>>(),
                "tx_hash": hex32(&receipt.tx_hash),
            }));
        }
        let header = &outcome.header;
        // The runtime checked it already (it halts otherwise); shown so a reader can follow
        // where the collateral sits after each batch.
        let totals = runtime
            .conservation()
            .context("conservation after a batch the runtime accepted")?;
        let held = totals
            .classes
            .iter()
            .map(|(class, sum)| format!("{} {sum}", class.name()))
            .collect::<Vec<_>>()
            .join(" + ");
        if human {
            outln!(
                "  state root {}  withdrawals {} (total {})",
                hex32(&header.state_root),
                header.withdrawal_count,
                header.withdrawal_total
            );
            outln!(
                "  conserved: {held} = deposits {} − withdrawals {}",
                totals.deposits_credited,
                totals.withdrawals_finalised
            );
        }
        // Each payout with its Merkle path: what a withdrawal on Solana submits.
        let payouts_json: Vec<Json> = outcome
            .payouts
            .iter()
            .map(|leaf| {
                let (origin, market_id) = match leaf.origin {
                    Origin::Withdrawal => ("withdrawal", [0u8; 32]),
                    Origin::Settlement { market_id } => ("settlement", market_id),
                };
                let proof = outcome
                    .payout_proof(u64::from(leaf.index))
                    .expect("every payout is in its batch's tree");
                json!({
                    "index": leaf.index,
                    "recipient": hex32(&leaf.recipient),
                    "amount": leaf.amount.to_string(),
                    "origin": origin,
                    "market_id": hex32(&market_id),
                    "proof": proof.siblings.iter().map(hex32).collect::<Vec<_>>(),
                })
            })
            .collect();
        batches_json.push(json!({
            "height": header.height,
            "timestamp_ms": header.timestamp_ms,
            "receipts": receipts_json,
            "payouts": payouts_json,
            "conservation": totals
                .classes
                .iter()
                .map(|(class, sum)| (class.name().to_string(), json!(sum.to_string())))
                .collect::<serde_json::Map<String, Json>>(),
            "header": {
                "prev_root": hex32(&header.prev_root),
                "state_root": hex32(&header.state_root),
                "transactions_root": hex32(&header.transactions_root),
                "withdrawal_root": hex32(&header.withdrawal_root),
                "withdrawal_count": header.withdrawal_count,
                "withdrawal_total": header.withdrawal_total.to_string(),
            },
        }));
    }
    let root = hex32(&runtime.root());
    if human {
        outln!("final state root {root}");
    } else {
        let document: Json = json!({
            "chain_id": scenario.chain_id,
            "batches": batches_json,
            "state_root": root,
            "expectations_failed": failures,
        });
        outln!("{}", serde_json::to_string_pretty(&document)?);
    }
    for failure in &failures {
        errln!("error: {failure}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
