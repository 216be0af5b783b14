/*
 * sysevent_door.h: the door protocol spoken between syseventd, its
 * publishers and its subscribers.
 *
 * Every call on the daemon's door starts with an se_req_t and is answered
 * with an se_reply_t.  A subscriber's SE_OP_SUBSCRIBE carries its own event
 * door as a DOOR_DESCRIPTOR, and the daemon later door_calls that door with
 * an se_event_t for every event of the subscribed class; the subscriber
 * answers with one int32_t (0, or an errno value if it refuses the event).
 *
 * Attributes travel as "name=value" strings, each terminated by a NUL,
 * packed one after another; their total length includes the NULs.
 */
#ifndef	_SYSEVENT_DOOR_H
#define	_SYSEVENT_DOOR_H

#include <sys/types.h>
#include <stdint.h>
#include <string.h>

#define	SE_MAXCLASS	32	/* class and subclass names, with the NUL */
#define	SE_MAXATTR	4096	/* attribute bytes the daemon accepts */

/* Operations on the daemon's door (sr_op) */
#define	SE_OP_SUBSCRIBE	1	/* one descriptor: the subscriber's door */
#define	SE_OP_PUBLISH	2	/* sr_class, sr_subclass, attributes */
#define	SE_OP_STATUS	3	/* reply text lists the subscribers */

/* sr_flags for SE_OP_SUBSCRIBE */
#define	SE_SUB_HANDLE	0x1	/* reply with a subscription handle door */

typedef struct se_req {
	uint32_t sr_op;
	uint32_t sr_flags;
	uint32_t sr_attrlen;	/* attribute bytes after this header */
	uint32_t sr_pad;
	char sr_class[SE_MAXCLASS];
	char sr_subclass[SE_MAXCLASS];
} se_req_t;

typedef struct se_reply {
	int32_t sp_error;	/* 0 or an errno value */
	uint32_t sp_id;		/* SUBSCRIBE: our subscriber id */
	uint64_t sp_seq;	/* PUBLISH: the event's sequence number */
	uint32_t sp_count;	/* PUBLISH: subscribers it was queued for */
	uint32_t sp_textlen;	/* STATUS: text bytes after this header */
} se_reply_t;

typedef struct se_event {
	uint64_t se_seq;	/* assigned by the daemon, channel-wide */
	int32_t se_pubpid;	/* the publisher, from door_ucred */
	uint32_t se_attrlen;	/* attribute bytes after this header */
	char se_class[SE_MAXCLASS];
	char se_subclass[SE_MAXCLASS];
} se_event_t;

/* A name is valid if it is not empty and NUL-terminated within its field. */
static inline int
se_name_ok(const char *name)
{
	return (name[0] != '\0' && memchr(name, '\0', SE_MAXCLASS) != NULL);
}

/* Attributes are valid if every string is terminated and reads name=value. */
static inline int
se_attrs_ok(const char *p, size_t len)
{
	const char *end = p + len;

	if (len != 0 && p[len - 1] != '\0')
		return (0);
	while (p < end) {
		const char *eq = strchr(p, '=');

		if (eq == NULL || eq == p)
			return (0);
		p += strlen(p) + 1;
	}
	return (1);
}

#endif	/* _SYSEVENT_DOOR_H */
