//! The store test suite, run against both backends: every test body takes a `&Store` and
//! is instantiated once for SQLite and once for a real PostgreSQL server.

use dancu_domain::units::{Structure, UnitCatalog};
use dancu_domain::{
    Citizen, Gender, Household, PartialDate, PersonalId, PopulationBatch, Relationship, Residence,
    ResidenceKind,
};
use dancu_store::testing::sample_communes as communes;
use dancu_store::testing::{ListedPerson, edit_listed_persons};
use dancu_store::{
    AlertRecord, AuditEntry, ChainTrust, ChainVerdict, Checkpoint, CitizenField, EventMeta, Fault,
    GroupEntry, HeadRecord, IndexedPerson, NewPartner, NewUser, NewVerifyJob, ReaddressPlan,
    SearchQuery, SigningKey, Store, UnitFilter, UsageDay, UsageDelta, Value,
};

fn date(s: &str) -> PartialDate {
    PartialDate::parse(s).unwrap()
}

fn pid(province: u16, gender: Gender, year: i32, serial: u32) -> PersonalId {
    PersonalId::from_parts(province, gender, year, serial).unwrap()
}

fn person(id: PersonalId, name: &str, dob: &str, commune: &str) -> Citizen {
    Citizen {
        ethnicity: Some("Kinh".into()),
        ..dancu_store::testing::citizen(id, name, dob, commune)
    }
}

fn meta(kind: &str, effective: &str) -> EventMeta {
    EventMeta {
        actor: "tester".into(),
        agency: "01".into(),
        basis: format!("basis of {kind}"),
        kind: kind.into(),
        summary: "{}".into(),
        effective_date: date(effective),
    }
}

struct Family {
    father: PersonalId,
    mother: PersonalId,
    child: PersonalId,
}

/// A household of three in `commune`, moved in on 2010-05-01.
fn family(household: u64, serial: u32, commune: &str) -> (PopulationBatch, Family) {
    let f = Family {
        father: pid(1, Gender::Male, 1980, serial),
        mother: pid(1, Gender::Female, 1982, serial),
        child: pid(1, Gender::Female, 2010, serial),
    };
    let mut father = person(f.father, "Nguyễn Văn Hòa", "1980-03-02", commune);
    let mut mother = person(f.mother, "Trần Thị Thủy", "1982", commune);
    let mut child = person(f.child, "Nguyễn Thị Minh Khai", "2010-07-15", commune);
    father.spouse_id = Some(f.mother);
    mother.spouse_id = Some(f.father);
    child.father_id = Some(f.father);
    child.mother_id = Some(f.mother);
    for (c, r) in [
        (&mut father, Relationship::Head),
        (&mut mother, Relationship::Spouse),
        (&mut child, Relationship::Child),
    ] {
        c.household_id = Some(household);
        c.relationship_to_head = Some(r);
    }
    let residence = |from: &str| Residence {
        kind: ResidenceKind::Permanent,
        commune_code: commune.into(),
        address: "Số 12, Thôn 3".into(),
        valid_from: date(from),
        valid_to: None,
    };
    let batch = PopulationBatch {
        households: vec![Household {
            id: household,
            head_id: f.father,
            commune_code: commune.into(),
            address: "Số 12, Thôn 3".into(),
        }],
        residences: vec![
            (f.father, residence("2010-05-01")),
            (f.mother, residence("2010-05-01")),
            (f.child, residence("2010-07-15")),
        ],
        citizens: vec![father, mother, child],
    };
    (batch, f)
}

fn load(store: &Store, batch: PopulationBatch) {
    store
        .load_population(
            &meta("import", "2020-01-01"),
            Structure::Y2025,
            &mut std::iter::once(batch),
            false,
        )
        .unwrap();
}

fn loads_and_reads_a_household(store: &Store) {
    let (a, _, _) = communes();
    let (mut batch, f) = family(1, 1, &a);
    batch.citizens[0].old_id_number = Some("012345678".into());
    load(store, batch);
    assert_eq!(store.count_citizens().unwrap(), 3);
    let child = store.citizen(f.child).unwrap().unwrap();
    assert_eq!(child.full_name, "Nguyễn Thị Minh Khai");
    assert_eq!(child.mother_id, Some(f.mother));
    assert_eq!(child.date_of_birth, date("2010-07-15"));
    assert_eq!(
        store.citizen(f.mother).unwrap().unwrap().date_of_birth,
        date("1982")
    );
    // A multi-get answers each person once, however often and wherever in its `IN`
    // groups (256 keys) a key is repeated: a batch chunk repeats its customers.
    let ids: Vec<_> = (0..600).map(|i| [f.father, f.child][i % 2]).collect();
    assert_eq!(store.identities_by_ids(&ids).unwrap().len(), 2);
    let old = store.identities_by_old_ids(&["012345678"; 600]).unwrap();
    assert_eq!(
        old.iter().map(|c| c.personal_id).collect::<Vec<_>>(),
        [f.father]
    );
    let (h, structure, members) = store.household(1).unwrap().unwrap();
    assert_eq!(structure, Structure::Y2025);
    assert_eq!(h.head_id, f.father);
    assert_eq!(members.len(), 3);
    assert_eq!(members[0].relationship_to_head, Some(Relationship::Head));
    assert!(
        store
            .citizen(pid(1, Gender::Male, 1999, 9))
            .unwrap()
            .is_none()
    );
    assert_eq!(store.max_household_id().unwrap(), 1);
}

fn a_failed_load_leaves_nothing(store: &Store) {
    let (a, _, _) = communes();
    let (mut batch, _) = family(1, 1, &a);
    let dup = batch.citizens[0].clone();
    batch.citizens.push(dup);
    // A bulk load drops and rebuilds indexes: its failure must restore them too.
    let result = store.load_population(
        &meta("import", "2020-01-01"),
        Structure::Y2025,
        &mut std::iter::once(batch),
        true,
    );
    assert!(result.is_err());
    assert_eq!(store.count_citizens().unwrap(), 0);
    assert!(store.household(1).unwrap().is_none());
    let events = store
        .read(|tx| tx.query_i64("SELECT COUNT(*) FROM events", &[]))
        .unwrap();
    assert_eq!(events, 0);
    let (batch, f) = family(1, 1, &a);
    store
        .load_population(
            &meta("seed", "2020-01-01"),
            Structure::Y2025,
            &mut std::iter::once(batch),
            true,
        )
        .unwrap();
    let found = store
        .search(&SearchQuery {
            name_folded: "nguyen thi minh khai".into(),
            prefix: false,
            date_of_birth: None,
            units: UnitFilter::All,
            limit: 5,
            after: None,
        })
        .unwrap();
    assert_eq!(found[0].personal_id, f.child);
}

fn searches_by_folded_name_date_and_unit(store: &Store) {
    let (a, b, _) = communes();
    let (batch, f) = family(1, 1, &a);
    load(store, batch);
    let (batch, g) = family(2, 2, &b);
    load(store, batch);
    let q = |name: &str, prefix: bool, dob: Option<&str>, units: UnitFilter| SearchQuery {
        name_folded: dancu_domain::text::fold(name),
        prefix,
        date_of_birth: dob.map(date),
        units,
        limit: 10,
        after: None,
    };
    let ids = |r: Vec<Citizen>| r.into_iter().map(|c| c.personal_id).collect::<Vec<_>>();
    let all = ids(store
        .search(&q("nguyen van hoa", false, None, UnitFilter::All))
        .unwrap());
    assert_eq!(all, vec![f.father, g.father]);
    let by_dob = store
        .search(&q(
            "Nguyễn Văn Hòa",
            false,
            Some("1980-03-02"),
            UnitFilter::All,
        ))
        .unwrap();
    assert_eq!(by_dob.len(), 2);
    // A year-only record matches a full date in that year, and the reverse.
    assert_eq!(
        store
            .search(&q(
                "tran thi thuy",
                false,
                Some("1982-06-01"),
                UnitFilter::All
            ))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .search(&q("nguyen van hoa", false, Some("1980"), UnitFilter::All))
            .unwrap()
            .len(),
        2
    );
    assert!(
        store
            .search(&q("nguyen van hoa", false, Some("1981"), UnitFilter::All))
            .unwrap()
            .is_empty()
    );
    let only_a = UnitFilter::Communes {
        current: vec![a.clone()],
        pre2025: vec![],
    };
    assert_eq!(
        ids(store.search(&q("nguyen", true, None, only_a)).unwrap()),
        vec![f.father, f.child]
    );
    let nothing = UnitFilter::Communes {
        current: vec![],
        pre2025: vec![],
    };
    assert!(
        store
            .search(&q("nguyen", true, None, nothing))
            .unwrap()
            .is_empty()
    );
    // Keyset pagination.
    let mut page = q("nguyen", true, None, UnitFilter::All);
    page.limit = 2;
    let first = ids(store.search(&page).unwrap());
    page.after = first.last().copied();
    let second = ids(store.search(&page).unwrap());
    assert_eq!(first.len() + second.len(), 4);
    assert!(first.iter().all(|i| !second.contains(i)));
}

fn updates_keep_history_and_as_of_reads_the_past(store: &Store) {
    let (a, b, _) = communes();
    let (batch, f) = family(1, 1, &a);
    load(store, batch);
    let changed = store
        .update_citizen(
            f.mother,
            &meta("update", "2023-01-01"),
            &[
                (CitizenField::FullName, Some("Trần Thị Thu Thủy".into())),
                (CitizenField::BloodType, Some("O".into())),
                (CitizenField::Ethnicity, Some("Kinh".into())),
            ],
        )
        .unwrap();
    assert_eq!(
        changed,
        vec![CitizenField::FullName, CitizenField::BloodType]
    );
    store
        .register_residence(
            f.mother,
            &meta("residence", "2024-02-01"),
            &Residence {
                kind: ResidenceKind::Permanent,
                commune_code: b.clone(),
                address: "Số 5 ngõ 8".into(),
                valid_from: date("2024-02-01"),
                valid_to: None,
            },
        )
        .unwrap();
    // A registration that would start before the one it ends is refused.
    let backdated = Residence {
        kind: ResidenceKind::Permanent,
        commune_code: a.clone(),
        address: "x".into(),
        valid_from: date("2024-01-01"),
        valid_to: None,
    };
    assert!(matches!(
        store.register_residence(f.mother, &meta("residence", "2024-01-01"), &backdated),
        Err(dancu_store::Error::Conflict(_))
    ));
    let now = store.citizen(f.mother).unwrap().unwrap();
    assert_eq!(now.full_name, "Trần Thị Thu Thủy");
    assert_eq!(now.commune_code.as_deref(), Some(b.as_str()));
    let history = store.changes(f.mother).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1].old_value.as_deref(), Some("Trần Thị Thủy"));
    assert_eq!(history[1].event.basis, "basis of update");
    let residences = store.residences(f.mother).unwrap();
    assert_eq!(residences.len(), 2);
    assert_eq!(residences[0].residence.valid_to, Some(date("2024-02-01")));
    assert_eq!(residences[0].ended_by.as_ref().unwrap().kind, "residence");
    let in_2022 = store
        .citizen_as_of(f.mother, date("2022-12-31"))
        .unwrap()
        .unwrap();
    assert_eq!(in_2022.full_name, "Trần Thị Thủy");
    assert_eq!(in_2022.blood_type, None);
    assert_eq!(in_2022.commune_code.as_deref(), Some(a.as_str()));
    let in_2023 = store
        .citizen_as_of(f.mother, date("2023-06-01"))
        .unwrap()
        .unwrap();
    assert_eq!(in_2023.full_name, "Trần Thị Thu Thủy");
    assert_eq!(in_2023.commune_code.as_deref(), Some(a.as_str()));
    let in_2025 = store
        .citizen_as_of(f.mother, date("2025-01-01"))
        .unwrap()
        .unwrap();
    assert_eq!(in_2025.commune_code.as_deref(), Some(b.as_str()));
    // Not born yet.
    assert!(
        store
            .citizen_as_of(f.child, date("2009-12-31"))
            .unwrap()
            .is_none()
    );
    // Search sees the new name.
    let found = store
        .search(&SearchQuery {
            name_folded: "tran thi thu thuy".into(),
            prefix: false,
            date_of_birth: None,
            units: UnitFilter::All,
            limit: 5,
            after: None,
        })
        .unwrap();
    assert_eq!(found.len(), 1);
}

