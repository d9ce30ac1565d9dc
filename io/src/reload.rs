//! Hot reload: notice that the configuration file changed (or SIGHUP asked), wait until the
//! edits settle, and hand the core one `ConfigChanged` or `ConfigInvalid` input.
//!
//! Changes are seen through inotify watches on the file's directory (see [`watch`]), so
//! editors' write-and-rename, truncate-and-write, `cp` over the file, delete-and-recreate and
//! swapped symlinks (Kubernetes ConfigMaps) all count, and nothing wakes while the file is left
//! alone: notify's thread blocks in the kernel, this task waits on a channel, and the quiet-time
//! timer exists only while a change is pending. If the directory cannot be watched (inotify
//! limits), a WARN says so once and the file's metadata is polled instead, as before.
//!
//! The file is read off the async runtime (`spawn_blocking`) and bounded in size.

mod watch;

use onemcp_core::Input;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

/// How often the file's metadata is checked when it cannot be watched.
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

/// How changes to the file are noticed.
enum Changes {
    /// `--enable-config-reload=false`: only SIGHUP reloads.
    Off,
    /// inotify watches on the directories that matter.
    Watch(watch::DirWatch),
    /// The fallback: the file's metadata, every [`POLL_INTERVAL`].
    Poll { seen: Option<(i64, i64, u64, u64)> },
}

/// How [`run`] notices changes; tests force the fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Detector {
    Notify,
    Poll,
}

impl Changes {
    async fn start(source: &ConfigSource, detector: Detector) -> Changes {
        if !source.watch {
            return Changes::Off;
        }
        if detector == Detector::Poll {
            return Changes::poll(&source.path).await;
        }
        let path = source.path.clone();
        match tokio::task::spawn_blocking(move || watch::DirWatch::start(&path)).await {
            Ok(Ok(watch)) => Changes::Watch(watch),
            Ok(Err(e)) => Changes::fall_back(&source.path, &e.to_string()).await,
            Err(e) => Changes::fall_back(&source.path, &e.to_string()).await,
        }
    }

    /// Polling from now on; said once, as the watcher is not tried again.
    async fn fall_back(path: &Path, why: &str) -> Changes {
        tracing::warn!(
            path = %path.display(),
            "cannot watch the configuration file ({why}); checking it every {} ms instead",
            POLL_INTERVAL.as_millis()
        );
        Changes::poll(path).await
    }

    async fn poll(path: &Path) -> Changes {
        Changes::Poll { seen: stamp(path).await }
    }

    /// Returns at the next change (or what may be one). Cancel-safe: it is raced in a `select!`.
    async fn next(&mut self, path: &Path) {
        match self {
            Changes::Off => std::future::pending().await,
            Changes::Watch(watch) => {
                if !watch.changed().await {
                    *self = Changes::fall_back(path, "the watcher stopped").await;
                }
            }
            // Ends at the first change, one interval per turn; the caller drops it on shutdown.
            Changes::Poll { seen } => loop {
                sleep(POLL_INTERVAL).await;
                let now = stamp(path).await;
                if now != *seen {
                    *seen = now;
                    return;
                }
            },
        }
    }

    /// After a change settled: resolve the path again, so a swapped symlink moves the watches.
    async fn retarget(&mut self, path: &Path) {
        if !matches!(self, Changes::Watch(_)) {
            return;
        }
        let Changes::Watch(mut watch) = std::mem::replace(self, Changes::Off) else { return };
        let owned = path.to_path_buf();
        let moved = tokio::task::spawn_blocking(move || {
            let result = watch.retarget(&owned);
            (watch, result)
        })
        .await;
        *self = match moved {
            Ok((watch, Ok(()))) => Changes::Watch(watch),
            Ok((_, Err(e))) => Changes::fall_back(path, &e.to_string()).await,
            Err(e) => Changes::fall_back(path, &e.to_string()).await,
        };
    }
}

/// The file's metadata (off the async runtime).
async fn stamp(path: &Path) -> Option<(i64, i64, u64, u64)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || crate::files::stamp(&path)).await.ok().flatten()
}

