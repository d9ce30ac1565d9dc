//! Parsing `mcp.json` text (1MCP's format) into a [`McpConfig`]: `serverDefaults` merging,
//! `$VAR` substitution, child environment resolution and validation, collecting every problem.
//!
//! The text is parsed into a `serde_json::Value` and walked by hand rather than deserialized,
//! so that each problem names its server and field and unknown keys can be warned about.

use super::diagnostics::Diagnostics;
use super::env::{EnvSpec, child_env, substitute};
use super::fields::{Fields, kind};
use super::keys::{self, KeyScope};
use super::model::{
    HttpConfig, HttpFlavor, LaunchSpec, McpConfig, OAuthConfig, PerSessionConfig, Protocol, RestartConfig,
    ServerConfig, TransportConfig,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Result of parsing: the config plus non-fatal warnings (unknown keys, unresolved `$VAR`s...).
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedConfig {
    /// The validated, resolved configuration.
    pub config: McpConfig,
    /// The `auth` section: an external identity provider (flags win over it).
    pub auth: AuthSection,
    /// One human-readable line per warning, formatted like a [`ConfigError`].
    pub warnings: Vec<String>,
}

/// The `auth` section of `mcp.json`: the same settings as `--auth-issuer`, `--auth-audience`
/// and `--auth-scope-claim` (a flag wins over its key). Read at start; a change needs a restart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthSection {
    /// `issuer`: the identity provider whose JWT access tokens are accepted.
    pub issuer: Option<String>,
    /// `audience`: the resource its tokens must be issued for.
    pub audience: Option<String>,
    /// `scopeClaim`: the claim holding the `tag:` scopes.
    pub scope_claim: Option<String>,
}

/// Read the `auth` section (absent: empty).
fn parse_auth(root: &Value, d: &mut Diagnostics<'_>) -> AuthSection {
    let mut auth = AuthSection::default();
    let Some(section) = root.get("auth") else { return auth };
    let Value::Object(section) = section else {
        d.error(None, Some("auth"), format!("expected an object, found {}", kind(section)));
        return auth;
    };
    for (key, value) in section {
        let slot = match key.as_str() {
            "issuer" => &mut auth.issuer,
            "audience" => &mut auth.audience,
            "scopeClaim" => &mut auth.scope_claim,
            _ => {
                d.warn(None, Some(&format!("auth.{key}")), "unknown key, ignored");
                continue;
            }
        };
        match value {
            Value::String(text) if !text.trim().is_empty() => *slot = Some(text.trim().to_owned()),
            other => d.error(
                None,
                Some(&format!("auth.{key}")),
                format!("expected a non-empty string, found {}", kind(other)),
            ),
        }
    }
    if auth.issuer.is_some() != auth.audience.is_some() {
        d.error(None, Some("auth"), "issuer and audience go together: set both or neither");
    }
    auth
}

/// All problems found in a file (every invalid entry, not just the first).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigErrors {
    /// The problems, in file order as far as the walk allows.
    pub errors: Vec<ConfigError>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// One problem in a config file, located as precisely as known.
///
/// `std::error::Error` is implemented by hand: thiserror would treat the field named `source`
/// as the underlying error, and a `String` is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file (path as given to [`parse_mcp_json`]).
    pub source: String,
    /// The server entry concerned, if any.
    pub server: Option<String>,
    /// The field concerned (`args`, `args[2]`, `env.NAME`, `serverDefaults.timeout`...), if any.
    pub field: Option<String>,
    /// 1-based line of the problem (or of the key it concerns), when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong; never contains the value of an env var or header.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(server) = &self.server {
            write!(f, ": server \"{server}\"")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": field \"{field}\"")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl std::error::Error for ConfigErrors {}

/// The separator between server and tool names; inside a server name it would make exposed
/// names ambiguous.
/// What joins a server name and a tool name (`<server>_1mcp_<tool>`): no server name holds it.
const NAME_SEPARATOR: &str = crate::registry::SEPARATOR;

const TOP_LEVEL_KEYS: &[&str] = &["$schema", "version", "serverDefaults", "mcpServers", "auth"];
/// 1MCP features we do not implement yet; a file using them still loads.
const UNSUPPORTED_TOP_LEVEL_KEYS: &[&str] = &[
    "mcpTemplates",
    "templateSettings",
    "instructionTemplates",
    "publishedInstructionTemplates",
    "activeInstructionTemplate",
];
/// Parse `mcp.json` text. `source` is the file path used in messages. `env` is the parent
/// process environment snapshot (the core never reads the environment itself).
pub fn parse_mcp_json(text: &str, source: &str, env: &BTreeMap<String, String>) -> Result<ParsedConfig, ConfigErrors> {
    // Editors on Windows save UTF-8 with a BOM; serde_json rejects it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (root, duplicated) = super::duplicates::parse_noting_duplicates(text)
        .map_err(|e| ConfigErrors { errors: vec![json_error(source, &e)] })?;
    let mut d = Diagnostics::new(source, text);
    for path in &duplicated {
        match path.as_slice() {
            [servers, name] if servers == "mcpServers" => {
                d.warn(Some(name), None, "the server is defined twice; the last definition wins")
            }
            [servers, name, rest @ ..] if servers == "mcpServers" => {
                d.warn(Some(name), Some(&rest.join(".")), "duplicate key; the last one wins")
            }
            _ => d.warn(None, Some(&path.join(".")), "duplicate key; the last one wins"),
        }
    }
    let auth = parse_auth(&root, &mut d);
    let config = match &root {
        Value::Object(root) => parse_root(root, env, &mut d),
        other => {
            d.error(None, None, format!("expected a JSON object at the top level, found {}", kind(other)));
            McpConfig::default()
        }
    };
    if d.errors.is_empty() {
        Ok(ParsedConfig { config, auth, warnings: d.warnings })
    } else {
        Err(ConfigErrors { errors: d.errors })
    }
}

fn json_error(source: &str, error: &serde_json::Error) -> ConfigError {
    let full = error.to_string();
    // serde_json appends the position to its message; we report it in the location instead.
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    ConfigError {
        source: source.to_string(),
        server: None,
        field: None,
        line: Some(error.line()),
        column: Some(error.column()),
        message: format!("invalid JSON: {message}"),
    }
}

fn parse_root(root: &Map<String, Value>, parent_env: &BTreeMap<String, String>, d: &mut Diagnostics<'_>) -> McpConfig {
    for key in root.keys() {
        if UNSUPPORTED_TOP_LEVEL_KEYS.contains(&key.as_str()) {
            d.warn(None, Some(key), "not supported yet, ignored");
        } else if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            d.warn(None, Some(key), "unknown key, ignored");
        }
    }
    let defaults = match root.get("serverDefaults") {
        None => Shared::default(),
        Some(Value::Object(obj)) => read_defaults(obj, d),
        Some(other) => {
            d.error(None, Some("serverDefaults"), format!("expected an object, found {}", kind(other)));
            Shared::default()
        }
    };
    let mut config = McpConfig::default();
    match root.get("mcpServers") {
        Some(Value::Object(servers)) => {
            for (name, value) in servers {
                if let Some(server) = parse_server(name, value, &defaults, parent_env, d) {
                    config.servers.insert(name.clone(), server);
                }
            }
        }
        Some(other) => {
            d.error(None, Some("mcpServers"), format!("expected an object of servers, found {}", kind(other)))
        }
        None => d.error(None, Some("mcpServers"), "missing; expected an object of servers"),
    }
    config
}

fn read_defaults(obj: &Map<String, Value>, d: &mut Diagnostics<'_>) -> Shared {
    let fields = Fields::defaults(obj);
    fields.warn_unknown(d, &keys::defaults_keys().collect::<Vec<_>>());
    Shared::read(&fields, d)
}

/// The keys `serverDefaults` and a server entry have in common, before merging.
#[derive(Clone, Debug, Default, PartialEq)]
struct Shared {
    env: Option<EnvSpec>,
    timeout: Option<u64>,
    connection_timeout: Option<u64>,
    request_timeout: Option<u64>,
    headers: Option<BTreeMap<String, String>>,
    oauth: Option<Map<String, Value>>,
    inherit_parent_env: Option<bool>,
    env_filter: Option<Vec<String>>,
    restart_on_exit: Option<bool>,
    max_restarts: Option<u32>,
    restart_delay: Option<u64>,
}

impl Shared {
    fn read(f: &Fields<'_>, d: &mut Diagnostics<'_>) -> Shared {
        Shared {
            env: f.env(d, "env"),
            timeout: f.millis(d, "timeout"),
            connection_timeout: f.millis(d, "connectionTimeout"),
            request_timeout: f.millis(d, "requestTimeout"),
            headers: f.string_map(d, "headers"),
            oauth: f.object(d, "oauth"),
            inherit_parent_env: f.bool(d, "inheritParentEnv"),
            env_filter: f.strings(d, "envFilter"),
            restart_on_exit: f.bool(d, "restartOnExit"),
            max_restarts: f.count(d, "maxRestarts"),
            restart_delay: f.millis(d, "restartDelay"),
        }
    }

