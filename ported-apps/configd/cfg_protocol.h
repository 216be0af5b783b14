/*
 * The protocol between svc.configd and its clients (libcfg), in the manner
 * of svc.configd's repcache_protocol.h.
 *
 * A client opens the daemon's main door (CFG_DOOR_NAME, or the path given
 * with -d) and makes one call: a cfg_door_request_t asking to connect. The
 * answer is a cfg_door_response_t and, on success, one descriptor: a door
 * of the client's own. Every later request goes through that door, and the
 * daemon keeps the client's state (its identity, an open transaction) with
 * it. When the client closes the door or dies, the daemon hears about it
 * through an unreferenced notification and frees that state.
 */
#ifndef	_CFG_PROTOCOL_H
#define	_CFG_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define	CFG_DOOR_NAME		"/var/run/cfg_door"
#define	CFG_DOOR_VERSION	1
#define	CFG_DOOR_COOKIE		((void *)0xc0f1d)

#define	CFG_NAME_MAX		256	/* FMRI/pg/prop, with its NUL */
#define	CFG_VALUE_MAX		256	/* a value, with its NUL */

#define	cfg_offsetofend(type, field) \
	(offsetof(type, field) + sizeof (((type *)0)->field))

/* The main door: one request, to connect. */
typedef struct cfg_door_request {
	uint32_t	rdr_version;		/* CFG_DOOR_VERSION */
	uint32_t	rdr_request;		/* CFG_DOOR_REQUEST_* */
	uint32_t	rdr_flags;		/* none defined: must be 0 */
} cfg_door_request_t;

#define	CFG_DOOR_REQUEST_CONNECT	1

typedef struct cfg_door_response {
	uint32_t	rdr_status;		/* CFG_DOOR_* */
} cfg_door_response_t;

#define	CFG_DOOR_SUCCESS		0
#define	CFG_DOOR_FAIL_BAD_REQUEST	1
#define	CFG_DOOR_FAIL_VERSION_MISMATCH	2
#define	CFG_DOOR_FAIL_NO_RESOURCES	3
#define	CFG_DOOR_FAIL_PERMISSION_DENIED	4
#define	CFG_DOOR_FAIL_BAD_FLAG		5

/* A client's own door: every request is one of these. */
enum cfg_requestid {
	CFG_REQUEST_CLOSE = 100,	/* forget me; the door is revoked */
	CFG_REQUEST_GET,		/* rq_name: the property's value */
	CFG_REQUEST_SET,		/* rq_name = rq_value (or staged) */
	CFG_REQUEST_LIST,		/* under prefix rq_name ("": all) */
	CFG_REQUEST_STATS,		/* the daemon's counters, as text */
	CFG_REQUEST_TX_BEGIN,		/* open a transaction */
	CFG_REQUEST_TX_COMMIT,		/* apply the staged changes at once */
	CFG_REQUEST_TX_ABORT,		/* drop them */
	CFG_REQUEST_WAIT,		/* for a change under rq_name */
	CFG_REQUEST_MAX
};

typedef struct cfg_request {
	uint32_t	rq_request;		/* enum cfg_requestid */
	uint32_t	rq_timeout;		/* WAIT: seconds, 1 to 3600 */
	char		rq_name[CFG_NAME_MAX];
	char		rq_value[CFG_VALUE_MAX];
} cfg_request_t;

/*
 * Every answer starts with this header. rs_length bytes of text follow it
 * (including a terminating NUL): the value for GET, "name=value" for WAIT,
 * one "name=value" line per property for LIST, "key=value" lines for
 * STATS. A LIST may be larger than the client's buffer.
 */
typedef struct cfg_response {
	uint32_t	rs_status;		/* CFG_SUCCESS or CFG_FAIL_* */
	uint32_t	rs_count;		/* LIST: entries; SET: staged */
	uint32_t	rs_length;		/* bytes of text that follow */
	uint32_t	rs_pad;
} cfg_response_t;

#define	CFG_SUCCESS			0
#define	CFG_FAIL_BAD_REQUEST		1	/* malformed, or bad name */
#define	CFG_FAIL_NOT_FOUND		2
#define	CFG_FAIL_PERMISSION_DENIED	3
#define	CFG_FAIL_NO_RESOURCES		4
#define	CFG_FAIL_BAD_TX			5	/* none open, or one already */
#define	CFG_FAIL_TIMEOUT		6	/* WAIT: nothing changed */
#define	CFG_FAIL_BACKEND		7	/* the repository file */

#endif	/* _CFG_PROTOCOL_H */
