/*
 * normalize.c - stage "normalize": R4 / R5 / R6-ballot AuditEvent JSON into
 * the plain record (see normalize.h, DOMAIN.md 2.1-2.2 and 3.x).
 *
 * Runs once per event at load time.  The reader follows shapes rather than
 * the guessed version: a store mixes versions, and senders mix shapes inside
 * one event (an R4 event with a CodeableConcept role, an R5 event with a bare
 * Coding), so each element is read in whichever of its known shapes it has.
 * The version is recorded for the reader's information only.
 *
 * What the report must not copy (the query payload, detail values, the data
 * itself) is never read into the record at all.
 */
#include "ingest/normalize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/recio.h"

#define BALP_ENTITY_TYPE "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
#define OBJECT_ROLE      "http://terminology.hl7.org/CodeSystem/object-role"
#define ENTITY_TYPE      "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define DCM              "http://dicom.nema.org/resources/ontology/DCM"
#define DCM_MEDIA        "110154" /* Destination Media */

/* A piece of a borrowed string. */
typedef struct span {
    const char *p;
    size_t n;
} span;

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* s[0..n) without blanks (space, TAB, CR, LF) at either end. */
static span trimmed(const char *s, size_t n)
{
    span t;

    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    t.p = s;
    t.n = n;
    return t;
}

/* ------------------------------------------------------------ JSON access */

static const char *jstr(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* 0..* elements: tolerate a lone object where an array was due. */
static size_t jlist_size(const json_t *v)
{
    if (json_is_array(v))
        return json_array_size(v);
    return json_is_object(v) ? 1 : 0;
}

static const json_t *jlist_get(const json_t *v, size_t i)
{
    if (json_is_array(v))
        return json_array_get(v, i);
    return i == 0 ? v : NULL;
}

static int str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static int str_ieq(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int starts_with(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ------------------------------------------------------------- references */

static int is_type_name(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || p[0] < 'A' || p[0] > 'Z')
        return 0;
    for (i = 1; i < n; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z')))
            return 0;
    return 1;
}

/* Looser than FHIR's [A-Za-z0-9-.]{1,64}: stores hold ids from servers that
 * never checked.  Anything that cannot be part of a path segment is out. */
static int is_id(const char *p, size_t n)
{
    size_t i;

    if (n == 0 || n > 256)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '|')
            return 0;
    }
    return 1;
}

/*
 * Makes a literal reference relative: "http://host/fhir/Patient/7/_history/3"
 * gives ref "Patient/7" and type "Patient".  The same resource is written
 * relative by one server and absolute by another; patient keys and the
 * de-duplication must see one form.  A reference that does not end in
 * Type/id ("#contained", "urn:uuid:...", anything odd) is kept whole (only a
 * _history tail is cut) and gets no type.  Both results point into s.
 */
static void ref_relative(const char *s, size_t n, span *ref, span *type)
{
    size_t i, id_at, type_at;

    ref->p = s;
    ref->n = n;
    type->p = NULL;
    type->n = 0;
    if ((n > 0 && s[0] == '#') || (n >= 4 && memcmp(s, "urn:", 4) == 0))
        return;
    for (i = 0; i + 9 <= n; i++)
        if (memcmp(s + i, "/_history", 9) == 0 && (i + 9 == n || s[i + 9] == '/')) {
            n = i;
            break;
        }
    while (n > 0 && s[n - 1] == '/')
        n--;
    ref->n = n;
    for (i = n; i > 0 && s[i - 1] != '/'; i--)
        ;
    if (i == 0)
        return;
    id_at = i;
    for (i = id_at - 1; i > 0 && s[i - 1] != '/'; i--)
        ;
    type_at = i;
    if (!is_id(s + id_at, n - id_at) || !is_type_name(s + type_at, id_at - 1 - type_at))
        return;
    ref->p = s + type_at;
    ref->n = n - type_at;
    type->p = s + type_at;
    type->n = id_at - 1 - type_at;
}

static int is_patient_type(const char *t)
{
    size_t n;

    if (!t)
        return 0;
    /* Reference.type is a URI: "Patient" or a StructureDefinition URL. */
    n = strlen(t);
    return strcmp(t, "Patient") == 0 || (n > 8 && strcmp(t + n - 8, "/Patient") == 0);
}

static int is_patient_ref(const char *ref)
{
    return starts_with(ref, "Patient/") && is_id(ref + 8, strlen(ref + 8));
}

/* Copies s (may be NULL) into the arena; -1 only when out of memory. */
static int dup_opt(aod_record *r, const char *s, const char **out)
{
    *out = NULL;
    if (!s)
        return 0;
    *out = aod_record_strdup(r, s);
    return *out ? 0 : -1;
}

static int dup_span(aod_record *r, span s, const char **out)
{
    *out = NULL;
    if (!s.p)
        return 0;
    *out = aod_record_strndup(r, s.p, s.n);
    return *out ? 0 : -1;
}

/* A Reference's reference made relative, else its display (for elements the
 * record keeps as one string: site, location, network). */
static int ref_or_display(aod_record *r, const json_t *v, const char **out)
{
    const char *s = jstr(v, "reference");
    span ref, type;

    *out = NULL;
    if (s && s[0]) {
        ref_relative(s, strlen(s), &ref, &type);
        return dup_span(r, ref, out);
    }
    return dup_opt(r, jstr(v, "display"), out);
}

static int fill_ref(aod_record *r, const json_t *v, aod_ref *out)
{
    const char *s = jstr(v, "reference");
    const json_t *ident = json_object_get(v, "identifier");
    span ref = {NULL, 0}, type = {NULL, 0};

    memset(out, 0, sizeof *out);
    /* A bare string where a Reference was due still names the resource. */
    if (json_is_string(v))
        s = json_string_value(v);
    else if (!json_is_object(v))
        return 0;
    if (s && s[0]) {
        /* blanks at the ends would hide a Patient reference from its key */
        span t = trimmed(s, strlen(s));
        if (t.n)
            ref_relative(t.p, t.n, &ref, &type);
    }
    if (dup_span(r, ref, &out->reference))
        return -1;
    if (jstr(v, "type")) {
        if (dup_opt(r, jstr(v, "type"), &out->type))
            return -1;
    } else if (dup_span(r, type, &out->type)) {
        return -1;
    }
    if (dup_opt(r, jstr(ident, "system"), &out->id_system) ||
        dup_opt(r, jstr(ident, "value"), &out->id_value) ||
        dup_opt(r, jstr(v, "display"), &out->display))
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- codings */

static int is_codeable_concept(const json_t *v)
{
    return json_is_object(v) &&
           (json_is_array(json_object_get(v, "coding")) ||
            (jstr(v, "text") && !json_object_get(v, "code") && !json_object_get(v, "system")));
}

static int is_plain_coding(const json_t *v)
{
    return json_is_object(v) && !json_object_get(v, "coding") &&
           (json_object_get(v, "code") || json_object_get(v, "system"));
}

static int add_coding(aod_record *r, aod_codings *list, const json_t *c)
{
    const char *sys = jstr(c, "system"), *code = jstr(c, "code"), *disp = jstr(c, "display");

    if (!sys && !code && !disp)
        return 0;
    return aod_codings_add(r, list, sys, code, disp);
}

/* Adds v to list whatever its shape: a Coding, a CodeableConcept (each coding,
 * or its text alone), or a list of either. */
static int add_codeable(aod_record *r, aod_codings *list, const json_t *v)
{
    const json_t *coding;
    size_t i, before = list->n;

    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++)
            if (json_is_object(json_array_get(v, i)) && add_codeable(r, list, json_array_get(v, i)))
                return -1;
        return 0;
    }
    if (!json_is_object(v))
        return 0;
    coding = json_object_get(v, "coding");
    if (coding) {
        for (i = 0; i < jlist_size(coding); i++)
            if (add_coding(r, list, jlist_get(coding, i)))
                return -1;
    } else if (add_coding(r, list, v)) {
        return -1;
    }
    if (list->n == before && jstr(v, "text"))
        return aod_codings_add(r, list, NULL, NULL, jstr(v, "text"));
    return 0;
}

