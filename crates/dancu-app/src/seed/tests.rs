use std::collections::{HashMap, HashSet};

use dancu_domain::text::canonical_name;

use super::*;

fn config(citizens: u64, rng_seed: u64) -> SeedConfig {
    SeedConfig {
        citizens,
        rng_seed,
        batch_size: 5_000,
        ..SeedConfig::default()
    }
}

fn run(citizens: u64, rng_seed: u64) -> Vec<PopulationBatch> {
    generate(config(citizens, rng_seed), UnitCatalog::embedded()).collect()
}

fn citizens(batches: &[PopulationBatch]) -> impl Iterator<Item = &Citizen> {
    batches.iter().flat_map(|b| b.citizens.iter())
}

#[test]
fn same_seed_same_people_other_seed_other_people() {
    let catalog = UnitCatalog::embedded();
    let a = generate(config(20_000, 7), catalog).next().unwrap();
    let b = generate(config(20_000, 7), catalog).next().unwrap();
    let c = generate(config(20_000, 8), catalog).next().unwrap();
    assert_eq!(a.citizens, b.citizens);
    assert_eq!(a.households, b.households);
    assert_eq!(a.residences, b.residences);
    assert_ne!(a.citizens, c.citizens);
}

#[test]
fn exact_count_and_whole_households() {
    for n in [0, 1, 2, 7, 4_999, 5_000, 12_345] {
        let batches = run(n, 1);
        assert_eq!(citizens(&batches).count() as u64, n, "citizens = {n}");
        for b in &batches {
            assert!(!b.citizens.is_empty());
            assert!(
                b.citizens.len() < 5_000 + 20,
                "batch of {}",
                b.citizens.len()
            );
            let households: HashSet<u64> = b.households.iter().map(|h| h.id).collect();
            assert!(
                b.citizens
                    .iter()
                    .all(|c| households.contains(&c.household_id.unwrap()))
            );
        }
    }
}

#[test]
fn ids_and_old_ids_unique_and_consistent() {
    let batches = run(200_000, 3);
    let mut ids = HashSet::new();
    let mut old = HashSet::new();
    let mut with_old = 0;
    let mut before_1995 = 0;
    for c in citizens(&batches) {
        assert!(ids.insert(c.personal_id), "duplicate {:?}", c.personal_id);
        assert!(
            c.personal_id
                .check_against(c.gender, &c.date_of_birth)
                .is_empty(),
            "{c:?}"
        );
        assert_eq!(
            c.birth_registration_province,
            Some(c.personal_id.province_code())
        );
        assert_eq!(c.nationality, "VN");
        if c.date_of_birth.year() < 1995 {
            before_1995 += 1;
        }
        if let Some(o) = &c.old_id_number {
            with_old += 1;
            assert!(o.len() == 9 && o.bytes().all(|b| b.is_ascii_digit()), "{o}");
            assert!(old.insert(o.clone()), "duplicate old id {o}");
            assert!(c.date_of_birth.year() < 1995);
        }
    }
    let share = f64::from(with_old) / f64::from(before_1995);
    assert!((0.55..0.65).contains(&share), "old-ID share {share}");
}

