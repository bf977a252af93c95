//! Demographic tables for the synthetic population: province populations, regional
//! ethnicity and religion mixes, the age pyramid and blood groups. Approximate figures
//! from the 2019 census and GSO 2023–2024 estimates; precise enough to look right.

/// Population of the 63 pre-2025 provinces (ID-number province codes), thousands, 2024.
/// Aggregated to the 34 provinces of 2025 through `UnitCatalog::old_provinces_of`.
pub const OLD_PROVINCE_POPULATION: [(u16, u32); 63] = [
    (1, 8587),
    (2, 908),
    (4, 547),
    (6, 327),
    (8, 805),
    (10, 770),
    (11, 654),
    (12, 487),
    (14, 1300),
    (15, 850),
    (17, 880),
    (19, 1340),
    (20, 800),
    (22, 1380),
    (24, 1920),
    (25, 1510),
    (26, 1220),
    (27, 1520),
    (30, 1960),
    (31, 2100),
    (33, 1300),
    (34, 1880),
    (35, 880),
    (36, 1880),
    (37, 1010),
    (38, 3760),
    (40, 3440),
    (42, 1330),
    (44, 920),
    (45, 650),
    (46, 1160),
    (48, 1250),
    (49, 1530),
    (51, 1250),
    (52, 1510),
    (54, 880),
    (56, 1260),
    (58, 600),
    (60, 1260),
    (62, 590),
    (64, 1600),
    (66, 1930),
    (67, 680),
    (68, 1340),
    (70, 1050),
    (72, 1200),
    (74, 2760),
    (75, 3300),
    (77, 1190),
    (79, 9520),
    (80, 1750),
    (82, 1790),
    (83, 1300),
    (84, 1020),
    (86, 1030),
    (87, 1600),
    (89, 1910),
    (91, 1760),
    (92, 1260),
    (93, 730),
    (94, 1200),
    (95, 920),
    (96, 1210),
];

/// Population of an old province (thousands), 0 if unknown.
pub fn old_population(code: u16) -> u32 {
    OLD_PROVINCE_POPULATION
        .iter()
        .find(|&&(c, _)| c == code)
        .map_or(0, |&(_, p)| p)
}

/// How an ethnic group's family names are drawn (see `names`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyKind {
    Kinh,
    TayNung,
    Thai,
    Hmong,
    Muong,
    Dao,
    Khmer,
    Hoa,
    Highland,
    Cham,
}

/// Ethnic groups the generator uses (names as the registry spells them) and how their
/// family names are drawn. Index = ethnicity id in the tables below.
pub const ETHNICITIES: &[(&str, FamilyKind)] = &[
    ("Kinh", FamilyKind::Kinh),         // 0
    ("Tày", FamilyKind::TayNung),       // 1
    ("Thái", FamilyKind::Thai),         // 2
    ("Mường", FamilyKind::Muong),       // 3
    ("Khmer", FamilyKind::Khmer),       // 4
    ("Hoa", FamilyKind::Hoa),           // 5
    ("Nùng", FamilyKind::TayNung),      // 6
    ("H'Mông", FamilyKind::Hmong),      // 7
    ("Dao", FamilyKind::Dao),           // 8
    ("Gia Rai", FamilyKind::Highland),  // 9
    ("Ê Đê", FamilyKind::Highland),     // 10
    ("Ba Na", FamilyKind::Highland),    // 11
    ("Xơ Đăng", FamilyKind::Highland),  // 12
    ("Sán Chay", FamilyKind::TayNung),  // 13
    ("Cơ Ho", FamilyKind::Highland),    // 14
    ("Chăm", FamilyKind::Cham),         // 15
    ("Sán Dìu", FamilyKind::Kinh),      // 16
    ("Ra Glai", FamilyKind::Cham),      // 17
    ("M'Nông", FamilyKind::Highland),   // 18
    ("Xtiêng", FamilyKind::Highland),   // 19
    ("Khơ Mú", FamilyKind::Thai),       // 20
    ("Giáy", FamilyKind::TayNung),      // 21
    ("Hà Nhì", FamilyKind::Hmong),      // 22
    ("Thổ", FamilyKind::Muong),         // 23
    ("Bru-Vân Kiều", FamilyKind::Kinh), // 24
    ("Cơ Tu", FamilyKind::Kinh),        // 25
    ("Hrê", FamilyKind::Kinh),          // 26
];

pub const KHMER: u8 = 4;
pub const HOA: u8 = 5;
pub const HMONG: u8 = 7;

/// Religions (as recorded: "Không" = none) and their index.
pub const RELIGIONS: &[&str] = &[
    "Không",
    "Phật giáo",
    "Công giáo",
    "Tin Lành",
    "Cao Đài",
    "Hòa Hảo",
];

/// Regions with a distinct ethnic and religious mix. Index into `REGIONS`.
pub struct Region {
    /// (ethnicity id, per mille).
    pub ethnicity: &'static [(u8, u32)],
    /// Per-mille weights of `RELIGIONS`.
    pub religion: [u32; 6],
}

