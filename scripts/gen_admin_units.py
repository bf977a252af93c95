#!/usr/bin/env python3
"""Generate the versioned administrative-unit CSVs embedded by `dancu-domain` (src/units.rs).

Sources (all from PyPI, installed with `pip install --no-deps --target` into throwaway
directories, because the two `vietnam-provinces` versions share one import name):

* `vietnam-provinces==0.6.0`    -> pre-2025 structure (63 provinces / districts / communes),
                                   GSO codes, file `vietnam_provinces/data/nested-divisions.json`.
* `vietnam-provinces==2025.10.1` -> structure in force from 2025-07-01 (34 provinces, communes,
                                   no district level), same file name.
* `vietnamadminunits==1.0.4`     -> old -> new mapping (`data/converter_2025.json`), chosen.
* `vietnam-address-converter==1.0.5` -> second mapping, used only to cross-check and to fill
                                   old communes the chosen mapping does not cover.

Why `vietnamadminunits`: it is the only one of the two whose commune-level mapping can be tied
to GSO codes. Its mapping is keyed by name keys ("thanhphohanoi_quanbadinh_phuongphucxa"), and
its own `dataset.db` binds those keys to GSO codes (old) and to 2025 codes (new).
`vietnam-address-converter` does carry codes, but in a private numbering (Hà Nội = "11", wards
like "65803"), so it can only be joined by names.

Neither mapping's codes are trusted blindly: every old key is resolved to a code of the
vietnam-provinces 0.6.0 structure and every new key to a code of the 2025.10.1 structure,
first by (code, name), then by name within the parent unit (names are compared with a key
that ignores case and tone-mark placement, "Hoà" == "Hòa", but keeps which marks are present,
so "Thanh An" != "Thạnh An"), then by code alone for spelling variants ("Phó Bảng"/"Phố Bảng").
vietnamadminunits' 2025 ward codes differ from vietnam-provinces' for 123 of 3,321 wards
(its codes come from sapnhap.bando.com.vn), so on the new side the name wins.

Verification numbers of the last run (every run prints them again; also in data/README.md):
  pre-2025: 63 provinces, 696 districts (5 island districts without communes get one row with
            empty commune fields), 10,051 communes -> 10,056 rows
  2025:     34 provinces, 3,321 communes (2,621 xa, 687 phuong, 13 dac_khu)
  mapping:  10,595 pairs. Of 10,051 old communes 10,033 map to >= 1 existing 2025 commune,
            18 are unmapped (merged between the 0.6.0 snapshot and the mapping's snapshot),
            471 are split across several 2025 communes (397 x2, 58 x3, 15 x4, 1 x5).
            Every pair stays inside the province merge; every 2025 commune is the target of
            some old commune except the 5 island special zones (their districts had none).
  cross-check: vietnam-address-converter resolves to 10,293 pairs by name (65 rows do not
            resolve), 10,280 of them are in the chosen mapping; of 9,981 old communes in both,
            9,740 (97.6 %) have identical target sets. It filled 0 gaps.

Usage:  python3 scripts/gen_admin_units.py [--out crates/dancu-domain/data] [--cache DIR]
`--cache DIR` reuses downloaded packages between runs; without it a temp dir is used and deleted.
"""

from __future__ import annotations

import argparse
import collections
import csv
import importlib.util
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

PACKAGES = {
    "old": "vietnam-provinces==0.6.0",
    "new": "vietnam-provinces==2025.10.1",
    "vau": "vietnamadminunits==1.0.4",
    "vac": "vietnam-address-converter==1.0.5",
}

COMMUNE_KINDS = [("Phường ", "phuong"), ("Xã ", "xa"), ("Thị trấn ", "thi_tran"), ("Đặc khu ", "dac_khu")]


def install(cache: Path) -> dict[str, Path]:
    dirs = {}
    for key, spec in PACKAGES.items():
        target = cache / key
        marker = target / ".installed"
        if not marker.exists() or marker.read_text() != spec:
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade",
                 "--target", str(target), spec],
                check=True,
            )
            marker.write_text(spec)
        dirs[key] = target
    return dirs


def clean(name: str) -> str:
    """NFC, single spaces; the CSVs are hand-parsed in Rust, so no commas or quotes allowed."""
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", name)).strip()
    name = re.sub(r"^Thành Phố ", "Thành phố ", name)  # "Thành Phố Bắc Kạn" in 0.6.0
    if "," in name or '"' in name or "\n" in name:
        raise ValueError(f"name not CSV-safe: {name!r}")
    return name