/* The first coding of a Coding or CodeableConcept (R4 and R5 shapes of
 * entity.type and entity.role). */
static int first_coding(aod_record *r, const json_t *v, aod_coding *out)
{
    aod_codings tmp = {NULL, 0};

    memset(out, 0, sizeof *out);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (add_codeable(r, &tmp, v))
        return -1;
    if (tmp.n)
        *out = tmp.v[0];
    return 0;
}

static int coding_is(const aod_coding *c, const char *system, const char *code)
{
    return str_eq(c->code, code) && (!c->system || str_eq(c->system, system));
}

/* --------------------------------------------------------------- version */

static int profile_version(const json_t *res)
{
    const json_t *prof = json_object_get(json_object_get(res, "meta"), "profile");
    static const struct {
        const char *mark;
        int version;
    } marks[] = {
        {"/ITI/BALP/", AOD_FHIR_R4}, {"|4.", AOD_FHIR_R4},   {"/R4/", AOD_FHIR_R4},
        {"/R4B/", AOD_FHIR_R4},      {"/4.0/", AOD_FHIR_R4}, {"/4.3/", AOD_FHIR_R4},
        {"|5.", AOD_FHIR_R5},        {"/R5/", AOD_FHIR_R5},  {"/5.0/", AOD_FHIR_R5},
        {"|6.", AOD_FHIR_R6},        {"/R6/", AOD_FHIR_R6},  {"/6.0/", AOD_FHIR_R6},
    };
    size_t i, k;

    for (i = 0; i < json_array_size(prof); i++) {
        const char *p = json_string_value(json_array_get(prof, i));
        for (k = 0; p && k < sizeof marks / sizeof marks[0]; k++)
            if (strstr(p, marks[k].mark))
                return marks[k].version;
    }
    return AOD_FHIR_UNKNOWN;
}

aod_fhir_version aod_normalize_detect_version(const json_t *res)
{
    const json_t *type, *subtype, *outcome, *agents, *entities, *site;
    int r4 = 0, post_r4 = 0, i, n;
    size_t k;

    if (!json_is_object(res))
        return AOD_FHIR_UNKNOWN;
    /* R5 renamed type/subtype to category/code: nothing else has them. */
    if (json_object_get(res, "category") || json_object_get(res, "code"))
        return AOD_FHIR_R5;
    type = json_object_get(res, "type");
    subtype = json_object_get(res, "subtype");
    if (is_codeable_concept(type) || is_codeable_concept(jlist_get(subtype, 0)))
        return AOD_FHIR_R6;
    if (is_plain_coding(type) || is_plain_coding(jlist_get(subtype, 0)))
        r4++;

    outcome = json_object_get(res, "outcome");
    if (json_is_string(outcome))
        r4 += 2;
    else if (json_is_object(outcome))
        post_r4 += 2;
    r4 += !!json_object_get(res, "outcomeDesc") + !!json_object_get(res, "purposeOfEvent") +
          !!json_object_get(res, "period");
    post_r4 += !!json_object_get(res, "patient") + !!json_object_get(res, "severity") +
               !!json_object_get(res, "authorization") + !!json_object_get(res, "basedOn") +
               !!json_object_get(res, "encounter") + !!json_object_get(res, "occurredPeriod") +
               !!json_object_get(res, "occurredDateTime");

    agents = json_object_get(res, "agent");
    n = (int)(jlist_size(agents) < 16 ? jlist_size(agents) : 16);
    for (i = 0; i < n; i++) {
        const json_t *a = jlist_get(agents, (size_t)i);
        r4 += !!json_object_get(a, "name") + !!json_object_get(a, "altId") +
              !!json_object_get(a, "media") + !!json_object_get(a, "purposeOfUse") +
              !!json_is_object(json_object_get(a, "network"));
        post_r4 += !!json_object_get(a, "networkString") + !!json_object_get(a, "networkUri") +
                   !!json_object_get(a, "networkReference") + !!json_object_get(a, "authorization");
    }
    entities = json_object_get(res, "entity");
    n = (int)(jlist_size(entities) < 16 ? jlist_size(entities) : 16);
    for (i = 0; i < n; i++) {
        const json_t *e = jlist_get(entities, (size_t)i), *detail = json_object_get(e, "detail");
        r4 += !!json_object_get(e, "type") + !!json_object_get(e, "name") +
              !!json_object_get(e, "description") + !!json_object_get(e, "lifecycle") +
              is_plain_coding(json_object_get(e, "role"));
        post_r4 += is_codeable_concept(json_object_get(e, "role")) + !!json_object_get(e, "agent");
        for (k = 0; k < jlist_size(detail) && k < 4; k++) {
            const json_t *dt = json_object_get(jlist_get(detail, k), "type");
            r4 += json_is_string(dt);
            post_r4 += json_is_object(dt);
        }
    }
    site = json_object_get(json_object_get(res, "source"), "site");
    r4 += json_is_string(site);
    post_r4 += json_is_object(site);

    /* The R6 ballot went back to `type`, but kept R5's new elements. */
    if (post_r4 > r4)
        return type ? AOD_FHIR_R6 : AOD_FHIR_R5;
    if (r4 > 0)
        return AOD_FHIR_R4;
    return (aod_fhir_version)profile_version(res);
}

