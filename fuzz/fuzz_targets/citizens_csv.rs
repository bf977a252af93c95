//! A citizens CSV upload, end to end: encoding detection, header, every row's parser,
//! household grouping and the load of the accepted rows. A rejected row must be
//! reported, never panic or fail the whole file with an internal error.
#![no_main]

use dancu_app::{Actor, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let app = dancu_fuzz::app();
    match app.import_citizens(&Actor::system("fuzz"), data) {
        Ok(report) => {
            let mut lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
            lines.dedup();
            assert!(lines.is_sorted(), "rejections in line order");
        }
        Err(Error::Invalid(_)) => {}
        Err(e) => panic!("not a client error: {e:?}"),
    }
});
