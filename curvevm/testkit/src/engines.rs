//! Running one call on either engine, for tests and benchmarks that hold a program's state in an
//! [`Instance`] and compare the interpreter with the JIT step by step.

use std::sync::Arc;

use curvevm::{Instance, Outcome, Program};
use curvevm_host::RollupHost;
use curvevm_jit::JitProgram;

/// An engine: the interpreter, or the JIT's compiled code for one program.
pub enum Engine {
    /// The metered interpreter.
    Interpreter,
    /// Cranelift-compiled code.
    Jit(Box<JitProgram>),
}

impl Engine {
    /// Both engines for `program`, interpreter first.
    ///
    /// # Panics
    /// If the JIT cannot compile the program (a JIT bug for a verified program).
    pub fn both(program: &Arc<Program>) -> [Engine; 2] {
        let jit = JitProgram::compile(Arc::clone(program)).expect("the JIT compiles it");
        [Engine::Interpreter, Engine::Jit(Box::new(jit))]
    }

    /// `interpreter` or `jit`.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Interpreter => "interpreter",
            Engine::Jit(_) => "jit",
        }
    }

    /// Calls `entry` with `args` and `gas` on `instance` through `host`.
    ///
    /// # Panics
    /// If the call cannot start (an unknown entry or wrong argument count: a test bug).
    pub fn call(
        &self,
        instance: &mut Instance,
        entry: &str,
        args: &[u64],
        gas: u64,
        host: &mut RollupHost,
    ) -> Outcome {
        self.call_with_views(instance, entry, args, gas, &mut [], host)
    }

    /// [`Engine::call`] with `views` mapped (the module's declared sizes, `view0` first).
    ///
    /// # Panics
    /// If the call cannot start (an unknown entry, a wrong argument or view count: a test bug).
    pub fn call_with_views(
        &self,
        instance: &mut Instance,
        entry: &str,
        args: &[u64],
        gas: u64,
        views: &mut [Vec<u64>],
        host: &mut RollupHost,
    ) -> Outcome {
        match self {
            Engine::Interpreter => instance
                .call(entry, args, gas, views, host, Default::default())
                .expect("the call starts"),
            Engine::Jit(jit) => {
                jit.call(instance, entry, args, gas, views, host)
                    .expect("the call starts")
                    .0
            }
        }
    }
}
