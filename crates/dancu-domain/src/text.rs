//! Vietnamese names: canonical form, folded search keys, name parts, validation.
//!
//! # Tone-mark convention
//!
//! [`canonical_name`] writes every syllable with the **traditional ("old") tone-mark
//! placement** — "hòa", "khỏe", "thủy", "Thúy" — the one Unikey types by default and
//! most registry data uses. The rules, applied to each word that parses as a Vietnamese
//! syllable (initial consonant + vowel nucleus + optional final consonant):
//!
//! 1. `qu` and `gi` (before another vowel) are initial consonants, so their `u`/`i`
//!    never carries the tone: "quý", "quả", "giữ", "già" (but "gì", "gìn").
//! 2. A nucleus vowel with a shape mark (ă â ê ô ơ ư) takes the tone; in `ươ` it is
//!    the `ơ`: "người", "thuở", "Nguyễn", "Khuê", "khuấy".
//! 3. Otherwise, with a final consonant the tone goes on the last vowel: "hoàng",
//!    "Huỳnh", "hoạch".
//! 4. Otherwise (open syllable) on the first of two vowels and the middle of three:
//!    "hòa", "khỏe", "thủy", "mùa", "mía", "ngoài", "khuỷu".
//!
//! Only rule 4 differs from the "new" convention ("hoà", "khoẻ", "thuỷ"); input in
//! either convention, or with a misplaced mark ("ngừơi", "qúa"), comes out the same.
//! Words that are not Vietnamese syllables ("José", "Ksor") keep their marks as given.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Longest name [`validate_name`] accepts, in characters of the canonical form.
pub const MAX_NAME_CHARS: usize = 100;

// Combining marks in NFD: shape marks (part of the letter) and the five tone marks.
const CIRCUMFLEX: char = '\u{302}';
const BREVE: char = '\u{306}';
const HORN: char = '\u{31B}';
const GRAVE: char = '\u{300}'; // huyền
const ACUTE: char = '\u{301}'; // sắc
const TILDE: char = '\u{303}'; // ngã
const HOOK: char = '\u{309}'; // hỏi
const DOT: char = '\u{323}'; // nặng

/// NFC; input that is already NFC (ASCII, or by the quick check) is just copied.
pub fn nfc(s: &str) -> String {
    nfc_cow(s).into_owned()
}

/// `s.trim()`, answered at once for text that starts and ends with a visible ASCII
/// character, as nearly every field of a partner file does (`str::trim` decodes and
/// classifies a character at each end, and a batch trims several fields a row).
pub fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// [`nfc`], borrowing `s` when it is NFC already (nearly always: no allocation).
pub fn nfc_cow(s: &str) -> Cow<'_, str> {
    if is_nfc_latin(s) || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.nfc().collect())
    }
}

/// Whether `s` is made only of characters below U+0300 and of Latin Extended Additional
/// (U+1E00–U+1EFF, where the precomposed Vietnamese letters are): such text is NFC, as
/// none of these characters changes under NFC or composes with one that follows it. A
/// byte scan, several times faster than the general quick check, which looks up each
/// character's tables (a partner file's names are nearly all such text).
fn is_nfc_latin(s: &str) -> bool {
    // Most fields are ASCII, checked a word at a time.
    if s.is_ascii() {
        return true;
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        i += match b[i] {
            0x00..=0x7F => 1,
            // Two-byte sequences up to U+02FF.
            0xC2..=0xCB => 2,
            0xE1 if matches!(b.get(i + 1), Some(0xB8..=0xBB)) => 3,
            _ => return false,
        };
    }
    true
}

/// Canonical form of a person's name (see the module docs for the tone convention):
/// NFC, traditional tone placement, each word capitalised (also after `-` and `'`,
/// as in "H'Hen"), single spaces, trimmed. "Ð"/"ð" (eth, a common look-alike in old
/// data) becomes "Đ"/"đ". Idempotent; NFC and NFD input give the same result.
pub fn canonical_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    if s.is_ascii() {
        for word in s.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            let mut at_start = true;
            for c in word.chars() {
                let c = if at_start {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                };
                if c.is_ascii_alphabetic() {
                    at_start = false;
                } else if is_capital_boundary(c) {
                    at_start = true;
                }
                out.push(c);
            }
        }
        return out;
    }
    // Word by word (NFD, case mapping and NFC neither make nor take white space, and
    // nothing composes across a space), each word's form remembered: names repeat
    // their words, and the tone placement of a word is the costly part.
    CANONICAL_WORDS.with_borrow_mut(|memo| {
        for word in s.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            match memo.get(word) {
                Some(canonical) => out.push_str(canonical),
                // Only words of a name's size are kept: the memo's memory stays bounded
                // whatever a field holds.
                None if word.len() > MEMO_WORD_BYTES => out.push_str(&canonical_word_of(word)),
                None => {
                    let canonical = canonical_word_of(word);
                    out.push_str(&canonical);
                    if memo.len() >= MEMO_WORDS {
                        memo.clear();
                    }
                    memo.insert(word.into(), canonical.into_boxed_str());
                }
            }
        }
    });
    out
}

/// Words whose canonical form a thread remembers (a name's words are a few thousand
/// syllables), each at most [`MEMO_WORD_BYTES`] long: at most ~1 MiB a thread.
const MEMO_WORDS: usize = 8192;

/// The longest word remembered, in bytes (the longest Vietnamese syllable, "nghiêng",
/// is 9 in NFC; decomposed and in other scripts, words run longer).
const MEMO_WORD_BYTES: usize = 32;

