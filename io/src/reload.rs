//! Hot reload: notice that the configuration file changed (or SIGHUP asked), wait until the
//! edits settle, and hand the core one `ConfigChanged` or `ConfigInvalid` input.
//!
//! The file is polled rather than watched with inotify: a poll sees editors' write-and-rename
//! and replaced symlinks (Kubernetes ConfigMaps) the same way, needs no platform crate, and
//! costs one `stat` per interval.

use onemcp_core::Input;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};

/// How often the file's metadata is checked.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Turns the configuration text into the core's input (the cli owns the parser's environment).
pub type ParseConfig = dyn Fn(&str) -> Input + Send + Sync;

/// Where the configuration lives and how it is read.
pub struct ConfigSource {
    /// The `mcp.json` path.
    pub path: PathBuf,
    /// Parse text into `ConfigChanged` or `ConfigInvalid`.
    pub parse: Arc<ParseConfig>,
    /// Quiet time after the last change before reloading (`--config-reload-debounce`).
    pub debounce: Duration,
    /// Watch the file (`--enable-config-reload`); SIGHUP reloads either way.
    pub watch: bool,
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("path", &self.path)
            .field("debounce", &self.debounce)
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

/// What identifies one version of the file without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    // `metadata` follows symlinks, so a swapped symlink target is a change too.
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp { modified: meta.modified().ok(), len: meta.len(), inode: meta.ino() })
}

/// Runs until `inputs` closes. `hangups` carries SIGHUP: reload now, changed or not.
pub(crate) async fn run(source: ConfigSource, inputs: mpsc::Sender<Input>, mut hangups: mpsc::Receiver<()>) {
    let mut seen = stamp(&source.path);
    let mut loaded = crate::files::read_config_text(&source.path).ok();
    let mut settling_since: Option<Instant> = None;
    loop {
        let forced = tokio::select! {
            () = sleep(POLL_INTERVAL) => false,
            hangup = hangups.recv() => match hangup {
                Some(()) => true,
                None => false,
            },
        };
        if source.watch {
            let now_seen = stamp(&source.path);
            if now_seen != seen {
                // Keep waiting while an editor is still writing.
                seen = now_seen;
                settling_since = Some(Instant::now());
            }
        }
        let settled = settling_since.is_some_and(|since| since.elapsed() >= source.debounce);
        if !(forced || settled) {
            continue;
        }
        settling_since = None;
        let input = match crate::files::read_config_text(&source.path) {
            Ok(text) if !forced && loaded.as_deref() == Some(text.as_str()) => continue,
            Ok(text) => {
                let input = (source.parse)(&text);
                loaded = Some(text);
                input
            }
            // A file that is briefly gone mid-rename settles on the next change.
            Err(e) if !forced && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => Input::ConfigInvalid { errors: vec![format!("{}: cannot read: {e}", source.path.display())] },
        };
        tracing::info!(path = %source.path.display(), forced, "configuration file changed; reloading");
        if inputs.send(input).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onemcp_core::config::McpConfig;

    fn source(path: PathBuf, debounce: Duration) -> ConfigSource {
        let parse: Arc<ParseConfig> = Arc::new(|text: &str| {
            if text.starts_with('{') {
                Input::ConfigChanged { config: McpConfig::default() }
            } else {
                Input::ConfigInvalid { errors: vec![text.trim().to_owned()] }
            }
        });
        ConfigSource { path, parse, debounce, watch: true }
    }

    async fn next(rx: &mut mpsc::Receiver<Input>, within: Duration) -> Option<Input> {
        tokio::time::timeout(within, rx.recv()).await.ok().flatten()
    }

    #[tokio::test]
    async fn a_change_is_reported_once_after_it_settles_and_a_rename_counts() {
        let dir = std::env::temp_dir().join(format!("onemcp-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("mcp.json");
        std::fs::write(&path, "{}").expect("write");
        let (tx, mut rx) = mpsc::channel(4);
        let (_hup_tx, hup_rx) = mpsc::channel(1);
        let task = tokio::spawn(run(source(path.clone(), Duration::from_millis(300)), tx, hup_rx));
        sleep(Duration::from_millis(150)).await;
        assert!(next(&mut rx, Duration::from_millis(400)).await.is_none(), "no change, no input");

        std::fs::write(&path, "broken").expect("edit");
        assert!(next(&mut rx, Duration::from_millis(150)).await.is_none(), "not before the debounce");
        let got = next(&mut rx, Duration::from_secs(2)).await;
        assert_eq!(got, Some(Input::ConfigInvalid { errors: vec!["broken".into()] }));

        // An editor's save: write a temporary file, rename it over the original.
        let tmp = dir.join("mcp.json.tmp");
        std::fs::write(&tmp, "{\"mcpServers\": {}}").expect("tmp");
        std::fs::rename(&tmp, &path).expect("rename");
        let got = next(&mut rx, Duration::from_secs(2)).await;
        assert_eq!(got, Some(Input::ConfigChanged { config: McpConfig::default() }));
        assert!(next(&mut rx, Duration::from_millis(500)).await.is_none(), "reported once");
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_hangup_reloads_even_without_a_change() {
        let dir = std::env::temp_dir().join(format!("onemcp-reload-hup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("mcp.json");
        std::fs::write(&path, "{}").expect("write");
        let (tx, mut rx) = mpsc::channel(4);
        let (hup_tx, hup_rx) = mpsc::channel(1);
        let task = tokio::spawn(run(source(path, Duration::from_secs(60)), tx, hup_rx));
        hup_tx.send(()).await.expect("hangup");
        let got = next(&mut rx, Duration::from_secs(2)).await;
        assert_eq!(got, Some(Input::ConfigChanged { config: McpConfig::default() }));
        task.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
