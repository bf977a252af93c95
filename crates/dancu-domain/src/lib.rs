//! Pure types and rules of the population registry. No I/O, no async.
//!
//! - [`personal_id`]: the 12-digit personal ID number (số định danh cá nhân) and old 9-digit IDs.
//! - [`date`]: partial dates (year, year-month, full date) as old records know them.
//! - [`text`]: Vietnamese text: canonical names, folded search keys, name parts.
//! - [`legacy`]: detection and conversion of TCVN3 (ABC) and VNI-Windows files.
//! - [`units`]: administrative units as versioned data (pre-2025 and 2025 structures).
//! - [`succession`]: recorded reorganizations of units and resolution through them.
//! - [`citizen`]: citizen, household and residence records.
//! - [`row_lines`]: true line numbers of a file's rows for error reports.

pub mod citizen;
pub mod date;
pub mod legacy;
pub mod personal_id;
pub mod row_lines;
pub mod succession;
pub mod text;
pub mod units;

pub use citizen::{
    Citizen, Gender, Household, PopulationBatch, Relationship, Residence, ResidenceKind,
};
pub use date::PartialDate;
pub use personal_id::PersonalId;