fn readdress_moves_whole_households_with_history(store: &Store) {
    let (a, b, c) = communes();
    let (batch, f) = family(1, 1, &a);
    load(store, batch);
    let (batch, g) = family(2, 2, &b);
    load(store, batch);
    let (batch, other) = family(3, 3, &c);
    load(store, batch);
    // Chained mapping: a → b and b → c must move a's people to b only, not on to c.
    let plan = ReaddressPlan {
        mapping: vec![(a.clone(), b.clone()), (b.clone(), c.clone())],
        from: Structure::Y2025,
        to: Structure::Y2025,
        effective_date: date("2025-07-01"),
    };
    let dry = store.readdress(&plan, None).unwrap();
    assert!(!dry.applied);
    assert_eq!((dry.residences, dry.citizens, dry.households), (6, 6, 2));
    assert_eq!(
        store
            .citizen(f.child)
            .unwrap()
            .unwrap()
            .commune_code
            .as_deref(),
        Some(a.as_str())
    );
    let mut m = meta("readdress", "2025-07-01");
    m.basis = "Nghị quyết 1656/NQ-UBTVQH15".into();
    let done = store.readdress(&plan, Some(&m)).unwrap();
    assert!(done.applied);
    assert_eq!((done.residences, done.citizens, done.households), (6, 6, 2));
    assert_eq!(
        store
            .citizen(f.child)
            .unwrap()
            .unwrap()
            .commune_code
            .as_deref(),
        Some(b.as_str())
    );
    assert_eq!(
        store
            .citizen(g.father)
            .unwrap()
            .unwrap()
            .commune_code
            .as_deref(),
        Some(c.as_str())
    );
    assert_eq!(
        store
            .citizen(other.father)
            .unwrap()
            .unwrap()
            .commune_code
            .as_deref(),
        Some(c.as_str())
    );
    assert_eq!(store.household(1).unwrap().unwrap().0.commune_code, b);
    no_household_is_half_moved(store, &[1, 2, 3]);
    let history = store.residences(f.child).unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].residence.valid_to, Some(date("2025-07-01")));
    assert_eq!(history[1].residence.commune_code, b);
    assert_eq!(
        history[1].registered_by.basis,
        "Nghị quyết 1656/NQ-UBTVQH15"
    );
    // Before the effective date the person was still in the old commune.
    let before = store
        .citizen_as_of(f.child, date("2025-06-30"))
        .unwrap()
        .unwrap();
    assert_eq!(before.commune_code.as_deref(), Some(a.as_str()));
    // Quality rules agree the projection is consistent.
    let report = store.quality_report(UnitCatalog::embedded()).unwrap();
    let rule = |name: &str| report.iter().find(|r| r.rule == name).unwrap().count;
    assert_eq!(rule("residence_projection_mismatch"), 0);
    assert_eq!(rule("no_permanent_residence"), 0);
}

/// Every member of every household resolves to the household's unit.
fn no_household_is_half_moved(store: &Store, households: &[u64]) {
    for id in households {
        let (h, _, members) = store.household(*id).unwrap().unwrap();
        assert!(!members.is_empty());
        for m in members {
            assert_eq!(m.commune_code.as_deref(), Some(h.commune_code.as_str()));
        }
    }
}

fn plan(mapping: &[(&String, &String)], effective: &str) -> ReaddressPlan {
    ReaddressPlan {
        mapping: mapping
            .iter()
            .map(|(o, n)| (o.to_string(), n.to_string()))
            .collect(),
        from: Structure::Y2025,
        to: Structure::Y2025,
        effective_date: date(effective),
    }
}

fn commune_of(store: &Store, id: PersonalId) -> String {
    store.citizen(id).unwrap().unwrap().commune_code.unwrap()
}

fn as_of(store: &Store, id: PersonalId, day: &str) -> String {
    store
        .citizen_as_of(id, date(day))
        .unwrap()
        .unwrap()
        .commune_code
        .unwrap()
}

fn readdress_follows_chains_and_waits_for_future_dates(store: &Store) {
    let (a, b, c) = communes();
    let (batch, f) = family(1, 1, &a);
    load(store, batch);
    let (batch, g) = family(2, 2, &b);
    load(store, batch);
    let mut first = meta("readdress", "2025-07-01");
    first.basis = "Nghị quyết 1".into();
    store
        .readdress(&plan(&[(&a, &b)], "2025-07-01"), Some(&first))
        .unwrap();
    // A second reorganization merges b (with a's people) into c.
    let next = plan(&[(&b, &c)], "2026-01-01");
    let dry = store.readdress(&next, None).unwrap();
    assert_eq!((dry.residences, dry.citizens, dry.households), (6, 6, 2));
    assert_eq!(dry.per_unit, vec![(b.clone(), c.clone(), 6, 6, 2)]);
    let mut second = meta("readdress", "2026-01-01");
    second.basis = "Nghị quyết 2".into();
    store.readdress(&next, Some(&second)).unwrap();
    assert_eq!(commune_of(store, f.child), c);
    assert_eq!(commune_of(store, g.father), c);
    assert_eq!(as_of(store, f.child, "2025-06-30"), a);
    assert_eq!(as_of(store, f.child, "2025-12-31"), b);
    assert_eq!(as_of(store, f.child, "2026-01-01"), c);
    no_household_is_half_moved(store, &[1, 2]);
    // The history shows each step with its date and legal basis.
    let history = store.residences(f.child).unwrap();
    let steps: Vec<_> = history
        .iter()
        .map(|r| {
            (
                r.residence.commune_code.clone(),
                r.residence.valid_from.to_string(),
                r.residence.valid_to.map(|d| d.to_string()),
                r.registered_by.basis.clone(),
                r.readdressed,
            )
        })
        .collect();
    let to = |s: &str| Some(s.to_owned());
    assert_eq!(
        steps,
        vec![
            (
                a.clone(),
                "2010-07-15".into(),
                to("2025-07-01"),
                "basis of import".into(),
                false
            ),
            (
                b.clone(),
                "2025-07-01".into(),
                to("2026-01-01"),
                "Nghị quyết 1".into(),
                true
            ),
            (
                c.clone(),
                "2026-01-01".into(),
                None,
                "Nghị quyết 2".into(),
                true
            ),
        ]
    );
    assert_eq!(history[1].ended_by.as_ref().unwrap().basis, "Nghị quyết 2");
    assert!(history.iter().all(|r| r.seq == history[0].seq));
    // A unit is succeeded once; a unit that no longer exists receives no one; a unit
    // cannot be re-addressed before the residents sent to it arrive.
    let refused = |p: ReaddressPlan| match store.readdress(&p, Some(&meta("readdress", "2027"))) {
        Err(dancu_store::Error::Conflict(m)) => m,
        other => panic!("expected a conflict, got {other:?}"),
    };
    assert!(refused(plan(&[(&a, &c)], "2027-01-01")).contains("already re-addressed"));
    assert!(refused(plan(&[(&c, &b)], "2027-01-01")).contains("no longer exists"));
    // A merger decided for a future date changes nothing today, and as-of reads see it.
    let (batch, h) = family(3, 3, &c);
    load(store, batch);
    let d = UnitCatalog::embedded()
        .children(Structure::Y2025, "01")
        .map(|u| u.code.clone())
        .find(|code| *code != a && *code != b)
        .unwrap();
    store
        .readdress(
            &plan(&[(&c, &d)], "2399-01-01"),
            Some(&meta("readdress", "2399-01-01")),
        )
        .unwrap();
    assert_eq!(commune_of(store, h.father), c);
    assert_eq!(commune_of(store, f.child), c);
    assert_eq!(as_of(store, f.child, "2399-06-01"), d);
    assert!(refused(plan(&[(&d, &c)], "2398-01-01")).contains("after the date"));
    assert_eq!(store.residences(f.child).unwrap().len(), 3);
    // A registration later made in a unit that no longer exists is shown in its
    // successor, and `check` reports it.
    let mut late = meta("residence", "2025-09-01");
    late.basis = "late".into();
    store
        .register_residence(
            h.child,
            &late,
            &Residence {
                kind: ResidenceKind::Temporary,
                commune_code: a.clone(),
                address: "x".into(),
                valid_from: date("2025-09-01"),
                valid_to: None,
            },
        )
        .unwrap();
    let report = store.quality_report(UnitCatalog::embedded()).unwrap();
    let rule = |name: &str| report.iter().find(|r| r.rule == name).unwrap().clone();
    assert_eq!(rule("registered_in_succeeded_unit").count, 1);
    assert_eq!(
        rule("registered_in_succeeded_unit").examples,
        vec![h.child.to_string()]
    );
    assert_eq!(rule("residence_projection_mismatch").count, 0);
    let temporary = store.residences(h.child).unwrap();
    assert_eq!(temporary.last().unwrap().residence.commune_code, c);
}

fn quality_rules_find_defects(store: &Store) {
    let (a, _, _) = communes();
    let (mut batch, f) = family(1, 1, &a);
    // Gender digit says female, record says male; year digits disagree.
    batch.citizens[1].gender = Gender::Male;
    batch.citizens[2].date_of_birth = date("2011-01-01");
    batch.citizens[2].father_id = Some(pid(1, Gender::Male, 1950, 999));
    load(store, batch);
    let (mut orphan, _) = family(2, 2, &a);
    for c in &mut orphan.citizens {
        c.relationship_to_head = Some(Relationship::Other);
    }
    load(store, orphan);
    let report = store.quality_report(UnitCatalog::embedded()).unwrap();
    let rule = |name: &str| report.iter().find(|r| r.rule == name).unwrap().clone();
    assert_eq!(rule("gender_mismatch").count, 1);
    assert_eq!(rule("gender_mismatch").examples, vec![f.mother.to_string()]);
    assert_eq!(rule("birth_year_mismatch").count, 1);
    assert_eq!(rule("dangling_parent_reference").count, 1);
    assert_eq!(rule("household_without_head").count, 1);
    assert_eq!(rule("malformed_personal_id").count, 0);
    assert_eq!(rule("unknown_commune").count, 0);
    assert_eq!(rule("spouse_not_reciprocal").count, 0);
    assert_eq!(rule("parent_wrong_gender").count, 1); // the mother recorded as male
}

