#!/usr/bin/env python3
"""xlsx-vs-csv.py - the spreadsheet's cells, as LibreOffice reads them, against
the CSV report's cells.

    python3 tests/validate/xlsx-vs-csv.py REPORT.csv OPENED.csv

REPORT.csv is what `aodreport report --format csv` wrote; OPENED.csv is the
first sheet of the XLSX of the same report, converted by LibreOffice
(`soffice --headless --convert-to csv:"Text - txt - csv (StarCalc)":44,34,76,1`:
comma, double quote, UTF-8, as shown).  They must hold the same rows and
columns, cell for cell, with two differences that are the point of the
spreadsheet:
  - the CSV writes a leading apostrophe before a cell that a spreadsheet would
    read as a formula (doc/csv.md); the spreadsheet's text cell needs none;
  - a time column (when, when_end, first_date, last_date) is ISO 8601 with
    the offset in the CSV and a typed date-time in the spreadsheet, shown as
    "YYYY-MM-DD hh:mm:ss": compared as values (the same local date and time:
    the spreadsheet has no zone, the summary sheet names it).
Numbers (count, group) must come back as the same digits: a cell that
LibreOffice turned into a number, a date or TRUE where the CSV holds text
("00123", "TRUE", "2025-03-04") fails.  Prints "ok" or each difference;
exits 0 or 1.
"""
import csv
import re
import sys

TIME_COLUMNS = {"when", "when_end", "first_date", "last_date"}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$")


def read(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.reader(f))


def expected_cell(column, value):
    if column in TIME_COLUMNS and value:
        m = ISO.match(value)
        if not m:
            return None  # the CSV itself is wrong
        return f"{m.group(1)} {m.group(2)}"
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    want, got = read(sys.argv[1]), read(sys.argv[2])
    problems = []
    if not want:
        problems.append("the CSV report is empty")
    elif not got or got[0] != want[0]:
        problems.append(f"header differs: {got[0] if got else None!r} != {want[0]!r}")
    else:
        header = want[0]
        if len(got) != len(want):
            problems.append(f"{len(got) - 1} lines in the spreadsheet, {len(want) - 1} in the CSV")
        for r, (wrow, grow) in enumerate(zip(want[1:], got[1:]), start=2):
            grow = grow + [""] * (len(wrow) - len(grow))  # trailing empty cells
            if len(grow) != len(wrow):
                problems.append(f"row {r}: {len(grow)} cells, the CSV has {len(wrow)}")
                continue
            for c, (w, g) in enumerate(zip(wrow, grow)):
                e = expected_cell(header[c], w)
                if e is None:
                    problems.append(f"row {r} {header[c]}: the CSV's {w!r} is no ISO time")
                elif g != e:
                    problems.append(f"row {r} {header[c]}: spreadsheet {g!r}, CSV {w!r}")
    for p in problems:
        print(f"FAIL {sys.argv[2]}: {p}")
    if not problems:
        print(f"ok {sys.argv[2]} ({len(want) - 1} lines, {len(want[0])} columns)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
