//! Line numbers of the rows of a text file, for error reports ("line 7: …").
//!
//! A CSV reader's own line number is wrong for real files: after a CRLF it places the
//! next row at the LF, before that row's line has begun (one line early), and it does
//! not count the blank lines it skips. Its byte offsets are exact, so the line is
//! counted from them: a row begins at its first byte at or after its offset that ends
//! no line.

/// Counts the lines of `text` once, as its rows are asked for in file order.
pub struct RowLines<'t> {
    text: &'t [u8],
    /// Bytes before this are counted into `newlines`.
    counted: usize,
    newlines: u64,
}

impl<'t> RowLines<'t> {
    pub fn new(text: &'t [u8]) -> Self {
        RowLines {
            text,
            counted: 0,
            newlines: 0,
        }
    }

    /// The line (from 1) of the row that the reader placed at byte `offset`. Offsets must
    /// not go backwards (rows in file order).
    pub fn line(&mut self, offset: u64) -> u64 {
        let at = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .clamp(self.counted, self.text.len());
        self.newlines += newlines(&self.text[self.counted..at]);
        self.counted = at;
        let line_ends = self.text[at..]
            .iter()
            .take_while(|&&b| b == b'\n' || b == b'\r')
            .count();
        1 + self.newlines + newlines(&self.text[at..at + line_ends])
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_placed_at_their_line_with_lf_crlf_and_blank_lines() {
        // Offsets as the csv crate reports them for rows a, b and c (after a header).
        let lf = "h\na\nb\n\nc\n";
        let mut lines = RowLines::new(lf.as_bytes());
        assert_eq!([2, 4, 6].map(|o| lines.line(o)), [2, 3, 5]);
        let crlf = "h\r\na\r\nb\r\n\r\nc\r\n";
        let mut lines = RowLines::new(crlf.as_bytes());
        assert_eq!([2, 5, 8].map(|o| lines.line(o)), [2, 3, 5]);
        // Past the end: the line after the last.
        assert_eq!(RowLines::new(b"h\na\n").line(99), 3);
    }
}
