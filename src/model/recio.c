/*
 * recio.c - the compact stored form of a normalized record (see recio.h for
 * the format).
 *
 * Encoding runs once per event at load time (it checks UTF-8 so the text
 * column never refuses a row, and looks every string up in the aod2
 * dictionary).  Decoding runs for every record of every report, so it is
 * one forward pass with one allocation per record: the text is copied once
 * into the record's arena, with an LF after its last byte as a sentinel, and
 * decoded in place.  A field without escapes is then found by a scan that
 * stops only at TAB, LF or backslash (the sentinel bounds it) and becomes a
 * string by writing a NUL over the separator that ends it; a field with
 * escapes is unescaped in place, which works because an escape is never
 * shorter decoded than encoded.  Every other read is bounds-checked against
 * the end of the text, so any input fails cleanly.
 */
#include "model/recio.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/utf8.h"

/* ============================================================= dictionary */

/*
 * The aod2 dictionary: a string field "\~hh" (two lowercase hex digits)
 * stands for the whole string at index 0xhh.
 *
 * FROZEN: this table is part of the aod2 format, as much as the token is.
 * Every binary that reads "aod2" must read every row that any binary writing
 * "aod2" stored, older binaries included, and stored rows are never
 * rewritten.  So no entry is ever changed, removed, reordered or added
 * here.  More entries means a new table under a new token ("aod3"), with the
 * decoder keeping this one for aod2 rows.  tests/unit/model/test_recio.c pins the
 * table's checksum so an edit cannot go unnoticed.
 *
 * The entries are well-known strings that AuditEvents repeat in every event:
 * the code systems of type, subtype, agent type and role, purposeOfUse,
 * source type, entity type and role and security labels (R4 and R5 URIs), the
 * identifier systems of SSN and NPI, the standard codes and displays of those
 * systems, and the resource types references name.  Site-specific strings
 * never belong here.  Each entry is longer than the 4 bytes of its reference,
 * printable ASCII without backslash (so it reads the same escaped or not),
 * and the table is sorted by bytes so the encoder finds an entry by binary
 * search.
 */
typedef struct dict_entry {
    const char *s;
    size_t n;
} dict_entry;

