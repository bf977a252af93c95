//! Blocking: the registry indexed by several keys, none of them the family name alone.
//! A record's candidates are the union of its blocks over every key.

use crate::compare::Sig;
use crate::person::{Record, Registry};

/// A block larger than this is skipped for its key (the other keys still apply):
/// bounds the comparisons a record costs. Blocks grow with the registry; at 10M
/// persons a common mother's name and a birth year hold several hundred, random
/// memory reads that dominated linking, while the match is found by a sharper key.
pub const MAX_BLOCK: usize = 256;

/// The blocking keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// Every folded word of the name + birth year.
    NameYear,
    /// Folded given name + birth date (day and month in either order).
    GivenDob,
    /// Folded family and middle names + birth date: survives a mistyped given name.
    FamilyMiddleDob,
    /// Folded given name + mother's folded name: survives a wrong birth date.
    GivenMother,
    /// Birth date + commune: survives mistyped names.
    DobCommune,
    /// Mother's folded name + birth year.
    MotherYear,
    /// Father's folded name + birth year.
    FatherYear,
    /// Every folded word of the name + commune.
    NameCommune,
    /// Folded family and middle names + mother's folded name: survives a mistyped
    /// given name with no birth date.
    FamilyMiddleMother,
    /// Every folded word of the name + father's folded name: survives a missing birth
    /// date and a move.
    NameFather,
}

impl Key {
    pub const ALL: [Key; 10] = [
        Key::NameYear,
        Key::GivenDob,
        Key::FamilyMiddleDob,
        Key::GivenMother,
        Key::DobCommune,
        Key::MotherYear,
        Key::FatherYear,
        Key::NameCommune,
        Key::FamilyMiddleMother,
        Key::NameFather,
    ];
}

/// What the keys are made of: folded word ids, the birth date sort key, communes.
#[derive(Debug, Default)]
pub struct View {
    pub name: Vec<u32>,
    pub father: Vec<u32>,
    pub mother: Vec<u32>,
    pub dob: i32,
    pub communes: Vec<u32>,
}

impl View {
    fn of_person(reg: &Registry, i: usize, v: &mut View) {
        let p = &reg.people[i];
        let fold = |span, out: &mut Vec<u32>| {
            out.clear();
            out.extend(reg.name(span).iter().map(|&c| reg.ix.fold_of[c as usize]));
        };
        fold(p.name, &mut v.name);
        fold(p.father, &mut v.father);
        fold(p.mother, &mut v.mother);
        v.dob = p.dob;
        v.communes.clear();
        if p.commune != 0 {
            v.communes.push(p.commune);
        }
    }

    /// A record's view. A word unknown to the registry keeps its
    /// [`crate::names::UNKNOWN`] id: the
    /// keys made of it meet no block, the others still do.
    pub fn of_record(r: &Record) -> View {
        let folds =
            |n: &crate::names::Name| -> Vec<u32> { n.words.iter().map(|w| w.fold).collect() };
        View {
            name: folds(&r.name),
            father: folds(&r.father),
            mother: folds(&r.mother),
            dob: r.dob,
            communes: r.communes.clone(),
        }
    }

