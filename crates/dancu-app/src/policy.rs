//! The authorization policy: one table of role × action × scope. Deny by default: an
//! action not in the table for a role is refused. Every use case calls [`authorize`]
//! before touching data; nothing else in the code base decides who may do what.

use std::net::IpAddr;

use dancu_domain::PersonalId;
use dancu_domain::succession::Successions;
use dancu_domain::units::{Structure, UnitCatalog};
use dancu_store::DossierRecord;
use serde::Serialize;

/// Account roles: the contract's four, the officers of other agencies, and citizens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Police registry officer (PC06 / commune police): reads and writes citizen data
    /// inside its unit's subtree.
    Officer,
    /// Civil-status official (tư pháp–hộ tịch) at a one-stop desk: reads a person only
    /// for a dossier in progress in its unit (lookup 037).
    CivilStatusOfficer,
    /// Social-insurance officer (BHXH): like the civil-status official, for its dossiers.
    SocialInsuranceOfficer,
    /// Manages accounts inside its unit's subtree; never reads citizen data.
    Admin,
    /// Reads the audit log; never reads citizen data.
    Auditor,
    /// Reads aggregates only, never a single person.
    Supervisor,
    /// A citizen's own e-ID account: reads its own record and who accessed it.
    Citizen,
    /// The operator at the store's own console (`dancu` CLI commands). Not an account
    /// role: it cannot be given to a user and never reaches the HTTP API.
    System,
    /// A partner (bank, telco, ministry) calling with its API key. Not an account role:
    /// partners are created by `partner add` and authenticate with `X-Api-Key` only;
    /// what they may call is further narrowed by their scopes.
    Partner,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Officer,
        Role::CivilStatusOfficer,
        Role::SocialInsuranceOfficer,
        Role::Admin,
        Role::Auditor,
        Role::Supervisor,
        Role::Citizen,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Officer => "officer",
            Role::CivilStatusOfficer => "civil_status_officer",
            Role::SocialInsuranceOfficer => "social_insurance_officer",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Supervisor => "supervisor",
            Role::Citizen => "citizen",
            Role::System => "system",
            Role::Partner => "partner",
        }
    }

    /// Parses an account role (never `system`).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == s)
    }

    /// Staff roles (everything but citizens): two factors mandatory, bound to a unit.
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Citizen | Role::System | Role::Partner)
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
    /// Create, disable, unlock staff accounts and set their allow-lists.
    ManageAccounts,
    /// Read the login and password history of accounts.
    ReadLoginHistory,
    /// Read one's own account: profile, login history, password change, re-auth.
    ManageOwnAccount,
    /// Read the audit log (who accessed a person: the data tracker).
    ReadAudit,
    /// Read aggregate statistics and data-quality counts.
    ReadAggregates,
    /// Write the whole registry to a file.
    ExportCitizens,
    /// Open or close a dossier of an administrative procedure.
    HandleDossiers,
    /// Create, disable and enable partner accounts (API keys). Partners are national:
    /// only a national-scope principal reaches them.
    ManagePartners,
    /// Read a partner's daily usage (an aggregate: no person in it).
    ReadPartnerUsage,
    /// Read the alerts on unusual activity of the accounts of a unit.
    ReadAlerts,
    /// Verify a person's identity data against the registry (lookup 037 for partners,
    /// batch cleansing): learn per-field agreement, never the record itself.
    VerifyIdentity,
    /// Read the attributes ministries pushed for a person (blood type, driving licence,
    /// health-insurance number) with their sources and history.
    ReadAttributes,
    /// Civil-status digitization: create register books, upload page scans, type,
    /// import and check entries, run the linking of a book.
    ManageCivilBooks,
    /// Read a book's entries and page scans, and the review queue.
    ReadCivilEntries,
    /// Confirm or reject a proposed link of an entry to a registry person.
    ReviewCivilLinks,
    /// Read digitization progress (counts per book, commune, province: no person).
    ReadCivilProgress,
}

impl Action {
    pub const ALL: [Action; 22] = [
        Action::ReadCitizen,
        Action::SearchCitizens,
        Action::WriteCitizen,
        Action::ImportCitizens,
        Action::Readdress,
        Action::ReadUnits,
        Action::ManageAccounts,
        Action::ReadLoginHistory,
        Action::ManageOwnAccount,
        Action::ReadAudit,
        Action::ReadAggregates,
        Action::ExportCitizens,
        Action::HandleDossiers,
        Action::ManagePartners,
        Action::ReadPartnerUsage,
        Action::ReadAlerts,
        Action::VerifyIdentity,
        Action::ReadAttributes,
        Action::ManageCivilBooks,
        Action::ReadCivilEntries,
        Action::ReviewCivilLinks,
        Action::ReadCivilProgress,
    ];
}

