//! Registry persons (compact, word ids) and records (the entries to link), built from
//! the text fields of the contract's files, with a reason for every refused field.

use dancu_domain::PartialDate;
use dancu_domain::units::{Structure, UnitCatalog};

use crate::names::{Interner, Name};

/// Where a name's words sit in [`Registry::words`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

/// Gender: 0 unknown, 1 male, 2 female.
pub type Gender = u8;

/// One registry person. `dob` is [`PartialDate::sort_key`] (0: unknown), `commune` the
/// 2025 commune code as a number (0: unknown).
#[derive(Debug, Clone, Copy)]
pub struct Person {
    pub name: Span,
    pub father: Span,
    pub mother: Span,
    pub dob: i32,
    pub commune: u32,
    pub gender: Gender,
}

/// The text fields of a registry or record row, in contract order after the key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields<'a> {
    pub full_name: &'a str,
    pub date_of_birth: &'a str,
    pub gender: &'a str,
    pub commune_code: &'a str,
    pub father_name: &'a str,
    pub mother_name: &'a str,
}

/// The population to link against, with word frequencies for term-frequency weights.
#[derive(Debug, Default)]
pub struct Registry {
    pub ix: Interner,
    pub words: Vec<u32>,
    pub people: Vec<Person>,
    pids: String,
    pid_ends: Vec<u32>,
    /// Registry persons per folded given name / family name (by fold id).
    pub given_fold_count: Vec<u32>,
    pub family_fold_count: Vec<u32>,
    /// Registry persons per canonical given name (by canonical id).
    pub given_canon_count: Vec<u32>,
    pub communes: Communes,
}

/// 2025 communes and their provinces, and the pre-2025 → 2025 mapping.
#[derive(Debug)]
pub struct Communes {
    province: Vec<u16>,
}

impl Default for Communes {
    fn default() -> Self {
        let mut province = vec![0; 100_000];
        for u in UnitCatalog::embedded().communes(Structure::Y2025) {
            if let (Ok(c), Ok(p)) = (u.code.parse::<usize>(), u.province_code.parse::<u16>())
                && c < province.len()
            {
                province[c] = p;
            }
        }
        Communes { province }
    }
}

impl Communes {
    /// Province of a 2025 commune number (0 if none).
    pub fn province(&self, commune: u32) -> u16 {
        self.province.get(commune as usize).copied().unwrap_or(0)
    }

    /// A registry commune: a 2025 commune code (empty: unknown).
    fn current(&self, code: &str) -> Result<u32, String> {
        let code = code.trim();
        if code.is_empty() {
            return Ok(0);
        }
        code.parse::<u32>()
            .ok()
            .filter(|&c| self.province(c) != 0)
            .ok_or_else(|| format!("commune_code {code:?} is not a commune of the 2025 structure"))
    }

    /// A record commune: a 2025 code, or a pre-2025 one (the structure of the book's
    /// time), as the 2025 communes it can stand for.
    fn any_structure(&self, code: &str) -> Result<Vec<u32>, String> {
        let code = code.trim();
        if code.is_empty() {
            return Ok(Vec::new());
        }
        let mut out: Vec<u32> = UnitCatalog::embedded()
            .map_old_commune(code)
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        if let Ok(c) = code.parse::<u32>()
            && self.province(c) != 0
        {
            out.push(c);
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            return Err(format!(
                "commune_code {code:?} is not a commune of the 2025 or the pre-2025 structure"
            ));
        }
        Ok(out)
    }
}

fn parse_dob(s: &str) -> Result<i32, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(0);
    }
    PartialDate::parse(s)
        .map(PartialDate::sort_key)
        .map_err(|e| format!("date_of_birth: {e}"))
}

fn parse_gender(s: &str) -> Result<Gender, String> {
    match s.trim() {
        "" => Ok(0),
        "M" | "m" => Ok(1),
        "F" | "f" => Ok(2),
        other => Err(format!("gender {other:?} is not M or F")),
    }
}

/// A record (an entry to link), its names looked up in the registry's words.
#[derive(Debug, Clone)]
pub struct Record {
    pub name: Name,
    pub father: Name,
    pub mother: Name,
    pub dob: i32,
    pub gender: Gender,
    /// 2025 communes the registering commune stands for (one, or several for an old
    /// commune that was split).
    pub communes: Vec<u32>,
    pub provinces: Vec<u16>,
}

impl Registry {
    /// An empty registry with room for about `persons` persons, on 2 MB pages (see
    /// [`crate::huge_vec`]): linking reads them at random.
    pub fn with_capacity(persons: usize) -> Registry {
        Registry {
            people: crate::huge_vec(persons),
            // Names of three words and parents': about ten words a person.
            words: crate::huge_vec(persons * 10),
            ..Registry::default()
        }
    }

