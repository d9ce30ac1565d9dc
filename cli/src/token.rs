//! `1mcp token create|list|revoke`: personal access tokens in `<config-dir>/tokens.json`.

use crate::args::{TokenAction, TokenArgs};
use anyhow::{Context, bail};
use std::process::ExitCode;
use std::time::Duration;

/// Runs a token subcommand.
pub fn main(args: TokenArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("1mcp token: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: TokenArgs) -> anyhow::Result<()> {
    let paths = args.place.resolve()?;
    let dir = &paths.config_dir;
    let now = onemcp_io::unix_time_ms();
    match args.action {
        TokenAction::Create { tags, ttl, name } => {
            let ttl = ttl.as_deref().map(parse_duration).transpose()?;
            let expires = ttl.map(|ttl| now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)));
            let tags = (!tags.is_empty()).then_some(tags);
            let (record, token) = onemcp_io::tokens::create(dir, &name, tags, expires, now)
                .with_context(|| format!("cannot create a token in {}", dir.display()))?;
            println!("{token}");
            eprintln!(
                "created {} ({}): shown once, keep it secret. Clients send it as `Authorization: Bearer <token>`.",
                record.id,
                describe(&record.tags, record.expires_at_ms, now)
            );
        }
        TokenAction::List => {
            let tokens = onemcp_io::tokens::read(dir).with_context(|| format!("cannot read {}", dir.display()))?;
            if tokens.is_empty() {
                eprintln!("no tokens in {} (create one with `1mcp token create`)", dir.display());
            }
            for t in tokens {
                let state = if t.revoked {
                    "revoked"
                } else if t.expires_at_ms.is_some_and(|at| now >= at) {
                    "expired"
                } else {
                    "active"
                };
                println!("{}  {:<8} {:<20} {}", t.id, state, t.name, describe(&t.tags, t.expires_at_ms, now));
            }
        }
        TokenAction::Revoke { which } => {
            let revoked = onemcp_io::tokens::revoke(dir, &which)?;
            if revoked == 0 {
                bail!("no active token with id or name {which:?}");
            }
            eprintln!("revoked {revoked} token(s); running daemons refuse them from the next request");
        }
    }
    Ok(())
}

fn describe(tags: &Option<Vec<String>>, expires_at_ms: Option<u64>, now: u64) -> String {
    let tags = match tags {
        Some(tags) => format!("tags {}", tags.join(",")),
        None => "all servers".to_owned(),
    };
    match expires_at_ms {
        Some(at) if at > now => format!("{tags}, expires in {}", human(Duration::from_millis(at - now))),
        Some(_) => format!("{tags}, expired"),
        None => format!("{tags}, no expiry"),
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..120 => format!("{s}s"),
        120..7200 => format!("{}m", s / 60),
        7200..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// `90s`, `30m`, `12h`, `7d` (a bare number is seconds).
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().with_context(|| format!("--ttl {text:?}: expected e.g. 30m, 12h, 7d"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("--ttl {text:?}: the unit must be s, m, h or d"),
    };
    if seconds == 0 {
        bail!("--ttl must be more than zero");
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_read_like_people_write_them() {
        assert_eq!(parse_duration("90").ok(), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m").ok(), Some(Duration::from_secs(1800)));
        assert_eq!(parse_duration("12h").ok(), Some(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d").ok(), Some(Duration::from_secs(604_800)));
        assert!(parse_duration("1w").is_err() && parse_duration("0").is_err() && parse_duration("h").is_err());
    }
}
