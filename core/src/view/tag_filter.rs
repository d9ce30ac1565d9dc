//! Tag filters: which backends a session may see, from `?tag-filter=`, `?filter=`, `?tags=` or a preset.
//!
//! The expression grammar is 1MCP's (`src/domains/preset/parsers/tagQueryParser.ts`):
//!
//! ```text
//! or    := and  ( ("," | "||" | "or")  and )*
//! and   := unary ( ("+" | "&&" | "and") unary )*
//! unary := ("!" | "-" | "not") unary | tag | "(" or ")"
//! tag   := [A-Za-z0-9_.:/] [A-Za-z0-9_.:/-]*
//! ```
//!
//! Keywords and tags are case-insensitive (tags are lower-cased), whitespace is ignored, positions in
//! errors are 0-based character offsets into the text that was parsed.
//!
//! `+` means AND here. In a URL query string a raw `+` form-decodes to a space, so the caller decides
//! which reading of `+` to hand over (see [`crate::view::query`]); this module never decodes anything.
//!
//! Deliberate differences from 1MCP, all on inputs 1MCP rejects or misreads:
//! - a keyword is a whole word: `not-ready` and `or-gate` are tags (1MCP splits them into operators);
//! - NOT may be repeated (`!!a`, `not -a`); 1MCP only accepts a tag or group after NOT;
//! - `:` and `/` are accepted inside tags (`team:infra`, `env/prod`);
//! - a `-` that starts a token is always NOT, so a tag cannot start with `-`.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest expression or tag list accepted, in bytes; a query string is attacker-controlled.
pub const MAX_EXPRESSION_LEN: usize = 4096;
/// Deepest nesting of parentheses and NOTs accepted, so parsing and evaluation stay shallow.
pub const MAX_DEPTH: usize = 64;
/// Longest tag in a simple tag list, in characters (1MCP's limit).
pub const MAX_TAG_LEN: usize = 100;
/// Most tags in a simple tag list (1MCP's limit).
pub const MAX_LIST_TAGS: usize = 50;

/// A boolean expression over tags; `And` and `Or` built by this module have at least two operands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagExpr {
    /// The server has this (lower-case) tag.
    Tag(String),
    /// The operand does not hold.
    Not(Box<TagExpr>),
    /// Every operand holds (an empty list holds, as in 1MCP).
    And(Vec<TagExpr>),
    /// Some operand holds (an empty list does not, as in 1MCP).
    Or(Vec<TagExpr>),
}

impl TagExpr {
    /// True when a server with these lower-case tags satisfies the expression.
    pub fn admits(&self, tags: &[String]) -> bool {
        match self {
            TagExpr::Tag(tag) => tags.iter().any(|t| t == tag),
            TagExpr::Not(operand) => !operand.admits(tags),
            TagExpr::And(operands) => operands.iter().all(|e| e.admits(tags)),
            TagExpr::Or(operands) => operands.iter().any(|e| e.admits(tags)),
        }
    }

    fn collect_tags(&self, out: &mut BTreeSet<String>) {
        match self {
            TagExpr::Tag(tag) => {
                out.insert(tag.clone());
            }
            TagExpr::Not(operand) => operand.collect_tags(out),
            TagExpr::And(operands) | TagExpr::Or(operands) => operands.iter().for_each(|e| e.collect_tags(out)),
        }
    }
}

/// Canonical keyword form (`a or (b and not c)`); it parses back to the same expression whenever every
/// tag is a valid grammar tag, which holds for expressions parsed from text.
impl fmt::Display for TagExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagExpr::Tag(tag) => f.write_str(tag),
            TagExpr::Not(operand) => match operand.as_ref() {
                TagExpr::Tag(_) | TagExpr::Not(_) => write!(f, "not {operand}"),
                TagExpr::And(_) | TagExpr::Or(_) => write!(f, "not ({operand})"),
            },
            // Nested groups keep their parentheses so the tree shape survives a round trip; an And inside
            // an Or would parse the same without them, but reads more easily with them.
            TagExpr::And(operands) => write_joined(f, operands, " and "),
            TagExpr::Or(operands) => write_joined(f, operands, " or "),
        }
    }
}

