//! `invoke` on both engines: a caller (program 1, router) reaching callees (slabs 2–7) whose
//! code bumps a counter, traps, burns gas or relays the call down a chain. Each scenario runs on
//! the interpreter and on the JIT (callees on the caller's engine) and must leave the same
//! outcome, gas, slabs, ledger and events; the expectations come from the programs' text.

use std::sync::Arc;

use curvevm::hostcall::{MAX_INVOKE_DEPTH, Refusal, id};
use curvevm::{Engine, ExecOptions, Instance, Interpreter, Outcome, Segment, Trap, TrapKind};
use curvevm_host::invoke::Mutation;
use curvevm_host::{
    Callee, Caller, Clock, Event, InvokeHost, Ledger, ProgramSet, Role, RollupHost,
};
use curvevm_jit::JitCache;

/// The caller: `call(program, entry, words, n, cap)` invokes `entry` of `program` with the
/// `words` argument words starting at `n` (so 0 or 1 words) and at most `cap` gas, then counts the call in its own slab and
/// returns `[r1, r2, first return word]`; `call_then_trap` does the same and then aborts.
const CALLER: &str = "
.capabilities invoke
.params 4
.args 5
.ret 3
.scratch 4
.slab 1
.entry call args=5 ret=3
.entry call_then_trap args=5 ret=0
call:
    load r1, args[0]
    load r2, args[1]
    load.hi r3, #1
    add r3, #3              ; arguments: args[3..]
    load r4, args[2]
    load.hi r5, #3          ; return words: scratch[0..]
    load r6, #0             ; expected interface hash: params[0..4]
    load r7, args[4]        ; the callee's gas cap
    host invoke
    store r1, ret[0]
    store r2, ret[1]
    load r7, scratch[0]
    store r7, ret[2]
    load r7, slab[0]
    add r7, #1
    store r7, slab[0]
    ret
call_then_trap:
    load r1, args[0]
    load r2, args[1]
    load.hi r3, #1
    add r3, #3
    load r4, args[2]
    load.hi r5, #3
    load r6, #0
    load r7, args[4]
    host invoke
    abort 9
";

/// A callee: `bump(n)` adds n to slab[0], stores n at slab[200] (a second page), logs an event
/// and returns the sum; `fail(n)` writes and aborts 7; `burn` loops until out of gas; `relay`
/// invokes `relay` of its successor (params[4]; 0 ends the chain) and returns the deepest
/// `[class, detail]` (`[0, 0]` when every call returned).
const CALLEE: &str = "
.capabilities invoke events
.params 5
.args 1
.ret 2
.scratch 4
.slab 256
.entry bump args=1 ret=1
.entry fail args=1 ret=0
.entry burn args=1 ret=0
.entry relay args=1 ret=2
bump:
    load r1, args[0]
    load r2, slab[0]
    add r2, r1
    store r2, slab[0]
    store r1, slab[200]
    store r2, ret[0]
    load r1, #77
    load.hi r2, #1
    load r3, #1
    host event
    ret
fail:
    load r1, args[0]
    store r1, slab[0]
    abort 7
burn:
    jump burn
relay:
    load r1, #1
    store r1, slab[0]
    load r1, params[4]
    jump.z r1, done
    load r2, #3
    load.hi r3, #1
    load r4, #1
    load.hi r5, #3
    load r6, #0
    load.hi r7, #1          ; no cap below the caller's gas
    host invoke
    jump.z r1, returned
    store r1, ret[0]
    store r2, ret[1]
    ret
returned:
    load r1, scratch[0]
    store r1, ret[0]
    load r1, scratch[1]
    store r1, ret[1]
done:
    ret
";

const INTERFACE: [u8; 32] = [0x11; 32];
const CALLER_ID: u64 = 1;