/// How far a grant reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Anything: reference data, or the role's unit is irrelevant.
    Any,
    /// Only targets inside the principal's unit subtree.
    OwnUnit,
    /// Only a person for whom a dossier handled by the principal's unit is in progress
    /// (the person may live anywhere: that is what lookup 037 is for).
    Dossier,
    /// Only the principal's own person (citizen accounts).
    Own,
}

/// The policy table. A (role, action) pair not listed is denied.
pub const POLICY: &[(Role, Action, Scope)] = &[
    (Role::Officer, Action::ReadCitizen, Scope::OwnUnit),
    (Role::Officer, Action::SearchCitizens, Scope::OwnUnit),
    (Role::Officer, Action::WriteCitizen, Scope::OwnUnit),
    (Role::Officer, Action::ImportCitizens, Scope::OwnUnit),
    (Role::Officer, Action::Readdress, Scope::OwnUnit),
    (Role::Officer, Action::ReadAttributes, Scope::OwnUnit),
    (
        Role::CivilStatusOfficer,
        Action::ReadCitizen,
        Scope::Dossier,
    ),
    (
        Role::CivilStatusOfficer,
        Action::SearchCitizens,
        Scope::OwnUnit,
    ),
    (
        Role::CivilStatusOfficer,
        Action::HandleDossiers,
        Scope::OwnUnit,
    ),
    (
        Role::SocialInsuranceOfficer,
        Action::ReadCitizen,
        Scope::Dossier,
    ),
    (
        Role::SocialInsuranceOfficer,
        Action::HandleDossiers,
        Scope::OwnUnit,
    ),
    (
        Role::CivilStatusOfficer,
        Action::ManageCivilBooks,
        Scope::OwnUnit,
    ),
    (
        Role::CivilStatusOfficer,
        Action::ReadCivilEntries,
        Scope::OwnUnit,
    ),
    (
        Role::CivilStatusOfficer,
        Action::ReviewCivilLinks,
        Scope::OwnUnit,
    ),
    (
        Role::CivilStatusOfficer,
        Action::ReadCivilProgress,
        Scope::OwnUnit,
    ),
    (Role::Admin, Action::ManageAccounts, Scope::OwnUnit),
    (Role::Admin, Action::ReadLoginHistory, Scope::OwnUnit),
    (Role::Admin, Action::ManagePartners, Scope::OwnUnit),
    (Role::Admin, Action::ReadPartnerUsage, Scope::OwnUnit),
    (Role::Auditor, Action::ReadAudit, Scope::OwnUnit),
    (Role::Auditor, Action::ReadLoginHistory, Scope::OwnUnit),
    (Role::Auditor, Action::ReadAlerts, Scope::OwnUnit),
    (Role::Supervisor, Action::ReadAggregates, Scope::OwnUnit),
    (Role::Supervisor, Action::ReadPartnerUsage, Scope::OwnUnit),
    (Role::Supervisor, Action::ReadCivilProgress, Scope::OwnUnit),
    (Role::Citizen, Action::ReadCitizen, Scope::Own),
    (Role::Citizen, Action::ReadAudit, Scope::Own),
    (Role::Citizen, Action::ReadAttributes, Scope::Own),
    (Role::System, Action::ImportCitizens, Scope::Any),
    (Role::System, Action::ExportCitizens, Scope::Any),
    (Role::System, Action::Readdress, Scope::Any),
    (Role::System, Action::ManageAccounts, Scope::Any),
    (Role::System, Action::ReadAggregates, Scope::Any),
    (Role::System, Action::ReadAudit, Scope::Any),
    (Role::System, Action::ManagePartners, Scope::Any),
    (Role::System, Action::ReadPartnerUsage, Scope::Any),
    (Role::System, Action::ReadAlerts, Scope::Any),
    (Role::System, Action::VerifyIdentity, Scope::Any),
    // A partner learns per-field agreement about anyone it names (that is the service);
    // its scopes (`verify`, `verify_batch`) and daily quota narrow this further.
    (Role::Partner, Action::VerifyIdentity, Scope::Any),
    (Role::System, Action::ManageCivilBooks, Scope::Any),
    (Role::System, Action::ReadCivilEntries, Scope::Any),
    (Role::System, Action::ReviewCivilLinks, Scope::Any),
    (Role::System, Action::ReadCivilProgress, Scope::Any),
];

