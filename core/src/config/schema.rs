//! A JSON Schema (draft 2020-12) of `mcp.json`, made from the parser's own tables: the key table
//! ([`super::keys::SERVER_KEYS`]: names, meanings, defaults, which keys `serverDefaults` may
//! hold) and the types below, which a test keeps complete. Editors use it to complete and check
//! the file; the copy in the repository (`schema/mcp.schema.json`) is kept equal to it by a test
//! and printed by `1mcp config schema`.
//!
//! The schema describes what the daemon takes; it is a guide, not the judge. Unknown keys are
//! allowed where the parser only warns of them (1MCP files carry keys 1mcp does not use), and the
//! parser's own checks (a server needs `command` or `url`, `${VAR}` references) stay its own.

use super::keys::{KeyScope, SERVER_KEYS, ServerKey};
use serde_json::{Map, Value, json};

/// The schema's dialect.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// Milliseconds, as every time in `mcp.json` is.
fn millis() -> Value {
    json!({"type": "integer", "minimum": 0})
}

fn strings() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn string_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

/// The type of a server entry's key `name`; `None` for a key this table does not know (the
/// test `every_key_has_a_type` keeps that from happening).
fn key_type(name: &str) -> Option<Value> {
    let schema = match name {
        "command" | "cwd" | "instructionOverride" => json!({"type": "string"}),
        "args" | "envFilter" | "tags" | "disabledTools" => strings(),
        "env" => json!({"oneOf": [string_map(), strings()]}),
        "headers" | "toolDescriptionOverrides" => string_map(),
        "inheritParentEnv" | "disabled" | "enabled" | "restartOnExit" | "prefix" => json!({"type": "boolean"}),
        "stderr" => json!({"type": "string"}),
        "url" => json!({"type": "string", "pattern": "^https?://"}),
        "type" | "transport" => json!({"type": "string", "enum": ["stdio", "http", "streamableHttp", "sse"]}),
        "oauth" => json!({
            "type": "object",
            "properties": {
                "clientId": {"type": "string"},
                "clientSecret": {"type": "string"},
                "scopes": strings(),
                "autoRegister": {"type": "boolean", "default": true},
                "redirectUrl": {"type": "string", "pattern": "^https?://"},
                "clientMetadataUrl": {"type": "string", "pattern": "^https://"},
            },
        }),
        "timeout" | "connectionTimeout" | "requestTimeout" | "maxTotalTimeout" | "restartDelay" | "maxRestarts" => {
            millis()
        }
        "perSession" => json!({"oneOf": [
            {"type": "boolean"},
            {"type": "object", "properties": {
                "maxInstances": {"type": "integer", "minimum": 1},
                "idleTimeout": millis(),
            }},
        ]}),
        "protocol" => json!({"type": "string", "anyOf": [
            {"enum": ["auto", "legacy", "2026-07-28"]},
            {"pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
        ]}),
        "template" => json!({"type": "object"}),
        _ => return None,
    };
    Some(schema)
}

/// `key`'s property: its type, with its meaning, default and scope as the description.
fn property(key: &ServerKey) -> Value {
    let mut schema = key_type(key.name).unwrap_or_else(|| json!({}));
    let scope = match key.scope {
        KeyScope::Any => "",
        KeyScope::Stdio => " (stdio servers)",
        KeyScope::Http => " (HTTP servers)",
    };
    let description = format!("{}{scope}. Default: {}.", capitalized(key.meaning), key.default);
    if let Value::Object(map) = &mut schema {
        map.insert("description".into(), description.into());
    }
    schema
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// The properties of the keys `keep` admits.
fn properties(keep: impl Fn(&ServerKey) -> bool) -> Map<String, Value> {
    SERVER_KEYS.iter().filter(|k| keep(k)).map(|k| (k.name.to_owned(), property(k))).collect()
}

/// The schema of `mcp.json`.
pub fn mcp_json_schema() -> Value {
    json!({
        "$schema": DIALECT,
        "title": "1mcp configuration (mcp.json)",
        "description": "The servers 1mcp runs and merges (1MCP's format). `${VAR}` in strings is \
            replaced from the environment and the .env file beside mcp.json. `1mcp config keys` \
            explains every key; `1mcp config check` checks a file as the daemon would.",
        "type": "object",
        "required": ["mcpServers"],
        "properties": {
            "$schema": {"type": "string", "description": "This schema's location, for editors."},
            "version": {"type": "string"},
            "mcpServers": {
                "type": "object",
                "description": "The servers, by name (the name prefixes their tools: <name>_1mcp_<tool>).",
                "propertyNames": {"not": {"pattern": "_1mcp_"}},
                "additionalProperties": {"$ref": "#/$defs/server"},
            },
            "serverDefaults": {
                "type": "object",
                "description": "Settings every server takes unless it sets them itself.",
                "properties": properties(|k| k.in_defaults),
            },
            "auth": {
                "type": "object",
                "description": "An external identity provider whose JWT access tokens clients present (the \
                    same as --auth-issuer, --auth-audience, --auth-scope-claim; a flag wins).",
                "properties": {
                    "issuer": {"type": "string", "minLength": 1},
                    "audience": {"type": "string", "minLength": 1},
                    "scopeClaim": {"type": "string", "minLength": 1},
                },
                "dependentRequired": {"issuer": ["audience"], "audience": ["issuer"]},
            },
        },
        "$defs": {
            "server": {
                "type": "object",
                "description": "One server: a child process (`command`) or a remote server (`url`).",
                "properties": properties(|_| true),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_a_type() {
        let untyped: Vec<&str> = SERVER_KEYS.iter().map(|k| k.name).filter(|name| key_type(name).is_none()).collect();
        assert!(untyped.is_empty(), "keys without a type in the schema: {untyped:?}");
    }

    #[test]
    fn the_schema_names_every_key_and_only_defaults_keys_in_server_defaults() {
        let schema = mcp_json_schema();
        let server = &schema["$defs"]["server"]["properties"];
        for key in SERVER_KEYS {
            assert!(server[key.name]["description"].is_string(), "{} is missing", key.name);
            let in_defaults = schema["properties"]["serverDefaults"]["properties"].get(key.name).is_some();
            assert_eq!(in_defaults, key.in_defaults, "{}", key.name);
        }
        assert_eq!(
            server["requestTimeout"]["description"],
            "Ms per request; progress notifications restart it. Default: 60000."
        );
        assert_eq!(schema["$schema"], DIALECT);
    }

    /// The copy in the repository is what the code makes (`1mcp config schema` prints it).
    #[test]
    fn the_published_schema_is_the_generated_one() {
        let published: Value =
            serde_json::from_str(include_str!("../../../schema/mcp.schema.json")).unwrap_or(Value::Null);
        assert!(
            published == mcp_json_schema(),
            "schema/mcp.schema.json is stale: run `cargo run -q -p onemcp-cli -- config schema > schema/mcp.schema.json`"
        );
    }
}
