/*
 * outfile.c - temporary file + rename, relative to a checked directory
 * descriptor, never through another user's link (see outfile.h).
 */
#include "base/outfile.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"

#define TEMP_TAG    ".aodtmp."
#define TEMP_BASE   180 /* bytes of the final name kept in a temporary name */
#define LINK_LEVELS 8   /* caller-owned links followed one after another */

struct aod_outfile {
    FILE *fp;    /* what is written: the named temporary file, or an unnamed one */
    int dirfd;   /* owned; -1 for standard output */
    char *name;  /* the final name in dirfd; NULL for standard output */
    char *temp;  /* the temporary name in dirfd; NULL when unnamed */
    char *shown; /* the output in messages */
    int to_dev;  /* 1: copied at commit to the device or pipe name */
    dev_t dev;   /* that device or pipe, as first seen */
    ino_t ino;
    int closed;
    int no_sync; /* the caller makes it durable (aod_outfile_defer_sync) */
};

static void free_handle(aod_outfile *o)
{
    if (o->fp)
        fclose(o->fp);
    if (o->dirfd >= 0)
        close(o->dirfd);
    free(o->name);
    free(o->temp);
    free(o->shown);
    free(o);
}

static aod_outfile *new_handle(const char *shown, aod_error *err)
{
    aod_outfile *o = calloc(1, sizeof *o);

    if (!o || !(o->shown = strdup(shown))) {
        free(o);
        aod_error_set(err, AOD_ERR_NOMEM, shown, 0, NULL, "out of memory");
        return NULL;
    }
    o->dirfd = -1;
    return o;
}

/* ------------------------------------------------------------ directories */

static int others_may_write(const struct stat *sb)
{
    return (sb->st_mode & (S_IWGRP | S_IWOTH)) != 0;
}

int aod_outfile_dir_check(int dirfd, const char *shown, aod_error *err)
{
    struct stat sb;
    uid_t me = geteuid();

    if (fstat(dirfd, &sb) != 0) {
        aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "cannot examine the directory: %s",
                      strerror(errno));
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "not a directory");
        return -1;
    }
    /* Ours, or root's and closed to everyone else: nobody can plant a link
     * or swap a file in it behind our back. */
    if (sb.st_uid == me || (sb.st_uid == 0 && !others_may_write(&sb)))
        return 0;
    aod_error_set(err, AOD_ERR_IO, shown, 0, NULL,
                  "refused: the directory is owned by another user (uid %ld)%s; reports are "
                  "written only into directories of the user running aodreport (or root's, "
                  "writable by nobody else)",
                  (long)sb.st_uid,
                  others_may_write(&sb) ? " and group or others may write to it" : "");
    return -1;
}

/* Splits path into its directory (a new string; "." when none) and its
 * last component (borrowed, in path).  Trailing slashes are not removed: a
 * path ending in '/' has an empty last component. */
static char *split(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');

    if (!slash) {
        *base = path;
        return strdup(".");
    }
    *base = slash + 1;
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* May a link found in the directory dirfd be followed?  Only one the caller
 * made, or root's in a directory nobody else may write to. */
static int link_trusted(int dirfd, const struct stat *link)
{
    struct stat d;

    if (link->st_uid == geteuid())
        return 1;
    return link->st_uid == 0 && fstat(dirfd, &d) == 0 && !others_may_write(&d) && d.st_uid == 0;
}

static void link_refused(const struct stat *sb, const char *shown, aod_error *err)
{
    aod_error_set(err, AOD_ERR_IO, shown, 0, NULL,
                  "refused: a symbolic link owned by another user (uid %ld) is not followed",
                  (long)sb->st_uid);
}

int aod_outfile_subdir(int dirfd, const char *name, int create, const char *shown, aod_error *err)
{
    struct stat sb;
    int fd;

    if (create && mkdirat(dirfd, name, 0700) != 0 && errno != EEXIST) {
        aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "cannot create the directory: %s",
                      strerror(errno));
        return -1;
    }
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode))
            aod_error_set(err, AOD_ERR_IO, shown, 0, NULL,
                          "is a symbolic link (owner uid %ld), not a directory: refused",
                          (long)sb.st_uid);
        else
            aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "cannot open the directory: %s",
                          strerror(e));
        return -1;
    }
    if (aod_outfile_dir_check(fd, shown, err) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int aod_outfile_dir_open(const char *path, int create, aod_error *err)
{
    const char *base;
    char *dir = split(path, &base);
    struct stat sb;
    int pfd = -1, fd = -1;

    if (!dir) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        return -1;
    }
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        /* "DIR/", "." : no last component to be a planted link */
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open the directory: %s",
                          strerror(errno));
        else if (aod_outfile_dir_check(fd, path, err) != 0) {
            close(fd);
            fd = -1;
        }
        goto out;
    }
    pfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0) {
        aod_error_set(err, AOD_ERR_IO, dir, 0, NULL, "cannot open the directory: %s",
                      strerror(errno));
        goto out;
    }
    if (create && mkdirat(pfd, base, 0700) != 0 && errno != EEXIST) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot create the directory: %s",
                      strerror(errno));
        goto out;
    }
    if (fstatat(pfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode)) {
        if (!link_trusted(pfd, &sb)) {
            link_refused(&sb, path, err);
            goto out;
        }
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open the directory: %s",
                      strerror(errno));
        goto out;
    }
    if (aod_outfile_dir_check(fd, path, err) != 0) {
        close(fd);
        fd = -1;
    }
