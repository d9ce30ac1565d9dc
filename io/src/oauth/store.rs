//! The authorization server's state: `<config-dir>/oauth.json` (mode 0600, replaced
//! atomically) holds registered clients, authorization codes and refresh-token families —
//! hashes only, never a code or token. Changes happen under an exclusive `flock` on
//! `oauth.lock`, so several daemons sharing the directory never lose each other's writes; reads
//! for token checks use a copy re-read only when the file changes.

use super::keys::random_hex;
use crate::tokens::hash_of;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The state file's name in the config directory.
pub const FILE_NAME: &str = "oauth.json";
const LOCK_FILE: &str = "oauth.lock";
/// Largest state file read.
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most registered clients; registration beyond is refused.
pub const MAX_CLIENTS: usize = 1000;
/// Most refresh families (grants) kept; the oldest expired or revoked go first.
pub const MAX_FAMILIES: usize = 20_000;
/// Most authorization codes outstanding.
pub const MAX_CODES: usize = 1000;
/// Spent refresh-token hashes remembered per family, to spot reuse.
const MAX_SPENT: usize = 32;

/// A registered client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// `none`, `client_secret_post` or `client_secret_basic`.
    pub auth_method: String,
    /// Hash of the client secret of a confidential client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
    /// Whether it registered the `refresh_token` grant.
    pub refresh: bool,
    pub created_at: u64,
}

/// An authorization code, issued at consent and redeemed once at the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Code {
    pub hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub challenge: String,
    pub tags: Option<Vec<String>>,
    pub resource: String,
    pub expires_at: u64,
    /// The family its redemption created: revoked if the code is presented again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

/// One grant: what the operator approved for a client, and its current refresh token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Family {
    pub id: String,
    pub client_id: String,
    pub client_name: String,
    pub tags: Option<Vec<String>>,
    pub resource: String,
    /// Hash of the refresh token that is valid now, if the client refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_hash: Option<String>,
    /// Hashes of refresh tokens already exchanged: presenting one again revokes the family.
    #[serde(default)]
    pub spent: Vec<String>,
    pub created_at: u64,
    pub expires_at: u64,
    pub revoked: bool,
}

/// Everything in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub clients: Vec<Client>,
    #[serde(default)]
    pub codes: Vec<Code>,
    #[serde(default)]
    pub families: Vec<Family>,
    /// Operator links already used: nonce -> expiry.
    #[serde(default)]
    pub used_links: BTreeMap<String, u64>,
}

impl State {
    pub fn client(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|c| c.id == id)
    }

    pub fn family(&self, id: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.id == id)
    }

    pub fn family_mut(&mut self, id: &str) -> Option<&mut Family> {
        self.families.iter_mut().find(|f| f.id == id)
    }

    /// Register `client`. When [`MAX_CLIENTS`] are registered, the oldest client without a live
    /// grant makes room (registration is open to anyone: spam must not lock real clients
    /// out); refused only when every client holds a live grant.
    pub fn register(&mut self, client: Client, now_ms: u64) -> Result<(), Full> {
        if self.clients.len() >= MAX_CLIENTS {
            let live =
                |id: &str| self.families.iter().any(|f| f.client_id == id && !f.revoked && f.expires_at > now_ms);
            let idle = self.clients.iter().enumerate().filter(|(_, c)| !live(&c.id)).min_by_key(|(_, c)| c.created_at);
            let Some((index, _)) = idle else { return Err(Full) };
            self.clients.remove(index);
        }
        self.clients.push(client);
        Ok(())
    }

    /// Drop what can no longer be used: expired codes and links, families expired or revoked
    /// a day ago (kept that long so a reused token still finds its family revoked), and the
    /// oldest families beyond [`MAX_FAMILIES`].
    fn prune(&mut self, now_ms: u64) {
        const DAY_MS: u64 = 24 * 3600 * 1000;
        self.codes.retain(|c| c.expires_at > now_ms);
        self.used_links.retain(|_, expires| *expires > now_ms);
        self.families.retain(|f| f.expires_at.saturating_add(DAY_MS) > now_ms);
        if self.families.len() > MAX_FAMILIES {
            self.families.sort_by_key(|f| (!f.revoked, f.created_at));
            let excess = self.families.len() - MAX_FAMILIES;
            self.families.drain(..excess);
        }
    }
}

/// A new refresh token or code and its hash.
pub fn new_secret(prefix: &str) -> (String, String) {
    let secret = format!("{prefix}{}", random_hex(32));
    let hash = hash_of(&secret);
    (secret, hash)
}

/// The state file of one config directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    cache: Mutex<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    stamp: Option<(i64, i64, u64, u64)>,
    state: Arc<State>,
}

/// Why the state could not be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the authorization state is busy (another daemon holds its lock)")]
    Busy,
}

impl Store {
    pub fn new(dir: &Path) -> Store {
        Store { dir: dir.to_owned(), cache: Mutex::new(Cached::default()) }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    fn read_file(&self) -> std::io::Result<State> {
        match crate::files::read_text_bounded(&self.path(), MAX_FILE_BYTES) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", self.path().display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e),
        }
    }

    /// The state as last written, re-read only when the file changed. An unreadable file
    /// reads as empty (every grant refused) and is logged.
    pub fn snapshot(&self) -> Arc<State> {
        let Ok(mut cache) = self.cache.lock() else { return Arc::default() };
        let stamp = crate::files::stamp(&self.path());
        if stamp.is_some() && stamp == cache.stamp {
            return cache.state.clone();
        }
        cache.stamp = stamp;
        cache.state = match self.read_file() {
            Ok(state) => Arc::new(state),
            Err(error) => {
                tracing::error!(%error, "cannot read the authorization state; refusing its grants");
                Arc::default()
            }
        };
        cache.state.clone()
    }

