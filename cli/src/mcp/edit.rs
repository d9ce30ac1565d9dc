//! The edits `1mcp mcp` makes to the mcp.json document, without files: each finds its server,
//! refuses what cannot be meant (a name taken twice, flags of another transport), changes only
//! the keys it is about, and says what it changed. The daemon's parser then judges the result.

use super::document::{Json, Object};
use super::secrets;
use crate::args::{ServerFlags, ServerType};
use anyhow::{Result, bail};
use onemcp_core::config::keys::{KeyScope, keys_only_for};

/// What joins a server's name and a tool's in the names clients see (`<server>_1mcp_<tool>`).
const QUALIFIER: &str = onemcp_core::SEPARATOR;

/// The two kinds of server: a child process, or a remote server reached by URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `command`.
    Stdio,
    /// `url` (http, sse).
    Remote,
}

impl Family {
    fn of(transport: ServerType) -> Family {
        match transport {
            ServerType::Stdio => Family::Stdio,
            ServerType::Http | ServerType::Sse => Family::Remote,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Family::Stdio => "stdio servers",
            Family::Remote => "http and sse servers",
        }
    }

    fn scope(self) -> KeyScope {
        match self {
            Family::Stdio => KeyScope::Stdio,
            Family::Remote => KeyScope::Http,
        }
    }

    /// The flag that names what a server of this family runs.
    fn essential_flag(self) -> &'static str {
        match self {
            Family::Stdio => "--command CMD (or -- CMD ARGS...)",
            Family::Remote => "--url URL",
        }
    }
}

/// The fields `add` and `update` set; `None` = not given.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerFields {
    /// `--type`, or stdio for `-- CMD`.
    pub transport: Option<ServerType>,
    /// `command`.
    pub command: Option<String>,
    /// `args` (empty: none).
    pub args: Option<Vec<String>>,
    /// `cwd`.
    pub cwd: Option<String>,
    /// `url`.
    pub url: Option<String>,
    /// `headers`, in the order given.
    pub headers: Option<Vec<(String, String)>>,
    /// `env`, in the order given.
    pub env: Option<Vec<(String, String)>>,
    /// `tags` (empty: none).
    pub tags: Option<Vec<String>>,
    /// `timeout`.
    pub timeout: Option<u64>,
    /// `restartOnExit`.
    pub restart_on_exit: Option<bool>,
    /// `maxRestarts`.
    pub max_restarts: Option<u32>,
    /// `restartDelay`.
    pub restart_delay: Option<u64>,
}

impl ServerFields {
    /// Reads the flags, with `-- CMD ARGS...` as the command and its arguments.
    pub fn from_flags(flags: ServerFlags) -> Result<ServerFields> {
        let mut fields = ServerFields {
            transport: flags.transport,
            command: flags.command,
            args: flags.args,
            cwd: flags.cwd,
            url: flags.url,
            headers: flags.headers.as_deref().map(|h| pairs(h, "--headers")).transpose()?,
            env: flags.env.as_deref().map(|e| pairs(e, "--env")).transpose()?,
            tags: flags.tags.as_deref().map(split_tags),
            timeout: flags.timeout,
            restart_on_exit: flags.restart_on_exit,
            max_restarts: flags.max_restarts,
            restart_delay: flags.restart_delay,
        };
        if let Some((command, args)) = flags.command_line.split_first() {
            fields.take_command_line(command, args)?;
        }
        Ok(fields)
    }

    /// `-- CMD ARGS...`: a stdio server running CMD with exactly ARGS.
    fn take_command_line(&mut self, command: &str, args: &[String]) -> Result<()> {
        if self.command.is_some() || self.args.is_some() {
            bail!("give the command either after -- or with --command/--args, not both");
        }
        if self.transport.is_some_and(|t| t != ServerType::Stdio) {
            bail!("-- CMD ARGS... describes a stdio server; an http or sse server takes --url");
        }
        self.transport = Some(ServerType::Stdio);
        self.command = Some(command.to_owned());
        self.args = Some(args.to_vec());
        Ok(())
    }