fn write_joined(f: &mut fmt::Formatter<'_>, operands: &[TagExpr], separator: &str) -> fmt::Result {
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        match operand {
            TagExpr::And(_) | TagExpr::Or(_) => write!(f, "({operand})")?,
            TagExpr::Tag(_) | TagExpr::Not(_) => write!(f, "{operand}")?,
        }
    }
    Ok(())
}

/// What a session's view admits: a plain tag list or a boolean expression.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagFilter {
    /// `?tags=a,b`: the server has ANY of these lower-case tags.
    Any(Vec<String>),
    /// `?tag-filter=...` or a preset: the expression holds for the server's tags.
    Expr(TagExpr),
}

impl TagFilter {
    /// True when a server with these lower-case tags is visible through the filter.
    pub fn admits(&self, tags: &[String]) -> bool {
        match self {
            TagFilter::Any(wanted) => tags.iter().any(|t| wanted.contains(t)),
            TagFilter::Expr(expr) => expr.admits(tags),
        }
    }

    /// Every tag the filter mentions, negated or not (what an OAuth `tag:` scope must cover).
    pub fn referenced_tags(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        match self {
            TagFilter::Any(tags) => out.extend(tags.iter().cloned()),
            TagFilter::Expr(expr) => expr.collect_tags(&mut out),
        }
        out
    }
}

/// `a,b` for a list (it parses back with [`parse_tag_list`]), the canonical expression otherwise.
impl fmt::Display for TagFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagFilter::Any(tags) => f.write_str(&tags.join(",")),
            TagFilter::Expr(expr) => expr.fmt(f),
        }
    }
}

/// Why a tag expression or tag list was rejected; the text is shown to the client in a 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Nothing but whitespace.
    #[error("empty expression")]
    Empty,
    /// Longer than [`MAX_EXPRESSION_LEN`].
    #[error("expression too long: {len} bytes (at most {max})")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character that is neither part of a tag, an operator, a parenthesis nor whitespace.
    #[error("unexpected character '{ch}' at position {pos}{}", char_hint(*.ch))]
    UnexpectedChar {
        /// The character.
        ch: char,
        /// Its 0-based character offset.
        pos: usize,
    },
    /// A token where none of its kind can stand (`a b`, `a)`, a leading `and`).
    #[error("unexpected '{token}' at position {pos}")]
    UnexpectedToken {
        /// The token as written.
        token: String,
        /// Its 0-based character offset.
        pos: usize,
    },
    /// An operator or `(` not followed by an operand.
    #[error("expected a tag after '{after}' at position {pos}")]
    ExpectedTag {
        /// The operator as written.
        after: String,
        /// Where the operand was expected (the text length at end of input).
        pos: usize,
    },
    /// A `(` that is never closed.
    #[error("unbalanced parenthesis: '(' at position {pos} is never closed")]
    Unbalanced {
        /// The 0-based character offset of the `(`.
        pos: usize,
    },
    /// More than [`MAX_DEPTH`] nested parentheses and NOTs.
    #[error("expression nested too deeply at position {pos} (at most {max} levels)")]
    TooDeep {
        /// Where the limit was crossed.
        pos: usize,
        /// The limit.
        max: usize,
    },
    /// A tag list with no tag in it.
    #[error("empty tag list")]
    EmptyList,
    /// A tag in a list longer than [`MAX_TAG_LEN`] characters.
    #[error("tag '{prefix}...' is longer than {max} characters")]
    TagTooLong {
        /// The first characters of the tag.
        prefix: String,
        /// The limit.
        max: usize,
    },
    /// A tag list with more than [`MAX_LIST_TAGS`] distinct tags.
    #[error("too many tags: {count} (at most {max})")]
    TooManyTags {
        /// Distinct tags in the list.
        count: usize,
        /// The limit.
        max: usize,
    },
}

fn char_hint(ch: char) -> &'static str {
    match ch {
        '&' => " (use '&&', '+' or 'and' for AND)",
        '|' => " (use '||', ',' or 'or' for OR)",
        _ => "",
    }
}