/* An entry's initializer: the string and its length. */
#define E(s) s, sizeof s - 1
static const dict_entry dict[] = {
    /* 00 */ {E("110100")},
    /* 01 */ {E("110101")},
    /* 02 */ {E("110102")},
    /* 03 */ {E("110103")},
    /* 04 */ {E("110104")},
    /* 05 */ {E("110105")},
    /* 06 */ {E("110106")},
    /* 07 */ {E("110107")},
    /* 08 */ {E("110108")},
    /* 09 */ {E("110109")},
    /* 0a */ {E("110110")},
    /* 0b */ {E("110111")},
    /* 0c */ {E("110112")},
    /* 0d */ {E("110113")},
    /* 0e */ {E("110114")},
    /* 0f */ {E("110122")},
    /* 10 */ {E("110123")},
    /* 11 */ {E("110150")},
    /* 12 */ {E("110151")},
    /* 13 */ {E("110152")},
    /* 14 */ {E("110153")},
    /* 15 */ {E("110154")},
    /* 16 */ {E("110155")},
    /* 17 */ {E("159541003")},
    /* 18 */ {E("429577009")},
    /* 19 */ {E("AllergyIntolerance")},
    /* 1a */ {E("Application")},
    /* 1b */ {E("Application Activity")},
    /* 1c */ {E("Application Launcher")},
    /* 1d */ {E("Application Server")},
    /* 1e */ {E("Audit Log Used")},
    /* 1f */ {E("AuditEvent")},
    /* 20 */ {E("Begin Transferring DICOM Instances")},
    /* 21 */ {E("Binary")},
    /* 22 */ {E("Bundle")},
    /* 23 */ {E("CAREMGT")},
    /* 24 */ {E("CLMATTCH")},
    /* 25 */ {E("COVAUTH")},
    /* 26 */ {E("COVERAGE")},
    /* 27 */ {E("CarePlan")},
    /* 28 */ {E("Claim")},
    /* 29 */ {E("Composition")},
    /* 2a */ {E("Condition")},
    /* 2b */ {E("Consent")},
    /* 2c */ {E("Coverage")},
    /* 2d */ {E("DELAU")},
    /* 2e */ {E("DICOM Instances Accessed")},
    /* 2f */ {E("DICOM Instances Transferred")},
    /* 30 */ {E("DICOM Study Deleted")},
    /* 31 */ {E("Data Destination")},
    /* 32 */ {E("Data Interface")},
    /* 33 */ {E("Data Repository")},
    /* 34 */ {E("Database Server")},
    /* 35 */ {E("Destination Media")},
    /* 36 */ {E("Destination Role ID")},
    /* 37 */ {E("Device")},
    /* 38 */ {E("DiagnosticReport")},
    /* 39 */ {E("Disclose")},
    /* 3a */ {E("DocumentReference")},
    /* 3b */ {E("Domain Resource")},
    /* 3c */ {E("ELIGVER")},
    /* 3d */ {E("ERTREAT")},
    /* 3e */ {E("ETREAT")},
    /* 3f */ {E("Emergency Treatment")},
    /* 40 */ {E("Encounter")},
    /* 41 */ {E("Endpoint")},
    /* 42 */ {E("ExplanationOfBenefit")},
    /* 43 */ {E("Export")},
    /* 44 */ {E("FAMRQT")},
    /* 45 */ {E("Group")},
    /* 46 */ {E("HACCRED")},
    /* 47 */ {E("HCOMPL")},
    /* 48 */ {E("HDIRECT")},
    /* 49 */ {E("HIV/AIDS information sensitivity")},
    /* 4a */ {E("HLEGAL")},
    /* 4b */ {E("HMARKT")},
    /* 4c */ {E("HOPERAT")},
    /* 4d */ {E("HPAYMT")},
    /* 4e */ {E("HQUALIMP")},
    /* 4f */ {E("HRESCH")},
    /* 50 */ {E("HSYSADMIN")},
    /* 51 */ {E("ImagingStudy")},
    /* 52 */ {E("Immunization")},
    /* 53 */ {E("Import")},
    /* 54 */ {E("Location")},
    /* 55 */ {E("Login")},
    /* 56 */ {E("Logout")},
    /* 57 */ {E("MASKED")},
    /* 58 */ {E("Major failure")},
    /* 59 */ {E("MedicationAdministration")},
    /* 5a */ {E("MedicationRequest")},
    /* 5b */ {E("Minor failure")},
    /* 5c */ {E("Network Device")},
    /* 5d */ {E("Network Entry")},
    /* 5e */ {E("Network Router")},
    /* 5f */ {E("Observation")},
    /* 60 */ {E("Order Record")},
    /* 61 */ {E("Organization")},
    /* 62 */ {E("Other")},
    /* 63 */ {E("PATADMIN")},
    /* 64 */ {E("PATRQT")},
    /* 65 */ {E("PATSFTY")},
    /* 66 */ {E("PSEUDED")},
    /* 67 */ {E("PUBHLTH")},
    /* 68 */ {E("PWATRNY")},
    /* 69 */ {E("Patient")},
    /* 6a */ {E("Patient Record")},
    /* 6b */ {E("Person")},
    /* 6c */ {E("Practitioner")},
    /* 6d */ {E("PractitionerRole")},
    /* 6e */ {E("Procedure")},
    /* 6f */ {E("Procedure Record")},
    /* 70 */ {E("Provenance")},
    /* 71 */ {E("Query")},
    /* 72 */ {E("QuestionnaireResponse")},
    /* 73 */ {E("RECORDMGT")},
    /* 74 */ {E("RESTful Operation")},
    /* 75 */ {E("RelatedPerson")},
    /* 76 */ {E("Report")},
    /* 77 */ {E("Resource")},
    /* 78 */ {E("Restful Operation")},
    /* 79 */ {E("Schedule")},
    /* 7a */ {E("Security Alert")},
    /* 7b */ {E("Security Resource")},
    /* 7c */ {E("Security Server")},
    /* 7d */ {E("Security User Entity")},
    /* 7e */ {E("Security User Group")},
    /* 7f */ {E("Serious failure")},
    /* 80 */ {E("ServiceRequest")},
    /* 81 */ {E("Source Media")},
    /* 82 */ {E("Source Role ID")},
    /* 83 */ {E("Success")},
    /* 84 */ {E("System Object")},
    /* 85 */ {E("TREAT")},
    /* 86 */ {E("User Authentication")},
    /* 87 */ {E("User Device")},
    /* 88 */ {E("Web Server")},
    /* 89 */ {E("XrequestId")},
    /* 8a */ {E("access")},
    /* 8b */ {E("alert")},
    /* 8c */ {E("author")},
    /* 8d */ {E("author (originator)")},
    /* 8e */ {E("authserver")},
    /* 8f */ {E("batch")},
    /* 90 */ {E("care management")},
    /* 91 */ {E("claim attachment")},
    /* 92 */ {E("coverage authorization")},
    /* 93 */ {E("coverage under policy or program")},
    /* 94 */ {E("create")},
    /* 95 */ {E("critical")},
    /* 96 */ {E("custodian")},
    /* 97 */ {E("datacollector")},
    /* 98 */ {E("dataprocessor")},
    /* 99 */ {E("datasubject")},
    /* 9a */ {E("debug")},
    /* 9b */ {E("delete")},
    /* 9c */ {E("delete after use")},
    /* 9d */ {E("directory")},
    /* 9e */ {E("disclose")},
    /* 9f */ {E("eligibility verification")},
    /* a0 */ {E("emergency")},
    /* a1 */ {E("emergency room treatment")},
    /* a2 */ {E("error")},
    /* a3 */ {E("family requested")},
    /* a4 */ {E("health accreditation")},
    /* a5 */ {E("health compliance")},
    /* a6 */ {E("health quality improvement")},
    /* a7 */ {E("health system administration")},
    /* a8 */ {E("healthcare marketing")},
    /* a9 */ {E("healthcare operations")},
    /* aa */ {E("healthcare payment")},
    /* ab */ {E("healthcare research")},
    /* ac */ {E("history")},
    /* ad */ {E("history-instance")},
    /* ae */ {E("history-type")},
    /* af */ {E("http://dicom.nema.org/resources/ontology/DCM")},
    /* b0 */ {E("http://hl7.org/fhir/audit-entity-type")},
    /* b1 */ {E("http://hl7.org/fhir/audit-event-type")},
    /* b2 */ {E("http://hl7.org/fhir/fhir-types")},
    /* b3 */ {E("http://hl7.org/fhir/iso-21089-lifecycle")},
    /* b4 */ {E("http://hl7.org/fhir/issue-severity")},
    /* b5 */ {E("http://hl7.org/fhir/object-lifecycle-events")},
    /* b6 */ {E("http://hl7.org/fhir/object-role")},
    /* b7 */ {E("http://hl7.org/fhir/resource-types")},
    /* b8 */ {E("http://hl7.org/fhir/restful-interaction")},
    /* b9 */ {E("http://hl7.org/fhir/security-source-type")},
    /* ba */ {E("http://hl7.org/fhir/sid/us-npi")},
    /* bb */ {E("http://hl7.org/fhir/sid/us-ssn")},
    /* bc */ {E("http://loinc.org")},
    /* bd */ {E("http://snomed.info/sct")},
    /* be */ {E("http://terminology.hl7.org/CodeSystem/audit-entity-type")},
    /* bf */ {E("http://terminology.hl7.org/CodeSystem/audit-event-outcome")},
    /* c0 */ {E("http://terminology.hl7.org/CodeSystem/audit-event-type")},
    /* c1 */ {E("http://terminology.hl7.org/CodeSystem/extra-security-role-type")},
    /* c2 */ {E("http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle")},
    /* c3 */ {E("http://terminology.hl7.org/CodeSystem/object-role")},
    /* c4 */ {E("http://terminology.hl7.org/CodeSystem/provenance-participant-type")},
    /* c5 */ {E("http://terminology.hl7.org/CodeSystem/security-source-type")},
    /* c6 */ {E("http://terminology.hl7.org/CodeSystem/v2-0203")},
    /* c7 */ {E("http://terminology.hl7.org/CodeSystem/v3-ActCode")},
    /* c8 */ {E("http://terminology.hl7.org/CodeSystem/v3-ActReason")},
    /* c9 */ {E("http://terminology.hl7.org/CodeSystem/v3-ActUSPrivacyLaw")},
    /* ca */ {E("http://terminology.hl7.org/CodeSystem/v3-Confidentiality")},
    /* cb */ {E("http://terminology.hl7.org/CodeSystem/v3-ObservationValue")},
    /* cc */ {E("http://terminology.hl7.org/CodeSystem/v3-ParticipationType")},
    /* cd */ {E("http://terminology.hl7.org/CodeSystem/v3-RoleClass")},
    /* ce */ {E("http://terminology.hl7.org/CodeSystem/v3-RoleCode")},
    /* cf */ {E("https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType")},
    /* d0 */ {E("https://profiles.ihe.net/ITI/MHD/CodeSystem/BasicAuditEntityType")},
    /* d1 */ {E("humanuser")},
    /* d2 */ {E("informant")},
    /* d3 */ {E("information recipient")},
    /* d4 */ {E("informational")},
    /* d5 */ {E("legal")},
    /* d6 */ {E("masked")},
    /* d7 */ {E("normal")},
    /* d8 */ {E("notice")},
    /* d9 */ {E("operation")},
    /* da */ {E("originate")},
    /* db */ {E("patch")},
    /* dc */ {E("patient administration")},
    /* dd */ {E("patient requested")},
    /* de */ {E("patient safety")},
    /* df */ {E("performer")},
    /* e0 */ {E("power of attorney")},
    /* e1 */ {E("pseudonymized")},
    /* e2 */ {E("psychiatry information sensitivity")},
    /* e3 */ {E("public health")},
    /* e4 */ {E("receive")},
    /* e5 */ {E("records management")},
    /* e6 */ {E("responsible party")},
    /* e7 */ {E("restricted")},
    /* e8 */ {E("search")},
    /* e9 */ {E("search-type")},
    /* ea */ {E("sexually transmitted disease information sensitivity")},
    /* eb */ {E("substance abuse information sensitivity")},
    /* ec */ {E("transaction")},
    /* ed */ {E("transmit")},
    /* ee */ {E("treatment")},
    /* ef */ {E("update")},
    /* f0 */ {E("urn:ietf:rfc:3986")},
    /* f1 */ {E("urn:ihe:event-type-code")},
    /* f2 */ {E("urn:oid:2.16.840.1.113883.4.1")},
    /* f3 */ {E("urn:oid:2.16.840.1.113883.4.6")},
    /* f4 */ {E("very restricted")},
    /* f5 */ {E("vread")},
    /* f6 */ {E("warning")},
};
#undef E

