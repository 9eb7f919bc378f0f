/*
 * test_outfile.c - the temporary files a killed run leaves, and the
 * deferred sync of a batch group (src/base/outfile.h).
 *
 * A batch lists its output directory more than once through descriptors
 * that share one offset, and a killed worker whose parent was killed too
 * may stay a zombie where nothing reaps orphans: both once kept the next
 * run from removing what the killed one left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "base/outfile.h"

typedef struct fixture {
    char dir[64];
    int fd;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/aod-test-outfile.XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    f->fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    *state = f;
    return f->fd >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];

    close(f->fd);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* A process that has ended: reaped (gone) or not (a zombie). */
static pid_t ended_child(int reap)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    if (reap) {
        assert_int_equal(waitpid(pid, NULL, 0), pid);
    } else {
        /* wait until it has exited, without reaping it */
        siginfo_t si;
        memset(&si, 0, sizeof si);
        assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
    }
    return pid;
}

/* Creates a temporary file of ours written by pid. */
static void make_temp(const fixture *f, const char *name, pid_t pid)
{
    char path[256];
    int fd;

    snprintf(path, sizeof path, "%s/.%s.aodtmp.%ld.AbC123", f->dir, name, (long)pid);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
}

static long count_temps(const fixture *f)
{
    char cmd[160];
    FILE *p;
    long n = -1;

    snprintf(cmd, sizeof cmd, "find '%s' -name '.*.aodtmp.*' | wc -l", f->dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%ld", &n), 1);
    pclose(p);
    return n;
}

static void test_clean_twice_through_one_descriptor(void **state)
{
    fixture *f = *state;

    make_temp(f, "a.csv", ended_child(1));
    assert_int_equal(aod_outfile_clean_temps(f->fd), 1);
    /* The first listing left the descriptor's offset at the end. */
    make_temp(f, "b.csv", ended_child(1));
    assert_int_equal(aod_outfile_clean_temps(f->fd), 1);
    assert_int_equal(count_temps(f), 0);
}

static void test_zombie_writer_is_gone(void **state)
{
    fixture *f = *state;
    pid_t zombie = ended_child(0);

    make_temp(f, "z.pdf", zombie);
    assert_int_equal(aod_outfile_clean_temps(f->fd), 1);
    assert_int_equal(count_temps(f), 0);
    assert_int_equal(waitpid(zombie, NULL, 0), zombie);
}

static void test_live_writer_is_kept(void **state)
{
    fixture *f = *state;
    int pipefd[2];
    pid_t pid;
    char c = 0;

    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[1]);
        /* lives until the parent closes the pipe */
        while (read(pipefd[0], &c, 1) > 0)
            ;
        _exit(0);
    }
    close(pipefd[0]);
    make_temp(f, "live.csv", pid);
    assert_int_equal(aod_outfile_clean_temps(f->fd), 0);
    assert_int_equal(count_temps(f), 1);
    close(pipefd[1]);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
}

static void test_deferred_sync(void **state)
{
    fixture *f = *state;
    aod_error err;
    aod_outfile *o;
    char path[160], buf[16] = "";
    FILE *in;

    aod_error_init(&err);
    o = aod_outfile_openat(f->fd, "r.csv", "r.csv", &err);
    assert_non_null(o);
    aod_outfile_defer_sync(o);
    assert_true(fputs("a,b\n", aod_outfile_stream(o)) >= 0);
    assert_int_equal(aod_outfile_close(o, &err), 0);
    assert_int_equal(count_temps(f), 1); /* not published yet */
    assert_int_equal(aod_outfile_sync_fs(f->fd, f->dir, &err), 0);
    assert_int_equal(aod_outfile_commit(o, &err), 0);
    assert_int_equal(count_temps(f), 0);
    snprintf(path, sizeof path, "%s/r.csv", f->dir);
    in = fopen(path, "r");
    assert_non_null(in);
    assert_non_null(fgets(buf, sizeof buf, in));
    fclose(in);
    assert_string_equal(buf, "a,b\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean_twice_through_one_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zombie_writer_is_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_writer_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_sync, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
