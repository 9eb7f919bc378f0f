/*
 * classify.c - stage "classify": record in, report line out (see classify.h,
 * DOMAIN.md 1.2, 2.1, 3.1 and the appendix table).
 *
 * Runs once per record of a report, so it allocates nothing but pool strings
 * (interned: a report has few distinct names) and the record id.  The
 * policy's rules decide; this file only answers the questions the rules ask
 * (which purpose, which recipient, is an authorization recorded) and fills
 * the line.  Where the data is ragged the answers lean the way the appendix
 * table does: a recorded Export is a disclosure unless the policy can tell
 * the recipient is inside; an ordinary access is a use by the workforce
 * unless something says the actor is outside.
 */
#include "pipeline/classify.h"

#include <string.h>
#include <strings.h>

#define DCM              "http://dicom.nema.org/resources/ontology/DCM"
#define OBJECT_ROLE      "http://terminology.hl7.org/CodeSystem/object-role"
#define ENTITY_TYPE      "http://terminology.hl7.org/CodeSystem/audit-entity-type"
#define BALP_ENTITY_TYPE "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
#define LIFECYCLE        "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
/* the same code system under its older FHIR-core address, still in use */
#define LIFECYCLE_CORE "http://hl7.org/fhir/iso-21089-lifecycle"
#define RESOURCE_TYPES "http://hl7.org/fhir/resource-types"
#define SCT            "http://snomed.info/sct"
#define IHE_EVENT_TYPE "urn:ihe:event-type-code"

#define DCM_EXPORT      "110106"
#define DCM_IMPORT      "110107"
#define DCM_DESTINATION "110152"
#define DCM_SOURCE      "110153"
#define DCM_MEDIA       "110154"    /* Destination Media: a disc, a memory stick, paper */
#define DCM_ALERT       "110113"    /* Security Alert */
#define DCM_OVERRIDE    "110127"    /* Emergency Override Started (break-glass) */
#define SCT_CUSTODIAN   "159541003" /* BALP PrivacyDisclosure custodian slice */
#define SCT_AUTHORIZER  "429577009" /* BALP PrivacyDisclosure authorizer slice */

/* Longest data_kinds list kept; more kinds are rare and add nothing a reader
 * can take in. */
#define KINDS_MAX 256

typedef struct ctx {
    const aod_policy *policy;
    const aod_report_info *info;
    const aod_record *r;
    aod_strpool *pool;
    int oom;
    int export_like;    /* DCM 110106 or subtype disclose, not an Import */
    int client_outside; /* a machine agent's DNS host is outside the listed domains */
    int media;          /* the recipient is a Destination Media agent (110154) */
    int writes_out;     /* a create/update/delete on a server known to be outside */
    int flows_in;       /* an outside party sent or wrote data into our records */
} ctx;

/* ---------------------------------------------------------------- strings */

static int str_eq(const char *a, const char *b)
{
    return a && b && (a == b || strcmp(a, b) == 0);
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Moves past white space; returns the next character (0 at the end). */
static char skip_space(const char **p)
{
    while (is_space(**p))
        (*p)++;
    return **p;
}

/* Equal ignoring ASCII case, surrounding white space and the length of runs
 * of white space (the policy loader collapses its text the same way). */
static int name_eq(const char *a, const char *b)
{
    if (!a || !b || !skip_space(&a) || !skip_space(&b))
        return 0;
    for (;;) {
        int sa = is_space(*a), sb = is_space(*b);
        char ca = skip_space(&a), cb = skip_space(&b);

        if (!ca || !cb)
            return !ca && !cb;
        if (sa != sb || lower(ca) != lower(cb))
            return 0;
        a++;
        b++;
    }
}

static int starts_with(const char *s, const char *prefix)
{
    return s && prefix && strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *intern(ctx *c, const char *s)
{
    const char *p;

    if (!s)
        return NULL;
    p = aod_strpool_intern(c->pool, s);
    if (!p)
        c->oom = 1;
    return p;
}

/* ------------------------------------------------------------------ codes */

/* A coding with that code, in that system or in none. */
static int coding_is(const aod_coding *c, const char *system, const char *code)
{
    return str_eq(c->code, code) && (!c->system || str_eq(c->system, system));
}

static int codings_have(const aod_codings *l, const char *system, const char *code)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (coding_is(&l->v[i], system, code))
            return 1;
    return 0;
}

/* doc/policy.md: with a system the coding's must be equal; without, any. */
static int coding_matches(const aod_coding *c, const aod_policy_codes *pc)
{
    size_t i;

    if (!c->code)
        return 0;
    if (pc->system && !str_eq(pc->system, c->system))
        return 0;
    for (i = 0; i < pc->n_codes; i++)
        if (strcmp(c->code, pc->codes[i]) == 0)
            return 1;
    return 0;
}

static int codings_match(const aod_codings *l, const aod_policy_codes *pc)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (coding_matches(&l->v[i], pc))
            return 1;
    return 0;
}

/* -------------------------------------------------------------- references */

/* The resource type a reference points at: Reference.type (a name or a
 * StructureDefinition URL: its last segment), else the reference's "Type/".
 * Copied into buf; "" when unknown. */
static const char *ref_type(const aod_ref *ref, char *buf, size_t size)
{
    const char *s = NULL, *slash;
    size_t n = 0, i;

    buf[0] = '\0';
    if (ref->type && ref->type[0]) {
        slash = strrchr(ref->type, '/');
        s = slash ? slash + 1 : ref->type;
        n = strlen(s);
    } else if (ref->reference && (slash = strchr(ref->reference, '/')) != NULL) {
        s = ref->reference;
        n = (size_t)(slash - s);
    }
    if (!s || n == 0 || n >= size || s[0] < 'A' || s[0] > 'Z')
        return buf;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (i = 1; i < n; i++)
        if (!((buf[i] >= 'a' && buf[i] <= 'z') || (buf[i] >= 'A' && buf[i] <= 'Z'))) {
            buf[0] = '\0';
            break;
        }
    return buf;
}

static int ref_is(const aod_ref *ref, const char *type)
{
    char buf[64];

    return strcmp(ref_type(ref, buf, sizeof buf), type) == 0;
}

