#!/usr/bin/env python3
"""generate.py - deterministic synthetic FHIR AuditEvents for aodreport.

Writes an audit store's worth of AuditEvents (R4 mostly, some R5 and R6-ballot)
as NDJSON or as one FHIR Bundle, in roughly the order an audit repository
would receive them.  The same options and seed always give the same bytes.

Patterns follow IHE BALP: client and server recordings of one REST read joined
by an X-Request-Id entity, searches followed by page fetches, creates, updates
and deletes, patient-portal views, failed accesses, logins, batch queries by a
Device, and privacy disclosures (DCM 110106 Export + "disclose") to outside
recipients for legal, public health, research, payment, marketing, law
enforcement, treatment, patient-requested and unrecorded purposes.

Python 3 standard library only.  Run with --help for the options; see
examples/README.md for what the data contains.

Speed: events are plain dicts, but everything shared between events (codings,
device agents, a patient's entity, a user's agent) is encoded to JSON once and
reused ("frozen" fragments), so only the per-event parts go through the JSON
encoder.  The bytes are exactly those of
json.dumps(event, separators=(",", ":"), ensure_ascii=False); --verify checks it.
"""

import argparse
import base64
import bisect
import datetime as dt
import gc
import heapq
import json
import json.encoder
import os
import random
import sys
import time
import uuid

# ---------------------------------------------------------------------------
# JSON: one C encoder, plus a registry of pre-encoded shared fragments
# ---------------------------------------------------------------------------

_encode_str = json.encoder.encode_basestring  # the C version when available


def _no_default(o):
    raise TypeError("not JSON serialisable: %r" % (o,))


if json.encoder.c_make_encoder is not None:
    _c_encoder = json.encoder.c_make_encoder(None, _no_default, _encode_str, None, ":", ",",
                                             False, False, True)

    def enc(o):
        return "".join(_c_encoder(o, 0))
else:  # pragma: no cover - CPython always has the C accelerator
    enc = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False).encode

_FROZEN = {}  # id(object) -> its JSON text; the object is kept alive in _KEEP
_KEEP = []


class _KeyText(dict):
    def __missing__(self, k):
        v = self[k] = _encode_str(k) + ":"
        return v


_KEYS = _KeyText()


def _enc_shallow(d):
    """A dict whose values may be frozen fragments; other values go to the C
    encoder whole."""
    get = _FROZEN.get
    keys = _KEYS
    parts = []
    for k, v in d.items():
        s = get(id(v))
        if s is None:
            s = _encode_str(v) if v.__class__ is str else enc(v)
        parts.append(keys[k] + s)
    return "{" + ",".join(parts) + "}"


def _enc_list(v):
    get = _FROZEN.get
    return "[" + ",".join([get(id(x)) or (_enc_shallow(x) if x.__class__ is dict else enc(x))
                           for x in v]) + "]"


def freeze(o):
    """Registers o (which must never be mutated afterwards) as a shared
    fragment and returns it."""
    if id(o) not in _FROZEN:
        c = o.__class__
        _FROZEN[id(o)] = _enc_shallow(o) if c is dict else (_enc_list(o) if c is list else enc(o))
        _KEEP.append(o)
    return o


freeze(True)
freeze(False)


class _KeyTextComma(dict):
    def __missing__(self, k):
        v = self[k] = "," + _encode_str(k) + ":"
        return v


_KEYS_COMMA = _KeyTextComma()


def encode_event(ev):
    """JSON text of one event, reusing frozen fragments for its values and the
    items of its lists (agents, entities).  Equal to json.dumps(ev,
    separators=(",", ":"), ensure_ascii=False)."""
    get = _FROZEN.get
    keys = _KEYS_COMMA
    parts = []
    add = parts.append
    for k, v in ev.items():
        add(keys[k])
        s = get(id(v))
        if s is None:
            c = v.__class__
            if c is str:
                s = _encode_str(v)
            elif c is list:
                s = "[" + ",".join([get(id(x)) or enc(x) for x in v]) + "]"
            else:
                s = enc(v)
        add(s)
    if not parts:
        return "{}"
    parts[0] = "{" + parts[0][1:]
    add("}")
    return "".join(parts)


# ---------------------------------------------------------------------------
# Code systems and fixed codings (shared, never mutated)
# ---------------------------------------------------------------------------

DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
LIFECYCLE = "http://hl7.org/fhir/iso-21089-lifecycle"
LIFECYCLE_THO = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
BALP_ENTITY = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
OUTCOME_SYS = "http://terminology.hl7.org/CodeSystem/audit-event-outcome"
SCT = "http://snomed.info/sct"
PROV_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SSN_SYS = "urn:oid:2.16.840.1.113883.4.1"
MRN_SYS = "http://hospital.example.org/mrn"
HOSPITAL_DOMAIN = "hospital.example.org"
LOCAL = "http://hospital.example.org/fhir"
STAFF_ROLE_SYS = LOCAL + "/CodeSystem/staff-role"
RECIPIENT_SYS = LOCAL + "/sid/recipient"
USER_SYS = LOCAL + "/sid/user"
LOCAL_PURPOSE_SYS = LOCAL + "/CodeSystem/disclosure-purpose"
EHR_ACTIVITY_SYS = LOCAL + "/CodeSystem/ehr-activity"
AUTHORIZATION_BASE = LOCAL + "/authorization/"
BALP_SD = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."


def coding(system, code, display=None):
    c = {"system": system, "code": code}
    if display is not None:
        c["display"] = display
    return freeze(c)


def cc(*codings, text=None):
    v = {"coding": freeze(list(codings))}
    if text is not None:
        v["text"] = text
    return freeze(v)


# Structural codes carry no display (servers write them by the million);
# codes a person reads in a report (DICOM event, purpose, outcome) do.
T_REST = freeze(coding(EVENT_TYPE, "rest"))
T_EXPORT = freeze(coding(DCM, "110106", "Export"))
T_USER_AUTH = freeze(coding(DCM, "110114", "User Authentication"))
T_PATIENT_RECORD = freeze(coding(DCM, "110110", "Patient Record"))

ST_READ = coding(RESTFUL, "read")
ST_VREAD = coding(RESTFUL, "vread")
ST_SEARCH_TYPE = coding(RESTFUL, "search-type")
ST_CREATE = coding(RESTFUL, "create")
ST_UPDATE = coding(RESTFUL, "update")
ST_DELETE = coding(RESTFUL, "delete")
ST_DISCLOSE = coding(LIFECYCLE, "disclose", "Disclose")
ST_DISCLOSE_THO = coding(LIFECYCLE_THO, "disclose", "Disclose")
ST_LOGIN = coding(DCM, "110122", "Login")
ST_LOGOUT = coding(DCM, "110123", "Logout")
SUB_READ = freeze([ST_READ])
SUB_VREAD = freeze([ST_VREAD])
SUB_SEARCH = freeze([ST_SEARCH_TYPE])
SUB_CREATE = freeze([ST_CREATE])
SUB_UPDATE = freeze([ST_UPDATE])
SUB_DELETE = freeze([ST_DELETE])
SUB_DISCLOSE = freeze([ST_DISCLOSE])
SUB_DISCLOSE_THO = freeze([ST_DISCLOSE_THO])
SUB_LOGIN = freeze([ST_LOGIN])
SUB_LOGOUT = freeze([ST_LOGOUT])
# what the EHR's own access log says a user looked at (one subtype per screen)
CHART_ACTIVITIES = [freeze([coding(EHR_ACTIVITY_SYS, code, display)]) for code, display in (
    ("chart-open", "Chart opened"), ("results-review", "Results review"),
    ("notes-review", "Notes review"), ("medication-list", "Medication list"),
    ("problem-list", "Problem list"), ("imaging-viewer", "Imaging viewer"),
    ("flowsheet", "Flowsheet"), ("orders-review", "Orders review"))]

AG_DEST = cc(coding(DCM, "110152"))
AG_SRC = cc(coding(DCM, "110153"))
AG_APP = cc(coding(DCM, "110150"))
AG_IRCP = cc(coding(PARTICIPATION, "IRCP"))
AG_AUT = cc(coding(PARTICIPATION, "AUT"))
AG_RESP = cc(coding(PARTICIPATION, "RESP", "responsible party"))
AG_CUSTODIAN = cc(coding(SCT, "159541003", "Record keeping/library clerk"))
AG_AUTHORIZER = cc(coding(SCT, "429577009", "Patient advocate"))
AG_SERVER_CUSTODIAN = cc(coding(PROV_PARTICIPANT, "custodian"))

E_PERSON = coding(ENTITY_TYPE, "1")
E_SYSOBJ = coding(ENTITY_TYPE, "2")
E_XREQ = coding(BALP_ENTITY, "XrequestId")
R_PATIENT = coding(OBJECT_ROLE, "1")
R_REPORT = coding(OBJECT_ROLE, "3")
R_DOMAIN = coding(OBJECT_ROLE, "4")
R_SECURITY = coding(OBJECT_ROLE, "13")
R_QUERY = coding(OBJECT_ROLE, "24")
XREQ_CC = cc(E_XREQ)
ROLE_CC = {id(r): cc(r) for r in (R_PATIENT, R_REPORT, R_DOMAIN, R_SECURITY, R_QUERY)}
R_PATIENT_CC = ROLE_CC[id(R_PATIENT)]
DETAIL_DESCRIPTION = freeze({"text": "description"})

SRC_USER_DEVICE = freeze([coding(SOURCE_TYPE, "1")])
SRC_DATA_IF = freeze([coding(SOURCE_TYPE, "2")])
SRC_WEB = freeze([coding(SOURCE_TYPE, "3")])
SRC_APP = freeze([coding(SOURCE_TYPE, "4")])
SRC_SECURITY = freeze([coding(SOURCE_TYPE, "6")])

OUTCOME_CODING = {
    "0": coding(OUTCOME_SYS, "0", "Success"),
    "4": coding(OUTCOME_SYS, "4", "Minor failure"),
    "8": coding(OUTCOME_SYS, "8", "Serious failure"),
    "12": coding(OUTCOME_SYS, "12", "Major failure"),
}
OUTCOME_R5 = {k: freeze({"code": v}) for k, v in OUTCOME_CODING.items()}

LABEL_R = coding(CONFIDENTIALITY, "R", "restricted")
LABEL_PSY = coding(ACT_CODE, "PSY", "psychiatry information sensitivity")
LABEL_HIV = coding(ACT_CODE, "HIV", "HIV/AIDS information sensitivity")
LABEL_ETH = coding(ACT_CODE, "ETH", "substance abuse information sensitivity")

PURPOSE = {
    "TREAT": cc(coding(ACT_REASON, "TREAT", "treatment")),
    "ETREAT": cc(coding(ACT_REASON, "ETREAT", "emergency treatment")),
    "HPAYMT": cc(coding(ACT_REASON, "HPAYMT", "healthcare payment")),
    "HOPERAT": cc(coding(ACT_REASON, "HOPERAT", "healthcare operations")),
    "HMARKT": cc(coding(ACT_REASON, "HMARKT", "healthcare marketing")),
    "HRESCH": cc(coding(ACT_REASON, "HRESCH", "healthcare research")),
    "PUBHLTH": cc(coding(ACT_REASON, "PUBHLTH", "public health")),
    "HLEGAL": cc(coding(ACT_REASON, "HLEGAL", "legal")),
    "PATRQT": cc(coding(ACT_REASON, "PATRQT", "patient requested")),
    "LAWENF": cc(coding(LOCAL_PURPOSE_SYS, "LAWENF", "law enforcement request"),
                 text="Law enforcement request"),
}
PURPOSE_LIST = {k: freeze([v]) for k, v in PURPOSE.items()}

PROFILE = {k: freeze({"profile": [BALP_SD + k]}) for k in (
    "PatientRead", "PatientQuery", "PrivacyDisclosure.Source")}

SITE = HOSPITAL_DOMAIN
HOSPITAL_NAME = "St. Example Hospital"
HOSPITAL_REF = freeze({"reference": "Organization/st-example-hospital", "display": HOSPITAL_NAME})