fn quality_rules_cover_every_kind_of_defect(store: &Store) {
    let (a, b, _) = communes();
    let residence = |commune: &str| Residence {
        kind: ResidenceKind::Permanent,
        commune_code: commune.into(),
        address: "x".into(),
        valid_from: date("2000"),
        valid_to: None,
    };
    let century = pid(1, Gender::Male, 2010, 1); // digit says 2000s
    let dead = pid(1, Gender::Male, 1980, 2);
    let head1 = pid(1, Gender::Male, 1970, 3);
    let head2 = pid(1, Gender::Female, 1972, 3);
    let lonely = pid(1, Gender::Male, 1960, 4);
    let old1 = pid(1, Gender::Male, 1961, 5);
    let old2 = pid(1, Gender::Male, 1962, 5);
    let unknown = pid(1, Gender::Female, 1963, 6);
    let moved = pid(1, Gender::Female, 1964, 7);
    let mut people = vec![
        person(century, "Lê Văn A", "1910-01-01", &a),
        person(dead, "Lê Văn B", "1980", &a),
        person(head1, "Lê Văn C", "1970", &a),
        person(head2, "Lê Thị D", "1972", &a),
        person(lonely, "Lê Văn E", "1960", &a),
        person(old1, "Lê Văn F", "1961", &a),
        person(old2, "Lê Văn G", "1962", &a),
        person(unknown, "Lê Thị H", "1963", &a),
        person(moved, "Lê Thị I", "1964", &a),
    ];
    people[1].date_of_death = Some(date("1970"));
    for p in &mut people[2..4] {
        p.household_id = Some(7);
        p.relationship_to_head = Some(Relationship::Head);
    }
    people[2].spouse_id = Some(head2); // not returned
    people[5].old_id_number = Some("012345678".into());
    people[6].old_id_number = Some("012345678".into());
    let mut residences: Vec<_> = people
        .iter()
        .filter(|p| p.personal_id != lonely)
        .map(|p| (p.personal_id, residence(&a)))
        .collect();
    for r in &mut residences {
        if r.0 == unknown {
            r.1.commune_code = "99999".into();
        }
        if r.0 == moved {
            r.1.commune_code = b.clone();
        }
    }
    let households = vec![
        Household {
            id: 7,
            head_id: head1,
            commune_code: a.clone(),
            address: "x".into(),
        },
        Household {
            id: 8,
            head_id: head2,
            commune_code: a.clone(),
            address: "x".into(),
        },
        Household {
            id: 9,
            head_id: pid(1, Gender::Male, 1930, 9),
            commune_code: a.clone(),
            address: "x".into(),
        },
    ];
    load(
        store,
        PopulationBatch {
            households,
            citizens: people,
            residences,
        },
    );
    let report = store.quality_report(UnitCatalog::embedded()).unwrap();
    let rule = |name: &str| report.iter().find(|r| r.rule == name).unwrap().clone();
    let expect = |name: &str, example: String| {
        let r = rule(name);
        assert_eq!((r.count, r.examples.clone()), (1, vec![example]), "{name}");
    };
    expect("century_mismatch", century.to_string());
    expect("death_before_birth", dead.to_string());
    expect("household_with_several_heads", "7".into());
    expect("person_in_two_households", head2.to_string());
    assert_eq!(rule("household_without_head").count, 2, "8 and 9");
    expect("dangling_household_head", "9".into());
    expect("spouse_not_reciprocal", head1.to_string());
    expect("duplicate_old_id_number", "012345678".into());
    expect("no_permanent_residence", lonely.to_string());
    expect("unknown_commune", "99999".into());
    assert_eq!(
        rule("residence_projection_mismatch").count,
        2,
        "unknown and moved"
    );
    assert_eq!(rule("gender_mismatch").count, 0);
    assert_eq!(rule("birth_year_mismatch").count, 0);
}

fn audit_and_accounts(store: &Store) {
    let who = pid(1, Gender::Male, 1980, 1);
    let entry = |action: &str| AuditEntry {
        at_millis: 1,
        actor: "officer.a".into(),
        actor_role: "officer".into(),
        actor_unit: "01".into(),
        action: action.into(),
        personal_id: Some(who),
        purpose: None,
        outcome: "ok".into(),
        ..Default::default()
    };
    store
        .append_audit(&[entry("citizen.read"), entry("citizen.history")])
        .unwrap();
    let seen = store.audit_for_person(who, 10).unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].action, "citizen.history");
    assert_eq!(store.audit_count().unwrap(), 2);

    let user = NewUser {
        username: "officer.a".into(),
        password_hash: "$argon2id$x".into(),
        role: "officer".into(),
        unit: "01".into(),
        kind: "staff".into(),
        totp_secret: Some("JBSWY3DPEHPK3PXP".into()),
        recovery_code_hashes: vec!["r1".into(), "r2".into()],
        created_by: "system:test".into(),
        ..Default::default()
    };
    let id = store.create_user(&user).unwrap();
    assert!(store.create_user(&user).is_err(), "usernames are unique");
    assert_eq!(store.password_history(id, 5).unwrap(), ["$argon2id$x"]);
    let soon = dancu_store::now_millis() + 60_000;
    store
        .open_session(id, "h1", soon, soon, Some("10.0.0.1"))
        .unwrap();
    store
        .open_session(id, "h2", dancu_store::now_millis() - 1, 0, None)
        .unwrap();
    assert_eq!(
        store.session("h1").unwrap().unwrap().user.username,
        "officer.a"
    );
    assert!(store.session("h2").unwrap().is_none(), "expired");
    store.revoke_session("h1").unwrap();
    assert!(store.session("h1").unwrap().is_none(), "revoked");

    // Failures count atomically and lock; a successful session clears them.
    let lock = |n: i64| if n >= 2 { 99 } else { 0 };
    assert_eq!(store.note_login_failure(id, lock).unwrap(), 1);
    assert_eq!(store.note_login_failure(id, lock).unwrap(), 2);
    let locked = store.user_by_name("officer.a").unwrap().unwrap();
    assert_eq!((locked.failed_logins, locked.locked_until), (2, 99));
    store.open_session(id, "h3", soon, soon, None).unwrap();
    let cleared = store.user_by_name("officer.a").unwrap().unwrap();
    assert_eq!((cleared.failed_logins, cleared.locked_until), (0, 0));

    // A TOTP step and a recovery code are each good once.
    assert!(store.claim_totp_step(id, 100).unwrap());
    assert!(!store.claim_totp_step(id, 100).unwrap(), "replayed step");
    assert!(!store.claim_totp_step(id, 99).unwrap(), "older step");
    assert!(store.use_recovery_code(id, "r1").unwrap());
    assert!(!store.use_recovery_code(id, "r1").unwrap(), "spent");
    assert!(!store.use_recovery_code(id, "nope").unwrap());
    assert_eq!(store.unused_recovery_codes(id).unwrap(), 1);

    // A password change is kept in the history and ends the other sessions.
    store.open_session(id, "h4", soon, soon, None).unwrap();
    store
        .change_password(id, "$argon2id$y", "officer.a", Some("h4"))
        .unwrap();
    assert_eq!(
        store.password_history(id, 5).unwrap(),
        ["$argon2id$y", "$argon2id$x"]
    );
    assert!(store.session("h3").unwrap().is_none());
    assert!(store.session("h4").unwrap().is_some());
    store.set_user_disabled(id, true).unwrap();
    assert!(
        store.session("h4").unwrap().is_none(),
        "disabling ends sessions"
    );
}

/// The tracker's index of single entries (sorted runs, merged in steps): at every step of
/// the indexer, interleaved with appends, each person's entries are found exactly once.
/// A tiny shape makes three levels of runs, merges cut into many steps, and a person
/// with more entries than a step moves.
fn tracker_index_finds_each_entry_once_at_every_step(store: &Store) {
    use dancu_store::{IndexStep, RunShape};
    let shape = RunShape {
        first_run: 8,
        fanout: 3,
        step_rows: 5,
    };
    let persons: Vec<PersonalId> = (1..=6).map(|i| pid(1, Gender::Female, 1990, i)).collect();
    // Expected actions per person, newest first once reversed.
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); persons.len()];
    let mut n = 0u64;
    let check = |expected: &[Vec<String>]| {
        for (person, want) in persons.iter().zip(expected) {
            let seen: Vec<String> = store
                .audit_for_person(*person, 1000)
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect();
            let want: Vec<String> = want.iter().rev().cloned().collect();
            assert_eq!(seen, want, "entries of {person}");
        }
        // The tracker's query would hide a pair stored twice: count them.
        let (stored, indexed) = store
            .read(|tx| {
                let stored = tx.query_i64("SELECT COUNT(*) FROM audit_run_rows", &[])?;
                let indexed = tx.query_i64(
                    "SELECT COUNT(*) FROM audit_log WHERE personal_id IS NOT NULL \
                     AND id <= (SELECT indexed_upto FROM audit_run_state)",
                    &[],
                )?;
                Ok((stored, indexed))
            })
            .unwrap();
        assert_eq!(stored, indexed, "each indexed entry is in exactly one run");
    };
    for round in 0..6 {
        let mut batch = Vec::new();
        for _ in 0..70 {
            n += 1;
            // Person 0 gets a third of the entries; some entries are about no one.
            let who = match (n * 7919) % 9 {
                0..=2 => Some(0),
                3 => None,
                k => Some(k as usize - 3),
            };
            batch.push(AuditEntry {
                at_millis: n as i64,
                actor: "officer.a".into(),
                actor_role: "officer".into(),
                actor_unit: "01".into(),
                action: format!("read.{n}"),
                personal_id: who.map(|w| persons[w]),
                outcome: "ok".into(),
                ..Default::default()
            });
        }
        // Appends land between steps, and a few steps of a round may leave a merge open.
        for chunk in batch.chunks(23) {
            store.append_audit(chunk).unwrap();
            for e in chunk {
                if let Some(w) = persons.iter().position(|p| Some(*p) == e.personal_id) {
                    expected[w].push(e.action.clone());
                }
            }
            check(&expected);
            for _ in 0..(round + 2) {
                store.index_audit_step(shape).unwrap();
                check(&expected);
            }
        }
    }
    let mut steps = 0;
    while store.index_audit_step(shape).unwrap() != IndexStep::Idle {
        check(&expected);
        steps += 1;
        assert!(steps < 10_000, "the indexer ends");
    }
    check(&expected);
    assert!(store.audit_index_backlog().unwrap() < shape.first_run);
    let levels = store
        .read(|tx| tx.query_i64("SELECT MAX(level) FROM audit_runs", &[]))
        .unwrap();
    assert!(
        levels >= 2,
        "runs were merged twice over (top level {levels})"
    );
}

fn dossiers_scope_lookups(store: &Store) {
    let who = pid(1, Gender::Female, 1990, 7).as_u64() as i64;
    let other = pid(1, Gender::Male, 1991, 8).as_u64() as i64;
    let d = store
        .open_dossier("00004", "birth", who, "civil.a")
        .unwrap();
    let record = store.dossier(d).unwrap().unwrap();
    assert_eq!(
        (
            record.status.as_str(),
            record.subject_id,
            record.unit.as_str()
        ),
        (dancu_store::DOSSIER_IN_PROGRESS, who, "00004")
    );
    assert_eq!(
        store
            .subjects_with_open_dossier("00004", &[who, other])
            .unwrap(),
        [who]
    );
    assert!(store.close_dossier(d).unwrap());
    assert!(!store.close_dossier(d).unwrap(), "closed once");
    assert!(
        store
            .subjects_with_open_dossier("00004", &[who])
            .unwrap()
            .is_empty()
    );
    assert!(store.dossier(d + 1000).unwrap().is_none());
}

