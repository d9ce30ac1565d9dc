//! Personal access tokens: `<config-dir>/tokens.json` (mode 0600, written atomically) holds
//! each token's id, name, tags, expiry and revocation, and the SHA-256 of the token; never the
//! token itself, which is shown once when created. The daemon finds a presented bearer token
//! here by its hash and hands the core what it found; the core decides (expiry, revocation,
//! tags).

use onemcp_core::auth::{Credential, TokenGrant};
use ring::digest;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The store's file name in the config directory.
pub const FILE_NAME: &str = "tokens.json";
/// What every token starts with, so a leaked one is recognisable (and scannable).
pub const PREFIX: &str = "1mcp_pat_";
/// Most tokens kept; creating more is refused (revoke some).
pub const MAX_TOKENS: usize = 1000;

/// One token as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// Short public id (`t_...`).
    pub id: String,
    /// The operator's name for it.
    pub name: String,
    /// Tags it is bound to; `None`: every server.
    pub tags: Option<Vec<String>>,
    /// Unix ms when created.
    pub created_at_ms: u64,
    /// Unix ms from which it is no longer valid.
    pub expires_at_ms: Option<u64>,
    /// Revoked by the operator.
    pub revoked: bool,
    /// `sha256:<hex>` of the token.
    hash: String,
}

