//! What compiled code runs against: the [`Context`] it reads and writes, the helpers it calls
//! (journal slow path, native microcode, host calls — each the interpreter's own shared step),
//! and the call into the generated function. All of this crate's `unsafe` is here.
#![allow(unsafe_code)]

use curvevm::hostcall::{CapabilitySet, host_step};
use curvevm::interp::{MicroStep, Registers, micro_step};
use curvevm::isa::{MAX_CALL_DEPTH, REGISTERS, Segment};
use curvevm::memory::{Memory, RawSegment};
use curvevm::{Host, Trap, TrapKind};

/// The compiled function returned.
pub const STATUS_RETURNED: u32 = 0;
/// The compiled function trapped; `trap_*` and `pc` say how.
pub const STATUS_TRAP: u32 = 1;
/// The compiled function handed the call to the interpreter at `pc` (gas-short block).
pub const STATUS_BAIL: u32 = 2;

/// Trap kinds as compiled code and helpers report them (`trap_a`, `trap_b` carry the payload).
pub mod kind {
    /// Out of gas.
    pub const OUT_OF_GAS: u32 = 0;
    /// Overflow.
    pub const OVERFLOW: u32 = 1;
    /// Out of bounds (a = selector, b = address).
    pub const OUT_OF_BOUNDS: u32 = 2;
    /// Call depth.
    pub const CALL_DEPTH: u32 = 3;
    /// Abort (a = code).
    pub const ABORT: u32 = 4;
    /// Host refusal (a = id, b = code).
    pub const HOST: u32 = 5;
}

/// The state shared between compiled code, its helpers and the engine. `repr(C)` so that the
/// code generator can address fields by offset.
#[repr(C)]
pub struct Context {
    /// Remaining gas (in at entry; out at every exit and around helper calls).
    pub gas: u64,
    /// Registers (spilled around helper calls and at exit).
    pub registers: Registers,
    /// Carry flag (0 or 1).
    pub carry: u64,
    /// Open CALLs.
    pub depth: u64,
    /// Return-site ordinals of the open CALLs.
    pub stack: [u32; MAX_CALL_DEPTH],
    /// Trap or bail pc.
    pub pc: u64,
    /// Trap kind ([`kind`]).
    pub trap_kind: u64,
    /// Trap payload.
    pub trap_a: u64,
    /// Trap payload.
    pub trap_b: u64,
    /// Segments by selector.
    pub segments: [RawSegment; Segment::SELECTORS],
    /// The module's declared capabilities.
    pub capabilities: u32,
    memory: *mut Memory,
    host: *mut (dyn Host + 'static),
}

impl Context {
    /// The trap the context reports.
    pub fn trap(&self) -> Trap {
        let kind = match self.trap_kind as u32 {
            kind::OUT_OF_GAS => TrapKind::OutOfGas,
            kind::OVERFLOW => TrapKind::Overflow,
            kind::OUT_OF_BOUNDS => TrapKind::OutOfBounds {
                segment: Segment::from_sel(self.trap_a as u8).unwrap_or(Segment::Params),
                address: self.trap_b,
            },
            kind::CALL_DEPTH => TrapKind::CallDepth,
            kind::ABORT => TrapKind::Abort {
                code: self.trap_a as u8,
            },
            _ => TrapKind::Host {
                id: self.trap_a as u16,
                code: self.trap_b as u32,
            },
        };
        Trap {
            kind,
            pc: self.pc as u32,
        }
    }

