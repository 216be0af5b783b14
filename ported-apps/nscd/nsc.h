/*
 * nsc.h: what the name service cache daemon and its clients agree on (the
 * door's cookie, the request and reply layout), and the client library's
 * interface (nsc_door.c).
 *
 * A request and its reply share one buffer, as libc's getxby_door.c does:
 * an nsc_hdr_t followed by the key (a request) or by the entries in their
 * file format, one per line (a reply). All fields are 32-bit so that any
 * client, a ctypes script included, can build and read them.
 */
#ifndef _NSC_H
#define	_NSC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Where nscd attaches its door unless told otherwise (-d). */
#ifndef NSC_DOOR
#define	NSC_DOOR	"/var/run/name_service_door"
#endif

#define	NSC_VERSION	1

/*
 * The front door's cookie: clients trust an attached door only if
 * door_info reports this value in di_data.
 */
#define	NSC_DOOR_COOKIE	((uintptr_t)(0x4e534344u + NSC_VERSION))	/* "NSCD" */

/* The client's buffer; larger replies arrive in a mapping door_call makes. */
#define	NSC_BUFSIZE	8192

/* The longest key (a user or group name) a request may carry. */
#define	NSC_KEYMAX	255

/* nsc_callnumber */
#define	NSC_GETPWNAM	1	/* key: name */
#define	NSC_GETPWUID	2	/* key: nsc_id */
#define	NSC_GETGRNAM	3	/* key: name */
#define	NSC_GETGRGID	4	/* key: nsc_id */
#define	NSC_GETPWALL	5	/* every passwd entry */
#define	NSC_GETGRALL	6	/* every group entry */
#define	NSC_GETDOOR	7	/* a per-user back door, passed as a descriptor */

/* nsc_status */
#define	NSC_SUCCESS	0	/* the entries follow the header */
#define	NSC_NOTFOUND	1	/* no such entry */
#define	NSC_ERROR	2	/* nsc_errno says why */
#define	NSC_ALTRETRY	3	/* use the door passed with this reply */
#define	NSC_ALTRESET	4	/* stop using this back door; go to the front */

/* nsc_flags in a reply */
#define	NSC_F_BACKDOOR	0x1	/* answered by a per-user back door */

typedef struct nsc_hdr {
	uint32_t	nsc_callnumber;
	uint32_t	nsc_status;	/* reply */
	uint32_t	nsc_errno;	/* reply, with NSC_ERROR */
	uint32_t	nsc_id;		/* request: uid or gid key */
	uint32_t	nsc_keylen;	/* request: bytes of name after the header */
	uint32_t	nsc_datalen;	/* reply: bytes of entries after the header */
	uint32_t	nsc_pid;	/* reply: the daemon that answered */
	uint32_t	nsc_flags;	/* reply: NSC_F_* */
} nsc_hdr_t;

/*
 * The client library.
 */
typedef struct nsc_result {
	char	*nr_data;	/* the entries, NUL-terminated; malloc()ed */
	size_t	nr_len;		/* strlen(nr_data) */
	pid_t	nr_server;	/* the daemon that answered */
	int	nr_backdoor;	/* answered through the per-user back door */
	size_t	nr_mapped;	/* size of door_call's mapping if the reply */
				/* outgrew the NSC_BUFSIZE buffer, else 0 */
} nsc_result_t;

/* Use the door attached at path instead of NSC_DOOR. */
extern void nsc_setdoor(const char *path);

/*
 * Ask the daemon. Returns NSC_SUCCESS (res filled in; nsc_free_result it)
 * or NSC_NOTFOUND, or -1 with errno set when no daemon answered.
 */
extern int nsc_lookup(uint32_t callnumber, const char *name, uint32_t id,
    nsc_result_t *res);
extern void nsc_free_result(nsc_result_t *res);

/*
 * Ask the front door for a per-user back door, which later lookups then
 * use; returns the back door's id (its uniquifier), or 0 with errno set.
 */
extern uint64_t nsc_backdoor(void);
/* Close the back door; lookups go to the front door again. */
extern void nsc_release_backdoor(void);

#ifdef __cplusplus
}
#endif

#endif /* _NSC_H */
