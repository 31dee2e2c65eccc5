//! From tokens to the syntax tree: the token adapter in front of the generated LALR parser, and
//! the translation of parser errors into diagnostics.
//!
//! The adapter drops trivia the grammar does not need, attaches each comment to the line break
//! that ends its line, decodes literals, and repairs what would otherwise cascade:
//! - a block keyword at the start of a line inside an open block, or the end of input inside
//!   one, closes it with a reported [`Code::UnclosedBlock`], so one missing `}` does not swallow
//!   the rest of the file;
//! - a block id written without quotes (`ORACLE pyth:SOLUSD {`) becomes the string it meant, with
//!   one [`Code::UnquotedBlockId`];
//! - an unterminated block id string that ran over the block's `{` gives the `{` back;
//! - a line whose brackets and operators pass [`NESTING_MAX`] is cut there with one
//!   [`Code::NestingTooDeep`], so no syntax tree is deeper than a constant, whatever the input:
//!   the checker, the formatter and the tree's drop recurse over it without input-controlled
//!   depth. Parse errors caused by the cut are not reported.

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

/// The most brackets and operators one line may nest or chain: an upper bound on the depth of
/// any expression or value tree. Invariants and values of real policies use a handful.
pub const NESTING_MAX: usize = 64;

/// Grammar tokens and the spans whose parse errors are consequences of a repair already
/// reported.
pub struct TokenStream<'input> {
    /// The tokens, in order.
    pub tokens: Vec<Spanned<'input>>,
    /// Cut-off line tails: parse errors starting here are not reported again.
    pub muted: Vec<Span>,
}

/// What the adapter knows of the current line.
#[derive(Default)]
struct Line {
    /// Open `(` and `[`.
    depth: usize,
    /// The most `(` and `[` open at once so far: a tree is at most this deep in brackets plus
    /// one level per operator, wherever the operators stand (`((…(x)…)) <= 1` is 64 brackets
    /// under one comparison).
    deepest: usize,
    /// Operators seen.
    operators: usize,
    /// Where the line was cut, if it was.
    cut_at: Option<usize>,
}

impl Line {
    /// Counts `kind`; true when the line passes [`NESTING_MAX`] with it.
    fn too_deep(&mut self, kind: TokenKind) -> bool {
        match kind {
            TokenKind::LParen | TokenKind::LBracket => {
                self.depth += 1;
                self.deepest = self.deepest.max(self.depth);
            }
            TokenKind::RParen | TokenKind::RBracket => self.depth = self.depth.saturating_sub(1),
            TokenKind::Plus
            | TokenKind::Star
            | TokenKind::Le
            | TokenKind::Lt
            | TokenKind::Ge
            | TokenKind::Gt
            | TokenKind::EqEq => self.operators += 1,
            _ => {}
        }
        self.deepest + self.operators > NESTING_MAX
    }
}

fn is_block_keyword(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Router | TokenKind::Slab | TokenKind::Oracle | TokenKind::Market
    )
}

/// Turns lexer tokens into grammar tokens (see the module doc), reporting literal problems and
/// repairs into `diagnostics`.
pub fn tokens<'input>(
    text: &'input str,
    lexed: &[Token],
    diagnostics: &mut Vec<Diagnostic>,
) -> TokenStream<'input> {
    let mut out: Vec<Spanned<'input>> = Vec::with_capacity(lexed.len() + 1);
    let mut muted = Vec::new();
    let mut open_braces: Vec<Span> = Vec::new();
    let mut pending_comment: Option<Token> = None;
    let mut line = Line::default();
    let mut index = 0;
    while let Some(&token) = lexed.get(index) {
        index += 1;
        let span = token.span;
        let slice = &text[span.range()];
        match token.kind {
            TokenKind::Error => continue,
            TokenKind::Comment => {
                pending_comment = Some(token);
                continue;
            }
            TokenKind::Newline => {
                if let Some(cut_at) = line.cut_at {
                    muted.push(Span::new(cut_at, span.end));
                }
                line = Line::default();
                let comment = pending_comment.take();
                let start = comment.map_or(span.start, |c| c.span.start);
                out.push((
                    start,
                    Tok::Nl(comment.map(|c| &text[c.span.range()])),
                    span.end,
                ));
                continue;
            }
            _ if line.cut_at.is_some() => continue,
            kind if line.too_deep(kind) => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::NestingTooDeep,
                        span,
                        format!(
                            "this line nests or chains more than {NESTING_MAX} brackets and \
                             operators"
                        ),
                    )
                    .with_label("the limit is passed here; the rest of the line was not read")
                    .with_help("split the expression or value into smaller ones"),
                );
                line.cut_at = Some(span.start);
                continue;
            }
            _ => {}
        }
        let at_line_start = out
            .last()
            .is_none_or(|(_, tok, _)| matches!(tok, Tok::Nl(_)));
        let after_block_keyword = out.last().is_some_and(|(_, tok, _)| {
            matches!(tok, Tok::Router | Tok::Slab | Tok::Oracle | Tok::Market)
        });
        let tok = match token.kind {
            TokenKind::Router | TokenKind::Slab | TokenKind::Oracle | TokenKind::Market => {
                if at_line_start {
                    close_open_blocks(&mut open_braces, span.start, &mut out, diagnostics);
                }
                let keyword = match token.kind {
                    TokenKind::Router => Tok::Router,
                    TokenKind::Slab => Tok::Slab,
                    TokenKind::Oracle => Tok::Oracle,
                    _ => Tok::Market,
                };
                out.push((span.start, keyword, span.end));
                if let Some((id, resume)) = unquoted_block_id(text, lexed, index, diagnostics) {
                    out.push(id);
                    index = resume;
                }
                continue;
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
            TokenKind::Str => {
                // `ORACLE "pyth:SOLUSD {`: the string ran over the block's brace; give it back.
                let trimmed = slice.trim_end();
                if after_block_keyword
                    && !lexer::string_is_terminated(slice)
                    && trimmed.len() > 1
                    && trimmed.ends_with('{')
                {
                    let brace = span.start + trimmed.len() - 1;
                    let id_span = Span::new(
                        span.start,
                        span.start + trimmed[..trimmed.len() - 1].trim_end().len(),
                    );
                    let id = lexer::string_literal(&text[id_span.range()], id_span, diagnostics);
                    out.push((id_span.start, Tok::Str(id), id_span.end));
                    open_braces.push(Span::new(brace, brace + 1));
                    out.push((brace, Tok::LBrace, brace + 1));
                    continue;
                }
                Tok::Str(lexer::string_literal(slice, span, diagnostics))
            }
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
            TokenKind::Error | TokenKind::Comment | TokenKind::Newline => {
                unreachable!("handled above")
            }
        };
        out.push((span.start, tok, span.end));
    }
    let end = text.len();
    if let Some(cut_at) = line.cut_at {
        muted.push(Span::new(cut_at, end));
    }
    // The last line may lack its line break; the grammar wants one after every line.
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
    TokenStream { tokens: out, muted }
}

