//! Collecting errors and warnings while walking `mcp.json`, each pointed at the line and column
//! of the key it is about, so a user can jump to it.

use super::parse::ConfigError;
use std::collections::BTreeMap;

/// Keys deeper than `mcpServers.<name>.<field>` are never pointed at; not recording them keeps
/// the position table small.
const MAX_KEY_DEPTH: usize = 3;

/// Errors and warnings found so far in one file.
pub(super) struct Diagnostics<'t> {
    source: &'t str,
    text: &'t str,
    /// Built on the first diagnostic: a clean file never pays for the second scan.
    positions: Option<BTreeMap<Vec<String>, (usize, usize)>>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
}

impl<'t> Diagnostics<'t> {
    /// `text` must be the JSON that parsed successfully (positions are computed from it).
    pub fn new(source: &'t str, text: &'t str) -> Self {
        Diagnostics { source, text, positions: None, errors: Vec::new(), warnings: Vec::new() }
    }

    /// Records a problem that makes the file invalid.
    pub fn error(&mut self, server: Option<&str>, field: Option<&str>, message: impl Into<String>) {
        let error = self.make(server, field, message.into());
        self.errors.push(error);
    }

    /// Records a problem worth telling the user about that does not stop the file from loading.
    pub fn warn(&mut self, server: Option<&str>, field: Option<&str>, message: impl Into<String>) {
        let warning = self.make(server, field, message.into()).to_string();
        self.warnings.push(warning);
    }

    fn make(&mut self, server: Option<&str>, field: Option<&str>, message: String) -> ConfigError {
        let (line, column) = match self.locate(server, field) {
            Some((line, column)) => (Some(line), Some(column)),
            None => (None, None),
        };
        ConfigError {
            source: self.source.to_string(),
            server: server.map(str::to_string),
            field: field.map(str::to_string),
            line,
            column,
            message,
        }
    }

    /// Position of the most specific key the diagnostic is about. Field names may carry a
    /// suffix (`args[2]`, `env.KEY`, `serverDefaults.timeout`); the key is the first segment.
    fn locate(&mut self, server: Option<&str>, field: Option<&str>) -> Option<(usize, usize)> {
        let text = self.text;
        let positions = self.positions.get_or_insert_with(|| key_positions(text));
        let mut candidates: Vec<Vec<String>> = Vec::new();
        let base: Vec<String> = match server {
            Some(server) => vec!["mcpServers".into(), server.into()],
            None => Vec::new(),
        };
        if let Some(field) = field {
            let (base, field) = match (server, field.strip_prefix("serverDefaults.")) {
                (None, Some(rest)) => (vec!["serverDefaults".to_string()], rest),
                _ => (base.clone(), field),
            };
            let head = field.split(['.', '[']).next().unwrap_or(field);
            for key in [field, head] {
                let mut path = base.clone();
                path.push(key.to_string());
                candidates.push(path);
            }
        }
        candidates.push(base);
        candidates.iter().find_map(|path| positions.get(path).copied())
    }
}

/// 1-based line and column of every object key up to [`MAX_KEY_DEPTH`], by key path (keys inside
/// arrays are skipped). Assumes `text` is valid JSON; on anything else it stops early rather
/// than fail, since positions are only a convenience.
fn key_positions(text: &str) -> BTreeMap<Vec<String>, (usize, usize)> {
    let mut scanner = Scanner { text, pos: 0, line: 1, column: 1, out: BTreeMap::new() };
    scanner.value(&mut Vec::new(), true);
    scanner.out
}

struct Scanner<'t> {
    text: &'t str,
    pos: usize,
    line: usize,
    column: usize,
    out: BTreeMap<Vec<String>, (usize, usize)>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) {
        let Some(byte) = self.peek() else { return };
        self.pos += 1;
        if byte == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if byte & 0xC0 != 0x80 {
            // Columns count characters, so UTF-8 continuation bytes do not advance them.
            self.column += 1;
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn value(&mut self, path: &mut Vec<String>, record: bool) {
        self.skip_whitespace();
        match self.peek() {
            Some(b'{') => self.object(path, record),
            Some(b'[') => self.array(path),
            Some(b'"') => {
                self.string();
            }
            _ => {
                let start = self.pos;
                while !matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
                    self.bump();
                }
                if self.pos == start {
                    self.bump();
                }
            }
        }
    }

    fn object(&mut self, path: &mut Vec<String>, record: bool) {
        self.bump();
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => return,
                Some(b'}') => return self.bump(),
                Some(b'"') => {
                    let at = (self.line, self.column);
                    let key = self.string();
                    self.skip_whitespace();
                    if self.peek() == Some(b':') {
                        self.bump();
                    }
                    path.push(key);
                    if record && path.len() <= MAX_KEY_DEPTH {
                        self.out.insert(path.clone(), at);
                    }
                    self.value(path, record);
                    path.pop();
                }
                Some(_) => self.bump(),
            }
        }
    }

    fn array(&mut self, path: &mut Vec<String>) {
        self.bump();
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => return,
                Some(b']') => return self.bump(),
                Some(b',') => self.bump(),
                Some(_) => self.value(path, false),
            }
        }
    }

    /// Consumes a string literal and returns its decoded contents.
    fn string(&mut self) -> String {
        self.bump();
        let start = self.pos;
        loop {
            match self.peek() {
                None => break,
                Some(b'"') => break,
                Some(b'\\') => {
                    self.bump();
                    self.bump();
                }
                Some(_) => self.bump(),
            }
        }
        let end = self.pos;
        self.bump();
        let raw = self.text.get(start..end).unwrap_or_default();
        if raw.contains('\\') {
            let quoted = self.text.get(start - 1..end + 1).unwrap_or_default();
            serde_json::from_str(quoted).unwrap_or_else(|_| raw.to_string())
        } else {
            raw.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(keys: &[&str]) -> Vec<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn finds_keys_by_path_with_line_and_column() {
        let text =
            "{\n  \"mcpServers\": {\n    \"fs\": { \"command\": \"x\",\n      \"args\": [{\"inner\": 1}] }\n  }\n}";
        let positions = key_positions(text);
        assert_eq!(positions.get(&path(&["mcpServers"])), Some(&(2, 3)));
        assert_eq!(positions.get(&path(&["mcpServers", "fs"])), Some(&(3, 5)));
        assert_eq!(positions.get(&path(&["mcpServers", "fs", "command"])), Some(&(3, 13)));
        assert_eq!(positions.get(&path(&["mcpServers", "fs", "args"])), Some(&(4, 7)));
        assert_eq!(positions.len(), 4, "keys inside arrays are not recorded: {positions:?}");
    }

    #[test]
    fn columns_count_characters_and_escaped_keys_are_decoded() {
        let text = r#"{"é": {"a\"b": 1, "ü": "x{"}}"#;
        let positions = key_positions(text);
        assert_eq!(positions.get(&path(&["é"])), Some(&(1, 2)));
        assert_eq!(positions.get(&path(&["é", "a\"b"])), Some(&(1, 8)));
        assert_eq!(positions.get(&path(&["é", "ü"])), Some(&(1, 19)));
    }

    #[test]
    fn tolerates_truncated_input() {
        let positions = key_positions(r#"{"a": {"b": "unterminated"#);
        assert_eq!(positions.get(&path(&["a", "b"])), Some(&(1, 8)));
    }
}