/* ------------------------------------------------------------ the record */

/* ------------------------------------------------------------ patient key */

/*
 * The one key form, for the loader and for a request alike, so that every
 * key the store holds can be asked for: "system|value" with the blanks at
 * either end of the system and of the value taken off; a Patient reference
 * made relative ("Patient/123").  Appends to out.  Returns 0; 1 with *why
 * set when s names no patient a request could give (control characters,
 * no value, not a Patient); -1 when out of memory.
 */
static int has_control(span s)
{
    size_t i;

    for (i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f)
            return 1;
    return 0;
}

static int key_form(const char *s, size_t n, aod_buf *out, const char **why)
{
    span all = trimmed(s, n), sys, val, key, type;
    const char *bar = all.n ? memchr(all.p, '|', all.n) : NULL;

    if (bar) {
        /* An identifier: system and value are opaque but for their ends. */
        sys = trimmed(all.p, (size_t)(bar - all.p));
        val = trimmed(bar + 1, all.n - (size_t)(bar + 1 - all.p));
        if (has_control(sys) || has_control(val)) {
            *why = "control character in patient";
            return 1;
        }
        if (val.n == 0) {
            *why = "identifier has no value after '|' (give system|value)";
            return 1;
        }
        if (aod_buf_add(out, sys.p, sys.n) != 0 || aod_buf_addc(out, '|') != 0 ||
            aod_buf_add(out, val.p, val.n) != 0)
            return -1;
        return 0;
    }
    if (has_control(all)) {
        *why = "control character in patient";
        return 1;
    }
    ref_relative(all.p, all.n, &key, &type);
    if (type.n != 7 || memcmp(type.p, "Patient", 7) != 0) {
        *why = "not a patient: give Patient/<id>, a Patient URL, or system|value";
        return 1;
    }
    return aod_buf_add(out, key.p, key.n) != 0 ? -1 : 0;
}

/* "system|value" for an identifier (the system part is empty when unknown,
 * as in a FHIR token search), in the key form a request uses.  An
 * identifier whose value is blank names nobody and gives no key; one that
 * no request could name (a control character inside) is refused: stored,
 * its events could never be reported.  field names it for the message. */
static int add_identifier_key(aod_record *r, const char *system, const char *value,
                              const char *field, aod_error *err)
{
    aod_buf raw, key;
    const char *why = NULL;
    span v;
    int rc = -1, form;

    if (!value)
        return 0;
    v = trimmed(value, strlen(value));
    if (v.n == 0)
        return 0;
    aod_buf_init(&raw, 0);
    aod_buf_init(&key, 0);
    if ((system && aod_buf_adds(&raw, system) != 0) || aod_buf_addc(&raw, '|') != 0 ||
        aod_buf_adds(&raw, value) != 0)
        goto nomem;
    form = key_form(aod_buf_str(&raw), raw.len, &key, &why);
    if (form < 0)
        goto nomem;
    if (form > 0) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, field,
                      "a patient identifier no report could ask for (%s)", why);
        goto out;
    }
    if (aod_record_add_patient_key(r, aod_buf_str(&key)) != 0)
        goto nomem;
    rc = 0;
    goto out;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, field, "out of memory");
out:
    aod_buf_free(&raw);
    aod_buf_free(&key);
    return rc;
}

/* The patient keys of a Reference known to point at a patient (the R5
 * `patient` element, a patient entity, a patient agent). */
static int add_ref_keys(aod_record *r, const aod_ref *ref, int identifier_too, const char *field,
                        aod_error *err)
{
    if (is_patient_ref(ref->reference) && aod_record_add_patient_key(r, ref->reference)) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, field, "out of memory");
        return -1;
    }
    if (identifier_too && add_identifier_key(r, ref->id_system, ref->id_value, field, err))
        return -1;
    return 0;
}

/* ------------------------------------------------------------ contained */

/* The resource a local reference ("#org-1") points to in the event's own
 * contained[], or NULL: a recipient written as a contained Organization,
 * Practitioner or Location carries its name and address there. */
