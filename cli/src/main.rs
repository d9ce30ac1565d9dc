//! `1mcp`: parse the command line, find and load mcp.json, bind the port (or take stdin/stdout
//! as the one client), then hand over to the io driver until a signal (or the end of stdin)
//! stops it. `1mcp proxy` bridges stdin/stdout to a daemon that is already running.

mod args;
mod auth;
mod config_check;
mod config_file;
mod logging;
mod mcp;
mod pidfile;
mod preset;
mod proxy;
mod token;

use anyhow::Context;
use args::{Cli, Command, ConfigCommand, LogLevel, ServeArgs, Transport};
use clap::Parser;
use onemcp_core::config::{AuthSection, McpConfig};
use onemcp_core::hub::PresetsFile;
use onemcp_core::{FrontConfig, HubConfig, Input};
use std::process::ExitCode;

/// How `serve` ended when it did not succeed.
enum Failure {
    /// Wrong usage (exit 2).
    Usage(String),
    /// mcp.json is invalid: one line per problem (exit 1).
    Config(Vec<String>),
    /// Anything else (exit 1).
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure::Other(error)
    }
}

fn main() -> ExitCode {
    let args = match Cli::parse().into_command() {
        Command::Serve(args) => args,
        Command::Proxy(args) => return proxy::main(args),
        Command::Token(args) => return token::main(args),
        Command::Auth(args) => return auth::main(args),
        Command::Mcp(args) => return mcp::main(args),
        Command::Preset(args) => return preset::main(args),
        Command::Completions(args) => return completions(args.shell),
        Command::Config(ConfigCommand::Check { file, place }) => return config_check::main(file.as_deref(), &place),
        Command::Config(ConfigCommand::Schema) => {
            let schema = onemcp_core::config::schema::mcp_json_schema();
            println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        Command::Config(ConfigCommand::Keys) => {
            print!("{}", onemcp_core::config::keys::keys_page());
            return ExitCode::SUCCESS;
        }
    };
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("1mcp: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Config(lines)) => {
            for line in lines {
                eprintln!("{line}");
            }
            ExitCode::from(1)
        }
        Err(Failure::Other(error)) => {
            eprintln!("1mcp: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(args: ServeArgs) -> Result<(), Failure> {
    if args.transport != Transport::Stdio {
        onemcp_core::front::check_exposure(&args.host, args.auth_enabled(), args.allow_unauthenticated_remote)
            .map_err(Failure::Usage)?;
    }
    // Logs never go to stdout (stderr or --log-file): with --transport stdio it is the client's.
    init_logging(args.log_level, args.log_file.as_deref())?;
    warn_about_flags(&args);
    let (paths, parsed) = load_config(&args)?;
    let external_idp = external_idp(&args, &parsed.auth)?;
    let presets = read_presets(&paths.config_dir)?;
    if args.transport == Transport::Stdio {
        return serve_stdio(&args, &paths, parsed.config, presets);
    }

    // Bound before anything else starts so port 0 is resolved and "address in use" is early.
    let listener = std::net::TcpListener::bind((args.host.as_str(), args.port))
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let local = listener.local_addr().context("cannot read the bound address")?;
    let url = format!("http://{local}/mcp");
    if local.ip().is_unspecified() && args.external_url.is_none() {
        tracing::warn!(
            host = %args.host,
            "listening on every interface without --external-url: only requests from this machine are \
             admitted; other machines get 403 unless their Host is the --external-url host"
        );
    }
    let front = FrontConfig { host: args.host.clone(), port: local.port(), external_url: args.external_url.clone() };
    let hub_config = HubConfig {
        auth_enabled: args.auth_enabled(),
        health_info_level: args.health_info_level.into(),
        auth_issuer: external_idp.as_ref().map(|idp| idp.issuer.clone()),
        auth_audience: external_idp.as_ref().map(|idp| idp.audience.clone()),
        ..daemon_hub_config(parsed.config, front, presets)
    };
    log_auth_mode(args.auth_enabled(), &url);
    let embedded_issuer = (args.auth_enabled() && external_idp.is_none()).then(|| hub_config.front.public_base());
    let info = pid_info(&args, &paths.config_dir, url, local.port(), embedded_issuer);
    let pid = info.pid;

    let mut settings = onemcp_io::DaemonSettings::new(listener, hub_config)
        .with_auth_options(args.auth_options())
        .with_state_dir(&paths.config_dir);
    if args.auth_enabled() {
        settings = settings.with_tokens(&paths.config_dir);
    }
    if let Some(idp) = external_idp {
        tracing::info!(issuer = %idp.issuer, audience = %idp.audience, "accepting JWT access tokens from an external identity provider");
        settings = settings.with_external_idp(idp);
    }
    let settings = with_reload_and_record(settings, &args, &paths, parsed.auth);
    let result = run_daemon_announced(settings, || announce(&paths.config_dir, &info));
    pidfile::remove(&paths.config_dir, pid);
    result?;
    tracing::info!("1mcp stopped");
    Ok(())
}

/// The external identity provider the flags or the config's `auth` section name, checked.
fn external_idp(
    args: &ServeArgs,
    section: &onemcp_core::config::AuthSection,
) -> Result<Option<onemcp_io::IdpSettings>, Failure> {
    let Some(idp) = args.external_idp(section) else { return Ok(None) };
    if !args.auth_enabled() {
        return Err(Failure::Usage("--auth-issuer needs authentication on (drop --no-auth)".into()));
    }
    idp.check().map_err(Failure::Usage)?;
    Ok(Some(idp))
}

/// Say whether clients need a token (and warn when they do not).
fn log_auth_mode(auth_enabled: bool, url: &str) {
    if auth_enabled {
        tracing::info!(
            "authentication is on: clients send `Authorization: Bearer <token>`; mint one with `1mcp token create`"
        );
    } else {
        tracing::warn!("authentication is off (--no-auth): anyone who can reach {url} can use every tool");
    }
}

/// Warnings about flags that are deprecated, do nothing on this transport, or are 1MCP's and
/// not followed.
fn warn_about_flags(args: &ServeArgs) {
    match args.transport {
        Transport::Sse => tracing::warn!("--transport sse is deprecated; it is the same as --transport http"),
        Transport::Stdio => tracing::warn!(
            "--transport stdio is deprecated (as in 1MCP): run one daemon over http and connect stdio clients with `1mcp proxy`"
        ),
        Transport::Http => {}
    }
    if args.transport != Transport::Stdio {
        for flag in args.view_flags() {
            tracing::warn!("{flag} only applies to --transport stdio; HTTP clients choose their view in the URL query");
        }
    }
    for warning in args.compatibility_warnings() {
        tracing::warn!("{warning}");
    }
}

/// Where the configuration lives, and the configuration (created empty if missing; read with
/// a size bound; its warnings logged).
fn load_config(args: &ServeArgs) -> Result<(config_file::Paths, onemcp_core::config::ParsedConfig), Failure> {
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let paths = config_file::resolve(args.config.as_deref(), args.config_dir.as_deref(), home.as_deref())?;
    if config_file::ensure_exists(&paths.config)? {
        tracing::info!(path = %paths.config.display(), "created an empty configuration");
    }
    let text = onemcp_io::files::read_config_text(&paths.config)
        .with_context(|| format!("cannot read {}", paths.config.display()))?;
    let env = config_file::environment(&paths.config)?;
    let source = paths.config.display().to_string();
    let parsed = onemcp_core::config::parse_mcp_json(&text, &source, &env)
        .map_err(|errors| Failure::Config(errors.errors.iter().map(ToString::to_string).collect()))?;
    for warning in &parsed.warnings {
        tracing::warn!("{warning}");
    }
    Ok((paths, parsed))
}

/// What `server.pid` says of this daemon.
fn pid_info(
    args: &ServeArgs,
    config_dir: &std::path::Path,
    url: String,
    port: u16,
    embedded_issuer: Option<String>,
) -> pidfile::PidInfo {
    pidfile::PidInfo {
        pid: std::process::id(),
        url,
        port,
        host: args.host.clone(),
        transport: "http".into(),
        started_at: pidfile::rfc3339_utc(std::time::SystemTime::now()),
        config_dir: config_dir.display().to_string(),
        log_file: args.log_file.as_ref().map(|p| p.display().to_string()),
        auth_issuer: embedded_issuer,
    }
}

/// Once signals stop the daemon gracefully: write `server.pid` (how `1mcp proxy`, `1mcp auth
/// link` and tests find this daemon), say where it listens, and give the operator link on a
/// terminal. A pid file that cannot be written is logged; the daemon serves anyway.
fn announce(config_dir: &std::path::Path, info: &pidfile::PidInfo) {
    if let Err(error) = pidfile::write(config_dir, info) {
        tracing::error!("{error:#}");
    }
    tracing::info!("1mcp listening on {}", info.url);
    if let Some(issuer) = &info.auth_issuer {
        auth::announce_operator_link(config_dir, issuer);
    }
}

/// One client on stdin/stdout; no listener and no server.pid (nothing for `proxy` to find).
/// Protected backends use the authorizations an HTTP daemon of the same config directory
/// obtained (there is no page here to complete one).
fn serve_stdio(
    args: &ServeArgs,
    paths: &config_file::Paths,
    mcp: McpConfig,
    presets: Option<PresetsFile>,
) -> Result<(), Failure> {
    // The hub checks Host like for any local HTTP client; the bridge presents itself as one.
    let front = FrontConfig { host: "127.0.0.1".into(), port: 0, external_url: args.external_url.clone() };
    let settings = onemcp_io::DaemonSettings::stdio(args.view(), daemon_hub_config(mcp, front, presets))
        .with_state_dir(&paths.config_dir);
    run_daemon(with_reload_and_record(settings, args, paths, AuthSection::default()))?;
    tracing::info!("1mcp stopped");
    Ok(())
}

/// `1mcp completions SHELL`: the script, made in memory first (clap_complete panics on a
/// failed write, e.g. into a closed pipe).
fn completions(shell: clap_complete::Shell) -> ExitCode {
    use clap::CommandFactory as _;
    use std::io::Write as _;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "1mcp", &mut script);
    match std::io::stdout().write_all(&script) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("1mcp completions: {e}");
            ExitCode::from(1)
        }
    }
}

