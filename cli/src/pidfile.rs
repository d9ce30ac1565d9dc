//! `<config-dir>/server.pid`: how `1mcp proxy` and tests find a running daemon (1MCP's format).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The file's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PidInfo {
    /// Daemon process id.
    pub pid: u32,
    /// MCP endpoint URL.
    pub url: String,
    /// Bound port.
    pub port: u16,
    /// Host as configured.
    pub host: String,
    /// Always `http` for now.
    pub transport: String,
    /// Start time, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// Config directory.
    pub config_dir: String,
    /// Log file, if logging to one.
    pub log_file: Option<String>,
    /// Issuer of the embedded authorization server, if it serves one (operator links point
    /// there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_issuer: Option<String>,
}

/// Path of the pid file in `config_dir`.
pub fn path(config_dir: &Path) -> PathBuf {
    config_dir.join("server.pid")
}

/// Writes the pid file atomically (temp file + rename), so readers never see half of it.
pub fn write(config_dir: &Path, info: &PidInfo) -> anyhow::Result<()> {
    std::fs::create_dir_all(config_dir).with_context(|| format!("cannot create {}", config_dir.display()))?;
    let target = path(config_dir);
    let temp = config_dir.join(format!(".server.pid.{}", info.pid));
    let text = serde_json::to_string_pretty(info).context("cannot encode the pid file")?;
    std::fs::write(&temp, text).with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, &target).with_context(|| format!("cannot write {}", target.display()))
}

/// Removes the pid file if it is still ours (another daemon may have replaced it).
pub fn remove(config_dir: &Path, pid: u32) {
    let target = path(config_dir);
    let ours = std::fs::read_to_string(&target)
        .ok()
        .and_then(|text| serde_json::from_str::<PidInfo>(&text).ok())
        .is_some_and(|info| info.pid == pid);
    if ours && let Err(error) = std::fs::remove_file(&target) {
        tracing::warn!(%error, path = %target.display(), "cannot remove the pid file");
    }
}

/// The pid file in `config_dir`, if there is one and its daemon process still exists.
pub fn read_running(config_dir: &Path) -> Option<PidInfo> {
    let text = std::fs::read_to_string(path(config_dir)).ok()?;
    let info: PidInfo = serde_json::from_str(&text).ok()?;
    is_running(info.pid).then_some(info)
}

/// Whether process `pid` exists (signal 0; "not permitted" still means it exists).
fn is_running(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else { return false };
    match rustix::process::test_kill_process(pid) {
        Ok(()) => true,
        Err(error) => error == rustix::io::Errno::PERM,
    }
}

/// `time` as RFC 3339 UTC with milliseconds, like JavaScript's `toISOString`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let since = time.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    onemcp_core::time::rfc3339_utc_ms(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> String {
        rfc3339_utc(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
    }

    #[test]
    fn formats_like_to_iso_string() {
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_764_683_731_123), "2025-12-02T13:55:31.123Z");
        assert_eq!(at(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn write_then_remove_only_our_own() {
        let dir = std::env::temp_dir().join(format!("1mcp-pidfile-test-{}", std::process::id()));
        let info = PidInfo {
            pid: 42,
            url: "http://127.0.0.1:1/mcp".into(),
            port: 1,
            host: "127.0.0.1".into(),
            transport: "http".into(),
            started_at: at(0),
            config_dir: dir.display().to_string(),
            log_file: None,
            auth_issuer: None,
        };
        assert!(write(&dir, &info).is_ok());
        let text = std::fs::read_to_string(path(&dir)).unwrap_or_default();
        let keys: Vec<&str> = text.lines().filter_map(|l| l.trim().split('"').nth(1)).collect();
        assert_eq!(keys, ["pid", "url", "port", "host", "transport", "startedAt", "configDir", "logFile"]);
        let gone = PidInfo { pid: 999_999_999, ..info.clone() };
        assert!(write(&dir, &gone).is_ok());
        assert_eq!(read_running(&dir), None, "no such process");
        let ours = PidInfo { pid: std::process::id(), ..info.clone() };
        assert!(write(&dir, &ours).is_ok());
        assert_eq!(read_running(&dir).map(|i| i.pid), Some(std::process::id()));
        assert!(write(&dir, &info).is_ok());
        remove(&dir, 43);
        assert!(path(&dir).exists());
        remove(&dir, 42);
        assert!(!path(&dir).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
