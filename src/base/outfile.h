/*
 * outfile.h - output files written whole or not at all, and never through
 * another user's link.
 *
 * A report file is written to a temporary file beside its final name
 * (created with mode 0600, whatever the umask) and renamed into place only
 * when complete, flushed and synced.  On any failure the temporary file is
 * removed: nobody ever sees half a report, and a portal that picks up files
 * by name never uploads a partial one.  "-" (or NULL) means standard output,
 * where nothing can be taken back: it is written from an unnamed temporary
 * copy at commit, as are devices and named pipes (a rename would replace
 * them with a regular file).
 *
 * The program runs as root from cron into directories other users may see,
 * so everything below an output directory is reached relative to a
 * directory descriptor with O_NOFOLLOW (openat, mkdirat, fstatat, renameat,
 * unlinkat).  The rules, for the caller's effective uid U:
 *   - a directory written into is owned by U, or by root and writable by
 *     nobody else (no group or other write bit); anything else is refused
 *     (a sticky or group/world-writable directory of another user is where
 *     links get planted);
 *   - the final name of `report -o FILE` may be a symbolic link only when U
 *     owns it (or root does, in a directory only root may write); it is
 *     then resolved and the rules apply to its target.  In batch
 *     directories (aod_outfile_openat) no link is ever followed: one under
 *     a file's name is replaced by the rename;
 *   - an existing device or named pipe is written only when U or root owns
 *     it, and is opened without following links and without blocking on a
 *     pipe nobody reads;
 *   - temporary files are ".NAME.aodtmp.PID.XXXXXX": recognisable, and the
 *     next run removes those a killed run left (aod_outfile_clean_temps).
 */
#ifndef AOD_OUTFILE_H
#define AOD_OUTFILE_H

#include <stdio.h>

#include "base/error.h"

typedef struct aod_outfile aod_outfile;

/* A temporary file older than this (seconds) is stale even when a process
 * with its writer's pid exists (pids are reused). */
#define AOD_OUTFILE_STALE_SECONDS (24L * 3600)

/* Opens a new output for path ("-" or NULL: standard output), first
 * removing stale temporary files from its directory.  Returns a handle to
 * finish with exactly one of aod_outfile_commit() or aod_outfile_abort(), or
 * NULL with err set (AOD_ERR_IO: a directory, an unsafe directory or link,
 * another user's device or pipe; nothing is created then). */
aod_outfile *aod_outfile_open(const char *path, aod_error *err);

/* Opens a new output for the regular file name (one path component) in the
 * directory dirfd (borrowed; checked with aod_outfile_dir_check() by the
 * caller).  shown (borrowed, copied) names it in messages.  A link under
 * name is replaced by the commit's rename, never followed; a directory, a
 * device or a pipe is refused. */
aod_outfile *aod_outfile_openat(int dirfd, const char *name, const char *shown, aod_error *err);

/* The stream to write to (borrowed; do not fclose it). */
FILE *aod_outfile_stream(aod_outfile *o);

/* Flushes (and syncs) the output without publishing it, so that its finished
 * bytes can be read back through aod_outfile_read_fd() before anyone sees
 * them.  Only aod_outfile_commit() or aod_outfile_abort() may follow.
 * Returns 0, or -1 with err set naming the file (the handle stays open for
 * abort). */
int aod_outfile_close(aod_outfile *o, aod_error *err);

/* After aod_outfile_close(): a descriptor (borrowed) from which the bytes
 * written can be read with pread() from offset 0. */
int aod_outfile_read_fd(const aod_outfile *o);

/* Publishes: renames the temporary file into place and syncs the directory,
 * or copies the bytes to standard output, the device or the pipe; frees o.
 * Returns 0, or -1 with err set naming the file, in which case the
 * temporary file is gone too. */
int aod_outfile_commit(aod_outfile *o, aod_error *err);

/* The caller takes over making o durable: aod_outfile_close() then does
 * not fsync the file, nor aod_outfile_commit() its directory.  A batch
 * writes a group of reports and syncs them all at once with
 * aod_outfile_sync_fs() (doc/operations.md, "Durability").  Call before
 * aod_outfile_close(). */
void aod_outfile_defer_sync(aod_outfile *o);

/* Writes to disk what is cached of the file system that holds the open
 * directory dirfd (syncfs(2) on Linux; sync() elsewhere): the data and
 * names of every file written there.  shown names it in messages.  Returns
 * 0, or -1 with err set (AOD_ERR_IO). */
int aod_outfile_sync_fs(int dirfd, const char *shown, aod_error *err);

/* Discards the output and frees o.  Accepts NULL. */
void aod_outfile_abort(aod_outfile *o);

/* Checks the open directory dirfd against the rules above; shown (borrowed)
 * names it.  Returns 0, or -1 with err set (AOD_ERR_IO). */
int aod_outfile_dir_check(int dirfd, const char *shown, aod_error *err);

/* Opens the directory at path (created 0700 when missing and create is
 * set) and checks it.  Its last component may be a link the caller owns.
 * Returns a new descriptor (close it), or -1 with err set. */
int aod_outfile_dir_open(const char *path, int create, aod_error *err);

/* Opens the directory name (one component) in dirfd, creating it 0700 when
 * missing and create is set, never through a link, and checks it.  Returns
 * a new descriptor, or -1 with err set (shown names it). */
int aod_outfile_subdir(int dirfd, const char *name, int create, const char *shown, aod_error *err);

/* 1 when name has the shape of our temporary files. */
int aod_outfile_is_temp_name(const char *name);

/* Removes from dirfd the temporary files of ours a killed run left: names
 * of our shape, regular files owned by the caller with one link, whose
 * writer is gone or which are older than AOD_OUTFILE_STALE_SECONDS.
 * Returns how many were removed. */
long aod_outfile_clean_temps(int dirfd);

#endif