thread_local! {
    static CANONICAL_WORDS: std::cell::RefCell<std::collections::HashMap<Box<str>, Box<str>>> =
        std::cell::RefCell::default();
}

/// The canonical form of one whitespace-free word of a name, not all ASCII.
fn canonical_word_of(word: &str) -> String {
    // Case first: mapping can turn a letter into a Latin one ("ı" → "I") that then
    // takes part in a syllable, and may yield precomposed letters, hence the second NFD.
    let mut cased = String::with_capacity(word.len() + 8);
    let mut at_start = true;
    word.nfd()
        .for_each(|c| push_case_mapped(c, &mut at_start, &mut cased));
    let cased: String = cased.nfd().collect();
    let mut placed = String::with_capacity(cased.len() + 4);
    canonical_word(&cased, &mut Scratch::default(), &mut placed);
    placed.nfc().collect()
}

/// Folded search key: diacritics dropped, đ→d, lower case, single spaces, trimmed.
/// Equals the fold of [`canonical_name`], since tone placement vanishes with the marks.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    fold_into(s, &mut out);
    out
}

/// [`fold`] into a reusable buffer (cleared first): no allocation once `out` is large
/// enough, and a byte loop for pure-ASCII input.
pub fn fold_into(s: &str, out: &mut String) {
    out.clear();
    let mut pending_space = false;
    if s.is_ascii() {
        for b in s.bytes() {
            if (b as char).is_whitespace() {
                pending_space = !out.is_empty();
            } else {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(b.to_ascii_lowercase() as char);
            }
        }
        return;
    }
    for c in s.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        let mut push = |f: char| {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(f);
        };
        if let Some(f) = fold_vietnamese(c) {
            push(f);
        } else {
            decompose_canonical(c, |d| {
                if !is_combining_mark(d) {
                    // Case mapping can yield a decomposable letter: strip its marks too.
                    decompose_canonical(lower1(upper1(d)), |e| {
                        if !is_combining_mark(e) {
                            push(e);
                        }
                    });
                }
            });
        }
    }
}

/// Table lookup for Vietnamese letters (and the other Latin-1 vowels): the hot path of
/// [`fold_into`]; everything else goes through Unicode decomposition.
fn fold_vietnamese(c: char) -> Option<char> {
    // U+1EA0..=U+1EF9: Ạ ạ Ả ả … Ỹ ỹ, in Unicode order.
    const EXT_ADDITIONAL: &[u8; 90] = b"aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy";
    Some(match c {
        '\u{1EA0}'..='\u{1EF9}' => EXT_ADDITIONAL[c as usize - 0x1EA0] as char,
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' | 'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'Ă' | 'ă' => {
            'a'
        }
        'È' | 'É' | 'Ê' | 'Ë' | 'è' | 'é' | 'ê' | 'ë' => 'e',
        'Ì' | 'Í' | 'Î' | 'Ï' | 'ì' | 'í' | 'î' | 'ï' | 'Ĩ' | 'ĩ' => 'i',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ơ' | 'ơ' => 'o',
        'Ù' | 'Ú' | 'Û' | 'Ü' | 'ù' | 'ú' | 'û' | 'ü' | 'Ũ' | 'ũ' | 'Ư' | 'ư' => 'u',
        'Ý' | 'ý' | 'ÿ' => 'y',
        'Đ' | 'đ' | 'Ð' | 'ð' => 'd',
        'Ç' | 'ç' => 'c',
        'Ñ' | 'ñ' => 'n',
        _ => return None,
    })
}

/// A name split into its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameParts {
    pub family: String,
    pub middle: String,
    pub given: String,
}

/// Splits a full name (expected canonical; any whitespace separates words): first word
/// family name, last word given name, the words between middle name (may be empty).
/// A one-word name is a given name only.
pub fn split_name(full: &str) -> NameParts {
    let words: Vec<&str> = full.split_whitespace().collect();
    match words.as_slice() {
        [] => NameParts {
            family: String::new(),
            middle: String::new(),
            given: String::new(),
        },
        [given] => NameParts {
            family: String::new(),
            middle: String::new(),
            given: (*given).to_owned(),
        },
        [family, middle @ .., given] => NameParts {
            family: (*family).to_owned(),
            middle: middle.join(" "),
            given: (*given).to_owned(),
        },
    }
}

/// How two names agree, with the contract's spelling in files and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameAgreement {
    /// Equal canonical forms (NFC, tone placement, case, spaces).
    Match,
    /// Equal only once diacritics are dropped ("Hoa" vs "Hòa"): possibly another name.
    Partial,
    Mismatch,
}

impl NameAgreement {
    pub fn as_str(self) -> &'static str {
        match self {
            NameAgreement::Match => "match",
            NameAgreement::Partial => "partial",
            NameAgreement::Mismatch => "mismatch",
        }
    }
}

/// Compares two names per the contract: `Match` if canonically equal, `Partial` if
/// equal once folded, else `Mismatch`.
pub fn compare_names(a: &str, b: &str) -> NameAgreement {
    // Folding is cheap and settles most mismatches before the canonical forms are built.
    if fold(a) != fold(b) {
        NameAgreement::Mismatch
    } else if canonical_name(a) == canonical_name(b) {
        NameAgreement::Match
    } else {
        NameAgreement::Partial
    }
}

/// Why a name from outside was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is too long: {len} characters, at most {MAX_NAME_CHARS} allowed")]
    TooLong { len: usize },
    #[error(
        "name contains {ch:?} at character {position}; only letters, spaces, apostrophes and hyphens are allowed"
    )]
    InvalidChar { ch: char, position: usize },
    #[error("name contains no letter")]
    NoLetter,
}

