//! JSON parsing that notices duplicate keys. serde_json keeps the last of two equal keys
//! silently; in a hand-edited config that hides a mistake (two `"command"`s, a server pasted
//! twice), so every duplicate is reported, as unknown keys are.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// The document, and the path (keys and indexes from the root) of every duplicated key.
pub(super) fn parse_noting_duplicates(text: &str) -> Result<(Value, Vec<Vec<String>>), serde_json::Error> {
    let found = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Walk { path: Vec::new(), found: &found }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, found.into_inner()))
}

/// Builds a [`Value`] at `path`, noting duplicate keys into `found`.
struct Walk<'a> {
    path: Vec<String>,
    found: &'a RefCell<Vec<Vec<String>>>,
}

impl Walk<'_> {
    fn child(&self, step: String) -> Self {
        let mut path = self.path.clone();
        path.push(step);
        Walk { path, found: self.found }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(format!("[{}]", items.len())))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.child(key.clone()))?;
            if object.insert(key.clone(), value).is_some() {
                self.found.borrow_mut().push(self.child(key).path);
            }
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_at_every_depth_and_the_last_value_wins_as_before() {
        let text = r#"{"a": 1, "mcpServers": {"x": {"command": "one", "command": "two"}, "x": {"args": [{"k": 1, "k": 2}]}}, "a": 2}"#;
        let (value, found) = parse_noting_duplicates(text).expect("valid JSON");
        assert_eq!(value, serde_json::from_str::<Value>(text).expect("serde_json agrees"));
        let found: Vec<String> = found.iter().map(|p| p.join(".")).collect();
        assert_eq!(found, ["mcpServers.x.command", "mcpServers.x.args.[0].k", "mcpServers.x", "a"]);
        assert!(parse_noting_duplicates("{} x").is_err(), "trailing garbage is still an error");
        assert!(parse_noting_duplicates("{\"a\": 1.5e3}").is_ok_and(|(v, _)| v["a"] == 1500.0));
    }
}
