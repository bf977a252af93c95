//! The 12-digit personal ID number (số định danh cá nhân) and the old 9-digit ID card
//! number (CMND) kept as an alias.
//!
//! Layout `PPP G YY NNNNNN` (Decree 137/2015/NĐ-CP Art. 13 and its implementing circulars):
//! - `PPP`: code of the province where the birth was registered, one of the 63 pre-2025
//!   provinces (the 2025 merger did not renumber issued IDs);
//! - `G`: gender and century of birth (even = male, odd = female; 0/1 = 1900s, 2/3 = 2000s,
//!   4/5 = 2100s, 6/7 = 2200s, 8/9 = 2300s);
//! - `YY`: last two digits of the birth year;
//! - `NNNNNN`: serial.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::citizen::Gender;
use crate::date::PartialDate;

/// Province codes of the personal ID number with their names: the 63 provinces and
/// centrally-run cities before 1 July 2025 (GSO codes with a leading 0).
const PROVINCES: [(u16, &str); 63] = [
    (1, "Hà Nội"),
    (2, "Hà Giang"),
    (4, "Cao Bằng"),
    (6, "Bắc Kạn"),
    (8, "Tuyên Quang"),
    (10, "Lào Cai"),
    (11, "Điện Biên"),
    (12, "Lai Châu"),
    (14, "Sơn La"),
    (15, "Yên Bái"),
    (17, "Hòa Bình"),
    (19, "Thái Nguyên"),
    (20, "Lạng Sơn"),
    (22, "Quảng Ninh"),
    (24, "Bắc Giang"),
    (25, "Phú Thọ"),
    (26, "Vĩnh Phúc"),
    (27, "Bắc Ninh"),
    (30, "Hải Dương"),
    (31, "Hải Phòng"),
    (33, "Hưng Yên"),
    (34, "Thái Bình"),
    (35, "Hà Nam"),
    (36, "Nam Định"),
    (37, "Ninh Bình"),
    (38, "Thanh Hóa"),
    (40, "Nghệ An"),
    (42, "Hà Tĩnh"),
    (44, "Quảng Bình"),
    (45, "Quảng Trị"),
    (46, "Thừa Thiên Huế"),
    (48, "Đà Nẵng"),
    (49, "Quảng Nam"),
    (51, "Quảng Ngãi"),
    (52, "Bình Định"),
    (54, "Phú Yên"),
    (56, "Khánh Hòa"),
    (58, "Ninh Thuận"),
    (60, "Bình Thuận"),
    (62, "Kon Tum"),
    (64, "Gia Lai"),
    (66, "Đắk Lắk"),
    (67, "Đắk Nông"),
    (68, "Lâm Đồng"),
    (70, "Bình Phước"),
    (72, "Tây Ninh"),
    (74, "Bình Dương"),
    (75, "Đồng Nai"),
    (77, "Bà Rịa - Vũng Tàu"),
    (79, "Hồ Chí Minh"),
    (80, "Long An"),
    (82, "Tiền Giang"),
    (83, "Bến Tre"),
    (84, "Trà Vinh"),
    (86, "Vĩnh Long"),
    (87, "Đồng Tháp"),
    (89, "An Giang"),
    (91, "Kiên Giang"),
    (92, "Cần Thơ"),
    (93, "Hậu Giang"),
    (94, "Sóc Trăng"),
    (95, "Bạc Liêu"),
    (96, "Cà Mau"),
];

/// The codes of [`PROVINCES`], so callers can iterate without the names.
const PROVINCE_CODES: [u16; 63] = {
    let mut codes = [0u16; 63];
    let mut i = 0;
    while i < PROVINCES.len() {
        codes[i] = PROVINCES[i].0;
        i += 1;
    }
    codes
};

/// Where each code (all below 100) is in [`PROVINCES`], `u8::MAX` for none: every ID
/// number parsed or read looks its province up, and a binary search took several
/// unpredictable branches.
const PROVINCE_INDEX: [u8; 100] = {
    let mut index = [u8::MAX; 100];
    let mut i = 0;
    while i < PROVINCES.len() {
        index[PROVINCES[i].0 as usize] = i as u8;
        i += 1;
    }
    index
};