/// Checks a name coming from outside — non-empty, only letters (any script, with
/// combining marks), spaces, apostrophes (`'`, `’`) and hyphens, at most
/// [`MAX_NAME_CHARS`] characters — and returns its canonical form.
pub fn validate_name(s: &str) -> Result<String, NameError> {
    let trimmed = trim(s);
    if trimmed.is_empty() {
        return Err(NameError::Empty);
    }
    if let Some((i, ch)) = s.chars().enumerate().find(|&(_, c)| {
        !(c.is_alphabetic()
            || is_combining_mark(c)
            || c.is_whitespace()
            || matches!(c, '\'' | '’' | '-'))
    }) {
        return Err(NameError::InvalidChar {
            ch,
            position: i + 1,
        });
    }
    if !trimmed.chars().any(char::is_alphabetic) {
        return Err(NameError::NoLetter);
    }
    let canonical = canonical_name(trimmed);
    let len = canonical.chars().count();
    if len > MAX_NAME_CHARS {
        return Err(NameError::TooLong { len });
    }
    Ok(canonical)
}

/// Whether [`validate_name`] of `input` gives what it gives for `canonical`, a canonical
/// name, told without building a canonical form: `input` is `canonical` with other
/// whitespace (runs, tabs, at either end) or with some of its lower-case Vietnamese
/// letters in upper case, as partner files often spell a name ("NGUYỄN THỊ HOÀ").
/// Anything else answers false, and the caller validates `input` the long way.
pub fn is_respelling_of(input: &str, canonical: &str) -> bool {
    let mut words = input.split_whitespace();
    canonical.split(' ').all(|expected| {
        words.next().is_some_and(|word| {
            word == expected || {
                let mut chars = word.chars();
                expected.chars().all(|e| {
                    chars
                        .next()
                        .is_some_and(|c| c == e || (is_vietnamese_lower(e) && c == upper1(e)))
                }) && chars.next().is_none()
            }
        })
    }) && words.next().is_none()
}

/// The lower-case letters of the Vietnamese alphabet, precomposed with their marks, in
/// code point order: upper-cased and back, each is itself again, and each decomposes
/// (NFD) to its base letter's case pair with the same marks.
const VIETNAMESE_LOWER: [char; 93] = [
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', 'à', 'á', 'â', 'ã', 'è', 'é', 'ê', 'ì', 'í', 'ò', 'ó', 'ô',
    'õ', 'ù', 'ú', 'ý', 'ă', 'đ', 'ĩ', 'ũ', 'ơ', 'ư', 'ạ', 'ả', 'ấ', 'ầ', 'ẩ', 'ẫ', 'ậ', 'ắ', 'ằ',
    'ẳ', 'ẵ', 'ặ', 'ẹ', 'ẻ', 'ẽ', 'ế', 'ề', 'ể', 'ễ', 'ệ', 'ỉ', 'ị', 'ọ', 'ỏ', 'ố', 'ồ', 'ổ', 'ỗ',
    'ộ', 'ớ', 'ờ', 'ở', 'ỡ', 'ợ', 'ụ', 'ủ', 'ứ', 'ừ', 'ử', 'ữ', 'ự', 'ỳ', 'ỵ', 'ỷ', 'ỹ',
];

fn is_vietnamese_lower(c: char) -> bool {
    c.is_ascii_lowercase() || (!c.is_ascii() && VIETNAMESE_LOWER.binary_search(&c).is_ok())
}

/// Whether `word` is one well-formed Vietnamese syllable: valid initial, vowel nucleus
/// and final, at most one tone mark, on a vowel, and only sắc/nặng before a stop final
/// (p, t, c, ch). Any tone position within the nucleus is accepted (old or new style).
/// Used to recognise legacy encodings by the plausibility of what they decode to.
pub(crate) fn is_vietnamese_syllable(word: &str) -> bool {
    let decomposed: String = word.nfd().collect();
    let mut letters = Vec::new();
    let mut tone = None;
    let mut tone_at = 0;
    for unit in units(&decomposed) {
        let Some(l) = VnLetter::parse(unit) else {
            return false;
        };
        if let Some(t) = l.tone {
            if tone.is_some() {
                return false;
            }
            tone = Some(t);
            tone_at = letters.len();
        }
        letters.push(l.letter);
    }
    let Some(syl) = Syllable::parse(&letters) else {
        return false;
    };
    if tone.is_some() && !(syl.glide_start..syl.nucleus.end).contains(&tone_at) {
        return false;
    }
    !syl.stop_final || matches!(tone, Some(ACUTE | DOT))
}

/// Upper case when it is a single character, else unchanged (keeps "ß" from growing).
fn upper1(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Lower case when it is a single character, else unchanged.
fn lower1(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Characters after which a letter starts a new capitalised part: "H'Hen", "Ê-Đê".
fn is_capital_boundary(c: char) -> bool {
    matches!(c, '-' | '\'' | '’')
}

/// Splits an NFD string into units: a base character with the combining marks after it
/// (a leading run of marks is a unit of its own).
fn units(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        let mut chars = rest.char_indices();
        chars.next()?;
        let end = chars
            .find(|&(_, c)| !is_combining_mark(c))
            .map_or(rest.len(), |(i, _)| i);
        let (unit, tail) = rest.split_at(end);
        rest = tail;
        Some(unit)
    })
}