/* "Type/id" as normalize leaves a reference: not a name a person wrote. */
static int looks_like_reference(const char *s)
{
    const char *slash;
    size_t i;

    if (!s || s[0] < 'A' || s[0] > 'Z' || !(slash = strchr(s, '/')) || !slash[1])
        return 0;
    for (i = 1; s + i < slash; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    for (i = 1; slash[i]; i++)
        if (is_space(slash[i]))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------- hosts */

static int domain_matches(const char *host, const char *domain)
{
    size_t nh = strlen(host), nd = strlen(domain), i;

    if (!nd || nh < nd)
        return 0;
    for (i = 0; i < nd; i++)
        if (host[nh - nd + i] != lower(domain[i]))
            return 0;
    return nh == nd || host[nh - nd - 1] == '.';
}

static int host_in(const char *host, const char *const *domains, size_t n)
{
    size_t i;

    for (i = 0; host[0] && i < n; i++)
        if (domain_matches(host, domains[i]))
            return 1;
    return 0;
}

/* ----------------------------------------------------------------- parties */

int aod_classify_party_matches(const aod_policy_party *p, const aod_party *who)
{
    char host[256];
    size_t i;

    if (!p || !who)
        return 0;
    for (i = 0; i < p->n_names; i++)
        if (name_eq(p->names[i], who->name) || name_eq(p->names[i], who->organisation))
            return 1;
    for (i = 0; who->id_value && i < p->n_identifiers; i++)
        if (str_eq(p->identifiers[i].value, who->id_value) &&
            (!p->identifiers[i].system || str_eq(p->identifiers[i].system, who->id_system)))
            return 1;
    aod_network_host(who->network, host, sizeof host);
    if (host_in(host, p->domains, p->n_domains))
        return 1;
    for (i = 0; who->reference && i < p->n_references; i++)
        if (str_eq(p->references[i], who->reference))
            return 1;
    return 0;
}

/* The keys an agent can be recognised by, as a party (not interned). */
static void agent_keys(const aod_agent *a, aod_party *out)
{
    memset(out, 0, sizeof *out);
    out->reference = a->who.reference;
    out->id_system = a->who.id_system;
    out->id_value = a->who.id_value;
    out->name = a->name ? a->name : a->who.display;
    out->organisation = a->who.display;
    out->network = a->network;
}

static const aod_policy_party *business_associate(const ctx *c, const aod_agent *a)
{
    aod_party keys;
    size_t i;

    agent_keys(a, &keys);
    for (i = 0; i < c->policy->inside.n_business_associates; i++)
        if (aod_classify_party_matches(&c->policy->inside.business_associates[i], &keys))
            return &c->policy->inside.business_associates[i];
    return NULL;
}

static int is_report_patient_key(const ctx *c, const char *key)
{
    size_t i;

    for (i = 0; key && i < c->info->n_patient_keys; i++)
        if (str_eq(c->info->patient_keys[i], key))
            return 1;
    return 0;
}

/* Whether ref names this report's patient (reference or "system|value"). */
static int ref_is_report_patient(const ctx *c, const aod_ref *ref)
{
    char key[512];
    size_t ns, nv;

    if (is_report_patient_key(c, ref->reference))
        return 1;
    if (!ref->id_value)
        return 0;
    ns = ref->id_system ? strlen(ref->id_system) : 0;
    nv = strlen(ref->id_value);
    if (ns + nv + 2 > sizeof key)
        return 0;
    memcpy(key, ref->id_system ? ref->id_system : "", ns);
    key[ns] = '|';
    memcpy(key + ns + 1, ref->id_value, nv + 1);
    return is_report_patient_key(c, key);
}

static int agent_has_type(const aod_agent *a, const char *system, const char *code)
{
    return codings_have(&a->type, system, code);
}

static int agent_is_custodian(const aod_agent *a)
{
    return agent_has_type(a, SCT, SCT_CUSTODIAN) || aod_codings_has_code(&a->type, "custodian");
}

static int agent_is_machine(const aod_agent *a)
{
    return agent_has_type(a, DCM, DCM_DESTINATION) || agent_has_type(a, DCM, DCM_SOURCE) ||
           ref_is(&a->who, "Device");
}

static int agent_is_person(const aod_agent *a)
{
    return ref_is(&a->who, "Practitioner") || ref_is(&a->who, "PractitionerRole") ||
           ref_is(&a->who, "Patient") || ref_is(&a->who, "RelatedPerson");
}

/* A reference that names a member of a workforce or an organisation: role
 * codes of related persons never apply to it. */
static int agent_is_staff_ref(const aod_agent *a)
{
    return ref_is(&a->who, "Practitioner") || ref_is(&a->who, "PractitionerRole") ||
           ref_is(&a->who, "Organization") || ref_is(&a->who, "Device");
}

/* v3 RoleCode relationships that make a related person the patient's
 * personal representative (who stands in the patient's shoes, 164.502(g)):
 * guardians, powers of attorney, executors, parents. */
static const char *const representative_roles[] = {
    "GUARD", "GUADLTM", "POWATT", "DPOWATT", "HPOWATT", "SPOWATT", "EXCEST",
    "PRN",   "NPRN",    "ADOPTP", "STPPRN",  "FTH",     "MTH",     "NFTH",
    "NMTH",  "STPFTH",  "STPMTH", "ADOPTF",  "ADOPTM",  NULL};

static int agent_is_representative(const aod_agent *a)
{
    size_t i;

    /* v3 RoleClass REP and the Swiss EPR role REP: the representative the
     * patient appointed, often recorded with only an identifier and a name. */
    if ((aod_codings_has_code(&a->role, "REP") || aod_codings_has_code(&a->type, "REP")) &&
        !agent_is_staff_ref(a))
        return 1;
    if (!ref_is(&a->who, "RelatedPerson"))
        return 0;
    for (i = 0; representative_roles[i]; i++)
        if (aod_codings_has_code(&a->role, representative_roles[i]) ||
            aod_codings_has_code(&a->type, representative_roles[i]))
            return 1;
    return 0;
}

/* v3 RoleClass / RoleCode of people around the patient who are not the
 * workforce (caregivers, delegates, family): outside persons. */
static int agent_is_related_person(const aod_agent *a)
{
    static const char *const related[] = {"CAREGIVER", "DELEGATEE", "FAMMEMB", "NOK",
                                          "ECON",      "FRND",      "SPS",     "CHILD",
                                          "SIB",       "PRN",       "GUARD",   NULL};
    const aod_codings *lists[2] = {&a->role, &a->type};
    size_t l, i, k;

    /* one pass over the agent's codes; the reference is looked at only when
     * a code matched (this runs for every agent of every record) */
    for (l = 0; l < 2; l++)
        for (i = 0; i < lists[l]->n; i++) {
            const char *code = lists[l]->v[i].code;
            if (!code || code[0] < 'C' || code[0] > 'S')
                continue;
            for (k = 0; related[k]; k++)
                if (strcmp(code, related[k]) == 0)
                    return !agent_is_staff_ref(a);
        }
    return 0;
}

/* The patient, or a personal representative.  Other related persons
 * (family and friends involved in care, 164.510) are outside persons.  An
 * agent whose role is PAT (v3 RoleClass, the Swiss EPR roles) is the patient
 * acting, whatever identifier it carries. */
static int agent_is_patient(const ctx *c, const aod_agent *a)
{
    return ref_is_report_patient(c, &a->who) || agent_is_representative(a) ||
           ((aod_codings_has_code(&a->role, "PAT") || aod_codings_has_code(&a->type, "PAT")) &&
            !agent_is_staff_ref(a));
}

/* Matches the covered entity itself. */
static int agent_inside(const ctx *c, const aod_agent *a)
{
    const aod_policy *p = c->policy;
    char host[256];
    size_t i;

    for (i = 0; a->who.reference && i < p->inside.n_organisation_refs; i++)
        if (str_eq(p->inside.organisation_refs[i], a->who.reference))
            return 1;
    for (i = 0; a->who.id_system && i < p->inside.n_identifier_systems; i++)
        if (str_eq(p->inside.identifier_systems[i], a->who.id_system))
            return 1;
    for (i = 0; a->who.id_value && i < p->organisation.n_identifiers; i++)
        if (str_eq(p->organisation.identifiers[i].value, a->who.id_value) &&
            str_eq(p->organisation.identifiers[i].system, a->who.id_system))
            return 1;
    aod_network_host(a->network, host, sizeof host);
    if (host_in(host, p->inside.domains, p->inside.n_domains))
        return 1;
    /* doc/policy.md: so is an identifier system URI on one of its hosts,
     * unless the agent itself points elsewhere (an Organization, a named
     * host outside the domains): the entity issues identifiers to the
     * parties it sends records to too (a law firm's requester number), and
     * such an identifier says nothing about who employs the party. */
    if (ref_is(&a->who, "Organization") || (host[0] && !aod_host_is_ip(host)))
        return name_eq(p->organisation.name, a->who.display) ||
               name_eq(p->organisation.name, a->name);
    if (a->who.id_system && strstr(a->who.id_system, "://")) {
        aod_network_host(a->who.id_system, host, sizeof host);
        if (host_in(host, p->inside.domains, p->inside.n_domains))
            return 1;
    }
    return name_eq(p->organisation.name, a->who.display) || name_eq(p->organisation.name, a->name);
}

/* Something about the agent itself says it is not the covered entity's. */
static int agent_outside_evidence(const ctx *c, const aod_agent *a)
{
    const aod_policy *p = c->policy;
    char host[256];
    size_t i;

    if (ref_is(&a->who, "Organization"))
        return 1;
    aod_network_host(a->network, host, sizeof host);
    if (host[0] && !aod_host_is_ip(host) && p->inside.n_domains > 0 &&
        !host_in(host, p->inside.domains, p->inside.n_domains))
        return 1;
    if (!a->who.reference && a->who.id_system && p->inside.n_identifier_systems > 0) {
        for (i = 0; i < p->inside.n_identifier_systems; i++)
            if (str_eq(p->inside.identifier_systems[i], a->who.id_system))
                return 0;
        return 1;
    }
    return 0;
}

/* An agent typed as one end of a transfer (DICOM 110150 Application,
 * 110152 Destination, 110153 Source, 110154 Destination Media) that no
 * person reference makes a person: a system or a medium ("Northside Lab
 * document source", "CD handed to ..."), never someone's name. */
static int agent_is_typed_machine(const aod_agent *a)
{
    if (agent_is_person(a))
        return 0;
    return agent_has_type(a, DCM, "110150") || agent_has_type(a, DCM, DCM_DESTINATION) ||
           agent_has_type(a, DCM, DCM_SOURCE) || agent_has_type(a, DCM, DCM_MEDIA);
}

/* An outside party: an organisation (or its system), or (the default: R4
 * agent.name and most senders name people) a person. */
static aod_actor_class outside_class(const aod_agent *a, int business_associate_match)
{
    if (ref_is(&a->who, "Organization") || ref_is(&a->who, "Device") || agent_is_typed_machine(a))
        return AOD_ACTOR_EXTERNAL_ORGANISATION;
    if (business_associate_match && !agent_is_person(a))
        return AOD_ACTOR_EXTERNAL_ORGANISATION;
    return AOD_ACTOR_EXTERNAL_PERSON;
}

/*
 * The class of an agent.  default_outside: no evidence either way means
 * outside (the recipient of a recorded Export); inherit_client: the person
 * acting counts as outside when the client machine is (no evidence of their
 * own).
 */
static aod_actor_class agent_class(const ctx *c, const aod_agent *a, int default_outside,
                                   int inherit_client)
{
    if (agent_is_patient(c, a))
        return AOD_ACTOR_PATIENT_OR_REPRESENTATIVE;
    if (business_associate(c, a))
        return outside_class(a, 1);
    if (agent_inside(c, a))
        return ref_is(&a->who, "Device") ? AOD_ACTOR_SYSTEM_DEVICE : AOD_ACTOR_WORKFORCE;
    if (agent_outside_evidence(c, a) || ref_is(&a->who, "Patient") ||
        ref_is(&a->who, "RelatedPerson") || agent_is_related_person(a) || default_outside ||
        (inherit_client && c->client_outside && !agent_is_machine(a)))
        return outside_class(a, 0);
    return ref_is(&a->who, "Device") ? AOD_ACTOR_SYSTEM_DEVICE : AOD_ACTOR_WORKFORCE;
}

static int class_is_outside(aod_actor_class k)
{
    return k == AOD_ACTOR_EXTERNAL_PERSON || k == AOD_ACTOR_EXTERNAL_ORGANISATION;
}

static int machine_outside(const ctx *c)
{
    const aod_policy *p = c->policy;
    char host[256];
    size_t i;

    if (p->inside.n_domains == 0)
        return 0;
    for (i = 0; i < c->r->n_agents; i++) {
        const aod_agent *a = &c->r->agents[i];
        if (!agent_is_machine(a))
            continue;
        aod_network_host(a->network, host, sizeof host);
        if (host[0] && !aod_host_is_ip(host) &&
            !host_in(host, p->inside.domains, p->inside.n_domains))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------- who is the party */

static const aod_agent *requestor_agent(const aod_record *r)
{
    size_t i;

    for (i = 0; i < r->n_agents; i++)
        if (r->agents[i].requestor == 1)
            return &r->agents[i];
    return NULL;
}

static const aod_agent *actor_agent(const ctx *c)
{
    const aod_record *r = c->r;
    const aod_agent *a = requestor_agent(r);
    size_t i;

    if (a)
        return a;
    for (i = 0; i < r->n_agents; i++)
        if (agent_is_person(&r->agents[i]))
            return &r->agents[i];
    /* No person: a client machine that shows itself outside (an outside
     * system querying our server, BALP Query / IHE PDQm, MHD) acted, not
     * our server recording it. */
    for (i = 0; i < r->n_agents; i++)
        if (!ref_is(&r->agents[i].who, "Device") && !agent_inside(c, &r->agents[i]) &&
            agent_outside_evidence(c, &r->agents[i]))
            return &r->agents[i];
    for (i = 0; i < r->n_agents; i++)
        if (ref_is(&r->agents[i].who, "Device"))
            return &r->agents[i];
    return r->n_agents ? &r->agents[0] : NULL;
}

/* DOMAIN.md appendix, "Who is the recipient". */
static const aod_agent *recipient_agent(const ctx *c)
{
    const aod_record *r = c->r;
    size_t i;

    for (i = 0; i < r->n_agents; i++)
        if (agent_has_type(&r->agents[i], DCM, DCM_DESTINATION))
            return &r->agents[i];
    /* DOMAIN.md 7: a disc, a memory stick or paper handed out leaves the
     * covered entity as surely as a network send. */
    for (i = 0; i < r->n_agents; i++)
        if (agent_has_type(&r->agents[i], DCM, DCM_MEDIA))
            return &r->agents[i];
    for (i = 0; i < r->n_agents; i++) {
        const aod_agent *a = &r->agents[i];
        aod_actor_class k;

        if (agent_has_type(a, DCM, DCM_SOURCE) || agent_is_custodian(a))
            continue;
        k = agent_class(c, a, 0, 0);
        if (class_is_outside(k) || k == AOD_ACTOR_PATIENT_OR_REPRESENTATIVE)
            return a;
    }
    return NULL;
}

/* ------------------------------------------------------------ systems */

/* Agent type or role codes that name software, not a person: DICOM
 * Application (110150) and Application Launcher (110151), the HL7 security
 * role types of servers and processors, and the plain words. */
static int codes_say_system(const aod_codings *l)
{
    static const char *const codes[] = {"110150",        "110151",        "authserver",
                                        "datacollector", "dataprocessor", NULL};
    size_t i, j;

    for (i = 0; i < l->n; i++) {
        const aod_coding *c = &l->v[i];
        for (j = 0; c->code && codes[j]; j++)
            if (strcmp(c->code, codes[j]) == 0)
                return 1;
        if ((c->code &&
             (strcasecmp(c->code, "application") == 0 || strcasecmp(c->code, "system") == 0)) ||
            (c->display &&
             (strcasecmp(c->display, "application") == 0 || strcasecmp(c->display, "system") == 0)))
            return 1;
    }
    return 0;
}

/* The CSV's section column (doc/csv.md): software acting on its own
 * (an interface, a batch job, a population query) rather than a person
 * using it.  A person's reference never counts as a system. */
static int agent_is_system(const aod_record *r, const aod_agent *a)
{
    size_t i;

    if (agent_is_person(a))
        return 0;
    if (ref_is(&a->who, "Device") || codes_say_system(&a->type) || codes_say_system(&a->role))
        return 1;
    if (a->requestor != 0)
        return 0;
    /* not the requestor, and no person in the event: nobody asked */
    for (i = 0; i < r->n_agents; i++)
        if (agent_is_person(&r->agents[i]) || r->agents[i].requestor == 1)
            return 0;
    return 1;
}

/* ------------------------------------------------------------- the party */

/* The first coding of l with a display or a code, or NULL. */
static const aod_coding *first_coded(const aod_codings *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (l->v[i].display || l->v[i].code)
            return &l->v[i];
    return NULL;
}

/* A URI or URN ("urn:ihe:iti:pmir:2019:patient-feed", "https://h/fhir"):
 * one word with a scheme.  Never a description or a name for a reader. */
static int is_uri_text(const char *s)
{
    const char *colon, *p;

    if (!s || strpbrk(s, " \t") != NULL || !(colon = strchr(s, ':')) || colon == s ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (p = s; p < colon; p++) /* RFC 3986 scheme characters */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '+' || *p == '-' || *p == '.'))
            return 0;
    return strncmp(s, "urn:", 4) == 0 || strncmp(colon, "://", 3) == 0;
}

static void fill_party(ctx *c, const aod_agent *a, aod_actor_class k, aod_party *out)
{
    const aod_policy_party *ba;
    const aod_coding *rc;
    const char *org = NULL, *unit = NULL, *address = NULL, *name;

    memset(out, 0, sizeof *out);
    out->cls = k;
    if (!a)
        return;
    /* doc/policy.md: a business associate's first name is the one shown */
    ba = class_is_outside(k) ? business_associate(c, a) : NULL;
    if (ba && ba->n_names)
        org = ba->names[0];
    out->reference = intern(c, a->who.reference);
    out->id_system = intern(c, a->who.id_system);
    out->id_value = intern(c, a->who.id_value);
    name = a->name ? a->name : a->who.display ? a->who.display : org;
    /* An endpoint URI or a URN where a name was due (IHE PMIR records the
     * http endpoint in agent.name) is an address, not a name to print. */
    if (is_uri_text(name)) {
        if (!a->network)
            out->network = intern(c, name);
        name = a->name && a->who.display && !is_uri_text(a->who.display) ? a->who.display : NULL;
    }
    out->name = intern(c, name);
    /* family, friends, caregivers: people the patient knows, never staff */
    out->related = k == AOD_ACTOR_EXTERNAL_PERSON &&
                   (ref_is(&a->who, "RelatedPerson") || agent_is_related_person(a));
    rc = first_coded(&a->role);
    if (!rc && agent_is_related_person(a))
        rc = first_coded(&a->type);
    out->role = rc ? intern(c, rc->display ? rc->display : rc->code) : NULL;
    out->role_code = rc ? intern(c, rc->code) : NULL;
    if (!out->network)
        out->network = intern(c, a->network);
    /* The patient acting: the role words say "you" (templates role.PAT),
     * whatever name or identifier the record carries. */
    if (k == AOD_ACTOR_PATIENT_OR_REPRESENTATIVE && !agent_is_representative(a))
        out->role = out->role_code = intern(c, "PAT");

    if (!org && ref_is(&a->who, "Organization"))
        org = a->who.display ? a->who.display : a->name;
    if (!org && (k == AOD_ACTOR_WORKFORCE || k == AOD_ACTOR_SYSTEM_DEVICE))
        org = c->policy->organisation.name;
    out->organisation = intern(c, org);

    /* agent.location is a reference unless the sender wrote a name. */
    if (a->location && !looks_like_reference(a->location)) {
        if (class_is_outside(k))
            address = a->location;
        else
            unit = a->location;
    }
    out->unit = intern(c, unit);
    out->address = intern(c, address);
}

/* ------------------------------------------------------------ conditions */

static int any_agent_purpose_match(const aod_record *r, const aod_policy_codes *pc)
{
    size_t i;

    for (i = 0; i < r->n_agents; i++)
        if (codings_match(&r->agents[i].purpose, pc))
            return 1;
    return 0;
}

static int purpose_recorded(const aod_record *r)
{
    size_t i;

    if (r->purpose.n)
        return 1;
    for (i = 0; i < r->n_agents; i++)
        if (r->agents[i].purpose.n)
            return 1;
    return 0;
}

static int entity_is_consent(const aod_entity *e)
{
    return ref_is(&e->what, "Consent") || coding_is(&e->type, RESOURCE_TYPES, "Consent");
}

static int authorization_recorded(const ctx *c)
{
    const aod_policy *p = c->policy;
    size_t i, k, m;

    if (p->classification.agent_policy != AOD_AGENT_POLICY_IGNORE) {
        for (i = 0; i < c->r->n_agents; i++) {
            const aod_agent *a = &c->r->agents[i];
            for (k = 0; k < a->n_policy; k++) {
                if (!a->policy[k] || !a->policy[k][0])
                    continue;
                if (p->classification.agent_policy == AOD_AGENT_POLICY_ANY)
                    return 1;
                for (m = 0; m < p->classification.n_policy_prefixes; m++)
                    if (starts_with(a->policy[k], p->classification.policy_prefixes[m]))
                        return 1;
            }
        }
    }
    if (p->classification.consent_entity)
        for (i = 0; i < c->r->n_entities; i++)
            if (entity_is_consent(&c->r->entities[i]))
                return 1;
    /* BALP PrivacyDisclosure: the patient recorded as the one who
     * authorized the disclosure (SNOMED 429577009 "patient advocate"). */
    if (p->classification.patient_authorizer)
        for (i = 0; i < c->r->n_agents; i++) {
            const aod_agent *a = &c->r->agents[i];
            if (agent_has_type(a, SCT, SCT_AUTHORIZER) && agent_is_patient(c, a))
                return 1;
        }
    return 0;
}

static int security_label_match(const aod_record *r, const aod_policy_codes *pc)
{
    size_t i;

    for (i = 0; i < r->n_entities; i++)
        if (codings_match(&r->entities[i].security, pc))
            return 1;
    return 0;
}

static int purpose_matches(const aod_record *r, const aod_policy_rule *rule)
{
    switch (rule->purpose_level) {
    case AOD_PURPOSE_EVENT:
        return codings_match(&r->purpose, &rule->purpose);
    case AOD_PURPOSE_AGENT:
        return any_agent_purpose_match(r, &rule->purpose);
    case AOD_PURPOSE_ANY:
        break;
    }
    return codings_match(&r->purpose, &rule->purpose) || any_agent_purpose_match(r, &rule->purpose);
}

static int rule_matches(const ctx *c, const aod_policy_rule *rule, aod_recipient_kind kind)
{
    const aod_record *r = c->r;

    if (rule->purpose.tested && !purpose_matches(r, rule))
        return 0;
    if (rule->no_purpose && purpose_recorded(r))
        return 0;
    if (rule->event_type.tested && !codings_match(&r->type, &rule->event_type))
        return 0;
    if (rule->event_subtype.tested && !codings_match(&r->subtype, &rule->event_subtype))
        return 0;
    if (rule->actions && (!r->action || !strchr(rule->actions, r->action)))
        return 0;
    if (rule->recipient != AOD_RECIPIENT_UNTESTED && rule->recipient != kind)
        return 0;
    if (rule->direction != AOD_DIRECTION_UNTESTED &&
        (rule->direction == AOD_DIRECTION_IN) != (c->flows_in != 0))
        return 0;
    if (rule->authorization >= 0 && authorization_recorded(c) != rule->authorization)
        return 0;
    if (rule->security_label.tested && !security_label_match(r, &rule->security_label))
        return 0;
    return 1;
}

/* -------------------------------------------------------------- the data */

static int entity_is_patient(const ctx *c, const aod_entity *e)
{
    if (coding_is(&e->role, OBJECT_ROLE, "1"))
        return 1;
    if (e->role.code)
        return 0;
    return coding_is(&e->type, ENTITY_TYPE, "1") || ref_is_report_patient(c, &e->what);
}

static int entity_is_query(const aod_entity *e)
{
    return e->has_query || coding_is(&e->role, OBJECT_ROLE, "24");
}

static int entity_is_xrequestid(const aod_entity *e)
{
    return coding_is(&e->type, BALP_ENTITY_TYPE, "XrequestId") ||
           coding_is(&e->role, BALP_ENTITY_TYPE, "XrequestId");
}

/* The entities that describe the data itself. */
static int entity_is_data(const ctx *c, const aod_entity *e)
{
    if (entity_is_patient(c, e) || entity_is_query(e) || entity_is_xrequestid(e))
        return 0;
    /* On a disclosure a Consent is the authorization, not what was sent. */
    return !(c->export_like && entity_is_consent(e));
}

static const char *entity_kind(const aod_entity *e, char *buf, size_t size)
{
    ref_type(&e->what, buf, size);
    if (!buf[0] && e->type.code && e->type.system && strcmp(e->type.system, RESOURCE_TYPES) == 0 &&
        strlen(e->type.code) < size)
        memcpy(buf, e->type.code, strlen(e->type.code) + 1);
    return buf;
}

/* Appends kind to the comma separated list in buf unless already there. */
static void kinds_add(char *buf, size_t size, const char *kind)
{
    size_t nk = strlen(kind), nb = strlen(buf);
    const char *p = buf;

    if (!nk)
        return;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n == nk && memcmp(p, kind, nk) == 0)
            return;
        p += n;
        if (*p == ',')
            p++;
    }
    if (nb + (nb ? 1 : 0) + nk + 1 > size)
        return;
    if (nb)
        buf[nb++] = ',';
    memcpy(buf + nb, kind, nk + 1);
}

/* The resource type a search string names ("Observation?code=x",
 * "https://h/fhir/Observation?..."), into buf; "" when none. */
static const char *query_kind(const char *q, char *buf, size_t size)
{
    size_t end, start, i;

    buf[0] = '\0';
    if (!q)
        return buf;
    end = strcspn(q, "?");
    start = end;
    while (start > 0 && q[start - 1] != '/' && q[start - 1] != ' ')
        start--;
    if (end == start || end - start >= size || q[start] < 'A' || q[start] > 'Z')
        return buf;
    for (i = start; i < end; i++)
        if (!((q[i] >= 'a' && q[i] <= 'z') || (q[i] >= 'A' && q[i] <= 'Z')))
            return buf;
    memcpy(buf, q + start, end - start);
    buf[end - start] = '\0';
    return buf;
}

/* Case-insensitive: whether hay contains needle (ASCII folding only). */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = needle ? strlen(needle) : 0, i;

    if (!hay || n < 4)
        return 0;
    for (; *hay; hay++) {
        for (i = 0; i < n && hay[i] && lower(hay[i]) == lower(needle[i]); i++)
            ;
        if (i == n)
            return 1;
    }
    return 0;
}

