/*
 * maintain.c - `aodreport maintain` and `aodreport retention` (see
 * maintain.h).
 */
#include "app/maintain.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "app/run.h"
#include "app/selfaudit.h"
#include "base/timefmt.h"
#include "model/policy.h"
#include "store/store.h"

static int usage(aod_error *err, const char *cmd, const char *msg, const char *arg)
{
    aod_error_set(err, AOD_ERR_USAGE, cmd, 0, NULL, "%s%s%s (see 'aodreport %s --help')", msg,
                  arg ? " " : "", arg ? arg : "", cmd);
    return -1;
}

/* "about 1,234 rows", or that the server has not counted them yet */
static const char *rows_text(long long rows, char *buf, size_t size)
{
    if (rows < 0)
        snprintf(buf, size, "rows not counted yet");
    else
        snprintf(buf, size, "about %lld row%s", rows, rows == 1 ? "" : "s");
    return buf;
}

static int show_clustered(void *ctx, const char *partition, const char *lo, const char *hi,
                          long long rows, double seconds, aod_error *err)
{
    (void)ctx;
    (void)err;
    char n[48];

    printf("clustered %s (%s to %s, %s) in %.1f s\n", partition, *lo ? lo : "the start", hi,
           rows_text(rows, n, sizeof n), seconds);
    return 0;
}

int aod_maintain_command(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *now = NULL;
    aod_store *st = NULL;
    int c, n = 0, rc = -1;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'n':
            now = optarg;
            break;
        case 'h':
            printf("Usage: aodreport maintain [--db CONNINFO] [--now TIMESTAMP]\n"
                   "\n"
                   "Keep the store's partitions: make the partitions of this month and the next\n"
                   "two, and cluster each month that is over and was never clustered (its rows\n"
                   "rewritten in report order; only that month is locked meanwhile).  Run it as\n"
                   "the owner of the store, once a month (doc/store.md, \"Partitions\").\n"
                   "\n"
                   "  --db CONNINFO      libpq connection string (default: the PG* environment)\n"
                   "  --now TIMESTAMP    the time to take as now (default: the clock)\n"
                   "  -h, --help         show this help\n");
            return 0;
        default:
            return usage(err, "maintain", "unknown option", NULL);
        }
    }
    if (optind < argc)
        return usage(err, "maintain", "unexpected argument", argv[optind]);
    st = aod_store_connect(db, err);
    if (!st || aod_store_check_version(st, err) != 0)
        goto out;
    if (aod_store_maintain(st, now, show_clustered, NULL, &n, err) != 0)
        goto out;
    printf("Partitions ready; %d closed month%s clustered.\n", n, n == 1 ? "" : "s");
    rc = 0;
out:
    aod_store_free(st);
    return rc;
}

int aod_maintain_parse_age(const char *s, char *out, size_t out_size, aod_error *err)
{
    long v[3] = {0, 0, 0}; /* years, months, days */
    const char *p = s;
    char *end;
    int seen = 0;

    if (*p == 'P' || *p == 'p') {
        /* ISO 8601: P, then numbers each followed by Y, M or D, in order */
        int last = -1;
        p++;
        while (*p) {
            long n;
            int k;
            if (*p < '0' || *p > '9')
                goto bad;
            errno = 0;
            n = strtol(p, &end, 10);
            if (errno || n > 1000)
                goto bad;
            k = *end == 'Y' ? 0 : *end == 'M' ? 1 : *end == 'D' ? 2 : -1;
            if (k <= last)
                goto bad;
            v[k] = n;
            last = k;
            seen = 1;
            p = end + 1;
        }
    } else {
        long n;
        int k;
        if (*p < '0' || *p > '9')
            goto bad;
        errno = 0;
        n = strtol(p, &end, 10);
        if (errno || n > 1000 || end[0] == '\0' || end[1] != '\0')
            goto bad;
        k = *end == 'y' ? 0 : *end == 'm' ? 1 : *end == 'd' ? 2 : -1;
        if (k < 0)
            goto bad;
        v[k] = n;
        seen = 1;
    }
    if (!seen || v[0] + v[1] + v[2] == 0)
        goto bad;
    snprintf(out, out_size, "%ld years %ld months %ld days", v[0], v[1], v[2]);
    return 0;
bad:
    aod_error_set(err, AOD_ERR_USAGE, "--older-than", 0, NULL,
                  "'%s' is not an age: give years, months or days (6y, 18m, 90d) or an ISO 8601 "
                  "period (P6Y, P1Y6M)",
                  s);
    return -1;
}

