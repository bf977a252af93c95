//! Citizen, household and residence records (Law on Identity 2023 Art. 9, Law on Residence).

use serde::{Deserialize, Serialize};

use crate::date::PartialDate;
use crate::personal_id::PersonalId;
use crate::units::Structure;

/// Gender as recorded in the registry and encoded in the ID number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gender {
    #[serde(rename = "M")]
    Male,
    #[serde(rename = "F")]
    Female,
}

impl Gender {
    /// Parses the file and API spelling: `M` or `F` (case-insensitive).
    pub fn parse(s: &str) -> Option<Gender> {
        match crate::text::trim(s) {
            "M" | "m" => Some(Gender::Male),
            "F" | "f" => Some(Gender::Female),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Gender::Male => "M",
            Gender::Female => "F",
        }
    }
}

/// Relationship of a member to the head of the household (quan hệ với chủ hộ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    Head,
    Spouse,
    Child,
    Parent,
    Grandchild,
    Sibling,
    Other,
}

impl Relationship {
    pub const ALL: [Relationship; 7] = [
        Relationship::Head,
        Relationship::Spouse,
        Relationship::Child,
        Relationship::Parent,
        Relationship::Grandchild,
        Relationship::Sibling,
        Relationship::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Relationship::Head => "head",
            Relationship::Spouse => "spouse",
            Relationship::Child => "child",
            Relationship::Parent => "parent",
            Relationship::Grandchild => "grandchild",
            Relationship::Sibling => "sibling",
            Relationship::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Relationship> {
        Relationship::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// The kinds of residence registration of the Law on Residence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResidenceKind {
    /// Thường trú.
    Permanent,
    /// Tạm trú.
    Temporary,
    /// Tạm vắng.
    TemporaryAbsence,
}

impl ResidenceKind {
    pub const ALL: [ResidenceKind; 3] = [
        ResidenceKind::Permanent,
        ResidenceKind::Temporary,
        ResidenceKind::TemporaryAbsence,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ResidenceKind::Permanent => "permanent",
            ResidenceKind::Temporary => "temporary",
            ResidenceKind::TemporaryAbsence => "temporary_absence",
        }
    }

    pub fn parse(s: &str) -> Option<ResidenceKind> {
        ResidenceKind::ALL.into_iter().find(|r| r.code() == s)
    }
}

/// A person's record as the registry holds it now (the projection of its events).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citizen {
    pub personal_id: PersonalId,
    /// Canonical full name (see [`crate::text::canonical_name`]).
    pub full_name: String,
    pub date_of_birth: PartialDate,
    pub gender: Gender,
    /// Code of the province where the birth was registered (ID-number province code).
    pub birth_registration_province: Option<u16>,
    /// Quê quán, free text (a unit name of its time).
    pub hometown: Option<String>,
    /// One of the 54 ethnic groups, by name.
    pub ethnicity: Option<String>,
    pub religion: Option<String>,
    /// ISO 3166-1 alpha-2; `VN` for citizens.
    pub nationality: String,
    pub blood_type: Option<String>,
    /// Old 9-digit ID card number (CMND), kept as an alias.
    pub old_id_number: Option<String>,
    pub father_id: Option<PersonalId>,
    pub mother_id: Option<PersonalId>,
    pub spouse_id: Option<PersonalId>,
    pub household_id: Option<u64>,
    pub relationship_to_head: Option<Relationship>,
    /// Commune of permanent residence.
    pub commune_code: Option<String>,
    /// The unit structure `commune_code` belongs to: the 2025 one, except for records
    /// loaded from before the reorganization and not yet re-addressed.
    pub commune_structure: Structure,
    pub date_of_death: Option<PartialDate>,
}

/// A household (hộ gia đình): a head and members, registered at one address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    pub id: u64,
    pub head_id: PersonalId,
    pub commune_code: String,
    pub address: String,
}

/// One residence registration of a person, with its validity period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Residence {
    pub kind: ResidenceKind,
    pub commune_code: String,
    pub address: String,
    pub valid_from: PartialDate,
    pub valid_to: Option<PartialDate>,
}

/// A set of new households, citizens and residences loaded in one go (seed, import).
/// Residences of one person are consecutive and in date order.
#[derive(Debug, Default, Clone)]
pub struct PopulationBatch {
    pub households: Vec<Household>,
    pub citizens: Vec<Citizen>,
    pub residences: Vec<(PersonalId, Residence)>,
}

impl PopulationBatch {
    pub fn is_empty(&self) -> bool {
        self.households.is_empty() && self.citizens.is_empty() && self.residences.is_empty()
    }
}
