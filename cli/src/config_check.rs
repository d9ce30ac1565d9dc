//! `1mcp config check [FILE]`: the diagnostics `serve` would give at start (and a reload would
//! give while running), without starting anything, with an exit status for scripts: 0 when the
//! daemon would take the file (warnings are printed and allowed), 1 when it would refuse it or
//! cannot read it.

use crate::args::ConfigPlace;
use crate::config_file;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Checks `file` (else the mcp.json `place` names) and says what the daemon would.
pub fn main(file: Option<&Path>, place: &ConfigPlace) -> ExitCode {
    match check(file, place) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("1mcp config check: {error:#}");
            ExitCode::from(1)
        }
    }
}

/// True if the daemon would take the file. Nothing is created: a missing file is an error here
/// (`serve` would write an empty one).
fn check(file: Option<&Path>, place: &ConfigPlace) -> anyhow::Result<bool> {
    let path = match file {
        Some(file) => file.to_path_buf(),
        None => place.resolve()?.config,
    };
    let text = onemcp_io::files::read_config_text(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let env = config_file::environment(&path)?;
    let source = path.display().to_string();
    match onemcp_core::config::parse_mcp_json(&text, &source, &env) {
        Ok(parsed) => {
            for warning in &parsed.warnings {
                eprintln!("{warning}");
            }
            let servers = parsed.config.servers.len();
            let enabled = parsed.config.servers.values().filter(|s| !s.disabled).count();
            let warnings = parsed.warnings.len();
            println!(
                "{source}: valid ({}, {enabled} enabled; {})",
                counted(servers, "server"),
                counted(warnings, "warning")
            );
            Ok(true)
        }
        Err(errors) => {
            for error in &errors.errors {
                eprintln!("{error}");
            }
            println!("{source}: invalid ({}): 1mcp would refuse it", counted(errors.errors.len(), "error"));
            Ok(false)
        }
    }
}

/// `1 server`, `2 servers`.
fn counted(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}