/// Name of the province an ID-number province code stands for (`79` → "Hồ Chí Minh").
pub fn id_province_name(code: u16) -> Option<&'static str> {
    let i = *PROVINCE_INDEX.get(usize::from(code))?;
    PROVINCES.get(usize::from(i)).map(|&(_, name)| name)
}

/// All 63 valid ID-number province codes, ascending.
pub fn id_province_codes() -> &'static [u16] {
    &PROVINCE_CODES
}

const ID_LEN: usize = 12;
const OLD_ID_LEN: usize = 9;
const MAX_ID: u64 = 999_999_999_999;
const FIRST_YEAR: i32 = 1900;
const LAST_YEAR: i32 = 2399;

/// Why a string or number is not a valid ID number. Positions are 1-based, as an officer
/// counts them on the card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonalIdError {
    #[error("ID number is empty")]
    Empty,
    #[error("ID number must have {expected} digits, found {found}")]
    WrongLength { expected: usize, found: usize },
    #[error("ID number has a non-digit '{found}' at position {position}")]
    NonDigit { position: usize, found: char },
    #[error("ID number has unknown province code '{0:03}'")]
    UnknownProvince(u16),
    #[error("birth year {0} cannot be encoded (1900–2399)")]
    YearOutOfRange(i32),
    #[error("serial {0} is too large (at most 6 digits)")]
    SerialOutOfRange(u32),
    #[error("{0} is too large for a 12-digit ID number")]
    NumberTooLarge(u64),
}

/// Checks that `s` (already trimmed) is exactly `len` ASCII digits.
fn check_digits(s: &str, len: usize) -> Result<(), PersonalIdError> {
    if s.is_empty() {
        return Err(PersonalIdError::Empty);
    }
    if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(PersonalIdError::NonDigit {
            position: i + 1,
            found: c,
        });
    }
    if s.len() != len {
        return Err(PersonalIdError::WrongLength {
            expected: len,
            found: s.len(),
        });
    }
    Ok(())
}

/// A valid personal ID number: 12 digits with a known province code. Stored as a number
/// because it is the registry's primary key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonalId(u64);

