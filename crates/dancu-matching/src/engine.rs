//! Decisions: the best candidate's match weight against two thresholds, with the
//! explanation of every field's contribution.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::compare::{
    ALIKE, DISAGREE, DOB_DISAGREE, Field, MISSING, Pattern, Scratch, Sig, SigBounds, Weights,
    quick, refine, refine_field, with_unsure,
};
use crate::index::{Entry, Index, View};
use crate::model::Model;
use crate::person::{Record, Registry};

/// What to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Confidently the registry person given.
    Link,
    /// Best candidate given; a person must confirm.
    Review,
    /// No one in the registry.
    New,
    /// The row cannot be linked (the explanation says why).
    Invalid,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Link => "link",
            Decision::Review => "review",
            Decision::New => "new",
            Decision::Invalid => "invalid",
        }
    }
}

/// Posterior log2-odds thresholds. The defaults are probabilities fixed in advance,
/// not tuned on any data: link at 0.99, review from 0.5.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// The best candidate's posterior at or above: `link`.
    pub link: f64,
    /// Below `link`, the posterior that the record is one of its candidates at all
    /// (whichever) at or above: `review` of the best one.
    pub review: f64,
    /// A second candidate at or above `link` within this much of the best sends the
    /// record to review.
    pub margin: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            link: 99f64.log2(),
            review: 0.0,
            margin: 5.0,
        }
    }
}

/// A record's decision.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub decision: Decision,
    /// Registry index of the best candidate (set for link and review).
    pub person: Option<u32>,
    /// Match weight of the best candidate (the prior when there is none).
    pub score: f64,
    /// Every field's level and weight, or why the row is invalid.
    pub explanation: String,
}

/// A candidate whose score cannot reach this far below the review threshold is not
/// compared letter by letter: it cannot change the decision, and its bound still
/// counts against the best candidate's posterior (by at most 2^-10 each).
const PRUNE_BELOW: f64 = 10.0;

/// Buffers of one linking thread.
#[derive(Debug, Default)]
pub struct Context {
    scratch: Scratch,
    candidates: Vec<Entry>,
    survivors: Vec<u32>,
}

/// The registry, its blocks and the fitted weights.
#[derive(Debug)]
pub struct Linker {
    pub registry: Registry,
    pub index: Index,
    pub model: Model,
    pub thresholds: Thresholds,
    /// Wall time of each step of the construction (indexing, fitting).
    pub phases: Vec<(&'static str, Duration)>,
}

impl Linker {
    /// Indexes the registry and fits the weights on `training` (records to link).
    pub fn new(registry: Registry, training: &[Record], threads: usize) -> Linker {
        Self::with_u_pairs(registry, training, threads, 400_000)
    }

    /// [`Linker::new`] with `u` estimated from `u_pairs` random pairs.
    pub(crate) fn with_u_pairs(
        mut registry: Registry,
        training: &[Record],
        threads: usize,
        u_pairs: usize,
    ) -> Linker {
        let started = Instant::now();
        registry.count_words();
        let index = Index::build(&registry, threads);
        let indexed = Instant::now();
        let model = Model::fit_with(&registry, &index, training, threads, u_pairs);
        Linker {
            registry,
            index,
            model,
            thresholds: Thresholds::default(),
            phases: vec![("index", indexed - started), ("fit", indexed.elapsed())],
        }
    }

    /// The record's weight of every field and level: term-frequency adjusted for its
    /// own given and family names (see [`Weights`]).
    fn weights(&self, rec: &Record) -> Weights {
        let reg = &self.registry;
        let count = |w: Option<&crate::names::Word>, counts: &[u32]| {
            w.and_then(|w| counts.get(w.fold as usize))
                .copied()
                .unwrap_or(0)
        };
        let mut t = [[0.0; 16]; Field::COUNT];
        for f in Field::ALL {
            let row = &mut t[f as usize];
            for level in 0..f.levels().len() as u8 {
                row[level as usize] = match f {
                    Field::Given => self.model.tf_weight(
                        f,
                        level,
                        count(rec.name.given(), &reg.given_fold_count),
                    ),
                    Field::Family => self.model.tf_weight(
                        f,
                        level,
                        count(rec.name.family(), &reg.family_fold_count),
                    ),
                    _ => self.model.weight(f, level),
                };
            }
        }
        with_unsure(t)
    }

