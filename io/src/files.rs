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