# ---------------------------------------------------------------------------
# The world: devices, workforce, recipients, patients
# ---------------------------------------------------------------------------

DEVICES = {
    "ehr-client": "Example EHR Clinical Workstation",
    "ehr-core": "Example EHR Core Application",
    "fhir-server": "St. Example Hospital FHIR Server",
    "patient-portal": "St. Example Patient Portal",
    "roi-system": "Release of Information Workbench",
    "ph-interface": "Public Health Reporting Interface",
    "quality-engine": "Quality Measures Batch Engine",
    "idp": "St. Example Identity Provider",
}
DEV = {k: freeze({"reference": "Device/" + k, "display": v}) for k, v in DEVICES.items()}
DEV_BARE = {k: freeze({"reference": "Device/" + k}) for k in DEVICES}

SERVER_NET = freeze({"address": "fhir." + HOSPITAL_DOMAIN, "type": "1"})
SERVER_AS_SRC = freeze({"type": AG_SRC, "who": DEV_BARE["fhir-server"], "requestor": False,
                        "network": SERVER_NET})
SERVER_AS_DEST = freeze({"type": AG_DEST, "who": DEV_BARE["fhir-server"], "requestor": False,
                         "network": SERVER_NET})
SERVER_AS_CUSTODIAN = freeze({"type": AG_SERVER_CUSTODIAN, "who": DEV_BARE["fhir-server"],
                              "requestor": False, "network": SERVER_NET})

SOURCE_SERVER = freeze({"site": SITE, "observer": DEV_BARE["fhir-server"], "type": SRC_APP})
SOURCE_CLIENT = freeze({"site": SITE, "observer": DEV["ehr-client"], "type": SRC_USER_DEVICE})
SOURCE_PORTAL = freeze({"site": SITE, "observer": DEV["patient-portal"], "type": SRC_WEB})
SOURCE_ROI = freeze({"site": SITE, "observer": DEV["roi-system"], "type": SRC_APP})
SOURCE_PH = freeze({"site": SITE, "observer": DEV["ph-interface"], "type": SRC_DATA_IF})
SOURCE_IDP = freeze({"site": SITE, "observer": DEV["idp"], "type": SRC_SECURITY})
SOURCE_EHR = freeze({"site": SITE, "observer": DEV["ehr-core"], "type": SRC_APP})

ROI_AGENT = freeze({"type": AG_SRC, "who": DEV_BARE["roi-system"], "requestor": False,
                    "network": {"address": "roi." + HOSPITAL_DOMAIN, "type": "1"}})
ROI_AGENT_REQ = freeze(dict(ROI_AGENT, requestor=True))
PH_AGENT = freeze({"type": AG_SRC, "who": DEV_BARE["ph-interface"], "requestor": True,
                   "network": {"address": "phi-gw." + HOSPITAL_DOMAIN, "type": "1"}})
CUSTODIAN_AGENT = freeze({"type": AG_CUSTODIAN, "who": HOSPITAL_REF, "requestor": False})
QUALITY_AGENT = freeze({"type": AG_SRC, "who": DEV_BARE["quality-engine"], "requestor": True,
                        "network": {"address": "batch01." + HOSPITAL_DOMAIN, "type": "1"},
                        "purposeOfUse": PURPOSE_LIST["HOPERAT"]})
IDP_AGENT = freeze({"type": AG_DEST, "who": DEV_BARE["idp"], "requestor": False,
                    "network": {"address": "sso." + HOSPITAL_DOMAIN, "type": "1"}})
PORTAL_AGENTS = {}  # client network address -> frozen agent, filled on use

UNITS = {
    # key: (display, workstation prefix)
    "cardiology": ("Cardiology", "card"),
    "emergency": ("Emergency", "ed"),
    "internal-medicine": ("Internal Medicine", "im"),
    "oncology": ("Oncology", "onc"),
    "pediatrics": ("Pediatrics", "peds"),
    "radiology": ("Radiology", "rad"),
    "him": ("Health Information Management", "him"),
    "pfs": ("Patient Financial Services", "pfs"),
    "registration": ("Registration", "reg"),
    "it": ("IT Services", "it"),
}

ROLES = {
    "physician": "Physician",
    "nurse": "Nurse",
    "clerk": "Clerk",
    "it": "IT staff",
}

# id, given names, family name, role, unit, login
WORKFORCE = [
    ("pr-1001", "Amélie", "Fontaine-Roux", "physician", "cardiology", "afontaine"),
    ("pr-1002", "Γεώργιος", "Αλεξίου", "physician", "cardiology", "galexiou"),
    ("pr-1003", "Ольга Петровна", "Смирнова", "physician", "internal-medicine", "osmirnova"),
    ("pr-1004", "Łukasz", "Wróbel", "physician", "emergency", "lwrobel"),
    ("pr-1005", "Chloé", "Dubois", "physician", "emergency", "cdubois"),
    ("pr-1006", "Miroslav", "Dvořák", "physician", "oncology", "mdvorak"),
    ("pr-1007", "Maria Magdalena Alexandrina Wilhelmina",
     "von Hohenstein-Lichtenberg zu Schwarzenfeld-Oberhausen", "physician", "radiology", "mvonhohenstein"),
    ("pr-1008", "Zoë", "Ñúñez-García", "physician", "pediatrics", "znunez"),
    ("pr-1009", "Michael", "O'Brien", "physician", "internal-medicine", "mobrien"),
    ("pr-1010", "Björn", "Åkesson", "physician", "cardiology", "bakesson"),
    ("pr-1011", "Μαρία", "Ιωάννου", "nurse", "cardiology", "mioannou"),
    ("pr-1012", "Сергей", "Волков", "nurse", "emergency", "svolkov"),
    ("pr-1013", "Ingrid", "Öberg", "nurse", "cardiology", "ioberg"),
    ("pr-1014", "François", "Lefèvre", "nurse", "internal-medicine", "flefevre"),
    ("pr-1015", "Ana Lúcia", "Gonçalves", "nurse", "emergency", "agoncalves"),
    ("pr-1016", "Олена", "Шевчук", "nurse", "oncology", "oshevchuk"),
    ("pr-1017", "Çağla", "Yılmaz", "nurse", "pediatrics", "cyilmaz"),
    ("pr-1018", "Ευάγγελος", "Δημητρίου", "nurse", "internal-medicine", "edimitriou"),
    ("pr-1019", "Siobhán", "Ní Bhriain", "nurse", "radiology", "snibhriain"),
    ("pr-1020", "Mary-Kate", "Johnson", "nurse", "emergency", "mjohnson"),
    ("pr-1021", "Dagný", "Þórsdóttir", "clerk", "him", "dthorsdottir"),
    ("pr-1022", "Renée", "Castellanos", "clerk", "him", "rcastellanos"),
    ("pr-1023", "Павел", "Николаев", "clerk", "pfs", "pnikolaev"),
    ("pr-1024", "Jürgen", "Weiß", "clerk", "pfs", "jweiss"),
    ("pr-1025", "Αικατερίνη", "Παππά", "clerk", "registration", "kpappa"),
    ("pr-1026", "Tomás", "Ó Súilleabháin", "clerk", "registration", "tosuilleabhain"),
    ("pr-1027", "Nadia", "El-Amin", "it", "it", "nelamin"),
    ("pr-1028", "Håkon", "Bjørnstad", "it", "it", "hbjornstad"),
    ("pr-1029", "Виктор", "Кравченко", "it", "it", "vkravchenko"),
    ("pr-1030", "Ngozi", "Okonkwo-Adébáyọ̀", "physician", "oncology", "nokonkwo"),
]

# Outside recipients of disclosures.  key -> fields; "address" None = not known.
RECIPIENTS = {
    "law-firm": dict(
        id="dewey-partners", name="Dewey & Partners LLP", ident="ROI-LAW-0042",
        network=("records.dewey-law.example", "1"),
        address="1200 Harbor Street, Suite 400, Springfield, IL 62701, USA",
        purpose="HLEGAL", requestor=True, via="roi",
        data=[("DocumentReference", "Medical records produced under subpoena: discharge summaries"),
              ("DiagnosticReport", "Imaging reports requested under subpoena")]),
    "public-health": dict(
        id="springfield-dph", name="Springfield County Department of Public Health",
        ident="ROI-PH-0007", network=("https://elr.springfield-health.example/fhir", "5"),
        address="50 Civic Center Plaza, Springfield, IL 62701, USA",
        purpose="PUBHLTH", requestor=False, via="ph",
        data=[("DiagnosticReport", "Electronic laboratory report of a reportable result")]),
    "immunization-registry": dict(
        id="state-iis", name="State Immunization Information System", ident="ROI-PH-0012",
        network=("https://iis.health.state.example/fhir", "5"),
        address="535 West Jefferson Street, Springfield, IL 62761, USA",
        purpose="PUBHLTH", requestor=False, via="ph",
        data=[("Immunization", "Immunization record update")]),
    "research": dict(
        id="northfield-cvs", name="Northfield University Cardiovascular Outcomes Study",
        ident="ROI-RES-0003", network=("sftp.research.northfield-university.example", "1"),
        address="3 College Road, Northfield, MN 55057, USA",
        purpose="HRESCH", requestor=True, via="roi",
        data=[("DocumentReference", "Study data extract: echocardiogram measurements and lipid panels")]),
    "insurer": dict(
        id="acme-mutual", name="Acme Mutual Health Insurance Co.", ident="ROI-PAY-0019",
        network=("https://claims.acme-mutual.example/attachments", "5"),
        address="1 Insurance Plaza, Hartford, CT 06103, USA",
        purpose="HPAYMT", requestor=True, via="roi",
        data=[("DocumentReference", "Claim attachment: operative note and itemised bill")]),
    "marketing": dict(
        id="brightpath", name="BrightPath Marketing Partners", ident="ROI-MKT-0002",
        network=("ingest.brightpath-marketing.example", "1"), address=None,
        purpose="HMARKT", requestor=False, via="roi",
        data=[("Appointment", "Contact details and appointment history")]),
    "law-enforcement": dict(
        id="springfield-pd", name="Springfield Police Department", ident="ROI-LE-0005",
        network=("evidence.springfield-pd.example", "1"),
        address="300 Justice Way, Springfield, IL 62702, USA",
        purpose="LAWENF", requestor=True, via="roi",
        data=[("DocumentReference", "Emergency department visit record and toxicology result")]),
    "home-care": dict(
        id="athome-nursing", name="@Home Nursing Services, Inc.", ident="ROI-HC-0011",
        network=("intake.athome-nursing.example", "1"),
        address="88 Elm Street, Springfield, IL 62704, USA",
        purpose=None, requestor=True, via="roi",
        data=[("DocumentReference", "Discharge summary and medication list")]),
    "referral": dict(
        id="riverside-cardiology", name="Riverside Cardiology Associates", ident="ROI-TX-0021",
        network=("https://fhir.riverside-cardiology.example/r4", "5"),
        address="410 River Road, Springfield, IL 62703, USA",
        purpose="TREAT", requestor=True, via="roi",
        data=[("DocumentReference", "Referral packet: ECG, echocardiogram report and medication list")]),
    "patient": dict(
        id=None, name=None, ident=None, network=None, address=None,
        purpose="PATRQT", requestor=True, via="roi",
        data=[("DocumentReference", "Copy of the medical record requested by the patient")]),
}

# Background disclosure mix (recipient key, weight)
DISCLOSURE_MIX = [
    ("public-health", 30), ("immunization-registry", 10), ("insurer", 20), ("referral", 15),
    ("law-firm", 6), ("research", 8), ("marketing", 3), ("law-enforcement", 3),
    ("home-care", 5), ("patient", 5),
]