pub const REGIONS: &[Region] = &[
    // 0: Red River delta and other Kinh lowlands.
    Region {
        ethnicity: &[
            (0, 985),
            (3, 3),
            (1, 3),
            (6, 2),
            (2, 2),
            (5, 3),
            (8, 1),
            (16, 1),
        ],
        religion: [900, 45, 45, 5, 3, 2],
    },
    // 1: northern mountains.
    Region {
        ethnicity: &[
            (0, 330),
            (1, 150),
            (2, 140),
            (7, 120),
            (3, 70),
            (6, 80),
            (8, 70),
            (13, 10),
            (20, 8),
            (21, 5),
            (22, 5),
            (16, 5),
        ],
        religion: [920, 15, 15, 50, 0, 0],
    },
    // 2: northern midlands (Thái Nguyên, Quảng Ninh, Bắc Giang, Phú Thọ).
    Region {
        ethnicity: &[
            (0, 850),
            (1, 50),
            (6, 40),
            (16, 30),
            (3, 20),
            (8, 10),
            (13, 10),
        ],
        religion: [930, 30, 35, 5, 0, 0],
    },
    // 3: Catholic delta (Nam Định, Ninh Bình).
    Region {
        ethnicity: &[(0, 985), (3, 10), (5, 2), (23, 3)],
        religion: [740, 40, 220, 0, 0, 0],
    },
    // 4: Thanh Hóa, Nghệ An.
    Region {
        ethnicity: &[(0, 850), (3, 70), (2, 60), (7, 10), (20, 5), (23, 5)],
        religion: [930, 20, 45, 5, 0, 0],
    },
    // 5: central coast.
    Region {
        ethnicity: &[(0, 955), (24, 12), (25, 10), (26, 15), (11, 5), (17, 3)],
        religion: [850, 90, 50, 5, 5, 0],
    },
    // 6: Ninh Thuận, Bình Thuận (Chăm).
    Region {
        ethnicity: &[(0, 850), (15, 100), (17, 40), (14, 5), (5, 5)],
        religion: [800, 100, 80, 10, 10, 0],
    },
    // 7: Central Highlands.
    Region {
        ethnicity: &[
            (0, 640),
            (9, 120),
            (10, 70),
            (11, 50),
            (12, 30),
            (14, 30),
            (18, 20),
            (1, 10),
            (6, 15),
            (2, 5),
            (3, 5),
            (7, 5),
        ],
        religion: [620, 70, 180, 130, 0, 0],
    },
    // 8: south-east (Đồng Nai, Bình Phước).
    Region {
        ethnicity: &[
            (0, 900),
            (5, 30),
            (6, 20),
            (1, 15),
            (19, 20),
            (4, 10),
            (14, 5),
        ],
        religion: [730, 60, 200, 10, 0, 0],
    },
    // 9: Tây Ninh (Cao Đài holy see).
    Region {
        ethnicity: &[(0, 980), (4, 10), (15, 5), (5, 5)],
        religion: [630, 70, 20, 0, 280, 0],
    },
    // 10: Hồ Chí Minh City area.
    Region {
        ethnicity: &[(0, 930), (5, 50), (4, 5), (15, 2), (1, 3), (6, 3), (3, 2)],
        religion: [820, 70, 90, 10, 10, 0],
    },
    // 11: Mekong delta.
    Region {
        ethnicity: &[(0, 985), (4, 10), (5, 5)],
        religion: [860, 60, 40, 0, 30, 10],
    },
    // 12: western Mekong, Hòa Hảo heartland.
    Region {
        ethnicity: &[(0, 940), (4, 45), (15, 8), (5, 7)],
        religion: [760, 60, 15, 0, 15, 150],
    },
    // 13: Khmer belt (Trà Vinh, Kiên Giang, Sóc Trăng, Bạc Liêu, Cà Mau).
    Region {
        ethnicity: &[(0, 800), (4, 170), (5, 30)],
        religion: [880, 60, 20, 0, 30, 10],
    },
];

/// Region of an old (ID-number) province code.
pub fn region_of(old_code: u16) -> u8 {
    match old_code {
        2 | 4 | 6 | 8 | 10 | 11 | 12 | 14 | 15 | 17 | 20 => 1,
        19 | 22 | 24 | 25 => 2,
        36 | 37 => 3,
        38 | 40 => 4,
        42..=56 => 5,
        58 | 60 => 6,
        62..=68 => 7,
        70 | 75 => 8,
        72 => 9,
        74 | 77 | 79 => 10,
        80..=83 | 86 => 11,
        87 | 89 | 92 | 93 => 12,
        84 | 91 | 94..=96 => 13,
        _ => 0,
    }
}

/// Vietnam's 2024 age pyramid, thousands per five-year group (0–4 … 95–99, 100+).
pub const PYRAMID: [u32; 21] = [
    7100, 7900, 8200, 7300, 6900, 7300, 8000, 8000, 7500, 6900, 6200, 5500, 4800, 3900, 2700, 1600,
    1000, 600, 250, 70, 10,
];

/// ABO blood groups of the Vietnamese population, per mille.
pub const BLOOD_TYPES: &[(&str, u32)] = &[("O", 420), ("B", 310), ("A", 210), ("AB", 60)];