fn partners_usage_and_alerts(store: &Store) {
    let partner = NewPartner {
        name: "bank.a".into(),
        api_key_hash: "k1".into(),
        scopes: "verify".into(),
        daily_quota: 100,
        allow_ips: "10.0.0.0/8".into(),
        created_by: "system:test".into(),
        agency: "BYT".into(),
        returns: String::new(),
    };
    let id = store.create_partner(&partner).unwrap();
    assert!(
        matches!(
            store.create_partner(&NewPartner {
                api_key_hash: "k2".into(),
                ..partner.clone()
            }),
            Err(dancu_store::Error::Conflict(_))
        ),
        "names are unique"
    );
    let found = store.partner_by_key_hash("k1").unwrap().unwrap();
    assert_eq!(found.agency, "BYT");
    assert_eq!(
        (found.id, found.name.as_str(), found.scopes.as_str()),
        (id, "bank.a", "verify")
    );
    assert_eq!(
        (found.daily_quota, found.allow_ips.as_str()),
        (100, "10.0.0.0/8")
    );
    assert!(!found.disabled);
    assert!(store.partner_by_key_hash("nope").unwrap().is_none());
    assert!(store.set_partner_disabled("bank.a", true).unwrap());
    assert!(store.partner_by_name("bank.a").unwrap().unwrap().disabled);
    assert!(store.set_partner_disabled("bank.a", false).unwrap());
    assert!(!store.partner_by_name("bank.a").unwrap().unwrap().disabled);
    assert!(!store.set_partner_disabled("nobody", true).unwrap());

    // Usage accumulates per day; each flush learns the running total; verdict counts
    // (the dashboard) add up beside the requests.
    let delta = |day: i64, requests: i64, verdicts: [i64; 4]| UsageDelta {
        partner_id: id,
        day,
        requests,
        verdicts,
    };
    assert_eq!(
        store
            .add_partner_usage(&[delta(20_000, 5, [3, 1, 1, 0]), delta(20_001, 1, [0; 4])])
            .unwrap(),
        [5, 1]
    );
    assert_eq!(
        store
            .add_partner_usage(&[delta(20_001, 2, [1, 0, 0, 1])])
            .unwrap(),
        [3]
    );
    let day = |day: i64, requests: i64, verdicts: [i64; 4]| UsageDay {
        day,
        requests,
        verdicts,
    };
    assert_eq!(
        store.partner_usage(id, 20_000).unwrap(),
        [day(20_000, 5, [3, 1, 1, 0]), day(20_001, 3, [1, 0, 0, 1])]
    );
    assert_eq!(
        store.partner_usage(id, 20_001).unwrap(),
        [day(20_001, 3, [1, 0, 0, 1])]
    );
    // The data-sharing agreement.
    assert_eq!(
        store.partner_by_name("bank.a").unwrap().unwrap().returns,
        ""
    );
    assert!(store.set_partner_returns("bank.a", "full_name").unwrap());
    assert_eq!(
        store.partner_by_name("bank.a").unwrap().unwrap().returns,
        "full_name"
    );
    assert!(!store.set_partner_returns("nobody", "").unwrap());

    let alert = |actor: &str| AlertRecord {
        at: 1,
        kind: "mass_read".into(),
        actor: actor.into(),
        actor_unit: "01".into(),
        detail: "{}".into(),
        ..Default::default()
    };
    let first = store.add_alert(&alert("officer.a")).unwrap();
    let second = store.add_alert(&alert("officer.b")).unwrap();
    let all = store.alerts(None, 10).unwrap();
    assert_eq!(
        all.iter().map(|a| a.actor.as_str()).collect::<Vec<_>>(),
        ["officer.b", "officer.a"]
    );
    assert_eq!(all[0].id, second);
    assert_eq!(store.alerts(Some(second), 10).unwrap()[0].id, first);
    assert!(store.alerts(Some(first), 10).unwrap().is_empty());
}

/// The upgrade that keys SQLite's citizens by their personal ID (the table rebuilt, in
/// ID order) keeps every record and every index; on SQLite a lookup by ID then searches
/// the table itself, and the upgrade leaves neither its WAL nor the old table's pages
/// behind. PostgreSQL's table is left as it is.
fn citizens_keep_their_records_when_keyed_by_id_on_upgrade(store: &Store, url: &str) {
    let (a, _, _) = communes();
    for serial in 1..=400 {
        load(store, family(u64::from(serial), serial, &a).0);
    }
    let all = |store: &Store| {
        let mut all = Vec::new();
        store
            .for_each_citizen(&mut |c| {
                all.push(c);
                Ok(())
            })
            .unwrap();
        all
    };
    let before = all(store);
    assert_eq!(before.len(), 1_200);
    let upgraded = Store::open(url).unwrap();
    assert_eq!(all(&upgraded), before);
    let f = family(7, 7, &a).1;
    assert_eq!(
        upgraded
            .identities_by_ids(&[f.child, f.father])
            .unwrap()
            .len(),
        2
    );
    assert_eq!(upgraded.household(7).unwrap().unwrap().2.len(), 3);
    let Some(path) = url.strip_prefix("sqlite://") else {
        // PostgreSQL's table is the one it had: its byte-order collation kept.
        let collation = upgraded
            .read(|tx| {
                tx.query(
                    "SELECT collation_name FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = 'citizens' \
                     AND column_name = 'name_folded'",
                    &[],
                )
            })
            .unwrap();
        assert_eq!(collation[0][0].as_str(), Some("C"));
        return;
    };
    let pragma = |sql: &str| upgraded.read(|tx| tx.query(sql, &[])).unwrap();
    let plan =
        pragma("EXPLAIN QUERY PLAN SELECT full_name FROM citizens WHERE personal_id IN (1, 2)");
    assert!(
        format!("{plan:?}").contains("USING INTEGER PRIMARY KEY"),
        "{plan:?}"
    );
    let indexes: Vec<String> = pragma("SELECT name FROM pragma_index_list('citizens') ORDER BY 1")
        .into_iter()
        .map(|mut r| r[0].take_text().unwrap())
        .collect();
    assert_eq!(
        indexes,
        [
            "citizens_commune",
            "citizens_household",
            "citizens_name_dob",
            "citizens_old_id"
        ]
    );
    let count = |sql: &str| upgraded.read(|tx| tx.query_i64(sql, &[])).unwrap();
    let (free, pages) = (
        count("PRAGMA main.freelist_count"),
        count("PRAGMA main.page_count"),
    );
    assert!(free * 10 < pages, "compacted: {free} of {pages} pages free");
    let wal = std::fs::metadata(format!("{path}-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL is folded");
}

/// A process stopped between the citizens' rebuild and the compaction after it: the next
/// open compacts the file.
#[test]
fn sqlite_upgrade_is_settled_by_the_next_open_after_a_stop() {
    let (_dir, url, old) =
        sqlite_at_version(dancu_store::testing::version_before_citizens_by_rowid());
    let (a, _, _) = communes();
    for serial in 1..=400 {
        load(&old, family(u64::from(serial), serial, &a).0);
    }
    drop(old);
    let free_share = |store: &Store| {
        let count = |sql: &str| store.read(|tx| tx.query_i64(sql, &[])).unwrap();
        count("PRAGMA main.freelist_count") as f64 / count("PRAGMA main.page_count") as f64
    };
    let stopped = dancu_store::testing::open_unsettled(&url).unwrap();
    assert!(free_share(&stopped) > 0.125, "the rebuild left pages free");
    drop(stopped);
    let store = Store::open(&url).unwrap();
    assert!(free_share(&store) < 0.1, "compacted at the next open");
    assert_eq!(store.count_citizens().unwrap(), 1_200);
    drop(store);
    // Settled once: a later open finds nothing left to do.
    let again = Store::open(&url).unwrap();
    assert_eq!(
        again
            .read(|tx| tx.query_i64("PRAGMA main.user_version", &[]))
            .unwrap(),
        0
    );
}

/// The audit file's migration to lists is settled too (SQLite): its WAL folded and the
/// file compacted after the rows' table is dropped, by the open after the migration or
/// the next one; the tracker and `audit verify` find every person it held.
#[test]
fn sqlite_audit_file_is_settled_after_the_lists_migration() {
    let (dir, url, old) = sqlite_at_version(dancu_store::testing::version_before_group_lists());
    let persons: Vec<PersonalId> = (1..=3_000)
        .map(|i| pid(1, Gender::Female, 1990, i))
        .collect();
    let group = GroupEntry::new(
        batch_entry(),
        persons.iter().map(|p| ("match", *p)).collect(),
    );
    old.append_audit(&[group.entry().clone()]).unwrap();
    let rows: Vec<String> = persons
        .iter()
        .map(|p| format!("({}, 1, 'match', 0)", p.as_u64()))
        .collect();
    sql(
        &old,
        &format!("INSERT INTO audit_persons VALUES {}", rows.join(",")),
    );
    drop(old);
    let pragma = |store: &Store, name: &str| {
        store
            .read(|tx| tx.query_i64(&format!("PRAGMA audit.{name}"), &[]))
            .unwrap()
    };
    let stopped = dancu_store::testing::open_unsettled(&url).unwrap();
    assert_eq!(
        pragma(&stopped, "user_version"),
        1,
        "marked in the migration"
    );
    assert!(pragma(&stopped, "freelist_count") * 8 >= pragma(&stopped, "page_count"));
    drop(stopped);
    let store = Store::open(&url).unwrap();
    assert_eq!(pragma(&store, "user_version"), 0);
    assert!(
        pragma(&store, "freelist_count") * 8 < pragma(&store, "page_count"),
        "compacted"
    );
    let wal = dir.path().join("dancu.audit.db-wal");
    assert_eq!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()),
        0,
        "WAL folded"
    );
    for p in [persons[0], persons[2_999]] {
        assert_eq!(store.audit_for_person(p, 10).unwrap().len(), 1);
    }
    assert!(matches!(
        verify(&store),
        ChainVerdict::Intact { tracked: 3_000, .. }
    ));
}

fn reopening_keeps_data_and_schema(store: &Store, url: &str) {
    let (a, _, _) = communes();
    let (batch, f) = family(1, 1, &a);
    load(store, batch);
    let again = Store::open(url).unwrap();
    assert!(again.citizen(f.father).unwrap().is_some());
}

// ---- the audit hash chain ----

fn audit_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// Entries 1..=n, appended in batches of three as the audit writer would.
fn audit_log(store: &Store, n: usize) {
    let entries: Vec<AuditEntry> = (0..n)
        .map(|i| AuditEntry {
            at_millis: 1_000 + i as i64,
            actor: format!("officer.{i}"),
            actor_role: "officer".into(),
            actor_unit: "01".into(),
            action: "citizen.read".into(),
            personal_id: Some(pid(1, Gender::Female, 1990, i as u32 + 1)),
            purpose: (i % 2 == 0).then(|| "037".into()),
            outcome: "ok".into(),
            ip: Some("10.0.0.7".into()),
            ..Default::default()
        })
        .collect();
    for batch in entries.chunks(3) {
        store.append_audit(batch).unwrap();
    }
}

fn sql(store: &Store, statement: &str) {
    store.write(|tx| tx.exec(statement, &[])).unwrap();
}

fn verify(store: &Store) -> ChainVerdict {
    let key = audit_key().verifying_key();
    store
        .verify_audit_chain(ChainTrust {
            key: Some(&key),
            head: None,
        })
        .unwrap()
}

fn broken_at(verdict: ChainVerdict) -> (i64, Fault) {
    match verdict {
        ChainVerdict::Broken {
            entry_id, fault, ..
        } => (entry_id, fault),
        intact => panic!("tampering went unnoticed: {intact:?}"),
    }
}