/// The hub settings of a running daemon (the core's defaults suit tests and the simulator).
fn daemon_hub_config(mcp: McpConfig, front: FrontConfig, presets: Option<PresetsFile>) -> HubConfig {
    HubConfig {
        mcp,
        front,
        presets,
        auth_enabled: false,
        ping_interval: Some(PING_INTERVAL),
        session_idle_timeout: Some(SESSION_IDLE_TIMEOUT),
        ..HubConfig::default()
    }
}

/// Hot reload from the config file, and `--record` if asked.
fn with_reload_and_record(
    settings: onemcp_io::DaemonSettings,
    args: &ServeArgs,
    paths: &config_file::Paths,
    auth: AuthSection,
) -> onemcp_io::DaemonSettings {
    let settings = settings
        .with_config_source(config_source(args, &paths.config, auth))
        .with_presets_source(presets_source(args, &paths.config_dir.join("presets.json")));
    match &args.record {
        Some(path) => settings.with_record(path),
        None => settings,
    }
}

/// Idle backends are pinged this often; one that does not answer is restarted.
const PING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// Sessions unused this long (no stream, nothing in flight) are ended: 1MCP's session TTL.
const SESSION_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// Hot reload of `config`: each settled edit (or SIGHUP) is parsed like at startup, with
/// `.env` read afresh, and handed to the core, which applies it or reports why not.
/// `auth`: the `auth` section read at start; a reload does not apply a change to it (the
/// identity provider is set up once), and says so.
fn config_source(args: &ServeArgs, config: &std::path::Path, auth: AuthSection) -> onemcp_io::ConfigSource {
    let path = config.to_path_buf();
    let source = config.display().to_string();
    let parse_path = path.clone();
    let parse = move |text: &str| -> Input {
        let env = match config_file::environment(&parse_path) {
            Ok(env) => env,
            Err(e) => return Input::ConfigInvalid { errors: vec![format!("{e:#}")] },
        };
        match onemcp_core::config::parse_mcp_json(text, &source, &env) {
            Ok(parsed) => {
                for warning in &parsed.warnings {
                    tracing::warn!("{warning}");
                }
                if parsed.auth != auth {
                    tracing::warn!("the auth section changed: it applies at the next start, not on reload");
                }
                Input::ConfigChanged { config: parsed.config }
            }
            Err(errors) => Input::ConfigInvalid { errors: errors.errors.iter().map(ToString::to_string).collect() },
        }
    };
    onemcp_io::ConfigSource {
        path,
        parse: std::sync::Arc::new(parse),
        debounce: std::time::Duration::from_millis(args.config_reload_debounce),
        watch: args.enable_config_reload,
    }
}