    fn set_trap(&mut self, trap: Trap) {
        let (kind, a, b) = match trap.kind {
            TrapKind::OutOfGas => (kind::OUT_OF_GAS, 0, 0),
            TrapKind::Overflow => (kind::OVERFLOW, 0, 0),
            TrapKind::OutOfBounds { segment, address } => {
                (kind::OUT_OF_BOUNDS, u64::from(segment.sel()), address)
            }
            TrapKind::CallDepth => (kind::CALL_DEPTH, 0, 0),
            TrapKind::Abort { code } => (kind::ABORT, u64::from(code), 0),
            TrapKind::Host { id, code } => (kind::HOST, u64::from(id), u64::from(code)),
        };
        self.trap_kind = u64::from(kind);
        self.trap_a = a;
        self.trap_b = b;
        self.pc = u64::from(trap.pc);
    }
}

/// The compiled function: `(context, entry index) -> status`.
pub type CompiledFn = unsafe extern "C" fn(*mut Context, u32) -> u32;

/// First store to a page in this call: through the memory's journal.
pub extern "C" fn store_slow(ctx: *mut Context, sel: u32, address: u64, value: u64) {
    // SAFETY: compiled code passes the context `run` created; `memory` points at the memory of
    // the running call, which outlives it, and no Rust reference to it is live during the call.
    let ctx = unsafe { &mut *ctx };
    let memory = unsafe { &mut *ctx.memory };
    let segment = Segment::from_sel(sel as u8).expect("compiled stores name valid segments");
    // Bounds were checked by the compiled code and writability by the verifier.
    let stored = memory.write(segment, address, value);
    debug_assert!(stored.is_ok(), "a checked store failed: {stored:?}");
}

/// A placed microcode routine, natively (`micro_step`); 0 ran, 1 trapped, 2 gas-short.
pub extern "C" fn micro(ctx: *mut Context, routine: u32, target: u32) -> u32 {
    // SAFETY: as in `store_slow`.
    let ctx = unsafe { &mut *ctx };
    let mut gas = ctx.gas;
    let step = micro_step(routine as u16, target, &mut ctx.registers, &mut gas);
    ctx.gas = gas;
    match step {
        MicroStep::Ran => 0,
        MicroStep::Trap(trap) => {
            ctx.set_trap(trap);
            1
        }
        MicroStep::Short => 2,
    }
}

/// A host call (`host_step`); 0 returned, 1 trapped.
pub extern "C" fn host(ctx: *mut Context, id: u32, pc: u32) -> u32 {
    // SAFETY: as in `store_slow`; `host` points at the host of the running call.
    let ctx = unsafe { &mut *ctx };
    let memory = unsafe { &mut *ctx.memory };
    let host = unsafe { &mut *ctx.host };
    let mut gas = ctx.gas;
    let result = host_step(
        CapabilitySet(ctx.capabilities),
        host,
        id as u16,
        &mut ctx.registers,
        memory,
        &mut gas,
    );
    ctx.gas = gas;
    match result {
        Ok(()) => 0,
        Err(kind) => {
            ctx.set_trap(Trap { kind, pc });
            1
        }
    }
}

/// Runs compiled code from entry `entry` with `gas`, then hands the exit status and the final
/// context to `exit`. The context lives on this stack frame (no allocation per call: `invoke`
/// enters compiled code once per cross-program call).
pub fn enter<R>(
    function: CompiledFn,
    entry: u32,
    gas: u64,
    capabilities: CapabilitySet,
    memory: &mut Memory,
    host: &mut dyn Host,
    exit: impl FnOnce(u32, &Context) -> R,
) -> R {
    let segments = memory.raw_segments();
    // SAFETY: the lifetime is erased only for the duration of this function; the pointer is
    // dereferenced only by helpers called from `function` below, while `host` is borrowed.
    let host: *mut (dyn Host + 'static) =
        unsafe { core::mem::transmute::<*mut (dyn Host + '_), *mut (dyn Host + 'static)>(host) };
    let mut ctx = Context {
        gas,
        registers: [0; REGISTERS],
        carry: 0,
        depth: 0,
        stack: [0; MAX_CALL_DEPTH],
        pc: 0,
        trap_kind: 0,
        trap_a: 0,
        trap_b: 0,
        segments,
        capabilities: capabilities.0,
        memory: memory as *mut Memory,
        host,
    };
    // SAFETY: `function` was generated for this program by `compile`, reads and writes only the
    // context and the segments' words and written bits within their lengths (every access is
    // bounds-checked against `segments[i].len`), and calls only the helpers above. The segments
    // stay in place during the call: nothing reinstalls or resizes them until it returns. The
    // context outlives the call (this frame).
    let status = unsafe { function(&mut ctx, entry) };
    exit(status, &ctx)
}