#[test]
fn households_are_consistent() {
    let batches = run(100_000, 4);
    let mut households = 0u64;
    let mut with_temporary = 0u64;
    let mut people = 0u64;
    for b in &batches {
        let by_id: HashMap<PersonalId, &Citizen> =
            b.citizens.iter().map(|c| (c.personal_id, c)).collect();
        let mut members: HashMap<u64, Vec<&Citizen>> = HashMap::new();
        for c in &b.citizens {
            members.entry(c.household_id.unwrap()).or_default().push(c);
        }
        let year = |c: &Citizen| c.date_of_birth.year();
        for h in &b.households {
            households += 1;
            let m = &members[&h.id];
            let heads: Vec<_> = m
                .iter()
                .filter(|c| c.relationship_to_head == Some(Relationship::Head))
                .collect();
            assert_eq!(heads.len(), 1, "household {}", h.id);
            assert_eq!(heads[0].personal_id, h.head_id);
            assert!(
                m.iter()
                    .all(|c| c.commune_code.as_deref() == Some(&*h.commune_code))
            );
            for c in m {
                if let Some(f) = c.father_id {
                    let f = by_id[&f];
                    assert_eq!(f.gender, Gender::Male);
                    assert_eq!(f.household_id, c.household_id);
                    let gap = year(c) - year(f);
                    assert!((18..=46).contains(&gap), "father gap {gap}");
                }
                if let Some(mo) = c.mother_id {
                    let mo = by_id[&mo];
                    assert_eq!(mo.gender, Gender::Female);
                    assert_eq!(mo.household_id, c.household_id);
                    let gap = year(c) - year(mo);
                    assert!((18..=46).contains(&gap), "mother gap {gap}");
                }
                if let Some(s) = c.spouse_id {
                    let s = by_id[&s];
                    assert_eq!(s.spouse_id, Some(c.personal_id));
                    assert_ne!(s.gender, c.gender);
                    assert!((year(s) - year(c)).abs() <= 12);
                    assert!(c.date_of_birth.age_on((2025, 7, 1)).is_none_or(|a| a >= 18));
                }
                match c.relationship_to_head.unwrap() {
                    Relationship::Spouse => assert_eq!(c.spouse_id, Some(h.head_id)),
                    Relationship::Child => {
                        assert!(c.father_id == Some(h.head_id) || c.mother_id == Some(h.head_id))
                    }
                    Relationship::Parent => {
                        let head = by_id[&h.head_id];
                        assert!(
                            head.father_id == Some(c.personal_id)
                                || head.mother_id == Some(c.personal_id)
                        );
                    }
                    _ => {}
                }
            }
        }
        // Residences: every citizen one open permanent residence first, at the household.
        let mut last: Option<PersonalId> = None;
        let mut seen = HashSet::new();
        let mut iter = b.residences.iter().peekable();
        while let Some((id, r)) = iter.next() {
            if last != Some(*id) {
                assert!(seen.insert(*id), "residences of {id:?} not consecutive");
                assert_eq!(r.kind, ResidenceKind::Permanent);
                let c = by_id[id];
                assert_eq!(Some(&r.commune_code), c.commune_code.as_ref());
                assert!(r.valid_from >= c.date_of_birth);
                assert!(r.valid_from.earliest() <= (2025, 7, 1));
                people += 1;
            } else {
                assert_eq!(r.kind, ResidenceKind::Temporary);
                assert_ne!(Some(&r.commune_code), by_id[id].commune_code.as_ref());
                with_temporary += 1;
            }
            assert!(r.valid_to.is_none());
            if let Some((next, nr)) = iter.peek()
                && next == id
            {
                assert!(nr.valid_from > r.valid_from);
            }
            last = Some(*id);
        }
        assert_eq!(seen.len(), b.citizens.len());
    }
    let mean = people as f64 / households as f64;
    assert!((3.0..=4.0).contains(&mean), "mean household size {mean}");
    let temporary = with_temporary as f64 / people as f64;
    assert!(
        (0.03..0.07).contains(&temporary),
        "temporary share {temporary}"
    );
}

#[test]
fn names_canonical_and_nguyen_share() {
    let batches = run(100_000, 5);
    let mut nguyen = 0;
    let mut total = 0;
    for c in citizens(&batches) {
        assert_eq!(canonical_name(&c.full_name), c.full_name);
        total += 1;
        if c.full_name.starts_with("Nguyễn ") {
            nguyen += 1;
        }
    }
    let share = f64::from(nguyen) / f64::from(total);
    assert!((0.35..=0.41).contains(&share), "Nguyễn share {share}");
}

