/*
 * policy.c - policy XML + XSD -> struct aod_policy (see policy.h).
 *
 * Three steps, each able to refuse the file with a line number:
 *   1. parse with libxml2, refusing any DOCTYPE: a policy needs no DTD, and a
 *      DTD is the only door to entity tricks (external entities reading local
 *      files, exponential expansion).  No network, no entity substitution.
 *   2. validate against the XSD, which carries the shape and the value sets.
 *   3. build the struct, adding what XML Schema 1.0 cannot say: the time zone
 *      exists, a suspension does not end before it starts, an oral suspension
 *      lasts at most 30 days, relative paths are relative to the policy file.
 *
 * libxml2 reports through structured error handlers set on each parser and
 * schema context, which keep the first error in the loader; its encoding
 * layer reports on the process-wide generic channel, borrowed while the
 * policy is parsed; nothing here writes to stderr.  libxml2's global
 * cleanup (xmlCleanupParser) is the program's business at exit, never ours.
 */
#include "model/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "base/buf.h"

#ifndef AOD_DATADIR
#define AOD_DATADIR "/usr/local/share/aodreport"
#endif

/* A policy is a page or two of XML (the examples are 3-7 KB); anything near
 * this size is a mistake (or an attack) and is refused before libxml2 sees
 * it. */
#define POLICY_MAX_BYTES ((size_t)1024 * 1024)
/* Attributes on one element: the schema has at most 4, plus namespace
 * declarations.  libxml2 checks an element's attributes for duplicates
 * pair by pair: 100,000 of them took minutes. */
#define POLICY_MAX_ATTRIBUTES 32

/* HIPAA's reach back for an accounting, 164.528(a)(1). */
#define HIPAA_LOOKBACK_MONTHS 72
/* The most an oral suspension statement buys, 164.528(a)(2)(ii)(C). */
#define ORAL_SUSPENSION_DAYS 30

#define XML_PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES)

/* ------------------------------------------------------------------ arena
 * Everything a policy points to comes from here and goes in one sweep. */

typedef struct mem_block {
    struct mem_block *next;
    size_t used;
    size_t size;
    max_align_t data[];
} mem_block;

struct aod_policy_mem {
    mem_block *head;
};

#define MEM_BLOCK_BYTES 8192

static void *mem_alloc(struct aod_policy_mem *mem, size_t n)
{
    const size_t align = sizeof(max_align_t);
    mem_block *b = mem->head;
    void *p;

    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / 2)
        return NULL;
    n = (n + align - 1) / align * align;
    if (!b || b->size - b->used < n) {
        size_t size = n > MEM_BLOCK_BYTES ? n : MEM_BLOCK_BYTES;

        b = malloc(sizeof *b + size);
        if (!b)
            return NULL;
        b->size = size;
        b->used = 0;
        b->next = mem->head;
        mem->head = b;
    }
    p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static void mem_free_all(struct aod_policy_mem *mem)
{
    mem_block *b, *next;

    if (!mem)
        return;
    for (b = mem->head; b; b = next) {
        next = b->next;
        free(b);
    }
    free(mem);
}

/* ----------------------------------------------------------------- loader */

typedef struct loader {
    aod_policy *p;
    aod_error *err;
    const char *source; /* the policy's name, for errors */
    const char *dir;    /* its directory ("" when it has none) */

    /* The first error libxml2 reported in the current step. */
    int xml_failed;
    int xml_global; /* 1: xml_text is being filled by on_global_error */
    long xml_line;
    char xml_field[96];
    char xml_text[480];
    int doctype_seen;
    long doctype_line;

    /* Warnings, grown by doubling in the arena. */
    size_t warn_alloc;
} loader;

