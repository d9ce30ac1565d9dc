//! The URL query of `/mcp`, `/sse` and `/messages` → the session's view (1MCP's `tagsExtractor.ts`,
//! `filterSelection.ts`).
//!
//! At most one selector: `preset=<name>`, `tag-filter=<expr>`, `filter=<expr or list>` (legacy) or
//! `tags=a,b`; plus `pagination=true|false`. Other parameters are ignored (clients add `app=` and others).
//! A selector that is present counts even when empty, as in 1MCP (`?tags=` is an error, not "no filter").
//!
//! About `+`: 1MCP reads the query with Node's `querystring`, where a raw `+` is a space, and its own
//! clients build URLs with `URLSearchParams`, which writes spaces as `+` (`1mcp proxy --filter "web and
//! api"` sends `filter=web+and+api`). Its docs also show `web+api` for AND, which only works
//! percent-encoded (`web%2Bapi`). An expression is therefore read with `+` as a space first, as 1MCP
//! does; if that does not parse, with `+` as AND. The two readings never both parse: a `+` read as AND
//! must stand between two operands, where a space would leave them side by side, which the grammar
//! rejects. Preset names and tag lists take `+` as a space, as in 1MCP.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::presets::Presets;
use super::tag_filter::{FilterError, TagFilter, parse_expression, parse_tag_list};

/// 1MCP's message when several selectors are given, word for word.
pub const MULTIPLE_SELECTORS_MESSAGE: &str = "Cannot use multiple filtering parameters simultaneously. Use \"preset\" \
    for dynamic presets, \"tag-filter\" for advanced expressions, \"filter\" for legacy compatibility, or \"tags\" for \
    simple OR filtering.";

/// The selectors, in the order 1MCP lists them.
const SELECTORS: [&str; 4] = ["preset", "tag-filter", "filter", "tags"];
const PAGINATION: &str = "pagination";

/// What a session's query asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewSpec {
    /// What the session may see; `None` means everything.
    pub filter: Option<TagFilter>,
    /// The preset the filter came from, so a reload of presets.json can re-resolve it.
    pub preset: Option<String>,
    /// `pagination=true`: list responses are paginated with cursors.
    pub paginate: bool,
}

/// Why a query was refused; `Display` is the message of the HTTP 400.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// More than one of `preset`, `tag-filter`, `filter`, `tags`.
    #[error("{MULTIPLE_SELECTORS_MESSAGE}")]
    MultipleSelectors {
        /// The selectors given, in 1MCP's order.
        selectors: Vec<&'static str>,
    },
    /// The same parameter twice (1MCP sees an array and refuses it too).
    #[error("Invalid params: {param} given more than once")]
    Repeated {
        /// The parameter.
        param: &'static str,
    },
    /// `preset=` with nothing but whitespace.
    #[error("Invalid params: preset cannot be empty")]
    EmptyPreset,
    /// No preset of that name in presets.json.
    #[error("Preset '{name}' not found")]
    PresetNotFound {
        /// The name asked for, trimmed.
        name: String,
    },
    /// A `tag-filter`, `filter` or `tags` value that does not parse.
    #[error("Invalid {param}: {reason}")]
    InvalidFilter {
        /// The parameter.
        param: &'static str,
        /// What is wrong with it.
        reason: FilterError,
    },
    /// A value whose percent-encoding is broken.
    #[error("Invalid {param}: {reason}")]
    InvalidEncoding {
        /// The parameter.
        param: &'static str,
        /// What is wrong with it.
        reason: DecodeError,
    },
    /// `pagination=` with something other than `true` or `false`.
    #[error("Invalid pagination: expected 'true' or 'false', got '{value}'")]
    InvalidPagination {
        /// The decoded value.
        value: String,
    },
}

/// Broken percent-encoding in a query value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-escape at byte {pos}")]
    BadEscape {
        /// Byte offset of the `%` in the raw value.
        pos: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("percent-escapes do not decode to UTF-8 text")]
    NotUtf8,
}

