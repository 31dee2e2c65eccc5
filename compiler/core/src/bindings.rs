//! Generated Rust client bindings for an [`Interface`]: one typed argument struct and one typed
//! return struct per entrypoint, word encoding and decoding, and a program handle that can only
//! be made from a deployed program whose descriptor hash matches the one the bindings were
//! generated from.
//!
//! The output depends on nothing but the interface (no time, no paths), so regeneration is
//! deterministic. The bindings of the shipped interfaces are checked in under
//! `compiler/bindings` (rustfmt skips them), whose golden test regenerates them.

use std::fmt::Write as _;

use crate::abi::{self, Entry, FORMAT, Field, FieldType, Interface};

/// `snake_case` → `CamelCase`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The Rust type of one element, and the suffix of its `words::put_*` / `Reader::*` functions.
fn element(ty: FieldType) -> (&'static str, &'static str) {
    match ty {
        FieldType::U64 => ("u64", "u64"),
        FieldType::I64 => ("i64", "i64"),
        FieldType::U128 => ("u128", "u128"),
        FieldType::I128 => ("i128", "i128"),
        FieldType::Bytes32 => ("[u8; 32]", "bytes32"),
        FieldType::Signature => ("[u8; 64]", "signature"),
        FieldType::Cap => ("CapId", "cap"),
    }
}

fn rust_type(field: &Field) -> String {
    let (ty, _) = element(field.ty);
    if field.count == 1 {
        ty.to_string()
    } else {
        format!("[{ty}; {}]", field.count)
    }
}

fn field_doc(field: &Field) -> String {
    let words = field.words();
    format!(
        "`{}`{}, {words} word{}.",
        field.ty.name(),
        if field.count == 1 {
            String::new()
        } else {
            format!(" × {}", field.count)
        },
        if words == 1 { "" } else { "s" }
    )
}

/// The struct, and the opening of its `impl` block with its `WORDS` (the caller adds methods
/// and closes it).
fn write_struct(out: &mut String, name: &str, doc: &str, fields: &[Field], words_doc: &str) {
    let _ = writeln!(out, "/// {doc}");
    out.push_str("#[derive(Clone, Debug, PartialEq, Eq)]\n");
    let _ = writeln!(out, "pub struct {name} {{");
    for field in fields {
        let _ = writeln!(out, "    /// {}", field_doc(field));
        let _ = writeln!(out, "    pub {}: {},", field.name, rust_type(field));
    }
    out.push_str("}\n\n");
    let _ = writeln!(out, "impl {name} {{");
    let _ = writeln!(out, "    /// {words_doc}");
    let _ = writeln!(
        out,
        "    pub const WORDS: usize = {};\n",
        abi::total_words(fields)
    );
}

fn args_struct(out: &mut String, entry: &Entry) {
    let name = format!("{}Args", camel(entry.name));
    write_struct(
        out,
        &name,
        &format!("Arguments of `{}`.", entry.name),
        entry.args,
        "Argument words.",
    );
    out.push_str("    /// The argument words, in the descriptor's order.\n");
    out.push_str("    pub fn to_words(&self) -> Vec<u64> {\n");
    out.push_str("        let mut out = Vec::with_capacity(Self::WORDS);\n");
    for field in entry.args {
        let (_, suffix) = element(field.ty);
        if field.count == 1 {
            let _ = writeln!(
                out,
                "        words::put_{suffix}(&mut out, &self.{});",
                field.name
            );
        } else {
            let _ = writeln!(out, "        for value in &self.{} {{", field.name);
            let _ = writeln!(out, "            words::put_{suffix}(&mut out, value);");
            out.push_str("        }\n");
        }
    }
    out.push_str("        out\n    }\n}\n\n");
}

