#!/usr/bin/env python3
"""baseline.py - the report a site might write instead of aodreport.

The benchmark's yardstick (tests/bench/run.sh): read the stored AuditEvents
straight from the store with psycopg2, parse each JSON document and write a
CSV with the first 17 columns of aodreport's CSV (doc/csv.md), one line per
audit record: no de-duplication, no classification, no masking, no
templates.  It is deliberately the obvious script, not a tuned one: a plain
client-side cursor (psycopg2 fetches the whole result before the first row),
json.loads and csv.writer.

    baseline.py --patient KEY [--patient KEY ...] --from TS --to TS -o FILE
    baseline.py --from TS --to TS --out-dir DIR      one CSV per patient key

The connection comes from the PG* environment, as aodreport's does.
"""

import argparse
import csv
import json
import os
import sys

import psycopg2

COLUMNS = ["when", "when_end", "who", "role", "organisation", "recipient_address", "action",
           "action_code", "data", "data_kinds", "where", "why", "purpose_code", "outcome", "count",
           "first_date", "last_date"]

ACTIONS = {"C": "created", "R": "viewed", "U": "changed", "D": "deleted", "E": "ran"}

# The same rows the floor query of run.sh reads: the patient's stored
# AuditEvents, through aod.event_patient, in time order.
PATIENT_SQL = """
SELECT a.resource::text FROM aod.audit_event a
WHERE a.id IN (SELECT event_id FROM aod.event_patient
               WHERE patient_key = ANY (%s) AND recorded >= %s AND recorded < %s)
ORDER BY a.recorded, a.id"""

MONTH_SQL = """
SELECT ep.patient_key, a.resource::text
FROM aod.event_patient ep JOIN aod.audit_event a ON a.id = ep.event_id
WHERE ep.recorded >= %s AND ep.recorded < %s
ORDER BY ep.patient_key, ep.recorded, ep.event_id"""


def first_coding(cc):
    """A Coding, or the first coding of a CodeableConcept (R4 and R5 shapes)."""
    if isinstance(cc, list):
        cc = cc[0] if cc else None
    if not isinstance(cc, dict):
        return {}
    if "coding" in cc:
        codings = cc.get("coding") or [{}]
        c = dict(codings[0])
        c.setdefault("display", cc.get("text"))
        return c
    return cc


def ref_text(ref):
    if not isinstance(ref, dict):
        return ""
    ident = ref.get("identifier") or {}
    return ref.get("display") or ref.get("reference") or ident.get("value") or ""


def row_of(ev):
    agents = ev.get("agent") or []
    who = next((a for a in agents if a.get("requestor")), agents[0] if agents else {})
    role = first_coding(who.get("role") or who.get("type"))
    purpose = first_coding(who.get("purposeOfUse") or ev.get("purposeOfEvent")
                           or ev.get("authorization"))
    entities = ev.get("entity") or []
    kinds, described = [], []
    for e in entities:
        ref = (e.get("what") or {}).get("reference") or ""
        if "/" in ref:
            kinds.append(ref.split("/")[0])
        if e.get("description"):
            described.append(e["description"])
    outcome = ev.get("outcome")
    if isinstance(outcome, dict):  # R5: a CodeableConcept-like object
        outcome = first_coding(outcome.get("code")).get("code", "")
    period = ev.get("period") or ev.get("occurredPeriod") or {}
    when = period.get("start") or ev.get("occurredDateTime") or ev.get("recorded", "")
    source = ev.get("source") or {}
    org = (who.get("who") or {}).get("display", "") if who.get("requestor") else ""
    return [when, period.get("end", ""), ref_text(who.get("who")), role.get("display") or
            role.get("code") or "", org, "", ACTIONS.get(ev.get("action"), ""),
            ev.get("action") or "", "; ".join(described), " ".join(kinds),
            source.get("site") or ref_text(source.get("observer")),
            purpose.get("display") or purpose.get("code") or "", purpose.get("code") or "",
            "completed" if outcome in ("0", "success") else (outcome or ""), "1",
            ev.get("recorded", ""), ev.get("recorded", "")]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patient", action="append", default=[])
    ap.add_argument("--from", dest="start", required=True)
    ap.add_argument("--to", dest="end", required=True)
    ap.add_argument("-o", "--output")
    ap.add_argument("--out-dir")
    opts = ap.parse_args()
    conn = psycopg2.connect("")
    cur = conn.cursor()
    if opts.patient:
        cur.execute(PATIENT_SQL, (opts.patient, opts.start, opts.end))
        with open(opts.output, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for (text,) in cur:
                w.writerow(row_of(json.loads(text)))
    else:
        cur.execute(MONTH_SQL, (opts.start, opts.end))
        os.makedirs(opts.out_dir, exist_ok=True)
        key, f, w, n = None, None, None, 0
        for patient_key, text in cur:
            if patient_key != key:
                if f:
                    f.close()
                key, n = patient_key, n + 1
                f = open(os.path.join(opts.out_dir, "patient-%06d.csv" % n), "w", newline="",
                         encoding="utf-8")
                w = csv.writer(f)
                w.writerow(COLUMNS)
            w.writerow(row_of(json.loads(text)))
        if f:
            f.close()
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
