#!/usr/bin/env python3
"""Derives the compact place tables embedded by `mappings/src/places.rs` from the ANPR
tables kept beside the project (`../shared/specs/anpr/tables/`). Run from the repository root:

    python3 mappings/data/derive.py ../shared/specs/anpr/tables

comuni.csv: one row per cadastral (Belfiore) code and uninterrupted validity interval; consecutive ANPR
records of the same code (renamings, province changes) are merged, keeping the ISTAT code, province and
name of the latest record of the interval; records without a code ("ND") are left out. Columns: code,from,to,istat,province,name (dates YYYYMMDD).

stati.csv: the foreign states and territories that have a Z code. Columns:
code,from,to,istat,iso3,citizenship(S/N),birth(S/N),name.
"""
import csv
import datetime
import re
import sys


def comuni(tables):
    with open(f"{tables}/ANPR_archivio_comuni.csv", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    # Two records have "ND" (not available) instead of a cadastral code: they cannot be a birthplace.
    rows = [r for r in rows if re.fullmatch(r"[A-Z][0-9]{3}", r["CODCATASTALE"])]
    rows.sort(key=lambda r: (r["CODCATASTALE"], r["DATAISTITUZIONE"]))
    out = []
    for r in rows:
        if out and out[-1]["code"] == r["CODCATASTALE"]:
            prev = out[-1]
            gap = datetime.date.fromisoformat(r["DATAISTITUZIONE"]) - datetime.date.fromisoformat(prev["to"])
            if gap.days <= 1:
                if r["DATACESSAZIONE"] > prev["to"]:
                    prev.update(to=r["DATACESSAZIONE"], istat=r["CODISTAT"],
                                province=r["SIGLAPROVINCIA"], name=r["DENOMINAZIONE_IT"])
                continue
        out.append(dict(code=r["CODCATASTALE"], start=r["DATAISTITUZIONE"], to=r["DATACESSAZIONE"],
                        istat=r["CODISTAT"], province=r["SIGLAPROVINCIA"], name=r["DENOMINAZIONE_IT"]))
    with open("mappings/data/comuni.csv", "w", encoding="utf-8", newline="") as f:
        for o in out:
            assert "," not in o["name"]
            f.write(f"{o['code']},{o['start'].replace('-', '')},{o['to'].replace('-', '')},"
                    f"{o['istat']},{o['province']},{o['name']}\n")


def stati(tables):
    with open(f"{tables}/tab_stati_esteri.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["CODAT"]]
    rows.sort(key=lambda r: r["CODAT"])

    def iso(d):
        day, month, year = d.split("/")
        return f"{year}{month}{day}"

    with open("mappings/data/stati.csv", "w", encoding="utf-8", newline="") as f:
        for r in rows:
            name = r["DENOMINAZIONE"].replace(",", "")
            f.write(f"{r['CODAT']},{iso(r['DATAINIZIOVALIDITA'])},{iso(r['DATAFINEVALIDITA'])},"
                    f"{r['CODISTAT']},{r['CODISO3166_1_ALPHA3']},{r['CITTADINANZA']},{r['NASCITA']},{name}\n")


if __name__ == "__main__":
    comuni(sys.argv[1])
    stati(sys.argv[1])
