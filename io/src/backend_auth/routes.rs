//! The daemon's pages for backend authorization: `GET /oauth/authorize/<server>` sends the
//! operator (signed in with the operator cookie when the front door has authentication on) to
//! the server's authorization server, and `GET /oauth/callback/<server>` is where that server
//! sends the user back. The callback needs no cookie (the provider's redirect is cross-site,
//! and SameSite=Strict keeps it away): the `state` of the attempt, unguessable and single-use,
//! is what binds it. `GET /oauth/client-metadata.json` is 1mcp's Client ID Metadata Document,
//! its client id at authorization servers that accept one when the daemon is public (https).

use super::registry::{Authorizations, DOCUMENT_PATH};
use crate::oauth::{AuthServer, html, pages, plain, see_other};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::Response;

/// Query parameters of the callback read at most (code, state, iss, error, ...).
const MAX_PARAMS: usize = 16;

/// The answer to a request for one of these pages; `None` if `parts` is not for one.
pub(crate) async fn handle(auths: &Authorizations, operator: Option<&AuthServer>, parts: &Parts) -> Option<Response> {
    let path = parts.uri.path();
    if path == DOCUMENT_PATH && parts.method == Method::GET {
        // Public: authorization servers fetch it to learn who 1mcp is.
        return auths.metadata_document().map(|document| {
            let mut response = Response::new(axum::body::Body::from(document.to_string()));
            let json = axum::http::HeaderValue::from_static("application/json");
            response.headers_mut().insert(axum::http::header::CONTENT_TYPE, json);
            response
        });
    }
    let (callback, server) = match (path.strip_prefix("/oauth/authorize/"), path.strip_prefix("/oauth/callback/")) {
        (Some(server), _) => (false, server),
        (_, Some(server)) => (true, server),
        _ => return None,
    };
    if parts.method != Method::GET {
        return Some(plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"));
    }
    let Some(auth) = auths.get(server) else {
        let detail = "1mcp does not authorize itself toward a server of that name: it is not a configured HTTP server, \
                      or its config sets `Authorization` itself.";
        return Some(html(StatusCode::NOT_FOUND, &pages::error("No such protected server", detail)));
    };
    if callback {
        let params: Vec<(String, String)> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(parts.uri.query().unwrap_or_default())
                .unwrap_or_default()
                .into_iter()
                .take(MAX_PARAMS)
                .collect();
        return Some(match auth.redirected(&params).await {
            Ok(()) => html(
                StatusCode::OK,
                &pages::page(
                    "Authorized",
                    &format!(
                        "<h1>1mcp is authorized</h1><p>1mcp now holds tokens for <code>{}</code> and is connecting \
                         to it; its tools appear to clients shortly. You can close this page.</p>",
                        pages::escape(server)
                    ),
                ),
            ),
            Err(why) => {
                tracing::warn!(server, "authorization callback refused: {why}");
                html(StatusCode::BAD_REQUEST, &pages::error("Authorization not completed", &why))
            }
        });
    }
    if let Some(operator) = operator
        && !operator.is_operator(&parts.headers)
    {
        let detail = "Authorizing 1mcp toward a server is the operator's decision. On the machine running 1mcp, run \
                      `1mcp auth link`, open the link it prints in this browser, then reload this page.";
        return Some(html(StatusCode::UNAUTHORIZED, &pages::error("Operator sign-in needed", detail)));
    }
    Some(match auth.authorization_link().await {
        Ok(link) => see_other(&link),
        Err(why) => html(StatusCode::CONFLICT, &pages::error("Cannot authorize now", &why)),
    })
}