    /// The flags given that belong to one family, with it.
    fn family_flags(&self) -> Vec<(&'static str, Family)> {
        let given = [
            ("--command", self.command.is_some(), Family::Stdio),
            ("--args", self.args.as_ref().is_some_and(|a| !a.is_empty()), Family::Stdio),
            ("--cwd", self.cwd.is_some(), Family::Stdio),
            ("--env", self.env.is_some(), Family::Stdio),
            ("--restart-on-exit", self.restart_on_exit.is_some(), Family::Stdio),
            ("--max-restarts", self.max_restarts.is_some(), Family::Stdio),
            ("--restart-delay", self.restart_delay.is_some(), Family::Stdio),
            ("--url", self.url.is_some(), Family::Remote),
            ("--headers", self.headers.is_some(), Family::Remote),
        ];
        given.into_iter().filter(|(_, set, _)| *set).map(|(flag, _, family)| (flag, family)).collect()
    }

    /// Refuses flags that mean nothing to a server of `family`.
    fn check_fits(&self, family: Family, name: &str) -> Result<()> {
        if let Some((flag, own)) = self.family_flags().into_iter().find(|(_, f)| *f != family) {
            bail!("{flag} applies to {}, and \"{name}\" is one of the {}", own.words(), family.words());
        }
        Ok(())
    }

    /// The family the flags describe when `--type` does not say: `--command` or `--url`.
    fn implied_family(&self) -> Result<Option<Family>> {
        if let Some(transport) = self.transport {
            return Ok(Some(Family::of(transport)));
        }
        match (self.command.is_some(), self.url.is_some()) {
            (true, true) => bail!("give --command (a stdio server) or --url (an http or sse server), not both"),
            (true, false) => Ok(Some(Family::Stdio)),
            (false, true) => Ok(Some(Family::Remote)),
            (false, false) => Ok(None),
        }
    }

    /// Whether the flags name what a server of `family` runs.
    fn has_essential(&self, family: Family) -> bool {
        match family {
            Family::Stdio => self.command.is_some(),
            Family::Remote => self.url.is_some(),
        }
    }

    /// Sets the given fields in `entry` (in 1MCP's key order for new keys); returns what
    /// changed, one line per key.
    fn apply(&self, entry: &mut Object) -> Vec<String> {
        let nonempty = |items: &Vec<String>| (!items.is_empty()).then(|| Json::strings(items));
        let fields = [
            ("command", self.command.as_deref().map(|c| Some(Json::string(c)))),
            ("args", self.args.as_ref().map(nonempty)),
            ("cwd", self.cwd.as_deref().map(|c| Some(Json::string(c)))),
            ("url", self.url.as_deref().map(|u| Some(Json::string(u)))),
            ("headers", self.headers.as_deref().map(|h| Some(Json::string_map(h)))),
            ("env", self.env.as_deref().map(|e| Some(Json::string_map(e)))),
            ("tags", self.tags.as_ref().map(nonempty)),
            ("timeout", self.timeout.map(|t| Some(Json::number(t)))),
            ("restartOnExit", self.restart_on_exit.map(|r| Some(Json::Bool(r)))),
            ("maxRestarts", self.max_restarts.map(|m| Some(Json::number(m.into())))),
            ("restartDelay", self.restart_delay.map(|d| Some(Json::number(d)))),
        ];
        let mut changes = Vec::new();
        for (key, value) in fields {
            if let Some(value) = value {
                changes.extend(put(entry, key, value));
            }
        }
        changes
    }
}

/// Sets (`Some`) or removes (`None`) `key`; describes the change if there was one.
fn put(entry: &mut Object, key: &str, value: Option<Json>) -> Option<String> {
    let old = entry.get(key).cloned();
    if old == value {
        return None;
    }
    let line = format!("{key}: {} -> {}", shown(key, old.as_ref()), shown(key, value.as_ref()));
    match value {
        Some(value) => entry.insert(key, value),
        None => entry.remove(key),
    };
    Some(line)
}

/// A value of `key` for a message: env and header values never appear, a URL's credentials
/// neither.
fn shown(key: &str, value: Option<&Json>) -> String {
    let Some(value) = value else { return "(none)".to_owned() };
    let count = |unit: &str| match value {
        Json::Object(o) => format!("{} {unit}", o.iter().count()),
        Json::Array(a) => format!("{} {unit}", a.len()),
        _ => secrets::MASK.to_owned(),
    };
    match (key, value) {
        ("env", _) => count("variable(s)"),
        ("headers", _) => count("header(s)"),
        ("url", Json::String(url)) => secrets::url(url),
        ("args", Json::Array(items)) => {
            let args: Vec<String> =
                items.iter().map(|a| a.as_str().map_or_else(|| a.compact(), str::to_owned)).collect();
            format!("[{}]", secrets::args(&args).join(", "))
        }
        _ => value.compact(),
    }
}

