//! Linking digitized civil-status entries to persons of the population registry.
//!
//! The pipeline, for each entry (a *record*):
//!
//! 1. **Names** are split into words; each distinct word is canonicalised and folded
//!    once ([`names::Interner`]), so a person holds small integer ids and two names
//!    compare by integer equality.
//! 2. **Blocking** ([`index`]) finds candidates through several keys, none of which is
//!    the family name alone (38% of people are Nguyễn): full folded name + birth year,
//!    given name + birth date, family and middle name + birth date, given name +
//!    mother's name, birth date + commune, mother's or father's name + birth year, full
//!    name + commune, family and middle name + mother's name, full name + father's name. Birth dates in keys are day/month-order free, so a swapped day and
//!    month still meets. Candidates are the union; a block larger than
//!    [`index::MAX_BLOCK`] is skipped for that key (the other keys still apply).
//! 3. **Comparison** ([`compare`]) gives every field an explicit level: exact
//!    canonical, exact folded, close (small edit distance), swapped day–month, year
//!    only, disagree or missing.
//! 4. **Weights** ([`model`]): Fellegi–Sunter, `log2(m/u)` per field and level, `u`
//!    from random record × registry pairs, `m` fitted by EM on the blocked pairs
//!    (no labels), term-frequency adjusted for exact agreement on the given and family
//!    names (agreeing on "Nguyễn" is worth less than on "Ksor"). The prior is the
//!    odds that a record is one given registry person rather than no one: the
//!    estimated share of records with a match over (1 − share) × registry size.
//! 5. **Siblings and twins** share parents, commune and family name: when the given
//!    name or the birth date disagrees, those family-shared fields may not add
//!    positive weight, so they can never outvote the person's own name and birth date.
//!    A given name that is another name in use (a spelling the registry holds as a
//!    given name) is a disagreement, not a typo, unless the whole name was typed
//!    without diacritics; when it is spelt alike ("Hùng"/"Dũng") and everything else
//!    agrees, the record goes to review: a typo or a twin, a person decides.
//! 6. **Decision** ([`engine`]): a record is one person at most, so the best
//!    candidate's posterior is weighed against "no one" and every other candidate
//!    together: `link` from 0.99; else `review` when the record is one of its
//!    candidates (whichever) with probability 0.5 or more; else `new`. Candidates are
//!    first bounded by the signature their block keeps ([`compare::Sig`]), then by ids
//!    alone ([`compare::quick`]), then by the given name's spelling; one that cannot
//!    come near the review threshold goes no further.
//!    Each decision carries its explanation (every field's level and weight).

pub mod compare;
pub mod engine;
pub mod files;
pub mod index;
pub mod model;
pub mod names;
pub mod person;

pub use engine::{Decision, Linker, Outcome, Thresholds};

/// An empty vector of `capacity` whose memory the kernel is asked to back with 2 MB
/// pages as it is first written (Linux, `MADV_HUGEPAGE`). Linking reads persons and
/// blocks at random places of gigabytes; with 4 KB pages nearly every such read also
/// misses the TLB and walks the page tables. Asked before the memory is written, the
/// large pages cost nothing more (collapsing written memory afterwards, as before,
/// copied it all: 17% of a 10M-person run's CPU). Best effort: where the kernel refuses,
/// the pages stay small.
pub(crate) fn huge_vec<T>(capacity: usize) -> Vec<T> {
    let v = Vec::with_capacity(capacity);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = (v.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (v.as_ptr() as usize + capacity * std::mem::size_of::<T>()) & !(HUGE - 1);
        if end > start {
            // SAFETY: the range lies inside `v`'s allocation, not yet written;
            // MADV_HUGEPAGE only changes how its pages will be backed.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    v
}
pub use files::{LinkSummary, link_files};

/// Asks the processor to start loading `x`'s cache line. The linking loops read a few
/// dozen persons at random places of gigabytes: requested together, their cache misses
/// overlap instead of each waiting for the one before.
#[inline]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults nor changes memory.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            std::ptr::from_ref(x).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
