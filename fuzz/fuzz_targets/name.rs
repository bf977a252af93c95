//! Vietnamese names: validation, canonical form (NFC, one tone-mark convention, case,
//! spaces), folded search key, split and comparison.
#![no_main]

use dancu_domain::text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let canonical = text::canonical_name(s);
    assert_eq!(text::canonical_name(&canonical), canonical, "idempotent");
    let folded = text::fold(s);
    assert_eq!(text::fold(&folded), folded, "idempotent");
    let _ = text::split_name(s);
    if let Ok(valid) = text::validate_name(s) {
        assert_eq!(text::validate_name(&valid).as_ref(), Ok(&valid));
    }
    let (a, b) = s.split_once('\n').unwrap_or((s, ""));
    let _ = text::compare_names(a, b);
    assert_eq!(
        text::compare_names(a, a),
        text::NameAgreement::Match,
        "a name matches itself"
    );
});
