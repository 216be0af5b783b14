/*
 * The repository: properties named FMRI/pg/prop (svc:/net/ssh:default/
 * general/enabled), each with a string value, kept sorted in memory and,
 * with -r, in a text file rewritten after every change so that a new
 * svc.configd taking over finds what its predecessor committed.
 *
 * backend_lock (a rwlock_t) lets readers share the repository and writers
 * have it alone. Clients waiting for changes sleep on change_cv under
 * change_lock; a writer broadcasts it after dropping backend_lock, so the
 * lock order is change_lock, then backend_lock, and never the reverse.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "configd.h"

#define	BACKEND_MAX_ANSWER	(16 * 1024 * 1024)

typedef struct prop {
	char		*p_name;
	char		*p_value;
	uint64_t	p_gen;		/* backend_gen when last set */
} prop_t;

static rwlock_t	backend_lock = DEFAULTRWLOCK;
static prop_t	*props;			/* sorted by name */
static uint32_t	nprops, aprops;
static uint64_t	backend_gen;		/* bumped by every change */
static const char *backend_path;	/* NULL: memory only */

static mutex_t	change_lock = DEFAULTMUTEX;
static cond_t	change_cv = DEFAULTCV;
static int	backend_closing;
static int	backend_waiters;	/* clients in backend_wait */

static int
fmri_char(char c)
{
	return ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("_-.,:/", c) != NULL);
}

static int
component_char(char c)
{
	return (fmri_char(c) && c != '/' && c != ':');
}

/*
 * A name is "svc:/" FMRI "/" pg "/" prop. A prefix (for LIST and WAIT)
 * is any leading part of one: "svc:/net/ssh", "svc:/net/ssh:default/
 * general"; LIST also takes the empty prefix.
 */
int
backend_check_name(const char *name, int prefix)
{
	const char *pg, *prop, *p;
	size_t len;

	if ((p = memchr(name, '\0', CFG_NAME_MAX)) == NULL)
		return (CFG_FAIL_BAD_REQUEST);
	len = p - name;
	if (prefix && len == 0)
		return (CFG_SUCCESS);
	if (strncmp(name, "svc:/", 5) != 0 || len <= 5)
		return (CFG_FAIL_BAD_REQUEST);
	for (p = name; *p != '\0'; p++) {
		if (!fmri_char(*p))
			return (CFG_FAIL_BAD_REQUEST);
	}
	if (prefix)
		return (CFG_SUCCESS);

	if ((prop = strrchr(name, '/')) == NULL || prop <= name + 5)
		return (CFG_FAIL_BAD_REQUEST);
	for (pg = prop - 1; pg > name + 5 && *pg != '/'; pg--)
		;
	if (pg <= name + 5 || prop - pg < 2 || prop[1] == '\0')
		return (CFG_FAIL_BAD_REQUEST);
	for (p = pg + 1; *p != '\0'; p++) {
		if (p != prop && !component_char(*p))
			return (CFG_FAIL_BAD_REQUEST);
	}
	return (CFG_SUCCESS);
}

/* Values are one line of printable text: the file keeps one per line. */
int
backend_check_value(const char *value)
{
	const char *p;

	if (memchr(value, '\0', CFG_VALUE_MAX) == NULL)
		return (CFG_FAIL_BAD_REQUEST);
	for (p = value; *p != '\0'; p++) {
		if ((unsigned char)*p < ' ' || *p == 0x7f)
			return (CFG_FAIL_BAD_REQUEST);
	}
	return (CFG_SUCCESS);
}

