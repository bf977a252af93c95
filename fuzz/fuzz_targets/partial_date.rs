//! Partial dates (`YYYY-MM-DD`, `YYYY-MM`, `YYYY`) and the lenient forms of old files.
#![no_main]

use dancu_domain::PartialDate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [PartialDate::parse(s), PartialDate::parse_lenient(s)] {
        if let Ok(d) = parsed {
            assert_eq!(PartialDate::parse(&d.to_string()), Ok(d));
            assert_eq!(PartialDate::from_sort_key(d.sort_key()), Some(d));
            assert!(d.earliest() <= d.latest());
        }
    }
});
