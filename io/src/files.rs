//! Reading the operator's files (mcp.json, presets.json, .env) with a size bound: `-c
//! /dev/zero` or a runaway generator must be an error, not a daemon that grows without end.

use std::io::Read;
use std::path::Path;

/// Largest configuration file read (mcp.json, presets.json, .env). Real ones are a few KiB.
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// The text of `path`, refused with `InvalidData` when it is larger than `max` bytes (checked
/// while reading, so devices and growing files are bounded too) or not UTF-8.
pub fn read_text_bounded(path: &Path, max: u64) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        let why = format!("larger than {max} bytes; a configuration file this big is refused");
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, why));
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// [`read_text_bounded`] at [`MAX_CONFIG_FILE_BYTES`].
pub fn read_config_text(path: &Path) -> std::io::Result<String> {
    read_text_bounded(path, MAX_CONFIG_FILE_BYTES)
}

/// Replace `path` with `bytes` atomically: written to a mode 0600 temporary file beside it,
/// synced, then renamed over it (readers see the old file or the new one, never half of one).
/// For files that hold secrets or their hashes.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temporary = dir.join(format!(".{name}.{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

/// What identifies one version of a file without reading it (modification time, size, inode);
/// `None` if it does not exist.
pub fn stamp(path: &Path) -> Option<(i64, i64, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.mtime(), m.mtime_nsec(), m.len(), m.ino()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_that_never_ends_is_refused_and_small_files_are_read() {
        let error = read_text_bounded(Path::new("/dev/zero"), 1024).expect_err("/dev/zero is endless");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("larger than 1024 bytes"), "{error}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mcp.json");
        std::fs::write(&path, "{}").expect("write");
        assert_eq!(read_text_bounded(&path, 2).expect("fits"), "{}");
        assert!(read_text_bounded(&path, 1).is_err());
    }
}