/* Where `name` is, or would go. Caller holds backend_lock. */
static uint32_t
prop_find(const char *name, int *found)
{
	uint32_t lo = 0, hi = nprops;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(props[mid].p_name, name);

		if (c == 0) {
			*found = 1;
			return (mid);
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return (lo);
}

/*
 * Whether `name` lies under `prefix`: "svc:/net/ssh" covers itself,
 * "svc:/net/ssh:default" and "svc:/net/ssh/general/x", not "svc:/net/sshd".
 */
static int
under(const char *name, const char *prefix, size_t plen)
{
	if (plen == 0)
		return (1);
	if (strncmp(name, prefix, plen) != 0)
		return (0);
	return (name[plen] == '\0' || name[plen] == '/' || name[plen] == ':' ||
	    prefix[plen - 1] == '/' || prefix[plen - 1] == ':');
}

/* Sets one property. Caller holds backend_lock as writer. */
static int
prop_set(const char *name, const char *value)
{
	uint32_t i;
	int found;
	char *v, *n;

	if ((v = strdup(value)) == NULL)
		return (CFG_FAIL_NO_RESOURCES);
	i = prop_find(name, &found);
	if (!found) {
		if (nprops == aprops) {
			uint32_t na = aprops == 0 ? 32 : aprops * 2;
			prop_t *np = realloc(props, na * sizeof (prop_t));

			if (np == NULL) {
				free(v);
				return (CFG_FAIL_NO_RESOURCES);
			}
			props = np;
			aprops = na;
		}
		if ((n = strdup(name)) == NULL) {
			free(v);
			return (CFG_FAIL_NO_RESOURCES);
		}
		(void) memmove(&props[i + 1], &props[i],
		    (nprops - i) * sizeof (prop_t));
		props[i].p_name = n;
		props[i].p_value = NULL;
		nprops++;
	}
	free(props[i].p_value);
	props[i].p_value = v;
	props[i].p_gen = ++backend_gen;
	return (CFG_SUCCESS);
}

/*
 * Writes the repository to a new file and renames it into place, so that
 * a reader (our successor) sees either the old file or the new one.
 * Caller holds backend_lock.
 */
static int
backend_save(void)
{
	char tmp[1024];
	uint32_t i;
	FILE *f;
	int fd;

	if (backend_path == NULL)
		return (CFG_SUCCESS);
	if (snprintf(tmp, sizeof (tmp), "%s.new.%d", backend_path,
	    (int)getpid()) >= (int)sizeof (tmp))
		return (CFG_FAIL_BACKEND);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			(void) close(fd);
		configd_info("%s: %s", tmp, strerror(errno));
		return (CFG_FAIL_BACKEND);
	}
	for (i = 0; i < nprops; i++)
		(void) fprintf(f, "%s=%s\n", props[i].p_name, props[i].p_value);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0 || ferror(f)) {
		configd_info("%s: %s", tmp, strerror(errno));
		(void) fclose(f);
		(void) unlink(tmp);
		return (CFG_FAIL_BACKEND);
	}
	(void) fclose(f);
	if (rename(tmp, backend_path) != 0) {
		configd_info("%s: %s", backend_path, strerror(errno));
		(void) unlink(tmp);
		return (CFG_FAIL_BACKEND);
	}
	return (CFG_SUCCESS);
}

/* Loads `path` if it exists. Returns 0 on failure. */
int
backend_init(const char *path)
{
	char line[CFG_NAME_MAX + CFG_VALUE_MAX + 2];
	int lineno = 0;
	FILE *f;

	backend_path = path;
	if (path == NULL)
		return (1);
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return (1);
		configd_critical("%s: %s", path, strerror(errno));
		return (0);
	}
	while (fgets(line, sizeof (line), f) != NULL) {
		char *eq, *nl;

		lineno++;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if ((eq = strchr(line, '=')) == NULL)
			goto bad;
		*eq = '\0';
		if (backend_check_name(line, 0) != CFG_SUCCESS ||
		    strlen(eq + 1) >= CFG_VALUE_MAX ||
		    backend_check_value(eq + 1) != CFG_SUCCESS)
			goto bad;
		if (prop_set(line, eq + 1) != CFG_SUCCESS) {
			configd_critical("%s: out of memory", path);
			(void) fclose(f);
			return (0);
		}
		continue;
bad:
		configd_info("%s:%d: malformed line ignored", path, lineno);
	}
	(void) fclose(f);
	return (1);
}

int
backend_get(const char *name, char *value, size_t size)
{
	uint32_t i;
	int found;

	(void) rw_rdlock(&backend_lock);
	i = prop_find(name, &found);
	if (found)
		(void) snprintf(value, size, "%s", props[i].p_value);
	(void) rw_unlock(&backend_lock);
	return (found ? CFG_SUCCESS : CFG_FAIL_NOT_FOUND);
}

/*
 * Sets n properties at once (a single change or a committed transaction):
 * readers see all of them or none. Names and values were checked.
 */
