/*
 * The server thread's service loop and door_return, in C because they use
 * sigsetjmp/siglongjmp, which Rust cannot call soundly.
 *
 * A thread's first door_return enters serve_forever(), which never returns:
 * it records a jump point, asks Rust for the next invocation, and calls the
 * procedure. A later successful door_return jumps back to that point,
 * abandoning the procedure's frames exactly as illumos resets the server
 * thread's stack, so serving any number of calls never grows the stack.
 * Rust code runs only in calls that return before any jump (ops->next,
 * ops->reply), so no Rust frame is ever jumped over.
 *
 * The jump does not save or restore the signal mask, as on illumos.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

typedef void (*procedure_fn)(void *, char *, size_t, void *, uint64_t);
typedef void (*server_fn)(void *);

/* Must match serve::Dispatch. */
struct dispatch {
	procedure_fn procedure;
	void *cookie;
	char *argp;
	size_t arg_size;
	void *dp;
	uint64_t n_desc;
	server_fn depletion;
	void *depletion_info;
};

/* Must match lib.rs Ops. */
struct ops {
	void (*next)(struct dispatch *);
	int (*reply)(char *, size_t, void *, unsigned);
	int (*open_door)(int, const char *, int);
};

const struct ops *libdoor_ops;

void libdoor_set_ops(const struct ops *ops) { libdoor_ops = ops; }

static __thread sigjmp_buf service_point;
static __thread int in_service;
static __thread struct dispatch current;

static void serve_forever(void) __attribute__((noreturn));

static void serve_forever(void)
{
	in_service = 1;
	/* Every successful door_return lands here, on this same frame. */
	(void)sigsetjmp(service_point, 0);
	libdoor_ops->next(&current);
	if (current.procedure == NULL)
		pthread_exit(NULL);
	if (current.depletion != NULL)
		current.depletion(current.depletion_info);
	current.procedure(current.cookie, current.argp, current.arg_size, current.dp, current.n_desc);
	/*
	 * The procedure returned instead of calling door_return: as on
	 * illumos the thread ends, and its caller gets EINTR (the Rust key
	 * destructor answers it).
	 */
	pthread_exit(NULL);
}

int libdoor_door_return(char *data_ptr, size_t data_size, void *desc_ptr, unsigned num_desc)
{
	int err = libdoor_ops->reply(data_ptr, data_size, desc_ptr, num_desc);
	if (err != 0) {
		errno = err;
		return -1;
	}
	if (in_service)
		siglongjmp(service_point, 1);
	serve_forever();
}

static void *server_thread(void *arg)
{
	(void)arg;
	/* Default server threads are not cancellable, as on illumos. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	libdoor_door_return(NULL, 0, NULL, 0);
	return NULL;
}

/* The default door_server_create function: one more detached thread. */
void libdoor_default_server_create(void *info)
{
	pthread_t t;
	pthread_attr_t attr;

	(void)info;
	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)pthread_create(&t, &attr, server_thread, NULL);
	pthread_attr_destroy(&attr);
	sched_yield();
}