# The named example patients: id, given, family, gender, birth date
EXAMPLE_PATIENTS = [
    ("example-1", "José", "Müller-Ødegård", "male", "1961-04-17"),
    ("example-2", "Ελένη", "Παπαδοπούλου", "female", "1984-09-02"),
    ("example-3", "Дмитрий Иванович", "Соколов", "male", "1947-12-25"),
    ("example-4", "Νικόλαος", "Κωνσταντινίδης", "male", "2009-06-30"),
    ("example-5", "Анна Сергеевна", "Кузнецова", "female", "1972-02-14"),
]
BIG_PATIENT = ("big-1", "Åsa", "Lindqvist-Nakamura", "female", "1955-08-08")

GIVEN = ["Anna", "Ben", "Carla", "Dário", "Elif", "Farah", "Gustav", "Hana", "Ivo", "Jana",
         "Kai", "Lúcia", "Mateo", "Nora", "Oskar", "Paula", "Quentin", "Rosa", "Søren", "Tereza",
         "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zofia", "Αλέξανδρος", "Σοφία", "Иван",
         "Мария", "Noé", "Maëlle", "Jiří", "Ilse", "Tomás", "Aoife", "Lena", "Marek", "Óscar"]
FAMILY = ["Andersen", "Becker", "Costa", "Dąbrowski", "Eriksson", "Ferreira", "García",
          "Horváth", "Ivanova", "Jansen", "Kowalski", "Laurent", "Moreau", "Novák", "Olsen",
          "Petrović", "Quinn", "Rossi", "Schneider", "Tanaka", "Ünal", "Varga", "Walsh",
          "Xu", "Young", "Zimmermann", "Παπαδάκης", "Νικολάου", "Петров", "Смирнова",
          "Lefebvre", "Müller", "Kovačić", "Ó Briain", "Sørensen", "Łukaszewicz"]

# What a user reads: resource type -> (id prefix, [(display, security labels or None)])
DATA = {
    "Observation": ("obs", [("Hemoglobin A1c", None), ("Lipid panel", None), ("Blood pressure", None),
                            ("Heart rate", None), ("Serum potassium", None), ("Body weight", None),
                            ("HIV-1/2 antibody screen", [LABEL_R, LABEL_HIV]), ("Troponin I", None)]),
    "DiagnosticReport": ("dr", [("Echocardiogram report", None), ("Chest X-ray report", None),
                                ("Complete blood count", None), ("Basic metabolic panel", None),
                                ("CT abdomen report", None)]),
    "MedicationRequest": ("mr", [("Atorvastatin 40 mg tablet", None), ("Metoprolol 25 mg tablet", None),
                                 ("Apixaban 5 mg tablet", None), ("Buprenorphine 8 mg film",
                                                                  [LABEL_R, LABEL_ETH])]),
    "DocumentReference": ("doc", [("Discharge summary", None), ("Progress note", None),
                                  ("Cardiology consultation note", None), ("Operative note", None),
                                  ("Psychiatry consultation note", [LABEL_R, LABEL_PSY])]),
    "Condition": ("cond", [("Atrial fibrillation", None), ("Type 2 diabetes mellitus", None),
                           ("Essential hypertension", None)]),
    "Encounter": ("enc", [("Inpatient stay", None), ("Emergency visit", None), ("Outpatient visit", None)]),
    "AllergyIntolerance": ("alg", [("Penicillin allergy", None)]),
    "Immunization": ("imm", [("Influenza vaccine", None), ("COVID-19 vaccine", None)]),
    "MedicationAdministration": ("ma", [("Heparin infusion", None), ("Paracetamol 1 g", None)]),
    "Coverage": ("cov", [("Insurance coverage", None)]),
    "Claim": ("clm", [("Inpatient claim", None), ("Outpatient claim", None)]),
    "ExplanationOfBenefit": ("eob", [("Explanation of benefit", None)]),
    "Account": ("acct", [("Patient account", None)]),
    "Appointment": ("appt", [("Cardiology follow-up appointment", None)]),
    "Patient": (None, None),
}


def weighted(pairs):
    """[(value, weight)] -> (values, cumulative weights) for rng.choices."""
    vals, cum, s = [], [], 0.0
    for v, w in pairs:
        s += w
        vals.append(v)
        cum.append(s)
    return vals, cum


DATA_BY_KIND = {
    "physician": weighted([("Observation", 30), ("DiagnosticReport", 18), ("MedicationRequest", 12),
                           ("DocumentReference", 16), ("Condition", 8), ("Patient", 8),
                           ("Encounter", 5), ("AllergyIntolerance", 3)]),
    "nurse": weighted([("Observation", 40), ("MedicationAdministration", 15), ("MedicationRequest", 10),
                       ("Patient", 12), ("DocumentReference", 8), ("AllergyIntolerance", 5),
                       ("Encounter", 5), ("Immunization", 5)]),
    "him": weighted([("DocumentReference", 50), ("Encounter", 25), ("Patient", 15),
                     ("DiagnosticReport", 10)]),
    "pfs": weighted([("Claim", 35), ("Coverage", 20), ("ExplanationOfBenefit", 15), ("Account", 15),
                     ("Encounter", 10), ("Patient", 5)]),
    "registration": weighted([("Patient", 45), ("Coverage", 25), ("Appointment", 20), ("Encounter", 10)]),
    "it": weighted([("Patient", 50), ("Observation", 20), ("DocumentReference", 20), ("Encounter", 10)]),
}

# Search strings by data kind: (resource type, parameters after the patient parameter)
SEARCHES = {
    "physician": [("Observation", "category=laboratory&_sort=-date&_count=50"),
                  ("DiagnosticReport", "_sort=-date&_count=20"),
                  ("MedicationRequest", "status=active&_count=50"),
                  ("DocumentReference", "type=http://loinc.org|18842-5&_count=20"),
                  ("Condition", "clinical-status=active")],
    "nurse": [("Observation", "category=vital-signs&_sort=-date&_count=100"),
              ("MedicationAdministration", "_sort=-effective-time&_count=50"),
              ("AllergyIntolerance", "clinical-status=active")],
    "him": [("DocumentReference", "_sort=-date&_count=100"), ("Encounter", "_count=50")],
    "pfs": [("Claim", "_sort=-created&_count=20"), ("Coverage", "status=active")],
    "registration": [("Appointment", "date=ge2024-01-01&_count=20"), ("Coverage", "status=active")],
    "it": [("Observation", "_count=10"), ("DocumentReference", "_count=10")],
}

BATCH_QUERIES = [
    ("Observation", "code=http://loinc.org|4548-4&date=ge{year}-01-01&_count=500"),
    ("Condition", "code=http://snomed.info/sct|44054006&_count=500"),
    ("Encounter", "class=IMP&date=ge{year}-01-01&_count=500"),
    ("MedicationRequest", "status=active&_count=500"),
]

FAILURES = [
    ("8", "403 Forbidden: user has no care relationship with the patient"),
    ("8", "403 Forbidden: access to restricted record requires break-the-glass"),
    ("4", "404 Not Found: resource does not exist"),
    ("4", "410 Gone: resource was deleted"),
]




def weighted_pick(rng, table):
    vals, cum = table
    return vals[bisect.bisect_right(cum, rng.random() * cum[-1])]


def ri(rng, a, b):
    """Integer in [a, b): cheaper than randrange, and as deterministic."""
    return a + int(rng.random() * (b - a))


class Practitioner:
    __slots__ = ("id", "name", "given", "family", "role", "unit", "login", "kind",
                 "templates", "clients_dest", "clients_src", "clients_app", "who_full",
                 "role_cc", "location")

    # agent templates (without type and purpose), by variant:
    # 0 client side: reference + display, role, unit location
    # 1 server side: reference + user identifier from the token
    # 2 R4 "named": reference, agent.name and agent.altId, role
    # 3 minimal: reference only (names must come from a directory)
    # 4 no reference at all: agent.name and agent.altId only (R4)
    def __init__(self, pid, given, family, role, unit, login):
        self.id, self.given, self.family = pid, given, family
        self.name = given + " " + family
        self.role, self.unit, self.login = role, unit, login
        self.kind = role if role in ("physician", "nurse", "it") else unit
        ref = "Practitioner/" + pid
        self.role_cc = freeze([cc(coding(STAFF_ROLE_SYS, role, ROLES[role]), text=ROLES[role])])
        unit_name, ws_prefix = UNITS[unit]
        self.location = freeze({"reference": "Location/unit-" + unit, "display": unit_name})
        ident = freeze({"system": USER_SYS, "value": login})
        self.who_full = freeze({"reference": ref, "display": self.name})
        who_ref = freeze({"reference": ref})
        self.templates = [
            {"who": self.who_full, "requestor": True, "role": self.role_cc, "location": self.location},
            {"who": freeze({"reference": ref, "identifier": ident}), "requestor": True},
            {"who": who_ref, "name": self.name, "altId": login, "requestor": True,
             "role": self.role_cc},
            {"who": who_ref, "requestor": True},
            {"name": self.name, "altId": login, "requestor": True},
        ]
        n = int(pid[-2:])
        stations = ["ws-%s-%03d.%s" % (ws_prefix, (n * 7 + k * 13) % 90 + 10, HOSPITAL_DOMAIN)
                    for k in range(3)]
        client = DEV_BARE["ehr-client"]
        nets = [freeze({"address": s, "type": "1"}) for s in stations]
        self.clients_dest = [freeze({"type": AG_DEST, "who": client, "requestor": False, "network": n})
                             for n in nets]
        self.clients_src = [freeze({"type": AG_SRC, "who": client, "requestor": False, "network": n})
                            for n in nets]
        self.clients_app = [freeze({"type": AG_APP, "who": client, "requestor": False, "network": n})
                            for n in nets]


class Patient:
    __slots__ = ("idx", "id", "given", "family", "name", "gender", "birth", "mrn", "ssn",
                 "forms", "entities", "team", "data_ids", "me_agent", "portal_ref")

    def __init__(self, idx, pid, given, family, gender, birth, mrn, ssn):
        self.idx, self.id = idx, pid
        self.given, self.family = given, family
        self.name = given + " " + family
        self.gender, self.birth = gender, birth
        self.mrn, self.ssn = mrn, ssn
        ref = "Patient/" + pid
        mrn_id = freeze({"system": MRN_SYS, "value": mrn})
        ssn_id = freeze({"system": SSN_SYS, "value": ssn})
        # how an event names the patient:
        # 0 reference + MRN identifier + display, 1 reference only,
        # 2 MRN identifier only, 3 SSN identifier only
        self.forms = [freeze({"reference": ref, "identifier": mrn_id, "display": self.name}),
                      freeze({"reference": ref}),
                      freeze({"identifier": mrn_id}),
                      freeze({"identifier": ssn_id})]
        self.entities = [freeze({"what": f, "type": E_PERSON, "role": R_PATIENT}) for f in self.forms]
        self.team = None
        self.data_ids = "p%d" % idx
        self.portal_ref = freeze({"reference": ref, "display": self.name})
        self.me_agent = freeze({"type": AG_IRCP, "who": self.portal_ref, "requestor": True,
                                "purposeOfUse": PURPOSE_LIST["PATRQT"]})


def add_months(d, months):
    y, m = divmod(d.month - 1 + months, 12)
    return d.replace(year=d.year + y, month=m + 1)


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
HOUR_WEIGHT = [0.15, 0.1, 0.1, 0.1, 0.12, 0.2, 0.5, 1.2, 2.2, 2.6, 2.6, 2.4,
               2.0, 2.4, 2.5, 2.3, 2.0, 1.5, 1.0, 0.8, 0.6, 0.45, 0.3, 0.2]
DAY_WEIGHT = [1.0, 1.0, 1.0, 1.0, 0.95, 0.45, 0.4]  # Monday .. Sunday