#define DICT_N       (sizeof dict / sizeof dict[0])
#define DICT_MIN_LEN 5 /* no entry is shorter: shorter strings skip the search */

/* The index of s (n bytes) in dict, or -1. */
static int dict_find(const char *s, size_t n)
{
    size_t lo = 0, hi = DICT_N, mid;
    int c;

    if (n < DICT_MIN_LEN)
        return -1;
    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        c = memcmp(s, dict[mid].s, n < dict[mid].n ? n : dict[mid].n);
        if (c == 0)
            c = (n > dict[mid].n) - (n < dict[mid].n);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* ================================================================ encoder */

static const char hexdigits[] = "0123456789abcdef";

static int put_u64(aod_buf *b, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return aod_buf_add(b, tmp + i, sizeof tmp - i);
}

static int put_i64(aod_buf *b, int64_t v)
{
    if (v < 0) {
        if (aod_buf_addc(b, '-'))
            return -1;
        return put_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return put_u64(b, (uint64_t)v);
}

static int put_escaped(aod_buf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, run = 0, u;
    char esc[4];

    while (i < n) {
        unsigned char c = s[i];

        if (c >= 0x20 && c < 0x7F && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80 && (u = aod_utf8_decode(s + i, n - i, NULL)) != 0) {
            i += u;
            continue;
        }
        if (aod_buf_add(b, s + run, i - run))
            return -1;
        esc[0] = '\\';
        switch (c) {
        case '\\':
            esc[1] = '\\';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        default:
            esc[1] = 'x';
            esc[2] = hexdigits[c >> 4];
            esc[3] = hexdigits[c & 15];
            break;
        }
        if (aod_buf_add(b, esc, esc[1] == 'x' ? 4 : 2))
            return -1;
        i++;
        run = i;
    }
    return aod_buf_add(b, s + run, n - run);
}

/* A string field preceded by its TAB: nothing for NULL, \e for "", \~hh for
 * a dictionary string, else the escaped bytes. */
static int put_str(aod_buf *b, const char *s)
{
    char ref[4] = {'\\', '~', 0, 0};
    size_t n;
    int i;

    if (aod_buf_addc(b, '\t'))
        return -1;
    if (!s)
        return 0;
    if (!*s)
        return aod_buf_add(b, "\\e", 2);
    n = strlen(s);
    if ((i = dict_find(s, n)) >= 0) {
        ref[2] = hexdigits[i >> 4];
        ref[3] = hexdigits[i & 15];
        return aod_buf_add(b, ref, sizeof ref);
    }
    return put_escaped(b, s, n);
}

static int put_num(aod_buf *b, int64_t v)
{
    return aod_buf_addc(b, '\t') || put_i64(b, v) ? -1 : 0;
}

/* when_start and when_end: "=" when the same as recorded, as most are. */
static int put_time(aod_buf *b, int64_t v, int64_t recorded)
{
    return v == recorded ? aod_buf_add(b, "\t=", 2) : put_num(b, v);
}

static int put_ref(aod_buf *b, const aod_ref *r)
{
    return put_str(b, r->reference) || put_str(b, r->type) || put_str(b, r->id_system) ||
                   put_str(b, r->id_value) || put_str(b, r->display)
               ? -1
               : 0;
}

static int put_coding(aod_buf *b, const aod_coding *c)
{
    return put_str(b, c->system) || put_str(b, c->code) || put_str(b, c->display) ? -1 : 0;
}

static int put_codings(aod_buf *b, const aod_codings *list)
{
    size_t i;

    if (put_num(b, (int64_t)list->n))
        return -1;
    for (i = 0; i < list->n; i++)
        if (put_coding(b, &list->v[i]))
            return -1;
    return 0;
}

static int put_strs(aod_buf *b, const char *const *v, size_t n)
{
    size_t i;

    if (put_num(b, (int64_t)n))
        return -1;
    for (i = 0; i < n; i++)
        if (put_str(b, v[i]))
            return -1;
    return 0;
}

/* Empty when not recorded, else the one byte escaped like a string's. */
static int put_action(aod_buf *b, char action)
{
    if (aod_buf_addc(b, '\t'))
        return -1;
    return action ? put_escaped(b, &action, 1) : 0;
}

static int tri(int v)
{
    return v > 0 ? 1 : v < 0 ? -1 : 0;
}

static int put_agent(aod_buf *b, const aod_agent *a)
{
    return aod_buf_addc(b, 'A') || put_ref(b, &a->who) || put_str(b, a->name) ||
                   put_str(b, a->alt_id) || put_codings(b, &a->type) || put_codings(b, &a->role) ||
                   put_num(b, tri(a->requestor)) || put_str(b, a->network) ||
                   put_str(b, a->location) || put_codings(b, &a->purpose) ||
                   put_strs(b, a->policy, a->n_policy) || aod_buf_addc(b, '\n')
               ? -1
               : 0;
}

static int put_entity(aod_buf *b, const aod_entity *e)
{
    return aod_buf_addc(b, 'E') || put_ref(b, &e->what) || put_coding(b, &e->type) ||
                   put_coding(b, &e->role) || put_str(b, e->name) || put_str(b, e->description) ||
                   put_codings(b, &e->security) || put_num(b, e->has_query ? 1 : 0) ||
                   aod_buf_addc(b, '\n')
               ? -1
               : 0;
}

static int has_context(const aod_record *r)
{
    const aod_ref *e = &r->encounter;

    return e->reference || e->type || e->id_system || e->id_value || e->display ||
           r->n_based_on > 0;
}

int aod_recio_encode(const aod_record *r, aod_buf *out, aod_error *err)
{
    size_t i;
    int v3 = has_context(r);

    /* aod3 only when there is a context line to write: every other record
     * stays byte for byte what aod2 binaries wrote and read. */
    if (aod_buf_adds(out, v3 ? AOD_RECIO_VERSION_CONTEXT "\nR" : AOD_RECIO_VERSION "\nR") ||
        put_str(out, r->id) || put_num(out, (int64_t)r->version) || put_num(out, r->recorded) ||
        put_time(out, r->when_start, r->recorded) || put_time(out, r->when_end, r->recorded) ||
        put_action(out, r->action) || put_str(out, r->outcome) || put_str(out, r->outcome_text) ||
        put_str(out, r->severity) || put_str(out, r->x_request_id) || put_str(out, r->site) ||
        put_ref(out, &r->observer) || put_codings(out, &r->type) || put_codings(out, &r->subtype) ||
        put_codings(out, &r->purpose) || put_codings(out, &r->source_type) ||
        put_num(out, (int64_t)r->n_agents) || put_num(out, (int64_t)r->n_entities) ||
        put_strs(out, r->patient_keys, r->n_patient_keys) || aod_buf_addc(out, '\n'))
        goto nomem;
    for (i = 0; i < r->n_agents; i++)
        if (put_agent(out, &r->agents[i]))
            goto nomem;
    for (i = 0; i < r->n_entities; i++)
        if (put_entity(out, &r->entities[i]))
            goto nomem;
    if (v3) {
        if (aod_buf_addc(out, 'C') || put_ref(out, &r->encounter) ||
            put_num(out, (int64_t)r->n_based_on))
            goto nomem;
        for (i = 0; i < r->n_based_on; i++)
            if (put_ref(out, &r->based_on[i]))
                goto nomem;
        if (aod_buf_addc(out, '\n'))
            goto nomem;
    }
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory encoding a record");
    return -1;
}

/* ================================================================ decoder */

/* Fewest encoded bytes one list element can take (the same in aod1 and
 * aod2): a bound on counts before anything is allocated for them, so garbage
 * cannot ask for gigabytes. */
#define MIN_CODING 3
#define MIN_STRING 1
#define MIN_AGENT  20
#define MIN_ENTITY 18
#define MIN_REF    5

/* The bytes that end a run of plain string bytes: the separators and the
 * escape.  Every other byte, raw control bytes included, is string data. */
static const unsigned char run_stop[256] = {['\t'] = 1, ['\n'] = 1, ['\\'] = 1};

typedef struct reader {
    char *start; /* the record's copy of the text; NULL before it exists */
    char *p;     /* next byte to read */
    char *end;   /* one past the text's last byte; holds a sentinel LF */
    char sep;    /* the separator that ended the last field */
    int v2;      /* 1 for aod2 or aod3 text, 0 for aod1 */
    int v3;      /* 1 for aod3 text (a context line follows the entities) */
    aod_record *r;
    aod_error *err;
} reader;

static int fail(reader *d, const char *field, const char *what)
{
    aod_error_set(d->err, AOD_ERR_INPUT, NULL, 0, field, "%s at byte %zu of the stored record",
                  what, d->start ? (size_t)(d->p - d->start) : (size_t)0);
    return -1;
}

static int fail_at(reader *d, char *p, const char *field, const char *what)
{
    d->p = p;
    return fail(d, field, what);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int lowerhex(char c)
{
    return c >= 'A' && c <= 'F' ? -1 : hexval(c);
}

static int is_sep(char c)
{
    return c == '\t' || c == '\n';
}

/* The rest of get_str() for a field with a backslash at p; run is where the
 * field starts.  Tokens that stand for the whole field first, then the
 * escapes, unescaped in place. */
static int get_escaped(reader *d, const char **out, const char *field, char *run, char *p)
{
    char *end = d->end, *o, *from;
    int hi, lo;

    if (p == run && d->v2 && p + 1 < end && p[1] == 'e') {
        if (p + 2 >= end)
            return fail_at(d, p, field, "cut short");
        if (!is_sep(p[2]))
            return fail_at(d, p, field, "\\e not alone in its field");
        d->sep = p[2];
        d->p = p + 3;
        *p = '\0';
        *out = p;
        return 0;
    }
    if (p == run && d->v2 && p + 1 < end && p[1] == '~') {
        if (end - p < 5)
            return fail_at(d, p, field, "cut short inside a \\~ reference");
        if ((hi = lowerhex(p[2])) < 0 || (lo = lowerhex(p[3])) < 0)
            return fail_at(d, p, field, "bad \\~ reference");
        if ((size_t)(hi << 4 | lo) >= DICT_N)
            return fail_at(d, p, field, "\\~ reference to no dictionary entry");
        if (!is_sep(p[4]))
            return fail_at(d, p, field, "\\~ reference not alone in its field");
        d->sep = p[4];
        d->p = p + 5;
        *out = dict[hi << 4 | lo].s;
        return 0;
    }
    if (p == run && !d->v2 && end - p >= 3 && p[1] == 'N' && is_sep(p[2])) {
        d->sep = p[2];
        d->p = p + 3;
        *out = NULL;
        return 0;
    }
    o = p;
    for (;;) {
        /* p is at a backslash */
        if (end - p < 2)
            return fail_at(d, p, field, "cut short inside an escape");
        switch (p[1]) {
        case '\\':
            *o++ = '\\';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 'x':
            if (end - p < 4 || (hi = hexval(p[2])) < 0 || (lo = hexval(p[3])) < 0 || (hi | lo) == 0)
                return fail_at(d, p, field, "bad \\x escape");
            *o++ = (char)(hi << 4 | lo);
            p += 2;
            break;
        case 'e':
        case '~':
            if (d->v2)
                return fail_at(d, p, field,
                               p[1] == 'e' ? "\\e not alone in its field"
                                           : "\\~ reference not alone in its field");
            return fail_at(d, p, field, "unknown escape");
        default:
            return fail_at(d, p, field, "unknown escape");
        }
        p += 2;
        from = p;
        while (!run_stop[(unsigned char)*p])
            p++;
        memmove(o, from, (size_t)(p - from));
        o += p - from;
        if (*p != '\\')
            break;
    }
    if (p == end)
        return fail_at(d, p, field, "cut short");
    d->sep = *p;
    d->p = p + 1;
    *o = '\0';
    *out = run;
    return 0;
}

/* One string field.  The common case, no backslash, costs a scan and a NUL
 * written over the separator. */
static int get_str(reader *d, const char **out, const char *field)
{
    char *run = d->p, *p = run;

    if (d->sep != '\t')
        return fail(d, field, "line ends early");
    while (!run_stop[(unsigned char)*p])
        p++;
    if (*p == '\\')
        return get_escaped(d, out, field, run, p);
    if (p == d->end)
        return fail_at(d, p, field, "cut short");
    d->sep = *p;
    d->p = p + 1;
    if (p == run && d->v2) {
        *out = NULL;
        return 0;
    }
    *p = '\0';
    *out = run;
    return 0;
}

static int get_i64(reader *d, int64_t *out, const char *field)
{
    char *p = d->p, *end = d->end;
    int neg = 0;
    uint64_t v = 0, limit;

    if (d->sep != '\t')
        return fail(d, field, "line ends early");
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (p == end || *p < '0' || *p > '9')
        return fail(d, field, "not a number");
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (v > (limit - digit) / 10)
            return fail(d, field, "number out of range");
        v = v * 10 + digit;
    }
    if (p == end || !is_sep(*p))
        return fail_at(d, p, field, p == end ? "cut short" : "not a number");
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    d->sep = *p;
    d->p = p + 1;
    return 0;
}

/* when_start, when_end: aod2 writes "=" for "the same as recorded". */
static int get_time(reader *d, int64_t *out, int64_t recorded, const char *field)
{
    char *p = d->p;

    if (d->v2 && d->sep == '\t' && d->end - p >= 2 && p[0] == '=' && is_sep(p[1])) {
        *out = recorded;
        d->sep = p[1];
        d->p = p + 2;
        return 0;
    }
    return get_i64(d, out, field);
}

static int get_range(reader *d, int64_t *out, int64_t lo, int64_t hi, const char *field)
{
    if (get_i64(d, out, field))
        return -1;
    if (*out < lo || *out > hi)
        return fail(d, field, "value out of range");
    return 0;
}

static int get_count(reader *d, size_t *n, size_t min_bytes, const char *field)
{
    int64_t v;

    if (get_i64(d, &v, field))
        return -1;
    if (v < 0 || (uint64_t)v > (uint64_t)(d->end - d->p) / min_bytes)
        return fail(d, field, "count does not fit the record");
    *n = (size_t)v;
    return 0;
}

static void *get_array(reader *d, size_t n, size_t elem, const char *field)
{
    void *p;

    if (n == 0)
        return NULL;
    p = aod_record_alloc(d->r, n * elem);
    if (!p)
        aod_error_set(d->err, AOD_ERR_NOMEM, NULL, 0, field, "out of memory decoding a record");
    return p;
}

static int get_ref(reader *d, aod_ref *r, const char *f_ref, const char *f_type, const char *f_sys,
                   const char *f_val, const char *f_disp)
{
    return get_str(d, &r->reference, f_ref) || get_str(d, &r->type, f_type) ||
                   get_str(d, &r->id_system, f_sys) || get_str(d, &r->id_value, f_val) ||
                   get_str(d, &r->display, f_disp)
               ? -1
               : 0;
}

static int get_coding(reader *d, aod_coding *c, const char *field)
{
    return get_str(d, &c->system, field) || get_str(d, &c->code, field) ||
                   get_str(d, &c->display, field)
               ? -1
               : 0;
}

static int get_codings(reader *d, aod_codings *list, const char *field)
{
    size_t i, n;

    if (get_count(d, &n, MIN_CODING, field))
        return -1;
    if (n && !(list->v = get_array(d, n, sizeof *list->v, field)))
        return -1;
    for (i = 0; i < n; i++) {
        if (get_coding(d, &list->v[i], field))
            return -1;
        list->n++;
    }
    return 0;
}

static int get_strs(reader *d, const char ***v, size_t *count, const char *field)
{
    size_t i, n;

    if (get_count(d, &n, MIN_STRING, field))
        return -1;
    if (n && !(*v = get_array(d, n, sizeof **v, field)))
        return -1;
    for (i = 0; i < n; i++) {
        if (get_str(d, &(*v)[i], field))
            return -1;
        ++*count;
    }
    return 0;
}

static int begin_line(reader *d, char tag, const char *field)
{
    if (d->end - d->p < 2 || d->p[0] != tag || d->p[1] != '\t')
        return fail(d, field, "line missing or mistagged");
    d->p += 2;
    d->sep = '\t';
    return 0;
}

static int end_line(reader *d, const char *field)
{
    if (d->sep != '\n')
        return fail(d, field, "extra fields at end of line");
    return 0;
}

static int get_agent(reader *d, aod_agent *a)
{
    int64_t req;

    if (begin_line(d, 'A', "agent") ||
        get_ref(d, &a->who, "agent.who.reference", "agent.who.type", "agent.who.identifier.system",
                "agent.who.identifier.value", "agent.who.display") ||
        get_str(d, &a->name, "agent.name") || get_str(d, &a->alt_id, "agent.altId") ||
        get_codings(d, &a->type, "agent.type") || get_codings(d, &a->role, "agent.role") ||
        get_range(d, &req, -1, 1, "agent.requestor"))
        return -1;
    a->requestor = (int)req;
    if (get_str(d, &a->network, "agent.network") || get_str(d, &a->location, "agent.location") ||
        get_codings(d, &a->purpose, "agent.purpose") ||
        get_strs(d, &a->policy, &a->n_policy, "agent.policy") || end_line(d, "agent"))
        return -1;
    return 0;
}

static int get_entity(reader *d, aod_entity *e)
{
    int64_t q;

    if (begin_line(d, 'E', "entity") ||
        get_ref(d, &e->what, "entity.what.reference", "entity.what.type",
                "entity.what.identifier.system", "entity.what.identifier.value",
                "entity.what.display") ||
        get_coding(d, &e->type, "entity.type") || get_coding(d, &e->role, "entity.role") ||
        get_str(d, &e->name, "entity.name") || get_str(d, &e->description, "entity.description") ||
        get_codings(d, &e->security, "entity.securityLabel") ||
        get_range(d, &q, 0, 1, "entity.has_query") || end_line(d, "entity"))
        return -1;
    e->has_query = (int)q;
    return 0;
}

int aod_recio_decode(const char *text, size_t len, aod_record *r, aod_error *err)
{
    static const char head1[] = "aod1\n", head2[] = "aod2\n", head3[] = "aod3\n";
    const size_t head_len = sizeof head1 - 1;
    int64_t row_id = r->row_id, v;
    const char *action;
    size_t i, n_agents, n_entities;
    reader d;

    aod_record_clear(r);
    r->row_id = row_id;
    if (!text || len >= SIZE_MAX / 2)
        len = 0;
    memset(&d, 0, sizeof d);
    d.r = r;
    d.err = err;
    if (len >= head_len && memcmp(text, head2, head_len) == 0)
        d.v2 = 1;
    else if (len >= head_len && memcmp(text, head3, head_len) == 0)
        d.v2 = d.v3 = 1;
    else if (len < head_len || memcmp(text, head1, head_len) != 0)
        return fail(&d, "version", "not an aod1, aod2 or aod3 record");
    d.start = aod_record_alloc(r, len + 1);
    if (!d.start) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory decoding a record");
        return -1;
    }
    memcpy(d.start, text, len);
    d.end = d.start + len;
    *d.end = '\n'; /* the sentinel that ends every scan for a separator */
    d.p = d.start + head_len;
    d.sep = '\t';

    if (begin_line(&d, 'R', "record") || get_str(&d, &r->id, "id") || get_i64(&d, &v, "version"))
        return -1;
    if (v != AOD_FHIR_UNKNOWN && v != AOD_FHIR_R4 && v != AOD_FHIR_R5 && v != AOD_FHIR_R6)
        return fail(&d, "version", "unknown FHIR version");
    r->version = (aod_fhir_version)v;
    if (get_i64(&d, &r->recorded, "recorded") ||
        get_time(&d, &r->when_start, r->recorded, "when_start") ||
        get_time(&d, &r->when_end, r->recorded, "when_end") || get_str(&d, &action, "action"))
        return -1;
    /* Not recorded is "" in aod1 (where NULL is refused) and NULL in aod2
     * (where "" is refused): one spelling each. */
    if ((d.v2 ? (action && !action[0]) : !action) || (action && action[0] && action[1]))
        return fail(&d, "action", "action is not one byte");
    r->action = action ? action[0] : '\0';
    if (get_str(&d, &r->outcome, "outcome") || get_str(&d, &r->outcome_text, "outcome_text") ||
        get_str(&d, &r->severity, "severity") || get_str(&d, &r->x_request_id, "x_request_id") ||
        get_str(&d, &r->site, "source.site") ||
        get_ref(&d, &r->observer, "source.observer.reference", "source.observer.type",
                "source.observer.identifier.system", "source.observer.identifier.value",
                "source.observer.display") ||
        get_codings(&d, &r->type, "type") || get_codings(&d, &r->subtype, "subtype") ||
        get_codings(&d, &r->purpose, "purpose") ||
        get_codings(&d, &r->source_type, "source.type") ||
        get_count(&d, &n_agents, MIN_AGENT, "n_agents") ||
        get_count(&d, &n_entities, MIN_ENTITY, "n_entities") ||
        get_strs(&d, &r->patient_keys, &r->n_patient_keys, "patient_keys") ||
        end_line(&d, "record"))
        return -1;

    if (n_agents && !(r->agents = get_array(&d, n_agents, sizeof *r->agents, "agent")))
        return -1;
    for (i = 0; i < n_agents; i++) {
        if (get_agent(&d, &r->agents[i]))
            return -1;
        r->n_agents++;
    }
    if (n_entities && !(r->entities = get_array(&d, n_entities, sizeof *r->entities, "entity")))
        return -1;
    for (i = 0; i < n_entities; i++) {
        if (get_entity(&d, &r->entities[i]))
            return -1;
        r->n_entities++;
    }
    if (d.v3) {
        size_t n_based;
        if (begin_line(&d, 'C', "context") ||
            get_ref(&d, &r->encounter, "encounter.reference", "encounter.type",
                    "encounter.identifier.system", "encounter.identifier.value",
                    "encounter.display") ||
            get_count(&d, &n_based, MIN_REF, "basedOn"))
            return -1;
        if (n_based && !(r->based_on = get_array(&d, n_based, sizeof *r->based_on, "basedOn")))
            return -1;
        for (i = 0; i < n_based; i++) {
            if (get_ref(&d, &r->based_on[i], "basedOn.reference", "basedOn.type",
                        "basedOn.identifier.system", "basedOn.identifier.value", "basedOn.display"))
                return -1;
            r->n_based_on++;
        }
        if (end_line(&d, "context"))
            return -1;
    }
    if (d.p != d.end)
        return fail(&d, "record", "trailing bytes after the last line");
    return 0;
}

/* =================================================================== dump */

static int dump_quoted(aod_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    char esc[4] = {'\\', 'x', 0, 0};

    if (!s)
        return aod_buf_add(b, "null", 4);
    if (aod_buf_addc(b, '"'))
        return -1;
    for (; *p; p++) {
        if (*p == '"' || *p == '\\') {
            esc[1] = (char)*p;
            if (aod_buf_add(b, esc, 2))
                return -1;
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[1] = 'x';
            esc[2] = hex[*p >> 4];
            esc[3] = hex[*p & 15];
            if (aod_buf_add(b, esc, 4))
                return -1;
        } else if (aod_buf_addc(b, (char)*p)) {
            return -1;
        }
    }
    return aod_buf_addc(b, '"');
}

static int dump_str(aod_buf *b, const char *prefix, const char *name, const char *s)
{
    if (!s)
        return 0;
    return aod_buf_printf(b, "%s%s: ", prefix, name) || dump_quoted(b, s) || aod_buf_addc(b, '\n')
               ? -1
               : 0;
}

static int dump_coding_value(aod_buf *b, const aod_coding *c)
{
    return dump_quoted(b, c->system) || aod_buf_addc(b, ' ') || dump_quoted(b, c->code) ||
                   aod_buf_addc(b, ' ') || dump_quoted(b, c->display) || aod_buf_addc(b, '\n')
               ? -1
               : 0;
}

static int dump_coding(aod_buf *b, const char *prefix, const char *name, const aod_coding *c)
{
    if (!c->system && !c->code && !c->display)
        return 0;
    return aod_buf_printf(b, "%s%s: ", prefix, name) || dump_coding_value(b, c) ? -1 : 0;
}

static int dump_codings(aod_buf *b, const char *prefix, const char *name, const aod_codings *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (aod_buf_printf(b, "%s%s[%zu]: ", prefix, name, i) || dump_coding_value(b, &l->v[i]))
            return -1;
    return 0;
}

static int dump_ref(aod_buf *b, const char *prefix, const aod_ref *r)
{
    return dump_str(b, prefix, ".reference", r->reference) ||
                   dump_str(b, prefix, ".type", r->type) ||
                   dump_str(b, prefix, ".identifier.system", r->id_system) ||
                   dump_str(b, prefix, ".identifier.value", r->id_value) ||
                   dump_str(b, prefix, ".display", r->display)
               ? -1
               : 0;
}

static int dump_time(aod_buf *b, const char *name, int64_t ms)
{
    char t[64];

    return aod_buf_printf(b, "%s: %s\n", name, aod_time_format_utc(ms, t, sizeof t));
}

static int dump_agent(aod_buf *b, size_t i, const aod_agent *a)
{
    char p[48], who[64];
    size_t k;

    snprintf(p, sizeof p, "agent[%zu]", i);
    snprintf(who, sizeof who, "%s.who", p);
    if (dump_ref(b, who, &a->who) || dump_str(b, p, ".name", a->name) ||
        dump_str(b, p, ".altId", a->alt_id) || dump_codings(b, p, ".type", &a->type) ||
        dump_codings(b, p, ".role", &a->role))
        return -1;
    if (a->requestor >= 0 &&
        aod_buf_printf(b, "%s.requestor: %s\n", p, a->requestor ? "true" : "false"))
        return -1;
    if (dump_str(b, p, ".network", a->network) || dump_str(b, p, ".location", a->location) ||
        dump_codings(b, p, ".purpose", &a->purpose))
        return -1;
    for (k = 0; k < a->n_policy; k++)
        if (aod_buf_printf(b, "%s.policy[%zu]: ", p, k) || dump_quoted(b, a->policy[k]) ||
            aod_buf_addc(b, '\n'))
            return -1;
    return 0;
}

static int dump_entity(aod_buf *b, size_t i, const aod_entity *e)
{
    char p[48], what[64];

    snprintf(p, sizeof p, "entity[%zu]", i);
    snprintf(what, sizeof what, "%s.what", p);
    if (dump_ref(b, what, &e->what) || dump_coding(b, p, ".type", &e->type) ||
        dump_coding(b, p, ".role", &e->role) || dump_str(b, p, ".name", e->name) ||
        dump_str(b, p, ".description", e->description) ||
        dump_codings(b, p, ".securityLabel", &e->security))
        return -1;
    if (e->has_query && aod_buf_printf(b, "%s.query: present\n", p))
        return -1;
    return 0;
}

int aod_recio_dump(const aod_record *r, aod_buf *out, aod_error *err)
{
    size_t i;

    if (dump_str(out, "", "id", r->id) ||
        aod_buf_printf(out, "version: %s\n", aod_fhir_version_name(r->version)) ||
        dump_time(out, "recorded", r->recorded) || dump_time(out, "when_start", r->when_start) ||
        dump_time(out, "when_end", r->when_end))
        goto nomem;
    if (r->action) {
        char a[2] = {r->action, '\0'};
        if (dump_str(out, "", "action", a))
            goto nomem;
    }
    if (dump_str(out, "", "outcome", r->outcome) ||
        dump_str(out, "", "outcome_text", r->outcome_text) ||
        dump_codings(out, "", "type", &r->type) || dump_codings(out, "", "subtype", &r->subtype) ||
        dump_codings(out, "", "purpose", &r->purpose) ||
        dump_str(out, "", "severity", r->severity) ||
        dump_ref(out, "source.observer", &r->observer) ||
        dump_str(out, "", "source.site", r->site) ||
        dump_codings(out, "", "source.type", &r->source_type) ||
        dump_str(out, "", "x_request_id", r->x_request_id) ||
        aod_buf_printf(out, "agents: %zu\n", r->n_agents))
        goto nomem;
    for (i = 0; i < r->n_agents; i++)
        if (dump_agent(out, i, &r->agents[i]))
            goto nomem;
    if (aod_buf_printf(out, "entities: %zu\n", r->n_entities))
        goto nomem;
    for (i = 0; i < r->n_entities; i++)
        if (dump_entity(out, i, &r->entities[i]))
            goto nomem;
    if (aod_buf_printf(out, "patient_keys: %zu\n", r->n_patient_keys))
        goto nomem;
    for (i = 0; i < r->n_patient_keys; i++)
        if (aod_buf_printf(out, "patient_key[%zu]: ", i) || dump_quoted(out, r->patient_keys[i]) ||
            aod_buf_addc(out, '\n'))
            goto nomem;
    /* aod3's context: only when present, so older dumps stay as they were */
    if (dump_ref(out, "encounter", &r->encounter))
        goto nomem;
    for (i = 0; i < r->n_based_on; i++) {
        char name[32];
        snprintf(name, sizeof name, "basedOn[%zu]", i);
        if (dump_ref(out, name, &r->based_on[i]))
            goto nomem;
    }
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory dumping a record");
    return -1;
}
