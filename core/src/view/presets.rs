//! 1MCP's `<config-dir>/presets.json`: named tag filters that clients select with `?preset=<name>`.
//!
//! The file is `{"presets": {"<name>": {name, description?, strategy, tagQuery, created?, lastModified?}},
//! "version": "1.0.0"}`. `tagQuery` is Mongo-like: `{"tag": "x"}`, `{"$or": [q, ...]}`, `{"$and": [q, ...]}`,
//! `{"$not": q}`, `{"$in": ["a", "b"]}`, `{"tag": {"$in": [...]}}`, `{"tag": {"$not": "x"}}`, and
//! `{"$advanced": "<tag expression>"}`.
//!
//! What 1MCP does, and where this module differs (1MCP 0.35, `tagQueryEvaluator.ts`, `presetTesting.ts`,
//! `filteringService.ts`, `filterSelection.ts`):
//! - `strategy` (`or` | `and` | `advanced`) only records how the preset was authored; the live filter
//!   evaluates `tagQuery` alone. We read it the same way, and warn about a missing or unknown strategy.
//! - 1MCP evaluates `$advanced` only in its preview (`presetTesting.ts`, when `strategy` is `advanced`);
//!   its session filter ignores the key and so admits nothing. We always evaluate it.
//! - 1MCP evaluates only the first key it recognises in an object; we AND all keys, as Mongo does.
//! - 1MCP's `{"tag": {"$in": [...]}}` never matches (the object is truthy and compared as a tag); we
//!   match any of the listed tags, as its type documentation says.
//! - 1MCP compares preset tags case-sensitively; server tags here are lower-cased, so preset tags are too.
//! - 1MCP silently ignores unknown keys; we skip the preset with a warning rather than guess.
//!
//! A broken file or preset never stops the daemon: it is reported as a warning and left out.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::tag_filter::{MAX_DEPTH, TagExpr, TagFilter, parse_expression};
use crate::config::kind;

/// One named filter from `presets.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preset {
    /// The key under `presets`, which `?preset=` matches case-sensitively.
    pub name: String,
    /// Free text for humans.
    pub description: Option<String>,
    /// What the preset admits, from its `tagQuery`.
    pub filter: TagFilter,
}

/// Every valid preset of a `presets.json`, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presets(BTreeMap<String, Preset>);

impl Presets {
    /// The preset with exactly this name (case-sensitive, as in 1MCP).
    pub fn get(&self, name: &str) -> Option<&Preset> {
        self.0.get(name)
    }

    /// Number of presets.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no presets.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The presets in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Preset> {
        self.0.values()
    }
}

impl FromIterator<Preset> for Presets {
    fn from_iter<I: IntoIterator<Item = Preset>>(iter: I) -> Self {
        Presets(iter.into_iter().map(|p| (p.name.clone(), p)).collect())
    }
}

/// Parse a `presets.json` text; `source` names the file in warnings. Never fails: bad parts are warned about.
pub fn parse_presets(text: &str, source: &str) -> (Presets, Vec<String>) {
    let mut warnings = Vec::new();
    let root: Value = match serde_json::from_str(text) {
        Ok(root) => root,
        Err(e) => {
            // serde_json's message ends with "at line L column C".
            warnings.push(format!("{source}: invalid JSON: {e}; no presets loaded"));
            return (Presets::default(), warnings);
        }
    };
    let Value::Object(root) = root else {
        warnings.push(format!("{source}: expected a JSON object at the top level; no presets loaded"));
        return (Presets::default(), warnings);
    };
    let entries = match root.get("presets") {
        // 1MCP treats a missing "presets" as none.
        None | Some(Value::Null) => return (Presets::default(), warnings),
        Some(Value::Object(entries)) => entries,
        Some(_) => {
            warnings.push(format!("{source}: \"presets\" must be an object; no presets loaded"));
            return (Presets::default(), warnings);
        }
    };
    let mut presets = BTreeMap::new();
    for (name, entry) in entries {
        let mut notes = Vec::new();
        match parse_preset(name, entry, &mut notes) {
            Ok(preset) => {
                presets.insert(name.clone(), preset);
            }
            Err(reason) => warnings.push(format!("{source}: preset '{name}' skipped: {reason}")),
        }
        warnings.extend(notes.into_iter().map(|note| format!("{source}: preset '{name}': {note}")));
    }
    (Presets(presets), warnings)
}

