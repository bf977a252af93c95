//! Successions of administrative units (tách gộp địa bàn). A reorganization is recorded
//! once per unit: the old unit continues as the new one from an effective date. A
//! residence keeps the unit it was registered in, and its unit on any date is resolved
//! through the successions, so re-addressing a city costs one row per unit, not one per
//! resident.
//!
//! Resolution follows a chain (A → B, later B → C: A resolves to C) as long as each step
//! is effective on the date asked and began before the residence ended. Each step must
//! come after the previous one in (effective date, event) order: the steps of one
//! reorganization apply together, so a rotation A → B, B → C, C → A of one event moves
//! A's people to B and no further, and any set of rows resolves in finitely many steps.

use std::collections::HashMap;

use serde::Serialize;

use crate::PartialDate;
use crate::units::Structure;

/// One recorded succession: `from` continues as `to` from `effective_date`, under the
/// event (legal basis, actor, time) `event_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Succession {
    pub from_structure: Structure,
    pub from_code: String,
    pub to_structure: Structure,
    pub to_code: String,
    pub effective_date: PartialDate,
    pub event_id: i64,
}

impl Succession {
    /// The order in which steps of a chain must follow each other.
    fn key(&self) -> (i32, i64) {
        (self.effective_date.sort_key(), self.event_id)
    }
}

/// Every succession, keyed by the unit it starts from (a unit is succeeded at most once).
#[derive(Debug, Default)]
pub struct Successions {
    /// Per structure (`slot`), the succession starting from each unit code.
    from: [HashMap<String, Succession>; 2],
}

fn slot(s: Structure) -> usize {
    match s {
        Structure::Pre2025 => 0,
        Structure::Y2025 => 1,
    }
}

