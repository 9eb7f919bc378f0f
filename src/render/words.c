/*
 * words.c - what a report says, without a layout (see words.h).
 *
 * Render stage support.  The PDF and the HTML letter say what this file
 * says, in this order: the rules for which sentence is said when (the
 * privacy office's deadlines and counts, nothing of a suspension on the
 * patient's copy, the exclusions of 164.528(a)) live here once.  Scratch
 * buffers are reused from block to block and row to row: nothing grows
 * with the report.
 */
#include "render/words.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/timefmt.h"

#define N_SAY 8 /* scratch buffers for phrases built from templates */

#define MAX_LEGEND 24 /* short words explained under the summary's table */

struct aod_words {
    const aod_text *text;
    const aod_report_info *info;
    int access, privacy;
    int scrolled; /* AOD_WORDS_SCROLLED */
    int nomem;    /* a scratch buffer could not grow */
    aod_buf say[N_SAY];
    aod_buf period, generated, subject, keys;
    /* The row's own buffers: its strings live until the next row. */
    aod_buf when, who, kinds, count, flags, reason, ref;
    aod_buf source; /* a source system's name in words */
    /* The summary's table says the short words of the templates ("tests"
     * for "test results and observations") and lists those it used under
     * it (borrowed from the templates). */
    int short_words;
    const char *leg_short[MAX_LEGEND], *leg_full[MAX_LEGEND];
    size_t n_leg;
    /* report --mode breach: the lines said so far, one bullet each
     * ("what happened\x1e"), and the kinds of data they involved
     * ("kind\x1e", each once) */
    aod_buf breach_lines, breach_data, breach_who;
    long breach_n;
};

/* The short word for full (the words of kind.code), when the templates
 * have one ("short.kind.code") and the summary's table is being said;
 * remembered for the table's legend.  Else full itself. */
static const char *short_word(aod_words *w, const char *kind, const char *code, const char *full)
{
    char key[160];
    const char *t;
    size_t i;

    if (!w->short_words || !code || !full)
        return full;
    snprintf(key, sizeof key, "short.%s.%s", kind, code);
    t = aod_text_get(w->text, key);
    if (!t || strcmp(t, full) == 0)
        return full;
    for (i = 0; i < w->n_leg; i++)
        if (strcmp(w->leg_short[i], t) == 0)
            return t;
    if (w->n_leg < MAX_LEGEND) {
        w->leg_short[w->n_leg] = t;
        w->leg_full[w->n_leg++] = full;
        return t;
    }
    return full; /* a word the legend could not explain is said in full */
}

static int has(const char *s)
{
    return s && *s;
}

const char *aod_words_get(const aod_words *w, const char *key)
{
    const char *v = aod_text_get(w->text, key);

    return v ? v : key;
}

/* Expands key's words with vars into scratch slot; "" when out of memory
 * (remembered, and reported when the block or row is done). */
static const char *say(aod_words *w, int slot, const char *key, const char *const *vars)
{
    static const char *const none[] = {NULL};
    aod_error ignored;

    aod_buf_reset(&w->say[slot]);
    aod_error_init(&ignored);
    if (aod_text_expand(&w->say[slot], aod_words_get(w, key), vars ? vars : none, &ignored) != 0) {
        w->nomem = 1;
        return "";
    }
    return aod_buf_str(&w->say[slot]);
}

/* n with the language's digit grouping ("1,204"), into out. */
static const char *fmt_num(const aod_words *w, long n, char *out, size_t size)
{
    const char *sep = aod_words_get(w, "letter.number-group");
    char digits[24];
    size_t nd, i, o = 0, seplen = strlen(sep);

    snprintf(digits, sizeof digits, "%ld", n < 0 ? -n : n);
    nd = strlen(digits);
    if (n < 0 && o + 1 < size)
        out[o++] = '-';
    for (i = 0; i < nd && o + 1 < size; i++) {
        out[o++] = digits[i];
        if (i + 1 < nd && (nd - i - 1) % 3 == 0 && o + seplen < size) {
            memcpy(out + o, sep, seplen);
            o += seplen;
        }
    }
    out[o] = '\0';
    return out;
}

/* The phrase base.one or base.other for n ("5 disclosures") into slot. */
static const char *count_phrase(aod_words *w, int slot, const char *base, long n)
{
    char key[96], num[48];
    const char *vars[3];

    snprintf(key, sizeof key, "%s.%s", base, n == 1 ? "one" : "other");
    vars[0] = "n";
    vars[1] = fmt_num(w, n, num, sizeof num);
    vars[2] = NULL;
    return say(w, slot, key, vars);
}

/* ------------------------------------------------------------------ dates */

/* Back from days since 1970-01-01 (aod_days_from_civil) to a date. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* The calendar day of ms in the report's zone, as days since the epoch. */
static int64_t local_days(int64_t ms)
{
    char iso[32];
    int y = 1970, m = 1, d = 1;

    aod_timefmt_date(ms, iso, sizeof iso);
    if (sscanf(iso, "%d-%d-%d", &y, &m, &d) != 3)
        return 0;
    return aod_days_from_civil(y, (unsigned)m, (unsigned)d);
}

/* "March 14, 2025" (the language's long form) into slot. */
static const char *long_date_days(aod_words *w, int slot, int64_t days)
{
    char key[32], day[16], year[24];
    const char *vars[7];
    int64_t y;
    int m, d;

    civil_from_days(days, &y, &m, &d);
    snprintf(key, sizeof key, "letter.month.%d", m);
    snprintf(day, sizeof day, "%d", d);
    snprintf(year, sizeof year, "%" PRId64, y);
    vars[0] = "month";
    vars[1] = aod_words_get(w, key);
    vars[2] = "day";
    vars[3] = day;
    vars[4] = "year";
    vars[5] = year;
    vars[6] = NULL;
    return say(w, slot, "letter.date", vars);
}

static const char *long_date(aod_words *w, int slot, int64_t ms)
{
    return long_date_days(w, slot, local_days(ms));
}

/* The last day of the period: "to" is exclusive. */
static int64_t period_last_ms(const aod_report_info *info)
{
    return info->to > info->from ? info->to - 1 : info->to;
}

/* Copies str into b (reset first); "" and nomem remembered on failure. */
static const char *keep(aod_words *w, aod_buf *b, const char *str)
{
    aod_buf_reset(b);
    if (aod_buf_adds(b, str) != 0) {
        w->nomem = 1;
        return "";
    }
    return aod_buf_str(b);
}

/* --------------------------------------------------------------- public */

const char *aod_words_title(const aod_words *w)
{
    if (w->info->breach)
        return aod_words_get(w, "breach.title");
    return aod_words_get(w, w->access ? "letter.title.access" : "letter.title.disclosures");
}

const char *aod_words_patient(const aod_words *w)
{
    return has(w->info->patient_name) ? w->info->patient_name
                                      : aod_words_get(w, "letter.patient-unknown");
}

int aod_words_access(const aod_words *w)
{
    return w->access;
}

int aod_words_separate(const aod_words *w, const aod_entry *e)
{
    return w->access && w->info->policy->modes.access_failed == AOD_FAILED_SEPARATE &&
           ((e->flags & AOD_ENTRY_FAILED) || e->cls == AOD_CLASS_FAILED);
}

static const char *const col_key[AOD_WORDS_NCOL] = {
    "letter.col.when", NULL /* by mode */,  "letter.col.what", "letter.col.where",
    "letter.col.why",  "letter.col.action", "letter.col.count"};

const char *aod_words_column(const aod_words *w, int c)
{
    if (c < 0 || c >= AOD_WORDS_NCOL)
        return "";
    if (c == AOD_WORDS_WHO)
        return aod_words_get(w, w->access ? "letter.col.who.access" : "letter.col.who.disclosures");
    return aod_words_get(w, col_key[c]);
}

const char *aod_words_section(const aod_words *w, int section)
{
    if (section == 1)
        return aod_words_get(w, "letter.table.failed");
    return aod_words_get(w, w->access ? "letter.table.access" : "letter.table.disclosures");
}

const char *aod_words_period(aod_words *w)
{
    const char *vars[5];

    vars[0] = "from";
    vars[1] = long_date(w, 3, w->info->from);
    vars[2] = "to";
    vars[3] = long_date(w, 4, period_last_ms(w->info));
    vars[4] = NULL;
    return keep(w, &w->period, say(w, 5, "letter.fact.period-value", vars));
}

const char *aod_words_subject(aod_words *w)
{
    const char *vars[5];

    vars[0] = "from";
    vars[1] = long_date(w, 3, w->info->from);
    vars[2] = "to";
    vars[3] = long_date(w, 4, period_last_ms(w->info));
    vars[4] = NULL;
    return keep(w, &w->subject, say(w, 5, "letter.subject", vars));
}

static int add_keys(const aod_text *text, const aod_report_info *in, aod_buf *b);

const char *aod_words_identifiers(aod_words *w)
{
    aod_buf_reset(&w->keys);
    if (add_keys(w->text, w->info, &w->keys) != 0 || aod_buf_addc(&w->keys, '\0') != 0) {
        w->nomem = 1;
        return "";
    }
    return aod_buf_str(&w->keys);
}

