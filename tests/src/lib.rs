//! Workspace-level checks shared by the tidy test: the architecture allow-list of crate edges
//! (from ARCHITECTURE.md) checked against `cargo metadata`.
//!
//! The allow-list is the ```` ```edges ```` block of ARCHITECTURE.md: one line per crate,
//! `crate -> dep, dep`, and one `io: crate, crate` line naming the crates that may depend on
//! tokio, rocksdb or libp2p.

use cargo_metadata::Metadata;
use std::collections::{BTreeMap, BTreeSet};

/// External crates that only `io:` crates may use.
pub const IO_CRATES: &[&str] = &["tokio", "rocksdb", "libp2p"];

/// The parsed allow-list.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    /// crate → the internal crates it may depend on.
    pub edges: BTreeMap<String, BTreeSet<String>>,
    /// Crates allowed to use [`IO_CRATES`].
    pub io: BTreeSet<String>,
}

/// Reads the ```` ```edges ```` block of an ARCHITECTURE.md text.
pub fn parse_allow_list(markdown: &str) -> Result<AllowList, String> {
    let start = markdown
        .find("```edges\n")
        .ok_or("ARCHITECTURE.md has no ```edges block")?
        + "```edges\n".len();
    let end = markdown[start..]
        .find("```")
        .ok_or("the ```edges block is not closed")?
        + start;
    let mut allow = AllowList::default();
    for (number, line) in markdown[start..end].lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(io) = line.strip_prefix("io:") {
            allow.io.extend(split_names(io));
            continue;
        }
        let (from, to) = line.split_once("->").ok_or_else(|| {
            format!(
                "edges line {}: expected `crate -> deps`: {line}",
                number + 1
            )
        })?;
        let targets = allow.edges.entry(from.trim().to_string()).or_default();
        targets.extend(split_names(to));
    }
    Ok(allow)
}

fn split_names(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// Every violation of `allow` in a workspace's metadata (obtained with `--no-deps`): internal
/// edges not listed, members missing from the list, and IO crates used outside `io:`.
pub fn violations(metadata: &Metadata, allow: &AllowList) -> Vec<String> {
    let members: BTreeSet<String> = metadata
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let mut problems = Vec::new();
    for package in metadata.workspace_packages() {
        let name = package.name.to_string();
        let Some(allowed) = allow.edges.get(&name) else {
            problems.push(format!(
                "crate `{name}` is not in ARCHITECTURE.md's edges block"
            ));
            continue;
        };
        for dependency in &package.dependencies {
            let target = dependency.name.clone();
            if members.contains(&target) && !allowed.contains(&target) {
                problems.push(format!(
                    "edge `{name} -> {target}` is not allowed by ARCHITECTURE.md"
                ));
            }
            if IO_CRATES.contains(&target.as_str()) && !allow.io.contains(&name) {
                problems.push(format!(
                    "`{name}` depends on `{target}` but is not an `io:` crate"
                ));
            }
        }
    }
    problems
}
