//! Name words as small integers: each distinct word is canonicalised and folded once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use dancu_domain::text::{canonical_name, fold};

/// Id of a word absent from the registry (records only).
pub const UNKNOWN: u32 = u32::MAX;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("contains {0:?}; only letters, spaces, apostrophes and hyphens are allowed")]
    InvalidChar(char),
    #[error("contains no letter")]
    NoLetter,
}

/// One word of a record's name, with its ids in the registry's interner (or
/// [`UNKNOWN`]) and its folded spelling for edit distances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub canon: u32,
    pub fold: u32,
    pub folded: Box<str>,
}

/// A name of a record: its words, and whether it was written without any diacritic
/// (so its spelling says nothing about them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Name {
    pub words: Vec<Word>,
    pub plain: bool,
}

impl Name {
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
    /// Family name: the first word of a name of two words or more.
    pub fn family(&self) -> Option<&Word> {
        (self.words.len() >= 2).then(|| &self.words[0])
    }
    /// Middle words (between family and given name).
    pub fn middle(&self) -> &[Word] {
        if self.words.len() > 2 {
            &self.words[1..self.words.len() - 1]
        } else {
            &[]
        }
    }
    pub fn given(&self) -> Option<&Word> {
        self.words.last()
    }
}

/// A multiply–rotate hash (as rustc's FxHash) for the interner's short word keys:
/// reading a 10M-person registry looks up ~150M words, and SipHash's DoS resistance
/// buys nothing against the registry's own file.
#[derive(Debug, Default, Clone, Copy)]
pub struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl WordHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7C_C1_B7_27_22_0A_95);
    }
}

type WordMap = HashMap<Box<str>, u32, BuildHasherDefault<WordHasher>>;

/// Canonical and folded words of the registry. `fold_of[canon]` is a canonical word's
/// folded id; `raw` caches the spellings met so far (any case, tone placement, NFD).
#[derive(Debug, Default)]
pub struct Interner {
    raw: WordMap,
    canon_ids: WordMap,
    fold_ids: WordMap,
    pub canon: Vec<Box<str>>,
    pub fold_of: Vec<u32>,
    pub folds: Vec<Box<str>>,
}

fn check_word(word: &str) -> Result<(), NameError> {
    if let Some(c) = word
        .chars()
        .find(|&c| !(c.is_alphabetic() || unicode_mark(c) || matches!(c, '\'' | '’' | '-')))
    {
        return Err(NameError::InvalidChar(c));
    }
    if !word.chars().any(char::is_alphabetic) {
        return Err(NameError::NoLetter);
    }
    Ok(())
}

/// Combining diacritical marks (NFD input).
fn unicode_mark(c: char) -> bool {
    matches!(c, '\u{300}'..='\u{36F}')
}