out:
    if (pfd >= 0)
        close(pfd);
    free(dir);
    return fd;
}

/* ------------------------------------------------------- temporary files */

int aod_outfile_is_temp_name(const char *name)
{
    const char *tag, *p, *q;
    size_t n;

    /* ".NAME.aodtmp.PID.XXXXXX" */
    if (name[0] != '.')
        return 0;
    tag = NULL;
    for (p = strstr(name + 1, TEMP_TAG); p; p = strstr(p + 1, TEMP_TAG))
        tag = p;
    if (!tag || tag == name + 1)
        return 0;
    p = tag + strlen(TEMP_TAG);
    for (q = p; *q >= '0' && *q <= '9'; q++)
        ;
    if (q == p || q - p > 10 || *q != '.')
        return 0;
    q++;
    for (n = 0; q[n]; n++)
        if (!((q[n] >= 'a' && q[n] <= 'z') || (q[n] >= 'A' && q[n] <= 'Z') ||
              (q[n] >= '0' && q[n] <= '9')))
            return 0;
    return n == 6;
}

static long temp_pid(const char *name)
{
    const char *tag = NULL, *p;

    for (p = strstr(name + 1, TEMP_TAG); p; p = strstr(p + 1, TEMP_TAG))
        tag = p;
    return tag ? strtol(tag + strlen(TEMP_TAG), NULL, 10) : 0;
}

/* 1 when pid has ended but nobody reaped it yet (a killed batch worker
 * whose parent was killed too, where nothing reaps orphans): its temporary
 * files are as abandoned as a vanished writer's.  Linux only. */
static int is_zombie(pid_t pid)
{
#ifdef __linux__
    char path[64], buf[512];
    const char *paren;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    /* "pid (comm) S ...": the state follows the last ')' */
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
#else
    (void)pid;
    return 0;
#endif
}

