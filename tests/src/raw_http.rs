//! A minimal HTTP/1.1 client over a tokio `TcpStream`, for the edge cases a real client library
//! would hide or refuse to produce: spoofed `Host`, malformed bodies, oversized bodies, missing or
//! stale session headers.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::HarnessError;

/// Upper bound for one raw exchange (connect, write, read the response).
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response head the client accepts.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One HTTP request, serialised by hand so tests control every byte that matters.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpRequest {
    /// A request with no headers and no body; `Host`, `Connection` and `Content-Length` are
    /// added when sent unless set explicitly.
    pub fn new(method: &str, path: &str) -> Self {
        HttpRequest { method: method.to_owned(), path: path.to_owned(), headers: Vec::new(), body: Vec::new() }
    }

    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    /// `POST path`.
    pub fn post(path: &str) -> Self {
        Self::new("POST", path)
    }

    /// `DELETE path`.
    pub fn delete(path: &str) -> Self {
        Self::new("DELETE", path)
    }

    /// `POST /mcp` with the headers a streamable-HTTP client sends, an optional session, and a
    /// JSON body.
    pub fn mcp_post(session: Option<&str>, message: &Value) -> Self {
        let request = Self::post("/mcp")
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(message.to_string().into_bytes());
        match session {
            Some(id) => request.header("Mcp-Session-Id", id).header("MCP-Protocol-Version", "2025-11-25"),
            None => request,
        }
    }

    /// The same request sent to another path (e.g. with a query string).
    pub fn at(mut self, path: &str) -> Self {
        self.path = path.to_owned();
        self
    }

    /// Adds a header (sent in insertion order).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the raw body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// Whether the request has a header with this name (case-insensitive).
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request head (request line and headers) as sent to `port`.
    fn head(&self, port: u16) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self.has_header("Host") {
            head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
        }
        if !self.has_header("Connection") {
            head.push_str("Connection: close\r\n");
        }
        let body_allowed = !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT");
        if body_allowed && !self.has_header("Content-Length") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.into_bytes()
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers in the order received (names as sent).
    pub headers: Vec<(String, String)>,
    /// The decoded body (de-chunked); empty when only the head was read.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as one JSON value.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The JSON-RPC message carried by the body: the JSON body itself, or, for a
    /// `text/event-stream` body, the first event whose data is a JSON-RPC response.
    pub fn json_rpc_message(&self) -> Option<Value> {
        let is_sse = self.header("Content-Type").is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !is_sse {
            return self.json().ok();
        }
        let text = self.text();
        text.split("\n\n")
            .filter_map(|event| {
                let data: Vec<&str> = event
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if data.is_empty() { None } else { serde_json::from_str::<Value>(&data.join("\n")).ok() }
            })
            .find(|message| message.get("result").is_some() || message.get("error").is_some())
    }

    /// A short description for assertion messages: status, headers and (truncated) body.
    pub fn describe(&self) -> String {
        let mut text = self.text();
        if text.len() > 2000 {
            let mut cut = 2000;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        format!("HTTP {} {:?} body: {}", self.status, self.headers, text)
    }
}

/// A JSON-RPC `initialize` request for `protocol_version`, with id 1.
pub fn initialize_request(protocol_version: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": protocol_version,
            "capabilities": {},
            "clientInfo": {"name": "onemcp-tests-raw", "version": "0.0.0"}
        }
    })
}

/// Sends `request` to 127.0.0.1:`port` and reads the whole response (bounded in time).
///
/// The request is written concurrently with reading, so a server that answers early (413) and
/// closes is observed as that answer rather than as a write error.
pub async fn raw_http(port: u16, request: &HttpRequest) -> Result<HttpResponse, HarnessError> {
    exchange(LOOPBACK, port, request, ReadMode::Full).await
}

/// Like [`raw_http`], to `ip` instead of 127.0.0.1 (a connection that does not come from
/// loopback, when `ip` is one of this machine's other addresses).
pub async fn raw_http_to(ip: IpAddr, port: u16, request: &HttpRequest) -> Result<HttpResponse, HarnessError> {
    exchange(ip, port, request, ReadMode::Full).await
}

const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// Sends `request` and returns once the response head is read (for never-ending SSE streams).
pub async fn raw_http_head(port: u16, request: &HttpRequest) -> Result<HttpResponse, HarnessError> {
    exchange(LOOPBACK, port, request, ReadMode::HeadOnly).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    Full,
    HeadOnly,
}

async fn exchange(ip: IpAddr, port: u16, request: &HttpRequest, mode: ReadMode) -> Result<HttpResponse, HarnessError> {
    let what = format!("{} {} on {ip} port {port}", request.method, request.path);
    match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange_unbounded(ip, port, request, mode)).await {
        Ok(result) => result,
        Err(_) => Err(HarnessError::Timeout { what, after: EXCHANGE_TIMEOUT }),
    }
}

