/*
 * getent: print entries of the passwd or group database, as the name
 * service cache daemon serves them, in their file format, like getent(1).
 * A key of digits only is a uid or gid; without keys every entry is
 * listed. -v says on stderr who answered and whether the reply outgrew
 * the client's buffer.
 *
 * Usage: getent [-v] [-d door] passwd|group [key...]
 * Exit status, as getent's: 0 all found, 1 bad arguments (or no daemon),
 * 2 a key was not found.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsc.h"

static int verbose;

static int
lookup(uint32_t callnumber, const char *name, uint32_t id, const char *what)
{
	nsc_result_t res;
	int rc;

	if ((rc = nsc_lookup(callnumber, name, id, &res)) < 0) {
		(void) fprintf(stderr, "getent: %s: no name service cache: "
		    "%s\n", what, strerror(errno));
		return (1);
	}
	if (verbose) {
		(void) fprintf(stderr, "getent: %s: answered by pid %d%s",
		    what, (int)res.nr_server,
		    res.nr_backdoor ? " through the back door" : "");
		if (res.nr_mapped != 0)
			(void) fprintf(stderr, ", %zu-byte reply in a new "
			    "%zu-byte mapping", res.nr_len, res.nr_mapped);
		(void) fputc('\n', stderr);
	}
	if (rc == NSC_NOTFOUND)
		return (2);
	(void) fputs(res.nr_data, stdout);
	nsc_free_result(&res);
	return (0);
}

static int
numeric(const char *key, uint32_t *id)
{
	unsigned long v;
	char *end;

	if (*key < '0' || *key > '9')
		return (0);
	errno = 0;
	v = strtoul(key, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT32_MAX)
		return (0);
	*id = (uint32_t)v;
	return (1);
}

static void
usage(void)
{
	(void) fprintf(stderr,
	    "usage: getent [-v] [-d door] passwd|group [key...]\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	uint32_t byname, byid, all, id;
	int c, i, rc, status = 0;

	while ((c = getopt(argc, argv, "d:v")) != -1) {
		switch (c) {
		case 'd':
			nsc_setdoor(optarg);
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (strcmp(argv[optind], "passwd") == 0) {
		byname = NSC_GETPWNAM;
		byid = NSC_GETPWUID;
		all = NSC_GETPWALL;
	} else if (strcmp(argv[optind], "group") == 0) {
		byname = NSC_GETGRNAM;
		byid = NSC_GETGRGID;
		all = NSC_GETGRALL;
	} else {
		(void) fprintf(stderr, "getent: unknown database: %s\n",
		    argv[optind]);
		return (1);
	}
	if (++optind == argc)
		return (lookup(all, NULL, 0, argv[optind - 1]));

	for (i = optind; i < argc; i++) {
		if (numeric(argv[i], &id))
			rc = lookup(byid, NULL, id, argv[i]);
		else
			rc = lookup(byname, argv[i], 0, argv[i]);
		if (rc == 1)
			return (1);
		if (rc != 0)
			status = rc;
	}
	return (status);
}
