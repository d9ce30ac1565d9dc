//! `1mcp preset ...`: 1MCP's commands for `<config-dir>/presets.json` (`create`, `list`, `show`,
//! `url`, `test`, `delete`). Expressions are checked and evaluated by the daemon's own parser and
//! filter, so what `test` shows is what `/mcp?preset=NAME` serves. 1MCP's interactive `edit` and
//! TUI are not offered: `create` replaces a preset, as in 1MCP.

mod entry;
mod report;
mod store;

use crate::args::{PresetAction, PresetArgs};
use crate::config_file::{self, Paths};
use crate::pidfile;
use anyhow::{Context, Result, bail};
use entry::{Filter, NewEntry};
use onemcp_core::view::Preset;
use report::Server;
use std::path::Path;
use std::process::ExitCode;
use store::{Loaded, PresetStore};

/// The MCP endpoint of a daemon started with 1MCP's defaults (host 127.0.0.1, port 3050).
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:3050/mcp";

/// Runs a `preset` subcommand.
pub fn main(args: PresetArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("1mcp preset: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: PresetArgs) -> Result<()> {
    let paths = args.place.resolve()?;
    let store = PresetStore::new(&paths.config_dir)?;
    match args.action {
        PresetAction::Create { name, filter, description } => create(&store, &paths, &name, &filter, description),
        PresetAction::List { json } => list(&store, json),
        PresetAction::Show { name } => show(&store, &paths, &name),
        PresetAction::Url { name } => {
            find(&store.load()?, &name, &store)?;
            println!("{}", preset_url(&paths.config_dir, &name));
            Ok(())
        }
        PresetAction::Test { name } => test(&store, &paths, &name),
        PresetAction::Delete { name } => delete(&store, &paths, &name),
    }
}

fn create(store: &PresetStore, paths: &Paths, name: &str, filter: &str, description: Option<String>) -> Result<()> {
    entry::check_name(name)?;
    let filter = Filter::parse(filter)?;
    let now = pidfile::rfc3339_utc(std::time::SystemTime::now());
    let new = NewEntry { name, description: description.as_deref(), filter: &filter, now: &now };
    let edited = store.edit(|presets| Ok(presets.insert(name, new.to_json(presets.get(name))).is_some()))?;
    let verb = if edited.value { "replaced" } else { "created" };
    println!("{verb} preset '{name}' ({}: {})", filter.strategy(), filter.expr);
    report_write(store, paths, edited.created, edited.backup.as_deref());
    warn_about(&edited.after.warnings, name);
    println!("url: {}", preset_url(&paths.config_dir, name));
    Ok(())
}

fn delete(store: &PresetStore, paths: &Paths, name: &str) -> Result<()> {
    if store.load()?.entry(name).is_none() {
        bail!("no preset named '{name}' in {}", store.path().display());
    }
    let edited = store.edit(|presets| presets.remove(name).map(|_| ()).context(format!("no preset named '{name}'")))?;
    println!("deleted preset '{name}'");
    report_write(store, paths, edited.created, edited.backup.as_deref());
    Ok(())
}

/// Where the new file went, the previous one, and what a running daemon does about it.
fn report_write(store: &PresetStore, paths: &Paths, created: bool, backup: Option<&Path>) {
    let how = if created { "created (private)" } else { "wrote" };
    println!("{how} {}", store.path().display());
    if let Some(backup) = backup {
        println!("previous version: {}", backup.display());
    }
    if let Some(daemon) = pidfile::read_running(&paths.config_dir) {
        eprintln!("the running 1mcp (pid {}) serves the change once it has read the file (hot reload)", daemon.pid);
    }
}

fn warn_about(warnings: &[String], name: &str) {
    let about = format!("preset '{name}'");
    for warning in warnings.iter().filter(|w| w.contains(&about)) {
        eprintln!("warning: {warning}");
    }
}

fn list(store: &PresetStore, json: bool) -> Result<()> {
    let loaded = store.load()?;
    for warning in &loaded.warnings {
        eprintln!("warning: {warning}");
    }
    if json {
        println!("{}", report::list_json(&loaded));
        return Ok(());
    }
    if loaded.presets.is_empty() {
        eprintln!("no presets in {}", store.path().display());
        return Ok(());
    }
    print!("{}", report::list_table(&loaded));
    Ok(())
}

fn show(store: &PresetStore, paths: &Paths, name: &str) -> Result<()> {
    let loaded = store.load()?;
    let preset = find(&loaded, name, store)?;
    let servers = servers(&paths.config)?;
    print!("{}", report::details(&loaded, preset, &preset_url(&paths.config_dir, name)));
    println!("{}", report::selected_line(preset, &servers));
    Ok(())
}

fn test(store: &PresetStore, paths: &Paths, name: &str) -> Result<()> {
    let loaded = store.load()?;
    let preset = find(&loaded, name, store)?;
    let servers = servers(&paths.config)?;
    print!("{}", report::evaluation(preset, &servers, &paths.config));
    Ok(())
}

/// The preset as the daemon serves it; an error says why there is none.
fn find<'a>(loaded: &'a Loaded, name: &str, store: &PresetStore) -> Result<&'a Preset> {
    if let Some(preset) = loaded.presets.get(name) {
        return Ok(preset);
    }
    let about = format!("preset '{name}'");
    match loaded.warnings.iter().find(|w| w.contains(&about)) {
        Some(why) if loaded.entry(name).is_some() => bail!("the daemon would not serve it: {why}"),
        _ => bail!("no preset named '{name}' in {}", store.path().display()),
    }
}

/// The servers of mcp.json as the daemon reads it (none if there is no file).
fn servers(config: &Path) -> Result<Vec<Server>> {
    let text = match onemcp_io::files::read_config_text(config) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("there is no {}: no servers to match", config.display());
            return Ok(Vec::new());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", config.display())),
    };
    let env = config_file::environment(config)?;
    let parsed = onemcp_core::config::parse_mcp_json(&text, &config.display().to_string(), &env)
        .map_err(|errors| anyhow::anyhow!("the daemon refuses {}:\n{errors}", config.display()))?;
    Ok(parsed
        .config
        .servers
        .into_iter()
        .map(|(name, server)| Server { name, tags: server.tags, disabled: server.disabled })
        .collect())
}

/// `<endpoint>?preset=NAME`: the running daemon's endpoint (from its `server.pid`), else 1MCP's
/// default one.
fn preset_url(config_dir: &Path, name: &str) -> String {
    let endpoint = pidfile::read_running(config_dir).map_or_else(|| DEFAULT_ENDPOINT.to_owned(), |daemon| daemon.url);
    format!("{endpoint}?preset={}", report::query_encode(name))
}
