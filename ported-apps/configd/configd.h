/*
 * svc.configd: what its files share. configd.c runs the process and its
 * door thread pool, maindoor.c the main door, client.c the per-client doors
 * and requests, backend.c the repository itself.
 */
#ifndef	_CONFIGD_H
#define	_CONFIGD_H

#include <door.h>
#include <synch.h>
#include <sys/types.h>
#include <thread.h>
#include <ucred.h>

#include "cfg_protocol.h"

#define	CONFIGD_EXIT_OKAY		0
#define	CONFIGD_EXIT_BAD_ARGS		2
#define	CONFIGD_EXIT_INIT_FAILED	3
#define	CONFIGD_EXIT_DOOR_INIT_FAILED	4
#define	CONFIGD_EXIT_LOST_MAIN_DOOR	5

/*
 * What each door server thread keeps for itself, found with thread_self().
 * Only its own thread touches it after creation.
 */
typedef struct thread_info {
	thread_t	ti_thread;
	ucred_t		*ti_ucred;	/* ucred_size() bytes, for door_ucred */
	int		ti_ucred_read;	/* ti_ucred holds this call's caller */
	char		*ti_buf;	/* for results: door_return never */
	size_t		ti_bufsz;	/* returns, so they cannot be freed */
} thread_info_t;

/* configd.c */
extern uid_t	repository_owner;
thread_info_t	*thread_self(void);
ucred_t		*get_ucred(void);
void		thread_newcall(void);
void		thread_endcall(void);
char		*thread_buffer(size_t);
size_t		thread_stats(char *, size_t);
void		configd_info(const char *, ...);
void		configd_critical(const char *, ...);

/* maindoor.c */
int		setup_main_door(const char *);

/* client.c */
int		create_client(ucred_t *, int *);
size_t		client_stats(char *, size_t);

/* backend.c */
int		backend_init(const char *);
int		backend_check_name(const char *, int);
int		backend_check_value(const char *);
int		backend_get(const char *, char *, size_t);
int		backend_set(const char **, const char **, int);
char		*backend_list(const char *, uint32_t *, size_t *, size_t);
int		backend_wait(const char *, uint32_t, char *, size_t);
size_t		backend_stats(char *, size_t);
void		backend_shutdown(void);

#endif	/* _CONFIGD_H */