class Clock:
    """Maps a fraction of the period onto an instant (busier on weekdays and
    in office hours, monotonic) and formats instants as FHIR instants."""

    def __init__(self, start, months):
        self.start_dt = dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc)
        self.end_dt = add_months(self.start_dt, months)
        self.start_ms = int((self.start_dt - EPOCH).total_seconds()) * 1000
        self.end_ms = int((self.end_dt - EPOCH).total_seconds()) * 1000
        self.days = (self.end_dt - self.start_dt).days
        cum, s = [], 0.0
        wd = self.start_dt.weekday()
        for d in range(self.days):
            dw = DAY_WEIGHT[(wd + d) % 7]
            for h in range(24):
                s += dw * HOUR_WEIGHT[h]
                cum.append(s)
        self.cum, self.total = cum, s
        self.day_cache = {}

    def at(self, frac):
        x = frac * self.total
        cum = self.cum
        i = bisect.bisect_right(cum, x)
        if i >= len(cum):
            i = len(cum) - 1
        prev = cum[i - 1] if i else 0.0
        width = cum[i] - prev
        within = (x - prev) / width if width > 0 else 0.0
        if within >= 1.0:
            within = 0.999
        return self.start_ms + i * 3600000 + int(within * 3600000)

    def day_at(self, frac, hour, minute):
        day = min(int(frac * self.days), self.days - 1)
        return self.start_ms + day * 86400000 + hour * 3600000 + minute * 60000

    def fmt(self, ms):
        d, r = divmod(ms, 86400000)
        ds = self.day_cache.get(d)
        if ds is None:
            ds = (EPOCH + dt.timedelta(days=d)).strftime("%Y-%m-%dT")
            self.day_cache[d] = ds
        h, r = divmod(r, 3600000)
        m, r = divmod(r, 60000)
        s, ms3 = divmod(r, 1000)
        return "%s%02d:%02d:%02d.%03dZ" % (ds, h, m, s, ms3)


# ---------------------------------------------------------------------------
# Event building: R4 first; R5 / R6-ballot by conversion
# ---------------------------------------------------------------------------

NO_PATIENT_LABELS = ("login", "login.failed", "logout", "batch.population-query")
SLICE = 20000  # random events per independently seeded slice (part of the output's definition)


