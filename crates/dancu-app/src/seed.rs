//! Deterministic synthetic population behind `dancu seed --citizens N [--rng-seed S]`.
//!
//! The demo province and the benchmark population both come from here, so the output
//! has to look right to a Vietnamese officer: Vietnamese name frequencies by cohort,
//! the 2024 age pyramid, households with consistent kinship, ID numbers that agree with
//! birth province, gender and year, and addresses in real 2025 communes.
//!
//! Determinism: everything is drawn from one `ChaCha8Rng` seeded with
//! [`SeedConfig::rng_seed`] in a fixed order, so the same config and unit catalog give
//! the same people on every platform.
//!
//! Speed: all weight tables are cumulative arrays built once in [`generate`]; per person
//! the generator only allocates the record's own strings (≈1.5–2M people/s on one core),
//! so `dancu seed` is bound by the store, not by generation.

mod names;
mod tables;

use std::fmt::Write as _;

use dancu_domain::personal_id::id_province_name;
use dancu_domain::units::{Structure, UnitCatalog};
use dancu_domain::{
    Citizen, Gender, Household, PartialDate, PersonalId, PopulationBatch, Relationship, Residence,
    ResidenceKind,
};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use tables::FamilyKind;

/// Parameters of one `dancu seed` run.
#[derive(Debug, Clone)]
pub struct SeedConfig {
    /// Exact number of citizens to generate.
    pub citizens: u64,
    /// Same seed (and catalog) ⇒ same people.
    pub rng_seed: u64,
    /// Id of the first household; the caller passes one above the store's largest.
    pub first_household_id: u64,
    /// 0..=9: runs of seed into one store use different slots so ID serials never
    /// collide. The ID serial is `slot * 100_000 + permuted counter`, the old 9-digit
    /// ID `slot * 100_000_000 + permuted counter`.
    pub serial_slot: u8,
    /// The day ages are computed on (year, month, day); nobody is born after it.
    pub today: (i32, u8, u8),
    /// Approximate citizens per batch (whole households only).
    pub batch_size: usize,
}

impl Default for SeedConfig {
    fn default() -> Self {
        SeedConfig {
            citizens: 0,
            rng_seed: 0,
            first_household_id: 1,
            serial_slot: 0,
            today: (2025, 7, 1),
            batch_size: 10_000,
        }
    }
}

/// Streams batches (about `batch_size` citizens each, whole households only) until
/// exactly `citizens` people are generated. The iterator owns its tables (nothing
/// borrowed from `units`) and is `Send`, so the caller can generate on one thread
/// while another inserts.
///
/// # Panics
/// If `serial_slot > 9`, if `today` is outside 1950–2099, or if more than 100,000
/// people fall in one ID-serial bucket (same birth-registration province, gender and
/// birth year) or more than 100,000,000 old IDs are issued in one run. With the real
/// population distribution the first happens only above ≈50 million citizens per run;
/// split larger runs over several serial slots.
pub fn generate(
    config: SeedConfig,
    units: &UnitCatalog,
) -> impl Iterator<Item = PopulationBatch> + Send + use<> {
    assert!(
        config.serial_slot <= 9,
        "seed: serial_slot must be 0..=9, got {}",
        config.serial_slot
    );
    assert!(
        (1950..=2099).contains(&config.today.0),
        "seed: today {:?} is outside 1950–2099",
        config.today
    );
    let (y, m, d) = config.today;
    let today = days_from_civil(y, m.into(), d.into());
    Generator {
        tables: Tables::build(units),
        rng: ChaCha8Rng::seed_from_u64(config.rng_seed),
        remaining: config.citizens,
        next_household: config.first_household_id,
        serial_counters: vec![0; SERIAL_BUCKETS],
        old_id_counter: 0,
        people: Vec::with_capacity(32),
        ids: Vec::with_capacity(32),
        today,
        config,
    }
}

// ---------------------------------------------------------------------------------------
// Random helpers and weighted tables
// ---------------------------------------------------------------------------------------

/// Uniform in `0..n` by multiply-shift (bias < 2^-32 · n, irrelevant here, and branch-free).
#[inline]
fn below(rng: &mut ChaCha8Rng, n: u32) -> u32 {
    ((u64::from(rng.next_u32()) * u64::from(n)) >> 32) as u32
}

/// True with probability `per_mille / 1000`.
#[inline]
fn chance(rng: &mut ChaCha8Rng, per_mille: u32) -> bool {
    below(rng, 1000) < per_mille
}

/// Uniform in `lo..=hi` (returns `lo` if the range is empty).
#[inline]
fn between(rng: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    if hi <= lo {
        lo
    } else {
        lo + below(rng, (hi - lo + 1) as u32) as i32
    }
}

/// Items with cumulative weights: one draw = one random number + a binary search.
struct Table<T> {
    items: Vec<T>,
    cum: Vec<u32>,
}

impl<T: Copy> Table<T> {
    fn new(weighted: impl IntoIterator<Item = (T, u32)>) -> Self {
        let mut items = Vec::new();
        let mut cum = Vec::new();
        let mut total = 0u32;
        for (item, w) in weighted {
            if w > 0 {
                total += w;
                items.push(item);
                cum.push(total);
            }
        }
        assert!(total > 0, "seed: empty weight table");
        Table { items, cum }
    }