/// `KEY=VALUE` items, in order; the key is trimmed and may not be empty.
fn pairs(items: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            bail!("{flag} takes KEY=VALUE; one item has no \"=\"");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("{flag} takes KEY=VALUE; one item has an empty KEY");
        }
        out.push((key.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// `a, b,,c` -> `[a, b, c]`.
fn split_tags(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// Which family an entry is: its `type`, else what it runs.
fn family_of(entry: &Object) -> Option<Family> {
    match entry.get("type").and_then(Json::as_str) {
        Some("stdio") => Some(Family::Stdio),
        Some("http" | "sse" | "streamableHttp") => Some(Family::Remote),
        _ if entry.contains("command") => Some(Family::Stdio),
        _ if entry.contains("url") => Some(Family::Remote),
        _ => None,
    }
}

/// The `mcpServers` object of `root` (created if missing).
fn servers_mut(root: &mut Json) -> Result<&mut Object> {
    let Some(root) = root.as_object_mut() else { bail!("the file is not a JSON object") };
    if !root.contains("mcpServers") {
        root.insert("mcpServers", Json::Object(Object::default()));
    }
    match root.get_mut("mcpServers") {
        Some(Json::Object(servers)) => Ok(servers),
        _ => bail!("\"mcpServers\" is not an object"),
    }
}

/// The entry of server `name`.
fn server_mut<'a>(root: &'a mut Json, name: &str) -> Result<&'a mut Object> {
    match servers_mut(root)?.get_mut(name) {
        Some(Json::Object(entry)) => Ok(entry),
        Some(_) => bail!("the entry of server \"{name}\" is not an object"),
        None => bail!("no server named \"{name}\""),
    }
}

/// The entry of server `name`, if there is such an object.
pub fn server<'a>(root: &'a Json, name: &str) -> Option<&'a Object> {
    root.as_object()?.get("mcpServers")?.as_object()?.get(name)?.as_object()
}

/// Adds server `name`; returns its entry's text for the message.
pub fn add(root: &mut Json, name: &str, fields: &ServerFields, disabled: bool) -> Result<()> {
    let servers = servers_mut(root)?;
    if servers.contains(name) {
        bail!("a server named \"{name}\" exists already: change it with `1mcp mcp update {name}`, or remove it first");
    }
    let Some(family) = fields.implied_family()? else {
        bail!("a server needs --command CMD or -- CMD ARGS... (stdio), or --url URL (http, sse)");
    };
    fields.check_fits(family, name)?;
    if !fields.has_essential(family) {
        bail!("a server of the {} needs {}", family.words(), family.essential_flag());
    }
    let mut entry = Object::default();
    if let Some(transport) = fields.transport {
        entry.insert("type", Json::string(transport.key_value()));
    }
    fields.apply(&mut entry);
    if disabled {
        entry.insert("disabled", Json::Bool(true));
    }
    servers.insert(name, Json::Object(entry));
    Ok(())
}

/// Changes the given fields of server `name`; returns one line per change (none: nothing to
/// do). Another `--type` family drops the keys only the old one reads.
pub fn update(root: &mut Json, name: &str, fields: &ServerFields) -> Result<Vec<String>> {
    let entry = server_mut(root, name)?;
    let current = family_of(entry);
    let target = match fields.transport {
        Some(transport) => Some(Family::of(transport)),
        None => current.map_or_else(|| fields.implied_family(), |family| Ok(Some(family)))?,
    };
    let mut changes = Vec::new();
    if let Some(target) = target {
        if current.is_some_and(|current| current != target) {
            if !fields.has_essential(target) {
                bail!("\"{name}\" becomes one of the {}: that needs {}", target.words(), target.essential_flag());
            }
            changes.extend(drop_family_keys(entry, target));
        }
        if let Err(error) = fields.check_fits(target, name) {
            let hint = if fields.transport.is_none() { " (--type switches it)" } else { "" };
            bail!("{error}{hint}");
        }
    }
    if let Some(transport) = fields.transport {
        changes.extend(put(entry, "type", Some(Json::string(transport.key_value()))));
    }
    changes.extend(fields.apply(entry));
    Ok(changes)
}

