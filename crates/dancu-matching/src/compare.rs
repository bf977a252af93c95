//! Field comparisons with explicit levels. A comparison of a record with a registry
//! person is a [`Pattern`]: one level per [`Field`], 4 bits each.

use crate::names::{Interner, UNKNOWN, Word, edit_distance};
use crate::person::{Person, Record, Registry};

/// The compared fields, in pattern order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Given,
    Family,
    Middle,
    Dob,
    Gender,
    Commune,
    Father,
    Mother,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::Given,
        Field::Family,
        Field::Middle,
        Field::Dob,
        Field::Gender,
        Field::Commune,
        Field::Father,
        Field::Mother,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            Field::Given => "given",
            Field::Family => "family",
            Field::Middle => "middle",
            Field::Dob => "dob",
            Field::Gender => "gender",
            Field::Commune => "commune",
            Field::Father => "father",
            Field::Mother => "mother",
        }
    }

    /// Level names, index = level.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Field::Dob => &["exact", "swapped_day_month", "partial", "close", "disagree"],
            Field::Gender => &["agree", "disagree"],
            Field::Commune => &["same", "same_province", "other"],
            Field::Given => &["exact", "folded", "close", "disagree", "other_name_alike"],
            _ => &["exact", "folded", "close", "disagree"],
        }
    }

    /// Shared by siblings and twins: may not add weight unless the person's own given
    /// name and birth date agree.
    pub fn family_shared(self) -> bool {
        matches!(
            self,
            Field::Family | Field::Middle | Field::Commune | Field::Father | Field::Mother
        )
    }
}

/// Name levels.
pub const EXACT: u8 = 0;
pub const FOLDED: u8 = 1;
pub const CLOSE: u8 = 2;
pub const DISAGREE: u8 = 3;
/// Given name only: another given name in use, spelt alike (equal folded or one edit
/// away): a typo that made a real name, or a sibling.
pub const ALIKE: u8 = 4;
/// Date levels.
pub const DOB_EXACT: u8 = 0;
pub const DOB_SWAPPED: u8 = 1;
pub const DOB_PARTIAL: u8 = 2;
pub const DOB_CLOSE: u8 = 3;
pub const DOB_DISAGREE: u8 = 4;
/// Either side lacks the field.
pub const MISSING: u8 = 15;
/// Only in a [`quick`] pattern: the words differ, their spellings are not compared yet
/// (close, disagree or, for a given name, another name spelt alike).
pub const UNSURE: u8 = 14;

/// One level per field, 4 bits each, in [`Field::ALL`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pattern(pub u32);

impl Pattern {
    pub fn level(self, f: Field) -> u8 {
        ((self.0 >> (4 * f as u32)) & 0xF) as u8
    }
    fn with(self, f: Field, level: u8) -> Pattern {
        Pattern(self.0 | (u32::from(level) << (4 * f as u32)))
    }
    fn set(self, f: Field, level: u8) -> Pattern {
        Pattern(self.0 & !(0xF << (4 * f as u32))).with(f, level)
    }
    /// The given name or the birth date disagrees: a different person of the family.
    pub fn own_fields_disagree(self) -> bool {
        matches!(self.level(Field::Given), DISAGREE | ALIKE)
            || self.level(Field::Dob) == DOB_DISAGREE
    }
}

/// Reusable buffers of one thread.
#[derive(Debug, Default)]
pub struct Scratch {
    a: String,
    b: String,
}

fn close_limit(len: usize) -> usize {
    if len >= 6 { 2 } else { 1 }
}

/// Given name: a record spelling that is itself a given name in the registry (held by
/// two persons or more) is another name, not a typo: [`ALIKE`] if spelt alike, else
/// [`DISAGREE`]. Except in a name written without any diacritic (`plain`), where
/// "Dung" may be "Dũng" as well as "Dung".
pub fn given_level(reg: &Registry, rec: &Word, plain: bool, canon: u32) -> u8 {
    match given_quick(reg, rec, plain, canon) {
        UNSURE => given_spelt(reg, rec, canon),
        level => level,
    }
}

fn other_name(reg: &Registry, rec: &Word) -> bool {
    rec.canon != UNKNOWN && reg.given_canon_count[rec.canon as usize] >= 2
}

