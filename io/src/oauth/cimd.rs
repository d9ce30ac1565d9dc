//! Client ID Metadata Documents: a client whose `client_id` is an https URL is described by
//! the JSON document at that URL. Fetching a URL a stranger chose is an SSRF risk, so: only
//! URLs the core admits; only public addresses (loopback too for a loopback daemon), checked
//! on the addresses actually connected to (the resolver filters them, so DNS cannot swap in a
//! private one); no redirects; 5 s and 64 KiB at most; documents cached for 5 minutes.

use super::store::Client;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use onemcp_core::oauth as rules;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
const CACHE_FOR: Duration = Duration::from_secs(300);
const MAX_CACHED: usize = 256;

type Connector = hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>;

/// Fetches and caches metadata documents.
pub(super) struct Fetcher {
    loopback_ok: bool,
    client: Option<HyperClient<Connector, Empty<Bytes>>>,
    cache: Mutex<HashMap<String, (Instant, Client)>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("loopback_ok", &self.loopback_ok).finish_non_exhaustive()
    }
}

impl Fetcher {
    /// `loopback_ok`: the daemon serves loopback, so documents on loopback may be fetched.
    pub(super) fn new(loopback_ok: bool) -> Fetcher {
        let mut http = HttpConnector::new_with_resolver(GuardedResolver { loopback_ok });
        http.set_connect_timeout(Some(TIMEOUT));
        let client = crate::mcp_http::with_tls(http)
            .map(|https| HyperClient::builder(TokioExecutor::new()).build(https))
            .map_err(|error| tracing::error!(%error, "client metadata documents are off"))
            .ok();
        Fetcher { loopback_ok, client, cache: Mutex::new(HashMap::new()) }
    }

    /// The client `url` describes; `Err` says why it cannot be used.
    pub(super) async fn client(&self, url: &str) -> Result<Client, String> {
        if let Some((at, client)) = self.cache.lock().ok().and_then(|c| c.get(url).cloned())
            && at.elapsed() < CACHE_FOR
        {
            return Ok(client);
        }
        let client = self.fetch(url).await.inspect_err(|why| {
            tracing::warn!(url = %onemcp_core::text::for_log(url), "client metadata document refused: {why}");
        })?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.retain(|_, (at, _)| at.elapsed() < CACHE_FOR);
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
            }
            cache.insert(url.to_owned(), (Instant::now(), client.clone()));
        }
        Ok(client)
    }

    async fn fetch(&self, url: &str) -> Result<Client, String> {
        rules::check_metadata_document_url(url, self.loopback_ok).map_err(str::to_owned)?;
        let parsed = rules::parse_url(url)?;
        // Literal addresses never reach the resolver: check them here.
        if let Ok(ip) = parsed.host.parse::<IpAddr>()
            && !rules::fetch_address_allowed(ip, self.loopback_ok)
        {
            return Err(format!("{ip} is not a public address"));
        }
        let client = self.client.as_ref().ok_or("TLS is unavailable")?;
        let uri: hyper::Uri = url.parse().map_err(|_| "not a valid URL".to_owned())?;
        let request = hyper::Request::get(uri)
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, concat!("1mcp/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let work = async {
            let response = client.request(request).await.map_err(|e| format!("cannot fetch it: {e}"))?;
            if response.status() != hyper::StatusCode::OK {
                return Err(format!("it answered {} (redirects are not followed)", response.status()));
            }
            let body = Limited::new(response.into_body(), MAX_DOCUMENT_BYTES)
                .collect()
                .await
                .map_err(|_| format!("it is larger than {MAX_DOCUMENT_BYTES} bytes or broke off"))?;
            Ok(body.to_bytes())
        };
        let bytes = tokio::time::timeout(TIMEOUT, work).await.map_err(|_| "it took longer than 5 s".to_owned())??;
        let document: Value = serde_json::from_slice(&bytes).map_err(|_| "it is not JSON".to_owned())?;
        client_from_document(url, &document, crate::unix_time_ms())
    }
}

