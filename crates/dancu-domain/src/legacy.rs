//! Legacy 8-bit Vietnamese encodings on import: TCVN3 (ABC, ".VnTime" fonts) and
//! VNI-Windows ("VNI-Times" fonts), still found in old spreadsheets and CSV exports.
//!
//! Tables and where they come from:
//! - TCVN3: TCVN 5712:1993 as implemented by glibc's `TCVN5712-1` converter (checked
//!   byte by byte with `iconv -f TCVN5712-1`) and by X11/libiconv `tcvn.h`; its
//!   lowercase half (0xA1..=0xFF, the VN3 level used by ABC fonts) agrees with Unikey's
//!   `ukengine/tables/singlebyte/tcvn3.cpp`. We decode the full standard (VN1), which
//!   also gives the capitals missing from VN3 (0x80..=0x9F and twelve C0 positions) a
//!   code; files typed with the ABC "H" fonts (".VnTimeH") store capitals with the
//!   lowercase codes and therefore decode as lowercase — names are recapitalised by
//!   [`crate::text::canonical_name`].
//! - VNI-Windows: Unikey's `ukengine/tables/doublebytes/vni_win.cpp`, cross-checked
//!   with xvnkb's `vni.h` and the npm package `vietnamese-conversion` (`charsets.ts`):
//!   a base letter followed by one Windows-1252 byte for the shape and tone marks, plus
//!   single bytes for đ, ơ, ư, the accented i's and ỵ. Other bytes are Windows-1252.

use std::borrow::Cow;
use unicode_normalization::UnicodeNormalization;

use crate::text::{is_vietnamese_syllable, nfc, nfc_cow};

/// Encoding a file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceEncoding {
    Utf8,
    /// UTF-8 with a leading byte order mark (as Excel writes it).
    Utf8Bom,
    Tcvn3,
    VniWindows,
}

impl SourceEncoding {
    /// How reports name the encoding a file was read in.
    pub fn label(self) -> &'static str {
        match self {
            SourceEncoding::Utf8 => "utf-8",
            SourceEncoding::Utf8Bom => "utf-8 (BOM)",
            SourceEncoding::Tcvn3 => "TCVN3 (converted)",
            SourceEncoding::VniWindows => "VNI-Windows (converted)",
        }
    }
}

/// A whole file as NFC text, with the encoding it was read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: SourceEncoding,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LegacyError {
    #[error(
        "file is UTF-16 (it starts with a UTF-16 byte order mark), not UTF-8: invalid UTF-8 at byte offset {offset}; save it as UTF-8 (CSV UTF-8)"
    )]
    Utf16 { offset: usize },
    #[error(
        "file contains a NUL byte at byte offset {offset}: it is binary or UTF-16, not UTF-8 text; save it as UTF-8 (CSV UTF-8)"
    )]
    NulByte { offset: usize },
    #[error(
        "file is not UTF-8 (invalid byte sequence at byte offset {offset}) and not a recognised Vietnamese legacy encoding (TCVN3/ABC or VNI-Windows); save it as UTF-8 (CSV UTF-8)"
    )]
    Unrecognised { offset: usize },
}

/// Decodes a whole file. Valid UTF-8 (BOM stripped) is returned as NFC; otherwise the
/// bytes are decoded as TCVN3 and as VNI-Windows and the one whose words are more
/// often well-formed Vietnamese syllables wins, if it is plausible at all (no control
/// characters, at most one malformed word in six). On a tie TCVN3, the national
/// standard and the commoner in government offices, wins.
pub fn decode_text(bytes: &[u8]) -> Result<Decoded, LegacyError> {
    let (encoding, text) = decode_unnormalized(bytes)?;
    // A decoded legacy text is kept when NFC already, not copied.
    let text = match nfc_cow(&text) {
        Cow::Borrowed(_) => text.into_owned(),
        Cow::Owned(normalized) => normalized,
    };
    Ok(Decoded { text, encoding })
}

/// The encoding [`decode_text`] reads `bytes` in, without normalizing the text: what a
/// streaming reader needs of a sample before it decodes the file piece by piece.
pub fn detect_encoding(bytes: &[u8]) -> Result<SourceEncoding, LegacyError> {
    decode_unnormalized(bytes).map(|(encoding, _)| encoding)
}

