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

/// percolator.md §2's catalogue of invariant / test IDs (the spec the SLAB and ROUTER templates
/// are read against): families with their last number, and the single IDs.
const PERCOLATOR_FAMILIES: [(&str, u32); 10] = [
    ("P", 11),
    ("S", 12),
    ("R", 10),
    ("RM", 7),
    ("M", 11),
    ("L", 3),
    ("F", 3),
    ("ADV", 3),
    ("PFM", 3),
    ("E2E", 4),
];
const PERCOLATOR_SINGLES: [&str; 2] = ["GOV1", "OBS1"];

/// The IDs named in the first column of a README's ID table (the section whose heading ends
/// in "→ tests") whose last column says something: a test or a written reason.
fn ids_with_tests(readme: &str) -> std::collections::BTreeSet<String> {
    let mut ids = std::collections::BTreeSet::new();
    let mut in_table = false;
    for line in readme.lines() {
        if line.starts_with('#') {
            in_table = line.ends_with("→ tests");
            continue;
        }
        if !in_table || !line.starts_with('|') {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (Some(first), Some(last)) = (cells.first(), cells.last()) else {
            continue;
        };
        if cells.len() < 3 || last.is_empty() || last.starts_with("---") {
            continue;
        }
        for token in first.split(|c: char| !c.is_ascii_alphanumeric()) {
            let letters = token.trim_end_matches(|c: char| c.is_ascii_digit());
            if !letters.is_empty()
                && letters.len() < token.len()
                && letters
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                ids.insert(token.to_string());
            }
        }
    }
    ids
}

/// The catalogue IDs neither README's table names.
fn untested_ids(readmes: &[&str]) -> Vec<String> {
    let named: std::collections::BTreeSet<String> =
        readmes.iter().flat_map(|r| ids_with_tests(r)).collect();
    PERCOLATOR_FAMILIES
        .iter()
        .flat_map(|(family, last)| (1..=*last).map(move |n| format!("{family}{n}")))
        .chain(PERCOLATOR_SINGLES.iter().map(|id| id.to_string()))
        .filter(|id| !named.contains(id))
        .collect()
}

fn template_readmes() -> Vec<String> {
    ["slab", "router"]
        .iter()
        .map(|t| {
            let path = workspace().join(format!("compiler/core/src/templates/{t}/README.md"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

/// Every ID of percolator.md §2 is in the SLAB's or the ROUTER's ID table with a test or a
/// written reason (issue 27).
#[test]
fn every_percolator_id_has_a_test_or_a_reason() {
    let readmes = template_readmes();
    let texts: Vec<&str> = readmes.iter().map(String::as_str).collect();
    assert_eq!(untested_ids(&texts), Vec::<String>::new());
}

/// The check itself: a row taken out of a table, or a row whose test column is empty, is
/// reported.
#[test]
fn an_id_without_a_test_is_caught() {
    let readmes = template_readmes();
    let slab = readmes[0]
        .lines()
        .filter(|l| !l.starts_with("| F2 |"))
        .collect::<Vec<_>>()
        .join("\n");
    let router = readmes[1].replace("| OBS1 |", "| OBS1 | untested | |\n| OBS0 |");
    assert_eq!(untested_ids(&[&slab, &readmes[1]]), ["F2"]);
    assert_eq!(untested_ids(&[&readmes[0], &router]), ["OBS1"]);
}
