//! The HTTP front end through a real socket: limits answered by io itself, and shutdown.

use onemcp_core::HubConfig;
use onemcp_io::{DaemonSettings, run_until};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

async fn exchange(port: u16, request: &[u8]) -> String {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return String::new() };
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let _ = timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn oversized_body_gets_413_and_shutdown_returns() {
    let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else { panic!("bind") };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let mut settings = DaemonSettings::new(listener, HubConfig::default());
    settings.limits.max_body_bytes = 16;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(run_until(settings, async move {
        let _ = stop_rx.await;
    }));

    let declared = exchange(
        port,
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 17\r\nConnection: close\r\n\r\n01234567890123456",
    )
    .await;
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    assert!(
        declared.ends_with(r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"request body exceeds 16 bytes"}}"#),
        "{declared}"
    );

    let chunked = exchange(
        port,
        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10\r\n0123456789012345\r\n1\r\nx\r\n0\r\n\r\n",
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");

    let _ = stop_tx.send(());
    let finished = timeout(Duration::from_secs(6), daemon).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "{finished:?}");
    // No longer accepting.
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err());
}
