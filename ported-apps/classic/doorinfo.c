/*
 * doorinfo: prints what door_info(3C) reports for each PATH: the server's
 * pid, the addresses of its procedure and cookie (in the server's address
 * space), the attributes decoded, and the door's uniquifier. Before
 * opening a path it looks at its file type with stat(2): an attached door
 * is S_IFDOOR, which S_ISDOOR tests. With -l it first describes a door of
 * its own, which shows the attributes only the creator sees (DOOR_LOCAL)
 * or only an unreferenced door has (DOOR_IS_UNREF).
 *
 * Usage: doorinfo [-l] [PATH...]
 */
#include <door.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	door_attr_t	a_bit;
	const char	*a_name;
} attrs[] = {
	{ DOOR_UNREF,		"DOOR_UNREF" },
	{ DOOR_PRIVATE,		"DOOR_PRIVATE" },
	{ DOOR_LOCAL,		"DOOR_LOCAL" },
	{ DOOR_REVOKED,		"DOOR_REVOKED" },
	{ DOOR_UNREF_MULTI,	"DOOR_UNREF_MULTI" },
	{ DOOR_IS_UNREF,	"DOOR_IS_UNREF" },
	{ DOOR_REFUSE_DESC,	"DOOR_REFUSE_DESC" },
	{ DOOR_NO_CANCEL,	"DOOR_NO_CANCEL" },
	{ DOOR_NO_DEPLETION_CB,	"DOOR_NO_DEPLETION_CB" },
	{ DOOR_PRIVCREATE,	"DOOR_PRIVCREATE" },
};

static const char *
filetype(mode_t mode)
{
	if (S_ISDOOR(mode))
		return ("door");
	if (S_ISREG(mode))
		return ("regular file");
	if (S_ISDIR(mode))
		return ("directory");
	if (S_ISFIFO(mode))
		return ("fifo");
	if (S_ISSOCK(mode))
		return ("socket");
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return ("device");
	if (S_ISLNK(mode))
		return ("symbolic link");
	return ("unknown type");
}

static void
print_info(int d)
{
	door_info_t info;
	door_attr_t rest;
	size_t i;
	int sep = 0;

	if (door_info(d, &info) == -1) {
		perror("\tdoor_info");
		return;
	}
	if (info.di_target == -1)
		(void) printf("\ttarget      none: the server has exited\n");
	else
		(void) printf("\ttarget      pid %d%s\n", (int)info.di_target,
		    (info.di_attributes & DOOR_LOCAL) ? " (this process)" : "");
	/* Addresses in the server, meaningful only to it. */
	(void) printf("\tprocedure   %p\n", (void *)(uintptr_t)info.di_proc);
	(void) printf("\tcookie      %p\n", (void *)(uintptr_t)info.di_data);
	(void) printf("\tattributes  0x%x ", (unsigned)info.di_attributes);
	rest = info.di_attributes;
	for (i = 0; i < sizeof (attrs) / sizeof (attrs[0]); i++) {
		if (info.di_attributes & attrs[i].a_bit) {
			(void) printf("%s%s", sep ? "|" : "", attrs[i].a_name);
			rest &= ~attrs[i].a_bit;
			sep = 1;
		}
	}
	if (rest != 0)
		(void) printf("%s0x%x", sep ? "|" : "", (unsigned)rest);
	else if (!sep)
		(void) printf("none");
	(void) printf("\n");
	(void) printf("\tuniquifier  %llu\n",
	    (unsigned long long)info.di_uniquifier);
}

/* The procedure of -l's door, which nobody calls. */
static void
local_proc(void *cookie, char *argp, size_t arg_size, door_desc_t *dp,
    uint_t n_desc)
{
	(void) cookie;
	(void) argp;
	(void) arg_size;
	(void) dp;
	(void) n_desc;
	(void) door_return(NULL, 0, NULL, 0);
}

static int
describe_local(void)
{
	static int cookie;
	int d;

	/*
	 * A private door with the default thread creation function gets no
	 * server threads; that is fine for a door nobody calls.
	 */
	d = door_create(local_proc, &cookie,
	    DOOR_PRIVATE | DOOR_UNREF | DOOR_REFUSE_DESC);
	if (d == -1) {
		perror("door_create");
		return (1);
	}
	(void) printf("(own door): procedure %p, cookie %p\n",
	    (void *)local_proc, (void *)&cookie);
	print_info(d);
	(void) door_revoke(d);
	return (0);
}

static int
describe(const char *path)
{
	struct stat st, fst;
	int fd;

	if (stat(path, &st) == -1) {
		perror(path);
		return (1);
	}
	if (!S_ISDOOR(st.st_mode)) {
		(void) printf("%s: not a door (%s)\n", path,
		    filetype(st.st_mode));
		return (1);
	}
	if ((fd = open(path, O_RDONLY)) == -1) {
		perror(path);
		return (1);
	}
	if (fstat(fd, &fst) == -1) {
		perror(path);
		(void) close(fd);
		return (1);
	}
	(void) printf("%s: door, mode %04o (fstat of the open door: %s)\n",
	    path, (unsigned)(st.st_mode & 07777), filetype(fst.st_mode));
	print_info(fd);
	(void) close(fd);
	return (0);
}

int
main(int argc, char **argv)
{
	int c, i, lflag = 0, status = 0;

	while ((c = getopt(argc, argv, "l")) != -1) {
		if (c != 'l') {
			(void) fprintf(stderr, "usage: %s [-l] [PATH...]\n",
			    argv[0]);
			return (2);
		}
		lflag = 1;
	}
	if (!lflag && optind == argc) {
		(void) fprintf(stderr, "usage: %s [-l] [PATH...]\n", argv[0]);
		return (2);
	}
	if (lflag)
		status |= describe_local();
	for (i = optind; i < argc; i++)
		status |= describe(argv[i]);
	return (status);
}
