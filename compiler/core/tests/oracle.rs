//! The ORACLE program against a plain-Rust reference, on the interpreter and the JIT: one compiled
//! artifact, only runtime inputs varied (registered keys, signed updates, batch times, prices,
//! forged and missing signatures). Each step compares the outcome (return words or abort code),
//! the whole slab, and the gas against the static bound. `CURVE_SEED=<n>` replays a run.

use std::sync::Arc;

use curve_compiler::templates::oracle::{self, code, state, status, update_args};
use curve_compiler::{Artifact, compile, feed_tag};
use curvevm::isa::Segment;
use curvevm::{Instance, Outcome, TrapKind};
use curvevm_host::{Caller, Clock, Ledger, Role, RollupHost};
use curvevm_testkit::engines::Engine;
use curvevm_testkit::programs::{Rng, replay_seed};
use ed25519_dalek::{Signer, SigningKey};

const SCRIPT: &str = r#"
ORACLE "pyth:SOLUSD" {
    HEARTBEAT ms=500
    STALENESS ms=2_000
    SIGNERS quorum=2 keys_max=4
    PRICE decimals=6 min=1_000 max=1_000_000_000
}
"#;

fn artifact() -> Artifact {
    let checked = curvescript_check::check_source(SCRIPT, None);
    assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
    let mut compiled = compile(&checked.script);
    assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
    compiled.artifacts.remove(0)
}

/// The reference: the same rules in plain Rust.
#[derive(Default)]
struct Model {
    keys: Vec<[u8; 32]>,
    price: u64,
    publish_ms: u64,
    updated_ms: u64,
    mark: u64,
    updates: u64,
    cum: u128,
    cum_ms: u64,
    /// `publish_ms + STALENESS` of the accepted price (0 before one).
    fresh_until_ms: u64,
}

struct Settings {
    heartbeat: u64,
    staleness: u64,
    quorum: u64,
    keys_max: u64,
    min: u64,
    max: u64,
    tag: u64,
}

/// Bytes as little-endian words (keys: 4, signatures: 8).
fn le_words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("eight bytes")))
        .collect()
}

/// The argument words of `update`.
fn update_call(price: u64, publish: u64, signed: &[(u64, [u8; 64])]) -> Vec<u64> {
    let mut args = vec![0u64; update_args::WORDS as usize];
    args[update_args::PRICE as usize] = price;
    args[update_args::PUBLISH_MS as usize] = publish;
    args[update_args::COUNT as usize] = signed.len() as u64;
    for (slot, (index, signature)) in signed.iter().enumerate() {
        args[update_args::KEY_INDEX as usize + slot] = *index;
        let at = update_args::SIGNATURES as usize + 8 * slot;
        args[at..at + 8].copy_from_slice(&le_words(signature));
    }
    args
}

/// The chain the model runs on: several non-zero bytes, so the template's byte shifts show.
const CHAIN_ID: u64 = 0x00c0_ffee_1234_5678;

/// The signed message, written out from its description (curve-formats' `oracle` module doc and
/// the domain tag's): `"CURV" ‖ kind 7 ‖ version 1 (u16) ‖ chain ‖ feed tag ‖ price ‖ publish`,
/// little-endian.
fn message_on(chain: u64, tag: u64, price: u64, publish: u64) -> Vec<u8> {
    let mut bytes = b"CURV".to_vec();
    bytes.push(7);
    bytes.extend_from_slice(&1u16.to_le_bytes());
    for word in [chain, tag, price, publish] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes
}

fn message(tag: u64, price: u64, publish: u64) -> Vec<u8> {
    message_on(CHAIN_ID, tag, price, publish)
}

impl Model {
    fn register(&mut self, s: &Settings, key: [u8; 32]) -> Result<Vec<u64>, u8> {
        if self.keys.len() as u64 >= s.keys_max {
            return Err(code::KEYS_FULL);
        }
        self.keys.push(key);
        Ok(vec![])
    }

