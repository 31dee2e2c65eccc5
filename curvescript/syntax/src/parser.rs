//! From tokens to the syntax tree: the token adapter in front of the generated LALR parser, and
//! the translation of parser errors into diagnostics.
//!
//! The adapter drops trivia the grammar does not need, attaches each comment to the line break
//! that ends its line, decodes literals, and repairs braces: a block keyword at the start of a
//! line inside an open block, or the end of input inside one, closes it with a reported
//! [`Code::UnclosedBlock`]. That keeps one missing `}` from swallowing the rest of the file.

use crate::ast::{BodyItem, File, Item};
use crate::diagnostic::{Code, Diagnostic};
use crate::lexer::{self, Token, TokenKind, Unit};
use crate::span::Span;
use lalrpop_util::{ErrorRecovery, ParseError};

/// A number token's decoded parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawNumber<'input> {
    /// The literal as written.
    pub text: &'input str,
    /// Its value, `None` above u128.
    pub value: Option<u128>,
    /// Its unit suffix.
    pub unit: Option<Unit>,
}

/// Tokens as the grammar sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Tok<'input> {
    Router,
    Slab,
    Oracle,
    Market,
    Ident(&'input str),
    Number(RawNumber<'input>),
    Str(String),
    /// A line break with the comment that ended its line, if any (comment marker included).
    Nl(Option<&'input str>),
    Eq,
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    At,
    Amp,
    Dot,
    Le,
    Lt,
    Ge,
    Gt,
    EqEq,
    Plus,
    Star,
}

impl std::fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Router => f.write_str("`ROUTER`"),
            Tok::Slab => f.write_str("`SLAB`"),
            Tok::Oracle => f.write_str("`ORACLE`"),
            Tok::Market => f.write_str("`MARKET`"),
            Tok::Ident(text) => write!(f, "`{text}`"),
            Tok::Number(number) => write!(f, "`{}`", number.text),
            Tok::Str(text) => write!(f, "string {text:?}"),
            Tok::Nl(_) => f.write_str("end of line"),
            other => write!(f, "`{}`", punctuation(other)),
        }
    }
}

fn punctuation(tok: &Tok<'_>) -> &'static str {
    match tok {
        Tok::Eq => "=",
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::Comma => ",",
        Tok::At => "@",
        Tok::Amp => "&",
        Tok::Dot => ".",
        Tok::Le => "<=",
        Tok::Lt => "<",
        Tok::Ge => ">=",
        Tok::Gt => ">",
        Tok::EqEq => "==",
        Tok::Plus => "+",
        Tok::Star => "*",
        _ => "?",
    }
}

/// The adapter reports its problems as diagnostics, so the grammar never sees a lexical error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexicalError {}

/// The text of a comment without its marker and surrounding spaces.
pub fn comment_text(comment: Option<&str>) -> Option<String> {
    let comment = comment?;
    let body = comment
        .strip_prefix("//")
        .or_else(|| comment.strip_prefix('#'))
        .unwrap_or(comment);
    Some(body.trim().to_string())
}

type Spanned<'input> = (usize, Tok<'input>, usize);

/// Turns lexer tokens into grammar tokens (see the module doc), reporting literal problems and
/// repaired braces into `diagnostics`.
pub fn tokens<'input>(
    text: &'input str,
    lexed: &[Token],
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Spanned<'input>> {
    let mut out: Vec<Spanned<'input>> = Vec::with_capacity(lexed.len() + 1);
    let mut open_braces: Vec<Span> = Vec::new();
    let mut pending_comment: Option<Token> = None;
    for token in lexed {
        let span = token.span;
        let slice = &text[span.range()];
        let at_line_start = out
            .last()
            .is_none_or(|(_, tok, _)| matches!(tok, Tok::Nl(_)));
        let tok = match token.kind {
            TokenKind::Error => continue,
            TokenKind::Comment => {
                pending_comment = Some(*token);
                continue;
            }
            TokenKind::Newline => {
                let comment = pending_comment.take();
                let start = comment.map_or(span.start, |c| c.span.start);
                out.push((
                    start,
                    Tok::Nl(comment.map(|c| &text[c.span.range()])),
                    span.end,
                ));
                continue;
            }
            TokenKind::Router | TokenKind::Slab | TokenKind::Oracle | TokenKind::Market => {
                if at_line_start {
                    close_open_blocks(&mut open_braces, span.start, &mut out, diagnostics);
                }
                match token.kind {
                    TokenKind::Router => Tok::Router,
                    TokenKind::Slab => Tok::Slab,
                    TokenKind::Oracle => Tok::Oracle,
                    _ => Tok::Market,
                }
            }
            TokenKind::Ident => Tok::Ident(slice),
            TokenKind::Number => {
                let literal = lexer::number_literal(slice, span, diagnostics);
                Tok::Number(RawNumber {
                    text: slice,
                    value: literal.value,
                    unit: literal.unit,
                })
            }
            TokenKind::Str => Tok::Str(lexer::string_literal(slice, span, diagnostics)),
            TokenKind::LBrace => {
                open_braces.push(span);
                Tok::LBrace
            }
            TokenKind::RBrace => {
                open_braces.pop();
                Tok::RBrace
            }
            TokenKind::Eq => Tok::Eq,
            TokenKind::LParen => Tok::LParen,
            TokenKind::RParen => Tok::RParen,
            TokenKind::LBracket => Tok::LBracket,
            TokenKind::RBracket => Tok::RBracket,
            TokenKind::Comma => Tok::Comma,
            TokenKind::At => Tok::At,
            TokenKind::Amp => Tok::Amp,
            TokenKind::Dot => Tok::Dot,
            TokenKind::Le => Tok::Le,
            TokenKind::Lt => Tok::Lt,
            TokenKind::Ge => Tok::Ge,
            TokenKind::Gt => Tok::Gt,
            TokenKind::EqEq => Tok::EqEq,
            TokenKind::Plus => Tok::Plus,
            TokenKind::Star => Tok::Star,
        };
        out.push((span.start, tok, span.end));
    }
    // The last line may lack its line break; the grammar wants one after every line.
    let end = text.len();
    if pending_comment.is_some()
        || out
            .last()
            .is_some_and(|(_, tok, _)| !matches!(tok, Tok::Nl(_)))
    {
        let comment = pending_comment.take();
        let start = comment.map_or(end, |c| c.span.start);
        out.push((start, Tok::Nl(comment.map(|c| &text[c.span.range()])), end));
    }
    close_open_blocks(&mut open_braces, end, &mut out, diagnostics);
    out
}