fn return_struct(out: &mut String, entry: &Entry) {
    let name = format!("{}Return", camel(entry.name));
    write_struct(
        out,
        &name,
        &format!("What `{}` returns.", entry.name),
        entry.returns,
        "Return words.",
    );
    out.push_str("    /// Decodes the returned words; refuses any other length.\n");
    out.push_str("    pub fn from_words(returned: &[u64]) -> Result<Self, DecodeError> {\n");
    let _ = writeln!(
        out,
        "        let mut reader = words::Reader::new({:?}, returned, Self::WORDS)?;",
        entry.name
    );
    out.push_str("        Ok(Self {\n");
    for field in entry.returns {
        let (_, suffix) = element(field.ty);
        if field.count == 1 {
            let _ = writeln!(out, "            {}: reader.{suffix}(),", field.name);
        } else {
            let _ = writeln!(
                out,
                "            {}: std::array::from_fn(|_| reader.{suffix}()),",
                field.name
            );
        }
    }
    out.push_str("        })\n    }\n}\n\n");
}

fn hash_literal(hash: &[u8; 32]) -> String {
    let mut text = String::from("[\n");
    for row in hash.chunks(8) {
        text.push_str("    ");
        let bytes: Vec<String> = row.iter().map(|b| format!("0x{b:02x}")).collect();
        text.push_str(&bytes.join(", "));
        text.push_str(",\n");
    }
    text.push(']');
    text
}

/// The bindings of `interface` as Rust source.
pub fn generate(interface: &Interface) -> String {
    let handle = camel(interface.template);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "//! Client bindings for the `{}` interface ({FORMAT}): {}",
        interface.template, interface.doc
    );
    out.push_str("//!\n");
    let _ = writeln!(
        out,
        "//! @generated by `curve bindings {}`; do not edit.\n",
        interface.template
    );
    let fields = || {
        interface
            .entries
            .iter()
            .flat_map(|e| e.args.iter().chain(e.returns))
    };
    let mut imports = vec!["Call"];
    if fields().any(|f| f.ty == FieldType::Cap) {
        imports.push("CapId");
    }
    if interface.entries.iter().any(|e| !e.returns.is_empty()) {
        imports.push("DecodeError");
    }
    imports.extend(["DescriptorMismatch", "ProgramId"]);
    if fields().next().is_some() {
        imports.push("words");
    }
    let _ = writeln!(out, "use curve_bindings::{{{}}};\n", imports.join(", "));
    out.push_str("/// SHA-256 of the interface's canonical descriptor text.\n");
    let _ = writeln!(
        out,
        "pub const DESCRIPTOR_HASH: [u8; 32] = {};\n",
        hash_literal(&interface.hash())
    );
    let _ = writeln!(
        out,
        "/// A deployed `{}` program whose descriptor hash matched these bindings.",
        interface.template
    );
    out.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq)]\n");
    let _ = writeln!(out, "pub struct {handle} {{\n    program: ProgramId,\n}}\n");
    let _ = writeln!(out, "impl {handle} {{");
    out.push_str(
        "    /// Binds to `program`, refusing it unless the descriptor hash it was deployed with\n\
         \x20   /// is [`DESCRIPTOR_HASH`].\n",
    );
    out.push_str(
        "    pub fn bind(program: ProgramId, deployed: &[u8; 32]) -> Result<Self, DescriptorMismatch> {\n",
    );
    let _ = writeln!(
        out,
        "        curve_bindings::check_descriptor({:?}, &DESCRIPTOR_HASH, deployed)?;",
        interface.template
    );
    out.push_str("        Ok(Self { program })\n    }\n\n");
    out.push_str("    /// The bound program.\n");
    out.push_str("    pub fn program(&self) -> ProgramId {\n        self.program\n    }\n");
    for entry in interface.entries {
        out.push('\n');
        let _ = writeln!(out, "    /// `{}`: {}", entry.name, entry.doc);
        if entry.args.is_empty() {
            let _ = writeln!(out, "    pub fn {}(&self) -> Call {{", entry.name);
            let _ = writeln!(
                out,
                "        Call::new(self.program, {:?}, Vec::new())",
                entry.name
            );
        } else {
            let _ = writeln!(
                out,
                "    pub fn {}(&self, args: &{}Args) -> Call {{",
                entry.name,
                camel(entry.name)
            );
            let _ = writeln!(
                out,
                "        Call::new(self.program, {:?}, args.to_words())",
                entry.name
            );
        }
        out.push_str("    }\n");
    }
    out.push_str("}\n\n");
    for entry in interface.entries {
        if !entry.args.is_empty() {
            args_struct(&mut out, entry);
        }
        if !entry.returns.is_empty() {
            return_struct(&mut out, entry);
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
