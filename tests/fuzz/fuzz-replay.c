/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fuzz-replay.c - a harness's seed corpus and regressions as a TAP test, no libFuzzer needed.
 *
 * Owns: main() of the fuzz-replay-* programs, which link one harness
 * (FUZZ_HARNESS names it) with any compiler.  Without arguments it runs the
 * harness on every file of tests/fuzz/corpus/HARNESS and
 * tests/fuzz/regressions/HARNESS (below $IB_TOP_SRCDIR, else the source tree
 * it was built from): each file in a child of its own, so that a crash is
 * one "not ok" and the others still run, then all of them in one process
 * in order, as libFuzzer would run them one after another.  With arguments
 * it runs the files and directories named, in one process, and stops at
 * the first crash (for a debugger).
 *
 * tests/fuzz/regressions/known-failures lists "HARNESS/FILE reason" lines
 * for findings not fixed yet: those are TODO tests (not ok # TODO) and are
 * left out of the one-process run; once fixed they pass, the TAP driver
 * counts that as an unexpected pass, and the line must go.
 * Must never: write into the source tree.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

#ifndef FUZZ_HARNESS
#error "FUZZ_HARNESS must name the harness"
#endif
#ifndef FUZZ_TOP_SRCDIR
#define FUZZ_TOP_SRCDIR "."
#endif

#define MAX_FILES 4096
#define MAX_FILE_SIZE (1024 * 1024)

typedef struct Input {
        char *path;
        char *name;                     /* "corpus/fuzz-dispatch/hello" */
        char *todo;                     /* the known-failures reason, or NULL */
} Input;

static Input inputs[MAX_FILES];
static size_t n_inputs;

static int cmp_input(const void *a, const void *b) {
        return strcmp(((const Input *) a)->path, ((const Input *) b)->path);
}

static void add_file(const char *path, const char *name) {
        if (n_inputs >= MAX_FILES) {
                fprintf(stderr, "too many inputs\n");
                exit(EXIT_FAILURE);
        }
        inputs[n_inputs].path = strdup(path);
        inputs[n_inputs].name = strdup(name);
        if (!inputs[n_inputs].path || !inputs[n_inputs].name)
                exit(EXIT_FAILURE);
        n_inputs++;
}

/* Adds dir's regular files (not its dot files), named "label/FILE"; a missing dir adds nothing. */
static void add_dir(const char *dir, const char *label) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t first = n_inputs;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[4096], name[512];
                struct stat st;

                if (de->d_name[0] == '.')
                        continue;
                (void) snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                (void) snprintf(name, sizeof(name), "%s/%s", label, de->d_name);
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                        add_file(path, name);
        }
        (void) closedir(d);
        qsort(inputs + first, n_inputs - first, sizeof(Input), cmp_input);
}

static void read_known_failures(const char *top) {
        char path[4096], line[1024];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/tests/fuzz/regressions/known-failures", top);
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *reason;

                line[strcspn(line, "\n")] = '\0';
                if (line[0] == '#' || strncmp(line, FUZZ_HARNESS "/", strlen(FUZZ_HARNESS "/")) != 0)
                        continue;
                reason = line + strcspn(line, " \t");
                if (*reason)
                        *reason++ = '\0';
                reason += strspn(reason, " \t");
                for (size_t i = 0; i < n_inputs; i++)
                        if (strncmp(inputs[i].name, "regressions/", strlen("regressions/")) == 0 &&
                            strcmp(inputs[i].name + strlen("regressions/"), line) == 0)
                                inputs[i].todo = strdup(*reason ? reason : "known failure");
        }
        (void) fclose(f);
}

static void run_one(const Input *in) {
        static uint8_t buf[MAX_FILE_SIZE];
        ssize_t n;
        int fd;

        fd = open(in->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "cannot open %s: %m\n", in->path);
                exit(EXIT_FAILURE);
        }
        n = read(fd, buf, sizeof(buf));
        (void) close(fd);
        if (n < 0) {
                fprintf(stderr, "cannot read %s: %m\n", in->path);
                exit(EXIT_FAILURE);
        }
        (void) LLVMFuzzerTestOneInput(buf, (size_t) n);
}

