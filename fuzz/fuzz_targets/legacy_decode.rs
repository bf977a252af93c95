//! Encoding detection of uploaded files: UTF-8 (with or without BOM), TCVN3, VNI-Windows.
#![no_main]

use dancu_domain::legacy::{self, SourceEncoding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = legacy::decode_text(data) {
        assert!(!decoded.text.contains('\0'));
        if decoded.encoding == SourceEncoding::Utf8 {
            assert!(std::str::from_utf8(data).is_ok());
        }
    }
});