    /// An upper bound of a candidate's score (and of its score without the sibling
    /// rule when that can matter: a given name alike with the date not disagreeing)
    /// from its signature.
    fn sig_bound(&self, w: &Weights, b: &SigBounds, rec: &Record, sig: Sig) -> f64 {
        self.model.prior + b.bound(w, rec, sig, true)
    }

    /// An upper bound of the score of a [`quick`] pattern, partly refined or not (and
    /// of its score without the sibling rule when that can matter: a given name alike
    /// with the date not disagreeing). A disagreeing birth date or given name is final,
    /// and so then is the sibling rule.
    fn quick_bound(&self, w: &Weights, q: Pattern) -> f64 {
        let capped = q.level(Field::Dob) == DOB_DISAGREE || q.level(Field::Given) == DISAGREE;
        self.score(w, q, capped)
    }

    /// Weight of each field in [`Field::ALL`] order; family-shared fields capped at 0
    /// when `cap` (the given name or birth date disagrees).
    fn field_weights(w: &Weights, pat: Pattern, cap: bool) -> [f64; Field::COUNT] {
        let mut out = [0.0; Field::COUNT];
        for f in Field::ALL {
            let x = w[f as usize][pat.level(f) as usize];
            out[f as usize] = if cap && f.family_shared() {
                x.min(0.0)
            } else {
                x
            };
        }
        out
    }

    fn score(&self, w: &Weights, pat: Pattern, cap: bool) -> f64 {
        self.model.prior + Self::field_weights(w, pat, cap).iter().sum::<f64>()
    }

    fn explain(&self, w: &Weights, pat: Pattern) -> String {
        let weights = Self::field_weights(w, pat, pat.own_fields_disagree());
        let mut out = String::new();
        for f in Field::ALL {
            let level = pat.level(f);
            if level == MISSING {
                let _ = write!(out, "{}=missing ", f.name());
            } else {
                let _ = write!(
                    out,
                    "{}={}{:+.1} ",
                    f.name(),
                    f.levels()[level as usize],
                    weights[f as usize]
                );
            }
        }
        if pat.own_fields_disagree() {
            out.push_str("sibling_rule=family_fields_capped ");
        }
        let _ = write!(out, "prior{:+.1}", self.model.prior);
        out
    }