impl TokenRecord {
    fn grant(&self) -> TokenGrant {
        TokenGrant {
            id: self.id.clone(),
            name: self.name.clone(),
            tags: self.tags.clone(),
            expires_at_ms: self.expires_at_ms,
            revoked: self.revoked,
            audience: None,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "hash": self.hash, "tags": self.tags,
            "createdAt": self.created_at_ms, "expiresAt": self.expires_at_ms, "revoked": self.revoked,
        })
    }

    fn from_json(value: &Value) -> Option<TokenRecord> {
        let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(TokenRecord {
            id: text("id")?,
            name: text("name").unwrap_or_default(),
            hash: text("hash")?,
            tags: value
                .get("tags")
                .and_then(Value::as_array)
                .map(|tags| tags.iter().filter_map(Value::as_str).map(str::to_owned).collect()),
            created_at_ms: value.get("createdAt").and_then(Value::as_u64).unwrap_or(0),
            expires_at_ms: value.get("expiresAt").and_then(Value::as_u64),
            revoked: value.get("revoked").and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

/// `sha256:<hex>` of a token.
pub(crate) fn hash_of(token: &str) -> String {
    let digest = digest::digest(&digest::SHA256, token.as_bytes());
    format!("sha256:{}", hex(digest.as_ref()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The tokens in `dir`'s store (empty if there is none).
pub fn read(dir: &Path) -> std::io::Result<Vec<TokenRecord>> {
    let path = dir.join(FILE_NAME);
    let text = match crate::files::read_config_text(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
    let tokens = value.get("tokens").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(tokens.iter().filter_map(TokenRecord::from_json).collect())
}

/// Replace the store with `tokens` (atomically, mode 0600).
fn write(dir: &Path, tokens: &[TokenRecord]) -> std::io::Result<()> {
    let body = json!({"version": 1, "tokens": tokens.iter().map(TokenRecord::to_json).collect::<Vec<_>>()});
    crate::files::write_private(
        &dir.join(FILE_NAME),
        serde_json::to_string_pretty(&body).unwrap_or_default().as_bytes(),
    )
}

/// A new token for `name`, bound to `tags`, valid until `expires_at_ms`; returns its record
/// and the token itself (shown once, never stored).
pub fn create(
    dir: &Path,
    name: &str,
    tags: Option<Vec<String>>,
    expires_at_ms: Option<u64>,
    now_ms: u64,
) -> std::io::Result<(TokenRecord, String)> {
    let mut tokens = read(dir)?;
    if tokens.len() >= MAX_TOKENS {
        let why = format!("the store already holds {MAX_TOKENS} tokens; revoke or remove some first");
        return Err(std::io::Error::other(why));
    }
    let mut secret = [0u8; 32];
    let mut id = [0u8; 4];
    getrandom::fill(&mut secret).and_then(|()| getrandom::fill(&mut id)).map_err(std::io::Error::other)?;
    let token = format!("{PREFIX}{}", hex(&secret));
    let record = TokenRecord {
        id: format!("t_{}", hex(&id)),
        name: name.to_owned(),
        tags: tags.map(|t| t.into_iter().map(|t| t.to_lowercase()).collect()),
        created_at_ms: now_ms,
        expires_at_ms,
        revoked: false,
        hash: hash_of(&token),
    };
    tokens.push(record.clone());
    write(dir, &tokens)?;
    Ok((record, token))
}

/// Revoke the tokens whose id or name is `which`; returns how many were revoked.
pub fn revoke(dir: &Path, which: &str) -> std::io::Result<usize> {
    let mut tokens = read(dir)?;
    let mut revoked = 0;
    for t in tokens.iter_mut().filter(|t| (t.id == which || t.name == which) && !t.revoked) {
        t.revoked = true;
        revoked += 1;
    }
    if revoked > 0 {
        write(dir, &tokens)?;
    }
    Ok(revoked)
}

/// Where `1mcp proxy` keeps the token it presents to the local daemon (for a view bound to
/// tags: `proxy.<digest of the tags>.token`).
pub const LOCAL_TOKEN_FILE: &str = "proxy.token";

/// The token `1mcp proxy` presents to the daemon of config directory `dir`, bound to `tags`
/// (the tags its view names; `None`: every server): kept in a 0600 file beside the store,
/// minted (no expiry, named `1mcp proxy`) on first use and again if it was revoked. Whoever can
/// read the config directory can already change what the daemon runs, so this grants nothing
/// new; binding it to the view's tags makes the daemon enforce the view for the token too.
pub fn local_token(
    dir: &Path,
    tags: Option<&std::collections::BTreeSet<String>>,
    now_ms: u64,
) -> std::io::Result<String> {
    let tags: Option<Vec<String>> = tags.map(|t| t.iter().map(|t| t.to_lowercase()).collect());
    let file = match &tags {
        None => LOCAL_TOKEN_FILE.to_owned(),
        Some(tags) => format!("proxy.{}.token", &hash_of(&tags.join("\n"))["sha256:".len()..][..16]),
    };
    let path = dir.join(file);
    if let Ok(kept) = std::fs::read_to_string(&path) {
        let kept = kept.trim().to_owned();
        let hash = hash_of(&kept);
        let usable = |t: &TokenRecord| t.hash == hash && !t.revoked && t.expires_at_ms.is_none() && t.tags == tags;
        if read(dir)?.iter().any(usable) {
            return Ok(kept);
        }
    }
    let (_, token) = create(dir, "1mcp proxy", tags, None, now_ms)?;
    crate::files::write_private(&path, token.as_bytes())?;
    Ok(token)
}

/// The daemon's view of the store: re-read when the file changes, so `token create` and
/// `token revoke` take effect on the next request.
#[derive(Debug)]
pub struct TokenStore {
    path: PathBuf,
    cache: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    stamp: Option<(i64, i64, u64, u64)>,
    by_hash: BTreeMap<String, TokenRecord>,
}

impl TokenStore {
    /// The store of config directory `dir`.
    pub fn new(dir: &Path) -> TokenStore {
        TokenStore { path: dir.join(FILE_NAME), cache: Mutex::new(Cache::default()) }
    }

    /// What an `Authorization` header value presents.
    pub fn credential(&self, authorization: Option<&str>) -> Credential {
        let Some(value) = authorization else { return Credential::None };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
            _ => return Credential::Malformed,
        };
        let hash = hash_of(token);
        let Ok(mut cache) = self.cache.lock() else { return Credential::Unknown };
        self.refresh(&mut cache);
        match cache.by_hash.get(&hash) {
            Some(record) => Credential::Token(Box::new(record.grant())),
            None => Credential::Unknown,
        }
    }

    fn refresh(&self, cache: &mut Cache) {
        let stamp = crate::files::stamp(&self.path);
        if stamp == cache.stamp && stamp.is_some() {
            return;
        }
        cache.stamp = stamp;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        match read(dir) {
            Ok(tokens) => cache.by_hash = tokens.into_iter().map(|t| (t.hash.clone(), t)).collect(),
            Err(error) => {
                // Fail closed: an unreadable store admits nobody until it is fixed.
                tracing::error!(path = %self.path.display(), %error, "cannot read the token store; refusing tokens");
                cache.by_hash.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_tokens_are_found_by_their_hash_revoked_ones_say_so_and_the_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = TokenStore::new(dir.path());
        assert_eq!(store.credential(None), Credential::None);
        assert_eq!(store.credential(Some("Basic abc")), Credential::Malformed);
        assert_eq!(store.credential(Some("Bearer nope")), Credential::Unknown);
        let (record, token) = create(dir.path(), "ci", Some(vec!["Web".into()]), Some(99), 1).expect("create");
        assert!(token.starts_with(PREFIX) && token.len() == PREFIX.len() + 64);
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).expect("store");
        assert!(!text.contains(&token), "the token itself is never stored");
        let mode = std::fs::metadata(dir.path().join(FILE_NAME)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        match store.credential(Some(&format!("bearer {token}"))) {
            Credential::Token(grant) => {
                assert_eq!((grant.id.as_str(), grant.tags.clone()), (record.id.as_str(), Some(vec!["web".to_owned()])));
                assert!(!grant.revoked);
            }
            other => panic!("not found: {other:?}"),
        }
        assert_eq!(revoke(dir.path(), "ci").expect("revoke"), 1);
        match store.credential(Some(&format!("Bearer {token}"))) {
            Credential::Token(grant) => assert!(grant.revoked, "the store is re-read after a change"),
            other => panic!("not found: {other:?}"),
        }
        assert_eq!(revoke(dir.path(), "nobody").expect("revoke"), 0);
    }

    #[test]
    fn the_proxys_local_token_is_kept_reused_and_replaced_once_revoked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = local_token(dir.path(), None, 1).expect("minted");
        assert_eq!(local_token(dir.path(), None, 2).expect("kept"), first);
        let mode = std::fs::metadata(dir.path().join(LOCAL_TOKEN_FILE)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        revoke(dir.path(), "1mcp proxy").expect("revoke");
        let second = local_token(dir.path(), None, 3).expect("minted again");
        assert_ne!(second, first);
        let store = TokenStore::new(dir.path());
        assert!(matches!(store.credential(Some(&format!("Bearer {second}"))), Credential::Token(g) if !g.revoked));
        let web = std::collections::BTreeSet::from(["Web".to_owned()]);
        let bound = local_token(dir.path(), Some(&web), 4).expect("a token for the view's tags");
        assert_ne!(bound, second);
        assert_eq!(local_token(dir.path(), Some(&web), 5).expect("kept"), bound);
        assert!(
            matches!(store.credential(Some(&format!("Bearer {bound}"))), Credential::Token(g) if g.tags == Some(vec!["web".to_owned()]))
        );
        assert_eq!(local_token(dir.path(), None, 6).expect("still the unbound one"), second);
    }
}