/// [`decode_text`] before NFC: borrowed when the file is UTF-8.
fn decode_unnormalized(bytes: &[u8]) -> Result<(SourceEncoding, Cow<'_, str>), LegacyError> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let (body, bom_len) = match bytes.strip_prefix(BOM) {
        Some(rest) => (rest, BOM.len()),
        None => (bytes, 0),
    };
    let invalid_at = match std::str::from_utf8(body) {
        Ok(text) => {
            if let Some(i) = body.iter().position(|&b| b == 0) {
                return Err(LegacyError::NulByte {
                    offset: bom_len + i,
                });
            }
            let encoding = if bom_len > 0 {
                SourceEncoding::Utf8Bom
            } else {
                SourceEncoding::Utf8
            };
            return Ok((encoding, Cow::Borrowed(text)));
        }
        Err(e) => bom_len + e.valid_up_to(),
    };
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(LegacyError::Utf16 { offset: invalid_at });
    }
    if bom_len > 0 {
        // A UTF-8 BOM declares UTF-8: a broken file, not a legacy one.
        return Err(LegacyError::Unrecognised { offset: invalid_at });
    }
    let tcvn3 = decode_tcvn3(bytes);
    let vni = decode_vni(bytes);
    let candidates = [
        (plausibility(&tcvn3, 0), tcvn3, SourceEncoding::Tcvn3),
        (
            plausibility(&vni.0, vni.1),
            vni.0,
            SourceEncoding::VniWindows,
        ),
    ];
    candidates
        .into_iter()
        .filter_map(|(score, text, encoding)| score.map(|s| (s, text, encoding)))
        .reduce(|best, next| if next.0 > best.0 { next } else { best })
        .map(|(_, text, encoding)| (encoding, Cow::Owned(text)))
        .ok_or(LegacyError::Unrecognised { offset: invalid_at })
}

/// Decodes one piece of a file (a field, a line) whose encoding [`decode_text`] found on
/// a sample of it, as NFC text; `None` if the piece is not valid in that encoding (only
/// UTF-8 can be invalid). Streaming readers detect once, then decode piece by piece.
pub fn decode_as(bytes: &[u8], encoding: SourceEncoding) -> Option<Cow<'_, str>> {
    match encoding {
        // Borrowed when the bytes are NFC UTF-8 already: no allocation per field.
        SourceEncoding::Utf8 | SourceEncoding::Utf8Bom => {
            std::str::from_utf8(bytes).ok().map(nfc_cow)
        }
        SourceEncoding::Tcvn3 => Some(Cow::Owned(nfc(&decode_tcvn3(bytes)))),
        SourceEncoding::VniWindows => Some(Cow::Owned(nfc(&decode_vni(bytes).0))),
    }
}

/// Words scored before deciding: enough to be sure, bounded on huge files.
const MAX_SCORED_WORDS: usize = 20_000;

/// Net count of well-formed Vietnamese words, or `None` if the decoding is not
/// plausible. Only words with a non-ASCII letter count (ASCII reads the same in both
/// encodings); `stray` counts letters the decoder could not place.
fn plausibility(text: &str, stray: usize) -> Option<i64> {
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return None;
    }
    let (mut good, mut bad) = (0i64, stray as i64);
    let words = text
        .split(|c: char| !(c.is_alphabetic() || unicode_normalization::char::is_combining_mark(c)))
        .filter(|w| !w.is_ascii())
        .take(MAX_SCORED_WORDS);
    for word in words {
        if is_vietnamese_syllable(word) {
            good += 1;
        } else {
            bad += 1;
        }
    }
    (good > 0 && bad * 5 <= good).then_some(good - bad)
}