/// A letter of a possible Vietnamese syllable, from one NFD unit.
struct VnLetter {
    /// Lower case, with its shape mark: one of a ă â e ê i o ô ơ u ư y, đ, or a-z.
    letter: char,
    /// The shape mark (circumflex, breve, horn) as written, to re-emit it.
    shape: Option<char>,
    tone: Option<char>,
}

impl VnLetter {
    /// `None` unless the unit is a Latin letter (or đ) with at most one valid shape
    /// mark and one tone mark.
    fn parse(unit: &str) -> Option<VnLetter> {
        let mut chars = unit.chars();
        let base = match chars.next()? {
            'Đ' | 'đ' | 'Ð' | 'ð' => 'đ',
            c if c.is_ascii_alphabetic() => c.to_ascii_lowercase(),
            _ => return None,
        };
        let (mut shape, mut tone) = (None, None);
        for m in chars {
            match m {
                CIRCUMFLEX | BREVE | HORN if shape.is_none() => shape = Some(m),
                GRAVE | ACUTE | TILDE | HOOK | DOT if tone.is_none() => tone = Some(m),
                _ => return None,
            }
        }
        let letter = match (base, shape) {
            (b, None) => b,
            ('a', Some(BREVE)) => 'ă',
            ('a', Some(CIRCUMFLEX)) => 'â',
            ('e', Some(CIRCUMFLEX)) => 'ê',
            ('o', Some(CIRCUMFLEX)) => 'ô',
            ('o', Some(HORN)) => 'ơ',
            ('u', Some(HORN)) => 'ư',
            _ => return None,
        };
        Some(VnLetter {
            letter,
            shape,
            tone,
        })
    }
}

fn is_vowel(c: char) -> bool {
    matches!(
        c,
        'a' | 'ă' | 'â' | 'e' | 'ê' | 'i' | 'o' | 'ô' | 'ơ' | 'u' | 'ư' | 'y'
    )
}

/// Consonant clusters that may start a syllable ("q" only as part of "qu").
const INITIALS: &[&str] = &[
    "", "b", "c", "ch", "d", "đ", "g", "gh", "h", "k", "kh", "l", "m", "n", "ng", "ngh", "nh", "p",
    "ph", "q", "r", "s", "t", "th", "tr", "v", "x",
];
const FINALS: &[&str] = &["", "c", "ch", "m", "n", "ng", "nh", "p", "t"];
/// Nuclei ending in a semivowel or an open diphthong: never followed by a consonant.
const OPEN_NUCLEI: &[&str] = &[
    "ai", "ao", "au", "ay", "âu", "ây", "eo", "êu", "ia", "iu", "oi", "ôi", "ơi", "ua", "ui", "ưa",
    "ưi", "ưu", "iêu", "oai", "oao", "oay", "oeo", "uây", "uôi", "ươi", "ươu", "yêu", "uya", "uyu",
];
/// Nuclei that need a final consonant ("ăn", "tiền", "xoong", "xuân").
const CLOSED_NUCLEI: &[&str] = &["ă", "â", "iê", "uô", "ươ", "yê", "uyê", "oă", "uâ", "oo"];
const FREE_NUCLEI: &[&str] = &[
    "a", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "oa", "oe", "uê", "uy", "uơ",
];

fn eq(word: &str, letters: &[char]) -> bool {
    word.chars().eq(letters.iter().copied())
}

/// Structure of a syllable, as indices into its letters.
struct Syllable {
    /// Start of the `u` of "qu" / `i` of "gi" if present, else of the nucleus: where a
    /// (misplaced) tone mark may sit.
    glide_start: usize,
    nucleus: std::ops::Range<usize>,
    stop_final: bool,
}

impl Syllable {
    fn parse(letters: &[char]) -> Option<Syllable> {
        let first_vowel = letters.iter().position(|&c| is_vowel(c))?;
        let initial = &letters[..first_vowel];
        if !INITIALS.iter().any(|i| eq(i, initial)) {
            return None;
        }
        let followed_by_vowel = letters.get(first_vowel + 1).is_some_and(|&c| is_vowel(c));
        let mut start = first_vowel;
        match (initial, letters[first_vowel]) {
            (['q'], 'u') if followed_by_vowel => start += 1,
            (['q'], _) => return None,
            (['g'], 'i') if followed_by_vowel => start += 1,
            _ => {}
        }
        let end = letters[start..]
            .iter()
            .position(|&c| !is_vowel(c))
            .map_or(letters.len(), |i| start + i);
        let (nucleus, fin) = (&letters[start..end], &letters[end..]);
        if !FINALS.iter().any(|f| eq(f, fin)) {
            return None;
        }
        let allowed = if fin.is_empty() {
            OPEN_NUCLEI
                .iter()
                .chain(FREE_NUCLEI)
                .any(|n| eq(n, nucleus))
        } else {
            CLOSED_NUCLEI
                .iter()
                .chain(FREE_NUCLEI)
                .any(|n| eq(n, nucleus))
        };
        allowed.then_some(Syllable {
            glide_start: first_vowel,
            nucleus: start..end,
            stop_final: matches!(fin, ['c'] | ['c', 'h'] | ['p'] | ['t']),
        })
    }

    /// Index (into the letters) of the vowel that carries the tone, traditional style.
    fn tone_position(&self, letters: &[char]) -> usize {
        let nucleus = &letters[self.nucleus.clone()];
        let offset = if let Some(i) = nucleus
            .iter()
            .rposition(|c| matches!(c, 'ă' | 'â' | 'ê' | 'ô' | 'ơ' | 'ư'))
        {
            i
        } else if self.nucleus.end < letters.len() {
            nucleus.len() - 1
        } else if nucleus.len() == 3 {
            1
        } else {
            0
        };
        self.nucleus.start + offset
    }
}

