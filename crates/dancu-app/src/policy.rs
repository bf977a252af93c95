//! The authorization policy: one table of role × action × scope. Deny by default: an
//! action not in the table for a role is refused. Every use case calls [`authorize`]
//! before touching data; nothing else in the code base decides who may do what.

use dancu_domain::units::{Structure, UnitCatalog};
use serde::Serialize;

/// Staff roles of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads and writes citizen data inside its unit's subtree.
    Officer,
    /// Manages accounts inside its unit's subtree; never reads citizen data.
    Admin,
    /// Reads the audit log; never reads citizen data.
    Auditor,
    /// Reads aggregates only, never a single person.
    Supervisor,
    /// The operator at the store's own console (`dancu` CLI commands). Not an account
    /// role: it cannot be given to a user and never reaches the HTTP API.
    System,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Officer, Role::Admin, Role::Auditor, Role::Supervisor];

    pub fn code(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Supervisor => "supervisor",
            Role::System => "system",
        }
    }

    /// Parses an account role (never `system`).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// Everything a principal can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read one person's record, household, residences, history or past state.
    ReadCitizen,
    /// Search people by name and date of birth.
    SearchCitizens,
    /// Change a person's record or register a residence.
    WriteCitizen,
    /// Load a file of citizens.
    ImportCitizens,
    /// Re-address every residence of a reorganized unit (dry run or apply).
    Readdress,
    /// Read the administrative-unit catalog (public reference data).
    ReadUnits,
    /// Create or manage staff accounts.
    ManageAccounts,
    /// Read the audit log.
    ReadAudit,
    /// Read aggregate statistics and data-quality counts.
    ReadAggregates,
    /// Write the whole registry to a file.
    ExportCitizens,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::ReadCitizen,
        Action::SearchCitizens,
        Action::WriteCitizen,
        Action::ImportCitizens,
        Action::Readdress,
        Action::ReadUnits,
        Action::ManageAccounts,
        Action::ReadAudit,
        Action::ReadAggregates,
        Action::ExportCitizens,
    ];
}

/// How far a grant reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Anything: reference data, or the role's unit is irrelevant.
    Any,
    /// Only targets inside the principal's unit subtree.
    OwnUnit,
}

/// The policy table. A (role, action) pair not listed is denied.
pub const POLICY: &[(Role, Action, Scope)] = &[
    (Role::Officer, Action::ReadCitizen, Scope::OwnUnit),
    (Role::Officer, Action::SearchCitizens, Scope::OwnUnit),
    (Role::Officer, Action::WriteCitizen, Scope::OwnUnit),
    (Role::Officer, Action::ImportCitizens, Scope::OwnUnit),
    (Role::Officer, Action::Readdress, Scope::OwnUnit),
    (Role::Officer, Action::ReadUnits, Scope::Any),
    (Role::Admin, Action::ManageAccounts, Scope::OwnUnit),
    (Role::Admin, Action::ReadUnits, Scope::Any),
    (Role::Auditor, Action::ReadAudit, Scope::OwnUnit),
    (Role::Auditor, Action::ReadUnits, Scope::Any),
    (Role::Supervisor, Action::ReadAggregates, Scope::OwnUnit),
    (Role::Supervisor, Action::ReadUnits, Scope::Any),
    (Role::System, Action::ImportCitizens, Scope::Any),
    (Role::System, Action::ExportCitizens, Scope::Any),
    (Role::System, Action::Readdress, Scope::Any),
    (Role::System, Action::ManageAccounts, Scope::Any),
    (Role::System, Action::ReadAggregates, Scope::Any),
    (Role::System, Action::ReadUnits, Scope::Any),
];

/// The unit code of the whole country: a principal bound to it has every unit in scope.
pub const NATIONAL_UNIT: &str = "VN";

/// The acting principal of a request or command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub username: String,
    pub role: Role,
    /// `VN`, or a province or commune code of the current (2025) structure.
    pub unit: String,
}

impl Actor {
    /// The operator running a local CLI command on the store (the machine's owner).
    pub fn system(command: &str) -> Actor {
        Actor {
            username: format!("system:{command}"),
            role: Role::System,
            unit: NATIONAL_UNIT.into(),
        }
    }
}

/// A unit a request touches: a commune (or province) code of one structure.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub structure: Structure,
    pub code: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{role:?} may not {action:?} here")]
pub struct Denied {
    pub role: Role,
    pub action: Action,
}

/// The grant of `role` for `action`, if any.
pub fn grant(role: Role, action: Action) -> Option<Scope> {
    POLICY
        .iter()
        .find(|(r, a, _)| *r == role && *a == action)
        .map(|(_, _, s)| *s)
}

/// Decides whether `actor` may do `action`, on `target` when the action concerns a unit
/// (None = no particular unit: a search is then limited by [`unit_filter`]).
pub fn authorize(
    units: &UnitCatalog,
    actor: &Actor,
    action: Action,
    target: Option<Target<'_>>,
) -> Result<(), Denied> {
    let denied = Denied {
        role: actor.role,
        action,
    };
    match (grant(actor.role, action), target) {
        (None, _) => Err(denied),
        (Some(Scope::Any), _) | (Some(Scope::OwnUnit), None) => Ok(()),
        (Some(Scope::OwnUnit), Some(t)) => {
            if unit_contains(units, &actor.unit, t) {
                Ok(())
            } else {
                Err(denied)
            }
        }
    }
}

/// Is `target` inside the subtree of the principal's unit (a 2025 code or `VN`)?
/// An old-structure commune is inside when any commune it became is.
pub fn unit_contains(units: &UnitCatalog, actor_unit: &str, target: Target<'_>) -> bool {
    if actor_unit == NATIONAL_UNIT {
        return true;
    }
    match target.structure {
        Structure::Y2025 => units.is_within(Structure::Y2025, target.code, actor_unit),
        Structure::Pre2025 => units
            .map_old_commune(target.code)
            .iter()
            .any(|new| units.is_within(Structure::Y2025, new, actor_unit)),
    }
}

/// The communes a search by `actor` may look in.
pub fn unit_filter(units: &UnitCatalog, actor: &Actor) -> dancu_store::UnitFilter {
    if actor.unit == NATIONAL_UNIT {
        return dancu_store::UnitFilter::All;
    }
    let inside = |code: &str| units.is_within(Structure::Y2025, code, &actor.unit);
    let current = units
        .communes(Structure::Y2025)
        .filter(|c| inside(&c.code))
        .map(|c| c.code.clone())
        .collect();
    let pre2025 = units
        .communes(Structure::Pre2025)
        .filter(|c| units.map_old_commune(&c.code).iter().any(|n| inside(n)))
        .map(|c| c.code.clone())
        .collect();
    dancu_store::UnitFilter::Communes { current, pre2025 }
}

/// Is `unit` a unit a staff account can be bound to?
pub fn is_valid_actor_unit(units: &UnitCatalog, unit: &str) -> bool {
    unit == NATIONAL_UNIT || units.get(Structure::Y2025, unit).is_some()
}