/// Parse the raw query string (percent-encoded, without `?`) into the session's view.
pub fn parse_view_query(raw_query: &str, presets: &Presets) -> Result<ViewSpec, ViewError> {
    // Raw values of the parameters we read; the rest is never decoded, so its encoding cannot fail us.
    let mut found: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let Ok(key) = percent_decode(raw_key, Plus::Space) else { continue };
        if let Some(known) = SELECTORS.iter().chain([&PAGINATION]).find(|k| **k == key) {
            found.entry(known).or_default().push(raw_value);
        }
    }
    let selectors: Vec<&'static str> = SELECTORS.into_iter().filter(|s| found.contains_key(s)).collect();
    if selectors.len() > 1 {
        return Err(ViewError::MultipleSelectors { selectors });
    }
    let single = |param: &'static str| -> Result<Option<&str>, ViewError> {
        match found.get(param).map(Vec::as_slice) {
            None => Ok(None),
            Some([value]) => Ok(Some(*value)),
            Some(_) => Err(ViewError::Repeated { param }),
        }
    };
    let paginate = match single(PAGINATION)? {
        None => false,
        Some(raw) => match decode(PAGINATION, raw, Plus::Space)?.as_str() {
            "true" => true,
            "false" => false,
            other => return Err(ViewError::InvalidPagination { value: other.to_owned() }),
        },
    };
    let mut spec = ViewSpec { filter: None, preset: None, paginate };
    let Some(&selector) = selectors.first() else { return Ok(spec) };
    let Some(raw) = single(selector)? else { return Ok(spec) };
    match selector {
        "preset" => {
            let name = decode(selector, raw, Plus::Space)?.trim().to_owned();
            if name.is_empty() {
                return Err(ViewError::EmptyPreset);
            }
            let preset = presets.get(&name).ok_or_else(|| ViewError::PresetNotFound { name: name.clone() })?;
            spec.filter = Some(preset.filter.clone());
            spec.preset = Some(name);
        }
        "tag-filter" => spec.filter = Some(expression(selector, raw)?),
        "filter" => {
            // Legacy: an expression if it is one, else a plain tag list (which accepts almost anything).
            spec.filter = Some(match expression(selector, raw) {
                Ok(filter) => filter,
                Err(_) => parse_tag_list(&decode(selector, raw, Plus::Space)?)
                    .map_err(|reason| ViewError::InvalidFilter { param: selector, reason })?,
            });
        }
        _ => {
            let text = decode(selector, raw, Plus::Space)?;
            spec.filter =
                Some(parse_tag_list(&text).map_err(|reason| ViewError::InvalidFilter { param: selector, reason })?);
        }
    }
    Ok(spec)
}

/// An expression value, `+` read as a space (1MCP) and, failing that, as AND; see the module docs.
fn expression(param: &'static str, raw: &str) -> Result<TagFilter, ViewError> {
    let invalid = |reason| ViewError::InvalidFilter { param, reason };
    let spaced = match parse_expression(&decode(param, raw, Plus::Space)?) {
        Ok(filter) => return Ok(filter),
        Err(e) => e,
    };
    if !raw.contains('+') {
        return Err(invalid(spaced));
    }
    match parse_expression(&decode(param, raw, Plus::Keep)?) {
        Ok(filter) => Ok(filter),
        // Both fail: the reading that got further is the likelier intent, and its error the more useful.
        // `+` and space are one character each, so positions in the two readings are comparable.
        Err(literal) => Err(invalid(if literal.progress() > spaced.progress() { literal } else { spaced })),
    }
}

#[derive(Clone, Copy)]
enum Plus {
    /// Form encoding, as Node's `querystring` reads it.
    Space,
    /// Percent-decoding only.
    Keep,
}

fn decode(param: &'static str, raw: &str, plus: Plus) -> Result<String, ViewError> {
    percent_decode(raw, plus).map_err(|reason| ViewError::InvalidEncoding { param, reason })
}

