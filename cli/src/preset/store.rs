//! `<config-dir>/presets.json` on disk for `1mcp preset`: read through the daemon's parser, edited
//! as an order-keeping document (unknown keys survive), written with `1mcp mcp`'s machinery (a
//! lock on the directory, a backup, an atomic replace keeping the mode; a new file is private).

use crate::mcp::document::{Json, Object, indent_of};
use crate::mcp::store::{ConfigFile, lock, write_then_rename};
use anyhow::{Context, Result, bail};
use onemcp_core::view::{Presets, parse_presets};
use std::path::{Path, PathBuf};

/// The file's name in the config directory (1MCP's).
pub const FILE_NAME: &str = "presets.json";
/// Mode of a presets.json this command creates (as for mcp.json).
const NEW_FILE_MODE: u32 = 0o600;
/// Attempts at an edit when the file changes under it (an editor saving meanwhile).
const ATTEMPTS: usize = 3;

/// presets.json of one config directory.
pub struct PresetStore {
    file: ConfigFile,
}

/// The file as read.
pub struct Loaded {
    /// The text (`None`: there is no file).
    pub text: Option<String>,
    /// The document (an empty 1MCP file when there is none).
    pub doc: Json,
    /// What the daemon would serve from it.
    pub presets: Presets,
    /// The daemon's warnings about it (skipped presets, odd fields).
    pub warnings: Vec<String>,
}

impl Loaded {
    /// The raw entry of preset `name` (for fields the daemon does not keep: strategy, dates).
    pub fn entry(&self, name: &str) -> Option<&Object> {
        presets_object(&self.doc)?.get(name)?.as_object()
    }
}

/// What an edit did.
pub struct Edited<T> {
    /// What the change returned.
    pub value: T,
    /// The copy of the previous file, if there was one.
    pub backup: Option<PathBuf>,
    /// Whether the file did not exist before.
    pub created: bool,
    /// The daemon's reading of the new file.
    pub after: Loaded,
}

impl PresetStore {
    /// presets.json in `config_dir`.
    pub fn new(config_dir: &Path) -> Result<PresetStore> {
        Ok(PresetStore { file: ConfigFile::new(config_dir.join(FILE_NAME))? })
    }

    /// The path, for messages.
    pub fn path(&self) -> &Path {
        &self.file.shown
    }

    /// Reads and parses the file; a missing file is one with no presets.
    pub fn load(&self) -> Result<Loaded> {
        let text = match onemcp_io::files::read_config_text(self.path()) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.path().display())),
        };
        let Some(text) = text else {
            return Ok(Loaded { text: None, doc: empty_file(), presets: Presets::default(), warnings: Vec::new() });
        };
        let (presets, warnings) = parse_presets(&text, &self.path().display().to_string());
        let doc = Json::parse(&text).map_err(|e| {
            anyhow::anyhow!("{} is not valid JSON ({e}); fix it first, nothing was changed", self.path().display())
        })?;
        if !doc.as_object().is_some_and(|root| matches!(root.get("presets"), None | Some(Json::Null | Json::Object(_))))
        {
            bail!("{} has no \"presets\" object; fix it first, nothing was changed", self.path().display());
        }
        Ok(Loaded { text: Some(text), doc, presets, warnings })
    }

    /// Applies `change` to the `presets` object and writes the result at once; the previous file
    /// is backed up beside mcp.json's backups.
    pub fn edit<T>(&self, change: impl Fn(&mut Object) -> Result<T>) -> Result<Edited<T>> {
        let dir = self.path().parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let _lock = lock(dir)?;
        for _ in 0..ATTEMPTS {
            let before = self.load()?;
            let mut doc = before.doc.clone();
            let value = change(presets_object_mut(&mut doc)?)?;
            let indent = before.text.as_deref().and_then(indent_of).unwrap_or("  ");
            let text = doc.to_text(indent, before.text.as_deref().is_none_or(|t| t.ends_with('\n')));
            if self.load()?.text != before.text {
                // Saved by someone else since it was read: start again from theirs.
                continue;
            }
            let backup = self.write(&before, &text)?;
            let after = self.load()?;
            return Ok(Edited { value, backup, created: before.text.is_none(), after });
        }
        bail!("{} kept changing while being edited; nothing was written, try again", self.path().display())
    }

    /// Writes `text` over the file `before` was read from (or creates it private).
    fn write(&self, before: &Loaded, text: &str) -> Result<Option<PathBuf>> {
        let Some(previous) = &before.text else {
            let temporary = self.path().with_file_name(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
            let written = write_then_rename(&temporary, self.path(), text, NEW_FILE_MODE);
            if written.is_err() {
                let _ = std::fs::remove_file(&temporary);
            }
            written.with_context(|| format!("cannot write {}", self.path().display()))?;
            return Ok(None);
        };
        let backup = self.file.back_up(previous)?;
        self.file.replace(text)?;
        self.file.prune_backups();
        Ok(Some(backup))
    }
}

/// What 1MCP writes when it creates the file.
fn empty_file() -> Json {
    Json::Object(
        [("version".to_owned(), Json::string("1.0.0")), ("presets".to_owned(), Json::Object(Object::default()))]
            .into_iter()
            .collect(),
    )
}

fn presets_object(doc: &Json) -> Option<&Object> {
    doc.as_object()?.get("presets")?.as_object()
}

/// The `presets` object, added (last) if the file has none; `load` refused any other shape.
fn presets_object_mut(doc: &mut Json) -> Result<&mut Object> {
    let root = doc.as_object_mut().context("presets.json is not a JSON object")?;
    if !matches!(root.get("presets"), Some(Json::Object(_))) {
        root.insert("presets", Json::Object(Object::default()));
    }
    root.get_mut("presets").and_then(Json::as_object_mut).context("presets.json has no \"presets\" object")
}