/// Scratch buffers reused across the words of a name.
#[derive(Default)]
struct Scratch<'a> {
    units: Vec<&'a str>,
    parsed: Vec<VnLetter>,
    letters: Vec<char>,
}

/// Appends one whitespace-free, already case-mapped NFD word with each syllable's
/// tone mark moved to its canonical vowel (recomposition is left to the caller).
fn canonical_word<'a>(word: &'a str, scratch: &mut Scratch<'a>, out: &mut String) {
    let Scratch {
        units: word_units,
        parsed,
        letters,
    } = scratch;
    word_units.clear();
    word_units.extend(units(word));
    let mut i = 0;
    while i < word_units.len() {
        // A run of Latin letters (with their marks) is a candidate syllable.
        parsed.clear();
        parsed.extend(word_units[i..].iter().map_while(|u| VnLetter::parse(u)));
        let run = &word_units[i..i + parsed.len().max(1)];
        i += run.len();
        letters.clear();
        letters.extend(parsed.iter().map(|l| l.letter));
        let mut tones = parsed
            .iter()
            .enumerate()
            .filter_map(|(k, l)| Some((k, l.tone?)));
        let (tone, extra_tone) = (tones.next(), tones.next());
        match (Syllable::parse(letters), tone, extra_tone) {
            // Only a mark on a vowel is a (possibly misplaced) tone: "Ñam" stays.
            (Some(syl), Some((at, tone)), None)
                if (syl.glide_start..syl.nucleus.end).contains(&at) =>
            {
                let target = syl.tone_position(letters);
                for (k, (unit, l)) in run.iter().zip(parsed.iter()).enumerate() {
                    out.extend(unit.chars().next());
                    out.extend(l.shape);
                    if k == target {
                        out.push(tone);
                    }
                }
            }
            _ => run.iter().for_each(|u| out.push_str(u)),
        }
    }
}

