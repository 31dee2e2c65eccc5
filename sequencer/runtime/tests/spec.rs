//! SPEC.md's generated tables match the protocol constants (`UPDATE_EXPECT=1` rewrites them).

#[test]
fn spec_tables_match_the_constants() {
    check(
        "<!-- generated: protocol::spec_tables -->\n",
        "<!-- end generated -->",
        curve_runtime::protocol::spec_tables(),
    );
}

#[test]
fn spec_tables_match_the_registry() {
    check(
        "<!-- generated: registry::spec_table -->\n",
        "<!-- end generated registry -->",
        curve_runtime::registry::spec_table(),
    );
}

#[allow(clippy::disallowed_methods)] // The test reads and re-blesses the spec; the library does no IO.
fn check(begin: &str, end: &str, tables: String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("SPEC.md");
    let text = std::fs::read_to_string(&path).expect("SPEC.md");
    let start = text.find(begin).expect("begin marker") + begin.len();
    let stop = text.find(end).expect("end marker");
    if text[start..stop] != tables {
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            let updated = format!("{}{tables}{}", &text[..start], &text[stop..]);
            std::fs::write(&path, updated).expect("write SPEC.md");
        } else {
            panic!(
                "sequencer/runtime/SPEC.md is out of date; run `UPDATE_EXPECT=1 cargo test -p curve-runtime --test spec`\n{tables}"
            );
        }
    }
}
