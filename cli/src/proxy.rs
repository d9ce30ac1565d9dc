//! `1mcp proxy`: find the running daemon (`--url`, else `<config-dir>/server.pid`, else the
//! default port), check it answers, then bridge stdin/stdout to it until stdin ends.

use crate::args::ProxyArgs;
use crate::{config_file, init_logging, pidfile};
use anyhow::Context;
use onemcp_io::proxy::{self, ProxySettings};
use std::process::ExitCode;
use std::time::Duration;

/// Where 1MCP's daemon listens by default.
const DEFAULT_URL: &str = "http://127.0.0.1:3050/mcp";

/// Runs the proxy; every failure is one line on stderr and exit code 1 (stdout stays MCP-only).
pub fn main(args: ProxyArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("1mcp proxy: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: ProxyArgs) -> anyhow::Result<()> {
    init_logging(args.log_level, args.log_file.as_deref())?;
    let timeout = Duration::from_millis(args.timeout.max(1));
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let (url, local_dir) = discover(&args, timeout).await?;
        let token = match (&args.token, local_dir) {
            (Some(token), _) => Some(token.clone()),
            // Only the daemon found through its own config dir gets that dir's token.
            (None, Some(dir)) => {
                let tags = view_tags(&args, &dir);
                Some(
                    onemcp_io::tokens::local_token(&dir, tags.as_ref(), onemcp_io::unix_time_ms())
                        .with_context(|| format!("cannot get a token for the daemon in {}", dir.display()))?,
                )
            }
            (None, None) => None,
        };
        proxy::run(ProxySettings { url, timeout, view: args.view(), token }).await.map_err(anyhow::Error::from)
    });
    // A blocked stdin read must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// The tags the proxy's view names (`--tags`, the tags of `-f`, or of `--preset` in the
/// config dir's presets.json), which its token is bound to; `None` when the view names none
/// (every server). A view the daemon cannot parse gets an unbound token and the daemon's 400.
fn view_tags(args: &ProxyArgs, dir: &std::path::Path) -> Option<std::collections::BTreeSet<String>> {
    let presets = match onemcp_io::files::read_config_text(&dir.join("presets.json")) {
        Ok(text) => onemcp_core::view::parse_presets(&text, "presets.json").0,
        Err(_) => onemcp_core::view::Presets::default(),
    };
    let view = onemcp_core::view::parse_view_query(&args.view().to_query(), &presets).ok()?;
    Some(view.filter?.referenced_tags()).filter(|tags| !tags.is_empty())
}

/// The daemon URL: `--url` as given, else the first of the pid file's URL (if its process is
/// alive) and the default that answers `/health/live`; with the config dir when the URL came
/// from that dir's pid file (that daemon takes the dir's token).
async fn discover(args: &ProxyArgs, timeout: Duration) -> anyhow::Result<(String, Option<std::path::PathBuf>)> {
    if let Some(url) = &args.url {
        return Ok((url.clone(), None));
    }
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let paths = config_file::resolve(args.config.as_deref(), args.config_dir.as_deref(), home.as_deref())?;
    let mut candidates = Vec::new();
    match pidfile::read_running(&paths.config_dir) {
        Some(info) => candidates.push((info.url, Some(paths.config_dir.clone()))),
        None => tracing::debug!(dir = %paths.config_dir.display(), "no running daemon recorded in server.pid"),
    }
    if candidates.iter().all(|(url, _)| url != DEFAULT_URL) {
        candidates.push((DEFAULT_URL.to_owned(), None));
    }
    let mut tried = Vec::new();
    for (url, dir) in candidates {
        match proxy::probe(&url, timeout).await {
            Ok(()) => {
                tracing::debug!(%url, "found a running daemon");
                return Ok((url, dir));
            }
            Err(error) => tried.push(error.to_string()),
        }
    }
    anyhow::bail!(
        "no running 1mcp daemon found (looked in {} and at {DEFAULT_URL}; start one with `1mcp serve` or pass --url): {}",
        pidfile::path(&paths.config_dir).display(),
        tried.join("; ")
    )
}
