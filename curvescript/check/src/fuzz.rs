//! The body of the front end's fuzz target, shared with the test that replays its corpus.

use curvescript_syntax::format::format_file;
use curvescript_syntax::print::print_ast;

/// Lexes, parses, checks and (when it parses cleanly) formats arbitrary bytes, asserting the
/// formatter's round trip. Panics only on a real bug.
pub fn check_bytes(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let checked = crate::check_source(&text, None);
    // Every diagnostic points inside the text.
    for diagnostic in &checked.diagnostics {
        assert!(
            diagnostic.span.start <= diagnostic.span.end && diagnostic.span.end <= text.len(),
            "span out of range: {diagnostic:?}"
        );
    }
    let parsed = curvescript_syntax::parse(&text);
    if !parsed.has_errors() {
        let formatted = format_file(&parsed.file);
        let reparsed = curvescript_syntax::parse(&formatted);
        assert!(
            !reparsed.has_errors(),
            "formatted text does not parse:\n{formatted}"
        );
        assert_eq!(
            print_ast(&reparsed.file, false),
            print_ast(&parsed.file, false),
            "formatting changed the tree"
        );
        assert_eq!(
            format_file(&reparsed.file),
            formatted,
            "formatting is not idempotent"
        );
    }
}