class Generator:
    # random episode kinds and their weights (an episode is 1 to 6 events)
    KINDS_PATIENT = [("chart.session", 16), ("read.pair", 30), ("read.server", 18),
                     ("read.vread", 2), ("search", 14), ("create", 7), ("update", 4),
                     ("delete", 0.3), ("portal", 3), ("failed", 2), ("batch.patient", 4),
                     ("disclosure", 2.5)]
    KINDS_NOPATIENT = [("login", 6), ("logout", 2.5), ("batch.population", 1)]

    def __init__(self, opts):
        self.opts = opts
        self.clock = Clock(opts.start, opts.months)
        self.r5 = opts.r5_share
        self.r6 = opts.r6_share
        self.workforce = [Practitioner(*w) for w in WORKFORCE]
        self.by_id = {p.id: p for p in self.workforce}
        self.by_kind = {}
        for p in self.workforce:
            self.by_kind.setdefault(p.kind, []).append(p)
        self.clinicians = [p for p in self.workforce if p.role in ("physician", "nurse")]
        self.deleters = self.by_kind["it"] + self.by_kind["him"]
        self.patients_cache = {}
        self.big = None
        if opts.big_patient_events > 0:
            pid, g, f, sex, b = BIG_PATIENT
            self.big = Patient(0, pid, g, f, sex, b, "1900001", "999-90-0001")
        self.zipf_cum = []
        s = 0.0
        for i in range(1, opts.patients + 1):
            s += 1.0 / (i + 2) ** opts.skew
            self.zipf_cum.append(s)
        self.zipf_total = s
        self.ua_cache = {}
        self.conv_cache = {}
        self.disclosure_mix = weighted(DISCLOSURE_MIX)
        self.kinds_all = weighted(self.KINDS_PATIENT + self.KINDS_NOPATIENT)
        self.kinds_patient = weighted(self.KINDS_PATIENT)

    # -- world lookups --------------------------------------------------------

    def patient(self, i):
        """Patient number i (1-based)."""
        p = self.patients_cache.get(i)
        if p is None:
            if i <= len(EXAMPLE_PATIENTS):
                pid, g, f, sex, b = EXAMPLE_PATIENTS[i - 1]
            else:
                pid = "p%06d" % i
                g = GIVEN[(i * 7) % len(GIVEN)]
                f = FAMILY[(i * 13) % len(FAMILY)]
                sex = "female" if i % 2 else "male"
                b = "%04d-%02d-%02d" % (1930 + i % 85, 1 + i % 12, 1 + i % 28)
            p = Patient(i, pid, g, f, sex, b, "%07d" % (1000000 + i),
                        "999-%02d-%04d" % (i // 10000, i % 10000))
            self.patients_cache[i] = p
        return p

    def pick_patient(self, rng):
        i = bisect.bisect_right(self.zipf_cum, rng.random() * self.zipf_total)
        return self.patient(min(i, len(self.zipf_cum) - 1) + 1)

    def team(self, p):
        """The patient's care team: two physicians and three nurses."""
        if p.team is None:
            r = random.Random(self.opts.seed * 1000003 + p.idx * 31 + (7 if p is self.big else 0))
            p.team = r.sample(self.by_kind["physician"], 2) + r.sample(self.by_kind["nurse"], 3)
        return p.team

    def pick_user(self, p, rng):
        x = rng.random()
        if x < 0.72:
            t = self.team(p)
            return t[int(rng.random() * len(t))]
        if x < 0.84:
            lst = self.clinicians
        elif x < 0.89:
            lst = self.by_kind["him"]
        elif x < 0.93:
            lst = self.by_kind["pfs"]
        elif x < 0.97:
            lst = self.by_kind["registration"]
        else:
            lst = self.by_kind["it"]
        return lst[int(rng.random() * len(lst))]

    @staticmethod
    def pick_purpose(u, rng):
        x = rng.random()
        k = u.kind
        if k == "physician":
            if u.unit == "emergency" and x < 0.15:
                return "ETREAT"
            return "TREAT" if x < 0.91 else ("HOPERAT" if x < 0.94 else None)
        if k == "nurse":
            return "TREAT" if x < 0.9 else ("ETREAT" if x < 0.92 else None)
        if k == "pfs":
            return "HPAYMT" if x < 0.9 else None
        if k == "him":
            return "HOPERAT" if x < 0.85 else None
        if k == "registration":
            return "HOPERAT" if x < 0.7 else ("TREAT" if x < 0.8 else None)
        return "HOPERAT" if x < 0.8 else None

    @staticmethod
    def pick_form(rng):
        x = rng.random()
        if x < 0.5:
            return 0
        if x < 0.8:
            return 1
        if x < 0.92:
            return 2
        return 3

    def data_entity(self, p, u_kind, rng, server_side, rtype=None, role=R_DOMAIN, history=False):
        """(entity or None, resource type).  None when the resource read is the
        Patient itself (the patient entity already says so)."""
        if rtype is None:
            rtype = weighted_pick(rng, DATA_BY_KIND[u_kind])
        prefix, displays = DATA[rtype]
        if prefix is None:
            return None, rtype
        display, labels = displays[int(rng.random() * len(displays))]
        ref = "%s/%s%s-%d" % (rtype, prefix, p.data_ids, ri(rng, 1, 40))
        if history:
            ref += "/_history/%d" % ri(rng, 2, 5)
        if server_side:
            e = {"what": {"reference": ref, "display": display}, "type": E_SYSOBJ, "role": role}
            if labels:
                e["securityLabel"] = labels
        else:
            e = {"what": {"reference": ref}, "type": E_SYSOBJ, "role": role}
        return e, rtype

    @staticmethod
    def xreq_entity(rng):
        return {"what": {"identifier": {"value": "%016x" % rng.getrandbits(64)}}, "type": E_XREQ}

    def user_agent(self, u, agent_type, purpose, rng, side):
        """The human user's agent: a frozen object shared by all events with
        the same user, variant, agent type and purpose."""
        x = rng.random()
        if side == "client":
            variant = 0 if x < 0.85 else 2
        else:
            variant = 1 if x < 0.55 else (3 if x < 0.72 else (2 if x < 0.97 else 4))
        key = (u.id, variant, id(agent_type), purpose)
        a = self.ua_cache.get(key)
        if a is None:
            a = {"type": agent_type}
            a.update(u.templates[variant])
            if purpose:
                a["purposeOfUse"] = PURPOSE_LIST[purpose]
            self.ua_cache[key] = a = freeze(a)
        return a

    def pick_version(self, rng):
        x = rng.random()
        if x < self.r6:
            return 6
        if x < self.r6 + self.r5:
            return 5
        return 4

    # -- version conversion ---------------------------------------------------

    def cached(self, kind, obj, fn):
        """fn(obj), remembered (and frozen) when obj is a frozen fragment."""
        k = id(obj)
        if k not in _FROZEN:
            return fn(obj)
        ck = (kind, k)
        c = self.conv_cache.get(ck)
        if c is None:
            c = self.conv_cache[ck] = freeze(fn(obj))
        return c

    def convert(self, ev, ver, rng, patient_only=None):
        """A new R5 (ver 5) or R6-ballot (ver 6) event built from the R4 one.
        patient_only: True/False forces whether the patient entity is dropped
        (the patient then appears only in AuditEvent.patient)."""
        out = {"resourceType": "AuditEvent", "id": ev["id"]}
        typ = ev["type"]
        subs = ev["subtype"]
        if ver == 5:
            out["category"] = self.cached("cat", subs, lambda s: [{"coding": [typ]}] +
                                          [{"coding": [x]} for x in s[1:]])
            out["code"] = self.cached("code", subs, lambda s: {"coding": [s[0]]})
        else:
            out["type"] = self.cached("type6", typ, lambda t: {"coding": [t]})
            out["subtype"] = self.cached("sub6", subs, lambda s: [{"coding": [x]} for x in s])
        out["action"] = ev["action"]
        oc = ev["outcome"]
        if oc == "8" or oc == "12":
            sev = "error"
        elif oc == "4":
            sev = "warning"
        elif typ is T_EXPORT:
            sev = "notice"
        else:
            sev = "informational"
        if ver == 6 or oc != "0" or typ is T_EXPORT or rng.random() < 0.5:
            out["severity"] = sev
        period = ev.get("period")
        if period is not None:
            out["occurredPeriod"] = period
        elif rng.random() < 0.3:
            out["occurredDateTime"] = ev["recorded"]
        out["recorded"] = ev["recorded"]
        desc = ev.get("outcomeDesc")
        if desc:
            out["outcome"] = {"code": OUTCOME_CODING[oc], "detail": [{"text": desc}]}
        else:
            out["outcome"] = OUTCOME_R5[oc]
        poe = ev.get("purposeOfEvent")
        if poe:
            out["authorization"] = poe
        entities = ev.get("entity", ())
        pat = None
        for e in entities:
            if e.get("role") is R_PATIENT:
                pat = e["what"]
                break
        drop = False
        if pat is not None:
            drop = (rng.random() < 0.35) if patient_only is None else patient_only
        else:
            for a in ev["agent"]:
                w = a.get("who")
                if w is not None and w.get("reference", "").startswith("Patient/"):
                    pat = w
                    break
        if pat is not None:
            out["patient"] = pat
        out["agent"] = [self.cached("agent", a, self.agent_r5) for a in ev["agent"]]
        out["source"] = self.cached("source", ev["source"], self.source_r5)
        ents = []
        for e in entities:
            if drop and e.get("role") is R_PATIENT:
                continue
            ents.append(self.cached("entity", e, self.entity_r5))
        if ents:
            out["entity"] = ents
        return out

    @staticmethod
    def source_r5(src):
        return {"site": {"display": src["site"]}, "observer": src["observer"],
                "type": [{"coding": [c]} for c in src["type"]]}

    @staticmethod
    def agent_r5(a):
        b = {}
        t = a.get("type")
        if t is not None:
            b["type"] = t
        r = a.get("role")
        if r is not None:
            b["role"] = r
        who = a.get("who")
        name = a.get("name")
        if who is None:
            who = {"display": name or a.get("altId") or "unknown user"}
        elif name is not None and "display" not in who:
            who = dict(who, display=name)
        b["who"] = who
        if "requestor" in a:
            b["requestor"] = a["requestor"]
        loc = a.get("location")
        if loc is not None:
            b["location"] = loc
        pol = a.get("policy")
        if pol is not None:
            b["policy"] = pol
        net = a.get("network")
        if net is not None:
            if net["type"] == "5":
                b["networkUri"] = net["address"]
            else:
                b["networkString"] = net["address"]
        pou = a.get("purposeOfUse")
        if pou is not None:
            b["authorization"] = pou
        return b

    @staticmethod
    def entity_r5(e):
        if e.get("type") is E_XREQ:
            # R5 has no entity.type: the X-Request-Id kind goes into the
            # identifier's type and the entity's role.
            return {"what": {"identifier": {"type": XREQ_CC, "value": e["what"]["identifier"]["value"]}},
                    "role": XREQ_CC}
        b = {}
        what = e.get("what")
        if what is not None:
            b["what"] = what
        role = e.get("role")
        if role is not None:
            b["role"] = ROLE_CC[id(role)]
        labels = e.get("securityLabel")
        if labels:
            b["securityLabel"] = [{"coding": [c]} for c in labels]
        q = e.get("query")
        if q is not None:
            b["query"] = q
        d = e.get("description")
        if d is not None:
            b["detail"] = [{"type": DETAIL_DESCRIPTION, "valueString": d}]
        return b

    def finish(self, ev, rng, ver=None, patient_only=None):
        """Chooses the version (ver forces one, unless its share is zero) and
        converts."""
        v = self.pick_version(rng)
        if ver is not None and (ver == 4 or (ver == 5 and self.r5 > 0) or (ver == 6 and self.r6 > 0)):
            v = ver
        if v == 4:
            return ev
        return self.convert(ev, v, rng, patient_only)

    # -- episodes -------------------------------------------------------------
    # Each returns a list of (pattern label, event, recorded ms), at most `cap` events.

    def ep_read(self, p, t, cap, rng, u=None, purpose=False, form=None, mode=None,
                rtype=None, history=False, label=None, ver=None, patient_only=None):
        """BALP PatientRead by a workforce member; mode "pair" = recorded by
        the server and by the client with the same X-Request-Id."""
        if u is None:
            u = self.pick_user(p, rng)
        if purpose is False:
            purpose = self.pick_purpose(u, rng)
        if form is None:
            form = self.pick_form(rng)
        if mode is None:
            mode = "pair" if rng.random() < 0.62 else "server"
        if cap < 2:
            mode = "server"
        if label is None:
            label = "read.vread" if history else ("read.pair" if mode == "pair" else "read.server")
        fmt = self.clock.fmt
        xe = self.xreq_entity(rng)
        pe = p.entities[form]
        de, rtype = self.data_entity(p, u.kind, rng, True, rtype, history=history)
        client = u.clients_dest[int(rng.random() * 3)]
        sub = SUB_VREAD if history else SUB_READ
        # the server does not claim a profile; the client app does
        ev = {"resourceType": "AuditEvent", "id": "",
              "type": T_REST, "subtype": sub, "action": "R", "recorded": fmt(t), "outcome": "0",
              "agent": [client, SERVER_AS_SRC, self.user_agent(u, AG_IRCP, purpose, rng, "server")],
              "source": SOURCE_SERVER, "entity": [xe, pe] if de is None else [xe, pe, de]}
        out = [(label, self.finish(ev, rng, ver, patient_only), t)]
        if mode == "pair":
            tc = t + ri(rng, 120, 700)
            ents = [xe, pe]
            if de is not None:
                ents.append({"what": {"reference": de["what"]["reference"]}, "type": E_SYSOBJ,
                             "role": R_DOMAIN})
            evc = {"resourceType": "AuditEvent", "id": "", "meta": PROFILE["PatientRead"],
                   "type": T_REST, "subtype": sub, "action": "R", "recorded": fmt(tc), "outcome": "0",
                   "agent": [client, SERVER_AS_SRC, self.user_agent(u, AG_IRCP, purpose, rng, "client")],
                   "source": SOURCE_CLIENT, "entity": ents}
            out.append((label, self.finish(evc, rng, ver, patient_only), tc))
        return out

    def ep_chart(self, p, t, cap, rng, u=None, views=None, ver=None):
        """The EHR's own access log (not BALP): a user opens the chart and
        moves through screens, one DCM 110110 Patient Record event per screen,
        seconds to minutes apart; only the user agent, the patient and the
        encounter in context."""
        if u is None:
            u = self.pick_user(p, rng)
        purpose = self.pick_purpose(u, rng)
        if views is None:
            views = 1 + int(rng.random() * 6)
        views = max(1, min(views, cap))
        form = 0 if rng.random() < 0.6 else 1
        ws = int(rng.random() * 3)
        x = rng.random()
        variant = 0 if x < 0.5 else (2 if x < 0.8 else 3)
        key = ("chart", u.id, variant, ws, purpose)
        ua = self.ua_cache.get(key)
        if ua is None:
            ua = {"type": AG_IRCP}
            ua.update(u.templates[variant])
            ua["network"] = u.clients_dest[ws]["network"]
            if purpose:
                ua["purposeOfUse"] = PURPOSE_LIST[purpose]
            self.ua_cache[key] = ua = freeze(ua)
        pe = p.entities[form]
        enc_ref = {"what": {"reference": "Encounter/enc%s-%d" % (p.data_ids, ri(rng, 1, 12))},
                   "type": E_SYSOBJ, "role": R_DOMAIN}
        fmt = self.clock.fmt
        out = []
        screen = 0
        for k in range(views):
            ev = {"resourceType": "AuditEvent", "id": "",
                  "type": T_PATIENT_RECORD, "subtype": CHART_ACTIVITIES[screen], "action": "R",
                  "recorded": fmt(t), "outcome": "0", "agent": [ua], "source": SOURCE_EHR,
                  "entity": [pe, enc_ref]}
            out.append(("chart.view", self.finish(ev, rng, ver), t))
            t += ri(rng, 4000, 150000)
            screen = 1 + int(rng.random() * (len(CHART_ACTIVITIES) - 1))
        return out

    def ep_failed(self, p, t, cap, rng, u=None, failure=None, form=None, ver=None):
        """A read the server refused or could not serve (outcome 4 or 8)."""
        if u is None:
            u = self.workforce[int(rng.random() * len(self.workforce))]
        if failure is None:
            failure = FAILURES[int(rng.random() * len(FAILURES))]
        if form is None:
            form = self.pick_form(rng)
        de, _ = self.data_entity(p, u.kind, rng, False)
        ents = [self.xreq_entity(rng), p.entities[form]]
        if de is not None:
            ents.append(de)
        ev = {"resourceType": "AuditEvent", "id": "",
              "type": T_REST, "subtype": SUB_READ, "action": "R",
              "recorded": self.clock.fmt(t), "outcome": failure[0], "outcomeDesc": failure[1],
              "agent": [u.clients_dest[int(rng.random() * 3)], SERVER_AS_SRC,
                        self.user_agent(u, AG_IRCP, self.pick_purpose(u, rng), rng, "server")],
              "source": SOURCE_SERVER, "entity": ents}
        return [("read.failed", self.finish(ev, rng, ver), t)]

    @staticmethod
    def query_entity(path, desc, xid):
        req = "GET /fhir/%s HTTP/1.1\r\nHost: fhir.%s\r\nX-Request-Id: %s\r\n\r\n" % (
            path, HOSPITAL_DOMAIN, xid)
        return {"type": E_SYSOBJ, "role": R_QUERY,
                "query": base64.b64encode(req.encode("utf-8")).decode("ascii"),
                "description": desc}

    @staticmethod
    def search_string(p, form, kind, rng):
        choices = SEARCHES[kind]
        rtype, params = choices[int(rng.random() * len(choices))]
        if form == 2:
            pp = "patient.identifier=%s|%s" % (MRN_SYS, p.mrn)
        elif form == 3:
            pp = "patient.identifier=%s|%s" % (SSN_SYS, p.ssn)
        else:
            pp = "patient=" + p.id
        return "%s?%s&%s" % (rtype, pp, params)

    def ep_search(self, p, t, cap, rng, u=None, pages=None, client_copy=None, form=None, ver=None):
        """BALP PatientQuery (search-type) and its page fetches: the same user,
        the same search string (entity description), seconds apart, each page
        with its own X-Request-Id and its own HTTP request in entity.query."""
        if u is None:
            u = self.pick_user(p, rng)
        purpose = self.pick_purpose(u, rng)
        if form is None:
            form = self.pick_form(rng)
        if pages is None:
            pages = (1, 1, 2, 2, 3, 4)[int(rng.random() * 6)]
        if client_copy is None:
            client_copy = rng.random() < 0.2
        if client_copy and cap < 2:
            client_copy = False
        pages = max(0, min(pages, cap - 1 - (1 if client_copy else 0)))
        fmt = self.clock.fmt
        desc = self.search_string(p, form, u.kind, rng)
        pe = p.entities[form]
        client = u.clients_src[int(rng.random() * 3)]
        xe = self.xreq_entity(rng)
        xid = xe["what"]["identifier"]["value"]
        qe = self.query_entity(desc, desc, xid)
        meta = PROFILE["PatientQuery"]
        ev = {"resourceType": "AuditEvent", "id": "",
              "type": T_REST, "subtype": SUB_SEARCH, "action": "E", "recorded": fmt(t), "outcome": "0",
              "agent": [client, SERVER_AS_DEST, self.user_agent(u, AG_IRCP, purpose, rng, "server")],
              "source": SOURCE_SERVER, "entity": [xe, pe, qe]}
        out = [("search", self.finish(ev, rng, ver), t)]
        if client_copy:
            tc = t + ri(rng, 150, 900)
            evc = {"resourceType": "AuditEvent", "id": "", "meta": meta,
                   "type": T_REST, "subtype": SUB_SEARCH, "action": "E", "recorded": fmt(tc),
                   "outcome": "0",
                   "agent": [client, SERVER_AS_DEST, self.user_agent(u, AG_IRCP, purpose, rng, "client")],
                   "source": SOURCE_CLIENT, "entity": [xe, pe, qe]}
            out.append(("search", self.finish(evc, rng, ver), tc))
        if pages:
            h = "%032x" % rng.getrandbits(128)
            session = "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
            tp = t
            for k in range(1, pages + 1):
                tp += ri(rng, 2000, 40000)
                xp = self.xreq_entity(rng)
                path = "?_getpages=%s&_getpagesoffset=%d&_count=50&_bundletype=searchset" % (session, 50 * k)
                evp = {"resourceType": "AuditEvent", "id": "",
                       "type": T_REST, "subtype": SUB_SEARCH, "action": "E", "recorded": fmt(tp),
                       "outcome": "0",
                       "agent": [client, SERVER_AS_DEST,
                                 self.user_agent(u, AG_IRCP, purpose, rng, "server")],
                       "source": SOURCE_SERVER,
                       "entity": [xp, pe, self.query_entity(path, desc, xp["what"]["identifier"]["value"])]}
                out.append(("search.page", self.finish(evp, rng, ver), tp))
        return out

    def ep_write(self, p, t, cap, rng, action, u=None, rtype=None, ver=None):
        """BALP PatientCreate (C), PatientUpdate (U) or PatientDelete (D)."""
        if u is None:
            if action == "D":
                u = self.deleters[int(rng.random() * len(self.deleters))]
            else:
                team = self.team(p)
                u = team[int(rng.random() * len(team))]
        purpose = "HOPERAT" if action == "D" else self.pick_purpose(u, rng)
        form = 0 if rng.random() < 0.7 else 1
        if rtype is None:
            if action == "C":
                choices = ("MedicationRequest", "Condition", "DocumentReference", "Observation")
                rtype = "Observation" if u.role == "nurse" else choices[int(rng.random() * 4)]
            elif action == "U":
                choices = ("MedicationRequest", "Condition", "Encounter", "DocumentReference")
                rtype = choices[int(rng.random() * 4)]
            else:
                rtype = ("Observation", "DocumentReference")[int(rng.random() * 2)]
        xe = self.xreq_entity(rng)
        de, _ = self.data_entity(p, u.kind, rng, True, rtype)
        ws = int(rng.random() * 3)
        if action == "C":
            sub, label, client, server = SUB_CREATE, "create", u.clients_src[ws], SERVER_AS_DEST
        elif action == "U":
            sub, label, client, server = SUB_UPDATE, "update", u.clients_src[ws], SERVER_AS_DEST
        else:
            sub, label, client, server = SUB_DELETE, "delete", u.clients_app[ws], SERVER_AS_CUSTODIAN
        ev = {"resourceType": "AuditEvent", "id": "",
              "type": T_REST, "subtype": sub, "action": action,
              "recorded": self.clock.fmt(t), "outcome": "0",
              "agent": [client, server, self.user_agent(u, AG_AUT, purpose, rng, "server")],
              "source": SOURCE_SERVER, "entity": [xe, p.entities[form], de]}
        return [(label, self.finish(ev, rng, ver), t)]

    def ep_portal(self, p, t, cap, rng, ver=None, pair=None):
        """The patient reads their own record through the portal
        (agent who = the Patient, requestor, purpose PATRQT)."""
        if pair is None:
            pair = rng.random() < 0.4
        if cap < 2:
            pair = False
        xe = self.xreq_entity(rng)
        rtype = ("Observation", "DiagnosticReport", "MedicationRequest", "Immunization",
                 "DocumentReference")[int(rng.random() * 5)]
        de, _ = self.data_entity(p, "physician", rng, True, rtype)
        if rng.random() < 0.2:
            ip = "2001:db8:4a::%x" % ri(rng, 1, 200)
        else:
            ip = "203.0.113.%d" % ri(rng, 1, 255)
        portal = PORTAL_AGENTS.get(ip)
        if portal is None:
            portal = PORTAL_AGENTS[ip] = freeze({"type": AG_DEST, "who": DEV_BARE["patient-portal"],
                                                 "requestor": False, "network": {"address": ip, "type": "2"}})
        me = p.me_agent
        fmt = self.clock.fmt
        ev = {"resourceType": "AuditEvent", "id": "",
              "type": T_REST, "subtype": SUB_READ, "action": "R", "recorded": fmt(t), "outcome": "0",
              "agent": [portal, SERVER_AS_SRC, me],
              "source": SOURCE_SERVER, "entity": [xe, p.entities[1], de]}
        out = [("portal.view", self.finish(ev, rng, ver), t)]
        if pair:
            tc = t + ri(rng, 100, 500)
            evc = {"resourceType": "AuditEvent", "id": "", "meta": PROFILE["PatientRead"],
                   "type": T_REST, "subtype": SUB_READ, "action": "R", "recorded": fmt(tc), "outcome": "0",
                   "agent": [portal, SERVER_AS_SRC, me],
                   "source": SOURCE_PORTAL,
                   "entity": [xe, p.entities[1], {"what": {"reference": de["what"]["reference"]},
                                                  "type": E_SYSOBJ, "role": R_DOMAIN}]}
            out.append(("portal.view", self.finish(evc, rng, ver), tc))
        return out

    def ep_login(self, t, rng, u=None, logout=False, failed=None, ver=None):
        """DCM 110114 User Authentication (Login / Logout): no patient."""
        if u is None:
            u = self.workforce[int(rng.random() * len(self.workforce))]
        if failed is None:
            failed = (not logout) and rng.random() < 0.08
        ws = u.clients_dest[int(rng.random() * 3)]["network"]
        # the user carries no agent.type: authentication audits often leave it out
        user = {"who": u.who_full, "altId": u.login, "requestor": True, "network": ws}
        ev = {"resourceType": "AuditEvent", "id": "",
              "type": T_USER_AUTH, "subtype": SUB_LOGOUT if logout else SUB_LOGIN, "action": "E",
              "recorded": self.clock.fmt(t)}
        if failed:
            ev["outcome"] = "4"
            ev["outcomeDesc"] = "Invalid credentials"
            label = "login.failed"
        else:
            ev["outcome"] = "0"
            label = "logout" if logout else "login"
        ev["agent"] = [user, IDP_AGENT]
        ev["source"] = SOURCE_IDP
        return [(label, self.finish(ev, rng, ver), t)]

    def ep_batch(self, p, t, rng, ver=None):
        """A system query by a Device (no human user).  With p: one event per
        patient in the result (fan-out); without: a population query that
        names no patient."""
        rtype, params = BATCH_QUERIES[int(rng.random() * len(BATCH_QUERIES))]
        desc = "%s?%s" % (rtype, params.format(year=self.clock.fmt(t)[:4]))
        xe = self.xreq_entity(rng)
        ents = [xe]
        if p is not None:
            ents.append(p.entities[1])
        ents.append(self.query_entity(desc, desc, xe["what"]["identifier"]["value"]))
        ev = {"resourceType": "AuditEvent", "id": "",
              "type": T_REST, "subtype": SUB_SEARCH, "action": "E",
              "recorded": self.clock.fmt(t), "outcome": "0",
              "agent": [QUALITY_AGENT, SERVER_AS_DEST],
              "source": SOURCE_SERVER, "entity": ents}
        label = "batch.patient-query" if p is not None else "batch.population-query"
        return [(label, self.finish(ev, rng, ver), t)]

    def ep_disclose(self, p, t, rng, key, authorized=False, period_days=None, outcome=None,
                    purpose_level=None, form=None, ver=None, patient_only=None, clerk=None,
                    label=None):
        """A disclosure to an outside recipient recorded at the source (BALP
        PrivacyDisclosure.Source): DCM 110106 Export, subtype disclose,
        action R.  purpose_level: "both" (purposeOfEvent and the recipient's
        purposeOfUse), "event" or "agent" (only one of them)."""
        r = RECIPIENTS[key]
        purpose = r["purpose"]
        if purpose_level is None:
            x = rng.random()
            purpose_level = "both" if x < 0.8 else ("event" if x < 0.9 else "agent")
        if form is None:
            form = 0 if rng.random() < 0.8 else 3
        if label is None:
            label = "disclosure." + key + (".authorized" if authorized else "")
        fmt = self.clock.fmt
        roi = r["via"] == "roi"
        agents = []
        if roi:
            if clerk is None:
                him = self.by_kind["him"]
                clerk = him[int(rng.random() * len(him))]
            agents.append(ROI_AGENT if r["requestor"] else ROI_AGENT_REQ)
            agents.append({"type": AG_RESP, "who": clerk.who_full, "requestor": False,
                           "role": clerk.role_cc, "location": clerk.location})
        else:
            agents.append(PH_AGENT)
        if key == "patient":
            rec = {"type": AG_DEST, "who": p.portal_ref, "requestor": True,
                   "network": {"address": "%s@mail.example" % p.id, "type": "4"}}
        else:
            rec = {"type": AG_DEST,
                   "who": {"reference": "Organization/" + r["id"],
                           "identifier": {"system": RECIPIENT_SYS, "value": r["ident"]},
                           "display": r["name"]},
                   "requestor": r["requestor"]}
            if r["address"]:
                rec["location"] = {"display": r["address"]}
            rec["network"] = {"address": r["network"][0], "type": r["network"][1]}
        auth_uri = None
        if authorized:
            auth_uri = "%s%s-%s-%04d" % (AUTHORIZATION_BASE, p.id, fmt(t)[:4], ri(rng, 1, 10000))
            rec["policy"] = [auth_uri]
        if purpose and purpose_level in ("both", "agent"):
            rec["purposeOfUse"] = PURPOSE_LIST[purpose]
        agents.append(rec)
        if roi and rng.random() < 0.5:
            agents.append(CUSTODIAN_AGENT)
        if authorized:
            agents.append({"type": AG_AUTHORIZER, "who": {"reference": "Patient/" + p.id},
                           "requestor": False})
        ents = [p.entities[form]]
        for rtype, desc in r["data"]:
            ref = "%s/roi-%s-%s%d" % (rtype, p.id, DATA[rtype][0], ri(rng, 1, 1000))
            ents.append({"what": {"reference": ref, "display": desc}, "type": E_SYSOBJ,
                         "role": R_REPORT, "description": desc})
        if auth_uri is not None and rng.random() < 0.5:
            ents.append({"what": {"reference": "Consent/auth-%s-%d" % (p.id, ri(rng, 1, 1000))},
                         "type": E_SYSOBJ, "role": R_SECURITY,
                         "description": "Signed HIPAA authorization"})
        ev = {"resourceType": "AuditEvent", "id": "", "meta": PROFILE["PrivacyDisclosure.Source"],
              "type": T_EXPORT, "subtype": SUB_DISCLOSE if roi else SUB_DISCLOSE_THO, "action": "R"}
        if period_days:
            # access was open for a few days; recorded after the window closed
            start = t - period_days * 86400000 - ri(rng, 0, 3600000)
            ev["period"] = {"start": fmt(start), "end": fmt(t)}
            t += ri(rng, 600000, 7200000)
        ev["recorded"] = fmt(t)
        if outcome is None:
            ev["outcome"] = "0"
            ev["outcomeDesc"] = "Disclosed to " + (r["name"] or "the patient")
        else:
            ev["outcome"], ev["outcomeDesc"] = outcome
        if purpose and purpose_level in ("both", "event"):
            ev["purposeOfEvent"] = PURPOSE_LIST[purpose]
        ev["agent"] = agents
        ev["source"] = SOURCE_ROI if roi else SOURCE_PH
        ev["entity"] = ents
        return [(label, self.finish(ev, rng, ver, patient_only), t)]

    # -- random episode mix ---------------------------------------------------

    def random_episode(self, kind, p, t, cap, rng):
        if kind == "chart.session":
            return self.ep_chart(p, t, cap, rng)
        if kind == "read.pair":
            return self.ep_read(p, t, cap, rng, mode="pair")
        if kind == "read.server":
            return self.ep_read(p, t, cap, rng, mode="server")
        if kind == "search":
            return self.ep_search(p, t, cap, rng)
        if kind == "create":
            return self.ep_write(p, t, cap, rng, "C")
        if kind == "update":
            return self.ep_write(p, t, cap, rng, "U")
        if kind == "login":
            return self.ep_login(t, rng)
        if kind == "batch.patient":
            return self.ep_batch(p, t, rng)
        if kind == "portal":
            return self.ep_portal(p, t, cap, rng)
        if kind == "logout":
            return self.ep_login(t, rng, logout=True)
        if kind == "disclosure":
            key = weighted_pick(rng, self.disclosure_mix)
            authorized = key == "research" and rng.random() < 0.5
            period = ri(rng, 1, 5) if key in ("law-firm", "research") and rng.random() < 0.5 else None
            return self.ep_disclose(p, t, rng, key, authorized=authorized, period_days=period)
        if kind == "failed":
            return self.ep_failed(p, t, cap, rng)
        if kind == "read.vread":
            return self.ep_read(p, t, cap, rng, mode="server", history=True)
        if kind == "delete":
            return self.ep_write(p, t, cap, rng, "D")
        if kind == "batch.population":
            return self.ep_batch(None, t, rng)
        raise ValueError(kind)

    # -- scripted episodes for Patient/example-1 -------------------------------

    def scripted(self, profile):
        """Fixed episodes for Patient/example-1 so that every pattern is there
        whatever the seed.  Returns [(t_ms, seq, label, event)] in time order."""
        rng = random.Random(self.opts.seed * 7919 + 17)
        p = self.patient(1)
        W = self.by_id
        c = self.clock
        plan = [
            lambda t: self.ep_read(p, t, 2, rng, u=W["pr-1001"], purpose="TREAT", form=0, mode="pair",
                                   rtype="Observation"),
            lambda t: self.ep_disclose(p, t, rng, "law-firm", period_days=3, purpose_level="both",
                                       form=0, clerk=W["pr-1021"]),
            lambda t: self.ep_search(p, t, 3, rng, u=W["pr-1001"], pages=2, client_copy=False, form=1),
            lambda t: self.ep_portal(p, t, 1, rng, pair=False),
            lambda t: self.ep_chart(p, t, 2, rng, u=W["pr-1013"], views=2),
            lambda t: self.ep_disclose(p, t, rng, "public-health", purpose_level="both", form=0,
                                       label="disclosure.public-health.series"),
            lambda t: self.ep_failed(p, t, 1, rng, u=W["pr-1026"], failure=FAILURES[0], form=1),
            lambda t: self.ep_disclose(p, t, rng, "marketing", purpose_level="both", form=0,
                                       ver=5, patient_only=True, clerk=W["pr-1022"]),
            lambda t: self.ep_login(t, rng, u=W["pr-1001"], failed=False),
            lambda t: self.ep_read(p, t, 1, rng, u=W["pr-1011"], purpose="TREAT", form=2, mode="server",
                                   rtype="DocumentReference", label="read.identifier-only"),
            lambda t: self.ep_disclose(p, t, rng, "research", authorized=False, purpose_level="both",
                                       form=0, clerk=W["pr-1021"]),
            lambda t: self.ep_disclose(p, t, rng, "research", authorized=True, period_days=2,
                                       purpose_level="both", form=0, clerk=W["pr-1021"]),
            lambda t: self.ep_disclose(p, t, rng, "insurer", purpose_level="both", form=3,
                                       clerk=W["pr-1022"]),
            lambda t: self.ep_disclose(p, t, rng, "law-enforcement", purpose_level="both", form=0,
                                       clerk=W["pr-1021"]),
            lambda t: self.ep_disclose(p, t, rng, "home-care", form=0, clerk=W["pr-1022"]),
            lambda t: self.ep_disclose(p, t, rng, "referral", purpose_level="both", form=0,
                                       clerk=W["pr-1021"]),
            lambda t: self.ep_disclose(p, t, rng, "patient", purpose_level="both", form=0,
                                       clerk=W["pr-1022"]),
            lambda t: (self.ep_disclose(p, t, rng, "public-health", purpose_level="both", form=0,
                                        outcome=("8", "Transmission to recipient failed: connection refused"),
                                        label="disclosure.public-health.failed")
                       + self.ep_disclose(p, t + 900000, rng, "public-health", purpose_level="both",
                                          form=0, label="disclosure.public-health.series")),
            lambda t: self.ep_read(p, t, 1, rng, u=W["pr-1002"], purpose="TREAT", form=1, mode="server",
                                   rtype="Observation", history=True),
            lambda t: self.ep_write(p, t, 1, rng, "C", u=W["pr-1013"], rtype="Observation"),
            lambda t: self.ep_write(p, t, 1, rng, "U", u=W["pr-1010"], rtype="MedicationRequest"),
            lambda t: self.ep_batch(p, t, rng),
            lambda t: self.ep_batch(None, t, rng),
            lambda t: self.ep_read(p, t, 1, rng, u=W["pr-1023"], purpose="HPAYMT", form=1, mode="server",
                                   rtype="Claim", label="read.payment"),
            lambda t: self.ep_read(p, t, 1, rng, u=W["pr-1021"], purpose="HOPERAT", form=0, mode="server",
                                   rtype="DocumentReference", label="read.operations"),
            lambda t: self.ep_read(p, t, 2, rng, u=W["pr-1004"], purpose="ETREAT", form=0, mode="pair",
                                   rtype="DiagnosticReport", label="read.emergency"),
            lambda t: self.ep_login(t, rng, u=W["pr-1024"], failed=True),
            lambda t: self.ep_write(p, t, 1, rng, "D", u=W["pr-1028"], rtype="Observation"),
            lambda t: self.ep_disclose(p, t, rng, "immunization-registry", purpose_level="agent", form=0),
            lambda t: self.ep_login(t, rng, u=W["pr-1001"], logout=True),
        ]
        hours = [(9, 12), (10, 40), (11, 5), (20, 15), (2, 30), (14, 2), (15, 45), (7, 58), (8, 31),
                 (13, 20), (16, 10), (10, 5), (17, 25), (9, 50), (12, 12), (11, 40), (3, 0), (9, 9),
                 (6, 45), (10, 30), (1, 15), (1, 45), (13, 55), (14, 35), (23, 5), (7, 3), (16, 48)]
        out = []
        ph_series_t = None
        for k, make in enumerate(plan):
            h, m = hours[k % len(hours)]
            t = c.day_at(0.02 + 0.93 * k / len(plan), h, m) + ri(rng, 0, 59000)
            if k == 5:
                ph_series_t = t
            out += make(t)
        if profile == "store":
            # monthly electronic lab reports to the same agency (summarisable)
            for k in range(1, 11):
                t = ph_series_t + int(k * 30.44 * 86400000) + ri(rng, 0, 3600000)
                if t >= c.end_ms:
                    break
                extra = dict(ver=5, period_days=1) if k == 5 else {}
                out += self.ep_disclose(p, t, rng, "public-health", purpose_level="both", form=0,
                                        label="disclosure.public-health.series", **extra)
            out += self.ep_disclose(p, c.day_at(0.7, 11, 20) + ri(rng, 0, 59000), rng, "law-firm",
                                    purpose_level="both", form=0, clerk=W["pr-1022"])
            for f in (0.5, 0.8):
                out += self.ep_disclose(p, c.day_at(f, 15, 5) + ri(rng, 0, 59000), rng, "insurer",
                                        purpose_level="both", form=3)
            out += self.ep_disclose(p, c.day_at(0.6, 4, 0) + ri(rng, 0, 59000), rng,
                                    "immunization-registry", purpose_level="both", form=0)
            out += self.ep_disclose(p, c.day_at(0.88, 10, 10) + ri(rng, 0, 59000), rng, "research",
                                    purpose_level="both", form=1, ver=6)
        res = [(t, seq, label, ev) for seq, (label, ev, t) in enumerate(out)]
        res.sort(key=lambda x: (x[0], x[1]))
        return res

    # -- the stream -----------------------------------------------------------

    def prepare(self):
        """Builds the scripted episodes, fixes the number of events and cuts
        the random stream into slices.

        Slice k holds SLICE random events (the last one fewer), its own RNG,
        its exact share of the big patient's events, the scripted events
        that fall into its time window, and the number of events before it;
        so any slice can be generated alone, and the output does not depend
        on how many processes generate them."""
        opts = self.opts
        scripted = self.scripted(opts.profile)
        total = opts.events
        if total is None:
            total = len(scripted) if opts.profile == "sample" else 2000
        if opts.profile == "sample":
            total = min(total, len(scripted))
        scripted = scripted[:total]
        self.total = total
        random_total = total - len(scripted)
        self.random_total = random_total
        self.big_total = min(opts.big_patient_events, random_total) if self.big is not None else 0
        nslices = max(1, (random_total + SLICE - 1) // SLICE)
        bounds = [min(k * SLICE, random_total) for k in range(nslices + 1)]
        starts = [self.clock.at(bounds[k] / random_total) if random_total else 0 for k in range(nslices)]
        per_slice = [[] for _ in range(nslices)]
        for item in scripted:
            per_slice[max(0, bisect.bisect_right(starts, item[0]) - 1)].append(item)
        self.slices = []
        before = 0
        for k in range(nslices):
            self.slices.append((bounds[k], bounds[k + 1], per_slice[k], before + bounds[k]))
            before += len(per_slice[k])

    def slice_events(self, k):
        """Yields (label, event, patient or None) of slice k in the order of
        their recorded times (an episode's later records wait in a heap until
        the stream has reached them), ids set."""
        opts = self.opts
        start, end, scripted, offset = self.slices[k]
        random_total = self.random_total
        big = self.big
        big_total = self.big_total
        if random_total:
            big_budget = big_total * end // random_total - big_total * start // random_total
        else:
            big_budget = 0
        reg_budget = end - start - big_budget
        rng = random.Random(opts.seed * 1000003 + k)
        rnd = rng.random
        at = self.clock.at
        prefix = "ae-%d-" % opts.seed
        example1 = self.patient(1)
        kinds_all, kinds_patient = self.kinds_all, self.kinds_patient
        episode = self.random_episode
        push, pop = heapq.heappush, heapq.heappop
        pending = []  # (recorded ms, seq, label, event, patient)
        seq = 0
        for t, _, label, ev in scripted:
            push(pending, (t, seq, label, ev, None if label in NO_PATIENT_LABELS else example1))
            seq += 1
        n = offset
        big_done = reg_done = 0
        size = end - start
        while big_done + reg_done < size:
            t = at((start + big_done + reg_done + rnd()) / random_total)
            while pending and pending[0][0] <= t:
                item = pop(pending)
                ev = item[3]
                n += 1
                ev["id"] = prefix + str(n)
                yield item[2], ev, item[4]
            rem_big = big_budget - big_done
            rem_reg = reg_budget - reg_done
            if rnd() * (rem_big + rem_reg) < rem_big:
                p = big
                evs = episode(weighted_pick(rng, kinds_patient), p, t, rem_big, rng)
                if len(evs) > rem_big:
                    evs = self.ep_read(p, t, 1, rng, mode="server")
                big_done += len(evs)
            else:
                p = self.pick_patient(rng)
                evs = episode(weighted_pick(rng, kinds_all), p, t, rem_reg, rng)
                if len(evs) > rem_reg:
                    evs = self.ep_read(p, t, 1, rng, mode="server")
                reg_done += len(evs)
            for label, ev, te in evs:
                if te <= t:
                    n += 1
                    ev["id"] = prefix + str(n)
                    yield label, ev, (None if label in NO_PATIENT_LABELS else p)
                else:
                    push(pending, (te, seq, label, ev, None if label in NO_PATIENT_LABELS else p))
                    seq += 1
        while pending:
            item = pop(pending)
            ev = item[3]
            n += 1
            ev["id"] = prefix + str(n)
            yield item[2], ev, item[4]

    def events(self):
        """All events in emission order (one process)."""
        for k in range(len(self.slices)):
            yield from self.slice_events(k)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.events = 0
        self.bytes = 0
        self.patterns = {}
        self.versions = {4: 0, 5: 0, 6: 0}
        self.no_patient = 0
        self.per_patient = {}
        self.patient_element_only = 0

    def add(self, label, ev, p):
        self.events += 1
        self.patterns[label] = self.patterns.get(label, 0) + 1
        if "category" in ev:
            self.versions[5] += 1
        elif "severity" in ev:
            self.versions[6] += 1
        else:
            self.versions[4] += 1
        if p is None:
            self.no_patient += 1
        else:
            self.per_patient[p.id] = self.per_patient.get(p.id, 0) + 1
            if "patient" in ev and not any(e.get("role") is R_PATIENT_CC for e in ev.get("entity", ())):
                self.patient_element_only += 1

    def merge(self, o):
        self.events += o.events
        self.bytes += o.bytes
        for k, v in o.patterns.items():
            self.patterns[k] = self.patterns.get(k, 0) + v
        for k, v in o.versions.items():
            self.versions[k] += v
        self.no_patient += o.no_patient
        for k, v in o.per_patient.items():
            self.per_patient[k] = self.per_patient.get(k, 0) + v
        self.patient_element_only += o.patient_element_only

    def report(self, out, elapsed):
        w = out.write
        w("events: %d  bytes: %d (%.0f per event)  %.2f s  %.0f events/s\n" % (
            self.events, self.bytes, self.bytes / max(1, self.events), elapsed,
            self.events / elapsed if elapsed > 0 else 0))
        w("versions: R4 %d  R5 %d  R6-ballot %d\n" % (self.versions[4], self.versions[5], self.versions[6]))
        w("events naming no patient: %d; R5/R6 events with the patient only in AuditEvent.patient: %d\n" % (
            self.no_patient, self.patient_element_only))
        w("patterns (events):\n")
        for k in sorted(self.patterns):
            w("  %-40s %9d\n" % (k, self.patterns[k]))
        top = sorted(self.per_patient.items(), key=lambda kv: (-kv[1], kv[0]))
        w("patients with events: %d; most: %s; fewest: %s\n" % (
            len(top), ", ".join("Patient/%s=%d" % kv for kv in top[:6]),
            ", ".join("Patient/%s=%d" % kv for kv in top[-3:])))


def open_out(path):
    """A binary file (stdout for "-"); callers write UTF-8 bytes."""
    if path == "-":
        sys.stdout.flush()
        return open(sys.stdout.fileno(), "wb", closefd=False)
    return open(path, "wb")


_WORKER = {}


def _ndjson_slice(k, fh=None):
    """Slice k as NDJSON: written to fh, or (in a worker process) to a part
    file in _WORKER["tmpdir"].  Returns (part file or None, statistics)."""
    gen = _WORKER["gen"]
    verify = _WORKER["verify"]
    stats = Stats()
    add = stats.add
    part = None
    if fh is None:
        part = os.path.join(_WORKER["tmpdir"], "slice-%06d.ndjson" % k)
        out = open(part, "wb")
    else:
        out = fh
    buf = []
    for label, ev, p in gen.slice_events(k):
        s = encode_event(ev)
        if verify:
            check_encoding(ev, s)
        # encoded one by one: joining thousands of str first would widen
        # every ASCII event to the widest one's character size
        buf.append(s.encode("utf-8"))
        add(label, ev, p)
        if len(buf) >= 1000:
            buf.append(b"")
            data = b"\n".join(buf)
            stats.bytes += len(data)
            out.write(data)
            buf = []
    if buf:
        buf.append(b"")
        data = b"\n".join(buf)
        stats.bytes += len(data)
        out.write(data)
    if part is not None:
        out.close()
    return part, stats


def _append_file(dst, src_path):
    """Appends a part file to dst (in the kernel when it can)."""
    dst.flush()
    with open(src_path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        copied = 0
        if hasattr(os, "copy_file_range"):
            try:
                while copied < size:
                    n = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
                    if n == 0:
                        break
                    copied += n
            except OSError:
                pass
        if copied < size:
            src.seek(copied)
            while True:
                chunk = src.read(1 << 22)
                if not chunk:
                    break
                dst.write(chunk)
    os.unlink(src_path)


def write_ndjson(gen, path, stats, verify=False, jobs=1):
    _WORKER["gen"] = gen
    _WORKER["verify"] = verify
    n = len(gen.slices)
    with open_out(path) as f:
        if jobs <= 1 or n == 1:
            for k in range(n):
                stats.merge(_ndjson_slice(k, f)[1])
            return
        import multiprocessing
        import tempfile
        base = os.path.dirname(os.path.abspath(path)) if path != "-" else None
        with tempfile.TemporaryDirectory(prefix=".generate-", dir=base) as tmpdir:
            _WORKER["tmpdir"] = tmpdir
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(jobs) as pool:
                for part, st in pool.imap(_ndjson_slice, range(n)):
                    _append_file(f, part)
                    stats.merge(st)


def check_encoding(ev, s):
    ref = json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
    if s != ref:
        raise SystemExit("encoding mismatch in %s:\n%s\n%s" % (ev.get("id"), s, ref))
    if json.loads(s) != ev:
        raise SystemExit("round trip mismatch in %s" % ev.get("id"))


UUID_NS = uuid.UUID("5b2f4a1e-3c7d-4e8f-9a0b-1c2d3e4f5a6b")


def write_bundles(gen, path, stats, bundle_size):
    """One pretty-printed (indent=1) Bundle of type collection per file,
    streamed entry by entry.  Each file's bytes equal
    json.dumps(bundle, indent=1, ensure_ascii=False) plus a final newline.
    With bundle_size > 0 and more events than that: FILE-0001.json, ..."""
    # json.dumps with indent builds closures that form reference cycles on
    # every call: the cycle collector has to run here.
    gc.enable()
    opts = gen.opts
    timestamp = gen.clock.fmt(gen.clock.end_ms)
    split = bundle_size > 0 and gen.total > bundle_size
    paths = []

    def write(fh, text):
        data = text.encode("utf-8")
        stats.bytes += len(data)
        fh.write(data)

    def open_part(k):
        if split:
            stem, ext = os.path.splitext(path)
            p = "%s-%04d%s" % (stem, k, ext or ".json")
        else:
            p = path
        fh = open_out(p)
        paths.append(p)
        head = {"resourceType": "Bundle", "id": "aodgen-%d-%d" % (opts.seed, k),
                "meta": {"lastUpdated": timestamp}, "type": "collection", "timestamp": timestamp}
        text = json.dumps(head, indent=1, ensure_ascii=False)
        write(fh, text[:-2] + ',\n "entry": [')
        return fh

    def close_part(fh, count):
        write(fh, "\n ]\n}\n" if count else "]\n}\n")
        fh.close()

    f = None
    part = in_part = 0
    for label, ev, p in gen.events():
        if f is None or (bundle_size and in_part >= bundle_size):
            if f is not None:
                close_part(f, in_part)
            part += 1
            in_part = 0
            f = open_part(part)
        entry = {"fullUrl": "urn:uuid:" + str(uuid.uuid5(UUID_NS, ev["id"])), "resource": ev}
        text = json.dumps(entry, indent=1, ensure_ascii=False)
        write(f, ("\n  " if in_part == 0 else ",\n  ") + text.replace("\n", "\n  "))
        in_part += 1
        stats.add(label, ev, p)
    if f is None:
        f = open_part(1)
    close_part(f, in_part)
    return paths


def write_directory(gen, path):
    """The workforce, units, devices, recipients and patients as NDJSON FHIR
    resources, for resolving references that were recorded without names."""
    hospital = {"reference": "Organization/st-example-hospital"}
    res = [{"resourceType": "Organization", "id": "st-example-hospital", "name": HOSPITAL_NAME,
            "telecom": [{"system": "url", "value": "https://" + HOSPITAL_DOMAIN}]}]
    for key, (name, _) in UNITS.items():
        res.append({"resourceType": "Location", "id": "unit-" + key, "name": name,
                    "managingOrganization": hospital})
    for key, name in DEVICES.items():
        res.append({"resourceType": "Device", "id": key,
                    "deviceName": [{"name": name, "type": "user-friendly-name"}], "owner": hospital})
    for u in gen.workforce:
        res.append({"resourceType": "Practitioner", "id": u.id,
                    "identifier": [{"system": USER_SYS, "value": u.login}],
                    "name": [{"text": u.name, "family": u.family, "given": u.given.split(" ")}]})
        res.append({"resourceType": "PractitionerRole", "id": "role-" + u.id,
                    "practitioner": {"reference": "Practitioner/" + u.id, "display": u.name},
                    "organization": hospital, "code": u.role_cc, "location": [u.location]})
    for r in RECIPIENTS.values():
        if r["id"] is None:
            continue
        o = {"resourceType": "Organization", "id": r["id"],
             "identifier": [{"system": RECIPIENT_SYS, "value": r["ident"]}], "name": r["name"]}
        if r["address"]:
            o["address"] = [{"text": r["address"]}]
        res.append(o)
    pats = [gen.patient(i) for i in range(1, gen.opts.patients + 1)]
    if gen.big is not None:
        pats.append(gen.big)
    for p in pats:
        res.append({"resourceType": "Patient", "id": p.id,
                    "identifier": [{"system": MRN_SYS, "value": p.mrn}, {"system": SSN_SYS, "value": p.ssn}],
                    "name": [{"text": p.name, "family": p.family, "given": p.given.split(" ")}],
                    "gender": p.gender, "birthDate": p.birth})
    with open_out(path) as f:
        f.write("".join(enc(o) + "\n" for o in res).encode("utf-8"))


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Deterministic generator of synthetic FHIR AuditEvents (R4, R5, R6 ballot) "
                    "for aodreport.  The same options give the same bytes.")
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--patients", type=int, default=5, help="number of patients (default 5)")
    ap.add_argument("--events", type=int, default=None,
                    help="total number of events (default 2000; with --profile sample, a cap)")
    ap.add_argument("--big-patient-events", type=int, default=0, metavar="N",
                    help="add Patient/big-1 with exactly N of the events (default 0: none)")
    ap.add_argument("--start", default="2024-01-01", help="first day, YYYY-MM-DD (default 2024-01-01)")
    ap.add_argument("--months", type=int, default=24, help="length of the period in months (default 24)")
    ap.add_argument("--format", choices=("ndjson", "bundle"), default="ndjson",
                    help="ndjson (one event per line, default) or bundle (one pretty-printed Bundle)")
    ap.add_argument("--bundle-size", type=int, default=0, metavar="N",
                    help="with --format bundle: at most N events per Bundle; more events go to "
                         "FILE-0001.json, FILE-0002.json, ... (default 0: one Bundle)")
    ap.add_argument("--r5-share", type=float, default=0.3, help="share of R5 events (default 0.3)")
    ap.add_argument("--r6-share", type=float, default=0.02,
                    help="share of R6-ballot events (default 0.02)")
    ap.add_argument("--skew", type=float, default=1.0,
                    help="Zipf exponent of events per patient, 0 = even (default 1.0)")
    ap.add_argument("--profile", choices=("store", "sample"), default="store",
                    help="store (default): the scripted events of Patient/example-1 plus random "
                         "events; sample: only the core scripted events, one or two of each pattern")
    ap.add_argument("--directory", metavar="FILE",
                    help="also write the workforce, units, devices, recipients and patients as "
                         "NDJSON FHIR resources")
    ap.add_argument("--jobs", type=int, default=0, metavar="N",
                    help="processes for NDJSON output (default 0: one per CPU, at most 4); "
                         "the bytes do not depend on it")
    ap.add_argument("--verify", action="store_true",
                    help="check every event's bytes against json.dumps (slow)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    ap.add_argument("-o", "--output", required=True, metavar="FILE", help="output file, - for stdout")
    opts = ap.parse_args(argv)
    try:
        opts.start = dt.date.fromisoformat(opts.start)
    except ValueError:
        ap.error("--start must be YYYY-MM-DD")
    if opts.patients < 1:
        ap.error("--patients must be at least 1")
    if opts.events is not None and opts.events < 0:
        ap.error("--events must not be negative")
    if opts.months < 1:
        ap.error("--months must be at least 1")
    if opts.big_patient_events < 0:
        ap.error("--big-patient-events must not be negative")
    if not (0 <= opts.r5_share <= 1 and 0 <= opts.r6_share <= 1 and opts.r5_share + opts.r6_share <= 1):
        ap.error("--r5-share and --r6-share must lie in [0, 1] and add up to at most 1")
    if opts.jobs < 0:
        ap.error("--jobs must not be negative")
    if opts.bundle_size < 0:
        ap.error("--bundle-size must not be negative")
    if opts.format == "ndjson" and opts.bundle_size:
        ap.error("--bundle-size needs --format bundle")
    if opts.output == "-" and opts.format == "bundle" and opts.bundle_size:
        ap.error("several Bundles cannot go to stdout: give -o FILE")
    return opts


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    t0 = time.perf_counter()
    # Nothing here makes reference cycles; the collector would only walk the
    # ever-growing caches of frozen fragments.
    gc.disable()
    gen = Generator(opts)
    gen.prepare()
    stats = Stats()
    if gen.big is not None and gen.big_total < opts.big_patient_events and not opts.quiet:
        sys.stderr.write("generate.py: only %d events left for Patient/big-1 (asked for %d)\n"
                         % (gen.big_total, opts.big_patient_events))
    try:
        if opts.format == "ndjson":
            jobs = opts.jobs or min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                                    else (os.cpu_count() or 1))
            write_ndjson(gen, opts.output, stats, opts.verify, jobs)
            paths = [opts.output]
        else:
            paths = write_bundles(gen, opts.output, stats, opts.bundle_size)
    except BrokenPipeError:
        return 1
    elapsed = time.perf_counter() - t0
    if opts.directory:
        write_directory(gen, opts.directory)
    if not opts.quiet:
        stats.report(sys.stderr, elapsed)
        if len(paths) > 1:
            sys.stderr.write("wrote %d Bundles: %s ... %s\n" % (len(paths), paths[0], paths[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
