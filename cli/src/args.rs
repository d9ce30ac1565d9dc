//! Command line: 1MCP's `serve` and `proxy` flags, each also settable as `ONE_MCP_<FLAG>` (the
//! flag wins).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use onemcp_io::ViewQuery;
use std::path::PathBuf;

/// `1mcp`: one MCP endpoint in front of many MCP servers.
#[derive(Debug, Parser)]
#[command(
    name = "1mcp",
    version,
    about,
    args_conflicts_with_subcommands = true,
    after_help = "The keys of a server entry in mcp.json (connectionTimeout, restartOnExit, perSession, ...): 1mcp config keys"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve` options given without the `serve` word.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The command to run, with the serve options wherever they were given.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default command).
    Serve(ServeArgs),
    /// Bridge stdin/stdout to a running daemon, so stdio-only clients share it.
    Proxy(ProxyArgs),
    /// About the configuration file (`1mcp config keys`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Personal access tokens for clients and scripts (`create`, `list`, `revoke`).
    Token(TokenArgs),
    /// Authorization: the operator's link, and what 1mcp holds toward protected servers
    /// (`link`, `status`, `logout`).
    Auth(AuthArgs),
    /// Edit the servers in mcp.json (`add`, `update`, `remove`, `enable`, `disable`, `list`,
    /// `tools`); a running daemon applies each edit by hot reload.
    Mcp(McpArgs),
    /// Named tag filters in presets.json, which clients select with `/mcp?preset=NAME`
    /// (`create`, `list`, `show`, `url`, `test`, `delete`).
    Preset(PresetArgs),
    /// Print a completion script for SHELL (`1mcp completions bash > ~/.local/share/bash-completion/completions/1mcp`).
    Completions(CompletionsArgs),
}

/// Where a command finds mcp.json and the config directory (`-c`, `-d`, as `serve` does).
#[derive(Debug, Args)]
pub struct ConfigPlace {
    /// mcp.json [default: <config-dir>/mcp.json]
    #[arg(short = 'c', long, env = "ONE_MCP_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Config directory [default: the --config file's directory, else ~/.config/1mcp]
    #[arg(short = 'd', long, env = "ONE_MCP_CONFIG_DIR", value_name = "DIR", global = true)]
    pub config_dir: Option<PathBuf>,
}

impl ConfigPlace {
    /// The paths these flags name (with `$HOME` for the default directory).
    pub fn resolve(&self) -> anyhow::Result<crate::config_file::Paths> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        crate::config_file::resolve(self.config.as_deref(), self.config_dir.as_deref(), home.as_deref())
    }
}

/// `1mcp completions SHELL`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `1mcp mcp ...`: 1MCP's config-editing commands, with its names and flags.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: McpAction,
    /// The mcp.json to edit, and its directory.
    #[command(flatten)]
    pub place: ConfigPlace,
}

/// `1mcp preset ...`: 1MCP's commands for presets.json in the config directory.
#[derive(Debug, Args)]
pub struct PresetArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: PresetAction,
    /// The config directory holding presets.json (and the mcp.json whose servers `test` and
    /// `show` match).
    #[command(flatten)]
    pub place: ConfigPlace,
}

/// A `preset` subcommand (1MCP's interactive `edit` and TUI are not offered).
#[derive(Debug, Subcommand)]
pub enum PresetAction {
    /// Create a preset, or replace the one of that name (as 1MCP does; `created` is kept).
    Create {
        /// Letters, digits, `-` and `_`, at most 50 (1MCP's rule)
        #[arg(value_name = "NAME")]
        name: String,
        /// Tag expression: `web,api`, `web and not prod`, `(a || b) && !c`
        #[arg(short = 'f', long, value_name = "EXPR")]
        filter: String,
        /// Free text shown by `list` and `show`
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// List the presets: name, strategy, filter, description.
    List {
        /// As a JSON array
        #[arg(long)]
        json: bool,
    },
    /// A preset and the servers of mcp.json it selects now.
    Show {
        /// The preset, as named in presets.json
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// The URL a client connects to for this preset.
    Url {
        /// The preset, as named in presets.json
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Which servers of mcp.json (and their tags) the preset would show, and which not.
    Test {
        /// The preset, as named in presets.json
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Remove a preset.
    Delete {
        /// The preset, as named in presets.json
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// An `mcp` subcommand.
#[derive(Debug, Subcommand)]
pub enum McpAction {
    /// Add a server: `add NAME --command CMD [--args A...]`, `add NAME --url URL`, or
    /// `add NAME [flags] -- CMD ARGS...` (a stdio server).
    Add(McpAddArgs),
    /// Change the given fields of a server; the others stay as they are.
    Update(McpUpdateArgs),
    /// Remove a server (asks first on a terminal, unless -y).
    Remove {
        /// The server, as named in mcp.json
        #[arg(value_name = "NAME")]
        name: String,
        /// Do not ask
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Start a disabled server (removes its `disabled` key).
    Enable {
        /// The server, as named in mcp.json
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Keep a server in mcp.json but stop it (`"disabled": true`).
    Disable {
        /// The server, as named in mcp.json
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// List the servers (env and header values masked unless --show-secrets).
    List(McpListArgs),
    /// The tools hidden from clients (`disabledTools`): `list`, `enable`, `disable`.
    #[command(subcommand)]
    Tools(McpToolsAction),
}

/// `mcp add`.
#[derive(Debug, Args)]
pub struct McpAddArgs {
    /// Name of the server (its tools are exposed as NAME_1mcp_TOOL)
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The server's fields.
    #[command(flatten)]
    pub server: ServerFlags,
    /// Add it disabled (kept in mcp.json, not started)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        action = ArgAction::Set,
    )]
    pub disabled: bool,
}

/// `mcp update`.
#[derive(Debug, Args)]
pub struct McpUpdateArgs {
    /// The server, as named in mcp.json
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The fields to change.
    #[command(flatten)]
    pub server: ServerFlags,
}

/// The fields of a server entry `add` and `update` take (1MCP's flags).
#[derive(Debug, Default, Args)]
pub struct ServerFlags {
    /// Transport [default: stdio with a command; with a url, streamable HTTP falling back to SSE]
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub transport: Option<ServerType>,
    /// Program to run (stdio)
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
    /// Its arguments (stdio; `--args a b` or `--args a --args b`; `--args=-y` for one starting with -)
    #[arg(long, value_name = "ARG", num_args = 1.., action = ArgAction::Append)]
    pub args: Option<Vec<String>>,
    /// URL of a remote server (http, sse)
    #[arg(short = 'u', long, value_name = "URL")]
    pub url: Option<String>,
    /// Environment variable of the server (stdio), repeatable; replaces all of them on update
    #[arg(short = 'e', long, value_name = "KEY=VALUE", num_args = 1.., action = ArgAction::Append)]
    pub env: Option<Vec<String>>,
    /// Tags, comma-separated (`""` removes them on update)
    #[arg(short = 'g', long, value_name = "TAG,...")]
    pub tags: Option<String>,
    /// Milliseconds to start and for each request (the `timeout` key)
    #[arg(long, value_name = "MS")]
    pub timeout: Option<u64>,
    /// Working directory (stdio)
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<String>,
    /// HTTP request header (http, sse), repeatable; replaces all of them on update
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., action = ArgAction::Append)]
    pub headers: Option<Vec<String>>,
    /// Restart the server when it exits (stdio; 1mcp's default is true)
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
    )]
    pub restart_on_exit: Option<bool>,
    /// Restarts in a row before the server is held in crash-loop (stdio; 0 = no limit)
    #[arg(long, value_name = "N")]
    pub max_restarts: Option<u32>,
    /// Milliseconds before the first restart (stdio; doubles up to 16x)
    #[arg(long, value_name = "MS")]
    pub restart_delay: Option<u64>,
    /// `-- CMD ARGS...`: the command and its arguments (implies --type stdio)
    #[arg(last = true, value_name = "CMD ARGS")]
    pub command_line: Vec<String>,
}

/// `--type` of `mcp add` / `mcp update`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServerType {
    /// A child process speaking MCP on stdin/stdout.
    Stdio,
    /// Streamable HTTP.
    Http,
    /// Legacy HTTP+SSE.
    Sse,
}

impl ServerType {
    /// The value of the `type` key.
    pub fn key_value(self) -> &'static str {
        match self {
            ServerType::Stdio => "stdio",
            ServerType::Http => "http",
            ServerType::Sse => "sse",
        }
    }
}

/// `mcp list`.
#[derive(Debug, Args)]
pub struct McpListArgs {
    /// Also list disabled servers
    #[arg(long)]
    pub show_disabled: bool,
    /// Show env values, header values and URL credentials as written
    #[arg(long)]
    pub show_secrets: bool,
    /// Only servers with any of these tags
    #[arg(short = 'g', long, value_name = "TAG,...")]
    pub tags: Option<String>,
}

/// `mcp tools ...`.
#[derive(Debug, Subcommand)]
pub enum McpToolsAction {
    /// The disabled tools (`disabledTools`), of every server or of SERVER.
    List {
        /// Only this server
        #[arg(value_name = "SERVER")]
        server: Option<String>,
        /// Only disabled tools (accepted for 1MCP scripts: mcp.json records only those)
        #[arg(long)]
        disabled: bool,
    },
    /// Show a disabled tool to clients again.
    Enable {
        /// The server, as named in mcp.json
        #[arg(value_name = "SERVER")]
        server: String,
        /// The tool, as the server names it (or SERVER_1mcp_TOOL)
        #[arg(value_name = "TOOL")]
        tool: String,
    },
    /// Hide a tool from clients and refuse calls to it.
    Disable {
        /// The server, as named in mcp.json
        #[arg(value_name = "SERVER")]
        server: String,
        /// The tool, as the server names it (or SERVER_1mcp_TOOL)
        #[arg(value_name = "TOOL")]
        tool: String,
    },
}

/// `1mcp auth ...`.
#[derive(Debug, Args)]
pub struct AuthArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AuthAction,
    /// The daemon's mcp.json and config directory (the operator secret, backend-oauth.json).
    #[command(flatten)]
    pub place: ConfigPlace,
}

/// An auth subcommand.
#[derive(Debug, Subcommand)]
pub enum AuthAction {
    /// Print a one-time link that signs this browser in as the operator of the running daemon
    /// (valid for an hour); the consent page approves clients only for the operator.
    Link,
    /// Show, for each HTTP server of the config, whether 1mcp holds an authorization toward it
    /// (issuer, scope, expiry; never a secret), and what a running daemon says of it.
    Status {
        /// Only this server
        #[arg(value_name = "SERVER")]
        server: Option<String>,
        /// Print a JSON array (one object per server) instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Forget what 1mcp holds toward SERVER (its tokens and the clients registered for it);
    /// the daemon asks for authorization again at its next request there.
    Logout {
        /// The server, as named in mcp.json (or in the store)
        #[arg(value_name = "SERVER")]
        server: String,
    },
}

/// `1mcp token ...`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TokenAction,
    /// The daemon's mcp.json and config directory (tokens.json).
    #[command(flatten)]
    pub place: ConfigPlace,
}

/// A token subcommand.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Mint a token (printed once; only its hash is stored).
    Create {
        /// Servers it may see: those with any of these tags [default: all]
        #[arg(long, value_name = "TAG,...", value_delimiter = ',')]
        tags: Vec<String>,
        /// How long it is valid, e.g. 30m, 12h, 7d [default: no expiry]
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// A name to recognise it by in `token list` and in logs
        #[arg(long, default_value = "token")]
        name: String,
    },
    /// List the tokens (never the tokens themselves).
    List,
    /// Revoke tokens by id or name; running daemons refuse them from the next request.
    Revoke {
        /// The token's id (`t_...`) or name.
        which: String,
    },
}

/// `1mcp config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List every key of a server entry in mcp.json, with its default and meaning.
    Keys,
    /// Print the JSON Schema of mcp.json (for editors: save it and point "$schema" at it).
    Schema,
    /// Check mcp.json as the daemon would read it (`.env` beside it included): its warnings and
    /// errors, exit status 0 if the daemon would take it, 1 if not.
    Check {
        /// The file to check [default: the mcp.json -c/-d name]
        file: Option<PathBuf>,
        /// Where the default mcp.json is.
        #[command(flatten)]
        place: ConfigPlace,
    },
}

