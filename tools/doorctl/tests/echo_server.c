/*
 * doorctl's test server: attaches a door at argv[1] (cookie 0x1234,
 * DOOR_UNREF_MULTI | DOOR_NO_CANCEL) that echoes its argument, or answers
 * "door" with a descriptor of itself, and serves until killed.
 */
#define _GNU_SOURCE
#include <door.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stropts.h>
#include <unistd.h>

static int self;

static void serve(void *cookie, char *argp, size_t n, door_desc_t *dp, uint_t nd)
{
	(void)cookie; (void)dp; (void)nd;
	if (argp == DOOR_UNREF_DATA)
		door_return(NULL, 0, NULL, 0);
	if (n == 4 && memcmp(argp, "door", 4) == 0) {
		door_desc_t d = { .d_attributes = DOOR_DESCRIPTOR, .d_data.d_desc.d_descriptor = self };
		door_return(NULL, 0, &d, 1);
	}
	door_return(argp, n, NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: echo_server PATH\n");
		return 2;
	}
	self = door_create(serve, (void *)0x1234, DOOR_UNREF_MULTI | DOOR_NO_CANCEL);
	int f = open(argv[1], O_CREAT | O_WRONLY, 0644);
	if (self < 0 || f < 0 || fattach(self, argv[1]) != 0) {
		perror("echo_server");
		return 1;
	}
	close(f);
	for (;;)
		pause();
}
