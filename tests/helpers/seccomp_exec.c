/*
 * seccomp_exec.c - runs a program under a seccomp filter built like the one
 * systemd builds from a unit's SystemCallFilter= and RestrictAddressFamilies=,
 * so that the lab can test ftpalgd's privilege drop under the filter it gets
 * in production (issue 11: ~@privileged used to kill `user =` silently).
 *
 *   seccomp-exec [-e ERRNO] [-f FAMILY]... SYSCALL_LIST -- PROGRAM [ARG]...
 *
 * SYSCALL_LIST is a file with the allowed system calls, one name a line (the
 * lab expands the unit's @groups with `systemd-analyze syscall-filter`).
 * Everything else fails with ERRNO (default EPERM, SystemCallErrorNumber=).
 * With -f, socket() is allowed for those address families only (numbers,
 * e.g. 1 2 10 16) and fails with EAFNOSUPPORT for others, as
 * RestrictAddressFamilies= does.  Names this architecture does not know are
 * skipped, as systemd skips them.  no_new_privs is set (libseccomp's default;
 * the unit has NoNewPrivileges=yes).  Exit 127 if the filter cannot be set up.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FAMILIES 16

static void
usage(void)
{
	fprintf(stderr, "usage: seccomp-exec [-e errno] [-f family]... syscall-list -- "
	    "program [arg]...\n");
	exit(127);
}

/* socket(family, ...) gets action. */
static int
socket_rule(scmp_filter_ctx ctx, uint32_t action, int nr, int family)
{
	struct scmp_arg_cmp cmp = { .arg = 0, .op = SCMP_CMP_EQ,
	    .datum_a = (scmp_datum_t)family, .datum_b = 0 };

	return seccomp_rule_add_array(ctx, action, nr, 1, &cmp);
}

int
main(int argc, char **argv)
{
	int errnum = EPERM, families[MAX_FAMILIES], nfam = 0, ch, rc;
	unsigned allowed = 0;
	char line[128];
	scmp_filter_ctx ctx;
	FILE *f;

	while ((ch = getopt(argc, argv, "+e:f:")) != -1) {
		switch (ch) {
		case 'e': errnum = atoi(optarg); break;
		case 'f':
			if (nfam == MAX_FAMILIES)
				usage();
			families[nfam++] = atoi(optarg);
			break;
		default: usage();
		}
	}
	if (argc - optind < 3 || strcmp(argv[optind + 1], "--") != 0)
		usage();
	if ((f = fopen(argv[optind], "r")) == NULL) {
		fprintf(stderr, "seccomp-exec: %s: %s\n", argv[optind], strerror(errno));
		return 127;
	}
	if ((ctx = seccomp_init(SCMP_ACT_ERRNO((uint32_t)errnum))) == NULL) {
		fprintf(stderr, "seccomp-exec: seccomp_init failed\n");
		return 127;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		int nr;

		line[strcspn(line, " \t\r\n#")] = '\0';
		if (line[0] == '\0')
			continue;
		if ((nr = seccomp_syscall_resolve_name(line)) == __NR_SCMP_ERROR)
			continue;
		if (nfam > 0 && strcmp(line, "socket") == 0)
			continue;	/* by family, below */
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0 && rc != -EEXIST) {
			fprintf(stderr, "seccomp-exec: allow %s: %s\n", line, strerror(-rc));
			return 127;
		}
		allowed++;
	}
	fclose(f);
	if (nfam > 0) {
		int nr = seccomp_syscall_resolve_name("socket");

		/* Listed families pass; any other gets EAFNOSUPPORT, never the default. */
		for (int i = 0; i < nfam; i++)
			if ((rc = socket_rule(ctx, SCMP_ACT_ALLOW, nr, families[i])) < 0) {
				fprintf(stderr, "seccomp-exec: socket family %d: %s\n", families[i],
				    strerror(-rc));
				return 127;
			}
		for (int fam = 0; fam < AF_MAX; fam++) {
			bool listed = false;

			for (int i = 0; i < nfam; i++)
				listed |= families[i] == fam;
			if (!listed && (rc = socket_rule(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr,
			    fam)) < 0) {
				fprintf(stderr, "seccomp-exec: socket family %d: %s\n", fam,
				    strerror(-rc));
				return 127;
			}
		}
	}
	if (allowed == 0) {
		fprintf(stderr, "seccomp-exec: %s allows nothing\n", argv[optind]);
		return 127;
	}
	if ((rc = seccomp_load(ctx)) < 0) {
		fprintf(stderr, "seccomp-exec: seccomp_load: %s\n", strerror(-rc));
		return 127;
	}
	seccomp_release(ctx);
	execv(argv[optind + 2], argv + optind + 2);
	fprintf(stderr, "seccomp-exec: %s: %s\n", argv[optind + 2], strerror(errno));
	return 127;
}
