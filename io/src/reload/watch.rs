//! The notify side of hot reload: which paths decide what reading the configuration path
//! returns, inotify watches on their directories, and a callback that passes on only events
//! about those paths.
//!
//! Directories are watched, not the file: editors save by writing a temporary file and renaming
//! it over the original (an inotify watch on the old inode would go dead), and a Kubernetes
//! ConfigMap swaps a `..data` symlink without touching `mcp.json` itself. So the paths that
//! matter are the configuration path, every symlink met while resolving it, and the file it
//! resolves to; their directories are watched, non-recursively. After each settled change the
//! paths are resolved again ([`DirWatch::retarget`]), so a swapped symlink moves the watches.

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::mpsc;

/// Symlinks followed while resolving the configuration path (Linux's own limit is 40).
const MAX_SYMLINKS: usize = 40;
/// Path components looked at while resolving; bounds the walk whatever the links say.
const MAX_STEPS: usize = 4096;

/// The paths whose change can change what reading the configuration path returns, and the
/// directories holding them. Every path here has a symlink-free parent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Targets {
    paths: BTreeSet<PathBuf>,
    dirs: BTreeSet<PathBuf>,
}

impl Targets {
    /// Resolves `path` the way the kernel does (blocking: a few `lstat`/`readlink` calls),
    /// recording each symlink on the way and where it ends. A missing component ends the
    /// resolution: the rest is taken as written (the file may be recreated there).
    pub(super) fn of(path: &Path) -> Targets {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut pending: Vec<OsString> = Vec::new();
        push_components(&mut pending, &absolute);
        let mut resolved = PathBuf::from("/");
        let mut paths = BTreeSet::new();
        let (mut links, mut exists) = (0, true);
        for _ in 0..MAX_STEPS {
            let Some(name) = pending.pop() else { break };
            match name.to_str() {
                Some("/") => resolved = PathBuf::from("/"),
                Some(".") => {}
                Some("..") => {
                    resolved.pop();
                }
                _ => {
                    let candidate = resolved.join(&name);
                    let link = match exists.then(|| std::fs::symlink_metadata(&candidate)) {
                        Some(Ok(meta)) if meta.file_type().is_symlink() && links < MAX_SYMLINKS => {
                            std::fs::read_link(&candidate).ok()
                        }
                        Some(Ok(_)) => None,
                        Some(Err(_)) | None => {
                            exists = false;
                            None
                        }
                    };
                    match link {
                        Some(target) => {
                            links += 1;
                            paths.insert(candidate);
                            push_components(&mut pending, &target);
                        }
                        None => resolved = candidate,
                    }
                }
            }
        }
        paths.insert(resolved);
        let dirs = paths.iter().filter_map(|p| p.parent().map(Path::to_path_buf)).collect();
        Targets { paths, dirs }
    }

    /// Whether `event` may have changed what the configuration path reads.
    fn matters(&self, event: &Event) -> bool {
        if event.need_rescan() {
            // The kernel's queue overflowed: events were lost.
            return true;
        }
        match event.kind {
            // Opening and reading change nothing (1mcp's own reads show up as opens).
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return false,
            _ => {}
        }
        event.paths.iter().any(|p| self.paths.contains(p) || self.dirs.contains(p))
    }
}

/// Pushes `path`'s components onto `stack` so that the first one is popped first.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let start = stack.len();
    for component in path.components() {
        stack.push(match component {
            Component::RootDir | Component::Prefix(_) => OsString::from("/"),
            Component::CurDir => OsString::from("."),
            Component::ParentDir => OsString::from(".."),
            Component::Normal(name) => name.to_os_string(),
        });
    }
    stack[start..].reverse();
}

fn lock(targets: &Mutex<Targets>) -> MutexGuard<'_, Targets> {
    targets.lock().unwrap_or_else(PoisonError::into_inner)
}