/// Upper case at the start of a word part, lower case elsewhere (tracking part
/// starts); eth becomes đ.
fn push_case_mapped(c: char, at_start: &mut bool, out: &mut String) {
    let c = match c {
        'Ð' => 'Đ',
        'ð' => 'đ',
        c => c,
    };
    // A combining mark may be "alphabetic" (U+0345 upper-cases to a Greek iota), but it
    // belongs to the letter before it: mapped, it would become a letter of its own.
    if c.is_alphabetic() && !is_combining_mark(c) {
        out.push(if *at_start { upper1(c) } else { lower1(c) });
        *at_start = false;
    } else {
        out.push(c);
        if is_capital_boundary(c) {
            *at_start = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nfd(s: &str) -> String {
        s.nfd().collect()
    }

    #[test]
    fn tone_placement_table() {
        let cases = [
            // Old/new convention pairs: oa, oe, uy in open syllables.
            ("hoà", "Hòa"),
            ("hòa", "Hòa"),
            ("HOÀ", "Hòa"),
            ("hoạ", "Họa"),
            ("hoả", "Hỏa"),
            ("thuỷ", "Thủy"),
            ("thủy", "Thủy"),
            ("Thuý", "Thúy"),
            ("tuý", "Túy"),
            ("tuỳ", "Tùy"),
            ("luỹ", "Lũy"),
            ("khoẻ", "Khỏe"),
            ("khỏe", "Khỏe"),
            ("xoè", "Xòe"),
            ("loá", "Lóa"),
            // qu / gi are initials: the tone goes on the following vowel.
            ("quý", "Quý"),
            ("qúy", "Quý"),
            ("quỳnh", "Quỳnh"),
            ("quả", "Quả"),
            ("qủa", "Quả"),
            ("quốc", "Quốc"),
            ("quyền", "Quyền"),
            ("giữ", "Giữ"),
            ("giữa", "Giữa"),
            ("gìa", "Già"),
            ("gì", "Gì"),
            ("gìn", "Gìn"),
            ("giường", "Giường"),
            ("giỏi", "Giỏi"),
            // Shape-marked vowels take the tone; ươ → ơ.
            ("người", "Người"),
            ("ngừơi", "Người"),
            ("thuở", "Thuở"),
            ("thủơ", "Thuở"),
            ("Nguyễn", "Nguyễn"),
            ("Nguỹên", "Nguyễn"),
            ("Khuê", "Khuê"),
            ("Huế", "Huế"),
            ("khuấy", "Khuấy"),
            ("tuổi", "Tuổi"),
            ("rượu", "Rượu"),
            ("yêu", "Yêu"),
            ("mưa", "Mưa"),
            ("cửa", "Cửa"),
            ("Trường", "Trường"),
            ("Đặng", "Đặng"),
            // Final consonant: last vowel of the nucleus.
            ("Huỳnh", "Huỳnh"),
            ("Hùynh", "Huỳnh"),
            ("hoàng", "Hoàng"),
            ("hòang", "Hoàng"),
            ("hoạch", "Hoạch"),
            ("huýt", "Huýt"),
            ("toán", "Toán"),
            ("xoắn", "Xoắn"),
            // Open syllables: first of two vowels, middle of three.
            ("mùa", "Mùa"),
            ("mía", "Mía"),
            ("máy", "Máy"),
            ("túi", "Túi"),
            ("ngoài", "Ngoài"),
            ("ngòai", "Ngoài"),
            ("xoáy", "Xoáy"),
            ("khuỷu", "Khuỷu"),
            ("ngoẹo", "Ngoẹo"),
            ("Ý", "Ý"),
            // Not Vietnamese syllables: marks left where they are.
            ("José", "José"),
            ("Chloé", "Chloé"),
            ("André", "André"),
            ("ñam", "Ñam"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical_name(input), want, "input {input:?}");
            assert_eq!(canonical_name(&nfd(input)), want, "NFD input {input:?}");
        }
    }

    #[test]
    fn canonical_full_names() {
        assert_eq!(
            canonical_name("  nguyễn   THỊ  minh\tkhai "),
            "Nguyễn Thị Minh Khai"
        );
        assert_eq!(canonical_name("Lê Thị Thuỷ"), canonical_name("LÊ THỊ THỦY"));
        assert_eq!(canonical_name("Ðặng Văn Lâm"), "Đặng Văn Lâm");
        assert_eq!(canonical_name("ksor h'hen"), "Ksor H'Hen");
        assert_eq!(canonical_name("nguyen van a"), "Nguyen Van A");
        assert_eq!(canonical_name(""), "");
        assert_eq!(canonical_name(" \t "), "");
        // Misordered marks (tone before circumflex) still compose.
        assert_eq!(canonical_name("Nguye\u{303}\u{302}n"), "Nguyễn");
    }

    #[test]
    fn fold_examples() {
        assert_eq!(fold("Nguyễn Thị Minh Khai"), "nguyen thi minh khai");
        assert_eq!(fold("  ĐẶNG   văn\tLâm "), "dang van lam");
        assert_eq!(fold("Ðỗ"), "do");
        assert_eq!(fold(&nfd("Trần Hưng Đạo")), "tran hung dao");
        assert_eq!(fold("NGUYEN  Van A"), "nguyen van a");
        let mut buf = String::from("stale");
        fold_into("Hòa", &mut buf);
        assert_eq!(buf, "hoa");
    }

    #[test]
    fn fold_table_agrees_with_decomposition() {
        for c in ('\u{C0}'..='\u{24F}').chain('\u{1E00}'..='\u{1EFF}') {
            if let Some(fast) = fold_vietnamese(c) {
                if matches!(c, 'Đ' | 'đ' | 'Ð' | 'ð') {
                    continue;
                }
                let mut slow = String::new();
                decompose_canonical(c, |d| {
                    if !is_combining_mark(d) {
                        slow.push(lower1(upper1(d)));
                    }
                });
                assert_eq!(slow, fast.to_string(), "{c:?}");
            }
        }
    }

    #[test]
    fn split_names() {
        let p = split_name("Nguyễn Thị Minh Khai");
        assert_eq!(
            (p.family.as_str(), p.middle.as_str(), p.given.as_str()),
            ("Nguyễn", "Thị Minh", "Khai")
        );
        let p = split_name("Lê Lợi");
        assert_eq!(
            (p.family.as_str(), p.middle.as_str(), p.given.as_str()),
            ("Lê", "", "Lợi")
        );
        let p = split_name("Hùng");
        assert_eq!(
            (p.family.as_str(), p.middle.as_str(), p.given.as_str()),
            ("", "", "Hùng")
        );
        assert_eq!(
            split_name("  "),
            NameParts {
                family: String::new(),
                middle: String::new(),
                given: String::new()
            }
        );
    }

    #[test]
    fn compare() {
        use NameAgreement::*;
        assert_eq!(compare_names("Nguyễn Thị Hoà", "NGUYỄN THỊ HÒA"), Match);
        assert_eq!(compare_names(&nfd("Lê Thuỷ"), "lê   thủy"), Match);
        assert_eq!(compare_names("Hoa", "Hòa"), Partial);
        assert_eq!(compare_names("Dang Van Lam", "Đặng Văn Lâm"), Partial);
        assert_eq!(compare_names("Nguyễn Văn A", "Nguyễn Văn B"), Mismatch);
        assert_eq!(Partial.as_str(), "partial");
    }

    #[test]
    fn validation() {
        assert_eq!(
            validate_name("  nguyễn thị hoà "),
            Ok("Nguyễn Thị Hòa".to_owned())
        );
        assert_eq!(validate_name("H'Hen Niê"), Ok("H'Hen Niê".to_owned()));
        assert_eq!(
            validate_name(&nfd("Trần Thị Thuỷ")),
            Ok("Trần Thị Thủy".to_owned())
        );
        assert_eq!(validate_name("   "), Err(NameError::Empty));
        assert_eq!(
            validate_name(" Nguyễn V4n"),
            Err(NameError::InvalidChar {
                ch: '4',
                position: 10
            })
        );
        assert_eq!(validate_name("-'-"), Err(NameError::NoLetter));
        let long = "A".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            validate_name(&long),
            Err(NameError::TooLong {
                len: MAX_NAME_CHARS + 1
            })
        );
        assert!(validate_name(&"A".repeat(MAX_NAME_CHARS)).is_ok());
        let msg = validate_name("Lê; drop").unwrap_err().to_string();
        assert!(msg.contains("';'") && msg.contains("character 3"), "{msg}");
    }

    #[test]
    fn syllable_recognition() {
        for w in [
            "Nguyễn", "thị", "hoà", "hòa", "người", "quốc", "giữa", "Đức", "khuỷu", "ăn", "ĐẶNG",
        ] {
            assert!(is_vietnamese_syllable(w), "{w}");
        }
        for w in [
            "café",
            "élève",
            "Nguyeón",
            "NguyƠn",
            "Hoaứ",
            "đoc",
            "ăi",
            "tiê",
            "dộj",
            "bientụt",
            "Ổx",
        ] {
            assert!(!is_vietnamese_syllable(w), "{w}");
        }
    }

    /// Strings made of Vietnamese letters in both cases and forms, ASCII, punctuation,
    /// odd spacing and stray combining marks.
    fn name_like() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y", "đ", "Đ", "Ð", "ð", "q",
            "g", "n", "h", "t", "c", "k", "A", "Ư", "Ơ", "Y", "U", "I", "O", "\u{300}", "\u{301}",
            "\u{303}", "\u{309}", "\u{323}", "\u{302}", "\u{306}", "\u{31B}", " ", "  ", "\t", "-",
            "'", "’", "ß", "İ", "ı", "Σ", "ς", "é", "ñ", "Ǆ", "ǅ", "ﬁ", "ẞ", "K", "Å",
        ]);
        prop::collection::vec(pieces, 0..24).prop_map(|v| v.concat())
    }

    fn check_properties(s: &str) -> Result<(), TestCaseError> {
        let c = canonical_name(s);
        prop_assert_eq!(canonical_name(&c), c.clone(), "canonical not idempotent");
        prop_assert_eq!(canonical_name(&nfd(s)), c.clone(), "NFD input differs");
        prop_assert_eq!(canonical_name(&nfc(s)), c.clone(), "NFC input differs");
        let f = fold(s);
        prop_assert_eq!(fold(&f), f.clone(), "fold not idempotent");
        prop_assert_eq!(fold(&c), f.clone(), "fold(canonical) != fold");
        prop_assert_eq!(fold(&nfd(s)), f.clone(), "fold of NFD differs");
        prop_assert_eq!(compare_names(s, &c), NameAgreement::Match);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn properties_name_like(s in name_like()) {
            check_properties(&s)?;
        }

        #[test]
        fn properties_any_string(s in any::<String>()) {
            check_properties(&s)?;
        }

        /// Word by word and remembered, the canonical form is what the whole name gives
        /// (the first time a word is seen and again from the memo).
        #[test]
        fn canonical_name_by_words_is_canonical_name_of_the_whole(
            s in prop_oneof![name_like(), any::<String>(), "[ \t\u{a0}\u{2000}\u{2001}\u{3000}aăđươíìỉĩịạ\u{300}-\u{309}\u{323}\u{345}'-]{0,12}"],
        ) {
            let whole = canonical_name_whole(&s);
            prop_assert_eq!(canonical_name(&s), whole.clone());
            prop_assert_eq!(canonical_name(&s), whole);
        }
    }

    /// Words longer than a name's are canonicalized without being remembered: a field
    /// of any length leaves the memo's memory bounded.
    #[test]
    fn long_words_are_not_remembered() {
        let long = "Nguyễn".repeat(8);
        let name = format!("Lê {long}");
        assert_eq!(canonical_name(&name), canonical_name_whole(&name));
        CANONICAL_WORDS.with_borrow(|memo| {
            assert!(memo.contains_key("Lê"));
            assert!(!memo.contains_key(long.as_str()));
        });
    }

    /// The whole-name algorithm [`canonical_name`] gives by words: NFD of the name, case
    /// mapped word by word, NFD again, tones placed word by word, NFC of the result.
    fn canonical_name_whole(s: &str) -> String {
        if s.is_ascii() {
            return canonical_name(s);
        }
        let mut cased = String::new();
        for word in s.nfd().collect::<String>().split_whitespace() {
            if !cased.is_empty() {
                cased.push(' ');
            }
            let mut at_start = true;
            word.chars()
                .for_each(|c| push_case_mapped(c, &mut at_start, &mut cased));
        }
        let cased: String = cased.nfd().collect();
        let (mut out, mut scratch) = (String::new(), Scratch::default());
        for word in cased.split(' ') {
            if !out.is_empty() {
                out.push(' ');
            }
            canonical_word(word, &mut scratch, &mut out);
        }
        out.nfc().collect()
    }

    /// The byte scan's ranges are NFC on their own and in any sequence: every character,
    /// and random strings of them (with other characters too, where the scan must say no
    /// or be right).
    #[test]
    fn the_latin_scan_answers_nfc_only_for_nfc_text() {
        let latin = (0..0x300u32)
            .chain(0x1E00..0x1F00)
            .filter_map(char::from_u32);
        for c in latin {
            let s = c.to_string();
            assert!(is_nfc_latin(&s), "{c:?}");
            assert_eq!(s.nfc().collect::<String>(), s, "{c:?}");
        }
        for s in [
            "\u{300}", "a\u{301}", "Ω", "\u{2126}", "\u{1F00}", "\u{1DFF}",
        ] {
            assert!(!is_nfc_latin(s), "{s:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn nfc_of_latin_text_is_the_text(
            s in "[\\u{0}-\\u{2FF}\\u{1E00}-\\u{1EFF}\\u{300}-\\u{36F}\\u{1F00}-\\u{1F20}]{0,12}",
        ) {
            if is_nfc_latin(&s) {
                prop_assert_eq!(s.nfc().collect::<String>(), s.clone());
            }
            prop_assert_eq!(nfc(&s), s.nfc().collect::<String>());
        }

        /// The shortcut trims exactly as `str::trim`: ASCII and Unicode white space
        /// (U+0085, U+00A0, U+2000–U+200A, U+3000, ...) at either end, or none.
        #[test]
        fn trim_is_str_trim(
            s in "[ \t\n\u{b}\u{c}\r\u{85}\u{a0}\u{2000}-\u{200b}\u{3000}a-z0-9~!đà]{0,8}",
        ) {
            prop_assert_eq!(trim(&s), s.trim());
        }
    }

    /// Each lower-case Vietnamese letter and its upper case are a case pair whose
    /// decompositions differ in the base letter only, and a name validates the same
    /// with the letter in either case, wherever it stands in a word.
    #[test]
    fn vietnamese_letters_are_case_pairs_that_validate_alike() {
        assert!(VIETNAMESE_LOWER.windows(2).all(|w| w[0] < w[1]), "sorted");
        for l in VIETNAMESE_LOWER {
            let u = upper1(l);
            assert!(u != l && lower1(u) == l, "{l}");
            let (dl, du) = (nfd(&l.to_string()), nfd(&u.to_string()));
            assert_eq!(
                dl.chars().skip(1).collect::<String>(),
                du.chars().skip(1).collect::<String>(),
                "{l}: marks"
            );
            for (lower, upper) in [
                (format!("Nguy{l}n"), format!("Nguy{u}n")),
                (format!("H'{l}a"), format!("H'{u}a")),
                (format!("Bả {l}"), format!("Bả {u}")),
            ] {
                let canonical = validate_name(&lower).unwrap();
                if is_respelling_of(&upper, &canonical) {
                    assert_eq!(validate_name(&upper), Ok(canonical), "{upper}");
                }
            }
        }
        let hoa = canonical_name("Nguyễn Thị Hoà");
        assert!(is_respelling_of(
            &format!(" {}\t", hoa.to_uppercase()),
            &hoa
        ));
        assert!(!is_respelling_of("NGUYEN THI HOA", &hoa));
        assert!(!is_respelling_of("Nguyễn Thị", &hoa));
        assert!(!is_respelling_of(&format!("{hoa} Hoa"), &hoa));
        // The tone on the other vowel: the long way decides.
        let other_tone = if hoa.ends_with("Hòa") {
            "NGUYỄN THỊ HOÀ"
        } else {
            "NGUYỄN THỊ HÒA"
        };
        assert!(!is_respelling_of(other_tone, &hoa));
        assert_eq!(validate_name(other_tone), Ok(hoa.clone()));
        assert!(!is_respelling_of("  ", ""));
        // The Kelvin sign lower-cases to "k" but is not the upper case of "k".
        assert!(!is_respelling_of("\u{212A}im", "Kim"));
        assert!(!is_respelling_of("KIM", "Kim") || validate_name("KIM") == Ok("Kim".into()));
    }

    /// Names as the registry holds them: words of Vietnamese names, in either case.
    fn registry_like() -> impl Strategy<Value = String> {
        let words = prop::sample::select(vec![
            "Nguyễn", "thị", "HOÀ", "Văn", "đặng", "Trần", "lê", "Phạm", "huỳnh", "Quỳnh", "ngọc",
            "Anh", "tuấn", "Khuê", "Thuỷ", "Ưng", "Ỷ", "H'Hen", "Niê", "y-Moan", "Đức",
        ]);
        prop::collection::vec(words, 1..6).prop_map(|w| w.join(" "))
    }

    /// `canonical` with some of its lower-case Vietnamese letters in upper case (`upper`,
    /// a coin per character) and its spaces replaced by other whitespace (`spaces`).
    fn respelled(canonical: &str, upper: &[bool], spaces: &[&str]) -> String {
        let mut out = spaces[0].to_owned();
        for (i, c) in canonical.chars().enumerate() {
            match c {
                ' ' => out.push_str(spaces[1 + i % (spaces.len() - 1)]),
                c if upper[i % upper.len()] && is_vietnamese_lower(c) => out.push(upper1(c)),
                c => out.push(c),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The shortcut is exact: a name it accepts validates to the canonical name it
        /// was compared with, and it accepts every respelling of a valid canonical name.
        #[test]
        fn a_respelling_validates_to_the_name_it_respells(
            s in prop_oneof![name_like(), registry_like()],
            other in name_like(),
            upper in prop::collection::vec(any::<bool>(), 1..8),
            spaces in prop::collection::vec(
                prop::sample::select(vec![" ", "  ", "\t", "\u{a0}", " \n ", ""]), 2..5),
        ) {
            let canonical = canonical_name(&s);
            // (Too many random strings without a valid name would fail the test.)
            prop_assume!(validate_name(&canonical).as_ref() == Ok(&canonical));
            let spaces: Vec<&str> = std::iter::once(spaces[0])
                .chain(spaces[1..].iter().map(|s| if s.is_empty() { " " } else { s }))
                .collect();
            let input = respelled(&canonical, &upper, &spaces);
            prop_assert!(is_respelling_of(&input, &canonical), "{:?}", input);
            prop_assert_eq!(validate_name(&input), Ok(canonical.clone()));
            for input in [other.clone(), other.to_uppercase(), format!(" {other}")] {
                if is_respelling_of(&input, &canonical) {
                    prop_assert_eq!(validate_name(&input), validate_name(&canonical));
                }
            }
        }
    }

    /// Inputs that random strings once found breaking the properties.
    #[test]
    fn properties_of_found_inputs() {
        // U+0345 is an alphabetic combining mark whose upper case is a Greek iota.
        for s in ["\u{345}", "a\u{345}", "\u{345}a", "Ê \u{345}Đê"] {
            check_properties(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        }
    }
}