/// [`given_level`] by word ids alone: [`UNSURE`] when the folded spellings differ.
fn given_quick(reg: &Registry, rec: &Word, plain: bool, canon: u32) -> u8 {
    if rec.canon == canon {
        EXACT
    } else if rec.fold != reg.ix.fold_of[canon as usize] {
        UNSURE
    } else if plain || !other_name(reg, rec) {
        FOLDED
    } else {
        ALIKE
    }
}

/// [`given_level`] of two different folded spellings.
fn given_spelt(reg: &Registry, rec: &Word, canon: u32) -> u8 {
    let registry = reg.ix.folded(canon);
    if !close(&rec.folded, registry) {
        DISAGREE
    } else if !other_name(reg, rec) {
        CLOSE
    } else if edit_distance(rec.folded.as_bytes(), registry.as_bytes(), 1) <= 1 {
        ALIKE
    } else {
        DISAGREE
    }
}

/// Whether two folded spellings are within the edit distance allowed for their
/// length, also after undoing the commonest OCR confusion ("rn" read for "m").
fn close(a: &str, b: &str) -> bool {
    let limit = close_limit(a.len().max(b.len()));
    edit_distance(a.as_bytes(), b.as_bytes(), limit) <= limit
        || ((a.contains("rn") || b.contains("rn"))
            && edit_distance(
                a.replace("rn", "m").as_bytes(),
                b.replace("rn", "m").as_bytes(),
                limit,
            ) <= limit)
}

/// One word: exact canonical, equal folded, close by edit distance of the folded
/// spellings, or disagree.
pub fn word_level(ix: &Interner, rec: &Word, canon: u32) -> u8 {
    match word_quick(ix, rec, canon) {
        UNSURE if close(&rec.folded, ix.folded(canon)) => CLOSE,
        UNSURE => DISAGREE,
        level => level,
    }
}

/// [`word_level`] by word ids alone.
fn word_quick(ix: &Interner, rec: &Word, canon: u32) -> u8 {
    if rec.canon == canon {
        EXACT
    } else if rec.fold == ix.fold_of[canon as usize] {
        FOLDED
    } else {
        UNSURE
    }
}

/// [`words_level`] by word ids alone.
fn words_quick(ix: &Interner, rec: &[Word], reg: &[u32]) -> u8 {
    if rec.is_empty() || reg.is_empty() {
        return MISSING;
    }
    if rec.len() == reg.len() {
        if rec.iter().zip(reg).all(|(w, &c)| w.canon == c) {
            return EXACT;
        }
        if rec
            .iter()
            .zip(reg)
            .all(|(w, &c)| w.fold == ix.fold_of[c as usize])
        {
            return FOLDED;
        }
    }
    UNSURE
}

/// Several words (a parent's full name, middle names): the same levels over the whole.
pub fn words_level(ix: &Interner, rec: &[Word], reg: &[u32], s: &mut Scratch) -> u8 {
    match words_quick(ix, rec, reg) {
        UNSURE => words_spelt(ix, rec, reg, s),
        level => level,
    }
}

/// [`words_level`] of names whose words differ.
fn words_spelt(ix: &Interner, rec: &[Word], reg: &[u32], s: &mut Scratch) -> u8 {
    s.a.clear();
    for w in rec {
        if !s.a.is_empty() {
            s.a.push(' ');
        }
        s.a.push_str(&w.folded);
    }
    ix.join_folded(reg, &mut s.b);
    if close(&s.a, &s.b) { CLOSE } else { DISAGREE }
}

fn split_date(k: i32) -> (i32, i32, i32) {
    (k / 10_000, k / 100 % 100, k % 100)
}

/// Decimal digits of a non-negative year, without allocating.
fn digits(mut n: i32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            return &buf[i..];
        }
    }
}