fn close_open_blocks<'input>(
    open_braces: &mut Vec<Span>,
    at: usize,
    out: &mut Vec<Spanned<'input>>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    while let Some(open) = open_braces.pop() {
        diagnostics.push(
            Diagnostic::error(Code::UnclosedBlock, open, "this block is never closed")
                .with_label("this `{` has no matching `}`")
                .with_secondary(Span::new(at, at), "the block must end before here")
                .with_help("add a `}` on its own line at the end of the block"),
        );
        out.push((at, Tok::RBrace, at));
        out.push((at, Tok::Nl(None), at));
    }
}

/// A parsed file and everything found wrong on the way.
#[derive(Clone, Debug)]
pub struct Parsed {
    /// The tree; lines that could not be read appear as `Error` items.
    pub file: File,
    /// Lexer and parser diagnostics, in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Lexes and parses `text`. Never panics and always returns a tree.
pub fn parse(text: &str) -> Parsed {
    let lexed = lexer::lex(text);
    let mut diagnostics = lexed.diagnostics;
    let tokens = tokens(text, &lexed.tokens, &mut diagnostics);
    let mut recovered: Vec<ErrorRecovery<usize, Tok<'_>, LexicalError>> = Vec::new();
    let result = crate::grammar::FileParser::new().parse(&mut recovered, tokens);
    for recovery in recovered {
        diagnostics.push(parse_error_diagnostic(recovery.error, text.len()));
    }
    let items = match result {
        Ok(items) => items,
        Err(error) => {
            diagnostics.push(parse_error_diagnostic(error, text.len()));
            Vec::new()
        }
    };
    diagnostics.sort_by_key(|d| (d.span.start, d.code));
    Parsed {
        file: File {
            items: normalise_top(items),
        },
        diagnostics,
    }
}

/// Collapses runs of blank lines to one and drops blank lines at the start and end, here and in
/// every block: the formatter prints what the tree holds, so the tree holds the canonical form.
fn normalise_top(items: Vec<Item>) -> Vec<Item> {
    let items: Vec<Item> = items
        .into_iter()
        .map(|item| match item {
            Item::Block(mut block) => {
                block.items = collapse_blanks(block.items, |item| matches!(item, BodyItem::Blank));
                Item::Block(block)
            }
            other => other,
        })
        .collect();
    collapse_blanks(items, |item| matches!(item, Item::Blank))
}

fn collapse_blanks<T>(items: Vec<T>, is_blank: impl Fn(&T) -> bool) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        let previous_blank = out.last().is_none_or(&is_blank);
        if is_blank(&item) && previous_blank {
            continue;
        }
        out.push(item);
    }
    if out.last().is_some_and(&is_blank) {
        out.pop();
    }
    out
}

fn parse_error_diagnostic(
    error: ParseError<usize, Tok<'_>, LexicalError>,
    text_len: usize,
) -> Diagnostic {
    match error {
        ParseError::UnrecognizedToken {
            token: (start, tok, end),
            expected,
        } => {
            let span = Span::new(start, end.max(start));
            let found = tok.to_string();
            Diagnostic::error(
                Code::UnexpectedToken,
                span,
                format!("expected {}, found {found}", describe_expected(&expected)),
            )
            .with_label(format!("unexpected {found}"))
        }
        ParseError::ExtraToken {
            token: (start, tok, end),
        } => Diagnostic::error(
            Code::UnexpectedToken,
            Span::new(start, end),
            format!("unexpected {tok}"),
        ),
        ParseError::UnrecognizedEof { location, expected } => {
            let at = location.min(text_len);
            Diagnostic::error(
                Code::UnexpectedEof,
                Span::new(at, at),
                format!(
                    "expected {}, found end of file",
                    describe_expected(&expected)
                ),
            )
        }
        ParseError::InvalidToken { location } => Diagnostic::error(
            Code::UnexpectedToken,
            Span::new(location, location),
            "invalid token",
        ),
        ParseError::User { error } => match error {},
    }
}

/// Turns the grammar's terminal names into words a policy author reads.
fn describe_expected(expected: &[String]) -> String {
    let mut words: Vec<String> = Vec::new();
    let value_starts = ["Number", "Str", "\"[\"", "\"&\""];
    let mut said_value = false;
    for terminal in expected {
        let word = match terminal.as_str() {
            "Ident" => "a name".to_string(),
            "Nl" => "end of line".to_string(),
            t if value_starts.contains(&t) => {
                if said_value {
                    continue;
                }
                said_value = true;
                "a value".to_string()
            }
            t => format!("`{}`", t.trim_matches('"')),
        };
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.len() {
        0 => "nothing more".to_string(),
        1 => words.remove(0),
        _ => {
            let last = words.pop().unwrap_or_default();
            format!("{} or {last}", words.join(", "))
        }
    }
}
