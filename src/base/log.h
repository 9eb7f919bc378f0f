/*
 * log.h - messages on standard error, with a syslog priority when the
 * journal reads them.
 *
 * Under systemd, a service's standard error is a stream to the journal,
 * which takes a leading "<N>" as the line's priority (sd-daemon(3)); the
 * service manager says so by setting JOURNAL_STREAM to the device and inode
 * of that stream.  Every message of the program goes through here, so that
 * `journalctl -p warning` finds skipped rows and failures, and a terminal or
 * cron mail sees the plain line.
 */
#ifndef AOD_LOG_H
#define AOD_LOG_H

/* syslog(3) priorities. */
typedef enum aod_log_level {
    AOD_LOG_ERR = 3,     /* the command failed, or a file was not loaded */
    AOD_LOG_WARNING = 4, /* something was left out: a skipped row, an unreadable record */
    AOD_LOG_NOTICE = 5,  /* worth knowing: no records for a patient */
    AOD_LOG_INFO = 6     /* progress */
} aod_log_level;

/* "<N>" for level when standard error is the journal, else "" (static). */
const char *aod_log_prefix(aod_log_level level);

/* Prints prefix, "aodreport: " and the message, escaped as
 * aod_error_escape() does (one line, no control or bidi characters), and a
 * newline, on standard error. */
void aod_log(aod_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