const char *aod_words_generated(aod_words *w)
{
    const char *vars[3];

    vars[0] = "date";
    vars[1] = long_date(w, 0, w->info->now);
    vars[2] = NULL;
    return keep(w, &w->generated, say(w, 1, "letter.footer.generated", vars));
}

/* ------------------------------------------------------------------ rows */

#define MAX_KINDS 32 /* distinct kinds of data put into words per row */

/* "Observation,DiagnosticReport" -> "test results and observations;
 * diagnostic reports" (each phrase once) into w->kinds. */
static int kinds_words(aod_words *w, const char *list)
{
    const char *seen[MAX_KINDS];
    size_t n_seen = 0, i;
    const char *p = list;
    char kind[128];

    aod_buf_reset(&w->kinds);
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len;
        if (!end)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        len = (size_t)(end - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0 && len < sizeof kind) {
            const char *t;
            int dup = 0;
            memcpy(kind, p, len);
            kind[len] = '\0';
            /* the patient gets a plain phrase, the office the type */
            t = aod_text_shown(w->text, "resource", kind, NULL, !w->privacy);
            if (t == kind) /* no words for it: the type as recorded */
                t = NULL;
            else
                t = short_word(w, "resource", kind, t);
            for (i = 0; t && i < n_seen && !dup; i++)
                dup = strcmp(seen[i], t) == 0;
            if (t && !dup && n_seen < MAX_KINDS)
                seen[n_seen++] = t;
            if (!dup &&
                (((w->kinds.len && aod_buf_adds(&w->kinds, "; ") != 0) ||
                  (t ? aod_buf_adds(&w->kinds, t) : aod_buf_add(&w->kinds, p, len)) != 0))) {
                w->nomem = 1;
                return -1;
            }
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* When, as the mode shows it: a date, or a date and time for access. */
static const char *when_text(aod_words *w, int slot, int64_t ms)
{
    char d[16], t[8];

    aod_buf_reset(&w->say[slot]);
    aod_timefmt_date(ms, d, sizeof d);
    if (aod_buf_adds(&w->say[slot], d) != 0)
        goto nomem;
    if (w->access) {
        aod_timefmt_time(ms, t, sizeof t);
        if (aod_buf_printf(&w->say[slot], " %s", t) != 0)
            goto nomem;
    }
    return aod_buf_str(&w->say[slot]);
nomem:
    w->nomem = 1;
    return "";
}

static const char *when_range(aod_words *w, int64_t a, int64_t b)
{
    const char *vars[5];
    char da[16], db[16], t[8];

    when_text(w, 3, a);
    aod_timefmt_date(a, da, sizeof da);
    aod_timefmt_date(b, db, sizeof db);
    if (strcmp(da, db) == 0) {
        if (!w->access || b == a)
            return aod_buf_str(&w->say[3]);
        aod_buf_reset(&w->say[4]);
        aod_timefmt_time(b, t, sizeof t);
        if (aod_buf_adds(&w->say[4], t) != 0)
            w->nomem = 1;
    } else {
        when_text(w, 4, b);
    }
    vars[0] = "start";
    vars[1] = aod_buf_str(&w->say[3]);
    vars[2] = "end";
    vars[3] = aod_buf_str(&w->say[4]);
    vars[4] = NULL;
    return say(w, 5, "letter.range", vars);
}

/* The words for what was done: the subtype's when the templates know it,
 * else the action's (as the CSV). */
static const char *action_words(const aod_words *w, const aod_entry *e)
{
    char letter[2];
    const char *t;

    /* classify's reading of the whole event comes first (report.h) */
    if (has(e->activity))
        return aod_text_code(w->text, "activity", e->activity, NULL);
    if (has(e->subtype_code)) {
        t = aod_text_code(w->text, "subtype", e->subtype_code, NULL);
        if (t != e->subtype_code)
            return t;
    }
    if (!e->action)
        return has(e->subtype_code) ? e->subtype_code : NULL;
    letter[0] = e->action;
    letter[1] = '\0';
    t = aod_text_code(w->text, "action", letter, NULL);
    return t == letter ? NULL : t; /* never hand back the local buffer */
}

static const char *flag_words(const aod_words *w, const char *key)
{
    const char *t = aod_text_get(w->text, key);

    return t ? t : key + 5; /* "flag.failed" -> "failed" */
}

static void part(aod_words_row *row, int c, const char *text, int muted)
{
    if (!has(text) || row->n[c] >= AOD_WORDS_MAX_PARTS)
        return;
    row->part[c][row->n[c]].text = text;
    row->part[c][row->n[c]].muted = muted;
    row->n[c]++;
}

const char *aod_words_reason(aod_words *w, const aod_entry *e)
{
    const char *t =
        aod_text_reason(w->text, aod_reason_name(e->reason), e->purpose_code, e->purpose_display,
                        e->reason_evidence, !w->privacy, &w->reason);

    if (!has(t))
        w->nomem = 1;
    return t;
}

/* report --mode breach: keeps line e (said into row) for the letter's
 * "what happened" and "what information".  0, or -1 out of memory. */
static int breach_note(aod_words *w, const aod_entry *e, const aod_words_row *row)
{
    const char *what = row->n[AOD_WORDS_WHAT] ? row->part[AOD_WORDS_WHAT][0].text : "";
    const char *vars[11];
    const char *line;
    aod_buf *d = &w->breach_data;
    size_t n = strlen(what), i;

    vars[0] = "who";
    vars[1] = row->n[AOD_WORDS_WHO] > 1 && has(row->part[AOD_WORDS_WHO][1].text)
                  ? keep(w, &w->breach_who,
                         say(w, 5, "breach.who-with",
                             (const char *const[]){"name", e->shown_name, "detail",
                                                   row->part[AOD_WORDS_WHO][1].text, NULL}))
                  : e->shown_name;
    vars[2] = "action";
    vars[3] = row->n[AOD_WORDS_ACTION] ? row->part[AOD_WORDS_ACTION][0].text : "";
    vars[4] = "data";
    vars[5] = what;
    vars[6] = "ref";
    vars[7] = has(e->ref) ? e->ref : "";
    vars[8] = "when";
    vars[9] = when_range(w, e->when_start, e->when_end);
    vars[10] = NULL;
    line = say(w, 6,
               has(what) && !row->part[AOD_WORDS_WHAT][0].muted ? "breach.line"
                                                                : "breach.line-no-data",
               vars);
    if (aod_buf_adds(&w->breach_lines, line) != 0 || aod_buf_addc(&w->breach_lines, '\x1e') != 0)
        return -1;
    w->breach_n++;
    if (!has(what) || row->part[AOD_WORDS_WHAT][0].muted)
        return 0;
    /* each kind of data once, in the order first met */
    for (i = 0; i + n <= d->len; i++)
        if ((i == 0 || d->data[i - 1] == '\x1e') && memcmp(d->data + i, what, n) == 0 &&
            i + n < d->len && d->data[i + n] == '\x1e')
            return 0;
    return aod_buf_adds(d, what) != 0 || aod_buf_addc(d, '\x1e') != 0 ? -1 : 0;
}

int aod_words_line(aod_words *w, const aod_entry *e, aod_words_row *row, aod_error *err)
{
    const char *vars[7];
    char num[48];
    const char *nr = aod_words_get(w, "letter.not-recorded");
    const char *t;

    if (!e || !e->shown_name) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "words",
                      "an unmasked entry reached a renderer");
        return -1;
    }
    memset(row->n, 0, sizeof row->n);
    w->nomem = 0;

    part(row, AOD_WORDS_WHEN, keep(w, &w->when, when_range(w, e->when_start, e->when_end)), 0);
    if (has(e->ref)) {
        vars[0] = "ref";
        vars[1] = e->ref;
        vars[2] = NULL;
        part(row, AOD_WORDS_WHEN, keep(w, &w->ref, say(w, 0, "letter.ref", vars)), 1);
    }

    /* Who: the name as masked, then role and organisation, then address. */
    part(row, AOD_WORDS_WHO, e->shown_name, 0);
    aod_buf_reset(&w->who);
    if (has(e->shown_role) && strcmp(e->shown_role, e->shown_name) != 0 &&
        aod_buf_adds(&w->who, e->shown_role) != 0)
        w->nomem = 1;
    if (!w->nomem && has(e->shown_organisation) &&
        strcmp(e->shown_organisation, e->shown_name) != 0 &&
        ((w->who.len && aod_buf_adds(&w->who, ", ") != 0) ||
         aod_buf_adds(&w->who, e->shown_organisation) != 0))
        w->nomem = 1;
    if (!w->nomem)
        part(row, AOD_WORDS_WHO, aod_buf_str(&w->who), 1);
    part(row, AOD_WORDS_WHO, e->shown_address, 1);

    /* What */
    t = NULL;
    if (has(e->data))
        t = e->data;
    else if (has(e->data_kinds) && kinds_words(w, e->data_kinds) == 0)
        t = aod_buf_str(&w->kinds);
    part(row, AOD_WORDS_WHAT, has(t) ? t : nr, !has(t));

    /* Where from */
    part(row, AOD_WORDS_WHERE, has(e->where) ? e->where : nr, !has(e->where));

    /* Why: the recorded basis, else the evidence, else "no reason was
     * recorded" (muted: nothing was said) */
    t = aod_words_reason(w, e);
    part(row, AOD_WORDS_WHY, t, e->reason == AOD_REASON_NONE);

    /* What was done, and what the reader should know about the line. */
    t = action_words(w, e);
    part(row, AOD_WORDS_ACTION, t ? t : nr, !t);
    if ((e->flags & AOD_ENTRY_FAILED) || e->cls == AOD_CLASS_FAILED)
        part(row, AOD_WORDS_ACTION, flag_words(w, "flag.failed"), 1);
    if ((e->flags & AOD_ENTRY_SUSPENDED) && w->privacy)
        part(row, AOD_WORDS_ACTION, flag_words(w, "flag.suspended"), 1);
    if (e->flags & AOD_ENTRY_SELF_AUDIT)
        part(row, AOD_WORDS_ACTION, flag_words(w, "flag.self-audit"), 1);
    /* The access flags: the privacy office's copy only (pipeline/flags.h) */
    if (w->privacy && e->access_flags) {
        unsigned k;
        aod_buf_reset(&w->flags);
        for (k = 0; k < AOD_AFLAG_COUNT; k++) {
            char key[64];
            if (!(e->access_flags & (1u << k)))
                continue;
            snprintf(key, sizeof key, "access-flag.%s",
                     aod_policy_access_flag_id((aod_access_flag)k));
            if ((w->flags.len && aod_buf_addc(&w->flags, ' ') != 0) ||
                aod_buf_adds(&w->flags, aod_words_get(w, key)) != 0)
                w->nomem = 1;
        }
        if (has(e->access_evidence) &&
            (aod_buf_adds(&w->flags, " (") != 0 ||
             aod_buf_adds(&w->flags, e->access_evidence) != 0 || aod_buf_addc(&w->flags, ')') != 0))
            w->nomem = 1;
        if (!w->nomem)
            part(row, AOD_WORDS_ACTION, aod_buf_str(&w->flags), 1);
    }

    if (w->info->breach && breach_note(w, e, row) != 0)
        w->nomem = 1;

    /* How many */
    vars[0] = "count";
    vars[2] = "first";
    vars[4] = "last";
    vars[6] = NULL;
    if (e->flags & AOD_ENTRY_SUMMARY) {
        vars[1] = count_phrase(w, 1, "letter.n.disclosures", e->count);
        vars[3] = when_text(w, 2, e->first);
        vars[5] = when_text(w, 3, e->last);
        t = say(w, 4, "letter.count.summary", vars);
    } else if (e->flags & AOD_ENTRY_SESSION) {
        vars[1] = count_phrase(w, 1, w->access ? "letter.n.accesses" : "letter.n.events", e->count);
        vars[3] = when_text(w, 2, e->first);
        vars[5] = when_text(w, 3, e->last);
        t = say(w, 4, "letter.count.session", vars);
    } else if (e->count > 1) {
        vars[1] = count_phrase(w, 1, "letter.n.events", e->count);
        vars[2] = NULL;
        t = say(w, 4, "letter.count.times", vars);
    } else {
        t = fmt_num(w, e->count > 0 ? e->count : 1, num, sizeof num);
    }
    part(row, AOD_WORDS_COUNT, keep(w, &w->count, t), 0);
    if (w->nomem) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "words", "out of memory");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- letter */

