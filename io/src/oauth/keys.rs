//! The operator secret and what is signed with it: access tokens, the operator's one-time
//! links and cookie, consent requests and their CSRF tokens. One 32-byte secret in
//! `<config-dir>/operator.secret` (mode 0600); every use signs `purpose NUL payload` with
//! HMAC-SHA256, so a value made for one purpose never verifies as another. Daemons sharing
//! the config directory share the secret, so each accepts what another signed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The secret's file name in the config directory.
pub const SECRET_FILE: &str = "operator.secret";

/// What a signature is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Purpose {
    AccessToken,
    OperatorLink,
    OperatorCookie,
    ConsentRequest,
    Csrf,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::AccessToken => b"1mcp access token",
            Purpose::OperatorLink => b"1mcp operator link",
            Purpose::OperatorCookie => b"1mcp operator cookie",
            Purpose::ConsentRequest => b"1mcp consent request",
            Purpose::Csrf => b"1mcp csrf",
        }
    }
}

/// The HMAC key made from the operator secret.
pub struct Keys {
    key: hmac::Key,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// The keys of config directory `dir`, creating its secret (0600) on first use.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Keys> {
        let path = dir.join(SECRET_FILE);
        match crate::files::read_text_bounded(&path, 1024) {
            Ok(text) => Keys::from_hex(text.trim()).ok_or_else(|| {
                let why = format!("{} is not 64 hex digits; delete it to make a new one", path.display());
                std::io::Error::new(std::io::ErrorKind::InvalidData, why)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
                let text = crate::tokens::hex(&secret);
                // Two daemons starting at once: the second rename wins, and both re-read it.
                crate::files::write_private(&path, text.as_bytes())?;
                let text = crate::files::read_text_bounded(&path, 1024)?;
                Keys::from_hex(text.trim()).ok_or_else(|| std::io::Error::other("operator secret unreadable"))
            }
            Err(e) => Err(e),
        }
    }

    fn from_hex(text: &str) -> Option<Keys> {
        if text.len() != 64 {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..32).map(|i| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()).collect();
        Some(Keys { key: hmac::Key::new(hmac::HMAC_SHA256, &bytes?) })
    }

    /// Keys from raw bytes (tests).
    #[cfg(test)]
    pub(crate) fn from_bytes(secret: &[u8]) -> Keys {
        Keys { key: hmac::Key::new(hmac::HMAC_SHA256, secret) }
    }

    fn tag(&self, purpose: Purpose, payload: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(purpose.label());
        context.update(&[0]);
        context.update(payload);
        context.sign()
    }

    /// `payload` as `base64url(json).base64url(mac)`.
    pub(crate) fn seal<T: Serialize>(&self, purpose: Purpose, payload: &T) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(payload).unwrap_or_default());
        let mac = URL_SAFE_NO_PAD.encode(self.tag(purpose, body.as_bytes()));
        format!("{body}.{mac}")
    }

    /// The payload of a value [`Keys::seal`]ed for `purpose`, if its signature holds
    /// (checked in constant time before anything is parsed).
    pub(crate) fn open<T: DeserializeOwned>(&self, purpose: Purpose, sealed: &str) -> Option<T> {
        let (body, mac) = sealed.split_once('.')?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let mut message = Vec::with_capacity(purpose.label().len() + 1 + body.len());
        message.extend_from_slice(purpose.label());
        message.push(0);
        message.extend_from_slice(body.as_bytes());
        hmac::verify(&self.key, &message, &mac).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
    }

    /// A short MAC of `parts` for `purpose` (CSRF tokens), base64url.
    pub(crate) fn mac(&self, purpose: Purpose, parts: &[&str]) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(purpose, parts.join("\u{0}").as_bytes()))
    }

    /// Whether `mac` is [`Keys::mac`] of `parts` (constant time).
    pub(crate) fn mac_matches(&self, purpose: Purpose, parts: &[&str], mac: &str) -> bool {
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else { return false };
        let mut message = Vec::new();
        message.extend_from_slice(purpose.label());
        message.push(0);
        message.extend_from_slice(parts.join("\u{0}").as_bytes());
        hmac::verify(&self.key, &message, &mac).is_ok()
    }
}

/// `n` random bytes as hex (ids, nonces, secrets).
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // getrandom fails only without an entropy source, which the daemon checked at start.
    if getrandom::fill(&mut bytes).is_err() {
        tracing::error!("no entropy: refusing to make a secret");
        return String::new();
    }
    crate::tokens::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose_and_untouched() {
        let keys = Keys::from_bytes(b"k1");
        let claims = Claims { sub: "a".into(), exp: 9 };
        let sealed = keys.seal(Purpose::AccessToken, &claims);
        assert_eq!(keys.open::<Claims>(Purpose::AccessToken, &sealed), Some(claims));
        assert_eq!(keys.open::<Claims>(Purpose::OperatorCookie, &sealed), None, "another purpose");
        assert_eq!(Keys::from_bytes(b"k2").open::<Claims>(Purpose::AccessToken, &sealed), None, "another key");
        let (body, mac) = sealed.split_once('.').expect("two parts");
        let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"a","exp":99999}"#);
        assert_eq!(keys.open::<Claims>(Purpose::AccessToken, &format!("{forged}.{mac}")), None, "tampered body");
        assert_eq!(keys.open::<Claims>(Purpose::AccessToken, &format!("{body}.AAAA")), None, "tampered mac");
        assert_eq!(keys.open::<Claims>(Purpose::AccessToken, "garbage"), None);
        let mac = keys.mac(Purpose::Csrf, &["sid", "req"]);
        assert!(keys.mac_matches(Purpose::Csrf, &["sid", "req"], &mac));
        assert!(!keys.mac_matches(Purpose::Csrf, &["sid2", "req"], &mac));
        assert!(!keys.mac_matches(Purpose::Csrf, &["sid", "req"], "!!"));
    }

    #[test]
    fn the_secret_is_made_once_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let first = Keys::load_or_create(dir.path()).expect("created");
        let sealed = first.seal(Purpose::OperatorLink, &1u8);
        let again = Keys::load_or_create(dir.path()).expect("read");
        assert_eq!(again.open::<u8>(Purpose::OperatorLink, &sealed), Some(1), "the same secret");
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(dir.path().join(SECRET_FILE), "nope").expect("write");
        assert!(Keys::load_or_create(dir.path()).is_err(), "a damaged secret is an error, not a new key");
    }
}
