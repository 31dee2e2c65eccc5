//! Diagnostics: a stable code, a severity, a primary span, secondary labels and help.
//!
//! Every phase (lexer, parser, checker) reports problems as values of [`Diagnostic`] and keeps
//! going; rendering (rustc-style text or JSON) happens only in the CLI. Codes are stable: tests,
//! editors and `curve explain` refer to them, so a code is never reused for another meaning.

use crate::span::Span;
use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something worth knowing; does not fail a check.
    Note,
    /// Probably a mistake; does not fail a check.
    Warning,
    /// The file is rejected.
    Error,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $title:literal; )*) => {
        /// A stable diagnostic code. `E0xxx` codes are errors of the lexer, `E01xx` of the
        /// parser, `E02xx` of the schema checks, `E03xx` of cross-reference and governance
        /// checks, `E04xx` of annotations, `W0xxx` warnings.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $( $(#[$doc])* $name, )*
        }

        impl Code {
            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Code::$name,)*];

            /// The code as written in output, e.g. `E0201`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }

            /// A one-line title for `curve explain`.
            pub const fn title(self) -> &'static str {
                match self { $(Code::$name => $title,)* }
            }
        }
    };
}

codes! {
    /// A character that starts no token.
    InvalidCharacter = "E0001", "invalid character";
    /// A string literal without its closing quote on the same line.
    UnterminatedString = "E0002", "unterminated string literal";
    /// An integer literal above 2^128 - 1.
    IntegerOverflow = "E0003", "integer literal does not fit in u128";
    /// A unit suffix other than `ms`, `s` or `bps` on an integer literal.
    InvalidUnitSuffix = "E0004", "unknown unit suffix on an integer literal";
    /// An escape sequence other than `\"`, `\\`, `\n`, `\t`.
    InvalidEscape = "E0005", "invalid escape sequence in a string literal";
    /// A token the grammar does not allow here.
    UnexpectedToken = "E0100", "unexpected token";
    /// A `{` without its `}`.
    UnclosedBlock = "E0101", "block is missing its closing brace";
    /// The file ends in the middle of a construct.
    UnexpectedEof = "E0102", "unexpected end of file";
    /// A line whose brackets and operators nest deeper than the language allows.
    NestingTooDeep = "E0103", "expression or value nested too deeply";
    /// A block id written without its quotes.
    UnquotedBlockId = "E0104", "block id is not a quoted string";
    /// A statement keyword the block's schema does not define.
    UnknownKeyword = "E0201", "unknown statement keyword";
    /// An argument the statement's schema does not define.
    UnknownArgument = "E0202", "unknown argument";
    /// A required argument is absent.
    MissingArgument = "E0203", "missing required argument";
    /// A value outside the bounds of its argument.
    OutOfBounds = "E0204", "value out of bounds";
    /// A value of the wrong type.
    MistypedValue = "E0205", "mistyped value";
    /// A quantity written with the wrong unit.
    WrongUnit = "E0206", "value has the wrong unit";
    /// The same argument given twice.
    DuplicateArgument = "E0207", "duplicate argument";
    /// A statement that may appear once appears again.
    DuplicateStatement = "E0208", "duplicate statement";
    /// A required statement is absent from its block.
    MissingStatement = "E0209", "missing required statement";
    /// A block written without the id it needs, or with one it must not have.
    BlockId = "E0210", "block id missing or not allowed";
    /// Two blocks of one kind with the same id, or two ROUTER blocks.
    DuplicateBlock = "E0211", "duplicate block";
    /// More positional values than the statement takes.
    ExtraPositional = "E0212", "unexpected positional value";
    /// A statement that does not apply to this configuration of its block.
    InapplicableStatement = "E0213", "statement does not apply here";
    /// A list of the wrong length.
    ListLength = "E0214", "list has the wrong length";
    /// A call to an unknown helper or with the wrong arguments.
    BadHelperCall = "E0215", "bad helper call";
    /// A reference to a block that does not exist.
    DanglingReference = "E0300", "reference to a block that does not exist";
    /// Router and slab batch windows differ by more than the tolerance.
    BatchWindowMismatch = "E0301", "batch windows differ by more than 10 ms";
    /// Initial margin not above maintenance margin.
    MarginOrder = "E0302", "initial margin must exceed maintenance margin";
    /// A fee above the governance cap.
    FeeAboveCap = "E0303", "fee above the governance cap";
    /// An oracle feed that governance has not approved.
    OracleNotApproved = "E0304", "oracle feed not approved by governance";
    /// Two values of one block that contradict each other.
    InconsistentValues = "E0305", "values contradict each other";
    /// A joint-outcome market over more events than the world-table limit.
    WorldTableTooLarge = "E0306", "joint-outcome world table too large";
    /// The governance file is unreadable or invalid.
    BadGovernance = "E0307", "invalid governance file";
    /// An annotation name the language does not define.
    UnknownAnnotation = "E0401", "unknown annotation";
    /// An identifier in an annotation expression that the schema does not define.
    UnknownName = "E0402", "unknown name in an expression";
    /// Operands of incompatible types or units.
    TypeMismatch = "E0403", "type mismatch in an expression";
    /// An invariant that is not a comparison.
    NotBoolean = "E0404", "invariant is not a boolean comparison";
    /// An annotation with no block after it.
    DanglingAnnotation = "E0405", "annotation applies to nothing";
    /// A parameter condition the certificate would prove does not hold for the script's values.
    ConditionFails = "E0501", "parameter condition does not hold";
    /// An entrypoint's static worst-case gas exceeds its budget.
    GasAboveBudget = "E0502", "gas bound above the budget";
    /// The block's state pools do not fit the slab segment.
    LayoutTooLarge = "E0503", "state does not fit the slab";
    /// Two blocks whose ids map to one output directory.
    OutputCollision = "E0504", "two blocks compile to the same output directory";
    /// A block kind whose template is not built yet; the block is checked, not compiled.
    NotCompiled = "W0002", "block not compiled";
    /// A slab pool smaller than what its accounts may need for the life of the slab.
    PoolUndersized = "W0003", "a pool smaller than what it may have to hold";
    /// No governance file was given, so its checks were skipped.
    NoGovernance = "W0001", "governance checks skipped";
    /// A name given to a table that nothing in the script defines.
    EmptyTable = "W0004", "a named table with no entries";
}