    /// Adds a registry row; refuses it (adding nothing) with the reason.
    pub fn push(&mut self, personal_id: &str, f: &Fields) -> Result<(), String> {
        let personal_id = personal_id.trim();
        if personal_id.is_empty() {
            return Err("personal_id is empty".into());
        }
        let dob = parse_dob(f.date_of_birth)?;
        let gender = parse_gender(f.gender)?;
        let commune = self.communes.current(f.commune_code)?;
        let start = self.words.len();
        let span = |ix: &mut Interner, words: &mut Vec<u32>, text: &str, what: &str| {
            let s = words.len() as u32;
            ix.intern_name(text, words)
                .map_err(|e| format!("{what} {e}"))
                .map(|()| Span {
                    start: s,
                    len: words.len() as u32 - s,
                })
        };
        let spans = span(&mut self.ix, &mut self.words, f.full_name, "full_name").and_then(|n| {
            if n.len == 0 {
                return Err("full_name is empty".to_string());
            }
            let fa = span(&mut self.ix, &mut self.words, f.father_name, "father_name")?;
            let mo = span(&mut self.ix, &mut self.words, f.mother_name, "mother_name")?;
            Ok((n, fa, mo))
        });
        let (name, father, mother) = match spans {
            Ok(s) => s,
            Err(e) => {
                self.words.truncate(start);
                return Err(e);
            }
        };
        self.pids.push_str(personal_id);
        self.pid_ends.push(self.pids.len() as u32);
        self.people.push(Person {
            name,
            father,
            mother,
            dob,
            commune,
            gender,
        });
        Ok(())
    }

    /// Appends the persons of `other` (read from the rows that follow this registry's):
    /// the same registry as one read of both.
    pub fn append(&mut self, other: Registry) {
        let ids = self.ix.absorb(&other.ix);
        let base = self.words.len() as u32;
        self.words
            .extend(other.words.iter().map(|&w| ids[w as usize]));
        let shift = |s: Span| Span {
            start: s.start + base,
            len: s.len,
        };
        self.people.extend(other.people.iter().map(|p| Person {
            name: shift(p.name),
            father: shift(p.father),
            mother: shift(p.mother),
            ..*p
        }));
        let pids = self.pids.len() as u32;
        self.pids.push_str(&other.pids);
        self.pid_ends
            .extend(other.pid_ends.iter().map(|&e| e + pids));
    }

    /// Word frequencies; call once every person is in.
    pub fn count_words(&mut self) {
        let folds = self.ix.folds.len();
        let mut given_fold = vec![0; folds];
        let mut family_fold = vec![0; folds];
        let mut given_canon = vec![0; self.ix.canon.len()];
        for p in &self.people {
            let name = self.name(p.name);
            if let Some(&g) = name.last() {
                given_canon[g as usize] += 1;
                given_fold[self.ix.fold_of[g as usize] as usize] += 1;
            }
            if name.len() >= 2 {
                family_fold[self.ix.fold_of[name[0] as usize] as usize] += 1;
            }
        }
        self.given_fold_count = given_fold;
        self.family_fold_count = family_fold;
        self.given_canon_count = given_canon;
    }

    pub fn name(&self, s: Span) -> &[u32] {
        &self.words[s.start as usize..(s.start + s.len) as usize]
    }

    pub fn personal_id(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            self.pid_ends[i - 1] as usize
        };
        &self.pids[start..self.pid_ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.people.len()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// Parses a record; the error says which field is wrong.
    pub fn record(&self, f: &Fields) -> Result<Record, String> {
        let name = self
            .ix
            .lookup_name(f.full_name)
            .map_err(|e| format!("full_name {e}"))?;
        if name.is_empty() {
            return Err("full_name is empty".into());
        }
        let father = self
            .ix
            .lookup_name(f.father_name)
            .map_err(|e| format!("father_name {e}"))?;
        let mother = self
            .ix
            .lookup_name(f.mother_name)
            .map_err(|e| format!("mother_name {e}"))?;
        let dob = parse_dob(f.date_of_birth)?;
        let gender = parse_gender(f.gender)?;
        let communes = self.communes.any_structure(f.commune_code)?;
        let mut provinces: Vec<u16> = communes
            .iter()
            .map(|&c| self.communes.province(c))
            .collect();
        provinces.sort_unstable();
        provinces.dedup();
        Ok(Record {
            name,
            father,
            mother,
            dob,
            gender,
            communes,
            provinces,
        })
    }
}