/* What the letter's sections share. */
typedef struct letter {
    aod_words *w;
    aod_words_fn fn;
    void *ctx;
    aod_error *err;
    const aod_report_summary *sum;
    const aod_policy *p;
    const char *org;
    long rows;
    aod_buf from, to; /* the period, as long dates */
    aod_buf tmp;      /* a sentence built from several templates */
} letter;

/* Hands one block on; an earlier out-of-memory stops the letter here. */
static int emit(letter *L, aod_words_kind kind, const char *label, const char *text,
                const char *note)
{
    aod_words_block b;

    if (L->w->nomem) {
        aod_error_set(L->err, AOD_ERR_NOMEM, NULL, 0, "words", "out of memory");
        return -1;
    }
    b.kind = kind;
    b.label = label;
    b.text = text ? text : "";
    b.note = note;
    return L->fn(L->ctx, &b, L->err);
}

/* A block whose text is empty is not said. */
static int emit_text(letter *L, aod_words_kind kind, const char *text)
{
    return has(text) ? emit(L, kind, NULL, text, NULL) : 0;
}

static int para(letter *L, const char *text)
{
    return emit_text(L, AOD_WORDS_PARA, text);
}

static const char *T(letter *L, const char *key)
{
    return aod_words_get(L->w, key);
}

/* "value (system)" for "system|value"; other keys as they are; an SSN by
 * its last four digits only (text.h). */
static int add_keys(const aod_text *text, const aod_report_info *in, aod_buf *b)
{
    size_t i;
    aod_error err;

    aod_error_init(&err);
    for (i = 0; i < in->n_patient_keys; i++) {
        if (i && aod_buf_adds(b, ", ") != 0)
            return -1;
        if (aod_text_patient_key(text, in->patient_keys[i], b, &err) != 0)
            return -1;
    }
    return 0;
}

/* The letterhead, the privacy office's banner, date, title and the facts
 * of the request. */
static int letter_top(letter *L)
{
    aod_words *w = L->w;
    const aod_report_info *in = w->info;
    const aod_policy *p = L->p;
    const char *vars[5];
    size_t i;

    if (emit_text(L, AOD_WORDS_ORGANISATION, p->organisation.name) != 0)
        return -1;
    for (i = 0; i < p->organisation.n_address; i++)
        if (emit_text(L, AOD_WORDS_ADDRESS, p->organisation.address[i]) != 0)
            return -1;
    if (emit_text(L, AOD_WORDS_OFFICE, p->organisation.privacy_name) != 0)
        return -1;
    if (has(p->organisation.privacy_phone) && emit(L, AOD_WORDS_CONTACT, T(L, "letter.fact.phone"),
                                                   p->organisation.privacy_phone, NULL) != 0)
        return -1;
    if (has(p->organisation.privacy_email) && emit(L, AOD_WORDS_CONTACT, T(L, "letter.fact.email"),
                                                   p->organisation.privacy_email, NULL) != 0)
        return -1;
    if (w->privacy && emit_text(L, AOD_WORDS_BANNER, T(L, "letter.privacy-copy")) != 0)
        return -1;
    if (emit_text(L, AOD_WORDS_DATE, long_date(w, 0, in->now)) != 0 ||
        emit_text(L, AOD_WORDS_TITLE, aod_words_title(w)) != 0)
        return -1;

    if (emit(L, AOD_WORDS_FACT, T(L, "letter.fact.patient"), aod_words_patient(w), NULL) != 0)
        return -1;
    aod_buf_reset(&L->tmp);
    if (add_keys(L->w->text, in, &L->tmp) != 0)
        w->nomem = 1;
    if (emit(L, AOD_WORDS_FACT,
             T(L, in->n_patient_keys == 1 ? "letter.fact.identifier.one"
                                          : "letter.fact.identifier.other"),
             aod_buf_str(&L->tmp), NULL) != 0)
        return -1;
    if (in->requested && emit(L, AOD_WORDS_FACT, T(L, "letter.fact.requested"),
                              long_date(w, 0, in->requested), NULL) != 0)
        return -1;
    if (in->requested && w->privacy) {
        /* 45 CFR 164.528(c): 60 days, extended once by at most 30 when
         * the patient is told in writing within the 60. */
        int64_t day = local_days(in->requested);
        const char *due = keep(w, &L->tmp, long_date_days(w, 0, day + 60));
        vars[0] = "date";
        vars[1] = due;
        vars[2] = "due";
        vars[3] = due;
        vars[4] = NULL;
        if (emit(L, AOD_WORDS_FACT, T(L, "letter.fact.due"),
                 say(w, 1, "letter.fact.due-value", vars), NULL) != 0)
            return -1;
        vars[1] = long_date_days(w, 0, day + 90);
        if (emit(L, AOD_WORDS_FACT, T(L, "letter.fact.extension"),
                 say(w, 1, "letter.fact.extension-value", vars), NULL) != 0)
            return -1;
    }
    vars[0] = "from";
    vars[1] = aod_buf_str(&L->from);
    vars[2] = "to";
    vars[3] = aod_buf_str(&L->to);
    vars[4] = NULL;
    if (emit(L, AOD_WORDS_FACT, T(L, "letter.fact.period"),
             say(w, 1, "letter.fact.period-value", vars), NULL) != 0 ||
        emit(L, AOD_WORDS_FACT, T(L, "letter.fact.zone"),
             has(p->presentation.time_zone) ? p->presentation.time_zone : "UTC", NULL) != 0)
        return -1;
    return emit(L, AOD_WORDS_FACTS_END, NULL, "", NULL);
}