    /// Links one record.
    ///
    /// The record links to one registry person at most, so the best candidate's
    /// posterior is weighed against every other hypothesis together: "no one in the
    /// registry" and each other candidate (persons outside the blocks add nothing
    /// measurable). The reported score is that posterior's log2 odds. Two candidates
    /// equally likely both fall short of `link`, but the record is one of them: it
    /// goes to review when that ("someone among the candidates") passes `review`.
    pub fn link(&self, rec: &Record, cx: &mut Context) -> Outcome {
        let reg = &self.registry;
        self.index
            .candidates(&View::of_record(rec), &mut cx.candidates);
        let w = self.weights(rec);
        let t = &self.thresholds;
        let prune = t.review.min(t.link) - PRUNE_BELOW;
        // Σ 2^score over every candidate, best included (scores carry the prior).
        let mut odds_sum = 0.0;
        // First by signatures alone: most candidates (a parent's name and birth year,
        // another birth date) are bounded without reading their person. The
        // highest-bounded one is compared anyway when none comes near the thresholds,
        // for the explanation.
        let sb = SigBounds::new(&w);
        cx.survivors.clear();
        let mut top: Option<(f64, u32)> = None;
        for e in &cx.candidates {
            let bound = self.sig_bound(&w, &sb, rec, e.sig());
            if bound >= prune {
                cx.survivors.push(e.id());
            } else {
                odds_sum += bound.exp2();
                if top.is_none_or(|(b, _)| bound > b) {
                    top = Some((bound, e.id()));
                }
            }
        }
        if let (true, Some((bound, id))) = (cx.survivors.is_empty(), top) {
            odds_sum -= bound.exp2();
            cx.survivors.push(id);
        }
        // The survivors' persons, then their name words, requested all at once.
        for &c in &cx.survivors {
            crate::prefetch(&reg.people[c as usize]);
        }
        for &c in &cx.survivors {
            let p = &reg.people[c as usize];
            crate::prefetch(&reg.words[p.name.start as usize]);
            if let Some(last) = (p.mother.start + p.mother.len).checked_sub(1) {
                crate::prefetch(&reg.words[last as usize]);
            }
        }
        let mut best: Option<(f64, u32, Pattern)> = None;
        let mut second = f64::NEG_INFINITY;
        // The same over the candidates whose own given name and birth date agree: a
        // relative (sibling rule) competes with the best candidate but never makes the
        // record "one of its candidates" (a name spelt alike goes to review below).
        let mut odds_own = 0.0;
        // The strongest candidate whose given name is another name spelt alike, scored
        // without the sibling rule: a typo that made a real name, or a twin.
        let mut alike: Option<(f64, u32, Pattern)> = None;
        for &c in &cx.survivors {
            let person = &reg.people[c as usize];
            // The given name's spelling first: when it disagrees, the sibling rule caps
            // the family-shared fields, which often rules the candidate out before its
            // parents' names are spelt out.
            let q = quick(reg, rec, person);
            let q = match self.quick_bound(&w, q) {
                bound if bound < prune && best.is_some_and(|(b, _, _)| bound <= b) => {
                    odds_sum += bound.exp2();
                    continue;
                }
                _ => refine_field(reg, rec, person, q, Field::Given, &mut cx.scratch),
            };
            let bound = self.quick_bound(&w, q);
            if bound < prune && best.is_some_and(|(b, _, _)| bound <= b) {
                odds_sum += bound.exp2();
                continue;
            }
            let pat = refine(reg, rec, person, q, &mut cx.scratch);
            let s = self.score(&w, pat, pat.own_fields_disagree());
            odds_sum += s.exp2();
            if !pat.own_fields_disagree() {
                odds_own += s.exp2();
            }
            if pat.level(Field::Given) == ALIKE && pat.level(Field::Dob) != DOB_DISAGREE {
                let uncapped = self.score(&w, pat, false);
                if alike.is_none_or(|(a, _, _)| uncapped > a) {
                    alike = Some((uncapped, c, pat));
                }
            }
            match best {
                Some((b, _, _)) if s <= b => second = second.max(s),
                _ => {
                    if let Some((b, _, _)) = best {
                        second = second.max(b);
                    }
                    best = Some((s, c, pat));
                }
            }
        }
        // log2 posterior odds of a candidate scored `s` against every other hypothesis.
        let posterior = |s: f64| s - (1.0 + (odds_sum - s.exp2()).max(0.0)).log2();
        // log2 odds that the record is one of its candidates, whichever.
        let someone = if odds_own > 0.0 {
            odds_own.log2()
        } else {
            f64::NEG_INFINITY
        };
        if let Some((uncapped, person, pat)) = alike
            && uncapped >= t.link
            && someone < t.review
        {
            let mut explanation = self.explain(&w, pat);
            let _ = write!(
                explanation,
                " review: given name is another name spelt alike (typo or sibling); {uncapped:.1} without the sibling rule"
            );
            return Outcome {
                decision: Decision::Review,
                person: Some(person),
                score: posterior(self.score(&w, pat, true)),
                explanation,
            };
        }
        let Some((weight, person, pat)) = best else {
            return Outcome {
                decision: Decision::New,
                person: None,
                score: self.model.prior,
                explanation: "no candidate".into(),
            };
        };
        let score = posterior(weight);
        let mut explanation = self.explain(&w, pat);
        if score < weight - 1.0 {
            let _ = write!(explanation, " competing: runner-up {second:.1}");
        }
        let decision = if score >= t.link && second >= t.link && weight - second < t.margin {
            let _ = write!(explanation, " ambiguous: runner-up {second:.1}");
            Decision::Review
        } else if score >= t.link {
            Decision::Link
        } else if someone >= t.review {
            Decision::Review
        } else {
            Decision::New
        };
        Outcome {
            decision,
            person: (decision != Decision::New).then_some(person),
            score,
            explanation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{Scratch, compare};
    use crate::person::Fields;
    use dancu_domain::text::fold;
    use dancu_domain::units::{Structure, UnitCatalog};

    const FAMILIES: [&str; 5] = ["Nguyễn", "Trần", "Lê", "Phạm", "Võ"];
    const MIDDLES: [&str; 4] = ["Văn", "Đức", "Minh", "Quang"];
    const GIVENS: [&str; 8] = ["Hùng", "Dũng", "Nam", "Hải", "Long", "Sơn", "Tuấn", "Phúc"];

    /// A registry row: personal id, name, birth date, commune, father, mother.
    type Row = [String; 6];

    fn fields(r: &Row) -> Fields<'_> {
        Fields {
            full_name: &r[1],
            date_of_birth: &r[2],
            gender: "M",
            commune_code: &r[3],
            father_name: &r[4],
            mother_name: &r[5],
        }
    }

    /// 480 persons in families of four brothers (same parents, commune and family
    /// name, born a year apart), and the twins `T1` Nguyễn Văn Dũng and `T2` Nguyễn
    /// Văn Hùng, born the same day. The weights are fitted on the registry typed
    /// without diacritics and as many strangers (born elsewhere, another year).
    fn linker() -> (Linker, Vec<Row>) {
        let communes: Vec<String> = UnitCatalog::embedded()
            .communes(Structure::Y2025)
            .take(40)
            .map(|u| u.code.clone())
            .collect();
        let mut rows: Vec<Row> = (0..480usize)
            .map(|i| {
                let (fam, family) = (i / 4, FAMILIES[i / 4 % 5]);
                [
                    format!("P{i}"),
                    format!("{family} {} {}", MIDDLES[fam / 5 % 4], GIVENS[i % 8]),
                    format!(
                        "{}-{:02}-{:02}",
                        1950 + fam % 60 + i % 4,
                        1 + fam % 12,
                        1 + fam % 28
                    ),
                    communes[fam % 40].clone(),
                    format!("{family} Văn {}", GIVENS[(fam + 3) % 8]),
                    format!(
                        "{} Thị {}",
                        FAMILIES[(fam + 1) % 5],
                        ["Lan", "Mai", "Hoa"][fam % 3]
                    ),
                ]
            })
            .collect();
        for (pid, given) in [("T1", "Dũng"), ("T2", "Hùng")] {
            rows.push([
                pid.into(),
                format!("Nguyễn Văn {given}"),
                "2001-03-09".into(),
                communes[0].clone(),
                "Nguyễn Văn Bình".into(),
                "Lê Thị Thanh".into(),
            ]);
        }
        let mut reg = Registry::default();
        for r in &rows {
            reg.push(&r[0], &fields(r)).unwrap();
        }
        let training: Vec<Record> = rows
            .iter()
            .flat_map(|r| {
                let stranger = format!("Đinh Công {}", r[1].rsplit(' ').next().unwrap());
                let same = [
                    fold(&r[1]),
                    r[2].clone(),
                    r[3].clone(),
                    r[4].clone(),
                    r[5].clone(),
                ];
                let other = [
                    stranger,
                    "1949-01-01".into(),
                    String::new(),
                    "Đinh Văn Bảo".into(),
                    String::new(),
                ];
                [same, other].map(|[name, dob, commune, father, mother]| {
                    reg.record(&Fields {
                        full_name: &name,
                        date_of_birth: &dob,
                        commune_code: &commune,
                        father_name: &father,
                        mother_name: &mother,
                        ..fields(r)
                    })
                    .unwrap()
                })
            })
            .collect();
        (Linker::with_u_pairs(reg, &training, 1, 20_000), rows)
    }

    fn link(linker: &Linker, r: &Row) -> Outcome {
        let rec = linker.registry.record(&fields(r)).unwrap();
        linker.link(&rec, &mut Context::default())
    }

    fn pid<'a>(linker: &'a Linker, o: &Outcome) -> &'a str {
        o.person
            .map_or("", |p| linker.registry.personal_id(p as usize))
    }

