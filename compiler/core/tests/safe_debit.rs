//! The canonical `safe_debit` routine, compiled into a one-entry program and run on both engines
//! against a plain-Rust reference over random caps, escrows, amounts and bounds (values around
//! 2^64 and the ledger near 2^128 included): the bound guard, every host refusal, the checked
//! ledger add, and — on any trap — a ledger and slab left exactly as they were.
//! `CURVE_SEED=<n>` replays a run.

use std::sync::Arc;

use curve_compiler::templates::debit::{Debit, safe_debit};
use curve_ir::ir::{Addr, FunctionBuilder, Program, Rvalue, Ty};
use curvevm::hostcall::{Capability, CapabilitySet, Refusal, id};
use curvevm::isa::Segment;
use curvevm::{Instance, Outcome, TrapKind};
use curvevm_host::{Caller, Cap, Clock, Ledger, Role, RollupHost};
use curvevm_jit::JitProgram;
use curvevm_testkit::programs::{Rng, replay_seed};

const OVER_BOUND: u8 = 7;
const SLAB: u64 = 3;
const ASSET: u64 = 1;

/// `debit(cap, user, asset, amount: u128, bound: u128) -> (remaining: u128, collected: u128)`,
/// the ledger at slab words 0–1.
fn program() -> Program {
    let mut b = FunctionBuilder::new("debit", 7, 4);
    let arg = |b: &mut FunctionBuilder, name: &str, word: u32, ty: Ty| {
        b.let_(name, ty, Rvalue::Load(Addr::Fixed(Segment::Args, word)))
    };
    let cap = arg(&mut b, "cap", 0, Ty::U64);
    let user = arg(&mut b, "user", 1, Ty::U64);
    let asset = arg(&mut b, "asset", 2, Ty::U64);
    let amount = arg(&mut b, "amount", 3, Ty::U128);
    let bound = arg(&mut b, "bound", 5, Ty::U128);
    let ledger = Addr::Fixed(Segment::Slab, 0);
    let remaining = safe_debit(
        &mut b,
        Debit {
            cap,
            user,
            asset,
            amount,
            bound,
            ledger,
            over_bound: OVER_BOUND,
        },
    );
    b.store(Addr::Fixed(Segment::Ret, 0), remaining);
    let collected = b.let_("collected", Ty::U128, Rvalue::Load(ledger));
    b.store(Addr::Fixed(Segment::Ret, 2), collected);
    Program {
        functions: vec![b.finish()],
        params: 0,
        slab: 2,
        scratch_reserved: 0,
        capabilities: CapabilitySet::of(&[Capability::EscrowDebit]),
        views: Vec::new(),
        subroutines: Vec::new(),
    }
}

#[derive(Debug, PartialEq)]
enum Expected {
    Returned(Vec<u64>),
    Trap(TrapKind),
}

fn words(value: u128) -> [u64; 2] {
    [value as u64, (value >> 64) as u64]
}

/// The reference: bound, then the ledger's own `safe_debit` rules, then the checked add.
#[allow(clippy::too_many_arguments)]
fn reference(
    ledger: &mut Ledger,
    collected: &mut u128,
    cap: u64,
    user: u64,
    asset: u64,
    amount: u128,
    bound: u128,
    now: u64,
) -> Expected {
    if amount > bound {
        return Expected::Trap(TrapKind::Abort { code: OVER_BOUND });
    }
    let mut after = ledger.clone();
    let remaining = match after.safe_debit(cap, user, SLAB, asset, amount, now) {
        Ok(remaining) => remaining,
        Err(refusal) => {
            return Expected::Trap(TrapKind::Host {
                id: id::SAFE_DEBIT,
                code: refusal.code(),
            });
        }
    };
    let Some(total) = collected.checked_add(amount) else {
        return Expected::Trap(TrapKind::Overflow);
    };
    after.end_call(true);
    *ledger = after;
    *collected = total;
    let mut ret = words(remaining).to_vec();
    ret.extend(words(total));
    Expected::Returned(ret)
}

fn amount(rng: &mut Rng) -> u128 {
    match rng.below(6) {
        0 => 0,
        1 => u128::from(u64::MAX) + u128::from(rng.below(3)),
        2 => (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64()),
        3 => u128::from(10_000 + rng.below(30_000)),
        _ => u128::from(rng.below(5_000)),
    }
}