/// The entry of a chunk of batch verification job 1, before its persons are added.
/// Records group entries as a running batch job's checkpoint does.
fn checkpoint_groups(store: &Store, job: i64, groups: &[GroupEntry]) {
    store
        .checkpoint_verify_job(
            job,
            &Default::default(),
            dancu_store::JOB_RUNNING,
            groups,
            None,
        )
        .unwrap();
}

fn batch_entry() -> AuditEntry {
    AuditEntry {
        at_millis: 5,
        actor: "bank".into(),
        actor_role: "partner".into(),
        action: "verify.batch".into(),
        outcome: "ok".into(),
        detail: Some("job 1".into()),
        ..Default::default()
    }
}

/// A partner's job is run by a server whose data directory holds its files; a job
/// submitted before that was recorded, by any server.
fn partners_jobs_are_run_where_their_files_are(store: &Store) {
    let job = |files: &'static str, files_at| NewVerifyJob {
        actor: "partner:bank",
        input: files,
        input_fingerprint: "f",
        output: files,
        partner_id: Some(1),
        rows_total: 3,
        agreement: "",
        files_at,
    };
    let here = store
        .create_verify_job(&job("/a/in", Some("dir-a")))
        .unwrap();
    let there = store
        .create_verify_job(&job("/b/in", Some("dir-b")))
        .unwrap();
    let unrecorded = store.create_verify_job(&job("/c/in", None)).unwrap();
    // A `verify-batch` run is nobody's to resume but its caller's.
    store
        .open_verify_job("officer", "/d/in", "f", "/d/out", "")
        .unwrap();
    let pending = |files_at| {
        store
            .pending_partner_verify_jobs(files_at)
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(pending("dir-a"), [here.id, unrecorded.id]);
    assert_eq!(pending("dir-b"), [there.id, unrecorded.id]);
    let read = store.verify_job(here.id).unwrap().unwrap();
    assert_eq!(read.files_at.as_deref(), Some("dir-a"));
    store.fail_verify_job(here.id, "x").unwrap();
    assert_eq!(pending("dir-a"), [unrecorded.id]);
}

/// A group entry (a chunk of a batch verification) is one chained entry whose detail lists
/// its persons, and the data tracker finds each of them with the outcome for them.
fn group_entries_list_their_persons_for_the_tracker(store: &Store) {
    let (a, b, c) = (
        pid(1, Gender::Male, 1980, 1),
        pid(1, Gender::Male, 1980, 2),
        pid(1, Gender::Female, 1990, 3),
    );
    let job = store.open_verify_job("bank", "in", "f", "out", "").unwrap();
    let entry = batch_entry();
    let start = AuditEntry {
        action: "verify.batch.start".into(),
        ..entry.clone()
    };
    let group = GroupEntry::new(
        entry,
        vec![("mismatch", c), ("match", b), ("match", a), ("match", b)],
    );
    assert_eq!(
        group.entry().detail.as_deref(),
        Some(format!("job 1\nmatch {a} {b}\nmismatch {c}").as_str()),
        "sorted by outcome and person, each once"
    );
    checkpoint_groups(store, job.id, &[start.into(), group]);
    assert_eq!(
        store.audit_count().unwrap(),
        2,
        "one entry for the three persons"
    );
    let seen = store.audit_for_person(c, 10).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].action.as_str(), seen[0].outcome.as_str()),
        ("verify.batch", "mismatch")
    );
    assert_eq!(seen[0].detail.as_deref(), Some("job 1"), "not the list");
    assert_eq!(seen[0].personal_id, Some(c));
    // Entries about the person and group entries that list them, newest first.
    audit_log(store, 1);
    let other = pid(1, Gender::Female, 1990, 1);
    store
        .checkpoint_verify_job(
            job.id,
            &Default::default(),
            dancu_store::JOB_DONE,
            &[GroupEntry::new(
                AuditEntry::default(),
                vec![("match", other)],
            )],
            None,
        )
        .unwrap();
    let seen = store.audit_for_person(other, 10).unwrap();
    assert_eq!(
        seen.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["", "citizen.read"]
    );
    assert!(store.audit_for_person(a, 10).unwrap()[0].outcome == "match");
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { entries: 4, .. }
    ));
    // The list is chained: striking a person from it breaks the chain.
    sql(
        store,
        &format!("UPDATE audit_log SET detail = 'job 1\nmatch {a}\nmismatch {c}' WHERE id = 2"),
    );
    assert_eq!(broken_at(verify(store)), (2, Fault::Edited));
}

/// Persons `[a, b, c, d]` (ascending) and a log of: two plain entries (1, 2), a batch's
/// start (3, whose detail has a second line that is no list), group entries 4 (`match a b`,
/// `mismatch c`) and 5 (`match d`), and a plain entry (6).
fn log_with_groups(store: &Store) -> [PersonalId; 4] {
    let p = [1, 2, 3, 4].map(|serial| pid(1, Gender::Male, 1980, serial));
    audit_log(store, 2);
    let job = store.open_verify_job("bank", "in", "f", "out", "").unwrap();
    let entry = batch_entry();
    let start = AuditEntry {
        action: "verify.batch.start".into(),
        detail: Some("job 1; input /tmp/a\nb.csv".into()),
        ..entry.clone()
    };
    let groups = [
        start.into(),
        GroupEntry::new(
            entry.clone(),
            vec![("match", p[1]), ("mismatch", p[2]), ("match", p[0])],
        ),
        GroupEntry::new(entry, vec![("match", p[3])]),
    ];
    checkpoint_groups(store, job.id, &groups);
    audit_log(store, 1);
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact {
            entries: 6,
            tracked: 4,
            ..
        }
    ));
    p
}

fn person_row(id: PersonalId, outcome: &str) -> IndexedPerson {
    IndexedPerson {
        person: id.to_string(),
        outcome: outcome.into(),
    }
}

/// A person of the tracker's lists of group persons, in segment 0.
fn listed(entry: i64, person: PersonalId, outcome: &str) -> ListedPerson {
    ListedPerson {
        segment: 0,
        entry,
        person: person.as_u64() as i64,
        outcome: outcome.into(),
    }
}

/// Whether `l` lists `person` (under any entry).
fn lists(l: &ListedPerson, person: PersonalId) -> bool {
    l.person == person.as_u64() as i64
}

/// `audit verify` names the first group entry whose persons the data tracker's index lacks
/// (a row deleted or altered), then restored, the log is intact again.
fn audit_verify_finds_a_person_hidden_from_the_tracker(store: &Store) {
    let [a, b, c, _] = log_with_groups(store);
    let other = pid(1, Gender::Male, 1980, 1_000);
    type Edit = Box<dyn Fn(&mut Vec<ListedPerson>)>;
    let set = |from: ListedPerson, to: ListedPerson| -> Edit {
        Box::new(move |rows| {
            for r in rows.iter_mut().filter(|r| **r == from) {
                *r = to.clone();
            }
        })
    };
    let cases: [(Edit, Edit, IndexedPerson); 3] = [
        (
            Box::new(move |rows| rows.retain(|r| !lists(r, b))),
            Box::new(move |rows| rows.push(listed(4, b, "match"))),
            person_row(b, "match"),
        ),
        // Altered: the outcome, then the person.
        (
            set(listed(4, c, "mismatch"), listed(4, c, "no_match")),
            set(listed(4, c, "no_match"), listed(4, c, "mismatch")),
            person_row(c, "mismatch"),
        ),
        (
            set(listed(4, b, "match"), listed(4, other, "match")),
            set(listed(4, other, "match"), listed(4, b, "match")),
            person_row(b, "match"),
        ),
    ];
    for (i, (tamper, undo, fault)) in cases.into_iter().enumerate() {
        edit_listed_persons(store, tamper);
        assert_eq!(
            broken_at(verify(store)),
            (4, Fault::Untracked(fault)),
            "case {i}"
        );
        edit_listed_persons(store, undo);
        assert!(
            matches!(verify(store), ChainVerdict::Intact { tracked: 4, .. }),
            "case {i} undone"
        );
    }
    assert_eq!(store.audit_for_person(a, 10).unwrap().len(), 1);
}

/// `audit verify` sums the tracker's rows per bucket of 65,536 entries, then per entry of
/// the first bucket that differs: a fault past the first bucket is named at its entry, and
/// of two faults in two buckets the first is named. (SQLite only: PostgreSQL takes half a
/// minute to append the 65,540 entries one by one, and the queries are those the other
/// tracker tests run on both.)
#[test]
fn audit_verify_narrows_to_the_entry_in_a_later_bucket() {
    let store = &dancu_store::testing::TestStore::of("sqlite", None).store;
    let [a, b, ..] = log_with_groups(store);
    audit_log(store, 65_540);
    let job = store
        .open_verify_job("bank", "in2", "f", "out2", "")
        .unwrap();
    let later = GroupEntry::new(batch_entry(), vec![("match", a), ("mismatch", b)]);
    checkpoint_groups(store, job.id, &[later]);
    let entry = store.audit_count().unwrap();
    assert!(entry >> 16 == 1, "entry {entry} in the second bucket");
    assert!(matches!(verify(store), ChainVerdict::Intact { .. }));
    edit_listed_persons(store, |rows| {
        rows.retain(|r| !(lists(r, b) && r.entry == entry))
    });
    assert_eq!(
        broken_at(verify(store)),
        (entry, Fault::Untracked(person_row(b, "mismatch")))
    );
    edit_listed_persons(store, |rows| rows.push(listed(3, b, "match")));
    assert_eq!(
        broken_at(verify(store)),
        (3, Fault::Unlisted(person_row(b, "match")))
    );
}

/// SQLite keeps any number in a BIGINT column: a list of the tracker's index moved by half
/// (its segment, bucket, first entry or piece) reads back truncated, as if intact, but the
/// tracker's queries no longer find it; nor do they find an item whose person or entry is
/// not an integer, nor a list stored as bytes. `audit verify` names a person it hid as
/// missing.
#[test]
fn sqlite_audit_verify_finds_a_tracker_row_moved_by_a_fraction() {
    let store = &dancu_store::testing::TestStore::of("sqlite", None).store;
    let [_, b, ..] = log_with_groups(store);
    let bn = b.as_u64();
    let hidden = |what: &str| {
        assert!(store.audit_for_person(b, 10).unwrap().is_empty(), "{what}");
        assert!(
            matches!(broken_at(verify(store)), (4, Fault::Untracked(_))),
            "{what}"
        );
    };
    for column in ["segment", "bucket", "first_entry", "piece"] {
        sql(
            store,
            &format!(
                "UPDATE audit_person_lists SET {column} = {column} + 0.5 \
                 WHERE persons LIKE '%{bn} 4 match%'"
            ),
        );
        hidden(column);
        sql(
            store,
            &format!(
                "UPDATE audit_person_lists SET {column} = {column} - 0.5 \
                 WHERE typeof({column}) = 'real'"
            ),
        );
        assert!(
            matches!(verify(store), ChainVerdict::Intact { .. }),
            "{column}"
        );
    }
    for (item, altered) in [
        (format!("{bn} 4 match"), format!("{bn}.5 4 match")),
        (format!("{bn} 4 match"), format!("{bn} 4.5 match")),
        (format!("{bn} 4 match"), format!("{bn} 4")),
    ] {
        let swap = |from: &str, to: &str| {
            sql(
                store,
                &format!(
                    "UPDATE audit_person_lists SET persons = replace(persons, '{from}', '{to}')"
                ),
            )
        };
        swap(&item, &altered);
        assert_eq!(
            broken_at(verify(store)),
            (4, Fault::Untracked(person_row(b, "match"))),
            "{altered}"
        );
        assert!(
            store.audit_for_person(b, 10).unwrap().is_empty(),
            "{altered}"
        );
        swap(&altered, &item);
        assert!(
            matches!(verify(store), ChainVerdict::Intact { .. }),
            "{altered} undone"
        );
    }
    // A list stored as bytes instead of text: not read (the store refuses a blob where
    // it keeps text), so its persons are missing, named as such, not an error.
    sql(
        store,
        &format!(
            "UPDATE audit_person_lists SET persons = CAST(persons AS BLOB) \
             WHERE persons LIKE '%{bn} 4 match%'"
        ),
    );
    hidden("blob");
    sql(
        store,
        "UPDATE audit_person_lists SET persons = CAST(persons AS TEXT) \
         WHERE typeof(persons) = 'blob'",
    );
    assert!(
        matches!(verify(store), ChainVerdict::Intact { .. }),
        "blob undone"
    );
}

