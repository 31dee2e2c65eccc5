//! The solana-sbpf side: the three loops in sbpf assembly, and a machine that runs one of them
//! interpreted or JIT-compiled with the instruction meter on (as the sbpf benches set it up).

use std::ptr::NonNull;
use std::sync::Arc;

use solana_sbpf::aligned_memory::AlignedMemory;
use solana_sbpf::assembler::assemble;
use solana_sbpf::ebpf::{self, HOST_ALIGN};
use solana_sbpf::elf::Executable;
use solana_sbpf::memory_region::{MemoryMapping, MemoryRegion};
use solana_sbpf::program::{BuiltinProgram, SBPFVersion};
use solana_sbpf::verifier::RequisiteVerifier;
use solana_sbpf::vm::{CallFrame, Config, ContextObject, EbpfVm, ExecutionMode};

/// `r4 = n`; n × (add, add, decrement, branch); `r0 = r3` (CurveVM's `alu_loop`, with its
/// r1 as r5: sbpf's r1 holds the input pointer). 4n + 3 instructions.
pub const ALU_LOOP: &str = "
    ldxdw r4, [r1+0]
loop:
    add64 r5, r2
    add64 r3, r5
    add64 r4, -1
    jne r4, 0, loop
    mov64 r0, r3
    exit";

/// The input starts with the address one past the last word (`input + 8n`); n × (load, add 1,
/// store, accumulate, step down, branch) over words n..1 of the input region, as CurveVM's
/// `slab_loop` walks slab words n..1. 6n + 3 instructions.
pub const SLAB_LOOP: &str = "
    ldxdw r2, [r1+0]
loop:
    ldxdw r5, [r2+0]
    add64 r5, 1
    stxdw [r2+0], r5
    add64 r6, r5
    add64 r2, -8
    jne r2, r1, loop
    mov64 r0, r6
    exit";

/// `r6 = n`; n × (call a function that adds 1 to r3 and returns, decrement, branch);
/// `r0 = r3`. 5n + 3 instructions.
pub const CALL_LOOP: &str = "
    ldxdw r6, [r1+0]
loop:
    call function_add
    add64 r6, -1
    jne r6, 0, loop
    mov64 r0, r3
    exit
function_add:
    add64 r3, 1
    exit";

/// The sbpf configuration: `Config::default()` (instruction meter on, address translation on,
/// stack frame gaps for SBPFv0, JIT no-op insertion and constant sanitisation on), optionally
/// restricted to one SBPF version. The assembler targets the last enabled version (V4 by
/// default, which also selects the aligned memory mapping).
pub fn config(version: Option<SBPFVersion>) -> Config {
    let mut config = Config::default();
    if let Some(version) = version {
        config.enabled_sbpf_versions = version..=version;
    }
    config
}

/// The instruction meter and the memory mapping the VM reads through its context object.
pub struct Meter {
    remaining: u64,
    memory_mapping: MemoryMapping,
}

impl ContextObject for Meter {
    fn consume(&mut self, amount: u64) {
        self.remaining = self.remaining.saturating_sub(amount);
    }

    fn get_remaining(&self) -> u64 {
        self.remaining
    }

    fn active_mapping_ptr(&mut self) -> NonNull<MemoryMapping> {
        NonNull::from_mut(&mut self.memory_mapping)
    }
}

/// Assembles, verifies and JIT-compiles `source` (the interpreter ignores the compiled code).
pub fn executable(source: &str, config: Config) -> Arc<Executable<Meter>> {
    let loader = Arc::new(BuiltinProgram::new_loader(config));
    let executable = assemble::<Meter>(source, loader).expect("the loop assembles");
    executable
        .verify::<RequisiteVerifier>()
        .expect("the loop verifies");
    executable.jit_compile().expect("the loop JIT-compiles");
    Arc::new(executable)
}

/// One executable with its own stack, input region and meter, run interpreted or by the JIT.
pub struct Machine {
    executable: Arc<Executable<Meter>>,
    mode: ExecutionMode,
    meter: Meter,
    call_frames: Vec<CallFrame>,
    stack_len: usize,
    // The mapping points into these buffers: they live (and stay put on the heap) as long as it.
    _stack: AlignedMemory<HOST_ALIGN>,
    _input: AlignedMemory<HOST_ALIGN>,
}

impl Machine {
    /// A machine whose input region (at `MM_INPUT_START`, writable) starts as `input`.
    pub fn new(executable: Arc<Executable<Meter>>, input: &[u8], jit: bool) -> Machine {
        let config = executable.get_config();
        let version = executable.get_sbpf_version();
        let mut stack = AlignedMemory::<HOST_ALIGN>::zero_filled(config.stack_size());
        let mut input = AlignedMemory::<HOST_ALIGN>::from_slice(input);
        let gap = if version.stack_frame_gaps() && config.enable_stack_frame_gaps {
            config.stack_frame_size as u64
        } else {
            0
        };
        let regions = vec![
            executable.get_ro_region(),
            MemoryRegion::new_gapped(&raw mut *stack.as_slice_mut(), ebpf::MM_STACK_START, gap),
            MemoryRegion::new(&raw mut *input.as_slice_mut(), ebpf::MM_INPUT_START),
        ];
        // SAFETY: the regions point into `stack`, `input` and the executable's read-only
        // section, which the machine owns (heap buffers, not moved by moving the machine) for
        // as long as the mapping exists; the guest may write any bytes to them.
        let memory_mapping =
            unsafe { MemoryMapping::new(regions, config, version) }.expect("the regions map");
        Machine {
            call_frames: vec![CallFrame::default(); config.max_call_depth],
            stack_len: stack.len(),
            mode: if jit {
                ExecutionMode::Jit
            } else {
                ExecutionMode::Interpreted
            },
            meter: Meter {
                remaining: 0,
                memory_mapping,
            },
            executable,
            _stack: stack,
            _input: input,
        }
    }

    /// Runs the program once from the entry state with `budget` instructions: `(r0,
    /// instructions metered)`. (With a budget of `u64::MAX`, 0.26.0's JIT fails an occasional
    /// run with `ExceededMaxInstructions` after metering `u64::MAX` instructions.)
    pub fn run(&mut self, budget: u64) -> (u64, u64) {
        let executable = &self.executable;
        let mut vm = EbpfVm::new(
            Arc::clone(executable.get_loader()),
            executable.get_sbpf_version(),
            &mut self.meter,
            self.stack_len,
        );
        vm.registers[1] = ebpf::MM_INPUT_START;
        vm.context().remaining = budget;
        let (instructions, result) =
            vm.execute_program(executable, &mut self.mode, &mut self.call_frames);
        let r0 = Result::from(result).expect("the loop exits normally");
        (r0, instructions)
    }
}
