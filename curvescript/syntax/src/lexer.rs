//! The lexer: a total function from text to tokens.
//!
//! It never fails. Bytes that start no token become [`TokenKind::Error`] tokens, and problems
//! inside a token (an unterminated string, an integer above u128, a bad unit suffix) are reported
//! as diagnostics beside a token that the parser can still use. Tokens carry only a kind and a
//! span; their text is a slice of the source (as in `rustc_lexer`).

use crate::diagnostic::{Code, Diagnostic};
use crate::span::Span;
use logos::Logos;

/// The kinds of token.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\f]+")]
pub enum TokenKind {
    /// `ROUTER`.
    #[token("ROUTER")]
    Router,
    /// `SLAB`.
    #[token("SLAB")]
    Slab,
    /// `ORACLE`.
    #[token("ORACLE")]
    Oracle,
    /// `MARKET`.
    #[token("MARKET")]
    Market,
    /// A keyword, argument name, enum value or helper name.
    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    /// Digits and underscores, optionally followed by a unit suffix (`50ms`, `2bps`, `3s`).
    #[regex(r"[0-9][0-9_]*[A-Za-z_0-9]*")]
    Number,
    /// A double-quoted string; the callback consumes it up to the closing quote or the line end.
    #[token("\"", lex_string)]
    Str,
    /// `# …` or `// …` up to the end of the line.
    #[regex(r"(#|//)[^\n]*", allow_greedy = true)]
    Comment,
    /// A line break; statements end at line breaks.
    #[token("\n")]
    Newline,
    /// `=`.
    #[token("=")]
    Eq,
    /// `{`.
    #[token("{")]
    LBrace,
    /// `}`.
    #[token("}")]
    RBrace,
    /// `(`.
    #[token("(")]
    LParen,
    /// `)`.
    #[token(")")]
    RParen,
    /// `[`.
    #[token("[")]
    LBracket,
    /// `]`.
    #[token("]")]
    RBracket,
    /// `,`.
    #[token(",")]
    Comma,
    /// `@`, which starts an annotation.
    #[token("@")]
    At,
    /// `&`, which starts a block reference.
    #[token("&")]
    Amp,
    /// `.` in dotted names.
    #[token(".")]
    Dot,
    /// `<=`.
    #[token("<=")]
    Le,
    /// `<`.
    #[token("<")]
    Lt,
    /// `>=`.
    #[token(">=")]
    Ge,
    /// `>`.
    #[token(">")]
    Gt,
    /// `==`.
    #[token("==")]
    EqEq,
    /// `+`.
    #[token("+")]
    Plus,
    /// `*`.
    #[token("*")]
    Star,
    /// Bytes that start no token.
    Error,
}

/// Scans a string body after its opening quote: stops after the closing quote, or before the
/// line break or end of input when there is none (the caller reports that).
fn lex_string(lexer: &mut logos::Lexer<TokenKind>) {
    let rest = lexer.remainder();
    let mut escaped = false;
    for (offset, ch) in rest.char_indices() {
        match ch {
            '\n' => {
                lexer.bump(offset);
                return;
            }
            '"' if !escaped => {
                lexer.bump(offset + 1);
                return;
            }
            '\\' if !escaped => escaped = true,
            _ => escaped = false,
        }
    }
    lexer.bump(rest.len());
}

/// One token: a kind and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Where it is.
    pub span: Span,
}

/// The units an integer literal may carry as a suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Seconds (converted to milliseconds where a duration is expected).
    S,
    /// Basis points.
    Bps,
}

impl Unit {
    /// The suffix as written.
    pub const fn suffix(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::Bps => "bps",
        }
    }

    fn from_suffix(suffix: &str) -> Option<Unit> {
        match suffix {
            "ms" => Some(Unit::Ms),
            "s" => Some(Unit::S),
            "bps" => Some(Unit::Bps),
            _ => None,
        }
    }
}

/// A number literal split into its value and unit. `value` is `None` when it overflows u128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NumberLiteral {
    /// The value, or `None` above u128.
    pub value: Option<u128>,
    /// The unit suffix, if any.
    pub unit: Option<Unit>,
}