static const json_t *contained_target(const json_t *res, const json_t *ref)
{
    const char *s = jstr(ref, "reference");
    const json_t *list = json_object_get(res, "contained");
    size_t i;

    if (!s || s[0] != '#' || !s[1])
        return NULL;
    for (i = 0; i < jlist_size(list); i++) {
        const json_t *c = jlist_get(list, i);
        if (str_eq(jstr(c, "id"), s + 1))
            return c;
    }
    return NULL;
}

/* Appends ", " (unless first) and s to out; the text stops at the buffer's
 * end rather than overflow it. */
static void join_part(char *out, size_t size, const char *s)
{
    size_t n = strlen(out);

    if (!s || !s[0] || n + 1 >= size)
        return;
    snprintf(out + n, size - n, "%s%s", n ? ", " : "", s);
}

/* One line for a FHIR Address (its text, else its lines, city, state and
 * postal code, country): the recipient's address 164.528(b)(2)(ii) asks
 * for.  An array gives its first address.  out is empty when none. */
static void address_text(const json_t *addr, char *out, size_t size)
{
    const json_t *a = jlist_get(addr, 0), *lines = json_object_get(a, "line");
    char place[160] = "";
    size_t i;

    out[0] = '\0';
    if (jstr(a, "text")) {
        join_part(out, size, jstr(a, "text"));
        return;
    }
    for (i = 0; i < jlist_size(lines); i++)
        join_part(out, size, json_string_value(jlist_get(lines, i)));
    join_part(out, size, jstr(a, "city"));
    join_part(place, sizeof place, jstr(a, "state"));
    if (jstr(a, "postalCode")) {
        size_t n = strlen(place);
        snprintf(place + n, sizeof place - n, "%s%s", n ? " " : "", jstr(a, "postalCode"));
    }
    join_part(out, size, place);
    join_part(out, size, jstr(a, "country"));
}

/* The name a contained resource gives itself: Organization.name, else a
 * HumanName's text or given and family names. */
static void contained_name(const json_t *c, char *out, size_t size)
{
    const json_t *hn = jlist_get(json_object_get(c, "name"), 0), *given;
    size_t i;

    out[0] = '\0';
    if (jstr(c, "name")) {
        join_part(out, size, jstr(c, "name"));
        return;
    }
    if (jstr(hn, "text")) {
        join_part(out, size, jstr(hn, "text"));
        return;
    }
    given = json_object_get(hn, "given");
    for (i = 0; i < jlist_size(given) && strlen(out) + 1 < size; i++) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s", n ? " " : "", json_string_value(jlist_get(given, i)));
    }
    if (jstr(hn, "family")) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s", n ? " " : "", jstr(hn, "family"));
    }
}

/* An agent written as a contained resource ("who": {"reference": "#org"},
 * "location": {"reference": "#loc"}): its name when the reference has no
 * display, its type, and its address when agent.location gave none. */
static int fill_agent_contained(aod_record *r, const json_t *res, const json_t *a, aod_agent *out)
{
    const json_t *who = contained_target(res, json_object_get(a, "who"));
    const json_t *loc = contained_target(res, json_object_get(a, "location"));
    char buf[512];

    if (who && !out->who.type && jstr(who, "resourceType") &&
        dup_opt(r, jstr(who, "resourceType"), &out->who.type))
        return -1;
    if (who && !out->who.display) {
        contained_name(who, buf, sizeof buf);
        if (buf[0] && dup_opt(r, buf, &out->who.display))
            return -1;
    }
    if (!loc && !who)
        return 0;
    /* a name or address the sender wrote wins; a bare reference does not */
    if (out->location && out->location[0] != '#' &&
        !(strchr(out->location, '/') && !strchr(out->location, ' ')))
        return 0;
    buf[0] = '\0';
    if (loc)
        address_text(json_object_get(loc, "address"), buf, sizeof buf);
    if (!buf[0] && loc && jstr(loc, "name"))
        join_part(buf, sizeof buf, jstr(loc, "name"));
    if (!buf[0] && who)
        address_text(json_object_get(who, "address"), buf, sizeof buf);
    if (buf[0])
        return dup_opt(r, buf, &out->location);
    return 0;
}

static int fill_agent(aod_record *r, const json_t *res, const json_t *a, aod_agent *out)
{
    const json_t *policy = json_object_get(a, "policy"), *req = json_object_get(a, "requestor");
    const char *net;
    size_t i;

    if (fill_ref(r, json_object_get(a, "who"), &out->who) ||
        dup_opt(r, jstr(a, "name"), &out->name) || dup_opt(r, jstr(a, "altId"), &out->alt_id) ||
        add_codeable(r, &out->type, json_object_get(a, "type")) ||
        add_codeable(r, &out->role, json_object_get(a, "role")) ||
        add_codeable(r, &out->purpose, json_object_get(a, "purposeOfUse")) ||
        add_codeable(r, &out->purpose, json_object_get(a, "authorization")))
        return -1;
    /* A location's name ("1200 Harbor Street, Seattle") is what a reader
     * needs (the recipient's address, 164.528(b)(2)(ii)); its reference
     * only when nothing else was written. */
    if (jstr(json_object_get(a, "location"), "display")) {
        if (dup_opt(r, jstr(json_object_get(a, "location"), "display"), &out->location))
            return -1;
    } else if (ref_or_display(r, json_object_get(a, "location"), &out->location)) {
        return -1;
    }
    /* R4 agent.media: the agent is the medium the data was written onto
     * (DOMAIN.md 7); it gets the DICOM Destination Media role so that every
     * later stage reads R4 and later versions alike. */
    if (json_is_object(json_object_get(a, "media")) &&
        !aod_codings_find(&out->type, DCM, DCM_MEDIA)) {
        if (aod_codings_add(r, &out->type, DCM, DCM_MEDIA, "Destination Media") ||
            add_codeable(r, &out->type, json_object_get(a, "media")))
            return -1;
    }
    out->requestor = json_is_boolean(req) ? json_is_true(req) : -1;
    if (fill_agent_contained(r, res, a, out))
        return -1;

    net = jstr(json_object_get(a, "network"), "address");
    if (!net)
        net = jstr(a, "networkString");
    if (!net)
        net = jstr(a, "networkUri");
    if (net) {
        if (dup_opt(r, net, &out->network))
            return -1;
    } else if (ref_or_display(r, json_object_get(a, "networkReference"), &out->network)) {
        return -1;
    }

    if (json_is_array(policy) && json_array_size(policy)) {
        out->policy = aod_record_alloc(r, json_array_size(policy) * sizeof *out->policy);
        if (!out->policy)
            return -1;
        for (i = 0; i < json_array_size(policy); i++) {
            const char *p = json_string_value(json_array_get(policy, i));
            if (p && dup_opt(r, p, &out->policy[out->n_policy++]))
                return -1;
        }
    } else if (json_is_string(policy)) {
        out->policy = aod_record_alloc(r, sizeof *out->policy);
        if (!out->policy || dup_opt(r, json_string_value(policy), &out->policy[0]))
            return -1;
        out->n_policy = 1;
    }
    return 0;
}

