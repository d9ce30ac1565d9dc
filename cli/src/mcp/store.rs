//! mcp.json on disk for `1mcp mcp`: one editor at a time (a lock on its directory), the
//! daemon's parser as the judge of what is there and of what an edit leaves, a backup of the
//! previous file, and an atomic replace that keeps the file's mode (it may hold secrets).

use super::document::{Json, indent_of};
use crate::config_file;
use anyhow::{Context, Result, anyhow, bail};
use onemcp_core::config::{ConfigError, ConfigErrors, parse_mcp_json};
use std::fs::{File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Backups kept per config file; older ones are deleted.
pub const BACKUPS_KEPT: usize = 10;
/// The directory, beside mcp.json, holding its backups.
const BACKUP_DIR: &str = "backups";
/// How long to wait for another `1mcp mcp` command to finish its edit.
const LOCK_WAIT: Duration = Duration::from_secs(5);
/// Pause between two attempts at the lock.
const LOCK_RETRY: Duration = Duration::from_millis(20);
/// Attempts at an edit when the file changes under it (an editor saving meanwhile).
const ATTEMPTS: usize = 3;
/// Mode of a config file 1mcp creates: it may come to hold secrets.
const NEW_FILE_MODE: u32 = 0o600;

/// The configuration file an `mcp` command works on.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// The path as the user named it (for messages, the daemon's view and backups).
    pub shown: PathBuf,
    /// Where its bytes are: the target of a symlink (rewriting the link would cut it).
    target: PathBuf,
}

/// The file as read: its text and its document.
pub struct Loaded {
    /// The text.
    pub text: String,
    /// The document.
    pub doc: Json,
    /// What the daemon refuses in it (`None`: it would load it).
    pub problems: Option<ConfigErrors>,
}

/// What an edit did.
pub struct Edited<T> {
    /// What the change returned.
    pub value: T,
    /// Whether the file was rewritten (false: the edit changed nothing).
    pub written: bool,
    /// The copy of the previous file, if one was made.
    pub backup: Option<PathBuf>,
    /// The daemon's warnings about the new file.
    pub warnings: Vec<String>,
}

impl ConfigFile {
    /// The file at `path` (following a symlink for writing).
    pub fn new(path: PathBuf) -> Result<ConfigFile> {
        let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        let target = if is_link {
            std::fs::canonicalize(&path).with_context(|| format!("cannot follow the symlink {}", path.display()))?
        } else {
            path.clone()
        };
        Ok(ConfigFile { shown: path, target })
    }

    /// Creates the file (as `serve` does, then private) if it does not exist; true if it did not.
    pub fn create_if_missing(&self) -> Result<bool> {
        if !config_file::ensure_exists(&self.shown)? {
            return Ok(false);
        }
        std::fs::set_permissions(&self.shown, Permissions::from_mode(NEW_FILE_MODE))
            .with_context(|| format!("cannot make {} private", self.shown.display()))?;
        Ok(true)
    }

