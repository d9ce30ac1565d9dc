//! The `requestState` 1mcp hands a stateless client when a legacy backend asks it something
//! mid-call (the bridge: the backend's `elicitation/create`, `sampling/createMessage` or
//! `roots/list` becomes an `InputRequiredResult`). The state is a reference to the parked call,
//! not the call itself: `1mcp.` then base64url of `record (u64) || round (u32) || request digest
//! (u64) || HMAC-SHA256[..16]` under a key only the hub holds. A client can neither forge a
//! reference to another client's call nor replay one: the hub also checks that the record is
//! parked at that round, that the retry repeats the original request (its digest) and that the
//! same principal sends it.

use crate::cursor::{self, CursorKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// What marks a `requestState` as 1mcp's own; any other is a backend's, passed through.
const PREFIX: &str = "1mcp.";
/// Record, round and digest.
const BODY_LEN: usize = 8 + 4 + 8;
/// Longest state text read; ours are about 60 characters.
const MAX_LEN: usize = 256;

/// What a sealed state refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// The stateless request's record number.
    pub(crate) record: u64,
    /// Which round of questions it answers (a state is good for one retry).
    pub(crate) round: u32,
    /// The digest of the request it continues ([`digest`]).
    pub(crate) digest: u64,
}

/// Why a state was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Not well formed, or too long.
    Malformed,
    /// The signature does not match: altered, or not from this daemon.
    Tampered,
}

/// Whether `text` claims to be one of 1mcp's states (then it must verify; a backend's own
/// state has no such prefix).
pub(crate) fn is_ours(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// Seal a reference.
pub(crate) fn seal(key: &CursorKey, state: Sealed) -> String {
    let mut bytes = Vec::with_capacity(BODY_LEN + 16);
    bytes.extend_from_slice(&state.record.to_be_bytes());
    bytes.extend_from_slice(&state.round.to_be_bytes());
    bytes.extend_from_slice(&state.digest.to_be_bytes());
    let tag = cursor::tag(key, &bytes);
    bytes.extend_from_slice(&tag);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Verify and read a state.
pub(crate) fn open(key: &CursorKey, text: &str) -> Result<Sealed, Invalid> {
    let encoded = text.strip_prefix(PREFIX).filter(|_| text.len() <= MAX_LEN).ok_or(Invalid::Malformed)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| Invalid::Malformed)?;
    if bytes.len() <= BODY_LEN {
        return Err(Invalid::Malformed);
    }
    let (body, tag) = bytes.split_at(BODY_LEN);
    if !cursor::verify(key, body, tag) {
        return Err(Invalid::Tampered);
    }
    let (record, rest) = body.split_first_chunk::<8>().ok_or(Invalid::Malformed)?;
    let (round, rest) = rest.split_first_chunk::<4>().ok_or(Invalid::Malformed)?;
    let digest = rest.first_chunk::<8>().ok_or(Invalid::Malformed)?;
    Ok(Sealed {
        record: u64::from_be_bytes(*record),
        round: u32::from_be_bytes(*round),
        digest: u64::from_be_bytes(*digest),
    })
}

/// What identifies a request across its retries: the method and its params without what a
/// retry adds or may change (`inputResponses`, `requestState`, `_meta`).
pub(crate) fn digest(method: &str, params: Option<&Map<String, Value>>) -> u64 {
    let mut kept = params.cloned().unwrap_or_default();
    for key in ["inputResponses", "requestState", "_meta"] {
        kept.remove(key);
    }
    // serde_json's Map is ordered by key, so the text is canonical for equal params.
    cursor::fingerprint(format!("{method}\n{}", Value::Object(kept)).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(byte: u8) -> CursorKey {
        CursorKey::new([byte; 32])
    }

    fn state() -> Sealed {
        Sealed { record: 42, round: 3, digest: 0xdead_beef }
    }

    #[test]
    fn a_sealed_state_opens_to_what_was_sealed() {
        let text = seal(&key(1), state());
        assert!(is_ours(&text) && text.len() < MAX_LEN, "{text}");
        assert_eq!(open(&key(1), &text), Ok(state()));
    }

    #[test]
    fn altered_foreign_or_malformed_states_are_refused() {
        let text = seal(&key(1), state());
        assert_eq!(open(&key(2), &text), Err(Invalid::Tampered), "another daemon's key");
        assert!(open(&key(1), &format!("{text}-TAMPERED")).is_err(), "what the official suite sends");
        let mut bytes = URL_SAFE_NO_PAD.decode(&text[PREFIX.len()..]).expect("base64");
        for at in 0..bytes.len() {
            bytes[at] ^= 1;
            let altered = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(open(&key(1), &altered).is_err(), "byte {at} flipped");
            bytes[at] ^= 1;
        }
        for text in ["", "1mcp.", "1mcp.!!", "state-of-a-backend", &format!("1mcp.{}", "A".repeat(400))] {
            assert!(open(&key(1), text).is_err(), "{text}");
        }
        assert!(!is_ours("eyJzdGF0ZSI6MX0"), "a backend's state is not ours");
    }

    #[test]
    fn a_retry_has_the_digest_of_the_request_it_repeats() {
        let first = json!({"name": "t", "arguments": {"a": 1, "b": 2}, "_meta": {"x": 1}});
        let retry =
            json!({"arguments": {"b": 2, "a": 1}, "name": "t", "inputResponses": {"k": {}}, "requestState": "s"});
        let other = json!({"name": "t", "arguments": {"a": 2, "b": 2}});
        let d = |v: &Value| digest("tools/call", v.as_object());
        assert_eq!(d(&first), d(&retry));
        assert_ne!(d(&first), d(&other));
        assert_ne!(digest("prompts/get", first.as_object()), d(&first));
    }
}