/* R5 dropped entity.description; BALP and the R5 notes put the cleaned-up
 * search string in a detail typed "description" instead.  Only that one
 * detail value is read: the others may carry the data itself. */
static const char *detail_description(const json_t *e)
{
    const json_t *detail = json_object_get(e, "detail");
    size_t i, k;

    for (i = 0; i < jlist_size(detail); i++) {
        const json_t *d = jlist_get(detail, i), *t = json_object_get(d, "type");
        const json_t *coding = json_object_get(t, "coding");
        int hit =
            str_ieq(json_string_value(t), "description") || str_ieq(jstr(t, "text"), "description");

        for (k = 0; !hit && k < jlist_size(coding); k++)
            hit = str_ieq(jstr(jlist_get(coding, k), "code"), "description");
        if (hit && jstr(d, "valueString"))
            return jstr(d, "valueString");
    }
    return NULL;
}

/* Decodes standard base64 text into the record's arena; NULL when it is not
 * base64 or not plain printable UTF-8 text (a title, not a document). */
static const char *base64_text(aod_record *r, const char *in)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), i, o = 0;
    unsigned acc = 0, bits = 0;
    char *out;

    if (n == 0 || n > 4096)
        return NULL;
    out = aod_record_alloc(r, n);
    if (!out)
        return NULL;
    for (i = 0; i < n && in[i] != '='; i++) {
        const char *d = strchr(digits, in[i]);
        if (!d || !in[i])
            return NULL;
        acc = (acc << 6) | (unsigned)(d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o] = (char)((acc >> bits) & 0xff);
            if ((unsigned char)out[o] < 0x20)
                return NULL;
            o++;
        }
    }
    out[o] = '\0';
    return o ? out : NULL;
}

/* A document's title recorded only in entity.detail (CH:ATC "title", XDS
 * "documentTitle"): the brief description 164.528(b)(2)(iii) asks for.
 * Only a detail typed as a title is read, never the others. */
static const char *detail_title(aod_record *r, const json_t *e)
{
    const json_t *detail = json_object_get(e, "detail");
    size_t i;

    for (i = 0; i < jlist_size(detail); i++) {
        const json_t *d = jlist_get(detail, i), *t = json_object_get(d, "type");
        const char *ty = json_is_string(t) ? json_string_value(t) : jstr(t, "text");

        if (!ty && jlist_size(json_object_get(t, "coding")))
            ty = jstr(jlist_get(json_object_get(t, "coding"), 0), "code");
        if (!str_ieq(ty, "title") && !str_ieq(ty, "documentTitle"))
            continue;
        if (jstr(d, "valueString"))
            return aod_record_strdup(r, jstr(d, "valueString"));
        if (jstr(d, "valueBase64Binary"))
            return base64_text(r, jstr(d, "valueBase64Binary"));
    }
    return NULL;
}

static int fill_entity(aod_record *r, const json_t *e, aod_entity *out)
{
    const char *desc = jstr(e, "description");
    const json_t *query = json_object_get(e, "query");

    if (!desc)
        desc = detail_description(e);
    if (fill_ref(r, json_object_get(e, "what"), &out->what) ||
        first_coding(r, json_object_get(e, "type"), &out->type) ||
        first_coding(r, json_object_get(e, "role"), &out->role) ||
        dup_opt(r, jstr(e, "name"), &out->name) || dup_opt(r, desc, &out->description) ||
        add_codeable(r, &out->security, json_object_get(e, "securityLabel")))
        return -1;
    if (!out->name)
        out->name = detail_title(r, e);
    out->has_query = query && !json_is_null(query);
    return 0;
}

static int entity_patient_keys(aod_record *r, const aod_entity *e, size_t i, aod_error *err)
{
    char field[64];
    /* BALP "Patient as a Subject": object-role 1 and/or entity type 1 Person;
     * Minimal-grade senders give only an identifier.  An identifier on any
     * other entity names the data (a document, an order), not the patient,
     * even when the data is a Patient resource - unless the Reference says
     * Patient and has nothing but the identifier. */
    int patient_role = coding_is(&e->role, OBJECT_ROLE, "1") ||
                       coding_is(&e->type, ENTITY_TYPE, "1") ||
                       (!e->what.reference && is_patient_type(e->what.type));

    snprintf(field, sizeof field, "entity[%zu].what.identifier", i);
    return add_ref_keys(r, &e->what, patient_role, field, err);
}

static int agent_patient_keys(aod_record *r, const aod_agent *a, size_t i, aod_error *err)
{
    int is_patient = is_patient_type(a->who.type) || is_patient_ref(a->who.reference);
    char field[64];

    snprintf(field, sizeof field, "agent[%zu].who.identifier", i);
    return add_ref_keys(r, &a->who, is_patient, field, err);
}

