/* The shipped headers reproduce the illumos amd64 ABI (doors-spec §2, §3):
 * every size, alignment and offset of the door structs, the prototypes and
 * function typedefs, and every constant. Almost all of it is checked at
 * compile time; at run time a door made here is called from a forked client,
 * and door_info is shown to write exactly sizeof(door_info_t) bytes. */
#include "door_test.h"

#include <stddef.h>

#define SAME_TYPE(a, b) __builtin_types_compatible_p(a, b)
#define ASSERT(cond) _Static_assert(cond, #cond)

/* §2.1 scalar typedefs. */
ASSERT(sizeof(door_ptr_t) == 8 && sizeof(door_id_t) == 8 && sizeof(door_attr_t) == 4);
ASSERT(SAME_TYPE(door_ptr_t, unsigned long long) || SAME_TYPE(door_ptr_t, unsigned long));
ASSERT(SAME_TYPE(door_id_t, unsigned long long) || SAME_TYPE(door_id_t, unsigned long));
ASSERT(SAME_TYPE(door_attr_t, unsigned int));
ASSERT(SAME_TYPE(uint_t, unsigned int));

/* §2.3 door_desc_t: 24 bytes, align 4 (#pragma pack(4)). */
ASSERT(sizeof(door_desc_t) == 24);
ASSERT(_Alignof(door_desc_t) == 4);
ASSERT(offsetof(door_desc_t, d_attributes) == 0);
ASSERT(offsetof(door_desc_t, d_data) == 4);
ASSERT(offsetof(door_desc_t, d_data.d_desc) == 4);
ASSERT(offsetof(door_desc_t, d_data.d_desc.d_descriptor) == 4);
ASSERT(offsetof(door_desc_t, d_data.d_desc.d_id) == 8);
ASSERT(offsetof(door_desc_t, d_data.d_resv) == 4);
ASSERT(sizeof(((door_desc_t *)0)->d_data) == 20);
ASSERT(sizeof(((door_desc_t *)0)->d_data.d_desc) == 12);
ASSERT(sizeof(((door_desc_t *)0)->d_data.d_resv) == 20);
ASSERT(SAME_TYPE(__typeof__(((door_desc_t *)0)->d_attributes), door_attr_t));
ASSERT(SAME_TYPE(__typeof__(((door_desc_t *)0)->d_data.d_desc.d_descriptor), int));
ASSERT(SAME_TYPE(__typeof__(((door_desc_t *)0)->d_data.d_desc.d_id), door_id_t));
/* An array of them is packed too: element 1 starts at 24. */
ASSERT(sizeof(door_desc_t[3]) == 72);

/* §2.4 door_info_t: 48 bytes, align 4; struct door_info is the same type. */
ASSERT(sizeof(door_info_t) == 48);
ASSERT(_Alignof(door_info_t) == 4);
ASSERT(SAME_TYPE(door_info_t, struct door_info));
ASSERT(offsetof(door_info_t, di_target) == 0);
ASSERT(offsetof(door_info_t, di_proc) == 4);
ASSERT(offsetof(door_info_t, di_data) == 12);
ASSERT(offsetof(door_info_t, di_attributes) == 20);
ASSERT(offsetof(door_info_t, di_uniquifier) == 24);
ASSERT(offsetof(door_info_t, di_resv) == 32);
ASSERT(sizeof(((door_info_t *)0)->di_resv) == 16);
ASSERT(SAME_TYPE(__typeof__(((door_info_t *)0)->di_target), pid_t));
ASSERT(SAME_TYPE(__typeof__(((door_info_t *)0)->di_proc), door_ptr_t));
ASSERT(SAME_TYPE(__typeof__(((door_info_t *)0)->di_data), door_ptr_t));
ASSERT(SAME_TYPE(__typeof__(((door_info_t *)0)->di_attributes), door_attr_t));
ASSERT(SAME_TYPE(__typeof__(((door_info_t *)0)->di_uniquifier), door_id_t));