/* Greeting, what the report is, and what it leaves out. */
static int letter_scope(letter *L)
{
    aod_words *w = L->w;
    const aod_report_info *in = w->info;
    const char *vars[7];
    int i;

    if (has(in->patient_name)) {
        vars[0] = "name";
        vars[1] = in->patient_name;
        vars[2] = NULL;
        if (para(L, say(w, 0, "letter.greeting", vars)) != 0)
            return -1;
    } else if (para(L, T(L, "letter.greeting-unnamed")) != 0) {
        return -1;
    }
    vars[0] = "organisation";
    vars[1] = L->org;
    vars[2] = "from";
    vars[3] = aod_buf_str(&L->from);
    vars[4] = "to";
    vars[5] = aod_buf_str(&L->to);
    vars[6] = NULL;
    if (para(L, say(w, 0, w->access ? "letter.intro.access" : "letter.intro.disclosures", vars)) !=
            0 ||
        para(L, T(L, w->access ? "letter.explain.access" : "letter.explain.disclosures")) != 0)
        return -1;
    if (w->access && para(L, T(L, "letter.explain.masking")) != 0)
        return -1;
    if (!w->access && L->sum->summarised > 0 && para(L, T(L, "letter.explain.summary")) != 0)
        return -1;

    if (emit_text(L, AOD_WORDS_HEADING, T(L, "letter.heading.left-out")) != 0)
        return -1;
    if (w->access)
        return para(L, T(L, "letter.left-out.access"));
    if (para(L, T(L, "letter.left-out.intro")) != 0)
        return -1;
    /* Every exclusion of 164.528(a)(1), in plain words; the privacy office
     * sees how many events each one took out. */
    for (i = AOD_EXCL_I; i <= AOD_EXCL_IX; i++) {
        const char *key = aod_policy_exclusion_key((aod_exclusion)i);
        const char *note =
            w->privacy ? count_phrase(w, 2, "letter.left-out.count", L->sum->by_exclusion[i])
                       : NULL;
        if (emit(L, AOD_WORDS_BULLET, NULL, aod_text_code(w->text, "exclusion", key, NULL), note) !=
            0)
            return -1;
    }
    if (emit(L, AOD_WORDS_LIST_END, NULL, "", NULL) != 0)
        return -1;
    return para(L, T(L, "letter.left-out.internal"));
}

/* The counts.  The patient's copy never counts suspended disclosures
 * (164.528(a)(2)): telling would defeat the suspension. */
static int letter_found(letter *L)
{
    aod_words *w = L->w;
    const aod_report_summary *sum = L->sum;
    aod_buf *b = &L->tmp;
    const char *vars[5];
    long listed = 0, other;

    if (emit_text(L, AOD_WORDS_HEADING, T(L, "letter.heading.found")) != 0)
        return -1;
    vars[0] = "records";
    vars[1] = count_phrase(w, 1, "letter.n.records", sum->records_read);
    vars[2] = "events";
    vars[3] = count_phrase(w, 2, "letter.n.events", sum->events);
    vars[4] = NULL;
    aod_buf_reset(b);
    if (aod_buf_adds(b, say(w, 0, "letter.found.read", vars)) != 0)
        goto nomem;
    if (!w->access) {
        listed = sum->by_class[AOD_CLASS_DISCLOSURE] - (w->privacy ? 0 : sum->suspended);
        if (listed < 0)
            listed = 0;
        other = sum->events - listed;
        vars[0] = "listed";
        vars[1] = count_phrase(w, 1, "letter.n.disclosures", listed);
        vars[2] = "listed-verb";
        vars[3] = T(L, listed == 1 ? "letter.found.disclosures-verb.one"
                                   : "letter.found.disclosures-verb.other");
        vars[4] = NULL;
        if (aod_buf_addc(b, ' ') != 0 ||
            aod_buf_adds(b, say(w, 0, "letter.found.disclosures", vars)) != 0)
            goto nomem;
        if (other > 0) {
            vars[0] = "other";
            vars[1] = count_phrase(w, 1, "letter.n.events", other);
            vars[2] = NULL;
            if (aod_buf_addc(b, ' ') != 0 ||
                aod_buf_adds(b, say(w, 0, "letter.found.other", vars)) != 0)
                goto nomem;
        }
    }
    /* The table's lines: what the reader can count in it. */
    vars[0] = "lines";
    vars[1] = count_phrase(w, 1, "letter.n.lines", L->rows);
    vars[2] = NULL;
    if (L->rows > 0 && (w->access || sum->summarised > 0 || L->rows != listed) &&
        (aod_buf_addc(b, ' ') != 0 ||
         aod_buf_adds(b, say(w, 0,
                             w->access || sum->summarised == 0 ? "letter.found.access"
                                                               : "letter.found.summarised",
                             vars)) != 0))
        goto nomem;
    /* the office's own report runs: said once, never in the counts */
    if (sum->self_audit > 0) {
        vars[0] = "n";
        vars[1] = count_phrase(w, 1, "letter.n.times", sum->self_audit);
        vars[2] = NULL;
        if (aod_buf_addc(b, ' ') != 0 ||
            aod_buf_adds(b, say(w, 0, "letter.found.self-audit", vars)) != 0)
            goto nomem;
    }
    if (para(L, aod_buf_str(b)) != 0)
        return -1;
    if (L->rows > 0 && sum->overview)
        return para(L, T(L, w->scrolled ? "html.found.summary" : "letter.found.summary"));
    return para(L, T(L, L->rows > 0 ? (w->scrolled ? "html.found.table" : "letter.found.table")
                        : w->access ? "letter.found.none.access"
                                    : "letter.found.none.disclosures"));
nomem:
    w->nomem = 1;
    return emit(L, AOD_WORDS_PARA, NULL, "", NULL); /* reports the failure */
}

/* The store's source for an observer identity, or NULL.  The loader keys
 * an identifier without a system as "|value", classify as "value". */
static const aod_source *find_source(const aod_completeness *c, const char *obs)
{
    size_t i;

    for (i = 0; c && obs && i < c->n_sources; i++) {
        const char *o = c->sources[i].observer ? c->sources[i].observer : "";
        if (strcmp(o, obs) == 0 || (o[0] == '|' && strcmp(o + 1, obs) == 0))
            return &c->sources[i];
    }
    return NULL;
}

/* A source's name in words (model/text.h): its display, else words made
 * from how the store knows it, never its bare key.  Borrowed until the
 * next call; "" when out of memory. */
static const char *source_name(letter *L, const char *display, const char *obs)
{
    aod_error ignored;
    const char *t;

    aod_error_init(&ignored);
    t = aod_text_source(L->w->text, obs, display, &L->w->source, &ignored);
    if (!t)
        L->w->nomem = 1;
    return t ? t : "";
}

/* Which systems the lines come from and since when each logs, the
 * horizon, and the days a daily system logged nothing (issue 16 point 5). */
static int letter_sources(letter *L)
{
    aod_words *w = L->w;
    const aod_completeness *c = w->info->completeness;
    const aod_report_summary *sum = L->sum;
    aod_buf *b = &L->tmp;
    const char *vars[7];
    char num[48];
    size_t i;

    if (!c)
        return 0;
    aod_buf_reset(b);
    for (i = 0; i < sum->n_observers; i++) {
        const aod_source *s = find_source(c, sum->observers[i]);
        const char *name = source_name(L, s ? s->display : NULL, sum->observers[i]);
        if (b->len && aod_buf_adds(b, "; ") != 0)
            goto nomem;
        if (s) {
            vars[0] = "name";
            vars[1] = name;
            vars[2] = "date";
            vars[3] = long_date_days(w, 1, s->first_day / 86400000);
            vars[4] = NULL;
            name = say(w, 2, "letter.complete.source-since", vars);
        }
        if (aod_buf_adds(b, name) != 0)
            goto nomem;
    }
    if (sum->more_observers > 0) {
        vars[0] = "n";
        vars[1] = fmt_num(w, sum->more_observers, num, sizeof num);
        vars[2] = NULL;
        if (aod_buf_adds(b, say(w, 0, "letter.complete.gaps-more", vars)) != 0)
            goto nomem;
    }
    if (b->len) {
        vars[0] = "systems";
        vars[1] = aod_buf_str(b);
        vars[2] = NULL;
        if (para(L, say(w, 0, "letter.complete.sources", vars)) != 0)
            return -1;
    }
    if (c->n_sources > 0 &&
        para(L, count_phrase(w, 0, "letter.complete.sources-all", (long)c->n_sources)) != 0)
        return -1;
    if (c->horizon) {
        vars[0] = "date";
        vars[1] = long_date_days(w, 1, c->horizon / 86400000);
        vars[2] = NULL;
        if (para(L, say(w, 0, "letter.complete.horizon", vars)) != 0)
            return -1;
    } else if (para(L, T(L, "letter.complete.horizon-none")) != 0) {
        return -1;
    }
    aod_buf_reset(b);
    for (i = 0; i < c->n_gaps; i++) {
        const aod_gap *g = &c->gaps[i];
        vars[0] = "name";
        vars[1] = source_name(L, g->display, g->observer);
        if (g->from_day == g->to_day) {
            vars[2] = "date";
            vars[3] = long_date_days(w, 1, g->from_day / 86400000);
            vars[4] = NULL;
        } else {
            vars[2] = "from";
            vars[3] = keep(w, &w->when, long_date_days(w, 1, g->from_day / 86400000));
            vars[4] = "to";
            vars[5] = long_date_days(w, 3, g->to_day / 86400000);
            vars[6] = NULL;
        }
        if ((b->len && aod_buf_adds(b, "; ") != 0) ||
            aod_buf_adds(
                b, say(w, 0,
                       g->from_day == g->to_day ? "letter.complete.gap-day" : "letter.complete.gap",
                       vars)) != 0)
            goto nomem;
    }
    if (c->more_gaps > 0) {
        vars[0] = "n";
        vars[1] = fmt_num(w, c->more_gaps, num, sizeof num);
        vars[2] = NULL;
        if (aod_buf_adds(b, say(w, 0, "letter.complete.gaps-more", vars)) != 0)
            goto nomem;
    }
    if (b->len) {
        vars[0] = "gaps";
        vars[1] = aod_buf_str(b);
        vars[2] = NULL;
        return para(L, say(w, 4, "letter.complete.gaps", vars));
    }
    return para(L, T(L, "letter.complete.no-gaps"));
nomem:
    w->nomem = 1;
    return emit(L, AOD_WORDS_PARA, NULL, "", NULL); /* reports the failure */
}

