/* outfile.c - temporary file + rename (see outfile.h). */
#include "base/outfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"

struct aod_outfile {
    FILE *fp;
    char *path; /* final name; NULL for stdout */
    char *temp; /* temporary name; NULL for stdout */
};

static void free_handle(aod_outfile *o)
{
    free(o->path);
    free(o->temp);
    free(o);
}

aod_outfile *aod_outfile_open(const char *path, aod_error *err)
{
    aod_outfile *o = calloc(1, sizeof *o);
    aod_buf name;
    const char *slash;
    char *resolved = NULL;
    struct stat sb;
    int fd;

    if (!o) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        return NULL;
    }
    if (!path || strcmp(path, "-") == 0) {
        o->fp = stdout;
        return o;
    }
    /* A symbolic link stays one: the file it names is replaced (/dev/stdout
     * when standard output is a file, a "latest" link an operator keeps). */
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        resolved = realpath(path, NULL);
        if (!resolved) {
            aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot follow the link: %s",
                          strerror(errno));
            free_handle(o);
            return NULL;
        }
        path = resolved;
    }
    /* Refused before any work: a directory cannot be written, and a rename
     * over a device or a pipe would replace it with a regular file. */
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL,
                      S_ISDIR(sb.st_mode) ? "is a directory, not a file to write"
                                          : "not a regular file: cannot be replaced");
        free(resolved);
        free_handle(o);
        return NULL;
    }
    aod_buf_init(&name, 4096);
    slash = strrchr(path, '/');
    /* dir/.name.XXXXXX: same directory, so rename() is atomic. */
    if ((slash ? aod_buf_add(&name, path, (size_t)(slash - path + 1)) : 0) != 0 ||
        aod_buf_printf(&name, ".%s.XXXXXX", slash ? slash + 1 : path) != 0) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "output path too long");
        free(resolved);
        free_handle(o);
        return NULL;
    }
    o->temp = aod_buf_take(&name, NULL);
    o->path = strdup(path);
    if (!o->temp || !o->path) {
        aod_error_set(err, AOD_ERR_NOMEM, path, 0, NULL, "out of memory");
        free(resolved);
        free_handle(o);
        return NULL;
    }
    free(resolved); /* path pointed into it until here */
    fd = mkstemp(o->temp);
    if (fd < 0) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot create the output file: %s",
                      strerror(errno));
        free_handle(o);
        return NULL;
    }
    /* mkstemp makes 0600 already; say so explicitly, umask or not. */
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0 || !(o->fp = fdopen(fd, "wb"))) {
        aod_error_set(err, AOD_ERR_IO, path, 0, NULL, "cannot open the output file: %s",
                      strerror(errno));
        close(fd);
        unlink(o->temp);
        free_handle(o);
        return NULL;
    }
    return o;
}

FILE *aod_outfile_stream(aod_outfile *o)
{
    return o->fp;
}

const char *aod_outfile_temp_path(const aod_outfile *o)
{
    return o->temp;
}

int aod_outfile_close(aod_outfile *o, aod_error *err)
{
    int failed;

    if (!o->temp || !o->fp)
        return 0;
    failed = fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0;
    if (fclose(o->fp) != 0)
        failed = 1;
    o->fp = NULL;
    if (failed) {
        aod_error_set(err, AOD_ERR_IO, o->path, 0, NULL, "cannot write the output file: %s",
                      strerror(errno));
        return -1;
    }
    return 0;
}

int aod_outfile_commit(aod_outfile *o, aod_error *err)
{
    int failed;

    if (!o->temp) {
        failed = fflush(o->fp) != 0 || ferror(o->fp);
        if (failed)
            aod_error_set(err, AOD_ERR_IO, "<stdout>", 0, NULL, "write error: %s", strerror(errno));
        free_handle(o);
        return failed ? -1 : 0;
    }
    failed = 0;
    if (o->fp) {
        failed = fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0;
        if (fclose(o->fp) != 0)
            failed = 1;
        o->fp = NULL;
    }
    if (failed || rename(o->temp, o->path) != 0) {
        aod_error_set(err, AOD_ERR_IO, o->path, 0, NULL, "cannot write the output file: %s",
                      strerror(errno));
        unlink(o->temp);
        free_handle(o);
        return -1;
    }
    free_handle(o);
    return 0;
}

void aod_outfile_abort(aod_outfile *o)
{
    if (!o)
        return;
    if (o->temp) {
        if (o->fp)
            fclose(o->fp);
        unlink(o->temp);
    } else {
        fflush(o->fp);
    }
    free_handle(o);
}