/* period / occurredPeriod / occurredDateTime; recorded when none parses. */
static void fill_when(aod_record *r, const json_t *res)
{
    const json_t *period = json_object_get(res, "period");
    int64_t start, end;
    int has_start, has_end;

    if (!period)
        period = json_object_get(res, "occurredPeriod");
    has_start = aod_time_parse(jstr(period, "start"), &start) == 0;
    has_end = aod_time_parse(jstr(period, "end"), &end) == 0;
    if (!has_start && !has_end && aod_time_parse(jstr(res, "occurredDateTime"), &start) == 0)
        has_start = 1;
    /* A period with only an end still dates the event better than the
     * time it was written down. */
    if (!has_start)
        start = has_end ? end : r->recorded;
    if (!has_end || end < start)
        end = start;
    r->when_start = start;
    r->when_end = end;
}

static int fill_outcome(aod_record *r, const json_t *res)
{
    const json_t *outcome = json_object_get(res, "outcome"), *code, *detail;
    const char *text = jstr(res, "outcomeDesc"), *oc = NULL;
    size_t i;

    if (json_is_string(outcome)) {
        oc = json_string_value(outcome);
    } else if (json_is_object(outcome)) {
        code = json_object_get(outcome, "code");
        oc = jstr(code, "code");
        if (!oc)
            oc = jstr(jlist_get(json_object_get(code, "coding"), 0), "code");
        detail = json_object_get(outcome, "detail");
        for (i = 0; !text && i < jlist_size(detail); i++) {
            const json_t *d = jlist_get(detail, i);
            text = jstr(d, "text");
            if (!text)
                text = jstr(jlist_get(json_object_get(d, "coding"), 0), "display");
        }
    }
    return dup_opt(r, oc, &r->outcome) || dup_opt(r, text, &r->outcome_text) ? -1 : 0;
}

static int fill_source(aod_record *r, const json_t *res)
{
    const json_t *src = json_object_get(res, "source"), *site = json_object_get(src, "site");

    if (fill_ref(r, json_object_get(src, "observer"), &r->observer) ||
        add_codeable(r, &r->source_type, json_object_get(src, "type")))
        return -1;
    if (json_is_string(site))
        return dup_opt(r, json_string_value(site), &r->site);
    return ref_or_display(r, site, &r->site);
}

static int fill_agents(aod_record *r, const json_t *res)
{
    const json_t *agents = json_object_get(res, "agent");
    size_t i, n = jlist_size(agents);

    if (n == 0)
        return 0;
    r->agents = aod_record_alloc(r, n * sizeof *r->agents);
    if (!r->agents)
        return -1;
    for (i = 0; i < n; i++) {
        const json_t *a = jlist_get(agents, i);
        if (!json_is_object(a))
            continue;
        if (fill_agent(r, res, a, &r->agents[r->n_agents]))
            return -1;
        r->n_agents++;
    }
    return 0;
}

static int fill_entities(aod_record *r, const json_t *res)
{
    const json_t *entities = json_object_get(res, "entity");
    size_t i, n = jlist_size(entities);

    if (n == 0)
        return 0;
    r->entities = aod_record_alloc(r, n * sizeof *r->entities);
    if (!r->entities)
        return -1;
    for (i = 0; i < n; i++) {
        const json_t *e = jlist_get(entities, i);
        aod_entity *out = &r->entities[r->n_entities];
        const json_t *what = json_object_get(e, "what");

        if (!json_is_object(e))
            continue;
        if (fill_entity(r, e, out))
            return -1;
        r->n_entities++;
        if (!r->x_request_id && (coding_is(&out->type, BALP_ENTITY_TYPE, "XrequestId") ||
                                 coding_is(&out->role, BALP_ENTITY_TYPE, "XrequestId"))) {
            if (dup_opt(r, jstr(json_object_get(what, "identifier"), "value"), &r->x_request_id))
                return -1;
        }
    }
    return 0;
}

/* R5/R6 encounter and basedOn: the visit and the order the event was part
 * of, kept as evidence of its reason (record.h).  R4 has neither. */
static int fill_context(aod_record *r, const json_t *res)
{
    const json_t *enc = json_object_get(res, "encounter"), *based = json_object_get(res, "basedOn");
    size_t i, n = jlist_size(based);

    if (r->version == AOD_FHIR_R4)
        return 0;
    if (json_is_object(enc) && fill_ref(r, enc, &r->encounter))
        return -1;
    if (n == 0)
        return 0;
    r->based_on = aod_record_alloc(r, n * sizeof *r->based_on);
    if (!r->based_on)
        return -1;
    for (i = 0; i < n; i++) {
        const json_t *b = jlist_get(based, i);
        if (!json_is_object(b))
            continue;
        if (fill_ref(r, b, &r->based_on[r->n_based_on]))
            return -1;
        if (r->based_on[r->n_based_on].reference || r->based_on[r->n_based_on].id_value ||
            r->based_on[r->n_based_on].display)
            r->n_based_on++;
    }
    return 0;
}

/* Sets err itself: a key may be refused, not only memory run out. */
static int fill_patient_keys(aod_record *r, const json_t *res, aod_error *err)
{
    const json_t *patient = json_object_get(res, "patient");
    aod_ref ref;
    size_t i;

    if (json_is_object(patient)) {
        if (fill_ref(r, patient, &ref)) {
            aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "patient", "out of memory");
            return -1;
        }
        if (add_ref_keys(r, &ref, 1, "patient.identifier", err))
            return -1;
    }
    for (i = 0; i < r->n_entities; i++)
        if (entity_patient_keys(r, &r->entities[i], i, err))
            return -1;
    for (i = 0; i < r->n_agents; i++)
        if (agent_patient_keys(r, &r->agents[i], i, err))
            return -1;
    return 0;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        break;
    }
    return "null";
}

/* Copies at most 40 printable ASCII characters of s for an error message:
 * the value comes from outside and the message goes to a terminal. */
