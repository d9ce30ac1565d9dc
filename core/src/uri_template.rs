//! Matching a concrete URI against an RFC 6570 URI template, to route `resources/read`.

/// A parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UriTemplate {
    parts: Vec<Part>,
    literal_len: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// An `{...}` expression, by its operator (`None` for simple string expansion).
    Expr(Option<char>),
}

/// Longest URI we try to match; longer ones cannot be routed by template.
const MAX_URI_LEN: usize = 8 * 1024;

impl UriTemplate {
    /// Parse a template; `None` if its braces are unbalanced.
    pub fn parse(template: &str) -> Option<UriTemplate> {
        let mut parts = Vec::new();
        let mut rest = template;
        let mut literal_len = 0;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(open) => {
                    if open > 0 {
                        literal_len += open;
                        parts.push(Part::Literal(rest[..open].to_owned()));
                    }
                    let close = rest[open..].find('}')? + open;
                    let expr = &rest[open + 1..close];
                    let op = expr.chars().next().filter(|c| "+#./;?&".contains(*c));
                    parts.push(Part::Expr(op));
                    rest = &rest[close + 1..];
                }
                None => {
                    if rest.contains('}') {
                        return None;
                    }
                    literal_len += rest.len();
                    parts.push(Part::Literal(rest.to_owned()));
                    rest = "";
                }
            }
        }
        Some(UriTemplate { parts, literal_len })
    }

    /// How specific the template is: its literal characters (more wins among matches).
    pub fn specificity(&self) -> usize {
        self.literal_len
    }

    /// True when some expansion of the template equals `uri`.
    pub fn matches(&self, uri: &str) -> bool {
        if uri.len() > MAX_URI_LEN {
            return false;
        }
        let bytes = uri.as_bytes();
        // reachable[i] = the parts consumed so far can end at byte i.
        let mut reachable = vec![false; bytes.len() + 1];
        reachable[0] = true;
        for part in &self.parts {
            let mut next = vec![false; bytes.len() + 1];
            for start in (0..=bytes.len()).filter(|&i| reachable[i]) {
                match part {
                    Part::Literal(lit) => {
                        if uri[start..].starts_with(lit.as_str()) {
                            next[start + lit.len()] = true;
                        }
                    }
                    Part::Expr(op) => {
                        for end in start..=bytes.len() {
                            if end > start && !expansion_char_ok(*op, bytes[end - 1], end - 1 == start) {
                                break;
                            }
                            next[end] = true;
                        }
                    }
                }
            }
            reachable = next;
        }
        reachable[bytes.len()]
    }
}

/// Whether byte `b` can appear in an expansion with operator `op` (`first`: at its start).
fn expansion_char_ok(op: Option<char>, b: u8, first: bool) -> bool {
    match op {
        Some('+') | Some('#') => true,
        None => !matches!(b, b'/' | b'?' | b'#'),
        Some(prefix) => {
            if first {
                b == prefix as u8
            } else {
                !matches!(b, b'#') && (prefix == '?' || prefix == '&' || b != b'?')
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str, uri: &str) -> bool {
        UriTemplate::parse(t).expect("template").matches(uri)
    }

    #[test]
    fn simple_variables_match_one_segment() {
        assert!(m("fixture://beta/items/{id}", "fixture://beta/items/7"));
        assert!(!m("fixture://beta/items/{id}", "fixture://beta/items/7/x"));
        assert!(!m("fixture://beta/items/{id}", "fixture://alpha/items/7"));
        assert!(m("file:///{a}/{b}.txt", "file:///x/y.txt"));
    }

    #[test]
    fn reserved_and_query_operators() {
        assert!(m("file:///{+path}", "file:///a/b/c.txt"));
        assert!(m("api://search{?q,limit}", "api://search?q=x&limit=3"));
        assert!(m("api://search{?q}", "api://search"));
        assert!(m("doc://x{/seg}", "doc://x/one"));
    }

    #[test]
    fn unbalanced_braces_are_rejected_and_specificity_counts_literals() {
        assert_eq!(UriTemplate::parse("a://{x"), None);
        assert_eq!(UriTemplate::parse("a://x}"), None);
        assert_eq!(UriTemplate::parse("ab{x}cd").map(|t| t.specificity()), Some(4));
    }
}