/// Splits a `Number` token's text into value and unit, reporting problems at `span`.
pub fn number_literal(text: &str, span: Span, diagnostics: &mut Vec<Diagnostic>) -> NumberLiteral {
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '_'))
        .unwrap_or(text.len());
    let (digits, suffix) = text.split_at(digits_end);
    let mut value: Option<u128> = Some(0);
    for digit in digits.bytes().filter(|b| *b != b'_') {
        value = value
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(u128::from(digit - b'0')));
    }
    if value.is_none() {
        diagnostics.push(
            Diagnostic::error(Code::IntegerOverflow, span, "integer literal is too large")
                .with_label("does not fit in u128")
                .with_help(format!("the largest integer is {}", u128::MAX)),
        );
    }
    let unit = if suffix.is_empty() {
        None
    } else {
        let unit = Unit::from_suffix(suffix);
        if unit.is_none() {
            let suffix_span = Span::new(span.start + digits_end, span.end);
            diagnostics.push(
                Diagnostic::error(
                    Code::InvalidUnitSuffix,
                    suffix_span,
                    format!("unknown unit suffix `{suffix}`"),
                )
                .with_label("not a unit")
                .with_help("units are `ms`, `s` and `bps`; separate words with a space"),
            );
        }
        unit
    };
    NumberLiteral { value, unit }
}

/// Whether a `Str` token's text (opening quote included) ends with its closing quote.
pub fn string_is_terminated(text: &str) -> bool {
    text.get(1..)
        .and_then(|body| body.strip_suffix('"'))
        // A lone `\"` at the end is an escaped quote, not a terminator.
        .is_some_and(|inner| !ends_with_odd_backslashes(inner))
}

/// Decodes a `Str` token's text (quotes included) to its value, reporting bad escapes and a
/// missing closing quote.
pub fn string_literal(text: &str, span: Span, diagnostics: &mut Vec<Diagnostic>) -> String {
    let terminated = string_is_terminated(text);
    let body = &text[1..];
    let body = if terminated {
        &body[..body.len() - 1]
    } else {
        body
    };
    if !terminated {
        diagnostics.push(
            Diagnostic::error(
                Code::UnterminatedString,
                span,
                "unterminated string literal",
            )
            .with_label("this string has no closing `\"` on its line")
            .with_help("add a `\"` before the end of the line"),
        );
    }
    let mut value = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((offset, ch)) = chars.next() {
        if ch != '\\' {
            value.push(ch);
            continue;
        }
        match chars.next() {
            Some((_, '"')) => value.push('"'),
            Some((_, '\\')) => value.push('\\'),
            Some((_, 'n')) => value.push('\n'),
            Some((_, 't')) => value.push('\t'),
            other => {
                let escape_start = span.start + 1 + offset;
                let escape_end = escape_start + 1 + other.map_or(0, |(_, c)| c.len_utf8());
                diagnostics.push(
                    Diagnostic::error(
                        Code::InvalidEscape,
                        Span::new(escape_start, escape_end),
                        "invalid escape sequence",
                    )
                    .with_help("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`"),
                );
                if let Some((_, c)) = other {
                    value.push(c);
                }
            }
        }
    }
    value
}

fn ends_with_odd_backslashes(text: &str) -> bool {
    text.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// Tokens and the problems found while lexing.
#[derive(Clone, Debug, Default)]
pub struct Lexed {
    /// Every token, trivia (comments, newlines) included, in order.
    pub tokens: Vec<Token>,
    /// Invalid characters; literal problems are reported when literals are decoded.
    pub diagnostics: Vec<Diagnostic>,
}

/// The UTF-8 byte order mark some editors put at the start of a file.
const BYTE_ORDER_MARK: &str = "\u{feff}";

/// Lexes `text` completely; never fails. A leading byte order mark is skipped (spans still count
/// its three bytes, so they index `text`).
pub fn lex(text: &str) -> Lexed {
    let mut lexed = Lexed::default();
    let start = if text.starts_with(BYTE_ORDER_MARK) {
        BYTE_ORDER_MARK.len()
    } else {
        0
    };
    let mut lexer = TokenKind::lexer(&text[start..]);
    while let Some(result) = lexer.next() {
        let span = Span::new(start + lexer.span().start, start + lexer.span().end);
        let kind = result.unwrap_or(TokenKind::Error);
        if kind == TokenKind::Error {
            let shown = text[span.range()].escape_debug().to_string();
            lexed.diagnostics.push(
                Diagnostic::error(
                    Code::InvalidCharacter,
                    span,
                    format!("invalid character `{shown}`"),
                )
                .with_label("no token starts with this"),
            );
        }
        lexed.tokens.push(Token { kind, span });
    }
    lexed
}

/// Renders tokens one per line as `Kind start..end "text"`: the lexer's golden format.
pub fn dump_tokens(text: &str, tokens: &[Token]) -> String {
    let mut out = String::new();
    for token in tokens {
        let slice = &text[token.span.range()];
        out.push_str(&format!("{:?} {} {:?}\n", token.kind, token.span, slice));
    }
    out
}