    #[test]
    fn a_person_links_and_the_explanation_names_every_field() {
        let (linker, rows) = linker();
        let mut r = rows[37].clone();
        r[1] = fold(&r[1]).to_uppercase();
        let o = link(&linker, &r);
        assert_eq!(
            (pid(&linker, &o), o.decision),
            ("P37", Decision::Link),
            "{}",
            o.explanation
        );
        for f in Field::ALL {
            assert!(
                o.explanation.contains(&format!("{}=", f.name())),
                "{}",
                o.explanation
            );
        }
        assert!(o.explanation.contains("given=folded"), "{}", o.explanation);
        assert!(o.explanation.contains("prior"), "{}", o.explanation);
    }

    #[test]
    fn siblings_and_twins_are_never_merged() {
        let (linker, rows) = linker();
        // Every brother of a family typed under another brother's given name and birth
        // date: never linked to a brother (they share parents, commune and family name).
        for i in 0..40 {
            let mut r = rows[i * 4].clone();
            r[1] = format!("{} Xuân", r[1].rsplit_once(' ').unwrap().0);
            r[2] = "2020-12-31".into();
            let o = link(&linker, &r);
            assert_ne!(
                o.decision,
                Decision::Link,
                "{} -> {}",
                r[1],
                pid(&linker, &o)
            );
        }
        // A twin not in the registry: same parents, commune, family name and birth
        // date as T1, another given name.
        let mut twin = rows[480].clone();
        twin[1] = "Nguyễn Văn Tuấn".into();
        let o = link(&linker, &twin);
        assert_eq!(o.decision, Decision::New, "{}", o.explanation);
        assert!(o.explanation.contains("sibling_rule"), "{}", o.explanation);
        // Each twin links to themself, not to the other.
        for (row, id) in [(480, "T1"), (481, "T2")] {
            let o = link(&linker, &rows[row]);
            assert_eq!(
                (pid(&linker, &o), o.decision),
                (id, Decision::Link),
                "{}",
                o.explanation
            );
        }
    }