impl FilterError {
    /// How far into the text parsing got before failing; the query module uses it to pick the more
    /// plausible of two readings of `+`.
    pub(crate) fn progress(&self) -> usize {
        match self {
            FilterError::UnexpectedChar { pos, .. }
            | FilterError::UnexpectedToken { pos, .. }
            | FilterError::ExpectedTag { pos, .. }
            | FilterError::TooDeep { pos, .. } => *pos,
            // The whole text was read before the missing ')' was noticed.
            FilterError::Unbalanced { .. } => usize::MAX,
            FilterError::Empty
            | FilterError::TooLong { .. }
            | FilterError::EmptyList
            | FilterError::TagTooLong { .. }
            | FilterError::TooManyTags { .. } => 0,
        }
    }
}

/// Parse a boolean tag expression (`?tag-filter=`); the text is already percent-decoded, `+` is AND.
pub fn parse_expression(text: &str) -> Result<TagFilter, FilterError> {
    if text.len() > MAX_EXPRESSION_LEN {
        return Err(FilterError::TooLong { len: text.len(), max: MAX_EXPRESSION_LEN });
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(FilterError::Empty);
    }
    let mut parser = Parser { tokens, next: 0, depth: 0, end: text.chars().count() };
    let expr = parser.parse_or(None)?;
    if let Some(extra) = parser.peek() {
        return Err(FilterError::UnexpectedToken { token: extra.text.to_owned(), pos: extra.pos });
    }
    Ok(TagFilter::Expr(expr))
}

/// Parse a comma-separated tag list (`?tags=`): trimmed, lower-cased, de-duplicated, empty entries skipped.
pub fn parse_tag_list(text: &str) -> Result<TagFilter, FilterError> {
    if text.len() > MAX_EXPRESSION_LEN {
        return Err(FilterError::TooLong { len: text.len(), max: MAX_EXPRESSION_LEN });
    }
    let mut tags: Vec<String> = Vec::new();
    for raw in text.split(',') {
        // Same normalisation as server tags in mcp.json, so equal tags compare equal.
        let tag = raw.trim().to_lowercase();
        if tag.is_empty() {
            continue;
        }
        if tag.chars().count() > MAX_TAG_LEN {
            return Err(FilterError::TagTooLong { prefix: tag.chars().take(20).collect(), max: MAX_TAG_LEN });
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.is_empty() {
        return Err(FilterError::EmptyList);
    }
    if tags.len() > MAX_LIST_TAGS {
        return Err(FilterError::TooManyTags { count: tags.len(), max: MAX_LIST_TAGS });
    }
    Ok(TagFilter::Any(tags))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Tag,
    And,
    Or,
    Not,
    Open,
    Close,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    /// As written, for error messages; tags are lower-cased when the tree is built.
    text: &'a str,
    /// 0-based character offset.
    pos: usize,
}

fn is_tag_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/')
}

fn is_tag_char(c: char) -> bool {
    is_tag_start(c) || c == '-'
}

fn tokenize(text: &str) -> Result<Vec<Token<'_>>, FilterError> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&(byte, c)) = chars.get(i) {
        let next = chars.get(i + 1).map(|&(_, c)| c);
        // Every token is ASCII, so its length in characters is also its length in bytes.
        let (kind, len) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => (Kind::Open, 1),
            ')' => (Kind::Close, 1),
            // A '-' inside a tag was consumed with the tag, so one that starts a token is NOT.
            '!' | '-' => (Kind::Not, 1),
            '+' => (Kind::And, 1),
            ',' => (Kind::Or, 1),
            '&' if next == Some('&') => (Kind::And, 2),
            '|' if next == Some('|') => (Kind::Or, 2),
            c if is_tag_start(c) => {
                let mut j = i + 1;
                while chars.get(j).is_some_and(|&(_, c)| is_tag_char(c)) {
                    j += 1;
                }
                let word = &text[byte..byte + (j - i)];
                let kind = if word.eq_ignore_ascii_case("and") {
                    Kind::And
                } else if word.eq_ignore_ascii_case("or") {
                    Kind::Or
                } else if word.eq_ignore_ascii_case("not") {
                    Kind::Not
                } else {
                    Kind::Tag
                };
                (kind, j - i)
            }
            other => return Err(FilterError::UnexpectedChar { ch: other, pos: i }),
        };
        tokens.push(Token { kind, text: &text[byte..byte + len], pos: i });
        i += len;
    }
    Ok(tokens)
}