    /// 1MCP's merge (`mcpConfigMerge.ts`): object `env`s merge with the server winning per
    /// variable, otherwise the server's `env` wins whole; `envFilter`s concatenate; everything
    /// else is taken from the defaults only when the server lacks it. Which keys apply to
    /// which transport is decided when building the transport.
    fn merged_with(self, defaults: &Shared) -> Shared {
        let env = match (self.env, &defaults.env) {
            (Some(EnvSpec::Map(own)), Some(EnvSpec::Map(base))) => {
                let mut merged = base.clone();
                merged.extend(own);
                Some(EnvSpec::Map(merged))
            }
            (own, base) => own.or_else(|| base.clone()),
        };
        let env_filter = match (self.env_filter, &defaults.env_filter) {
            (Some(own), Some(base)) => {
                let mut merged = base.clone();
                for pattern in own {
                    if !merged.contains(&pattern) {
                        merged.push(pattern);
                    }
                }
                Some(merged)
            }
            (own, base) => own.or_else(|| base.clone()),
        };
        Shared {
            env,
            timeout: self.timeout.or(defaults.timeout),
            connection_timeout: self.connection_timeout.or(defaults.connection_timeout),
            request_timeout: self.request_timeout.or(defaults.request_timeout),
            headers: self.headers.or_else(|| defaults.headers.clone()),
            oauth: self.oauth.or_else(|| defaults.oauth.clone()),
            inherit_parent_env: self.inherit_parent_env.or(defaults.inherit_parent_env),
            env_filter,
            restart_on_exit: self.restart_on_exit.or(defaults.restart_on_exit),
            max_restarts: self.max_restarts.or(defaults.max_restarts),
            restart_delay: self.restart_delay.or(defaults.restart_delay),
        }
    }
}

/// Which transport an entry uses, before its keys are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TransportKind {
    Stdio,
    Http(HttpFlavor),
}

fn parse_server(
    name: &str,
    value: &Value,
    defaults: &Shared,
    parent_env: &BTreeMap<String, String>,
    d: &mut Diagnostics<'_>,
) -> Option<ServerConfig> {
    let errors_before = d.errors.len();
    check_name(name, d);
    let Value::Object(obj) = value else {
        d.error(Some(name), None, format!("expected an object, found {}", kind(value)));
        return None;
    };
    let f = Fields::server(name, obj);
    let known: Vec<&str> = keys::server_keys().collect();
    f.warn_unknown(d, &known);
    if f.has("template") {
        f.warn(d, "template", "not supported yet, ignored");
    }
    let own = Shared::read(&f, d);
    let kind = transport_kind(&f, d);
    let tags = read_tags(&f, d);
    let disabled = read_disabled(&f, d);
    let disabled_tools = f.strings(d, "disabledTools").unwrap_or_default();
    let tool_description_overrides = read_description_overrides(&f, d);
    let instruction_override = f.string(d, "instructionOverride");
    let prefix_names = f.bool(d, "prefix").unwrap_or(true);
    let own_env_filter = own.env_filter.is_some();
    let merged = own.merged_with(defaults);
    let transport = match kind? {
        TransportKind::Stdio => {
            warn_inapplicable(&f, d, &keys::keys_only_for(KeyScope::Http).collect::<Vec<_>>(), "a stdio");
            TransportConfig::Stdio(build_stdio(&f, &merged, own_env_filter, parent_env, d)?)
        }
        TransportKind::Http(flavor) => {
            warn_inapplicable(&f, d, &keys::keys_only_for(KeyScope::Stdio).collect::<Vec<_>>(), "an http");
            TransportConfig::Http(build_http(&f, &merged, flavor, parent_env, d)?)
        }
    };
    let restart = match transport {
        TransportConfig::Stdio(_) => restart_config(&merged),
        TransportConfig::Http(_) => RestartConfig::default(),
    };
    // Every server is asked its era, as the spec tells a dual-era client to: a stateless
    // request, then `initialize`, then (HTTP, auto mode) legacy SSE.
    let http = matches!(transport, TransportConfig::Http(_));
    let protocol = read_protocol(&f, d).unwrap_or(Protocol::Auto);
    // An HTTP server's instance per client is one MCP session per client; the stateless
    // revision has no sessions, so there is nothing to keep apart by default.
    let sessions_by_default = http && protocol != Protocol::Stateless;
    let per_session = read_per_session(name, obj, sessions_by_default, d);
    if d.errors.len() > errors_before {
        return None;
    }
    Some(ServerConfig {
        transport,
        tags,
        disabled,
        connection_timeout: merged.connection_timeout.or(merged.timeout).map(Duration::from_millis),
        request_timeout: merged.request_timeout.or(merged.timeout).map(Duration::from_millis),
        max_total_timeout: f.millis(d, "maxTotalTimeout").map(Duration::from_millis),
        disabled_tools,
        tool_description_overrides,
        instruction_override,
        prefix_names,
        restart,
        per_session,
        protocol,
    })
}

/// `protocol`: `"2026-07-28"` for the stateless revision; `"legacy"` (or a session-based
/// revision's date) for a session; `"auto"` to ask. `None` if not given.
fn read_protocol(f: &Fields<'_>, d: &mut Diagnostics<'_>) -> Option<Protocol> {
    let value = f.string(d, "protocol")?;
    Some(match value.as_str() {
        "2026-07-28" => Protocol::Stateless,
        "auto" => Protocol::Auto,
        "legacy" => Protocol::Sessions,
        v if crate::session::SUPPORTED_VERSIONS.contains(&v) => Protocol::Sessions,
        other => {
            let message = format!(
                "unknown protocol {:?}: use \"2026-07-28\" (stateless), \"legacy\" (sessions) or \"auto\" (ask)",
                crate::text::clip(other, 64)
            );
            f.error(d, "protocol", "", message);
            Protocol::Sessions
        }
    })
}

/// `perSession`: `true`, `false`, or `{"maxInstances": n, "idleTimeout": ms}`. HTTP servers
/// that may speak sessions default to it while they do: an instance there is just one more MCP
/// session, and it makes every server-to-client message attributable by construction.
fn read_per_session(
    name: &str,
    obj: &Map<String, Value>,
    sessions_by_default: bool,
    d: &mut Diagnostics<'_>,
) -> Option<PerSessionConfig> {
    let mut config = PerSessionConfig::default();
    match obj.get("perSession") {
        None => sessions_by_default.then_some(PerSessionConfig { only_with_sessions: true, ..config }),
        Some(Value::Bool(on)) => on.then_some(config),
        Some(Value::Object(limits)) => {
            for (key, value) in limits {
                let field = format!("perSession.{key}");
                let number = value.as_u64().filter(|n| *n > 0);
                match (key.as_str(), number) {
                    ("maxInstances", Some(n)) => config.max_instances = u32::try_from(n).unwrap_or(u32::MAX),
                    ("idleTimeout", Some(ms)) => config.idle_timeout = Duration::from_millis(ms),
                    ("maxInstances" | "idleTimeout", None) => {
                        d.error(Some(name), Some(&field), format!("expected a positive integer, found {}", kind(value)))
                    }
                    _ => d.warn(Some(name), Some(&field), "unknown key, ignored"),
                }
            }
            Some(config)
        }
        Some(other) => {
            d.error(Some(name), Some("perSession"), format!("expected a boolean or an object, found {}", kind(other)));
            None
        }
    }
}

/// Names end up in every exposed tool name (`<server>_1mcp_<tool>`), hence the rules.
fn check_name(name: &str, d: &mut Diagnostics<'_>) {
    if name.is_empty() {
        d.error(Some(name), None, "a server name must not be empty");
    } else if name.contains(NAME_SEPARATOR) {
        d.error(
            Some(name),
            None,
            format!("a server name must not contain \"{NAME_SEPARATOR}\" (it separates server and tool names)"),
        );
    } else if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        d.warn(
            Some(name),
            None,
            "the name has characters other than letters, digits, \"_\", \".\" and \"-\"; some clients reject such tool names",
        );
    }
}

/// `disabled`, or 1MCP's documented inverse `enabled` (its reference writes `"enabled": false`);
/// both given and disagreeing is an error (which one the user meant cannot be guessed).
fn read_disabled(f: &Fields<'_>, d: &mut Diagnostics<'_>) -> bool {
    let disabled = f.bool(d, "disabled");
    let enabled = f.bool(d, "enabled");
    match (disabled, enabled) {
        (Some(disabled), Some(enabled)) if disabled == enabled => {
            f.error(d, "enabled", "", "\"enabled\" and \"disabled\" disagree; keep one of them");
            disabled
        }
        (Some(disabled), _) => disabled,
        (None, Some(enabled)) => !enabled,
        (None, None) => false,
    }
}