/* §2.5 door_cred_t: 36 bytes, align 4, natural layout. */
ASSERT(sizeof(door_cred_t) == 36);
ASSERT(_Alignof(door_cred_t) == 4);
ASSERT(offsetof(door_cred_t, dc_euid) == 0);
ASSERT(offsetof(door_cred_t, dc_egid) == 4);
ASSERT(offsetof(door_cred_t, dc_ruid) == 8);
ASSERT(offsetof(door_cred_t, dc_rgid) == 12);
ASSERT(offsetof(door_cred_t, dc_pid) == 16);
ASSERT(offsetof(door_cred_t, dc_resv) == 20);

/* §2.6 door_arg_t: 48 bytes, align 8, natural layout. */
ASSERT(sizeof(door_arg_t) == 48);
ASSERT(_Alignof(door_arg_t) == 8);
ASSERT(offsetof(door_arg_t, data_ptr) == 0);
ASSERT(offsetof(door_arg_t, data_size) == 8);
ASSERT(offsetof(door_arg_t, desc_ptr) == 16);
ASSERT(offsetof(door_arg_t, desc_num) == 24);
ASSERT(offsetof(door_arg_t, rbuf) == 32);
ASSERT(offsetof(door_arg_t, rsize) == 40);
ASSERT(SAME_TYPE(__typeof__(((door_arg_t *)0)->data_ptr), char *));
ASSERT(SAME_TYPE(__typeof__(((door_arg_t *)0)->data_size), size_t));
ASSERT(SAME_TYPE(__typeof__(((door_arg_t *)0)->desc_ptr), door_desc_t *));
ASSERT(SAME_TYPE(__typeof__(((door_arg_t *)0)->desc_num), uint_t));
ASSERT(SAME_TYPE(__typeof__(((door_arg_t *)0)->rbuf), char *));
ASSERT(SAME_TYPE(__typeof__(((door_arg_t *)0)->rsize), size_t));

/* §2.8 door_return_desc_t: 16 bytes. */
ASSERT(sizeof(door_return_desc_t) == 16);

/* §2.7 function typedefs are function types, not pointer types. */
ASSERT(SAME_TYPE(door_server_procedure_t, void(void *, char *, size_t, door_desc_t *, uint_t)));
ASSERT(SAME_TYPE(door_server_func_t, void(door_info_t *)));
ASSERT(SAME_TYPE(door_xcreate_server_func_t, int(door_info_t *, void *(*)(void *), void *, void *)));
ASSERT(SAME_TYPE(door_xcreate_thrsetup_func_t, void(void *)));

/* §4 prototypes of the functions the header declares. */
ASSERT(SAME_TYPE(__typeof__(door_create), int(door_server_procedure_t *, void *, uint_t)));
ASSERT(SAME_TYPE(__typeof__(door_call), int(int, door_arg_t *)));
ASSERT(SAME_TYPE(__typeof__(door_return), int(char *, size_t, door_desc_t *, uint_t)));
ASSERT(SAME_TYPE(__typeof__(door_revoke), int(int)));
ASSERT(SAME_TYPE(__typeof__(door_info), int(int, door_info_t *)));
ASSERT(SAME_TYPE(__typeof__(door_server_create), door_server_func_t *(door_server_func_t *)));
ASSERT(SAME_TYPE(__typeof__(fattach), int(int, const char *)));
ASSERT(SAME_TYPE(__typeof__(fdetach), int(const char *)));