static int fail_at(loader *ld, const xmlNode *node, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Records a semantic error at node's line and returns -1. */
static int fail_at(loader *ld, const xmlNode *node, const char *fmt, ...)
{
    char text[sizeof ld->err->text];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    aod_error_set(ld->err, AOD_ERR_POLICY, ld->source, node ? xmlGetLineNo(node) : 0,
                  node ? (const char *)node->name : NULL, "%s", text);
    return -1;
}

static int fail_nomem(loader *ld)
{
    aod_error_set(ld->err, AOD_ERR_NOMEM, ld->source, 0, NULL, "out of memory loading the policy");
    return -1;
}

static void *alloc(loader *ld, size_t n)
{
    void *q = mem_alloc(ld->p->mem, n);

    if (!q)
        fail_nomem(ld);
    return q;
}

static void *alloc_array(loader *ld, size_t count, size_t size)
{
    if (count == 0)
        return NULL;
    if (count > SIZE_MAX / size) {
        fail_nomem(ld);
        return NULL;
    }
    return alloc(ld, count * size);
}

static const char *copy_n(loader *ld, const char *s, size_t n)
{
    char *c = alloc(ld, n + 1);

    if (!c)
        return NULL;
    memcpy(c, s, n);
    c[n] = '\0';
    return c;
}

static const char *copy_str(loader *ld, const char *s)
{
    return copy_n(ld, s, strlen(s));
}

static int add_warning(loader *ld, long line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int add_warning(loader *ld, long line, const char *fmt, ...)
{
    aod_policy *p = ld->p;
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (p->n_warnings == ld->warn_alloc) {
        size_t n = ld->warn_alloc ? ld->warn_alloc * 2 : 8;
        aod_policy_warning *w = alloc_array(ld, n, sizeof *w);

        if (!w)
            return -1;
        if (p->n_warnings)
            memcpy(w, p->warnings, p->n_warnings * sizeof *w);
        p->warnings = w;
        ld->warn_alloc = n;
    }
    p->warnings[p->n_warnings].line = line;
    p->warnings[p->n_warnings].text = copy_str(ld, text);
    if (!p->warnings[p->n_warnings].text)
        return -1;
    p->n_warnings++;
    return 0;
}

/* ------------------------------------------------- libxml2 error plumbing */

/* Copies a libxml2 message, dropping the namespace that every element name
 * would otherwise carry ("{urn:aodreport:policy:1}rule") and the final
 * newline: the reader wants "Element 'rule': ...". */
static void clean_message(char *out, size_t size, const char *msg)
{
    static const char ns[] = "{" AOD_POLICY_NS "}";
    size_t used = 0;

    if (!msg)
        msg = "unknown XML error";
    while (*msg && used + 1 < size) {
        if (strncmp(msg, ns, sizeof ns - 1) == 0) {
            msg += sizeof ns - 1;
            continue;
        }
        out[used++] = *msg++;
    }
    while (used > 0 && (out[used - 1] == '\n' || out[used - 1] == ' '))
        used--;
    out[used] = '\0';
}

#if LIBXML_VERSION >= 21200
static void on_xml_error(void *data, const xmlError *e)
#else
static void on_xml_error(void *data, xmlErrorPtr e)
#endif
{
    loader *ld = data;
    const xmlNode *node;

    /* Warnings (e.g. a namespace URI that is not absolute) do not make a
     * policy wrong; only the first real error is kept. */
    if (!ld || !e || e->level == XML_ERR_WARNING || ld->xml_failed)
        return;
    ld->xml_failed = 1;
    node = e->node;
    ld->xml_line = e->line;
    if (ld->xml_line <= 0 && node)
        ld->xml_line = xmlGetLineNo(node);
    ld->xml_field[0] = '\0';
    if (node && node->type == XML_ELEMENT_NODE && node->name)
        snprintf(ld->xml_field, sizeof ld->xml_field, "%s", (const char *)node->name);
    clean_message(ld->xml_text, sizeof ld->xml_text, e->message);
}

/* What libxml2 reports outside any context (an encoding conversion that
 * fails says so on the process-wide channel, which prints to stderr): kept
 * as the loader's first error, printed by nobody.  libxml2 sends it in
 * pieces, printf-style, up to a line end. */
static void on_global_error(void *data, const char *fmt, ...)
{
    loader *ld = data;
    char piece[256];
    size_t used;
    va_list ap;

    if (!ld || (ld->xml_failed && !ld->xml_global))
        return;
    va_start(ap, fmt);
    vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (!ld->xml_failed) {
        ld->xml_failed = 1;
        ld->xml_global = 1;
        ld->xml_line = 0;
        ld->xml_field[0] = '\0';
        ld->xml_text[0] = '\0';
    }
    used = strlen(ld->xml_text);
    snprintf(ld->xml_text + used, sizeof ld->xml_text - used, "%s", piece);
    if (strchr(piece, '\n')) {
        ld->xml_global = 0; /* the line is complete: the rest is noise */
        clean_message(ld->xml_text, sizeof ld->xml_text, ld->xml_text);
    }
}

/* The parser hands its own context to the handler; ours hangs off it. */
#if LIBXML_VERSION >= 21200
static void on_parser_error(void *ctx, const xmlError *e)
#else
static void on_parser_error(void *ctx, xmlErrorPtr e)
#endif
{
    xmlParserCtxtPtr ctxt = ctx;

    on_xml_error(ctxt ? ctxt->_private : NULL, e);
}

/* Replaces libxml2's DOCTYPE handler: the first sight of <!DOCTYPE stops the
 * parse before any entity declaration is read. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    loader *ld = ctxt->_private;

    (void)name;
    (void)external_id;
    (void)system_id;
    if (ld && !ld->doctype_seen) {
        ld->doctype_seen = 1;
        ld->doctype_line = ctxt->input ? ctxt->input->line : 0;
    }
    xmlStopParser(ctxt);
}

/* Counts the attributes of each start tag before libxml2 does (see
 * POLICY_MAX_ATTRIBUTES): an '=' outside quotes inside a tag.  Comments,
 * CDATA sections, processing instructions and declarations are skipped.
 * Returns 0, or -1 with err set naming the line. */
static int check_attributes(loader *ld, const char *text, size_t len, const char *what)
{
    const char *p = text, *end = text + len;
    long line = 1;
    int in_tag = 0, n = 0;
    char quote = 0;

    for (; p < end; p++) {
        if (*p == '\n')
            line++;
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (in_tag) {
            if (*p == '"' || *p == '\'')
                quote = *p;
            else if (*p == '>')
                in_tag = 0;
            else if (*p == '=' && ++n > POLICY_MAX_ATTRIBUTES) {
                aod_error_set(ld->err, AOD_ERR_POLICY, what, line, NULL,
                              "an element with more than %d attributes (a policy element has a "
                              "few); refused before parsing",
                              POLICY_MAX_ATTRIBUTES);
                return -1;
            }
        } else if (*p == '<') {
            static const struct {
                const char *open, *close;
            } skip[] = {{"<!--", "-->"}, {"<![CDATA[", "]]>"}, {"<?", "?>"}, {"<!", ">"}};
            size_t i, left = (size_t)(end - p);
            const char *q = NULL;

            for (i = 0; i < sizeof skip / sizeof skip[0]; i++) {
                size_t o = strlen(skip[i].open), c = strlen(skip[i].close);
                if (left >= o && memcmp(p, skip[i].open, o) == 0) {
                    for (q = p + o; q + c <= end && memcmp(q, skip[i].close, c) != 0; q++)
                        line += *q == '\n';
                    p = q + c <= end ? q + c - 1 : end - 1;
                    break;
                }
            }
            if (!q) {
                in_tag = 1;
                n = 0;
            }
        }
    }
    return 0;
}

/* Parses len bytes into a new document (NULL with err set).  what names the
 * document in errors. */
static xmlDocPtr parse_xml(loader *ld, const char *text, size_t len, const char *what)
{
    xmlParserCtxtPtr ctxt = NULL;
    xmlDocPtr doc = NULL;

    if (len > (size_t)POLICY_MAX_BYTES) {
        aod_error_set(ld->err, AOD_ERR_POLICY, what, 0, NULL, "the file is larger than %zu bytes",
                      POLICY_MAX_BYTES);
        goto done;
    }
    if (len == 0) {
        aod_error_set(ld->err, AOD_ERR_POLICY, what, 0, NULL, "malformed XML: the file is empty");
        goto done;
    }
    if (check_attributes(ld, text, len, what) != 0)
        goto done;
    ld->xml_failed = 0;
    ld->doctype_seen = 0;
    ctxt = xmlCreateMemoryParserCtxt(text, (int)len);
    if (!ctxt) {
        fail_nomem(ld);
        goto done;
    }
    ctxt->_private = ld;
    ctxt->sax->serror = on_parser_error;
    ctxt->sax->internalSubset = refuse_doctype;
    xmlCtxtUseOptions(ctxt, XML_PARSE_OPTIONS);
    xmlParseDocument(ctxt);

    if (ld->doctype_seen) {
        aod_error_set(ld->err, AOD_ERR_POLICY, what, ld->doctype_line, NULL,
                      "a DOCTYPE is not allowed here (DTDs and entities are refused)");
        goto done;
    }
    if (!ctxt->wellFormed || ld->xml_failed || !ctxt->myDoc) {
        aod_error_set(ld->err, AOD_ERR_POLICY, what, ld->xml_line, NULL, "malformed XML: %s",
                      ld->xml_failed ? ld->xml_text : "the document could not be parsed");
        goto done;
    }
    doc = ctxt->myDoc;
    ctxt->myDoc = NULL;

done:
    if (ctxt) {
        if (ctxt->myDoc)
            xmlFreeDoc(ctxt->myDoc);
        ctxt->myDoc = NULL;
        xmlFreeParserCtxt(ctxt);
    }
    return doc;
}

/* Validates doc against the schema in xsd_doc.  Returns 0 or -1 (err set). */
static int validate(loader *ld, xmlDocPtr doc, xmlDocPtr xsd_doc, const char *xsd_name)
{
    xmlSchemaParserCtxtPtr pctxt = NULL;
    xmlSchemaPtr schema = NULL;
    xmlSchemaValidCtxtPtr vctxt = NULL;
    int rc = -1;

    ld->xml_failed = 0;
    pctxt = xmlSchemaNewDocParserCtxt(xsd_doc);
    if (!pctxt) {
        fail_nomem(ld);
        goto done;
    }
    xmlSchemaSetParserStructuredErrors(pctxt, on_xml_error, ld);
    schema = xmlSchemaParse(pctxt);
    if (!schema || ld->xml_failed) {
        aod_error_set(ld->err, AOD_ERR_POLICY, xsd_name, ld->xml_line, NULL,
                      "the policy schema is not usable: %s",
                      ld->xml_failed ? ld->xml_text : "it could not be compiled");
        goto done;
    }
    vctxt = xmlSchemaNewValidCtxt(schema);
    if (!vctxt) {
        fail_nomem(ld);
        goto done;
    }
    xmlSchemaSetValidStructuredErrors(vctxt, on_xml_error, ld);
    if (xmlSchemaValidateDoc(vctxt, doc) != 0 || ld->xml_failed) {
        aod_error_set(ld->err, AOD_ERR_POLICY, ld->source, ld->xml_line,
                      ld->xml_field[0] ? ld->xml_field : NULL, "%s",
                      ld->xml_failed ? ld->xml_text : "the policy does not match the schema");
        goto done;
    }
    rc = 0;

done:
    /* The schema may point into its document: free it first. */
    xmlSchemaFreeValidCtxt(vctxt);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pctxt);
    return rc;
}

/* ------------------------------------------------------------ DOM helpers */

static int is_el(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
           strcmp((const char *)n->ns->href, AOD_POLICY_NS) == 0 &&
           strcmp((const char *)n->name, name) == 0;
}

static xmlNode *next_el(xmlNode *n)
{
    while (n && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

/* The first element child of parent, skipping text and comments. */
static xmlNode *first_el(xmlNode *parent)
{
    return next_el(parent->children);
}

static size_t count_el(xmlNode *parent, const char *name)
{
    xmlNode *c;
    size_t n = 0;

    for (c = first_el(parent); c; c = next_el(c->next)) {
        if (is_el(c, name))
            n++;
    }
    return n;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Copies s into the arena with white space collapsed as xs:token does:
 * trimmed, inner runs turned into one space. */
static const char *copy_collapsed(loader *ld, const char *s)
{
    size_t n = strlen(s), used = 0;
    char *out = alloc(ld, n + 1);
    int pending_space = 0;

    if (!out)
        return NULL;
    for (; *s; s++) {
        if (is_space(*s)) {
            pending_space = used > 0;
            continue;
        }
        if (pending_space)
            out[used++] = ' ';
        pending_space = 0;
        out[used++] = *s;
    }
    out[used] = '\0';
    return out;
}

/* *out = the attribute's collapsed value, or NULL when absent.  0 or -1. */
static int get_attr(loader *ld, xmlNode *n, const char *name, const char **out)
{
    xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);

    *out = NULL;
    if (!v)
        return 0;
    *out = copy_collapsed(ld, (const char *)v);
    xmlFree(v);
    return *out ? 0 : -1;
}

/* *out = the element's collapsed text content.  0 or -1. */
static int get_text(loader *ld, xmlNode *n, const char **out)
{
    xmlChar *v = xmlNodeGetContent(n);

    *out = NULL;
    if (!v)
        return fail_nomem(ld);
    *out = copy_collapsed(ld, (const char *)v);
    xmlFree(v);
    return *out ? 0 : -1;
}

/* The texts of parent's children called name, in order. */
static int get_texts(loader *ld, xmlNode *parent, const char *name, const char ***out,
                     size_t *count)
{
    size_t n = count_el(parent, name), i = 0;
    xmlNode *c;

    *out = NULL;
    *count = 0;
    if (n == 0)
        return 0;
    *out = alloc_array(ld, n, sizeof **out);
    if (!*out)
        return -1;
    for (c = first_el(parent); c; c = next_el(c->next)) {
        if (!is_el(c, name))
            continue;
        if (get_text(ld, c, &(*out)[i]) != 0)
            return -1;
        i++;
    }
    *count = n;
    return 0;
}

static int get_identifiers(loader *ld, xmlNode *parent, aod_policy_identifier **out, size_t *count)
{
    size_t n = count_el(parent, "identifier"), i = 0;
    xmlNode *c;

    *out = NULL;
    *count = 0;
    if (n == 0)
        return 0;
    *out = alloc_array(ld, n, sizeof **out);
    if (!*out)
        return -1;
    for (c = first_el(parent); c; c = next_el(c->next)) {
        if (!is_el(c, "identifier"))
            continue;
        if (get_attr(ld, c, "system", &(*out)[i].system) != 0 ||
            get_attr(ld, c, "value", &(*out)[i].value) != 0)
            return -1;
        i++;
    }
    *count = n;
    return 0;
}

/* Splits a space-separated list (already collapsed) into words. */
static int split_words(loader *ld, const char *text, const char ***out, size_t *count)
{
    size_t n = 0, i = 0;
    const char *s;

    *out = NULL;
    *count = 0;
    for (s = text; *s; s++) {
        if (!is_space(*s) && (s == text || is_space(s[-1])))
            n++;
    }
    if (n == 0)
        return 0;
    *out = alloc_array(ld, n, sizeof **out);
    if (!*out)
        return -1;
    s = text;
    while (*s) {
        const char *start;

        while (is_space(*s))
            s++;
        if (!*s)
            break;
        start = s;
        while (*s && !is_space(*s))
            s++;
        (*out)[i] = copy_n(ld, start, (size_t)(s - start));
        if (!(*out)[i])
            return -1;
        i++;
    }
    *count = i;
    return 0;
}

/* xs:boolean: "true"/"1" or "false"/"0"; dflt when the attribute is absent. */
static int get_bool(loader *ld, xmlNode *n, const char *name, int dflt, int *out)
{
    const char *v;

    if (get_attr(ld, n, name, &v) != 0)
        return -1;
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return fail_at(ld, n, "%s: \"%s\" is not true or false", name, v);
    return 0;
}

/* A non-negative integer attribute, at most max (the schema says so too). */
static int get_int(loader *ld, xmlNode *n, const char *name, int dflt, long max, int *out)
{
    const char *v;
    char *end;
    long x;

    if (get_attr(ld, n, name, &v) != 0)
        return -1;
    if (!v) {
        *out = dflt;
        return 0;
    }
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || x < 0 || x > max)
        return fail_at(ld, n, "%s: \"%s\" is not a number from 0 to %ld", name, v, max);
    *out = (int)x;
    return 0;
}

/* Maps a value onto its index in names[] (NULL-terminated). */
static int lookup(loader *ld, xmlNode *n, const char *what, const char *v, const char *const *names,
                  int *out)
{
    int i;

    for (i = 0; names[i]; i++) {
        if (v && strcmp(v, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return fail_at(ld, n, "%s: \"%s\" is not a known value", what, v ? v : "");
}

static int get_enum(loader *ld, xmlNode *n, const char *name, const char *const *names, int dflt,
                    int *out)
{
    const char *v;

    if (get_attr(ld, n, name, &v) != 0)
        return -1;
    if (!v) {
        *out = dflt;
        return 0;
    }
    return lookup(ld, n, name, v, names, out);
}

/* ------------------------------------------------------ names and values */

static const char *const exclusion_keys[] = {"",   "i",   "ii",   "iii", "iv", "v",
                                             "vi", "vii", "viii", "ix",  NULL};
static const char *const verdict_names[] = {"reportable", "excluded", "internal", NULL};
static const char *const level_names[] = {"any", "event", "agent", NULL};
static const char *const recipient_names[] = {"", "patient", "outside", "inside", NULL};
static const char *const direction_names[] = {"", "in", "out", NULL};
static const char *const agent_policy_names[] = {"any", "listed", "ignore", NULL};
static const char *const failed_names[] = {"omit", "separate", "flag", NULL};
static const char *const statement_names[] = {"written", "oral", NULL};
static const char *const class_names[] = {"workforce",
                                          "external-person",
                                          "external-organisation",
                                          "patient-or-representative",
                                          "system-device",
                                          NULL};
static const char *const audience_names[] = {"patient", "privacy-office", NULL};
static const char *const tier_names[] = {"full-name",    "pseudonym", "role-unit",
                                         "organisation", "generic",   NULL};

const char *aod_policy_exclusion_name(aod_exclusion e)
{
    static const char *const names[] = {
        "",
        "(i) treatment, payment and health care operations",
        "(ii) to the individual about themselves",
        "(iii) incident to an otherwise permitted use or disclosure",
        "(iv) pursuant to an authorization",
        "(v) facility directory, persons involved in care, notification",
        "(vi) national security or intelligence",
        "(vii) correctional institutions or law enforcement with custody",
        "(viii) part of a limited data set",
        "(ix) before the compliance date",
    };

    if ((int)e < 0 || (size_t)e >= sizeof names / sizeof names[0])
        return "?";
    return names[e];
}

const char *aod_policy_exclusion_key(aod_exclusion e)
{
    if ((int)e < 0 || e > AOD_EXCL_IX)
        return "?";
    return exclusion_keys[e];
}

const char *aod_policy_verdict_name(aod_verdict v)
{
    if ((int)v < 0 || v > AOD_VERDICT_INTERNAL)
        return "?";
    return verdict_names[v];
}

const char *aod_policy_actor_class_name(aod_actor_class c)
{
    if ((int)c < 0 || c >= AOD_ACTOR_CLASS_COUNT)
        return "?";
    return class_names[c];
}

const char *aod_policy_audience_name(aod_audience a)
{
    if ((int)a < 0 || a >= AOD_AUDIENCE_COUNT)
        return "?";
    return audience_names[a];
}

const char *aod_policy_tier_name(aod_mask_tier t)
{
    if ((int)t < 0 || t > AOD_TIER_GENERIC)
        return "?";
    return tier_names[t];
}

/* ------------------------------------------------------------ dates, time */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar.  The
 * year is counted from March so that the leap day falls at its end. */
static int64_t days_from_date(int y, int m, int d)
{
    int64_t yy = m <= 2 ? y - 1 : y;
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t year_of_era = yy - era * 400;
    int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;

    return era * 146097 + day_of_era - 719468;
}

/* Writes YYYY-MM-DD by hand: the fields are known to be in range, and a
 * printf would make the compiler doubt the buffer fits. */
static void format_date(aod_policy_date *d)
{
    int y = d->year < 0 ? 0 : d->year % 10000;

    d->text[0] = (char)('0' + y / 1000);
    d->text[1] = (char)('0' + y / 100 % 10);
    d->text[2] = (char)('0' + y / 10 % 10);
    d->text[3] = (char)('0' + y % 10);
    d->text[4] = '-';
    d->text[5] = (char)('0' + d->month / 10 % 10);
    d->text[6] = (char)('0' + d->month % 10);
    d->text[7] = '-';
    d->text[8] = (char)('0' + d->day / 10 % 10);
    d->text[9] = (char)('0' + d->day % 10);
    d->text[10] = '\0';
}

/* The inverse of days_from_date. */
static void date_from_days(int64_t days, aod_policy_date *out)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t day_of_era = z - era * 146097;
    int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    int64_t mp = (5 * day_of_year + 2) / 153;
    int64_t d = day_of_year - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = year_of_era + era * 400 + (m <= 2);

    out->year = (int)y;
    out->month = (int)m;
    out->day = (int)d;
    out->days = days;
    format_date(out);
}

static int parse_date(loader *ld, xmlNode *n, const char *name, const char *v, aod_policy_date *out)
{
    int y, m, d, i;

    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7) {
            if (v[i] != '-')
                break;
        } else if (v[i] < '0' || v[i] > '9') {
            break;
        }
    }
    if (i != 10 || v[10] != '\0')
        return fail_at(ld, n, "%s: \"%s\" is not a date (YYYY-MM-DD)", name, v);
    y = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
    m = (v[5] - '0') * 10 + (v[6] - '0');
    d = (v[8] - '0') * 10 + (v[9] - '0');
    date_from_days(days_from_date(y, m, d), out);
    /* A day that does not exist (February 30th) comes back as another. */
    if (m < 1 || m > 12 || out->year != y || out->month != m || out->day != d)
        return fail_at(ld, n, "%s: \"%s\" is not a calendar date", name, v);
    return 0;
}

/* "P6Y", "P1Y6M", "P90D": whole years, months and days only. */
static int parse_period(loader *ld, xmlNode *n, const char *name, const char *v,
                        aod_policy_period *out)
{
    const char *s = v;
    int seen = 0, last_unit = 0;

    memset(out, 0, sizeof *out);
    if (*s++ != 'P')
        goto bad;
    while (*s) {
        long x = 0;
        int digits = 0, unit;

        while (*s >= '0' && *s <= '9' && digits < 6) {
            x = x * 10 + (*s++ - '0');
            digits++;
        }
        if (digits == 0)
            goto bad;
        /* Units come in the order Y, M, D, each at most once. */
        unit = *s == 'Y' ? 1 : *s == 'M' ? 2 : *s == 'D' ? 3 : 0;
        if (unit == 0 || unit <= last_unit)
            goto bad;
        last_unit = unit;
        if (unit == 1)
            out->years = (int)x;
        else if (unit == 2)
            out->months = (int)x;
        else
            out->days = (int)x;
        seen = 1;
        s++;
    }
    if (!seen)
        goto bad;
    if (out->years == 0 && out->months == 0 && out->days == 0)
        return fail_at(ld, n, "%s: the period \"%s\" is empty", name, v);
    out->text = v;
    return 0;
bad:
    return fail_at(ld, n, "%s: \"%s\" is not a period such as P6Y, P1Y6M or P90D", name, v);
}

/* A time zone is usable when it is UTC or a compiled zone file (its first
 * bytes are "TZif") exists under the zone directory.  The schema's pattern
 * keeps dots and so ".." out of the name. */
static int check_time_zone(loader *ld, xmlNode *n, const char *zone)
{
    const char *dir = getenv("TZDIR");
    char path[512];
    char magic[4];
    FILE *f;
    size_t got = 0;

    if (strcmp(zone, "UTC") == 0)
        return 0;
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    if (strstr(zone, "..") || zone[0] == '/' ||
        (size_t)snprintf(path, sizeof path, "%s/%s", dir, zone) >= sizeof path)
        return fail_at(ld, n, "time-zone: \"%s\" is not a time zone name", zone);
    f = fopen(path, "rb");
    if (f) {
        got = fread(magic, 1, sizeof magic, f);
        fclose(f);
    }
    if (got != sizeof magic || memcmp(magic, "TZif", 4) != 0)
        return fail_at(ld, n, "time-zone: unknown time zone \"%s\" (not UTC, not found under %s)",
                       zone, dir);
    return 0;
}

/* A relative path in the policy means relative to the policy file. */
static const char *resolve_path(loader *ld, const char *path)
{
    aod_buf b;
    const char *out;

    if (path[0] == '/' || ld->dir[0] == '\0')
        return path;
    aod_buf_init(&b, 0);
    if (aod_buf_adds(&b, ld->dir) != 0 ||
        (ld->dir[strlen(ld->dir) - 1] != '/' && aod_buf_addc(&b, '/') != 0) ||
        aod_buf_adds(&b, path) != 0) {
        fail_nomem(ld);
        return NULL;
    }
    out = copy_str(ld, aod_buf_str(&b));
    aod_buf_free(&b);
    return out;
}

/* ------------------------------------------------------------- sections */

static int build_organisation(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    xmlNode *c, *o;

    if (get_texts(ld, el, "address-line", &p->organisation.address, &p->organisation.n_address) !=
            0 ||
        get_identifiers(ld, el, &p->organisation.identifiers, &p->organisation.n_identifiers) != 0)
        return -1;
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (is_el(c, "name")) {
            if (get_text(ld, c, &p->organisation.name) != 0)
                return -1;
        } else if (is_el(c, "privacy-office")) {
            for (o = first_el(c); o; o = next_el(o->next)) {
                const char **slot = is_el(o, "name")    ? &p->organisation.privacy_name
                                    : is_el(o, "phone") ? &p->organisation.privacy_phone
                                    : is_el(o, "email") ? &p->organisation.privacy_email
                                                        : NULL;
                if (slot && get_text(ld, o, slot) != 0)
                    return -1;
            }
        }
    }
    if (!p->organisation.name || !*p->organisation.name)
        return fail_at(ld, el, "the organisation has no name");
    if (!p->organisation.privacy_name || !*p->organisation.privacy_name)
        return fail_at(ld, el, "the privacy office has no name");
    return 0;
}

static int build_party(loader *ld, xmlNode *el, aod_policy_party *party)
{
    if (get_texts(ld, el, "name", &party->names, &party->n_names) != 0 ||
        get_identifiers(ld, el, &party->identifiers, &party->n_identifiers) != 0 ||
        get_texts(ld, el, "network-domain", &party->domains, &party->n_domains) != 0 ||
        get_texts(ld, el, "reference", &party->references, &party->n_references) != 0)
        return -1;
    return 0;
}

static int party_is_empty(const aod_policy_party *party)
{
    return party->n_names == 0 && party->n_identifiers == 0 && party->n_domains == 0 &&
           party->n_references == 0;
}

static int build_inside(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    size_t n = count_el(el, "business-associate"), i = 0;
    xmlNode *c;

    if (get_texts(ld, el, "organisation-reference", &p->inside.organisation_refs,
                  &p->inside.n_organisation_refs) != 0 ||
        get_texts(ld, el, "identifier-system", &p->inside.identifier_systems,
                  &p->inside.n_identifier_systems) != 0 ||
        get_texts(ld, el, "network-domain", &p->inside.domains, &p->inside.n_domains) != 0)
        return -1;
    if (n == 0)
        return 0;
    p->inside.business_associates = alloc_array(ld, n, sizeof *p->inside.business_associates);
    if (!p->inside.business_associates)
        return -1;
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (!is_el(c, "business-associate"))
            continue;
        if (build_party(ld, c, &p->inside.business_associates[i]) != 0)
            return -1;
        if (p->inside.business_associates[i].n_names == 0)
            return fail_at(ld, c, "a business associate needs a name");
        i++;
    }
    p->inside.n_business_associates = n;
    return 0;
}