#[test]
fn communes_exist_in_the_2025_catalog() {
    let catalog = UnitCatalog::embedded();
    let codes: HashSet<String> = catalog
        .provinces(Structure::Y2025)
        .flat_map(|p| catalog.children(Structure::Y2025, &p.code))
        .map(|c| c.code.to_string())
        .collect();
    let batches = run(50_000, 6);
    for b in &batches {
        assert!(b.households.iter().all(|h| codes.contains(&h.commune_code)));
        assert!(
            b.residences
                .iter()
                .all(|(_, r)| codes.contains(&r.commune_code))
        );
    }
}

#[test]
fn serials_use_the_slot_and_stop_at_the_bucket_limit() {
    let batches: Vec<_> = generate(
        SeedConfig {
            citizens: 1_000,
            serial_slot: 7,
            ..SeedConfig::default()
        },
        UnitCatalog::embedded(),
    )
    .collect();
    assert!(citizens(&batches).all(|c| c.personal_id.serial() / 100_000 == 7));
    let mut counters = vec![SERIALS_PER_SLOT - 1; SERIAL_BUCKETS];
    next_id(&mut counters, 0, 1, Gender::Male, 1990);
    let r = std::panic::catch_unwind(move || next_id(&mut counters, 0, 1, Gender::Male, 1990));
    assert!(r.is_err());
}

#[test]
fn days_round_trip() {
    for z in [-25_000, -1, 0, 1, 10_957, 20_000, 47_000] {
        let (y, m, d) = civil_from_days(z);
        assert_eq!(days_from_civil(y, m.into(), d.into()), z);
    }
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
}

/// Prints the demographic profile (run with `--ignored --nocapture` when tuning).
#[test]
#[ignore]
fn profile() {
    let batches = run(1_000_000, 9);
    let mut ages = [0u64; 21];
    let mut sizes = [0u64; 12];
    let mut men = 0u64;
    let mut eth: HashMap<String, u64> = HashMap::new();
    let mut rel: HashMap<String, u64> = HashMap::new();
    let mut n = 0u64;
    for b in &batches {
        let mut per: HashMap<u64, usize> = HashMap::new();
        for c in &b.citizens {
            n += 1;
            let a = 2025 - c.date_of_birth.year();
            ages[(a / 5).clamp(0, 20) as usize] += 1;
            men += u64::from(c.gender == Gender::Male);
            *eth.entry(c.ethnicity.clone().unwrap()).or_default() += 1;
            *rel.entry(c.religion.clone().unwrap()).or_default() += 1;
            *per.entry(c.household_id.unwrap()).or_default() += 1;
        }
        for s in per.values() {
            sizes[(*s).min(11)] += 1;
        }
    }
    let pct = |x: u64| 100.0 * x as f64 / n as f64;
    for (i, a) in ages.iter().enumerate() {
        println!(
            "{:>3}-{:<3} {:5.2}%  target {:5.2}%",
            i * 5,
            i * 5 + 4,
            pct(*a),
            100.0 * f64::from(tables::PYRAMID[i]) / f64::from(tables::PYRAMID.iter().sum::<u32>())
        );
    }
    println!("sizes {sizes:?}, men {:.1}%", pct(men));
    let mut e: Vec<_> = eth.into_iter().collect();
    e.sort_by_key(|x| std::cmp::Reverse(x.1));
    println!(
        "{:?}",
        &e[..10.min(e.len())]
            .iter()
            .map(|(k, v)| (k, pct(*v)))
            .collect::<Vec<_>>()
    );
    println!(
        "{:?}",
        rel.iter().map(|(k, v)| (k, pct(*v))).collect::<Vec<_>>()
    );
    for c in citizens(&batches).take(30) {
        println!(
            "{} {} {} {} {:?} {:?} {:?}",
            c.personal_id.as_u64(),
            c.full_name,
            c.date_of_birth,
            c.gender.code(),
            c.relationship_to_head,
            c.hometown,
            c.old_id_number
        );
    }
    for r in batches[0].residences.iter().take(12) {
        println!("{:?}", r.1);
    }
}