impl PersonalId {
    /// Parses exactly 12 ASCII digits (surrounding whitespace trimmed) with a known
    /// province code.
    pub fn parse(s: &str) -> Result<Self, PersonalIdError> {
        // Nearly every ID a batch reads is 12 bare digits: nothing to trim then.
        let bare = s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit());
        let s = if bare {
            s
        } else {
            let trimmed = s.trim();
            check_digits(trimmed, ID_LEN)?;
            trimmed
        };
        // 12 ASCII digits always fit in a u64.
        Self::from_u64(s.bytes().fold(0, |v, d| v * 10 + u64::from(d - b'0')))
    }

    /// Builds the number a person with these attributes gets; the century digit is
    /// derived from `gender` and `birth_year`.
    pub fn from_parts(
        province_code: u16,
        gender: Gender,
        birth_year: i32,
        serial: u32,
    ) -> Result<Self, PersonalIdError> {
        if id_province_name(province_code).is_none() {
            return Err(PersonalIdError::UnknownProvince(province_code));
        }
        if !(FIRST_YEAR..=LAST_YEAR).contains(&birth_year) {
            return Err(PersonalIdError::YearOutOfRange(birth_year));
        }
        if serial >= 1_000_000 {
            return Err(PersonalIdError::SerialOutOfRange(serial));
        }
        let offset = (birth_year - FIRST_YEAR) as u64;
        let g = offset / 100 * 2 + u64::from(gender == Gender::Female);
        let yy = offset % 100;
        Ok(PersonalId(
            u64::from(province_code) * 1_000_000_000
                + g * 100_000_000
                + yy * 1_000_000
                + u64::from(serial),
        ))
    }

    /// Validates a value read back from the store (where it is kept as an integer).
    pub fn from_u64(v: u64) -> Result<Self, PersonalIdError> {
        if v > MAX_ID {
            return Err(PersonalIdError::NumberTooLarge(v));
        }
        let id = PersonalId(v);
        if id_province_name(id.province_code()).is_none() {
            return Err(PersonalIdError::UnknownProvince(id.province_code()));
        }
        Ok(id)
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Province where the birth was registered (`PPP`).
    pub fn province_code(self) -> u16 {
        (self.0 / 1_000_000_000) as u16
    }

    pub fn province_name(self) -> &'static str {
        id_province_name(self.province_code()).expect("validated at construction")
    }

    /// The gender/century digit `G`.
    fn century_digit(self) -> u64 {
        (self.0 / 100_000_000) % 10
    }

    pub fn gender(self) -> Gender {
        if self.century_digit().is_multiple_of(2) {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// Birth year from the century digit and `YY`.
    pub fn birth_year(self) -> i32 {
        let century = (self.century_digit() / 2) as i32;
        let yy = ((self.0 / 1_000_000) % 100) as i32;
        FIRST_YEAR + century * 100 + yy
    }

    pub fn serial(self) -> u32 {
        (self.0 % 1_000_000) as u32
    }

    /// Inconsistencies between the number and a person's recorded gender and date of
    /// birth (empty = consistent). The century digit and the two year digits are judged
    /// separately, because they are different data-entry faults.
    pub fn check_against(
        self,
        gender: Gender,
        date_of_birth: &PartialDate,
    ) -> Vec<IdInconsistency> {
        let mut found = Vec::new();
        if self.gender() != gender {
            found.push(IdInconsistency::GenderMismatch {
                encoded: self.gender(),
                recorded: gender,
            });
        }
        let encoded = self.birth_year();
        let recorded = date_of_birth.year();
        if encoded.div_euclid(100) != recorded.div_euclid(100) {
            found.push(IdInconsistency::CenturyMismatch { encoded, recorded });
        }
        if encoded.rem_euclid(100) != recorded.rem_euclid(100) {
            found.push(IdInconsistency::BirthYearMismatch { encoded, recorded });
        }
        found
    }
}

/// A disagreement between an ID number and the record it belongs to: a data-quality
/// defect to report (`dancu check`) and to fix by re-issuing the number or the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdInconsistency {
    /// The parity of the gender/century digit contradicts the recorded gender.
    GenderMismatch { encoded: Gender, recorded: Gender },
    /// The century encoded by the gender/century digit is not the century of the recorded
    /// birth year (e.g. digit 2 = 2000s for someone born in 1985). Years are full years.
    CenturyMismatch { encoded: i32, recorded: i32 },
    /// The two year digits `YY` differ from the last two digits of the recorded birth
    /// year. Years are full years.
    BirthYearMismatch { encoded: i32, recorded: i32 },
}

impl IdInconsistency {
    /// Stable rule name for reports and counts.
    pub fn code(self) -> &'static str {
        match self {
            IdInconsistency::GenderMismatch { .. } => "id_gender_mismatch",
            IdInconsistency::CenturyMismatch { .. } => "id_century_mismatch",
            IdInconsistency::BirthYearMismatch { .. } => "id_birth_year_mismatch",
        }
    }
}

impl fmt::Display for IdInconsistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IdInconsistency::GenderMismatch { encoded, recorded } => write!(
                f,
                "ID number encodes gender {} but the record says {}",
                encoded.code(),
                recorded.code()
            ),
            IdInconsistency::CenturyMismatch { encoded, recorded } => write!(
                f,
                "ID century digit encodes the {}s but the record's birth year is {recorded}",
                encoded.div_euclid(100) * 100
            ),
            IdInconsistency::BirthYearMismatch { encoded, recorded } => write!(
                f,
                "ID year digits are {:02} but the record's birth year is {recorded}",
                encoded.rem_euclid(100)
            ),
        }
    }
}

impl fmt::Display for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

/// Same as Display: the number is what anyone debugging needs to see.
impl fmt::Debug for PersonalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for PersonalId {
    type Err = PersonalIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PersonalId::parse(s)
    }
}

