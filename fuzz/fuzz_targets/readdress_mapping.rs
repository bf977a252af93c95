//! A re-addressing mapping file (`old_commune_code,new_commune_code`), in both unit
//! structures: a bad file is a client error naming its line, never a panic.
#![no_main]

use dancu_app::Error;
use dancu_app::readdress::MappingSource;
use dancu_domain::units::Structure;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let structure = if first & 1 == 0 {
        Structure::Y2025
    } else {
        Structure::Pre2025
    };
    let app = dancu_fuzz::app();
    match app.readdress_plan(MappingSource::File { bytes, structure }, "2025-07-01") {
        Ok((plan, _)) => assert!(!plan.mapping.is_empty()),
        Err(Error::Invalid(_)) => {}
        Err(e) => panic!("not a client error: {e:?}"),
    }
});
