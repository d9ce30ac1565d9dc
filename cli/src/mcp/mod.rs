//! `1mcp mcp ...`: 1MCP's commands that edit mcp.json (`add`, `update`, `remove`, `enable`,
//! `disable`, `tools enable|disable`) and show it (`list`, `tools list`). A running daemon
//! applies each edit by hot reload; nothing here talks to it.

pub(crate) mod document;
mod edit;
mod list;
mod secrets;
pub(crate) mod store;

use crate::args::{McpAction, McpAddArgs, McpArgs, McpListArgs, McpToolsAction, McpUpdateArgs};
use crate::pidfile;
use anyhow::Result;
use edit::ServerFields;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use store::{ConfigFile, Edited};

/// Runs an `mcp` subcommand.
pub fn main(args: McpArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("1mcp mcp: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// The file to work on, and the directory where its daemon keeps `server.pid`.
struct Target {
    file: ConfigFile,
    config_dir: PathBuf,
}

fn run(args: McpArgs) -> Result<()> {
    let paths = args.place.resolve()?;
    let file = ConfigFile::new(paths.config)?;
    let target = Target { file, config_dir: paths.config_dir };
    match args.action {
        McpAction::Add(add) => add_server(&target, add),
        McpAction::Update(update) => update_server(&target, update),
        McpAction::Remove { name, yes } => remove_server(&target, &name, yes),
        McpAction::Enable { name } => set_disabled(&target, &name, false),
        McpAction::Disable { name } => set_disabled(&target, &name, true),
        McpAction::List(list) => list_servers(&target.file, &list),
        McpAction::Tools(McpToolsAction::List { server, disabled: _ }) => list_tools(&target.file, server.as_deref()),
        McpAction::Tools(McpToolsAction::Enable { server, tool }) => set_tool(&target, &server, &tool, false),
        McpAction::Tools(McpToolsAction::Disable { server, tool }) => set_tool(&target, &server, &tool, true),
    }
}

fn add_server(target: &Target, args: McpAddArgs) -> Result<()> {
    let file = &target.file;
    let fields = ServerFields::from_flags(args.server)?;
    let fresh = file.create_if_missing()?;
    if fresh {
        println!("created {}", file.shown.display());
    }
    let name = args.name;
    let edited = file.edit(fresh, |doc| {
        edit::add(doc, &name, &fields, args.disabled)?;
        Ok(edit::server(doc, &name).map(|entry| list::entry_lines(entry, false)).unwrap_or_default())
    })?;
    report(target, &edited, &name, &format!("added server \"{name}\":\n{}", edited.value.trim_end()));
    Ok(())
}

fn update_server(target: &Target, args: McpUpdateArgs) -> Result<()> {
    let file = &target.file;
    let fields = ServerFields::from_flags(args.server)?;
    let name = args.name;
    if fields == ServerFields::default() {
        anyhow::bail!("nothing to change: give the fields to set (--command, --args, --url, --env, --tags, ...)");
    }
    let edited = file.edit(false, |doc| edit::update(doc, &name, &fields))?;
    if !edited.written {
        println!("server \"{name}\" already has these values; {} is unchanged", file.shown.display());
        return Ok(());
    }
    let changes: String = edited.value.iter().map(|c| format!("\n    {c}")).collect();
    report(target, &edited, &name, &format!("updated server \"{name}\":{changes}"));
    Ok(())
}

fn remove_server(target: &Target, name: &str, yes: bool) -> Result<()> {
    let file = &target.file;
    if !yes && !confirmed(&format!("remove server \"{name}\" from {}?", file.shown.display()))? {
        println!("nothing removed");
        return Ok(());
    }
    let edited = file.edit(false, |doc| edit::remove(doc, name))?;
    report(target, &edited, name, &format!("removed server \"{name}\""));
    Ok(())
}

fn set_disabled(target: &Target, name: &str, disabled: bool) -> Result<()> {
    let file = &target.file;
    let edited = file.edit(false, |doc| edit::set_disabled(doc, name, disabled))?;
    let state = if disabled { "disabled" } else { "enabled" };
    if edited.written {
        report(target, &edited, name, &format!("{state} server \"{name}\""));
    } else {
        println!("server \"{name}\" is {state} already");
    }
    Ok(())
}

fn set_tool(target: &Target, name: &str, tool: &str, disabled: bool) -> Result<()> {
    let file = &target.file;
    let edited = file.edit(false, |doc| edit::set_tool_disabled(doc, name, tool, disabled))?;
    let state = if disabled { "disabled" } else { "enabled" };
    if edited.written {
        report(target, &edited, name, &format!("{state} tool \"{tool}\" of server \"{name}\""));
    } else {
        println!("tool \"{tool}\" of server \"{name}\" is {state} already");
    }
    Ok(())
}

/// Says what an edit did, where the previous file went, the daemon's warnings about this
/// server, and that a running daemon applies it.
fn report<T>(target: &Target, edited: &Edited<T>, name: &str, what: &str) {
    println!("{what}");
    println!("wrote {}", target.file.shown.display());
    if let Some(backup) = &edited.backup {
        println!("previous version: {}", backup.display());
    }
    let about = format!("server \"{name}\"");
    for warning in edited.warnings.iter().filter(|w| w.contains(&about)) {
        eprintln!("warning: {warning}");
    }
    if let Some(daemon) = pidfile::read_running(&target.config_dir) {
        eprintln!(
            "the running 1mcp (pid {}) applies the change by itself (it watches its mcp.json; SIGHUP if started with \
             --enable-config-reload false)",
            daemon.pid
        );
    }
}

/// Asks on the terminal; without one (a script), the command goes ahead.
fn confirmed(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Ok(true);
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

fn list_servers(file: &ConfigFile, args: &McpListArgs) -> Result<()> {
    let loaded = file.load()?;
    let view = list::ListView {
        show_disabled: args.show_disabled,
        show_secrets: args.show_secrets,
        tags: args
            .tags
            .as_deref()
            .unwrap_or("")
            .split(',')
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect(),
    };
    let (text, hidden) = list::servers(&loaded.doc, &view);
    print!("{text}");
    if text.is_empty() {
        eprintln!("no servers to list in {}", file.shown.display());
    }
    if hidden > 0 {
        eprintln!("{hidden} disabled server(s) not shown (--show-disabled lists them)");
    }
    if args.show_secrets {
        eprintln!("secrets are shown as written: mind who can see this output");
    }
    if let Some(problems) = &loaded.problems {
        eprintln!("the daemon refuses this file as it is:\n{problems}");
    }
    Ok(())
}

fn list_tools(file: &ConfigFile, server: Option<&str>) -> Result<()> {
    let loaded = file.load()?;
    if let Some(name) = server
        && edit::server(&loaded.doc, name).is_none()
    {
        anyhow::bail!("no server named \"{name}\" in {}", file.shown.display());
    }
    let text = list::disabled_tools(&loaded.doc, server);
    print!("{text}");
    if text.is_empty() {
        eprintln!("no disabled tools");
    }
    eprintln!("mcp.json records only the disabled tools; a client's tools/list on the running daemon shows the others");
    Ok(())
}