long aod_outfile_clean_temps(int dirfd)
{
    struct dirent *de;
    time_t now = time(NULL);
    long removed = 0;
    DIR *d;
    int fd = dup(dirfd);

    if (fd < 0)
        return 0;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    /* The dup shares dirfd's offset: an earlier listing may have left it at
     * the end. */
    rewinddir(d);
    while ((de = readdir(d))) {
        struct stat sb;
        long pid;
        int gone;
        if (!aod_outfile_is_temp_name(de->d_name))
            continue;
        /* Only a plain file of ours: never a link, another user's file, or
         * a hard link to something else. */
        if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode) ||
            sb.st_uid != geteuid() || sb.st_nlink != 1)
            continue;
        pid = temp_pid(de->d_name);
        gone = pid > 0 && pid <= INT_MAX && (pid_t)pid != getpid() &&
               ((kill((pid_t)pid, 0) != 0 && errno == ESRCH) || is_zombie((pid_t)pid));
        if (!gone && now - sb.st_mtime < AOD_OUTFILE_STALE_SECONDS)
            continue;
        if (unlinkat(dirfd, de->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/* Creates ".NAME.aodtmp.PID.XXXXXX" in o->dirfd; fills o->temp, o->fp. */
static int make_temp(aod_outfile *o, aod_error *err)
{
    static unsigned long counter;
    aod_buf name;
    int tries, fd = -1;

    aod_buf_init(&name, 1024);
    for (tries = 0; tries < 100 && fd < 0; tries++) {
        struct timespec ts;
        unsigned long v;
        char x[7];
        int i;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (unsigned long)ts.tv_nsec * 2654435761UL ^ (unsigned long)getpid() * 40503UL ^
            ++counter * 2246822519UL ^ (unsigned long)ts.tv_sec;
        for (i = 0; i < 6; i++, v /= 62)
            x[i] = alnum[v % 62];
        x[6] = '\0';
        aod_buf_reset(&name);
        if (aod_buf_printf(&name, ".%.*s%s%ld.%s", TEMP_BASE, o->name, TEMP_TAG, (long)getpid(),
                           x) != 0) {
            aod_error_set(err, AOD_ERR_NOMEM, o->shown, 0, NULL, "out of memory");
            aod_buf_free(&name);
            return -1;
        }
        fd = openat(o->dirfd, aod_buf_str(&name),
                    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, S_IRUSR | S_IWUSR);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot create the output file: %s",
                      strerror(errno));
        aod_buf_free(&name);
        return -1;
    }
    o->temp = aod_buf_take(&name, NULL);
    /* 0600 whatever the umask; w+ so the bytes can be read back. */
    if (!o->temp || fchmod(fd, S_IRUSR | S_IWUSR) != 0 || !(o->fp = fdopen(fd, "w+b"))) {
        aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot open the output file: %s",
                      o->temp ? strerror(errno) : "out of memory");
        if (o->temp)
            unlinkat(o->dirfd, o->temp, 0);
        close(fd);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- opening */

/* Sets up o for name in o->dirfd, as found by sb (or missing when found is
 * 0).  follow: what a trusted link may become (only for report -o). */
static int open_in_dir(aod_outfile *o, int found, const struct stat *sb, aod_error *err)
{
    if (found && S_ISDIR(sb->st_mode)) {
        aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "is a directory, not a file to write");
        return -1;
    }
    if (found && !S_ISREG(sb->st_mode)) {
        /* A device or a named pipe is written like standard output, but
         * only one of ours: another user's pipe could block the run or
         * take the report. */
        if (sb->st_uid != geteuid() && sb->st_uid != 0) {
            aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL,
                          "refused: not a regular file, and owned by another user (uid %ld)",
                          (long)sb->st_uid);
            return -1;
        }
        o->to_dev = 1;
        o->dev = sb->st_dev;
        o->ino = sb->st_ino;
        o->fp = tmpfile();
        if (!o->fp) {
            aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot create a temporary file: %s",
                          strerror(errno));
            return -1;
        }
        return 0;
    }
    return make_temp(o, err);
}

aod_outfile *aod_outfile_openat(int dirfd, const char *name, const char *shown, aod_error *err)
{
    aod_outfile *o = new_handle(shown, err);
    struct stat sb;
    int found;

    if (!o)
        return NULL;
    o->dirfd = dup(dirfd);
    o->name = strdup(name);
    if (o->dirfd < 0 || !o->name) {
        aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "cannot open the output: %s",
                      strerror(errno));
        goto fail;
    }
    fcntl(o->dirfd, F_SETFD, FD_CLOEXEC);
    /* A link under name is replaced by the rename, never written through. */
    found = fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
    if (found && !S_ISREG(sb.st_mode) && !S_ISLNK(sb.st_mode)) {
        aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "not a regular file: cannot be replaced");
        goto fail;
    }
    if (make_temp(o, err) != 0)
        goto fail;
    return o;
fail:
    free_handle(o);
    return NULL;
}

aod_outfile *aod_outfile_open(const char *path, aod_error *err)
{
    aod_outfile *o;
    char *resolved = NULL, *dir = NULL;
    const char *base;
    struct stat sb;
    int level, found = 0;

    if (!path || strcmp(path, "-") == 0) {
        o = new_handle("<stdout>", err);
        if (!o)
            return NULL;
        o->fp = tmpfile();
        if (!o->fp) {
            aod_error_set(err, AOD_ERR_IO, "<stdout>", 0, NULL,
                          "cannot create a temporary file: %s", strerror(errno));
            free_handle(o);
            return NULL;
        }
        return o;
    }
    o = new_handle(path, err);
    if (!o)
        return NULL;
    /* A link stays one and the file it names is written (a "latest" link,
     * /dev/stdout): only a link the caller could have made is followed. */
    for (level = 0;; level++) {
        if (o->dirfd >= 0)
            close(o->dirfd);
        free(dir);
        dir = split(path, &base);
        if (!dir) {
            aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
            goto fail;
        }
        if (!*base) {
            aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL,
                          "is a directory, not a file to write");
            goto fail;
        }
        /* The directory itself is not reached through another user's link
         * either (its parents are the site's: doc/operations.md). */
        o->dirfd = aod_outfile_dir_open(dir, 0, err);
        if (o->dirfd < 0)
            goto fail;
        found = fstatat(o->dirfd, base, &sb, AT_SYMLINK_NOFOLLOW) == 0;
        if (!found || !S_ISLNK(sb.st_mode))
            break;
        if (!link_trusted(o->dirfd, &sb)) {
            link_refused(&sb, o->shown, err);
            goto fail;
        }
        if (level == LINK_LEVELS) {
            aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot follow the link: %s",
                          strerror(ELOOP));
            goto fail;
        }
        free(resolved);
        resolved = realpath(path, NULL);
        if (!resolved) {
            aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot follow the link: %s",
                          strerror(errno));
            goto fail;
        }
        path = resolved;
    }
    o->name = strdup(base);
    if (!o->name) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        goto fail;
    }
    aod_outfile_clean_temps(o->dirfd);
    if (open_in_dir(o, found, &sb, err) != 0)
        goto fail;
    free(dir);
    free(resolved);
    return o;
