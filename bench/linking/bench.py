#!/usr/bin/env python3
"""Linking benchmark: `dancu link` against Splink 4 (DuckDB) on the same files.

Generates a registry and noisy birth-register entries with ground truth, runs both
linkers, and prints precision, recall, F1, review rate, wall time and peak memory.

    python bench/linking/bench.py --registry 100000 --records 10000 [--skip-splink]

Name frequencies come from the seed generator's tables
(crates/dancu-app/src/seed/names.rs); communes and the pre-2025 -> 2025 mapping from
crates/dancu-domain/data. See the README section "Linking benchmark".
"""
import argparse
import bisect
import csv
import itertools
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
import unicodedata

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# ---------------------------------------------------------------- name tables


def rust_table(name):
    src = open(os.path.join(ROOT, "crates/dancu-app/src/seed/names.rs"), encoding="utf-8").read()
    body = re.search(r"pub const %s: [^=]*= &\[(.*?)\n\];" % name, src, re.S).group(1)
    return [
        (m.group(1), [int(x) for x in m.group(2).split(",") if x.strip()])
        for m in re.finditer(r'\("([^"]*)",([^)]*)\)', body)
    ]


class Weighted:
    def __init__(self, items):
        self.values = [v for v, w in items if w > 0]
        self.cum = list(itertools.accumulate(w for _, w in items if w > 0))

    def pick(self, rng):
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


def cohort(year):
    return 0 if year < 1960 else (1 if year < 1990 else 2)


class Names:
    def __init__(self):
        kinh = rust_table("KINH_FAMILY")
        self.family_north = Weighted([(n, w[0]) for n, w in kinh])
        self.family_south = Weighted([(n, w[1]) for n, w in kinh])
        minority = []
        for t in ["TAY_NUNG_FAMILY", "THAI_FAMILY", "HMONG_FAMILY", "MUONG_FAMILY",
                  "DAO_FAMILY", "KHMER_FAMILY", "HOA_FAMILY", "HIGHLAND_FAMILY", "CHAM_FAMILY"]:
            minority += [(n, w[0]) for n, w in rust_table(t)]
        self.family_minority = Weighted(minority)
        self.middle = {}
        self.given = {}
        for g, mid, giv in [("M", "MALE_MIDDLE", "MALE_GIVEN"), ("F", "FEMALE_MIDDLE", "FEMALE_GIVEN")]:
            m, gv = rust_table(mid), rust_table(giv)
            for c in range(3):
                self.middle[g, c] = Weighted([(n, w[c]) for n, w in m])
                self.given[g, c] = Weighted([(n, w[c]) for n, w in gv])

    def family(self, rng, south):
        if rng.random() < 0.12:
            return self.family_minority.pick(rng)
        return (self.family_south if south else self.family_north).pick(rng)

    def person(self, rng, family, gender, year, avoid=()):
        c = cohort(year)
        middle = self.middle[gender, c].pick(rng)
        for _ in range(20):
            given = self.given[gender, c].pick(rng)
            if given not in avoid:
                break
        return " ".join(p for p in (family, middle, given) if p), given


# ---------------------------------------------------------------- communes


def load_communes():
    data = os.path.join(ROOT, "crates/dancu-domain/data")
    with open(os.path.join(data, "units_2025.csv"), encoding="utf-8") as f:
        communes = [(r["commune_code"], r["province_code"]) for r in csv.DictReader(f)]
    old_of = {}
    with open(os.path.join(data, "communes_2025_mapping.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            old_of.setdefault(r["new_commune_code"], []).append(r["old_commune_code"])
    return communes, old_of


# ---------------------------------------------------------------- noise

TONES = "\u0300\u0301\u0303\u0309\u0323"


def fold(s):
    s = s.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c)).lower()


def new_tone_style(name):
    """hòa -> hoà, thủy -> thuỷ, khỏe -> khoẻ (open syllables oa, oe, uy)."""
    out = []
    for word in name.split(" "):
        d = unicodedata.normalize("NFD", word)
        m = re.search(r"([oOuU])([%s])([aAeEyY])$" % TONES, d)
        if m and not (m.group(1) in "uU" and d[: m.start()].lower().endswith("q")):
            d = d[: m.start()] + m.group(1) + m.group(3) + m.group(2)
        out.append(unicodedata.normalize("NFC", d))
    return " ".join(out)


