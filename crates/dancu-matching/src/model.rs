//! Fellegi–Sunter weights: `u` (agreement by chance) from random record × registry
//! pairs, `m` (agreement of true matches) and the share of matches fitted by
//! expectation–maximisation on the blocked candidate pairs, without labels.

use std::collections::HashMap;

use crate::compare::{
    DISAGREE, EXACT, FOLDED, Field, MISSING, Pattern, Scratch, SigBounds, Weights, compare, quick,
    refine, with_unsure,
};
use crate::index::{Entry, Index, View};
use crate::person::{Record, Registry};

/// Levels per field, at most.
const LEVELS: usize = 5;
type Table = [[f64; LEVELS]; Field::COUNT];

/// Fitted weights.
#[derive(Debug, Clone)]
pub struct Model {
    pub m: Table,
    pub u: Table,
    /// log2 of the odds that a record matches one given registry person rather than
    /// no one in the registry: `share / ((1 - share) × registry size)`. A record has
    /// one match at most, so a candidate competes with "no one" (and the other
    /// candidates, in [`crate::engine`]), not with every other person of the registry.
    pub prior: f64,
    /// Estimated share of records with a match in the registry.
    pub matched_share: f64,
    pub em_iterations: usize,
    registry_len: f64,
}

/// Starting `m` for EM: agreement likely, a little noise.
fn initial_m() -> Table {
    let mut m = [[0.0; LEVELS]; Field::COUNT];
    for f in Field::ALL {
        let row: &[f64] = match f {
            Field::Dob => &[0.8, 0.05, 0.08, 0.04, 0.03],
            Field::Gender => &[0.97, 0.03],
            Field::Commune => &[0.7, 0.15, 0.15],
            Field::Given => &[0.8, 0.1, 0.04, 0.04, 0.02],
            _ => &[0.8, 0.1, 0.05, 0.05],
        };
        m[f as usize][..row.len()].copy_from_slice(row);
    }
    m
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Level frequencies per field over `patterns`, missing levels left out, smoothed.
fn frequencies<'a>(patterns: impl Iterator<Item = (&'a Pattern, f64)>) -> Table {
    let mut counts = [[0.0; LEVELS]; Field::COUNT];
    for (pat, n) in patterns {
        for f in Field::ALL {
            let l = pat.level(f);
            if l != MISSING {
                counts[f as usize][l as usize] += n;
            }
        }
    }
    let mut t = [[0.0; LEVELS]; Field::COUNT];
    for f in Field::ALL {
        let levels = f.levels().len();
        let total: f64 = counts[f as usize].iter().sum::<f64>() + 0.5 * levels as f64;
        for l in 0..levels {
            t[f as usize][l] = (counts[f as usize][l] + 0.5) / total;
        }
    }
    t
}

/// Comparison patterns of `records` with their blocked candidates, counted.
pub fn blocked_patterns(
    reg: &Registry,
    index: &Index,
    records: &[Record],
    threads: usize,
) -> HashMap<Pattern, f64> {
    patterns_of(reg, index, records, threads, None)
}

/// Candidates per training record that EM sees (see [`Model::fit`]).
const TRAINING_CANDIDATES: usize = 4;

/// Log2 `m / u` of every level with the starting `m`: ranks a record's candidates
/// before anything is fitted.
fn starting_weights(u: &Table) -> Table {
    let m = initial_m();
    let mut w = [[0.0; LEVELS]; Field::COUNT];
    for f in Field::ALL {
        for l in 0..f.levels().len() {
            w[f as usize][l] = (m[f as usize][l] / u[f as usize][l]).log2();
        }
    }
    w
}

/// `t` as a record's [`Weights`] (its unsure levels at their best).
fn widen(t: &Table) -> Weights {
    let mut w = [[0.0; 16]; Field::COUNT];
    for f in Field::ALL {
        let n = f.levels().len();
        w[f as usize][..n].copy_from_slice(&t[f as usize][..n]);
    }
    with_unsure(w)
}

/// Sum of a pattern's weights, missing fields 0 (a quick pattern: its highest).
fn rank(w: &Weights, pat: Pattern) -> f64 {
    Field::ALL
        .iter()
        .map(|&f| w[f as usize][pat.level(f) as usize])
        .sum()
}

/// Buffers of one training thread.
#[derive(Default)]
struct Training {
    scratch: Scratch,
    cands: Vec<Entry>,
    order: Vec<(f64, u32)>,
    top: Vec<(f64, Pattern)>,
}

