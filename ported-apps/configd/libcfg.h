/*
 * libcfg: the client side of svc.configd's protocol, in the manner of
 * libscf's low-level handle code. A handle binds to the daemon through its
 * main door and from then on talks through a door of its own; if the
 * daemon is replaced, the next call notices (the door is dead, and the
 * main door now belongs to another process or is another door), binds
 * again and tells the application through its restart callback.
 *
 * Every function returns CFG_ERROR_NONE (0) or a cfg_error_t.
 */
#ifndef	_LIBCFG_H
#define	_LIBCFG_H

#include <stdint.h>
#include <sys/types.h>

typedef struct cfg_handle cfg_handle_t;

typedef enum cfg_error {
	CFG_ERROR_NONE = 0,
	CFG_ERROR_NO_MEMORY,
	CFG_ERROR_NO_SERVER,		/* no daemon at the door path */
	CFG_ERROR_CONNECTION_BROKEN,	/* it went away mid-transaction */
	CFG_ERROR_VERSION_MISMATCH,
	CFG_ERROR_PERMISSION_DENIED,
	CFG_ERROR_NOT_FOUND,
	CFG_ERROR_INVALID_ARGUMENT,
	CFG_ERROR_NO_RESOURCES,
	CFG_ERROR_TRANSACTION,		/* none open, or one already */
	CFG_ERROR_TIMEOUT,
	CFG_ERROR_BACKEND,
	CFG_ERROR_INTERNAL
} cfg_error_t;

/*
 * Called with (handle, old daemon pid, new daemon pid, arg) when a call
 * found a different daemon than the handle had bound to, and bound to it.
 * It runs with the handle locked: it must not use the handle.
 */
typedef void cfg_restart_func_t(cfg_handle_t *, pid_t, pid_t, void *);

cfg_handle_t	*cfg_handle_create(const char *);	/* NULL: the default */
void		cfg_handle_destroy(cfg_handle_t *);
int		cfg_handle_bind(cfg_handle_t *);
void		cfg_handle_unbind(cfg_handle_t *);
void		cfg_handle_on_restart(cfg_handle_t *, cfg_restart_func_t *,
		    void *);
pid_t		cfg_handle_server(cfg_handle_t *);
uint32_t	cfg_handle_overflows(cfg_handle_t *);

int	cfg_get(cfg_handle_t *, const char *, char *, size_t);
int	cfg_set(cfg_handle_t *, const char *, const char *, uint32_t *);
int	cfg_list(cfg_handle_t *, const char *, char **, uint32_t *);
int	cfg_stats(cfg_handle_t *, char **);
int	cfg_wait(cfg_handle_t *, const char *, uint32_t, char *, size_t);
int	cfg_tx_begin(cfg_handle_t *);
int	cfg_tx_commit(cfg_handle_t *, uint32_t *);
int	cfg_tx_abort(cfg_handle_t *, uint32_t *);

const char	*cfg_strerror(int);

#endif	/* _LIBCFG_H */
