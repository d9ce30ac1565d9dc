//! Building rmcp model values from wire-shaped JSON, so every result in the fixture reads
//! exactly like the JSON the conformance suite expects. (Macros rather than generic functions:
//! the package has no direct `serde` dependency to name `DeserializeOwned` with.)

/// Deserialises a JSON value into an rmcp model type; a mismatch is the fixture's own bug.
macro_rules! wire {
    ($type:ty, $value:expr) => {
        serde_json::from_value::<$type>($value)
            .map_err(|e| rmcp::ErrorData::internal_error(format!("fixture built bad JSON: {e}"), None))
    };
}

/// A complete result (`resultType: "complete"`, required from 2026-07-28 on) from wire JSON.
/// rmcp strips the discriminator again for peers that negotiated an older revision.
macro_rules! complete {
    ($type:ty, $value:expr) => {
        wire!($type, $crate::wire::with_complete_result_type($value))
    };
}

/// `value` with `resultType: "complete"` added.
pub fn with_complete_result_type(mut value: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(map) = &mut value {
        map.insert("resultType".to_owned(), serde_json::Value::from("complete"));
    }
    value
}