    fn update(
        &mut self,
        s: &Settings,
        now: u64,
        price: u64,
        publish: u64,
        signed: &[(u64, [u8; 64])],
    ) -> Result<Vec<u64>, u8> {
        if price < s.min || price > s.max {
            return Err(code::PRICE_RANGE);
        }
        if publish <= self.publish_ms {
            return Err(code::NOT_NEWER);
        }
        if publish > now {
            return Err(code::FUTURE);
        }
        if now - publish > s.staleness {
            return Err(code::STALE);
        }
        if signed.len() > oracle::KEYS_MAX as usize {
            return Err(code::TOO_MANY_SIGNATURES);
        }
        let text = message(s.tag, price, publish);
        let mut next = 0;
        let mut valid = 0;
        for (index, signature) in signed {
            if *index >= self.keys.len() as u64 || *index < next {
                return Err(code::BAD_SIGNER);
            }
            next = index + 1;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&self.keys[*index as usize]);
            let signature = ed25519_dalek::Signature::from_bytes(signature);
            if key.is_ok_and(|key| key.verify_strict(&text, &signature).is_ok()) {
                valid += 1;
            }
        }
        if valid < s.quorum {
            return Err(code::QUORUM);
        }
        if self.cum_ms != 0 {
            self.cum += u128::from(self.price) * u128::from(now - self.cum_ms);
        }
        self.cum_ms = now;
        self.mark = if self.mark == 0 {
            price
        } else {
            (u128::from(self.mark) * 3 / 4) as u64 + (price >> 2)
        };
        self.price = price;
        self.publish_ms = publish;
        self.updated_ms = now;
        self.fresh_until_ms = publish + s.staleness;
        self.updates += 1;
        Ok(vec![])
    }

    fn read(&self, s: &Settings, now: u64) -> Result<Vec<u64>, u8> {
        if self.price == 0 {
            return Err(code::NO_PRICE);
        }
        let age = now - self.publish_ms;
        let status = if age > s.staleness {
            status::STALE
        } else if age > s.heartbeat {
            status::HEARTBEAT_MISSED
        } else {
            status::FRESH
        };
        Ok(vec![self.price, self.publish_ms, age, status, self.mark])
    }

    fn price(&self, s: &Settings, now: u64) -> Result<Vec<u64>, u8> {
        let read = self.read(s, now)?;
        if read[2] > s.staleness {
            return Err(code::STALE);
        }
        Ok(vec![self.price])
    }

    fn reference(&self) -> Result<Vec<u64>, u8> {
        // This script has no KILL_BAND_SYNC.
        Err(code::DISABLED)
    }

    fn funding(&self) -> Result<Vec<u64>, u8> {
        Ok(vec![
            self.cum as u64,
            (self.cum >> 64) as u64,
            self.cum_ms,
            self.price,
        ])
    }

    fn slab(&self) -> Vec<u64> {
        let mut words = vec![0; state::WORDS as usize];
        words[state::KEY_COUNT as usize] = self.keys.len() as u64;
        words[state::PRICE as usize] = self.price;
        words[state::PUBLISH_MS as usize] = self.publish_ms;
        words[state::UPDATED_MS as usize] = self.updated_ms;
        words[state::MARK as usize] = self.mark;
        words[state::UPDATES as usize] = self.updates;
        words[state::CUM_PRICE_MS as usize] = self.cum as u64;
        words[state::CUM_PRICE_MS as usize + 1] = (self.cum >> 64) as u64;
        words[state::CUM_MS as usize] = self.cum_ms;
        words[state::FRESH_UNTIL_MS as usize] = self.fresh_until_ms;
        for (i, key) in self.keys.iter().enumerate() {
            let at = state::KEYS as usize + 4 * i;
            words[at..at + 4].copy_from_slice(&le_words(key));
        }
        words
    }
}

fn run(engine: &Engine, instance: &mut Instance, entry: &str, args: &[u64], now: u64) -> Outcome {
    let mut host = RollupHost::new(
        Ledger::default(),
        Clock {
            now_ms: now,
            height: now / 100,
            chain_id: CHAIN_ID,
        },
        Caller {
            id: 9,
            role: Role::Oracle,
        },
    );
    engine.call(instance, entry, args, 1_000_000, &mut host)
}

