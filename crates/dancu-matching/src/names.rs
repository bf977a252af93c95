//! Name words as small integers: each distinct word is canonicalised and folded once.

use std::collections::HashMap;

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

/// Canonical and folded words of the registry. `fold_of[canon]` is a canonical word's
/// folded id; `raw` caches the spellings met so far (any case, tone placement, NFD).
#[derive(Debug, Default)]
pub struct Interner {
    raw: HashMap<Box<str>, u32>,
    canon_ids: HashMap<Box<str>, u32>,
    fold_ids: HashMap<Box<str>, u32>,
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
        let canon = canonical_name(word);
        let id = match self.canon_ids.get(canon.as_str()) {
            Some(&id) => id,
            None => {
                let folded = fold(&canon);
                let next = self.folds.len() as u32;
                let fold_id = *self
                    .fold_ids
                    .entry(folded.clone().into_boxed_str())
                    .or_insert(next);
                if fold_id == next {
                    self.folds.push(folded.into_boxed_str());
                }
                let id = self.canon.len() as u32;
                self.canon_ids.insert(canon.clone().into_boxed_str(), id);
                self.canon.push(canon.into_boxed_str());
                self.fold_of.push(fold_id);
                id
            }
        };
        self.raw.insert(word.into(), id);
        Ok(id)
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
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur = vec![0; width];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, &cb) in b.iter().enumerate() {
            let mut d = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            if i > 0 && j > 0 && ca == b[j - 1] && a[i - 1] == cb {
                d = d.min(before[j - 1] + 1);
            }
            cur[j + 1] = d;
            row_min = row_min.min(d);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()].min(limit + 1)
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
    }
}
