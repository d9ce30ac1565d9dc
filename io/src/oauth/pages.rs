//! The pages a person sees: the consent page, the operator sign-in pages, and errors that
//! must not redirect. Plain HTML without scripts; every value is escaped; served with headers
//! that forbid framing, scripts and caching.

use std::collections::BTreeSet;

/// Escape text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{font-size:1.4rem}code{background:#f3f3f3;padding:.1rem .3rem}.box{border:1px solid #ccc;border-radius:6px;padding:1rem}\
label{display:block;margin:.3rem 0}button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.6rem}";

/// A whole page with `title` and `body` (already escaped HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{} - 1mcp</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// What the consent page shows and carries.
pub struct Consent<'a> {
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub redirect_host: &'a str,
    /// Tags asked for; `None`: every server.
    pub requested: Option<&'a BTreeSet<String>>,
    /// Every tag of the configured servers (what "everything" may be narrowed to).
    pub known: &'a BTreeSet<String>,
    pub request: &'a str,
    pub csrf: &'a str,
    /// The redirect goes to this machine (a local app), said on the page.
    pub loopback_redirect: bool,
}

/// The consent page: who asks, where the answer goes, what it may see (narrowable).
pub fn consent(c: &Consent<'_>) -> String {
    let mut tags = String::new();
    let everything = c.requested.is_none();
    if everything {
        tags.push_str(
            "<label><input type=\"checkbox\" name=\"everything\" value=\"1\" checked> \
             <strong>Every server</strong> (including servers without tags and servers added later)</label>\
             <p>Or only servers with these tags (used when \"Every server\" is unchecked):</p>",
        );
    }
    let offered: Vec<&String> = match c.requested {
        Some(requested) => requested.iter().collect(),
        None => c.known.iter().collect(),
    };
    for tag in offered {
        let unknown = if c.known.contains(tag) { "" } else { " <em>(no server has this tag now)</em>" };
        tags.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"tag\" value=\"{0}\"{1}> <code>tag:{0}</code>{unknown}</label>",
            escape(tag),
            if everything { "" } else { " checked" },
        ));
    }
    let local = if c.loopback_redirect { " (an application on this machine)" } else { "" };
    let body = format!(
        "<h1>Allow <span id=\"client-name\">{name}</span> to use your MCP servers?</h1>\
         <div class=\"box\"><p>Client id: <code>{id}</code></p>\
         <p>After you decide, the browser returns to <strong id=\"redirect-host\">{host}</strong>{local}:<br>\
         <code id=\"redirect-uri\">{uri}</code></p>\
         <p>Only approve a client you just started connecting yourself.</p></div>\
         <form method=\"post\" action=\"/oauth/consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <h2>What it may see</h2>{tags}<p>\
         <button type=\"submit\" id=\"approve\" name=\"decision\" value=\"approve\">Approve</button>\
         <button type=\"submit\" id=\"deny\" name=\"decision\" value=\"deny\">Deny</button></p></form>",
        name = escape(c.client_name),
        id = escape(c.client_id),
        host = escape(c.redirect_host),
        uri = escape(c.redirect_uri),
        request = escape(c.request),
        csrf = escape(c.csrf),
    );
    page("Authorize a client", &body)
}

/// Shown at `/authorize` to a browser without the operator's cookie.
pub fn operator_needed() -> String {
    page(
        "Operator sign-in needed",
        "<h1>Operator sign-in needed</h1><p>Approving a client is the operator's decision. On the machine running \
         1mcp, run</p><p><code>1mcp auth link</code></p><p>open the link it prints in this browser, then reload this \
         page.</p>",
    )
}

/// After a valid operator link.
pub fn operator_signed_in() -> String {
    page(
        "Signed in",
        "<h1>Signed in as the operator</h1><p>This browser can now approve clients of this 1mcp. Go back to the \
         authorization page and reload it.</p>",
    )
}

/// A link that was used, expired or forged.
pub fn operator_link_refused() -> String {
    page(
        "Link not valid",
        "<h1>This operator link is not valid</h1><p>It was already used, has expired, or was not made by this \
         1mcp. Run <code>1mcp auth link</code> for a fresh one.</p>",
    )
}

/// An error shown instead of redirecting (unknown client, redirect URI not registered).
pub fn error(title: &str, detail: &str) -> String {
    page(title, &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(detail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_controlled_text_cannot_break_out_of_the_page() {
        let known = BTreeSet::from(["web".to_owned()]);
        let html = consent(&Consent {
            client_name: "<script>alert(1)</script>\"' onload=x",
            client_id: "c",
            redirect_uri: "https://a.example/cb?x=\"><img>",
            redirect_host: "a.example",
            requested: None,
            known: &known,
            request: "r",
            csrf: "t",
            loopback_redirect: false,
        });
        assert!(!html.contains("<script>") && !html.contains("\"><img>") && !html.contains("\"' onload"));
        assert!(html.contains("&lt;script&gt;") && html.contains("name=\"everything\""));
        assert!(html.contains("value=\"web\">"), "unchecked when everything is asked for: {html}");
    }
}
