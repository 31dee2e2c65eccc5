//! Printing diagnostics: rustc-style text through ariadne (source line, caret, labels, help), or
//! one JSON object per line for tools.
//!
//! Rendering costs time linear in the number of diagnostics: each file's line index is built
//! once, not once per diagnostic. Human output stops after [`DEFAULT_SHOWN_MAX`] diagnostics
//! (`--max-diagnostics`) and says how many more there were, as rustc does; every diagnostic is
//! still counted, and JSON output lists them all.

use ariadne::{Color, Config, IndexType, Label, Report, ReportKind, Source};
use curvescript_syntax::{Diagnostic, LineIndex, Severity};
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// How diagnostics are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Text for people, on stderr.
    Human,
    /// JSON lines for tools, on stdout.
    Json,
}

/// Human diagnostics printed before the rest are only counted.
pub const DEFAULT_SHOWN_MAX: usize = 100;

/// Prints diagnostics and counts them.
pub struct Emitter {
    format: OutputFormat,
    color: bool,
    errors: usize,
    warnings: usize,
    /// Human diagnostics printed so far, and the most that will be (0: no limit).
    shown: usize,
    shown_max: usize,
}

#[derive(Serialize)]
struct JsonPosition {
    line: usize,
    column: usize,
}

#[derive(Serialize)]
struct JsonDiagnostic<'a> {
    path: Option<&'a str>,
    #[serde(flatten)]
    diagnostic: &'a Diagnostic,
    start: Option<JsonPosition>,
    end: Option<JsonPosition>,
}

impl Emitter {
    /// An emitter; colour only on a terminal without `NO_COLOR`.
    pub fn new(format: OutputFormat) -> Self {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Emitter {
            format,
            color,
            errors: 0,
            warnings: 0,
            shown: 0,
            shown_max: DEFAULT_SHOWN_MAX,
        }
    }

    /// Prints at most `max` human diagnostics (0: all of them).
    pub fn with_shown_max(mut self, max: usize) -> Self {
        self.shown_max = max;
        self
    }

    /// Whether the next human diagnostic is printed, counting it if so.
    fn show(&mut self) -> bool {
        if self.shown_max != 0 && self.shown >= self.shown_max {
            return false;
        }
        self.shown += 1;
        true
    }

    /// Errors printed so far.
    pub fn error_count(&self) -> usize {
        self.errors
    }

    fn count(&mut self, diagnostic: &Diagnostic) {
        match diagnostic.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Note => {}
        }
    }

    /// Prints the diagnostics of one source file.
    pub fn emit(&mut self, path: &str, text: &str, diagnostics: &[Diagnostic]) {
        let index = LineIndex::new(text);
        let source = Source::from(text);
        for diagnostic in diagnostics {
            self.count(diagnostic);
            match self.format {
                OutputFormat::Json => {
                    let start = index.line_col(text, diagnostic.span.start);
                    let end = index.line_col(text, diagnostic.span.end);
                    let record = JsonDiagnostic {
                        path: Some(path),
                        diagnostic,
                        start: Some(JsonPosition {
                            line: start.line,
                            column: start.col,
                        }),
                        end: Some(JsonPosition {
                            line: end.line,
                            column: end.col,
                        }),
                    };
                    print_json_line(&record);
                }
                OutputFormat::Human => {
                    if !self.show() {
                        continue;
                    }
                    let mut out = Vec::new();
                    self.write_human(path, text, &source, &index, diagnostic, &mut out);
                    crate::output::stderr(format_args!("{}", String::from_utf8_lossy(&out)));
                }
            }
        }
    }

    /// Prints a diagnostic that belongs to no file (e.g. a missing `--governance`).
    pub fn emit_unlocated(&mut self, diagnostic: &Diagnostic) {
        self.count(diagnostic);
        match self.format {
            OutputFormat::Json => {
                let record = JsonDiagnostic {
                    path: None,
                    diagnostic,
                    start: None,
                    end: None,
                };
                print_json_line(&record);
            }
            OutputFormat::Human => {
                if self.show() {
                    let severity = diagnostic.severity.as_str();
                    errln!("{severity}[{}]: {}", diagnostic.code, diagnostic.message);
                }
            }
        }
    }

    /// Prints the closing count line (human format only), after saying how many diagnostics
    /// were counted but not printed.
    pub fn summary(&self, what: &str) {
        if self.format == OutputFormat::Human {
            let plural =
                |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            let total = self.errors + self.warnings;
            let hidden = total.saturating_sub(self.shown);
            if hidden > 0 {
                errln!(
                    "... and {hidden} more {} not shown (--max-diagnostics 0 shows all)",
                    if hidden == 1 {
                        "diagnostic"
                    } else {
                        "diagnostics"
                    }
                );
            }
            errln!(
                "{what}: {}, {}",
                plural(self.errors, "error"),
                plural(self.warnings, "warning")
            );
        }
    }

    fn write_human(
        &self,
        path: &str,
        text: &str,
        source: &Source<&str>,
        index: &LineIndex,
        diagnostic: &Diagnostic,
        out: &mut Vec<u8>,
    ) {
        let kind = match diagnostic.severity {
            Severity::Error => ReportKind::Error,
            Severity::Warning => ReportKind::Warning,
            Severity::Note => ReportKind::Advice,
        };
        let primary = clamp(diagnostic.span.range(), text);
        let mut report = Report::build(kind, (path, primary.clone()))
            .with_config(
                Config::default()
                    .with_color(self.color)
                    .with_index_type(IndexType::Byte),
            )
            .with_code(diagnostic.code)
            .with_message(&diagnostic.message);
        // A label without a message draws no caret, so every primary label says something.
        let mut label =
            Label::new((path, primary)).with_message(diagnostic.label.as_deref().unwrap_or("here"));
        if self.color {
            label = label.with_color(Color::Red);
        }
        report = report.with_label(label);
        for secondary in &diagnostic.labels {
            let mut label = Label::new((path, clamp(secondary.span.range(), text)))
                .with_message(&secondary.message);
            if self.color {
                label = label.with_color(Color::Blue);
            }
            report = report.with_label(label);
        }
        if let Some(help) = &diagnostic.help {
            report = report.with_help(help);
        }
        // Writing to a Vec cannot fail for IO reasons; a rendering failure falls back to one line.
        if report.finish().write((path, source), &mut *out).is_err() {
            let at = index.line_col(text, diagnostic.span.start);
            let _ = writeln!(
                out,
                "{}[{}]: {} at {path}:{}:{}",
                diagnostic.severity.as_str(),
                diagnostic.code,
                diagnostic.message,
                at.line,
                at.col
            );
        }
    }
}

/// Writes one JSON line (a closed pipe ends the process quietly, see `output`).
fn print_json_line(record: &JsonDiagnostic<'_>) {
    let line = serde_json::to_string(record).expect("diagnostics serialise");
    outln!("{line}");
}

/// Keeps a span inside the text and on character boundaries, so rendering never panics.
fn clamp(range: std::ops::Range<usize>, text: &str) -> std::ops::Range<usize> {
    let mut start = range.start.min(text.len());
    let mut end = range.end.clamp(start, text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    while !text.is_char_boundary(end) {
        end += 1;
    }
    start..end
}