    #[test]
    fn two_equal_candidates_go_to_review() {
        let (mut linker, rows) = linker();
        // The same person registered twice: neither may be linked on its own.
        let mut r = rows[10].clone();
        r[0] = "P10-again".into();
        let (name, dob) = (r[1].clone(), r[2].clone());
        linker
            .registry
            .push(&r[0], &fields(&r))
            .expect("registry row");
        linker.registry.count_words();
        linker.index = Index::build(&linker.registry, 1);
        let o = link(&linker, &r);
        assert_eq!(
            o.decision,
            Decision::Review,
            "{name} {dob}: {}",
            o.explanation
        );
        assert!(o.explanation.contains("runner-up"), "{}", o.explanation);
    }

    #[test]
    fn the_bounds_are_never_below_the_score() {
        let (linker, rows) = linker();
        let reg = &linker.registry;
        let mut scratch = Scratch::default();
        let mut sig_pruned = 0;
        for r in rows.iter().step_by(7) {
            let names = [
                fold(&r[1]),
                format!("{}x", r[1]),
                r[1].clone(),
                "Đinh Công Tráng".into(),
            ];
            for (noisy, dob) in names.iter().zip(["", "1955-07-07", &r[2], &r[2]]) {
                let rec = reg
                    .record(&Fields {
                        full_name: noisy,
                        date_of_birth: dob,
                        ..fields(r)
                    })
                    .unwrap();
                let w = linker.weights(&rec);
                let sb = SigBounds::new(&w);
                let mut sigs = Vec::new();
                let mut best = f64::NEG_INFINITY;
                for p in reg.people.iter().step_by(5) {
                    let q = quick(reg, &rec, p);
                    let full = compare(reg, &rec, p, &mut scratch);
                    assert_eq!(refine(reg, &rec, p, q, &mut scratch), full);
                    let capped = linker.score(&w, full, full.own_fields_disagree());
                    let uncapped = linker.score(&w, full, false);
                    assert!(uncapped >= capped);
                    // What the engine reads of a candidate: its score, and its score
                    // without the sibling rule when its given name is alike.
                    let read = if full.level(Field::Given) == ALIKE
                        && full.level(Field::Dob) != DOB_DISAGREE
                    {
                        uncapped
                    } else {
                        capped
                    };
                    let sig = linker.sig_bound(&w, &sb, &rec, Sig::of(reg, p));
                    let quick = linker.quick_bound(&w, q);
                    assert!(quick >= read, "{noisy} {dob}: {quick} < {read}");
                    let given = refine_field(reg, &rec, p, q, Field::Given, &mut scratch);
                    let given = linker.quick_bound(&w, given);
                    assert!(given >= read, "{noisy} {dob}: {given} < {read}");
                    assert!(sig >= read, "{noisy} {dob}: {sig} < {read}");
                    sigs.push(sig);
                    best = best.max(read);
                }
                // Some candidates are ruled out by their signature alone.
                sig_pruned += sigs.iter().filter(|&&s| s < best - PRUNE_BELOW).count();
            }
        }
        assert!(
            sig_pruned > 0,
            "no candidate bounded low enough by its signature"
        );
    }
}
