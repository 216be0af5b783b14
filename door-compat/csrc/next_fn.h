/* The next definition of an interposed name (libc's, or another
 * interposer's), looked up once per call site; the race is benign. */
#ifndef LIBDOOR_NEXT_FN_H
#define LIBDOOR_NEXT_FN_H

#include <dlfcn.h>
#include <stddef.h>

static inline void *next_fn(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (f == NULL) {
		f = dlsym(RTLD_NEXT, name);
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	}
	return f;
}

#endif
