/*
 * Helpers shared by the credential tests (ucred.c, door_ucred.c,
 * cred_forgery.c, hidden_proc.c): a process's own account of its ids,
 * switching ids in a forked child, a procedure reporting what door_ucred
 * says of its caller, and comparing a ucred_t with an expected set of ids,
 * field by field.
 */
#ifndef LIBDOOR_CRED_TEST_H
#define LIBDOOR_CRED_TEST_H

#include "door_test.h"

#include <grp.h>
#include <ucred.h>

#define MAX_TEST_GROUPS 1100

/* Ids as a process sees them itself. */
struct ids {
	pid_t pid;
	uid_t uid[3]; /* real, effective, saved */
	gid_t gid[3];
	int ngroups;
	gid_t groups[MAX_TEST_GROUPS];
};

static inline void my_ids(struct ids *m)
{
	memset(m, 0, sizeof *m);
	m->pid = getpid();
	CHECK_OK(getresuid(&m->uid[0], &m->uid[1], &m->uid[2]));
	CHECK_OK(getresgid(&m->gid[0], &m->gid[1], &m->gid[2]));
	m->ngroups = getgroups(MAX_TEST_GROUPS, m->groups);
	CHECK(m->ngroups >= 0);
}

static inline int am_root(void)
{
	return geteuid() == 0;
}

/*
 * Switches this (forked, root) process to the given ids and supplementary
 * groups, and checks that it took. Changing ids clears the parent-death
 * signal spawn_tied set, so it is set again.
 */
static inline void become(uid_t ru, uid_t eu, uid_t su, gid_t rg, gid_t eg, gid_t sg, int ngroups,
    const gid_t *groups)
{
	pid_t parent = getppid();
	CHECK_OK(setgroups((size_t)ngroups, groups));
	CHECK_OK(setresgid(rg, eg, sg));
	CHECK_OK(setresuid(ru, eu, su));
	CHECK_OK(prctl(PR_SET_PDEATHSIG, SIGKILL));
	CHECK(getppid() == parent);
	struct ids m;
	my_ids(&m);
	CHECK(m.uid[0] == ru && m.uid[1] == eu && m.uid[2] == su);
	CHECK(m.gid[0] == rg && m.gid[1] == eg && m.gid[2] == sg);
	CHECK(m.ngroups == ngroups);
}

/* What a procedure saw of its caller (`report_caller`): door_ucred's
 * result and the ids it reported. */
struct caller_seen {
	int rc, err;
	pid_t pid;
	uid_t ruid, euid;
	gid_t egid;
};

/* A door procedure that returns what door_ucred says of its caller, as a
 * struct caller_seen. */
static inline void report_caller(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)cookie; (void)argp; (void)size; (void)dp; (void)n;
	struct caller_seen s = { 0 };
	ucred_t *uc = NULL;
	errno = 0;
	s.rc = door_ucred(&uc);
	s.err = errno;
	if (s.rc == 0) {
		s.pid = ucred_getpid(uc);
		s.ruid = ucred_getruid(uc);
		s.euid = ucred_geteuid(uc);
		s.egid = ucred_getegid(uc);
		ucred_free(uc);
	}
	door_return((char *)&s, sizeof s, NULL, 0);
}

/*
 * Whether `uc` says exactly `want`: pid, the six ids and the groups (and
 * a NULL group pointer when there are none). On a mismatch `why` says
 * which field. Async-signal-unsafe but thread-safe: fine in a procedure.
 */
static inline int ucred_is(const ucred_t *uc, const struct ids *want, char *why, size_t n)
{
	pid_t pid = ucred_getpid(uc);
	uid_t u[3] = { ucred_getruid(uc), ucred_geteuid(uc), ucred_getsuid(uc) };
	gid_t g[3] = { ucred_getrgid(uc), ucred_getegid(uc), ucred_getsgid(uc) };
	const gid_t *groups = (const gid_t *)1;
	int ng = ucred_getgroups(uc, &groups);
	if (pid != want->pid) {
		snprintf(why, n, "pid %d, wanted %d", (int)pid, (int)want->pid);
		return 0;
	}
	for (int i = 0; i < 3; i++) {
		if (u[i] != want->uid[i] || g[i] != want->gid[i]) {
			snprintf(why, n, "uid/gid %d: %u/%u, wanted %u/%u", i, (unsigned)u[i], (unsigned)g[i],
			    (unsigned)want->uid[i], (unsigned)want->gid[i]);
			return 0;
		}
	}
	if (ng != want->ngroups) {
		snprintf(why, n, "%d groups, wanted %d", ng, want->ngroups);
		return 0;
	}
	if (ng == 0 && groups != NULL) {
		snprintf(why, n, "no groups but a non-NULL group pointer");
		return 0;
	}
	for (int i = 0; i < ng; i++) {
		if (groups[i] != want->groups[i]) {
			snprintf(why, n, "group %d is %u, wanted %u", i, (unsigned)groups[i], (unsigned)want->groups[i]);
			return 0;
		}
	}
	return 1;
}

/* CHECK that `uc` says exactly `want`, naming the mismatch. */
#define CHECK_UCRED(uc, want)                                                     \
	do {                                                                          \
		char why_[160];                                                           \
		if (!ucred_is((uc), (want), why_, sizeof why_)) {                         \
			fprintf(stderr, "FAIL %s: %s:%d: %s: %s\n", test_name, __FILE__, __LINE__, #uc, why_); \
			exit(1);                                                              \
		}                                                                         \
	} while (0)

#endif
