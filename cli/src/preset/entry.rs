//! A preset entry as 1MCP's `preset create` writes it: the name rule, the strategy it records,
//! and the Mongo-like `tagQuery` its `TagQueryParser.advancedQueryToJSON` builds from an
//! expression (`{tag}`, `{$not}`, `{$and: [...]}`, `{$or: [...]}`), which 1MCP's own session
//! filter evaluates (it ignores `{$advanced: "..."}`, so that form is never written).

use crate::mcp::document::{Json, Object};
use anyhow::{Result, bail};
use onemcp_core::view::{TagExpr, TagFilter, parse_expression};

/// Longest preset name 1MCP accepts.
const MAX_NAME_LEN: usize = 50;

/// Refuses a name 1MCP's `validatePreset` refuses.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        bail!("preset name must be 1 to {MAX_NAME_LEN} characters long");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("preset name '{name}' can only contain letters, numbers, hyphens, and underscores");
    }
    Ok(())
}

/// A filter expression, parsed by the daemon's parser.
pub struct Filter {
    /// The parsed expression.
    pub expr: TagExpr,
}

impl Filter {
    /// Parses `text` as `?tag-filter=` would; the error is the parser's message.
    pub fn parse(text: &str) -> Result<Filter> {
        let expr = match parse_expression(text) {
            Ok(TagFilter::Expr(expr)) => expr,
            // The expression parser builds expressions only; a list is an OR of its tags.
            Ok(TagFilter::Any(tags)) => TagExpr::Or(tags.into_iter().map(TagExpr::Tag).collect()),
            Err(e) => bail!("invalid filter expression '{text}': {e}"),
        };
        Ok(Filter { expr })
    }

    /// `or` for a tag or a list of tags (1MCP's simple form), else `advanced`, as 1MCP records it.
    pub fn strategy(&self) -> &'static str {
        match &self.expr {
            TagExpr::Tag(_) => "or",
            TagExpr::Or(operands) if operands.iter().all(|e| matches!(e, TagExpr::Tag(_))) => "or",
            TagExpr::Or(_) | TagExpr::And(_) | TagExpr::Not(_) => "advanced",
        }
    }

    /// The `tagQuery` 1MCP writes for this expression.
    pub fn tag_query(&self) -> Json {
        tag_query(&self.expr)
    }
}

fn tag_query(expr: &TagExpr) -> Json {
    let (key, value) = match expr {
        TagExpr::Tag(tag) => ("tag", Json::string(tag)),
        TagExpr::Not(operand) => ("$not", tag_query(operand)),
        TagExpr::And(operands) => ("$and", Json::Array(operands.iter().map(tag_query).collect())),
        TagExpr::Or(operands) => ("$or", Json::Array(operands.iter().map(tag_query).collect())),
    };
    Json::Object([(key.to_owned(), value)].into_iter().collect())
}

/// What `create` writes for one preset.
pub struct NewEntry<'a> {
    /// The key under `presets`.
    pub name: &'a str,
    /// `--description`.
    pub description: Option<&'a str>,
    /// `-f`.
    pub filter: &'a Filter,
    /// Now, as an ISO timestamp.
    pub now: &'a str,
}

impl NewEntry<'_> {
    /// The entry; `created` is kept from the one it replaces, as 1MCP's `savePreset` keeps it.
    pub fn to_json(&self, replaced: Option<&Json>) -> Json {
        let created = replaced
            .and_then(Json::as_object)
            .and_then(|old| old.get("created"))
            .and_then(Json::as_str)
            .unwrap_or(self.now);
        let mut entry = Object::default();
        entry.insert("name", Json::string(self.name));
        if let Some(description) = self.description {
            entry.insert("description", Json::string(description));
        }
        entry.insert("strategy", Json::string(self.filter.strategy()));
        entry.insert("tagQuery", self.filter.tag_query());
        entry.insert("created", Json::string(created));
        entry.insert("lastModified", Json::string(self.now));
        Json::Object(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(text: &str) -> String {
        Filter::parse(text)
            .map(|f| format!("{} {}", f.strategy(), f.tag_query().compact()))
            .unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn expressions_become_1mcps_tag_queries() {
        assert_eq!(query("Web"), r#"or {"tag":"web"}"#);
        assert_eq!(query("web,api"), r#"or {"$or":[{"tag":"web"},{"tag":"api"}]}"#);
        assert_eq!(query("web and not prod"), r#"advanced {"$and":[{"tag":"web"},{"$not":{"tag":"prod"}}]}"#);
        assert_eq!(
            query("(a || b) && !c"),
            r#"advanced {"$and":[{"$or":[{"tag":"a"},{"tag":"b"}]},{"$not":{"tag":"c"}}]}"#
        );
        assert_eq!(query("a or b+c"), r#"advanced {"$or":[{"tag":"a"},{"$and":[{"tag":"b"},{"tag":"c"}]}]}"#);
    }

    #[test]
    fn what_the_daemon_reads_back_admits_the_same_servers() {
        for text in ["web", "web,api", "web and not prod", "(a || b) && !c", "not (a or b)"] {
            let filter = Filter::parse(text).expect(text);
            let file = format!(
                r#"{{"presets": {{"p": {{"strategy": "{}", "tagQuery": {}}}}}}}"#,
                filter.strategy(),
                filter.tag_query().compact()
            );
            let (presets, warnings) = onemcp_core::view::parse_presets(&file, "presets.json");
            assert!(warnings.is_empty(), "{text}: {warnings:?}");
            let read = presets.get("p").map(|p| p.filter.clone());
            assert_eq!(read, Some(TagFilter::Expr(filter.expr.clone())), "{text}");
        }
    }

    #[test]
    fn a_bad_expression_carries_the_parsers_message() {
        assert_eq!(query("web and"), "invalid filter expression 'web and': expected a tag after 'and' at position 7");
        assert!(query("(web").contains("unbalanced parenthesis"), "{}", query("(web"));
    }

    #[test]
    fn names_follow_1mcps_rule() {
        assert!(check_name("dev_2-x").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"a".repeat(51)).is_err());
        assert!(check_name(&"a".repeat(50)).is_ok());
        assert!(check_name("a b").is_err());
        assert!(check_name("a/b").is_err());
    }

    #[test]
    fn replacing_keeps_created() {
        let filter = Filter::parse("web").expect("web");
        let entry = NewEntry { name: "p", description: None, filter: &filter, now: "2026-01-02T00:00:00.000Z" };
        let old = Json::parse(r#"{"created": "2025-01-01T00:00:00.000Z", "description": "old"}"#).expect("json");
        let new = entry.to_json(Some(&old)).compact();
        assert_eq!(
            new,
            r#"{"name":"p","strategy":"or","tagQuery":{"tag":"web"},"created":"2025-01-01T00:00:00.000Z","lastModified":"2026-01-02T00:00:00.000Z"}"#
        );
        assert!(entry.to_json(None).compact().contains(r#""created":"2026-01-02T00:00:00.000Z""#));
    }
}
