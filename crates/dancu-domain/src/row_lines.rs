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
        let (line, rest) = (1 + self.newlines, &self.text[at..]);
        row_line(line, rest).unwrap_or(line + newlines(rest))
    }
}

/// Line numbers of the rows of a stream: a reader that passes the bytes of `inner` on
/// (to a CSV reader, say) and keeps those not yet counted, so that the rows it was
/// asked about can be placed. Memory stays at about the reader's read-ahead when rows
/// are asked for as they are read.
pub struct LineTap<R> {
    inner: R,
    /// Bytes read from `inner`, the first at offset `window_start`.
    window: Vec<u8>,
    window_start: u64,
    /// Bytes of `window` before this are counted: byte `passed` is on line `line`.
    passed: usize,
    line: u64,
    eof: bool,
}

impl<R: std::io::Read> LineTap<R> {
    /// `inner` reads from byte `offset` of the file, which is on line `line`.
    pub fn new(inner: R, offset: u64, line: u64) -> Self {
        LineTap {
            inner,
            window: Vec::new(),
            window_start: offset,
            passed: 0,
            line,
            eof: false,
        }
    }

    /// The line byte `offset` (read already) is on. Offsets must not go backwards.
    pub fn line_at(&mut self, offset: u64) -> u64 {
        self.pass(offset);
        self.line
    }

    /// The line of the row a reader placed at byte `offset`, or `None` while the bytes
    /// read so far end before the row's first byte. Offsets must not go backwards.
    pub fn row_line(&mut self, offset: u64) -> Option<u64> {
        self.pass(offset);
        let rest = &self.window[self.passed..];
        row_line(self.line, rest).or_else(|| self.eof.then(|| self.line + newlines(rest)))
    }

    fn pass(&mut self, offset: u64) {
        let at = usize::try_from(offset.saturating_sub(self.window_start))
            .unwrap_or(usize::MAX)
            .clamp(self.passed, self.window.len());
        self.line += newlines(&self.window[self.passed..at]);
        self.passed = at;
        // Drop the counted bytes once they are most of the window (amortized moves).
        if self.passed >= 1 << 16 && self.passed * 2 >= self.window.len() {
            self.window.drain(..self.passed);
            self.window_start += self.passed as u64;
            self.passed = 0;
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineTap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.window.extend_from_slice(&buf[..n]);
        self.eof |= n == 0 && !buf.is_empty();
        Ok(n)
    }
}

/// The rule: a row begins at its first byte that ends no line. `rest` begins on line
/// `line`; `None` if it holds nothing but line ends.
fn row_line(line: u64, rest: &[u8]) -> Option<u64> {
    let first = rest.iter().position(|&b| b != b'\n' && b != b'\r')?;
    Some(line + newlines(&rest[..first]))
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

    /// Reads a few bytes at a time, as a slow stream does.
    struct Trickle<'t>(&'t [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// The rows' offsets as a CSV reader gives them: a byte after the end of the row
    /// before (on the '\n' of a "\r\n", or on a blank line), 0 for the first.
    fn row_offsets(text: &[u8]) -> Vec<u64> {
        let ends = |b: u8| b == b'\n' || b == b'\r';
        let mut at = Vec::new();
        let mut content_end: Option<usize> = None;
        for (i, &b) in text.iter().enumerate() {
            if ends(b) {
                continue;
            }
            if i == 0 || ends(text[i - 1]) {
                at.push(content_end.map_or(0, |e| (e + 1).min(i)) as u64);
            }
            content_end = Some(i + 1);
        }
        at
    }

    proptest::proptest! {
        #[test]
        fn a_stream_places_rows_as_the_whole_text_does(
            lines in proptest::collection::vec(("[a-z]{0,3}", 0..3u8), 0..200),
            step in 1..9usize,
        ) {
            let text: Vec<u8> = lines
                .iter()
                .flat_map(|(row, end)| {
                    let end: &[u8] = [&b"\n"[..], b"\r\n", b""][*end as usize];
                    [row.as_bytes(), end].concat()
                })
                .collect();
            let offsets = row_offsets(&text);
            let mut whole = RowLines::new(&text);
            let expected: Vec<u64> = offsets.iter().map(|&o| whole.line(o)).collect();
            let mut tap = LineTap::new(Trickle(&text, step), 0, 1);
            let mut got = Vec::new();
            let mut scratch = [0u8; 16];
            for &o in &offsets {
                got.push(loop {
                    if let Some(line) = tap.row_line(o) {
                        break line;
                    }
                    std::io::Read::read(&mut tap, &mut scratch).unwrap();
                });
            }
            proptest::prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn a_csv_reader_over_a_tap_gets_true_lines_and_the_window_stays_short() {
        let mut text = String::from("h\r\n\r\n");
        for i in 0..20_000 {
            text.push_str(&format!("r{i},x\r\n"));
            if i % 7 == 0 {
                text.push_str("\r\n");
            }
        }
        let mut whole = RowLines::new(text.as_bytes());
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineTap::new(text.as_bytes(), 0, 1));
        let mut record = csv::ByteRecord::new();
        let mut rows = 0;
        while reader.read_byte_record(&mut record).unwrap() {
            let at = record.position().unwrap().byte();
            let line = reader.get_mut().row_line(at).unwrap();
            assert_eq!(line, whole.line(at));
            assert!(reader.get_ref().window.len() < 1 << 18);
            rows += 1;
        }
        assert_eq!(rows, 20_001);
        // Row 3 (r1) is on line 5: a blank line after the header and one after r0.
        assert_eq!(
            RowLines::new(text.as_bytes()).line(text.find("r1,").unwrap() as u64),
            5
        );
    }
}
