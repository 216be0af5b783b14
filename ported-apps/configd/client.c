/*
 * Clients. Each client that connects through the main door gets a door of
 * its own, whose cookie is the client's id: every request it makes comes
 * through that door, and its state (who connected, an open transaction)
 * lives in a repcache_client_t here.
 *
 * The door is created DOOR_UNREF and a dup of it goes to the client with
 * DOOR_DESCRIPTOR|DOOR_RELEASE, so that afterwards exactly two references
 * remain: our descriptor and the client's. When the client closes its
 * copy, or dies, the count falls to one, the unreferenced notification
 * arrives, and the client's state is freed and its door revoked. A client
 * that says CLOSE is forgotten at once; its door is revoked then, and a
 * revoked door gets no notification.
 *
 * A call in progress holds its client (rc_refcnt), so the state outlives
 * the table entry until that call is done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "configd.h"

#define	CFG_TX_MAX	64		/* changes one transaction may stage */
#define	ANSWER_ROOM	(CFG_NAME_MAX + CFG_VALUE_MAX + 1024)

typedef struct repcache_client {
	struct repcache_client *rc_next;
	uint32_t	rc_id;
	int		rc_doorfd;	/* our reference to its door */
	door_id_t	rc_doorid;
	pid_t		rc_pid;		/* who connected */
	uid_t		rc_euid;
	int		rc_refcnt;	/* the table's, and calls' */

	mutex_t		rc_lock;	/* protects the transaction */
	int		rc_tx_open;
	int		rc_tx_count;
	char		rc_tx_name[CFG_TX_MAX][CFG_NAME_MAX];
	char		rc_tx_value[CFG_TX_MAX][CFG_VALUE_MAX];
} repcache_client_t;

static mutex_t		client_lock = DEFAULTMUTEX;
static repcache_client_t *client_list;
static uint32_t		client_maxid;
static uint32_t		clients_now, clients_total;

static repcache_client_t *
client_lookup(uint32_t id)
{
	repcache_client_t *cp;

	(void) mutex_lock(&client_lock);
	for (cp = client_list; cp != NULL; cp = cp->rc_next) {
		if (cp->rc_id == id) {
			cp->rc_refcnt++;
			break;
		}
	}
	(void) mutex_unlock(&client_lock);
	return (cp);
}

static void
client_release(repcache_client_t *cp)
{
	int last;

	(void) mutex_lock(&client_lock);
	last = (--cp->rc_refcnt == 0);
	(void) mutex_unlock(&client_lock);
	if (last) {
		(void) mutex_destroy(&cp->rc_lock);
		free(cp);
	}
}

/*
 * Forgets client `id`: it closed its door, died, or asked to be closed.
 * Its door is revoked, so that nothing more can arrive through it.
 */
static void
client_destroy(uint32_t id, const char *why)
{
	repcache_client_t **pp, *cp;
	int staged;

	(void) mutex_lock(&client_lock);
	for (pp = &client_list; (cp = *pp) != NULL; pp = &cp->rc_next) {
		if (cp->rc_id == id) {
			*pp = cp->rc_next;
			clients_now--;
			break;
		}
	}
	(void) mutex_unlock(&client_lock);
	if (cp == NULL)
		return;

	(void) door_revoke(cp->rc_doorfd);
	cp->rc_doorfd = -1;

	(void) mutex_lock(&cp->rc_lock);
	staged = cp->rc_tx_open ? cp->rc_tx_count : -1;
	cp->rc_tx_open = 0;
	(void) mutex_unlock(&cp->rc_lock);

	if (staged >= 0)
		configd_info("client %u (pid %d) %s: state freed, open "
		    "transaction of %d change%s discarded", id, (int)cp->rc_pid,
		    why, staged, staged == 1 ? "" : "s");
	else
		configd_info("client %u (pid %d) %s: state freed", id,
		    (int)cp->rc_pid, why);
	client_release(cp);
}

size_t
client_stats(char *buf, size_t size)
{
	int n;

	(void) mutex_lock(&client_lock);
	n = snprintf(buf, size, "clients=%u\nclients_total=%u\n", clients_now,
	    clients_total);
	(void) mutex_unlock(&client_lock);
	return (n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1);
}

/*
 * Writes are for root and the repository's owner (our own euid); reads
 * are for anyone. The caller is asked at each call, not at connect: a
 * client door may be passed on to another process.
 */
static int
client_may_write(void)
{
	ucred_t *uc = get_ucred();
	uid_t euid;

	if (uc == NULL)
		return (0);
	euid = ucred_geteuid(uc);
	return (euid == 0 || euid == repository_owner);
}