/* An entity that is a person (a health professional an access right was
 * granted to, an HPD group member, a related person): its name and
 * description are that person's, never a description of the data. */
static int entity_is_person(const ctx *c, const aod_entity *e, const char *kind)
{
    return strcmp(kind, "Practitioner") == 0 || strcmp(kind, "PractitionerRole") == 0 ||
           strcmp(kind, "RelatedPerson") == 0 || strcmp(kind, "Person") == 0 ||
           str_eq(e->role.code, "HCP") ||
           (coding_is(&e->type, ENTITY_TYPE, "1") && !entity_is_patient(c, e));
}

/* Whether s names one of the event's people other than the patient: an
 * agent (a staff member's name in a document title), or a person the event
 * has as an entity (an access right granted to Dr X, recorded beside the
 * right itself): masking works on agents and could not reach it there. */
static int names_a_person(const ctx *c, const char *s)
{
    char kind[64];
    size_t i;

    for (i = 0; s && i < c->r->n_agents; i++) {
        const aod_agent *a = &c->r->agents[i];
        /* the cheap test first: the patient's own name may stay */
        if ((contains_ci(s, a->name) || (!looks_like_reference(a->who.display) &&
                                         contains_ci(s, a->who.display) && agent_is_person(a))) &&
            !agent_is_patient(c, a))
            return 1;
    }
    for (i = 0; s && i < c->r->n_entities; i++) {
        const aod_entity *e = &c->r->entities[i];
        const char *shown = looks_like_reference(e->what.display) ? NULL : e->what.display;

        if (!contains_ci(s, e->name) && !contains_ci(s, shown))
            continue;
        entity_kind(e, kind, sizeof kind);
        if (entity_is_person(c, e, kind) && !entity_is_patient(c, e))
            return 1;
    }
    return 0;
}

