//! What a new `mcp.json` changes: the plan that restarts only what must restart.

use crate::config::{McpConfig, ServerConfig};
use std::collections::BTreeSet;

/// The effect of replacing one configuration by another, server by server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// New servers: start them.
    pub added: BTreeSet<String>,
    /// Servers gone from the file: stop them.
    pub removed: BTreeSet<String>,
    /// Servers whose process or connection changed (command, args, env, cwd, url, headers,
    /// or enabled/disabled): stop the old incarnation and start a new one.
    pub restarted: BTreeSet<String>,
    /// Servers whose other settings changed (tags, disabledTools, descriptions, instructions,
    /// prefix, timeouts, restart policy, perSession limits): update in place, nothing restarts.
    pub updated: BTreeSet<String>,
}

impl ReloadPlan {
    /// True when the new configuration changes nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.restarted.is_empty() && self.updated.is_empty()
    }
}

/// Compare two configurations.
pub fn plan(old: &McpConfig, new: &McpConfig) -> ReloadPlan {
    let mut plan = ReloadPlan::default();
    for (name, server) in &new.servers {
        match old.servers.get(name) {
            None => {
                plan.added.insert(name.clone());
            }
            Some(before) if needs_restart(before, server) => {
                plan.restarted.insert(name.clone());
            }
            Some(before) if before != server => {
                plan.updated.insert(name.clone());
            }
            Some(_) => {}
        }
    }
    plan.removed = old.servers.keys().filter(|name| !new.servers.contains_key(*name)).cloned().collect();
    plan
}

/// A change a running process cannot pick up: how to start it, or whether it runs at all.
fn needs_restart(old: &ServerConfig, new: &ServerConfig) -> bool {
    old.transport != new.transport || old.disabled != new.disabled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LaunchSpec, TransportConfig};

    fn stdio(command: &str) -> ServerConfig {
        ServerConfig::stdio(command)
    }

    fn config(servers: &[(&str, ServerConfig)]) -> McpConfig {
        McpConfig { servers: servers.iter().map(|(n, s)| ((*n).to_owned(), s.clone())).collect() }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn each_kind_of_change_gets_the_least_disruptive_action() {
        let keep = stdio("keep");
        let mut retagged = stdio("tags");
        let mut respawned = stdio("cmd");
        let old = config(&[
            ("keep", keep.clone()),
            ("tags", retagged.clone()),
            ("cmd", respawned.clone()),
            ("gone", stdio("x")),
        ]);
        retagged.tags = vec!["new".into()];
        retagged.disabled_tools = vec!["rm".into()];
        respawned.transport = TransportConfig::Stdio(LaunchSpec { command: "cmd2".into(), ..LaunchSpec::default() });
        let new = config(&[("keep", keep), ("tags", retagged), ("cmd", respawned), ("fresh", stdio("y"))]);
        let plan = plan(&old, &new);
        assert_eq!(plan.added, set(&["fresh"]));
        assert_eq!(plan.removed, set(&["gone"]));
        assert_eq!(plan.restarted, set(&["cmd"]));
        assert_eq!(plan.updated, set(&["tags"]));
    }

    #[test]
    fn env_and_enablement_changes_restart_and_identical_files_do_nothing() {
        let base = stdio("s");
        let mut with_env = base.clone();
        if let TransportConfig::Stdio(spec) = &mut with_env.transport {
            spec.env.insert("TOKEN".into(), "new".into());
        }
        let mut disabled = base.clone();
        disabled.disabled = true;
        assert_eq!(plan(&config(&[("s", base.clone())]), &config(&[("s", with_env)])).restarted, set(&["s"]));
        assert_eq!(plan(&config(&[("s", base.clone())]), &config(&[("s", disabled)])).restarted, set(&["s"]));
        assert!(plan(&config(&[("s", base.clone())]), &config(&[("s", base)])).is_empty());
    }
}
