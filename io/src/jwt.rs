//! JWT access tokens from an external identity provider (RFC 9068), verified against its JSON
//! Web Key Set: pure functions, no I/O (the key set is fetched by [`crate::idp`]).
//!
//! What is checked here: the token's shape and size, `alg` (RS256 or ES256 only: never `none`,
//! never an HMAC, never an algorithm other than the key's), `typ` (`at+jwt` or `JWT`, if
//! present), no `crit` extensions, `iss` (exactly the configured issuer), the signature, `nbf`
//! (with leeway), and the presence of `sub`, `aud` and `exp`. What the token is worth is the
//! core's decision (DESIGN.md, Authorization): the grant carries its audience and its expiry
//! (plus the leeway), and the core refuses another resource's token or an expired one.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use onemcp_core::auth::TokenGrant;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

/// Longest token considered (bytes); real access tokens are a few hundred to a few thousand.
pub(crate) const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Most keys kept from one key set.
pub(crate) const MAX_KEYS: usize = 64;
/// Most keys a signature is tried against (a token without `kid`, or a key set repeating one):
/// a forged token costs at most this many signature checks.
const MAX_TRIES: usize = 4;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub(crate) const LEEWAY_S: u64 = 60;
/// Longest principal name kept for logs.
const MAX_NAME_CHARS: usize = 128;

/// What a token must satisfy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rules {
    /// The issuer (`iss`), exactly as configured.
    pub issuer: String,
    /// The audience this server expects; only used to pick which of several `aud` values the
    /// grant names (the core compares it).
    pub audience: String,
    /// The claim holding scopes (`scope`: space-separated; an array works too). With the
    /// default `scope`, a token without it is read from `scp`.
    pub scope_claim: String,
}

/// Why a token was refused (for the log: none of these quotes the token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Rejection {
    /// Not three base64url parts of JSON, too long, or a required claim missing or mistyped.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// An algorithm other than RS256 / ES256 (`none`, HS256, ...).
    #[error("signing algorithm not accepted")]
    Algorithm,
    /// A `typ` that is not an access token's, or a `crit` header.
    #[error("not an access token (typ or crit header)")]
    Type,
    /// Another issuer's token.
    #[error("issued by another issuer")]
    Issuer,
    /// No key of the key set has its `kid` (the key set may need refetching).
    #[error("signed with an unknown key")]
    UnknownKey,
    /// The key named does not do the token's algorithm.
    #[error("the key does not match the signing algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// `nbf` is in the future (beyond the leeway).
    #[error("not valid yet (nbf)")]
    NotYetValid,
}

/// A signature algorithm this verifier accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    fn parse(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// A public key's material.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Material {
    /// RSA modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point (`04 || x || y`).
    P256(Vec<u8>),
}

/// One verification key of a key set.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Key {
    kid: Option<String>,
    /// The JWK's `alg`, if it names one: the only algorithm it may verify.
    alg: Option<String>,
    material: Material,
}

impl Key {
    fn does(&self, alg: Alg) -> bool {
        let kind_fits =
            matches!((&self.material, alg), (Material::Rsa { .. }, Alg::Rs256) | (Material::P256(_), Alg::Es256));
        kind_fits && self.alg.as_deref().is_none_or(|a| a == alg.name())
    }

    fn verify(&self, alg: Alg, message: &[u8], sig: &[u8]) -> bool {
        match (&self.material, alg) {
            (Material::Rsa { n, e }, Alg::Rs256) => {
                RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig).is_ok()
            }
            (Material::P256(point), Alg::Es256) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, sig).is_ok()
            }
            _ => false,
        }
    }

    /// A JWK as a verification key; `None` for keys this verifier does not use (encryption
    /// keys, other curves and types, malformed ones).
    fn from_jwk(jwk: &Value) -> Option<Key> {
        let text = |k: &str| jwk.get(k).and_then(Value::as_str);
        let bytes = |k: &str| text(k).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
        if text("use").is_some_and(|u| u != "sig") {
            return None;
        }
        let material = match (text("kty")?, text("crv")) {
            ("RSA", _) => {
                let (n, e) = (bytes("n")?, bytes("e")?);
                // ring refuses moduli under 2048 bits at verification; skip them up front.
                let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
                (bits >= 2048 && !e.is_empty()).then_some(Material::Rsa { n, e })?
            }
            ("EC", Some("P-256")) => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Material::P256(point)
            }
            _ => return None,
        };
        Some(Key { kid: text("kid").map(str::to_owned), alg: text("alg").map(str::to_owned), material })
    }
}

