//! The 12-digit personal ID number and the old 9/12-digit ID card number, as typed.
#![no_main]

use dancu_domain::PersonalId;
use dancu_domain::personal_id::OldIdNumber;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = PersonalId::parse(s) {
        // What was accepted prints as 12 digits and reads back the same.
        let printed = id.to_string();
        assert_eq!(printed.len(), 12);
        assert_eq!(PersonalId::parse(&printed), Ok(id));
        assert_eq!(PersonalId::from_u64(id.as_u64()), Ok(id));
        let _ = (id.province_name(), id.gender(), id.birth_year());
    }
    if let Ok(old) = OldIdNumber::parse(s) {
        assert_eq!(OldIdNumber::parse(old.as_str()).as_ref(), Ok(&old));
    }
});