/* The kind of data an entity without a resource type stands for: a person's
 * details, or a document (a document URL, an XDS uniqueId, object-role 3
 * Report): 164.528(b)(2)(iii) wants a brief description even then. */
static const char *fallback_kind(const ctx *c, const aod_entity *e)
{
    if (entity_is_person(c, e, ""))
        return "Practitioner";
    if (coding_is(&e->role, OBJECT_ROLE, "3") ||
        (e->what.reference && strstr(e->what.reference, "://")) ||
        starts_with(e->what.id_value, "urn:oid:") || starts_with(e->what.id_value, "urn:uuid:") ||
        starts_with(e->what.reference, "urn:oid:") || starts_with(e->what.reference, "urn:uuid:"))
        return "DocumentReference";
    return "";
}

static void fill_data(ctx *c, aod_entry *out)
{
    const aod_record *r = c->r;
    const char *data = NULL, *data_ref = NULL, *query = NULL;
    char kinds[KINDS_MAX] = "", kind[64];
    size_t i;

    for (i = 0; i < r->n_entities; i++) {
        const aod_entity *e = &r->entities[i];

        if (entity_is_query(e)) {
            if (!query)
                query = e->description ? e->description : e->name;
            continue;
        }
        if (!entity_is_data(c, e))
            continue;
        entity_kind(e, kind, sizeof kind);
        if (!kind[0])
            kinds_add(kinds, sizeof kinds, fallback_kind(c, e));
        kinds_add(kinds, sizeof kinds, kind);
        /* Only a recorded description or name (R5: what.display) is "data";
         * a bare resource type stays in data_kinds, which renderers put into
         * words.  A person's name is never data, nor a text that names one
         * of the people in the event (masking could not reach it there). */
        if (!data && !entity_is_person(c, e, kind)) {
            const char *d = e->description                          ? e->description
                            : e->name                               ? e->name
                            : looks_like_reference(e->what.display) ? NULL
                                                                    : e->what.display;
            if (d && !is_uri_text(d) && !names_a_person(c, d))
                data = intern(c, d);
        }
        if (!data_ref)
            data_ref = e->what.reference;
    }
    if (!kinds[0])
        kinds_add(kinds, sizeof kinds, query_kind(query, kind, sizeof kind));
    out->data = data;
    out->data_kinds = kinds[0] ? intern(c, kinds) : NULL;
    out->data_ref = intern(c, data_ref);
    out->query = intern(c, query);
}

