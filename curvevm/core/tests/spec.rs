//! `curvevm/SPEC.md` carries the opcode and microcode tables generated from the code; this test
//! fails when they drift. `UPDATE_EXPECT=1 cargo test -p curvevm --test spec` rewrites them.

use std::path::Path;

const BEGIN: &str = "<!-- BEGIN GENERATED TABLES: edit curvevm/core/src/isa.rs, microcode.rs or hostcall.rs, then run `UPDATE_EXPECT=1 cargo test -p curvevm --test spec` -->";
const END: &str = "<!-- END GENERATED TABLES -->";

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the test compares and re-blesses SPEC.md"
)]
fn spec_tables_match_the_code() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../SPEC.md");
    let spec = std::fs::read_to_string(&path).expect("curvevm/SPEC.md");
    let start = spec.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = spec.find(END).expect("end marker");
    let generated = format!(
        "\n\n### Opcodes\n\n{}\n### Microcode routines\n\n{}\n### Host calls\n\n{}\n",
        curvevm::isa::spec_tables(),
        curvevm::microcode::spec_table(),
        curvevm::hostcall::spec_table()
    );
    if spec[start..end] == generated {
        return;
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        let updated = format!("{}{}{}", &spec[..start], generated, &spec[end..]);
        std::fs::write(&path, updated).expect("write SPEC.md");
        return;
    }
    panic!(
        "curvevm/SPEC.md's generated tables are stale; run `UPDATE_EXPECT=1 cargo test -p curvevm --test spec`"
    );
}