/// Birth dates given as [`dancu_domain::PartialDate::sort_key`] values (0: unknown).
pub fn dob_level(a: i32, b: i32) -> u8 {
    if a == 0 || b == 0 {
        return MISSING;
    }
    let (ya, ma, da) = split_date(a);
    let (yb, mb, db) = split_date(b);
    let full = da != 0 && db != 0;
    if a == b {
        return if full { DOB_EXACT } else { DOB_PARTIAL };
    }
    if full {
        if ya == yb && ma == db && da == mb {
            return DOB_SWAPPED;
        }
        // Only spelt out for the same day and month (most pairs differ there first).
        let one_digit_year = || {
            let (mut ba, mut bb) = ([0; 10], [0; 10]);
            edit_distance(digits(ya, &mut ba), digits(yb, &mut bb), 1) <= 1
        };
        if (ya == yb && (ma == mb || da == db)) || (ma == mb && da == db && one_digit_year()) {
            return DOB_CLOSE;
        }
        return DOB_DISAGREE;
    }
    if ya == yb && (ma == 0 || mb == 0 || ma == mb) {
        DOB_PARTIAL
    } else {
        DOB_DISAGREE
    }
}

/// What a block keeps of each person beside its index (32 bits): birth date, gender and
/// a hash of the folded given name. Enough to bound a candidate's score without reading
/// the person, whose row sits at a random place of a registry of millions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sig(pub u32);

/// Birth years a [`Sig`] holds exactly (the contract's 1800–2399); another year is
/// stored as "not held" and bounds as any date.
const SIG_FIRST_YEAR: i32 = 1799;
const SIG_YEARS: i32 = 1 << 10;
const SIG_NOT_HELD: u32 = (1 << 19) - 1;

impl Sig {
    pub fn of(reg: &Registry, p: &Person) -> Sig {
        let given = reg
            .name(p.name)
            .last()
            .map_or(UNKNOWN, |&c| reg.ix.fold_of[c as usize]);
        let (y, m, d) = split_date(p.dob);
        let date = if p.dob == 0 {
            0
        } else if (1..SIG_YEARS - 1).contains(&(y - SIG_FIRST_YEAR)) {
            ((y - SIG_FIRST_YEAR) as u32) << 9 | (m as u32) << 5 | d as u32
        } else {
            SIG_NOT_HELD
        };
        Sig(date << 13 | u32::from(p.gender & 3) << 11 | Self::given_hash(given))
    }

    /// 11 bits of a folded given name id: different hashes, different names.
    fn given_hash(fold: u32) -> u32 {
        fold.wrapping_mul(0x9E37_79B9) >> 21
    }

    /// The person's birth date as [`Person::dob`], `None` when not held.
    fn dob(self) -> Option<i32> {
        match self.0 >> 13 {
            0 => Some(0),
            SIG_NOT_HELD => None,
            date => Some(
                ((date >> 9) as i32 + SIG_FIRST_YEAR) * 10_000
                    + (date >> 5 & 0xF) as i32 * 100
                    + (date & 0x1F) as i32,
            ),
        }
    }

    /// What a signature says of a comparison with `rec`: the birth date level (`None`
    /// when not held), the gender level, and whether the folded given names may be equal
    /// (if not, the given name is close, another name alike or disagrees: see
    /// [`given_level`]).
    pub fn levels(self, rec: &Record) -> (Option<u8>, u8, bool) {
        let gender = match (rec.gender, (self.0 >> 11 & 3) as u8) {
            (0, _) | (_, 0) => MISSING,
            (a, b) => u8::from(a != b),
        };
        let given = rec
            .name
            .given()
            .is_some_and(|w| Self::given_hash(w.fold) == self.0 & 0x7FF);
        (self.dob().map(|d| dob_level(rec.dob, d)), gender, given)
    }
}

/// A record's weights by field and level (index: level), 0 for [`MISSING`], and for
/// [`UNSURE`] the highest of the levels it may turn out to be, so that a [`quick`]
/// pattern's weights bound its final ones.
pub type Weights = [[f64; 16]; Field::COUNT];

/// `w` with each name field's [`UNSURE`] weight set (see [`Weights`]).
pub fn with_unsure(mut w: Weights) -> Weights {
    for f in Field::ALL {
        let row = &mut w[f as usize];
        if !matches!(f, Field::Dob | Field::Gender | Field::Commune) {
            let alike = if f == Field::Given {
                row[ALIKE as usize]
            } else {
                f64::NEG_INFINITY
            };
            row[UNSURE as usize] = row[CLOSE as usize].max(row[DISAGREE as usize]).max(alike);
        }
    }
    w
}