/* What was searched, what could not be read, what was left out. */
static int letter_complete(letter *L)
{
    aod_words *w = L->w;
    const aod_report_summary *sum = L->sum;
    aod_buf *b = &L->tmp;
    const char *vars[7];
    char num[48];
    size_t i;

    if (emit_text(L, AOD_WORDS_HEADING, T(L, "letter.heading.complete")) != 0)
        return -1;
    aod_buf_reset(b);
    if (add_keys(w->text, w->info, b) != 0)
        goto nomem;
    vars[0] = "keys";
    vars[1] = aod_buf_str(b);
    vars[2] = "from";
    vars[3] = aod_buf_str(&L->from);
    vars[4] = "to";
    vars[5] = aod_buf_str(&L->to);
    vars[6] = NULL;
    if (para(L, say(w, 0, "letter.complete.searched", vars)) != 0)
        return -1;
    if (sum->records_unreadable <= 0) {
        if (para(L, T(L, "letter.complete.all-read")) != 0)
            return -1;
    } else {
        if (para(L, count_phrase(w, 0, "letter.complete.unreadable", sum->records_unreadable)) != 0)
            return -1;
        if (w->privacy && sum->n_unreadable_ids > 0) {
            size_t n = sum->n_unreadable_ids < 16 ? sum->n_unreadable_ids : 16;
            long more = sum->records_unreadable - (long)n;
            const char *more_vars[3];
            aod_buf_reset(b);
            for (i = 0; i < n; i++)
                if (aod_buf_printf(b, i ? ", %" PRId64 : "%" PRId64, sum->unreadable_ids[i]) != 0)
                    goto nomem;
            more_vars[0] = "n";
            more_vars[1] = fmt_num(w, more, num, sizeof num);
            more_vars[2] = NULL;
            vars[0] = "ids";
            vars[1] = aod_buf_str(b);
            vars[2] = "more";
            vars[3] = more > 0 ? say(w, 1, "letter.complete.unreadable-more", more_vars) : "";
            vars[4] = NULL;
            if (para(L, say(w, 0, "letter.complete.unreadable-ids", vars)) != 0)
                return -1;
        }
    }
    /* a search response that said it was incomplete (store.h) */
    if (w->info->n_search_outcomes > 0) {
        aod_buf_reset(b);
        for (i = 0; i < w->info->n_search_outcomes; i++)
            if ((i && aod_buf_adds(b, "; ") != 0) ||
                aod_buf_adds(b, w->info->search_outcomes[i]) != 0)
                goto nomem;
        vars[0] = "messages";
        vars[1] = aod_buf_str(b);
        vars[2] = NULL;
        if (para(L, say(w, 0, "letter.complete.outcomes", vars)) != 0)
            return -1;
    }
    if (letter_sources(L) != 0)
        return -1;
    if (w->access) {
        aod_failed_mode m = L->p->modes.access_failed;
        if (para(L, T(L, m == AOD_FAILED_OMIT       ? "letter.complete.failed.omit"
                         : m == AOD_FAILED_SEPARATE ? "letter.complete.failed.separate"
                                                    : "letter.complete.failed.flag")) != 0)
            return -1;
        if (w->privacy) {
            vars[0] = "n";
            vars[1] = count_phrase(w, 1, "letter.n.events", sum->by_class[AOD_CLASS_FAILED]);
            vars[2] = NULL;
            if (para(L, say(w, 0, "letter.complete.failed.count", vars)) != 0)
                return -1;
        }
    }
    return para(L, T(L, "letter.complete.recorded"));
nomem:
    w->nomem = 1;
    return emit(L, AOD_WORDS_PARA, NULL, "", NULL); /* reports the failure */
}

/* Rights, whom to ask, and the signature. */
static int letter_close(letter *L)
{
    aod_words *w = L->w;
    aod_buf *b = &L->tmp;
    const char *parts[3], *vars[3];
    size_t i;

    if (emit_text(L, AOD_WORDS_HEADING, T(L, "letter.heading.rights")) != 0 ||
        para(L, T(L, w->access ? "letter.rights.access" : "letter.rights.free")) != 0)
        return -1;
    /* The contact: the office, its phone and email, as a list (no guess at
     * an article for a name the site chose). */
    parts[0] = has(L->p->organisation.privacy_name) ? L->p->organisation.privacy_name : L->org;
    parts[1] = L->p->organisation.privacy_phone;
    parts[2] = L->p->organisation.privacy_email;
    aod_buf_reset(b);
    for (i = 0; i < 3; i++)
        if (has(parts[i]) &&
            ((b->len && aod_buf_adds(b, ", ") != 0) || aod_buf_adds(b, parts[i]) != 0))
            w->nomem = 1;
    vars[0] = "contact";
    vars[1] = aod_buf_str(b);
    vars[2] = NULL;
    if (b->len && para(L, say(w, 0, "letter.contact", vars)) != 0)
        return -1;
    /* What to do next (issue 16 point 6): ask about one line by its
     * reference, or ask that a person be blocked; whom to ask. */
    if (L->rows > 0 && (emit_text(L, AOD_WORDS_HEADING, T(L, "letter.heading.next")) != 0 ||
                        para(L, T(L, "letter.next.ref")) != 0 ||
                        (w->access && para(L, T(L, "letter.next.block")) != 0) ||
                        (b->len && para(L, say(w, 0, "letter.next.contact", vars)) != 0)))
        return -1;
    if (emit_text(L, AOD_WORDS_CLOSING, T(L, "letter.closing")) != 0 ||
        emit_text(L, AOD_WORDS_SIGNATURE, parts[0]) != 0)
        return -1;
    if (parts[0] != L->org && emit_text(L, AOD_WORDS_SIGNATURE, L->org) != 0)
        return -1;
    return 0;
}

/* "37 %" of part over whole; "-" when whole is 0. */
static const char *percent(long part, long whole, char *out, size_t size)
{
    if (whole <= 0)
        snprintf(out, size, "-");
    else
        snprintf(out, size, "%ld %%", (part * 100 + whole / 2) / whole);
    return out;
}

/* Explanation coverage, overall and per person, and the flagged lines. */
static int office_coverage(letter *L)
{
    aod_words *w = L->w;
    const aod_report_summary *sum = L->sum;
    const char *vars[9];
    char a[32], e[32], pc[16];
    size_t i;

    if (sum->coverage_accesses <= 0 && !sum->flags_on)
        return 0;
    snprintf(a, sizeof a, "%ld", sum->coverage_accesses);
    snprintf(e, sizeof e, "%ld", sum->coverage_explained);
    vars[0] = "explained";
    vars[1] = e;
    vars[2] = "accesses";
    vars[3] = a;
    vars[4] = "percent";
    vars[5] = percent(sum->coverage_explained, sum->coverage_accesses, pc, sizeof pc);
    vars[6] = NULL;
    if (para(L, say(w, 0, "letter.office.coverage", vars)) != 0)
        return -1;
    for (i = 0; i < sum->n_coverage; i++) {
        const aod_coverage *c = &sum->coverage[i];
        snprintf(a, sizeof a, "%ld", c->accesses);
        snprintf(e, sizeof e, "%ld", c->explained);
        vars[0] = "who";
        vars[1] = c->who;
        vars[2] = "explained";
        vars[3] = e;
        vars[4] = "accesses";
        vars[5] = a;
        vars[6] = "percent";
        vars[7] = percent(c->explained, c->accesses, pc, sizeof pc);
        vars[8] = NULL;
        if (emit(L, AOD_WORDS_BULLET, NULL, say(w, 0, "letter.office.coverage-person", vars),
                 NULL) != 0)
            return -1;
    }
    if (sum->n_coverage && emit(L, AOD_WORDS_LIST_END, NULL, "", NULL) != 0)
        return -1;
    if (sum->flags_on &&
        para(L, count_phrase(w, 0, "letter.office.flagged", sum->flagged_lines)) != 0)
        return -1;
    return 0;
}

/* The codes without words, with how many lines each was on: the office's
 * list of words to add to the templates. */
