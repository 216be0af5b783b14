/*
 * nsclient: a long-lived client of the name service cache, as any
 * process that looks names up now and then is. It keeps the library's
 * cached door descriptor across requests, so it shows what happens to a
 * cached connection when nscd is restarted or killed. Reads commands on
 * stdin, one per line, and answers each with one line on stdout:
 *
 *	passwd KEY | group KEY	look KEY up (digits: by id)
 *	backdoor		ask for a per-user back door and use it
 *	release			close the back door
 *
 * Usage: nsclient [-d door]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nsc.h"

static void
lookup(const char *db, const char *key)
{
	uint32_t callnumber, id = 0;
	nsc_result_t res;
	int byid, rc;

	byid = *key >= '0' && *key <= '9';
	if (byid)
		id = (uint32_t)strtoul(key, NULL, 10);
	if (strcmp(db, "passwd") == 0)
		callnumber = byid ? NSC_GETPWUID : NSC_GETPWNAM;
	else
		callnumber = byid ? NSC_GETGRGID : NSC_GETGRNAM;

	if ((rc = nsc_lookup(callnumber, byid ? NULL : key, id, &res)) < 0) {
		(void) printf("%s %s: error: %s\n", db, key, strerror(errno));
		return;
	}
	if (rc == NSC_NOTFOUND) {
		(void) printf("%s %s: not found [pid %d]\n", db, key,
		    (int)res.nr_server);
		return;
	}
	/* one entry: drop its newline */
	if (res.nr_len > 0 && res.nr_data[res.nr_len - 1] == '\n')
		res.nr_data[--res.nr_len] = '\0';
	(void) printf("%s %s: %.60s%s [pid %d%s%s]\n", db, key, res.nr_data,
	    res.nr_len > 60 ? "..." : "", (int)res.nr_server,
	    res.nr_backdoor ? ", back door" : "",
	    res.nr_mapped != 0 ? ", overflow" : "");
	nsc_free_result(&res);
}

int
main(int argc, char **argv)
{
	char line[512], db[16], key[NSC_KEYMAX + 1];
	uint64_t id;
	int c;

	while ((c = getopt(argc, argv, "d:")) != -1) {
		if (c != 'd') {
			(void) fprintf(stderr, "usage: nsclient [-d door]\n");
			return (2);
		}
		nsc_setdoor(optarg);
	}
	(void) setvbuf(stdout, NULL, _IOLBF, 0);
	(void) printf("nsclient: pid %d\n", (int)getpid());

	while (fgets(line, sizeof (line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%15s %255s", db, key) == 2 &&
		    (strcmp(db, "passwd") == 0 || strcmp(db, "group") == 0)) {
			lookup(db, key);
		} else if (strcmp(line, "backdoor") == 0) {
			if ((id = nsc_backdoor()) == 0)
				(void) printf("backdoor: error: %s\n",
				    strerror(errno));
			else
				(void) printf("backdoor: door %" PRIx64 "\n",
				    id);
		} else if (strcmp(line, "release") == 0) {
			nsc_release_backdoor();
			(void) printf("release: done\n");
		} else if (line[0] != '\0') {
			(void) printf("%s: unknown command\n", line);
		}
	}
	return (0);
}