/* A code condition: the list in the element's text, the system attribute. */
static int build_codes(loader *ld, xmlNode *el, aod_policy_codes *codes)
{
    const char *text;

    codes->tested = 1;
    if (get_attr(ld, el, "system", &codes->system) != 0 || get_text(ld, el, &text) != 0 ||
        split_words(ld, text, &codes->codes, &codes->n_codes) != 0)
        return -1;
    if (codes->n_codes == 0)
        return fail_at(ld, el, "the list of codes is empty");
    return 0;
}

static int build_match(loader *ld, xmlNode *el, aod_policy_rule *r)
{
    xmlNode *c;
    int v;

    for (c = first_el(el); c; c = next_el(c->next)) {
        if (is_el(c, "purpose")) {
            if (build_codes(ld, c, &r->purpose) != 0 ||
                get_enum(ld, c, "level", level_names, AOD_PURPOSE_ANY, &v) != 0)
                return -1;
            r->purpose_level = (aod_purpose_level)v;
        } else if (is_el(c, "no-purpose")) {
            r->no_purpose = 1;
        } else if (is_el(c, "event-type")) {
            if (build_codes(ld, c, &r->event_type) != 0)
                return -1;
        } else if (is_el(c, "event-subtype")) {
            if (build_codes(ld, c, &r->event_subtype) != 0)
                return -1;
        } else if (is_el(c, "security-label")) {
            if (build_codes(ld, c, &r->security_label) != 0)
                return -1;
        } else if (is_el(c, "action")) {
            const char *text, *s;
            char letters[6] = "";
            size_t n = 0;

            if (get_text(ld, c, &text) != 0)
                return -1;
            /* "R E" -> "RE": the schema allows only C R U D E. */
            for (s = text; *s; s++) {
                if (is_space(*s) || strchr(letters, *s) != NULL)
                    continue;
                if (!strchr("CRUDE", *s) || n + 1 >= sizeof letters)
                    return fail_at(ld, c, "action: \"%s\" is not a list of C R U D E", text);
                letters[n++] = *s;
                letters[n] = '\0';
            }
            letters[n] = '\0';
            if (n == 0)
                return fail_at(ld, c, "action: the list is empty");
            r->actions = copy_str(ld, letters);
            if (!r->actions)
                return -1;
        } else if (is_el(c, "recipient")) {
            const char *text;

            if (get_text(ld, c, &text) != 0 ||
                lookup(ld, c, "recipient", text, recipient_names, &v) != 0)
                return -1;
            if (v == AOD_RECIPIENT_UNTESTED)
                return fail_at(ld, c, "recipient: the value is empty");
            r->recipient = (aod_recipient_kind)v;
        } else if (is_el(c, "direction")) {
            const char *text;

            if (get_text(ld, c, &text) != 0 ||
                lookup(ld, c, "direction", text, direction_names, &v) != 0)
                return -1;
            if (v == AOD_DIRECTION_UNTESTED)
                return fail_at(ld, c, "direction: the value is empty");
            r->direction = (aod_direction)v;
        } else if (is_el(c, "authorization")) {
            if (get_bool(ld, c, "recorded", 1, &v) != 0)
                return -1;
            r->authorization = v;
        } else {
            return fail_at(ld, c, "unexpected element in match");
        }
    }
    return 0;
}