static int letter_no_words(letter *L)
{
    aod_words *w = L->w;
    const aod_report_summary *sum = L->sum;
    const char *vars[9];
    char key[96], num[48];
    aod_buf codes;
    size_t i;
    int rc = -1;

    aod_buf_init(&codes, 64 * 1024);
    for (i = 0; i < sum->n_no_words; i++) {
        snprintf(key, sizeof key, "letter.office.no-words.kind.%s", sum->no_words[i].kind);
        vars[0] = "kind";
        vars[1] = aod_words_get(w, key);
        vars[2] = "code";
        vars[3] = sum->no_words[i].code;
        vars[4] = "n";
        vars[5] = fmt_num(w, sum->no_words[i].count, num, sizeof num);
        vars[6] = NULL;
        if ((codes.len && aod_buf_adds(&codes, "; ") != 0) ||
            aod_buf_adds(&codes, say(w, 1, "letter.office.no-words.item", vars)) != 0)
            goto nomem;
    }
    if (sum->no_words_more > 0) {
        vars[0] = "n";
        vars[1] = fmt_num(w, sum->no_words_more, num, sizeof num);
        vars[2] = NULL;
        if ((codes.len && aod_buf_adds(&codes, "; ") != 0) ||
            aod_buf_adds(&codes, say(w, 1, "letter.office.no-words.more", vars)) != 0)
            goto nomem;
    }
    snprintf(key, sizeof key, "letter.office.no-words.%s",
             sum->lines_without_words == 1 ? "one" : "other");
    vars[0] = "n";
    vars[1] = fmt_num(w, sum->lines_without_words, num, sizeof num);
    vars[2] = "codes";
    vars[3] = aod_buf_str(&codes);
    vars[4] = NULL;
    rc = para(L, say(w, 0, key, vars));
    goto cleanup;
nomem:
    w->nomem = 1;
cleanup:
    aod_buf_free(&codes);
    return rc;
}

/* The privacy-office copy's own section: how the events were classified,
 * what was withheld or summarised, the policy and its warnings. */
static int letter_office(letter *L)
{
    aod_words *w = L->w;
    const aod_report_summary *sum = L->sum;
    const char *vars[5];
    size_t i;

    if (emit_text(L, AOD_WORDS_HEADING, T(L, "letter.heading.office")) != 0 ||
        para(L, T(L, "letter.office.by-class")) != 0)
        return -1;
    for (i = 0; i < AOD_CLASS_COUNT; i++) {
        vars[0] = "class";
        vars[1] = aod_text_code(w->text, "class", aod_class_name((aod_class)i), NULL);
        vars[2] = "n";
        vars[3] = count_phrase(w, 1, "letter.n.events", sum->by_class[i]);
        vars[4] = NULL;
        if (emit(L, AOD_WORDS_BULLET, NULL, say(w, 0, "letter.office.class-count", vars), NULL) !=
            0)
            return -1;
    }
    if (emit(L, AOD_WORDS_LIST_END, NULL, "", NULL) != 0)
        return -1;
    if (!w->access && sum->suspended > 0 &&
        para(L, count_phrase(w, 0, "letter.office.suspended", sum->suspended)) != 0)
        return -1;
    if (!w->access && sum->summarised > 0 &&
        para(L, count_phrase(w, 0, "letter.office.summarised", sum->summarised)) != 0)
        return -1;
    if (sum->reason_base > 0) {
        /* the share of listed accesses whose reason the store shows */
        char num[48], n[48], base[48];
        const char *pv[3], *share;
        long pct10 = (long)((sum->reasoned * 1000 + sum->reason_base / 2) / sum->reason_base);
        snprintf(num, sizeof num, "%ld%s%ld", pct10 / 10, aod_words_get(w, "letter.decimal-mark"),
                 pct10 % 10);
        pv[0] = "n";
        pv[1] = num;
        pv[2] = NULL;
        share = keep(w, &w->ref, say(w, 1, "letter.percent", pv));
        vars[0] = "n";
        vars[1] = fmt_num(w, sum->reasoned, n, sizeof n);
        vars[2] = "base";
        vars[3] = fmt_num(w, sum->reason_base, base, sizeof base);
        {
            const char *v2[7] = {"n", vars[1], "base", vars[3], "share", share, NULL};
            if (para(L, say(w, 0,
                            sum->reasoned == 1 ? "letter.office.reasons.one"
                                               : "letter.office.reasons.other",
                            v2)) != 0)
                return -1;
        }
    }
    if (office_coverage(L) != 0)
        return -1;
    if (has(L->p->name)) {
        vars[0] = "policy";
        vars[1] = L->p->name;
        vars[2] = NULL;
        if (para(L, say(w, 0, "letter.office.policy", vars)) != 0)
            return -1;
    }
    for (i = 0; i < L->p->n_warnings; i++) {
        vars[0] = "text";
        vars[1] = L->p->warnings[i].text;
        vars[2] = NULL;
        if (para(L, say(w, 0, "letter.office.warning", vars)) != 0)
            return -1;
    }
    return sum->lines_without_words > 0 ? letter_no_words(L) : 0;
}

/* report --mode breach (doc/breach.md): after the letterhead and the
 * facts, what happened (each line, when, who as the patient's copy shows
 * them, what was done, its reference), when it was found, what information
 * was involved, what we did, what the patient can do, whom to contact. */
static int letter_breach(letter *L)
{
    aod_words *w = L->w;
    const aod_breach *b = w->info->breach;
    aod_buf *t = &L->tmp;
    const char *vars[5], *p, *end;
    char num[48];

    vars[0] = "n";
    vars[1] = fmt_num(w, w->breach_n, num, sizeof num);
    vars[2] = NULL;
    if (emit_text(L, AOD_WORDS_HEADING, T(L, "breach.heading.happened")) != 0 ||
        para(L, say(w, 0, w->breach_n == 1 ? "breach.happened.one" : "breach.happened.other",
                    vars)) != 0)
        return -1;
    /* one bullet per line */
    for (p = aod_buf_str(&w->breach_lines); *p; p = end + 1) {
        end = strchr(p, '\x1e');
        if (!end)
            break;
        aod_buf_reset(t);
        if (aod_buf_add(t, p, (size_t)(end - p)) != 0)
            w->nomem = 1;
        if (emit(L, AOD_WORDS_BULLET, NULL, aod_buf_str(t), NULL) != 0)
            return -1;
    }
    if (emit_text(L, AOD_WORDS_LIST_END, "") != 0)
        return -1;
    if (b->discovered) {
        vars[0] = "date";
        vars[1] = long_date(w, 1, b->discovered);
        if (para(L, say(w, 0, "breach.discovered", vars)) != 0)
            return -1;
    }
    /* what information: the kinds of data of the lines */
    aod_buf_reset(t);
    for (p = aod_buf_str(&w->breach_data); *p; p = end + 1) {
        end = strchr(p, '\x1e');
        if (!end)
            break;
        if ((t->len && aod_buf_adds(t, "; ") != 0) || aod_buf_add(t, p, (size_t)(end - p)) != 0)
            w->nomem = 1;
    }
    vars[0] = "data";
    vars[1] = aod_buf_str(t);
    if (emit_text(L, AOD_WORDS_HEADING, T(L, "breach.heading.information")) != 0 ||
        para(L, t->len ? say(w, 0, "breach.information", vars)
                       : T(L, "breach.information-not-recorded")) != 0 ||
        para(L, T(L, "breach.information-not-copied")) != 0)
        return -1;
    if (emit_text(L, AOD_WORDS_HEADING, T(L, "breach.heading.done")) != 0 ||
        para(L, b->actions) != 0 ||
        emit_text(L, AOD_WORDS_HEADING, T(L, "breach.heading.you")) != 0 ||
        para(L, T(L, "breach.you")) != 0)
        return -1;
    /* whom to contact: the option's words, else the privacy office */
    aod_buf_reset(t);
    if (has(b->contact)) {
        if (aod_buf_adds(t, b->contact) != 0)
            w->nomem = 1;
    } else {
        const char *parts[3];
        size_t i;
        parts[0] = has(L->p->organisation.privacy_name) ? L->p->organisation.privacy_name : L->org;
        parts[1] = L->p->organisation.privacy_phone;
        parts[2] = L->p->organisation.privacy_email;
        for (i = 0; i < 3; i++)
            if (has(parts[i]) &&
                ((t->len && aod_buf_adds(t, ", ") != 0) || aod_buf_adds(t, parts[i]) != 0))
                w->nomem = 1;
    }
    vars[0] = "contact";
    vars[1] = aod_buf_str(t);
    if (emit_text(L, AOD_WORDS_HEADING, T(L, "breach.heading.contact")) != 0 ||
        para(L, say(w, 0, "breach.contact", vars)) != 0)
        return -1;
    if (emit_text(L, AOD_WORDS_CLOSING, T(L, "letter.closing")) != 0 ||
        emit_text(L, AOD_WORDS_SIGNATURE,
                  has(L->p->organisation.privacy_name) ? L->p->organisation.privacy_name
                                                       : L->org) != 0)
        return -1;
    if (has(L->p->organisation.privacy_name) && emit_text(L, AOD_WORDS_SIGNATURE, L->org) != 0)
        return -1;
    return 0;
}

