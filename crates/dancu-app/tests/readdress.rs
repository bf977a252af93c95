//! Re-addressing with the shipped 2025 mapping: people still recorded in a pre-2025
//! commune move to the commune it became, and an officer of the new province can then
//! read them.

use dancu_app::readdress::MappingSource;
use dancu_app::{Actor, App, Role};
use dancu_domain::units::{Structure, UnitCatalog};
use dancu_domain::{
    Citizen, Gender, Household, PartialDate, PersonalId, PopulationBatch, Residence, ResidenceKind,
};
use dancu_store::EventMeta;
use dancu_store::testing::TestStore;

fn old_person(id: PersonalId, commune: &str) -> Citizen {
    Citizen {
        gender: Gender::Male,
        household_id: Some(1),
        relationship_to_head: Some(dancu_domain::Relationship::Head),
        commune_structure: Structure::Pre2025,
        ..dancu_store::testing::citizen(id, "Phạm Văn Đồng", "1950", commune)
    }
}

#[test]
fn shipped_2025_mapping_moves_pre2025_residents_and_reports_split_communes() {
    let t = TestStore::sqlite();
    let app = App::open(&t.url).unwrap();
    let units = UnitCatalog::embedded();
    let (old, new) = dancu_store::testing::unsplit_old_commune();
    let id = PersonalId::from_parts(1, Gender::Male, 1950, 42).unwrap();
    let batch = PopulationBatch {
        households: vec![Household {
            id: 1,
            head_id: id,
            commune_code: old.clone(),
            address: "Thôn 1".into(),
        }],
        citizens: vec![old_person(id, &old)],
        residences: vec![(
            id,
            Residence {
                kind: ResidenceKind::Permanent,
                commune_code: old.clone(),
                address: "Thôn 1".into(),
                valid_from: PartialDate::parse("1975").unwrap(),
                valid_to: None,
            },
        )],
    };
    let meta = EventMeta {
        actor: "migration".into(),
        agency: "VN".into(),
        basis: "legacy data".into(),
        kind: "import".into(),
        summary: "{}".into(),
        effective_date: PartialDate::parse("2020").unwrap(),
    };
    app.store
        .load_population(
            &meta,
            Structure::Pre2025,
            &mut std::iter::once(batch),
            false,
        )
        .unwrap();
    // Before re-addressing, the household (recorded in the old structure) is in scope
    // for the province its commune became.
    let new_province = units.current_commune(&new).unwrap().province_code.clone();
    let rightful = Actor::new("o", Role::Officer, &new_province);
    let (_, members) = app
        .household(&rightful, 1)
        .unwrap()
        .release_blocking()
        .unwrap();
    assert_eq!(members.len(), 1);
    let (plan, splits) = app
        .readdress_plan(MappingSource::Shipped2025, "2025-07-01")
        .unwrap();
    assert!(plan.mapping.len() > 9_000, "{}", plan.mapping.len());
    assert!(
        splits.len() > 400,
        "split communes are reported, not guessed: {}",
        splits.len()
    );
    let system = Actor::system("test");
    let dry = app.readdress(&system, &plan, splits.clone(), None).unwrap();
    assert_eq!((dry.report.citizens, dry.report.residences), (1, 1));
    let done = app
        .readdress(&system, &plan, splits, Some("Nghị quyết 202/2025/QH15"))
        .unwrap();
    assert!(done.report.applied);
    let c = app.store.citizen(id).unwrap().unwrap();
    assert_eq!(c.commune_code.as_deref(), Some(new.as_str()));
    assert_eq!(c.commune_structure, Structure::Y2025);
    let province = units.current_commune(&new).unwrap().province_code.clone();
    let officer = Actor::new("o", Role::Officer, &province);
    let read = app
        .citizen(&officer, id)
        .unwrap()
        .release_blocking()
        .unwrap();
    assert_eq!(read.personal_id, id);
    let history = app.store.residences(id).unwrap();
    assert_eq!(history[0].unit_structure, Structure::Pre2025);
    assert_eq!(history[1].unit_structure, Structure::Y2025);
    assert_eq!(history[1].registered_by.basis, "Nghị quyết 202/2025/QH15");
}

