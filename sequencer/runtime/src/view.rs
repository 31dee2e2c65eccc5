//! Read-only calls ("views"): an entrypoint that only reads its program's state (a market's
//! `quote`, a slab's `account`) run against the executed state, as a node's `curve_call`
//! answers. The call runs on a copy of the program's state and of the ledger, at the last
//! batch's clock, and may not invoke other programs: nothing it does reaches the chain.

use curve_compiler::abi::{Access, Entry, FieldType};
use curve_formats::tx::{Arg, Value};
use curvevm::interp::Instance;
use curvevm::isa::Segment;
use curvevm_host::{Clock, InvokeHost, ProgramSet, RollupHost};
use serde_json::{Map, Value as Json, json};

use crate::state::ProgramId;
use crate::{Runtime, Storage, protocol};

/// A view's arguments, one JSON number (or decimal string, for 128-bit fields) per scalar
/// argument of `entry`, as the call's words.
fn view_words(entry: &Entry, args: &[Json]) -> Result<Vec<u64>, String> {
    if args.len() != entry.args.len() {
        return Err(format!(
            "`{}` takes {} argument(s), found {}",
            entry.name,
            entry.args.len(),
            args.len()
        ));
    }
    let mut typed = Vec::with_capacity(args.len());
    for (field, arg) in entry.args.iter().zip(args) {
        let number = match arg {
            Json::Number(n) => n.to_string(),
            Json::String(s) => s.clone(),
            _ => String::new(),
        };
        let wrong = || {
            format!(
                "argument `{}` of `{}` must be a {} (a number or a decimal string); found {arg}",
                field.name,
                entry.name,
                field.ty.name()
            )
        };
        let value = match (field.count, field.ty) {
            (1, FieldType::U64) => Value::U64(number.parse().map_err(|_| wrong())?),
            (1, FieldType::Cap) => Value::Cap(number.parse().map_err(|_| wrong())?),
            (1, FieldType::I64) => Value::I64(number.parse().map_err(|_| wrong())?),
            (1, FieldType::U128) => Value::U128(number.parse().map_err(|_| wrong())?),
            (1, FieldType::I128) => Value::I128(number.parse().map_err(|_| wrong())?),
            _ => {
                return Err(format!(
                    "argument `{}` of `{}` is a {}: views take numbers only",
                    field.name,
                    entry.name,
                    field.ty.name()
                ));
            }
        };
        typed.push(Arg::One(value));
    }
    crate::execute::call_words(entry, &typed)
}

/// The return words of `entry` by field name: 64-bit values as numbers, 128-bit values as
/// decimal strings (JSON numbers lose precision above 2^53), wider fields as word arrays.
fn named_returns(entry: &Entry, words: &[u64]) -> Json {
    let mut named = Map::new();
    let mut at = 0usize;
    for field in entry.returns {
        let width = usize::from(field.words());
        let slice = words.get(at..at + width).unwrap_or(&[]);
        at += width;
        let wide = || u128::from(slice[0]) | u128::from(slice[1]) << 64;
        let value = match (field.count, field.ty, slice.len()) {
            (1, FieldType::U64 | FieldType::Cap, 1) => json!(slice[0]),
            (1, FieldType::I64, 1) => json!(slice[0] as i64),
            (1, FieldType::U128, 2) => json!(wide().to_string()),
            (1, FieldType::I128, 2) => json!((wide() as i128).to_string()),
            _ => json!(slice),
        };
        named.insert(field.name.to_string(), value);
    }
    Json::Object(named)
}

impl<S: Storage> Runtime<S> {
    /// Runs `entry` of `program` read-only on the executed state: its returns by name, or why
    /// not (no such program or entry, an entry that writes, bad arguments, a trap).
    pub fn view(&self, program: ProgramId, entry: &str, args: &[Json]) -> Result<Json, String> {
        let live = self
            .programs
            .get(&program)
            .ok_or_else(|| format!("no program {program}"))?;
        let interface = live.approved.template.interface;
        let descriptor = interface.entry(entry).ok_or_else(|| {
            format!(
                "the {} interface has no entry `{entry}`",
                interface.template
            )
        })?;
        if let Some(account) = descriptor
            .accounts
            .iter()
            .find(|a| a.access != Access::Read)
        {
            return Err(format!(
                "`{entry}` writes {}: only an entry that reads can be a view",
                account.name
            ));
        }
        let words = view_words(descriptor, args)?;
        let index = live
            .instance
            .entry_index(entry)
            .ok_or_else(|| format!("the module has no entry `{entry}`"))?;
        let gas = protocol::entry_budget(&live.approved.template, entry)
            .ok_or_else(|| format!("`{entry}` has no gas budget"))?;
        // A copy of the state: whatever the call writes stays here.
        let mut instance = Instance::new(
            live.instance.program().clone(),
            live.instance.words(Segment::Params),
        )
        .map_err(|e| e.to_string())?;
        instance
            .set_slab(live.instance.words(Segment::Slab).to_vec())
            .map_err(|e| e.to_string())?;
        let mut views: Vec<Vec<u64>> = live
            .record
            .views
            .iter()
            .filter_map(|target| self.programs.get(target))
            .map(|mapped| mapped.instance.words(Segment::Slab).to_vec())
            .collect();
        let clock = Clock {
            now_ms: self.meta.timestamp_ms,
            height: self.meta.height,
            chain_id: self.config.chain_id,
        };
        let caller = curvevm_host::Caller {
            id: program,
            role: live.approved.role,
        };
        let mut host = RollupHost::new(self.ledger.clone(), clock, caller);
        // No other program is reachable: an invoke is refused inside the call.
        let mut nobody = ProgramSet::default();
        let outcome = self
            .engine
            .with(|engine| {
                let mut invoke = InvokeHost::new(&mut host, &mut nobody, engine);
                engine.call(&mut instance, index, &words, gas, &mut views, &mut invoke)
            })
            .map_err(|e| e.to_string())?;
        match outcome.result {
            Ok(returns) => Ok(named_returns(descriptor, &returns)),
            Err(trap) => Err(match trap.kind {
                curvevm::TrapKind::Abort { code } => match interface.abort_name(code) {
                    Some(name) => format!("{trap} ({name})"),
                    None => trap.to_string(),
                },
                _ => trap.to_string(),
            }),
        }
    }
}
