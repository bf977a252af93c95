//! A civil-status entries CSV upload into a birth book: header, every row's validation
//! (names, dates, pages, the book's years) and the store of the accepted rows. A bad row
//! must be reported with its line, never panic or fail the file with an internal error.
#![no_main]

use std::sync::OnceLock;

use dancu_app::civil::BookRequest;
use dancu_app::{Actor, Error, Role};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let app = dancu_fuzz::app();
    let (commune, _) = dancu_fuzz::communes(&app);
    let officer = Actor::new("fuzz.civil", Role::CivilStatusOfficer, &commune);
    static BOOK: OnceLock<i64> = OnceLock::new();
    let book = *BOOK.get_or_init(|| {
        let request = BookRequest {
            kind: "birth".into(),
            commune_code: commune.clone(),
            structure: "2025".into(),
            year_from: 1990,
            year_to: 2020,
            pages: 50,
        };
        app.create_book(&officer, &request).expect("book").id
    });
    match app.import_entries(&officer, book, data) {
        Ok(report) => {
            assert_eq!(report.imported, report.entry_ids.len());
            let lines: Vec<u64> = report.rejected.iter().map(|r| r.line).collect();
            assert!(lines.is_sorted(), "rejections in line order");
        }
        Err(Error::Invalid(_)) => {}
        Err(e) => panic!("not a client error: {e:?}"),
    }
});
