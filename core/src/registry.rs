//! The name registry: what each backend offers, merged into one deterministic view.
//!
//! Tools and prompts are exposed as `<server>_1mcp_<name>` (1MCP's names) or, for servers
//! configured with `"prefix": false`, unchanged. Resource URIs are never rewritten: a read is
//! routed to the backend that listed the URI or whose template matches it.

use crate::backend::ListKind;
use crate::config::ServerConfig;
use crate::uri_template::UriTemplate;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The separator between server and item name (1MCP's `MCP_URI_SEPARATOR`).
pub const SEPARATOR: &str = "_1mcp_";

/// Everything one backend listed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// `tools/list` entries, in the backend's order.
    pub tools: Vec<Map<String, Value>>,
    /// `prompts/list` entries.
    pub prompts: Vec<Map<String, Value>>,
    /// `resources/list` entries.
    pub resources: Vec<Map<String, Value>>,
    /// `resources/templates/list` entries.
    pub templates: Vec<Map<String, Value>>,
}

/// Which list a name lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Tools.
    Tool,
    /// Prompts.
    Prompt,
}

/// Where an exposed name routes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Server name.
    pub backend: String,
    /// The name the backend knows.
    pub original: String,
}

/// Two servers wanted the same exposed name; how it was settled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collision {
    /// Tool or prompt.
    pub kind: Kind,
    /// The contested name.
    pub name: String,
    /// The server that kept it (first in server-name order).
    pub kept_by: String,
    /// The server that lost it.
    pub server: String,
    /// What happened to the loser's item.
    pub resolution: String,
}

/// One entry of a merged list, with the server it came from (for views and routing).
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// The server that listed it.
    pub backend: String,
    /// That server's tags (what session views filter on).
    pub tags: Vec<String>,
    /// The entry as clients see it (renamed, description overridden).
    pub item: Map<String, Value>,
}

/// The merged view over every ready backend.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    tools: Vec<Listed>,
    prompts: Vec<Listed>,
    resources: Vec<Listed>,
    templates: Vec<Listed>,
    routes: BTreeMap<(Kind, String), Route>,
    disabled: BTreeMap<String, String>,
    resource_owner: BTreeMap<String, String>,
    template_routes: Vec<(UriTemplate, String)>,
    collisions: Vec<Collision>,
}

/// The name a server's item is exposed under.
pub fn exposed_name(server: &str, name: &str, prefix: bool) -> String {
    if prefix { format!("{server}{SEPARATOR}{name}") } else { name.to_owned() }
}