/// Recursive descent; recursion happens only through `(` and NOT, both counted against [`MAX_DEPTH`].
struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
    depth: usize,
    /// Character length of the text, the position reported at end of input.
    end: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<Token<'a>> {
        self.tokens.get(self.next).copied()
    }

    fn eat(&mut self, kind: Kind) -> Option<Token<'a>> {
        let token = self.peek().filter(|t| t.kind == kind)?;
        self.next += 1;
        Some(token)
    }

    fn enter(&mut self, pos: usize) -> Result<(), FilterError> {
        if self.depth >= MAX_DEPTH {
            return Err(FilterError::TooDeep { pos, max: MAX_DEPTH });
        }
        self.depth += 1;
        Ok(())
    }

    /// `after` is the operator just consumed, named in the error when its operand is missing.
    fn parse_or(&mut self, after: Option<Token<'a>>) -> Result<TagExpr, FilterError> {
        let mut operands = vec![self.parse_and(after)?];
        while let Some(op) = self.eat(Kind::Or) {
            operands.push(self.parse_and(Some(op))?);
        }
        Ok(collapse(operands, TagExpr::Or))
    }

    fn parse_and(&mut self, after: Option<Token<'a>>) -> Result<TagExpr, FilterError> {
        let mut operands = vec![self.parse_unary(after)?];
        while let Some(op) = self.eat(Kind::And) {
            operands.push(self.parse_unary(Some(op))?);
        }
        Ok(collapse(operands, TagExpr::And))
    }

    fn parse_unary(&mut self, after: Option<Token<'a>>) -> Result<TagExpr, FilterError> {
        let Some(token) = self.peek() else {
            return Err(match after {
                Some(op) => FilterError::ExpectedTag { after: op.text.to_owned(), pos: self.end },
                None => FilterError::Empty,
            });
        };
        match token.kind {
            Kind::Tag => {
                self.next += 1;
                Ok(TagExpr::Tag(token.text.to_ascii_lowercase()))
            }
            Kind::Not => {
                self.next += 1;
                self.enter(token.pos)?;
                let operand = self.parse_unary(Some(token))?;
                self.depth -= 1;
                Ok(TagExpr::Not(Box::new(operand)))
            }
            Kind::Open => {
                self.next += 1;
                self.enter(token.pos)?;
                let inner = self.parse_or(Some(token))?;
                match self.peek() {
                    Some(t) if t.kind == Kind::Close => self.next += 1,
                    Some(t) => return Err(FilterError::UnexpectedToken { token: t.text.to_owned(), pos: t.pos }),
                    None => return Err(FilterError::Unbalanced { pos: token.pos }),
                }
                self.depth -= 1;
                Ok(inner)
            }
            Kind::And | Kind::Or | Kind::Close => Err(match after {
                Some(op) => FilterError::ExpectedTag { after: op.text.to_owned(), pos: token.pos },
                None => FilterError::UnexpectedToken { token: token.text.to_owned(), pos: token.pos },
            }),
        }
    }
}

