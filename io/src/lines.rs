//! Newline-delimited framing with a hard cap on line length, so a peer that never sends a
//! newline cannot make us buffer without bound.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`LineReader::next_line`] put in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineStatus {
    /// The whole line (without `\n` or a trailing `\r`).
    Complete,
    /// The line was longer than the cap: the buffer holds its first `max` bytes, the rest was
    /// read and discarded up to the newline.
    Truncated {
        /// Full length of the line in bytes, terminator excluded.
        len: usize,
    },
}

/// Reads lines of at most `max` bytes from a buffered reader.
pub(crate) struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// A reader that keeps at most `max` bytes of any line.
    pub(crate) fn new(inner: R, max: usize) -> Self {
        LineReader { inner, max }
    }

    /// Reads the next line into `buf` (cleared first). `Ok(None)` at end of input; a final line
    /// without a newline still counts as a line.
    pub(crate) async fn next_line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<LineStatus>> {
        buf.clear();
        let mut len = 0usize;
        let mut saw_any = false;
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            len = len.saturating_add(chunk.len());
            let room = self.max.saturating_sub(buf.len());
            buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let consumed = chunk.len() + usize::from(newline.is_some());
            self.inner.consume(consumed);
            if newline.is_some() {
                break;
            }
        }
        if len > self.max {
            return Ok(Some(LineStatus::Truncated { len }));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some(LineStatus::Complete))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncWriteExt, BufReader};

    async fn read_all(input: &[u8], max: usize) -> Vec<(String, LineStatus)> {
        let (mut tx, rx) = tokio::io::duplex(7); // tiny pipe: lines arrive in many pieces
        let input = input.to_vec();
        let writer = tokio::spawn(async move {
            let _ = tx.write_all(&input).await;
        });
        let mut reader = LineReader::new(BufReader::with_capacity(5, rx), max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(status) = reader.next_line(&mut buf).await.unwrap_or(None) {
            out.push((String::from_utf8_lossy(&buf).into_owned(), status));
        }
        let _ = writer.await;
        out
    }

    #[tokio::test]
    async fn splits_lines_and_strips_crlf() {
        let got = read_all(b"{\"a\":1}\r\n\nlast-without-newline", 64).await;
        assert_eq!(
            got,
            vec![
                ("{\"a\":1}".to_owned(), LineStatus::Complete),
                (String::new(), LineStatus::Complete),
                ("last-without-newline".to_owned(), LineStatus::Complete),
            ]
        );
    }

    #[tokio::test]
    async fn overlong_line_is_capped_and_the_next_line_survives() {
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\nok\n");
        let got = read_all(&input, 10).await;
        assert_eq!(
            got,
            vec![("x".repeat(10), LineStatus::Truncated { len: 100 }), ("ok".to_owned(), LineStatus::Complete),]
        );
    }

    #[tokio::test]
    async fn line_of_exactly_max_is_complete() {
        let got = read_all(b"0123456789\n", 10).await;
        assert_eq!(got, vec![("0123456789".to_owned(), LineStatus::Complete)]);
    }

    #[tokio::test]
    async fn empty_input_has_no_lines() {
        assert!(read_all(b"", 10).await.is_empty());
    }
}