/// Removes the keys only servers of the other family read (a server switching to `target`).
fn drop_family_keys(entry: &mut Object, target: Family) -> Vec<String> {
    let other = match target {
        Family::Stdio => Family::Remote,
        Family::Remote => Family::Stdio,
    };
    keys_only_for(other.scope()).filter_map(|key| put(entry, key, None)).collect()
}

/// Removes server `name`.
pub fn remove(root: &mut Json, name: &str) -> Result<()> {
    match servers_mut(root)?.remove(name) {
        Some(_) => Ok(()),
        None => bail!("no server named \"{name}\""),
    }
}

/// Sets whether server `name` is disabled; false if it already was so. 1MCP's `enabled`, its
/// other spelling, goes: the entry then says it one way only.
pub fn set_disabled(root: &mut Json, name: &str, disabled: bool) -> Result<bool> {
    let entry = server_mut(root, name)?;
    if let Some(enabled) = entry.remove("enabled") {
        // Say it as `disabled` from now on, then apply the change.
        if enabled == Json::Bool(false) {
            entry.insert("disabled", Json::Bool(true));
        }
        let now_disabled = entry.get("disabled") == Some(&Json::Bool(true));
        if now_disabled == disabled {
            return Ok(true);
        }
    }
    let now = entry.get("disabled");
    if disabled {
        if now == Some(&Json::Bool(true)) {
            return Ok(false);
        }
        entry.insert("disabled", Json::Bool(true));
        return Ok(true);
    }
    // Enabled is the default: the key goes rather than turning false.
    let changed = now.is_some_and(|value| *value != Json::Bool(false));
    if changed {
        entry.remove("disabled");
    }
    Ok(changed)
}

/// Hides (`disabled`) or shows tool `tool` of server `name` through its `disabledTools`;
/// false if it already was so. `tool` may be the qualified name clients see.
pub fn set_tool_disabled(root: &mut Json, name: &str, tool: &str, disabled: bool) -> Result<bool> {
    let entry = server_mut(root, name)?;
    let qualified = format!("{name}{QUALIFIER}");
    let tool = tool.strip_prefix(&qualified).unwrap_or(tool);
    if tool.is_empty() {
        bail!("the tool name is empty");
    }
    let names = disabled_tools(entry, name)?;
    let either = |t: &String| t == tool || t.strip_prefix(&qualified) == Some(tool);
    let kept: Vec<String> = names.iter().filter(|t| !either(t)).cloned().collect();
    let listed = kept.len() != names.len();
    match (disabled, listed) {
        (true, true) | (false, false) => Ok(false),
        (true, false) => {
            let mut names = names;
            names.push(tool.to_owned());
            entry.insert("disabledTools", Json::strings(&names));
            Ok(true)
        }
        (false, true) if kept.is_empty() => Ok(entry.remove("disabledTools").is_some()),
        (false, true) => Ok(entry.insert("disabledTools", Json::strings(&kept)).is_some()),
    }
}