#[test]
fn the_oracle_program_matches_the_reference_on_both_engines() {
    let seed = replay_seed("CURVE_SEED", 0x0AC1E);
    println!("seed {seed} (CURVE_SEED={seed} replays)");
    let artifact = artifact();
    let program =
        Arc::new(RollupHost::load(artifact.lowered.module.clone(), Role::Oracle).expect("loads"));
    let params = artifact.param_words();
    let settings = Settings {
        heartbeat: 500,
        staleness: 2_000,
        quorum: 2,
        keys_max: 4,
        min: 1_000,
        max: 1_000_000_000,
        tag: feed_tag("pyth:SOLUSD"),
    };
    let bound = |entry: &str| artifact.lowered.gas_bound(entry).expect("an entry");
    let engines = Engine::both(&program);
    let mut aborts = std::collections::BTreeMap::<u8, u64>::new();
    let mut accepted = 0;
    // Updates accepted exactly at the staleness limit (age = staleness).
    let mut accepted_at_limit = 0;
    for engine in &engines {
        let mut rng = Rng::new(seed);
        let mut model = Model::default();
        let mut instance = Instance::new(Arc::clone(&program), &params).expect("params fit");
        let signers: Vec<SigningKey> = (0..5u8)
            .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
            .collect();
        let mut now = 10_000u64;
        for step in 0..800 {
            // Now and then the clock lands exactly on a heartbeat or staleness boundary of the
            // stored price (or one past it), where a `≤` turned `<` would show.
            now = match rng.below(8) {
                0 if model.publish_ms != 0 => {
                    let edge = [settings.heartbeat, settings.staleness][rng.below(2) as usize];
                    (model.publish_ms + edge + rng.below(2)).max(now)
                }
                _ => now + rng.below(700),
            };
            let (entry, args, expected) = match rng.below(10) {
                0 if step > 0 => {
                    let key = signers[model.keys.len().min(4)].verifying_key().to_bytes();
                    let args = le_words(&key);
                    ("register_key", args, model.register(&settings, key))
                }
                0..=4 => {
                    let price = match rng.below(12) {
                        0 => rng.below(2_000),
                        1 => settings.max + rng.below(2),
                        // The range's own edges and one past them.
                        2 => [settings.min - 1, settings.min, settings.max][rng.below(3) as usize],
                        _ => 1_000 + rng.below(500_000_000),
                    };
                    let publish = match rng.below(12) {
                        0 => model.publish_ms,
                        1 => now + 1 + rng.below(100),
                        2 => now.saturating_sub(2_000 + rng.below(1_000)),
                        // Exactly as old as allowed, one past it, and exactly now.
                        3 => now - settings.staleness,
                        4 => now - settings.staleness - 1,
                        5 => now,
                        _ => now - rng.below(400),
                    };
                    let count = if rng.below(4) == 0 {
                        rng.below(2)
                    } else {
                        2 + rng.below(3)
                    } as usize;
                    let mut indices: Vec<u64> = (0..count).map(|_| rng.below(5)).collect();
                    if rng.below(4) != 0 {
                        indices.sort_unstable();
                        indices.dedup();
                    }
                    let text = message(settings.tag, price, publish);
                    // Sometimes the signers signed this price for another chain.
                    let elsewhere = message_on(CHAIN_ID ^ 1, settings.tag, price, publish);
                    let signed: Vec<(u64, [u8; 64])> = indices
                        .iter()
                        .map(|&i| {
                            let bytes = if rng.below(8) == 0 { &elsewhere } else { &text };
                            let mut signature = signers[i as usize].sign(bytes).to_bytes();
                            if rng.below(8) == 0 {
                                signature[rng.below(64) as usize] ^= 1; // forged
                            }
                            (i, signature)
                        })
                        .collect();
                    let args = update_call(price, publish, &signed);
                    let expected = model.update(&settings, now, price, publish, &signed);
                    if expected.is_ok() && now.checked_sub(publish) == Some(settings.staleness) {
                        accepted_at_limit += 1;
                    }
                    ("update", args, expected)
                }
                5 | 6 => ("read", vec![], model.read(&settings, now)),
                7 => ("price", vec![], model.price(&settings, now)),
                8 => ("reference", vec![], model.reference()),
                _ => ("funding", vec![], model.funding()),
            };
            let outcome = run(engine, &mut instance, entry, &args, now);
            let context = format!("seed {seed} step {step}: {entry} at {now}");
            match (&expected, &outcome.result) {
                (Ok(words), Ok(ret)) => {
                    assert_eq!(&ret[..words.len()], &words[..], "{context}");
                    if entry == "update" {
                        accepted += 1;
                    }
                }
                (Err(code), Err(trap)) => {
                    assert_eq!(trap.kind, TrapKind::Abort { code: *code }, "{context}");
                    *aborts.entry(*code).or_default() += 1;
                }
                _ => panic!("{context}: reference {expected:?}, program {outcome:?}"),
            }
            assert!(
                outcome.gas_used <= bound(entry),
                "{context}: gas above bound"
            );
            let slab = instance.memory().words(Segment::Slab).to_vec();
            assert_eq!(slab, model.slab(), "{context}: slab");
        }
    }
    println!(
        "accepted updates {accepted} ({accepted_at_limit} exactly at the staleness limit), \
         aborts by code {aborts:?}"
    );
    assert!(accepted >= 20, "too few accepted updates: {accepted}");
    assert!(
        accepted_at_limit > 0,
        "no update was accepted at age = staleness"
    );
    for code in [
        code::PRICE_RANGE,
        code::NOT_NEWER,
        code::FUTURE,
        code::STALE,
        code::QUORUM,
        code::BAD_SIGNER,
        code::KEYS_FULL,
        code::DISABLED,
    ] {
        assert!(
            aborts.get(&code).copied().unwrap_or(0) > 0,
            "abort {code} never seen"
        );
    }
}