/// A household of two in `commune` (2025 structure), named "Lê Văn Sáp Nhập".
fn household_in(commune: &str, head: PersonalId, spouse: PersonalId) -> PopulationBatch {
    let person = |id: PersonalId, relationship| Citizen {
        full_name: "Lê Văn Sáp Nhập".into(),
        commune_structure: Structure::Y2025,
        relationship_to_head: Some(relationship),
        ..old_person(id, commune)
    };
    let residence = Residence {
        kind: ResidenceKind::Permanent,
        commune_code: commune.into(),
        address: "Tổ 5".into(),
        valid_from: PartialDate::parse("2001").unwrap(),
        valid_to: None,
    };
    PopulationBatch {
        households: vec![Household {
            id: 1,
            head_id: head,
            commune_code: commune.into(),
            address: "Tổ 5".into(),
        }],
        citizens: vec![
            person(head, dancu_domain::Relationship::Head),
            person(spouse, dancu_domain::Relationship::Spouse),
        ],
        residences: vec![(head, residence.clone()), (spouse, residence)],
    }
}

#[test]
fn a_merger_moves_reads_search_export_and_scope_to_the_new_unit() {
    use dancu_app::citizens::{Listed, SearchParams};
    let t = TestStore::sqlite();
    let app = App::open(&t.url).unwrap();
    // Another process's view of the same store, opened before the reorganization.
    let other_process = dancu_store::Store::open(&t.url).unwrap();
    let units = UnitCatalog::embedded();
    let first = |province: &str| {
        units
            .children(Structure::Y2025, province)
            .next()
            .unwrap()
            .code
            .clone()
    };
    let (old, new) = (first("01"), first("79"));
    let head = PersonalId::from_parts(1, Gender::Male, 1950, 7).unwrap();
    let spouse = PersonalId::from_parts(1, Gender::Male, 1951, 8).unwrap();
    let meta = EventMeta {
        actor: "t".into(),
        agency: "VN".into(),
        basis: "import".into(),
        kind: "import".into(),
        summary: "{}".into(),
        effective_date: PartialDate::parse("2001").unwrap(),
    };
    app.store
        .load_population(
            &meta,
            Structure::Y2025,
            &mut std::iter::once(household_in(&old, head, spouse)),
            false,
        )
        .unwrap();
    let mapping = format!("old_commune_code,new_commune_code\n{old},{new}\n");
    let (plan, splits) = app
        .readdress_plan(
            MappingSource::File {
                bytes: mapping.as_bytes(),
                structure: Structure::Y2025,
            },
            "2026-01-01",
        )
        .unwrap();
    let system = Actor::system("test");
    let done = app
        .readdress(&system, &plan, splits, Some("Nghị quyết test"))
        .unwrap();
    assert_eq!(
        (
            done.report.residences,
            done.report.citizens,
            done.report.households
        ),
        (2, 2, 1)
    );
    let hcmc = Actor::new("o79", Role::Officer, "79");
    let hanoi = Actor::new("o01", Role::Officer, "01");
    let read = app
        .citizen(&hcmc, head)
        .unwrap()
        .release_blocking()
        .unwrap();
    assert_eq!(read.commune_code.as_deref(), Some(new.as_str()));
    assert!(matches!(
        app.citizen(&hanoi, head),
        Err(dancu_app::Error::Forbidden(_))
    ));
    let (household, members) = app.household(&hcmc, 1).unwrap().release_blocking().unwrap();
    assert_eq!(household.commune_code, new);
    assert!(
        members
            .iter()
            .all(|m| m.commune_code.as_deref() == Some(new.as_str()))
    );
    let search = |actor: &Actor| {
        let params = SearchParams {
            name: Some("le van sap".into()),
            ..SearchParams::default()
        };
        app.search(actor, &params)
            .unwrap()
            .release_blocking()
            .unwrap()
            .items
    };
    let found = search(&hcmc);
    assert_eq!(found.len(), 2);
    assert!(
        found.iter().all(
            |l| matches!(l, Listed::Full(c) if c.commune_code.as_deref() == Some(new.as_str()))
        )
    );
    assert!(search(&hanoi).is_empty());
    let mut csv = Vec::new();
    app.export_citizens(&system, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(
        csv.lines()
            .filter(|l| l.contains(&format!(",{new},")))
            .count(),
        2
    );
    // Nobody is registered in a unit that no longer exists.
    let refused = app.register_residence(
        &hcmc,
        head,
        "chuyển hộ khẩu",
        &Residence {
            kind: ResidenceKind::Temporary,
            commune_code: old.clone(),
            address: "x".into(),
            valid_from: PartialDate::parse("2026-02-01").unwrap(),
            valid_to: None,
        },
    );
    assert!(matches!(refused, Err(dancu_app::Error::Invalid(m)) if m.contains(&new)));
    // The other process sees the reorganization within a second.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let seen = other_process.citizen(spouse).unwrap().unwrap();
    assert_eq!(seen.commune_code.as_deref(), Some(new.as_str()));
}
