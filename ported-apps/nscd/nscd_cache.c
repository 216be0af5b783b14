/*
 * nscd_cache.c: the cache behind the door. Each database is a local file
 * (passwd or group format) parsed into memory; it is read again only when
 * the file changes (another inode, size or modification time), so a
 * lookup costs a stat and a scan, never a read of the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nscd.h"

typedef struct nsc_ent {
	const char	*ne_line;	/* the whole entry, NUL-terminated */
	size_t		ne_namelen;	/* the name is the line's first field */
	uint32_t	ne_id;		/* its uid or gid (third field) */
} nsc_ent_t;

typedef struct nsc_db {
	const char	*db_path;
	pthread_rwlock_t db_lock;
	int		db_stale;	/* forced reload (SIGHUP) */
	struct stat	db_st;		/* the file as we last read it */
	char		*db_text;	/* its contents, lines split in place */
	nsc_ent_t	*db_ents;
	size_t		db_nents;
} nsc_db_t;

static nsc_db_t dbs[NSC_DB_COUNT] = {
	{ .db_lock = PTHREAD_RWLOCK_INITIALIZER, .db_stale = 1 },
	{ .db_lock = PTHREAD_RWLOCK_INITIALIZER, .db_stale = 1 },
};

int
rb_append(rbuf_t *rb, const void *data, size_t len)
{
	size_t size;
	char *p;

	if (rb->rb_len + len > rb->rb_size) {
		for (size = rb->rb_size ? rb->rb_size : 4096;
		    size < rb->rb_len + len; size *= 2)
			;
		if ((p = realloc(rb->rb_buf, size)) == NULL)
			return (-1);
		rb->rb_buf = p;
		rb->rb_size = size;
	}
	(void) memcpy(rb->rb_buf + rb->rb_len, data, len);
	rb->rb_len += len;
	return (0);
}

/*
 * Parse one line; 0 if it is an entry (name:x:id:...), -1 if not
 * (comments, blank lines, compat "+"/"-" lines, bad ids).
 */
static int
parse_line(char *line, nsc_ent_t *ne)
{
	char *colon, *end;
	unsigned long id;

	if (*line == '\0' || *line == '#' || *line == '+' || *line == '-')
		return (-1);
	if ((colon = strchr(line, ':')) == NULL || colon == line)
		return (-1);
	ne->ne_line = line;
	ne->ne_namelen = (size_t)(colon - line);
	/* skip the password field to the id */
	if ((colon = strchr(colon + 1, ':')) == NULL)
		return (-1);
	errno = 0;
	id = strtoul(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != ':' || id > UINT32_MAX)
		return (-1);
	ne->ne_id = (uint32_t)id;
	return (0);
}

/* (Re)read db's file. Called with the write lock held. */
static int
load(nsc_db_t *db, const struct stat *st)
{
	char *text, *line, *nl;
	nsc_ent_t *ents;
	size_t n, max;
	ssize_t got;
	off_t off;
	int fd;

	if ((fd = open(db->db_path, O_RDONLY)) < 0)
		return (-1);
	if ((text = malloc((size_t)st->st_size + 1)) == NULL) {
		(void) close(fd);
		return (-1);
	}
	for (off = 0; off < st->st_size; off += got) {
		got = read(fd, text + off, (size_t)(st->st_size - off));
		if (got <= 0)
			break;
	}
	(void) close(fd);
	text[off] = '\0';

	for (max = 1, line = text; *line != '\0'; line++)
		max += *line == '\n';
	if ((ents = calloc(max, sizeof (nsc_ent_t))) == NULL) {
		free(text);
		return (-1);
	}
	for (n = 0, line = text; line != NULL && *line != '\0'; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if (parse_line(line, &ents[n]) == 0)
			n++;
	}

	free(db->db_text);
	free(db->db_ents);
	db->db_text = text;
	db->db_ents = ents;
	db->db_nents = n;
	db->db_st = *st;
	db->db_stale = 0;
	logmsg("loaded %zu entries from %s", n, db->db_path);
	return (0);
}

static int
changed(const nsc_db_t *db, const struct stat *st)
{
	return (db->db_stale || st->st_ino != db->db_st.st_ino ||
	    st->st_dev != db->db_st.st_dev ||
	    st->st_size != db->db_st.st_size ||
	    st->st_mtime != db->db_st.st_mtime);
}

/* Make sure db reflects its file; returns with the read lock held. */
static int
refresh(nsc_db_t *db)
{
	struct stat st;
	int rc = 0;

	if (stat(db->db_path, &st) < 0)
		return (-1);
	(void) pthread_rwlock_rdlock(&db->db_lock);
	if (!changed(db, &st))
		return (0);
	(void) pthread_rwlock_unlock(&db->db_lock);

	(void) pthread_rwlock_wrlock(&db->db_lock);
	if (changed(db, &st))	/* unless another thread just did it */
		rc = load(db, &st);
	(void) pthread_rwlock_unlock(&db->db_lock);
	if (rc < 0)
		return (-1);
	(void) pthread_rwlock_rdlock(&db->db_lock);
	return (0);
}

int
cache_init(nsc_dbid_t db, const char *path)
{
	dbs[db].db_path = path;
	if (refresh(&dbs[db]) < 0)
		return (-1);
	(void) pthread_rwlock_unlock(&dbs[db].db_lock);
	return (0);
}

void
cache_invalidate(void)
{
	int i;

	for (i = 0; i < NSC_DB_COUNT; i++) {
		(void) pthread_rwlock_wrlock(&dbs[i].db_lock);
		dbs[i].db_stale = 1;
		(void) pthread_rwlock_unlock(&dbs[i].db_lock);
	}
}

int
cache_search(nsc_dbid_t dbid, const char *name, int byid, uint32_t id,
    rbuf_t *rb)
{
	nsc_db_t *db = &dbs[dbid];
	const nsc_ent_t *ne;
	size_t i, namelen = name != NULL ? strlen(name) : 0;
	int found = 0, rc = 0;

	if (refresh(db) < 0)
		return (-1);
	for (i = 0; i < db->db_nents && rc == 0; i++) {
		ne = &db->db_ents[i];
		if (name != NULL && (ne->ne_namelen != namelen ||
		    strncmp(ne->ne_line, name, namelen) != 0))
			continue;
		if (byid && ne->ne_id != id)
			continue;
		if (rb_append(rb, ne->ne_line, strlen(ne->ne_line)) < 0 ||
		    rb_append(rb, "\n", 1) < 0)
			rc = -1;
		found++;
		/* like getpwnam and friends, a key finds the first entry */
		if (name != NULL || byid)
			break;
	}
	(void) pthread_rwlock_unlock(&db->db_lock);
	return (rc < 0 ? -1 : found);
}