int aod_words_letter(aod_words *w, const aod_report_summary *sum_or_NULL, long rows,
                     aod_words_fn fn, void *ctx, aod_error *err)
{
    static const aod_report_summary zero;
    letter L;
    int rc = -1;

    memset(&L, 0, sizeof L);
    L.w = w;
    L.fn = fn;
    L.ctx = ctx;
    L.err = err;
    L.sum = sum_or_NULL ? sum_or_NULL : &zero;
    L.p = w->info->policy;
    L.org = has(L.p->organisation.name) ? L.p->organisation.name : "";
    L.rows = rows;
    aod_buf_init(&L.from, 4096);
    aod_buf_init(&L.to, 4096);
    aod_buf_init(&L.tmp, 16 * 1024 * 1024);
    w->nomem = 0;
    keep(w, &L.from, long_date(w, 0, w->info->from));
    keep(w, &L.to, long_date(w, 0, period_last_ms(w->info)));
    if (w->info->breach) {
        if (letter_top(&L) != 0 || letter_breach(&L) != 0)
            goto done;
    } else if (letter_top(&L) != 0 || letter_scope(&L) != 0 || letter_found(&L) != 0 ||
               letter_complete(&L) != 0 || letter_close(&L) != 0 ||
               (w->privacy && letter_office(&L) != 0)) {
        goto done;
    }
    if (w->nomem) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "words", "out of memory");
        goto done;
    }
    rc = 0;
done:
    aod_buf_free(&L.from);
    aod_buf_free(&L.to);
    aod_buf_free(&L.tmp);
    return rc;
}

/* ------------------------------------------------------------- summary */

/* "treatment; payment" and, when some accesses had none, "no reason was
 * recorded (3)": the reasons of one summary line, into b. */
static int reasons_words(aod_words *w, const aod_overview_line *l, aod_buf *b)
{
    char num[48];
    const char *vars[3];
    size_t i;

    for (i = 0; i < l->n_reasons; i++)
        if ((b->len && aod_buf_adds(b, "; ") != 0) ||
            aod_buf_adds(b, short_word(w, "purpose", l->reason_code[i],
                                       aod_text_code(w->text, "purpose", l->reason_code[i],
                                                     l->reason_display[i]))) != 0)
            return -1;
    if (l->more_reasons && aod_buf_adds(b, aod_words_get(w, "summary.more")) != 0)
        return -1;
    if (l->no_reason > 0) {
        vars[0] = "n";
        vars[1] = fmt_num(w, l->no_reason, num, sizeof num);
        vars[2] = NULL;
        if ((b->len && aod_buf_adds(b, "; ") != 0) ||
            aod_buf_adds(b, say(w, 6,
                                l->no_reason == l->count ? "summary.no-reason"
                                : w->short_words         ? "summary.cell.no-reason-some"
                                                         : "summary.no-reason-some",
                                vars)) != 0)
            return -1;
    }
    return 0;
}

#define SUMMARY_KINDS 4 /* kinds of data named per summary line, most seen first */

/* The kinds of data of one summary line in words, the most seen first
 * ("test results; clinical documents"), at most SUMMARY_KINDS of them and
 * then ", and 3 more", into w->kinds: the summary stays short, the
 * listing and the summary CSV have them all. */
static int overview_kinds(aod_words *w, const aod_overview_line *l)
{
    aod_buf list;
    size_t order[AOD_OVERVIEW_MAX_KINDS], i, j, shown;
    const char *vars[3];
    char num[48];
    int rc = -1;

    for (i = 0; i < l->n_kinds; i++) { /* by count, ties in the order first seen */
        for (j = i; j > 0 && l->kind_count[order[j - 1]] < l->kind_count[i]; j--)
            order[j] = order[j - 1];
        order[j] = i;
    }
    shown = l->n_kinds < SUMMARY_KINDS ? l->n_kinds : SUMMARY_KINDS;
    aod_buf_init(&list, 64 * 1024);
    for (i = 0; i < shown; i++)
        if ((i && aod_buf_addc(&list, ',') != 0) || aod_buf_adds(&list, l->kinds[order[i]]) != 0)
            goto done;
    aod_buf_reset(&w->kinds);
    if (shown && kinds_words(w, aod_buf_str(&list)) != 0)
        goto done;
    if (l->n_kinds > shown || l->more_kinds) {
        vars[0] = "n";
        vars[1] = fmt_num(w, (long)(l->n_kinds - shown), num, sizeof num);
        vars[2] = NULL;
        if (aod_buf_adds(&w->kinds, l->n_kinds > shown ? say(w, 6, "summary.more-kinds", vars)
                                                       : aod_words_get(w, "summary.more")) != 0)
            goto done;
    }
    rc = 0;
done:
    aod_buf_free(&list);
    return rc;
}

/* "2024-01-01 to 2025-12-31", or one date: the summary's span in days. */
static const char *overview_days(aod_words *w, int64_t a, int64_t b)
{
    const char *vars[5];
    char da[16], db[16];

    aod_timefmt_date(a, da, sizeof da);
    aod_timefmt_date(b, db, sizeof db);
    if (strcmp(da, db) == 0) {
        aod_buf_reset(&w->say[5]);
        if (aod_buf_adds(&w->say[5], da) != 0)
            w->nomem = 1;
        return aod_buf_str(&w->say[5]);
    }
    vars[0] = "start";
    vars[1] = da;
    vars[2] = "end";
    vars[3] = db;
    vars[4] = NULL;
    return say(w, 5, "letter.range", vars);
}

/* The first letter of an ASCII sentence in capitals (the masked labels
 * start small: "an automated system"). */
static void capitalise(aod_buf *b)
{
    if (b->len && b->data[0] >= 'a' && b->data[0] <= 'z')
        b->data[0] = (char)(b->data[0] - 'a' + 'A');
}

const char *aod_words_overview_who(aod_words *w, const aod_overview_line *l)
{
    aod_buf *b = &w->who;

    aod_buf_reset(b);
    if (aod_buf_adds(b, l->name) != 0)
        goto nomem;
    if (has(l->role) && !strstr(l->name, l->role) &&
        aod_buf_printf(b, ", %s", aod_text_code(w->text, "role", l->role, NULL)) != 0)
        goto nomem;
    /* our own organisation goes without saying: the letter is from it */
    if (has(l->organisation) && !strstr(l->name, l->organisation) &&
        !(has(w->info->policy->organisation.name) &&
          strcmp(l->organisation, w->info->policy->organisation.name) == 0) &&
        aod_buf_printf(b, ", %s", l->organisation) != 0)
        goto nomem;
    return aod_buf_str(b);
nomem:
    w->nomem = 1;
    return "";
}

