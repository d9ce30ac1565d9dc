//! Command line: 1MCP's `serve` flags, each also settable as `ONE_MCP_<FLAG>` (the flag wins).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// `1mcp`: one MCP endpoint in front of many MCP servers.
#[derive(Debug, Parser)]
#[command(name = "1mcp", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve` options given without the `serve` word.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The serve options, wherever they were given.
    pub fn into_serve(self) -> ServeArgs {
        match self.command {
            Some(Command::Serve(args)) => args,
            None => self.serve,
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default command).
    Serve(ServeArgs),
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
}

impl ServeArgs {
    /// Whether authentication was asked for.
    pub fn auth_enabled(&self) -> bool {
        self.enable_auth && !self.no_auth
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
    /// Serve one client on stdin/stdout (not supported yet).
    Stdio,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        Cli::try_parse_from(args).map(Cli::into_serve)
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
}