/// The file's text, bounded (off the async runtime).
async fn read(path: &Path) -> std::io::Result<String> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || crate::files::read_config_text(&path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

/// Runs until `inputs` closes. `hangups` carries SIGHUP: reload now, changed or not.
pub(crate) async fn run(source: ConfigSource, inputs: mpsc::Sender<Input>, hangups: mpsc::Receiver<()>) {
    run_with(source, inputs, hangups, Detector::Notify).await;
}

/// The reload loop: one turn per event (a change, the quiet time ending, a hangup); it ends
/// when `inputs` closes.
async fn run_with(source: ConfigSource, inputs: mpsc::Sender<Input>, hangups: mpsc::Receiver<()>, detector: Detector) {
    // Watch first, then read: an edit between the two is seen as a change.
    let changes = Changes::start(&source, detector).await;
    let loaded = read(&source.path).await.ok();
    let mut reloader = Reloader { source, inputs, hangups, changes, loaded, settles_at: None };
    while let Some(forced) = reloader.next_reload().await {
        if reloader.reload(forced).await.is_err() {
            return;
        }
    }
}

/// The reload loop's state.
struct Reloader {
    source: ConfigSource,
    inputs: mpsc::Sender<Input>,
    hangups: mpsc::Receiver<()>,
    changes: Changes,
    /// The text last handed to the core.
    loaded: Option<String>,
    /// When the quiet time after the last change ends; no timer while nothing is pending.
    settles_at: Option<Instant>,
}

/// The core's inputs are gone: the daemon is shutting down.
struct InputsClosed;

impl Reloader {
    /// Waits until a reload is due: forced (`true`) by a hangup, or after a change once the
    /// quiet time is over. None once `inputs` closes.
    async fn next_reload(&mut self) -> Option<bool> {
        loop {
            tokio::select! {
                () = self.inputs.closed() => return None,
                () = next_hangup(&mut self.hangups) => return Some(true),
                () = self.changes.next(&self.source.path) => {
                    // Keep waiting while an editor is still writing.
                    self.settles_at = Some(Instant::now() + self.source.debounce);
                }
                () = sleep_until(self.settles_at.unwrap_or_else(Instant::now)), if self.settles_at.is_some() => {
                    return Some(false);
                }
            }
        }
    }

    /// Reads the file and hands the core what it now says, if that is news.
    async fn reload(&mut self, forced: bool) -> Result<(), InputsClosed> {
        // A forced reload reads the file now, which covers a pending change too.
        self.settles_at = None;
        self.changes.retarget(&self.source.path).await;
        let Some(input) = self.reread(forced).await else { return Ok(()) };
        tracing::info!(path = %self.source.path.display(), forced, "configuration file changed; reloading");
        self.inputs.send(input).await.map_err(|_| InputsClosed)
    }

    /// Reads the file again and parses it. Nothing to report when the text is the one last
    /// loaded, or when the file is missing (briefly, mid-rename: it settles on the next
    /// change), unless the reload was forced.
    async fn reread(&mut self, forced: bool) -> Option<Input> {
        match read(&self.source.path).await {
            Ok(text) if !forced && self.loaded.as_deref() == Some(text.as_str()) => None,
            Ok(text) => {
                let input = (self.source.parse)(&text);
                self.loaded = Some(text);
                Some(input)
            }
            Err(e) if !forced && e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                Some(Input::ConfigInvalid { errors: vec![format!("{}: cannot read: {e}", self.source.path.display())] })
            }
        }
    }
}

