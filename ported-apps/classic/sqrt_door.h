/*
 * sqrt_door.h: what sqrt_server and sqrt_client agree on. The argument is
 * a bare double; the reply is this structure.
 */
#ifndef _SQRT_DOOR_H
#define	_SQRT_DOOR_H

typedef struct sqrt_res {
	double	sr_root;	/* the square root of the argument */
	long	sr_thread;	/* the server thread that computed it */
} sqrt_res_t;

#endif /* _SQRT_DOOR_H */
