//! The operator's side of authorization: one-time links that sign a browser in as the
//! operator, the only one who may approve a client on the consent page.

use crate::args::{AuthAction, AuthArgs};
use crate::{config_file, pidfile};
use anyhow::{Context, bail};
use onemcp_io::oauth::{self, keys::Keys};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// Runs an auth subcommand.
pub fn main(args: AuthArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("1mcp auth: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: AuthArgs) -> anyhow::Result<()> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let paths = config_file::resolve(args.config.as_deref(), args.config_dir.as_deref(), home.as_deref())?;
    let dir = &paths.config_dir;
    match args.action {
        AuthAction::Link => {
            let Some(daemon) = pidfile::read_running(dir) else {
                bail!("no 1mcp daemon is running with config directory {}", dir.display());
            };
            let Some(issuer) = daemon.auth_issuer else {
                bail!("the daemon (pid {}) serves no authorization server (auth is off or external)", daemon.pid);
            };
            let keys =
                Keys::load_or_create(dir).with_context(|| format!("cannot read the secret in {}", dir.display()))?;
            println!("{}", oauth::operator_link(&keys, &issuer, onemcp_io::unix_time_ms()));
            eprintln!("open it in your browser within the hour; it works once");
        }
    }
    Ok(())
}

/// At start: the operator link on a terminal (never into a log: it is a secret), else where
/// to get one.
pub fn announce_operator_link(dir: &Path, issuer: &str) {
    if !std::io::stderr().is_terminal() {
        tracing::info!("operator sign-in (to approve OAuth clients): run `1mcp auth link`");
        return;
    }
    match Keys::load_or_create(dir) {
        Ok(keys) => {
            let link = oauth::operator_link(&keys, issuer, onemcp_io::unix_time_ms());
            eprintln!("\n    To approve OAuth clients, open this one-time operator link (valid 1 h):\n    {link}\n");
        }
        Err(error) => tracing::error!(%error, "cannot read the operator secret"),
    }
}
