//! placeholder, being written
use dancu_domain::PopulationBatch;
use dancu_domain::units::UnitCatalog;
pub struct SeedConfig { pub citizens: u64, pub rng_seed: u64, pub first_household_id: u64, pub serial_slot: u8, pub today: (i32, u8, u8), pub batch_size: usize }
pub fn generate(_config: SeedConfig, _units: &UnitCatalog) -> impl Iterator<Item = PopulationBatch> { std::iter::empty() }