int
backend_set(const char **names, const char **values, int n)
{
	int i, ret = CFG_SUCCESS;

	(void) rw_wrlock(&backend_lock);
	for (i = 0; i < n && ret == CFG_SUCCESS; i++)
		ret = prop_set(names[i], values[i]);
	if (i > 0) {
		int r = backend_save();

		if (ret == CFG_SUCCESS)
			ret = r;
	}
	(void) rw_unlock(&backend_lock);

	/* Wake every waiter: each looks for a change under its prefix. */
	(void) mutex_lock(&change_lock);
	(void) cond_broadcast(&change_cv);
	(void) mutex_unlock(&change_lock);
	return (ret);
}

/*
 * The properties under `prefix` as "name=value" lines, in this thread's
 * result buffer after `hdr` bytes left for the caller's header. Returns
 * the buffer, or NULL if it cannot be had.
 */
char *
backend_list(const char *prefix, uint32_t *countp, size_t *lenp, size_t hdr)
{
	size_t plen = strlen(prefix), need = 1, off;
	uint32_t i, count = 0;
	char *buf;

	(void) rw_rdlock(&backend_lock);
	for (i = 0; i < nprops; i++) {
		if (under(props[i].p_name, prefix, plen))
			need += strlen(props[i].p_name) +
			    strlen(props[i].p_value) + 2;
	}
	if (need > BACKEND_MAX_ANSWER ||
	    (buf = thread_buffer(hdr + need)) == NULL) {
		(void) rw_unlock(&backend_lock);
		return (NULL);
	}
	off = hdr;
	for (i = 0; i < nprops; i++) {
		if (!under(props[i].p_name, prefix, plen))
			continue;
		off += sprintf(buf + off, "%s=%s\n", props[i].p_name,
		    props[i].p_value);
		count++;
	}
	buf[off++] = '\0';
	(void) rw_unlock(&backend_lock);
	*countp = count;
	*lenp = off - hdr;
	return (buf);
}

/*
 * Waits up to `timeout` seconds for a property under `prefix` to change
 * after this call began; the newest such change goes to `out` as
 * "name=value". CFG_FAIL_TIMEOUT if none came (or the daemon is ending).
 */
int
backend_wait(const char *prefix, uint32_t timeout, char *out, size_t size)
{
	size_t plen = strlen(prefix);
	struct timespec now, end;
	uint64_t since;
	int ret = CFG_FAIL_TIMEOUT;

	(void) rw_rdlock(&backend_lock);
	since = backend_gen;
	(void) rw_unlock(&backend_lock);
	(void) clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout;

	(void) mutex_lock(&change_lock);
	backend_waiters++;
	for (;;) {
		uint64_t best = since;
		uint32_t i;
		timestruc_t rel;

		(void) rw_rdlock(&backend_lock);
		for (i = 0; i < nprops; i++) {
			if (props[i].p_gen > best &&
			    under(props[i].p_name, prefix, plen)) {
				best = props[i].p_gen;
				(void) snprintf(out, size, "%s=%s",
				    props[i].p_name, props[i].p_value);
			}
		}
		(void) rw_unlock(&backend_lock);
		if (best != since) {
			ret = CFG_SUCCESS;
			break;
		}
		if (backend_closing)
			break;

		(void) clock_gettime(CLOCK_MONOTONIC, &now);
		rel.tv_sec = end.tv_sec - now.tv_sec;
		rel.tv_nsec = end.tv_nsec - now.tv_nsec;
		if (rel.tv_nsec < 0) {
			rel.tv_nsec += 1000000000L;
			rel.tv_sec--;
		}
		if (rel.tv_sec < 0)
			break;
		/* ETIME: the loop looks once more, then finds no time left. */
		(void) cond_reltimedwait(&change_cv, &change_lock, &rel);
	}
	backend_waiters--;
	(void) mutex_unlock(&change_lock);
	return (ret);
}

/* "properties=" and "waiters=" lines for STATS. */
size_t
backend_stats(char *buf, size_t size)
{
	uint32_t n;
	int w, len;

	(void) rw_rdlock(&backend_lock);
	n = nprops;
	(void) rw_unlock(&backend_lock);
	(void) mutex_lock(&change_lock);
	w = backend_waiters;
	(void) mutex_unlock(&change_lock);
	len = snprintf(buf, size, "properties=%u\nwaiters=%d\n", n, w);
	return (len < 0 ? 0 : (size_t)len < size ? (size_t)len : size - 1);
}

/* Sends every waiter home: the daemon is exiting. */
void
backend_shutdown(void)
{
	(void) mutex_lock(&change_lock);
	backend_closing = 1;
	(void) cond_broadcast(&change_cv);
	(void) mutex_unlock(&change_lock);
}