/// TCVN 5712:1993 bytes 0x80..=0xFF (0xB0..=0xB4 are combining tone marks).
const TCVN3_HIGH: [char; 128] = [
    'À', 'Ả', 'Ã', 'Á', 'Ạ', 'Ặ', 'Ậ', 'È', 'Ẻ', 'Ẽ', 'É', 'Ẹ', 'Ệ', 'Ì', 'Ỉ', 'Ĩ', // 0x80
    'Í', 'Ị', 'Ò', 'Ỏ', 'Õ', 'Ó', 'Ọ', 'Ộ', 'Ờ', 'Ở', 'Ỡ', 'Ớ', 'Ợ', 'Ù', 'Ủ', 'Ũ', // 0x90
    '\u{A0}', 'Ă', 'Â', 'Ê', 'Ô', 'Ơ', 'Ư', 'Đ', 'ă', 'â', 'ê', 'ô', 'ơ', 'ư', 'đ',
    'Ằ', // 0xA0
    '\u{300}', '\u{309}', '\u{303}', '\u{301}', '\u{323}', 'à', 'ả', 'ã', 'á', 'ạ', 'Ẳ', 'ằ', 'ẳ',
    'ẵ', 'ắ', 'Ẵ', // 0xB0
    'Ắ', 'Ầ', 'Ẩ', 'Ẫ', 'Ấ', 'Ề', 'ặ', 'ầ', 'ẩ', 'ẫ', 'ấ', 'ậ', 'è', 'Ể', 'ẻ', 'ẽ', // 0xC0
    'é', 'ẹ', 'ề', 'ể', 'ễ', 'ế', 'ệ', 'ì', 'ỉ', 'Ễ', 'Ế', 'Ồ', 'ĩ', 'í', 'ị', 'ò', // 0xD0
    'Ổ', 'ỏ', 'õ', 'ó', 'ọ', 'ồ', 'ổ', 'ỗ', 'ố', 'ộ', 'ờ', 'ở', 'ỡ', 'ớ', 'ợ', 'ù', // 0xE0
    'Ỗ', 'ủ', 'ũ', 'ú', 'ụ', 'ừ', 'ử', 'ữ', 'ứ', 'ự', 'ỳ', 'ỷ', 'ỹ', 'ý', 'ỵ', 'Ố', // 0xF0
];

/// TCVN 5712:1993 capitals placed on C0 control positions.
const TCVN3_C0: [(u8, char); 12] = [
    (0x01, 'Ú'),
    (0x02, 'Ụ'),
    (0x04, 'Ừ'),
    (0x05, 'Ử'),
    (0x06, 'Ữ'),
    (0x11, 'Ứ'),
    (0x12, 'Ự'),
    (0x13, 'Ỳ'),
    (0x14, 'Ỷ'),
    (0x15, 'Ỹ'),
    (0x16, 'Ý'),
    (0x17, 'Ỵ'),
];

fn tcvn3_char(b: u8) -> char {
    if b >= 0x80 {
        TCVN3_HIGH[usize::from(b - 0x80)]
    } else {
        TCVN3_C0
            .iter()
            .find(|&&(code, _)| code == b)
            .map_or(char::from(b), |&(_, c)| c)
    }
}

/// Not yet NFC: the combining bytes 0xB0..=0xB4 stay separate.
fn decode_tcvn3(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| tcvn3_char(b)).collect()
}

/// Encodes NFC text as TCVN3; `None` if a character has no code (or would read back as
/// another one, like the C0 controls TCVN3 uses for capitals).
pub fn encode_tcvn3(s: &str) -> Option<Vec<u8>> {
    nfc(s)
        .chars()
        .map(|c| match u8::try_from(c) {
            Ok(b) if b < 0x80 => (tcvn3_char(b) == c).then_some(b),
            _ => TCVN3_HIGH
                .iter()
                .position(|&t| t == c)
                .and_then(|i| u8::try_from(0x80 + i).ok())
                .or_else(|| TCVN3_C0.iter().find(|&&(_, t)| t == c).map(|&(b, _)| b)),
        })
        .collect()
}