/* SET: at once, or into the open transaction. */
static int
client_set(repcache_client_t *cp, const cfg_request_t *rq, uint32_t *countp)
{
	const char *name = rq->rq_name, *value = rq->rq_value;
	int i, ret;

	if (backend_check_name(name, 0) != CFG_SUCCESS ||
	    backend_check_value(value) != CFG_SUCCESS)
		return (CFG_FAIL_BAD_REQUEST);
	if (!client_may_write())
		return (CFG_FAIL_PERMISSION_DENIED);

	(void) mutex_lock(&cp->rc_lock);
	if (!cp->rc_tx_open) {
		(void) mutex_unlock(&cp->rc_lock);
		return (backend_set(&name, &value, 1));
	}
	for (i = 0; i < cp->rc_tx_count; i++) {
		if (strcmp(cp->rc_tx_name[i], name) == 0)
			break;
	}
	if (i == CFG_TX_MAX) {
		ret = CFG_FAIL_NO_RESOURCES;
	} else {
		(void) snprintf(cp->rc_tx_name[i], CFG_NAME_MAX, "%s", name);
		(void) snprintf(cp->rc_tx_value[i], CFG_VALUE_MAX, "%s", value);
		if (i == cp->rc_tx_count)
			cp->rc_tx_count++;
		ret = CFG_SUCCESS;
	}
	*countp = cp->rc_tx_count;
	(void) mutex_unlock(&cp->rc_lock);
	return (ret);
}

static int
client_tx(repcache_client_t *cp, uint32_t request, uint32_t *countp)
{
	const char *names[CFG_TX_MAX], *values[CFG_TX_MAX];
	int i, ret = CFG_SUCCESS;

	if (request != CFG_REQUEST_TX_ABORT && !client_may_write())
		return (CFG_FAIL_PERMISSION_DENIED);

	(void) mutex_lock(&cp->rc_lock);
	if ((request == CFG_REQUEST_TX_BEGIN) == (cp->rc_tx_open != 0)) {
		(void) mutex_unlock(&cp->rc_lock);
		return (CFG_FAIL_BAD_TX);
	}
	switch (request) {
	case CFG_REQUEST_TX_BEGIN:
		cp->rc_tx_open = 1;
		cp->rc_tx_count = 0;
		break;
	case CFG_REQUEST_TX_COMMIT:
		for (i = 0; i < cp->rc_tx_count; i++) {
			names[i] = cp->rc_tx_name[i];
			values[i] = cp->rc_tx_value[i];
		}
		if (cp->rc_tx_count > 0)
			ret = backend_set(names, values, cp->rc_tx_count);
		/* FALLTHROUGH */
	case CFG_REQUEST_TX_ABORT:
		*countp = cp->rc_tx_count;
		cp->rc_tx_open = 0;
		cp->rc_tx_count = 0;
		break;
	}
	(void) mutex_unlock(&cp->rc_lock);
	return (ret);
}

