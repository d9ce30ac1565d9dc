//! Client-controlled text on its way into a log line: cut to a bounded length, so a client
//! cannot grow the log by sending long names, paths or ids.

use std::borrow::Cow;

/// Longest client-controlled string a log line carries.
pub const LOG_TEXT_MAX: usize = 200;

/// `text` if it is at most `max` bytes, else its first `max` bytes (on a char boundary) with
/// how long it was.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}... ({} bytes)", &text[..end], text.len()))
}

/// [`clip`] at [`LOG_TEXT_MAX`].
pub fn for_log(text: &str) -> Cow<'_, str> {
    clip(text, LOG_TEXT_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary_and_says_how_long_it_was() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("ééééé", 3), "é... (10 bytes)");
        assert_eq!(for_log(&"x".repeat(3_000_000)).len(), LOG_TEXT_MAX + "... (3000000 bytes)".len());
    }
}