/// Options of `serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Path to mcp.json [default: <config-dir>/mcp.json]
    #[arg(short = 'c', long, env = "ONE_MCP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Directory of mcp.json, .env and server.pid [default: the --config file's directory, else ~/.config/1mcp]
    #[arg(short = 'd', long, env = "ONE_MCP_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Address to listen on
    #[arg(short = 'H', long, env = "ONE_MCP_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one)
    #[arg(short = 'P', long, env = "ONE_MCP_PORT", default_value_t = 3050)]
    pub port: u16,

    /// Log level [default: info]
    #[arg(long, env = "ONE_MCP_LOG_LEVEL", value_enum, ignore_case = true)]
    pub log_level: Option<LogLevel>,

    /// Append logs to this file instead of stderr
    #[arg(long, env = "ONE_MCP_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Transport to serve (sse is a deprecated alias of http)
    #[arg(short = 't', long, env = "ONE_MCP_TRANSPORT", value_enum, default_value_t = Transport::Http)]
    pub transport: Transport,

    /// Public base URL when behind a reverse proxy
    #[arg(short = 'u', long, env = "ONE_MCP_EXTERNAL_URL", value_name = "URL")]
    pub external_url: Option<String>,

    /// Require authentication (OAuth 2.1)
    #[arg(
        long,
        env = "ONE_MCP_ENABLE_AUTH",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "true",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        action = ArgAction::Set,
    )]
    pub enable_auth: bool,

    /// Serve without authentication (same as --enable-auth=false)
    #[arg(long, env = "ONE_MCP_NO_AUTH")]
    pub no_auth: bool,

    /// Allow serving without authentication on a --host other than loopback (only when
    /// something in front authenticates)
    #[arg(long, env = "ONE_MCP_ALLOW_UNAUTHENTICATED_REMOTE")]
    pub allow_unauthenticated_remote: bool,

    /// Accept JWT access tokens (RFC 9068) from this external identity provider (its issuer
    /// URL, exactly as in the tokens' `iss`); the embedded authorization server is then off.
    /// Needs --auth-audience
    #[arg(long, env = "ONE_MCP_AUTH_ISSUER", value_name = "URL", requires = "auth_audience")]
    pub auth_issuer: Option<String>,

    /// The audience (RFC 8707 resource) the identity provider issues tokens for; tokens for
    /// any other are refused
    #[arg(long, env = "ONE_MCP_AUTH_AUDIENCE", value_name = "URI", requires = "auth_issuer")]
    pub auth_audience: Option<String>,

    /// The token claim holding scopes (`tag:<name>` entries bound what a token sees); with
    /// `scope`, `scp` is read when `scope` is missing
    #[arg(long, env = "ONE_MCP_AUTH_SCOPE_CLAIM", value_name = "CLAIM", default_value = "scope")]
    pub auth_scope_claim: String,

    /// 1MCP's scope-check switch: scopes are always checked here, so `false` is ignored with a
    /// warning (in 1MCP it silently switched the bearer check off; --no-auth does that openly)
    #[arg(
        long,
        env = "ONE_MCP_ENABLE_SCOPE_VALIDATION",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "true",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        action = ArgAction::Set,
    )]
    pub enable_scope_validation: bool,

    /// 1MCP's extra checks (always on here; accepted for compatibility)
    #[arg(
        long,
        env = "ONE_MCP_ENABLE_ENHANCED_SECURITY",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        action = ArgAction::Set,
    )]
    pub enable_enhanced_security: bool,

    /// Lifetime of the access tokens the authorization server issues, in minutes (clients
    /// refresh them; 1MCP's default is 1440)
    #[arg(long, env = "ONE_MCP_SESSION_TTL", value_name = "MINUTES", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=43_200))]
    pub session_ttl: u64,

    /// 1MCP's directory for OAuth state; 1mcp keeps it in the config dir (where `1mcp auth
    /// link` and every daemon sharing the dir find it), so this is ignored with a warning
    #[arg(long, env = "ONE_MCP_SESSION_STORAGE_PATH", value_name = "DIR")]
    pub session_storage_path: Option<PathBuf>,

    /// Window of the OAuth endpoints' per-address rate limit, in minutes
    #[arg(long, env = "ONE_MCP_RATE_LIMIT_WINDOW", value_name = "MINUTES", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub rate_limit_window: u64,

    /// Requests an address may make to the OAuth endpoints per window (metadata not counted)
    #[arg(long, env = "ONE_MCP_RATE_LIMIT_MAX", value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_max: u32,

    /// 1MCP's proxy trust setting (for client addresses behind a reverse proxy); 1mcp uses
    /// the connection's address, so values other than `loopback` are ignored with a warning
    #[arg(long, env = "ONE_MCP_TRUST_PROXY", value_name = "VALUE", default_value = "loopback")]
    pub trust_proxy: String,

    /// What `/health` shows callers without a token while authentication is on
    #[arg(long, env = "ONE_MCP_HEALTH_INFO_LEVEL", value_name = "LEVEL", value_enum, default_value = "minimal")]
    pub health_info_level: HealthInfoLevel,

    /// Apply edits of the config file without a restart (SIGHUP reloads either way)
    #[arg(
        long,
        env = "ONE_MCP_ENABLE_CONFIG_RELOAD",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "true",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        action = ArgAction::Set,
    )]
    pub enable_config_reload: bool,

    /// Quiet time after the last edit of the config file before it is reloaded
    #[arg(long, env = "ONE_MCP_CONFIG_RELOAD_DEBOUNCE", value_name = "MS", default_value_t = 500)]
    pub config_reload_debounce: u64,

    /// Tag expression choosing the servers the client sees; only for --transport stdio (HTTP
    /// clients pass ?tag-filter=)
    #[arg(short = 'f', long, env = "ONE_MCP_FILTER", value_name = "EXPR")]
    pub filter: Option<String>,

    /// Preset (presets.json) choosing the servers the client sees; only for --transport stdio
    /// (HTTP clients pass ?preset=)
    #[arg(long, env = "ONE_MCP_PRESET", value_name = "NAME")]
    pub preset: Option<String>,

    /// Servers having any of these tags; only for --transport stdio (HTTP clients pass ?tags=)
    #[arg(long, env = "ONE_MCP_TAGS", value_name = "TAG,...", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// Paginate lists per server; only for --transport stdio (HTTP clients pass ?pagination=true)
    #[arg(
        short = 'p',
        long,
        env = "ONE_MCP_PAGINATION",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = BoolishValueParser::new(),
        action = ArgAction::Set,
    )]
    pub pagination: bool,

    /// Record every call into the core (requests, backend output, config reloads, timer
    /// wake-ups) with the outputs it gave to FILE as JSON lines, for `onemcp-sim replay`. The file contains everything clients and servers
    /// said, and the servers' env values: treat it as secret (it is created with mode 0600)
    #[arg(long, env = "ONE_MCP_RECORD", value_name = "FILE")]
    pub record: Option<PathBuf>,
}

