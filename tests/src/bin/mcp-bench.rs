//! Benchmarks for the README and closing notes (never run as timed tests).
//!
//! ```text
//! mcp-bench startup --bin target/release/1mcp --config examples/demo.json
//! mcp-bench proxy   --url http://127.0.0.1:3050/mcp --tool alpha_1mcp_echo [--n 5000] [--pid PID] [--token T]
//! mcp-bench direct  --command target/release/fixture-server [--n 5000]
//! ```
//!
//! `startup` reports time to listening, time to `/health/ready` = 200 and idle resident memory.
//! `proxy` and `direct` run sequential `tools/call echo` round trips and report latency
//! percentiles; with `--pid`, `proxy` also reports the proxy's CPU time per call.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type BenchResult<T> = Result<T, String>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("startup") => startup(&args[1..]),
        Some("proxy") => proxy(&args[1..]),
        Some("direct") => direct(&args[1..]),
        _ => Err("usage: mcp-bench startup|proxy|direct [options] (see the source header)".into()),
    };
    if let Err(e) = outcome {
        eprintln!("mcp-bench: {e}");
        std::process::exit(1);
    }
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn required<'a>(args: &'a [String], name: &str) -> BenchResult<&'a str> {
    flag(args, name).ok_or_else(|| format!("missing {name}"))
}

fn count(args: &[String]) -> BenchResult<usize> {
    flag(args, "--n").map_or(Ok(5000), |n| n.parse().map_err(|e| format!("--n: {e}")))
}

/// A minimal keep-alive HTTP/1.1 client for JSON POSTs to one endpoint.
struct Http {
    stream: BufReader<TcpStream>,
    host: String,
    path: String,
    session: Option<String>,
    /// Bearer token sent with every request, for a daemon with authentication on.
    token: Option<String>,
}

impl Http {
    fn connect(url: &str) -> BenchResult<Http> {
        let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
        let (host, path) = rest.split_once('/').map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        let stream = TcpStream::connect(host).map_err(|e| format!("connect {host}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
        Ok(Http { stream: BufReader::new(stream), host: host.to_owned(), path, session: None, token: None })
    }

    fn request(&mut self, method: &str, path: &str, body: &str) -> BenchResult<(u16, String)> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json, text/event-stream\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(s) = &self.session {
            head.push_str(&format!("Mcp-Session-Id: {s}\r\n"));
        }
        if let Some(t) = &self.token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| e.to_string())?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).map_err(|e| e.to_string())?;
        let status: u16 =
            status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("bad status line")?;
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).map_err(|e| e.to_string())?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().map_err(|_| "bad content-length")?,
                    "mcp-session-id" => self.session = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).map_err(|e| e.to_string())?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    fn post(&mut self, body: &str) -> BenchResult<String> {
        let path = self.path.clone();
        match self.request("POST", &path, body)? {
            (200 | 202, text) => Ok(text),
            (status, text) => Err(format!("HTTP {status}: {text}")),
        }
    }
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mcp-bench","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

fn call(id: usize, tool: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"payload-{id}"}}}}}}"#
    )
}

fn check_echo(reply: &str, id: usize) -> BenchResult<()> {
    if reply.contains(&format!("payload-{id}")) {
        Ok(())
    } else {
        Err(format!("unexpected reply to call {id}: {reply}"))
    }
}

fn proxy(args: &[String]) -> BenchResult<()> {
    let (url, tool, n) = (required(args, "--url")?, required(args, "--tool")?, count(args)?);
    let pid = flag(args, "--pid");
    let mut http = Http::connect(url)?;
    http.token = flag(args, "--token").map(str::to_owned);
    http.post(INITIALIZE)?;
    http.post(INITIALIZED)?;
    for id in 1..=100 {
        check_echo(&http.post(&call(id, tool))?, id)?;
    }
    let cpu_before = pid.map(cpu_time).transpose()?;
    let mut samples = Vec::with_capacity(n);
    for id in 1000..1000 + n {
        let started = Instant::now();
        let reply = http.post(&call(id, tool))?;
        samples.push(started.elapsed());
        check_echo(&reply, id)?;
    }
    report("proxy", &mut samples);
    if let (Some(pid), Some(before)) = (pid, cpu_before) {
        let used = cpu_time(pid)? - before;
        println!("proxy CPU per call: {:.1} us", used.as_secs_f64() * 1e6 / n as f64);
    }
    Ok(())
}

