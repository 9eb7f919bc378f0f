/*
 * log.c - messages on standard error (see log.h).
 */
#include "base/log.h"

#include "base/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* 1 when JOURNAL_STREAM names the file standard error is; decided once. */
static int to_journal(void)
{
    static int known, journal;
    const char *env;
    unsigned long long dev, ino;
    struct stat sb;
    int n = 0;

    if (known)
        return journal;
    known = 1;
    env = getenv("JOURNAL_STREAM");
    if (env && sscanf(env, "%llu:%llu%n", &dev, &ino, &n) == 2 && env[n] == '\0' &&
        fstat(STDERR_FILENO, &sb) == 0 && (unsigned long long)sb.st_dev == dev &&
        (unsigned long long)sb.st_ino == ino)
        journal = 1;
    return journal;
}

const char *aod_log_prefix(aod_log_level level)
{
    static const char *const prefixes[] = {"<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>"};

    if (!to_journal() || (unsigned)level > 7)
        return "";
    return prefixes[level];
}

void aod_log(aod_log_level level, const char *fmt, ...)
{
    char line[2048], safe[4096];
    va_list ap;

    /* One line whatever the values in it (aod_error_escape). */
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%saodreport: %s\n", aod_log_prefix(level),
            aod_error_escape(line, safe, sizeof safe));
}
