//! Revocations reach open sessions: the token store and the authorization server's state are
//! watched (one `stat` each per second), and the principals of tokens revoked since the last
//! look are handed to the core, which ends their sessions and streams. Requests need no
//! watcher (each one's token is checked); a stream would otherwise outlive its token.

use crate::oauth::AuthServer;
use onemcp_core::Input;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Principals revoked now: personal access tokens by id, grants as `oauth:<grant>`.
fn revoked(dir: &std::path::Path, auth: Option<&AuthServer>) -> BTreeSet<String> {
    let mut revoked: BTreeSet<String> =
        crate::tokens::read(dir).unwrap_or_default().into_iter().filter(|t| t.revoked).map(|t| t.id).collect();
    if let Some(auth) = auth {
        revoked.extend(auth.revoked_principals());
    }
    revoked
}

/// Runs until `inputs` closes.
pub(crate) async fn watch(dir: PathBuf, auth: Option<Arc<AuthServer>>, inputs: mpsc::Sender<Input>) {
    let files = [dir.join(crate::tokens::FILE_NAME), dir.join(crate::oauth::store::FILE_NAME)];
    let stamps = || files.iter().map(|f| crate::files::stamp(f)).collect::<Vec<_>>();
    let mut seen = stamps();
    let mut known = revoked(&dir, auth.as_deref());
    loop {
        tokio::time::sleep(POLL_INTERVAL).await;
        let now = stamps();
        if now == seen {
            continue;
        }
        seen = now;
        let current = revoked(&dir, auth.as_deref());
        let fresh: Vec<String> = current.difference(&known).cloned().collect();
        known = current;
        if !fresh.is_empty() && inputs.send(Input::CredentialsRevoked { principals: fresh }).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_revoked_token_is_reported_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (record, _) = crate::tokens::create(dir.path(), "ci", None, None, 0).expect("token");
        let (tx, mut rx) = mpsc::channel(4);
        let task = tokio::spawn(watch(dir.path().to_owned(), None, tx));
        tokio::time::sleep(Duration::from_millis(100)).await;
        crate::tokens::revoke(dir.path(), "ci").expect("revoke");
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await.expect("in time");
        assert_eq!(got, Some(Input::CredentialsRevoked { principals: vec![record.id] }));
        crate::tokens::create(dir.path(), "other", None, None, 0).expect("token");
        let quiet = tokio::time::timeout(Duration::from_millis(2500), rx.recv()).await;
        assert!(quiet.is_err(), "nothing new revoked, nothing sent: {quiet:?}");
        task.abort();
    }
}
