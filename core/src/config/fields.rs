//! Typed reads of the keys of one JSON object (a server entry or `serverDefaults`). A key of the
//! wrong type becomes an error naming the server, the field, what was expected and what was
//! found, and reads as absent so the walk can go on and report every other problem too.

use super::diagnostics::Diagnostics;
use super::env::EnvSpec;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// How a JSON value is described in "found ..." messages. Never the value itself: it may be a
/// secret (a token in `env` or `headers`).
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.as_u64().is_some() => "a number",
        Value::Number(n) if n.as_i64().is_some() => "a negative number",
        Value::Number(_) => "a fractional number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The keys of one object, and who they belong to for messages.
pub(super) struct Fields<'a> {
    obj: &'a Map<String, Value>,
    server: Option<&'a str>,
    /// Prepended to field names (`"serverDefaults."`), so errors outside a server still say where.
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    /// The keys of server `name`.
    pub fn server(name: &'a str, obj: &'a Map<String, Value>) -> Self {
        Fields { obj, server: Some(name), prefix: "" }
    }

    /// The keys of `serverDefaults`.
    pub fn defaults(obj: &'a Map<String, Value>) -> Self {
        Fields { obj, server: None, prefix: "serverDefaults." }
    }

    /// The server these keys belong to, if any.
    pub fn server_name(&self) -> Option<&'a str> {
        self.server
    }

    /// Whether `key` is present at all (whatever its type).
    pub fn has(&self, key: &str) -> bool {
        self.obj.contains_key(key)
    }

    /// Keys present, in the map's order.
    pub fn keys(&self) -> impl Iterator<Item = &'a String> + use<'a> {
        self.obj.keys()
    }

    /// The field name used in messages for `key` (with `suffix`, e.g. `[2]` or `.NAME`).
    pub fn field(&self, key: &str, suffix: &str) -> String {
        format!("{}{key}{suffix}", self.prefix)
    }

    /// Records an error about `key`.
    pub fn error(&self, d: &mut Diagnostics<'_>, key: &str, suffix: &str, message: impl Into<String>) {
        d.error(self.server, Some(&self.field(key, suffix)), message);
    }

    /// Records a warning about `key`.
    pub fn warn(&self, d: &mut Diagnostics<'_>, key: &str, message: impl Into<String>) {
        d.warn(self.server, Some(&self.field(key, "")), message);
    }

    fn mismatch(&self, d: &mut Diagnostics<'_>, key: &str, suffix: &str, expected: &str, found: &Value) {
        self.error(d, key, suffix, format!("expected {expected}, found {}", kind(found)));
    }

    /// A string.
    pub fn string(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<String> {
        match self.obj.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.mismatch(d, key, "", "a string", other);
                None
            }
        }
    }

    /// `true` or `false`.
    pub fn bool(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<bool> {
        match self.obj.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.mismatch(d, key, "", "a boolean", other);
                None
            }
        }
    }

    /// A duration in milliseconds: a non-negative integer.
    pub fn millis(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<u64> {
        let value = self.obj.get(key)?;
        let ms = value.as_u64();
        if ms.is_none() {
            self.mismatch(d, key, "", "a non-negative integer (milliseconds)", value);
        }
        ms
    }

    /// A count that fits in `u32`.
    pub fn count(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<u32> {
        let value = self.obj.get(key)?;
        match value.as_u64().map(u32::try_from) {
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                self.error(
                    d,
                    key,
                    "",
                    format!("expected an integer no greater than {}, found a larger number", u32::MAX),
                );
                None
            }
            None => {
                self.mismatch(d, key, "", "a non-negative integer", value);
                None
            }
        }
    }

    /// An object, as it is (its keys are read by the caller).
    pub fn object(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Map<String, Value>> {
        match self.obj.get(key)? {
            Value::Object(map) => Some(map.clone()),
            other => {
                self.mismatch(d, key, "", "an object", other);
                None
            }
        }
    }

    /// An array of strings; a bad element is reported as `key[i]`.
    pub fn strings(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Vec<String>> {
        let value = self.obj.get(key)?;
        let Value::Array(items) = value else {
            self.mismatch(d, key, "", "an array of strings", value);
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                other => {
                    self.mismatch(d, key, &format!("[{i}]"), "a string", other);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// An object whose values are strings; a bad value is reported as `key.NAME`.
    pub fn string_map(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<BTreeMap<String, String>> {
        let value = self.obj.get(key)?;
        let Value::Object(entries) = value else {
            self.mismatch(d, key, "", "an object with string values", value);
            return None;
        };
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (name, item) in entries {
            match item {
                Value::String(s) => {
                    out.insert(name.clone(), s.clone());
                }
                other => {
                    self.mismatch(d, key, &format!(".{name}"), "a string", other);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// `env`: an object (numbers and booleans are stringified, as a shell would see them) or
    /// an array of `"NAME=value"` / `"NAME"` strings.
    pub fn env(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<EnvSpec> {
        match self.obj.get(key)? {
            Value::Object(entries) => self.env_map(d, key, entries).map(EnvSpec::Map),
            Value::Array(_) => self.env_list(d, key).map(EnvSpec::List),
            other => {
                self.mismatch(d, key, "", "an object or an array of \"NAME=value\" strings", other);
                None
            }
        }
    }

    fn env_map(
        &self,
        d: &mut Diagnostics<'_>,
        key: &str,
        entries: &Map<String, Value>,
    ) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (name, item) in entries {
            let text = match item {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    self.mismatch(d, key, &format!(".{name}"), "a string, number or boolean", other);
                    ok = false;
                    continue;
                }
            };
            if name.is_empty() || name.contains('=') {
                self.error(d, key, &format!(".{name}"), "a variable name must be non-empty and contain no \"=\"");
                ok = false;
                continue;
            }
            out.insert(name.clone(), text);
        }
        ok.then_some(out)
    }

    fn env_list(&self, d: &mut Diagnostics<'_>, key: &str) -> Option<Vec<String>> {
        let entries = self.strings(d, key)?;
        let mut ok = true;
        for (i, entry) in entries.iter().enumerate() {
            if entry.is_empty() || entry.starts_with('=') {
                self.error(
                    d,
                    key,
                    &format!("[{i}]"),
                    "expected \"NAME=value\" or \"NAME\", found an entry without a name",
                );
                ok = false;
            }
        }
        ok.then_some(entries)
    }

    /// Warns about every key not in `known`; unknown keys never make a file invalid, so a
    /// config written for a newer 1MCP still loads.
    pub fn warn_unknown(&self, d: &mut Diagnostics<'_>, known: &[&str]) {
        for key in self.obj.keys().filter(|k| !known.contains(&k.as_str())) {
            self.warn(d, key, "unknown key, ignored");
        }
    }
}