impl Training {
    /// The `k` patterns of `rec`'s candidates ranked highest by `w`, into `self.top`.
    /// Candidates are taken highest signature bound first, and only those whose bound
    /// (by signature, then by [`quick`] pattern) can still enter the `k` best are
    /// compared: at 10M persons a record meets hundreds, mostly far below.
    fn top_patterns(&mut self, reg: &Registry, rec: &Record, w: &Weights, k: usize) {
        let sb = SigBounds::new(w);
        self.order.clear();
        self.order.extend(
            self.cands
                .iter()
                .map(|e| (sb.bound(w, rec, e.sig(), false), e.id())),
        );
        self.order.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        self.top.clear();
        for &(bound, id) in &self.order {
            let kth = if self.top.len() == k {
                self.top[k - 1].0
            } else {
                f64::NEG_INFINITY
            };
            if bound < kth {
                break;
            }
            let person = &reg.people[id as usize];
            let q = quick(reg, rec, person);
            if rank(w, q) < kth {
                continue;
            }
            let pat = refine(reg, rec, person, q, &mut self.scratch);
            let r = rank(w, pat);
            if r > kth || self.top.len() < k {
                let at = self.top.partition_point(|&(x, _)| x >= r);
                self.top.insert(at, (r, pat));
                self.top.truncate(k);
            }
        }
    }
}

/// [`blocked_patterns`], or with `best` = `(weights, k)` only each record's `k`
/// candidates ranked highest by `weights`.
fn patterns_of(
    reg: &Registry,
    index: &Index,
    records: &[Record],
    threads: usize,
    best: Option<(&Table, usize)>,
) -> HashMap<Pattern, f64> {
    let best = best.map(|(t, k)| (widen(t), k));
    let best = best.as_ref();
    let chunk = records.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = records
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut counts: HashMap<Pattern, f64> = HashMap::new();
                    let mut t = Training::default();
                    for rec in part {
                        index.candidates(&View::of_record(rec), &mut t.cands);
                        if let Some((w, k)) = best {
                            t.top_patterns(reg, rec, w, *k);
                            for (_, pat) in &t.top {
                                *counts.entry(*pat).or_default() += 1.0;
                            }
                        } else {
                            for e in &t.cands {
                                let person = &reg.people[e.id() as usize];
                                let pat = compare(reg, rec, person, &mut t.scratch);
                                *counts.entry(pat).or_default() += 1.0;
                            }
                        }
                    }
                    counts
                })
            })
            .collect();
        let mut all: HashMap<Pattern, f64> = HashMap::new();
        for h in handles {
            for (k, v) in h.join().expect("training thread panicked") {
                *all.entry(k).or_default() += v;
            }
        }
        all
    })
}

impl Model {
    /// `u` from `pairs` random record × registry pairs (a random pair is almost surely
    /// two different people).
    pub fn estimate_u(reg: &Registry, records: &[Record], pairs: usize, seed: u64) -> Table {
        let mut state = seed;
        let mut counts: HashMap<Pattern, f64> = HashMap::new();
        let mut scratch = Scratch::default();
        if !records.is_empty() && !reg.is_empty() {
            for _ in 0..pairs {
                let r = &records[(splitmix(&mut state) % records.len() as u64) as usize];
                let p = &reg.people[(splitmix(&mut state) % reg.len() as u64) as usize];
                *counts.entry(compare(reg, r, p, &mut scratch)).or_default() += 1.0;
            }
        }
        frequencies(counts.iter().map(|(p, &n)| (p, n)))
    }

    /// EM over counted patterns: returns `m`, the non-match level frequencies among
    /// the patterns, the share of matches and the iterations run. Both classes are
    /// fitted: blocked non-matches are not random pairs (siblings share parents,
    /// namesakes share a name and year), so holding `u` at its random-pair value would
    /// let the match class absorb them.
    pub fn em(patterns: &HashMap<Pattern, f64>, u_start: &Table) -> (Table, Table, f64, usize) {
        let mut m = initial_m();
        let mut u = *u_start;
        let mut lambda = 0.3;
        let mut iterations = 0;
        while iterations < 200 {
            iterations += 1;
            let mut matched = 0.0;
            let mut total = 0.0;
            let posterior: Vec<(&Pattern, f64, f64)> = patterns
                .iter()
                .map(|(pat, &n)| {
                    let (mut pm, mut pu) = (lambda, 1.0 - lambda);
                    for f in Field::ALL {
                        let l = pat.level(f);
                        if l != MISSING {
                            pm *= m[f as usize][l as usize];
                            pu *= u[f as usize][l as usize];
                        }
                    }
                    let p = pm / (pm + pu);
                    matched += n * p;
                    total += n;
                    (pat, n * p, n * (1.0 - p))
                })
                .collect();
            let next_m = frequencies(posterior.iter().map(|&(pat, w, _)| (pat, w)));
            let next_u = frequencies(posterior.iter().map(|&(pat, _, w)| (pat, w)));
            let change = (0..Field::COUNT)
                .flat_map(|f| (0..LEVELS).map(move |l| (f, l)))
                .map(|(f, l)| (next_m[f][l] - m[f][l]).abs())
                .fold(0.0, f64::max);
            m = next_m;
            u = next_u;
            lambda = (matched / total.max(1.0)).clamp(1e-6, 1.0 - 1e-6);
            if change < 1e-5 {
                break;
            }
        }
        (m, u, lambda, iterations)
    }