/// The `disabledTools` of an entry.
pub fn disabled_tools(entry: &Object, name: &str) -> Result<Vec<String>> {
    match entry.get("disabledTools") {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned)).collect::<Option<Vec<String>>>().ok_or_else(
                || anyhow::anyhow!("\"disabledTools\" of server \"{name}\" holds something other than names"),
            )
        }
        Some(_) => bail!("\"disabledTools\" of server \"{name}\" is not a list of names"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Json {
        Json::parse(text).expect("valid JSON")
    }

    fn flags(edit: impl FnOnce(&mut ServerFlags)) -> Result<ServerFields> {
        let mut flags = ServerFlags::default();
        edit(&mut flags);
        ServerFields::from_flags(flags)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn add_writes_the_given_keys_in_order_after_the_others() {
        let mut root = doc(r#"{"$schema": "s", "mcpServers": {"a": {"command": "x"}}, "extra": 1}"#);
        let fields = flags(|f| {
            f.env = Some(strings(&["K=v=w", "J=1"]));
            f.tags = Some(" web, ,db".into());
            f.command_line = strings(&["npx", "-y", "pkg"]);
        })
        .expect("valid flags");
        add(&mut root, "b", &fields, true).expect("added");
        assert_eq!(
            root.compact(),
            r#"{"$schema":"s","mcpServers":{"a":{"command":"x"},"b":{"type":"stdio","command":"npx","args":["-y","pkg"],"env":{"K":"v=w","J":"1"},"tags":["web","db"],"disabled":true}},"extra":1}"#
        );
        let error = add(&mut root, "a", &fields, false).expect_err("a exists");
        assert!(error.to_string().contains("exists already"), "{error}");
    }

    #[test]
    fn add_refuses_what_cannot_be_meant() {
        let refused = |fields: Result<ServerFields>| {
            let mut root = doc(r#"{"mcpServers": {}}"#);
            fields.and_then(|f| add(&mut root, "n", &f, false)).expect_err("refused").to_string()
        };
        assert!(refused(flags(|_| {})).contains("needs --command"));
        assert!(refused(flags(|f| f.transport = Some(ServerType::Http))).contains("needs --url"));
        assert!(
            refused(flags(|f| {
                f.command = Some("x".into());
                f.url = Some("http://h/mcp".into());
            }))
            .contains("not both")
        );
        assert!(
            refused(flags(|f| {
                f.url = Some("http://h/mcp".into());
                f.env = Some(strings(&["A=1"]));
            }))
            .contains("--env applies to stdio servers")
        );
        assert!(
            refused(flags(|f| {
                f.command = Some("x".into());
                f.headers = Some(strings(&["A=1"]));
            }))
            .contains("--headers applies to http and sse servers")
        );
        assert!(
            refused(flags(|f| {
                f.transport = Some(ServerType::Sse);
                f.command_line = strings(&["x"]);
            }))
            .contains("stdio server")
        );
        assert!(
            refused(flags(|f| {
                f.command = Some("x".into());
                f.command_line = strings(&["y"]);
            }))
            .contains("not both")
        );
        assert!(refused(flags(|f| f.env = Some(strings(&["NOEQUALS"])))).contains("KEY=VALUE"));
        assert!(refused(flags(|f| f.env = Some(strings(&[" =x"])))).contains("empty KEY"));
    }

    #[test]
    fn an_http_server_without_type_is_left_to_probe_and_headers_are_kept_in_order() {
        let mut root = doc(r#"{"mcpServers": {}}"#);
        let fields = flags(|f| {
            f.url = Some("https://h/mcp".into());
            f.headers = Some(strings(&["X-B=2", "Authorization=Bearer t"]));
            f.timeout = Some(5000);
        })
        .expect("valid");
        add(&mut root, "r", &fields, false).expect("added");
        assert_eq!(
            root.compact(),
            r#"{"mcpServers":{"r":{"url":"https://h/mcp","headers":{"X-B":"2","Authorization":"Bearer t"},"timeout":5000}}}"#
        );
    }

    #[test]
    fn update_changes_only_the_given_fields_in_place() {
        let mut root = doc(r#"{"mcpServers": {"s": {"command": "a", "x-note": [1], "args": ["1"], "tags": ["t"]}}}"#);
        let fields = flags(|f| {
            f.args = Some(strings(&["2", "3"]));
            f.tags = Some(String::new());
            f.max_restarts = Some(0);
        })
        .expect("valid");
        let changes = update(&mut root, "s", &fields).expect("updated");
        assert_eq!(changes, ["args: [1] -> [2, 3]", "tags: [\"t\"] -> (none)", "maxRestarts: (none) -> 0"]);
        assert_eq!(
            root.compact(),
            r#"{"mcpServers":{"s":{"command":"a","x-note":[1],"args":["2","3"],"maxRestarts":0}}}"#
        );
        assert!(update(&mut root, "s", &fields).expect("same again").is_empty(), "nothing left to change");
        assert!(update(&mut root, "nope", &fields).is_err());
    }

    #[test]
    fn update_refuses_another_transports_flags_unless_the_type_switches() {
        let mut root = doc(r#"{"mcpServers": {"s": {"command": "a", "env": {"K": "v"}, "tags": ["t"]}}}"#);
        let url = flags(|f| f.url = Some("http://h/mcp".into())).expect("valid");
        let error = update(&mut root, "s", &url).expect_err("a stdio server has no url");
        assert!(error.to_string().contains("--url applies to http and sse servers"), "{error}");
        let switch = flags(|f| f.transport = Some(ServerType::Http)).expect("valid");
        assert!(update(&mut root, "s", &switch).expect_err("needs a url").to_string().contains("needs --url"));
        let switch = flags(|f| {
            f.transport = Some(ServerType::Http);
            f.url = Some("http://h/mcp".into());
        })
        .expect("valid");
        let changes = update(&mut root, "s", &switch).expect("switched");
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert!(changes.iter().any(|c| c == "env: 1 variable(s) -> (none)"), "{changes:?}");
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"tags":["t"],"type":"http","url":"http://h/mcp"}}}"#);
        let back = flags(|f| f.command_line = strings(&["npx", "pkg"])).expect("valid");
        update(&mut root, "s", &back).expect("-- CMD switches back to stdio");
        assert_eq!(
            root.compact(),
            r#"{"mcpServers":{"s":{"tags":["t"],"type":"stdio","command":"npx","args":["pkg"]}}}"#
        );
    }

    #[test]
    fn enable_and_disable_touch_only_the_disabled_key() {
        let mut root = doc(r#"{"mcpServers": {"s": {"command": "a", "disabled": true, "z": 1}}}"#);
        assert!(!set_disabled(&mut root, "s", true).expect("disable"));
        assert!(set_disabled(&mut root, "s", false).expect("enable"));
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"command":"a","z":1}}}"#);
        assert!(!set_disabled(&mut root, "s", false).expect("enable again"));
        assert!(set_disabled(&mut root, "s", true).expect("disable"));
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"command":"a","z":1,"disabled":true}}}"#);
        assert!(set_disabled(&mut root, "t", true).is_err());
    }

    #[test]
    fn enabling_or_disabling_replaces_1mcps_enabled_spelling() {
        let mut root = doc(r#"{"mcpServers": {"s": {"command": "a", "enabled": false}}}"#);
        assert!(set_disabled(&mut root, "s", false).expect("enable"));
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"command":"a"}}}"#);
        let mut root = doc(r#"{"mcpServers": {"s": {"command": "a", "enabled": true}}}"#);
        assert!(set_disabled(&mut root, "s", true).expect("disable"));
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"command":"a","disabled":true}}}"#);
        let mut root = doc(r#"{"mcpServers": {"s": {"command": "a", "enabled": false}}}"#);
        assert!(set_disabled(&mut root, "s", true).expect("disable"), "said the other way now");
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"command":"a","disabled":true}}}"#);
    }

    #[test]
    fn tools_are_hidden_by_their_own_name_and_shown_by_either_name() {
        let mut root = doc(r#"{"mcpServers": {"s": {"command": "a"}}}"#);
        assert!(set_tool_disabled(&mut root, "s", "s_1mcp_rm", true).expect("disable"));
        assert!(set_tool_disabled(&mut root, "s", "mv", true).expect("disable"));
        assert!(!set_tool_disabled(&mut root, "s", "rm", true).expect("already"));
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"command":"a","disabledTools":["rm","mv"]}}}"#);
        assert!(set_tool_disabled(&mut root, "s", "s_1mcp_rm", false).expect("enable"));
        assert!(!set_tool_disabled(&mut root, "s", "cp", false).expect("never disabled"));
        assert!(set_tool_disabled(&mut root, "s", "mv", false).expect("enable"));
        assert_eq!(root.compact(), r#"{"mcpServers":{"s":{"command":"a"}}}"#, "the emptied list goes");
        let mut odd = doc(r#"{"mcpServers": {"s": {"command": "a", "disabledTools": "rm"}}}"#);
        assert!(set_tool_disabled(&mut odd, "s", "rm", true).is_err());
    }

    #[test]
    fn remove_takes_out_one_server() {
        let mut root = doc(r#"{"mcpServers": {"a": {}, "b": {}, "c": {}}}"#);
        remove(&mut root, "b").expect("removed");
        assert_eq!(root.compact(), r#"{"mcpServers":{"a":{},"c":{}}}"#);
        assert!(remove(&mut root, "b").is_err());
    }
}
