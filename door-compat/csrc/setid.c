/*
 * The set*id family, interposed, so that libdoor learns when this process's
 * effective ids may have changed (src/idwatch.rs): calls handed over in a
 * channel's shared region carry no credentials, and are made only while
 * the ids the client last stated on the channel's socket still hold. The
 * next definition (libc's, which changes the ids of every thread) runs
 * first; on success the hook counts a change. errno is libc's.
 */
#define _GNU_SOURCE
#include "next_fn.h"
#include <errno.h>
#include <unistd.h>

typedef void changed_fn(void);
static changed_fn *changed;

void libdoor_set_id_hook(changed_fn *hook)
{
	__atomic_store_n(&changed, hook, __ATOMIC_RELEASE);
}

static int after(int r)
{
	changed_fn *hook = __atomic_load_n(&changed, __ATOMIC_ACQUIRE);
	if (r == 0 && hook != NULL)
		hook();
	return r;
}

#define SETID(wrapper, name, params, args)                                  \
	int wrapper params                                                      \
	{                                                                       \
		static void *slot;                                                  \
		int (*f) params = next_fn(&slot, #name);                            \
		if (f == NULL) {                                                    \
			errno = ENOSYS;                                                 \
			return -1;                                                      \
		}                                                                   \
		int result = f args;                                                \
		int saved = errno;                                                  \
		after(result);                                                      \
		errno = saved;                                                      \
		return result;                                                      \
	}                                                                       \
	_Static_assert(__builtin_types_compatible_p(__typeof__(&wrapper), __typeof__(&name)), #name);

SETID(libdoor_setuid, setuid, (uid_t u), (u))
SETID(libdoor_setgid, setgid, (gid_t g), (g))
SETID(libdoor_seteuid, seteuid, (uid_t u), (u))
SETID(libdoor_setegid, setegid, (gid_t g), (g))
SETID(libdoor_setreuid, setreuid, (uid_t ru, uid_t eu), (ru, eu))
SETID(libdoor_setregid, setregid, (gid_t rg, gid_t eg), (rg, eg))
SETID(libdoor_setresuid, setresuid, (uid_t ru, uid_t eu, uid_t su), (ru, eu, su))
SETID(libdoor_setresgid, setresgid, (gid_t rg, gid_t eg, gid_t sg), (rg, eg, sg))
