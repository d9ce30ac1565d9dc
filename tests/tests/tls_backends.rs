//! HTTPS backends: `1mcp` in front of the conformance fixture behind a TLS front that presents
//! the test certificates of `tests/fixtures/tls` (made by its `make.sh`). A certificate signed
//! by a CA that `SSL_CERT_FILE` names is trusted; one from an unknown CA, an expired one and one
//! for another host are refused, each with its reason in `/health`; a server that accepts the
//! connection and never completes the handshake is bounded by the server's `connectionTimeout`.

use onemcp_tests::{Daemon, mcp_config};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};

const FIXTURE: &str = env!("CARGO_BIN_EXE_conformance-server");

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/tls").join(name)
}

/// A TLS front on 127.0.0.1 presenting `name`.pem/.key, forwarding each connection to
/// `backend_port`; its port.
async fn tls_front(name: &str, backend_port: u16) -> u16 {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(tls_file(&format!("{name}.pem")))
        .expect("the certificate")
        .collect::<Result<_, _>>()
        .expect("PEM");
    let key = PrivateKeyDer::from_pem_file(tls_file(&format!("{name}.key"))).expect("the key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("a server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else { return };
                let Ok(mut plain) = TcpStream::connect(("127.0.0.1", backend_port)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// A server on 127.0.0.1 that accepts connections and never says a word; its port.
async fn silent_front() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

fn https_server(port: u16) -> Value {
    json!({"url": format!("https://127.0.0.1:{port}/mcp"), "protocol": "legacy", "perSession": false})
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().and_then(|rest| rest.split('/').next()).and_then(|p| p.parse().ok()).expect("a port")
}

/// `server`'s entry of `/health`'s details.
fn detail<'a>(health: &'a Value, server: &str) -> &'a Value {
    let details = health["servers"]["details"].as_array().map(Vec::as_slice).unwrap_or_default();
    details.iter().find(|d| d["name"] == server).unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_certified_by_a_ca_from_ssl_cert_file_is_reached() {
    let (_fixture, url) = onemcp_tests::start_http_fixture(FIXTURE, 0).await;
    let front = tls_front("valid", port_of(&url)).await;
    let ca = tls_file("ca.pem");
    let ca = ca.to_str().expect("a UTF-8 path");
    let daemon =
        Daemon::start_with(&mcp_config([("secure", https_server(front))]), &[], &[("SSL_CERT_FILE", ca)]).await;
    daemon.wait_ready().await;
    let (_, health) = daemon.get_json("/health").await;
    assert_eq!(detail(&health, "secure")["status"], "ready", "{health}");
    assert!(daemon.stderr().contains("trusting the certificates of SSL_CERT_FILE too"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_expired_and_wrong_host_certificates_are_refused_with_their_reason() {
    let (_fixture, url) = onemcp_tests::start_http_fixture(FIXTURE, 0).await;
    let backend = port_of(&url);
    let (valid, expired, wrong) = (
        tls_front("valid", backend).await,
        tls_front("expired", backend).await,
        tls_front("wrong-host", backend).await,
    );
    let ca = tls_file("ca.pem");
    let ca = ca.to_str().expect("a UTF-8 path");
    let config = mcp_config([("expired", https_server(expired)), ("wrong", https_server(wrong))]);
    let daemon = Daemon::start_with(&config, &[], &[("SSL_CERT_FILE", ca)]).await;
    let health = daemon
        .wait_for_health("both refused", |h| ["expired", "wrong"].iter().all(|s| detail(h, s)["error"].is_string()))
        .await;
    let reason = |server: &str| detail(&health, server)["error"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(reason("expired").contains("expired"), "{health}");
    assert!(reason("wrong").contains("not valid for name"), "{health}");

    // Without SSL_CERT_FILE the test CA is nobody's: the same valid certificate is refused.
    let untrusted = Daemon::start(&mcp_config([("untrusted", https_server(valid))])).await;
    let health = untrusted.wait_for_health("the refusal", |h| detail(h, "untrusted")["error"].is_string()).await;
    let why = detail(&health, "untrusted")["error"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(why.contains("unknownissuer") || why.contains("unknown issuer"), "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_never_completes_is_bounded_by_connection_timeout() {
    let silent = silent_front().await;
    let mut server = https_server(silent);
    server["connectionTimeout"] = json!(1500);
    let daemon = Daemon::start(&mcp_config([("silent", server)])).await;
    let health = daemon.wait_for_health("the timeout", |h| detail(h, "silent")["error"].is_string()).await;
    let why = detail(&health, "silent")["error"].as_str().unwrap_or_default();
    assert!(why.contains("did not become ready within 1500 ms"), "{health}");
}