/// The usable signing keys of a JSON Web Key Set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// The RS256/ES256 signing keys of a JWKS document (`{"keys": [...]}`), at most
    /// [`MAX_KEYS`]; an error if it is not a key set.
    pub(crate) fn parse(json: &[u8]) -> Result<KeySet, &'static str> {
        let doc: Value = serde_json::from_slice(json).map_err(|_| "not JSON")?;
        let keys = doc.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
        Ok(KeySet { keys: keys.iter().filter_map(Key::from_jwk).take(MAX_KEYS).collect() })
    }

    /// How many usable keys it holds.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds no usable key.
    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verified {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `client_id`, if present.
    pub client_id: Option<String>,
    /// `aud` (a string or an array).
    pub audiences: Vec<String>,
    /// `exp`, Unix seconds.
    pub expires_at_s: u64,
    /// The scopes of the scope claim.
    pub scopes: Vec<String>,
}

impl Verified {
    /// What the core is handed: the principal is `<iss>#<sub>` (stable across refreshed tokens,
    /// so a session survives a new token of the same subject); the tags are the `tag:<name>`
    /// scopes — none means no server (a token only reaches what its scopes name, as in 1MCP,
    /// where a granted token's scopes bound its sessions); the audience is the expected one if
    /// `aud` holds it, else the first; the expiry is `exp` plus the leeway.
    pub(crate) fn grant(&self, rules: &Rules) -> TokenGrant {
        let audience = self
            .audiences
            .iter()
            .find(|a| a.trim_end_matches('/') == rules.audience.trim_end_matches('/'))
            .or(self.audiences.first())
            .cloned();
        let name = match &self.client_id {
            Some(client) if client != &self.subject => format!("{} (client {client})", self.subject),
            _ => self.subject.clone(),
        };
        let tags = self.scopes.iter().filter_map(|s| s.strip_prefix("tag:")).filter(|t| !t.is_empty());
        TokenGrant {
            id: format!("{}#{}", self.issuer, self.subject),
            name: name.chars().take(MAX_NAME_CHARS).collect(),
            tags: Some(tags.map(str::to_lowercase).collect()),
            expires_at_ms: Some(self.expires_at_s.saturating_add(LEEWAY_S).saturating_mul(1000)),
            revoked: false,
            audience,
        }
    }
}

/// Whether `token` has the shape of a JWS compact serialization (three base64url parts; the
/// first two non-empty), so it is worth handing to [`verify`] rather than to the token store.
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    let mut parts = token.split('.');
    let shaped = |p: Option<&str>, may_be_empty: bool| {
        p.is_some_and(|p| {
            (may_be_empty || !p.is_empty()) && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    token.len() <= MAX_TOKEN_BYTES
        && shaped(parts.next(), false)
        && shaped(parts.next(), false)
        && shaped(parts.next(), true)
        && parts.next().is_none()
}

fn decode_json(part: &str, what: &'static str) -> Result<serde_json::Map<String, Value>, Rejection> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| Rejection::Malformed(what))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Rejection::Malformed(what)),
    }
}

/// A NumericDate claim (RFC 7519: seconds, possibly fractional), floored.
fn seconds(claims: &serde_json::Map<String, Value>, name: &str) -> Result<Option<u64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
            .map(Some)
            .ok_or(Rejection::Malformed("a time claim is not a number")),
    }
}