/* The longer of the policy's two look-backs: what retention must keep. */
static void policy_age(const aod_policy *policy, char *out, size_t out_size)
{
    const aod_policy_period *a = &policy->modes.disclosures_lookback;
    const aod_policy_period *b = &policy->modes.access_lookback;
    long da = a->years * 372L + a->months * 31L + a->days;
    long db = b->years * 372L + b->months * 31L + b->days;
    const aod_policy_period *p = da >= db ? a : b;

    snprintf(out, out_size, "%d years %d months %d days", p->years, p->months, p->days);
}

typedef struct retention_out {
    int dry_run;
    int n;
} retention_out;

static int show_dropped(void *ctx, const char *partition, const char *lo, const char *hi,
                        long long rows, double seconds, aod_error *err)
{
    retention_out *o = ctx;

    (void)seconds;
    (void)err;
    o->n++;
    char n[48];

    printf("%s %s (%s to %s, %s)\n", o->dry_run ? "would drop" : "dropped", partition,
           *lo ? lo : "the start", hi, rows_text(rows, n, sizeof n));
    return 0;
}

int aod_retention_command(int argc, char **argv, aod_error *err)
{
    static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                         {"now", required_argument, NULL, 'n'},
                                         {"older-than", required_argument, NULL, 'o'},
                                         {"policy", required_argument, NULL, 'P'},
                                         {"operator", required_argument, NULL, 'O'},
                                         {"dry-run", no_argument, NULL, 'N'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *db = NULL, *now = NULL, *older = NULL, *policy_path = NULL, *operator_name = NULL;
    char age[96], cutoff[64], os_user[128], host[256], horizon[40];
    const char *who[4];
    retention_out out = {0, 0};
    aod_policy *policy = NULL;
    aod_store *st = NULL;
    int64_t hms;
    int c, known, rc = -1;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'n':
            now = optarg;
            break;
        case 'o':
            older = optarg;
            break;
        case 'P':
            policy_path = optarg;
            break;
        case 'O':
            operator_name = optarg;
            break;
        case 'N':
            out.dry_run = 1;
            break;
        case 'h':
            printf(
                "Usage: aodreport retention [--older-than AGE | --policy FILE] [OPTIONS]\n"
                "\n"
                "Drop the months of audit events recorded longer ago than AGE, whole (a month\n"
                "goes when all of it is older), and record that it did: an AuditEvent in the\n"
                "store, and the retention horizon that reports state.  Run it as the owner of\n"
                "the store.\n"
                "\n"
                "  --older-than AGE   6y, 18m, 90d, or P6Y, P1Y6M (default: the policy's longer\n"
                "                     look-back, disclosures or access)\n"
                "  --policy FILE      the site policy (default: as a report finds it)\n"
                "  --now TIMESTAMP    the time to count back from (default: the clock)\n"
                "  --operator NAME    who runs it, for the AuditEvent\n"
                "  --dry-run          only say what would be dropped\n"
                "  --db CONNINFO      libpq connection string (default: the PG* environment)\n"
                "  -h, --help         show this help\n");
            return 0;
        default:
            return usage(err, "retention", "unknown option", NULL);
        }
    }
    if (optind < argc)
        return usage(err, "retention", "unexpected argument", argv[optind]);
    if (older) {
        if (aod_maintain_parse_age(older, age, sizeof age, err) != 0)
            return -1;
    } else {
        policy = aod_run_load_policy(policy_path, NULL, err);
        if (!policy)
            return -1;
        policy_age(policy, age, sizeof age);
    }
    aod_selfaudit_whoami(os_user, sizeof os_user, host, sizeof host);
    who[0] = operator_name;
    who[1] = os_user;
    who[2] = host;
    who[3] = "aodreport " PACKAGE_VERSION;
    st = aod_store_connect(db, err);
    if (!st || aod_store_check_version(st, err) != 0)
        goto out;
    if (aod_store_retention(st, now, age, who, out.dry_run, show_dropped, &out, cutoff,
                            sizeof cutoff, err) != 0)
        goto out;
    if (aod_store_retention_horizon(st, &hms, &known, err) != 0)
        goto out;
    if (known)
        aod_timefmt_datetime(hms, horizon, sizeof horizon);
    printf("%s %d partition%s recorded before %s (older than %s%s).%s%s\n",
           out.dry_run ? "Would drop" : "Dropped", out.n, out.n == 1 ? "" : "s", cutoff,
           older ? older : age, older ? "" : ", the policy's longer look-back",
           known ? " Retention horizon: " : "", known ? horizon : "");
    rc = 0;
out:
    aod_store_free(st);
    aod_policy_free(policy);
    return rc;
}