/// inotify watches on the directories of the configuration path's [`Targets`]. notify's thread
/// blocks in the kernel until something happens in them; events about other files stop in the
/// callback, so the tokio side wakes only for the configuration.
pub(super) struct DirWatch {
    watcher: RecommendedWatcher,
    targets: Arc<Mutex<Targets>>,
    watched: BTreeSet<PathBuf>,
    changed: mpsc::Receiver<()>,
}

impl DirWatch {
    /// Starts watching where `path` leads now (blocking: run it off the async runtime).
    pub(super) fn start(path: &Path) -> notify::Result<DirWatch> {
        let targets = Arc::new(Mutex::new(Targets::default()));
        // One pending notice is enough: the reader looks at the file, not at the events.
        let (notice, changed) = mpsc::channel(1);
        let seen = Arc::clone(&targets);
        let handler = move |event: notify::Result<Event>| {
            // An error may hide a change: look at the file.
            let matters = event.as_ref().map_or(true, |event| lock(&seen).matters(event));
            if matters {
                // Full means a notice is pending already.
                let _ = notice.try_send(());
            }
        };
        let watcher = RecommendedWatcher::new(handler, notify::Config::default())?;
        let mut watch = DirWatch { watcher, targets, watched: BTreeSet::new(), changed };
        watch.retarget(path)?;
        Ok(watch)
    }

    /// Resolves `path` again and moves the watches to where it leads now (blocking). An error
    /// means the directory can no longer be watched (e.g. the inotify watch limit).
    pub(super) fn retarget(&mut self, path: &Path) -> notify::Result<()> {
        let targets = Targets::of(path);
        let dirs = targets.dirs.clone();
        // Filter with the new paths before the new watches deliver anything.
        *lock(&self.targets) = targets;
        for dir in dirs.difference(&self.watched).cloned().collect::<Vec<_>>() {
            match self.watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir);
                }
                // A symlink pointing nowhere yet: its own directory is watched, so fixing it
                // is seen.
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {
                    tracing::debug!(dir = %dir.display(), "not watched: it does not exist");
                }
                Err(e) => return Err(e),
            }
        }
        for dir in self.watched.difference(&dirs).cloned().collect::<Vec<_>>() {
            // A directory deleted since (an old ConfigMap revision) has lost its watch already.
            let _ = self.watcher.unwatch(&dir);
            self.watched.remove(&dir);
        }
        if self.watched.is_empty() {
            return Err(notify::Error::path_not_found().add_path(path.to_path_buf()));
        }
        tracing::debug!(path = %path.display(), dirs = ?self.watched, "watching the configuration");
        Ok(())
    }

    /// Waits until something happened to the configuration path; `false` if the watcher's
    /// thread is gone (it never is while the watcher lives, short of a panic in notify).
    pub(super) async fn changed(&mut self) -> bool {
        self.changed.recv().await.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configmap_path_names_each_link_and_the_file_it_ends_at() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir(root.join("..2026_a")).expect("revision");
        std::fs::write(root.join("..2026_a/mcp.json"), "{}").expect("file");
        std::os::unix::fs::symlink("..2026_a", root.join("..data")).expect("..data");
        std::os::unix::fs::symlink("..data/mcp.json", root.join("mcp.json")).expect("mcp.json");
        let targets = Targets::of(&root.join("./mcp.json"));
        let expected: BTreeSet<PathBuf> =
            [root.join("mcp.json"), root.join("..data"), root.join("..2026_a/mcp.json")].into();
        assert_eq!(targets.paths, expected);
        assert_eq!(targets.dirs, [root.clone(), root.join("..2026_a")].into());

        // A loop ends at the symlink limit instead of spinning.
        std::os::unix::fs::symlink("loop", root.join("loop")).expect("loop");
        let looping = Targets::of(&root.join("loop"));
        assert!(looping.paths.contains(&root.join("loop")), "{looping:?}");

        // A missing file is still a path that matters (it may be recreated).
        let missing = Targets::of(&root.join("gone/mcp.json"));
        assert_eq!(missing.paths, [root.join("gone/mcp.json")].into());
    }
}