    /// Keys of one kind (none when a part is missing).
    pub fn keys(&self, key: Key, out: &mut Vec<u64>) {
        out.clear();
        let year = (self.dob != 0).then_some(self.dob / 10_000);
        let day_month = (self.dob % 100 != 0).then(|| {
            let (m, d) = (self.dob / 100 % 100, self.dob % 100);
            self.dob / 10_000 * 10_000 + m.min(d) * 100 + m.max(d)
        });
        let given = self.name.last().copied();
        let seed = key as u64 + 1;
        let h = |parts: &[&[u32]], n: i64| {
            let mut x = hash(seed, n as u64);
            for part in parts {
                x = hash(x, part.len() as u64);
                for &w in *part {
                    x = hash(x, u64::from(w));
                }
            }
            x
        };
        let name = self.name.as_slice();
        match key {
            Key::NameYear => {
                if let (false, Some(y)) = (name.is_empty(), year) {
                    out.push(h(&[name], y.into()));
                }
            }
            Key::GivenDob => {
                if let (Some(g), Some(d)) = (given, day_month) {
                    out.push(h(&[&[g]], d.into()));
                }
            }
            Key::FamilyMiddleDob => {
                if let (true, Some(d)) = (name.len() >= 2, day_month) {
                    out.push(h(&[&name[..name.len() - 1]], d.into()));
                }
            }
            Key::GivenMother => {
                if let (Some(g), false) = (given, self.mother.is_empty()) {
                    out.push(h(&[&[g], &self.mother], 0));
                }
            }
            Key::DobCommune => {
                if let Some(d) = day_month {
                    for &c in &self.communes {
                        out.push(h(&[], i64::from(d) * 100_000 + i64::from(c)));
                    }
                }
            }
            Key::MotherYear => {
                if let (false, Some(y)) = (self.mother.is_empty(), year) {
                    out.push(h(&[&self.mother], y.into()));
                }
            }
            Key::FatherYear => {
                if let (false, Some(y)) = (self.father.is_empty(), year) {
                    out.push(h(&[&self.father], y.into()));
                }
            }
            Key::FamilyMiddleMother => {
                if name.len() >= 2 && !self.mother.is_empty() {
                    out.push(h(&[&name[..name.len() - 1], &self.mother], 0));
                }
            }
            Key::NameFather => {
                if !name.is_empty() && !self.father.is_empty() {
                    out.push(h(&[name, &self.father], 0));
                }
            }
            Key::NameCommune => {
                if name.len() >= 2 {
                    for &c in &self.communes {
                        out.push(h(&[name], c.into()));
                    }
                }
            }
        }
    }
}

fn hash(h: u64, v: u64) -> u64 {
    (h.rotate_left(26) ^ v)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x632B_E59B_D9B4_E019)
}

/// A block member: the person's index (high 32 bits) and its [`Sig`] (low 32), so a
/// block is read sequentially and most candidates are bounded without reading their
/// person. Ordered by person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry(u64);

impl Entry {
    fn new(id: u32, sig: Sig) -> Entry {
        Entry(u64::from(id) << 32 | u64::from(sig.0))
    }
    pub fn id(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub fn sig(self) -> Sig {
        Sig(self.0 as u32)
    }
}

/// Keys per directory slot, about (see [`Blocks::dir`]).
const KEYS_PER_SLOT: usize = 16;

/// One key's blocks: sorted distinct keys, and for each the persons holding it. A block
/// over [`MAX_BLOCK`] is left out (it would be skipped anyway).
#[derive(Debug, Default)]
struct Blocks {
    keys: Vec<u64>,
    starts: Vec<u32>,
    entries: Vec<Entry>,
    /// `dir[t]`: the first key whose top bits are `t` or more. Keys are hashes, spread
    /// evenly, so a look-up reads one slot of ~16 keys instead of binary-searching
    /// millions (a cache miss per step).
    dir: Vec<u32>,
    /// 64 − the directory's bits.
    shift: u32,
}

impl Blocks {
    /// The blocks of `key`, sorted in `buf` (kept from one key to the next: fresh
    /// memory costs a page fault and the zeroing of each page, ~0.3 GB a key at 10M).
    fn build(reg: &Registry, sigs: &[Sig], key: Key, buf: &mut SortBuffers) -> Blocks {
        let SortBuffers(unsorted, pairs) = buf;
        unsorted.clear();
        let mut view = View::default();
        let mut keys = Vec::new();
        for (i, &sig) in sigs.iter().enumerate() {
            View::of_person(reg, i, &mut view);
            view.keys(key, &mut keys);
            unsorted.extend(keys.iter().map(|&k| (k, Entry::new(i as u32, sig))));
        }
        sort_by_key_bits(unsorted, pairs);
        let kept = || {
            pairs
                .chunk_by(|a, b| a.0 == b.0)
                .filter(|b| b.len() <= MAX_BLOCK)
        };
        let (blocks, members) = kept().fold((0, 0), |(n, m), b| (n + 1, m + b.len()));
        let mut b = Blocks {
            keys: crate::huge_vec(blocks),
            starts: crate::huge_vec(blocks + 1),
            entries: crate::huge_vec(members),
            ..Blocks::default()
        };
        for block in kept() {
            b.keys.push(block[0].0);
            b.starts.push(b.entries.len() as u32);
            b.entries.extend(block.iter().map(|&(_, e)| e));
        }
        b.starts.push(b.entries.len() as u32);
        let bits = (b.keys.len() / KEYS_PER_SLOT).max(1).ilog2().max(1);
        b.shift = 64 - bits;
        let mut next = 0;
        b.dir = (0..=1u64 << bits)
            .map(|t| {
                while next < b.keys.len() && b.keys[next] >> b.shift < t {
                    next += 1;
                }
                next as u32
            })
            .collect();
        b
    }