// VNI-Windows mark bytes (capital-letter forms; lowercase letters use byte + 0x20),
// indexed by tone: none, sắc, huyền, hỏi, ngã, nặng.
const TONES: [Option<char>; 6] = [
    None,
    Some('\u{301}'),
    Some('\u{300}'),
    Some('\u{309}'),
    Some('\u{303}'),
    Some('\u{323}'),
];
const VNI_PLAIN: [Option<u8>; 6] = [
    None,
    Some(0xD9),
    Some(0xD8),
    Some(0xDB),
    Some(0xD5),
    Some(0xCF),
];
const VNI_CIRCUMFLEX: [Option<u8>; 6] = [
    Some(0xC2),
    Some(0xC1),
    Some(0xC0),
    Some(0xC5),
    Some(0xC3),
    Some(0xC4),
];
const VNI_BREVE: [Option<u8>; 6] = [
    Some(0xCA),
    Some(0xC9),
    Some(0xC8),
    Some(0xDA),
    Some(0xDC),
    Some(0xCB),
];
/// Accented capital I's, by tone (sắc, huyền, hỏi, ngã, nặng): single bytes.
const VNI_I: [u8; 5] = [0xCD, 0xCC, 0xC6, 0xD3, 0xD2];
const VNI_Y_DOT: u8 = 0xCE;
const VNI_D_STROKE: u8 = 0xD1;
const VNI_O_HORN: u8 = 0xD4;
const VNI_U_HORN: u8 = 0xD6;

const CIRCUMFLEX: char = '\u{302}';
const BREVE: char = '\u{306}';
const HORN: char = '\u{31B}';

/// Windows-1252 0x80..=0x9F; the five unassigned bytes map to C1 controls.
const CP1252_80: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
    '\u{8F}', //
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}', 'ž', 'Ÿ',
];