/// Hot reload of `presets.json` (1MCP's file): each settled edit, `1mcp preset create` or
/// `delete` included, is handed to the core, which parses it; the same debounce and watch
/// settings as mcp.json's.
fn presets_source(args: &ServeArgs, path: &std::path::Path) -> onemcp_io::ConfigSource {
    let source = path.display().to_string();
    let parse = move |text: &str| -> Input {
        Input::PresetsChanged { presets: PresetsFile { source: source.clone(), text: text.to_owned() } }
    };
    onemcp_io::ConfigSource {
        path: path.to_path_buf(),
        parse: std::sync::Arc::new(parse),
        debounce: std::time::Duration::from_millis(args.config_reload_debounce),
        watch: args.enable_config_reload,
    }
}

/// `presets.json` from the config directory (1MCP's file), if there is one; the core parses it.
fn read_presets(config_dir: &std::path::Path) -> anyhow::Result<Option<PresetsFile>> {
    let path = config_dir.join("presets.json");
    match onemcp_io::files::read_config_text(&path) {
        Ok(text) => Ok(Some(PresetsFile { source: path.display().to_string(), text })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot read {}", path.display()))),
    }
}

fn run_daemon(settings: onemcp_io::DaemonSettings) -> anyhow::Result<()> {
    run_daemon_announced(settings, || {})
}

/// [`run_daemon`], calling `ready` once a signal would stop the daemon gracefully.
fn run_daemon_announced(settings: onemcp_io::DaemonSettings, ready: impl FnOnce()) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(onemcp_io::run_announced(settings, ready))?;
    // Do not wait on stragglers (a stuck backend reader): everything that matters is done.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(())
}

/// Installs logging at the flag's level, else the legacy `LOG_LEVEL`'s (with a warning).
fn init_logging(flag: Option<LogLevel>, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let (level, legacy_level) = log_level(flag);
    logging::init(level, file)?;
    if let Some(value) = legacy_level {
        tracing::warn!("LOG_LEVEL={value} is deprecated; use --log-level or ONE_MCP_LOG_LEVEL");
    }
    Ok(())
}

/// The effective level, and the legacy `LOG_LEVEL` value if that is where it came from.
fn log_level(flag: Option<LogLevel>) -> (LogLevel, Option<String>) {
    if let Some(level) = flag {
        return (level, None);
    }
    match std::env::var("LOG_LEVEL") {
        Ok(value) => match LogLevel::parse_legacy(&value) {
            Some(level) => (level, Some(value)),
            None => (LogLevel::Info, None),
        },
        Err(_) => (LogLevel::Info, None),
    }
}