    /// The directory slot of `key`: the range of keys to search.
    fn slot(&self, key: u64) -> (u32, u32) {
        let t = (key >> self.shift) as usize;
        (self.dir[t], self.dir[t + 1])
    }

    /// The index of `key` in `keys[lo..hi]` (a [`Blocks::slot`]), if held.
    fn find(&self, key: u64, (lo, hi): (u32, u32)) -> Option<usize> {
        let (lo, hi) = (lo as usize, hi as usize);
        self.keys[lo..hi].binary_search(&key).ok().map(|i| lo + i)
    }

    /// The members of the `i`-th block.
    fn block(&self, i: usize) -> std::ops::Range<usize> {
        self.starts[i] as usize..self.starts[i + 1] as usize
    }
}

/// `pairs` sorted (by key, then entry) into `out`. The keys are hashes, spread evenly: one pass
/// scatters the pairs by their top bits into buckets of ~64, each then sorted within
/// the cache, where a comparison sort of 10M pairs walks the whole array ~23 times
/// (it was ~12% of a 10M-person run).
fn sort_by_key_bits(pairs: &[(u64, Entry)], out: &mut Vec<(u64, Entry)>) {
    let bits = (pairs.len() / 64).max(2).ilog2();
    let shift = 64 - bits;
    let bucket = |k: u64| (k >> shift) as usize;
    let mut next = vec![0; (1 << bits) + 1];
    for &(k, _) in pairs {
        next[bucket(k) + 1] += 1;
    }
    for i in 1..next.len() {
        next[i] += next[i - 1];
    }
    let starts = next.clone();
    out.clear();
    out.resize(pairs.len(), (0, Entry(0)));
    for &p in pairs {
        let b = bucket(p.0);
        out[next[b]] = p;
        next[b] += 1;
    }
    for w in starts.windows(2) {
        out[w[0]..w[1]].sort_unstable();
    }
}

/// A thread's buffers for building blocks: the (key, member) pairs, then sorted.
struct SortBuffers(Vec<(u64, Entry)>, Vec<(u64, Entry)>);

/// The registry's blocks for every [`Key`].
#[derive(Debug)]
pub struct Index {
    blocks: Vec<Blocks>,
}

impl Index {
    /// Builds the blocks on `threads` threads.
    pub fn build(reg: &Registry, threads: usize) -> Index {
        let threads = threads.clamp(1, Key::ALL.len());
        let sigs: Vec<Sig> = reg.people.iter().map(|p| Sig::of(reg, p)).collect();
        let sigs = sigs.as_slice();
        let mut built: Vec<(usize, Blocks)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        // A person has one key of each kind at most.
                        let mut buf =
                            SortBuffers(crate::huge_vec(reg.len()), crate::huge_vec(reg.len()));
                        Key::ALL
                            .iter()
                            .enumerate()
                            .skip(t)
                            .step_by(threads)
                            .map(|(i, &k)| (i, Blocks::build(reg, sigs, k, &mut buf)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("index thread panicked"))
                .collect()
        });
        built.sort_by_key(|(i, _)| *i);
        Index {
            blocks: built.into_iter().map(|(_, b)| b).collect(),
        }
    }