impl Interner {
    /// Interns every word of a registry name; appends the canonical ids to `out`.
    pub fn intern_name(&mut self, name: &str, out: &mut Vec<u32>) -> Result<(), NameError> {
        let start = out.len();
        for word in name.split_whitespace() {
            match self.intern_word(word) {
                Ok(id) => out.push(id),
                Err(e) => {
                    out.truncate(start);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn intern_word(&mut self, word: &str) -> Result<u32, NameError> {
        if let Some(&id) = self.raw.get(word) {
            return Ok(id);
        }
        check_word(word)?;
        let id = self.canonical_id(&canonical_name(word));
        self.raw.insert(word.into(), id);
        Ok(id)
    }

    /// The id of a canonical word, given the next one if new.
    fn canonical_id(&mut self, canon: &str) -> u32 {
        if let Some(&id) = self.canon_ids.get(canon) {
            return id;
        }
        let folded = fold(canon);
        let next = self.folds.len() as u32;
        let fold_id = *self
            .fold_ids
            .entry(folded.clone().into_boxed_str())
            .or_insert(next);
        if fold_id == next {
            self.folds.push(folded.into_boxed_str());
        }
        let id = self.canon.len() as u32;
        self.canon_ids.insert(canon.into(), id);
        self.canon.push(canon.into());
        self.fold_of.push(fold_id);
        id
    }

    /// Takes in the words of `other` (an interner of the text that follows this one's):
    /// returns, for each of its canonical ids, the id here. New words get ids in
    /// `other`'s order, so interning two texts apart and joining gives the ids of
    /// interning them one after the other.
    pub fn absorb(&mut self, other: &Interner) -> Vec<u32> {
        let ids: Vec<u32> = other.canon.iter().map(|c| self.canonical_id(c)).collect();
        for (raw, &id) in &other.raw {
            self.raw.entry(raw.clone()).or_insert(ids[id as usize]);
        }
        ids
    }

    /// A record's name against the registry's words, without adding any.
    pub fn lookup_name(&self, name: &str) -> Result<Name, NameError> {
        let mut out = Name {
            plain: name.is_ascii(),
            ..Name::default()
        };
        for word in name.split_whitespace() {
            let w = match self.raw.get(word) {
                Some(&id) => Word {
                    canon: id,
                    fold: self.fold_of[id as usize],
                    folded: self.folds[self.fold_of[id as usize] as usize].clone(),
                },
                None => {
                    check_word(word)?;
                    let canon = canonical_name(word);
                    let folded = fold(&canon);
                    let canon_id = self.canon_ids.get(canon.as_str()).copied();
                    Word {
                        canon: canon_id.unwrap_or(UNKNOWN),
                        fold: self
                            .fold_ids
                            .get(folded.as_str())
                            .copied()
                            .unwrap_or(UNKNOWN),
                        folded: folded.into_boxed_str(),
                    }
                }
            };
            out.words.push(w);
        }
        Ok(out)
    }

    /// Folded spelling of a registry word.
    pub fn folded(&self, canon: u32) -> &str {
        &self.folds[self.fold_of[canon as usize] as usize]
    }

    /// Folded words of a registry name joined by spaces, into `buf`.
    pub fn join_folded(&self, words: &[u32], buf: &mut String) {
        buf.clear();
        for &w in words {
            if !buf.is_empty() {
                buf.push(' ');
            }
            buf.push_str(self.folded(w));
        }
    }
}

/// Edit distance of two byte strings counting an insertion, a deletion, a substitution
/// or a swap of two neighbours ("Hùgn") as one edit (optimal string alignment), giving
/// up (returning `limit + 1`) as soon as it must exceed `limit`.
pub fn edit_distance(a: &[u8], b: &[u8], limit: usize) -> usize {
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    // Three rows on the stack for names (every comparison of every candidate comes
    // here); a longer string falls back to the heap.
    const STACK: usize = 64;
    let width = b.len() + 1;
    if width <= STACK {
        let mut rows = [[0usize; STACK]; 3];
        let [before, prev, cur] = &mut rows;
        osa(
            a,
            b,
            limit,
            &mut before[..width],
            &mut prev[..width],
            &mut cur[..width],
        )
    } else {
        let (mut before, mut prev, mut cur) = (vec![0; width], vec![0; width], vec![0; width]);
        osa(a, b, limit, &mut before, &mut prev, &mut cur)
    }
}

/// Optimal string alignment over three caller-provided rows of `b.len() + 1`. Only the
/// band of cells within `limit` of the diagonal is computed (a cell off it is already
/// over the limit); the cells just outside the band are set to `limit + 1`, which is
/// all the next rows read of them.
fn osa<'r>(
    a: &[u8],
    b: &[u8],
    limit: usize,
    mut before: &'r mut [usize],
    mut prev: &'r mut [usize],
    mut cur: &'r mut [usize],
) -> usize {
    let over = limit + 1;
    for (j, x) in prev.iter_mut().enumerate() {
        *x = j.min(over);
    }
    for i in 1..=a.len() {
        let lo = i.saturating_sub(limit).max(1);
        let hi = (i + limit).min(b.len());
        cur[lo - 1] = if lo == 1 { i.min(over) } else { over };
        let mut row_min = cur[lo - 1];
        let ca = a[i - 1];
        for j in lo..=hi {
            let cb = b[j - 1];
            let mut d = (prev[j - 1] + usize::from(ca != cb))
                .min(prev[j] + 1)
                .min(cur[j - 1] + 1);
            if i > 1 && j > 1 && ca == b[j - 2] && a[i - 2] == cb {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d.min(over);
            row_min = row_min.min(cur[j]);
        }
        if hi < b.len() {
            cur[hi + 1] = over;
        }
        if row_min > limit {
            return over;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()].min(over)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_word_share_an_id() {
        let mut ix = Interner::default();
        let mut a = Vec::new();
        let mut b = Vec::new();
        ix.intern_name("Nguyễn Thị Hòa", &mut a).unwrap();
        ix.intern_name("NGUYỄN  thị hoà", &mut b).unwrap();
        assert_eq!(a, b);
        let rec = ix.lookup_name("Nguyen Thi Hoa").unwrap();
        assert_eq!(rec.words[2].canon, UNKNOWN);
        assert_eq!(rec.words[2].fold, ix.fold_of[a[2] as usize]);
        assert!(rec.plain);
    }

    #[test]
    fn bad_characters_are_refused() {
        let mut ix = Interner::default();
        let mut out = Vec::new();
        assert_eq!(
            ix.intern_name("Lê V4n", &mut out),
            Err(NameError::InvalidChar('4'))
        );
        assert!(out.is_empty());
        assert_eq!(ix.lookup_name("--"), Err(NameError::NoLetter));
    }

    #[test]
    fn edit_distance_is_bounded() {
        assert_eq!(edit_distance(b"hung", b"hunq", 2), 1);
        assert_eq!(edit_distance(b"phuong", b"phuonq", 2), 1);
        assert_eq!(edit_distance(b"lan", b"lna", 2), 1, "a swap of neighbours");
        assert_eq!(edit_distance(b"hieu", b"hiue", 1), 1);
        assert_eq!(edit_distance(b"abc", b"ca", 3), 3);
        assert_eq!(edit_distance(b"an", b"nguyet", 2), 3);
        let long_a = "nguyen thi ngoc anh ".repeat(4);
        let long_b = "nguyen thi ngoc anh ".repeat(4).replacen("ngoc", "ngco", 1);
        assert_eq!(
            edit_distance(long_a.as_bytes(), long_b.as_bytes(), 2),
            1,
            "past the stack rows"
        );
        assert_eq!(edit_distance(b"ab", b"", 2), 2);
        assert_eq!(edit_distance(b"", b"ab", 2), 2);
        assert_eq!(edit_distance(b"", b"abc", 2), 3);
    }

    /// The whole-matrix optimal string alignment distance, unbounded.
    fn reference(a: &[u8], b: &[u8]) -> usize {
        let mut d = vec![vec![0; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, x) in d[0].iter_mut().enumerate() {
            *x = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                d[i][j] = (d[i - 1][j - 1] + cost)
                    .min(d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
                }
            }
        }
        d[a.len()][b.len()]
    }

    #[test]
    fn the_band_gives_the_whole_matrix_distance_up_to_the_limit() {
        // Every pair of strings of up to 5 letters over a 3-letter alphabet.
        let words: Vec<Vec<u8>> = (0..=5u32)
            .flat_map(|len| {
                (0..3usize.pow(len)).map(move |mut n| {
                    (0..len)
                        .map(|_| {
                            let c = b"abn"[n % 3];
                            n /= 3;
                            c
                        })
                        .collect()
                })
            })
            .collect();
        for a in &words {
            for b in words.iter().step_by(3) {
                let full = reference(a, b);
                for limit in 0..=3 {
                    assert_eq!(
                        edit_distance(a, b, limit),
                        full.min(limit + 1),
                        "{:?} {:?} limit {limit}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
    }
}
