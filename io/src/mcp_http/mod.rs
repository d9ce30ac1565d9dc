//! The client side of MCP over HTTP, shared by `1mcp proxy` (the bridge to a daemon) and HTTP
//! backends: a pooled hyper client speaking plain HTTP and HTTPS (rustls, ring, webpki roots),
//! bounded body reads, and event streams parsed as they arrive.

pub(crate) mod messages;
pub(crate) mod sse_parse;

use futures_util::stream::BoxStream;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::header::{self, HeaderMap};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use sse_parse::{ParsedEvent, SseError, SseParser};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// A pooled HTTP/1.1 client for `http://` and `https://` URLs.
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle keep-alive connections are closed after this long.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// A client whose TCP connects give up after `connect_timeout`. Certificates are checked
/// against the bundled webpki roots, so the binary needs no CA files at run time.
pub(crate) fn http_client(connect_timeout: Duration) -> Result<HttpClient, String> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    Ok(Client::builder(TokioExecutor::new()).pool_idle_timeout(POOL_IDLE).build(with_tls(http)?))
}

/// `http` (whatever resolves its names) under a TLS layer for `https://` URLs, certificates
/// checked against the bundled webpki roots and the ones `SSL_CERT_FILE` names; `http://`
/// goes through as it is.
pub(crate) fn with_tls<R>(http: HttpConnector<R>) -> Result<HttpsConnector<HttpConnector<R>>, String> {
    with_tls_trusting(http, extra_roots())
}

/// [`with_tls`], trusting `extra` certificate authorities besides the bundled roots.
pub(crate) fn with_tls_trusting<R>(
    mut http: HttpConnector<R>,
    extra: &[CertificateDer<'static>],
) -> Result<HttpsConnector<HttpConnector<R>>, String> {
    // The TLS layer above handles `https://`; this one must let it through.
    http.enforce_http(false);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    roots.add_parsable_certificates(extra.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// Largest `SSL_CERT_FILE` read.
const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// Certificate authorities trusted besides the bundled roots: those in the PEM file
/// `SSL_CERT_FILE` names (a private CA, a corporate proxy's), read once. A file that cannot be
/// used is said once, and only the bundled roots are trusted.
fn extra_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: std::sync::OnceLock<Vec<CertificateDer<'static>>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let Some(path) = std::env::var_os("SSL_CERT_FILE") else { return Vec::new() };
        let path = std::path::PathBuf::from(path);
        match pem_certificates(&path) {
            Ok(certificates) => {
                let count = certificates.len();
                tracing::info!(path = %path.display(), count, "trusting the certificates of SSL_CERT_FILE too");
                certificates
            }
            Err(why) => {
                tracing::warn!(path = %path.display(), "SSL_CERT_FILE is not used: {why}");
                Vec::new()
            }
        }
    })
}

/// The certificates of the PEM file at `path` (at least one).
pub(crate) fn pem_certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject as _;
    let text = crate::files::read_text_bounded(path, MAX_CA_FILE).map_err(|e| e.to_string())?;
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("it is not a PEM certificate file: {e}"))?;
    if certificates.is_empty() {
        return Err("it holds no certificate".into());
    }
    Ok(certificates)
}

/// True if the response is an event stream.
pub(crate) fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("text/event-stream"))
}

/// The `Mcp-Session-Id` response header, if usable.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<String> {
    headers.get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Why a body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// It grew past the limit: at least this many bytes (the limit + 1) were sent; reading
    /// stopped at the first frame past the limit, so the true size is not known.
    #[error("response body of {0} bytes or more exceeds the limit")]
    TooLarge(usize),
    /// The connection broke off.
    #[error("reading a response failed: {0}")]
    Broken(String),
}

/// The whole body, refusing more than `max` bytes: `Limited` fails at the first frame that would
/// pass the limit, and nothing after it is read.
pub(crate) async fn read_body<B>(body: B, max: usize) -> Result<Vec<u8>, BodyError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, max).collect().await {
        // Trailers, if any, are dropped: only the data frames are the message.
        Ok(collected) => Ok(collected.to_bytes().into()),
        Err(error) if error.is::<LengthLimitError>() => Err(BodyError::TooLarge(max.saturating_add(1))),
        Err(error) => Err(BodyError::Broken(error.to_string())),
    }
}

/// Why an event stream yielded no event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StreamError {
    /// One event was too large and was skipped; the stream goes on.
    #[error(transparent)]
    Event(#[from] SseError),
    /// The body broke off; the stream is over.
    #[error("the event stream broke off: {0}")]
    Broken(String),
}

/// Events of one streamed body, ending when the body ends.
pub(crate) type ParsedEvents = BoxStream<'static, Result<ParsedEvent, StreamError>>;

struct StreamState {
    body: Incoming,
    parser: SseParser,
    ready: VecDeque<Result<ParsedEvent, SseError>>,
    done: bool,
}

/// Events as the body delivers them, none larger than `max_event_bytes`.
pub(crate) fn event_stream(body: Incoming, max_event_bytes: usize) -> ParsedEvents {
    let state = StreamState { body, parser: SseParser::new(max_event_bytes), ready: VecDeque::new(), done: false };
    Box::pin(futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.ready.pop_front() {
                return Some((item.map_err(StreamError::from), state));
            }
            if state.done {
                return None;
            }
            match state.body.frame().await {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    state.ready.extend(state.parser.push(&data));
                }
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(StreamError::Broken(error.to_string())), state));
                }
                None => state.done = true,
            }
        }
    }))
}

/// An error and its causes on one line ("client error (Connect): tcp connect error: Connection refused").
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_must_hold_pem_certificates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/tls/ca.pem");
        assert_eq!(pem_certificates(&ca).map(|c| c.len()), Ok(1));
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n").expect("write");
        assert!(pem_certificates(&garbage).is_err_and(|e| e.contains("not a PEM certificate file")));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").expect("write");
        assert_eq!(pem_certificates(&empty), Err("it holds no certificate".to_owned()));
        assert!(pem_certificates(&dir.path().join("missing.pem")).is_err());
    }
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    /// A body arriving in `chunks`, then failing if `fail` says so.
    fn chunked(chunks: &[&[u8]], fail: bool) -> impl Body<Data = Bytes, Error = std::io::Error> {
        let mut frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
            chunks.iter().map(|c| Ok(Frame::data(Bytes::copy_from_slice(c)))).collect();
        if fail {
            frames.push(Err(std::io::Error::other("connection reset")));
        }
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn body_limit_is_exact() {
        assert_eq!(read_body(chunked(&[b"12345", b"67890"], false), 10).await, Ok(b"1234567890".to_vec()));
        assert_eq!(read_body(chunked(&[b"12345", b"678901"], false), 10).await, Err(BodyError::TooLarge(11)));
        assert_eq!(read_body(Full::new(Bytes::from_static(&[0; 11])), 10).await, Err(BodyError::TooLarge(11)));
        assert_eq!(read_body(chunked(&[], false), 0).await, Ok(Vec::new()));
        assert_eq!(read_body(chunked(&[b"x"], false), 0).await, Err(BodyError::TooLarge(1)));
    }

    #[tokio::test]
    async fn over_the_limit_stops_reading_and_a_break_is_not_too_large() {
        // The frame past the limit fails the read; the error after it is never reached.
        assert_eq!(read_body(chunked(&[b"12345678901"], true), 10).await, Err(BodyError::TooLarge(11)));
        assert_eq!(
            read_body(chunked(&[b"123"], true), 10).await,
            Err(BodyError::Broken("connection reset".to_owned()))
        );
    }
}