fn cp1252_char(b: u8) -> char {
    match b {
        0x80..=0x9F => CP1252_80[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The letter (lowercase, for matching) a VNI single byte stands for, with its marks
/// in NFD: `Some((base, shape, tone))` in the byte's own case.
fn vni_single(b: u8) -> Option<(char, Option<char>, Option<char>)> {
    let upper = b & !0x20;
    let lower = b != upper;
    let case = |c: char| if lower { c.to_ascii_lowercase() } else { c };
    if upper == VNI_D_STROKE {
        return Some((if lower { 'đ' } else { 'Đ' }, None, None));
    }
    if let Some(t) = VNI_I.iter().position(|&x| x == upper) {
        return Some((case('I'), None, TONES[t + 1]));
    }
    match upper {
        VNI_Y_DOT => Some((case('Y'), None, Some('\u{323}'))),
        VNI_O_HORN => Some((case('O'), Some(HORN), None)),
        VNI_U_HORN => Some((case('U'), Some(HORN), None)),
        _ => None,
    }
}

/// The shape and tone a VNI mark byte adds to `base` (a letter in NFD: base + shape),
/// if that combination exists in the table. Mark and base must agree in case.
fn vni_mark(base: char, base_shape: Option<char>, m: u8) -> Option<(Option<char>, Option<char>)> {
    let lower = base.is_ascii_lowercase();
    if ((m & 0x20) != 0) != lower || m < 0xC0 {
        return None;
    }
    let upper = m & !0x20;
    let find = |table: &[Option<u8>; 6]| table.iter().position(|&x| x == Some(upper));
    let b = base.to_ascii_uppercase();
    if let Some(t) = find(&VNI_PLAIN) {
        let ok = matches!(b, 'A' | 'E' | 'O' | 'U') || (b == 'Y' && t != 5);
        return ok.then_some((base_shape, TONES[t]));
    }
    if base_shape.is_some() {
        return None;
    }
    if let Some(t) = find(&VNI_CIRCUMFLEX) {
        return matches!(b, 'A' | 'E' | 'O').then_some((Some(CIRCUMFLEX), TONES[t]));
    }
    let t = find(&VNI_BREVE)?;
    (b == 'A').then_some((Some(BREVE), TONES[t]))
}

/// Decodes VNI-Windows to (not yet NFC) text, counting stray letters: Windows-1252
/// letters that no VNI sequence explains, a sign of another encoding.
fn decode_vni(bytes: &[u8]) -> (String, usize) {
    let mut out = String::with_capacity(bytes.len());
    let mut stray = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        let letter = if b.is_ascii_alphabetic() {
            Some((char::from(b), None, None))
        } else {
            vni_single(b)
        };
        let Some((base, shape, tone)) = letter else {
            let c = cp1252_char(b);
            if c.is_alphabetic() {
                stray += 1;
            }
            out.push(c);
            continue;
        };
        out.push(base);
        // Only unaccented vowels (and ơ/ư) take a following mark byte.
        let mark = match (tone, bytes.get(i)) {
            (None, Some(&m)) if base.is_ascii() || shape == Some(HORN) => vni_mark(base, shape, m),
            _ => None,
        };
        let (shape, tone) = match mark {
            Some(marks) => {
                i += 1;
                marks
            }
            None => (shape, tone),
        };
        out.extend(shape);
        out.extend(tone);
    }
    (out, stray)
}

/// Encodes text as VNI-Windows; `None` if a character is neither ASCII nor a
/// Vietnamese letter.
pub fn encode_vni(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 2);
    for c in nfc(s).chars() {
        if c.is_ascii() {
            out.push(c as u8);
            continue;
        }
        let mut parts = std::iter::once(c).nfd();
        let base = parts.next()?;
        let (mut shape, mut tone) = (None, None);
        for m in parts {
            match m {
                CIRCUMFLEX | BREVE | HORN if shape.is_none() => shape = Some(m),
                _ if tone.is_none() && TONES.contains(&Some(m)) => tone = Some(m),
                _ => return None,
            }
        }
        let lower_bit = if base.is_ascii_lowercase() || base == 'đ' {
            0x20
        } else {
            0
        };
        let t = TONES.iter().position(|&x| x == tone)?;
        let ub = base.to_ascii_uppercase();
        let (lead, mark): (u8, Option<u8>) = match (ub, shape) {
            ('Đ' | 'đ', None) if tone.is_none() => (VNI_D_STROKE, None),
            ('I', None) if t > 0 => (VNI_I[t - 1], None),
            ('Y', None) if t == 5 => (VNI_Y_DOT, None),
            ('O', Some(HORN)) => (VNI_O_HORN, VNI_PLAIN[t]),
            ('U', Some(HORN)) => (VNI_U_HORN, VNI_PLAIN[t]),
            ('A' | 'E' | 'O', Some(CIRCUMFLEX)) => (ub as u8, VNI_CIRCUMFLEX[t]),
            ('A', Some(BREVE)) => (ub as u8, VNI_BREVE[t]),
            ('A' | 'E' | 'O' | 'U' | 'Y', None) if t > 0 => (ub as u8, VNI_PLAIN[t]),
            _ => return None,
        };
        let case = |b: u8| b | lower_bit;
        out.push(case(lead));
        out.extend(mark.map(case));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every accented Vietnamese letter, capital then small (67 pairs = 134 letters).
    const ACCENTED: &str = "ÀàÁáẢảÃãẠạĂăẰằẮắẲẳẴẵẶặÂâẦầẤấẨẩẪẫẬậĐđÈèÉéẺẻẼẽẸẹÊêỀềẾếỂểỄễỆệ\
        ÌìÍíỈỉĨĩỊịÒòÓóỎỏÕõỌọÔôỒồỐốỔổỖỗỘộƠơỜờỚớỞởỠỡỢợÙùÚúỦủŨũỤụƯưỪừỨứỬửỮữỰựỲỳÝýỶỷỸỹỴỵ";

    fn long_text() -> String {
        let mut text = String::from(
            "personal_id,full_name,note\n001090123456,Nguyễn Thị Hoà,\"Quê quán: Hà Nội; thường trú tại phường Bến Nghé\"\n\
             079185000123,TRẦN VĂN ĐỨC,Khuỷu tay; người Việt; giữa; thuở ấy; Huỳnh Khuê Quỳnh\n",
        );
        text.push_str(ACCENTED);
        text.push('\n');
        for c in ACCENTED.chars() {
            text.push(c);
            text.push_str("n ");
        }
        text
    }

    #[test]
    fn accented_letter_list_is_complete() {
        assert_eq!(ACCENTED.chars().count(), 134);
        let mut sorted: Vec<char> = ACCENTED.chars().collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 134);
    }

    #[test]
    fn tcvn3_round_trip() {
        let text = long_text();
        let bytes = encode_tcvn3(&text).expect("all letters have TCVN3 codes");
        assert_eq!(nfc(&decode_tcvn3(&bytes)), text);
        // NFD input encodes the same.
        assert_eq!(encode_tcvn3(&text.nfd().collect::<String>()), Some(bytes));
    }

    #[test]
    fn vni_round_trip() {
        let text = long_text();
        let bytes = encode_vni(&text).expect("all letters have VNI codes");
        let (decoded, stray) = decode_vni(&bytes);
        assert_eq!(nfc(&decoded), text);
        assert_eq!(stray, 0);
    }

    #[test]
    fn known_byte_sequences() {
        // "Hà Nội" and "Đức" as ABC (.VnTime) and VNI-Times type them.
        assert_eq!(encode_tcvn3("Hà Nội"), Some(b"H\xB5 N\xE9i".to_vec()));
        assert_eq!(encode_tcvn3("đức"), Some(b"\xAE\xF8c".to_vec()));
        assert_eq!(encode_vni("Hà Nội"), Some(b"Ha\xF8 No\xE4i".to_vec()));
        assert_eq!(encode_vni("Đức"), Some(b"\xD1\xF6\xF9c".to_vec()));
        assert_eq!(encode_vni("NGUYỄN"), Some(b"NGUYE\xC3N".to_vec()));
        assert_eq!(encode_vni("Thị"), Some(b"Th\xF2".to_vec()));
        assert_eq!(encode_vni("Mỹ Tho"), Some(b"My\xF5 Tho".to_vec()));
    }

    #[test]
    fn unencodable_characters() {
        assert_eq!(encode_tcvn3("日本"), None);
        assert_eq!(encode_tcvn3("\u{1}"), None);
        assert_eq!(encode_vni("Ω"), None);
        assert_eq!(encode_vni("Ä"), None);
    }

    const CSV: &str = "personal_id,full_name\n001090123456,Nguyễn Thị Hoà\n";

    #[test]
    fn detects_tcvn3() {
        let bytes = encode_tcvn3(CSV).unwrap();
        let d = decode_text(&bytes).unwrap();
        assert_eq!(
            d,
            Decoded {
                text: CSV.to_owned(),
                encoding: SourceEncoding::Tcvn3
            }
        );
        let d = decode_text(&encode_tcvn3(&long_text()).unwrap()).unwrap();
        assert_eq!(d.encoding, SourceEncoding::Tcvn3);
    }

    #[test]
    fn detects_vni() {
        let bytes = encode_vni(CSV).unwrap();
        let d = decode_text(&bytes).unwrap();
        assert_eq!(
            d,
            Decoded {
                text: CSV.to_owned(),
                encoding: SourceEncoding::VniWindows
            }
        );
        let d = decode_text(&encode_vni(&long_text()).unwrap()).unwrap();
        assert_eq!(d.encoding, SourceEncoding::VniWindows);
    }

    #[test]
    fn detects_realistic_registry_extracts() {
        let rows = "ma_dinh_danh,ho_ten,que_quan\n\
            001085002345,Phạm Văn Đồng,Quảng Ngãi\n\
            079190004567,Lê Thị Thuỷ,Thành phố Hồ Chí Minh\n\
            031200007890,Hoàng Quốc Việt,Hải Phòng\n\
            048175001234,Võ Thị Sáu,Bà Rịa – Vũng Tàu\n";
        let d = decode_text(&encode_tcvn3(&rows.replace('–', "-")).unwrap()).unwrap();
        assert_eq!(d.encoding, SourceEncoding::Tcvn3);
        assert!(d.text.contains("Lê Thị Thuỷ"));
        let d = decode_text(&encode_vni(&rows.replace('–', "-")).unwrap()).unwrap();
        assert_eq!(d.encoding, SourceEncoding::VniWindows);
        assert!(d.text.contains("Hoàng Quốc Việt"));
        // VNI files may hold Windows-1252 punctuation such as the en dash.
        let mut vni = encode_vni(&rows.replace('–', "#")).unwrap();
        let dash = vni.iter().position(|&b| b == b'#').unwrap();
        vni[dash] = 0x96;
        let d = decode_text(&vni).unwrap();
        assert_eq!(
            (d.encoding, d.text.as_str()),
            (SourceEncoding::VniWindows, rows)
        );
        // ".VnTimeH" capitals use the lowercase codes: read back as lowercase.
        let upper_font = encode_tcvn3("ho_ten\nnguyễn thị hoà\n").unwrap();
        assert_eq!(
            decode_text(&upper_font).unwrap().text,
            "ho_ten\nnguyễn thị hoà\n"
        );
    }

    #[test]
    fn utf8_is_returned_as_nfc() {
        let d = decode_text(b"personal_id,full_name\n001090123456,Nguyen Van A\n").unwrap();
        assert_eq!(d.encoding, SourceEncoding::Utf8);
        let nfd: String = CSV.nfd().collect();
        let d = decode_text(nfd.as_bytes()).unwrap();
        assert_eq!(
            d,
            Decoded {
                text: CSV.to_owned(),
                encoding: SourceEncoding::Utf8
            }
        );
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(CSV.as_bytes());
        let d = decode_text(&with_bom).unwrap();
        assert_eq!(
            d,
            Decoded {
                text: CSV.to_owned(),
                encoding: SourceEncoding::Utf8Bom
            }
        );
        assert_eq!(decode_text(b"").unwrap().encoding, SourceEncoding::Utf8);
    }

    #[test]
    fn pieces_decode_in_the_detected_encoding() {
        let name = "Nguyễn Thị Hoà";
        let tcvn3 = encode_tcvn3(name).unwrap();
        assert_eq!(
            decode_as(&tcvn3, SourceEncoding::Tcvn3).as_deref(),
            Some(name)
        );
        let vni = encode_vni(name).unwrap();
        assert_eq!(
            decode_as(&vni, SourceEncoding::VniWindows).as_deref(),
            Some(name)
        );
        let nfd: String = name.nfd().collect();
        assert_eq!(
            decode_as(nfd.as_bytes(), SourceEncoding::Utf8).as_deref(),
            Some(name)
        );
        assert_eq!(decode_as(b"\xC3(", SourceEncoding::Utf8), None);
    }

    #[test]
    fn utf16_is_refused() {
        let mut le = vec![0xFF, 0xFE];
        le.extend(CSV.encode_utf16().flat_map(u16::to_le_bytes));
        let err = decode_text(&le).unwrap_err();
        assert_eq!(err, LegacyError::Utf16 { offset: 0 });
        assert!(err.to_string().contains("not UTF-8"));
        let mut be = vec![0xFE, 0xFF];
        be.extend(CSV.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(decode_text(&be), Err(LegacyError::Utf16 { offset: 0 }));
        // Without a BOM, ASCII-only UTF-16 is valid UTF-8 full of NULs.
        let no_bom: Vec<u8> = "id,name\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(
            decode_text(&no_bom),
            Err(LegacyError::NulByte { offset: 1 })
        );
        let no_bom: Vec<u8> = CSV.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert!(matches!(
            decode_text(&no_bom),
            Err(LegacyError::Unrecognised { .. })
        ));
    }

    #[test]
    fn binary_and_foreign_text_are_refused() {
        // Deterministic pseudo-random bytes (xorshift).
        let mut x: u32 = 0x9E37_79B9;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x.to_le_bytes()[0]
            })
            .collect();
        let err = decode_text(&random).unwrap_err();
        let LegacyError::Unrecognised { offset } = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            offset,
            std::str::from_utf8(&random).unwrap_err().valid_up_to()
        );
        let msg = err.to_string();
        assert!(
            msg.contains("not UTF-8") && msg.contains("TCVN3") && msg.contains("VNI"),
            "{msg}"
        );

        // French in Latin-1: accented letters, but not Vietnamese syllables.
        let french =
            "nom,ville\nRené Lefèvre,Besançon\nÉlodie Mérimée,Orléans à côté\ncafé,crème brûlée\n";
        let latin1: Vec<u8> = french.chars().map(|c| u8::try_from(c).unwrap()).collect();
        assert_eq!(
            decode_text(&latin1),
            Err(LegacyError::Unrecognised { offset: 13 })
        );

        // Broken UTF-8 after a UTF-8 BOM.
        assert_eq!(
            decode_text(b"\xEF\xBB\xBFid\n\xC3("),
            Err(LegacyError::Unrecognised { offset: 6 })
        );
    }
}