def fold(s: str) -> str:
    s = unicodedata.normalize("NFD", s.lower().replace("đ", "d"))
    s = "".join(c for c in s if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", s)


def nk(s: str):
    """Name key: folded letters + the multiset of marks (placement-insensitive, mark-sensitive)."""
    d = unicodedata.normalize("NFD", s.lower())
    return (fold(s), tuple(sorted(c for c in d if unicodedata.combining(c))), d.count("đ"))


def commune_kind(name: str) -> str:
    for prefix, kind in COMMUNE_KINDS:
        if name.startswith(prefix):
            return kind
    raise ValueError(f"unknown commune kind: {name!r}")


def load_vac(path: Path):
    spec = importlib.util.spec_from_file_location("vac_data", path / "vietnam_address_converter" / "data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.DEFAULT_DATA


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = Path(__file__).resolve().parent.parent
    ap.add_argument("--out", type=Path, default=root / "crates" / "dancu-domain" / "data")
    ap.add_argument("--cache", type=Path, help="keep downloaded packages here (default: temp dir)")
    args = ap.parse_args()

    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        return generate(install(args.cache), args.out)
    with tempfile.TemporaryDirectory(prefix="gen_admin_units_") as tmp:
        return generate(install(Path(tmp)), args.out)


def generate(dirs: dict[str, Path], out: Path) -> int:
    stats = collections.Counter()
    examples = collections.defaultdict(list)

    # ---- structures -------------------------------------------------------------------------
    old = json.loads((dirs["old"] / "vietnam_provinces/data/nested-divisions.json").read_text("utf-8"))
    new = json.loads((dirs["new"] / "vietnam_provinces/data/nested-divisions.json").read_text("utf-8"))

    old_rows = []  # (pcode, pname, dcode, dname, ccode, cname, kind)
    old_commune = {}  # ccode -> (pcode, dcode, cname)
    old_by_dist_name = {}  # (dcode, nk) -> ccode
    old_by_dist_fold = collections.defaultdict(list)
    old_dist_by_names = {}  # (fold pname, fold dname) -> dcode
    old_prov_name = {}
    for p in old:
        pc, pn = f"{p['code']:02d}", clean(p["name"])
        old_prov_name[pc] = pn
        for d in p["districts"]:
            dc, dn = f"{d['code']:03d}", clean(d["name"])
            old_dist_by_names[(fold(re.sub(r"^(Tỉnh|Thành phố) ", "", pn)), fold(dn))] = dc
            if not d["wards"]:
                # Island districts (Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn, Côn Đảo) had no communes.
                old_rows.append((pc, pn, dc, dn, "", "", ""))
                stats["pre2025 districts without communes"] += 1
            for w in d["wards"]:
                cc, cn = f"{w['code']:05d}", clean(w["name"])
                assert cc not in old_commune, cc
                old_commune[cc] = (pc, dc, cn)
                key = (dc, nk(cn))
                if key in old_by_dist_name:
                    # vietnam-provinces 0.6.0 lists a few names twice in one district (stale
                    # pre-merger entries); such names can only be resolved by code.
                    examples["pre2025 duplicate names"].append((old_by_dist_name[key], cc, cn))
                    old_by_dist_name[key] = None
                else:
                    old_by_dist_name[key] = cc
                old_by_dist_fold[(dc, fold(cn))].append(cc)
                old_rows.append((pc, pn, dc, dn, cc, cn, commune_kind(cn)))
    old_rows.sort(key=lambda r: (r[0], r[2], r[4]))

    new_rows = []
    new_commune = {}
    new_by_prov_name = {}
    new_prov_by_fold = {}
    for p in new:
        pc, pn = f"{p['code']:02d}", clean(p["name"])
        if p["division_type"] == "tỉnh" and not pn.startswith("Tỉnh "):
            pn = "Tỉnh " + pn  # 2025.10.1 drops the prefix for provinces but not for cities
        new_prov_by_fold[fold(re.sub(r"^(Tỉnh|Thành phố) ", "", pn))] = pc
        for w in p["wards"]:
            cc, cn = f"{w['code']:05d}", clean(w["name"])
            assert cc not in new_commune, cc
            new_commune[cc] = (pc, cn)
            key = (pc, nk(cn))
            assert key not in new_by_prov_name, key
            new_by_prov_name[key] = cc
            new_rows.append((pc, pn, cc, cn, commune_kind(cn)))
    new_rows.sort(key=lambda r: (r[0], r[2]))

    # ---- chosen mapping: vietnamadminunits --------------------------------------------------
    db = sqlite3.connect(dirs["vau"] / "vietnamadminunits/data/dataset.db")
    vau_old = {
        f"{pk}_{dk}_{wk}": (f"{int(dc):03d}", f"{int(wc):05d}", w)
        for dc, wc, w, pk, dk, wk in db.execute(
            "select districtCode, wardCode, ward, provinceKey, districtKey, wardKey"
            " from admin_units_legacy where wardCode is not null"
        )
    }
    vau_old_prov = dict(db.execute("select distinct provinceKey, provinceCode from admin_units_legacy"))
    vau_new = {
        (pk, wk): (f"{int(pc):02d}", f"{int(wc):05d}", w)
        for pc, wc, w, pk, wk in db.execute(
            "select provinceCode, wardCode, ward, provinceKey, wardKey from admin_units"
        )
    }
    vau_new_prov = dict(db.execute("select distinct provinceKey, provinceCode from admin_units"))
    conv = json.loads((dirs["vau"] / "vietnamadminunits/data/converter_2025.json").read_text("utf-8"))

    def resolve_old(key: str):
        if key not in vau_old:
            stats["old: key missing from vau dataset.db"] += 1
            return None
        dc, cc, name = vau_old[key]
        if cc in old_commune and old_commune[cc][1] == dc and nk(old_commune[cc][2]) == nk(name):
            stats["old: code+name"] += 1
            return cc
        if old_by_dist_name.get((dc, nk(name))):
            stats["old: name in district (code differs)"] += 1
            if cc in old_commune and old_commune[cc][1] == dc:
                # The unit kept the name of one commune and the code of another it absorbed
                # after the 0.6.0 snapshot (Yên Châu 04060 + Viêng Lán 04075): both map alike.
                absorbed[key] = cc
            return old_by_dist_name[(dc, nk(name))]
        if cc in old_commune and old_commune[cc][1] == dc:
            stats["old: code in district (spelling differs)"] += 1
            examples["old spelling"].append((cc, name, old_commune[cc][2]))
            return cc
        cands = old_by_dist_fold.get((dc, fold(name)), [])
        if len(cands) == 1:
            stats["old: folded name in district"] += 1
            return cands[0]
        stats["old: not in pre-2025 structure"] += 1
        examples["old not in structure"].append((cc, name))
        return None

    def resolve_new(pkey: str, wkey: str):
        pc, cc, name = vau_new[(pkey, wkey)]
        if (pc, nk(name)) in new_by_prov_name:
            got = new_by_prov_name[(pc, nk(name))]
            stats["new: name in province" + (" (code differs)" if got != cc else "")] += 1
            return got
        if cc in new_commune and new_commune[cc][0] == pc:
            stats["new: code in province (spelling differs)"] += 1
            examples["new spelling"].append((cc, name, new_commune[cc][1]))
            return cc
        stats["new: not in 2025 structure"] += 1
        examples["new not in structure"].append((cc, name))
        return None

    pairs: set[tuple[str, str]] = set()
    absorbed: dict[str, str] = {}  # vau key -> second pre-2025 code that goes along
    for npk, wards in conv["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for nwk, olds in wards.items():
            nc = resolve_new(npk, nwk)
            for ok in olds:
                if ok.endswith("_"):  # island district without communes -> special zone
                    stats["island district keys (no commune, skipped)"] += 1
                    continue
                oc = resolve_old(ok)
                if oc and nc:
                    pairs.add((oc, nc))
                    if ok in absorbed:
                        pairs.add((absorbed[ok], nc))
    for npk, olds in conv["DICT_PROVINCE_WARD_DIVIDED"].items():
        for ok, news in olds.items():
            oc = resolve_old(ok)
            for w in news:
                nc = resolve_new(npk, w["newWardKey"])
                if oc and nc:
                    pairs.add((oc, nc))
                    if ok in absorbed:
                        pairs.add((absorbed[ok], nc))
    stats["pairs from vietnamadminunits"] = len(pairs)
    stats["old: absorbed codes mapped along"] = len(absorbed)

    # ---- province merge ---------------------------------------------------------------------
    merge = {}
    for npk, opks in conv["DICT_PROVINCE"].items():
        for opk in opks:
            o = f"{int(vau_old_prov[opk]):02d}"
            assert o not in merge, o
            merge[o] = f"{int(vau_new_prov[npk]):02d}"
    assert sorted(merge) == sorted(old_prov_name), "every old province merges exactly once"
    assert set(merge.values()) == {r[0] for r in new_rows}, "every new province has old ones"

    # ---- cross-check / gap fill: vietnam-address-converter ------------------------------------
    vac = load_vac(dirs["vac"])
    vac_pairs = set()
    for row in vac["mapping"]["rows"]:
        o, n = row["old"], row["new"]
        strip = lambda s: re.sub(r"^(Tỉnh|Thành [Pp]hố) ", "", s)  # noqa: E731
        dc = old_dist_by_names.get((fold(strip(o["province_name"])), fold(o["district_name"])))
        oc = old_by_dist_name.get((dc, nk(o["ward_name"]))) if dc else None
        npc = new_prov_by_fold.get(fold(strip(n["province_name"])))
        nc = new_by_prov_name.get((npc, nk(n["ward_name"]))) if npc else None
        if oc and nc:
            vac_pairs.add((oc, nc))
        else:
            stats["vac rows not resolvable by name"] += 1
    stats["vac pairs resolved"] = len(vac_pairs)
    stats["vac pairs also in chosen mapping"] = len(vac_pairs & pairs)
    mapped = {a for a, _ in pairs}
    vac_old = {a for a, _ in vac_pairs}
    common = mapped & vac_old
    by = lambda ps: {a: {b for x, b in ps if x == a} for a in common}  # noqa: E731
    va, vb = by(pairs), by(vac_pairs)
    stats["old communes in both mappings"] = len(common)
    stats["... with identical target sets"] = sum(1 for a in common if va[a] == vb[a])
    fill = {(a, b) for a, b in vac_pairs if a not in mapped}
    stats["pairs filled from vac for otherwise unmapped old communes"] = len(fill)
    pairs |= fill

    # ---- verification -----------------------------------------------------------------------
    targets = collections.defaultdict(set)
    for a, b in pairs:
        assert a in old_commune and b in new_commune
        assert merge[old_commune[a][0]] == new_commune[b][0], ("province mismatch", a, b)
        targets[a].add(b)
    unmapped = sorted(c for c in old_commune if c not in targets)
    never = sorted(c for c in new_commune if c not in {b for _, b in pairs})
    split = collections.Counter(len(v) for v in targets.values())
    print("== resolution")
    for k, v in sorted(stats.items()):
        print(f"  {k}: {v}")
    for k, v in examples.items():
        print(f"  e.g. {k} ({len(v)}): {v[:8]}")
    print("== result")
    print(f"  pre-2025: {len(old_prov_name)} provinces, {len({r[2] for r in old_rows})} districts,"
          f" {len(old_commune)} communes")
    print(f"  2025: {len({r[0] for r in new_rows})} provinces, {len(new_commune)} communes")
    print(f"  mapping pairs: {len(pairs)}; old communes mapped: {len(targets)}, unmapped: {len(unmapped)}")
    print(f"  split across n new communes: {dict(sorted(split.items()))}")
    print(f"  2025 communes targeted by no old commune: {len(never)}:"
          f" {[new_commune[c][1] for c in never]}")
    print(f"  unmapped old communes: {[(c, old_commune[c][2]) for c in unmapped]}")

    # ---- write --------------------------------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)

    def write(name, header, rows):
        with open(out / name, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            w.writerow(header)
            for r in rows:
                assert all("," not in x and '"' not in x for x in r)
                w.writerow(r)
        print(f"  wrote {name}: {len(rows)} rows")

    write("units_pre2025.csv",
          ["province_code", "province_name", "district_code", "district_name", "commune_code",
           "commune_name", "commune_kind"], old_rows)
    write("units_2025.csv",
          ["province_code", "province_name", "commune_code", "commune_name", "commune_kind"], new_rows)
    write("provinces_2025_merge.csv", ["new_province_code", "old_province_code"],
          sorted((n, o) for o, n in merge.items()))
    write("communes_2025_mapping.csv", ["old_commune_code", "new_commune_code"], sorted(pairs))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