/// A single operand stands for itself, so `(a)` and `a` are the same tree.
fn collapse(mut operands: Vec<TagExpr>, group: fn(Vec<TagExpr>) -> TagExpr) -> TagExpr {
    match operands.pop() {
        Some(only) if operands.is_empty() => only,
        Some(last) => {
            operands.push(last);
            group(operands)
        }
        None => group(operands),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tag(t: &str) -> TagExpr {
        TagExpr::Tag(t.to_owned())
    }
    fn not(e: TagExpr) -> TagExpr {
        TagExpr::Not(Box::new(e))
    }
    fn and(es: Vec<TagExpr>) -> TagExpr {
        TagExpr::And(es)
    }
    fn or(es: Vec<TagExpr>) -> TagExpr {
        TagExpr::Or(es)
    }
    fn expr(text: &str) -> TagExpr {
        match parse_expression(text) {
            Ok(TagFilter::Expr(e)) => e,
            other => panic!("{text:?} parsed to {other:?}"),
        }
    }
    fn err(text: &str) -> String {
        match parse_expression(text) {
            Err(e) => e.to_string(),
            Ok(f) => panic!("{text:?} parsed to {f:?}"),
        }
    }
    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(expr("a,b+c"), or(vec![tag("a"), and(vec![tag("b"), tag("c")])]));
        assert_eq!(expr("a+b,c"), or(vec![and(vec![tag("a"), tag("b")]), tag("c")]));
        assert_eq!(expr("a or b and c"), or(vec![tag("a"), and(vec![tag("b"), tag("c")])]));
    }

    #[test]
    fn not_binds_tighter_than_and() {
        assert_eq!(expr("!a+b"), and(vec![not(tag("a")), tag("b")]));
        assert_eq!(expr("not a and b"), and(vec![not(tag("a")), tag("b")]));
        assert_eq!(expr("a,-b"), or(vec![tag("a"), not(tag("b"))]));
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(expr("not (a or b)"), not(or(vec![tag("a"), tag("b")])));
        assert_eq!(expr("(a,b)+c"), and(vec![or(vec![tag("a"), tag("b")]), tag("c")]));
        assert_eq!(expr("((a))"), tag("a"));
    }

    #[test]
    fn chains_are_flat() {
        assert_eq!(expr("a,b,c"), or(vec![tag("a"), tag("b"), tag("c")]));
        assert_eq!(expr("a+b+c"), and(vec![tag("a"), tag("b"), tag("c")]));
    }

    #[test]
    fn every_operator_spelling() {
        let want_or = or(vec![tag("a"), tag("b")]);
        for text in ["a,b", "a||b", "a or b", "a OR b", "a Or b", "a , b"] {
            assert_eq!(expr(text), want_or, "{text}");
        }
        let want_and = and(vec![tag("a"), tag("b")]);
        for text in ["a+b", "a&&b", "a and b", "a AND b", "a aNd b", "a + b"] {
            assert_eq!(expr(text), want_and, "{text}");
        }
        for text in ["!a", "-a", "not a", "NOT a", "! a", "(not a)"] {
            assert_eq!(expr(text), not(tag("a")), "{text}");
        }
    }

    #[test]
    fn tags_are_case_insensitive_and_lower_cased() {
        assert_eq!(expr("Web+API"), and(vec![tag("web"), tag("api")]));
        assert!(parse_expression("WEB").unwrap().admits(&tags(&["web"])));
    }

    #[test]
    fn tag_characters() {
        assert_eq!(expr("web-api_v1.2"), tag("web-api_v1.2"));
        assert_eq!(expr("team:infra+env/prod"), and(vec![tag("team:infra"), tag("env/prod")]));
        // A dash inside a tag is part of it; one that starts a token is NOT.
        assert_eq!(expr("a-b"), tag("a-b"));
        assert_eq!(expr("a+-b"), and(vec![tag("a"), not(tag("b"))]));
        assert_eq!(expr("--a"), not(not(tag("a"))));
    }

    #[test]
    fn keywords_are_whole_words() {
        assert_eq!(expr("android,order,notify"), or(vec![tag("android"), tag("order"), tag("notify")]));
        assert_eq!(expr("not-ready"), tag("not-ready"));
        assert_eq!(expr("or.x"), tag("or.x"));
        assert_eq!(expr("a and(b)"), and(vec![tag("a"), tag("b")]));
    }

    #[test]
    fn whitespace_is_ignored() {
        assert_eq!(expr("  ( a\t,\nb )  +c "), and(vec![or(vec![tag("a"), tag("b")]), tag("c")]));
    }

    #[test]
    fn errors_say_what_and_where() {
        assert_eq!(err("(a,b))+c"), "unexpected ')' at position 5");
        assert_eq!(err("web+api)"), "unexpected ')' at position 7");
        assert_eq!(err("a and"), "expected a tag after 'and' at position 5");
        assert_eq!(err("a and )"), "expected a tag after 'and' at position 6");
        assert_eq!(err("a+,b"), "expected a tag after '+' at position 2");
        assert_eq!(err("a ||"), "expected a tag after '||' at position 4");
        assert_eq!(err("not"), "expected a tag after 'not' at position 3");
        assert_eq!(err("()"), "expected a tag after '(' at position 1");
        assert_eq!(err("(a"), "unbalanced parenthesis: '(' at position 0 is never closed");
        assert_eq!(err("x+((a)"), "unbalanced parenthesis: '(' at position 2 is never closed");
        assert_eq!(err("(a b)"), "unexpected 'b' at position 3");
        assert_eq!(err("a b"), "unexpected 'b' at position 2");
        assert_eq!(err("and a"), "unexpected 'and' at position 0");
        assert_eq!(err(")"), "unexpected ')' at position 0");
        assert_eq!(err("a & b"), "unexpected character '&' at position 2 (use '&&', '+' or 'and' for AND)");
        assert_eq!(err("a | b"), "unexpected character '|' at position 2 (use '||', ',' or 'or' for OR)");
        assert_eq!(err("é,a"), "unexpected character 'é' at position 0");
        assert_eq!(err("a,é"), "unexpected character 'é' at position 2");
        assert_eq!(err(""), "empty expression");
        assert_eq!(err(" \t "), "empty expression");
    }

    #[test]
    fn depth_is_bounded() {
        let ok = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(expr(&ok), tag("a"));
        let deep = format!("{}a{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(parse_expression(&deep), Err(FilterError::TooDeep { pos: MAX_DEPTH, max: MAX_DEPTH }));
        let nots = format!("{}a", "!".repeat(MAX_DEPTH + 1));
        assert_eq!(parse_expression(&nots), Err(FilterError::TooDeep { pos: MAX_DEPTH, max: MAX_DEPTH }));
        assert!(parse_expression(&format!("{}a", "!".repeat(MAX_DEPTH))).is_ok());
        // The longest input is far deeper than the bound; it must fail cleanly, not overflow the stack.
        let hostile = "(".repeat(MAX_EXPRESSION_LEN);
        assert!(matches!(parse_expression(&hostile), Err(FilterError::TooDeep { .. })));
    }

    #[test]
    fn length_is_bounded() {
        let long = "a,".repeat(MAX_EXPRESSION_LEN / 2) + "a";
        assert_eq!(
            parse_expression(&long),
            Err(FilterError::TooLong { len: MAX_EXPRESSION_LEN + 1, max: MAX_EXPRESSION_LEN })
        );
        assert!(parse_expression(&long[2..]).is_ok());
        assert!(matches!(parse_tag_list(&long), Err(FilterError::TooLong { .. })));
    }

    #[test]
    fn admits_truth_tables() {
        type Row = (&'static [&'static str], bool);
        let cases: &[(&str, &[Row])] = &[
            ("a", &[(&[], false), (&["a"], true), (&["b"], false), (&["b", "a"], true)]),
            ("!a", &[(&[], true), (&["a"], false), (&["b"], true)]),
            ("a+b", &[(&[], false), (&["a"], false), (&["b"], false), (&["a", "b"], true)]),
            ("a,b", &[(&[], false), (&["a"], true), (&["b"], true), (&["a", "b"], true), (&["c"], false)]),
            ("a,b+c", &[(&["a"], true), (&["b"], false), (&["b", "c"], true), (&["c"], false)]),
            ("!a+b", &[(&["b"], true), (&["a", "b"], false), (&[], false)]),
            ("not (a or b)", &[(&[], true), (&["a"], false), (&["b"], false), (&["c"], true)]),
            ("!!a", &[(&["a"], true), (&[], false)]),
        ];
        for (text, rows) in cases {
            let filter = parse_expression(text).unwrap();
            for (server_tags, want) in *rows {
                assert_eq!(filter.admits(&tags(server_tags)), *want, "{text} on {server_tags:?}");
            }
        }
    }

    #[test]
    fn empty_groups_follow_1mcp() {
        assert!(TagExpr::And(vec![]).admits(&[]));
        assert!(!TagExpr::Or(vec![]).admits(&tags(&["a"])));
    }

    #[test]
    fn tag_list_is_any_of() {
        let list = parse_tag_list(" Web, ,api,web,").unwrap();
        assert_eq!(list, TagFilter::Any(tags(&["web", "api"])));
        assert!(list.admits(&tags(&["api"])));
        assert!(list.admits(&tags(&["x", "web"])));
        assert!(!list.admits(&tags(&["x"])));
        assert!(!list.admits(&[]));
        // A list is not an expression: operators are just characters of a tag.
        assert_eq!(parse_tag_list("a+b").unwrap(), TagFilter::Any(tags(&["a+b"])));
    }

    #[test]
    fn tag_list_errors() {
        assert_eq!(parse_tag_list(""), Err(FilterError::EmptyList));
        assert_eq!(parse_tag_list(" , ,"), Err(FilterError::EmptyList));
        let long = "x".repeat(MAX_TAG_LEN + 1);
        assert_eq!(
            parse_tag_list(&long).unwrap_err().to_string(),
            "tag 'xxxxxxxxxxxxxxxxxxxx...' is longer than 100 characters"
        );
        assert!(parse_tag_list(&"x".repeat(MAX_TAG_LEN)).is_ok());
        let many: Vec<String> = (0..=MAX_LIST_TAGS).map(|i| format!("t{i}")).collect();
        assert_eq!(parse_tag_list(&many.join(",")), Err(FilterError::TooManyTags { count: 51, max: 50 }));
        assert!(parse_tag_list(&many[1..].join(",")).is_ok());
    }

    #[test]
    fn referenced_tags_include_negated_ones() {
        let filter = parse_expression("(a,b)+!c+a").unwrap();
        assert_eq!(filter.referenced_tags(), ["a", "b", "c"].into_iter().map(String::from).collect());
        assert_eq!(parse_tag_list("x,y").unwrap().referenced_tags().len(), 2);
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(parse_expression("A,B+!c").unwrap().to_string(), "a or (b and not c)");
        assert_eq!(parse_expression("!(a||b)&&c").unwrap().to_string(), "not (a or b) and c");
        assert_eq!(parse_expression("--a").unwrap().to_string(), "not not a");
        assert_eq!(parse_tag_list("B, a").unwrap().to_string(), "b,a");
        let nested = and(vec![tag("a"), and(vec![tag("b"), tag("c")])]);
        assert_eq!(nested.to_string(), "a and (b and c)");
        assert_eq!(expr(&nested.to_string()), nested);
    }

    fn arb_tag() -> impl Strategy<Value = String> {
        "[a-z0-9_.:/][a-z0-9_.:/-]{0,6}".prop_filter("not a keyword", |t| !matches!(t.as_str(), "and" | "or" | "not"))
    }

    fn arb_expr() -> impl Strategy<Value = TagExpr> {
        arb_tag().prop_map(TagExpr::Tag).prop_recursive(6, 48, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| TagExpr::Not(Box::new(e))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(TagExpr::And),
                prop::collection::vec(inner, 2..4).prop_map(TagExpr::Or),
            ]
        })
    }

    /// The compact URL spelling 1MCP's docs use: `+`, `,`, `!` and parentheses everywhere.
    fn compact(e: &TagExpr) -> String {
        match e {
            TagExpr::Tag(t) => t.clone(),
            TagExpr::Not(inner) => format!("!({})", compact(inner)),
            TagExpr::And(es) => es.iter().map(|e| format!("({})", compact(e))).collect::<Vec<_>>().join("+"),
            TagExpr::Or(es) => es.iter().map(|e| format!("({})", compact(e))).collect::<Vec<_>>().join(","),
        }
    }

    proptest! {
        #[test]
        fn display_parses_back_to_the_same_tree(e in arb_expr()) {
            prop_assert_eq!(parse_expression(&e.to_string()), Ok(TagFilter::Expr(e.clone())));
        }

        #[test]
        fn compact_spelling_parses_to_the_same_tree(e in arb_expr()) {
            prop_assert_eq!(parse_expression(&compact(&e)), Ok(TagFilter::Expr(e.clone())));
        }

        #[test]
        fn tag_list_display_parses_back(list in prop::collection::vec(arb_tag(), 1..8)) {
            let filter = parse_tag_list(&list.join(",")).unwrap();
            prop_assert_eq!(parse_tag_list(&filter.to_string()), Ok(filter));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[a-c !()+,&|-]{0,40}") {
            let _ = parse_expression(&text);
        }
    }
}
