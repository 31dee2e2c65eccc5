//! Prints the machine code the JIT makes of a named benchmark program (`alu_loop`, `slab_loop`
//! or `microcode_loop`): `cargo run --release -p curvevm-jit --example listing -- alu_loop`.

use std::sync::Arc;

use curvevm::Program;
use curvevm::bench_programs::{alu_loop, microcode_loop, slab_loop};
use curvevm_jit::JitProgram;

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "alu_loop".into());
    let module = match name.as_str() {
        "alu_loop" => alu_loop(),
        "slab_loop" => slab_loop(),
        "microcode_loop" => microcode_loop(),
        other => {
            eprintln!("error: unknown program `{other}` (alu_loop, slab_loop, microcode_loop)");
            std::process::exit(2);
        }
    };
    let program = Arc::new(Program::load(module, &|_| false).expect("bench programs verify"));
    let (_, listing) = JitProgram::compile_with_listing(program).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    print!("{listing}");
}
