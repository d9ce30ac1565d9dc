//! The `1mcp` command line: refuses bad configs and unsafe defaults fast, with messages that
//! point at the problem. Authentication stays on (the default) unless a test is about `--no-auth`.

use std::time::Duration;

use onemcp_tests::{CliRun, run_onemcp};
use tempfile::TempDir;

/// A failing start must be reported within this.
const FAIL_FAST: Duration = Duration::from_secs(5);
/// Runs are killed after this, so a daemon that wrongly keeps serving cannot hang the test.
const KILL_AFTER: Duration = Duration::from_secs(10);

fn config_dir() -> TempDir {
    tempfile::Builder::new().prefix("onemcp-cli-").tempdir().expect("create a temporary config directory")
}

/// Runs `1mcp serve -P 0 -d DIR -c DIR/mcp.json` with `config_text` plus `extra` arguments.
fn serve_with_config(dir: &TempDir, config_text: &str, extra: &[&str]) -> (CliRun, String) {
    let config_path = dir.path().join("mcp.json");
    std::fs::write(&config_path, config_text).expect("write mcp.json");
    let config_arg = config_path.to_string_lossy().into_owned();
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let mut args = vec!["serve", "-P", "0", "-d", &dir_arg, "-c", &config_arg];
    args.extend_from_slice(extra);
    (run_onemcp(&args, KILL_AFTER), config_arg)
}

/// Whether `text` contains `line:` followed by a column number, as in `mcp.json:3:14`.
fn mentions_line_and_column(text: &str, line: usize) -> bool {
    let needle = format!("{line}:");
    text.match_indices(&needle).any(|(at, _)| {
        let before_is_digit = text[..at].chars().next_back().is_some_and(|c| c.is_ascii_digit());
        let after_is_digit = text[at + needle.len()..].chars().next().is_some_and(|c| c.is_ascii_digit());
        !before_is_digit && after_is_digit
    })
}

#[test]
fn invalid_json_config_exits_1_naming_file_line_and_column() {
    let dir = config_dir();
    // The syntax error is on line 3.
    let text = "{\n  \"mcpServers\": {\n    \"alpha\": {\"command\": }\n  }\n}\n";
    let (run, path) = serve_with_config(&dir, text, &[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.elapsed < FAIL_FAST, "took {:?} to fail: {}", run.elapsed, run.describe());
    assert!(run.stderr.contains(&path), "stderr does not name {path}: {}", run.describe());
    assert!(mentions_line_and_column(&run.stderr, 3), "stderr lacks 3:<col>: {}", run.describe());
}

#[test]
fn invalid_server_entry_exits_1_naming_server_and_field() {
    let dir = config_dir();
    let text = r#"{"mcpServers": {"broken-entry": {"command": "true", "args": 5}}}"#;
    let (run, _) = serve_with_config(&dir, text, &[]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.elapsed < FAIL_FAST, "took {:?} to fail: {}", run.elapsed, run.describe());
    assert!(run.stderr.contains("broken-entry"), "stderr does not name the server: {}", run.describe());
    assert!(run.stderr.contains("args"), "stderr does not name the field: {}", run.describe());
}

#[test]
fn version_prints_the_version() {
    let run = run_onemcp(&["--version"], KILL_AFTER);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(
        run.stdout.contains(env!("CARGO_PKG_VERSION")),
        "stdout lacks {}: {}",
        env!("CARGO_PKG_VERSION"),
        run.describe()
    );
}

#[test]
fn config_keys_lists_the_per_server_keys_and_help_points_there() {
    let run = run_onemcp(&["config", "keys"], KILL_AFTER);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    for key in ["connectionTimeout", "requestTimeout", "restartOnExit", "perSession", "disabledTools", "headers"] {
        assert!(run.stdout.lines().any(|l| l.trim_start().starts_with(key)), "{key} missing: {}", run.describe());
    }
    let help = run_onemcp(&["--help"], KILL_AFTER);
    assert!(help.stdout.contains("1mcp config keys"), "{}", help.describe());
}

#[test]
fn serving_without_auth_beyond_loopback_needs_an_explicit_flag() {
    let dir = config_dir();
    let (run, _) = serve_with_config(&dir, r#"{"mcpServers": {}}"#, &["--no-auth", "-H", "0.0.0.0"]);
    assert_eq!(run.code, Some(2), "{}", run.describe());
    assert!(run.stderr.contains("--allow-unauthenticated-remote"), "{}", run.describe());
    assert!(run.elapsed < FAIL_FAST, "{}", run.describe());
}

#[test]
fn an_endless_config_file_is_refused_not_read_forever() {
    let dir = config_dir();
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let run = run_onemcp(&["serve", "-P", "0", "-d", &dir_arg, "-c", "/dev/zero"], KILL_AFTER);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("larger than"), "{}", run.describe());
    assert!(run.elapsed < FAIL_FAST, "{}", run.describe());
}

#[test]
fn the_log_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = config_dir();
    let log = dir.path().join("logs").join("1mcp.log");
    let log_arg = log.to_string_lossy().into_owned();
    // An invalid config makes serve exit right after logging has started.
    let (run, _) = serve_with_config(&dir, r#"{"mcpServers": []}"#, &["--log-file", &log_arg]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    let mode = std::fs::metadata(&log).expect("log file created").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "log file mode {mode:o}");
}

#[test]
fn line_and_column_matcher_needs_both_numbers() {
    assert!(mentions_line_and_column("mcp.json:3:14: expected value", 3));
    assert!(mentions_line_and_column("at line 3:9", 3));
    assert!(!mentions_line_and_column("mcp.json:13:4", 3));
    assert!(!mentions_line_and_column("line 3: oops", 3));
}

#[test]
fn config_check_says_what_the_daemon_would_with_an_exit_status_for_scripts() {
    let dir = config_dir();
    let check = |args: &[&str]| {
        let mut argv = vec!["config", "check"];
        argv.extend_from_slice(args);
        run_onemcp(&argv, KILL_AFTER)
    };
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // Valid, with a warning (an unknown key) and `${VAR}` from the .env beside it.
    std::fs::write(dir.path().join(".env"), "TOOL=echo\n").expect("write .env");
    let valid = r#"{"mcpServers": {"a": {"command": "${TOOL}", "bogus": 1}, "b": {"url": "http://127.0.0.1:9/mcp", "disabled": true}}}"#;
    std::fs::write(dir.path().join("mcp.json"), valid).expect("write mcp.json");
    let run = check(&[&path("mcp.json")]);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    assert!(run.stdout.contains("valid (2 servers, 1 enabled; 1 warning)"), "{}", run.describe());
    assert!(run.stderr.contains("\"bogus\"") && mentions_line_and_column(&run.stderr, 1), "{}", run.describe());
    // The same file found through -d, as serve finds it.
    let dir_arg = dir.path().to_string_lossy().into_owned();
    assert_eq!(check(&["-d", &dir_arg]).code, Some(0));
    // Invalid: exit 1, naming the server, the field and where; the file is not touched.
    let invalid = "{\"mcpServers\": {\n  \"broken\": {\"command\": 5}}}";
    std::fs::write(dir.path().join("bad.json"), invalid).expect("write bad.json");
    let run = check(&[&path("bad.json")]);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stdout.contains("invalid (1 error)"), "{}", run.describe());
    assert!(run.stderr.contains("broken") && run.stderr.contains("command"), "{}", run.describe());
    assert!(mentions_line_and_column(&run.stderr, 2), "{}", run.describe());
    assert_eq!(std::fs::read_to_string(dir.path().join("bad.json")).expect("read"), invalid);
    // Unreadable, endless or missing: exit 1 with why, and nothing is created.
    for (file, why) in [("/dev/zero", "larger than"), (path("none.json").as_str(), "No such file")] {
        let run = check(&[file]);
        assert_eq!(run.code, Some(1), "{}", run.describe());
        assert!(run.stderr.contains(why), "{}", run.describe());
    }
    assert!(!dir.path().join("none.json").exists(), "check creates nothing");
}

