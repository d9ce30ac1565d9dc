//! Where 1mcp keeps its authorizations toward protected backends: `backend-oauth.json` in the
//! config directory, mode 0600, replaced atomically. One entry per server, each bound to the
//! server's URL and holding the clients registered per issuer and the grant (see
//! [`Saved`]). Without a config directory they live in memory only.
//!
//! Every write re-reads the file and replaces only its own entry, so `1mcp auth logout` and
//! other daemons of the same directory are not undone by a stale copy.

use onemcp_core::oauth_client::machine::Saved;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The file's name in the config directory.
pub const FILE_NAME: &str = "backend-oauth.json";
/// Largest store file read: a few KiB per server.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The file's shape.
#[derive(Default, Serialize, Deserialize)]
struct File {
    version: u32,
    #[serde(default)]
    servers: BTreeMap<String, Saved>,
}

/// The backend authorizations kept for one config directory.
pub struct GrantStore {
    path: Option<PathBuf>,
    /// What the file held when last read or written.
    entries: Mutex<BTreeMap<String, Saved>>,
}

impl GrantStore {
    /// The store of `dir` (`None`: memory only), read now. A file that cannot be read is
    /// logged and left alone until the first write replaces it.
    pub fn open(dir: Option<&Path>) -> GrantStore {
        let path = dir.map(|dir| dir.join(FILE_NAME));
        let entries = match &path {
            Some(path) => read(path).unwrap_or_else(|why| {
                tracing::warn!(path = %path.display(), "cannot read the backend authorizations: {why}");
                BTreeMap::new()
            }),
            None => BTreeMap::new(),
        };
        GrantStore { path, entries: Mutex::new(entries) }
    }

    /// What identifies the file's current version (`None`: no file, or memory only).
    pub(crate) fn stamp(&self) -> Option<(i64, i64, u64, u64)> {
        self.path.as_deref().and_then(crate::files::stamp)
    }

    /// Reads the file again; the servers whose grant is no longer in it (`1mcp auth logout`).
    pub(crate) fn reread(&self) -> Vec<String> {
        let Some(path) = &self.path else { return Vec::new() };
        let Ok(current) = read(path) else { return Vec::new() };
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let gone = entries
            .iter()
            .filter(|(name, saved)| saved.issuer().is_some() && current.get(*name).is_none_or(|s| s.issuer().is_none()))
            .map(|(name, _)| name.clone())
            .collect();
        *entries = current;
        gone
    }

    /// What is kept for `server`.
    pub(crate) fn get(&self, server: &str) -> Option<Saved> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(server).cloned()
    }

    /// Keeps `saved` for `server` (an empty one removes the entry's grant).
    pub(crate) fn put(&self, server: &str, saved: Saved) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(path) = &self.path {
            // Others may have written since: theirs stand, ours replaces our entry.
            if let Ok(current) = read(path) {
                *entries = current;
            }
        }
        entries.insert(server.to_owned(), saved);
        if let Some(path) = &self.path
            && let Err(why) = write(path, &entries)
        {
            tracing::warn!(path = %path.display(), server, "cannot save the backend authorization: {why}");
        }
    }
}

/// The entries of the store file at `path` (none if it does not exist).
pub fn read(path: &Path) -> Result<BTreeMap<String, Saved>, String> {
    let text = match crate::files::read_text_bounded(path, MAX_FILE_BYTES) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e.to_string()),
    };
    let file: File = serde_json::from_str(&text).map_err(|e| format!("not a store file: {e}"))?;
    Ok(file.servers)
}

/// Replaces the store file at `path` with `entries`.
pub fn write(path: &Path, entries: &BTreeMap<String, Saved>) -> Result<(), String> {
    let file = File { version: 1, servers: entries.clone() };
    let text = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
    crate::files::write_private(path, &text).map_err(|e| e.to_string())
}

/// Removes `server`'s entry from the store of `dir`; false if there was none.
pub fn remove(dir: &Path, server: &str) -> Result<bool, String> {
    let path = dir.join(FILE_NAME);
    let mut entries = read(&path)?;
    if entries.remove(server).is_none() {
        return Ok(false);
    }
    write(&path, &entries)?;
    Ok(true)
}