/// Serialized as the 12-digit string, because a JSON number would lose the leading zeros.
impl Serialize for PersonalId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PersonalId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        PersonalId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Old 9-digit ID card number (CMND), kept as an alias of the personal ID number. Kept
/// as text because its leading zeros are significant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OldIdNumber(String);

impl OldIdNumber {
    /// Exactly 9 ASCII digits, surrounding whitespace trimmed.
    pub fn parse(s: &str) -> Result<Self, PersonalIdError> {
        let s = s.trim();
        check_digits(s, OLD_ID_LEN)?;
        Ok(OldIdNumber(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OldIdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for OldIdNumber {
    type Err = PersonalIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OldIdNumber::parse(s)
    }
}

impl Serialize for OldIdNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OldIdNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        OldIdNumber::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer, U64Deserializer};

    fn id(s: &str) -> PersonalId {
        PersonalId::parse(s).unwrap()
    }

    #[test]
    fn province_table_is_the_63_pre_2025_codes() {
        let expected: [u16; 63] = [
            1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35,
            36, 37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70,
            72, 74, 75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
        ];
        assert_eq!(id_province_codes(), &expected);
        // Ascending, and the index finds each code's name and no other code.
        assert!(PROVINCES.windows(2).all(|w| w[0].0 < w[1].0));
        for code in 0..1000 {
            let listed = PROVINCES.iter().find(|&&(c, _)| c == code).map(|&(_, n)| n);
            assert_eq!(id_province_name(code), listed, "code {code}");
        }
        for (code, name) in [
            (1, "Hà Nội"),
            (2, "Hà Giang"),
            (4, "Cao Bằng"),
            (31, "Hải Phòng"),
            (48, "Đà Nẵng"),
            (52, "Bình Định"),
            (79, "Hồ Chí Minh"),
            (92, "Cần Thơ"),
            (96, "Cà Mau"),
        ] {
            assert_eq!(id_province_name(code), Some(name));
        }
        for code in [0, 3, 5, 97, 99, 100, 999] {
            assert_eq!(id_province_name(code), None, "{code}");
        }
    }

    #[test]
    fn parses_and_decodes() {
        let p = id("079085001234");
        assert_eq!(p.province_code(), 79);
        assert_eq!(p.province_name(), "Hồ Chí Minh");
        assert_eq!(p.gender(), Gender::Male);
        assert_eq!(p.birth_year(), 1985);
        assert_eq!(p.serial(), 1234);
        assert_eq!(p.as_u64(), 79_085_001_234);
        assert_eq!(p.to_string(), "079085001234");
        assert_eq!(format!("{p:?}"), "079085001234");
        assert_eq!(id("  001300000001\t").to_string(), "001300000001");
    }

    #[test]
    fn gender_and_century_digit() {
        let cases = [
            ('0', Gender::Male, 1900),
            ('1', Gender::Female, 1900),
            ('2', Gender::Male, 2000),
            ('3', Gender::Female, 2000),
            ('4', Gender::Male, 2100),
            ('5', Gender::Female, 2100),
            ('6', Gender::Male, 2200),
            ('7', Gender::Female, 2200),
            ('8', Gender::Male, 2300),
            ('9', Gender::Female, 2300),
        ];
        for (g, gender, century) in cases {
            for yy in [0, 7, 99] {
                let p = id(&format!("001{g}{yy:02}123456"));
                assert_eq!(p.gender(), gender, "{p}");
                assert_eq!(p.birth_year(), century + yy, "{p}");
                let built = PersonalId::from_parts(1, gender, century + yy, 123456).unwrap();
                assert_eq!(built, p);
            }
        }
    }

    #[test]
    fn parse_errors() {
        use PersonalIdError::*;
        let cases: [(&str, PersonalIdError); 11] = [
            ("", Empty),
            ("   ", Empty),
            (
                "07908500123",
                WrongLength {
                    expected: 12,
                    found: 11,
                },
            ),
            (
                "0790850012345",
                WrongLength {
                    expected: 12,
                    found: 13,
                },
            ),
            (
                "07908500123a",
                NonDigit {
                    position: 12,
                    found: 'a',
                },
            ),
            (
                "A79085001234",
                NonDigit {
                    position: 1,
                    found: 'A',
                },
            ),
            (
                "079 085 001234",
                NonDigit {
                    position: 4,
                    found: ' ',
                },
            ),
            (
                "07908500123٣",
                NonDigit {
                    position: 12,
                    found: '٣',
                },
            ),
            ("003085001234", UnknownProvince(3)),
            ("000085001234", UnknownProvince(0)),
            ("097085001234", UnknownProvince(97)),
        ];
        for (input, expected) in cases {
            assert_eq!(PersonalId::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn error_messages_are_precise() {
        let msg = |s: &str| PersonalId::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("07908500123"),
            "ID number must have 12 digits, found 11"
        );
        assert_eq!(
            msg("0790850x1234"),
            "ID number has a non-digit 'x' at position 8"
        );
        assert_eq!(
            msg("003085001234"),
            "ID number has unknown province code '003'"
        );
    }

    #[test]
    fn from_parts_validates_ranges() {
        use PersonalIdError::*;
        let f = PersonalId::from_parts;
        assert_eq!(f(3, Gender::Male, 1985, 1), Err(UnknownProvince(3)));
        assert_eq!(f(1, Gender::Male, 1899, 1), Err(YearOutOfRange(1899)));
        assert_eq!(f(1, Gender::Male, 2400, 1), Err(YearOutOfRange(2400)));
        assert_eq!(
            f(1, Gender::Male, 1985, 1_000_000),
            Err(SerialOutOfRange(1_000_000))
        );
        assert_eq!(
            f(96, Gender::Female, 2399, 999_999).unwrap().to_string(),
            "096999999999"
        );
        assert_eq!(
            f(1, Gender::Male, 1900, 0).unwrap().to_string(),
            "001000000000"
        );
        assert_eq!(
            f(52, Gender::Female, 2004, 42).unwrap().to_string(),
            "052304000042"
        );
    }

    #[test]
    fn from_u64_validates() {
        assert_eq!(
            PersonalId::from_u64(79_085_001_234).unwrap(),
            id("079085001234")
        );
        assert_eq!(
            PersonalId::from_u64(1_000_000_000_000),
            Err(PersonalIdError::NumberTooLarge(1_000_000_000_000))
        );
        assert_eq!(
            PersonalId::from_u64(3_085_001_234),
            Err(PersonalIdError::UnknownProvince(3))
        );
        assert_eq!(
            PersonalId::from_u64(85_001_234),
            Err(PersonalIdError::UnknownProvince(0))
        );
    }

    #[test]
    fn check_against_cases() {
        use IdInconsistency::*;
        let p = id("079185001234"); // female, 1985
        let y = PartialDate::Year;
        let full = |yr, m, d| PartialDate::Full(yr, m, d);
        let cases: Vec<(Gender, PartialDate, Vec<IdInconsistency>)> = vec![
            (Gender::Female, full(1985, 3, 2), vec![]),
            (Gender::Female, y(1985), vec![]),
            (Gender::Female, PartialDate::YearMonth(1985, 12), vec![]),
            (
                Gender::Male,
                y(1985),
                vec![GenderMismatch {
                    encoded: Gender::Female,
                    recorded: Gender::Male,
                }],
            ),
            (
                Gender::Female,
                y(2085),
                vec![CenturyMismatch {
                    encoded: 1985,
                    recorded: 2085,
                }],
            ),
            (
                Gender::Female,
                y(1958),
                vec![BirthYearMismatch {
                    encoded: 1985,
                    recorded: 1958,
                }],
            ),
            (
                Gender::Female,
                y(2005),
                vec![
                    CenturyMismatch {
                        encoded: 1985,
                        recorded: 2005,
                    },
                    BirthYearMismatch {
                        encoded: 1985,
                        recorded: 2005,
                    },
                ],
            ),
            (
                Gender::Male,
                full(1885, 1, 1),
                vec![
                    GenderMismatch {
                        encoded: Gender::Female,
                        recorded: Gender::Male,
                    },
                    CenturyMismatch {
                        encoded: 1985,
                        recorded: 1885,
                    },
                ],
            ),
        ];
        for (gender, dob, expected) in cases {
            assert_eq!(p.check_against(gender, &dob), expected, "{gender:?} {dob}");
        }
        // Century digit 2 (male, 2000s) recorded as born in 1999.
        let q = id("001299000001");
        assert_eq!(
            q.check_against(Gender::Male, &y(1999)),
            vec![CenturyMismatch {
                encoded: 2099,
                recorded: 1999
            }]
        );
        assert_eq!(
            q.check_against(Gender::Male, &y(1999))[0].to_string(),
            "ID century digit encodes the 2000s but the record's birth year is 1999"
        );
        assert_eq!(
            p.check_against(Gender::Female, &y(1958))[0].to_string(),
            "ID year digits are 85 but the record's birth year is 1958"
        );
        assert_eq!(
            p.check_against(Gender::Male, &y(1985))[0].to_string(),
            "ID number encodes gender F but the record says M"
        );
    }

    #[test]
    fn serde_uses_the_string() {
        let d: StrDeserializer<DeError> = "079085001234".into_deserializer();
        assert_eq!(PersonalId::deserialize(d).unwrap(), id("079085001234"));
        let d: StrDeserializer<DeError> = "003085001234".into_deserializer();
        assert!(
            PersonalId::deserialize(d)
                .unwrap_err()
                .to_string()
                .contains("'003'")
        );
        // A JSON number would have lost the leading zeros: refused.
        let d: U64Deserializer<DeError> = 79_085_001_234u64.into_deserializer();
        assert!(PersonalId::deserialize(d).is_err());
    }

    #[test]
    fn old_id_number() {
        let o = OldIdNumber::parse(" 012345678 ").unwrap();
        assert_eq!(o.as_str(), "012345678");
        assert_eq!(o.to_string(), "012345678");
        assert_eq!("012345678".parse::<OldIdNumber>().unwrap(), o);
        assert_eq!(
            OldIdNumber::parse("01234567"),
            Err(PersonalIdError::WrongLength {
                expected: 9,
                found: 8
            })
        );
        assert_eq!(
            OldIdNumber::parse("079085001234"),
            Err(PersonalIdError::WrongLength {
                expected: 9,
                found: 12
            })
        );
        assert_eq!(
            OldIdNumber::parse("01234567x"),
            Err(PersonalIdError::NonDigit {
                position: 9,
                found: 'x'
            })
        );
        assert_eq!(OldIdNumber::parse(""), Err(PersonalIdError::Empty));
        let d: StrDeserializer<DeError> = "012345678".into_deserializer();
        assert_eq!(OldIdNumber::deserialize(d).unwrap(), o);
    }

    fn gender() -> impl Strategy<Value = Gender> {
        prop_oneof![Just(Gender::Male), Just(Gender::Female)]
    }

    proptest! {
        #[test]
        fn parts_round_trip(
            pi in 0..PROVINCES.len(),
            g in gender(),
            year in FIRST_YEAR..=LAST_YEAR,
            serial in 0u32..1_000_000,
        ) {
            let code = PROVINCES[pi].0;
            let p = PersonalId::from_parts(code, g, year, serial).unwrap();
            prop_assert_eq!(p.province_code(), code);
            prop_assert_eq!(p.gender(), g);
            prop_assert_eq!(p.birth_year(), year);
            prop_assert_eq!(p.serial(), serial);
            prop_assert!(p.check_against(g, &PartialDate::Year(year)).is_empty());
            let s = p.to_string();
            prop_assert_eq!(s.len(), 12);
            prop_assert_eq!(PersonalId::parse(&s).unwrap(), p);
            prop_assert_eq!(PersonalId::from_u64(p.as_u64()).unwrap(), p);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,16}") {
            if let Ok(p) = PersonalId::parse(&s) {
                prop_assert_eq!(p.to_string(), s.trim());
            }
        }
    }
}
