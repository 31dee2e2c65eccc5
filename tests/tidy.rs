//! Workspace rules that code review would otherwise have to remember: the architecture
//! allow-list, the determinism lints, and crate hygiene. Each rule is also run against a
//! planted violation, so a rule that silently stopped working fails here.

use cargo_metadata::MetadataCommand;
use curve_e2e::{parse_allow_list, violations};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("workspace root")
}

fn allow_list() -> curve_e2e::AllowList {
    let text =
        std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    parse_allow_list(&text).expect("a readable edges block")
}

fn metadata(manifest: &Path) -> cargo_metadata::Metadata {
    MetadataCommand::new()
        .manifest_path(manifest)
        .no_deps()
        .exec()
        .expect("cargo metadata")
}

#[test]
fn workspace_edges_follow_the_architecture() {
    let problems = violations(&metadata(&workspace().join("Cargo.toml")), &allow_list());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn a_forbidden_edge_is_caught() {
    let fixture = workspace().join("tests/fixtures/forbidden-edge/Cargo.toml");
    let problems = violations(&metadata(&fixture), &allow_list());
    assert_eq!(
        problems,
        vec![
            "edge `curvescript-syntax -> curve-cli` is not allowed by ARCHITECTURE.md".to_string(),
            "edge `curve-cli -> unlisted-crate` is not allowed by ARCHITECTURE.md".to_string(),
            "crate `unlisted-crate` is not in ARCHITECTURE.md's edges block".to_string(),
        ]
    );
}

#[test]
fn io_crates_are_confined() {
    let allow = allow_list();
    assert!(
        allow.io.contains("curve-store"),
        "the store is the io crate that links RocksDB"
    );
    // The rule reads dependency names: plant a tokio dependency in the real metadata (the
    // real io crates, listed, pass).
    let mut metadata = metadata(&workspace().join("Cargo.toml"));
    let runtime = metadata
        .packages
        .iter_mut()
        .find(|p| p.name.as_str() == "curve-runtime")
        .expect("curve-runtime");
    let mut tokio = runtime.dependencies[0].clone();
    tokio.name = "tokio".into();
    runtime.dependencies.push(tokio);
    let problems = violations(&metadata, &allow);
    assert_eq!(
        problems,
        vec!["`curve-runtime` depends on `tokio` but is not an `io:` crate".to_string()]
    );
}

/// Runs clippy with the deterministic crates' clippy.toml over a crate that breaks every rule.
#[test]
fn determinism_lints_fire_on_a_planted_violation() {
    let root = workspace();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("fixtures");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["clippy", "--quiet", "--manifest-path"])
        .arg(root.join("tests/fixtures/clippy-violation/Cargo.toml"))
        .args(["--", "-D", "warnings"])
        .env("CARGO_TARGET_DIR", target)
        .env("CLIPPY_CONF_DIR", root.join("curvevm"))
        .output()
        .expect("run cargo clippy");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "clippy accepted the planted violation:\n{stderr}"
    );
    for expected in [
        "disallowed type `std::collections::HashMap`",
        "disallowed type `std::collections::HashSet`",
        "disallowed method `std::time::SystemTime::now`",
        "disallowed method `std::time::Instant::now`",
        "disallowed method `std::fs::read`",
        "disallowed method `std::net::TcpStream::connect`",
        "disallowed type `f64`",
    ] {
        assert!(
            stderr.contains(expected),
            "clippy did not report {expected}:\n{stderr}"
        );
    }
}

/// Every crate of the workspace opens with a `//!` doc saying what it is.
#[test]
fn every_crate_has_a_crate_doc() {
    let metadata = metadata(&workspace().join("Cargo.toml"));
    for package in metadata.workspace_packages() {
        for target in &package.targets {
            if !(target.is_lib() || target.is_bin()) {
                continue;
            }
            let source = std::fs::read_to_string(&target.src_path).expect("crate root");
            assert!(
                source.trim_start().starts_with("//!"),
                "{} ({}) has no //! crate doc",
                package.name,
                target.src_path
            );
        }
    }
}

/// Every crate folder is named in ARCHITECTURE.md's code map.
#[test]
fn every_crate_is_on_the_code_map() {
    let architecture =
        std::fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let metadata = metadata(&workspace().join("Cargo.toml"));
    for package in metadata.workspace_packages() {
        let dir = package.manifest_path.parent().expect("manifest dir");
        let relative = dir
            .strip_prefix(workspace().to_str().expect("utf-8"))
            .expect("inside workspace");
        let heading = format!("### `{}`", relative.as_str().trim_start_matches('/'));
        assert!(
            architecture.contains(&heading),
            "ARCHITECTURE.md has no section {heading}"
        );
    }
}