static const char *quote_for_error(const char *s, char *buf, size_t size)
{
    size_t i;

    for (i = 0; s[i] && i + 1 < size && i < 40; i++)
        buf[i] = s[i] >= ' ' && s[i] <= '~' ? s[i] : '?';
    buf[i] = '\0';
    return buf;
}

/* ------------------------------------------------------------ conformance */

/* The elements each version defines at the top level (FHIR core
 * StructureDefinitions; DomainResource's own elements first). */
static const char *const common_elements[] = {"resourceType",
                                              "id",
                                              "meta",
                                              "implicitRules",
                                              "language",
                                              "text",
                                              "contained",
                                              "extension",
                                              "modifierExtension",
                                              "action",
                                              "recorded",
                                              "outcome",
                                              "agent",
                                              "source",
                                              "entity",
                                              NULL};
static const char *const r4_elements[] = {"type",        "subtype",        "period",
                                          "outcomeDesc", "purposeOfEvent", NULL};
static const char *const r5_elements[] = {
    "category",      "code",    "severity", "occurredPeriod", "occurredDateTime",
    "authorization", "basedOn", "patient",  "encounter",      NULL};
static const char *const r6_elements[] = {
    "type",          "subtype", "severity", "occurredPeriod", "occurredDateTime",
    "authorization", "basedOn", "patient",  "encounter",      NULL};

static int in_list(const char *const *list, const char *key)
{
    for (; *list; list++)
        if (strcmp(*list, key) == 0)
            return 1;
    return 0;
}

const char *aod_normalize_unknown_element(const json_t *res, aod_fhir_version v)
{
    const char *const *own = v == AOD_FHIR_R4   ? r4_elements
                             : v == AOD_FHIR_R5 ? r5_elements
                                                : r6_elements;
    const char *key;
    json_t *obj, *val;

    if (v == AOD_FHIR_UNKNOWN || !json_is_object(res))
        return NULL;
    /* jansson's iteration takes a non-const object; it does not change it */
    memcpy(&obj, &res, sizeof obj);
    json_object_foreach(obj, key, val)
    {
        /* "_recorded": a primitive's id and extensions */
        const char *k = key[0] == '_' ? key + 1 : key;
        (void)val;
        if (!in_list(common_elements, k) && !in_list(own, k))
            return key;
    }
    return NULL;
}

/* An error naming the element (FHIR path, with the index of a list item)
 * and what the version requires.  Returns -1. */
static int nonconformant(aod_error *err, aod_fhir_version v, const char *field, long index,
                         const char *what)
{
    const char *dot = strchr(field, '.');
    char path[64];

    if (index < 0)
        snprintf(path, sizeof path, "%s", field);
    else if (dot && strncmp(field, "agent.", 6) == 0)
        snprintf(path, sizeof path, "%.*s[%ld]%s", (int)(dot - field), field, index, dot);
    else
        snprintf(path, sizeof path, "%s[%ld]", field, index);
    aod_error_set(err, AOD_ERR_INPUT, NULL, 0, path, "%s (FHIR %s)", what,
                  aod_fhir_version_name(v));
    return -1;
}

/*
 * The cardinalities and required bindings that decide whether the event can
 * be reported on at all (DOMAIN.md 7): agent 1..*, source 1..1, action one
 * of C R U D E, requestor a boolean (R4: 1..1), R4 type 1..1 and outcome
 * 0 | 4 | 8 | 12, R5 code 1..1 and agent.who 1..1.  An event without an
 * agent would otherwise become a reportable disclosure to nobody.
 * source.observer (1..1 too) is not refused: the report does not need it,
 * and an event without one is kept, keyed by its content (doc/store.md,
 * "Loading"), rather than lost.
 */
static int conform(const json_t *res, aod_fhir_version v, aod_error *err)
{
    const json_t *agents = json_object_get(res, "agent"), *source = json_object_get(res, "source");
    const json_t *action = json_object_get(res, "action"),
                 *outcome = json_object_get(res, "outcome");
    const char *a = json_string_value(action);
    size_t i;

    if (action && !(a && a[0] && !a[1] && strchr("CRUDE", a[0])))
        return nonconformant(err, v, "action", -1, "not one of C R U D E (required binding)");
    /* one object where the list was due is read as a list of one */
    if (jlist_size(agents) == 0)
        return nonconformant(err, v, "agent", -1, "missing (1..* required)");
    for (i = 0; i < jlist_size(agents); i++) {
        const json_t *ag = jlist_get(agents, i), *req;
        if (!json_is_object(ag))
            return nonconformant(err, v, "agent", (long)i, "not an object");
        req = json_object_get(ag, "requestor");
        if (req && !json_is_boolean(req))
            return nonconformant(err, v, "agent.requestor", (long)i, "not a boolean");
        if (v == AOD_FHIR_R5 && !json_is_object(json_object_get(ag, "who")))
            return nonconformant(err, v, "agent.who", (long)i, "missing (1..1 required)");
    }
    if (!json_is_object(source))
        return nonconformant(err, v, "source", -1, "missing (1..1 required)");
    if (v == AOD_FHIR_R4) {
        const char *o = json_string_value(outcome);
        if (!json_is_object(json_object_get(res, "type")))
            return nonconformant(err, v, "type", -1, "missing (1..1 required)");
        if (outcome && !(o && (strcmp(o, "0") == 0 || strcmp(o, "4") == 0 || strcmp(o, "8") == 0 ||
                               strcmp(o, "12") == 0)))
            return nonconformant(err, v, "outcome", -1, "not one of 0 4 8 12 (required binding)");
    }
    if (v == AOD_FHIR_R5) {
        if (!json_is_object(json_object_get(res, "code")))
            return nonconformant(err, v, "code", -1, "missing (1..1 required)");
        if (outcome && !json_is_object(json_object_get(outcome, "code")))
            return nonconformant(err, v, "outcome.code", -1, "missing (1..1 required)");
    }
    return 0;
}