    /// Change the state under the lock: `change` sees the current file and returns its answer;
    /// the file is rewritten (pruned of what expired) unless `change` fails.
    pub async fn update<T, E>(
        &self,
        now_ms: u64,
        change: impl FnOnce(&mut State) -> Result<T, E>,
    ) -> Result<Result<T, E>, StoreError> {
        std::fs::create_dir_all(&self.dir)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode_private()
            .open(self.dir.join(LOCK_FILE))?;
        let mut tries = 0;
        loop {
            match rustix::fs::flock(lock.as_fd(), rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::WOULDBLOCK) if tries < 400 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(rustix::io::Errno::WOULDBLOCK) => return Err(StoreError::Busy),
                Err(e) => return Err(StoreError::Io(e.into())),
            }
        }
        // The lock is released when `lock` is dropped, on every path out of here.
        let mut state = self.read_file()?;
        let answer = change(&mut state);
        if answer.is_ok() {
            state.prune(now_ms);
            let text = serde_json::to_vec_pretty(&state).unwrap_or_default();
            crate::files::write_private(&self.path(), &text)?;
        }
        drop(lock);
        Ok(answer)
    }
}

/// Open files mode 0600.
trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

/// A list of the state is full.
#[derive(Debug, PartialEq, Eq)]
pub struct Full;

/// Push `item` unless `list` already holds `max` (nothing changes then).
pub fn push_bounded<T>(list: &mut Vec<T>, item: T, max: usize) -> Result<(), Full> {
    if list.len() >= max {
        return Err(Full);
    }
    list.push(item);
    Ok(())
}

/// Record `presented` as spent in `family` and install `next` as its refresh token.
pub fn rotate(family: &mut Family, presented: String, next: String) {
    family.spent.push(presented);
    if family.spent.len() > MAX_SPENT {
        family.spent.remove(0);
    }
    family.refresh_hash = Some(next);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(id: &str, expires_at: u64) -> Family {
        Family {
            id: id.into(),
            client_id: "c".into(),
            client_name: "n".into(),
            tags: None,
            resource: "r".into(),
            refresh_hash: None,
            spent: vec![],
            created_at: 0,
            expires_at,
            revoked: false,
        }
    }

    #[tokio::test]
    async fn updates_persist_privately_and_snapshots_follow_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        assert!(store.snapshot().families.is_empty());
        let done: Result<(), ()> = store
            .update(0, |s| {
                s.families.push(family("f1", 100));
                Ok(())
            })
            .await
            .expect("written");
        assert_eq!(done, Ok(()));
        assert_eq!(store.snapshot().families.len(), 1);
        let refused: Result<(), &str> = store
            .update(0, |s| {
                s.families.clear();
                Err("no")
            })
            .await
            .expect("ran");
        assert_eq!(refused, Err("no"));
        assert_eq!(store.snapshot().families.len(), 1, "a failed change is not written");
        let other = Store::new(dir.path());
        let _: Result<(), ()> = other
            .update(0, |s| {
                s.families[0].revoked = true;
                Ok(())
            })
            .await
            .expect("written");
        assert!(store.snapshot().families[0].revoked, "another daemon's write is seen");
        let mode = std::fs::metadata(dir.path().join(FILE_NAME)).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_full_client_list_makes_room_from_clients_without_a_live_grant() {
        let client = |id: &str, created_at: u64| Client {
            id: id.into(),
            name: id.into(),
            redirect_uris: vec![],
            auth_method: "none".into(),
            secret_hash: None,
            refresh: false,
            created_at,
        };
        let mut state = State::default();
        for i in 0..MAX_CLIENTS {
            state.register(client(&format!("c{i}"), i as u64), 0).expect("room");
        }
        let mut granted = family("g", 100);
        granted.client_id = "c0".into();
        state.families.push(granted);
        state.register(client("new", 5000), 10).expect("room made");
        assert!(state.client("c0").is_some(), "a client with a live grant stays");
        assert!(state.client("c1").is_none(), "the oldest idle one made room");
        let mut full = State::default();
        for i in 0..MAX_CLIENTS {
            full.clients.push(client(&format!("k{i}"), 0));
            let mut f = family(&format!("f{i}"), 100);
            f.client_id = format!("k{i}");
            full.families.push(f);
        }
        assert_eq!(full.register(client("late", 1), 10), Err(Full), "every client holds a live grant");
    }

    #[tokio::test]
    async fn expired_things_are_pruned_and_spent_tokens_are_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path());
        let day = 24 * 3600 * 1000;
        let _: Result<(), ()> = store
            .update(10, |s| {
                s.families.push(family("old", 5));
                s.families.push(family("new", 10 * day));
                s.used_links.insert("n".into(), 5);
                Ok(())
            })
            .await
            .expect("written");
        let _: Result<(), ()> = store.update(day + 10, |_| Ok(())).await.expect("written");
        let state = store.snapshot();
        assert_eq!(state.families.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(), ["new"]);
        assert!(state.used_links.is_empty());
        let mut f = family("f", 1);
        for i in 0..40 {
            rotate(&mut f, format!("h{i}"), format!("h{}", i + 1));
        }
        assert_eq!(f.spent.len(), MAX_SPENT);
        assert_eq!(f.refresh_hash.as_deref(), Some("h40"));
    }
}