/// The same for an entry of the log: read back truncated, its person moved by half would
/// hash as the original; the store refuses to read such a number at all.
#[test]
fn sqlite_audit_verify_refuses_a_log_number_moved_by_a_fraction() {
    let store = &dancu_store::testing::TestStore::of("sqlite", None).store;
    audit_log(store, 3);
    sql(
        store,
        "UPDATE audit_log SET personal_id = personal_id + 0.5 WHERE id = 2",
    );
    let err = store
        .verify_audit_chain(ChainTrust::default())
        .expect_err("no verdict on a log that holds a fraction");
    assert!(err.to_string().contains("not an integer"), "{err}");
}

/// The tracker shows a person's single entries and the group entries that list them,
/// newest first, a group entry once per outcome it lists them with, cut at the limit; a
/// list moved to another bucket hides them from it and `audit verify` says so.
fn tracker_shows_each_outcome_newest_first_and_a_moved_bucket_is_found(store: &Store) {
    let x = pid(1, Gender::Female, 1990, 1);
    let job = store.open_verify_job("bank", "in", "f", "out", "").unwrap();
    audit_log(store, 1);
    let twice = GroupEntry::new(batch_entry(), vec![("match", x), ("mismatch", x)]);
    checkpoint_groups(store, job.id, &[twice]);
    audit_log(store, 1);
    checkpoint_groups(
        store,
        job.id,
        &[GroupEntry::new(batch_entry(), vec![("match", x)])],
    );
    let seen = |limit: u32| -> Vec<(String, String)> {
        store
            .audit_for_person(x, limit)
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.outcome))
            .collect()
    };
    let all = seen(10);
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[0], ("verify.batch".into(), "match".into()));
    assert_eq!(all[1], ("citizen.read".into(), "ok".into()));
    let mut entry_2: Vec<&str> = all[2..4].iter().map(|(_, o)| o.as_str()).collect();
    entry_2.sort_unstable();
    assert_eq!(entry_2, ["match", "mismatch"]);
    assert!(all[2..4].iter().all(|(a, _)| a == "verify.batch"));
    assert_eq!(all[4], ("citizen.read".into(), "ok".into()));
    assert_eq!(seen(2), all[..2]);
    assert_eq!(seen(1), all[..1]);
    sql(store, "UPDATE audit_person_lists SET bucket = bucket + 1");
    assert_eq!(
        seen(10).iter().filter(|(a, _)| a == "verify.batch").count(),
        0,
        "hidden"
    );
    assert!(matches!(broken_at(verify(store)), (2, Fault::Untracked(_))));
    sql(store, "UPDATE audit_person_lists SET bucket = bucket - 1");
    assert!(matches!(verify(store), ChainVerdict::Intact { .. }));
}

/// Once a segment of group persons is full, the next commit starts another: the tracker
/// finds a person in each, and `audit verify` names a row moved out of every segment the
/// tracker probes (hidden from it).
fn tracker_probes_every_segment_of_group_persons(store: &Store) {
    let [a, b, _, _] = log_with_groups(store);
    let segment = || {
        store
            .read(|tx| tx.query_i64("SELECT segment FROM audit_persons_segment", &[]))
            .unwrap()
    };
    assert_eq!(segment(), 0);
    // As if segment 0 held a million persons: the next commit starts segment 1.
    sql(
        store,
        "UPDATE audit_persons_segment SET row_count = 1099511627776",
    );
    let job = store
        .open_verify_job("bank", "in2", "f", "out2", "")
        .unwrap();
    let later = GroupEntry::new(
        AuditEntry {
            action: "verify.batch.later".into(),
            ..batch_entry()
        },
        vec![("mismatch", a)],
    );
    checkpoint_groups(store, job.id, &[later]);
    assert_eq!(segment(), 1);
    let seen = store.audit_for_person(a, 10).unwrap();
    assert_eq!(
        seen.iter()
            .map(|e| (e.action.as_str(), e.outcome.as_str()))
            .collect::<Vec<_>>(),
        [
            ("verify.batch.later", "mismatch"),
            ("verify.batch", "match")
        ],
        "newest first, one from each segment"
    );
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { tracked: 5, .. }
    ));
    for moved_to in [2, -1] {
        edit_listed_persons(store, |rows| {
            for r in rows.iter_mut().filter(|r| lists(r, b)) {
                r.segment = moved_to;
            }
        });
        assert!(store.audit_for_person(b, 10).unwrap().is_empty(), "hidden");
        assert_eq!(
            broken_at(verify(store)),
            (4, Fault::Untracked(person_row(b, "match"))),
            "moved to segment {moved_to}"
        );
    }
    edit_listed_persons(store, |rows| {
        for r in rows.iter_mut().filter(|r| lists(r, b)) {
            r.segment = 0;
        }
    });
    assert_eq!(store.audit_for_person(b, 10).unwrap().len(), 1);
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { tracked: 5, .. }
    ));
}

/// A store whose group persons were keyed by person alone (before segments) keeps each
/// through the upgrade: the tracker finds them with their outcome, the chain verifies,
/// and later commits add to the segments.
fn group_persons_move_into_segments_on_upgrade(store: &Store, url: &str) {
    let (a, b) = group_persons_in_the_old_layout(store);
    let upgraded = Store::open(url).unwrap();
    assert_eq!(outcomes(&upgraded, a), ["match"]);
    assert_eq!(outcomes(&upgraded, b), ["mismatch"]);
    let job = upgraded
        .open_verify_job("bank", "in", "f", "out", "")
        .unwrap();
    checkpoint_groups(
        &upgraded,
        job.id,
        &[GroupEntry::new(batch_entry(), vec![("match", b)])],
    );
    assert_eq!(outcomes(&upgraded, b), ["match", "mismatch"]);
    assert!(matches!(
        verify(&upgraded),
        ChainVerdict::Intact {
            entries: 2,
            tracked: 3,
            ..
        }
    ));
}

/// A group entry with two persons as the layout before segments wrote it (the chained
/// entry, then a row per person), on a store at that version; the two persons.
fn group_persons_in_the_old_layout(store: &Store) -> (PersonalId, PersonalId) {
    let (a, b) = (pid(1, Gender::Male, 1980, 1), pid(1, Gender::Male, 1980, 2));
    let group = GroupEntry::new(batch_entry(), vec![("match", a), ("mismatch", b)]);
    store.append_audit(&[group.entry().clone()]).unwrap();
    for (person, outcome) in [(a, "match"), (b, "mismatch")] {
        sql(
            store,
            &format!(
                "INSERT INTO audit_persons VALUES ({}, 1, '{outcome}')",
                person.as_u64()
            ),
        );
    }
    (a, b)
}

/// What the data tracker shows of `person`'s entries: their outcomes, newest first.
fn outcomes(store: &Store, person: PersonalId) -> Vec<String> {
    store
        .audit_for_person(person, 10)
        .unwrap()
        .into_iter()
        .map(|e| e.outcome)
        .collect()
}

/// `audit verify` checks the tracker's runs against the single entries they cover: a pair
/// deleted, altered, added under another entry or past the covered point, or stored twice,
/// is named at its entry; restored, the log is intact again.
fn audit_verify_checks_the_tracker_runs(store: &Store) {
    let shape = dancu_store::RunShape {
        first_run: 4,
        fanout: 2,
        step_rows: 3,
    };
    audit_log(store, 10);
    while store.index_audit_step(shape).unwrap() != dancu_store::IndexStep::Idle {}
    // Entries 1..=8 are in runs; 9 and 10 are the tail.
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { tracked: 8, .. }
    ));
    let person = |i: u32| pid(1, Gender::Female, 1990, i);
    let (p3, p5) = (person(3).as_u64(), person(5).as_u64());
    let run = store
        .read(|tx| tx.query_i64("SELECT MIN(run) FROM audit_run_rows", &[]))
        .unwrap();
    for (tamper, undo, at, fault) in [
        (
            "DELETE FROM audit_run_rows WHERE entry_id = 3".to_owned(),
            format!("INSERT INTO audit_run_rows VALUES ({run}, {p3}, 3)"),
            3,
            Fault::Untracked(person_row(person(3), "ok")),
        ),
        (
            format!("UPDATE audit_run_rows SET personal_id = {p5} WHERE entry_id = 3"),
            format!("UPDATE audit_run_rows SET personal_id = {p3} WHERE entry_id = 3"),
            3,
            Fault::Untracked(person_row(person(3), "ok")),
        ),
        (
            format!("INSERT INTO audit_run_rows VALUES ({run}, {p5}, 6)"),
            format!("DELETE FROM audit_run_rows WHERE entry_id = 6 AND personal_id = {p5}"),
            6,
            Fault::Unlisted(person_row(person(5), "ok")),
        ),
        (
            format!("INSERT INTO audit_run_rows VALUES ({run}, {p5}, 9)"),
            "DELETE FROM audit_run_rows WHERE entry_id = 9".to_owned(),
            9,
            Fault::Dangling(person_row(person(5), "")),
        ),
        (
            format!("INSERT INTO audit_run_rows VALUES ({run} + 100, {p3}, 3)"),
            format!("DELETE FROM audit_run_rows WHERE run = {run} + 100"),
            3,
            Fault::Unlisted(person_row(person(3), "ok")),
        ),
    ] {
        sql(store, &tamper);
        assert_eq!(broken_at(verify(store)), (at, fault), "{tamper}");
        sql(store, &undo);
        assert!(
            matches!(verify(store), ChainVerdict::Intact { tracked: 8, .. }),
            "{undo}"
        );
    }
}

/// `audit verify` names the first entry under which the data tracker's index holds a row
/// the entry does not list: added to a group entry, moved to another one, under a plain
/// entry, or under an entry that does not exist.
fn audit_verify_finds_a_person_added_to_the_tracker(store: &Store) {
    let [a, _, _, d] = log_with_groups(store);
    let add = |entry: i64| edit_listed_persons(store, |rows| rows.push(listed(entry, a, "match")));
    let remove = |entry: i64| {
        edit_listed_persons(store, |rows| {
            rows.retain(|r| !(lists(r, a) && r.entry == entry))
        })
    };
    let move_d = |entry: i64| {
        edit_listed_persons(store, |rows| {
            for r in rows.iter_mut().filter(|r| lists(r, d)) {
                r.entry = entry;
            }
        })
    };
    for (entry, fault) in [
        (5, Fault::Unlisted as fn(IndexedPerson) -> Fault),
        (6, Fault::Unlisted),
        (3, Fault::Unlisted),
        (1, Fault::Unlisted),
        (7, Fault::Dangling),
        (1_000, Fault::Dangling),
        (0, Fault::Dangling),
    ] {
        add(entry);
        assert_eq!(
            broken_at(verify(store)),
            (entry, fault(person_row(a, "match"))),
            "a row under entry {entry}"
        );
        remove(entry);
    }
    // Moved from one group entry to another: missing from one, unlisted by the other.
    move_d(4);
    assert_eq!(
        broken_at(verify(store)),
        (4, Fault::Unlisted(person_row(d, "match")))
    );
    // The first bad entry is named, whichever kind of fault comes later.
    add(2);
    assert_eq!(broken_at(verify(store)).0, 2);
    remove(2);
    move_d(5);
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { tracked: 4, .. }
    ));
}