impl Severity {
    /// The word that opens a rendered diagnostic: `error`, `warning` or `note`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A secondary span with a short message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What about it.
    pub message: String,
}

/// One problem found in a source text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// How bad.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub message: String,
    /// The primary location.
    pub span: Span,
    /// Message under the primary location's caret.
    pub label: Option<String>,
    /// Related locations.
    pub labels: Vec<Label>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with `code` at `span`.
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: None,
            labels: Vec::new(),
            help: None,
        }
    }

    /// A warning with `code` at `span`.
    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// Sets the message under the primary caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Adds a secondary location.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Whether this diagnostic fails a check.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                strsim_distance(&word_lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| *distance <= (candidate.len().max(word.len()) / 3).max(1))
        .min_by_key(|(distance, candidate)| (*distance, *candidate))
        .map(|(_, candidate)| candidate)
}

/// Damerau-free Levenshtein distance; inputs are short keywords, so the quadratic cost is fine.
fn strsim_distance(a: &str, b: &str) -> usize {
    let b_chars: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b_chars.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b_chars.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b_chars.len()]
}

/// Renders diagnostics as plain text, one header line each (`error[E0201] path:3:5: …`) with
/// indented label and help lines: the golden-test format, and the CLI's fallback.
pub fn render_plain(path: &str, text: &str, diagnostics: &[Diagnostic]) -> String {
    let index = crate::span::LineIndex::new(text);
    let position = |offset: usize| {
        let at = index.line_col(text, offset);
        format!("{}:{}", at.line, at.col)
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let severity = diagnostic.severity.as_str();
        out.push_str(&format!(
            "{severity}[{}] {path}:{}: {}\n",
            diagnostic.code,
            position(diagnostic.span.start),
            diagnostic.message
        ));
        if let Some(label) = &diagnostic.label {
            out.push_str(&format!(
                "  label {}-{}: {label}\n",
                position(diagnostic.span.start),
                position(diagnostic.span.end)
            ));
        }
        for label in &diagnostic.labels {
            out.push_str(&format!(
                "  also {}-{}: {}\n",
                position(label.span.start),
                position(label.span.end),
                label.message
            ));
        }
        if let Some(help) = &diagnostic.help {
            out.push_str(&format!("  help: {help}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "code {text} listed twice");
            assert_eq!(text.len(), 5, "{text}");
            assert!(text.starts_with('E') || text.starts_with('W'), "{text}");
        }
    }

    #[test]
    fn did_you_mean_finds_typos_and_ignores_strangers() {
        let keywords = ["HEARTBEAT", "KILL_BAND_SYNC", "STALENESS"];
        assert_eq!(did_you_mean("HEARTBEET", keywords), Some("HEARTBEAT"));
        assert_eq!(did_you_mean("heartbeat", keywords), Some("HEARTBEAT"));
        assert_eq!(
            did_you_mean("KILL_BAND_SINC", keywords),
            Some("KILL_BAND_SYNC")
        );
        assert_eq!(did_you_mean("COLLATERAL", keywords), None);
    }
}