/// Worst-case `update` (every key signs, all valid, funding and mark on) uses at most its
/// static bound and at least half of it.
#[test]
fn worst_case_update_gas_is_within_the_bound_and_at_least_half_of_it() {
    let script = SCRIPT.replace("quorum=2 keys_max=4", "quorum=16 keys_max=16");
    let checked = curvescript_check::check_source(&script, None);
    let artifact = compile(&checked.script).artifacts.remove(0);
    let program =
        Arc::new(RollupHost::load(artifact.lowered.module.clone(), Role::Oracle).expect("loads"));
    let mut instance =
        Instance::new(Arc::clone(&program), &artifact.param_words()).expect("params fit");
    let tag = feed_tag("pyth:SOLUSD");
    let signers: Vec<SigningKey> = (0..16u8)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect();
    for signer in &signers {
        let key = signer.verifying_key().to_bytes();
        let args = le_words(&key);
        let outcome = run(
            &Engine::Interpreter,
            &mut instance,
            "register_key",
            &args,
            1,
        );
        assert!(outcome.result.is_ok(), "{outcome:?}");
    }
    let mut observed = 0;
    for (now, price) in [(10_000u64, 50_000u64), (10_400, 51_000)] {
        let text = message(tag, price, now);
        let signed: Vec<(u64, [u8; 64])> = signers
            .iter()
            .enumerate()
            .map(|(slot, signer)| (slot as u64, signer.sign(&text).to_bytes()))
            .collect();
        let args = update_call(price, now, &signed);
        let outcome = run(&Engine::Interpreter, &mut instance, "update", &args, now);
        assert!(outcome.result.is_ok(), "{outcome:?}");
        observed = outcome.gas_used;
    }
    let bound = artifact.lowered.gas_bound("update").expect("update");
    println!("update: observed {observed} gas, bound {bound}");
    assert!(observed <= bound, "observed {observed} > bound {bound}");
    assert!(
        2 * observed >= bound,
        "observed {observed} < half of {bound}"
    );
}