fn words_of(hash: &[u8; 32]) -> Vec<u64> {
    hash.chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn instance(text: &str, role: Role, params: &[u64]) -> Instance {
    let module = curvevm_asm::text::assemble(text).expect("assembles");
    let program = RollupHost::load(module, role).expect("loads");
    Instance::new(Arc::new(program), params).expect("instance")
}

/// Callees 2–7: `successors[i]` is the relay successor of program `i + 2`; program 9 has
/// another interface.
fn world(successors: [u64; 6]) -> (Instance, ProgramSet, RollupHost) {
    let mut set = ProgramSet::default();
    let hash = words_of(&INTERFACE);
    for (i, successor) in successors.into_iter().enumerate() {
        let id = i as u64 + 2;
        let mut params = hash.clone();
        params.push(successor);
        set.programs.insert(
            id,
            Callee {
                instance: instance(CALLEE, Role::Slab, &params),
                caller: Caller {
                    id,
                    role: Role::Slab,
                },
                interface_hash: INTERFACE,
                views: Vec::new(),
            },
        );
    }
    let mut params = hash.clone();
    params.push(0);
    set.programs.insert(
        9,
        Callee {
            instance: instance(CALLEE, Role::Slab, &params),
            caller: Caller {
                id: 9,
                role: Role::Slab,
            },
            interface_hash: [0x22; 32],
            views: Vec::new(),
        },
    );
    let host = RollupHost::new(
        Ledger::default(),
        Clock {
            now_ms: 1_000,
            height: 3,
            chain_id: 5,
        },
        Caller {
            id: CALLER_ID,
            role: Role::Router,
        },
    );
    (instance(CALLER, Role::Router, &hash), set, host)
}

/// What a scenario leaves: the outcome, every slab's first words and the committed events.
#[derive(Debug, PartialEq, Eq)]
struct After {
    outcome: Outcome,
    caller_slab: Vec<u64>,
    slabs: Vec<(u64, u64, u64)>,
    events: Vec<Event>,
}

/// The index of the caller's entry called `name` (`call` is 0, `call_then_trap` 1).
fn caller_entry(name: &str) -> usize {
    ["call", "call_then_trap"]
        .iter()
        .position(|e| *e == name)
        .expect("a caller entry")
}

fn run_on(
    engine: &dyn Engine,
    successors: [u64; 6],
    entry: &str,
    args: &[u64],
    gas: u64,
    mutation: Option<Mutation>,
) -> After {
    let (mut caller, mut set, mut host) = world(successors);
    let outcome = {
        let mut invoke = InvokeHost::new(&mut host, &mut set, engine);
        if let Some(mutation) = mutation {
            invoke = invoke.with_mutation(mutation);
        }
        engine
            .call(
                &mut caller,
                caller_entry(entry),
                args,
                gas,
                &mut [],
                &mut invoke,
            )
            .expect("the call starts")
    };
    After {
        outcome,
        caller_slab: caller.words(Segment::Slab).to_vec(),
        slabs: set
            .programs
            .iter()
            .map(|(id, callee)| {
                let slab = callee.instance.words(Segment::Slab);
                (*id, slab[0], slab[200])
            })
            .collect(),
        events: host.events,
    }
}

/// Runs on both engines, checks they agree, returns the interpreter's result.
fn run(successors: [u64; 6], entry: &str, args: &[u64], gas: u64) -> After {
    let interpreted = run_on(
        &Interpreter(ExecOptions::default()),
        successors,
        entry,
        args,
        gas,
        None,
    );
    let compiled = run_on(&JitCache::default(), successors, entry, args, gas, None);
    assert_eq!(
        interpreted, compiled,
        "{entry}{args:?}: the engines disagree"
    );
    interpreted
}

fn slab_of(after: &After, id: u64) -> (u64, u64) {
    let (_, first, second) = after
        .slabs
        .iter()
        .find(|(i, _, _)| *i == id)
        .expect("program");
    (*first, *second)
}

const GAS: u64 = 1_000_000;
/// A callee gas cap above any scenario's gas.
const CAP: u64 = u64::MAX;
const NO_CHAIN: [u64; 6] = [0; 6];
const BUMP: u64 = 0;
const FAIL: u64 = 1;
const BURN: u64 = 2;
const RELAY: u64 = 3;

fn refusal(refusal: Refusal) -> TrapKind {
    TrapKind::Host {
        id: id::INVOKE,
        code: refusal.code(),
    }
}

#[test]
fn a_callee_that_returns_keeps_its_writes_and_its_gas_is_the_callers() {
    let after = run(NO_CHAIN, "call", &[2, BUMP, 1, 5, CAP], GAS);
    assert_eq!(after.outcome.result, Ok(vec![0, 0, 5]));
    assert_eq!(slab_of(&after, 2), (5, 5));
    assert_eq!(after.caller_slab, vec![1]);
    assert_eq!(
        after.events,
        vec![Event {
            emitter: 2,
            topic: 77,
            words: vec![5]
        }],
        "the callee's event is logged under its own id"
    );
    // The caller's gas is its own instructions, the invoke formula and the callee's gas.
    let (_, mut set, _) = world(NO_CHAIN);
    let mut callee = set.programs.remove(&2).expect("callee").instance;
    let mut alone = RollupHost::new(
        Ledger::default(),
        Clock::default(),
        Caller {
            id: 2,
            role: Role::Slab,
        },
    );
    let callee_gas = callee
        .call(
            "bump",
            &[5],
            GAS,
            &mut [],
            &mut alone,
            ExecOptions::default(),
        )
        .expect("runs")
        .gas_used;
    let mut registers = [0u64; curvevm::isa::REGISTERS];
    registers[4] = 1; // one argument word
    let formula = curvevm::hostcall::function(id::INVOKE)
        .expect("invoke")
        .gas
        .cost(&registers);
    // `call` is 17 instructions, the invoke's BRANCH among them.
    let caller_instructions = CALLER
        .lines()
        .skip_while(|l| l.trim() != "call:")
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .count() as u64;
    assert_eq!(caller_instructions, 17);
    assert_eq!(
        after.outcome.gas_used,
        caller_instructions + formula + callee_gas,
        "callee gas {callee_gas}"
    );
}

#[test]
fn a_caller_trap_after_a_returned_invoke_undoes_the_callees_writes() {
    let after = run(NO_CHAIN, "call_then_trap", &[2, BUMP, 1, 5, CAP], GAS);
    assert!(matches!(
        after.outcome.result,
        Err(Trap {
            kind: TrapKind::Abort { code: 9 },
            ..
        })
    ));
    assert_eq!(
        slab_of(&after, 2),
        (0, 0),
        "both pages the callee wrote are restored"
    );
    assert!(after.events.is_empty(), "the callee's event is dropped");
}

#[test]
fn a_relay_chain_trapping_at_the_bottom_undoes_every_frame() {
    // 1 -> 2 -> 3 -> 4 -> 5 (4 nested calls, the most allowed), then the caller traps.
    let chain = [3, 4, 5, 0, 0, 0];
    let after = run(chain, "call_then_trap", &[2, RELAY, 1, 0, CAP], GAS);
    assert!(after.outcome.result.is_err());
    for id in 2..=5 {
        assert_eq!(slab_of(&after, id).0, 0, "program {id}'s write survived");
    }
    // The same chain committed keeps every frame's write.
    let after = run(chain, "call", &[2, RELAY, 1, 0, CAP], GAS);
    assert_eq!(after.outcome.result, Ok(vec![0, 0, 0]));
    for id in 2..=5 {
        assert_eq!(slab_of(&after, id).0, 1, "program {id}");
    }
}

#[test]
fn a_callee_trap_is_returned_as_a_code_with_its_writes_undone() {
    let after = run(NO_CHAIN, "call", &[2, FAIL, 1, 5, CAP], GAS);
    assert_eq!(after.outcome.result, Ok(vec![5, 7, 0]));
    assert_eq!(slab_of(&after, 2), (0, 0));
    assert_eq!(
        after.caller_slab,
        vec![1],
        "the caller handled the code and committed"
    );
}

#[test]
fn a_callee_out_of_gas_leaves_the_caller_out_of_gas() {
    let after = run(NO_CHAIN, "call", &[2, BURN, 1, 0, CAP], 10_000);
    assert_eq!(after.outcome.gas_used, 10_000);
    assert!(matches!(
        after.outcome.result,
        Err(Trap {
            kind: TrapKind::OutOfGas,
            ..
        })
    ));
    assert_eq!(after.caller_slab, vec![0]);
}

#[test]
fn the_callers_cap_bounds_the_callee_and_its_out_of_gas_comes_back_as_a_code() {
    let after = run(NO_CHAIN, "call", &[2, BURN, 1, 0, 500], GAS);
    let (class, _) = TrapKind::OutOfGas.invoke_code();
    assert_eq!(after.outcome.result, Ok(vec![class, 0, 0]));
    assert_eq!(
        after.caller_slab,
        vec![1],
        "the caller went on and committed"
    );
    let (_, mut set, _) = world(NO_CHAIN);
    let _ = set.programs.remove(&2);
    let mut registers = [0u64; curvevm::isa::REGISTERS];
    registers[4] = 1;
    let formula = curvevm::hostcall::function(id::INVOKE)
        .expect("invoke")
        .gas
        .cost(&registers);
    assert_eq!(after.outcome.gas_used, 17 + formula + 500);
}

#[test]
fn depth_is_capped_and_the_refusal_comes_back_up_the_chain() {
    assert_eq!(MAX_INVOKE_DEPTH, 4);
    // 1 -> 2 -> 3 -> 4 -> 5 -> 6: program 5's invoke would be the fifth nested call.
    let after = run([3, 4, 5, 6, 0, 0], "call", &[2, RELAY, 1, 0, CAP], GAS);
    let (class, detail) = refusal(Refusal::InvokeDepth).invoke_code();
    assert_eq!(after.outcome.result, Ok(vec![0, 0, class]));
    assert_eq!(class, 6);
    assert_eq!(
        detail,
        (u64::from(id::INVOKE) << 32) | u64::from(Refusal::InvokeDepth.code())
    );
    // Program 5 trapped (its write undone); 2–4 returned.
    assert_eq!(slab_of(&after, 5).0, 0);
    for id in 2..=4 {
        assert_eq!(slab_of(&after, id).0, 1, "program {id}");
    }
}

#[test]
fn a_program_on_the_call_stack_cannot_be_invoked() {
    // 1 -> 2 -> 1: refused in program 2, which traps; the caller gets the code.
    let after = run([1, 0, 0, 0, 0, 0], "call", &[2, RELAY, 1, 0, CAP], GAS);
    let (class, detail) = refusal(Refusal::Reentrancy).invoke_code();
    assert_eq!(after.outcome.result, Ok(vec![class, detail, 0]));
    assert_eq!(slab_of(&after, 2).0, 0);
}

#[test]
fn bad_invokes_are_refused_before_anything_runs() {
    let cases = [
        (
            "unknown program",
            vec![42, BUMP, 1, 5, CAP],
            Refusal::UnknownProgram,
        ),
        (
            "unknown entry",
            vec![2, 9, 1, 5, CAP],
            Refusal::UnknownEntry,
        ),
        (
            "argument count",
            vec![2, BUMP, 0, 5, CAP],
            Refusal::ArgumentCount,
        ),
        (
            "interface",
            vec![9, BUMP, 1, 5, CAP],
            Refusal::InterfaceMismatch,
        ),
    ];
    for (name, args, expected) in cases {
        let after = run(NO_CHAIN, "call", &args, GAS);
        match after.outcome.result {
            Err(Trap { kind, pc: 8 }) => assert_eq!(kind, refusal(expected), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        assert!(
            after.slabs.iter().all(|(_, a, b)| (*a, *b) == (0, 0)),
            "{name}"
        );
        assert_eq!(after.caller_slab, vec![0], "{name}");
    }
}

/// The planted bug (a returned callee's writes kept when its caller traps) is caught by the
/// rollback check above.
#[test]
fn a_planted_kept_callee_write_is_caught() {
    for engine in [
        &Interpreter(ExecOptions::default()) as &dyn Engine,
        &JitCache::default(),
    ] {
        let after = run_on(
            engine,
            NO_CHAIN,
            "call_then_trap",
            &[2, BUMP, 1, 5, CAP],
            GAS,
            Some(Mutation::KeepCalleeWrites),
        );
        assert!(after.outcome.result.is_err());
        assert_eq!(
            slab_of(&after, 2),
            (5, 5),
            "the mutation is live: the callee's writes survive the caller's trap"
        );
    }
}