OCR = [("rn", "m"), ("m", "rn"), ("l", "I"), ("n", "h"), ("h", "b"), ("ư", "u"), ("ơ", "o"),
       ("ă", "a"), ("â", "a"), ("ê", "e"), ("đ", "d"), ("c", "e"), ("g", "q"), ("i", "l"),
       ("u", "v"), ("y", "v")]


def typo(rng, word):
    if len(word) < 2:
        return word
    i = rng.randrange(len(word))
    kind = rng.random()
    if kind < 0.4:
        return word[:i] + rng.choice("aeiouynhtgmc") + word[i + 1:]
    if kind < 0.7:
        return word[:i] + word[i + 1:]
    if i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word + rng.choice("hg")


def ocr(rng, word):
    options = [(a, b) for a, b in OCR if a in word]
    if not options:
        return typo(rng, word)
    a, b = rng.choice(options)
    i = word.index(a)
    return word[:i] + b + word[i + len(a):]


def damage_word(rng, word):
    return ocr(rng, word) if rng.random() < 0.5 else typo(rng, word)


def noisy_name(rng, name, p_typo):
    if not name:
        return name
    words = name.split(" ")
    if rng.random() < p_typo:
        i = rng.randrange(len(words))
        words[i] = damage_word(rng, words[i])
    s = " ".join(words)
    r = rng.random()
    if r < 0.20:
        s = new_tone_style(s)
    elif r < 0.30:
        s = fold(s).title()  # diacritics lost (typed without a Vietnamese keyboard)
    elif r < 0.36:
        s = s.upper()
    if rng.random() < 0.03:
        s = "  " + s.replace(" ", "  ")
    return s


def fmt_date(y, m, d):
    return "%04d-%02d-%02d" % (y, m, d)


# ---------------------------------------------------------------- generation


def generate(n_registry, n_records, seed, out_dir):
    rng = random.Random(seed)
    names = Names()
    communes, old_of = load_communes()
    people = []  # dicts: pid, name, given, dob(y,m,d), gender, birth_commune, commune, father, mother, in_registry
    pid = 0
    target = int(n_registry / 0.93) + 1
    while len(people) < target:
        commune, prov = rng.choice(communes)
        south = int(prov) >= 40
        fam = names.family(rng, south)
        first = rng.randint(1950, 2020)
        father = names.person(rng, fam, "M", first - 28)[0]
        mother = names.person(rng, names.family(rng, south), "F", first - 25)[0]
        kids = rng.choice([1, 1, 2, 2, 2, 3, 3, 4])
        used = set()
        year = first
        k = 0
        while k < kids:
            twins = 2 if rng.random() < 0.03 else 1
            m, d = rng.randint(1, 12), rng.randint(1, 28)
            for _ in range(twins):
                gender = rng.choice("MF")
                full, given = names.person(rng, fam, gender, year, used)
                used.add(given)
                moved = rng.random() < 0.15
                pid += 1
                people.append({
                    "pid": "%03d%09d" % (int(prov), pid),
                    "name": full, "dob": (year, m, d), "gender": gender,
                    "birth_commune": commune,
                    "commune": rng.choice(communes)[0] if moved else commune,
                    "father": father if rng.random() > 0.03 else "",
                    "mother": mother if rng.random() > 0.02 else "",
                    "in_registry": rng.random() > 0.07,
                })
                k += 1
            year += rng.randint(1, 5)
    registry = [p for p in people if p["in_registry"]][:n_registry]
    outside = [p for p in people if not p["in_registry"]]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "registry.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["personal_id", "full_name", "date_of_birth", "gender", "commune_code",
                    "father_name", "mother_name"])
        for p in registry:
            y, m, d = p["dob"]
            dob = fmt_date(y, m, d) if rng.random() > 0.02 else "%04d" % y
            w.writerow([p["pid"], p["name"], dob, p["gender"], p["commune"], p["father"], p["mother"]])
    n_out = n_records // 10
    chosen = rng.sample(registry, n_records - n_out) + rng.sample(outside, min(n_out, len(outside)))
    rng.shuffle(chosen)
    truth = {}
    with open(os.path.join(out_dir, "records.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["record_id", "full_name", "date_of_birth", "gender", "commune_code",
                    "father_name", "mother_name"])
        for i, p in enumerate(chosen):
            rid = "R%07d" % i
            truth[rid] = p["pid"] if p["in_registry"] else ""
            y, m, d = p["dob"]
            r = rng.random()
            if r < 0.04 and d <= 12 and d != m:
                dob = fmt_date(y, d, m)  # swapped day and month
            elif r < 0.09:
                dob = "%04d" % y  # year only
            elif r < 0.10:
                dob = fmt_date(y, m, min(28, d + rng.choice([-1, 1]) if d > 1 else 2))
            elif r < 0.11:
                dob = ""
            else:
                dob = fmt_date(y, m, d)
            c = p["birth_commune"]
            olds = old_of.get(c)
            if olds and rng.random() < 0.7:
                c = rng.choice(olds)  # the book's commune in the pre-2025 structure
            w.writerow([
                rid,
                noisy_name(rng, p["name"], 0.10),
                dob,
                p["gender"] if rng.random() > 0.02 else "",
                c,
                noisy_name(rng, p["father"], 0.05) if rng.random() > 0.10 else "",
                noisy_name(rng, p["mother"], 0.05) if rng.random() > 0.05 else "",
            ])
        # Bad rows: reported per row, never stopping the run (excluded from the scores).
        bad = [["", "1990-01-01", "M", communes[0][0]], ["Lê Văn An", "2019-02-30", "M", communes[0][0]],
               ["Lê Văn An", "1990-01-01", "M", "99999"], ["Lê V4n An", "1990-01-01", "X", communes[0][0]]]
        for j, (name, dob, g, c) in enumerate(bad):
            rid = "BAD%d" % j
            truth[rid] = None
            w.writerow([rid, name, dob, g, c, "", ""])
    with open(os.path.join(out_dir, "truth.json"), "w") as f:
        json.dump(truth, f)
    return truth


