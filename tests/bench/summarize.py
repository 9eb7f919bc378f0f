#!/usr/bin/env python3
"""summarize.py - the benchmark's table, from what tests/bench/run.sh measured.

    summarize.py RESULTS.tsv MACHINE.tsv [--write FILE]

RESULTS.tsv: name, round, seconds (or "failed"), peak RSS in KiB, rows.
MACHINE.tsv: key, value (the scale, the machine, the versions).
Prints the table as Markdown; with --write, puts it into FILE between the
lines "<!-- bench:begin -->" and "<!-- bench:end -->" (the rest of FILE, the
prose, stays as it is; a missing FILE or missing markers are created).
Python 3 standard library only.
"""

import argparse
import os
import statistics
import sys
import time

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

# name -> (what it is, the floor and the baseline it is compared with)
ROWS = [
    ("floor.patient", "floor: psql COPY of the patient's stored AuditEvents", None),
    ("baseline.patient", "baseline: Python + psycopg2 + json.loads + csv", None),
    ("report.csv.disclosures", "report CSV, disclosures", "patient"),
    ("report.csv.access", "report CSV, access", "patient"),
    ("report.pdf.disclosures", "report PDF, disclosures", "patient"),
    ("report.pdf.access", "report PDF, access (sessions)", "patient"),
    ("report.bundle-json.disclosures", "report Bundle JSON, disclosures", "patient"),
    ("report.bundle-json.access", "report Bundle JSON, access", "patient"),
    ("report.html.disclosures", "report HTML, disclosures", "patient"),
    ("report.html.access", "report HTML, access", "patient"),
    ("report.xlsx.disclosures", "report XLSX, disclosures", "patient"),
    ("report.xlsx.access", "report XLSX, access", "patient"),
    ("report.burst", "report CSV, access: one patient's burst at one instant (issue 15)", None),
    ("report.privacy.flags-off", "privacy-office CSV, access, no access flag (issue 19)", "patient"),
    ("report.privacy.flags-on",
     "privacy-office CSV, access, every access flag on, roster read (issue 19)", "patient"),
    ("floor.month", "floor: psql COPY of the month's stored AuditEvents", None),
    ("baseline.month", "baseline: Python, one CSV per patient key", None),
    ("batch.csv", "batch --formats csv", "month"),
    ("batch.pdf", "batch --formats csv,pdf", "month"),
]

MIB = 1024.0


def load(path):
    runs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            parts += [""] * (5 - len(parts))
            name, rnd, secs, rss, extra = parts[:5]
            runs.setdefault(name, []).append((secs, rss, extra))
            runs.setdefault(name + "#rounds", []).append((rnd, (secs, rss, extra)))
    return runs


def stats(runs, name):
    """(median s, min s, max s, max RSS MiB, failures) or None."""
    got = runs.get(name)
    if not got:
        return None
    ok = [(float(s), int(r) if r else 0) for s, r, _ in got if s != "failed"]
    failed = len(got) - len(ok)
    if not ok:
        return (None, None, None, None, failed, 0)
    secs = [s for s, _ in ok]
    return (statistics.median(secs), min(secs), max(secs), max(r for _, r in ok) / MIB, failed,
            len(ok))


def per_round_ratio(runs, name, ref):
    """The median over rounds of name's time divided by ref's time in the same
    round: on a noisy machine a round's rows share its noise."""
    mine = {r: float(s) for r, (s, _, _) in rounds(runs, name)}
    other = {r: float(s) for r, (s, _, _) in rounds(runs, ref)}
    both = [mine[r] / other[r] for r in mine if r in other and other[r] > 0]
    return statistics.median(both) if both else None


def rounds(runs, name):
    return [(r, v) for r, v in runs.get(name + "#rounds", []) if v[0] != "failed"]


def fmt_s(v):
    return "-" if v is None else ("%.3f" % v if v < 10 else "%.1f" % v)


def fmt_x(v):
    return "-" if v is None else "%.2fx" % v


def verdict(ok):
    return "met" if ok else "**missed**"


