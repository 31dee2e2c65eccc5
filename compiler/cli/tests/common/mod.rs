//! Shared by the CLI test binaries: where the workspace is, and `curve` started in it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `curve args…`, run from the workspace root.
pub fn curve_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_curve"));
    command.args(args).current_dir(workspace());
    command
}