/// A record's weights folded into the maxima a [`Sig`] cannot tell apart.
#[derive(Debug)]
pub struct SigBounds {
    /// The best given-name weight when the folded names may be equal, and when they
    /// differ (close, another name alike, or disagree: see [`given_level`]).
    given_same: f64,
    given_differ: f64,
    /// The family-shared fields at their best.
    family: f64,
    /// The best birth-date weight, for a date the signature does not hold.
    dob: f64,
}

impl SigBounds {
    pub fn new(w: &Weights) -> SigBounds {
        let best = |f: Field, levels: &mut dyn Iterator<Item = u8>| {
            levels
                .map(|l| w[f as usize][l as usize])
                .fold(f64::NEG_INFINITY, f64::max)
        };
        let all = |f: Field| best(f, &mut (0..f.levels().len() as u8));
        SigBounds {
            given_same: all(Field::Given),
            given_differ: best(Field::Given, &mut [CLOSE, DISAGREE, ALIKE].into_iter()),
            family: Field::ALL
                .iter()
                .filter(|f| f.family_shared())
                .map(|&f| all(f).max(0.0))
                .sum(),
            dob: all(Field::Dob).max(0.0),
        }
    }

    /// An upper bound of the sum of a candidate's field weights from its signature.
    /// With `sibling_rule`, the family-shared fields count for nothing when the birth
    /// date disagrees (the rule caps them at 0, and a date that disagrees rules out
    /// the exception for a given name alike).
    pub fn bound(&self, w: &Weights, rec: &Record, sig: Sig, sibling_rule: bool) -> f64 {
        let (dob, gender, same) = sig.levels(rec);
        let given = if same {
            self.given_same
        } else {
            self.given_differ
        };
        let (dob, family) = match dob {
            Some(DOB_DISAGREE) if sibling_rule => {
                (w[Field::Dob as usize][DOB_DISAGREE as usize], 0.0)
            }
            Some(level) => (w[Field::Dob as usize][level as usize], self.family),
            None => (self.dob, self.family),
        };
        given + dob + w[Field::Gender as usize][gender as usize] + family
    }
}

/// Compares a record with a registry person.
pub fn compare(reg: &Registry, rec: &Record, p: &Person, s: &mut Scratch) -> Pattern {
    refine(reg, rec, p, quick(reg, rec, p), s)
}

/// The record's middle words and the registry name's (empty for a name of two words).
fn middles<'a>(rec: &'a Record, name: &'a [u32]) -> Option<(&'a [Word], &'a [u32])> {
    (rec.name.words.len() >= 2 && name.len() >= 2)
        .then(|| (rec.name.middle(), &name[1..name.len() - 1]))
}

/// The comparison by word ids and numbers alone: name fields whose spellings must be
/// compared are [`UNSURE`] (see [`refine`]). Cheap enough to bound a candidate's
/// score before paying for edit distances.
pub fn quick(reg: &Registry, rec: &Record, p: &Person) -> Pattern {
    let ix = &reg.ix;
    let name = reg.name(p.name);
    let mut pat = Pattern(0);
    let given = match (rec.name.given(), name.last()) {
        (Some(w), Some(&c)) => given_quick(reg, w, rec.name.plain, c),
        _ => MISSING,
    };
    pat = pat.with(Field::Given, given);
    let family = match (rec.name.family(), name.len() >= 2) {
        (Some(w), true) => word_quick(ix, w, name[0]),
        _ => MISSING,
    };
    pat = pat.with(Field::Family, family);
    let middle = match middles(rec, name) {
        Some((a, b)) => match (a.is_empty(), b.is_empty()) {
            (true, true) => MISSING,
            (false, false) => words_quick(ix, a, b),
            _ => DISAGREE,
        },
        None => MISSING,
    };
    pat = pat.with(Field::Middle, middle);
    pat = pat.with(Field::Dob, dob_level(rec.dob, p.dob));
    let gender = match (rec.gender, p.gender) {
        (0, _) | (_, 0) => MISSING,
        (a, b) => u8::from(a != b),
    };
    pat = pat.with(Field::Gender, gender);
    let commune = if rec.communes.is_empty() || p.commune == 0 {
        MISSING
    } else if rec.communes.contains(&p.commune) {
        0
    } else if rec.provinces.contains(&reg.communes.province(p.commune)) {
        1
    } else {
        2
    };
    pat = pat.with(Field::Commune, commune);
    pat = pat.with(
        Field::Father,
        words_quick(ix, &rec.father.words, reg.name(p.father)),
    );
    pat.with(
        Field::Mother,
        words_quick(ix, &rec.mother.words, reg.name(p.mother)),
    )
}