/// A group entry's head stays one line, so that its list is told from any other detail.
#[test]
fn a_group_entry_head_is_one_line() {
    let entry = AuditEntry {
        detail: Some("job 1\nmatch 001080000001".into()),
        ..Default::default()
    };
    let person = pid(1, Gender::Male, 1980, 2);
    assert_eq!(
        GroupEntry::new(entry, vec![("match", person)])
            .entry()
            .detail,
        Some(format!("job 1 match 001080000001\nmatch {person}"))
    );
}

/// Pages of the walk are cut by the size of their details too (entries of 9 MB here, two
/// of which exceed a page's bytes): every entry is still checked, in order.
fn audit_walk_cuts_pages_of_large_entries(store: &Store) {
    let big = |i: usize| AuditEntry {
        at_millis: i as i64,
        actor: "bank".into(),
        action: "verify.batch".into(),
        outcome: "ok".into(),
        detail: Some(format!("job {i} {}", "x".repeat(9 << 20))),
        ..Default::default()
    };
    audit_log(store, 1);
    store.append_audit(&[big(2), big(3), big(4)]).unwrap();
    audit_log(store, 1);
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { entries: 5, .. }
    ));
    sql(store, "UPDATE audit_log SET detail = 'job 3' WHERE id = 3");
    assert_eq!(broken_at(verify(store)), (3, Fault::Edited));
}

fn audit_chain_is_linear_and_verifies(store: &Store) {
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { entries: 0, .. }
    ));
    audit_log(store, 10);
    let head = store.append_audit(&[]).unwrap().unwrap();
    assert_eq!(head.entry_id, 10, "ids follow the last row without gaps");
    assert!(store.checkpoint_audit(&audit_key()).unwrap().is_some());
    assert!(
        store.checkpoint_audit(&audit_key()).unwrap().is_none(),
        "a head already covered is not signed again"
    );
    audit_log(store, 2);
    store.checkpoint_audit(&audit_key()).unwrap();
    assert_eq!(
        verify(store),
        ChainVerdict::Intact {
            entries: 12,
            checkpoints: 2,
            tracked: 0,
            head_checked: false
        }
    );
    assert!(
        matches!(
            store.verify_audit_chain(ChainTrust::default()).unwrap(),
            ChainVerdict::Broken {
                entry_id: 10,
                fault: Fault::BadSignature { .. },
                ..
            }
        ),
        "checkpoints cannot be trusted without the public key"
    );
    assert_eq!(store.audit_count().unwrap(), 12);
}

fn audit_chain_names_an_edited_entry(store: &Store) {
    audit_log(store, 10);
    sql(
        store,
        "UPDATE audit_log SET actor = 'someone.else' WHERE id = 4",
    );
    let (id, fault) = broken_at(verify(store));
    assert_eq!((id, fault), (4, Fault::Edited));
    // Editing the hash along with the content does not help: the next link breaks.
    sql(
        store,
        "UPDATE audit_log SET actor = 'officer.3' WHERE id = 4",
    );
    sql(
        store,
        "UPDATE audit_log SET outcome = 'denied', hash = NULL WHERE id = 7",
    );
    assert_eq!(broken_at(verify(store)), (7, Fault::Edited));
}

fn audit_chain_names_a_deleted_entry(store: &Store) {
    audit_log(store, 10);
    sql(store, "DELETE FROM audit_log WHERE id = 5");
    assert_eq!(broken_at(verify(store)), (5, Fault::Deleted));
    sql(store, "DELETE FROM audit_log WHERE id <= 2");
    assert_eq!(broken_at(verify(store)), (1, Fault::Deleted));
}

fn audit_chain_names_a_reordered_entry(store: &Store) {
    audit_log(store, 10);
    sql(store, "UPDATE audit_log SET id = -1 WHERE id = 3");
    sql(store, "UPDATE audit_log SET id = 3 WHERE id = 6");
    sql(store, "UPDATE audit_log SET id = 6 WHERE id = -1");
    assert_eq!(
        broken_at(verify(store)),
        (3, Fault::Reordered { written_as: 6 })
    );
}

fn audit_chain_detects_truncation(store: &Store) {
    audit_log(store, 10);
    store.checkpoint_audit(&audit_key()).unwrap();
    audit_log(store, 5);
    let head = store.append_audit(&[]).unwrap().unwrap();
    let record = HeadRecord {
        genesis: store.audit_genesis().unwrap().unwrap(),
        checkpoint: Checkpoint::sign(&audit_key(), 1, head),
    };
    let key = audit_key().verifying_key();
    let with_head = |store: &Store| {
        store
            .verify_audit_chain(ChainTrust {
                key: Some(&key),
                head: Some(&record),
            })
            .unwrap()
    };
    assert!(matches!(
        with_head(store),
        ChainVerdict::Intact {
            entries: 15,
            head_checked: true,
            ..
        }
    ));

    // After the last checkpoint only the head kept outside the database sees it.
    sql(store, "DELETE FROM audit_log WHERE id > 13");
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { entries: 13, .. }
    ));
    let (id, fault) = broken_at(with_head(store));
    assert_eq!(id, 14);
    assert!(
        matches!(
            fault,
            Fault::Truncated {
                covered_up_to: 15,
                ..
            }
        ),
        "{fault}"
    );

    // Before it, the signed checkpoint does.
    sql(store, "DELETE FROM audit_log WHERE id > 8");
    let (id, fault) = broken_at(verify(store));
    assert_eq!(id, 9);
    assert!(
        matches!(
            fault,
            Fault::Truncated {
                covered_up_to: 10,
                ..
            }
        ),
        "{fault}"
    );
}

fn audit_chain_rejects_a_forged_checkpoint(store: &Store) {
    audit_log(store, 6);
    store.checkpoint_audit(&audit_key()).unwrap();
    assert!(matches!(
        verify(store),
        ChainVerdict::Intact { checkpoints: 1, .. }
    ));
    // Someone without the key re-signs the head with a key of their own.
    let forger = SigningKey::from_bytes(&[9; 32]);
    let head = store.append_audit(&[]).unwrap().unwrap();
    let forged = Checkpoint::sign(&forger, 5, head);
    store
        .write(|tx| {
            tx.exec(
                "UPDATE audit_checkpoints SET signature = $1, key_id = $2",
                &[
                    Value::Text(
                        forged
                            .signature
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect(),
                    ),
                    Value::Text(forged.key_id.clone()),
                ],
            )
        })
        .unwrap();
    let (id, fault) = broken_at(verify(store));
    assert_eq!(id, 6);
    assert!(matches!(fault, Fault::BadSignature { .. }), "{fault}");
    // A genuine signature moved to another head does not verify either.
    sql(store, "DELETE FROM audit_checkpoints");
    store.checkpoint_audit(&audit_key()).unwrap();
    audit_log(store, 1);
    sql(store, "UPDATE audit_checkpoints SET entry_id = 7");
    assert!(matches!(
        broken_at(verify(store)),
        (7, Fault::BadSignature { .. })
    ));
}

/// A log written before the chain existed (schema version 2, no hashes) is chained, in
/// id order, by the migration that introduced the chain. `store` is at version 2.
fn unchained_entries_are_sealed_on_upgrade(store: &Store, url: &str) {
    audit_log(store, 4);
    sql(store, "UPDATE audit_log SET hash = NULL");
    let upgraded = Store::open(url).unwrap();
    assert!(matches!(
        verify(&upgraded),
        ChainVerdict::Intact { entries: 4, .. }
    ));
    audit_log(&upgraded, 1);
    assert!(matches!(
        verify(&upgraded),
        ChainVerdict::Intact { entries: 5, .. }
    ));
}

dancu_store::on_both_backends!(
    loads_and_reads_a_household,
    a_failed_load_leaves_nothing,
    searches_by_folded_name_date_and_unit,
    updates_keep_history_and_as_of_reads_the_past,
    readdress_moves_whole_households_with_history,
    readdress_follows_chains_and_waits_for_future_dates,
    quality_rules_find_defects,
    quality_rules_cover_every_kind_of_defect,
    audit_and_accounts,
    tracker_index_finds_each_entry_once_at_every_step,
    dossiers_scope_lookups,
    audit_chain_is_linear_and_verifies,
    audit_walk_cuts_pages_of_large_entries,
    group_entries_list_their_persons_for_the_tracker,
    audit_verify_finds_a_person_hidden_from_the_tracker,
    audit_verify_finds_a_person_added_to_the_tracker,
    audit_verify_checks_the_tracker_runs,
    tracker_probes_every_segment_of_group_persons,
    tracker_shows_each_outcome_newest_first_and_a_moved_bucket_is_found,
    audit_chain_names_an_edited_entry,
    audit_chain_names_a_deleted_entry,
    audit_chain_names_a_reordered_entry,
    audit_chain_detects_truncation,
    audit_chain_rejects_a_forged_checkpoint,
    partners_usage_and_alerts,
    partners_jobs_are_run_where_their_files_are;
    reopening_keeps_data_and_schema @ None,
    unchained_entries_are_sealed_on_upgrade @ Some(2),
    group_persons_move_into_segments_on_upgrade
        @ Some(dancu_store::testing::version_before_group_segments()),
    citizens_keep_their_records_when_keyed_by_id_on_upgrade
        @ Some(dancu_store::testing::version_before_citizens_by_rowid()),
);

// ---- the audit file (SQLite) ----

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("dancu.db").display())
}