    /// Candidate persons of a record, sorted by person, without repeats.
    ///
    /// A block look-up is four dependent reads (directory, keys, start, members) at
    /// random places of gigabytes. Done key after key, each read waits for the one
    /// before; done step by step over all the record's keys, the reads of a step are
    /// independent and the processor overlaps them.
    pub fn candidates(&self, view: &View, out: &mut Vec<Entry>) {
        out.clear();
        let mut keys = Vec::new();
        let mut found: Vec<(&Blocks, u64, (u32, u32))> = Vec::with_capacity(16);
        for (blocks, &key) in self.blocks.iter().zip(Key::ALL.iter()) {
            view.keys(key, &mut keys);
            found.extend(keys.iter().map(|&k| (blocks, k, (0, 0))));
        }
        for (blocks, k, slot) in &mut found {
            *slot = blocks.slot(*k);
        }
        let mut held: Vec<(&Blocks, usize)> = Vec::with_capacity(found.len());
        held.extend(
            found
                .iter()
                .filter_map(|&(blocks, k, slot)| Some((blocks, blocks.find(k, slot)?))),
        );
        let ranges: Vec<(&Blocks, std::ops::Range<usize>)> = held
            .iter()
            .map(|&(blocks, i)| (blocks, blocks.block(i)))
            .collect();
        for (blocks, range) in ranges {
            out.extend_from_slice(&blocks.entries[range]);
        }
        out.sort_unstable();
        out.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Fields;

    #[test]
    fn the_bucket_sort_orders_as_a_comparison_sort() {
        for n in [0usize, 1, 2, 63, 1_000, 50_000] {
            let mut x = n as u64;
            let pairs: Vec<(u64, Entry)> = (0..n)
                .map(|i| {
                    x = hash(x, i as u64);
                    // Repeated keys (a block), some in the lowest and highest buckets.
                    let key = match i % 7 {
                        0 => 42,
                        1 => u64::MAX - (x & 3),
                        _ => x,
                    };
                    (key, Entry(x.rotate_left(17)))
                })
                .collect();
            let mut expected = pairs.clone();
            expected.sort_unstable();
            let mut sorted = vec![(7, Entry(7)); 3];
            sort_by_key_bits(&pairs, &mut sorted);
            assert_eq!(sorted, expected, "{n} pairs");
        }
    }

    #[test]
    fn no_key_is_the_family_name_alone() {
        let mut reg = Registry::default();
        let f = |name, dob, mother| Fields {
            full_name: name,
            date_of_birth: dob,
            gender: "F",
            commune_code: "00004",
            father_name: "",
            mother_name: mother,
        };
        reg.push("1", &f("Nguyễn Thị Lan", "1990-03-05", "Lê Thị Hoa"))
            .unwrap();
        reg.push("2", &f("Nguyễn Văn Nam", "1970-01-01", ""))
            .unwrap();
        reg.count_words();
        let index = Index::build(&reg, 2);
        let mut out = Vec::new();
        // Only the family name in common: no candidate.
        let rec = reg.record(&f("Nguyễn Thị Mai", "1985", "")).unwrap();
        index.candidates(&View::of_record(&rec), &mut out);
        assert!(out.is_empty());
        // Swapped day and month, diacritics lost, a mistyped given name: still found.
        let rec = reg.record(&f("Nguyen Thi Lam", "1990-05-03", "")).unwrap();
        index.candidates(&View::of_record(&rec), &mut out);
        assert_eq!(out.iter().map(|e| e.id()).collect::<Vec<_>>(), [0]);
    }
}