impl ServeArgs {
    /// Whether authentication was asked for.
    pub fn auth_enabled(&self) -> bool {
        self.enable_auth && !self.no_auth
    }

    /// The embedded authorization server's settings.
    pub fn auth_options(&self) -> onemcp_io::oauth::AuthOptions {
        onemcp_io::oauth::AuthOptions {
            access_ttl_ms: self.session_ttl * 60 * 1000,
            rate_limit_max: self.rate_limit_max,
            rate_limit_window_ms: self.rate_limit_window * 60 * 1000,
        }
    }

    /// Warnings about 1MCP flags whose values 1mcp does not follow, one line each.
    pub fn compatibility_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.enable_scope_validation {
            warnings.push(
                "--enable-scope-validation=false is ignored: a token's scopes are always checked (in 1MCP it \
                 switched the bearer check off altogether); --no-auth switches authentication off"
                    .to_owned(),
            );
        }
        if let Some(path) = &self.session_storage_path {
            warnings.push(format!(
                "--session-storage-path {} is ignored: authorization state is kept in the config directory",
                path.display()
            ));
        }
        if self.trust_proxy != "loopback" {
            warnings.push(format!(
                "--trust-proxy {} is ignored: client addresses are the connections' own",
                self.trust_proxy
            ));
        }
        warnings
    }

    /// The external identity provider asked for, if any: by the flags, else by the config
    /// file's `auth` section (a flag wins over its key).
    pub fn external_idp(&self, section: &onemcp_core::config::AuthSection) -> Option<onemcp_io::IdpSettings> {
        let from_flags = self.auth_issuer.is_some();
        let pick = |flag: &Option<String>, key: &Option<String>| if from_flags { flag.clone() } else { key.clone() };
        let scope_claim = match (&section.scope_claim, self.auth_scope_claim.as_str()) {
            // The flag's default is `scope`; the section's key counts unless the flag was set.
            (Some(key), "scope") => key.clone(),
            (_, flag) => flag.to_owned(),
        };
        Some(onemcp_io::IdpSettings {
            issuer: pick(&self.auth_issuer, &section.issuer)?,
            audience: pick(&self.auth_audience, &section.audience)?,
            scope_claim,
        })
    }

    /// The view the stdio client gets.
    pub fn view(&self) -> ViewQuery {
        ViewQuery {
            preset: self.preset.clone(),
            filter: self.filter.clone(),
            tags: self.tags.clone(),
            pagination: self.pagination,
        }
    }

    /// The stdio-only view options that were given.
    pub fn view_flags(&self) -> Vec<&'static str> {
        let given = [
            (self.filter.is_some(), "--filter"),
            (self.preset.is_some(), "--preset"),
            (!self.tags.is_empty(), "--tags"),
            (self.pagination, "--pagination"),
        ];
        given.into_iter().filter_map(|(set, name)| set.then_some(name)).collect()
    }
}