fn transport_kind(f: &Fields<'_>, d: &mut Diagnostics<'_>) -> Option<TransportKind> {
    // 1MCP's reference also spells it `transport`.
    let named: Vec<(&str, Option<String>)> =
        ["type", "transport"].into_iter().filter(|key| f.has(key)).map(|key| (key, f.string(d, key))).collect();
    match named.as_slice() {
        [] => {}
        [(_, Some(first)), (_, Some(second))] if first != second => {
            f.error(d, "transport", "", "\"type\" and \"transport\" disagree; keep one of them");
            return None;
        }
        [(key, Some(value)), ..] => return kind_named(f, d, key, value),
        // Not a string: said already.
        _ => return None,
    }
    match (f.has("command"), f.has("url")) {
        (true, false) => Some(TransportKind::Stdio),
        // 1MCP guesses SSE for URLs not ending in `mcp`; probing per the spec is never wrong.
        (false, true) => Some(TransportKind::Http(HttpFlavor::Auto)),
        (true, true) => {
            f.error(d, "type", "", "both \"command\" and \"url\" are set; set \"type\" to choose the transport");
            None
        }
        (false, false) => {
            f.error(d, "command", "", "missing; a server needs \"command\" (stdio) or \"url\" (http)");
            None
        }
    }
}

/// The transport `value` of `key` (`type` or `transport`) names.
fn kind_named(f: &Fields<'_>, d: &mut Diagnostics<'_>, key: &str, value: &str) -> Option<TransportKind> {
    match value {
        "stdio" => Some(TransportKind::Stdio),
        "http" | "streamableHttp" => Some(TransportKind::Http(HttpFlavor::Streamable)),
        "sse" => Some(TransportKind::Http(HttpFlavor::Sse)),
        other => {
            f.error(
                d,
                key,
                "",
                format!("expected \"stdio\", \"http\", \"sse\" or \"streamableHttp\", found \"{other}\""),
            );
            None
        }
    }
}

fn warn_inapplicable(f: &Fields<'_>, d: &mut Diagnostics<'_>, keys: &[&str], transport: &str) {
    for key in f.keys().filter(|k| keys.contains(&k.as_str())) {
        f.warn(d, key, format!("does not apply to {transport} server, ignored"));
    }
}

