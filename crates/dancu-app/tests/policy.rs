//! The policy table, enumerated: every role against every action, inside and outside its
//! unit. A change to the table must change this test.

use dancu_app::policy::{Action, Actor, NATIONAL_UNIT, Role, Scope, Target, authorize, grant};
use dancu_domain::succession::Successions;
use dancu_domain::units::{Structure, UnitCatalog};

fn expected(role: Role, action: Action) -> Option<Scope> {
    use Action::*;
    use Role::*;
    match (role, action) {
        (
            System,
            ImportCitizens | ExportCitizens | Readdress | ManageAccounts | ReadAggregates
            | ReadAudit | ManagePartners | ReadPartnerUsage | ReadAlerts | VerifyIdentity
            | ManageCivilBooks | ReadCivilEntries | ReviewCivilLinks | ReadCivilProgress,
        ) => Some(Scope::Any),
        (System, _) => None,
        (Partner, VerifyIdentity) => Some(Scope::Any),
        (Partner, _) => None,
        (_, ReadUnits) => Some(Scope::Any),
        (_, ManageOwnAccount) => Some(Scope::Own),
        (
            Officer,
            ReadCitizen | SearchCitizens | WriteCitizen | ImportCitizens | Readdress
            | ReadAttributes,
        ) => Some(Scope::OwnUnit),
        (CivilStatusOfficer | SocialInsuranceOfficer, ReadCitizen) => Some(Scope::Dossier),
        (CivilStatusOfficer | SocialInsuranceOfficer, HandleDossiers) => Some(Scope::OwnUnit),
        (CivilStatusOfficer, SearchCitizens) => Some(Scope::OwnUnit),
        (
            CivilStatusOfficer,
            ManageCivilBooks | ReadCivilEntries | ReviewCivilLinks | ReadCivilProgress,
        ) => Some(Scope::OwnUnit),
        (Admin, ManageAccounts | ReadLoginHistory | ManagePartners | ReadPartnerUsage) => {
            Some(Scope::OwnUnit)
        }
        (Auditor, ReadAudit | ReadLoginHistory | ReadAlerts) => Some(Scope::OwnUnit),
        (Supervisor, ReadAggregates | ReadPartnerUsage | ReadCivilProgress) => Some(Scope::OwnUnit),
        (Citizen, ReadCitizen | ReadAudit | ReadAttributes) => Some(Scope::Own),
        _ => None,
    }
}

const PERSONAL_DATA: [Action; 5] = [
    Action::ReadCitizen,
    Action::ReadAttributes,
    Action::SearchCitizens,
    Action::WriteCitizen,
    Action::ExportCitizens,
];

#[test]
fn the_table_is_exactly_the_expected_one() {
    for role in Role::ALL.into_iter().chain([Role::System, Role::Partner]) {
        for action in Action::ALL {
            assert_eq!(
                grant(role, action),
                expected(role, action),
                "{role:?} × {action:?}"
            );
        }
    }
}

#[test]
fn scope_is_enforced_inside_and_outside_the_unit() {
    let units = UnitCatalog::embedded();
    let none = Successions::default();
    let hanoi: Vec<String> = units
        .children(Structure::Y2025, "01")
        .take(2)
        .map(|u| u.code.clone())
        .collect();
    let elsewhere = units
        .communes(Structure::Y2025)
        .find(|c| c.province_code != "01")
        .unwrap()
        .code
        .clone();
    let inside = Target {
        structure: Structure::Y2025,
        code: &hanoi[0],
    };
    let sibling = Target {
        structure: Structure::Y2025,
        code: &hanoi[1],
    };
    let outside = Target {
        structure: Structure::Y2025,
        code: &elsewhere,
    };
    for role in Role::ALL {
        let province = Actor::new("p", role, "01");
        let commune = Actor::new("c", role, &hanoi[0]);
        let national = Actor::new("n", role, NATIONAL_UNIT);
        for action in Action::ALL {
            // A unit target is reachable only through a unit scope; person-level scopes
            // (dossier, own) are decided per person by `authorize_subject`.
            let granted = matches!(grant(role, action), Some(Scope::Any | Scope::OwnUnit));
            let any = grant(role, action) == Some(Scope::Any);
            assert_eq!(
                authorize(units, &none, &province, action, Some(inside)).is_ok(),
                granted
            );
            assert_eq!(
                authorize(units, &none, &province, action, Some(outside)).is_ok(),
                any
            );
            assert_eq!(
                authorize(units, &none, &commune, action, Some(inside)).is_ok(),
                granted
            );
            assert_eq!(
                authorize(units, &none, &commune, action, Some(sibling)).is_ok(),
                any
            );
            assert_eq!(
                authorize(units, &none, &national, action, Some(outside)).is_ok(),
                granted
            );
            if PERSONAL_DATA.contains(&action)
                && matches!(role, Role::Admin | Role::Auditor | Role::Supervisor)
            {
                assert!(
                    authorize(units, &none, &national, action, Some(inside)).is_err(),
                    "{role:?} must never touch personal data"
                );
            }
        }
    }
}