/// After a block keyword at `lexed[next]`: when the tokens up to a `{` on the same line are not
/// one string (`ORACLE pyth:SOLUSD {`), their text as the id string the author meant, reported
/// once (the invalid characters inside it are not reported again), and where to resume.
fn unquoted_block_id<'input>(
    text: &'input str,
    lexed: &[Token],
    next: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<(Spanned<'input>, usize)> {
    let first = lexed.get(next)?;
    if matches!(
        first.kind,
        TokenKind::Str | TokenKind::LBrace | TokenKind::Newline | TokenKind::Comment
    ) {
        return None;
    }
    let brace = (next..lexed.len())
        .take_while(|i| !matches!(lexed[*i].kind, TokenKind::Newline | TokenKind::Comment))
        .find(|i| lexed[*i].kind == TokenKind::LBrace)?;
    if lexed[next..brace].iter().any(|t| is_block_keyword(t.kind)) {
        return None;
    }
    let span = Span::new(first.span.start, lexed[brace - 1].span.end);
    let id = &text[span.range()];
    diagnostics.retain(|d| {
        !(d.code == Code::InvalidCharacter && d.span.start >= span.start && d.span.end <= span.end)
    });
    diagnostics.push(
        Diagnostic::error(Code::UnquotedBlockId, span, "block ids are quoted strings")
            .with_label("read as this id")
            .with_help(format!("write it in quotes: \"{}\"", id.escape_debug())),
    );
    Some(((span.start, Tok::Str(id.to_string()), span.end), brace))
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
    let stream = tokens(text, &lexed.tokens, &mut diagnostics);
    let muted = stream.muted;
    let mut report = |diagnostic: Diagnostic| {
        let start = diagnostic.span.start;
        if !muted.iter().any(|m| m.start <= start && start <= m.end) {
            diagnostics.push(diagnostic);
        }
    };
    let mut recovered: Vec<ErrorRecovery<usize, Tok<'_>, LexicalError>> = Vec::new();
    let result = crate::grammar::FileParser::new().parse(&mut recovered, stream.tokens);
    for recovery in recovered {
        report(parse_error_diagnostic(recovery.error, text.len()));
    }
    let items = match result {
        Ok(items) => items,
        Err(error) => {
            report(parse_error_diagnostic(error, text.len()));
            Vec::new()
        }
    };
    diagnostics.sort_by_key(|d| (d.span.start, d.code));
    Parsed {
        file: File {
            items: normalise_top(items, &|span| was_cut(text, span, &muted)),
        },
        diagnostics,
    }
}

/// Whether the line `span` is on was cut after its start.
fn was_cut(text: &str, span: Span, muted: &[Span]) -> bool {
    muted.iter().any(|m| {
        span.start <= m.start
            && text
                .get(span.end.min(m.start)..m.start)
                .is_some_and(|between| !between.contains('\n'))
    })
}

/// Collapses runs of blank lines to one and drops blank lines at the start and end, here and in
/// every block: the formatter prints what the tree holds, so the tree holds the canonical form.
/// A statement or annotation on a line that was cut for nesting too deeply is an error line: only
/// part of it was read.
fn normalise_top(items: Vec<Item>, was_cut: &dyn Fn(Span) -> bool) -> Vec<Item> {
    let items: Vec<Item> = items
        .into_iter()
        .map(|item| match item {
            Item::Block(mut block) => {
                let body = block.items.into_iter().map(|item| match item {
                    BodyItem::Statement(s) if was_cut(s.span) => BodyItem::Error(s.span),
                    BodyItem::Annotation(a) if was_cut(a.span) => BodyItem::Error(a.span),
                    other => other,
                });
                block.items =
                    collapse_blanks(body.collect(), |item| matches!(item, BodyItem::Blank));
                Item::Block(block)
            }
            Item::Annotation(a) if was_cut(a.span) => Item::Error(a.span),
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