    /// Reads and parses the file; refuses one that is not JSON, naming where.
    pub fn load(&self) -> Result<Loaded> {
        let text = match onemcp_io::files::read_config_text(&self.target) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("there is no {} (add a server with `1mcp mcp add` to create it)", self.shown.display())
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.shown.display())),
        };
        let problems = self.judge(&text)?.err();
        let doc = match Json::parse(&text) {
            Ok(doc) => doc,
            Err(_) => bail!("{} is not valid JSON; fix it first:\n{}", self.shown.display(), lines(&problems)),
        };
        Ok(Loaded { text, doc, problems })
    }

    /// The daemon's verdict on `text` as this file: its warnings, or its errors.
    fn judge(&self, text: &str) -> Result<Result<Vec<String>, ConfigErrors>> {
        let env = config_file::environment(&self.shown)?;
        Ok(parse_mcp_json(text, &self.shown.display().to_string(), &env).map(|parsed| parsed.warnings))
    }

    /// Applies `change` to the document and writes the result, if it changed anything and the
    /// daemon would load it; otherwise writes nothing. `fresh`: the file was just created
    /// (nothing worth a backup).
    pub fn edit<T>(&self, fresh: bool, change: impl Fn(&mut Json) -> Result<T>) -> Result<Edited<T>> {
        if !self.target.exists() {
            bail!("there is no {} (add a server with `1mcp mcp add` to create it)", self.shown.display());
        }
        let _lock = lock(parent(&self.target))?;
        for _ in 0..ATTEMPTS {
            let before = self.load()?;
            let mut doc = before.doc.clone();
            let value = change(&mut doc).with_context(|| self.shown.display().to_string())?;
            if doc == before.doc {
                return Ok(Edited { value, written: false, backup: None, warnings: Vec::new() });
            }
            let text = doc.to_text(indent_of(&before.text).unwrap_or("  "), before.text.ends_with('\n'));
            let warnings = self.check_result(&text, &before)?;
            if self.load()?.text != before.text {
                // Saved by someone else (an editor) since it was read: start again from theirs.
                continue;
            }
            let backup = if fresh { None } else { Some(self.back_up(&before.text)?) };
            self.replace(&text)?;
            self.prune_backups();
            return Ok(Edited { value, written: true, backup, warnings });
        }
        bail!("{} kept changing while being edited; nothing was written, try again", self.shown.display())
    }

    /// Refuses an edit whose result the daemon would not load.
    fn check_result(&self, text: &str, before: &Loaded) -> Result<Vec<String>> {
        let errors = match self.judge(text)? {
            Ok(warnings) => return Ok(warnings),
            Err(errors) => errors,
        };
        // Positions would point into text that is not on disk: the messages name server and field.
        let unplaced: Vec<String> =
            errors.errors.iter().map(|e| ConfigError { line: None, column: None, ..e.clone() }.to_string()).collect();
        let mut message = format!(
            "the edit would leave a configuration the daemon refuses; {} is unchanged:\n  {}",
            self.shown.display(),
            unplaced.join("\n  ")
        );
        if before.problems.is_some() {
            message.push_str(&format!("\nthe file was already invalid before this edit:\n{}", lines(&before.problems)));
        }
        Err(anyhow!(message))
    }

    /// Copies `text` (the previous file) into the backup directory; returns the copy's path.
    pub(crate) fn back_up(&self, text: &str) -> Result<PathBuf> {
        let dir = self.backup_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let stamp = backup_stamp(SystemTime::now());
        let name = self.file_name();
        for n in 0..100 {
            let suffix = if n == 0 { String::new() } else { format!(".{n}") };
            let path = dir.join(format!("{name}.{stamp}{suffix}"));
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path) {
                Ok(mut file) => {
                    file.write_all(text.as_bytes())
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("cannot write the backup {}", path.display()))?;
                    return Ok(path);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("cannot write the backup {}", path.display())),
            }
        }
        bail!("cannot name a backup in {}: too many made in the same millisecond", dir.display())
    }

    /// Replaces the file with `text` at once, keeping its mode.
    pub(crate) fn replace(&self, text: &str) -> Result<()> {
        let mode = std::fs::metadata(&self.target)
            .map(|m| m.permissions().mode() & 0o7777)
            .with_context(|| format!("cannot read {}", self.shown.display()))?;
        let dir = parent(&self.target);
        let temporary = dir.join(format!(".{}.{}.tmp", self.file_name(), std::process::id()));
        let written = write_then_rename(&temporary, &self.target, text, mode);
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.with_context(|| format!("cannot write {}", self.shown.display()))?;
        // The rename itself reaches the disk with the directory.
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Deletes the oldest backups of this file beyond [`BACKUPS_KEPT`]; a failure only costs space.
    pub(crate) fn prune_backups(&self) {
        let mut backups = self.backups();
        let excess = backups.len().saturating_sub(BACKUPS_KEPT);
        for old in backups.drain(..excess) {
            let _ = std::fs::remove_file(old);
        }
    }

    /// This file's backups, oldest first.
    pub fn backups(&self) -> Vec<PathBuf> {
        let prefix = format!("{}.", self.file_name());
        let Ok(entries) = std::fs::read_dir(self.backup_dir()) else { return Vec::new() };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                // Only names this command gives (the stamp starts with the year's digits).
                name.strip_prefix(&prefix).is_some_and(|stamp| stamp.starts_with(|c: char| c.is_ascii_digit()))
            })
            .collect();
        found.sort();
        found
    }

    /// `backups/` beside the file as the user names it (its runtime scope).
    pub fn backup_dir(&self) -> PathBuf {
        parent(&self.shown).join(BACKUP_DIR)
    }

    fn file_name(&self) -> String {
        self.shown.file_name().map_or_else(|| "mcp.json".to_owned(), |n| n.to_string_lossy().into_owned())
    }
}

/// The errors as the daemon prints them, one indented line each.
fn lines(problems: &Option<ConfigErrors>) -> String {
    problems.iter().flat_map(|p| &p.errors).map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n")
}

/// The directory of `path` (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Writes `text` to `temporary` with `mode`, flushed, then renames it over `target`.
pub(crate) fn write_then_rename(temporary: &Path, target: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(temporary)?;
    // Exactly the old mode, whatever the umask.
    file.set_permissions(Permissions::from_mode(mode))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(temporary, target)
}

/// Holds an exclusive `flock` on `dir` until dropped, so two `1mcp mcp` commands never
/// interleave their read-change-write of the same file. Waits at most [`LOCK_WAIT`].
pub(crate) fn lock(dir: &Path) -> Result<File> {
    let handle = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let started = Instant::now();
    loop {
        match rustix::fs::flock(&handle, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(handle),
            Err(rustix::io::Errno::WOULDBLOCK) if started.elapsed() < LOCK_WAIT => std::thread::sleep(LOCK_RETRY),
            Err(rustix::io::Errno::WOULDBLOCK) => {
                bail!("another `1mcp mcp` command is editing a file in {}; try again", dir.display())
            }
            Err(e) => return Err(anyhow!(std::io::Error::from(e))).context(format!("cannot lock {}", dir.display())),
        }
    }
}

/// `2025-12-02T13-55-31.123Z`: UTC with milliseconds, sortable, no `:` (awkward in file names).
fn backup_stamp(time: SystemTime) -> String {
    let ms = time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
    onemcp_core::time::rfc3339_utc_ms(ms).replace(':', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_sort_by_time() {
        let at = |ms: u64| backup_stamp(SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
        assert_eq!(at(1_764_683_731_123), "2025-12-02T13-55-31.123Z");
        assert!(at(1_764_683_731_123) < at(1_764_683_731_124));
        assert!(at(999_999_999_999) < at(1_000_000_000_000), "fixed width across digit counts");
    }
}