/// Actions every account may do, whatever its role: reference data and its own account.
const EVERY_ACCOUNT: &[(Action, Scope)] = &[
    (Action::ReadUnits, Scope::Any),
    (Action::ManageOwnAccount, Scope::Own),
];

/// Agencies an account can be bound to instead of an administrative unit. They hold no
/// territory: their officers reach people only through their dossiers.
pub const AGENCIES: &[(&str, &str)] = &[
    ("BCA", "Bộ Công an"),
    ("BTP", "Bộ Tư pháp"),
    ("BHXH", "Bảo hiểm xã hội Việt Nam"),
    ("BYT", "Bộ Y tế"),
    ("BXD", "Bộ Xây dựng"),
];

/// The unit code of the whole country: a principal bound to it has every unit in scope.
pub const NATIONAL_UNIT: &str = "VN";

/// The whole country as a target: actions on national things (data-quality counts,
/// partners) need a principal bound to `VN`.
pub fn national() -> Target<'static> {
    Target {
        structure: Structure::Y2025,
        code: NATIONAL_UNIT,
    }
}

/// The acting principal of a request or command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub username: String,
    pub role: Role,
    /// `VN`, a province or commune code of the current (2025) structure, or an agency.
    pub unit: String,
    /// The person of a citizen account.
    pub personal_id: Option<PersonalId>,
    /// The client address of the current request (after trusted proxies).
    pub ip: Option<IpAddr>,
    /// The client's User-Agent, for the login history.
    pub user_agent: Option<String>,
    /// The dossier this request is made for: a lookup for a procedure (037) names it.
    pub dossier: Option<i64>,
}

impl Actor {
    pub fn new(username: &str, role: Role, unit: &str) -> Actor {
        Actor {
            username: username.into(),
            role,
            unit: unit.into(),
            personal_id: None,
            ip: None,
            user_agent: None,
            dossier: None,
        }
    }

    /// The operator running a local CLI command on the store (the machine's owner).
    pub fn system(command: &str) -> Actor {
        Actor::new(&format!("system:{command}"), Role::System, NATIONAL_UNIT)
    }

    /// A partner calling with its API key; audited as `partner:NAME`.
    pub fn partner(name: &str, ip: Option<IpAddr>, user_agent: Option<String>) -> Actor {
        Actor {
            ip,
            user_agent,
            ..Actor::new(&format!("partner:{name}"), Role::Partner, "partner")
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
    let every = (!matches!(role, Role::System | Role::Partner))
        .then(|| EVERY_ACCOUNT.iter().find(|(a, _)| *a == action))
        .flatten()
        .map(|(_, s)| *s);
    POLICY
        .iter()
        .find(|(r, a, _)| *r == role && *a == action)
        .map(|(_, _, s)| *s)
        .or(every)
}

/// A person a request touches: where they live, who they are, and the dossier the
/// request is made for, if any.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub unit: Target<'a>,
    pub person: PersonalId,
    pub dossier: Option<&'a DossierRecord>,
}

/// Decides whether `actor` may do `action` on one person.
pub fn authorize_subject(
    units: &UnitCatalog,
    successions: &Successions,
    actor: &Actor,
    action: Action,
    subject: &Subject<'_>,
) -> Result<(), Denied> {
    let denied = Denied {
        role: actor.role,
        action,
    };
    let ok = match grant(actor.role, action) {
        None => false,
        Some(Scope::Any) => true,
        Some(Scope::OwnUnit) => unit_contains(units, successions, &actor.unit, subject.unit),
        Some(Scope::Own) => actor.personal_id == Some(subject.person),
        Some(Scope::Dossier) => subject
            .dossier
            .is_some_and(|d| handles_dossier(units, actor, d, subject.person)),
    };
    if ok { Ok(()) } else { Err(denied) }
}

/// Is `dossier` in progress, about `person`, and handled by the actor's unit?
pub fn handles_dossier(
    units: &UnitCatalog,
    actor: &Actor,
    dossier: &DossierRecord,
    person: PersonalId,
) -> bool {
    dossier.status == dancu_store::DOSSIER_IN_PROGRESS
        && dossier.subject_id as u64 == person.as_u64()
        && is_inside(units, &dossier.unit, &actor.unit)
}

/// Is unit `code` (a 2025 unit or an agency) inside the actor's unit? These are the units
/// of desks and dossiers, as the catalog has them; reorganizations re-address residences.
pub fn is_inside(units: &UnitCatalog, code: &str, actor_unit: &str) -> bool {
    code == actor_unit
        || unit_contains(
            units,
            &Successions::default(),
            actor_unit,
            Target {
                structure: Structure::Y2025,
                code,
            },
        )
}

/// Decides whether `actor` may do `action`, on `target` when the action concerns a unit
/// (None = no particular unit: a search is then limited by [`unit_filter`]).
pub fn authorize(
    units: &UnitCatalog,
    successions: &Successions,
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
        // Person-level scopes are decided by `authorize_subject`; without a person the
        // action may proceed (a search is then limited by [`unit_filter`]).
        (Some(Scope::Any), _) | (Some(Scope::OwnUnit | Scope::Dossier | Scope::Own), None) => {
            Ok(())
        }
        (Some(Scope::Dossier | Scope::Own), Some(_)) => Err(denied),
        (Some(Scope::OwnUnit), Some(t)) => {
            if unit_contains(units, successions, &actor.unit, t) {
                Ok(())
            } else {
                Err(denied)
            }
        }
    }
}