async fn exchange_unbounded(
    ip: IpAddr,
    port: u16,
    request: &HttpRequest,
    mode: ReadMode,
) -> Result<HttpResponse, HarnessError> {
    let stream = TcpStream::connect((ip, port)).await?;
    let (mut reader, mut writer) = stream.into_split();
    let mut bytes = request.head(port);
    bytes.extend_from_slice(&request.body);
    // The writer task keeps the write half (and so the connection) open until the response has
    // been read: dropping it early would half-close the socket.
    let write_task = tokio::spawn(async move {
        let written = writer.write_all(&bytes).await;
        (writer, written)
    });
    let response = read_response(&mut reader, mode).await;
    write_task.abort();
    response
}

async fn read_response(reader: &mut (impl AsyncReadExt + Unpin), mode: ReadMode) -> Result<HttpResponse, HarnessError> {
    let mut buffer = Vec::new();
    let head_end = loop {
        if let Some(pos) = find(&buffer, b"\r\n\r\n") {
            break pos;
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Err(HarnessError::MalformedHttp("response head too large".into()));
        }
        if read_more(reader, &mut buffer).await? == 0 {
            return Err(HarnessError::MalformedHttp(format!(
                "connection closed before the end of the response head; got {:?}",
                String::from_utf8_lossy(&buffer)
            )));
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut rest = buffer.split_off(head_end + 4);
    let (status, headers) = parse_head(&head)?;
    let mut response = HttpResponse { status, headers, body: Vec::new() };
    if mode == ReadMode::HeadOnly {
        return Ok(response);
    }
    let chunked = response.header("Transfer-Encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let content_length = response.header("Content-Length").and_then(|v| v.trim().parse::<usize>().ok());
    response.body = if chunked {
        loop {
            if let Some(body) = dechunk(&rest)? {
                break body;
            }
            if read_more(reader, &mut rest).await? == 0 {
                return Err(HarnessError::MalformedHttp("chunked body cut short".into()));
            }
        }
    } else if let Some(length) = content_length {
        while rest.len() < length {
            if read_more(reader, &mut rest).await? == 0 {
                return Err(HarnessError::MalformedHttp(format!("body cut short: {} of {length} bytes", rest.len())));
            }
        }
        rest.truncate(length);
        rest
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else {
        while read_more(reader, &mut rest).await? > 0 {}
        rest
    };
    Ok(response)
}

async fn read_more(reader: &mut (impl AsyncReadExt + Unpin), buffer: &mut Vec<u8>) -> Result<usize, HarnessError> {
    let mut chunk = [0u8; 16 * 1024];
    let n = reader.read(&mut chunk).await?;
    buffer.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

type Headers = Vec<(String, String)>;

fn parse_head(head: &str) -> Result<(u16, Headers), HarnessError> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| HarnessError::MalformedHttp(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

/// Decodes a chunked body; `None` while the terminating chunk has not arrived yet.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, HarnessError> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HarnessError::MalformedHttp(format!("bad chunk size {size_text:?}")))?;
        let chunk_start = line_end + 2;
        if size == 0 {
            return Ok(Some(body));
        }
        if data.len() < chunk_start + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[chunk_start..chunk_start + size]);
        data = &data[chunk_start + size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunk_waits_for_the_terminating_chunk() {
        assert_eq!(dechunk(b"5\r\nhello\r\n").expect("valid"), None);
        assert_eq!(dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n").expect("valid"), Some(b"hello world".to_vec()));
    }

    #[test]
    fn sse_body_yields_the_json_rpc_response() {
        let response = HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            body: b"id: 0\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n".to_vec(),
        };
        assert_eq!(response.json_rpc_message(), Some(json!({"jsonrpc": "2.0", "id": 1, "result": {}})));
    }

    #[test]
    fn head_adds_host_connection_and_length_unless_given() {
        let head = HttpRequest::post("/mcp").body(b"{}".to_vec()).head(4000);
        let head = String::from_utf8(head).expect("ascii");
        assert!(head.starts_with("POST /mcp HTTP/1.1\r\n"));
        assert!(head.contains("Host: 127.0.0.1:4000\r\n"));
        assert!(head.contains("Content-Length: 2\r\n"));
        let spoofed = HttpRequest::get("/").header("Host", "evil.example.com").head(4000);
        let spoofed = String::from_utf8(spoofed).expect("ascii");
        assert!(!spoofed.contains("127.0.0.1"));
        assert!(spoofed.contains("Host: evil.example.com\r\n"));
    }
}
