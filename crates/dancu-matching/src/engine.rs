//! Decisions: the best candidate's match weight against two thresholds, with the
//! explanation of every field's contribution.

use std::fmt::Write as _;

use crate::compare::{ALIKE, DOB_DISAGREE, Field, MISSING, Pattern, Scratch, compare};
use crate::index::{Index, View};
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

/// Match-weight thresholds (log2 odds, prior included). The defaults are posterior
/// probabilities fixed in advance, not tuned on any data: link at 0.99, review from
/// 0.5.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// At or above: `link`.
    pub link: f64,
    /// At or above (and below `link`): `review`.
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

/// Buffers of one linking thread.
#[derive(Debug, Default)]
pub struct Context {
    scratch: Scratch,
    candidates: Vec<u32>,
}

/// The registry, its blocks and the fitted weights.
#[derive(Debug)]
pub struct Linker {
    pub registry: Registry,
    pub index: Index,
    pub model: Model,
    pub thresholds: Thresholds,
}

impl Linker {
    /// Indexes the registry and fits the weights on `training` (records to link).
    pub fn new(mut registry: Registry, training: &[Record], threads: usize) -> Linker {
        registry.count_words();
        let index = Index::build(&registry, threads);
        let model = Model::fit(&registry, &index, training, threads);
        Linker {
            registry,
            index,
            model,
            thresholds: Thresholds::default(),
        }
    }

    /// Weight of each field (term-frequency adjusted; family-shared fields capped at 0
    /// when the given name or birth date disagrees), in [`Field::ALL`] order.
    fn field_weights(&self, rec: &Record, pat: Pattern, cap: bool) -> [f64; Field::COUNT] {
        let reg = &self.registry;
        let mut out = [0.0; Field::COUNT];
        for f in Field::ALL {
            let level = pat.level(f);
            let count = |w: Option<&crate::names::Word>, counts: &[u32]| {
                w.and_then(|w| counts.get(w.fold as usize))
                    .copied()
                    .unwrap_or(0)
            };
            let mut w = match f {
                Field::Given => {
                    self.model
                        .tf_weight(f, level, count(rec.name.given(), &reg.given_fold_count))
                }
                Field::Family => {
                    self.model
                        .tf_weight(f, level, count(rec.name.family(), &reg.family_fold_count))
                }
                _ => self.model.weight(f, level),
            };
            if cap && f.family_shared() {
                w = w.min(0.0);
            }
            out[f as usize] = w;
        }
        out
    }

    fn score(&self, rec: &Record, pat: Pattern, cap: bool) -> f64 {
        self.model.prior + self.field_weights(rec, pat, cap).iter().sum::<f64>()
    }

    fn explain(&self, rec: &Record, pat: Pattern) -> String {
        let weights = self.field_weights(rec, pat, pat.own_fields_disagree());
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
    pub fn link(&self, rec: &Record, cx: &mut Context) -> Outcome {
        let reg = &self.registry;
        self.index
            .candidates(&View::of_record(rec), &mut cx.candidates);
        let mut best: Option<(f64, u32, Pattern)> = None;
        let mut second = f64::NEG_INFINITY;
        // The strongest candidate whose given name is another name spelt alike, scored
        // without the sibling rule: a typo that made a real name, or a twin.
        let mut alike: Option<(f64, u32, Pattern)> = None;
        for &c in &cx.candidates {
            let pat = compare(reg, rec, &reg.people[c as usize], &mut cx.scratch);
            let s = self.score(rec, pat, pat.own_fields_disagree());
            if pat.level(Field::Given) == ALIKE && pat.level(Field::Dob) != DOB_DISAGREE {
                let uncapped = self.score(rec, pat, false);
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
        let t = &self.thresholds;
        if let Some((uncapped, person, pat)) = alike
            && uncapped >= t.link
            && best.is_none_or(|(b, _, _)| b < t.review)
        {
            let mut explanation = self.explain(rec, pat);
            let _ = write!(
                explanation,
                " review: given name is another name spelt alike (typo or sibling); {uncapped:.1} without the sibling rule"
            );
            return Outcome {
                decision: Decision::Review,
                person: Some(person),
                score: self.score(rec, pat, true),
                explanation,
            };
        }
        let Some((score, person, pat)) = best else {
            return Outcome {
                decision: Decision::New,
                person: None,
                score: self.model.prior,
                explanation: "no candidate".into(),
            };
        };
        let mut explanation = self.explain(rec, pat);
        let decision = if score >= t.link && second >= t.link && score - second < t.margin {
            let _ = write!(explanation, " ambiguous: runner-up {second:.1}");
            Decision::Review
        } else if score >= t.link {
            Decision::Link
        } else if score >= t.review {
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