/* ---------------------------------------------------------- other fields */

static void fill_purpose(ctx *c, const aod_agent *who, const aod_agent *req, aod_entry *out)
{
    const aod_record *r = c->r;
    const aod_coding *p = first_coded(&r->purpose);
    size_t i;

    if (!p && who)
        p = first_coded(&who->purpose);
    if (!p && req)
        p = first_coded(&req->purpose);
    for (i = 0; !p && i < r->n_agents; i++)
        p = first_coded(&r->agents[i].purpose);
    if (!p) {
        out->flags |= AOD_ENTRY_PURPOSE_UNKNOWN;
        return;
    }
    out->purpose_system = intern(c, p->system);
    out->purpose_code = intern(c, p->code);
    out->purpose_display = intern(c, p->display);
}

static const char *first_code(const aod_codings *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (l->v[i].code)
            return l->v[i].code;
    return NULL;
}

/* A stable identity: reference, else "system|value", else a name. */
static const char *identity(ctx *c, const aod_ref *ref, const char *name)
{
    char buf[512];
    size_t ns, nv;

    if (ref->reference)
        return intern(c, ref->reference);
    if (ref->id_value) {
        ns = ref->id_system ? strlen(ref->id_system) : 0;
        nv = strlen(ref->id_value);
        if (ns == 0 || ns + nv + 2 > sizeof buf)
            return intern(c, ref->id_value);
        memcpy(buf, ref->id_system, ns);
        buf[ns] = '|';
        memcpy(buf + ns + 1, ref->id_value, nv + 1);
        return intern(c, buf);
    }
    return intern(c, name ? name : ref->display);
}

