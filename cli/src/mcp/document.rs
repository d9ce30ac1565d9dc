//! mcp.json as a tree that keeps the order of every object's keys, so an edit rewrites only
//! what it changes: `serde_json::Value` sorts keys (its `preserve_order` feature would keep
//! them, but turning it on changes the key order of the simulator's traces workspace-wide).

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A JSON value whose objects keep their keys in file order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as serde_json holds it.
    Number(serde_json::Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, keys in order.
    Object(Object),
}

/// A JSON object: its members in order, each key once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Object(Vec<(String, Json)>);

impl Object {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, to change it.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Json> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`: in its place if present, else last. Returns the value it replaced.
    pub fn insert(&mut self, key: &str, value: Json) -> Option<Json> {
        match self.get_mut(key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.0.push((key.to_owned(), value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Json> {
        let at = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.remove(at).1)
    }

    /// The members in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl FromIterator<(String, Json)> for Object {
    fn from_iter<I: IntoIterator<Item = (String, Json)>>(members: I) -> Self {
        let mut object = Object::default();
        for (key, value) in members {
            object.insert(&key, value);
        }
        object
    }
}

impl Json {
    /// Parses JSON text. A key given twice keeps its first place and its last value, as the
    /// daemon's parser reads it (it warns about such keys).
    pub fn parse(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(text))
    }

    /// The text of the document, indented with `indent` and ended with a newline if `newline`.
    pub fn to_text(&self, indent: &str, newline: bool) -> String {
        let mut bytes = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
        // Writing into memory a tree of plain values cannot fail.
        if self.serialize(&mut serializer).is_err() {
            return String::new();
        }
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        if newline {
            text.push('\n');
        }
        text
    }

    /// A string value.
    pub fn string(text: &str) -> Json {
        Json::String(text.to_owned())
    }

    /// An array of strings.
    pub fn strings<S: AsRef<str>>(items: &[S]) -> Json {
        Json::Array(items.iter().map(|s| Json::string(s.as_ref())).collect())
    }

    /// An object of string values, in the order given (a repeated key keeps its last value).
    pub fn string_map(pairs: &[(String, String)]) -> Json {
        Json::Object(pairs.iter().map(|(k, v)| (k.clone(), Json::string(v))).collect())
    }

    /// A number.
    pub fn number(n: u64) -> Json {
        Json::Number(n.into())
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Json::Object(object) => Some(object),
            _ => None,
        }
    }

    /// The object, if this is one, to change it.
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Json::Object(object) => Some(object),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(text) => Some(text),
            _ => None,
        }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    /// The value as compact JSON text (for messages).
    pub fn compact(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The indentation unit of `text` (the leading blanks of its first indented line), if it
/// uses one consistently made of spaces or of tabs.
pub fn indent_of(text: &str) -> Option<&str> {
    let line = text.lines().skip(1).find(|line| line.starts_with([' ', '\t']))?;
    let blank = &line[..line.len() - line.trim_start_matches([' ', '\t']).len()];
    let uniform = blank.bytes().all(|b| b == b' ') || blank.bytes().all(|b| b == b'\t');
    uniform.then_some(blank)
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(n) => n.serialize(serializer),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.0.len()))?;
                for (key, value) in &object.0 {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Json, E> {
        serde_json::Number::from_f64(v).map(Json::Number).ok_or_else(|| E::custom("a number JSON cannot hold"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::string(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut object = Object::default();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            object.insert(&key, value);
        }
        Ok(Json::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_survives_a_round_trip_at_every_depth() {
        let text = "{\n  \"z\": 1,\n  \"a\": {\n    \"y\": [\n      true,\n      null,\n      \"s\"\n    ],\n    \"b\": -2.5\n  },\n  \"m\": {}\n}\n";
        let doc = Json::parse(text).expect("valid");
        assert_eq!(doc.to_text("  ", true), text);
        let keys: Vec<&str> = doc.as_object().expect("object").iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_last_value_like_the_daemon_reads_it() {
        let doc = Json::parse(r#"{"a": 1, "b": 2, "a": 3}"#).expect("valid");
        assert_eq!(doc.compact(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn insert_keeps_the_place_of_a_present_key_and_appends_a_new_one() {
        let mut object: Object = [("x".to_owned(), Json::Null), ("y".to_owned(), Json::Null)].into_iter().collect();
        object.insert("x", Json::Bool(true));
        object.insert("w", Json::Bool(false));
        assert_eq!(object.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["x", "y", "w"]);
        assert_eq!(object.remove("y"), Some(Json::Null));
        assert_eq!(Json::Object(object).compact(), r#"{"x":true,"w":false}"#);
    }

    #[test]
    fn the_files_indentation_is_found_and_kept() {
        assert_eq!(indent_of("{\n    \"a\": 1\n}"), Some("    "));
        assert_eq!(indent_of("{\n\t\"a\": 1\n}"), Some("\t"));
        assert_eq!(indent_of("{\"a\": 1}"), None);
        assert_eq!(indent_of("{\n \t\"a\": 1\n}"), None);
        let doc = Json::parse("{\"a\": [1]}").expect("valid");
        assert_eq!(doc.to_text("\t", false), "{\n\t\"a\": [\n\t\t1\n\t]\n}");
    }

    #[test]
    fn a_byte_order_mark_and_garbage_are_told_apart() {
        assert!(Json::parse("\u{feff}{}").is_ok());
        assert!(Json::parse("{} x").is_err());
        assert!(Json::parse("{\"a\": }").is_err());
    }
}