def table(runs, machine):
    out = []
    w = out.append
    w("Measured %s UTC by `make bench` (tests/bench/run.sh)." %
      time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
    w("")
    w("| | |")
    w("|---|---|")
    for key, label in (("scale", "data"), ("patient_rows", "Patient/big-1 (3 keys)"),
                       ("burst", "burst"),
                       ("month", "month"), ("cpu", "CPU"), ("memory", "memory"), ("os", "system"),
                       ("aodreport", "program"), ("postgresql", "PostgreSQL"),
                       ("settings", "server settings"), ("libs", "libraries"),
                       ("python", "baseline")):
        if key in machine:
            v = machine[key]
            if key == "patient_rows":
                v += " stored AuditEvents"
            w("| %s | %s |" % (label, v.replace("|", "\\|")))
    w("")

    load_s = stats(runs, "load")
    events = int(runs["load"][0][2]) if runs.get("load") and runs["load"][0][2] else 0
    rate = events / load_s[0] if load_s and load_s[0] else None
    maint = stats(runs, "maintenance")
    floor_s = stats(runs, "load.floor")
    load_x = load_s[0] / floor_s[0] if load_s and floor_s and floor_s[0] else None
    w("| load | time | events/s | x floor | peak RSS |")
    w("|---|---|---|---|---|")
    if floor_s:
        w("| floor: `\\copy` of the same lines into a one-column jsonb table | %s s | %.0f | - | %.0f MiB |" %
          (fmt_s(floor_s[0]), events / floor_s[0] if floor_s[0] else 0, floor_s[3] or 0))
    if load_s:
        w("| `aodreport load`, %d events, one file, empty store | %s s | %s | %s | %.0f MiB |" %
          (events, fmt_s(load_s[0]), "%.0f" % rate if rate else "failed",
           "%.2fx" % load_x if load_x else "-", load_s[3] or 0))
    if maint:
        w("| then CLUSTER event_patient + VACUUM ANALYZE (doc/store.md) | %s s | | | |" %
          fmt_s(maint[0]))
    w("")

    base = {}
    for kind in ("patient", "month"):
        f, b = stats(runs, "floor." + kind), stats(runs, "baseline." + kind)
        base[kind] = (f[0] if f else None, b[0] if b else None)

    w("Times are wall-clock seconds: the median of the runs, and the spread (fastest - "
      "slowest).  A report's ratio is the median over the rounds of its time divided by the "
      "floor's (or the baseline's) time in the same round, so that a round's rows share the "
      "machine's noise; the batch runs after the rounds, each run right after a floor run of "
      "its own, and its ratio is the median of its time divided by that floor's (against the "
      "baseline: by the rounds' median).  Below 1 is faster.")
    w("")
    shard = machine.get("pdf_shard", "")
    w("| measurement | runs | median s | spread s | x floor | x baseline | peak RSS MiB |")
    w("|---|---|---|---|---|---|---|")
    result = {}
    for name, label, kind in ROWS:
        st = stats(runs, name)
        if st is None:
            if name.startswith("batch."):
                w("| %s | | not yet available | | | | |" % label)
            continue
        med, lo, hi, rss, failed, n = st
        if med is None:
            w("| %s | %d | failed | | | | |" % (label, failed))
            continue
        fx = bx = None
        if name.startswith("batch.") and machine.get("batch_jobs"):
            label += " --jobs %s" % machine["batch_jobs"]
        if name == "batch.pdf" and shard:
            label += " (patients of shard %s only)" % shard
            kind = None
        if kind == "patient":
            fx = per_round_ratio(runs, name, "floor.patient")
            bx = per_round_ratio(runs, name, "baseline.patient")
        elif kind == "month":  # the batch runs after the rounds
            # each run right after a floor run of its own (tests/bench/run.sh
            # since issue 18): the median of those ratios; before, and for
            # the baseline, the medians of the rounds
            fx = per_round_ratio(runs, name, "floor.month.batch")
            if fx is None:
                fx = med / base[kind][0] if base[kind][0] else None
            bx = med / base[kind][1] if base[kind][1] else None
        result[name] = (med, fx, bx, rss)
        note = " (%d failed)" % failed if failed else ""
        w("| %s%s | %d | %s | %s - %s | %s | %s | %.1f |" %
          (label, note, n, fmt_s(med), fmt_s(lo), fmt_s(hi), fmt_x(fx), fmt_x(bx), rss))
    w("")

    docs = [int(s) for s, _, _ in runs.get("documents", []) if s not in ("", "failed")]
    w("| target | measured | |")
    w("|---|---|---|")

    def target(label, name, check, shown):
        r = result.get(name)
        if r is None:
            w("| %s | not measured | |" % label)
            return
        w("| %s | %s | %s |" % (label, shown(r), verdict(check(r))))

    for mode in ("disclosures", "access"):
        n = "report.csv." + mode
        target("CSV (%s) <= 0.5x floor" % mode, n, lambda r: r[1] is not None and r[1] <= 0.5,
               lambda r: fmt_x(r[1]))
        target("CSV (%s) >= 5x faster than the baseline" % mode, n,
               lambda r: r[2] is not None and r[2] <= 0.2,
               lambda r: "%.1fx faster" % (1 / r[2]) if r[2] else "-")
        target("CSV (%s) peak RSS < 32 MB" % mode, n, lambda r: r[3] * MIB * 1024 < 32e6,
               lambda r: "%.1f MiB" % r[3])
    target("PDF (access) < 4x floor", "report.pdf.access", lambda r: r[1] is not None and r[1] < 4,
           lambda r: fmt_x(r[1]))
    target("PDF (access) peak RSS < 128 MB", "report.pdf.access",
           lambda r: r[3] * MIB * 1024 < 128e6, lambda r: "%.1f MiB" % r[3])
    for mode in ("disclosures", "access"):
        target("Bundle JSON (%s) < 1.5x floor" % mode, "report.bundle-json." + mode,
               lambda r: r[1] is not None and r[1] < 1.5, lambda r: fmt_x(r[1]))
    flags_x = per_round_ratio(runs, "report.privacy.flags-on", "report.privacy.flags-off")
    if flags_x is None:
        w("| privacy-office CSV, every flag on <= 1.3x no flag | not measured | |")
    else:
        w("| privacy-office CSV, every flag on <= 1.3x no flag | %s | %s |" %
          (fmt_x(flags_x), verdict(flags_x <= 1.3)))
    target("batch CSV < 2x the month's floor", "batch.csv",
           lambda r: r[1] is not None and r[1] < 2, lambda r: fmt_x(r[1]))
    if docs and "batch.pdf" in result:
        n = statistics.median(docs)
        per = result["batch.pdf"][0] / n * 1000
        extra = ""
        if "batch.csv" in result and not shard:
            extra = "; %.1f ms more than the CSV-only run" % (
                (result["batch.pdf"][0] - result["batch.csv"][0]) / n * 1000)
        w("| batch with PDF < 50 ms per patient document | %.1f ms (%d documents%s) | %s |" %
          (per, n, extra, verdict(per < 50)))
    else:
        w("| batch with PDF < 50 ms per patient document | not measured | |")
    if load_x is not None:
        w("| load <= 1.0x the floor (\\copy into one jsonb column) | %.2fx (%.0f events/s) | %s |" %
          (load_x, rate or 0, verdict(load_x <= 1.0)))
    elif rate is not None:
        w("| load <= 1.0x the floor | floor not measured (%.0f events/s) | |" % rate)
    return "\n".join(out) + "\n"


def write(path, text):
    block = "%s\n%s%s\n" % (BEGIN, text, END)
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        new = head + block.rstrip("\n") + tail
    else:
        new = (old or "# Benchmarks\n\n") + ("\n" if old and not old.endswith("\n") else "") + \
              block
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(new)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("machine")
    ap.add_argument("--write")
    opts = ap.parse_args()
    machine = {}
    with open(opts.machine, encoding="utf-8") as f:
        for line in f:
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                machine[k] = v
    text = table(load(opts.results), machine)
    sys.stdout.write(text)
    if opts.write:
        write(opts.write, text)
        sys.stderr.write("summarize.py: table written to %s\n" % opts.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