/// Returns at the next SIGHUP; never, once no more can come.
async fn next_hangup(hangups: &mut mpsc::Receiver<()>) {
    if hangups.recv().await.is_none() {
        std::future::pending::<()>().await;
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

    /// A reloader on `dir/mcp.json` whose watches are known to be in place: a hangup was
    /// answered, and the loop handles hangups only after watching and the first read.
    struct Running {
        dir: tempfile::TempDir,
        path: PathBuf,
        rx: mpsc::Receiver<Input>,
        hup: mpsc::Sender<()>,
        polls: Arc<std::sync::atomic::AtomicUsize>,
        task: tokio::task::JoinHandle<()>,
    }

    /// Counts how often the reload task is woken (polled).
    struct Counted<F> {
        inner: std::pin::Pin<Box<F>>,
        polls: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl<F: Future> Future for Counted<F> {
        type Output = F::Output;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
            self.polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.inner.as_mut().poll(cx)
        }
    }

    const DEBOUNCE: Duration = Duration::from_millis(300);
    /// Longer than any reload takes here; only a failing test waits this long.
    const WITHIN: Duration = Duration::from_secs(5);

    fn text(input: Option<Input>) -> Option<String> {
        match input? {
            Input::ConfigInvalid { mut errors } if errors.len() == 1 => errors.pop(),
            other => Some(format!("{other:?}")),
        }
    }

    impl Running {
        async fn start(initial: &str, watch: bool, detector: Detector) -> Running {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("mcp.json");
            std::fs::write(&path, initial).expect("write");
            Running::on(dir, path, watch, detector).await
        }

        async fn on(dir: tempfile::TempDir, path: PathBuf, watch: bool, detector: Detector) -> Running {
            let (tx, mut rx) = mpsc::channel(4);
            let (hup, hup_rx) = mpsc::channel(1);
            let mut config = source(path.clone(), DEBOUNCE);
            config.watch = watch;
            let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counted =
                Counted { inner: Box::pin(run_with(config, tx, hup_rx, detector)), polls: Arc::clone(&polls) };
            let task = tokio::spawn(counted);
            hup.send(()).await.expect("hangup");
            let first = next(&mut rx, WITHIN).await;
            assert!(first.is_some(), "the hangup is answered");
            Running { dir, path, rx, hup, polls, task }
        }

        fn polls(&self) -> usize {
            self.polls.load(std::sync::atomic::Ordering::Relaxed)
        }

        /// The next input's text, waiting at most [`WITHIN`].
        async fn reloaded(&mut self) -> Option<String> {
            text(next(&mut self.rx, WITHIN).await)
        }

        /// Asserts no input arrives for three quiet times.
        async fn no_more(&mut self, why: &str) {
            let extra = text(next(&mut self.rx, DEBOUNCE * 3).await);
            assert_eq!(extra, None, "{why}");
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    #[tokio::test]
    async fn an_in_place_write_and_a_cp_over_the_file_reload_once_each() {
        let mut r = Running::start("v1", true, Detector::Notify).await;
        let started = Instant::now();
        std::fs::write(&r.path, "v2").expect("write in place");
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"));
        eprintln!("in-place write -> reload: {:?}", started.elapsed());
        r.no_more("one write, one reload").await;

        let other = r.dir.path().join("elsewhere.json");
        std::fs::write(&other, "v3").expect("source of the copy");
        std::fs::copy(&other, &r.path).expect("cp over");
        assert_eq!(r.reloaded().await.as_deref(), Some("v3"));
        r.no_more("one copy, one reload").await;
    }

    #[tokio::test]
    async fn write_to_a_temporary_file_and_rename_it_over_reloads() {
        // VS Code, JetBrains safe-write, most tools' atomic save.
        let mut r = Running::start("v1", true, Detector::Notify).await;
        let tmp = r.dir.path().join(".mcp.json.tmp~");
        std::fs::write(&tmp, "v2").expect("temporary");
        std::fs::rename(&tmp, &r.path).expect("rename over");
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"));
        r.no_more("one save, one reload").await;

        // vim's way: move the original aside, write a new file, delete the backup.
        let backup = r.dir.path().join("mcp.json~");
        std::fs::rename(&r.path, &backup).expect("backup");
        std::fs::write(&r.path, "v3").expect("new file");
        std::fs::remove_file(&backup).expect("drop backup");
        assert_eq!(r.reloaded().await.as_deref(), Some("v3"));
        r.no_more("one save, one reload").await;
    }

    #[tokio::test]
    async fn truncate_then_write_reloads_once_after_the_quiet_time_with_the_final_text() {
        use std::io::Write;
        let mut r = Running::start("v1", true, Detector::Notify).await;
        let truncated = Instant::now();
        let mut file = std::fs::File::create(&r.path).expect("truncate");
        // Half a quiet time later the editor writes: the empty file must never be loaded.
        sleep(DEBOUNCE / 2).await;
        assert_eq!(text(r.rx.try_recv().ok()), None, "nothing before the edit settles");
        file.write_all(b"v2").expect("write");
        drop(file);
        let written = Instant::now();
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"));
        eprintln!(
            "truncate -> reload {:?}, final write -> reload {:?} (quiet time {DEBOUNCE:?})",
            truncated.elapsed(),
            written.elapsed()
        );
        r.no_more("two steps, one reload").await;
    }

    #[tokio::test]
    async fn delete_then_recreate_reloads_with_the_new_file() {
        let mut r = Running::start("v1", true, Detector::Notify).await;
        std::fs::remove_file(&r.path).expect("delete");
        sleep(DEBOUNCE / 3).await;
        std::fs::write(&r.path, "v2").expect("recreate");
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"));
        r.no_more("one recreate, one reload").await;

        // Gone for longer than the quiet time: nothing is reported while it is missing.
        std::fs::remove_file(&r.path).expect("delete");
        r.no_more("a missing file is waited for").await;
        std::fs::write(&r.path, "v3").expect("recreate");
        assert_eq!(r.reloaded().await.as_deref(), Some("v3"));
    }

    /// A ConfigMap revision: `root/name/mcp.json` holding `text`.
    fn revision(root: &Path, name: &str, text: &str) {
        std::fs::create_dir(root.join(name)).expect("revision dir");
        std::fs::write(root.join(name).join("mcp.json"), text).expect("revision file");
    }

    /// The kubelet's update: a new link to the revision, renamed over `..data`.
    fn swap(root: &Path, name: &str) {
        std::os::unix::fs::symlink(name, root.join("..data_tmp")).expect("new link");
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("swap");
    }

    #[tokio::test]
    async fn a_swapped_configmap_symlink_reloads_and_the_watch_follows_it() {
        // mcp.json -> ..data/mcp.json, ..data -> ..2026_a (a revision directory).
        let dir = tempfile::tempdir().expect("tempdir");
        revision(dir.path(), "..2026_a", "v1");
        std::os::unix::fs::symlink("..2026_a", dir.path().join("..data")).expect("..data");
        std::os::unix::fs::symlink("..data/mcp.json", dir.path().join("mcp.json")).expect("mcp.json");
        let path = dir.path().join("mcp.json");
        let mut r = Running::on(dir, path, true, Detector::Notify).await;
        let root = r.dir.path().to_path_buf();

        revision(&root, "..2026_b", "v2");
        swap(&root, "..2026_b");
        std::fs::remove_dir_all(root.join("..2026_a")).expect("old revision");
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"));
        r.no_more("one swap, one reload").await;

        // The watches moved: a second swap and an edit inside the current revision are seen.
        revision(&root, "..2026_c", "v3");
        swap(&root, "..2026_c");
        assert_eq!(r.reloaded().await.as_deref(), Some("v3"));
        std::fs::write(root.join("..2026_c/mcp.json"), "v4").expect("edit the target");
        assert_eq!(r.reloaded().await.as_deref(), Some("v4"));
        // The old revision directory is not watched any more.
        std::fs::write(root.join("..2026_b/mcp.json"), "stale").expect("edit the old revision");
        r.no_more("the old revision does not matter").await;
    }

    #[tokio::test]
    async fn other_files_in_the_directory_neither_reload_nor_wake_the_task() {
        let mut r = Running::start("v1", true, Detector::Notify).await;
        let before = r.polls();
        let dir = r.dir.path().to_path_buf();
        std::fs::write(dir.join("presets.json"), "{}").expect("neighbour");
        std::fs::write(dir.join(".env"), "A=1").expect(".env");
        std::fs::write(dir.join("x.tmp"), "x").expect("tmp");
        std::fs::rename(dir.join("x.tmp"), dir.join("mcp.json.bak")).expect("rename a neighbour");
        std::fs::create_dir(dir.join("sub")).expect("subdir");
        std::fs::write(dir.join("sub/mcp.json"), "x").expect("a file of the same name elsewhere");
        // Reading the config (as a user's `cat` would) is no change either.
        assert_eq!(std::fs::read_to_string(&r.path).expect("read"), "v1");
        r.no_more("only mcp.json matters").await;
        assert_eq!(r.polls(), before, "the reload task was not even woken");

        std::fs::write(&r.path, "v2").expect("the real thing");
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"), "still watching");
    }

    #[tokio::test]
    async fn an_idle_file_costs_no_reload_and_no_wake_up() {
        let mut r = Running::start("v1", true, Detector::Notify).await;
        let before = r.polls();
        let idle = Duration::from_secs(2);
        assert_eq!(text(next(&mut r.rx, idle).await), None, "no change, no input");
        let woken = r.polls() - before;
        // The old poller woke 10 times a second: 20 here.
        eprintln!("reload task woken {woken} times in {idle:?} of idling");
        assert_eq!(woken, 0, "nothing wakes the reload task while the file is unchanged");
    }

    #[tokio::test]
    async fn the_polling_fallback_still_sees_a_rename_and_a_write() {
        let mut r = Running::start("v1", true, Detector::Poll).await;
        let tmp = r.dir.path().join("mcp.json.tmp");
        std::fs::write(&tmp, "v2").expect("temporary");
        std::fs::rename(&tmp, &r.path).expect("rename over");
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"));
        std::fs::write(&r.path, "v3-longer").expect("write in place");
        assert_eq!(r.reloaded().await.as_deref(), Some("v3-longer"));
        r.no_more("one reload per edit").await;
    }

    #[tokio::test]
    async fn a_directory_that_cannot_be_watched_falls_back_to_polling() {
        // The file's directory does not exist (yet), so inotify has nothing to watch.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("not-yet/mcp.json");
        let mut r = Running::on(dir, path.clone(), true, Detector::Notify).await;
        std::fs::create_dir(r.dir.path().join("not-yet")).expect("dir");
        std::fs::write(&path, "v1").expect("file");
        assert_eq!(r.reloaded().await.as_deref(), Some("v1"), "the fallback poll sees it");
    }

    #[tokio::test]
    async fn with_watching_off_only_a_hangup_reloads() {
        let mut r = Running::start("v1", false, Detector::Notify).await;
        std::fs::write(&r.path, "v2").expect("edit");
        r.no_more("not watched").await;
        r.hup.send(()).await.expect("hangup");
        assert_eq!(r.reloaded().await.as_deref(), Some("v2"));
    }
}