/// One entry; `Err` is why it is unusable, `notes` collects what is odd but harmless.
fn parse_preset(name: &str, entry: &Value, notes: &mut Vec<String>) -> Result<Preset, String> {
    let Value::Object(entry) = entry else {
        return Err("expected an object".to_owned());
    };
    let query = entry.get("tagQuery").ok_or("missing \"tagQuery\"")?;
    let expr = query_to_expr(query, "tagQuery", 0)?;
    match entry.get("strategy") {
        Some(Value::String(s)) if matches!(s.as_str(), "or" | "and" | "advanced") => {}
        Some(other) => notes.push(format!(
            "strategy {other} is not one of \"or\", \"and\", \"advanced\"; the tagQuery alone decides what it admits"
        )),
        None => notes.push("no \"strategy\"; the tagQuery alone decides what it admits".to_owned()),
    }
    let description = match entry.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            notes.push("\"description\" is not a string; ignored".to_owned());
            None
        }
    };
    match entry.get("name") {
        Some(Value::String(inner)) if inner != name => {
            notes.push(format!("\"name\" is '{inner}' but clients select the preset by its key '{name}'"))
        }
        _ => {}
    }
    Ok(Preset { name: name.to_owned(), description, filter: TagFilter::Expr(expr) })
}

/// Translate a Mongo-like tag query; errors name the JSON path of the offending part.
fn query_to_expr(value: &Value, path: &str, depth: usize) -> Result<TagExpr, String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: nested more than {MAX_DEPTH} levels deep"));
    }
    let Value::Object(object) = value else {
        return Err(format!("{path}: expected an object, got {}", kind(value)));
    };
    if object.is_empty() {
        return Err(format!("{path}: empty query admits nothing"));
    }
    let mut parts = Vec::new();
    for (key, value) in object {
        let here = format!("{path}.{key}");
        let part = match key.as_str() {
            "tag" => match value {
                Value::String(tag) => TagExpr::Tag(normalize_tag(tag, &here)?),
                Value::Object(ops) => field_ops(ops, &here)?,
                other => return Err(format!("{here}: expected a string or an object, got {}", kind(other))),
            },
            "$or" => group(value, &here, depth, TagExpr::Or)?,
            "$and" => group(value, &here, depth, TagExpr::And)?,
            "$not" => TagExpr::Not(Box::new(query_to_expr(value, &here, depth + 1)?)),
            "$in" => any_of(value, &here)?,
            "$advanced" => match value {
                Value::String(text) => match parse_expression(text) {
                    Ok(TagFilter::Expr(expr)) => expr,
                    Ok(TagFilter::Any(tags)) => join(tags.into_iter().map(TagExpr::Tag).collect(), TagExpr::Or),
                    Err(e) => return Err(format!("{here}: {e}")),
                },
                other => return Err(format!("{here}: expected a string, got {}", kind(other))),
            },
            _ => return Err(format!("{path}: unknown key '{key}'")),
        };
        parts.push(part);
    }
    Ok(join(parts, TagExpr::And))
}