#[test]
fn an_old_structure_commune_is_in_scope_through_its_2025_successor() {
    let units = UnitCatalog::embedded();
    let none = Successions::default();
    let (old, new) = dancu_store::testing::unsplit_old_commune();
    let province = units.current_commune(&new).unwrap().province_code.clone();
    let officer = Actor::new("o", Role::Officer, &province);
    let target = Target {
        structure: Structure::Pre2025,
        code: &old,
    };
    assert!(authorize(units, &none, &officer, Action::ReadCitizen, Some(target)).is_ok());
    let other = Actor::new(
        "o",
        Role::Officer,
        if officer.unit == "01" { "79" } else { "01" },
    );
    assert!(authorize(units, &none, &other, Action::ReadCitizen, Some(target)).is_err());
}

#[test]
fn partners_are_reached_only_from_the_national_unit() {
    use dancu_app::policy::national;
    let units = UnitCatalog::embedded();
    let none = Successions::default();
    let may = |role: Role, unit: &str, action: Action| {
        authorize(
            units,
            &none,
            &Actor::new("x", role, unit),
            action,
            Some(national()),
        )
        .is_ok()
    };
    assert!(may(Role::Admin, NATIONAL_UNIT, Action::ManagePartners));
    assert!(!may(Role::Admin, "01", Action::ManagePartners));
    assert!(!may(
        Role::Supervisor,
        NATIONAL_UNIT,
        Action::ManagePartners
    ));
    for role in [Role::Admin, Role::Supervisor] {
        assert!(may(role, NATIONAL_UNIT, Action::ReadPartnerUsage));
        assert!(!may(role, "01", Action::ReadPartnerUsage));
    }
    assert!(!may(Role::Officer, NATIONAL_UNIT, Action::ReadPartnerUsage));
    assert!(!may(Role::Auditor, NATIONAL_UNIT, Action::ManagePartners));
}

#[test]
fn scope_follows_recorded_successions_from_their_effective_date() {
    use dancu_app::policy::{unit_contains, unit_filter};
    use dancu_domain::PartialDate;
    use dancu_domain::succession::Succession;
    let units = UnitCatalog::embedded();
    let (old, new) = dancu_store::testing::unsplit_old_commune();
    let new_province = units.current_commune(&new).unwrap().province_code.clone();
    assert_ne!(new_province, "79");
    let commune_of = |province: &str| {
        units
            .children(Structure::Y2025, province)
            .find(|c| c.code != new)
            .unwrap()
            .code
            .clone()
    };
    let (moved, hcmc, later) = (
        commune_of(&new_province),
        commune_of("79"),
        commune_of("48"),
    );
    let step = |from: Structure, code: &str, date: &str, event: i64| Succession {
        from_structure: from,
        from_code: code.into(),
        to_structure: Structure::Y2025,
        to_code: hcmc.clone(),
        effective_date: PartialDate::parse(date).unwrap(),
        event_id: event,
    };
    // Two communes merged into one of Hồ Chí Minh City (a test geography), one of them
    // the 2025 successor of an old commune; another merger not yet effective.
    let successions = Successions::new([
        step(Structure::Y2025, &moved, "2026-01-01", 1),
        step(Structure::Y2025, &new, "2026-01-01", 1),
        step(Structure::Y2025, &later, "2399-01-01", 2),
    ])
    .unwrap();
    let inside = |unit: &str, structure: Structure, code: &str| {
        unit_contains(units, &successions, unit, Target { structure, code })
    };
    assert!(inside("79", Structure::Y2025, &moved));
    assert!(!inside(&new_province, Structure::Y2025, &moved));
    assert!(
        inside("79", Structure::Pre2025, &old),
        "old → 2025 → merged"
    );
    assert!(!inside(&new_province, Structure::Pre2025, &old));
    assert!(inside("48", Structure::Y2025, &later), "not yet effective");
    assert!(!inside("79", Structure::Y2025, &later));
    let filter = |unit: &str| match unit_filter(
        units,
        &successions,
        &Actor::new("o", Role::Officer, unit),
    ) {
        dancu_store::UnitFilter::Communes { current, pre2025 } => (current, pre2025),
        dancu_store::UnitFilter::All => panic!("a province officer searches its communes only"),
    };
    let (current, pre2025) = filter("79");
    assert!(current.contains(&moved) && current.contains(&hcmc) && !current.contains(&later));
    assert!(pre2025.contains(&old));
    let (current, pre2025) = filter(&new_province);
    assert!(!current.contains(&moved) && !pre2025.contains(&old));
}