/// Options of `proxy`.
#[derive(Clone, Debug, Args)]
pub struct ProxyArgs {
    /// The daemon's MCP URL [default: the url in <config-dir>/server.pid, else http://127.0.0.1:3050/mcp]
    #[arg(short = 'u', long, env = "ONE_MCP_URL", value_name = "URL")]
    pub url: Option<String>,

    /// Milliseconds to wait for connecting to the daemon and for its first answers
    #[arg(short = 't', long, env = "ONE_MCP_TIMEOUT", value_name = "MS", default_value_t = 10_000)]
    pub timeout: u64,

    /// Tag expression choosing the servers this client sees
    #[arg(short = 'f', long, env = "ONE_MCP_FILTER", value_name = "EXPR")]
    pub filter: Option<String>,

    /// Preset (presets.json) choosing the servers this client sees; beats --filter and --tags
    #[arg(short = 'P', long, env = "ONE_MCP_PRESET", value_name = "NAME")]
    pub preset: Option<String>,

    /// Servers having any of these tags
    #[arg(long, env = "ONE_MCP_TAGS", value_name = "TAG,...", value_delimiter = ',')]
    pub tags: Vec<String>,

    /// mcp.json of the daemon (its directory holds server.pid)
    #[arg(short = 'c', long, env = "ONE_MCP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Directory holding the daemon's server.pid [default: the --config file's directory, else ~/.config/1mcp]
    #[arg(short = 'd', long, env = "ONE_MCP_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,