/// The client a document describes, checked as the spec asks: `client_id` is exactly the URL,
/// `client_name` and `redirect_uris` present, redirect URIs acceptable, a public client.
fn client_from_document(url: &str, document: &Value, now_ms: u64) -> Result<Client, String> {
    if document.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err("its client_id is not the URL it was fetched from".into());
    }
    let name = document.get("client_name").and_then(Value::as_str).ok_or("it has no client_name")?;
    let uris = document.get("redirect_uris").and_then(Value::as_array).ok_or("it has no redirect_uris")?;
    if uris.is_empty() || uris.len() > rules::MAX_REDIRECT_URIS {
        return Err(format!("it must list 1 to {} redirect_uris", rules::MAX_REDIRECT_URIS));
    }
    let mut redirect_uris = Vec::new();
    for uri in uris {
        let uri = uri.as_str().ok_or("a redirect URI is not a string")?;
        rules::check_redirect_uri(uri).map_err(|why| format!("redirect URI {uri:?}: {why}"))?;
        redirect_uris.push(uri.to_owned());
    }
    let method = document.get("token_endpoint_auth_method").and_then(Value::as_str).unwrap_or("none");
    if method != "none" {
        return Err(format!("token_endpoint_auth_method {method:?} is not supported (public clients only)"));
    }
    let grants = document.get("grant_types").and_then(Value::as_array);
    let refresh = grants.is_none_or(|g| g.iter().any(|g| g.as_str() == Some("refresh_token")));
    Ok(Client {
        id: url.to_owned(),
        name: super::display_name(name),
        redirect_uris,
        auth_method: "none".into(),
        secret_hash: None,
        refresh,
        created_at: now_ms,
    })
}

/// Resolves names and keeps only addresses a fetch may reach.
#[derive(Clone, Debug)]
pub(crate) struct GuardedResolver {
    pub(crate) loopback_ok: bool,
}

type Addrs = std::vec::IntoIter<SocketAddr>;

impl tower_service::Service<Name> for GuardedResolver {
    type Response = Addrs;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let loopback_ok = self.loopback_ok;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed: Vec<SocketAddr> =
                found.filter(|a| rules::fetch_address_allowed(a.ip(), loopback_ok)).collect();
            if allowed.is_empty() {
                return Err(std::io::Error::other(format!("{} resolves to no public address", name.as_str())));
            }
            Ok(allowed.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const URL: &str = "https://app.example.com/client.json";

    #[test]
    fn documents_must_name_themselves_and_list_acceptable_redirects() {
        let good = json!({"client_id": URL, "client_name": "App", "redirect_uris": ["http://127.0.0.1:9/cb"]});
        let client = client_from_document(URL, &good, 1).expect("accepted");
        assert_eq!((client.id.as_str(), client.name.as_str(), client.refresh), (URL, "App", true));
        for bad in [
            json!({"client_id": "https://other.example/c.json", "client_name": "A", "redirect_uris": ["https://a/cb"]}),
            json!({"client_id": URL, "redirect_uris": ["https://a.example/cb"]}),
            json!({"client_id": URL, "client_name": "A", "redirect_uris": []}),
            json!({"client_id": URL, "client_name": "A", "redirect_uris": ["javascript:alert(1)"]}),
            json!({"client_id": URL, "client_name": "A", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
        ] {
            assert!(client_from_document(URL, &bad, 1).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn private_addresses_are_never_fetched() {
        let fetcher = Fetcher::new(true);
        for url in [
            "https://10.0.0.1/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00::1]/c.json",
            "https://192.168.1.10/c.json",
        ] {
            let why = fetcher.client(url).await.expect_err(url);
            assert!(why.contains("not a public address"), "{url}: {why}");
        }
        let why = Fetcher::new(false).client("http://127.0.0.1:9/c.json").await.expect_err("loopback");
        assert!(why.contains("https"), "{why}");
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_private_addresses_is_refused_by_the_resolver() {
        let mut resolver = GuardedResolver { loopback_ok: false };
        let name: Name = "localhost".parse().expect("name");
        let error = tower_service::Service::call(&mut resolver, name).await.expect_err("loopback only");
        assert!(error.to_string().contains("no public address"), "{error}");
    }
}