static void
client_switcher(void *cookie, char *argp, size_t arg_size, door_desc_t *desc,
    uint_t n_desc)
{
	uint32_t id = (uint32_t)(uintptr_t)cookie;
	repcache_client_t *cp = NULL;
	cfg_response_t *rs;
	cfg_request_t rq;
	char *buf, *text, *list;
	uint32_t count;
	size_t len = 0;

	(void) desc;		/* DOOR_REFUSE_DESC: never any */
	(void) n_desc;

	if (argp == DOOR_UNREF_DATA) {
		client_destroy(id, "closed its door");
		(void) door_return(NULL, 0, NULL, 0);
	}
	thread_newcall();

	if ((buf = thread_buffer(sizeof (*rs) + ANSWER_ROOM)) == NULL) {
		thread_endcall();
		(void) door_return(NULL, 0, NULL, 0);
	}
	rs = (cfg_response_t *)buf;
	text = buf + sizeof (*rs);
	(void) memset(rs, 0, sizeof (*rs));
	text[0] = '\0';

	(void) memset(&rq, 0, sizeof (rq));
	if (arg_size > 0)
		(void) memcpy(&rq, argp, arg_size < sizeof (rq) ?
		    arg_size : sizeof (rq));
	if (arg_size < sizeof (rq.rq_request)) {
		rs->rs_status = CFG_FAIL_BAD_REQUEST;
		goto out;
	}
	/* Handled before the lookup: the client is going away. */
	if (rq.rq_request == CFG_REQUEST_CLOSE) {
		client_destroy(id, "closed");
		rs->rs_status = CFG_SUCCESS;
		goto out;
	}
	if ((cp = client_lookup(id)) == NULL || arg_size != sizeof (rq)) {
		rs->rs_status = CFG_FAIL_BAD_REQUEST;
		goto out;
	}

	switch (rq.rq_request) {
	case CFG_REQUEST_GET:
		if ((rs->rs_status = backend_check_name(rq.rq_name, 0)) !=
		    CFG_SUCCESS)
			break;
		rs->rs_status = backend_get(rq.rq_name, text, CFG_VALUE_MAX);
		break;
	case CFG_REQUEST_SET:
		rs->rs_status = client_set(cp, &rq, &rs->rs_count);
		break;
	case CFG_REQUEST_LIST:
		if ((rs->rs_status = backend_check_name(rq.rq_name, 1)) !=
		    CFG_SUCCESS)
			break;
		/*
		 * The list may be of any size: it goes into this thread's
		 * buffer, grown to fit, which moves `buf`.
		 */
		if ((list = backend_list(rq.rq_name, &count, &len,
		    sizeof (*rs))) == NULL) {
			rs->rs_status = CFG_FAIL_NO_RESOURCES;
			break;
		}
		buf = list;
		rs = (cfg_response_t *)buf;
		(void) memset(rs, 0, sizeof (*rs));
		rs->rs_status = CFG_SUCCESS;
		rs->rs_count = count;
		rs->rs_length = len;
		goto out;
	case CFG_REQUEST_STATS:
		len = snprintf(text, ANSWER_ROOM, "pid=%d\n", (int)getpid());
		len += backend_stats(text + len, ANSWER_ROOM - len);
		len += client_stats(text + len, ANSWER_ROOM - len);
		(void) thread_stats(text + len, ANSWER_ROOM - len);
		rs->rs_status = CFG_SUCCESS;
		break;
	case CFG_REQUEST_TX_BEGIN:
	case CFG_REQUEST_TX_COMMIT:
	case CFG_REQUEST_TX_ABORT:
		rs->rs_status = client_tx(cp, rq.rq_request, &rs->rs_count);
		break;
	case CFG_REQUEST_WAIT:
		if (rq.rq_name[0] == '\0' ||
		    backend_check_name(rq.rq_name, 1) != CFG_SUCCESS ||
		    rq.rq_timeout < 1 || rq.rq_timeout > 3600) {
			rs->rs_status = CFG_FAIL_BAD_REQUEST;
			break;
		}
		rs->rs_status = backend_wait(rq.rq_name, rq.rq_timeout, text,
		    CFG_NAME_MAX + CFG_VALUE_MAX);
		break;
	default:
		rs->rs_status = CFG_FAIL_BAD_REQUEST;
		break;
	}
	rs->rs_length = strlen(text) + 1;
out:
	if (cp != NULL)
		client_release(cp);
	thread_endcall();
	(void) door_return(buf, sizeof (*rs) + rs->rs_length, NULL, 0);
	(void) door_return(NULL, 0, NULL, 0);
}

/*
 * Makes client state and a door for the caller of the main door; *out_fd
 * gets the descriptor to pass back (a dup of ours). Returns a
 * CFG_DOOR_* status.
 */
int
create_client(ucred_t *uc, int *out_fd)
{
	repcache_client_t *cp;
	door_info_t info;
	int fd;

	if ((cp = calloc(1, sizeof (*cp))) == NULL)
		return (CFG_DOOR_FAIL_NO_RESOURCES);
	(void) mutex_init(&cp->rc_lock, USYNC_THREAD, NULL);
	cp->rc_pid = ucred_getpid(uc);
	cp->rc_euid = ucred_geteuid(uc);
	cp->rc_refcnt = 1;			/* the table's */

	(void) mutex_lock(&client_lock);
	cp->rc_id = ++client_maxid;
	(void) mutex_unlock(&client_lock);

	cp->rc_doorfd = door_create(client_switcher,
	    (void *)(uintptr_t)cp->rc_id,
	    DOOR_UNREF | DOOR_REFUSE_DESC | DOOR_NO_CANCEL);
	if (cp->rc_doorfd < 0) {
		client_release(cp);
		return (CFG_DOOR_FAIL_NO_RESOURCES);
	}
	(void) door_setparam(cp->rc_doorfd, DOOR_PARAM_DATA_MIN,
	    sizeof (uint32_t));
	(void) door_setparam(cp->rc_doorfd, DOOR_PARAM_DATA_MAX,
	    sizeof (cfg_request_t));

	if ((fd = dup(cp->rc_doorfd)) < 0 ||
	    door_info(cp->rc_doorfd, &info) < 0) {
		if (fd >= 0)
			(void) close(fd);
		(void) door_revoke(cp->rc_doorfd);
		client_release(cp);
		return (CFG_DOOR_FAIL_NO_RESOURCES);
	}
	cp->rc_doorid = info.di_uniquifier;

	(void) mutex_lock(&client_lock);
	cp->rc_next = client_list;
	client_list = cp;
	clients_now++;
	clients_total++;
	(void) mutex_unlock(&client_lock);

	configd_info("client %u (pid %d, euid %d) connected", cp->rc_id,
	    (int)cp->rc_pid, (int)cp->rc_euid);
	*out_fd = fd;
	return (CFG_DOOR_SUCCESS);
}