    /// Bearer token for the daemon [default: for the daemon found through the config dir, a
    /// token kept in that dir]
    #[arg(long, env = "ONE_MCP_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Log level [default: info]
    #[arg(long, env = "ONE_MCP_LOG_LEVEL", value_enum, ignore_case = true)]
    pub log_level: Option<LogLevel>,

    /// Append logs to this file instead of stderr (stdout carries only MCP messages)
    #[arg(long, env = "ONE_MCP_LOG_FILE", value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

impl ProxyArgs {
    /// The view this client asks for.
    pub fn view(&self) -> ViewQuery {
        ViewQuery {
            preset: self.preset.clone(),
            filter: self.filter.clone(),
            tags: self.tags.clone(),
            pagination: false,
        }
    }
}

/// `--health-info-level` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HealthInfoLevel {
    /// Status and time.
    Minimal,
    /// Also the version, server counts, names and states.
    Basic,
    /// Everything (commands, URLs, tags, errors).
    Full,
}

impl From<HealthInfoLevel> for onemcp_core::health::InfoLevel {
    fn from(level: HealthInfoLevel) -> Self {
        match level {
            HealthInfoLevel::Minimal => onemcp_core::health::InfoLevel::Minimal,
            HealthInfoLevel::Basic => onemcp_core::health::InfoLevel::Basic,
            HealthInfoLevel::Full => onemcp_core::health::InfoLevel::Full,
        }
    }
}

