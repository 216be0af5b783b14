/*
 * nscd.h: what the daemon's door front end (nscd.c) and its file cache
 * (nscd_cache.c) share.
 */
#ifndef _NSCD_H
#define	_NSCD_H

#include <stddef.h>
#include <stdint.h>

/* A growable reply buffer; each server thread keeps one across calls. */
typedef struct rbuf {
	char	*rb_buf;
	size_t	rb_size;
	size_t	rb_len;
} rbuf_t;

extern int rb_append(rbuf_t *rb, const void *data, size_t len);

/* The databases the cache serves. */
typedef enum { NSC_DB_PASSWD, NSC_DB_GROUP, NSC_DB_COUNT } nsc_dbid_t;

extern int cache_init(nsc_dbid_t db, const char *path);
extern void cache_invalidate(void);

/*
 * Append the entries of db that match (by name if name is not NULL, by
 * id if byid, every entry otherwise) to rb, one line each. Returns the
 * number appended, or -1 with errno set.
 */
extern int cache_search(nsc_dbid_t db, const char *name, int byid,
    uint32_t id, rbuf_t *rb);

extern void logmsg(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif /* _NSCD_H */
