/*
 * svccfg: reads and changes svc.configd's repository through libcfg.
 *
 * Usage: svccfg [-v] [-d door_path] command [argument...]
 *        svccfg [-v] [-d door_path] -f file      (file "-": standard input)
 *
 * Commands:
 *	get FMRI/pg/prop		print its value
 *	set FMRI/pg/prop=value		change it (staged, in a transaction)
 *	list [prefix]			print name=value for each property
 *	stats				print the daemon's counters
 *	wait prefix [seconds]		until a property under prefix changes
 *	begin, commit, abort		a transaction (useful with -f)
 *
 * With -f, the commands come one per line and share one connection, so a
 * transaction can span them; each answer is flushed as it comes. -v
 * reports at the end how many answers overflowed the call buffer.
 * Exit status: 0 if every command succeeded, 1 if any failed, 2 usage.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libcfg.h"

static void
usage(void)
{
	(void) fprintf(stderr,
	    "usage: svccfg [-v] [-d door_path] command [argument...]\n"
	    "       svccfg [-v] [-d door_path] -f file\n"
	    "commands: get NAME | set NAME=VALUE | list [PREFIX] | stats |\n"
	    "          wait PREFIX [SECONDS] | begin | commit | abort\n");
	exit(2);
}

static void
restarted(cfg_handle_t *h, pid_t old, pid_t new, void *arg)
{
	(void) h;
	(void) arg;
	(void) fprintf(stderr, "svccfg: repository daemon restarted (was pid "
	    "%d, now pid %d); reconnected\n", (int)old, (int)new);
}

/* Runs one command; `arg` is the rest of its line. Returns 0 or 1. */
static int
command(cfg_handle_t *h, const char *cmd, char *arg)
{
	char value[1024], *text, *eq;
	uint32_t count;
	int err;

	if (strcmp(cmd, "get") == 0 && *arg != '\0') {
		if ((err = cfg_get(h, arg, value, sizeof (value))) == 0)
			(void) printf("%s\n", value);
	} else if (strcmp(cmd, "set") == 0 && (eq = strchr(arg, '=')) != NULL) {
		*eq = '\0';
		err = cfg_set(h, arg, eq + 1, &count);
		*eq = '=';
		if (err == 0 && count > 0)
			(void) printf("staged %.*s (%u in transaction)\n",
			    (int)(eq - arg), arg, count);
	} else if (strcmp(cmd, "list") == 0) {
		if ((err = cfg_list(h, arg, &text, &count)) == 0) {
			(void) fputs(text, stdout);
			free(text);
		}
	} else if (strcmp(cmd, "stats") == 0 && *arg == '\0') {
		if ((err = cfg_stats(h, &text)) == 0) {
			(void) fputs(text, stdout);
			free(text);
		}
	} else if (strcmp(cmd, "wait") == 0 && *arg != '\0') {
		char *secs = strchr(arg, ' ');
		long timeout = 60;

		if (secs != NULL) {
			*secs++ = '\0';
			timeout = strtol(secs, NULL, 10);
		}
		err = cfg_wait(h, arg, (uint32_t)timeout, value,
		    sizeof (value));
		if (secs != NULL)
			secs[-1] = ' ';
		if (err == 0)
			(void) printf("changed %s\n", value);
		else if (err == CFG_ERROR_TIMEOUT)
			(void) printf("timeout\n");
		if (err == CFG_ERROR_TIMEOUT)
			err = 0;
	} else if (strcmp(cmd, "begin") == 0 && *arg == '\0') {
		if ((err = cfg_tx_begin(h)) == 0)
			(void) printf("transaction open\n");
	} else if (strcmp(cmd, "commit") == 0 && *arg == '\0') {
		if ((err = cfg_tx_commit(h, &count)) == 0)
			(void) printf("committed %u change%s\n", count,
			    count == 1 ? "" : "s");
	} else if (strcmp(cmd, "abort") == 0 && *arg == '\0') {
		if ((err = cfg_tx_abort(h, &count)) == 0)
			(void) printf("aborted %u change%s\n", count,
			    count == 1 ? "" : "s");
	} else {
		(void) fprintf(stderr, "svccfg: bad command: %s %s\n", cmd,
		    arg);
		return (1);
	}
	if (err != 0) {
		(void) fprintf(stderr, "svccfg: %s%s%s: %s\n", cmd,
		    *arg != '\0' ? " " : "", arg, cfg_strerror(err));
		return (1);
	}
	return (0);
}

/* Splits a line into its command and the (trimmed) rest. */
static int
line_command(cfg_handle_t *h, char *line)
{
	char *cmd, *arg, *end;

	for (cmd = line; isspace((unsigned char)*cmd); cmd++)
		;
	if (*cmd == '\0' || *cmd == '#')
		return (0);
	for (arg = cmd; *arg != '\0' && !isspace((unsigned char)*arg); arg++)
		;
	if (*arg != '\0')
		*arg++ = '\0';
	while (isspace((unsigned char)*arg))
		arg++;
	end = arg + strlen(arg);
	while (end > arg && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return (command(h, cmd, arg));
}

int
main(int argc, char *argv[])
{
	const char *doorpath = NULL, *file = NULL;
	char line[2048];
	cfg_handle_t *h;
	int c, verbose = 0, failed = 0, err;

	while ((c = getopt(argc, argv, "d:f:v")) != -1) {
		switch (c) {
		case 'd':
			doorpath = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if ((file == NULL) == (optind == argc))
		usage();

	if ((h = cfg_handle_create(doorpath)) == NULL) {
		(void) fprintf(stderr, "svccfg: out of memory\n");
		return (1);
	}
	cfg_handle_on_restart(h, restarted, NULL);
	if ((err = cfg_handle_bind(h)) != 0) {
		(void) fprintf(stderr, "svccfg: %s\n", cfg_strerror(err));
		return (1);
	}

	if (file != NULL) {
		FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");

		if (f == NULL) {
			perror(file);
			return (1);
		}
		while (fgets(line, sizeof (line), f) != NULL) {
			failed |= line_command(h, line);
			(void) fflush(stdout);
		}
	} else {
		/* The words after the command, as one line would give them. */
		size_t len = 0;
		int i;

		line[0] = '\0';
		for (i = optind + 1; i < argc; i++) {
			int n = snprintf(line + len, sizeof (line) - len,
			    "%s%s", i > optind + 1 ? " " : "", argv[i]);

			if (n < 0 || (size_t)n >= sizeof (line) - len)
				usage();
			len += n;
		}
		failed = command(h, argv[optind], line);
	}

	if (verbose) {
		uint32_t n = cfg_handle_overflows(h);

		(void) fprintf(stderr, "svccfg: %u answer%s overflowed the "
		    "call buffer and %s unmapped\n", n, n == 1 ? "" : "s",
		    n == 1 ? "was" : "were");
	}
	cfg_handle_destroy(h);
	return (failed);
}
