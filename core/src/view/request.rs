//! The view a bridged client asks for with flags (`--preset`, `--filter`, `--tags`, `--pagination`
//! of `serve --transport stdio` and `1mcp proxy`), written as the query string an HTTP client
//! would put on `/mcp`, which [`parse_view_query`](super::parse_view_query) reads back.
//!
//! The daemon accepts one selector only; as in 1MCP, a preset beats a filter, which beats tags.
//! Options that lose are named by [`ViewRequest::ignored`], so the front end can warn about them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Which servers and pages a bridged session asks to see (the flags as given).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewRequest {
    /// `--preset <name>`: a named preset from presets.json.
    pub preset: Option<String>,
    /// `--filter <expr>`: a tag expression.
    pub filter: Option<String>,
    /// `--tags a,b`: servers with any of these tags.
    pub tags: Vec<String>,
    /// `--pagination`: page lists per server.
    pub pagination: bool,
}

/// The one selector of a [`ViewRequest`] that applies.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ViewChoice<'a> {
    /// Nothing (non-blank) was asked for: every server.
    Everything,
    /// A preset, by name.
    Preset(&'a str),
    /// A tag expression.
    Filter(&'a str),
    /// Any of these tags, trimmed, blanks left out (never empty).
    Tags(Vec<&'a str>),
}

impl ViewRequest {
    /// The selector that applies: a non-empty preset, else a non-blank filter, else the
    /// non-blank tags. Blank values count as not given.
    fn choice(&self) -> ViewChoice<'_> {
        if let Some(preset) = self.preset.as_deref().filter(|p| !p.is_empty()) {
            return ViewChoice::Preset(preset);
        }
        if let Some(filter) = self.filter.as_deref().filter(|f| !f.trim().is_empty()) {
            return ViewChoice::Filter(filter);
        }
        let tags: Vec<&str> = self.tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()).collect();
        if tags.is_empty() { ViewChoice::Everything } else { ViewChoice::Tags(tags) }
    }

    /// Names of the filtering options that were given but lose to a stronger one.
    pub fn ignored(&self) -> Vec<&'static str> {
        let preset = self.preset.as_deref().is_some_and(|p| !p.is_empty());
        let filter = self.filter.as_deref().is_some_and(|f| !f.trim().is_empty());
        let tags = self.tags.iter().any(|t| !t.trim().is_empty());
        let mut out = Vec::new();
        if filter && preset {
            out.push("--filter");
        }
        if tags && (preset || filter) {
            out.push("--tags");
        }
        out
    }

    /// The query string (without `?`), empty if nothing was asked for: the selector that
    /// applies ([`ViewRequest::choice`]), then `pagination=true` if asked for.
    pub fn to_query(&self) -> String {
        let mut parts = Vec::new();
        match self.choice() {
            ViewChoice::Everything => {}
            ViewChoice::Preset(preset) => parts.push(format!("preset={}", encode(preset))),
            ViewChoice::Filter(filter) => parts.push(format!("tag-filter={}", encode(filter))),
            ViewChoice::Tags(tags) => {
                // Commas stay literal: the daemon splits `tags=a,b` on them.
                let tags: Vec<String> = tags.iter().map(|t| encode(t)).collect();
                parts.push(format!("tags={}", tags.join(",")));
            }
        }
        if self.pagination {
            parts.push("pagination=true".to_owned());
        }
        parts.join("&")
    }
}

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is escaped, so `+`, `&`,
/// `=`, spaces, `!` and parentheses of a tag expression survive any query decoder: a space goes out
/// as `%20`, never `+`, and a `+` as `%2B`, so the daemon's `+`-as-space-or-AND reading is never
/// asked to guess. Stricter than `form_urlencoded`, which writes spaces as `+`.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes the UTF-8 bytes of `text` for a query value (upper-case hex, as RFC 3986 prefers).
fn encode(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::{Presets, TagFilter, parse_view_query};

    fn view(preset: Option<&str>, filter: Option<&str>, tags: &[&str], pagination: bool) -> ViewRequest {
        ViewRequest {
            preset: preset.map(str::to_owned),
            filter: filter.map(str::to_owned),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            pagination,
        }
    }

    #[test]
    fn nothing_asked_is_an_empty_query() {
        assert_eq!(ViewRequest::default().to_query(), "");
        assert_eq!(view(Some(""), Some("  "), &[" "], false).to_query(), "");
        assert_eq!(view(Some(""), Some("  "), &[" "], false).choice(), ViewChoice::Everything);
    }

    #[test]
    fn filter_expression_is_fully_encoded() {
        assert_eq!(
            view(None, Some("(web || api) && !test+x"), &[], false).to_query(),
            "tag-filter=%28web%20%7C%7C%20api%29%20%26%26%20%21test%2Bx"
        );
        assert_eq!(view(None, Some("a,b"), &[], true).to_query(), "tag-filter=a%2Cb&pagination=true");
    }

    #[test]
    fn tags_keep_their_commas_and_pagination_comes_last() {
        assert_eq!(view(None, None, &["a", " b ", "c d"], true).to_query(), "tags=a,b,c%20d&pagination=true");
        assert_eq!(view(None, None, &[], true).to_query(), "pagination=true");
    }

    #[test]
    fn preset_beats_filter_beats_tags() {
        let all = view(Some("dev tools"), Some("x"), &["y"], false);
        assert_eq!(all.choice(), ViewChoice::Preset("dev tools"));
        assert_eq!(all.to_query(), "preset=dev%20tools");
        assert_eq!(all.ignored(), ["--filter", "--tags"]);
        let two = view(None, Some("x"), &["y"], false);
        assert_eq!(two.choice(), ViewChoice::Filter("x"));
        assert_eq!(two.to_query(), "tag-filter=x");
        assert_eq!(two.ignored(), ["--tags"]);
        let tags = view(None, None, &["y", " ", " z"], false);
        assert_eq!(tags.choice(), ViewChoice::Tags(vec!["y", "z"]));
        assert!(tags.ignored().is_empty());
    }

    #[test]
    fn a_blank_stronger_option_loses_to_a_weaker_one() {
        let blank_preset = view(Some(""), Some("x"), &["y"], false);
        assert_eq!(blank_preset.choice(), ViewChoice::Filter("x"));
        assert_eq!(blank_preset.ignored(), ["--tags"]);
        let blank_filter = view(None, Some(" \t"), &["y"], false);
        assert_eq!(blank_filter.choice(), ViewChoice::Tags(vec!["y"]));
        assert!(blank_filter.ignored().is_empty());
        // A preset is taken as given (the daemon trims it); only an empty one counts as absent.
        assert_eq!(view(Some(" "), None, &[], false).to_query(), "preset=%20");
        assert_eq!(view(Some("p"), None, &[" "], false).ignored(), Vec::<&str>::new());
    }

    #[test]
    fn encoding_is_utf8_bytes() {
        assert_eq!(encode("é/?#"), "%C3%A9%2F%3F%23");
        assert_eq!(encode("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn encoding_tricky_inputs() {
        assert_eq!(encode("a+b c"), "a%2Bb%20c");
        assert_eq!(encode("%2B"), "%252B");
        assert_eq!(encode("a&b=c;d#e"), "a%26b%3Dc%3Bd%23e");
        assert_eq!(encode("\0\u{7f}"), "%00%7F");
        assert_eq!(encode("€😀"), "%E2%82%AC%F0%9F%98%80");
        assert_eq!(encode(""), "");
    }

    #[test]
    fn the_daemon_reads_back_what_the_bridge_writes() {
        for tags in [["a+b", "c d"], ["%2B", "é€"], ["x&y=z", "100%"]] {
            let query = view(None, None, &tags, false).to_query();
            let spec = parse_view_query(&query, &Presets::default()).expect("the daemon reads it");
            assert_eq!(spec.filter, Some(TagFilter::Any(tags.iter().map(|t| t.to_lowercase()).collect())), "{query}");
        }
        let query = view(None, Some("(web || api) && !test+x"), &[], true).to_query();
        let spec = parse_view_query(&query, &Presets::default()).expect("the daemon reads it");
        assert!(spec.paginate && spec.filter.is_some(), "{query}");
    }
}