static int build_rule(loader *ld, xmlNode *el, aod_policy_rule *r)
{
    xmlNode *c;
    int v;

    r->line = xmlGetLineNo(el);
    r->authorization = -1;
    if (get_attr(ld, el, "id", &r->id) != 0)
        return -1;
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (is_el(c, "description")) {
            if (get_text(ld, c, &r->description) != 0)
                return -1;
        } else if (is_el(c, "match")) {
            if (build_match(ld, c, r) != 0)
                return -1;
        } else if (is_el(c, "reportable") || is_el(c, "excluded") || is_el(c, "internal")) {
            if (lookup(ld, c, "result", (const char *)c->name, verdict_names, &v) != 0)
                return -1;
            r->verdict = (aod_verdict)v;
            if (get_attr(ld, c, "reason", &r->reason) != 0 ||
                get_attr(ld, c, "flag", &r->flag) != 0 ||
                get_enum(ld, c, "exclusion", exclusion_keys, AOD_EXCL_NONE, &v) != 0)
                return -1;
            r->exclusion = (aod_exclusion)v;
            if (r->verdict == AOD_VERDICT_EXCLUDED && (r->exclusion == AOD_EXCL_NONE || !r->reason))
                return fail_at(ld, c, "rule \"%s\": an exclusion needs exclusion= and reason=",
                               r->id ? r->id : "");
            if (r->verdict != AOD_VERDICT_EXCLUDED && r->exclusion != AOD_EXCL_NONE)
                return fail_at(ld, c, "rule \"%s\": exclusion= belongs on <excluded> only",
                               r->id ? r->id : "");
        }
    }
    if (!r->id)
        return fail_at(ld, el, "a rule needs an id");
    if (r->purpose.tested && r->no_purpose)
        return fail_at(ld, el, "rule \"%s\": purpose and no-purpose can never both hold", r->id);
    return 0;
}