/// `{"tag": {"$in": [...], "$not": "x"}}`: operators applied to the server's tags.
fn field_ops(ops: &Map<String, Value>, path: &str) -> Result<TagExpr, String> {
    if ops.is_empty() {
        return Err(format!("{path}: empty operator object"));
    }
    let mut parts = Vec::new();
    for (op, value) in ops {
        let here = format!("{path}.{op}");
        parts.push(match op.as_str() {
            "$in" => any_of(value, &here)?,
            "$not" => match value {
                Value::String(tag) => TagExpr::Not(Box::new(TagExpr::Tag(normalize_tag(tag, &here)?))),
                other => return Err(format!("{here}: expected a string, got {}", kind(other))),
            },
            _ => return Err(format!("{path}: unknown operator '{op}'")),
        });
    }
    Ok(join(parts, TagExpr::And))
}

fn group(value: &Value, path: &str, depth: usize, make: fn(Vec<TagExpr>) -> TagExpr) -> Result<TagExpr, String> {
    let Value::Array(items) = value else {
        return Err(format!("{path}: expected an array, got {}", kind(value)));
    };
    // 1MCP would read an empty $or as "nothing" and an empty $and as "everything"; both are almost
    // certainly mistakes, and admitting everything by mistake is the worse failure.
    if items.is_empty() {
        return Err(format!("{path}: empty array"));
    }
    let operands = items
        .iter()
        .enumerate()
        .map(|(i, item)| query_to_expr(item, &format!("{path}[{i}]"), depth + 1))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(join(operands, make))
}

fn any_of(value: &Value, path: &str) -> Result<TagExpr, String> {
    let Value::Array(items) = value else {
        return Err(format!("{path}: expected an array of strings, got {}", kind(value)));
    };
    if items.is_empty() {
        return Err(format!("{path}: empty array"));
    }
    let mut tags = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let here = format!("{path}[{i}]");
        let Value::String(tag) = item else {
            return Err(format!("{here}: expected a string, got {}", kind(item)));
        };
        let tag = TagExpr::Tag(normalize_tag(tag, &here)?);
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(join(tags, TagExpr::Or))
}

/// Server tags are trimmed and lower-cased when mcp.json is read; preset tags must compare equal.
fn normalize_tag(tag: &str, path: &str) -> Result<String, String> {
    let tag = tag.trim().to_lowercase();
    if tag.is_empty() {
        return Err(format!("{path}: empty tag"));
    }
    Ok(tag)
}