/// Removes a SQLite file with its WAL and shared-memory files.
fn remove_sqlite_file(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

fn tables_in(store: &Store, schema: &str) -> Vec<String> {
    store
        .read(|tx| {
            tx.query(
                &format!(
                    "SELECT name FROM {schema}.sqlite_master WHERE type = 'table' \
                     AND name IN ('audit_log', 'audit_checkpoints', 'verify_jobs') ORDER BY name"
                ),
                &[],
            )
        })
        .unwrap()
        .into_iter()
        .map(|r| r[0].as_str().unwrap().to_owned())
        .collect()
}

/// A store as the versions before the audit file left it: audit tables in the main file,
/// a chained log with a signed checkpoint and a verify job whose checkpoint carries its
/// rows' entries. Returns the job's id.
fn store_of_the_earlier_layout(dir: &std::path::Path) -> i64 {
    let url = sqlite_url(dir);
    let old = dancu_store::testing::open_at_version(
        &url,
        dancu_store::testing::version_before_audit_file(),
    )
    .unwrap();
    audit_log(&old, 10);
    old.checkpoint_audit(&audit_key()).unwrap();
    // The job's columns of that version (the code of this one reads later ones).
    let job = old
        .write(|tx| {
            tx.query_i64(
                "INSERT INTO verify_jobs (actor, input, input_fingerprint, output, status, \
                 created_at, updated_at) \
                 VALUES ('officer.1', 'in.csv', 'f1', 'out.csv', 'running', 1, 1) RETURNING id",
                &[],
            )
        })
        .unwrap();
    let checkpoint = dancu_store::JobCheckpoint {
        rows_done: 3,
        input_offset: 30,
        input_line: 4,
        output_offset: 40,
        summary: "{}".into(),
    };
    // Per-person entries, as verify jobs wrote them before group entries.
    let entries: Vec<GroupEntry> = (1..=3)
        .map(|i| AuditEntry {
            at_millis: 2_000,
            actor: "officer.1".into(),
            actor_role: "officer".into(),
            actor_unit: "01".into(),
            action: "verify.batch".into(),
            personal_id: Some(pid(1, Gender::Male, 1980, i)),
            outcome: "match".into(),
            detail: Some(format!("job {job}")),
            ..Default::default()
        })
        .map(GroupEntry::from)
        .collect();
    old.checkpoint_verify_job(job, &checkpoint, dancu_store::JOB_RUNNING, &entries, None)
        .unwrap();
    audit_log(&old, 2);
    assert_eq!(tables_in(&old, "main").len(), 3, "the earlier layout");
    drop(old);
    // That layout had no audit file (opening it at that version attached an empty one).
    remove_sqlite_file(&dir.join("dancu.audit.db"));
    job
}

#[test]
fn sqlite_audit_tables_move_to_their_own_file_with_the_chain_intact() {
    let dir = tempfile::tempdir().unwrap();
    let job = store_of_the_earlier_layout(dir.path());
    let store = Store::open(&sqlite_url(dir.path())).unwrap();
    assert_eq!(
        store.audit_file(),
        Some(dir.path().join("dancu.audit.db").as_path())
    );
    assert!(
        tables_in(&store, "main").is_empty(),
        "moved out of the main file"
    );
    assert_eq!(
        tables_in(&store, "audit"),
        ["audit_checkpoints", "audit_log", "verify_jobs"]
    );
    assert_eq!(
        verify(&store),
        ChainVerdict::Intact {
            entries: 15,
            checkpoints: 1,
            tracked: 0,
            head_checked: false
        }
    );
    let job = store.verify_job(job).unwrap().unwrap();
    assert_eq!(job.checkpoint.rows_done, 3);
    // The chain goes on from its head in the new file.
    audit_log(&store, 4);
    store.checkpoint_audit(&audit_key()).unwrap();
    assert_eq!(
        verify(&store),
        ChainVerdict::Intact {
            entries: 19,
            checkpoints: 2,
            tracked: 0,
            head_checked: false
        }
    );
    drop(store);
    // Tampering is still seen through the attached file.
    let store = Store::open(&sqlite_url(dir.path())).unwrap();
    sql(&store, "UPDATE audit_log SET actor = 'x' WHERE id = 12");
    assert_eq!(broken_at(verify(&store)), (12, Fault::Edited));
}

#[test]
fn sqlite_audit_move_interrupted_after_its_copy_completes_on_reopening() {
    let dir = tempfile::tempdir().unwrap();
    store_of_the_earlier_layout(dir.path());
    let url = sqlite_url(dir.path());
    let old = dancu_store::testing::open_at_version(
        &url,
        dancu_store::testing::version_before_audit_file(),
    )
    .unwrap();
    // The crash: the copy committed, the originals were not dropped. Entries written to
    // them afterwards (by an earlier version) must not be lost nor doubled.
    dancu_store::testing::copy_audit_tables_only(&old).unwrap();
    audit_log(&old, 3);
    drop(old);
    let store = Store::open(&url).unwrap();
    assert!(tables_in(&store, "main").is_empty());
    assert_eq!(store.audit_count().unwrap(), 18);
    assert!(matches!(
        verify(&store),
        ChainVerdict::Intact { entries: 18, .. }
    ));
}

/// Every table and index of a SQLite store, in both files, as SQLite keeps their
/// definitions.
fn schema_of(store: &Store) -> Vec<String> {
    store
        .read(|tx| {
            tx.query(
                "SELECT 'main ' || type || ' ' || name || ': ' || COALESCE(sql, '') \
                 FROM main.sqlite_master UNION ALL \
                 SELECT 'audit ' || type || ' ' || name || ': ' || COALESCE(sql, '') \
                 FROM audit.sqlite_master ORDER BY 1",
                &[],
            )
        })
        .unwrap()
        .into_iter()
        .map(|mut r| r[0].take_text().unwrap())
        .collect()
}

/// A fresh SQLite store in a directory of its own, migrated up to `version`, with its URL.
fn sqlite_at_version(version: i64) -> (tempfile::TempDir, String, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let store = dancu_store::testing::open_at_version(&url, version).unwrap();
    (dir, url, store)
}

/// Migration `version` of the audit file as a crash leaves it: committed in the audit file,
/// not in the main file, with its version recorded in the audit file or (as releases
/// before that record did) not.
fn interrupt_after_the_audit_file_half(store: &Store, version: i64, recorded: bool) {
    dancu_store::testing::migrate_audit_file_only(store, version).unwrap();
    if !recorded {
        sql(store, "DELETE FROM audit.audit_schema_version");
    }
}

/// A migration of the audit file commits there first, then its version in the main file.
/// After a crash between the two, the store opens with the migration applied once, from
/// the version it recorded in the audit file; for the migrations of releases that
/// recorded no such version, from their statements running a second time.
#[test]
fn sqlite_audit_file_migration_interrupted_before_its_version_completes_on_reopening() {
    let fresh = tempfile::tempdir().unwrap();
    let want = schema_of(&Store::open(&sqlite_url(fresh.path())).unwrap());
    let versions = dancu_store::testing::audit_file_versions();
    assert!(versions.len() >= 4, "{versions:?}");
    for version in versions {
        let unrecorded =
            version <= dancu_store::testing::last_audit_file_version_unrecorded_there();
        for recorded_in_audit_file in [true, false].into_iter().filter(|r| *r || unrecorded) {
            let (_dir, url, old) = sqlite_at_version(version - 1);
            audit_log(&old, 3);
            interrupt_after_the_audit_file_half(&old, version, recorded_in_audit_file);
            drop(old);
            let store = Store::open(&url).unwrap_or_else(|e| {
                panic!("version {version} (recorded: {recorded_in_audit_file}): {e}")
            });
            assert_eq!(schema_of(&store), want, "version {version}");
            assert!(matches!(
                verify(&store),
                ChainVerdict::Intact { entries: 3, .. }
            ));
            store
                .read(|tx| {
                    let applied = tx.query_i64(
                        "SELECT COUNT(*) FROM schema_version WHERE version = $1",
                        &[Value::Int(version)],
                    )?;
                    assert_eq!(applied, 1, "version {version} recorded once");
                    Ok(())
                })
                .unwrap();
        }
    }
}

/// The segments migration interrupted after its audit-file half committed (its version
/// recorded there, or not, as releases before that record did not): reopened, the
/// store finishes the upgrade and the tracker still shows each person's outcome once.
#[test]
fn sqlite_group_persons_survive_a_crash_in_the_segments_migration() {
    let version = dancu_store::testing::version_before_group_segments() + 1;
    for recorded_in_audit_file in [true, false] {
        let (_dir, url, old) = sqlite_at_version(version - 1);
        let (a, b) = group_persons_in_the_old_layout(&old);
        interrupt_after_the_audit_file_half(&old, version, recorded_in_audit_file);
        // As the crash left it: the main file one version behind, the audit file migrated.
        old.read(|tx| {
            let main = tx.query_i64("SELECT MAX(version) FROM schema_version", &[])?;
            assert_eq!(main, version - 1);
            let audit = tx.query_i64(
                "SELECT COUNT(*) FROM audit.audit_schema_version WHERE version = $1",
                &[Value::Int(version)],
            )?;
            assert_eq!(audit, i64::from(recorded_in_audit_file));
            let in_segment_0 =
                tx.query_i64("SELECT COUNT(*) FROM audit_persons WHERE segment = 0", &[])?;
            assert_eq!(in_segment_0, 2, "the persons in the segments' layout");
            Ok(())
        })
        .unwrap();
        drop(old);
        let store = Store::open(&url).unwrap();
        assert_eq!(outcomes(&store, a), ["match"], "{recorded_in_audit_file}");
        assert_eq!(
            outcomes(&store, b),
            ["mismatch"],
            "{recorded_in_audit_file}"
        );
        assert!(matches!(
            verify(&store),
            ChainVerdict::Intact {
                entries: 1,
                tracked: 2,
                ..
            }
        ));
    }
}

#[test]
fn sqlite_store_refuses_to_open_without_one_of_its_two_files() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let store = Store::open(&url).unwrap();
    audit_log(&store, 3);
    drop(store);
    let audit = dir.path().join("dancu.audit.db");
    // The last connection to close (the checkpointer's, within 500 ms) folds the WAL in.
    let wal = dir.path().join("dancu.audit.db-wal");
    for _ in 0..100 {
        if !wal.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let saved = dir.path().join("saved.audit.db");
    std::fs::copy(&audit, &saved).unwrap();
    remove_sqlite_file(&audit);
    let err = Store::open(&url).err().expect("no silent new audit log");
    assert!(err.to_string().contains("dancu.audit.db"), "{err}");
    assert!(!audit.exists(), "the refusal creates nothing");

    std::fs::copy(&saved, &audit).unwrap();
    assert_eq!(Store::open(&url).unwrap().audit_count().unwrap(), 3);
    remove_sqlite_file(&dir.path().join("dancu.db"));
    let err = Store::open(&url)
        .err()
        .expect("no new registry beside an old log");
    assert!(err.to_string().contains("dancu.db"), "{err}");
}

/// Readers map the whole registry file once asked to (a batch verification): SQLite is
/// built with a bound on the map far above its default of 2 GB (`.cargo/config.toml`),
/// which a province's file exceeds. By default they do not (the server's resident memory
/// would count the mapped pages), and asking closes the idle readers opened before.
#[test]
fn sqlite_readers_map_the_whole_registry_file_when_asked() {
    let t = dancu_store::testing::TestStore::sqlite();
    let mapped = || {
        t.store
            .read(|tx| tx.query_i64("PRAGMA main.mmap_size", &[]))
            .unwrap()
    };
    assert_eq!(mapped(), 0);
    t.store.map_registry_file();
    assert_eq!(mapped(), 1 << 40);
}

/// The point of the audit file: an audit commit (the audit writer's, or a verify job's
/// checkpoint with its entries) does not change the registry's file, so the readers'
/// page caches of it stay valid.
#[test]
fn sqlite_audit_commits_leave_the_registry_file_unchanged() {
    let t = dancu_store::testing::TestStore::sqlite();
    let store = &t.store;
    let data_versions = || {
        store
            .read(|tx| {
                let main = tx.query_i64("PRAGMA main.data_version", &[])?;
                let audit = tx.query_i64("PRAGMA audit.data_version", &[])?;
                Ok((main, audit))
            })
            .unwrap()
    };
    let (main, audit) = data_versions();
    audit_log(store, 5);
    store.checkpoint_audit(&audit_key()).unwrap();
    let job = store.open_verify_job("a", "in", "f", "out", "").unwrap();
    let (main_after_job, audit_after) = data_versions();
    assert_ne!(audit, audit_after, "the reader sees the audit file change");
    assert_eq!(main, main_after_job, "the registry file did not change");
    checkpoint_groups(store, job.id, &[AuditEntry::default().into()]);
    assert_eq!(data_versions().0, main);
    sql(
        store,
        "INSERT INTO alerts (at, kind, actor, actor_unit, detail) VALUES (1, 'k', 'a', 'u', '')",
    );
    assert_ne!(data_versions().0, main, "a registry write does change it");
}