static int in_scope(const ctx *c)
{
    const aod_record *r = c->r;
    size_t i;

    if (r->recorded < c->info->from || r->recorded >= c->info->to)
        return 0;
    for (i = 0; i < r->n_patient_keys; i++)
        if (is_report_patient_key(c, r->patient_keys[i]))
            return 1;
    return 0;
}

static int is_export_like(const aod_record *r)
{
    if (codings_have(&r->type, DCM, DCM_IMPORT))
        return 0;
    return codings_have(&r->type, DCM, DCM_EXPORT) ||
           codings_have(&r->subtype, LIFECYCLE, "disclose") ||
           codings_have(&r->subtype, LIFECYCLE_CORE, "disclose");
}

static aod_class verdict_class(aod_verdict v)
{
    switch (v) {
    case AOD_VERDICT_REPORTABLE:
        return AOD_CLASS_DISCLOSURE;
    case AOD_VERDICT_EXCLUDED:
        return AOD_CLASS_EXCLUDED;
    case AOD_VERDICT_INTERNAL:
        break;
    }
    return AOD_CLASS_INTERNAL;
}

static void decide(ctx *c, aod_recipient_kind kind, aod_entry *out)
{
    const aod_policy *p = c->policy;
    const aod_record *r = c->r;
    size_t i;

    if (!in_scope(c)) {
        out->cls = AOD_CLASS_OUT_OF_SCOPE;
        out->rule_id = intern(c, "out-of-scope");
        return;
    }
    if (r->outcome && strcmp(r->outcome, "0") != 0) {
        out->cls = AOD_CLASS_FAILED;
        out->flags |= AOD_ENTRY_FAILED;
        out->rule_id = intern(c, "failed");
        return;
    }
    if (aod_codings_find(&r->subtype, AOD_SELF_AUDIT_SYSTEM, AOD_SELF_AUDIT_CODE)) {
        out->cls = AOD_CLASS_INTERNAL;
        out->flags |= AOD_ENTRY_SELF_AUDIT;
        out->rule_id = intern(c, "self-audit");
        return;
    }
    for (i = 0; i < p->classification.n_rules; i++) {
        const aod_policy_rule *rule = &p->classification.rules[i];

        if (!rule_matches(c, rule, kind))
            continue;
        out->cls = verdict_class(rule->verdict);
        /* 164.528(a) exclusions are about disclosures.  A workforce read for
         * treatment never left the covered entity: it is a use, and calling
         * it an "excluded disclosure" would inflate the counts the patient
         * reads.  The rule id still says why it was allowed. */
        if (out->cls == AOD_CLASS_EXCLUDED && kind == AOD_RECIPIENT_INSIDE && !c->export_like)
            out->cls = AOD_CLASS_INTERNAL;
        if (out->cls == AOD_CLASS_EXCLUDED)
            out->exclusion = rule->exclusion;
        out->rule_id = intern(c, rule->id);
        return;
    }
    out->cls = verdict_class(p->classification.unmatched);
    out->rule_id = intern(c, "default");
}