    /// Fits the model on `training` records (a sample of the records to link).
    pub fn fit(reg: &Registry, index: &Index, training: &[Record], threads: usize) -> Model {
        Self::fit_with(reg, index, training, threads, 400_000)
    }

    /// [`Model::fit`] with `u` from `u_pairs` random pairs.
    pub(crate) fn fit_with(
        reg: &Registry,
        index: &Index,
        training: &[Record],
        threads: usize,
        u_pairs: usize,
    ) -> Model {
        let u = Self::estimate_u(reg, training, u_pairs, 0x5EED);
        // EM sees each record's few best candidates by the starting weights, not all
        // of them: the blocked pairs grow with the registry (namesakes sharing a name
        // and birth year), and at 10M persons they outnumbered the matches so far that
        // EM's "match" class became "same name" (parents' disagreement weighed
        // nothing). A fixed number per record keeps the mix registry-size-free.
        let start = starting_weights(&u);
        let patterns = patterns_of(
            reg,
            index,
            training,
            threads,
            Some((&start, TRAINING_CANDIDATES)),
        );
        let (m, _, lambda, em_iterations) = Self::em(&patterns, &u);
        let pairs: f64 = patterns.values().sum();
        // Bounded away from 1: "no one in the registry" always stays possible, and
        // EM's share may include siblings and namesakes it took for matches.
        let per_record = (lambda * pairs / training.len().max(1) as f64).clamp(0.01, 0.95);
        let n = reg.len().max(2) as f64;
        Model {
            m,
            u,
            prior: (per_record / ((1.0 - per_record) * n)).log2(),
            matched_share: per_record,
            em_iterations,
            registry_len: n,
        }
    }

    /// Weight of a field's level (0 for missing).
    pub fn weight(&self, f: Field, level: u8) -> f64 {
        if level == MISSING {
            return 0.0;
        }
        (self.m[f as usize][level as usize] / self.u[f as usize][level as usize]).log2()
    }

    /// Weight with the term-frequency adjustment (as Splink's): exact or folded
    /// agreement on a given or family name gains `log2(u / tf)`, where `u` is the
    /// chance agreement on any name and `tf` the share of the registry carrying this
    /// one (`count` persons): agreeing on "Nguyễn" is worth less than on "Ksor".
    pub fn tf_weight(&self, f: Field, level: u8, count: u32) -> f64 {
        let base = self.weight(f, level);
        if (level == EXACT || level == FOLDED) && count > 0 {
            let u = self.u[f as usize][EXACT as usize] + self.u[f as usize][FOLDED as usize];
            base + (u * self.registry_len / f64::from(count)).log2()
        } else {
            base
        }
    }

    /// Whether agreement weights grow with closeness for every name field (a sanity
    /// check of the fit).
    pub fn is_monotone(&self) -> bool {
        [Field::Given, Field::Family, Field::Father, Field::Mother]
            .iter()
            .all(|&f| self.weight(f, EXACT) > self.weight(f, DISAGREE))
    }