def scale(src_dir, out_dir, registry_total, records_factor, seed):
    """A large run from a generated one: the registry padded with persons whose
    fields are drawn independently from the generated registry's columns (realistic
    name, date and commune frequencies, matching no entry), and the entries repeated
    `records_factor` times under new ids (same truth)."""
    rng = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(src_dir, "registry.csv"), encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    cols = list(zip(*rows))
    with open(os.path.join(out_dir, "registry.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
        n = len(rows)
        for i in range(registry_total - n):
            w.writerow(["F%011d" % i] + [c[rng.randrange(n)] for c in cols[1:]])
    truth = json.load(open(os.path.join(src_dir, "truth.json")))
    out_truth = {}
    with open(os.path.join(src_dir, "records.csv"), encoding="utf-8") as f:
        recs = list(csv.reader(f))
    with open(os.path.join(out_dir, "records.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(recs[0])
        for k in range(records_factor):
            for r in recs[1:]:
                rid = "%s-%d" % (r[0], k)
                out_truth[rid] = truth[r[0]]
                w.writerow([rid] + r[1:])
    with open(os.path.join(out_dir, "truth.json"), "w") as f:
        json.dump(out_truth, f)
    return out_truth


# ---------------------------------------------------------------- scoring


def score(truth, decisions):
    """decisions: record_id -> (personal_id, decision). A review counts as not linked."""
    tp = fp = fn = reviews = n = invalid_ok = 0
    for rid, true in truth.items():
        pid, dec = decisions.get(rid, ("", "new"))
        if true is None:
            invalid_ok += dec == "invalid"
            continue
        n += 1
        reviews += dec == "review"
        linked = dec == "link"
        if linked and pid == true:
            tp += 1
        elif linked:
            fp += 1
        if true and not (linked and pid == true):
            fn += 1
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "review_rate": reviews / n,
            "bad_rows_invalid": invalid_ok}


def error_report(truth, out_path, limit=12):
    """The misses and false links of `dancu link` by kind, with the field levels of the
    best candidate as the explanation gives them (what to fix in the model)."""
    kinds = {}
    with open(out_path, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            true = truth.get(r["record_id"])
            if true is None:
                continue
            dec, pid = r["decision"], r["personal_id"]
            if dec == "link" and pid == true:
                continue
            if dec == "link":
                kind = "false link" + (" (not in registry)" if not true else " (other person)")
            elif not true:
                if dec == "new":
                    continue
                kind = "review, not in registry"
            elif dec == "review":
                kind = "review, " + ("right person" if pid == true else "wrong person")
            else:
                kind = "new, in registry"
            levels = " ".join(x for x in r["explanation"].split() if "=" in x and not x.startswith("prior"))
            levels = re.sub(r"[+-][0-9.]+", "", levels)
            kinds.setdefault(kind, {}).setdefault(levels, []).append(r["score"])
    for kind, pats in sorted(kinds.items(), key=lambda kv: -sum(map(len, kv[1].values()))):
        print("%-28s %6d" % (kind, sum(map(len, pats.values()))))
        for levels, scores in sorted(pats.items(), key=lambda kv: -len(kv[1]))[:limit]:
            print("    %5d  %s  (score e.g. %s)" % (len(scores), levels, scores[0]))


def run_dancu(binary, out_dir, extra):
    out = os.path.join(out_dir, "dancu_out.csv")
    cmd = [binary, "link", "--registry", os.path.join(out_dir, "registry.csv"),
           "--records", os.path.join(out_dir, "records.csv"), "--output", out] + extra
    t = time.time()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if proc.returncode != 0:
        sys.exit("dancu link failed: " + proc.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    sys.stderr.write(proc.stderr)
    decisions = {}
    with open(out, encoding="utf-8") as f:
        for r in csv.DictReader(f):
            decisions[r["record_id"]] = (r["personal_id"], r["decision"])
    return decisions, wall, cpu, peak, proc.stdout.strip()


# ---------------------------------------------------------------- Splink


def run_splink(out_dir, truth, threads):
    import duckdb
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    t0 = time.time()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    con = duckdb.connect()
    con.execute("SET threads TO %d" % threads)
    data = os.path.join(ROOT, "crates/dancu-domain/data")
    con.execute("CREATE TABLE map AS SELECT * FROM read_csv('%s', all_varchar=true)"
                % os.path.join(data, "communes_2025_mapping.csv"))
    con.execute("CREATE MACRO fold(s) AS lower(strip_accents(replace(replace(coalesce(s,''),'đ','d'),'Đ','D')))")
    con.execute("CREATE MACRO words(s) AS string_split(trim(regexp_replace(fold(s), '\\s+', ' ', 'g')), ' ')")
    prep = """
      SELECT {id} AS unique_id,
        nullif(words(full_name)[1], '') AS family_f,
        CASE WHEN len(words(full_name)) > 2 THEN array_to_string(words(full_name)[2:-2], ' ') END AS middle_f,
        nullif(words(full_name)[-1], '') AS given_f,
        nullif(array_to_string(words(full_name), ' '), '') AS name_f,
        nullif(date_of_birth, '') AS dob,
        nullif(substr(date_of_birth, 1, 4), '') AS yob,
        CASE WHEN length(date_of_birth) = 10 THEN substr(date_of_birth,1,5)
             || least(substr(date_of_birth,6,2), substr(date_of_birth,9,2)) || '-'
             || greatest(substr(date_of_birth,6,2), substr(date_of_birth,9,2)) END AS dob_norm,
        nullif(gender, '') AS gender,
        nullif(coalesce({commune}, commune_code), '') AS commune,
        nullif(array_to_string(words(father_name), ' '), '') AS father_f,
        nullif(array_to_string(words(mother_name), ' '), '') AS mother_f
      FROM read_csv('{path}', all_varchar=true, header=true) {join}
    """
    con.execute("CREATE TABLE reg AS " + prep.format(
        id="personal_id", commune="NULL", path=os.path.join(out_dir, "registry.csv"), join=""))
    con.execute("CREATE TABLE rec AS " + prep.format(
        id="record_id", commune="(SELECT min(new_commune_code) FROM map WHERE old_commune_code = commune_code)",
        path=os.path.join(out_dir, "records.csv"), join=""))
    name_cmp = lambda col: cl.JaroWinklerAtThresholds(col, [0.95, 0.88]).configure(
        term_frequency_adjustments=True)
    dob_cmp = cl.CustomComparison(
        output_column_name="dob",
        comparison_levels=[
            cll.NullLevel("dob"),
            cll.ExactMatchLevel("dob"),
            cll.CustomLevel("dob_norm_l = dob_norm_r", label_for_charts="swapped"),
            cll.LevenshteinLevel("dob", 1),
            cll.CustomLevel("yob_l = yob_r", label_for_charts="same year"),
            cll.ElseLevel(),
        ],
    )
    settings = SettingsCreator(
        link_type="link_only",
        comparisons=[
            name_cmp("given_f"),
            cl.ExactMatch("family_f").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("middle_f", [0.9]),
            dob_cmp,
            cl.ExactMatch("gender"),
            cl.ExactMatch("commune"),
            cl.JaroWinklerAtThresholds("father_f", [0.95, 0.88]),
            cl.JaroWinklerAtThresholds("mother_f", [0.95, 0.88]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("name_f", "yob"),
            block_on("given_f", "dob_norm"),
            block_on("family_f", "middle_f", "dob_norm"),
            block_on("given_f", "mother_f"),
            block_on("dob_norm", "commune"),
            block_on("mother_f", "yob"),
            block_on("father_f", "yob"),
            block_on("name_f", "commune"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db = DuckDBAPI(connection=con)
    linker = Linker([con.table("reg"), con.table("rec")], settings, db_api=db)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("name_f", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob_norm"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_f", "yob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_f", "mother_f"))
    pred = linker.inference.predict(threshold_match_weight=-10)
    best = con.execute("""
      SELECT rid, pid, w FROM (
        SELECT CASE WHEN source_dataset_l = '__splink__input_table_0' THEN unique_id_r ELSE unique_id_l END AS rid,
               CASE WHEN source_dataset_l = '__splink__input_table_0' THEN unique_id_l ELSE unique_id_r END AS pid,
               match_weight AS w,
               row_number() OVER (PARTITION BY CASE WHEN source_dataset_l = '__splink__input_table_0'
                   THEN unique_id_r ELSE unique_id_l END ORDER BY match_weight DESC) AS k
        FROM {t}) WHERE k = 1
    """.format(t=pred.physical_name)).fetchall()
    wall = time.time() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    # Its link threshold tuned for its best F1 (on the ground truth: an upper bound).
    best_f1, best_t, best_s = -1, None, None
    for t in [x / 2 for x in range(-20, 41)]:
        dec = {rid: (pid, "link" if w >= t else "new") for rid, pid, w in best}
        s = score(truth, dec)
        if s["f1"] > best_f1:
            best_f1, best_t, best_s = s["f1"], t, s
    uncertain = sum(1 for _, _, w in best if -3.17 < w < 3.17) / max(1, len(truth))
    return best_s, best_t, wall, cpu, uncertain


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", type=int, default=100_000)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", default=None, help="work directory (default target/bench-linking/REGxREC)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/dancu"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-splink", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="reuse generated files in --dir")
    ap.add_argument("--scale-from", help="build the files from a generated run in this directory (see scale())")
    ap.add_argument("--records-factor", type=int, default=1, help="with --scale-from: entries repeated N times")
    ap.add_argument("--dancu-arg", action="append", default=[], help="extra argument to dancu link")
    ap.add_argument("--errors", action="store_true", help="print dancu's misses and false links by kind")
    a = ap.parse_args()
    out_dir = a.dir or os.path.join(ROOT, "target/bench-linking/%dx%d" % (a.registry, a.records))
    t = time.time()
    if a.reuse and os.path.exists(os.path.join(out_dir, "truth.json")):
        truth = json.load(open(os.path.join(out_dir, "truth.json")))
    elif a.scale_from:
        truth = scale(a.scale_from, out_dir, a.registry, a.records_factor, a.seed)
    else:
        truth = generate(a.registry, a.records, a.seed, out_dir)
    print("generated %d registry persons, %d records in %s (%.0f s)"
          % (a.registry, len(truth), out_dir, time.time() - t))
    decisions, wall, cpu, peak, summary = run_dancu(a.binary, out_dir, ["--threads", str(a.threads)] + a.dancu_arg)
    s = score(truth, decisions)
    print(summary)
    print("dancu link : P %.4f R %.4f F1 %.4f review %.2f%%  bad rows invalid %d/4  wall %.2f s  CPU %.2f s  peak RSS %.0f MB"
          % (s["precision"], s["recall"], s["f1"], 100 * s["review_rate"], s["bad_rows_invalid"], wall, cpu, peak))
    if a.errors:
        error_report(truth, os.path.join(out_dir, "dancu_out.csv"))
    if not a.skip_splink:
        ss, st, swall, scpu, unc = run_splink(out_dir, truth, a.threads)
        print("splink     : P %.4f R %.4f F1 %.4f review 0.00%% (best-F1 threshold %.1f; %.2f%% with |weight| < 3.17)  wall %.2f s  CPU %.2f s"
              % (ss["precision"], ss["recall"], ss["f1"], st, 100 * unc, swall, scpu))
        print("speed-up   : %.1fx wall, %.1fx CPU" % (swall / wall, scpu / cpu))


if __name__ == "__main__":
    main()
