//! What the targets that need a store share: one App per fuzzing process, on a fresh
//! SQLite store under `$TMPDIR` (scripts/fuzz.sh points it at a directory it removes),
//! with a few citizens of two Hà Nội communes.

#![cfg(feature = "app")]

use std::sync::{Arc, OnceLock};

use dancu_app::{Actor, App};
use dancu_domain::units::Structure;

/// The fuzzing process's App, created on first use.
pub fn app() -> Arc<App> {
    static APP: OnceLock<Arc<App>> = OnceLock::new();
    APP.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("dancu-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("store directory");
        let url = format!("sqlite://{}", dir.join("dancu.db").display());
        let app = App::open(&url).expect("store");
        let (a, b) = communes(&app);
        let csv = format!(
            "personal_id,full_name,date_of_birth,gender,commune_code,household_id,relationship\n\
             001080000001,Nguyễn Văn Hòa,1980-03-02,M,{a},1,head\n\
             001182000001,Trần Thị Thủy,1982,F,{a},1,spouse\n\
             001075000002,Nguyễn Văn Hoà,1975-01-01,M,{b},2,head\n"
        );
        app.import_citizens(&Actor::system("fuzz"), csv.as_bytes())
            .expect("sample citizens");
        Arc::new(app)
    })
    .clone()
}

/// Two communes of Hà Nội (2025 structure).
pub fn communes(app: &App) -> (String, String) {
    let mut c = app
        .units
        .children(Structure::Y2025, "01")
        .map(|u| u.code.clone());
    (c.next().expect("a commune"), c.next().expect("another"))
}

/// A person imported by [`app`], inside commune `a`.
pub const PERSON: &str = "001080000001";
