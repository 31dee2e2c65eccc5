//! Generates the keyword tables of `curvescript/SPEC.md` from the schema.

use crate::invariant;
use crate::schema::{Presence, SCHEMA};
use std::fmt::Write;

/// Marks the start of the generated section in SPEC.md.
pub const BEGIN_MARKER: &str = "<!-- BEGIN GENERATED KEYWORD TABLES: edit curvescript/check/src/schema.rs, then run `UPDATE_EXPECT=1 cargo test -p curvescript-check --test golden` -->";
/// Marks the end of the generated section in SPEC.md.
pub const END_MARKER: &str = "<!-- END GENERATED KEYWORD TABLES -->";

/// The Markdown keyword tables, one section per block kind.
pub fn keyword_tables() -> String {
    let mut out = String::new();
    for block in SCHEMA {
        let _ = writeln!(out, "### `{}`\n", block.kind);
        let _ = writeln!(out, "{}\n", block.doc);
        let id = if block.has_id {
            "takes a quoted id"
        } else {
            "takes no id"
        };
        let count = block
            .max_count
            .map_or("any number per script".to_string(), |n| {
                format!("at most {n} per script")
            });
        let _ = writeln!(out, "The block {id}; {count}.\n");
        let _ = writeln!(out, "| statement | argument | type | bounds | default | |");
        let _ = writeln!(out, "|---|---|---|---|---|---|");
        for statement in block.statements {
            let applies = if block.kind == curvescript_syntax::ast::BlockKind::Market {
                format!(" Applies to: {}.", statement.applies_to.describe())
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "| **`{}`** | | | | | {} — {}.{applies} |",
                statement.keyword,
                statement.doc.trim_end_matches('.'),
                statement.occurrence.describe()
            );
            for arg in statement.args {
                let default = match arg.presence {
                    Presence::Required => "required".to_string(),
                    Presence::Optional => "optional".to_string(),
                    Presence::Default(value) => value.describe(),
                };
                let name = if arg.positional {
                    format!("`{}` (positional)", arg.name)
                } else {
                    format!("`{}`", arg.name)
                };
                let _ = writeln!(
                    out,
                    "| | {name} | {} | {} | {default} | {} |",
                    arg.ty.describe(),
                    arg.ty.describe_bounds(),
                    arg.doc
                );
            }
        }
        let names: Vec<String> = invariant::names(block)
            .into_iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        let _ = writeln!(
            out,
            "\n`@invariant` names in a {} block: {}.\n",
            block.kind,
            names.join(", ")
        );
    }
    out
}