    /// One line per field: level, m, u, weight.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "prior {:.2} (matched share {:.3}, EM iterations {})\n",
            self.prior, self.matched_share, self.em_iterations
        );
        for f in Field::ALL {
            out.push_str(f.name());
            for (l, name) in f.levels().iter().enumerate() {
                out.push_str(&format!(
                    " {name}={:+.2}(m {:.4} u {:.5})",
                    self.weight(f, l as u8),
                    self.m[f as usize][l],
                    self.u[f as usize][l]
                ));
            }
            out.push('\n');
        }
        if !self.is_monotone() {
            out.push_str("warning: a name field weighs disagreement above exact agreement\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Patterns where only the given name is compared (level per pattern).
    fn given_only(level: u8) -> Pattern {
        let bits = !(0xF << (4 * Field::Given as u32));
        Pattern(bits | (u32::from(level) << (4 * Field::Given as u32)))
    }

    fn with(pat: Pattern, f: Field, level: u8) -> Pattern {
        let mut bits = pat.0 & !(0xF << (4 * f as u32));
        bits |= u32::from(level) << (4 * f as u32);
        Pattern(bits)
    }

    #[test]
    fn em_recovers_m_from_a_two_class_mixture() {
        // 1,000 matches: given exact 90%, close 10%; dob exact 95%, partial 5%.
        // 9,000 non-matches: given exact 5%, disagree 95%; dob disagree 99%, exact 1%.
        let mut patterns: HashMap<Pattern, f64> = HashMap::new();
        let mut add = |g: u8, d: u8, n: f64| {
            let p = with(given_only(g), Field::Dob, d);
            *patterns.entry(p).or_default() += n;
        };
        add(EXACT, 0, 1000.0 * 0.9 * 0.95);
        add(EXACT, 2, 1000.0 * 0.9 * 0.05);
        add(2, 0, 1000.0 * 0.1 * 0.95);
        add(2, 2, 1000.0 * 0.1 * 0.05);
        add(EXACT, 4, 9000.0 * 0.05 * 0.99);
        add(EXACT, 0, 9000.0 * 0.05 * 0.01);
        add(DISAGREE, 4, 9000.0 * 0.95 * 0.99);
        add(DISAGREE, 0, 9000.0 * 0.95 * 0.01);
        let mut u = [[0.0; LEVELS]; Field::COUNT];
        u[Field::Given as usize][..4].copy_from_slice(&[0.05, 0.0001, 0.0001, 0.95]);
        u[Field::Dob as usize][..5].copy_from_slice(&[0.01, 0.0001, 0.0001, 0.0001, 0.99]);
        let (m, _, lambda, _) = Model::em(&patterns, &u);
        assert!((lambda - 0.1).abs() < 0.01, "lambda {lambda}");
        let g = m[Field::Given as usize];
        assert!((g[0] - 0.9).abs() < 0.02, "m given exact {}", g[0]);
        assert!((g[2] - 0.1).abs() < 0.02, "m given close {}", g[2]);
        let d = m[Field::Dob as usize];
        assert!((d[0] - 0.95).abs() < 0.02, "m dob exact {}", d[0]);
    }

    #[test]
    fn em_sees_a_few_best_candidates_per_record_not_every_namesake() {
        use crate::person::Fields;
        fn person(father: &str) -> Fields<'_> {
            Fields {
                full_name: "Nguyễn Văn Hùng",
                date_of_birth: "1990-03-05",
                gender: "M",
                commune_code: "00004",
                father_name: father,
                mother_name: "",
            }
        }
        // 60 namesakes born the same day, other fathers; one match.
        let mut reg = Registry::default();
        for i in 0..60 {
            let father = format!("Trần Văn {}{}", "Ba".repeat(1 + i % 3), "n".repeat(i / 3));
            reg.push(&format!("N{i}"), &person(&father)).unwrap();
        }
        reg.push("M", &person("Nguyễn Văn Minh")).unwrap();
        reg.count_words();
        let index = Index::build(&reg, 1);
        let rec = reg.record(&person("Nguyễn Văn Minh")).unwrap();
        let records = [rec];
        let all = blocked_patterns(&reg, &index, &records, 1);
        assert_eq!(all.values().sum::<f64>(), 61.0, "every namesake is blocked");
        let u = Model::estimate_u(&reg, &records, 2_000, 1);
        let start = starting_weights(&u);
        let best = patterns_of(
            &reg,
            &index,
            &records,
            1,
            Some((&start, TRAINING_CANDIDATES)),
        );
        assert_eq!(best.values().sum::<f64>(), TRAINING_CANDIDATES as f64);
        let exact_father = best
            .keys()
            .any(|p| p.level(Field::Father) == EXACT && p.level(Field::Given) == EXACT);
        assert!(exact_father, "the match is among the best: {best:?}");
    }

    #[test]
    fn common_names_weigh_less() {
        let model = Model {
            m: initial_m(),
            u: frequencies([(&given_only(EXACT), 1.0), (&given_only(DISAGREE), 99.0)].into_iter()),
            prior: -10.0,
            matched_share: 1.0,
            em_iterations: 0,
            registry_len: 1_000.0,
        };
        let nguyen = model.tf_weight(Field::Family, EXACT, 380);
        let ksor = model.tf_weight(Field::Family, EXACT, 2);
        assert!(ksor > nguyen + 7.0, "{ksor} vs {nguyen}");
        assert_eq!(
            model.tf_weight(Field::Given, DISAGREE, 0),
            model.weight(Field::Given, DISAGREE)
        );
        assert!(model.is_monotone());
    }
}
