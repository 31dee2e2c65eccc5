//! Which CurveVM engine runs the runtime's program calls. A node setting, not state: the JIT
//! and the interpreter give the same results, gas, trap kinds and pcs for every program and
//! input (the VM's differential harness), so receipts and state roots do not depend on it —
//! `tests/engines.rs` applies the same random batches on both and compares them.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use curvevm::interp::{ExecOptions, Interpreter};
use curvevm_jit::JitCache;

/// The engine that runs program calls (and every program they invoke).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExecutionEngine {
    /// Cranelift-compiled code, compiled at a program's first call and cached by the hash of
    /// its module for the life of the process (every runtime, instance and batch shares it).
    /// A program the JIT cannot compile runs on the interpreter.
    #[default]
    Jit,
    /// The interpreter: the reference the JIT is checked against.
    Interpreter,
}

impl ExecutionEngine {
    /// Every engine, in the order their names are listed.
    pub const ALL: [ExecutionEngine; 2] = [ExecutionEngine::Jit, ExecutionEngine::Interpreter];

    /// The engine's name in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ExecutionEngine::Jit => "jit",
            ExecutionEngine::Interpreter => "interpreter",
        }
    }

    /// Runs `f` with this engine as a CurveVM [`curvevm::Engine`].
    pub(crate) fn with<R>(self, f: impl FnOnce(&dyn curvevm::Engine) -> R) -> R {
        match self {
            ExecutionEngine::Jit => f(shared_jit()),
            ExecutionEngine::Interpreter => f(&Interpreter(ExecOptions::default())),
        }
    }
}

impl fmt::Display for ExecutionEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ExecutionEngine {
    type Err = String;

    fn from_str(name: &str) -> Result<ExecutionEngine, String> {
        ExecutionEngine::ALL
            .into_iter()
            .find(|engine| engine.name() == name)
            .ok_or_else(|| format!("unknown engine `{name}` (expected `jit` or `interpreter`)"))
    }
}

/// The process's compiled programs: compiled code depends on the module's bytes only, so one
/// cache serves every runtime in the process.
fn shared_jit() -> &'static JitCache {
    static CACHE: OnceLock<JitCache> = OnceLock::new();
    CACHE.get_or_init(JitCache::default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_jit_is_the_default() {
        for engine in ExecutionEngine::ALL {
            assert_eq!(engine.name().parse::<ExecutionEngine>(), Ok(engine));
        }
        assert_eq!(ExecutionEngine::default(), ExecutionEngine::Jit);
        let error = "cranelift".parse::<ExecutionEngine>().unwrap_err();
        assert!(error.contains("`cranelift`"), "{error}");
    }
}