impl Successions {
    /// Indexes `rows`; a unit with two successions is an error naming it.
    pub fn new(rows: impl IntoIterator<Item = Succession>) -> Result<Successions, String> {
        let mut out = Successions::default();
        for row in rows {
            let (structure, code) = (row.from_structure, row.from_code.clone());
            if let Some(dup) = out.from[slot(structure)].insert(code, row) {
                return Err(format!(
                    "unit {} of the {} structure has two successions",
                    dup.from_code,
                    structure.code()
                ));
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.from.iter().all(HashMap::is_empty)
    }

    pub fn len(&self) -> usize {
        self.from.iter().map(HashMap::len).sum()
    }

    /// The succession starting from a unit, whatever its date.
    pub fn of(&self, structure: Structure, code: &str) -> Option<&Succession> {
        self.from[slot(structure)].get(code)
    }

    /// Every succession, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Succession> {
        self.from.iter().flat_map(HashMap::values)
    }

    /// The steps that take a residence registered in `(structure, code)` to its unit on
    /// `on`, oldest first; `ended` is the day the residence ended, if it did (a step from
    /// that day on does not concern it).
    pub fn chain(
        &self,
        structure: Structure,
        code: &str,
        on: PartialDate,
        ended: Option<PartialDate>,
    ) -> Vec<&Succession> {
        let mut steps = Vec::new();
        self.walk(structure, code, on, ended, |s| steps.push(s));
        steps
    }

    /// The unit `(structure, code)` has become on `on` (see [`Successions::chain`]), or
    /// `None` when no succession applies. Allocates nothing.
    pub fn resolve(
        &self,
        structure: Structure,
        code: &str,
        on: PartialDate,
        ended: Option<PartialDate>,
    ) -> Option<(Structure, &str)> {
        let mut last = None;
        self.walk(structure, code, on, ended, |s| last = Some(s));
        last.map(|s| (s.to_structure, s.to_code.as_str()))
    }

    fn walk<'a>(
        &'a self,
        structure: Structure,
        code: &str,
        on: PartialDate,
        ended: Option<PartialDate>,
        mut visit: impl FnMut(&'a Succession),
    ) {
        if self.is_empty() {
            return;
        }
        let (on, ended) = (on.sort_key(), ended.map(PartialDate::sort_key));
        let mut step = self.of(structure, code);
        let mut last = None;
        while let Some(s) = step {
            let key = s.key();
            if key.0 > on || ended.is_some_and(|e| key.0 >= e) || last.is_some_and(|l| key <= l) {
                return;
            }
            visit(s);
            last = Some(key);
            step = self.of(s.to_structure, &s.to_code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> PartialDate {
        PartialDate::parse(s).unwrap()
    }

    fn step(from: &str, to: &str, effective: &str, event: i64) -> Succession {
        Succession {
            from_structure: Structure::Y2025,
            from_code: from.into(),
            to_structure: Structure::Y2025,
            to_code: to.into(),
            effective_date: date(effective),
            event_id: event,
        }
    }

    fn resolve<'a>(s: &'a Successions, code: &str, on: &str) -> Option<&'a str> {
        s.resolve(Structure::Y2025, code, date(on), None)
            .map(|(_, c)| c)
    }

    #[test]
    fn a_chain_resolves_to_its_last_unit_from_each_effective_date() {
        let s = Successions::new([
            step("A", "B", "2026-01-01", 1),
            step("B", "C", "2027-01-01", 2),
        ])
        .unwrap();
        assert_eq!(resolve(&s, "A", "2025-12-31"), None);
        assert_eq!(resolve(&s, "A", "2026-01-01"), Some("B"));
        assert_eq!(resolve(&s, "A", "2027-06-01"), Some("C"));
        assert_eq!(resolve(&s, "B", "2027-06-01"), Some("C"));
        assert_eq!(resolve(&s, "C", "2027-06-01"), None);
        let chain = s.chain(Structure::Y2025, "A", date("2030"), None);
        assert_eq!(
            chain.iter().map(|c| c.event_id).collect::<Vec<_>>(),
            vec![1, 2]
        );
    }

    #[test]
    fn the_steps_of_one_reorganization_apply_together() {
        // A rotation in one event: each unit's people move one place, not round the ring.
        let s = Successions::new([
            step("A", "B", "2026-01-01", 7),
            step("B", "C", "2026-01-01", 7),
            step("C", "A", "2026-01-01", 7),
        ])
        .unwrap();
        assert_eq!(resolve(&s, "A", "2026-02-01"), Some("B"));
        assert_eq!(resolve(&s, "B", "2026-02-01"), Some("C"));
        assert_eq!(resolve(&s, "C", "2026-02-01"), Some("A"));
    }

    #[test]
    fn a_step_before_the_arrival_does_not_apply_and_cycles_end() {
        // B → A was effective before A's people arrived in B: they stay in B. B's own
        // people went to A first, then on to B with A's.
        let s = Successions::new([
            step("A", "B", "2026-06-01", 1),
            step("B", "A", "2026-01-01", 2),
        ])
        .unwrap();
        assert_eq!(resolve(&s, "A", "2027"), Some("B"));
        assert_eq!(resolve(&s, "B", "2026-03-01"), Some("A"));
        assert_eq!(resolve(&s, "B", "2027"), Some("B"));
    }

    #[test]
    fn a_residence_ended_before_a_succession_keeps_its_unit() {
        let s = Successions::new([step("A", "B", "2026-01-01", 1)]).unwrap();
        let on = date("2026-06-01");
        assert_eq!(
            s.resolve(Structure::Y2025, "A", on, Some(date("2026-01-01"))),
            None
        );
        assert_eq!(
            s.resolve(Structure::Y2025, "A", on, Some(date("2026-01-02"))),
            Some((Structure::Y2025, "B"))
        );
    }

    #[test]
    fn structures_are_kept_apart_and_a_unit_is_succeeded_once() {
        let mut old = step("A", "B", "2025-07-01", 1);
        old.from_structure = Structure::Pre2025;
        let s = Successions::new([old.clone()]).unwrap();
        assert_eq!(resolve(&s, "A", "2026"), None);
        assert_eq!(
            s.resolve(Structure::Pre2025, "A", date("2026"), None),
            Some((Structure::Y2025, "B"))
        );
        let twice = Successions::new([old.clone(), old]);
        assert!(twice.unwrap_err().contains("two successions"));
    }
}