/* The IHE transaction (subtype urn:ihe:event-type-code#ITI-nn), or NULL. */
static const char *ihe_transaction(const aod_record *r)
{
    size_t i;

    for (i = 0; i < r->subtype.n; i++)
        if (str_eq(r->subtype.v[i].system, IHE_EVENT_TYPE) && r->subtype.v[i].code)
            return r->subtype.v[i].code;
    return NULL;
}

/* The first agent of that DCM role type. */
static const aod_agent *typed_agent(const aod_record *r, const char *code)
{
    size_t i;

    for (i = 0; i < r->n_agents; i++)
        if (agent_has_type(&r->agents[i], DCM, code))
            return &r->agents[i];
    return NULL;
}

/* A create, update or delete whose receiving end (the 110152 agent: the
 * server written to) shows itself outside: the data left with the write.
 * Returns that agent, or NULL. */
static const aod_agent *write_target(const ctx *c)
{
    const aod_agent *dest;

    if (!c->r->action || !strchr("CUD", c->r->action) || codings_have(&c->r->type, DCM, DCM_IMPORT))
        return NULL;
    dest = typed_agent(c->r, DCM_DESTINATION);
    if (!dest || dest->requestor == 1 || agent_is_patient(c, dest) || agent_inside(c, dest) ||
        !agent_outside_evidence(c, dest))
        return NULL;
    return dest;
}

static int emergency_access(const aod_record *r)
{
    static const char *const urgent[] = {"ETREAT", "BTG", "ERTREAT", NULL};
    size_t i, k;

    if (codings_have(&r->subtype, DCM, DCM_OVERRIDE))
        return 1;
    if (!codings_have(&r->type, DCM, DCM_ALERT))
        return 0;
    for (k = 0; urgent[k]; k++) {
        if (aod_codings_has_code(&r->purpose, urgent[k]))
            return 1;
        for (i = 0; i < r->n_agents; i++)
            if (aod_codings_has_code(&r->agents[i].purpose, urgent[k]))
                return 1;
    }
    return 0;
}

/* A reference as evidence is shown: its display when recorded, else the
 * reference, else its identifier. */
static const char *ref_evidence(const aod_ref *ref)
{
    if (ref->display && ref->display[0])
        return ref->display;
    if (ref->reference && ref->reference[0])
        return ref->reference;
    return ref->id_value && ref->id_value[0] ? ref->id_value : NULL;
}

static int ref_is_any(const aod_ref *ref, const char *const *types)
{
    for (; *types; types++)
        if (ref_is(ref, *types))
            return 1;
    return 0;
}

/* What showed a consent or authorization: the Consent entity, else the
 * first agent.policy (authorization_recorded() decided that one counts). */
static const char *consent_evidence(const aod_record *r)
{
    size_t i, k;

    for (i = 0; i < r->n_entities; i++)
        if (entity_is_consent(&r->entities[i]) && ref_evidence(&r->entities[i].what))
            return ref_evidence(&r->entities[i].what);
    for (i = 0; i < r->n_agents; i++)
        for (k = 0; k < r->agents[i].n_policy; k++)
            if (r->agents[i].policy[k] && r->agents[i].policy[k][0])
                return r->agents[i].policy[k];
    return NULL;
}

/* Why (issue 16 point 3, entry.h aod_reason): what the event recorded as
 * its basis, else what it names that it was part of; never a guess.  The
 * order is the one a patient would ask in: an emergency override and their
 * own request first (they change what the line means), then the purpose
 * recorded, then a consent on file; only then evidence. */
static void fill_reason(ctx *c, const aod_agent *req, aod_entry *out)
{
    static const char *const visits[] = {"Encounter", "EpisodeOfCare", NULL};
    static const char *const orders[] = {"ServiceRequest",    "CarePlan",      "Task",
                                         "MedicationRequest", "DeviceRequest", NULL};
    const aod_record *r = c->r;
    const char *ev = NULL;
    size_t i;

    out->reason = AOD_REASON_NONE;
    out->reason_evidence = NULL;
    if (emergency_access(r) || (out->purpose_code && strcmp(out->purpose_code, "ETREAT") == 0)) {
        out->reason = AOD_REASON_EMERGENCY;
    } else if ((out->purpose_code && strcmp(out->purpose_code, "PATRQT") == 0) ||
               (req && ref_is_report_patient(c, &req->who))) {
        out->reason = AOD_REASON_PATIENT;
    } else if (out->purpose_code || out->purpose_display) {
        out->reason = AOD_REASON_PURPOSE;
    } else if (authorization_recorded(c) || consent_evidence(r)) {
        /* a recorded consent or authorization is a basis whether or not
         * the policy counts it as a HIPAA authorization (exclusion iv) */
        out->reason = AOD_REASON_CONSENT;
        ev = consent_evidence(r);
    } else if ((ev = ref_evidence(&r->encounter)) != NULL) {
        out->reason = AOD_REASON_ENCOUNTER;
    } else {
        for (i = 0; !ev && i < r->n_entities; i++)
            if (ref_is_any(&r->entities[i].what, visits))
                ev = ref_evidence(&r->entities[i].what);
        if (ev) {
            out->reason = AOD_REASON_ENCOUNTER;
        } else {
            for (i = 0; !ev && i < r->n_based_on; i++)
                ev = ref_evidence(&r->based_on[i]);
            for (i = 0; !ev && i < r->n_entities; i++)
                if (ref_is_any(&r->entities[i].what, orders))
                    ev = ref_evidence(&r->entities[i].what);
            if (ev)
                out->reason = AOD_REASON_ORDER;
        }
    }
    out->reason_evidence = intern(c, ev);
    out->reasoned = out->reason != AOD_REASON_NONE;
}

/* What was done, when the action letter would say it wrong: an export
 * recorded as a "read" was a disclosure, a write by an outside system added
 * to the patient's record, a break-glass start is emergency access. */
static const char *activity(const ctx *c, aod_actor_class k)
{
    const aod_record *r = c->r;

    if (emergency_access(r))
        return "emergency-access";
    if (c->media)
        return "media-export";
    if ((c->export_like || c->writes_out) && class_is_outside(k))
        return "disclosed";
    if (c->export_like && k == AOD_ACTOR_PATIENT_OR_REPRESENTATIVE)
        return "given-to-patient";
    if (c->flows_in) {
        switch (r->action) {
        case 'C':
            return "received-C";
        case 'U':
            return "received-U";
        case 'D':
            return "received-D";
        default:
            return "received-import";
        }
    }
    return NULL;
}