fail:
    free(dir);
    free(resolved);
    free_handle(o);
    return NULL;
}

/* -------------------------------------------------------------- finishing */

FILE *aod_outfile_stream(aod_outfile *o)
{
    return o->fp;
}

int aod_outfile_read_fd(const aod_outfile *o)
{
    return o->fp ? fileno(o->fp) : -1;
}

void aod_outfile_defer_sync(aod_outfile *o)
{
    o->no_sync = 1;
}

int aod_outfile_sync_fs(int dirfd, const char *shown, aod_error *err)
{
#ifdef __linux__
    if (syncfs(dirfd) != 0) {
        aod_error_set(err, AOD_ERR_IO, shown, 0, NULL, "cannot sync the output files: %s",
                      strerror(errno));
        return -1;
    }
#else
    (void)dirfd;
    (void)shown;
    (void)err;
    sync();
#endif
    return 0;
}

int aod_outfile_close(aod_outfile *o, aod_error *err)
{
    int e = 0;

    if (o->closed)
        return 0;
    if (fflush(o->fp) != 0 || ferror(o->fp))
        e = errno ? errno : EIO;
    else if (o->temp && !o->no_sync && fsync(fileno(o->fp)) != 0)
        e = errno;
    if (e) {
        aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot write the output file: %s",
                      strerror(e));
        return -1;
    }
    o->closed = 1;
    return 0;
}

/* Copies the unnamed temporary file to fd; 0 or an errno. */
static int copy_to(aod_outfile *o, int fd)
{
    char buf[65536];
    off_t off = 0;

    for (;;) {
        ssize_t n = pread(fileno(o->fp), buf, sizeof buf, off), done = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return 0;
        while (done < n) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return errno;
            done += w;
        }
        off += n;
    }
}

static int commit_stream(aod_outfile *o, aod_error *err)
{
    struct stat sb;
    int fd = 1, e;

    if (o->to_dev) {
        fd = openat(o->dirfd, o->name, O_WRONLY | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot open the output: %s",
                          strerror(errno));
            return -1;
        }
        if (fstat(fd, &sb) != 0 || sb.st_dev != o->dev || sb.st_ino != o->ino) {
            aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL,
                          "refused: replaced by another file while the report was made");
            close(fd);
            return -1;
        }
    } else if (fflush(stdout) != 0) {
        e = errno;
        aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "write error: %s", strerror(e));
        return -1;
    }
    e = copy_to(o, fd);
    if (o->to_dev && close(fd) != 0 && !e)
        e = errno;
    if (e) {
        aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "write error: %s", strerror(e));
        return -1;
    }
    return 0;
}

int aod_outfile_commit(aod_outfile *o, aod_error *err)
{
    int rc = -1, e;

    if (aod_outfile_close(o, err) != 0)
        goto out;
    if (!o->temp) {
        rc = commit_stream(o, err);
        goto out;
    }
    e = fclose(o->fp) != 0 ? errno : 0;
    o->fp = NULL;
    if (e || renameat(o->dirfd, o->temp, o->dirfd, o->name) != 0) {
        aod_error_set(err, AOD_ERR_IO, o->shown, 0, NULL, "cannot write the output file: %s",
                      strerror(e ? e : errno));
        goto out;
    }
    free(o->temp);
    o->temp = NULL;
    /* The new name durable too, as far as the file system allows: the
     * file is in place and whole either way. */
    if (!o->no_sync)
        (void)fsync(o->dirfd);
    rc = 0;
out:
    if (o->temp)
        unlinkat(o->dirfd, o->temp, 0);
    free_handle(o);
    return rc;
}

void aod_outfile_abort(aod_outfile *o)
{
    if (!o)
        return;
    if (o->temp) {
        if (o->fp)
            fclose(o->fp);
        o->fp = NULL;
        unlinkat(o->dirfd, o->temp, 0);
    }
    free_handle(o);
}