/// Decodes one query key or value. Escapes are checked first, because `percent_encoding` passes a
/// broken escape (`%zz`, a trailing `%`) through as text, while a view is refused with the byte
/// offset of the first bad `%` (the message of the 400). A valid escape's hex digits are never `%`
/// or `+`, so every `%` in the raw text starts an escape and every raw `+` is a literal `+` to map.
fn percent_decode(raw: &str, plus: Plus) -> Result<String, DecodeError> {
    let bytes = raw.as_bytes();
    let is_escape = |pos: usize| bytes.get(pos + 1..pos + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
    let bad = bytes.iter().enumerate().filter(|(_, b)| **b == b'%').map(|(pos, _)| pos).find(|&pos| !is_escape(pos));
    if let Some(pos) = bad {
        return Err(DecodeError::BadEscape { pos });
    }
    // `+` → space before decoding, so an encoded `%2B` stays a `+` (as in form decoding).
    let spaced;
    let text = match plus {
        Plus::Space if raw.contains('+') => {
            spaced = raw.replace('+', " ");
            spaced.as_str()
        }
        _ => raw,
    };
    // `%00` decodes to a NUL character like any other byte; UTF-8 is checked on the decoded bytes,
    // so a multibyte character may be escaped byte by byte (`%E2%82%AC`), but not cut short (`%C3`).
    match percent_encoding::percent_decode_str(text).decode_utf8() {
        Ok(decoded) => Ok(decoded.into_owned()),
        Err(_) => Err(DecodeError::NotUtf8),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::presets::parse_presets;
    use crate::view::tag_filter::TagExpr;
    use proptest::prelude::*;

    fn tag(t: &str) -> TagExpr {
        TagExpr::Tag(t.to_owned())
    }
    fn and(es: Vec<TagExpr>) -> TagExpr {
        TagExpr::And(es)
    }
    fn or(es: Vec<TagExpr>) -> TagExpr {
        TagExpr::Or(es)
    }
    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn presets() -> Presets {
        let text = r#"{"presets": {
            "dev": {"name": "dev", "strategy": "or", "tagQuery": {"$or": [{"tag": "web"}, {"tag": "api"}]}},
            "Prod": {"name": "Prod", "strategy": "and", "tagQuery": {"tag": "prod"}}
        }}"#;
        let (presets, warnings) = parse_presets(text, "presets.json");
        assert!(warnings.is_empty(), "{warnings:?}");
        presets
    }

    fn view(query: &str) -> ViewSpec {
        parse_view_query(query, &presets()).unwrap_or_else(|e| panic!("{query:?}: {e}"))
    }
    fn filter(query: &str) -> Option<TagFilter> {
        view(query).filter
    }
    fn expr(query: &str) -> TagExpr {
        match filter(query) {
            Some(TagFilter::Expr(e)) => e,
            other => panic!("{query:?} gave {other:?}"),
        }
    }
    fn error(query: &str) -> String {
        match parse_view_query(query, &presets()) {
            Err(e) => e.to_string(),
            Ok(spec) => panic!("{query:?} gave {spec:?}"),
        }
    }

    #[test]
    fn no_selector_means_everything() {
        assert_eq!(view(""), ViewSpec::default());
        assert_eq!(view("app=cursor&foo=%ZZ&&x"), ViewSpec::default());
    }

    #[test]
    fn preset_selects_its_filter() {
        let spec = view("preset=dev");
        assert_eq!(spec.preset.as_deref(), Some("dev"));
        assert_eq!(spec.filter, Some(TagFilter::Expr(or(vec![tag("web"), tag("api")]))));
        assert_eq!(view("preset=%20Prod%20").preset.as_deref(), Some("Prod"));
        assert_eq!(view("preset=+Prod").preset.as_deref(), Some("Prod"));
    }

    #[test]
    fn preset_errors() {
        assert_eq!(error("preset=nope"), "Preset 'nope' not found");
        assert_eq!(error("preset=prod"), "Preset 'prod' not found");
        assert_eq!(error("preset=DEV"), "Preset 'DEV' not found");
        assert_eq!(error("preset="), "Invalid params: preset cannot be empty");
        assert_eq!(error("preset"), "Invalid params: preset cannot be empty");
        assert_eq!(error("preset=+%20"), "Invalid params: preset cannot be empty");
    }

    #[test]
    fn tag_filter_is_percent_decoded() {
        assert_eq!(expr("tag-filter=web%2Bapi"), and(vec![tag("web"), tag("api")]));
        assert_eq!(expr("tag-filter=%28web%2Capi%29%2Bprod"), and(vec![or(vec![tag("web"), tag("api")]), tag("prod")]));
        assert_eq!(expr("tag-filter=web%20AND%20api"), and(vec![tag("web"), tag("api")]));
        assert_eq!(expr("tag%2Dfilter=a"), tag("a"));
        assert_eq!(error("tag-filter=a,%C3%A9"), "Invalid tag-filter: unexpected character 'é' at position 2");
    }

    #[test]
    fn plus_reads_as_and_or_as_space() {
        // Hand-written URLs from 1MCP's docs: a raw '+' between tags is AND.
        assert_eq!(expr("tag-filter=web+api"), and(vec![tag("web"), tag("api")]));
        assert_eq!(
            expr("tag-filter=(web,api)+prod-test"),
            and(vec![or(vec![tag("web"), tag("api")]), tag("prod-test")])
        );
        assert_eq!(expr("tag-filter=a+-b"), and(vec![tag("a"), TagExpr::Not(Box::new(tag("b")))]));
        // URLs built by URLSearchParams (1mcp proxy): a '+' is an encoded space.
        assert_eq!(expr("tag-filter=web+and+api"), and(vec![tag("web"), tag("api")]));
        assert_eq!(expr("filter=web+and+not+test"), and(vec![tag("web"), TagExpr::Not(Box::new(tag("test")))]));
        assert_eq!(
            expr("tag-filter=%28web+or+api%29+and+prod"),
            and(vec![or(vec![tag("web"), tag("api")]), tag("prod")])
        );
    }

    #[test]
    fn tag_filter_errors() {
        assert_eq!(error("tag-filter=web%2Bapi)"), "Invalid tag-filter: unexpected ')' at position 7");
        assert_eq!(error("tag-filter=web+api)"), "Invalid tag-filter: unexpected ')' at position 7");
        assert_eq!(error("tag-filter="), "Invalid tag-filter: empty expression");
        assert_eq!(error("tag-filter"), "Invalid tag-filter: empty expression");
        assert_eq!(error("tag-filter=a%2B"), "Invalid tag-filter: expected a tag after '+' at position 2");
        // Neither reading of '+' parses: the error of the one that got further is reported.
        assert_eq!(
            error("tag-filter=(web+api"),
            "Invalid tag-filter: unbalanced parenthesis: '(' at position 0 is never closed"
        );
        assert_eq!(error("tag-filter=web+and+"), "Invalid tag-filter: expected a tag after 'and' at position 8");
        assert_eq!(error("tag-filter=a%2"), "Invalid tag-filter: invalid percent-escape at byte 1");
        assert_eq!(error("tag-filter=a%zz"), "Invalid tag-filter: invalid percent-escape at byte 1");
        assert_eq!(error("tag-filter=%FF"), "Invalid tag-filter: percent-escapes do not decode to UTF-8 text");
    }

    #[test]
    fn legacy_filter_falls_back_to_a_list() {
        assert_eq!(expr("filter=web,api"), or(vec![tag("web"), tag("api")]));
        assert_eq!(expr("filter=a+b"), and(vec![tag("a"), tag("b")]));
        assert_eq!(filter("filter=a%20b,c"), Some(TagFilter::Any(strings(&["a b", "c"]))));
        assert_eq!(filter("filter=(a"), Some(TagFilter::Any(strings(&["(a"]))));
        assert_eq!(error("filter=,"), "Invalid filter: empty tag list");
        assert_eq!(error("filter=a%G1"), "Invalid filter: invalid percent-escape at byte 1");
    }

    #[test]
    fn tags_are_a_simple_or_list() {
        assert_eq!(filter("tags=Web,API"), Some(TagFilter::Any(strings(&["web", "api"]))));
        assert_eq!(filter("tags=web%2Capi"), Some(TagFilter::Any(strings(&["web", "api"]))));
        // A list is not an expression, and '+' is a space as in 1MCP.
        assert_eq!(filter("tags=a+b"), Some(TagFilter::Any(strings(&["a b"]))));
        assert_eq!(filter("tags=a%2Bb"), Some(TagFilter::Any(strings(&["a+b"]))));
        assert_eq!(error("tags="), "Invalid tags: empty tag list");
        assert_eq!(error("tags=%"), "Invalid tags: invalid percent-escape at byte 0");
    }

    #[test]
    fn selectors_are_mutually_exclusive() {
        let message = "Cannot use multiple filtering parameters simultaneously. Use \"preset\" for dynamic presets, \
                       \"tag-filter\" for advanced expressions, \"filter\" for legacy compatibility, or \"tags\" for \
                       simple OR filtering.";
        for query in [
            "tags=a&tag-filter=b",
            "preset=dev&tags=a",
            "filter=a&tags=",
            "preset=&tag-filter=",
            "tags=a&filter=b&preset=x",
        ] {
            assert_eq!(error(query), message, "{query}");
        }
        assert_eq!(
            parse_view_query("tags=a&filter=b&preset=x", &presets()),
            Err(ViewError::MultipleSelectors { selectors: vec!["preset", "filter", "tags"] })
        );
    }

    #[test]
    fn a_parameter_twice_is_refused() {
        assert_eq!(error("tags=a&tags=b"), "Invalid params: tags given more than once");
        assert_eq!(error("pagination=true&pagination=true"), "Invalid params: pagination given more than once");
    }

    #[test]
    fn pagination_flag() {
        assert!(view("pagination=true").paginate);
        assert!(!view("pagination=false").paginate);
        assert!(!view("").paginate);
        let spec = view("tags=a&pagination=true&app=x");
        assert!(spec.paginate);
        assert_eq!(spec.filter, Some(TagFilter::Any(strings(&["a"]))));
        assert_eq!(error("pagination=TRUE"), "Invalid pagination: expected 'true' or 'false', got 'TRUE'");
        assert_eq!(error("pagination=1"), "Invalid pagination: expected 'true' or 'false', got '1'");
        assert_eq!(error("pagination="), "Invalid pagination: expected 'true' or 'false', got ''");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Bb+c%20d", Plus::Space), Ok("a+b c d".to_owned()));
        assert_eq!(percent_decode("a%2bb+c", Plus::Keep), Ok("a+b+c".to_owned()));
        assert_eq!(percent_decode("%E2%82%AC", Plus::Keep), Ok("€".to_owned()));
        assert_eq!(percent_decode("ab%", Plus::Keep), Err(DecodeError::BadEscape { pos: 2 }));
        assert_eq!(percent_decode("ab%4", Plus::Keep), Err(DecodeError::BadEscape { pos: 2 }));
        assert_eq!(percent_decode("%+1", Plus::Keep), Err(DecodeError::BadEscape { pos: 0 }));
        assert_eq!(percent_decode("%C3", Plus::Keep), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn percent_decoding_tricky_inputs() {
        // An encoded plus is a plus in both readings; a raw one is a space only in form reading.
        assert_eq!(percent_decode("%2B", Plus::Space), Ok("+".to_owned()));
        assert_eq!(percent_decode("%2b", Plus::Keep), Ok("+".to_owned()));
        assert_eq!(percent_decode("+", Plus::Space), Ok(" ".to_owned()));
        assert_eq!(percent_decode("+", Plus::Keep), Ok("+".to_owned()));
        assert_eq!(percent_decode("%2B+%2B", Plus::Space), Ok("+ +".to_owned()));
        // Broken escapes are refused at the first bad '%', not passed through.
        assert_eq!(percent_decode("%zz", Plus::Keep), Err(DecodeError::BadEscape { pos: 0 }));
        assert_eq!(percent_decode("a%41%zz", Plus::Space), Err(DecodeError::BadEscape { pos: 4 }));
        assert_eq!(percent_decode("%%41", Plus::Keep), Err(DecodeError::BadEscape { pos: 0 }));
        assert_eq!(percent_decode("%4", Plus::Keep), Err(DecodeError::BadEscape { pos: 0 }));
        assert_eq!(percent_decode("%é1", Plus::Keep), Err(DecodeError::BadEscape { pos: 0 }));
        // `%25` is a literal '%', not the start of another escape.
        assert_eq!(percent_decode("%2541", Plus::Keep), Ok("%41".to_owned()));
        // UTF-8: raw or escaped multibyte characters, mixed; a lone continuation byte is not text.
        assert_eq!(percent_decode("é%C3%A9%e2%82%ac😀", Plus::Keep), Ok("éé€😀".to_owned()));
        assert_eq!(percent_decode("%F0%9F%98%80", Plus::Space), Ok("😀".to_owned()));
        assert_eq!(percent_decode("%A9", Plus::Keep), Err(DecodeError::NotUtf8));
        assert_eq!(percent_decode("%C3+", Plus::Space), Err(DecodeError::NotUtf8));
        // NUL decodes like any byte (what the filter grammar makes of it is its business).
        assert_eq!(percent_decode("a%00b", Plus::Keep), Ok("a\0b".to_owned()));
        assert_eq!(percent_decode("", Plus::Space), Ok(String::new()));
    }

    /// The hand-written decoder `percent_decode` replaced, kept as the oracle it must agree with.
    fn reference_decode(raw: &str, plus: Plus) -> Result<String, DecodeError> {
        let bytes = raw.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&byte) = bytes.get(i) {
            match byte {
                b'%' => {
                    let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
                    let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
                    let (Some(hi), Some(lo)) = (hi, lo) else {
                        return Err(DecodeError::BadEscape { pos: i });
                    };
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                b'+' if matches!(plus, Plus::Space) => {
                    out.push(b' ');
                    i += 1;
                }
                other => {
                    out.push(other);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| DecodeError::NotUtf8)
    }

    fn arb_tag() -> impl Strategy<Value = String> {
        "[a-z0-9_.][a-z0-9_.-]{0,5}".prop_filter("not a keyword", |t| !matches!(t.as_str(), "and" | "or" | "not"))
    }

    fn arb_expr() -> impl Strategy<Value = TagExpr> {
        arb_tag().prop_map(TagExpr::Tag).prop_recursive(5, 32, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| TagExpr::Not(Box::new(e))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(TagExpr::And),
                prop::collection::vec(inner, 2..4).prop_map(TagExpr::Or),
            ]
        })
    }

    /// The compact spelling, left unencoded in the URL as people type it (`+` meant as AND).
    fn compact(e: &TagExpr) -> String {
        match e {
            TagExpr::Tag(t) => t.clone(),
            TagExpr::Not(inner) => format!("!({})", compact(inner)),
            TagExpr::And(es) => es.iter().map(|e| format!("({})", compact(e))).collect::<Vec<_>>().join("+"),
            TagExpr::Or(es) => es.iter().map(|e| format!("({})", compact(e))).collect::<Vec<_>>().join(","),
        }
    }

    /// What URLSearchParams makes of the canonical keyword form: spaces become `+`, the rest is escaped.
    fn form_encode(text: &str) -> String {
        text.chars()
            .map(|c| match c {
                ' ' => "+".to_owned(),
                '(' => "%28".to_owned(),
                ')' => "%29".to_owned(),
                c => c.to_string(),
            })
            .collect()
    }

    proptest! {
        #[test]
        fn both_readings_of_plus_reach_the_same_tree(e in arb_expr()) {
            let want = Some(TagFilter::Expr(e.clone()));
            let typed = parse_view_query(&format!("tag-filter={}", compact(&e)), &Presets::default());
            prop_assert_eq!(typed.map(|s| s.filter), Ok(want.clone()));
            let generated = parse_view_query(&format!("tag-filter={}", form_encode(&e.to_string())), &Presets::default());
            prop_assert_eq!(generated.map(|s| s.filter), Ok(want));
        }

        #[test]
        fn decoding_agrees_with_the_hand_written_decoder(
            raw in "([a-zA-Z0-9 +%é€]|%[0-9a-fA-F]{2}|%[0-9a-fA-F]?[g-z+%]?){0,12}"
        ) {
            prop_assert_eq!(percent_decode(&raw, Plus::Space), reference_decode(&raw, Plus::Space));
            prop_assert_eq!(percent_decode(&raw, Plus::Keep), reference_decode(&raw, Plus::Keep));
        }

        #[test]
        fn arbitrary_queries_never_panic(query in "[a-z=&%+2BFx(),-]{0,40}") {
            let _ = parse_view_query(&query, &Presets::default());
        }
    }
}