int aod_words_overview(aod_words *w, const aod_overview *ov, aod_words_fn fn, void *ctx,
                       aod_error *err)
{
    aod_words_block blk;
    aod_words_row row;
    aod_buf text, note;
    const char *vars[11];
    const char *unit = w->access ? "summary.n.accesses" : "summary.n.disclosures";
    size_t i;
    int sect, rc = -1;

    aod_buf_init(&text, 16 * 1024 * 1024);
    aod_buf_init(&note, 16 * 1024 * 1024);
    w->nomem = 0;
    w->n_leg = 0;
    memset(&blk, 0, sizeof blk);
#define OOM()                                                                                      \
    do {                                                                                           \
        w->nomem = 1;                                                                              \
        goto done;                                                                                 \
    } while (0)
#define SAY_BLOCK(k, t, n)                                                                         \
    do {                                                                                           \
        if (w->nomem)                                                                              \
            goto done;                                                                             \
        blk.kind = (k);                                                                            \
        blk.text = (t);                                                                            \
        blk.note = (n);                                                                            \
        if (fn(ctx, &blk, err) != 0)                                                               \
            goto done;                                                                             \
    } while (0)
    SAY_BLOCK(
        AOD_WORDS_HEADING,
        aod_words_get(w, w->access ? "summary.heading.access" : "summary.heading.disclosures"),
        NULL);
    vars[0] = "records";
    vars[1] = count_phrase(w, 0, "letter.n.records", ov->records);
    vars[2] = "accesses";
    vars[3] = count_phrase(w, 1, unit, ov->accesses);
    vars[4] = "people";
    vars[5] = count_phrase(w, 2, "summary.n.people", ov->people);
    vars[6] = "organisations";
    vars[7] = count_phrase(w, 6, "summary.n.organisations", ov->organisations);
    vars[8] = NULL;
    aod_buf_reset(&text);
    if (aod_buf_adds(&text, say(w, 7, "summary.totals", vars)) != 0)
        OOM();
    if (ov->systems > 0) {
        vars[0] = "accesses";
        vars[1] = count_phrase(w, 1, unit, ov->system_accesses);
        vars[2] = "systems";
        vars[3] = count_phrase(w, 2, "summary.n.systems", ov->systems);
        vars[4] = NULL;
        /* the verb agrees with the number of accesses */
        if (aod_buf_addc(&text, ' ') != 0 ||
            aod_buf_adds(&text, say(w, 7,
                                    ov->system_accesses == 1 ? "summary.totals.systems.one"
                                                             : "summary.totals.systems.other",
                                    vars)) != 0)
            OOM();
    }
    SAY_BLOCK(AOD_WORDS_PARA, aod_buf_str(&text), NULL);
    if (ov->n_lines == 0)
        SAY_BLOCK(AOD_WORDS_PARA, aod_words_get(w, "summary.none"), NULL);
    for (sect = 0; sect < 2; sect++) {
        int any = 0;
        for (i = 0; i < ov->n_lines; i++) {
            const aod_overview_line *l = &ov->lines[i];
            if ((l->section == AOD_SECTION_SYSTEM) != sect)
                continue;
            if (!any++) {
                SAY_BLOCK(
                    AOD_WORDS_HEADING,
                    aod_words_get(w, sect ? "summary.heading.systems" : "summary.heading.people"),
                    NULL);
                if (sect) {
                    SAY_BLOCK(AOD_WORDS_PARA, aod_words_get(w, "summary.systems.intro"), NULL);
                } else {
                    /* one row per person or organisation: who, when, how
                     * many, what, why; the column labels say "Data" and
                     * "Reasons" once instead of every line */
                    memset(&row, 0, sizeof row);
                    part(&row, AOD_WORDS_SUM_WHO, aod_words_get(w, "summary.col.who"), 0);
                    part(&row, AOD_WORDS_SUM_WHEN, aod_words_get(w, "summary.col.when"), 0);
                    part(&row, AOD_WORDS_SUM_COUNT, aod_words_get(w, "summary.col.count"), 0);
                    part(&row, AOD_WORDS_SUM_DATA, aod_words_get(w, "summary.col.data"), 0);
                    part(&row, AOD_WORDS_SUM_WHY, aod_words_get(w, "summary.col.why"), 0);
                    blk.row = &row;
                    SAY_BLOCK(AOD_WORDS_TABLE_HEAD, aod_words_get(w, "summary.caption"), NULL);
                    blk.row = NULL;
                }
            }
            w->short_words = !sect;
            if (overview_kinds(w, l) != 0)
                OOM();
            aod_buf_reset(&text);
            aod_buf_reset(&note);
            if (!sect) {
                char num[48];
                memset(&row, 0, sizeof row);
                w->short_words = 1;
                if (aod_buf_adds(&text, aod_words_overview_who(w, l)) != 0)
                    OOM();
                capitalise(&text);
                part(&row, AOD_WORDS_SUM_WHO, aod_buf_str(&text), 0);
                if (l->people > 1) {
                    vars[0] = "people";
                    vars[1] = count_phrase(w, 2, "summary.n.people", l->people);
                    vars[2] = NULL;
                    part(&row, AOD_WORDS_SUM_WHO, say(w, 7, "summary.people-behind", vars), 1);
                }
                { /* the first day over the last, each in full */
                    char da[16], db[16];
                    aod_timefmt_date(l->first, da, sizeof da);
                    aod_timefmt_date(l->last, db, sizeof db);
                    aod_buf_reset(&w->when);
                    if (aod_buf_adds(&w->when, da) != 0 || aod_buf_addc(&w->when, '\0') != 0 ||
                        aod_buf_adds(&w->when, db) != 0)
                        OOM();
                    part(&row, AOD_WORDS_SUM_WHEN, w->when.data, 0);
                    if (strcmp(da, db) != 0)
                        part(&row, AOD_WORDS_SUM_WHEN, w->when.data + strlen(da) + 1, 0);
                }
                part(&row, AOD_WORDS_SUM_COUNT, fmt_num(w, l->count, num, sizeof num), 0);
                part(&row, AOD_WORDS_SUM_DATA, aod_buf_str(&w->kinds), 0);
                if (reasons_words(w, l, &note) != 0)
                    OOM();
                if (note.len == 0 &&
                    aod_buf_adds(&note, aod_words_get(w, "summary.no-reason")) != 0)
                    OOM();
                part(&row, AOD_WORDS_SUM_WHY, aod_buf_str(&note), l->n_reasons == 0);
                w->short_words = 0;
                blk.row = &row;
                SAY_BLOCK(AOD_WORDS_TABLE_ROW, "", NULL);
                blk.row = NULL;
                continue;
            }
            {
                aod_entry e;
                const char *act;
                memset(&e, 0, sizeof e);
                e.action = l->action;
                e.activity = l->activity;
                act = action_words(w, &e);
                vars[0] = "who";
                vars[1] = aod_words_overview_who(w, l);
                vars[2] = "action";
                vars[3] = has(act) ? act : aod_words_get(w, "summary.system.used");
                vars[4] = "data";
                vars[5] = w->kinds.len ? aod_buf_str(&w->kinds)
                                       : aod_words_get(w, "summary.system.your-record");
                vars[6] = "times";
                vars[7] = count_phrase(w, 1, "letter.n.times", l->count);
                vars[8] = NULL;
                if (aod_buf_adds(&text, say(w, 7, "summary.system", vars)) != 0)
                    OOM();
                capitalise(&text);
                vars[0] = "when";
                vars[1] = overview_days(w, l->first, l->last);
                vars[2] = NULL;
                if (aod_buf_adds(&note, say(w, 7, "summary.system.when", vars)) != 0)
                    OOM();
            }
            {
                aod_buf why;
                int bad;
                aod_buf_init(&why, 1024 * 1024);
                bad = reasons_words(w, l, &why) != 0;
                vars[0] = "reasons";
                vars[1] = aod_buf_str(&why);
                vars[2] = NULL;
                if (!bad && why.len &&
                    ((note.len && aod_buf_addc(&note, ' ') != 0) ||
                     aod_buf_adds(
                         &note, say(w, 7, l->n_reasons ? "summary.reasons" : "summary.reasons-none",
                                    vars)) != 0))
                    bad = 1;
                aod_buf_free(&why);
                if (bad)
                    OOM();
            }
            SAY_BLOCK(AOD_WORDS_BULLET, aod_buf_str(&text), aod_buf_str(&note));
        }
        if (any)
            SAY_BLOCK(sect ? AOD_WORDS_LIST_END : AOD_WORDS_TABLE_END, "", NULL);
        if (any && !sect && w->n_leg > 0) { /* the short words, explained */
            aod_buf_reset(&note);
            for (i = 0; i < w->n_leg; i++) {
                vars[0] = "short";
                vars[1] = w->leg_short[i];
                vars[2] = "full";
                vars[3] = w->leg_full[i];
                vars[4] = NULL;
                if ((i && aod_buf_adds(&note, "; ") != 0) ||
                    aod_buf_adds(&note, say(w, 6, "summary.legend.item", vars)) != 0)
                    OOM();
            }
            vars[0] = "words";
            vars[1] = aod_buf_str(&note);
            vars[2] = NULL;
            SAY_BLOCK(AOD_WORDS_NOTE, say(w, 7, "summary.legend", vars), NULL);
        }
    }
    SAY_BLOCK(AOD_WORDS_PARA, aod_words_get(w, "summary.details"), NULL);
#undef SAY_BLOCK
#undef OOM
    rc = 0;
done:
    w->short_words = 0;
    if (rc != 0 && w->nomem) /* else fn said why */
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "words", "out of memory");
    aod_buf_free(&text);
    aod_buf_free(&note);
    return rc;
}

const char *aod_words_overview_continues(aod_words *w, const aod_overview *ov)
{
    return count_phrase(w, 4, "summary.continues", ov ? (long)ov->n_lines : 0);
}

/* ------------------------------------------------------------ lifecycle */

aod_words *aod_words_new(const aod_text *text, const aod_report_info *info, aod_words_medium medium,
                         aod_error *err)
{
    aod_words *w;
    int i;

    if (!text || !info || !info->policy) {
        aod_error_set(err, AOD_ERR_INTERNAL, NULL, 0, "words", "no templates, report or policy");
        return NULL;
    }
    w = calloc(1, sizeof *w);
    if (!w) {
        aod_error_set(err, AOD_ERR_NOMEM, NULL, 0, "words", "out of memory");
        return NULL;
    }
    w->text = text;
    w->info = info;
    w->access = info->mode == AOD_MODE_ACCESS;
    w->privacy = info->audience == AOD_AUDIENCE_PRIVACY_OFFICE;
    w->scrolled = medium == AOD_WORDS_SCROLLED;
    for (i = 0; i < N_SAY; i++)
        aod_buf_init(&w->say[i], 16 * 1024 * 1024);
    aod_buf_init(&w->period, 64 * 1024);
    aod_buf_init(&w->generated, 64 * 1024);
    aod_buf_init(&w->subject, 64 * 1024);
    aod_buf_init(&w->keys, 1024 * 1024);
    aod_buf_init(&w->when, 64 * 1024);
    aod_buf_init(&w->who, 16 * 1024 * 1024);
    aod_buf_init(&w->flags, 64 * 1024);
    aod_buf_init(&w->kinds, 1024 * 1024);
    aod_buf_init(&w->count, 64 * 1024);
    aod_buf_init(&w->reason, 1024 * 1024);
    aod_buf_init(&w->ref, 4096);
    aod_buf_init(&w->source, 64 * 1024);
    aod_buf_init(&w->breach_lines, 4 * 1024 * 1024);
    aod_buf_init(&w->breach_data, 1024 * 1024);
    aod_buf_init(&w->breach_who, 1024 * 1024);
    return w;
}

void aod_words_free(aod_words *w)
{
    int i;

    if (!w)
        return;
    for (i = 0; i < N_SAY; i++)
        aod_buf_free(&w->say[i]);
    aod_buf_free(&w->period);
    aod_buf_free(&w->generated);
    aod_buf_free(&w->subject);
    aod_buf_free(&w->keys);
    aod_buf_free(&w->when);
    aod_buf_free(&w->who);
    aod_buf_free(&w->flags);
    aod_buf_free(&w->kinds);
    aod_buf_free(&w->count);
    aod_buf_free(&w->reason);
    aod_buf_free(&w->ref);
    aod_buf_free(&w->source);
    aod_buf_free(&w->breach_lines);
    aod_buf_free(&w->breach_data);
    aod_buf_free(&w->breach_who);
    free(w);
}