    #[inline]
    fn pick(&self, rng: &mut ChaCha8Rng) -> T {
        let x = below(rng, *self.cum.last().expect("non-empty"));
        self.items[self.cum.partition_point(|&c| c <= x)]
    }
}

// ---------------------------------------------------------------------------------------
// Days
// ---------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm): dates are drawn and
/// compared as day numbers, converted to `PartialDate` only on output.
fn days_from_civil(y: i32, m: u32, d: u32) -> i32 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i32) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i32::from(m <= 2);
    (y, m, d)
}

/// Approximate length of `n` years in days (ages need not be exact to the day).
const fn years(n: i32) -> i32 {
    n * 365 + n / 4
}

// ---------------------------------------------------------------------------------------
// Tables built once per run
// ---------------------------------------------------------------------------------------

struct Commune {
    code: String,
    urban: bool,
}

struct Province {
    communes: Vec<Commune>,
    /// Old (ID-number) provinces merged into it, weighted by population.
    olds: Table<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HouseholdKind {
    SingleYoung,
    SingleMiddle,
    SingleOld,
    CoupleYoung,
    CoupleOld,
    Nuclear,
    SingleParent,
    WithHeadsParents,
    ElderWithMarriedChild,
}

/// Household mix (per mille), tuned so that the mean size is ≈3.5 (2019 census: 3.5)
/// and the resulting ages follow the 2024 pyramid.
const HOUSEHOLD_KINDS: [(HouseholdKind, u32); 9] = [
    (HouseholdKind::SingleYoung, 35),
    (HouseholdKind::SingleMiddle, 25),
    (HouseholdKind::SingleOld, 55),
    (HouseholdKind::CoupleYoung, 30),
    (HouseholdKind::CoupleOld, 75),
    (HouseholdKind::Nuclear, 490),
    (HouseholdKind::SingleParent, 60),
    (HouseholdKind::WithHeadsParents, 105),
    (HouseholdKind::ElderWithMarriedChild, 125),
];

struct Tables {
    provinces: Vec<Province>,
    /// Province index weighted by population: where households live.
    province_pick: Table<u16>,
    /// Province index weighted towards the cities: where temporary residents go.
    migration_pick: Table<u16>,
    /// Old province codes weighted by population: where migrants were born.
    national_old: Table<u16>,
    /// North, south.
    kinh_family: [Table<&'static str>; 2],
    /// Indexed by `FamilyKind as usize` (Kinh unused).
    ethnic_family: Vec<Table<&'static str>>,
    /// [gender][cohort].
    middle: [[Table<&'static str>; 3]; 2],
    given: [[Table<&'static str>; 3]; 2],
    region_ethnicity: Vec<Table<u8>>,
    region_religion: Vec<Table<u8>>,
    /// `age_cum[a]` = pyramid weight of ages below `a` (0..=101).
    age_cum: [u32; 102],
    blood: Table<&'static str>,
    kinds: Table<HouseholdKind>,
    /// Names of the old provinces by ID-number code, for hometowns without a search.
    province_names: [Option<&'static str>; 100],
}

impl Tables {
    fn build(units: &UnitCatalog) -> Tables {
        let mut provinces = Vec::new();
        let mut province_weights = Vec::new();
        let mut migration_weights = Vec::new();
        for p in units.provinces(Structure::Y2025) {
            let communes: Vec<Commune> = units
                .children(Structure::Y2025, &p.code)
                .map(|c| Commune {
                    code: c.code.clone(),
                    urban: c.kind == "phuong",
                })
                .collect();
            let mut olds: Vec<u16> = units
                .old_provinces_of(&p.code)
                .iter()
                .filter_map(|s| s.parse::<u16>().ok())
                .filter(|&c| id_province_name(c).is_some())
                .collect();
            if olds.is_empty() {
                // A catalog without the merger mapping: the 2025 code is an old one.
                olds.extend(
                    p.code
                        .parse::<u16>()
                        .ok()
                        .filter(|&c| id_province_name(c).is_some()),
                );
            }
            if communes.is_empty() || olds.is_empty() {
                continue;
            }
            let weight: u32 = olds.iter().map(|&c| tables::old_population(c)).sum();
            let weight = weight.max(1);
            let idx = provinces.len() as u16;
            // Big cities draw temporary residents: HCMC, Hà Nội, Đồng Nai, Bắc Ninh.
            let pull = match olds[..] {
                [79, ..] | [.., 79] => 4,
                [1] => 3,
                _ if olds.contains(&75) || olds.contains(&27) || olds.contains(&74) => 2,
                _ => 1,
            };
            province_weights.push((idx, weight));
            migration_weights.push((idx, weight * pull));
            provinces.push(Province {
                communes,
                olds: Table::new(olds.iter().map(|&c| (c, tables::old_population(c).max(1)))),
            });
        }
        assert!(
            !provinces.is_empty(),
            "seed: the unit catalog has no 2025 province with communes"
        );

        let cohort = |w: &(&'static str, u32, u32, u32), era: usize| match era {
            0 => (w.0, w.1),
            1 => (w.0, w.2),
            _ => (w.0, w.3),
        };
        let by_cohort = |list: &'static [(&'static str, u32, u32, u32)]| {
            [0, 1, 2].map(|era| Table::new(list.iter().map(|w| cohort(w, era))))
        };
        let ethnic = |list: &'static [(&'static str, u32)]| Table::new(list.iter().copied());
        let mut age_cum = [0u32; 102];
        for a in 0..=100 {
            age_cum[a + 1] = age_cum[a] + tables::PYRAMID[a / 5];
        }
        Tables {
            provinces,
            province_pick: Table::new(province_weights),
            migration_pick: Table::new(migration_weights),
            national_old: Table::new(tables::OLD_PROVINCE_POPULATION.iter().copied()),
            kinh_family: [
                Table::new(names::KINH_FAMILY.iter().map(|&(n, w, _)| (n, w))),
                Table::new(names::KINH_FAMILY.iter().map(|&(n, _, w)| (n, w))),
            ],
            ethnic_family: vec![
                ethnic(names::TAY_NUNG_FAMILY), // Kinh: unused placeholder
                ethnic(names::TAY_NUNG_FAMILY),
                ethnic(names::THAI_FAMILY),
                ethnic(names::HMONG_FAMILY),
                ethnic(names::MUONG_FAMILY),
                ethnic(names::DAO_FAMILY),
                ethnic(names::KHMER_FAMILY),
                ethnic(names::HOA_FAMILY),
                ethnic(names::HIGHLAND_FAMILY),
                ethnic(names::CHAM_FAMILY),
            ],
            middle: [
                by_cohort(names::MALE_MIDDLE),
                by_cohort(names::FEMALE_MIDDLE),
            ],
            given: [by_cohort(names::MALE_GIVEN), by_cohort(names::FEMALE_GIVEN)],
            region_ethnicity: tables::REGIONS
                .iter()
                .map(|r| Table::new(r.ethnicity.iter().copied()))
                .collect(),
            region_religion: tables::REGIONS
                .iter()
                .map(|r| Table::new((0u8..).zip(r.religion)))
                .collect(),
            age_cum,
            blood: Table::new(tables::BLOOD_TYPES.iter().copied()),
            kinds: Table::new(HOUSEHOLD_KINDS),
            province_names: std::array::from_fn(|c| id_province_name(c as u16)),
        }
    }

    /// An age in whole years in `lo..=hi`, following the pyramid.
    fn age(&self, rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> i32 {
        let (a, b) = (self.age_cum[lo], self.age_cum[hi + 1]);
        let x = a + below(rng, b - a);
        (self.age_cum.partition_point(|&c| c <= x) - 1) as i32
    }

    fn family_name(&self, rng: &mut ChaCha8Rng, ethnicity: u8, south: bool) -> &'static str {
        match tables::ETHNICITIES[usize::from(ethnicity)].1 {
            FamilyKind::Kinh => self.kinh_family[usize::from(south)].pick(rng),
            kind => self.ethnic_family[kind as usize].pick(rng),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Households
// ---------------------------------------------------------------------------------------

const NONE: u8 = u8::MAX;

/// A member while the household is being built; indices refer to the same household.
#[derive(Clone, Copy)]
struct Person {
    gender: Gender,
    /// Day number of birth.
    birth: i32,
    rel: Relationship,
    father: u8,
    mother: u8,
    spouse: u8,
    /// Birth-registration (ID-number) province.
    prov: u16,
    /// Quê quán: an old province code (the father's line).
    hometown: u16,
    ethnicity: u8,
    family: &'static str,
    /// Day the permanent residence here starts (≤ birth ⇒ born here).
    since: i32,
}

impl Person {
    /// A child of `(father, mother)` who takes its hometown and ethnicity from `parent`.
    fn child_of(
        parent: &Person,
        gender: Gender,
        birth: i32,
        (father, mother): (u8, u8),
        prov: u16,
        family: &'static str,
        since: i32,
    ) -> Person {
        Person {
            gender,
            birth,
            rel: Relationship::Child,
            father,
            mother,
            spouse: NONE,
            prov,
            hometown: parent.hometown,
            ethnicity: parent.ethnicity,
            family,
            since,
        }
    }

    /// A parent of the head living in the household; their own parents are not recorded.
    fn elder(
        gender: Gender,
        birth: i32,
        prov: u16,
        ethnicity: u8,
        family: &'static str,
        since: i32,
    ) -> Person {
        Person {
            gender,
            birth,
            rel: Relationship::Parent,
            father: NONE,
            mother: NONE,
            spouse: NONE,
            prov,
            hometown: prov,
            ethnicity,
            family,
            since,
        }
    }
}

/// Per-household draws shared by the members.
struct HouseholdCtx {
    home_old: u16,
    region: u8,
    south: bool,
    since: i32,
}

struct Builder<'a> {
    t: &'a Tables,
    rng: &'a mut ChaCha8Rng,
    ps: &'a mut Vec<Person>,
    ctx: HouseholdCtx,
    today: i32,
}

impl Builder<'_> {
    /// Birth day of someone aged `lo..=hi` whole years today, following the pyramid.
    fn birth_aged(&mut self, lo: usize, hi: usize) -> i32 {
        let age = self.t.age(self.rng, lo, hi);
        self.today - years(age) - below(self.rng, 365) as i32
    }

    /// Where a person's birth was registered: mostly the household's own old province.
    fn birth_province(&mut self, local_per_mille: u32) -> u16 {
        if chance(self.rng, local_per_mille) {
            self.ctx.home_old
        } else {
            self.t.national_old.pick(self.rng)
        }
    }

    /// Where a grandparent's birth was registered: usually the province of the child
    /// they live with (80%), otherwise anywhere in the country.
    fn parent_birth_province(&mut self, child_province: u16) -> u16 {
        if chance(self.rng, 800) {
            child_province
        } else {
            self.t.national_old.pick(self.rng)
        }
    }

    fn ethnicity_near(&mut self, other: u8) -> u8 {
        if chance(self.rng, 930) {
            other
        } else {
            self.t.region_ethnicity[usize::from(self.ctx.region)].pick(self.rng)
        }
    }

    fn push(&mut self, p: Person) -> u8 {
        self.ps.push(p);
        (self.ps.len() - 1) as u8
    }

    /// A person with own (not inherited) family line.
    fn new_adult(&mut self, gender: Gender, birth: i32, rel: Relationship, ethnicity: u8) -> u8 {
        let prov = self.birth_province(850);
        let family = self.t.family_name(self.rng, ethnicity, self.ctx.south);
        self.push(Person {
            gender,
            birth,
            rel,
            father: NONE,
            mother: NONE,
            spouse: NONE,
            prov,
            hometown: prov,
            ethnicity,
            family,
            since: self.ctx.since,
        })
    }

    /// Birth day of the spouse of someone born on `birth`: husbands are on average
    /// three years older (range −3..+9 years), and the spouse is at least 18.
    fn spouse_birth(&mut self, birth: i32, spouse_is_wife: bool) -> i32 {
        let gap =
            (below(self.rng, years(6) as u32) + below(self.rng, years(6) as u32)) as i32 - years(3);
        let b = if spouse_is_wife {
            birth + gap
        } else {
            birth - gap
        };
        b.clamp(self.today - years(100), self.today - years(18) - 2)
    }

    /// Marries `a` to a new partner of the opposite gender with relationship `rel`.
    fn add_spouse(&mut self, a: u8, rel: Relationship) -> u8 {
        let pa = self.ps[usize::from(a)];
        let wife = pa.gender == Gender::Male;
        let birth = self.spouse_birth(pa.birth, wife);
        let gender = if wife { Gender::Female } else { Gender::Male };
        let ethnicity = self.ethnicity_near(pa.ethnicity);
        let s = self.new_adult(gender, birth, rel, ethnicity);
        self.ps[usize::from(a)].spouse = s;
        self.ps[usize::from(s)].spouse = a;
        s
    }

    /// Moving-in day of a spouse: shortly before the first child, else any time since
    /// both were adults and the household existed.
    fn marriage_day(&mut self, s: u8, partner: u8, first_child: Option<i32>) -> i32 {
        let (ps, pp) = (self.ps[usize::from(s)], self.ps[usize::from(partner)]);
        let lo = (ps.birth + years(18))
            .max(pp.birth + years(18))
            .max(pp.since);
        let hi = self.today;
        let d = match first_child {
            Some(c) => c - years(1) - below(self.rng, years(2) as u32) as i32,
            None => between(self.rng, lo, hi),
        };
        d.clamp(lo.min(hi), hi)
    }

    /// Children of `father`/`mother` (either may be `NONE`): births spaced 1–6 years,
    /// every parent 19–44 years older; adult children have often left home.
    /// Returns the first child's birth day, if any child was born.
    fn children(&mut self, father: u8, mother: u8, rel: Relationship, min_age: i32) -> Option<i32> {
        let births = [father, mother]
            .into_iter()
            .filter(|&i| i != NONE)
            .map(|i| self.ps[usize::from(i)].birth);
        let (older, younger) = births.fold((i32::MAX, i32::MIN), |(o, y), b| (o.min(b), y.max(b)));
        let last = (older + years(44)).min(self.today - years(min_age));
        let mother_born = if mother != NONE {
            self.ps[usize::from(mother)].birth
        } else {
            younger
        };
        let (y, _, _) = civil_from_days(mother_born);
        let wanted = match y {
            ..1960 => [100, 250, 300, 200, 150],
            1960..1980 => [120, 430, 300, 150, 0],
            _ => [250, 520, 190, 40, 0],
        };
        let mut n = 1;
        let mut x = below(self.rng, 1000);
        for w in wanted {
            if x < w {
                break;
            }
            x -= w;
            n += 1;
        }
        let line = if father != NONE { father } else { mother };
        let lp = self.ps[usize::from(line)];
        let absent_father_family =
            (father == NONE).then(|| self.t.family_name(self.rng, lp.ethnicity, self.ctx.south));
        let mut b = younger + years(19) + below(self.rng, years(9) as u32) as i32;
        let mut first = None;
        for _ in 0..n {
            if b > last {
                break;
            }
            let age = (self.today - b) / 365;
            let stays = match age {
                ..22 => 1000,
                22..28 => 400,
                28..35 => 250,
                _ => 50,
            };
            let born_year = civil_from_days(b).0;
            let male = if born_year >= 2005 { 526 } else { 513 };
            let gender = if chance(self.rng, male) {
                Gender::Male
            } else {
                Gender::Female
            };
            let prov = self.birth_province(920);
            let since = self.ctx.since.max(b);
            if chance(self.rng, stays) {
                first.get_or_insert(b);
                self.push(Person {
                    gender,
                    birth: b,
                    rel,
                    father,
                    mother,
                    spouse: NONE,
                    prov,
                    hometown: lp.hometown,
                    ethnicity: lp.ethnicity,
                    family: absent_father_family.unwrap_or(lp.family),
                    since,
                });
            }
            b += years(1) + 180 + below(self.rng, years(5) as u32) as i32;
        }
        first
    }

    /// The head alone, with household-level draws.
    fn head(&mut self, gender: Gender, lo: usize, hi: usize) -> u8 {
        let birth = self.birth_aged(lo, hi);
        let ethnicity = self.t.region_ethnicity[usize::from(self.ctx.region)].pick(self.rng);
        let h = self.new_adult(gender, birth, Relationship::Head, ethnicity);
        // Half of the locally born heads have lived here since birth; the others moved
        // in as adults.
        let since = if self.ps[0].prov == self.ctx.home_old && chance(self.rng, 500) {
            birth
        } else {
            between(self.rng, birth + years(18), self.today)
        };
        self.ctx.since = since;
        self.ps[usize::from(h)].since = since;
        h
    }

    fn gender(&mut self, male_per_mille: u32) -> Gender {
        if chance(self.rng, male_per_mille) {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// Head and spouse; the husband heads the household with probability `male_head`.
    fn couple(&mut self, lo: usize, hi: usize, male_head: u32) -> (u8, u8) {
        let g = self.gender(male_head);
        let h = self.head(g, lo, hi);
        let s = self.add_spouse(h, Relationship::Spouse);
        // Moved in at marriage; households with children refine this from the first child.
        let since = self.marriage_day(s, h, None);
        self.ps[usize::from(s)].since = since;
        (h, s)
    }

    fn parents_of(&self, a: u8, b: u8) -> (u8, u8) {
        if self.ps[usize::from(a)].gender == Gender::Male {
            (a, b)
        } else {
            (b, a)
        }
    }

    fn build(&mut self, kind: HouseholdKind) {
        use HouseholdKind::*;
        match kind {
            SingleYoung => {
                let g = self.gender(550);
                self.head(g, 19, 34);
            }
            SingleMiddle => {
                let g = self.gender(520);
                self.head(g, 35, 59);
            }
            SingleOld => {
                let g = self.gender(280);
                self.head(g, 60, 100);
            }
            CoupleYoung => {
                self.couple(21, 34, 800);
            }
            CoupleOld => {
                self.couple(60, 95, 850);
            }
            Nuclear => {
                let (h, s) = self.couple(27, 58, 800);
                let (f, m) = self.parents_of(h, s);
                let first = self.children(f, m, Relationship::Child, 0);
                let since = self.marriage_day(s, h, first);
                self.ps[usize::from(s)].since = since;
            }
            SingleParent => {
                let g = self.gender(200);
                let h = self.head(g, 28, 60);
                let (f, m) = if g == Gender::Male {
                    (h, NONE)
                } else {
                    (NONE, h)
                };
                self.children(f, m, Relationship::Child, 0);
            }
            WithHeadsParents => {
                let (h, s) = self.couple(26, 50, 850);
                self.heads_parents(h);
                let (f, m) = self.parents_of(h, s);
                let first = self.children(f, m, Relationship::Child, 0);
                let since = self.marriage_day(s, h, first);
                self.ps[usize::from(s)].since = since;
            }
            ElderWithMarriedChild => self.elder_with_married_child(),
        }
    }

    /// Parents of the head living with them (three generations).
    fn heads_parents(&mut self, h: u8) {
        let hp = self.ps[usize::from(h)];
        let x = below(self.rng, 1000);
        let (with_father, with_mother) = (x < 620, x >= 120);
        let oldest = self.today - years(100);
        let mother_birth = hp.birth - years(20) - below(self.rng, years(18) as u32) as i32;
        let mut father_birth = self.spouse_birth(mother_birth, false);
        father_birth = father_birth.clamp(hp.birth - years(44), hp.birth - years(19));
        let mut father = NONE;
        let mut mother = NONE;
        let since = |b: &mut Self, pb: i32| {
            if b.ctx.since <= hp.birth {
                // The head was born here: the parents were here before.
                (hp.birth - below(b.rng, years(5) as u32) as i32).max(pb + years(18))
            } else if chance(b.rng, 500) {
                b.ctx.since
            } else {
                between(b.rng, b.ctx.since, b.today)
            }
        };
        if with_father && father_birth >= oldest {
            let prov = self.parent_birth_province(hp.prov);
            let since = since(self, father_birth);
            father = self.push(Person::elder(
                Gender::Male,
                father_birth,
                prov,
                hp.ethnicity,
                hp.family,
                since,
            ));
            self.ps[usize::from(h)].father = father;
            self.ps[usize::from(h)].hometown = prov;
        }
        if with_mother && mother_birth >= oldest {
            let prov = self.parent_birth_province(hp.prov);
            let ethnicity = self.ethnicity_near(hp.ethnicity);
            let family = self.t.family_name(self.rng, ethnicity, self.ctx.south);
            let since = since(self, mother_birth);
            mother = self.push(Person::elder(
                Gender::Female,
                mother_birth,
                prov,
                ethnicity,
                family,
                since,
            ));
            self.ps[usize::from(h)].mother = mother;
        }
        if father != NONE && mother != NONE {
            self.ps[usize::from(father)].spouse = mother;
            self.ps[usize::from(mother)].spouse = father;
        }
    }

    /// An elderly head (with or without spouse), a married child with their spouse and
    /// the grandchildren; sometimes a younger unmarried child too.
    fn elder_with_married_child(&mut self) {
        let (h, s) = if chance(self.rng, 700) {
            self.couple(58, 90, 850)
        } else {
            let g = self.gender(250);
            (self.head(g, 58, 95), NONE)
        };
        let hp = self.ps[usize::from(h)];
        let (f, m) = if s == NONE {
            if hp.gender == Gender::Male {
                (h, NONE)
            } else {
                (NONE, h)
            }
        } else {
            self.parents_of(h, s)
        };
        let (older, younger) = [f, m]
            .into_iter()
            .filter(|&i| i != NONE)
            .map(|i| self.ps[usize::from(i)].birth)
            .fold((hp.birth, hp.birth), |(o, y), b| (o.min(b), y.max(b)));
        let lo = younger + years(19);
        let hi = (older + years(44)).min(self.today - years(20));
        if lo > hi {
            return;
        }
        let cb = between(self.rng, lo, hi);
        // Patrilocal custom: usually the son stays with his wife; sometimes a daughter
        // with her husband (who joins as "other").
        let son = chance(self.rng, 800);
        let lp = self.ps[usize::from(if f != NONE { f } else { m })];
        let family = if f != NONE {
            lp.family
        } else {
            self.t.family_name(self.rng, lp.ethnicity, self.ctx.south)
        };
        let prov = self.birth_province(900);
        let since = self.ctx.since.max(cb);
        let gender = if son { Gender::Male } else { Gender::Female };
        let c = self.push(Person::child_of(
            &lp,
            gender,
            cb,
            (f, m),
            prov,
            family,
            since,
        ));
        if s != NONE {
            let since = self.marriage_day(s, h, Some(cb));
            self.ps[usize::from(s)].since = since;
        }
        let cs = self.add_spouse(c, Relationship::Other);
        let (gf, gm) = self.parents_of(c, cs);
        let first = self.children(gf, gm, Relationship::Grandchild, 0);
        let since = self.marriage_day(cs, c, first);
        self.ps[usize::from(cs)].since = since;
        // A younger unmarried sibling still at home.
        if chance(self.rng, 250) {
            let lo = cb + years(2);
            let hi = (older + years(44)).min(self.today - years(15));
            if lo <= hi {
                let b = between(self.rng, lo, hi);
                let gender = self.gender(513);
                let prov = self.birth_province(920);
                let since = self.ctx.since.max(b);
                self.push(Person::child_of(
                    &lp,
                    gender,
                    b,
                    (f, m),
                    prov,
                    family,
                    since,
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------

/// Serial buckets: province code (< 100) × gender-century digit 0..=3 (1900–2099) × YY.
const SERIAL_BUCKETS: usize = 100 * 4 * 100;
const SERIALS_PER_SLOT: u32 = 100_000;
/// Odd and not a multiple of 5: multiplying by it permutes `0..100_000`, so serials look
/// random yet never repeat within a bucket.
const SERIAL_MULTIPLIER: u64 = 61_803;
const OLD_IDS_PER_SLOT: u64 = 100_000_000;
/// Coprime to 10^8, for the same reason.
const OLD_ID_MULTIPLIER: u64 = 73_939_133;

struct Generator {
    config: SeedConfig,
    tables: Tables,
    rng: ChaCha8Rng,
    remaining: u64,
    next_household: u64,
    serial_counters: Vec<u32>,
    old_id_counter: u64,
    people: Vec<Person>,
    ids: Vec<PersonalId>,
    today: i32,
}

impl Iterator for Generator {
    type Item = PopulationBatch;

    fn next(&mut self) -> Option<PopulationBatch> {
        if self.remaining == 0 {
            return None;
        }
        let size = self.config.batch_size.max(1);
        let mut batch = PopulationBatch {
            households: Vec::with_capacity(size / 3 + 1),
            citizens: Vec::with_capacity(size + 16),
            residences: Vec::with_capacity(size + size / 16 + 16),
        };
        while batch.citizens.len() < size && self.remaining > 0 {
            self.household(&mut batch);
        }
        Some(batch)
    }
}

impl Generator {
    /// Generates one household and appends it to `batch`.
    fn household(&mut self, batch: &mut PopulationBatch) {
        let t = &self.tables;
        let rng = &mut self.rng;
        let pi = usize::from(t.province_pick.pick(rng));
        let province = &t.provinces[pi];
        let commune = &province.communes[below(rng, province.communes.len() as u32) as usize];
        let home_old = province.olds.pick(rng);
        let ctx = HouseholdCtx {
            home_old,
            region: tables::region_of(home_old),
            south: home_old >= 48,
            since: 0,
        };
        self.people.clear();
        let kind = t.kinds.pick(rng);
        let mut b = Builder {
            t,
            rng,
            ps: &mut self.people,
            ctx,
            today: self.today,
        };
        b.build(kind);
        let HouseholdCtx { region, south, .. } = b.ctx;

        // The last household is cut to the exact count; links to cut members are dropped.
        if self.people.len() as u64 > self.remaining {
            let keep = self.remaining as usize;
            self.people.truncate(keep);
            for p in &mut self.people {
                for link in [&mut p.father, &mut p.mother, &mut p.spouse] {
                    if usize::from(*link) >= keep {
                        *link = NONE;
                    }
                }
            }
        }
        self.remaining -= self.people.len() as u64;

        // ID numbers first: members refer to each other by them.
        self.ids.clear();
        for p in &self.people {
            let year = civil_from_days(p.birth).0;
            let id = next_id(
                &mut self.serial_counters,
                self.config.serial_slot,
                p.prov,
                p.gender,
                year,
            );
            self.ids.push(id);
        }

        let religion_household = t.region_religion[usize::from(region)].pick(rng);
        let address = address(rng, commune.urban, south && home_old >= 70, region);
        let household_id = self.next_household;
        self.next_household += 1;
        batch.households.push(Household {
            id: household_id,
            head_id: self.ids[0],
            commune_code: commune.code.clone(),
            address: address.clone(),
        });
        let link = |i: u8| (i != NONE).then(|| self.ids[usize::from(i)]);
        for (i, p) in self.people.iter().enumerate() {
            let (year, month, day) = civil_from_days(p.birth);
            // Some records of the oldest people know only the year or month of birth.
            let dob = if year < 1950 && chance(rng, 10) {
                if chance(rng, 600) {
                    PartialDate::Year(year)
                } else {
                    PartialDate::YearMonth(year, month)
                }
            } else {
                PartialDate::Full(year, month, day)
            };
            let cohort = match year {
                ..1960 => 0,
                1960..1990 => 1,
                _ => 2,
            };
            let g = usize::from(p.gender == Gender::Female);
            let middle = t.middle[g][cohort].pick(rng);
            let mut given = t.given[g][cohort].pick(rng);
            // "Nguyễn Minh Minh" does not happen: redraw a given name equal to the middle.
            for _ in 0..3 {
                if !middle.ends_with(given) {
                    break;
                }
                given = t.given[g][cohort].pick(rng);
            }
            let mut full_name =
                String::with_capacity(p.family.len() + middle.len() + given.len() + 2);
            full_name.push_str(p.family);
            if !middle.is_empty() {
                full_name.push(' ');
                full_name.push_str(middle);
            }
            full_name.push(' ');
            full_name.push_str(given);

            let religion = if p.ethnicity == tables::KHMER && chance(rng, 900) {
                1
            } else if p.ethnicity == tables::HMONG && chance(rng, 150) {
                3
            } else if p.ethnicity == tables::HOA && chance(rng, 300) {
                1
            } else {
                religion_household
            };
            // Old 9-digit ID cards were issued to about 60% of those now over 30.
            let old_id_number = (year < 1995 && chance(rng, 600)).then(|| {
                let n = next_old_id(&mut self.old_id_counter, self.config.serial_slot);
                nine_digits(n)
            });
            let id = self.ids[i];
            batch.citizens.push(Citizen {
                personal_id: id,
                full_name,
                date_of_birth: dob,
                gender: p.gender,
                birth_registration_province: Some(p.prov),
                hometown: t.province_names[usize::from(p.hometown)].map(str::to_owned),
                ethnicity: Some(tables::ETHNICITIES[usize::from(p.ethnicity)].0.to_owned()),
                religion: Some(tables::RELIGIONS[usize::from(religion)].to_owned()),
                nationality: "VN".to_owned(),
                blood_type: Some(t.blood.pick(rng).to_owned()),
                old_id_number,
                father_id: link(p.father),
                mother_id: link(p.mother),
                spouse_id: link(p.spouse),
                household_id: Some(household_id),
                relationship_to_head: Some(p.rel),
                commune_code: Some(commune.code.clone()),
                commune_structure: Structure::Y2025,
                date_of_death: None,
            });
            let since = p.since.min(self.today);
            let valid_from = if since <= p.birth {
                dob
            } else {
                let (y, m, d) = civil_from_days(since);
                PartialDate::Full(y, m, d)
            };
            batch.residences.push((
                id,
                Residence {
                    kind: ResidenceKind::Permanent,
                    commune_code: commune.code.clone(),
                    address: address.clone(),
                    valid_from,
                    valid_to: None,
                },
            ));
            // About 5% of people (11% of those aged 18–45) also hold a temporary
            // residence elsewhere: students and workers in the cities.
            let age = (self.today - p.birth) / 365;
            if (18..=45).contains(&age) && chance(rng, 110) {
                let from = (self.today - 30 - below(rng, years(3) as u32) as i32).max(since + 1);
                if from <= self.today {
                    let tp = &t.provinces[usize::from(t.migration_pick.pick(rng))];
                    let mut tc = &tp.communes[below(rng, tp.communes.len() as u32) as usize];
                    if tc.code == commune.code {
                        tc = &tp.communes[(below(rng, tp.communes.len() as u32) as usize + 1)
                            % tp.communes.len()];
                    }
                    if tc.code != commune.code {
                        let (y, m, d) = civil_from_days(from);
                        batch.residences.push((
                            id,
                            Residence {
                                kind: ResidenceKind::Temporary,
                                commune_code: tc.code.clone(),
                                address: temporary_address(rng, tc.urban),
                                valid_from: PartialDate::Full(y, m, d),
                                valid_to: None,
                            },
                        ));
                    }
                }
            }
        }
        batch.households.last_mut().expect("pushed").address = address;
    }
}

/// The next ID number of the bucket (province, gender, birth year).
fn next_id(counters: &mut [u32], slot: u8, prov: u16, gender: Gender, year: i32) -> PersonalId {
    assert!(
        (1900..=2099).contains(&year),
        "seed: birth year {year} outside 1900–2099"
    );
    let g = ((year - 1900) / 100 * 2) as usize + usize::from(gender == Gender::Female);
    let bucket = (usize::from(prov) * 4 + g) * 100 + (year % 100) as usize;
    let n = counters[bucket];
    assert!(
        n < SERIALS_PER_SLOT,
        "seed: more than {SERIALS_PER_SLOT} people registered in province {prov:03}, \
         {gender:?}, born {year}: ID serials of slot {slot} exhausted; \
         generate fewer citizens per run (≈50M at most) and use another serial slot"
    );
    counters[bucket] = n + 1;
    // Offset by bucket so the same counter looks different across buckets.
    let permuted =
        (u64::from(n) * SERIAL_MULTIPLIER + bucket as u64 * 7_919) % u64::from(SERIALS_PER_SLOT);
    let serial = u32::from(slot) * SERIALS_PER_SLOT + permuted as u32;
    PersonalId::from_parts(prov, gender, year, serial).expect("valid province, year and serial")
}

fn next_old_id(counter: &mut u64, slot: u8) -> u64 {
    let n = *counter;
    assert!(
        n < OLD_IDS_PER_SLOT,
        "seed: more than {OLD_IDS_PER_SLOT} old ID numbers in one run (slot {slot})"
    );
    *counter += 1;
    u64::from(slot) * OLD_IDS_PER_SLOT + (n * OLD_ID_MULTIPLIER + 12_345_678) % OLD_IDS_PER_SLOT
}

/// `n` as exactly nine digits, without the formatting machinery.
fn nine_digits(mut n: u64) -> String {
    let mut buf = [b'0'; 9];
    for b in buf.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
    String::from_utf8(buf.to_vec()).expect("ASCII digits")
}

/// A plausible street-level address: house numbers, lanes ("ngõ" in the north, "hẻm" in
/// the south) and residential groups in wards; hamlets in communes ("Thôn"/"Xóm" in the
/// north, "Ấp" in the south, "Bản" in the northern uplands).
fn address(rng: &mut ChaCha8Rng, urban: bool, south: bool, region: u8) -> String {
    let mut s = String::with_capacity(48);
    let n = 1 + below(rng, 180);
    let k = 1 + below(rng, 25);
    let street = names::STREETS[below(rng, names::STREETS.len() as u32) as usize];
    let pick = below(rng, 10);
    let _ = match (urban, south) {
        (true, false) => match pick {
            0..4 => write!(s, "Số {n}, Tổ dân phố {k}"),
            4..8 => write!(s, "Số {n} ngõ {}, phố {street}", 1 + below(rng, 300)),
            _ => write!(s, "Số {n}, đường {street}"),
        },
        (true, true) => match pick {
            0..4 => write!(s, "Số {n}, Khu phố {k}"),
            4..7 => write!(s, "Số {n} hẻm {}, đường {street}", 1 + below(rng, 300)),
            _ => write!(s, "Số {n}, đường {street}"),
        },
        (false, true) => match pick {
            0..5 => write!(s, "Ấp {k}"),
            _ => write!(s, "Số {n}, Ấp {k}"),
        },
        (false, false) if region == 1 && pick < 5 => {
            let ban = names::BAN_NAMES[below(rng, names::BAN_NAMES.len() as u32) as usize];
            write!(s, "Bản {ban}")
        }
        (false, false) => match pick {
            0..4 => write!(s, "Thôn {k}"),
            4..6 => write!(s, "Xóm {k}"),
            _ => write!(s, "Số {n}, Thôn {k}"),
        },
    };
    s
}

/// Where temporary residents live: rented rooms and dormitories.
fn temporary_address(rng: &mut ChaCha8Rng, urban: bool) -> String {
    let mut s = String::with_capacity(40);
    let n = 1 + below(rng, 250);
    let _ = if urban {
        match below(rng, 3) {
            0 => write!(
                s,
                "Phòng {}, Số {n}, Tổ dân phố {}",
                1 + below(rng, 12),
                1 + below(rng, 30)
            ),
            1 => write!(s, "Số {n} ngõ {}", 1 + below(rng, 300)),
            _ => write!(s, "Số {n}, Khu phố {}", 1 + below(rng, 20)),
        }
    } else {
        write!(s, "Số {n}, Thôn {}", 1 + below(rng, 20))
    };
    s
}

#[cfg(test)]
mod tests;