#[test]
fn safe_debit_matches_the_reference_on_both_engines() {
    let seed = replay_seed("CURVE_SEED", 0xDEB17);
    println!("seed {seed} (CURVE_SEED={seed} replays)");
    let lowered = curve_ir::lower(&program()).expect("lowers");
    let bound_gas = lowered.gas_bound("debit").expect("the entry");
    let program = Arc::new(RollupHost::load(lowered.module, Role::Slab).expect("loads"));
    let jit = JitProgram::compile(Arc::clone(&program)).expect("compiles");
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for engine in ["interpreter", "jit"] {
        let mut rng = Rng::new(seed);
        let mut model = Ledger::default();
        let mut host = RollupHost::new(
            Ledger::default(),
            Clock::default(),
            Caller {
                id: SLAB,
                role: Role::Slab,
            },
        );
        let mut collected = 0u128;
        let mut caps: Vec<(u64, u64)> = Vec::new();
        let mut instance = Instance::new(Arc::clone(&program), &[]).expect("instance");
        for step in 0..600 {
            let now = 1_000 + step;
            host.clock.now_ms = now;
            // New caps and escrows now and then, some scoped elsewhere or expiring soon.
            if step % 8 == 0 {
                let balance = u128::from(rng.below(60_000));
                for ledger in [&mut model, &mut host.ledger] {
                    ledger.set_escrow(1 + step % 3, SLAB, ASSET, balance);
                }
                let user = 1 + rng.below(3);
                let slab = if rng.below(6) == 0 { SLAB + 1 } else { SLAB };
                let cap = Cap::new(
                    user,
                    slab,
                    ASSET,
                    u128::from(rng.below(60_000)),
                    now + rng.below(100),
                );
                let cap_id = model.add_cap(cap);
                assert_eq!(host.ledger.add_cap(cap), cap_id);
                caps.push((cap_id, user));
            }
            // Near the top of u128 now and then, so the checked add must trap.
            if step == 300 {
                collected = u128::MAX - 10_000;
                instance
                    .set_slab(words(collected).to_vec())
                    .expect("two words");
            }
            // Mostly one of the newest caps used by its owner; sometimes an old cap, an
            // unknown id or another user.
            let (cap, owner) = match rng.below(10) {
                0 => (1_000 + rng.below(10), 1),
                1 => caps[rng.below(caps.len() as u64) as usize],
                _ => caps[caps.len() - 1 - rng.below(caps.len().min(2) as u64) as usize],
            };
            let user = if rng.below(8) == 0 {
                1 + rng.below(3)
            } else {
                owner
            };
            let asset = if rng.below(10) == 0 { ASSET + 1 } else { ASSET };
            let amount = amount(&mut rng);
            let bound = match rng.below(4) {
                0 => amount.saturating_sub(1),
                _ => amount.saturating_add(u128::from(rng.below(100))),
            };
            let expected = reference(
                &mut model,
                &mut collected,
                cap,
                user,
                asset,
                amount,
                bound,
                now,
            );
            let mut args = vec![cap, user, asset];
            args.extend(words(amount));
            args.extend(words(bound));
            let slab_before = instance.memory().words(Segment::Slab).to_vec();
            let outcome: Outcome = if engine == "jit" {
                jit.call(&mut instance, "debit", &args, 100_000, &mut [], &mut host)
                    .expect("starts")
                    .0
            } else {
                instance
                    .call(
                        "debit",
                        &args,
                        100_000,
                        &mut [],
                        &mut host,
                        Default::default(),
                    )
                    .expect("starts")
            };
            let context = format!("seed {seed} {engine} step {step}");
            let got = match outcome.result {
                Ok(ret) => Expected::Returned(ret),
                Err(trap) => Expected::Trap(trap.kind),
            };
            assert_eq!(got, expected, "{context}");
            assert!(
                outcome.gas_used <= bound_gas,
                "{context}: gas above the bound"
            );
            assert!(host.ledger == model, "{context}: ledger");
            if matches!(got, Expected::Trap(_)) {
                assert_eq!(
                    instance.memory().words(Segment::Slab),
                    &slab_before[..],
                    "{context}"
                );
            }
            let kind = match &got {
                Expected::Returned(_) => "debited".to_string(),
                Expected::Trap(TrapKind::Host { code, .. }) => Refusal::ALL
                    .iter()
                    .find(|r| r.code() == *code)
                    .map_or("refused".into(), |r| r.name().to_string()),
                Expected::Trap(kind) => kind.name().to_string(),
            };
            *seen.entry(kind).or_default() += 1;
        }
    }
    println!("outcomes {seen:?}");
    for kind in [
        "debited",
        "abort",
        "overflow",
        "unknown_cap",
        "cap_expired",
        "cap_scope",
        "cap_remaining",
        "escrow_balance",
    ] {
        assert!(seen.contains_key(kind), "never saw {kind}: {seen:?}");
    }
}
