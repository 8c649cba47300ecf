/* tests/vm/runas.c - iommu-broker VM harness: run a command as another user.
 * Owns: the guest's way to start the unprivileged clients (busybox su needs a
 * password database and a PAM-less login dance; this is simpler).
 *
 *   runas UID GID CMD [ARGS...]
 *
 * Drops all supplementary groups, sets real/effective/saved GID then UID, checks
 * that root cannot be regained, and execvp()s CMD.  Exit status: 2 on usage
 * error, 125 if dropping privileges failed, 126/127 if CMD could not be run
 * (like env(1)), otherwise whatever CMD returns.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int parse_id(const char *s, unsigned long *out)
{
        char *end;

        if (*s < '0' || *s > '9')
                return -1;
        errno = 0;
        *out = strtoul(s, &end, 10);
        if (errno || *end || *out >= UINT_MAX)
                return -1;
        return 0;
}

int main(int argc, char **argv)
{
        unsigned long uid, gid;
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        if (argc < 4 || parse_id(argv[1], &uid) || parse_id(argv[2], &gid)) {
                fprintf(stderr, "usage: runas UID GID CMD [ARGS...]\n");
                return 2;
        }
        if (setgroups(0, NULL) != 0) {
                fprintf(stderr, "runas: setgroups: %s\n", strerror(errno));
                return 125;
        }
        if (setresgid(gid, gid, gid) != 0) {
                fprintf(stderr, "runas: setresgid(%lu): %s\n", gid, strerror(errno));
                return 125;
        }
        if (setresuid(uid, uid, uid) != 0) {
                fprintf(stderr, "runas: setresuid(%lu): %s\n", uid, strerror(errno));
                return 125;
        }
        if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 ||
            ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
                fprintf(stderr, "runas: credentials did not stick\n");
                return 125;
        }
        if (uid != 0 && setuid(0) == 0) {
                fprintf(stderr, "runas: could regain root after dropping it\n");
                return 125;
        }
        execvp(argv[3], argv + 3);
        fprintf(stderr, "runas: %s: %s\n", argv[3], strerror(errno));
        return errno == ENOENT ? 127 : 126;
}