static int rule_matches_everything(const aod_policy_rule *r)
{
    return !r->purpose.tested && !r->no_purpose && !r->event_type.tested &&
           !r->event_subtype.tested && !r->actions && r->recipient == AOD_RECIPIENT_UNTESTED &&
           r->direction == AOD_DIRECTION_UNTESTED && r->authorization < 0 &&
           !r->security_label.tested;
}

static int build_classification(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    size_t n = count_el(el, "rule"), i = 0;
    xmlNode *c;
    int v;

    if (get_enum(ld, el, "unmatched", verdict_names, AOD_VERDICT_REPORTABLE, &v) != 0)
        return -1;
    if (v == AOD_VERDICT_EXCLUDED)
        return fail_at(ld, el, "unmatched: must be reportable or internal");
    p->classification.unmatched = (aod_verdict)v;

    if (n == 0)
        return fail_at(ld, el, "classification has no rule");
    p->classification.rules = alloc_array(ld, n, sizeof *p->classification.rules);
    if (!p->classification.rules)
        return -1;
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (is_el(c, "authorization-evidence")) {
            if (get_enum(ld, c, "agent-policy", agent_policy_names, AOD_AGENT_POLICY_ANY, &v) !=
                    0 ||
                get_bool(ld, c, "consent-entity", 1, &p->classification.consent_entity) != 0 ||
                get_bool(ld, c, "patient-authorizer", 1, &p->classification.patient_authorizer) !=
                    0 ||
                get_texts(ld, c, "policy-uri-prefix", &p->classification.policy_prefixes,
                          &p->classification.n_policy_prefixes) != 0)
                return -1;
            p->classification.agent_policy = (aod_agent_policy_use)v;
            if (v == AOD_AGENT_POLICY_LISTED && p->classification.n_policy_prefixes == 0)
                return fail_at(ld, c,
                               "agent-policy=\"listed\" needs at least one "
                               "policy-uri-prefix");
            if (v != AOD_AGENT_POLICY_LISTED && p->classification.n_policy_prefixes > 0)
                return fail_at(ld, c,
                               "policy-uri-prefix is used only with "
                               "agent-policy=\"listed\"");
        } else if (is_el(c, "rule")) {
            aod_policy_rule *r = &p->classification.rules[i];

            if (build_rule(ld, c, r) != 0)
                return -1;
            i++;
        }
    }
    p->classification.n_rules = i;

    /* A rule that tests nothing ends the list: everything after it is dead,
     * which is almost certainly not what the author meant. */
    for (i = 0; i + 1 < p->classification.n_rules; i++) {
        const aod_policy_rule *r = &p->classification.rules[i];

        if (rule_matches_everything(r)) {
            if (add_warning(ld, p->classification.rules[i + 1].line,
                            "rule \"%s\" and the rules after it never apply: rule \"%s\" "
                            "(line %ld) matches every event",
                            p->classification.rules[i + 1].id, r->id, r->line) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

static int build_modes(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    xmlNode *c;
    const char *v;
    int f;

    for (c = first_el(el); c; c = next_el(c->next)) {
        aod_policy_period *period = is_el(c, "disclosures") ? &p->modes.disclosures_lookback
                                    : is_el(c, "access")    ? &p->modes.access_lookback
                                                            : NULL;
        if (!period)
            continue;
        if (get_attr(ld, c, "lookback", &v) != 0)
            return -1;
        if (v && parse_period(ld, c, "lookback", v, period) != 0)
            return -1;
        if (is_el(c, "access")) {
            if (get_enum(ld, c, "failed-attempts", failed_names, AOD_FAILED_SEPARATE, &f) != 0)
                return -1;
            p->modes.access_failed = (aod_failed_mode)f;
        } else {
            aod_policy_period *d = period;
            long months = (long)d->years * 12 + d->months;

            if (months > HIPAA_LOOKBACK_MONTHS ||
                (months == HIPAA_LOOKBACK_MONTHS && d->days > 0)) {
                if (add_warning(ld, xmlGetLineNo(c),
                                "the disclosures lookback %s is longer than the six years "
                                "45 CFR 164.528(a)(1) asks for",
                                d->text) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

static int build_dedup(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;

    if (get_int(ld, el, "pair-window-seconds", 5, 3600, &p->dedup.pair_window_seconds) != 0 ||
        get_int(ld, el, "page-window-seconds", 300, 86400, &p->dedup.page_window_seconds) != 0 ||
        get_bool(ld, el, "sessions", 1, &p->dedup.sessions) != 0 ||
        get_int(ld, el, "session-gap-minutes", 30, 1440, &p->dedup.session_gap_minutes) != 0)
        return -1;
    if (p->dedup.session_gap_minutes < 1)
        return fail_at(ld, el, "session-gap-minutes: must be at least 1");
    return 0;
}

static int build_summarize(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;

    if (get_bool(ld, el, "enabled", 1, &p->summarize.enabled) != 0 ||
        get_int(ld, el, "min-count", 2, 1000000, &p->summarize.min_count) != 0)
        return -1;
    if (p->summarize.min_count < 2)
        return fail_at(ld, el, "min-count: a summary needs at least 2 disclosures");
    return 0;
}

static const char *const access_flag_ids[AOD_AFLAG_COUNT] = {
    "same-surname",       "same-address",    "co-worker",   "vip",          "self-access", "family",
    "outside-employment", "no-relationship", "after-hours", "volume-spike", "emergency"};

const char *aod_policy_access_flag_id(aod_access_flag f)
{
    return (unsigned)f < AOD_AFLAG_COUNT ? access_flag_ids[f] : "?";
}

/* "HH:MM" (00:00 .. 24:00) -> minutes after midnight, or -1. */
static int parse_hhmm(const char *v)
{
    int h, m;

    if (!v || strlen(v) != 5 || v[2] != ':' || v[0] < '0' || v[0] > '9' || v[1] < '0' ||
        v[1] > '9' || v[3] < '0' || v[3] > '9' || v[4] < '0' || v[4] > '9')
        return -1;
    h = (v[0] - '0') * 10 + (v[1] - '0');
    m = (v[3] - '0') * 10 + (v[4] - '0');
    if (m > 59 || h > 24 || (h == 24 && m != 0))
        return -1;
    return h * 60 + m;
}

static int build_site_hours(loader *ld, xmlNode *el)
{
    static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    aod_policy *p = ld->p;
    const char *start = NULL, *end = NULL, *days = NULL;
    const char **words = NULL;
    size_t n = 0, i, d;

    if (get_attr(ld, el, "start", &start) != 0 || get_attr(ld, el, "end", &end) != 0 ||
        get_attr(ld, el, "days", &days) != 0)
        return -1;
    if (start && (p->access_flags.hours_start = parse_hhmm(start)) < 0)
        return fail_at(ld, el, "start: '%s' is not a time HH:MM", start);
    if (end && (p->access_flags.hours_end = parse_hhmm(end)) < 0)
        return fail_at(ld, el, "end: '%s' is not a time HH:MM", end);
    if (p->access_flags.hours_end <= p->access_flags.hours_start)
        return fail_at(ld, el, "the site hours end before they start");
    if (days) {
        if (split_words(ld, days, &words, &n) != 0)
            return -1;
        p->access_flags.days = 0;
        for (i = 0; i < n; i++) {
            for (d = 0; d < 7 && strcmp(words[i], day_names[d]) != 0; d++)
                ;
            if (d == 7)
                return fail_at(ld, el, "days: '%s' is not one of sun mon tue wed thu fri sat",
                               words[i]);
            p->access_flags.days |= 1u << d;
        }
    }
    return 0;
}

static int build_access_flags(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    xmlNode *c;

    if (get_int(ld, el, "care-window-hours", 24, 24 * 366, &p->access_flags.care_window_hours) !=
            0 ||
        get_int(ld, el, "spike-window-hours", 24, 24 * 366, &p->access_flags.spike_window_hours) !=
            0 ||
        get_int(ld, el, "spike-min-count", 20, 1000000, &p->access_flags.spike_min_count) != 0 ||
        get_int(ld, el, "spike-factor", 5, 1000, &p->access_flags.spike_factor) != 0)
        return -1;
    if (p->access_flags.spike_window_hours < 1 || p->access_flags.spike_min_count < 2 ||
        p->access_flags.spike_factor < 1)
        return fail_at(ld, el,
                       "spike-window-hours and spike-factor must be at least 1, "
                       "spike-min-count at least 2");
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (is_el(c, "site-hours")) {
            if (build_site_hours(ld, c) != 0)
                return -1;
        } else if (is_el(c, "flag")) {
            const char *id = NULL;
            int on, notify;
            size_t f;
            if (get_attr(ld, c, "id", &id) != 0 || get_bool(ld, c, "enabled", 1, &on) != 0 ||
                get_bool(ld, c, "notify", 0, &notify) != 0)
                return -1;
            for (f = 0; id && f < AOD_AFLAG_COUNT && strcmp(id, access_flag_ids[f]) != 0; f++)
                ;
            if (!id || f == AOD_AFLAG_COUNT)
                return fail_at(ld, c, "flag id '%s' is not one aodreport knows (doc/policy.md)",
                               id ? id : "");
            if (on)
                p->access_flags.enabled |= 1u << f;
            else
                p->access_flags.enabled &= ~(1u << f);
            /* a flag that is off never fires, so it never notifies */
            if (on && notify)
                p->access_flags.notify |= 1u << f;
            else
                p->access_flags.notify &= ~(1u << f);
        } else {
            return fail_at(ld, c, "unknown element <%s>", (const char *)c->name);
        }
    }
    return 0;
}

static int build_suspension(loader *ld, xmlNode *el, aod_policy_suspension *s)
{
    const char *start, *end;
    xmlNode *c;
    int v;

    s->line = xmlGetLineNo(el);
    if (get_attr(ld, el, "id", &s->id) != 0 || get_attr(ld, el, "start", &start) != 0 ||
        get_attr(ld, el, "end", &end) != 0 ||
        get_enum(ld, el, "statement", statement_names, AOD_STATEMENT_WRITTEN, &v) != 0)
        return -1;
    s->statement = (aod_statement)v;
    if (!s->id || !start)
        return fail_at(ld, el, "a suspension needs an id and a start date");
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (is_el(c, "agency")) {
            if (get_text(ld, c, &s->agency) != 0)
                return -1;
        } else if (is_el(c, "official")) {
            if (get_text(ld, c, &s->official) != 0)
                return -1;
        } else if (is_el(c, "statement-reference")) {
            if (get_text(ld, c, &s->statement_reference) != 0)
                return -1;
        } else if (is_el(c, "covers")) {
            if (build_party(ld, c, &s->covers) != 0)
                return -1;
            if (party_is_empty(&s->covers))
                return fail_at(ld, c,
                               "suspension \"%s\" covers no recipient: give a name, "
                               "identifier, network-domain or reference",
                               s->id);
        }
    }
    if (!s->agency)
        return fail_at(ld, el, "suspension \"%s\" names no agency", s->id);

    if (parse_date(ld, el, "start", start, &s->start) != 0)
        return -1;
    if (end) {
        if (parse_date(ld, el, "end", end, &s->end_requested) != 0)
            return -1;
        if (s->end_requested.days < s->start.days)
            return fail_at(ld, el, "suspension \"%s\" ends (%s) before it starts (%s)", s->id,
                           s->end_requested.text, s->start.text);
    } else if (s->statement == AOD_STATEMENT_WRITTEN) {
        /* 164.528(a)(2)(i): the written statement says how long; without
         * its end date we would suspend forever. */
        return fail_at(ld, el, "suspension \"%s\": a written statement must give the end date",
                       s->id);
    } else {
        date_from_days(s->start.days + ORAL_SUSPENSION_DAYS, &s->end_requested);
    }
    s->end = s->end_requested;

    if (s->statement == AOD_STATEMENT_ORAL && s->end.days > s->start.days + ORAL_SUSPENSION_DAYS) {
        date_from_days(s->start.days + ORAL_SUSPENSION_DAYS, &s->end);
        s->clamped = 1;
        if (add_warning(ld, s->line,
                        "suspension \"%s\": an oral statement suspends for at most %d days "
                        "(45 CFR 164.528(a)(2)(ii)); end %s clamped to %s",
                        s->id, ORAL_SUSPENSION_DAYS, s->end_requested.text, s->end.text) != 0)
            return -1;
    }
    return 0;
}

static int build_suspensions(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    size_t n = count_el(el, "suspension"), i = 0;
    xmlNode *c;

    if (n == 0)
        return 0;
    p->suspensions = alloc_array(ld, n, sizeof *p->suspensions);
    if (!p->suspensions)
        return -1;
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (!is_el(c, "suspension"))
            continue;
        if (build_suspension(ld, c, &p->suspensions[i]) != 0)
            return -1;
        i++;
    }
    p->n_suspensions = i;
    return 0;
}

static int build_masking(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    xmlNode *c, *a;
    int aud, cls, tier;

    if (get_bool(ld, el, "name-recipient-persons", 0, &p->masking.name_recipient_persons) != 0)
        return -1;
    for (c = first_el(el); c; c = next_el(c->next)) {
        if (is_el(c, "pseudonym-secret")) {
            const char *file;

            if (get_attr(ld, c, "file", &file) != 0)
                return -1;
            if (!file || !*file)
                return fail_at(ld, c, "file: the pseudonym secret needs a file name");
            p->masking.pseudonym_secret = resolve_path(ld, file);
            if (!p->masking.pseudonym_secret)
                return -1;
        } else if (is_el(c, "protected-staff")) {
            if (get_texts(ld, c, "identifier-system", &p->masking.protected_systems,
                          &p->masking.n_protected_systems) != 0 ||
                get_texts(ld, c, "staff", &p->masking.protected_keys,
                          &p->masking.n_protected_keys) != 0)
                return -1;
        } else if (is_el(c, "audience")) {
            if (get_enum(ld, c, "name", audience_names, -1, &aud) != 0)
                return -1;
            if (aud < 0)
                return fail_at(ld, c, "an audience needs a name");
            for (a = first_el(c); a; a = next_el(a->next)) {
                aod_policy_mask *m;
                const char *label;

                if (!is_el(a, "actor"))
                    continue;
                if (get_enum(ld, a, "class", class_names, -1, &cls) != 0 ||
                    get_enum(ld, a, "tier", tier_names, -1, &tier) != 0 ||
                    get_attr(ld, a, "label", &label) != 0)
                    return -1;
                if (cls < 0 || tier < 0)
                    return fail_at(ld, a, "an actor needs class= and tier=");
                m = &p->masking.tiers[aud][cls];
                m->tier = (aod_mask_tier)tier;
                if (label)
                    m->label = label;
            }
        }
    }
    return 0;
}

/* Doubts about the masking table that do not make it invalid. */
static int check_masking(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    long line = el ? xmlGetLineNo(el) : 0;
    int uses_pseudonyms = 0;
    int a, c;

    for (a = 0; a < AOD_AUDIENCE_COUNT; a++) {
        for (c = 0; c < AOD_ACTOR_CLASS_COUNT; c++)
            uses_pseudonyms |= p->masking.tiers[a][c].tier == AOD_TIER_PSEUDONYM;
    }
    if (uses_pseudonyms && !p->masking.pseudonym_secret) {
        if (add_warning(ld, line,
                        "the pseudonym tier is used but no pseudonym-secret is set: "
                        "pseudonyms will not stay the same from one report to the next") != 0)
            return -1;
    }
    for (c = AOD_ACTOR_EXTERNAL_PERSON; c <= AOD_ACTOR_EXTERNAL_ORGANISATION; c++) {
        aod_mask_tier t = p->masking.tiers[AOD_AUDIENCE_PATIENT][c].tier;

        /* without name-recipient-persons an outside person is shown by
         * organisation or host whatever the tier: nothing to warn about */
        if (c == AOD_ACTOR_EXTERNAL_PERSON && !p->masking.name_recipient_persons)
            continue;
        if (t != AOD_TIER_FULL_NAME && t != AOD_TIER_ORGANISATION) {
            if (add_warning(ld, line,
                            "%s is masked as %s for the patient: recipients of a HIPAA "
                            "disclosure are named anyway (45 CFR 164.528(b)(2)(ii))",
                            class_names[c], tier_names[t]) != 0)
                return -1;
        }
    }
    return 0;
}

static int build_presentation(loader *ld, xmlNode *el)
{
    aod_policy *p = ld->p;
    const char *v;

    if (get_attr(ld, el, "time-zone", &v) != 0)
        return -1;
    if (v) {
        if (check_time_zone(ld, el, v) != 0)
            return -1;
        p->presentation.time_zone = v;
    }
    if (get_attr(ld, el, "language", &v) != 0)
        return -1;
    if (v)
        p->presentation.language = v;
    return 0;
}

/* What a policy holds for every section the file leaves out. */
static void set_defaults(aod_policy *p)
{
    static const aod_mask_tier patient_tiers[AOD_ACTOR_CLASS_COUNT] = {
        AOD_TIER_ROLE_UNIT,    /* workforce: role and unit, as Sweden requires */
        AOD_TIER_ORGANISATION, /* external person: where, not who (name-recipient-persons) */
        AOD_TIER_ORGANISATION, /* external organisation */
        AOD_TIER_FULL_NAME,    /* the patient sees their own and their representatives' names */
        AOD_TIER_GENERIC,      /* systems: "an automated system" */
    };
    static const char *const default_labels[AOD_ACTOR_CLASS_COUNT] = {
        "actor.workforce", "actor.external-person", "actor.external-organisation",
        "actor.patient-or-representative", "actor.system-device"};
    int c;

    p->classification.unmatched = AOD_VERDICT_REPORTABLE;
    p->classification.agent_policy = AOD_AGENT_POLICY_ANY;
    p->classification.consent_entity = 1;
    p->classification.patient_authorizer = 1;
    p->modes.disclosures_lookback.years = 6;
    p->modes.disclosures_lookback.text = "P6Y";
    p->modes.access_lookback.years = 3;
    p->modes.access_lookback.text = "P3Y";
    p->modes.access_failed = AOD_FAILED_SEPARATE;
    p->dedup.pair_window_seconds = 5;
    p->dedup.page_window_seconds = 300;
    p->dedup.sessions = 1;
    p->dedup.session_gap_minutes = 30;
    p->summarize.enabled = 1;
    p->summarize.min_count = 2;
    p->access_flags.enabled = 0;
    p->access_flags.notify = 0;
    p->access_flags.care_window_hours = 24;
    p->access_flags.hours_start = 7 * 60;
    p->access_flags.hours_end = 19 * 60;
    p->access_flags.days = 0x3Eu; /* Monday to Friday */
    p->access_flags.spike_window_hours = 24;
    p->access_flags.spike_min_count = 20;
    p->access_flags.spike_factor = 5;
    for (c = 0; c < AOD_ACTOR_CLASS_COUNT; c++) {
        p->masking.tiers[AOD_AUDIENCE_PATIENT][c].tier = patient_tiers[c];
        p->masking.tiers[AOD_AUDIENCE_PATIENT][c].label = default_labels[c];
        /* The privacy office investigates: it sees who did what. */
        p->masking.tiers[AOD_AUDIENCE_PRIVACY_OFFICE][c].tier = AOD_TIER_FULL_NAME;
        p->masking.tiers[AOD_AUDIENCE_PRIVACY_OFFICE][c].label = default_labels[c];
    }
    p->presentation.time_zone = "UTC";
    p->presentation.language = "en";
}

static int build_policy(loader *ld, xmlNode *root)
{
    xmlNode *c, *masking = NULL;
    int rc = 0;

    if (!is_el(root, "policy"))
        return fail_at(ld, root, "the root element must be <policy> in namespace %s",
                       AOD_POLICY_NS);
    if (get_attr(ld, root, "name", &ld->p->name) != 0)
        return -1;
    if (!ld->p->name)
        return fail_at(ld, root, "the policy needs a name attribute");
    if (get_bool(ld, root, "demo", 0, &ld->p->demo) != 0)
        return -1;
    for (c = first_el(root); c; c = next_el(c->next)) {
        if (is_el(c, "organisation"))
            rc = build_organisation(ld, c);
        else if (is_el(c, "covered-entity"))
            rc = build_inside(ld, c);
        else if (is_el(c, "classification"))
            rc = build_classification(ld, c);
        else if (is_el(c, "modes"))
            rc = build_modes(ld, c);
        else if (is_el(c, "dedup"))
            rc = build_dedup(ld, c);
        else if (is_el(c, "summarize"))
            rc = build_summarize(ld, c);
        else if (is_el(c, "suspensions"))
            rc = build_suspensions(ld, c);
        else if (is_el(c, "access-flags"))
            rc = build_access_flags(ld, c);
        else if (is_el(c, "masking")) {
            masking = c;
            rc = build_masking(ld, c);
        } else if (is_el(c, "presentation"))
            rc = build_presentation(ld, c);
        else
            rc = fail_at(ld, c, "unknown element <%s>", (const char *)c->name);
        if (rc != 0)
            return -1;
    }
    if (!ld->p->organisation.name)
        return fail_at(ld, root, "the policy has no organisation");
    if (ld->p->classification.n_rules == 0)
        return fail_at(ld, root, "the policy has no classification rules");
    return check_masking(ld, masking);
}

/* ---------------------------------------------------------------- public */

void aod_policy_free(aod_policy *p)
{
    if (!p)
        return;
    mem_free_all(p->mem);
    free(p);
}

aod_policy *aod_policy_load_memory(const char *xml, size_t len, const char *name,
                                   const char *xsd_text, size_t xsd_len, aod_error *err)
{
    loader ld;
    aod_policy *p = NULL;
    xmlDocPtr doc = NULL, xsd_doc = NULL;
    const char *slash;
    xmlGenericErrorFunc saved_generic;
    void *saved_generic_ctx;
    int ok = 0;

    memset(&ld, 0, sizeof ld);
    ld.err = err;
    ld.source = name ? name : "<policy>";
    if (!xml || !xsd_text) {
        aod_error_set(err, AOD_ERR_INTERNAL, ld.source, 0, NULL,
                      "a policy and its schema are both needed");
        return NULL;
    }

    /* Each libxml2 context below gets its own error handler; the process's
     * generic handler is borrowed only while the policy is parsed (see
     * on_global_error) and given back. */
    xmlInitParser();

    p = calloc(1, sizeof *p);
    if (!p || !(p->mem = calloc(1, sizeof *p->mem))) {
        fail_nomem(&ld);
        goto done;
    }
    ld.p = p;
    set_defaults(p);
    p->source = copy_str(&ld, ld.source);
    slash = strrchr(ld.source, '/');
    ld.dir = slash ? copy_n(&ld, ld.source, (size_t)(slash - ld.source)) : "";
    if (!p->source || !ld.dir)
        goto done;
    if (slash && ld.dir[0] == '\0')
        ld.dir = "/"; /* a file in the root directory */

    xsd_doc = parse_xml(&ld, xsd_text, xsd_len, "policy schema");
    if (!xsd_doc)
        goto done;
    /* The one process-wide handler touched, for the parse only. */
    saved_generic = xmlGenericError;
    saved_generic_ctx = xmlGenericErrorContext;
    xmlSetGenericErrorFunc(&ld, on_global_error);
    doc = parse_xml(&ld, xml, len, ld.source);
    xmlSetGenericErrorFunc(saved_generic_ctx, saved_generic);
    if (!doc)
        goto done;
    if (validate(&ld, doc, xsd_doc, "policy schema") != 0)
        goto done;
    if (build_policy(&ld, xmlDocGetRootElement(doc)) != 0)
        goto done;
    ok = 1;

done:
    xmlFreeDoc(doc);
    xmlFreeDoc(xsd_doc);
    if (!ok) {
        if (err && err->code == AOD_OK)
            aod_error_set(err, AOD_ERR_INTERNAL, ld.source, 0, NULL, "the policy was not loaded");
        aod_policy_free(p);
        return NULL;
    }
    return p;
}

/* Reads a whole file into b (at most POLICY_MAX_BYTES).  0 or -1 (err set). */
static int read_file(const char *path, aod_buf *b, aod_error *err)
{
    char chunk[8192];
    FILE *f = fopen(path, "rb");
    size_t n;
    int rc = -1;

    if (!f) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b->len + n > POLICY_MAX_BYTES) {
            aod_error_set(err, AOD_ERR_POLICY, path, 0, NULL, "the file is larger than %zu bytes",
                          POLICY_MAX_BYTES);
            goto done;
        }
        if (aod_buf_add(b, chunk, n) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory reading the file");
            goto done;
        }
    }
    if (ferror(f)) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "read error: %s", strerror(errno));
        goto done;
    }
    rc = 0;

done:
    fclose(f);
    return rc;
}

aod_policy *aod_policy_load_file(const char *path, const char *xsd_path, aod_error *err)
{
    aod_buf xml, xsd;
    aod_policy *p = NULL;

    aod_buf_init(&xml, 0);
    aod_buf_init(&xsd, 0);
    if (!xsd_path)
        xsd_path = AOD_DATADIR "/policy.xsd";
    if (read_file(path, &xml, err) != 0 || read_file(xsd_path, &xsd, err) != 0)
        goto done;
    p = aod_policy_load_memory(aod_buf_str(&xml), xml.len, path, aod_buf_str(&xsd), xsd.len, err);

done:
    aod_buf_free(&xml);
    aod_buf_free(&xsd);
    return p;
}