impl Registry {
    /// Merge catalogs, visiting servers in the given (name) order.
    pub fn build<'a>(servers: impl IntoIterator<Item = (&'a str, &'a ServerConfig, &'a Catalog)>) -> Registry {
        let mut reg = Registry::default();
        for (server, config, catalog) in servers {
            reg.add_named(Kind::Tool, server, config, &catalog.tools);
            reg.add_named(Kind::Prompt, server, config, &catalog.prompts);
            for resource in &catalog.resources {
                if let Some(uri) = resource.get("uri").and_then(Value::as_str) {
                    reg.resource_owner.entry(uri.to_owned()).or_insert_with(|| server.to_owned());
                }
                reg.resources.push(Listed {
                    backend: server.to_owned(),
                    tags: config.tags.clone(),
                    item: resource.clone(),
                });
            }
            for template in &catalog.templates {
                if let Some(t) = template.get("uriTemplate").and_then(Value::as_str).and_then(UriTemplate::parse) {
                    reg.template_routes.push((t, server.to_owned()));
                }
                reg.templates.push(Listed {
                    backend: server.to_owned(),
                    tags: config.tags.clone(),
                    item: template.clone(),
                });
            }
        }
        reg
    }

    fn add_named(&mut self, kind: Kind, server: &str, config: &ServerConfig, items: &[Map<String, Value>]) {
        for item in items {
            let Some(original) = item.get("name").and_then(Value::as_str) else { continue };
            let wanted = exposed_name(server, original, config.prefix_names);
            if kind == Kind::Tool && config.disabled_tools.iter().any(|d| d == original || *d == wanted) {
                self.disabled.insert(wanted, server.to_owned());
                continue;
            }
            let name = match self.routes.get(&(kind, wanted.clone())) {
                None => wanted,
                Some(owner) => {
                    let fallback = exposed_name(server, original, true);
                    let free = !self.routes.contains_key(&(kind, fallback.clone()));
                    let resolution = if free {
                        format!("exposed as {fallback}")
                    } else {
                        "hidden: its prefixed name is taken too".to_owned()
                    };
                    self.collisions.push(Collision {
                        kind,
                        name: wanted,
                        kept_by: owner.backend.clone(),
                        server: server.to_owned(),
                        resolution,
                    });
                    if !free {
                        continue;
                    }
                    fallback
                }
            };
            let mut exposed = item.clone();
            exposed.insert("name".into(), Value::String(name.clone()));
            if kind == Kind::Tool {
                if let Some(desc) = config.tool_description_overrides.get(original).filter(|d| !d.trim().is_empty()) {
                    exposed.insert("description".into(), Value::String(desc.clone()));
                }
                // Clients reject tools without a schema; 1MCP defaults it the same way.
                exposed.entry("inputSchema").or_insert_with(|| serde_json::json!({"type": "object"}));
            }
            self.routes.insert((kind, name), Route { backend: server.to_owned(), original: original.to_owned() });
            match kind {
                Kind::Tool => {
                    self.tools.push(Listed { backend: server.to_owned(), tags: config.tags.clone(), item: exposed })
                }
                Kind::Prompt => {
                    self.prompts.push(Listed { backend: server.to_owned(), tags: config.tags.clone(), item: exposed })
                }
            }
        }
    }

    /// A merged list, in deterministic order.
    pub fn items(&self, list: ListKind) -> &[Listed] {
        match list {
            ListKind::Tools => &self.tools,
            ListKind::Prompts => &self.prompts,
            ListKind::Resources => &self.resources,
            ListKind::Templates => &self.templates,
        }
    }

    /// Where an exposed tool or prompt name routes.
    pub fn route(&self, kind: Kind, name: &str) -> Option<&Route> {
        self.routes.get(&(kind, name.to_owned()))
    }

    /// The server whose `disabledTools` hides this exposed tool name.
    pub fn disabled_tool_owner(&self, name: &str) -> Option<&str> {
        self.disabled.get(name).map(String::as_str)
    }

    /// The backend serving a resource URI: the one that listed it, else the most specific
    /// matching template (ties go to the first server in name order).
    pub fn resource_owner(&self, uri: &str) -> Option<&str> {
        if let Some(owner) = self.resource_owner.get(uri) {
            return Some(owner);
        }
        let mut best: Option<(&UriTemplate, &str)> = None;
        for (template, server) in &self.template_routes {
            if template.matches(uri) && best.is_none_or(|(b, _)| template.specificity() > b.specificity()) {
                best = Some((template, server));
            }
        }
        best.map(|(_, server)| server)
    }

    /// Name conflicts found while merging.
    pub fn collisions(&self) -> &[Collision] {
        &self.collisions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(prefix: bool, disabled: &[&str]) -> ServerConfig {
        ServerConfig {
            disabled_tools: disabled.iter().map(|s| s.to_string()).collect(),
            tool_description_overrides: BTreeMap::from([("echo".to_owned(), "Echo, overridden".to_owned())]),
            prefix_names: prefix,
            ..ServerConfig::stdio("")
        }
    }

    fn catalog(tools: &[&str]) -> Catalog {
        Catalog {
            tools: tools
                .iter()
                .map(|t| json!({"name": t, "description": "d"}).as_object().cloned().unwrap_or_default())
                .collect(),
            ..Catalog::default()
        }
    }

    fn names(reg: &Registry) -> Vec<&str> {
        reg.items(ListKind::Tools).iter().filter_map(|t| t.item["name"].as_str()).collect()
    }

    #[test]
    fn prefixes_names_and_routes_back_to_the_original() {
        let (a, b) = (server(true, &[]), server(true, &[]));
        let (ca, cb) = (catalog(&["echo", "add"]), catalog(&["echo"]));
        let reg = Registry::build([("alpha", &a, &ca), ("beta", &b, &cb)]);
        assert_eq!(names(&reg), ["alpha_1mcp_echo", "alpha_1mcp_add", "beta_1mcp_echo"]);
        assert_eq!(
            reg.route(Kind::Tool, "beta_1mcp_echo"),
            Some(&Route { backend: "beta".into(), original: "echo".into() })
        );
        assert_eq!(reg.route(Kind::Tool, "echo"), None);
        assert_eq!(reg.items(ListKind::Tools)[0].item["description"], json!("Echo, overridden"));
        assert_eq!(reg.items(ListKind::Tools)[1].item["inputSchema"], json!({"type": "object"}));
    }

    #[test]
    fn unprefixed_collisions_fall_back_to_the_prefixed_name_and_are_reported() {
        let (a, b) = (server(false, &[]), server(false, &[]));
        let (ca, cb) = (catalog(&["echo"]), catalog(&["echo", "only_b"]));
        let reg = Registry::build([("alpha", &a, &ca), ("beta", &b, &cb)]);
        assert_eq!(names(&reg), ["echo", "beta_1mcp_echo", "only_b"]);
        assert_eq!(reg.route(Kind::Tool, "echo").map(|r| r.backend.as_str()), Some("alpha"));
        assert_eq!(reg.collisions().len(), 1);
        assert_eq!(reg.collisions()[0].kept_by, "alpha");
        assert_eq!(reg.collisions()[0].resolution, "exposed as beta_1mcp_echo");
    }

    #[test]
    fn disabled_tools_are_hidden_but_known() {
        let a = server(true, &["add"]);
        let ca = catalog(&["echo", "add"]);
        let reg = Registry::build([("alpha", &a, &ca)]);
        assert_eq!(names(&reg), ["alpha_1mcp_echo"]);
        assert_eq!(reg.disabled_tool_owner("alpha_1mcp_add"), Some("alpha"));
        assert_eq!(reg.route(Kind::Tool, "alpha_1mcp_add"), None);
    }

    #[test]
    fn resources_route_by_listing_then_by_most_specific_template() {
        let (a, b) = (server(true, &[]), server(true, &[]));
        let mut ca = Catalog::default();
        ca.resources.push(json!({"uri": "file:///a.txt", "name": "a"}).as_object().cloned().unwrap_or_default());
        ca.templates
            .push(json!({"uriTemplate": "file:///{+path}", "name": "any"}).as_object().cloned().unwrap_or_default());
        let mut cb = Catalog::default();
        cb.templates.push(
            json!({"uriTemplate": "file:///logs/{name}", "name": "logs"}).as_object().cloned().unwrap_or_default(),
        );
        let reg = Registry::build([("alpha", &a, &ca), ("beta", &b, &cb)]);
        assert_eq!(reg.resource_owner("file:///a.txt"), Some("alpha"));
        assert_eq!(reg.resource_owner("file:///logs/x"), Some("beta"));
        assert_eq!(reg.resource_owner("file:///other/x"), Some("alpha"));
        assert_eq!(reg.resource_owner("http://nope"), None);
        assert_eq!(reg.items(ListKind::Resources)[0].item["uri"], json!("file:///a.txt"));
    }
}