/// `--log-level` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each request.
    Debug,
    /// Normal operation.
    Info,
    /// Problems worth a look.
    Warn,
    /// Failures only.
    Error,
}

impl LogLevel {
    /// Parses a legacy `LOG_LEVEL` value.
    pub fn parse_legacy(text: &str) -> Option<LogLevel> {
        <LogLevel as ValueEnum>::from_str(text.trim(), true).ok()
    }
}

/// `--transport` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Streamable HTTP on /mcp (and legacy SSE on /sse).
    Http,
    /// Deprecated alias of `http`.
    Sse,
    /// Serve one client on stdin/stdout, no listener (deprecated in 1MCP: prefer `proxy`).
    Stdio,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arguments of subcommand `variant` (e.g. `Command::Auth`) that `argv` parses to;
    /// `None` if it does not parse, or parses to another subcommand.
    macro_rules! parsed_as {
        ($variant:path, $argv:expr) => {
            match Cli::try_parse_from($argv).map(Cli::into_command) {
                Ok($variant(args)) => Some(args),
                _ => None,
            }
        };
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        match Cli::try_parse_from(args)?.into_command() {
            Command::Serve(args) => Ok(args),
            _ => Err(clap::Error::new(clap::error::ErrorKind::InvalidSubcommand)),
        }
    }

    fn parse_proxy(args: &[&str]) -> Option<ProxyArgs> {
        parsed_as!(Command::Proxy, args)
    }

    #[test]
    fn onemcps_auth_flags_are_accepted_and_the_unsafe_ones_do_not_weaken_anything() {
        let Ok(args) = parse(&[
            "1mcp",
            "--enable-auth",
            "--enable-scope-validation",
            "false",
            "--enable-enhanced-security",
            "--session-ttl",
            "1440",
            "--session-storage-path",
            "/tmp/sessions",
            "--rate-limit-window",
            "10",
            "--rate-limit-max",
            "50",
            "--trust-proxy",
            "true",
            "--health-info-level",
            "basic",
        ]) else {
            panic!("1MCP's flags must parse")
        };
        assert!(args.auth_enabled(), "scope validation off does not switch authentication off");
        let options = args.auth_options();
        assert_eq!(
            (options.access_ttl_ms, options.rate_limit_max, options.rate_limit_window_ms),
            (1440 * 60_000, 50, 600_000)
        );
        let warnings = args.compatibility_warnings();
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings[0].contains("always checked"));
        assert_eq!(args.health_info_level, HealthInfoLevel::Basic);
        let Ok(defaults) = parse(&["1mcp"]) else { panic!("parse failed") };
        assert!(defaults.compatibility_warnings().is_empty());
        assert_eq!(defaults.auth_options().access_ttl_ms, 3_600_000, "short-lived access tokens by default");
        assert!(parse(&["1mcp", "--session-ttl", "0"]).is_err());
    }

    #[test]
    fn defaults_match_1mcp() {
        let Ok(args) = parse(&["1mcp"]) else { panic!("parse failed") };
        assert_eq!((args.host.as_str(), args.port, args.transport), ("127.0.0.1", 3050, Transport::Http));
        assert!(args.auth_enabled());
        assert_eq!((args.config, args.config_dir, args.log_level, args.external_url), (None, None, None, None));
    }

    #[test]
    fn serve_subcommand_takes_the_same_flags() {
        let Ok(args) = parse(&["1mcp", "serve", "-P", "0", "-H", "::1", "-d", "/tmp/d", "--log-level", "debug"]) else {
            panic!("parse failed")
        };
        assert_eq!((args.port, args.host.as_str(), args.log_level), (0, "::1", Some(LogLevel::Debug)));
        assert_eq!(args.config_dir, Some(PathBuf::from("/tmp/d")));
    }

    #[test]
    fn options_on_both_sides_of_serve_are_rejected() {
        assert!(parse(&["1mcp", "-P", "1", "serve", "-P", "2"]).is_err());
    }

    #[test]
    fn auth_switches() {
        let auth = |argv: &[&str]| parse(argv).map(|a| a.auth_enabled()).ok();
        assert_eq!(auth(&["1mcp", "--no-auth"]), Some(false));
        assert_eq!(auth(&["1mcp", "--enable-auth=false"]), Some(false));
        assert_eq!(auth(&["1mcp", "--enable-auth", "false"]), Some(false));
        assert_eq!(auth(&["1mcp", "--enable-auth"]), Some(true));
        assert_eq!(auth(&["1mcp", "--enable-auth", "true", "--no-auth"]), Some(false));
        assert_eq!(auth(&["1mcp", "--enable-auth=maybe"]), None);
    }

    #[test]
    fn an_external_identity_provider_needs_issuer_and_audience() {
        let none = onemcp_core::config::AuthSection::default();
        let idp = |argv: &[&str]| parse(argv).map(|a| a.external_idp(&none));
        assert_eq!(idp(&["1mcp"]).ok(), Some(None));
        let both =
            ["1mcp", "--auth-issuer", "https://idp.example.com", "--auth-audience", "https://mcp.example.com/mcp"];
        let settings = idp(&both).ok().flatten().expect("both given");
        assert_eq!((settings.issuer.as_str(), settings.scope_claim.as_str()), ("https://idp.example.com", "scope"));
        assert!(idp(&["1mcp", "--auth-issuer", "https://idp.example.com"]).is_err(), "the audience is required");
        assert!(idp(&["1mcp", "--auth-audience", "https://mcp.example.com/mcp"]).is_err(), "so is the issuer");
        let roles = [&both[..], &["--auth-scope-claim", "roles"]].concat();
        assert_eq!(idp(&roles).ok().flatten().map(|s| s.scope_claim), Some("roles".to_owned()));
    }

    #[test]
    fn the_config_files_auth_section_names_the_provider_unless_flags_do() {
        let section = onemcp_core::config::AuthSection {
            issuer: Some("https://idp.example.com".into()),
            audience: Some("https://mcp.example.com".into()),
            scope_claim: Some("scp".into()),
        };
        let Ok(plain) = parse(&["1mcp"]) else { panic!("parse failed") };
        let settings = plain.external_idp(&section).expect("from the file");
        assert_eq!(
            (settings.issuer.as_str(), settings.audience.as_str(), settings.scope_claim.as_str()),
            ("https://idp.example.com", "https://mcp.example.com", "scp")
        );
        let Ok(flags) = parse(&[
            "1mcp",
            "--auth-issuer",
            "https://other.example.com",
            "--auth-audience",
            "https://mcp.example.com/mcp",
            "--auth-scope-claim",
            "roles",
        ]) else {
            panic!("parse failed")
        };
        let settings = flags.external_idp(&section).expect("from the flags");
        assert_eq!(
            (settings.issuer.as_str(), settings.audience.as_str(), settings.scope_claim.as_str()),
            ("https://other.example.com", "https://mcp.example.com/mcp", "roles"),
            "flags win"
        );
    }

    #[test]
    fn unknown_flags_and_values_are_errors() {
        assert!(parse(&["1mcp", "--frobnicate"]).is_err());
        assert!(parse(&["1mcp", "-t", "websocket"]).is_err());
        assert!(parse(&["1mcp", "--log-level", "verbose"]).is_err());
        assert!(parse(&["1mcp", "-P", "70000"]).is_err());
    }

    #[test]
    fn transports_and_legacy_levels() {
        assert_eq!(parse(&["1mcp", "-t", "sse"]).map(|a| a.transport).ok(), Some(Transport::Sse));
        assert_eq!(parse(&["1mcp", "-t", "stdio"]).map(|a| a.transport).ok(), Some(Transport::Stdio));
        assert_eq!(LogLevel::parse_legacy(" WARN "), Some(LogLevel::Warn));
        assert_eq!(LogLevel::parse_legacy("loud"), None);
    }

    #[test]
    fn stdio_view_flags_on_serve() {
        let Ok(args) = parse(&["1mcp", "-t", "stdio", "-f", "a+b", "--preset", "dev", "--tags", "x,y", "-p"]) else {
            panic!("parse failed")
        };
        assert_eq!(args.view_flags(), ["--filter", "--preset", "--tags", "--pagination"]);
        assert_eq!(args.view().to_query(), "preset=dev&pagination=true");
        let Ok(plain) = parse(&["1mcp", "--pagination", "false"]) else { panic!("parse failed") };
        assert!(plain.view_flags().is_empty());
    }

    #[test]
    fn auth_status_and_logout_take_a_server_and_the_config_flags() {
        let auth = |argv: &[&str]| parsed_as!(Command::Auth, argv);
        let Some(args) = auth(&["1mcp", "auth", "status", "-d", "/tmp/x", "--json"]) else { panic!("parse failed") };
        assert_eq!(args.place.config_dir, Some(PathBuf::from("/tmp/x")));
        assert!(matches!(args.action, AuthAction::Status { server: None, json: true }), "{:?}", args.action);
        let Some(args) = auth(&["1mcp", "auth", "status", "remote"]) else { panic!("parse failed") };
        assert!(matches!(args.action, AuthAction::Status { server: Some(ref s), json: false } if s == "remote"));
        let Some(args) = auth(&["1mcp", "auth", "logout", "remote", "-c", "/tmp/m.json"]) else {
            panic!("parse failed")
        };
        assert_eq!(args.place.config, Some(PathBuf::from("/tmp/m.json")));
        assert!(matches!(args.action, AuthAction::Logout { ref server } if server == "remote"));
        assert!(auth(&["1mcp", "auth", "logout"]).is_none(), "logout needs a server");
    }

    #[test]
    fn mcp_add_takes_1mcps_flags_and_everything_after_double_dash_as_the_command() {
        let mcp = |argv: &[&str]| parsed_as!(Command::Mcp, argv);
        let argv = ["1mcp", "mcp", "add", "air", "-e", "K=v", "-g", "a,b", "-c", "/tmp/m.json", "--", "npx", "-y", "p"];
        let Some(McpArgs { action: McpAction::Add(add), place, .. }) = mcp(&argv) else { panic!("parse failed") };
        assert_eq!((add.name.as_str(), place.config), ("air", Some(PathBuf::from("/tmp/m.json"))));
        assert_eq!(add.server.command_line, ["npx", "-y", "p"]);
        assert_eq!((add.server.env, add.server.tags), (Some(vec!["K=v".to_owned()]), Some("a,b".to_owned())));
        let argv = ["1mcp", "mcp", "add", "s", "--args", "a", "b", "--args=-c", "--restart-on-exit", "--disabled"];
        let Some(McpArgs { action: McpAction::Add(add), .. }) = mcp(&argv) else { panic!("parse failed") };
        assert_eq!(add.server.args, Some(vec!["a".to_owned(), "b".to_owned(), "-c".to_owned()]));
        assert_eq!((add.server.restart_on_exit, add.disabled), (Some(true), true));
        assert!(mcp(&["1mcp", "mcp", "update", "s", "--disabled"]).is_none(), "update has no --disabled");
        assert!(mcp(&["1mcp", "mcp", "add", "s", "--type", "websocket"]).is_none());
        let Some(McpArgs { action: McpAction::Remove { yes: true, .. }, .. }) =
            mcp(&["1mcp", "mcp", "remove", "s", "-y"])
        else {
            panic!("remove -y")
        };
        let listed = mcp(&["1mcp", "mcp", "list", "--show-disabled", "--show-secrets", "-g", "web"]);
        let Some(McpArgs { action: McpAction::List(list), .. }) = listed else { panic!("parse failed") };
        assert!(list.show_disabled && list.show_secrets && list.tags.as_deref() == Some("web"));
        let tools = mcp(&["1mcp", "mcp", "tools", "disable", "s", "rm", "-d", "/tmp/x"]);
        assert!(matches!(
            tools,
            Some(McpArgs { action: McpAction::Tools(McpToolsAction::Disable { ref server, ref tool }), .. })
                if server == "s" && tool == "rm"
        ));
    }

    #[test]
    fn proxy_flags_match_1mcp() {
        let Some(args) = parse_proxy(&["1mcp", "proxy"]) else { panic!("parse failed") };
        assert_eq!((args.view(), args.url, args.timeout), (ViewQuery::default(), None, 10_000));
        let argv =
            ["1mcp", "proxy", "-u", "http://127.0.0.1:1/mcp", "-t", "500", "-f", "web", "-P", "p", "--tags", "a,b"];
        let Some(args) = parse_proxy(&argv) else { panic!("parse failed") };
        assert_eq!((args.url.as_deref(), args.timeout), (Some("http://127.0.0.1:1/mcp"), 500));
        assert_eq!(
            (args.filter.as_deref(), args.preset.as_deref(), args.tags),
            (Some("web"), Some("p"), vec!["a".into(), "b".into()])
        );
        let Some(args) = parse_proxy(&["1mcp", "proxy", "-d", "/tmp/x", "--log-level", "warn", "--log-file", "/tmp/l"])
        else {
            panic!("parse failed")
        };
        assert_eq!((args.config_dir, args.log_level), (Some(PathBuf::from("/tmp/x")), Some(LogLevel::Warn)));
        assert!(parse_proxy(&["1mcp", "proxy", "--port", "1"]).is_none());
        assert!(parse_proxy(&["1mcp", "-d", "/tmp/x", "proxy"]).is_none());
    }
}