#[test]
fn completion_scripts_complete_the_command_tree() {
    // bash: the script loads, and completing `1mcp pre` and `1mcp mcp ` offers what the CLI has.
    let run = run_onemcp(&["completions", "bash"], KILL_AFTER);
    assert_eq!(run.code, Some(0), "{}", run.describe());
    let dir = config_dir();
    let script = dir.path().join("1mcp.bash");
    std::fs::write(&script, &run.stdout).expect("write the script");
    let complete = |words: &str, current: usize| {
        let line = format!(
            "source '{}'; COMP_WORDS=({words}); COMP_CWORD={current}; _1mcp 1mcp \"${{COMP_WORDS[{current}]}}\" \"${{COMP_WORDS[{}]}}\"; echo \"${{COMPREPLY[@]}}\"",
            script.display(),
            current - 1
        );
        let output = std::process::Command::new("bash").args(["-c", &line]).output().expect("run bash");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(complete("1mcp pre", 1), ["preset"]);
    let mcp = complete("1mcp mcp ''", 2);
    for subcommand in ["add", "update", "remove", "enable", "disable", "list", "tools"] {
        assert!(mcp.contains(&subcommand.to_owned()), "{subcommand} is not offered after `1mcp mcp`: {mcp:?}");
    }
    assert!(complete("1mcp auth ''", 2).contains(&"logout".to_owned()));
    // zsh and fish: their script headers and every subcommand.
    for (shell, header) in [("zsh", "#compdef 1mcp"), ("fish", "complete -c 1mcp")] {
        let run = run_onemcp(&["completions", shell], KILL_AFTER);
        assert_eq!(run.code, Some(0), "{}", run.describe());
        assert!(run.stdout.contains(header), "{shell}: {}", run.stdout.lines().next().unwrap_or_default());
        for subcommand in ["serve", "proxy", "config", "token", "auth", "mcp", "preset", "completions"] {
            assert!(run.stdout.contains(subcommand), "{shell} does not complete {subcommand}");
        }
    }
    assert_ne!(run_onemcp(&["completions", "tcsh"], KILL_AFTER).code, Some(0), "an unknown shell is refused");
}