/// A single operand stands for itself, so the tree has the shape the expression parser would give.
fn join(mut operands: Vec<TagExpr>, make: fn(Vec<TagExpr>) -> TagExpr) -> TagExpr {
    if operands.len() == 1
        && let Some(only) = operands.pop()
    {
        return only;
    }
    make(operands)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(t: &str) -> TagExpr {
        TagExpr::Tag(t.to_owned())
    }
    fn not(e: TagExpr) -> TagExpr {
        TagExpr::Not(Box::new(e))
    }
    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Parse one preset named "p" with this tagQuery and strategy "or"; returns its expression or the warnings.
    fn query(tag_query: &str) -> Result<TagExpr, Vec<String>> {
        let text = format!(r#"{{"presets": {{"p": {{"name": "p", "strategy": "or", "tagQuery": {tag_query}}}}}}}"#);
        let (presets, warnings) = parse_presets(&text, "presets.json");
        match presets.get("p") {
            Some(Preset { filter: TagFilter::Expr(e), .. }) if warnings.is_empty() => Ok(e.clone()),
            _ => Err(warnings),
        }
    }

    fn rejected(tag_query: &str) -> String {
        match query(tag_query) {
            Err(mut warnings) if warnings.len() == 1 => warnings.remove(0),
            other => panic!("{tag_query} gave {other:?}"),
        }
    }

    #[test]
    fn a_file_as_1mcp_writes_it() {
        let text = r#"{
          "presets": {
            "dev": {
              "name": "dev",
              "description": "Development servers",
              "strategy": "or",
              "tagQuery": {"$or": [{"tag": "web"}, {"tag": "api"}]},
              "created": "2025-01-01T00:00:00.000Z",
              "lastModified": "2025-01-02T00:00:00.000Z"
            },
            "secure-prod": {
              "name": "secure-prod",
              "strategy": "advanced",
              "tagQuery": {"$and": [{"tag": "prod"}, {"$not": {"tag": "test"}}]},
              "created": "2025-01-01T00:00:00.000Z",
              "lastModified": "2025-01-01T00:00:00.000Z"
            }
          },
          "version": "1.0.0"
        }"#;
        let (presets, warnings) = parse_presets(text, "presets.json");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(presets.len(), 2);
        let dev = presets.get("dev").unwrap();
        assert_eq!(dev.description.as_deref(), Some("Development servers"));
        assert_eq!(dev.filter, TagFilter::Expr(TagExpr::Or(vec![tag("web"), tag("api")])));
        assert!(dev.filter.admits(&tags(&["api"])));
        assert!(!dev.filter.admits(&tags(&["db"])));
        let prod = presets.get("secure-prod").unwrap();
        assert_eq!(prod.description, None);
        assert!(prod.filter.admits(&tags(&["prod"])));
        assert!(!prod.filter.admits(&tags(&["prod", "test"])));
        assert_eq!(presets.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["dev", "secure-prod"]);
    }

    #[test]
    fn every_query_form() {
        assert_eq!(query(r#"{"tag": "Web"}"#), Ok(tag("web")));
        assert_eq!(query(r#"{"$or": [{"tag": "a"}, {"tag": "b"}]}"#), Ok(TagExpr::Or(vec![tag("a"), tag("b")])));
        assert_eq!(query(r#"{"$and": [{"tag": "a"}, {"tag": "b"}]}"#), Ok(TagExpr::And(vec![tag("a"), tag("b")])));
        assert_eq!(query(r#"{"$not": {"tag": "a"}}"#), Ok(not(tag("a"))));
        assert_eq!(query(r#"{"$in": ["a", "B", "a"]}"#), Ok(TagExpr::Or(vec![tag("a"), tag("b")])));
        assert_eq!(query(r#"{"tag": {"$in": ["a", "b"]}}"#), Ok(TagExpr::Or(vec![tag("a"), tag("b")])));
        assert_eq!(query(r#"{"tag": {"$not": "a"}}"#), Ok(not(tag("a"))));
        assert_eq!(query(r#"{"$advanced": "(web,api)+!test"}"#), {
            Ok(TagExpr::And(vec![TagExpr::Or(vec![tag("web"), tag("api")]), not(tag("test"))]))
        });
        // One-element groups are the element itself, as the expression parser would build them.
        assert_eq!(query(r#"{"$or": [{"tag": "a"}]}"#), Ok(tag("a")));
        assert_eq!(query(r#"{"tag": {"$in": ["a"]}}"#), Ok(tag("a")));
    }

    #[test]
    fn several_keys_in_one_object_are_anded() {
        let e = query(r#"{"tag": "a", "$not": {"tag": "b"}}"#).unwrap();
        assert!(e.admits(&tags(&["a"])));
        assert!(!e.admits(&tags(&["a", "b"])));
        assert!(!e.admits(&tags(&["c"])));
        let e = query(r#"{"tag": {"$in": ["a", "b"], "$not": "c"}}"#).unwrap();
        assert!(e.admits(&tags(&["b"])));
        assert!(!e.admits(&tags(&["b", "c"])));
    }

    #[test]
    fn nested_queries_evaluate() {
        let e = query(r#"{"$or": [{"$and": [{"tag": "a"}, {"tag": "b"}]}, {"$not": {"$in": ["x", "y"]}}]}"#).unwrap();
        assert!(e.admits(&tags(&["a", "b", "x"])));
        assert!(!e.admits(&tags(&["a", "x"])));
        assert!(e.admits(&tags(&["a"])));
        assert!(!e.admits(&tags(&["y"])));
    }

    #[test]
    fn strategy_does_not_change_what_is_admitted() {
        for strategy in ["or", "and", "advanced"] {
            let text = format!(
                r#"{{"presets": {{"p": {{"strategy": "{strategy}", "tagQuery": {{"$or": [{{"tag": "a"}}, {{"tag": "b"}}]}}}},
                               "q": {{"strategy": "{strategy}", "tagQuery": {{"$advanced": "a+b"}}}}}}}}"#
            );
            let (presets, warnings) = parse_presets(&text, "presets.json");
            assert!(warnings.is_empty(), "{strategy}: {warnings:?}");
            assert!(presets.get("p").unwrap().filter.admits(&tags(&["a"])), "{strategy}");
            assert!(!presets.get("q").unwrap().filter.admits(&tags(&["a"])), "{strategy}");
            assert!(presets.get("q").unwrap().filter.admits(&tags(&["a", "b"])), "{strategy}");
        }
    }

    #[test]
    fn odd_strategy_is_kept_with_a_warning() {
        let text = r#"{"presets": {"p": {"strategy": "any", "tagQuery": {"tag": "a"}},
                                    "q": {"tagQuery": {"tag": "b"}}}}"#;
        let (presets, mut warnings) = parse_presets(text, "presets.json");
        assert_eq!(presets.len(), 2);
        warnings.sort();
        assert_eq!(
            warnings,
            [
                "presets.json: preset 'p': strategy \"any\" is not one of \"or\", \"and\", \"advanced\"; \
                 the tagQuery alone decides what it admits",
                "presets.json: preset 'q': no \"strategy\"; the tagQuery alone decides what it admits",
            ]
        );
    }

    #[test]
    fn invalid_presets_are_skipped_with_a_warning_naming_them() {
        let text = r#"{"presets": {
            "good": {"strategy": "or", "tagQuery": {"tag": "a"}},
            "no-query": {"strategy": "or"},
            "bad-op": {"strategy": "or", "tagQuery": {"$nor": [{"tag": "a"}]}},
            "bad-expr": {"strategy": "advanced", "tagQuery": {"$advanced": "web+api)"}},
            "not-object": 3
        }}"#;
        let (presets, mut warnings) = parse_presets(text, "/cfg/presets.json");
        assert_eq!(presets.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["good"]);
        // serde_json decides the order of keys; the set of warnings is what matters.
        warnings.sort();
        assert_eq!(
            warnings,
            [
                "/cfg/presets.json: preset 'bad-expr' skipped: tagQuery.$advanced: unexpected ')' at position 7",
                "/cfg/presets.json: preset 'bad-op' skipped: tagQuery: unknown key '$nor'",
                "/cfg/presets.json: preset 'no-query' skipped: missing \"tagQuery\"",
                "/cfg/presets.json: preset 'not-object' skipped: expected an object",
            ]
        );
    }

    #[test]
    fn malformed_queries_name_the_offending_path() {
        assert_eq!(rejected(r#"{}"#), "presets.json: preset 'p' skipped: tagQuery: empty query admits nothing");
        assert_eq!(rejected(r#"[]"#), "presets.json: preset 'p' skipped: tagQuery: expected an object, got an array");
        assert_eq!(rejected(r#"{"$or": []}"#), "presets.json: preset 'p' skipped: tagQuery.$or: empty array");
        assert_eq!(rejected(r#"{"$and": {"tag": "a"}}"#), {
            "presets.json: preset 'p' skipped: tagQuery.$and: expected an array, got an object"
        });
        assert_eq!(rejected(r#"{"$or": [{"tag": "a"}, {"tag": 3}]}"#), {
            "presets.json: preset 'p' skipped: tagQuery.$or[1].tag: expected a string or an object, got a number"
        });
        assert_eq!(rejected(r#"{"$in": ["a", null]}"#), {
            "presets.json: preset 'p' skipped: tagQuery.$in[1]: expected a string, got null"
        });
        assert_eq!(rejected(r#"{"tag": "  "}"#), "presets.json: preset 'p' skipped: tagQuery.tag: empty tag");
        assert_eq!(rejected(r#"{"tag": {"$eq": "a"}}"#), {
            "presets.json: preset 'p' skipped: tagQuery.tag: unknown operator '$eq'"
        });
        assert_eq!(rejected(r#"{"tag": {"$not": {"tag": "a"}}}"#), {
            "presets.json: preset 'p' skipped: tagQuery.tag.$not: expected a string, got an object"
        });
        assert_eq!(rejected(r#"{"$not": "a"}"#), {
            "presets.json: preset 'p' skipped: tagQuery.$not: expected an object, got a string"
        });
        assert_eq!(rejected(r#"{"$advanced": ["a"]}"#), {
            "presets.json: preset 'p' skipped: tagQuery.$advanced: expected a string, got an array"
        });
    }

    #[test]
    fn nesting_is_bounded() {
        let nest = |levels: usize| format!("{}{{\"tag\": \"a\"}}{}", "{\"$not\": ".repeat(levels), "}".repeat(levels));
        assert!(query(&nest(MAX_DEPTH)).is_ok());
        let warning = rejected(&nest(MAX_DEPTH + 1));
        assert!(warning.ends_with("nested more than 64 levels deep"), "{warning}");
    }

    #[test]
    fn invalid_json_gives_one_warning_with_line_and_column() {
        let (presets, warnings) = parse_presets("{\n  \"presets\": {,}\n}", "presets.json");
        assert!(presets.is_empty());
        assert_eq!(
            warnings,
            ["presets.json: invalid JSON: key must be a string at line 2 column 15; no presets loaded"]
        );
        let (presets, warnings) = parse_presets("", "presets.json");
        assert!(presets.is_empty());
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("line 1 column 0"), "{warnings:?}");
    }

    #[test]
    fn odd_top_level_shapes() {
        assert_eq!(parse_presets("{}", "f"), (Presets::default(), vec![]));
        assert_eq!(parse_presets(r#"{"version": "1.0.0", "presets": null}"#, "f"), (Presets::default(), vec![]));
        let (presets, warnings) = parse_presets("[1]", "f");
        assert!(presets.is_empty());
        assert_eq!(warnings, ["f: expected a JSON object at the top level; no presets loaded"]);
        let (presets, warnings) = parse_presets(r#"{"presets": []}"#, "f");
        assert!(presets.is_empty());
        assert_eq!(warnings, ["f: \"presets\" must be an object; no presets loaded"]);
    }

    #[test]
    fn lookup_is_case_sensitive_by_key() {
        let text = r#"{"presets": {"Dev": {"name": "other", "strategy": "or", "tagQuery": {"tag": "a"}}}}"#;
        let (presets, warnings) = parse_presets(text, "f");
        assert!(presets.get("Dev").is_some());
        assert!(presets.get("dev").is_none());
        assert!(presets.get("other").is_none());
        assert_eq!(presets.get("Dev").unwrap().name, "Dev");
        assert_eq!(warnings, ["f: preset 'Dev': \"name\" is 'other' but clients select the preset by its key 'Dev'"]);
    }

    #[test]
    fn description_must_be_a_string() {
        let text = r#"{"presets": {"p": {"description": 7, "strategy": "or", "tagQuery": {"tag": "a"}}}}"#;
        let (presets, warnings) = parse_presets(text, "f");
        assert_eq!(presets.get("p").unwrap().description, None);
        assert_eq!(warnings, ["f: preset 'p': \"description\" is not a string; ignored"]);
    }

    #[test]
    fn presets_collect_from_an_iterator() {
        let presets: Presets = [Preset { name: "x".into(), description: None, filter: TagFilter::Any(tags(&["a"])) }]
            .into_iter()
            .collect();
        assert_eq!(presets.get("x").map(|p| &p.filter), Some(&TagFilter::Any(tags(&["a"]))));
    }
}
