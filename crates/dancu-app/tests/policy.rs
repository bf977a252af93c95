//! The policy table, enumerated: every role against every action, inside and outside its
//! unit. A change to the table must change this test.

use dancu_app::policy::{Action, Actor, NATIONAL_UNIT, Role, Scope, Target, authorize, grant};
use dancu_domain::units::{Structure, UnitCatalog};

fn expected(role: Role, action: Action) -> Option<Scope> {
    use Action::*;
    use Role::*;
    match (role, action) {
        (_, ReadUnits) => Some(Scope::Any),
        (Officer, ReadCitizen | SearchCitizens | WriteCitizen | ImportCitizens | Readdress) => {
            Some(Scope::OwnUnit)
        }
        (Admin, ManageAccounts) => Some(Scope::OwnUnit),
        (Auditor, ReadAudit) => Some(Scope::OwnUnit),
        (Supervisor, ReadAggregates) => Some(Scope::OwnUnit),
        (System, ImportCitizens | ExportCitizens | Readdress | ManageAccounts | ReadAggregates) => {
            Some(Scope::Any)
        }
        _ => None,
    }
}

const PERSONAL_DATA: [Action; 4] = [
    Action::ReadCitizen,
    Action::SearchCitizens,
    Action::WriteCitizen,
    Action::ExportCitizens,
];

#[test]
fn the_table_is_exactly_the_expected_one() {
    for role in Role::ALL.into_iter().chain([Role::System]) {
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
        let province = Actor {
            username: "p".into(),
            role,
            unit: "01".into(),
        };
        let commune = Actor {
            username: "c".into(),
            role,
            unit: hanoi[0].clone(),
        };
        let national = Actor {
            username: "n".into(),
            role,
            unit: NATIONAL_UNIT.into(),
        };
        for action in Action::ALL {
            let granted = grant(role, action).is_some();
            let any = grant(role, action) == Some(Scope::Any);
            assert_eq!(
                authorize(units, &province, action, Some(inside)).is_ok(),
                granted
            );
            assert_eq!(
                authorize(units, &province, action, Some(outside)).is_ok(),
                any
            );
            assert_eq!(
                authorize(units, &commune, action, Some(inside)).is_ok(),
                granted
            );
            assert_eq!(
                authorize(units, &commune, action, Some(sibling)).is_ok(),
                any
            );
            assert_eq!(
                authorize(units, &national, action, Some(outside)).is_ok(),
                granted
            );
            if PERSONAL_DATA.contains(&action) && role != Role::Officer {
                assert!(
                    authorize(units, &national, action, Some(inside)).is_err(),
                    "{role:?} must never touch personal data"
                );
            }
        }
    }
}

#[test]
fn an_old_structure_commune_is_in_scope_through_its_2025_successor() {
    let units = UnitCatalog::embedded();
    let (old, new) = dancu_store::testing::unsplit_old_commune();
    let province = units.current_commune(&new).unwrap().province_code.clone();
    let officer = Actor {
        username: "o".into(),
        role: Role::Officer,
        unit: province,
    };
    let target = Target {
        structure: Structure::Pre2025,
        code: &old,
    };
    assert!(authorize(units, &officer, Action::ReadCitizen, Some(target)).is_ok());
    let other = Actor {
        username: "o".into(),
        role: Role::Officer,
        unit: if officer.unit == "01" {
            "79".into()
        } else {
            "01".into()
        },
    };
    assert!(authorize(units, &other, Action::ReadCitizen, Some(target)).is_err());
}