/// Tags are matched case-insensitively by 1MCP filters, so they are normalised once here.
fn read_tags(f: &Fields<'_>, d: &mut Diagnostics<'_>) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for raw in f.strings(d, "tags").unwrap_or_default() {
        let tag = raw.trim().to_lowercase();
        if tag.is_empty() {
            f.warn(d, "tags", "empty tag ignored");
        } else if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

/// A blank override would erase a tool's description; 1MCP ignores those, and so do we, loudly.
fn read_description_overrides(f: &Fields<'_>, d: &mut Diagnostics<'_>) -> BTreeMap<String, String> {
    let mut overrides = f.string_map(d, "toolDescriptionOverrides").unwrap_or_default();
    let blank: Vec<String> = overrides.iter().filter(|(_, v)| v.trim().is_empty()).map(|(k, _)| k.clone()).collect();
    for tool in blank {
        overrides.remove(&tool);
        d.warn(
            f.server_name(),
            Some(&f.field("toolDescriptionOverrides", &format!(".{tool}"))),
            "blank description ignored",
        );
    }
    overrides
}

fn restart_config(merged: &Shared) -> RestartConfig {
    let default = RestartConfig::default();
    RestartConfig {
        restart_on_exit: merged.restart_on_exit.unwrap_or(default.restart_on_exit),
        max_restarts: merged.max_restarts.unwrap_or(default.max_restarts),
        restart_delay: merged.restart_delay.map(Duration::from_millis).unwrap_or(default.restart_delay),
    }
}

/// Substitutes `$VAR`s in one field's value, warning (by variable name only) about unset ones.
fn substituted(
    f: &Fields<'_>,
    d: &mut Diagnostics<'_>,
    parent_env: &BTreeMap<String, String>,
    field: &str,
    text: &str,
) -> (String, bool) {
    let result = substitute(text, parent_env);
    let resolved = result.unresolved.is_empty();
    if !resolved {
        let names = result.unresolved.join(", ");
        let message = match result.unresolved.len() {
            1 => format!("variable {names} is not set; placeholder left unchanged"),
            _ => format!("variables {names} are not set; placeholders left unchanged"),
        };
        d.warn(f.server_name(), Some(field), message);
    }
    (result.value, resolved)
}

fn build_stdio(
    f: &Fields<'_>,
    merged: &Shared,
    own_env_filter: bool,
    parent_env: &BTreeMap<String, String>,
    d: &mut Diagnostics<'_>,
) -> Option<LaunchSpec> {
    let command = match f.string(d, "command") {
        Some(command) if command.trim().is_empty() => {
            f.error(d, "command", "", "must not be empty");
            None
        }
        Some(command) => Some(substituted(f, d, parent_env, "command", &command).0),
        None if !f.has("command") => {
            f.error(d, "command", "", "missing; required for a stdio server");
            None
        }
        None => None,
    };
    let args = f.strings(d, "args").unwrap_or_default();
    let args =
        args.iter().enumerate().map(|(i, arg)| substituted(f, d, parent_env, &format!("args[{i}]"), arg).0).collect();
    let cwd = f.string(d, "cwd").map(|cwd| substituted(f, d, parent_env, "cwd", &cwd).0);
    let inherit = merged.inherit_parent_env.unwrap_or(false);
    if own_env_filter && !inherit {
        f.warn(d, "envFilter", "has no effect without \"inheritParentEnv\": true");
    }
    let spec = merged.env.as_ref().map(|spec| substitute_env(f, d, parent_env, spec));
    let env = child_env(parent_env, inherit, merged.env_filter.as_deref().unwrap_or_default(), spec.as_ref());
    for name in &env.missing {
        f.warn(d, "env", format!("{name} is not set in the parent environment; not passed"));
    }
    Some(LaunchSpec { command: command?, args, env: env.vars, cwd })
}

fn substitute_env(
    f: &Fields<'_>,
    d: &mut Diagnostics<'_>,
    parent_env: &BTreeMap<String, String>,
    spec: &EnvSpec,
) -> EnvSpec {
    match spec {
        EnvSpec::Map(map) => EnvSpec::Map(
            map.iter()
                .map(|(name, value)| (name.clone(), substituted(f, d, parent_env, &format!("env.{name}"), value).0))
                .collect(),
        ),
        EnvSpec::List(entries) => EnvSpec::List(
            entries
                .iter()
                .enumerate()
                .map(|(i, entry)| match entry.split_once('=') {
                    Some((name, value)) => {
                        format!("{name}={}", substituted(f, d, parent_env, &format!("env[{i}]"), value).0)
                    }
                    None => entry.clone(),
                })
                .collect(),
        ),
    }
}

fn build_http(
    f: &Fields<'_>,
    merged: &Shared,
    flavor: HttpFlavor,
    parent_env: &BTreeMap<String, String>,
    d: &mut Diagnostics<'_>,
) -> Option<HttpConfig> {
    let url = match f.string(d, "url") {
        Some(url) => {
            let (url, resolved) = substituted(f, d, parent_env, "url", &url);
            // An unresolved placeholder was already warned about; judging the rest of it
            // would only add a confusing second message.
            if resolved && !is_http_url(&url) {
                f.error(d, "url", "", "expected an http:// or https:// URL");
            }
            Some(url)
        }
        None if !f.has("url") => {
            f.error(d, "url", "", "missing; required for an http server");
            None
        }
        None => None,
    };
    let headers = merged
        .headers
        .iter()
        .flatten()
        .map(|(name, value)| (name.clone(), substituted(f, d, parent_env, &format!("headers.{name}"), value).0))
        .collect();
    let oauth = merged.oauth.as_ref().map(|block| read_oauth(f, d, parent_env, block));
    Some(HttpConfig { url: url?, flavor, headers, oauth })
}

/// The `oauth` block (from the server, or `serverDefaults` whole): `clientId`, `clientSecret`,
/// `scopes`, `autoRegister`, `redirectUrl`, `clientMetadataUrl`, with `${VAR}` placeholders in the strings.
fn read_oauth(
    f: &Fields<'_>,
    d: &mut Diagnostics<'_>,
    parent_env: &BTreeMap<String, String>,
    block: &Map<String, Value>,
) -> OAuthConfig {
    let mut config = OAuthConfig::default();
    for (key, value) in block {
        let field = format!("oauth.{key}");
        let mut text = |value: &Value| match value {
            Value::String(s) => Some(substituted(f, d, parent_env, &field, s).0),
            other => {
                f.error(d, "oauth", &format!(".{key}"), format!("expected a string, found {}", kind(other)));
                None
            }
        };
        match key.as_str() {
            "clientId" => config.client_id = text(value),
            "clientSecret" => config.client_secret = text(value),
            "redirectUrl" => {
                config.redirect_url = text(value);
                if config.redirect_url.as_deref().is_some_and(|url| !is_http_url(url)) {
                    f.error(d, "oauth", ".redirectUrl", "expected an http:// or https:// URL");
                }
            }
            "clientMetadataUrl" => {
                config.client_metadata_url = text(value);
                if config.client_metadata_url.as_deref().is_some_and(|url| !url.starts_with("https://")) {
                    f.error(d, "oauth", ".clientMetadataUrl", "expected an https:// URL");
                }
            }
            "scopes" => match value {
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    config.scopes = items.iter().filter_map(&mut text).collect();
                }
                other => f.error(d, "oauth", ".scopes", format!("expected an array of strings, found {}", kind(other))),
            },
            "autoRegister" => match value {
                Value::Bool(on) => config.auto_register = *on,
                other => f.error(d, "oauth", ".autoRegister", format!("expected a boolean, found {}", kind(other))),
            },
            _ => f.warn(d, "oauth", format!("unknown key {key:?} in oauth, ignored")),
        }
    }
    config
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["http://", "https://"].iter().any(|scheme| lower.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "/x/mcp.json";

    fn parent_env() -> BTreeMap<String, String> {
        vars(&[
            ("API_KEY", "sk-secret"),
            ("HOME", "/home/u"),
            ("HOST", "example.com"),
            ("NODE_ENV", "dev"),
            ("NODE_PATH", "/n"),
            ("PATH", "/usr/bin"),
            ("SHELL", "/bin/sh"),
            ("USER", "u"),
        ])
    }

    /// What a child gets from `parent_env()` without `inheritParentEnv`.
    fn default_child_env() -> BTreeMap<String, String> {
        vars(&[("HOME", "/home/u"), ("PATH", "/usr/bin"), ("SHELL", "/bin/sh"), ("USER", "u")])
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_auth_section_names_an_identity_provider() {
        let parsed = parse_ok(
            r#"{"auth": {"issuer": "https://idp.example.com", "audience": "https://mcp.example.com", "scopeClaim": "scp", "x": 1},
                "mcpServers": {}}"#,
        );
        assert_eq!(
            parsed.auth,
            AuthSection {
                issuer: Some("https://idp.example.com".into()),
                audience: Some("https://mcp.example.com".into()),
                scope_claim: Some("scp".into())
            }
        );
        assert!(
            parsed.warnings.iter().any(|w| w.contains("auth.x") && w.contains("unknown key")),
            "{:?}",
            parsed.warnings
        );
        assert_eq!(parsed.warnings.iter().filter(|w| w.contains("unknown key")).count(), 1, "auth itself is known");
        let env = BTreeMap::new();
        for bad in [
            r#"{"auth": {"issuer": "https://idp.example.com"}, "mcpServers": {}}"#,
            r#"{"auth": {"issuer": 7, "audience": "a"}, "mcpServers": {}}"#,
            r#"{"auth": [], "mcpServers": {}}"#,
        ] {
            assert!(parse_mcp_json(bad, "mcp.json", &env).is_err(), "{bad}");
        }
    }

    fn parse_ok(text: &str) -> ParsedConfig {
        match parse_mcp_json(text, SRC, &parent_env()) {
            Ok(parsed) => parsed,
            Err(errors) => panic!("unexpected errors:\n{errors}"),
        }
    }

    fn parse_err(text: &str) -> Vec<ConfigError> {
        match parse_mcp_json(text, SRC, &parent_env()) {
            Ok(parsed) => panic!("unexpectedly valid: {parsed:?}"),
            Err(errors) => errors.errors,
        }
    }

    /// Errors as (server, field, message), ignoring positions.
    fn problems(text: &str) -> Vec<(Option<String>, Option<String>, String)> {
        parse_err(text).into_iter().map(|e| (e.server, e.field, e.message)).collect()
    }

    fn problem(server: &str, field: Option<&str>, message: &str) -> (Option<String>, Option<String>, String) {
        (Some(server.to_string()), field.map(str::to_string), message.to_string())
    }

    /// Warnings with the `/x/mcp.json:L:C: ` prefix removed, so tests read as the rule.
    fn warnings_of(parsed: &ParsedConfig) -> Vec<String> {
        parsed.warnings.iter().map(|w| strip_location(w)).collect()
    }

    fn strip_location(line: &str) -> String {
        let rest = line.strip_prefix(SRC).unwrap_or(line);
        let rest = rest.trim_start_matches(|c: char| c == ':' || c.is_ascii_digit());
        rest.trim_start().to_string()
    }

    fn server(text: &str, name: &str) -> ServerConfig {
        match parse_ok(text).config.servers.get(name) {
            Some(server) => server.clone(),
            None => panic!("no server {name}"),
        }
    }

    fn one_server(body: &str) -> ServerConfig {
        server(&format!(r#"{{"mcpServers": {{"s": {body}}}}}"#), "s")
    }

    fn launch(server: &ServerConfig) -> &LaunchSpec {
        match &server.transport {
            TransportConfig::Stdio(spec) => spec,
            other => panic!("not stdio: {other:?}"),
        }
    }

    fn http(server: &ServerConfig) -> &HttpConfig {
        match &server.transport {
            TransportConfig::Http(config) => config,
            other => panic!("not http: {other:?}"),
        }
    }

    #[test]
    fn minimal_stdio_server_gets_all_defaults() {
        let parsed = parse_ok(r#"{"mcpServers": {"fs": {"command": "npx", "args": ["-y", "@mcp/fs", "/tmp"]}}}"#);
        assert_eq!(parsed.warnings, Vec::<String>::new());
        let expected = ServerConfig {
            transport: TransportConfig::Stdio(LaunchSpec {
                command: "npx".into(),
                args: strings(&["-y", "@mcp/fs", "/tmp"]),
                env: default_child_env(),
                cwd: None,
            }),
            tags: vec![],
            disabled: false,
            connection_timeout: None,
            request_timeout: None,
            max_total_timeout: None,
            disabled_tools: vec![],
            tool_description_overrides: BTreeMap::new(),
            instruction_override: None,
            prefix_names: true,
            per_session: None,
            protocol: Protocol::Auto,
            restart: RestartConfig {
                restart_on_exit: true,
                max_restarts: 5,
                restart_delay: Duration::from_millis(1000),
            },
        };
        assert_eq!(parsed.config.servers.into_iter().collect::<Vec<_>>(), vec![("fs".to_string(), expected)]);
    }

    #[test]
    fn empty_server_list_is_valid() {
        assert_eq!(parse_ok(r#"{"mcpServers": {}}"#).config, McpConfig::default());
    }

    #[test]
    fn url_without_type_is_probed_not_guessed() {
        for url in ["https://api.example.com/mcp", "https://api.example.com/sse", "http://localhost:8080/"] {
            let s = one_server(&format!(r#"{{"url": "{url}"}}"#));
            assert_eq!(
                *http(&s),
                HttpConfig { url: url.into(), flavor: HttpFlavor::Auto, headers: BTreeMap::new(), oauth: None }
            );
            assert_eq!(s.restart, RestartConfig::default());
        }
    }

    #[test]
    fn explicit_type_selects_the_transport() {
        let cases =
            [("http", HttpFlavor::Streamable), ("streamableHttp", HttpFlavor::Streamable), ("sse", HttpFlavor::Sse)];
        for (ty, flavor) in cases {
            let s = one_server(&format!(r#"{{"type": "{ty}", "url": "https://h/x"}}"#));
            assert_eq!(http(&s).flavor, flavor, "type {ty}");
        }
        let s = one_server(r#"{"type": "stdio", "command": "srv"}"#);
        assert_eq!(launch(&s).command, "srv");
    }

    #[test]
    fn a_server_needs_a_command_or_a_url() {
        assert_eq!(
            problems(r#"{"mcpServers": {"s": {"args": []}}}"#),
            vec![problem("s", Some("command"), "missing; a server needs \"command\" (stdio) or \"url\" (http)")]
        );
    }

    #[test]
    fn command_and_url_without_type_is_ambiguous() {
        assert_eq!(
            problems(r#"{"mcpServers": {"s": {"command": "x", "url": "https://h/mcp"}}}"#),
            vec![problem(
                "s",
                Some("type"),
                "both \"command\" and \"url\" are set; set \"type\" to choose the transport"
            )]
        );
    }

    #[test]
    fn explicit_type_requires_its_key() {
        assert_eq!(
            problems(
                r#"{"mcpServers": {"a": {"type": "sse"}, "b": {"type": "stdio"}, "c": {"type": "http", "command": "x"}}}"#
            ),
            vec![
                problem("a", Some("url"), "missing; required for an http server"),
                problem("b", Some("command"), "missing; required for a stdio server"),
                problem("c", Some("url"), "missing; required for an http server"),
            ]
        );
    }

    #[test]
    fn unknown_type_is_an_error() {
        assert_eq!(
            problems(r#"{"mcpServers": {"s": {"type": "websocket", "url": "wss://h"}}}"#),
            vec![problem(
                "s",
                Some("type"),
                "expected \"stdio\", \"http\", \"sse\" or \"streamableHttp\", found \"websocket\""
            )]
        );
    }

    #[test]
    fn empty_command_and_non_http_url_are_errors() {
        assert_eq!(
            problems(
                r#"{"mcpServers": {"a": {"command": "  "}, "b": {"url": "ftp://h/x"}, "c": {"url": "https://"}}}"#
            ),
            vec![
                problem("a", Some("command"), "must not be empty"),
                problem("b", Some("url"), "expected an http:// or https:// URL"),
                problem("c", Some("url"), "expected an http:// or https:// URL"),
            ]
        );
        assert_eq!(http(&one_server(r#"{"url": "HTTPS://H/mcp"}"#)).url, "HTTPS://H/mcp");
    }

    #[test]
    fn keys_of_the_other_transport_are_ignored_with_a_warning() {
        let parsed = parse_ok(
            r#"{"mcpServers": {
                "local": {"command": "x", "headers": {"A": "b"}},
                "remote": {"type": "http", "url": "https://h/mcp", "args": ["a"], "env": {"K": "v"}, "restartOnExit": false}
            }}"#,
        );
        assert_eq!(
            warnings_of(&parsed),
            vec![
                "server \"local\": field \"headers\": does not apply to a stdio server, ignored",
                "server \"remote\": field \"args\": does not apply to an http server, ignored",
                "server \"remote\": field \"env\": does not apply to an http server, ignored",
                "server \"remote\": field \"restartOnExit\": does not apply to an http server, ignored",
            ]
        );
        let remote = &parsed.config.servers["remote"];
        assert_eq!(remote.restart, RestartConfig::default());
        assert_eq!(http(remote).headers, BTreeMap::new());
    }

    #[test]
    fn server_defaults_merge_object_env_and_primitives() {
        let parsed = parse_ok(
            r#"{
              "serverDefaults": {"env": {"A": "default", "B": "default"}, "timeout": 5000, "requestTimeout": 9000,
                                 "maxRestarts": 2, "restartOnExit": false},
              "mcpServers": {
                "s": {"command": "x", "env": {"B": "server", "C": "server"}, "requestTimeout": 1000, "maxRestarts": 7}
              }
            }"#,
        );
        let s = &parsed.config.servers["s"];
        let mut env = default_child_env();
        env.extend(vars(&[("A", "default"), ("B", "server"), ("C", "server")]));
        assert_eq!(launch(s).env, env);
        assert_eq!(s.connection_timeout, Some(Duration::from_millis(5000)));
        assert_eq!(s.request_timeout, Some(Duration::from_millis(1000)));
        assert_eq!(
            s.restart,
            RestartConfig { restart_on_exit: false, max_restarts: 7, restart_delay: Duration::from_millis(1000) }
        );
    }

    #[test]
    fn server_defaults_connection_timeout_beats_the_servers_generic_timeout() {
        // 1MCP merges raw keys first, then falls back to `timeout`.
        let s = server(
            r#"{"serverDefaults": {"connectionTimeout": 100}, "mcpServers": {"s": {"command": "x", "timeout": 7}}}"#,
            "s",
        );
        assert_eq!(
            (s.connection_timeout, s.request_timeout),
            (Some(Duration::from_millis(100)), Some(Duration::from_millis(7)))
        );
    }

    #[test]
    fn server_defaults_array_env_loses_to_any_server_env_whole() {
        let text = |server_env: &str| {
            format!(
                r#"{{"serverDefaults": {{"env": ["D=1", "API_KEY"]}}, "mcpServers": {{"s": {{"command": "x"{server_env}}}}}}}"#
            )
        };
        let mut expected = default_child_env();
        expected.extend(vars(&[("S", "2")]));
        assert_eq!(launch(&server(&text(r#", "env": {"S": "2"}"#), "s")).env, expected);
        assert_eq!(launch(&server(&text(r#", "env": ["S=2"]"#), "s")).env, expected);
        let mut inherited = default_child_env();
        inherited.extend(vars(&[("API_KEY", "sk-secret"), ("D", "1")]));
        assert_eq!(launch(&server(&text(""), "s")).env, inherited);
        // And a server's array env replaces an object default.
        let s = server(
            r#"{"serverDefaults": {"env": {"D": "1"}}, "mcpServers": {"s": {"command": "x", "env": ["S=2"]}}}"#,
            "s",
        );
        assert_eq!(launch(&s).env, expected);
    }

    #[test]
    fn server_defaults_env_filters_concatenate() {
        let s = server(
            r#"{"serverDefaults": {"inheritParentEnv": true, "envFilter": ["NODE_*", "!NODE_PATH"]},
                "mcpServers": {"s": {"command": "x", "envFilter": ["HOME", "NODE_*"]}}}"#,
            "s",
        );
        assert_eq!(launch(&s).env, vars(&[("HOME", "/home/u"), ("NODE_ENV", "dev")]));
    }

    #[test]
    fn server_defaults_headers_are_replaced_whole_and_only_reach_http_servers() {
        let parsed = parse_ok(
            r#"{"serverDefaults": {"headers": {"X-A": "1", "X-B": "2"}, "inheritParentEnv": true, "restartDelay": 50},
                "mcpServers": {
                  "plain": {"url": "https://h/mcp"},
                  "own": {"url": "https://h/mcp", "headers": {"X-C": "3"}},
                  "local": {"command": "x"}
                }}"#,
        );
        assert_eq!(parsed.warnings, Vec::<String>::new());
        let servers = &parsed.config.servers;
        assert_eq!(http(&servers["plain"]).headers, vars(&[("X-A", "1"), ("X-B", "2")]));
        assert_eq!(http(&servers["own"]).headers, vars(&[("X-C", "3")]));
        assert_eq!(servers["plain"].restart, RestartConfig::default());
        assert_eq!(launch(&servers["local"]).env, parent_env());
        assert_eq!(servers["local"].restart.restart_delay, Duration::from_millis(50));
    }

    #[test]
    fn server_defaults_problems_are_reported_under_their_own_name() {
        let text = r#"{"serverDefaults": {"timeout": "5s", "command": "x", "oauth": {}}, "mcpServers": {}}"#;
        let errors = parse_err(text);
        assert_eq!(
            errors.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            vec![
                "/x/mcp.json:1:21: field \"serverDefaults.timeout\": expected a non-negative integer (milliseconds), found a string"
            ]
        );
        let parsed = parse_ok(r#"{"serverDefaults": {"command": "x", "oauth": {}}, "mcpServers": {}}"#);
        assert_eq!(
            warnings_of(&parsed),
            vec!["field \"serverDefaults.command\": unknown key, ignored"],
            "an oauth block in the defaults is taken (by HTTP servers)"
        );
        assert_eq!(
            problems(r#"{"serverDefaults": [], "mcpServers": {}}"#),
            vec![(None, Some("serverDefaults".into()), "expected an object, found an array".into())]
        );
    }

    #[test]
    fn duplicate_keys_and_servers_are_warned_about_and_the_last_wins() {
        let text = "{\"mcpServers\": {\n  \"a\": {\"command\": \"one\", \"command\": \"two\"},\n  \"b\": {\"command\": \"x\"},\n  \"b\": {\"command\": \"y\"}}}";
        let parsed = parse_ok(text);
        assert_eq!(
            warnings_of(&parsed),
            vec![
                "server \"a\": field \"command\": duplicate key; the last one wins",
                "server \"b\": the server is defined twice; the last definition wins",
            ]
        );
        assert_eq!(launch(&parsed.config.servers["a"]).command, "two");
        assert_eq!(launch(&parsed.config.servers["b"]).command, "y");
    }

    #[test]
    fn array_env_copies_bare_names_and_warns_about_missing_ones() {
        let parsed = parse_ok(
            r#"{"mcpServers": {"s": {"command": "x", "env": ["MODE=prod", "API_KEY", "GONE", "PATH=/opt/bin"]}}}"#,
        );
        let mut expected = default_child_env();
        expected.extend(vars(&[("API_KEY", "sk-secret"), ("MODE", "prod"), ("PATH", "/opt/bin")]));
        assert_eq!(launch(&parsed.config.servers["s"]).env, expected);
        assert_eq!(
            warnings_of(&parsed),
            vec!["server \"s\": field \"env\": GONE is not set in the parent environment; not passed"]
        );
    }

    #[test]
    fn env_values_may_be_numbers_or_booleans() {
        let s = one_server(r#"{"command": "x", "env": {"PORT": 8080, "DEBUG": true, "RATIO": 0.5}}"#);
        let mut expected = default_child_env();
        expected.extend(vars(&[("DEBUG", "true"), ("PORT", "8080"), ("RATIO", "0.5")]));
        assert_eq!(launch(&s).env, expected);
    }

    #[test]
    fn inherit_parent_env_passes_everything_through_env_filter() {
        let all = one_server(r#"{"command": "x", "inheritParentEnv": true}"#);
        assert_eq!(launch(&all).env, parent_env());
        let filtered = one_server(
            r#"{"command": "x", "inheritParentEnv": true, "envFilter": ["!API_KEY", "!NODE_*"], "env": {"X": "1"}}"#,
        );
        assert_eq!(
            launch(&filtered).env,
            vars(&[
                ("HOME", "/home/u"),
                ("HOST", "example.com"),
                ("PATH", "/usr/bin"),
                ("SHELL", "/bin/sh"),
                ("USER", "u"),
                ("X", "1")
            ])
        );
    }

    #[test]
    fn env_filter_without_inheritance_warns() {
        let parsed = parse_ok(r#"{"mcpServers": {"s": {"command": "x", "envFilter": ["API_KEY"]}}}"#);
        assert_eq!(launch(&parsed.config.servers["s"]).env, default_child_env());
        assert_eq!(
            warnings_of(&parsed),
            vec!["server \"s\": field \"envFilter\": has no effect without \"inheritParentEnv\": true"]
        );
    }

    #[test]
    fn variables_are_substituted_in_launch_fields() {
        let s = one_server(
            r#"{"command": "$HOME/bin/srv", "args": ["--host=${HOST}", "$$"], "cwd": "${HOME}/work",
                "env": {"TOKEN": "Bearer ${API_KEY}"}}"#,
        );
        let spec = launch(&s);
        assert_eq!(spec.command, "/home/u/bin/srv");
        assert_eq!(spec.args, strings(&["--host=example.com", "$$"]));
        assert_eq!(spec.cwd.as_deref(), Some("/home/u/work"));
        assert_eq!(spec.env.get("TOKEN").map(String::as_str), Some("Bearer sk-secret"));
        let listed = one_server(r#"{"command": "x", "env": ["TOKEN=$API_KEY"]}"#);
        assert_eq!(launch(&listed).env.get("TOKEN").map(String::as_str), Some("sk-secret"));
    }

    #[test]
    fn variables_are_substituted_in_url_and_headers() {
        let s = one_server(r#"{"url": "https://${HOST}/mcp", "headers": {"Authorization": "Bearer $API_KEY"}}"#);
        assert_eq!(http(&s).url, "https://example.com/mcp");
        assert_eq!(http(&s).headers, vars(&[("Authorization", "Bearer sk-secret")]));
    }

    #[test]
    fn unresolved_variables_stay_and_are_warned_about_by_name_only() {
        let parsed = parse_ok(
            r#"{"mcpServers": {
                "a": {"command": "x", "args": ["$NOPE/${NADA}", "ok"], "env": {"K": "pre-$NOPE-post"}},
                "b": {"url": "${REMOTE_URL}", "headers": {"Authorization": "Bearer hunter2 $MISSING_TOKEN"}}
            }}"#,
        );
        let servers = &parsed.config.servers;
        assert_eq!(launch(&servers["a"]).args, strings(&["$NOPE/${NADA}", "ok"]));
        assert_eq!(launch(&servers["a"]).env.get("K").map(String::as_str), Some("pre-$NOPE-post"));
        assert_eq!(http(&servers["b"]).url, "${REMOTE_URL}");
        assert_eq!(
            warnings_of(&parsed),
            vec![
                "server \"a\": field \"args[0]\": variables NOPE, NADA are not set; placeholders left unchanged",
                "server \"a\": field \"env.K\": variable NOPE is not set; placeholder left unchanged",
                "server \"b\": field \"url\": variable REMOTE_URL is not set; placeholder left unchanged",
                "server \"b\": field \"headers.Authorization\": variable MISSING_TOKEN is not set; placeholder left unchanged",
            ]
        );
        assert!(parsed.warnings.iter().all(|w| !w.contains("hunter2") && !w.contains("pre-")), "{:?}", parsed.warnings);
    }

    #[test]
    fn disabled_servers_are_kept_and_marked() {
        let parsed = parse_ok(r#"{"mcpServers": {"on": {"command": "x"}, "off": {"command": "y", "disabled": true}}}"#);
        assert!(!parsed.config.servers["on"].disabled);
        assert!(parsed.config.servers["off"].disabled);
    }

    #[test]
    fn one_mcps_documented_spellings_enabled_and_transport_are_taken() {
        // 1MCP's reference writes `"enabled": false` and `"transport": "http"`; a server the
        // user meant to keep stopped must not start because the key was spelled the other way.
        assert!(one_server(r#"{"command": "x", "enabled": false}"#).disabled);
        assert!(!one_server(r#"{"command": "x", "enabled": true}"#).disabled);
        assert!(one_server(r#"{"command": "x", "enabled": false, "disabled": true}"#).disabled, "agreeing is fine");
        let parsed = parse_ok(r#"{"mcpServers": {"s": {"transport": "http", "url": "https://a.example/mcp"}}}"#);
        assert!(warnings_of(&parsed).is_empty(), "{:?}", parsed.warnings);
        let TransportConfig::Http(http) = &parsed.config.servers["s"].transport else { panic!("not http") };
        assert_eq!(http.flavor, HttpFlavor::Streamable);
        assert_eq!(
            problems(r#"{"mcpServers": {"s": {"command": "x", "enabled": true, "disabled": true}}}"#),
            [problem("s", Some("enabled"), "\"enabled\" and \"disabled\" disagree; keep one of them")]
        );
        assert_eq!(
            problems(r#"{"mcpServers": {"s": {"type": "sse", "transport": "http", "url": "https://a.example/mcp"}}}"#),
            [problem("s", Some("transport"), "\"type\" and \"transport\" disagree; keep one of them")]
        );
        let bad = problems(r#"{"mcpServers": {"s": {"transport": "ws", "url": "https://a.example/mcp"}}}"#);
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].1.as_deref(), Some("transport"));
    }

    #[test]
    fn protocol_picks_the_era_spoken_to_a_server() {
        let protocol = |value: &str| one_server(&format!(r#"{{"command": "x", "protocol": "{value}"}}"#)).protocol;
        assert_eq!(
            one_server(r#"{"command": "x"}"#).protocol,
            Protocol::Auto,
            "asked, as the spec tells a dual-era client"
        );
        assert_eq!(one_server(r#"{"url": "http://h/mcp"}"#).protocol, Protocol::Auto, "an HTTP server is asked too");
        assert_eq!(protocol("2026-07-28"), Protocol::Stateless);
        assert_eq!(protocol("auto"), Protocol::Auto);
        assert_eq!(protocol("legacy"), Protocol::Sessions);
        assert_eq!(protocol("2025-06-18"), Protocol::Sessions, "a session-based revision's date means a session");
        let http = |extra: &str| one_server(&format!(r#"{{"url": "http://h/mcp"{extra}}}"#)).per_session;
        let while_sessions = Some(PerSessionConfig { only_with_sessions: true, ..PerSessionConfig::default() });
        assert_eq!(
            http(""),
            while_sessions,
            "an HTTP server gets an instance (a session) per client while it has sessions"
        );
        assert_eq!(http(r#", "protocol": "legacy""#), while_sessions);
        assert_eq!(http(r#", "protocol": "2026-07-28""#), None, "a stateless one has no sessions to keep apart");
        let always = Some(PerSessionConfig::default());
        assert_eq!(http(r#", "protocol": "2026-07-28", "perSession": true"#), always, "unless asked");
        assert_eq!(http(r#", "perSession": true"#), always, "asked: whatever the server turns out to speak");
    }

    #[test]
    fn an_oauth_block_is_read_with_placeholders_checked_and_its_secret_never_shown() {
        let oauth = |server: &ServerConfig| match &server.transport {
            TransportConfig::Http(http) => http.oauth.clone(),
            TransportConfig::Stdio(_) => None,
        };
        assert_eq!(oauth(&one_server(r#"{"url": "http://h/mcp"}"#)), None, "none configured: the defaults apply");
        let full = one_server(
            r#"{"url": "https://h/mcp", "oauth": {"clientId": "id-1", "clientSecret": "${HOME}-secret",
                "scopes": ["repo", "read:org"], "autoRegister": false, "redirectUrl": "https://gw.example/oauth/callback/h"}}"#,
        );
        let config = oauth(&full).expect("the block");
        assert_eq!(config.client_id.as_deref(), Some("id-1"));
        assert_eq!(config.client_secret.as_deref(), Some("/home/u-secret"), "placeholders are substituted");
        assert_eq!(
            (config.scopes.as_slice(), config.auto_register),
            (&["repo".to_owned(), "read:org".to_owned()][..], false)
        );
        assert!(!format!("{config:?}").contains("secret\""), "{config:?}");
        assert!(!format!("{full:?}").contains("/home/u-secret"), "not through the server's Debug either");
        assert!(oauth(&one_server(r#"{"url": "https://h/mcp", "oauth": {}}"#)).is_some_and(|c| c.auto_register));
        // The defaults' block is taken whole by servers without their own.
        let parsed = parse_ok(
            r#"{"serverDefaults": {"oauth": {"clientId": "shared"}},
                "mcpServers": {"a": {"url": "https://a/mcp"}, "b": {"url": "https://b/mcp", "oauth": {"scopes": ["x"]}}}}"#,
        );
        assert_eq!(oauth(&parsed.config.servers["a"]).and_then(|c| c.client_id).as_deref(), Some("shared"));
        assert_eq!(oauth(&parsed.config.servers["b"]).and_then(|c| c.client_id), None, "replaced, not merged");
        let bad = problems(
            r#"{"mcpServers": {"s": {"url": "https://h/mcp", "oauth": {"clientId": 7, "scopes": "all", "autoRegister": "yes",
                "redirectUrl": "ftp://x"}}}}"#,
        );
        let messages: Vec<String> =
            bad.iter().map(|(_, field, m)| format!("{}: {m}", field.clone().unwrap_or_default())).collect();
        for expected in [
            "oauth.clientId: expected a string, found a number",
            "oauth.scopes: expected an array of strings, found a string",
            "oauth.autoRegister: expected a boolean, found a string",
            "oauth.redirectUrl: expected an http:// or https:// URL",
        ] {
            assert!(messages.iter().any(|m| m == expected), "{expected} missing from {messages:?}");
        }
        let extra = parse_ok(r#"{"mcpServers": {"s": {"url": "https://h/mcp", "oauth": {"extra": 1}}}}"#);
        assert_eq!(warnings_of(&extra), ["server \"s\": field \"oauth\": unknown key \"extra\" in oauth, ignored"]);
        assert!(
            problems(r#"{"mcpServers": {"s": {"url": "https://h/mcp", "oauth": []}}}"#)
                .iter()
                .any(|(_, field, m)| field.as_deref() == Some("oauth") && m == "expected an object, found an array")
        );
    }

    #[test]
    fn timeout_is_the_fallback_for_both_timeouts() {
        let ms = |n| Some(Duration::from_millis(n));
        let both = one_server(r#"{"command": "x", "timeout": 3000}"#);
        assert_eq!((both.connection_timeout, both.request_timeout), (ms(3000), ms(3000)));
        let split = one_server(r#"{"command": "x", "timeout": 3000, "connectionTimeout": 100, "requestTimeout": 200}"#);
        assert_eq!((split.connection_timeout, split.request_timeout), (ms(100), ms(200)));
        let one = one_server(r#"{"command": "x", "requestTimeout": 0}"#);
        assert_eq!((one.connection_timeout, one.request_timeout), (None, ms(0)));
    }

    #[test]
    fn restart_settings_apply_to_stdio_servers() {
        let s = one_server(r#"{"command": "x", "restartOnExit": false, "maxRestarts": 0, "restartDelay": 250}"#);
        assert_eq!(
            s.restart,
            RestartConfig { restart_on_exit: false, max_restarts: 0, restart_delay: Duration::from_millis(250) }
        );
    }

    #[test]
    fn prefix_false_exposes_names_unprefixed() {
        assert!(!one_server(r#"{"command": "x", "prefix": false}"#).prefix_names);
        assert!(one_server(r#"{"command": "x", "prefix": true}"#).prefix_names);
    }

    #[test]
    fn tags_are_trimmed_lower_cased_and_deduplicated() {
        let parsed = parse_ok(r#"{"mcpServers": {"s": {"command": "x", "tags": [" Web ", "web", "FS", "  "]}}}"#);
        assert_eq!(parsed.config.servers["s"].tags, strings(&["web", "fs"]));
        assert_eq!(warnings_of(&parsed), vec!["server \"s\": field \"tags\": empty tag ignored"]);
    }

    #[test]
    fn tool_settings_are_read() {
        let parsed = parse_ok(
            r#"{"mcpServers": {"s": {"command": "x", "disabledTools": ["rm", "s_1mcp_mv"], "instructionOverride": "",
                "toolDescriptionOverrides": {"ls": "List files", "cat": "  "}}}}"#,
        );
        let s = &parsed.config.servers["s"];
        assert_eq!(s.disabled_tools, strings(&["rm", "s_1mcp_mv"]));
        assert_eq!(s.instruction_override.as_deref(), Some(""));
        assert_eq!(s.tool_description_overrides, vars(&[("ls", "List files")]));
        assert_eq!(
            warnings_of(&parsed),
            vec!["server \"s\": field \"toolDescriptionOverrides.cat\": blank description ignored"]
        );
    }

    #[test]
    fn every_type_error_names_server_field_expectation_and_finding() {
        let cases: &[(&str, &str, &str)] = &[
            (r#""command": 1"#, "command", "expected a string, found a number"),
            (r#""command": "x", "args": "a b""#, "args", "expected an array of strings, found a string"),
            (r#""command": "x", "args": ["a", 2]"#, "args[1]", "expected a string, found a number"),
            (r#""command": "x", "cwd": false"#, "cwd", "expected a string, found a boolean"),
            (
                r#""command": "x", "env": "A=1""#,
                "env",
                "expected an object or an array of \"NAME=value\" strings, found a string",
            ),
            (
                r#""command": "x", "env": {"A": {"b": 1}}"#,
                "env.A",
                "expected a string, number or boolean, found an object",
            ),
            (r#""command": "x", "env": {"A": null}"#, "env.A", "expected a string, number or boolean, found null"),
            (
                r#""command": "x", "env": ["=v"]"#,
                "env[0]",
                "expected \"NAME=value\" or \"NAME\", found an entry without a name",
            ),
            (r#""command": "x", "env": [1]"#, "env[0]", "expected a string, found a number"),
            (r#""command": "x", "inheritParentEnv": "yes""#, "inheritParentEnv", "expected a boolean, found a string"),
            (r#""command": "x", "envFilter": "PATH""#, "envFilter", "expected an array of strings, found a string"),
            (r#""url": 5"#, "url", "expected a string, found a number"),
            (
                r#""url": "https://h", "headers": ["A: b"]"#,
                "headers",
                "expected an object with string values, found an array",
            ),
            (r#""url": "https://h", "headers": {"A": 1}"#, "headers.A", "expected a string, found a number"),
            (r#""type": ["stdio"], "command": "x""#, "type", "expected a string, found an array"),
            (r#""command": "x", "tags": "web""#, "tags", "expected an array of strings, found a string"),
            (r#""command": "x", "disabled": "true""#, "disabled", "expected a boolean, found a string"),
            (
                r#""command": "x", "timeout": -1"#,
                "timeout",
                "expected a non-negative integer (milliseconds), found a negative number",
            ),
            (
                r#""command": "x", "connectionTimeout": 1.5"#,
                "connectionTimeout",
                "expected a non-negative integer (milliseconds), found a fractional number",
            ),
            (
                r#""command": "x", "requestTimeout": "1s""#,
                "requestTimeout",
                "expected a non-negative integer (milliseconds), found a string",
            ),
            (
                r#""command": "x", "disabledTools": {}"#,
                "disabledTools",
                "expected an array of strings, found an object",
            ),
            (
                r#""command": "x", "toolDescriptionOverrides": {"t": 1}"#,
                "toolDescriptionOverrides.t",
                "expected a string, found a number",
            ),
            (r#""command": "x", "instructionOverride": null"#, "instructionOverride", "expected a string, found null"),
            (r#""command": "x", "restartOnExit": 1"#, "restartOnExit", "expected a boolean, found a number"),
            (
                r#""command": "x", "maxRestarts": -2"#,
                "maxRestarts",
                "expected a non-negative integer, found a negative number",
            ),
            (
                r#""command": "x", "maxRestarts": 4294967296"#,
                "maxRestarts",
                "expected an integer no greater than 4294967295, found a larger number",
            ),
            (
                r#""command": "x", "restartDelay": true"#,
                "restartDelay",
                "expected a non-negative integer (milliseconds), found a boolean",
            ),
            (r#""command": "x", "prefix": "no""#, "prefix", "expected a boolean, found a string"),
            (
                r#""command": "x", "protocol": "2099-01-01""#,
                "protocol",
                r#"unknown protocol "2099-01-01": use "2026-07-28" (stateless), "legacy" (sessions) or "auto" (ask)"#,
            ),
            (r#""command": "x", "protocol": 2026"#, "protocol", "expected a string, found a number"),
        ];
        for (body, field, message) in cases {
            let text = format!(r#"{{"mcpServers": {{"srv": {{{body}}}}}}}"#);
            assert_eq!(problems(&text), vec![problem("srv", Some(field), message)], "for {body}");
        }
    }

    #[test]
    fn a_server_entry_must_be_an_object() {
        assert_eq!(
            problems(r#"{"mcpServers": {"s": "npx srv"}}"#),
            vec![problem("s", None, "expected an object, found a string")]
        );
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let errors = parse_err("{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\"}\n    \"b\": {}\n  }\n}");
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (Some(4), Some(5)));
        assert_eq!(errors[0].to_string(), "/x/mcp.json:4:5: invalid JSON: expected `,` or `}`");
        let eof = parse_err("{\"mcpServers\": {");
        assert_eq!(eof[0].to_string(), "/x/mcp.json:1:16: invalid JSON: EOF while parsing an object");
    }

    #[test]
    fn top_level_shape_errors() {
        assert_eq!(
            problems("[]"),
            vec![(None, None, "expected a JSON object at the top level, found an array".to_string())]
        );
        assert_eq!(
            problems(r#"{"servers": {}}"#),
            vec![(None, Some("mcpServers".into()), "missing; expected an object of servers".into())]
        );
        assert_eq!(
            problems(r#"{"mcpServers": []}"#),
            vec![(None, Some("mcpServers".into()), "expected an object of servers, found an array".into())]
        );
    }

    #[test]
    fn unknown_and_unsupported_keys_only_warn() {
        let parsed = parse_ok(
            r#"{"$schema": "https://docs.1mcp.app/schemas/v1.0.0/mcp-config.json", "version": "1.0.0",
                "mcpTemplates": {}, "templateSettings": {}, "instructionTemplates": {}, "publishedInstructionTemplates": {},
                "activeInstructionTemplate": "x", "extra": 1,
                "mcpServers": {"s": {"command": "x", "comand": "typo", "stderr": "inherit", "oauth": {}, "template": {}}}}"#,
        );
        let mut warnings = warnings_of(&parsed);
        warnings.sort();
        assert_eq!(
            warnings,
            vec![
                "field \"activeInstructionTemplate\": not supported yet, ignored",
                "field \"extra\": unknown key, ignored",
                "field \"instructionTemplates\": not supported yet, ignored",
                "field \"mcpTemplates\": not supported yet, ignored",
                "field \"publishedInstructionTemplates\": not supported yet, ignored",
                "field \"templateSettings\": not supported yet, ignored",
                "server \"s\": field \"comand\": unknown key, ignored",
                "server \"s\": field \"oauth\": does not apply to a stdio server, ignored",
                "server \"s\": field \"template\": not supported yet, ignored",
            ]
        );
        assert_eq!(launch(&parsed.config.servers["s"]).command, "x");
    }

    #[test]
    fn server_names_must_not_contain_the_separator_or_be_empty() {
        assert_eq!(
            problems(r#"{"mcpServers": {"": {"command": "x"}, "my_1mcp_fs": {"command": "x"}}}"#),
            vec![
                problem("", None, "a server name must not be empty"),
                problem(
                    "my_1mcp_fs",
                    None,
                    "a server name must not contain \"_1mcp_\" (it separates server and tool names)"
                ),
            ]
        );
    }

    #[test]
    fn unusual_server_name_characters_only_warn() {
        let parsed = parse_ok(r#"{"mcpServers": {"my fs": {"command": "x"}, "ok-name_1.2": {"command": "y"}}}"#);
        assert_eq!(parsed.config.servers.len(), 2);
        assert_eq!(
            warnings_of(&parsed),
            vec![
                "server \"my fs\": the name has characters other than letters, digits, \"_\", \".\" and \"-\"; some clients reject such tool names"
            ]
        );
    }

    #[test]
    fn all_problems_are_collected_and_valid_servers_do_not_rescue_the_file() {
        let errors = parse_err(
            r#"{"serverDefaults": {"timeout": -5},
                "mcpServers": {"good": {"command": "x"}, "bad1": {"command": 3, "args": [true]}, "bad2": {}}}"#,
        );
        let got: Vec<(Option<String>, Option<String>)> = errors.into_iter().map(|e| (e.server, e.field)).collect();
        let want = |s: Option<&str>, f: &str| (s.map(str::to_string), Some(f.to_string()));
        assert_eq!(
            got,
            vec![
                want(None, "serverDefaults.timeout"),
                want(Some("bad1"), "command"),
                want(Some("bad1"), "args[0]"),
                want(Some("bad2"), "command"),
            ]
        );
    }

    #[test]
    fn errors_point_at_the_key_and_display_one_per_line() {
        let text = "{\n  \"mcpServers\": {\n    \"fs\": {\"command\": \"x\", \"args\": 3},\n    \"web\": []\n  }\n}";
        let errors = match parse_mcp_json(text, SRC, &parent_env()) {
            Err(errors) => errors,
            Ok(parsed) => panic!("unexpectedly valid: {parsed:?}"),
        };
        assert_eq!(
            errors.to_string(),
            "/x/mcp.json:3:28: server \"fs\": field \"args\": expected an array of strings, found a number\n\
             /x/mcp.json:4:5: server \"web\": expected an object, found an array"
        );
    }

    #[test]
    fn error_display_without_position() {
        let error = ConfigError {
            source: "/x/mcp.json".into(),
            server: Some("fs".into()),
            field: Some("args".into()),
            line: None,
            column: None,
            message: "expected an array of strings, found a number".into(),
        };
        assert_eq!(
            error.to_string(),
            "/x/mcp.json: server \"fs\": field \"args\": expected an array of strings, found a number"
        );
    }

    #[test]
    fn warnings_carry_file_and_position() {
        let parsed = parse_ok("{\"mcpServers\": {\n  \"s\": {\"command\": \"x\", \"colour\": 1}}}");
        assert_eq!(parsed.warnings, vec!["/x/mcp.json:2:25: server \"s\": field \"colour\": unknown key, ignored"]);
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        assert_eq!(parse_ok("\u{feff}{\"mcpServers\": {}}").config, McpConfig::default());
    }
}

#[cfg(test)]
mod per_session_tests {
    use super::*;

    fn parse(server: &str) -> Result<ParsedConfig, ConfigErrors> {
        parse_mcp_json(&format!(r#"{{"mcpServers": {{"s": {server}}}}}"#), "/x/mcp.json", &BTreeMap::new())
    }

    fn per_session(server: &str) -> Option<PerSessionConfig> {
        parse(server).expect("valid").config.servers["s"].per_session.clone()
    }

    #[test]
    fn http_servers_default_to_per_session_and_stdio_servers_opt_in() {
        let while_sessions = PerSessionConfig { only_with_sessions: true, ..PerSessionConfig::default() };
        assert_eq!(per_session(r#"{"url": "http://h/mcp"}"#), Some(while_sessions));
        assert_eq!(per_session(r#"{"url": "http://h/mcp", "perSession": false}"#), None);
        assert_eq!(per_session(r#"{"command": "x"}"#), None);
        assert_eq!(per_session(r#"{"command": "x", "perSession": true}"#), Some(PerSessionConfig::default()));
        assert_eq!(
            per_session(r#"{"command": "x", "perSession": {"maxInstances": 3, "idleTimeout": 1500}}"#),
            Some(PerSessionConfig {
                max_instances: 3,
                idle_timeout: Duration::from_millis(1500),
                only_with_sessions: false
            })
        );
    }

    #[test]
    fn bad_per_session_values_name_the_field() {
        let errors = parse(r#"{"command": "x", "perSession": {"maxInstances": 0}}"#).expect_err("zero instances");
        assert_eq!(errors.errors[0].field.as_deref(), Some("perSession.maxInstances"));
        let errors = parse(r#"{"command": "x", "perSession": "yes"}"#).expect_err("a string");
        assert!(errors.errors[0].message.contains("expected a boolean or an object"), "{errors}");
        let warned = parse(r#"{"command": "x", "perSession": {"maxInstance": 2}}"#).expect("typo only warns");
        assert!(warned.warnings.iter().any(|w| w.contains("perSession.maxInstance")), "{:?}", warned.warnings);
    }
}