/* §3.1 attributes door_create accepts. */
ASSERT(DOOR_UNREF == 0x01);
ASSERT(DOOR_PRIVATE == 0x02);
ASSERT(DOOR_UNREF_MULTI == 0x10);
ASSERT(DOOR_REFUSE_DESC == 0x40);
ASSERT(DOOR_NO_CANCEL == 0x80);
ASSERT(DOOR_NO_DEPLETION_CB == 0x100);
/* §3.2 attributes that are only reported. */
ASSERT(DOOR_LOCAL == 0x04);
ASSERT(DOOR_REVOKED == 0x08);
ASSERT(DOOR_IS_UNREF == 0x20);
ASSERT(DOOR_PRIVCREATE == 0x200);
ASSERT(DOOR_DEPLETION_CB == 0x400);
/* §3.3 masks. */
ASSERT(DOOR_CREATE_MASK == 0x3D3);
ASSERT(DOOR_KI_CREATE_MASK == 0x11);
ASSERT(DOOR_ATTR_MASK == 0x3FF);
ASSERT((DOOR_ATTR_MASK & DOOR_DEPLETION_CB) == 0);
/* §3.4 descriptor tags. */
ASSERT(DOOR_DESCRIPTOR == 0x10000);
ASSERT(DOOR_RELEASE == 0x40000);
/* §3.5 internal flags still visible. */
ASSERT(DOOR_DELAY == 0x80000);
ASSERT(DOOR_UNREF_ACTIVE == 0x100000);
/* §3.6 special values (DOOR_UNREF_DATA is a pointer: checked at run time). */
ASSERT(DOOR_INVAL == -1);
ASSERT(DOOR_QUERY == -2);
/* §3.7 parameter names. */
ASSERT(DOOR_PARAM_DESC_MAX == 1);
ASSERT(DOOR_PARAM_DATA_MAX == 2);
ASSERT(DOOR_PARAM_DATA_MIN == 3);
/* §3.8 syscall subcodes. */
ASSERT(DOOR_CREATE == 0);
ASSERT(DOOR_REVOKE == 1);
ASSERT(DOOR_INFO == 2);
ASSERT(DOOR_CALL == 3);
ASSERT(DOOR_BIND == 6);
ASSERT(DOOR_UNBIND == 7);
ASSERT(DOOR_UNREFSYS == 8);
ASSERT(DOOR_UCRED == 9);
ASSERT(DOOR_RETURN == 10);
ASSERT(DOOR_GETPARAM == 11);
ASSERT(DOOR_SETPARAM == 12);
/* §3.9 the door file type. */
ASSERT(S_IFDOOR == 0xD000);
ASSERT(S_IFDOOR == 0150000);
ASSERT(S_ISDOOR(S_IFDOOR | 0644));
ASSERT(S_ISDOOR(0xD000));
ASSERT(!S_ISDOOR(S_IFREG | 0644));
ASSERT(!S_ISDOOR(S_IFSOCK | 0777));
ASSERT(!S_ISDOOR(S_IFDIR));
ASSERT(!S_ISDOOR(0));
/* §3.10 the descriptor limit. */
ASSERT(DOOR_MAX_DESC == 1024);

/* The cookie the server reports back. */
#define COOKIE ((void *)0x5eed)

static void server_proc(void *cookie, char *argp, size_t size, door_desc_t *dp, uint_t n)
{
	(void)argp; (void)dp; (void)n;
	/* Reply with the cookie and the argument size, to show both arrived. */
	uint64_t out[2] = { (uint64_t)(uintptr_t)cookie, size };
	door_return((char *)out, sizeof out, NULL, 0);
}

static void client(void *arg)
{
	int d = *(int *)arg;
	uint64_t out[2];
	CHECK(call_door(d, "abc", 3, out, sizeof out) == (long)sizeof out);
	CHECK(out[0] == (uint64_t)(uintptr_t)COOKIE && out[1] == 3);

	/* door_info writes 48 bytes, no more, and reports what was given. */
	unsigned char buf[sizeof(door_info_t) + 16];
	memset(buf, 0xA5, sizeof buf);
	CHECK_OK(door_info(d, (door_info_t *)buf));
	for (size_t i = sizeof(door_info_t); i < sizeof buf; i++)
		CHECK(buf[i] == 0xA5);
	door_info_t di;
	memcpy(&di, buf, sizeof di);
	CHECK(di.di_target == getppid());
	CHECK(di.di_proc == (door_ptr_t)(uintptr_t)server_proc);
	CHECK(di.di_data == (door_ptr_t)(uintptr_t)COOKIE);
	CHECK(di.di_uniquifier != 0);
}

int main(void)
{
	test_name = "abi_layout";
	watchdog(30);
	/* The one constant a static assertion cannot see. */
	CHECK(DOOR_UNREF_DATA == (void *)1);

	int d = door_create(server_proc, COOKIE, 0);
	CHECK(d >= 0);
	int before = count_fds();
	reap_ok_within(spawn_tied_fd_neutral(client, &d), 20, "client");
	fds_back(before, 10, "server, after its client");
	CHECK_OK(door_revoke(d));
	PASS();
}