/* Machine text where words are due: a reference ("Device/x"), a URI, a
 * host or domain ("ehr.hospital.example.org"), an address ("10.2.3.4"). */
static int is_machine_text(const char *s)
{
    size_t i, n;
    int dot = 0;

    if (!s || !*s)
        return 1;
    if (looks_like_reference(s) || is_uri_text(s))
        return 1;
    /* a host name or an IPv4 address, with or without a port */
    n = strcspn(s, ":");
    if (s[n] && s[n + 1] == '\0')
        return 0;
    for (i = n + (s[n] ? 1 : 0); s[i]; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '.') {
            if (i == 0 || s[i - 1] == '.')
                return 0;
            dot = 1;
        } else if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-')) {
            return 0;
        }
    }
    return dot;
}

/* The name of the covered entity or of a business associate whose domain
 * the host of net is in, or NULL. */
static const char *owner_of(const ctx *c, const char *net)
{
    const aod_policy *p = c->policy;
    char host[256];
    size_t i;

    aod_network_host(net, host, sizeof host);
    if (!host[0] || aod_host_is_ip(host))
        return NULL;
    for (i = 0; i < p->inside.n_business_associates; i++) {
        const aod_policy_party *ba = &p->inside.business_associates[i];
        if (ba->n_names && host_in(host, ba->domains, ba->n_domains))
            return ba->names[0];
    }
    if (host_in(host, p->inside.domains, p->inside.n_domains))
        return p->organisation.name;
    return NULL;
}

/* "Where from" in words (issue 16): the site when it is words, else the
 * observer's display (the system that recorded the event), else, for a
 * site or observer that is only a host, the name of the organisation that
 * host belongs to (the covered entity, a business associate).  Never a
 * bare reference, URI or domain: NULL when nothing better is recorded. */
static const char *where_from(const ctx *c)
{
    const aod_record *r = c->r;

    if (!is_machine_text(r->site))
        return r->site;
    if (!is_machine_text(r->observer.display))
        return r->observer.display;
    if (r->site && owner_of(c, r->site))
        return owner_of(c, r->site);
    if (r->observer.display && owner_of(c, r->observer.display))
        return owner_of(c, r->observer.display);
    if (r->observer.reference && !looks_like_reference(r->observer.reference))
        return owner_of(c, r->observer.reference);
    return NULL;
}

static aod_recipient_kind kind_of(aod_actor_class k)
{
    if (k == AOD_ACTOR_PATIENT_OR_REPRESENTATIVE)
        return AOD_RECIPIENT_PATIENT;
    return class_is_outside(k) ? AOD_RECIPIENT_OUTSIDE : AOD_RECIPIENT_INSIDE;
}

int aod_classify(const aod_policy *policy, const aod_report_info *info, const aod_record *r,
                 int64_t record_id, aod_strpool *pool, aod_entry *out, aod_error *err)
{
    ctx c;
    const aod_agent *who = NULL, *req;
    aod_actor_class k;
    int64_t *ids;

    memset(out, 0, sizeof *out);
    memset(&c, 0, sizeof c);
    c.policy = policy;
    c.info = info;
    c.r = r;
    c.pool = pool;
    c.export_like = is_export_like(r);
    c.client_outside = machine_outside(&c);

    /* The patient or a representative uploading into the record (CH:ATC
     * records it as an Export with action C): data coming in. */
    req = requestor_agent(r);
    if (c.export_like && r->action && strchr("CUD", r->action) &&
        !typed_agent(r, DCM_DESTINATION) && req && agent_is_patient(&c, req))
        c.export_like = 0;
    if (c.export_like)
        who = recipient_agent(&c);
    else if ((who = write_target(&c)) != NULL)
        c.writes_out = 1;
    else if (codings_have(&r->type, DCM, DCM_IMPORT))
        who = typed_agent(r, DCM_SOURCE); /* who sent it to us */
    if (who) {
        /* the recipient of an export or a write, or the sender of an
         * import: recording it says the data crossed the boundary */
        c.media = agent_has_type(who, DCM, DCM_MEDIA) && !agent_has_type(who, DCM, DCM_DESTINATION);
        k = agent_class(&c, who, 1, 0);
    } else {
        who = actor_agent(&c);
        if (who)
            k = agent_class(&c, who, 0, 1);
        else /* nobody named: a recorded Export still went somewhere outside */
            k = c.export_like ? AOD_ACTOR_EXTERNAL_ORGANISATION : AOD_ACTOR_SYSTEM_DEVICE;
    }
    req = requestor_agent(r);
    if (!req && !c.export_like)
        req = who;
    c.flows_in =
        !c.export_like && !c.writes_out &&
        (codings_have(&r->type, DCM, DCM_IMPORT) || (r->action && strchr("CUD", r->action))) &&
        (class_is_outside(k) || k == AOD_ACTOR_PATIENT_OR_REPRESENTATIVE);

    out->when_start = r->when_start;
    out->when_end = r->when_end;
    out->first = r->when_start;
    out->last = r->when_end;
    out->recorded = r->recorded;
    out->count = 1;
    out->raw_count = 1;
    out->action = r->action;
    out->outcome = intern(&c, r->outcome);

    decide(&c, kind_of(k), out);
    fill_party(&c, who, k, &out->who);
    /* our own software acting: shown and summarised as a system, never as
     * a staff member (the decision above stays the workforce's) */
    if (k == AOD_ACTOR_WORKFORCE && who && agent_is_system(r, who))
        out->who.cls = AOD_ACTOR_SYSTEM_DEVICE;
    if (out->flags & AOD_ENTRY_SELF_AUDIT) {
        out->who.cls = AOD_ACTOR_WORKFORCE;
        if (!out->who.unit)
            out->who.unit = intern(&c, policy->organisation.privacy_name);
        out->who.organisation = intern(&c, policy->organisation.name);
    }
    fill_data(&c, out);
    fill_purpose(&c, who, req, out);
    fill_reason(&c, req, out);

    out->where = intern(&c, where_from(&c));
    out->type_code = intern(&c, first_code(&r->type));
    out->subtype_code = intern(&c, first_code(&r->subtype));
    out->activity = intern(&c, activity(&c, k));
    out->transaction = intern(&c, ihe_transaction(r));
    out->x_request_id = intern(&c, r->x_request_id);
    if (r->observer.reference || r->observer.id_value || r->observer.display)
        out->observer = identity(&c, &r->observer, NULL);
    if (req) {
        out->actor_key = identity(&c, &req->who, req->name);
        /* a roster may list the person by identifier only (flags.h) */
        if (req->who.reference && req->who.id_value && req->who.id_system) {
            aod_ref id = req->who;
            id.reference = NULL;
            out->actor_id_key = identity(&c, &id, NULL);
        }
    }

    ids = aod_strpool_alloc(pool, sizeof *ids);
    if (!ids || c.oom) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, NULL, "out of memory classifying an event");
        return -1;
    }
    ids[0] = record_id;
    out->record_ids = ids;
    out->n_record_ids = 1;
    return 0;
}
