//! Where the binaries under test live, and building `1mcp` when it is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the parent of this package's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// The cargo target directory: `$CARGO_TARGET_DIR` if set, else `<workspace>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() { dir } else { workspace_root().join(dir) }
        }
        _ => workspace_root().join("target"),
    }
}

/// Path of the `1mcp` debug binary, brought up to date once per test process.
///
/// `cargo test -p onemcp-tests` alone does not rebuild another package's binary, so a stale
/// `1mcp` would be tested against new tests; an up-to-date build is a fast no-op.
pub fn onemcp_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let binary = target_dir().join("debug").join("1mcp");
        build_onemcp();
        assert!(
            binary.exists(),
            "{} does not exist even after `cargo build -p onemcp-cli --bin 1mcp`",
            binary.display()
        );
        binary
    })
}

fn build_onemcp() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(["build", "-p", "onemcp-cli", "--bin", "1mcp"])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo to build the 1mcp binary");
    assert!(
        output.status.success(),
        "building 1mcp failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
