/*
 * secretfile.c - opening a file that holds a secret (see secretfile.h).
 */
#include "base/secretfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *aod_secret_open(const char *path, const aod_secret_kind *kind, aod_error *err)
{
    struct stat sb;
    FILE *f;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0) {
        aod_error_set(err, errno == ENOENT || errno == EACCES ? kind->missing : kind->refused, path,
                      0, kind->field, "cannot open %s: %s", kind->what,
                      errno == ELOOP ? "it is a symbolic link (give the file itself)"
                                     : strerror(errno));
        return NULL;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        aod_error_set(err, kind->refused, path, 0, kind->field, "%s is not a regular file",
                      kind->what);
        goto fail;
    }
    if (sb.st_uid != geteuid() && sb.st_uid != 0) {
        aod_error_set(err, kind->refused, path, 0, kind->field,
                      "%s is owned by another user (uid %ld): make it yours (or root's), mode "
                      "0600",
                      kind->what, (long)sb.st_uid);
        goto fail;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        aod_error_set(err, kind->refused, path, 0, kind->field,
                      "%s is readable or writable by others (mode %04o): chmod 600 it", kind->what,
                      (unsigned)(sb.st_mode & 07777));
        goto fail;
    }
    f = fdopen(fd, "rb");
    if (!f) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        goto fail;
    }
    return f;
fail:
    close(fd);
    return NULL;
}