/// Completes a [`quick`] pattern: every [`UNSURE`] level by the spellings.
pub fn refine(reg: &Registry, rec: &Record, p: &Person, pat: Pattern, s: &mut Scratch) -> Pattern {
    Field::ALL
        .iter()
        .fold(pat, |pat, &f| refine_field(reg, rec, p, pat, f, s))
}

/// [`refine`] of one field.
pub fn refine_field(
    reg: &Registry,
    rec: &Record,
    p: &Person,
    pat: Pattern,
    f: Field,
    s: &mut Scratch,
) -> Pattern {
    if pat.level(f) != UNSURE {
        return pat;
    }
    let ix = &reg.ix;
    let name = reg.name(p.name);
    let level = match f {
        Field::Given => match (rec.name.given(), name.last()) {
            (Some(w), Some(&c)) => given_spelt(reg, w, c),
            _ => MISSING,
        },
        Field::Family => match rec.name.family() {
            Some(w) => word_level(ix, w, name[0]),
            None => MISSING,
        },
        Field::Middle => match middles(rec, name) {
            Some((a, b)) => words_spelt(ix, a, b, s),
            None => MISSING,
        },
        Field::Father => words_spelt(ix, &rec.father.words, reg.name(p.father), s),
        Field::Mother => words_spelt(ix, &rec.mother.words, reg.name(p.mother), s),
        Field::Dob | Field::Gender | Field::Commune => return pat,
    };
    pat.set(f, level)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Fields;

    fn registry(rows: &[(&str, Fields)]) -> Registry {
        let mut reg = Registry::default();
        for (pid, f) in rows {
            reg.push(pid, f).unwrap();
        }
        reg.count_words();
        reg
    }

    fn person<'a>(name: &'a str, dob: &'a str, father: &'a str, mother: &'a str) -> Fields<'a> {
        Fields {
            full_name: name,
            date_of_birth: dob,
            gender: "M",
            commune_code: "00004",
            father_name: father,
            mother_name: mother,
        }
    }

    #[test]
    fn date_levels() {
        assert_eq!(dob_level(19900305, 19900305), DOB_EXACT);
        assert_eq!(dob_level(19900305, 19900503), DOB_SWAPPED);
        assert_eq!(dob_level(19900000, 19900503), DOB_PARTIAL);
        assert_eq!(dob_level(19900500, 19900503), DOB_PARTIAL);
        assert_eq!(dob_level(19900000, 19900000), DOB_PARTIAL);
        assert_eq!(dob_level(19900305, 19900306), DOB_CLOSE);
        assert_eq!(dob_level(19900305, 19800305), DOB_CLOSE);
        assert_eq!(
            dob_level(19900305, 19090305),
            DOB_CLOSE,
            "two digits swapped"
        );
        assert_eq!(dob_level(19900305, 18910305), DOB_DISAGREE);
        assert_eq!(dob_level(19900305, 19910712), DOB_DISAGREE);
        assert_eq!(dob_level(19910000, 19900305), DOB_DISAGREE);
        assert_eq!(dob_level(0, 19900305), MISSING);
    }

    #[test]
    fn name_levels() {
        let reg = registry(&[
            (
                "1",
                person(
                    "Nguyễn Văn Hòa",
                    "1990-03-05",
                    "Nguyễn Văn Minh",
                    "Lê Thị Lan",
                ),
            ),
            ("2", person("Trần Văn Hùng", "1991-01-01", "", "")),
            ("3", person("Lê Văn Hưng", "1992-01-01", "", "")),
            ("4", person("Phạm Văn Hưng", "1993-01-01", "", "")),
        ]);
        let p = reg.people[0];
        let hoa = reg.name(p.name)[2];
        let level = |s: &str| {
            let n = reg.ix.lookup_name(s).unwrap();
            given_level(&reg, &n.words[0], n.plain, hoa)
        };
        assert_eq!(level("hoà"), EXACT, "new tone placement is the same name");
        assert_eq!(level("Hoa"), FOLDED, "diacritics lost");
        assert_eq!(level("Hóa"), FOLDED, "a mark misread, not another name");
        assert_eq!(level("Hoc"), CLOSE, "an OCR-like confusion");
        assert_eq!(level("Hoà"), EXACT);
        assert_eq!(level("Hòạ"), FOLDED);
        assert_eq!(level("oHà"), CLOSE, "two letters swapped");
        assert_eq!(level("Lan"), DISAGREE);
        assert_eq!(level("Hoan"), CLOSE, "not a given name in this registry");
        let hung = reg.name(reg.people[1].name)[2];
        let w = reg.ix.lookup_name("Hưng").unwrap();
        assert_eq!(
            given_level(&reg, &w.words[0], w.plain, hung),
            ALIKE,
            "Hưng is another given name in use, not a misspelt Hùng"
        );
        let w = reg.ix.lookup_name("Hung").unwrap();
        assert_eq!(
            given_level(&reg, &w.words[0], w.plain, hung),
            FOLDED,
            "written without diacritics, Hung may be Hùng"
        );
        let minh = reg.name(p.father)[2];
        let rninh = reg.ix.lookup_name("Rninh").unwrap();
        assert_eq!(
            word_level(&reg.ix, &rninh.words[0], minh),
            CLOSE,
            "OCR: rn for m"
        );
        let mut s = Scratch::default();
        let mother = reg.name(p.mother);
        let rec = |t: &str| reg.ix.lookup_name(t).unwrap();
        assert_eq!(
            words_level(&reg.ix, &rec("LÊ THỊ LAN").words, mother, &mut s),
            EXACT
        );
        assert_eq!(
            words_level(&reg.ix, &rec("Le Thi Lan").words, mother, &mut s),
            FOLDED
        );
        assert_eq!(
            words_level(&reg.ix, &rec("Lê Thi Lam").words, mother, &mut s),
            CLOSE
        );
        assert_eq!(
            words_level(&reg.ix, &rec("Đỗ Thị Mai").words, mother, &mut s),
            DISAGREE
        );
        assert_eq!(words_level(&reg.ix, &[], mother, &mut s), MISSING);
    }

    #[test]
    fn a_signature_tells_the_date_the_gender_and_a_differing_given_name() {
        let mut rows = vec![
            ("1", person("Nguyễn Văn Hòa", "1990-03-05", "", "")),
            ("2", person("Lê Hòa", "1990", "", "")),
            ("3", person("Lê Văn Nam", "", "", "")),
        ];
        rows[2].1.gender = "";
        let reg = registry(&rows);
        let rec = reg
            .record(&Fields {
                full_name: "Tran Hoa",
                date_of_birth: "1990-05-03",
                gender: "F",
                ..rows[0].1
            })
            .unwrap();
        let levels: Vec<_> = reg
            .people
            .iter()
            .map(|p| Sig::of(&reg, p).levels(&rec))
            .collect();
        assert_eq!(
            levels,
            [
                (Some(DOB_SWAPPED), 1, true),
                (Some(DOB_PARTIAL), 1, true),
                (Some(MISSING), MISSING, false),
            ]
        );
        for p in &reg.people {
            assert_eq!(Sig::of(&reg, p).dob(), Some(p.dob));
        }
        let old = Person {
            dob: 17_991_231,
            ..reg.people[0]
        };
        assert_eq!(Sig::of(&reg, &old).dob(), None, "a year it does not hold");
    }

    #[test]
    fn a_pattern_has_every_field() {
        let reg = registry(&[(
            "1",
            person(
                "Nguyễn Văn Hòa",
                "1990-03-05",
                "Nguyễn Văn Minh",
                "Lê Thị Lan",
            ),
        )]);
        let rec = reg
            .record(&Fields {
                full_name: "Nguyen Van Hoa",
                date_of_birth: "1990-05-03",
                gender: "M",
                commune_code: "00004",
                father_name: "",
                mother_name: "Lê Thị Lan",
            })
            .unwrap();
        let pat = compare(&reg, &rec, &reg.people[0], &mut Scratch::default());
        let levels: Vec<u8> = Field::ALL.iter().map(|&f| pat.level(f)).collect();
        assert_eq!(
            levels,
            [FOLDED, FOLDED, FOLDED, DOB_SWAPPED, 0, 0, MISSING, EXACT]
        );
        assert!(!pat.own_fields_disagree());
    }
}