/// Is `target` inside the subtree of the principal's unit (a 2025 code or `VN`)? The
/// target is first resolved to the unit it has become today through the recorded
/// successions (re-addressing). A pre-2025 commune that no succession moved is inside
/// when any 2025 commune the shipped mapping says it became (each resolved in turn) is:
/// the 2025 reorganization as a built-in succession, split communes included.
pub fn unit_contains(
    units: &UnitCatalog,
    successions: &Successions,
    actor_unit: &str,
    target: Target<'_>,
) -> bool {
    actor_unit == NATIONAL_UNIT
        || contains_on(
            units,
            successions,
            actor_unit,
            target,
            crate::citizens::today(),
        )
}

/// [`unit_contains`] on the day `today` (computed once by callers that check many units).
fn contains_on(
    units: &UnitCatalog,
    successions: &Successions,
    actor_unit: &str,
    target: Target<'_>,
    today: dancu_domain::PartialDate,
) -> bool {
    match resolve(successions, target.structure, target.code, today) {
        (Structure::Y2025, code) => units.is_within(Structure::Y2025, code, actor_unit),
        (Structure::Pre2025, code) => units.map_old_commune(code).iter().any(|new| {
            let (structure, code) = resolve(successions, Structure::Y2025, new, today);
            structure == Structure::Y2025 && units.is_within(Structure::Y2025, code, actor_unit)
        }),
    }
}

/// The unit `(structure, code)` has become on `on`, or itself.
fn resolve<'a>(
    successions: &'a Successions,
    structure: Structure,
    code: &'a str,
    on: dancu_domain::PartialDate,
) -> (Structure, &'a str) {
    successions
        .resolve(structure, code, on, None)
        .unwrap_or((structure, code))
}

/// The recorded communes a search by `actor` may look in: those that are, or have
/// become, inside its unit ([`unit_contains`]).
pub fn unit_filter(
    units: &UnitCatalog,
    successions: &Successions,
    actor: &Actor,
) -> dancu_store::UnitFilter {
    if actor.unit == NATIONAL_UNIT {
        return dancu_store::UnitFilter::All;
    }
    let today = crate::citizens::today();
    let inside = |structure: Structure| {
        units
            .communes(structure)
            .filter(|c| {
                let target = Target {
                    structure,
                    code: &c.code,
                };
                contains_on(units, successions, &actor.unit, target, today)
            })
            .map(|c| c.code.clone())
            .collect()
    };
    dancu_store::UnitFilter::Communes {
        current: inside(Structure::Y2025),
        pre2025: inside(Structure::Pre2025),
    }
}

/// Is `unit` a unit a staff account can be bound to?
pub fn is_valid_actor_unit(units: &UnitCatalog, unit: &str) -> bool {
    unit == NATIONAL_UNIT
        || units.get(Structure::Y2025, unit).is_some()
        || AGENCIES.iter().any(|(code, _)| *code == unit)
}