fn direct(args: &[String]) -> BenchResult<()> {
    let (command, n) = (required(args, "--command")?, count(args)?);
    let mut child = Command::new(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {command}: {e}"))?;
    let outcome = direct_calls(&mut child, n);
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

fn direct_calls(child: &mut Child, n: usize) -> BenchResult<()> {
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut roundtrip = |line: &str, expect_reply: bool| -> BenchResult<String> {
        writeln!(stdin, "{line}").map_err(|e| e.to_string())?;
        let mut reply = String::new();
        if expect_reply {
            stdout.read_line(&mut reply).map_err(|e| e.to_string())?;
        }
        Ok(reply)
    };
    roundtrip(INITIALIZE, true)?;
    roundtrip(INITIALIZED, false)?;
    for id in 1..=100 {
        check_echo(&roundtrip(&call(id, "echo"), true)?, id)?;
    }
    let mut samples = Vec::with_capacity(n);
    for id in 1000..1000 + n {
        let started = Instant::now();
        let reply = roundtrip(&call(id, "echo"), true)?;
        samples.push(started.elapsed());
        check_echo(&reply, id)?;
    }
    report("direct", &mut samples);
    Ok(())
}

fn report(label: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    let mean = samples.iter().sum::<Duration>() / samples.len().max(1) as u32;
    println!(
        "{label}: n={} p50={:.1}us p90={:.1}us p99={:.1}us mean={:.1}us",
        samples.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.9).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6
    );
}

/// User + system CPU time of a process, from `/proc/<pid>/stat`.
fn cpu_time(pid: &str) -> BenchResult<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("read stat: {e}"))?;
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).ok_or("bad stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or("bad stat field");
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the name; the kernel ticks at 100 Hz.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

fn startup(args: &[String]) -> BenchResult<()> {
    let (bin, config) = (required(args, "--bin")?, required(args, "--config")?);
    let dir = std::env::temp_dir().join(format!("mcp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let pid_file = dir.join("server.pid");
    let _ = std::fs::remove_file(&pid_file);
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["serve", "--no-auth", "-P", "0", "--log-level", "warn", "-c", config, "-d"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {bin}: {e}"))?;
    let outcome = measure_startup(&child, started, &pid_file);
    let _ = rustix::process::kill_process(rustix::process::Pid::from_child(&child), rustix::process::Signal::TERM);
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn measure_startup(child: &Child, started: Instant, pid_file: &std::path::Path) -> BenchResult<()> {
    let deadline = started + Duration::from_secs(30);
    let port = loop {
        if let Some(port) = std::fs::read_to_string(pid_file).ok().and_then(|t| {
            let key = "\"port\":";
            let at = t.find(key)? + key.len();
            t[at..].trim_start().split(|c: char| !c.is_ascii_digit()).next()?.parse::<u16>().ok()
        }) {
            break port;
        }
        if Instant::now() > deadline {
            return Err("no server.pid within 30 s".into());
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let listening = started.elapsed();
    let ready = loop {
        if let Ok(mut http) = Http::connect(&format!("http://127.0.0.1:{port}/health/ready"))
            && let Ok((200, _)) = http.request("GET", "/health/ready", "")
        {
            break started.elapsed();
        }
        if Instant::now() > deadline {
            return Err("not ready within 30 s".into());
        }
        std::thread::sleep(Duration::from_micros(500));
    };
    std::thread::sleep(Duration::from_secs(1));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).map_err(|e| e.to_string())?;
    let rss = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: ?").to_owned();
    println!(
        "listening after {:.1} ms, ready after {:.1} ms, idle {}",
        listening.as_secs_f64() * 1e3,
        ready.as_secs_f64() * 1e3,
        rss.split_whitespace().skip(1).collect::<Vec<_>>().join(" ")
    );
    Ok(())
}