int aod_normalize(const json_t *res, aod_record *r, aod_error *err)
{
    int64_t row_id = r->row_id;
    const char *rt, *recorded, *action;
    char shown[48];

    aod_record_clear(r);
    r->row_id = row_id;
    if (!json_is_object(res)) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, NULL, "not a JSON object");
        return -1;
    }
    rt = jstr(res, "resourceType");
    if (!rt) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "resourceType", "missing");
        return -1;
    }
    if (strcmp(rt, "AuditEvent") != 0) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "resourceType", "\"%s\" is not AuditEvent",
                      quote_for_error(rt, shown, sizeof shown));
        return -1;
    }
    recorded = jstr(res, "recorded");
    if (!recorded) {
        const json_t *v = json_object_get(res, "recorded");
        if (v)
            aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "recorded",
                          "a JSON %s, not a FHIR instant (a string)", json_kind(v));
        else
            aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "recorded", "missing (required)");
        return -1;
    }
    if (aod_time_parse(recorded, &r->recorded) != 0) {
        aod_error_set(err, AOD_ERR_INPUT, NULL, 0, "recorded", "\"%s\" is not a FHIR instant",
                      quote_for_error(recorded, shown, sizeof shown));
        return -1;
    }

    r->version = aod_normalize_detect_version(res);
    if (conform(res, r->version, err) != 0)
        return -1;
    fill_when(r, res);
    action = jstr(res, "action");
    if (action && action[0] && !action[1] && strchr("CRUDE", action[0]))
        r->action = action[0];

    if (dup_opt(r, jstr(res, "id"), &r->id) || dup_opt(r, jstr(res, "severity"), &r->severity) ||
        fill_outcome(r, res) || add_codeable(r, &r->type, json_object_get(res, "type")) ||
        add_codeable(r, &r->type, json_object_get(res, "category")) ||
        add_codeable(r, &r->subtype, json_object_get(res, "subtype")) ||
        add_codeable(r, &r->subtype, json_object_get(res, "code")) ||
        add_codeable(r, &r->purpose, json_object_get(res, "purposeOfEvent")) ||
        add_codeable(r, &r->purpose, json_object_get(res, "authorization")) ||
        fill_source(r, res) || fill_agents(r, res) || fill_entities(r, res) ||
        fill_context(r, res)) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory normalizing an AuditEvent");
        return -1;
    }
    return fill_patient_keys(r, res, err);
}

/* ------------------------------------------------------------ patient key */

int aod_normalize_patient_key(const char *input, aod_buf *out, aod_error *err)
{
    const char *s = input ? input : "", *why = NULL;
    int rc = key_form(s, strlen(s), out, &why);

    if (rc > 0)
        aod_error_set(err, AOD_ERR_USAGE, NULL, 0, "patient", "%s", why);
    else if (rc < 0)
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "patient", "out of memory");
    return rc ? -1 : 0;
}

/* ------------------------------------------------------- rows for the store */

int aod_normalize_row_init(aod_normalize_row *r, aod_error *err)
{
    memset(r, 0, sizeof *r);
    aod_buf_init(&r->norm, 0);
    aod_buf_init(&r->observer, 0);
    r->rec = aod_record_new();
    if (!r->rec) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
        return -1;
    }
    return 0;
}

static const char *observer_identity(aod_normalize_row *r)
{
    const aod_ref *o = &r->rec->observer;

    aod_buf_reset(&r->observer);
    if (o->reference)
        return o->reference;
    if (o->id_value) {
        if (aod_buf_printf(&r->observer, "%s|%s", o->id_system ? o->id_system : "", o->id_value) !=
            0)
            return NULL;
        return aod_buf_str(&r->observer);
    }
    return o->display;
}

int aod_normalize_row_make(aod_normalize_row *r, const json_t *resource, const char *text,
                           size_t text_len, aod_error *err)
{
    aod_load_row *row = &r->row;

    free(r->dumped);
    free(r->canonical);
    r->dumped = r->canonical = NULL;
    aod_record_clear(r->rec);
    aod_buf_reset(&r->norm);
    if (aod_normalize(resource, r->rec, err) != 0)
        return -1;
    if (aod_recio_encode(r->rec, &r->norm, err) != 0)
        return -1;
    if (!text) {
        r->dumped = json_dumps(resource, JSON_COMPACT);
        if (!r->dumped)
            goto nomem;
        text = r->dumped;
        text_len = strlen(r->dumped);
    }
    memset(row, 0, sizeof *row);
    row->observer = observer_identity(r);
    row->observer_display = r->rec->observer.display;
    if (!r->rec->id || !row->observer) {
        /* Without an id the event is known by its content: the same JSON
         * written with other key order or white space is the same event.
         * So is an event without an observer: an id is unique only within
         * the system that wrote it, and two systems reuse ids. */
        r->canonical = json_dumps(resource, JSON_SORT_KEYS | JSON_COMPACT);
        if (!r->canonical)
            goto nomem;
        row->canonical = r->canonical;
        row->canonical_len = strlen(r->canonical);
    }
    row->fhir_id = r->rec->id;
    row->fhir_version = aod_fhir_version_name(r->rec->version);
    row->recorded = aod_time_format_utc(r->rec->recorded, r->recorded, sizeof r->recorded);
    row->patient_keys = r->rec->patient_keys;
    row->n_patient_keys = r->rec->n_patient_keys;
    row->norm = aod_buf_str(&r->norm);
    row->norm_len = r->norm.len;
    row->resource = text;
    row->resource_len = text_len;
    return 0;
nomem:
    aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory");
    return -1;
}

void aod_normalize_row_free(aod_normalize_row *r)
{
    aod_record_free(r->rec);
    aod_buf_free(&r->norm);
    aod_buf_free(&r->observer);
    free(r->dumped);
    free(r->canonical);
    memset(r, 0, sizeof *r);
}
