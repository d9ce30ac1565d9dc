//! The operator's side of authorization: one-time links that sign a browser in as the
//! operator, the only one who may approve a client on the consent page; and what 1mcp holds
//! toward the protected servers it reaches (`status`, `logout`), shown without a secret.

use crate::args::{AuthAction, AuthArgs};
use crate::{config_file, pidfile};
use anyhow::{Context, anyhow, bail};
use onemcp_core::FrontConfig;
use onemcp_core::config::{McpConfig, TransportConfig};
use onemcp_core::oauth_client::authorize_path;
use onemcp_core::oauth_client::machine::Saved;
use onemcp_io::backend_auth::store;
use onemcp_io::oauth::{self, keys::Keys};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Bound on each step of asking the local daemon for its `/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest `/health` answer read.
const MAX_HEALTH_BYTES: u64 = 4 * 1024 * 1024;

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
    let paths = args.place.resolve()?;
    match args.action {
        AuthAction::Link => link(&paths.config_dir),
        AuthAction::Status { server, json } => status(&paths, server.as_deref(), json),
        AuthAction::Logout { server } => logout(&paths.config_dir, &server),
    }
}

/// Prints a one-time operator link for the daemon of `dir`.
fn link(dir: &Path) -> anyhow::Result<()> {
    let Some(daemon) = pidfile::read_running(dir) else {
        bail!("no 1mcp daemon is running with config directory {}", dir.display());
    };
    let Some(issuer) = daemon.auth_issuer else {
        bail!("the daemon (pid {}) serves no authorization server (auth is off or external)", daemon.pid);
    };
    let keys = Keys::load_or_create(dir).with_context(|| format!("cannot read the secret in {}", dir.display()))?;
    println!("{}", oauth::operator_link(&keys, &issuer, onemcp_io::unix_time_ms()));
    eprintln!("open it in your browser within the hour; it works once");
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

/// `1mcp auth status [SERVER] [--json]`: the store's view of each HTTP server of the config
/// (and of entries for servers no longer in it), with what a running daemon says.
fn status(paths: &config_file::Paths, only: Option<&str>, as_json: bool) -> anyhow::Result<()> {
    let config = read_config(&paths.config)?;
    let stored = read_store(&paths.config_dir)?;
    if let Some(name) = only {
        check_http_server(&config, &stored, name, &paths.config)?;
    }
    let daemon = pidfile::read_running(&paths.config_dir).map(|info| DaemonView::ask(&info));
    let rows: Vec<Row<'_>> =
        Row::all(&config, &stored).into_iter().filter(|r| only.is_none_or(|n| r.name == n)).collect();
    let now_ms = onemcp_io::unix_time_ms();
    if as_json {
        let array: Vec<Value> = rows.iter().map(|row| row.to_json(now_ms, daemon.as_ref())).collect();
        print_out(&(serde_json::to_string_pretty(&array).context("cannot encode the status")? + "\n"))?;
    } else if rows.is_empty() {
        eprintln!("no HTTP servers in {} and no authorization stored", paths.config.display());
    } else {
        print_out(&table(&rows, now_ms, daemon.as_ref()))?;
    }
    if let Some(daemon) = &daemon
        && daemon.servers.is_none()
        && !as_json
    {
        eprintln!(
            "the daemon (pid {}) shows no per-server state to a caller without a token (its --health-info-level); \
             the states above are the store's",
            daemon.pid
        );
    }
    Ok(())
}

/// `1mcp auth logout SERVER`: drops SERVER's entry from the store.
fn logout(dir: &Path, server: &str) -> anyhow::Result<()> {
    let path = dir.join(store::FILE_NAME);
    let removed =
        store::remove(dir, server).map_err(|why| anyhow!("cannot update {}: {}", path.display(), store_error(&why)))?;
    if removed {
        println!(
            "forgot the authorization of {} (its tokens and the clients registered for it); a running daemon asks \
             for authorization again at its next request to it",
            shown(server)
        );
        eprintln!("the tokens are not revoked at the authorization server: revoke them there if they may have leaked");
    } else {
        println!("{} holds no authorization", shown(server));
    }
    Ok(())
}

/// The configuration at `path`, parsed like `serve` does (its warnings are `serve`'s to show).
fn read_config(path: &Path) -> anyhow::Result<McpConfig> {
    let text = onemcp_io::files::read_config_text(path).with_context(|| format!("cannot read {}", path.display()))?;
    let env = config_file::environment(path)?;
    let parsed = onemcp_core::config::parse_mcp_json(&text, &path.display().to_string(), &env)
        .map_err(|errors| anyhow!("{errors}"))?;
    Ok(parsed.config)
}

/// The entries of the store in `dir`.
fn read_store(dir: &Path) -> anyhow::Result<BTreeMap<String, Saved>> {
    let path = dir.join(store::FILE_NAME);
    store::read(&path).map_err(|why| anyhow!("cannot read {}: {}", path.display(), store_error(&why)))
}

/// A store error without what the parser quotes from the file: a malformed entry may hold a
/// secret. The position stays.
fn store_error(why: &str) -> String {
    let Some(rest) = why.strip_prefix("not a store file") else { return why.to_owned() };
    match rest.rfind(" at line ") {
        Some(at) => format!("not a store file ({})", rest[at..].trim()),
        None => "not a store file".to_owned(),
    }
}

/// Fails unless `name` is an HTTP server of `config` (at `path`), saying what it is instead.
fn check_http_server(
    config: &McpConfig,
    stored: &BTreeMap<String, Saved>,
    name: &str,
    path: &Path,
) -> anyhow::Result<()> {
    match config.servers.get(name).map(|s| &s.transport) {
        Some(TransportConfig::Http(_)) => Ok(()),
        Some(TransportConfig::Stdio(_)) => {
            bail!("{} is a stdio server in {}: 1mcp authorizes only toward HTTP servers", shown(name), path.display())
        }
        None if stored.contains_key(name) => bail!(
            "{} is not a server in {}; the store still holds an authorization for it (`1mcp auth logout {}` forgets it)",
            shown(name),
            path.display(),
            shown(name)
        ),
        None => bail!("{} is not a server in {}", shown(name), path.display()),
    }
}

/// Where one server stands in the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Standing {
    /// A grant is held for the configured URL.
    Authorized,
    /// Nothing usable is held.
    NotAuthorized,
    /// The entry is bound to another URL than the configured one: 1mcp does not use it.
    OtherUrl,
    /// The entry's server is no longer an HTTP server of the config.
    NotInConfig,
    /// The config sends its own `Authorization` header: 1mcp does not authorize itself.
    OwnHeader,
}

impl Standing {
    /// The name scripts see (`--json`).
    fn label(self) -> &'static str {
        match self {
            Standing::Authorized => "authorized",
            Standing::NotAuthorized => "not-authorized",
            Standing::OtherUrl => "other-url",
            Standing::NotInConfig => "not-in-config",
            Standing::OwnHeader => "own-header",
        }
    }
}

/// One server of `auth status`: from the config, the store, or both.
struct Row<'a> {
    name: &'a str,
    /// The URL the config gives it; `None` if it is no HTTP server of the config.
    url: Option<&'a str>,
    /// Its config sends an `Authorization` header itself.
    own_header: bool,
    saved: Option<&'a Saved>,
}

impl<'a> Row<'a> {
    /// Every HTTP server of `config`, then every entry of `stored` that is not one, by name.
    fn all(config: &'a McpConfig, stored: &'a BTreeMap<String, Saved>) -> Vec<Row<'a>> {
        let mut rows: Vec<Row<'a>> = config
            .servers
            .iter()
            .filter_map(|(name, server)| match &server.transport {
                TransportConfig::Http(http) => Some(Row {
                    name,
                    url: Some(&http.url),
                    own_header: http.headers.keys().any(|h| h.trim().eq_ignore_ascii_case("authorization")),
                    saved: stored.get(name),
                }),
                TransportConfig::Stdio(_) => None,
            })
            .collect();
        let orphans = stored
            .iter()
            .filter(|(name, _)| !rows.iter().any(|r| r.name == name.as_str()))
            .map(|(name, saved)| Row { name, url: None, own_header: false, saved: Some(saved) })
            .collect::<Vec<_>>();
        rows.extend(orphans);
        rows.sort_by(|a, b| a.name.cmp(b.name));
        rows
    }

    fn standing(&self) -> Standing {
        let Some(url) = self.url else { return Standing::NotInConfig };
        if self.own_header {
            return Standing::OwnHeader;
        }
        match self.saved {
            Some(saved) if saved.server_url() != url => Standing::OtherUrl,
            Some(saved) if saved.issuer().is_some() => Standing::Authorized,
            _ => Standing::NotAuthorized,
        }
    }

    /// The URL column: the configured one, else the one the entry is for.
    fn shown_url(&self) -> String {
        shown(self.url.or(self.saved.map(|s| s.server_url())).unwrap_or("-"))
    }

    /// What the store holds for it, in words.
    fn describe(&self, now_ms: u64) -> String {
        let grant = || match self.saved {
            Some(saved) if saved.issuer().is_some() => describe_grant(saved, now_ms),
            _ => "no grant".to_owned(),
        };
        match self.standing() {
            Standing::Authorized => grant(),
            Standing::NotAuthorized => {
                let issuers: Vec<String> = self.saved.into_iter().flat_map(Saved::registered_at).map(shown).collect();
                if issuers.is_empty() {
                    "not authorized".to_owned()
                } else {
                    format!("not authorized (a client is registered at {})", issuers.join(", "))
                }
            }
            Standing::OtherUrl => {
                format!("stored for another URL ({}): not used", shown(self.saved.map_or("", |s| s.server_url())))
            }
            Standing::NotInConfig => {
                format!("not in the config ({}); `1mcp auth logout {}` forgets it", grant(), shown(self.name))
            }
            Standing::OwnHeader => "not managed by 1mcp: the config sends its own Authorization header".to_owned(),
        }
    }

    /// The row for `--json`: no secret, only what [`Saved`] shows.
    fn to_json(&self, now_ms: u64, daemon: Option<&DaemonView>) -> Value {
        let saved = self.saved;
        let expires_at_ms = saved.and_then(Saved::expires_at_ms);
        let expires_in_seconds = expires_at_ms.map(|at| {
            let seconds = |ms: u64| i64::try_from(ms / 1000).unwrap_or(i64::MAX);
            if at >= now_ms { seconds(at - now_ms) } else { -seconds(now_ms - at) }
        });
        json!({
            "name": self.name,
            "url": self.url,
            "state": self.standing().label(),
            "storedUrl": saved.map(|s| s.server_url()),
            "issuer": saved.and_then(Saved::issuer),
            "scope": saved.and_then(Saved::scope),
            "expiresAtMs": expires_at_ms,
            "expiresInSeconds": expires_in_seconds,
            "refreshable": saved.is_some_and(Saved::refreshable),
            "registeredAt": saved.map(|s| s.registered_at().collect::<Vec<_>>()).unwrap_or_default(),
            "daemon": daemon.map(|d| d.of(self.name).to_json()),
        })
    }
}

/// `authorized by ISSUER, scope "S", expires in 42 min, refreshable`.
fn describe_grant(saved: &Saved, now_ms: u64) -> String {
    let mut parts = vec![format!("authorized by {}", shown(saved.issuer().unwrap_or("?")))];
    if let Some(scope) = saved.scope() {
        parts.push(format!("scope \"{}\"", shown(scope)));
    }
    parts.push(expiry(saved.expires_at_ms(), now_ms));
    parts.push(if saved.refreshable() { "refreshable" } else { "not refreshable" }.to_owned());
    parts.join(", ")
}

/// `expires in 42 min`, `expired 3 min ago`.
fn expiry(at_ms: Option<u64>, now_ms: u64) -> String {
    match at_ms {
        None => "no expiry given".to_owned(),
        Some(at) if at > now_ms => format!("expires in {}", span(at - now_ms)),
        Some(at) => format!("expired {} ago", span(now_ms - at)),
    }
}

/// A duration the way people say it, rounded down.
fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// `text` with control characters escaped: names, URLs and scopes come from files and from
/// remote servers, and must not drive the terminal.
fn shown(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Writes `text` to stdout; a reader that went away (`| head`) is no failure.
fn print_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("cannot write to stdout"),
        _ => Ok(()),
    }
}

/// The rows as an aligned table, a header first.
fn table(rows: &[Row<'_>], now_ms: u64, daemon: Option<&DaemonView>) -> String {
    let lines: Vec<[String; 3]> = rows
        .iter()
        .map(|row| {
            let mut state = row.describe(now_ms);
            if let Some(daemon) = daemon
                && let Some(said) = daemon.of(row.name).describe(row.url.is_some())
            {
                state = format!("{state}; daemon: {said}");
            }
            [shown(row.name), row.shown_url(), state]
        })
        .collect();
    let header = ["SERVER".to_owned(), "URL".to_owned(), "AUTHORIZATION".to_owned()];
    let width = |i: usize| lines.iter().chain([&header]).map(|l| l[i].chars().count()).max().unwrap_or(0);
    let (name_width, url_width) = (width(0), width(1));
    let mut out = String::new();
    for [name, url, state] in [&header].into_iter().chain(&lines) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{name:name_width$}  {url:url_width$}  {state}");
    }
    out
}

/// What the running daemon's `/health` says of its servers.
struct DaemonView {
    pid: u32,
    /// Where its pages are (the authorize links).
    base: String,
    /// Each server's status and authorize path, by name; `None` if `/health` did not answer
    /// or shows no per-server detail to a caller without a token.
    servers: Option<BTreeMap<String, (String, Option<String>)>>,
}

/// What the daemon says of one server.
enum DaemonSays {
    /// Its `/health` does not say.
    Unknown,
    /// It does not serve that server.
    NotServing,
    /// It waits for the user to open this link.
    AwaitingAuthorization(String),
    /// Its `/health` status (`ready`, `starting`, `failed`, ...).
    Status(String),
}

impl DaemonView {
    /// Asks the daemon of `info` (on this machine) for its `/health`, without a token.
    fn ask(info: &pidfile::PidInfo) -> DaemonView {
        let local = FrontConfig { host: info.host.clone(), port: info.port, external_url: None }.public_base();
        let servers = get_health(local.trim_start_matches("http://")).and_then(|body| {
            let details = body.get("servers")?.get("details")?.as_array()?;
            let by_name = details.iter().filter_map(|d| {
                let name = d.get("name")?.as_str()?.to_owned();
                let status = d.get("status")?.as_str()?.to_owned();
                Some((name, (status, d.get("authorize").and_then(Value::as_str).map(str::to_owned))))
            });
            Some(by_name.collect())
        });
        // The links the daemon gives use its public base: the embedded issuer when it has one.
        let base = info.auth_issuer.clone().unwrap_or(local);
        DaemonView { pid: info.pid, base: base.trim_end_matches('/').to_owned(), servers }
    }

    fn of(&self, name: &str) -> DaemonSays {
        let Some(servers) = &self.servers else { return DaemonSays::Unknown };
        match servers.get(name) {
            None => DaemonSays::NotServing,
            Some((status, authorize)) if status == "awaiting-authorization" => {
                let path = authorize.clone().unwrap_or_else(|| authorize_path(name));
                DaemonSays::AwaitingAuthorization(format!("{}{path}", self.base))
            }
            Some((status, _)) => DaemonSays::Status(status.clone()),
        }
    }
}

impl DaemonSays {
    /// In words; `None` for a server neither configured nor served (nothing to say).
    fn describe(&self, configured: bool) -> Option<String> {
        match self {
            DaemonSays::Unknown => Some("unknown".to_owned()),
            DaemonSays::NotServing if configured => Some("not serving it (yet)".to_owned()),
            DaemonSays::NotServing => None,
            DaemonSays::AwaitingAuthorization(link) => Some(format!("awaiting authorization: open {}", shown(link))),
            DaemonSays::Status(status) => Some(shown(status)),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            DaemonSays::Unknown => json!({"status": "unknown"}),
            DaemonSays::NotServing => json!({"status": "not-serving"}),
            DaemonSays::AwaitingAuthorization(link) => json!({"status": "awaiting-authorization", "authorize": link}),
            DaemonSays::Status(status) => json!({"status": status}),
        }
    }
}

/// `GET /health` of the daemon at `authority` (`host:port`, on this machine): its JSON body,
/// or `None` if it does not answer in time, or not with JSON.
fn get_health(authority: &str) -> Option<Value> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let address = authority.to_socket_addrs().ok()?.next()?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, HEALTH_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(HEALTH_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(HEALTH_TIMEOUT)).ok()?;
    // HTTP/1.0: the answer is not chunked, and ends when the daemon closes the connection.
    write!(stream, "GET /health HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\r\n").ok()?;
    let mut bytes = Vec::new();
    stream.take(MAX_HEALTH_BYTES).read_to_end(&mut bytes).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    // 503 is an unhealthy daemon's answer, with the same body.
    let status = head.split(' ').nth(1)?;
    if status != "200" && status != "503" {
        return None;
    }
    serde_json::from_str(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_like_people_say_them() {
        assert_eq!(expiry(Some(1_000 + 42 * 60_000), 1_000), "expires in 42 min");
        assert_eq!(expiry(Some(1_000), 1_000 + 3 * 60_000 + 5_000), "expired 3 min ago");
        assert_eq!(expiry(Some(90_000), 0), "expires in 90 s");
        assert_eq!(expiry(Some(0), 5 * 3_600_000), "expired 5 h ago");
        assert_eq!(expiry(Some(3 * 86_400_000), 0), "expires in 3 days");
        assert_eq!(expiry(None, 0), "no expiry given");
    }

    #[test]
    fn store_errors_keep_the_position_but_not_the_quoted_text() {
        let why = "not a store file: invalid type: string \"tok-SECRET\", expected u64 at line 3 column 20";
        assert_eq!(store_error(why), "not a store file (at line 3 column 20)");
        assert_eq!(store_error("not a store file: whatever"), "not a store file");
        assert_eq!(store_error("Permission denied (os error 13)"), "Permission denied (os error 13)");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(shown("read\u{1b}[2Jwrite\n"), "read\\u{1b}[2Jwrite\\n");
        assert_eq!(shown("https://as.example/é"), "https://as.example/é");
    }
}