/* Runs inputs [first, first + n) (TODO ones skipped when skip_todo) in a child; its wait status. */
static int run_child(size_t first, size_t n, bool skip_todo) {
        pid_t pid;
        int status;

        fflush(stdout);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "fork() failed: %m\n");
                exit(EXIT_FAILURE);
        }
        if (pid == 0) {
                /* the harness's messages go to the log, not into the TAP stream */
                (void) dup2(STDERR_FILENO, STDOUT_FILENO);
                for (size_t i = first; i < first + n; i++)
                        if (!skip_todo || !inputs[i].todo)
                                run_one(&inputs[i]);
                exit(EXIT_SUCCESS);     /* not _exit(): LeakSanitizer checks at exit */
        }
        if (waitpid(pid, &status, 0) < 0) {
                fprintf(stderr, "waitpid() failed: %m\n");
                exit(EXIT_FAILURE);
        }
        return status;
}

static const char *describe(int status, char *buf, size_t size) {
        if (WIFSIGNALED(status))
                (void) snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
                (void) snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
        return buf;
}

static int replay_tap(void) {
        unsigned failed = 0;
        int status;
        char why[128];

        printf("1..%zu\n", n_inputs + 1);
        for (size_t i = 0; i < n_inputs; i++) {
                bool ok;

                status = run_child(i, 1, /* skip_todo= */ false);
                ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                if (inputs[i].todo)
                        printf("%s %zu - %s # TODO %s\n", ok ? "ok" : "not ok", i + 1, inputs[i].name,
                               inputs[i].todo);
                else {
                        printf("%s %zu - %s\n", ok ? "ok" : "not ok", i + 1, inputs[i].name);
                        if (!ok) {
                                printf("# %s: %s (run it: %s %s)\n", inputs[i].name, describe(status, why, sizeof(why)),
                                       FUZZ_HARNESS, inputs[i].path);
                                failed++;
                        }
                }
        }
        status = run_child(0, n_inputs, /* skip_todo= */ true);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                printf("ok %zu - every input in one process\n", n_inputs + 1);
        else {
                printf("not ok %zu - every input in one process: %s\n", n_inputs + 1,
                       describe(status, why, sizeof(why)));
                failed++;
        }
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        const char *top = getenv("IB_TOP_SRCDIR");
        char dir[4096];

        if (argc > 1) {
                for (int i = 1; i < argc; i++) {
                        struct stat st;

                        if (stat(argv[i], &st) < 0) {
                                fprintf(stderr, "%s: %m\n", argv[i]);
                                return EXIT_FAILURE;
                        }
                        if (S_ISDIR(st.st_mode))
                                add_dir(argv[i], argv[i]);
                        else
                                add_file(argv[i], argv[i]);
                }
                for (size_t i = 0; i < n_inputs; i++) {
                        fprintf(stderr, "%s: running %s\n", FUZZ_HARNESS, inputs[i].path);
                        run_one(&inputs[i]);
                }
                fprintf(stderr, "%s: %zu inputs, no finding\n", FUZZ_HARNESS, n_inputs);
                return EXIT_SUCCESS;
        }

        if (!top || !*top)
                top = FUZZ_TOP_SRCDIR;
        (void) snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", top, FUZZ_HARNESS);
        add_dir(dir, "corpus/" FUZZ_HARNESS);
        (void) snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/%s", top, FUZZ_HARNESS);
        add_dir(dir, "regressions/" FUZZ_HARNESS);
        if (n_inputs == 0) {
                printf("1..0 # SKIP no inputs below %s/tests/fuzz\n", top);
                return EXIT_SUCCESS;
        }
        read_known_failures(top);
        return replay_tap();
}