/// String or array-of-strings claim values; `None` if absent.
fn strings(value: Option<&Value>, split_spaces: bool) -> Option<Vec<String>> {
    match value? {
        Value::String(s) if split_spaces => Some(s.split_ascii_whitespace().map(str::to_owned).collect()),
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => Some(items.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
        _ => Some(Vec::new()),
    }
}

/// Verify `token` against `keys` and `rules` at Unix time `now_s`.
pub(crate) fn verify(token: &str, keys: &KeySet, rules: &Rules, now_s: u64) -> Result<Verified, Rejection> {
    if !looks_like_jwt(token) {
        return Err(Rejection::Malformed("not a JWS compact serialization"));
    }
    let mut parts = token.splitn(3, '.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Rejection::Malformed("not three parts"));
    };
    let header = decode_json(header_b64, "header")?;
    let alg = header.get("alg").and_then(Value::as_str).and_then(Alg::parse).ok_or(Rejection::Algorithm)?;
    match header.get("typ") {
        None => {}
        Some(Value::String(typ))
            if ["at+jwt", "application/at+jwt", "jwt"].iter().any(|t| typ.eq_ignore_ascii_case(t)) => {}
        Some(_) => return Err(Rejection::Type),
    }
    if header.contains_key("crit") {
        return Err(Rejection::Type);
    }
    let claims = decode_json(payload_b64, "payload")?;
    // The issuer before the key: another issuer's token never makes the key set be refetched.
    if claims.get("iss").and_then(Value::as_str) != Some(rules.issuer.as_str()) {
        return Err(Rejection::Issuer);
    }

    let kid = header.get("kid").and_then(Value::as_str);
    let named: Vec<&Key> = match kid {
        Some(kid) => keys.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).collect(),
        None => keys.keys.iter().collect(),
    };
    if named.is_empty() {
        return Err(Rejection::UnknownKey);
    }
    let fitting: Vec<&Key> = named.into_iter().filter(|k| k.does(alg)).collect();
    if fitting.is_empty() {
        return Err(if kid.is_some() { Rejection::KeyMismatch } else { Rejection::UnknownKey });
    }
    let sig = URL_SAFE_NO_PAD.decode(sig_b64).map_err(|_| Rejection::Malformed("signature"))?;
    let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    if !fitting.iter().take(MAX_TRIES).any(|k| k.verify(alg, message, &sig)) {
        return Err(Rejection::Signature);
    }

    if seconds(&claims, "nbf")?.is_some_and(|nbf| nbf > now_s.saturating_add(LEEWAY_S)) {
        return Err(Rejection::NotYetValid);
    }
    let expires_at_s = seconds(&claims, "exp")?.ok_or(Rejection::Malformed("no exp"))?;
    let subject = claims.get("sub").and_then(Value::as_str).filter(|s| !s.is_empty());
    let subject = subject.ok_or(Rejection::Malformed("no sub"))?.to_owned();
    let audiences =
        strings(claims.get("aud"), false).filter(|a| !a.is_empty()).ok_or(Rejection::Malformed("no aud"))?;
    let mut scope_value = claims.get(&rules.scope_claim);
    if scope_value.is_none() && rules.scope_claim == "scope" {
        scope_value = claims.get("scp");
    }
    Ok(Verified {
        issuer: rules.issuer.clone(),
        subject,
        client_id: claims.get("client_id").and_then(Value::as_str).map(str::to_owned),
        audiences,
        expires_at_s,
        scopes: strings(scope_value, true).unwrap_or_default(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use onemcp_core::auth::{Credential, Denial, admit};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
    use serde_json::json;

    const ISSUER: &str = "https://idp.example.com/realms/a";
    const AUDIENCE: &str = "https://mcp.example.com/mcp";
    const NOW: u64 = 1_800_000_000;

    /// A 2048-bit RSA key (PKCS#1 DER) made for these tests with `openssl genpkey`; it signs
    /// nothing else.
    const RSA_TEST_KEY: &str = concat!(
        "MIIEowIBAAKCAQEA0RMe4ptHzjIW5y7/TeaM9zsAAbA/Wcv9WcM0iHfe8y0BJXRvXCezTOS1n43w7wAyGGmxV2M0EbDW+cDq",
        "fXi8P6Axlo7R+txzM7ZUyhoqLOPpp9GOAcbIYUhefgPkPDd0PADGUt1BjWq4EOLRphlL9UqN0Yc+li83kR5XjM9h+cdDOZyI",
        "NaFCNjA2EUsmLWYGGjDMaGqVJygyPkYWG9ICqCZsJnNTdTKpyCGPSvBSuiny3uMvvHbJ22yK+KhUydRYc7CSv7ptdWpwW4JL",
        "pNzxnOzNqDDkG1QLmUoP3P8poHYz+/S1OSLWzmeKD1D0sAC18+9WLarMNQYc9VF13fw6NwIDAQABAoH/Jx6GXBNLdclP5iT+",
        "oBTQGD8LdHifYeEWBmjMuFW1ezEKH3f2kWFCqzof9NRNWgRijmIFGW5cz79gefRR68HFEO9oV9z603VsGMDrT7IvMgPZZ3OB",
        "a21GRCDGWjQtAEqTKECWdLeLDGrR0r1qr/Y+81my/DSezhShN2xcW6+lJWOzHBFX8R2a80zJ5sGYnWnQv4YluWpL9l+ztHQm",
        "kEgQwcR3lctVjr47v8mubU1YCAqqoGYW4IpDBoeSztO6tlRS8/ZQy+umcUm3D3HmQStms87KpzUsqL9wWIquPtUMA2oUYUEg",
        "jfvj+m0d3RVHn4FM3CqC4ZE3TiOg1QFW8vXRAoGBAOl4BOLjUIaHp69fpoH6H2aG/JqpYS+/3t0BVHyUCW8PnOPJVHUr6ya3",
        "HbfcHfbGUvV4j8kTzDZCG3kaTorwm7mOBBqLEH+KYORwX+qJw3IxkeBBYimtrD6yiItNXz8sHVHfqcK7JFxOC9AoWm1aFoA5",
        "EgWfQHNLZoXOAQ2jQDQHAoGBAOVAbjWSIfv/NPGTeV1F7kcQDbz6j24TAE3elWDJWUGexlTGnOT09UFe7kzupI16EC/OunbS",
        "Mh40WikvDKEFRC9KwgPqt5NCe5w6cjoYDwuYM2kRTLXLmWGC6xAeyaS7oqyySmABaJeQTVLO6gEoCIx/L8Xh52xMvEWJeS0m",
        "bRxRAoGBAJitXjSqBv0TNXugh5k0Yth/qi3SWrYJOcs5lXCqtsikYysrfEnr4Km+0nZsQkQhShsxLoaGpeNNs/2sUHTYCF5+",
        "GvzouG9PpTF+s5sDYIcLF6SZ3YH4C04tHtJKVOFRDhN+utuX2p1qhJsp6IjegxxzNe/rRxCe3HrgTxwGCHR9AoGBALD5LBru",
        "1I1UVeqnjekTMv5oxjI8uryern1udqJgzSZ7C2AmcrfM4ge04QFCuIT+1cASNp/DZC0s/O0OBRHInvpjG6MqbsyfZg0UkVmH",
        "eRXaSNWzJSSyJ5W/Gvc2zTL+JnZqrD+w1q0qGIb0dHCwFulexeJcoepY0n5bwc+4+kIBAoGBAK/mvInLMFQzWOAcpcAPsorF",
        "J5pMx5/vZy/ljvvu57oJVK/N47X8aBeQBriYsRiu+orFxzdoGQfNJCdJhU2t7sr1lLTXjrAqcnANynUYwa2QSPMP+0XOvDW/",
        "I7IOBvsuDggm4pE3kNEE7DrR2XfqpmIFa6D2j+HcvAuk9HjO/wzS",
    );

    fn rules() -> Rules {
        Rules { issuer: ISSUER.into(), audience: AUDIENCE.into(), scope_claim: "scope".into() }
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "sub": "alice", "aud": AUDIENCE, "client_id": "cli",
            "exp": NOW + 300, "iat": NOW, "nbf": NOW, "scope": "openid tag:Web tag:db",
        })
    }

    /// A signer: either key kind, with its JWK.
    pub(crate) enum Signer {
        Ec(EcdsaKeyPair),
        Rsa(RsaKeyPair),
    }

    impl Signer {
        pub(crate) fn ec() -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("generate");
            Signer::Ec(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).expect("key"))
        }

        pub(crate) fn rsa() -> Signer {
            let der = base64::engine::general_purpose::STANDARD.decode(RSA_TEST_KEY).expect("base64");
            Signer::Rsa(RsaKeyPair::from_der(&der).expect("RSA key"))
        }

        pub(crate) fn alg(&self) -> &'static str {
            match self {
                Signer::Ec(_) => "ES256",
                Signer::Rsa(_) => "RS256",
            }
        }

        pub(crate) fn jwk(&self, kid: &str) -> Value {
            match self {
                Signer::Ec(k) => {
                    let point = k.public_key().as_ref();
                    json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                           "x": b64(&point[1..33]), "y": b64(&point[33..65])})
                }
                Signer::Rsa(k) => {
                    let c = RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                    json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&c.n), "e": b64(&c.e)})
                }
            }
        }

        fn sign(&self, message: &[u8]) -> Vec<u8> {
            let rng = SystemRandom::new();
            match self {
                Signer::Ec(k) => k.sign(&rng, message).expect("sign").as_ref().to_vec(),
                Signer::Rsa(k) => {
                    let mut sig = vec![0; k.public().modulus_len()];
                    k.sign(&RSA_PKCS1_SHA256, &rng, message, &mut sig).expect("sign");
                    sig
                }
            }
        }

        pub(crate) fn token(&self, header: &Value, claims: &Value) -> String {
            let signing_input =
                format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
            format!("{signing_input}.{}", b64(&self.sign(signing_input.as_bytes())))
        }

        pub(crate) fn header(&self, kid: &str) -> Value {
            json!({"alg": self.alg(), "typ": "at+jwt", "kid": kid})
        }
    }

    pub(crate) fn keys(jwks: &[Value]) -> KeySet {
        KeySet::parse(json!({ "keys": jwks }).to_string().as_bytes()).expect("key set")
    }

    /// The core's verdict on a verified token, as the daemon would hand it over.
    fn decided(verified: &Verified, now_s: u64) -> Result<(), Denial> {
        let credential = Credential::Token(Box::new(verified.grant(&rules())));
        admit(&credential, now_s * 1000, |aud| aud == AUDIENCE).map(|_| ())
    }

    #[test]
    fn valid_es256_and_rs256_tokens_verify_and_map_to_a_grant() {
        for signer in [Signer::ec(), Signer::rsa()] {
            let set = keys(&[signer.jwk("k1")]);
            let token = signer.token(&signer.header("k1"), &claims());
            assert!(looks_like_jwt(&token));
            let verified = verify(&token, &set, &rules(), NOW).unwrap_or_else(|e| panic!("{}: {e}", signer.alg()));
            let grant = verified.grant(&rules());
            assert_eq!(grant.id, format!("{ISSUER}#alice"));
            assert_eq!(grant.name, "alice (client cli)");
            assert_eq!(grant.tags, Some(vec!["web".to_owned(), "db".to_owned()]));
            assert_eq!(grant.audience.as_deref(), Some(AUDIENCE));
            assert_eq!(grant.expires_at_ms, Some((NOW + 300 + LEEWAY_S) * 1000));
            assert!(decided(&verified, NOW).is_ok());
        }
    }

    #[test]
    fn expired_tokens_are_refused_by_the_core_after_the_leeway() {
        let signer = Signer::ec();
        let set = keys(&[signer.jwk("k1")]);
        let mut c = claims();
        c["exp"] = json!(NOW - 30);
        let within_leeway = verify(&signer.token(&signer.header("k1"), &c), &set, &rules(), NOW).expect("verified");
        assert!(decided(&within_leeway, NOW).is_ok(), "30 s past exp is within the 60 s leeway");
        c["exp"] = json!(NOW - 61);
        let expired = verify(&signer.token(&signer.header("k1"), &c), &set, &rules(), NOW).expect("verified");
        assert!(matches!(decided(&expired, NOW), Err(Denial::Invalid(m)) if m.contains("expired")));
    }

    #[test]
    fn a_token_not_valid_yet_is_refused() {
        let signer = Signer::ec();
        let set = keys(&[signer.jwk("k1")]);
        let mut c = claims();
        c["nbf"] = json!(NOW + 61);
        assert_eq!(verify(&signer.token(&signer.header("k1"), &c), &set, &rules(), NOW), Err(Rejection::NotYetValid));
        c["nbf"] = json!(NOW + 59);
        assert!(verify(&signer.token(&signer.header("k1"), &c), &set, &rules(), NOW).is_ok(), "within the leeway");
    }

    #[test]
    fn another_issuers_token_is_refused_before_its_key_is_looked_up() {
        let signer = Signer::ec();
        let set = keys(&[signer.jwk("k1")]);
        let mut c = claims();
        c["iss"] = json!("https://evil.example.com");
        assert_eq!(verify(&signer.token(&signer.header("k1"), &c), &set, &rules(), NOW), Err(Rejection::Issuer));
        c["iss"] = json!(format!("{ISSUER}/"));
        assert_eq!(verify(&signer.token(&signer.header("k2"), &c), &set, &rules(), NOW), Err(Rejection::Issuer));
        c.as_object_mut().expect("object").remove("iss");
        assert_eq!(verify(&signer.token(&signer.header("k1"), &c), &set, &rules(), NOW), Err(Rejection::Issuer));
    }

    #[test]
    fn unknown_kids_and_other_keys_are_refused() {
        let (signer, other) = (Signer::ec(), Signer::ec());
        let set = keys(&[signer.jwk("k1")]);
        assert_eq!(
            verify(&signer.token(&signer.header("k9"), &claims()), &set, &rules(), NOW),
            Err(Rejection::UnknownKey)
        );
        // Another key claiming our kid: the signature does not verify.
        assert_eq!(
            verify(&other.token(&other.header("k1"), &claims()), &set, &rules(), NOW),
            Err(Rejection::Signature)
        );
        // Without a kid, the fitting keys are tried, the first MAX_TRIES of them.
        let no_kid = json!({"alg": "ES256", "typ": "JWT"});
        assert!(verify(&signer.token(&no_kid, &claims()), &set, &rules(), NOW).is_ok());
        assert_eq!(verify(&other.token(&no_kid, &claims()), &set, &rules(), NOW), Err(Rejection::Signature));
        let mut many: Vec<Value> = (0..MAX_TRIES).map(|i| Signer::ec().jwk(&format!("d{i}"))).collect();
        many.push(signer.jwk("k1"));
        let token = signer.token(&no_kid, &claims());
        assert_eq!(verify(&token, &keys(&many), &rules(), NOW), Err(Rejection::Signature), "a fifth key is not tried");
        many.rotate_right(1);
        assert!(verify(&token, &keys(&many), &rules(), NOW).is_ok());
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_as_secret_are_refused() {
        let signer = Signer::rsa();
        let jwk = signer.jwk("k1");
        let set = keys(std::slice::from_ref(&jwk));
        let body = b64(claims().to_string().as_bytes());
        for alg in ["none", "None", "NONE"] {
            let header = b64(json!({"alg": alg, "typ": "at+jwt", "kid": "k1"}).to_string().as_bytes());
            for token in [format!("{header}.{body}."), format!("{header}.{body}.AAAA")] {
                assert_eq!(verify(&token, &set, &rules(), NOW), Err(Rejection::Algorithm), "{alg}");
            }
        }
        // The classic confusion: HS256 keyed with the public key's bytes.
        let header = b64(json!({"alg": "HS256", "typ": "at+jwt", "kid": "k1"}).to_string().as_bytes());
        let input = format!("{header}.{body}");
        for secret in [jwk.to_string().into_bytes(), jwk["n"].as_str().unwrap_or_default().as_bytes().to_vec()] {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret);
            let token = format!("{input}.{}", b64(ring::hmac::sign(&key, input.as_bytes()).as_ref()));
            assert_eq!(verify(&token, &set, &rules(), NOW), Err(Rejection::Algorithm));
        }
        for alg in ["HS384", "HS512", "PS256", "RS512", "ES384", "EdDSA"] {
            let header = b64(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
            assert_eq!(verify(&format!("{header}.{body}.AAAA"), &set, &rules(), NOW), Err(Rejection::Algorithm));
        }
    }

    #[test]
    fn an_algorithm_other_than_the_keys_is_refused() {
        let (ec, rsa) = (Signer::ec(), Signer::rsa());
        let set = keys(&[ec.jwk("ec"), rsa.jwk("rsa")]);
        // An RS256 header naming the EC key (signed by the RSA key), and the reverse.
        let rs_on_ec = rsa.token(&json!({"alg": "RS256", "kid": "ec"}), &claims());
        assert_eq!(verify(&rs_on_ec, &set, &rules(), NOW), Err(Rejection::KeyMismatch));
        let es_on_rsa = ec.token(&json!({"alg": "ES256", "kid": "rsa"}), &claims());
        assert_eq!(verify(&es_on_rsa, &set, &rules(), NOW), Err(Rejection::KeyMismatch));
        // A JWK that names its algorithm verifies only that one.
        let mut pinned = rsa.jwk("rsa");
        pinned["alg"] = json!("PS256");
        let set = keys(&[pinned]);
        assert_eq!(verify(&rsa.token(&rsa.header("rsa"), &claims()), &set, &rules(), NOW), Err(Rejection::KeyMismatch));
    }

    #[test]
    fn tampered_payloads_and_signatures_are_refused() {
        for signer in [Signer::ec(), Signer::rsa()] {
            let set = keys(&[signer.jwk("k1")]);
            let token = signer.token(&signer.header("k1"), &claims());
            let parts: Vec<&str> = token.split('.').collect();
            let mut more = claims();
            more["scope"] = json!("tag:admin");
            let forged = format!("{}.{}.{}", parts[0], b64(more.to_string().as_bytes()), parts[2]);
            assert_eq!(verify(&forged, &set, &rules(), NOW), Err(Rejection::Signature));
            let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("sig");
            sig[10] ^= 1;
            let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
            assert_eq!(verify(&flipped, &set, &rules(), NOW), Err(Rejection::Signature));
            let truncated = format!("{}.{}.{}", parts[0], parts[1], b64(&sig[..sig.len() - 1]));
            assert_eq!(verify(&truncated, &set, &rules(), NOW), Err(Rejection::Signature));
        }
    }

    #[test]
    fn malformed_tokens_never_panic() {
        let signer = Signer::ec();
        let set = keys(&[signer.jwk("k1")]);
        let good = signer.token(&signer.header("k1"), &claims());
        let long = "a".repeat(MAX_TOKEN_BYTES);
        let cases = [
            "",
            ".",
            "..",
            "a.b",
            "a.b.c.d",
            "1mcp_pat_00",
            "eyJ.eyJ.",
            "!!!.???.***",
            "e30.e30.",
            "W10.W10.AA",
            &good[..good.len() / 2],
            long.as_str(),
        ];
        for token in cases {
            assert!(verify(token, &set, &rules(), NOW).is_err(), "{token:.40}");
        }
        assert!(!looks_like_jwt("1mcp_pat_0123") && !looks_like_jwt("a.b") && !looks_like_jwt(".b.c"));
        // Claims of the wrong type.
        for (claim, value) in [("exp", json!("soon")), ("sub", json!(7)), ("aud", json!([])), ("aud", Value::Null)] {
            let mut c = claims();
            c[claim] = value;
            let token = signer.token(&signer.header("k1"), &c);
            assert!(matches!(verify(&token, &set, &rules(), NOW), Err(Rejection::Malformed(_))), "{claim}");
        }
        let mut c = claims();
        c.as_object_mut().expect("object").remove("exp");
        assert_eq!(
            verify(&signer.token(&signer.header("k1"), &c), &set, &rules(), NOW),
            Err(Rejection::Malformed("no exp"))
        );
    }

    #[test]
    fn typ_and_crit_are_checked() {
        let signer = Signer::ec();
        let set = keys(&[signer.jwk("k1")]);
        for typ in ["at+jwt", "application/at+jwt", "JWT", "jwt"] {
            let token = signer.token(&json!({"alg": "ES256", "kid": "k1", "typ": typ}), &claims());
            assert!(verify(&token, &set, &rules(), NOW).is_ok(), "{typ}");
        }
        for header in [
            json!({"alg": "ES256", "kid": "k1", "typ": "dpop+jwt"}),
            json!({"alg": "ES256", "kid": "k1", "typ": "logout+jwt"}),
            json!({"alg": "ES256", "kid": "k1", "crit": ["exp"], "exp": 1}),
        ] {
            assert_eq!(verify(&signer.token(&header, &claims()), &set, &rules(), NOW), Err(Rejection::Type));
        }
    }

    #[test]
    fn scopes_come_from_the_configured_claim_and_audiences_pick_ours() {
        let signer = Signer::ec();
        let set = keys(&[signer.jwk("k1")]);
        let grant = |c: &Value, rules: &Rules| {
            verify(&signer.token(&signer.header("k1"), c), &set, rules, NOW).expect("verified").grant(rules)
        };
        // `scp` as an array, read when `scope` is absent.
        let mut c = claims();
        c.as_object_mut().expect("object").remove("scope");
        c["scp"] = json!(["tag:ops", "profile"]);
        assert_eq!(grant(&c, &rules()).tags, Some(vec!["ops".to_owned()]));
        // No tag: scope at all: bound to no tag (sees no server).
        c["scp"] = json!(["openid", "profile"]);
        assert_eq!(grant(&c, &rules()).tags, Some(vec![]));
        // A configured claim.
        let roles = Rules { scope_claim: "roles".into(), ..rules() };
        c["roles"] = json!(["tag:finance"]);
        assert_eq!(grant(&c, &roles).tags, Some(vec!["finance".to_owned()]));
        // An audience array: ours is picked wherever it is; without ours, the first one (refused).
        c["aud"] = json!(["https://other.example.com", AUDIENCE]);
        assert_eq!(grant(&c, &rules()).audience.as_deref(), Some(AUDIENCE));
        c["aud"] = json!(["https://other.example.com", "https://third.example.com"]);
        let foreign = grant(&c, &rules());
        assert_eq!(foreign.audience.as_deref(), Some("https://other.example.com"));
        let refused = admit(&Credential::Token(Box::new(foreign)), NOW * 1000, |aud| aud == AUDIENCE);
        assert!(matches!(refused, Err(Denial::Invalid(m)) if m.contains("another resource")));
    }

    #[test]
    fn key_sets_keep_only_usable_signing_keys() {
        let (ec, rsa) = (Signer::ec(), Signer::rsa());
        let mut enc = rsa.jwk("enc");
        enc["use"] = json!("enc");
        let mut short = rsa.jwk("short");
        short["n"] = json!(b64(&[0xff; 128]));
        let jwks = [
            ec.jwk("a"),
            rsa.jwk("b"),
            enc,
            short,
            json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}),
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!("not a key"),
        ];
        assert_eq!(keys(&jwks).len(), 2);
        assert!(KeySet::parse(b"{}").is_err() && KeySet::parse(b"[").is_err());
        let many: Vec<Value> = (0..100).map(|i| ec.jwk(&format!("k{i}"))).collect();
        assert_eq!(keys(&many).len(), MAX_KEYS);
    }

    /// Cost of one verification, as the daemon does it per request. Run with
    /// `cargo test -p onemcp-io --release jwt_verification_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn jwt_verification_cost() {
        const ROUNDS: u32 = 2_000;
        for signer in [Signer::ec(), Signer::rsa()] {
            let set = keys(&[signer.jwk("k0"), signer.jwk("k1"), signer.jwk("k2")]);
            let token = signer.token(&signer.header("k1"), &claims());
            let started = std::time::Instant::now();
            for _ in 0..ROUNDS {
                let verified = verify(&token, &set, &rules(), NOW).expect("verified");
                assert!(decided(&verified, NOW).is_ok());
            }
            let per = started.elapsed() / ROUNDS;
            eprintln!(
                "{}: {:.1} µs per token (verify + grant + core admit, {ROUNDS} rounds)",
                signer.alg(),
                per.as_secs_f64() * 1e6
            );
        }
    }
}
