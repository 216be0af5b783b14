//! The committed headers must be exactly what the generator makes from the
//! Rust sources now. After changing door-compat's exported items, run
//! `cargo run -p abi-check` and commit `include/`.

#[test]
fn committed_headers_match_the_generator() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let mut stale = Vec::new();
    for h in abi_check::generate(root) {
        let committed = std::fs::read_to_string(root.join(h.path)).unwrap_or_default();
        if committed != h.text {
            stale.push(h.path);
        }
    }
    assert!(stale.is_empty(), "headers differ from the generator: {stale:?}; run `cargo run -p abi-check`");
}

#[test]
fn generated_headers_compile_as_c_with_the_illumos_layouts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let dir = std::env::temp_dir().join(format!("abi-check-cc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("layout.c");
    std::fs::write(
        &src,
        "#include <door.h>\n#include <stddef.h>\n\
         _Static_assert(sizeof(door_desc_t) == 24 && _Alignof(door_desc_t) == 4, \"door_desc_t\");\n\
         _Static_assert(offsetof(door_desc_t, d_data.d_desc.d_id) == 8, \"d_id\");\n\
         _Static_assert(sizeof(door_info_t) == 48 && _Alignof(door_info_t) == 4, \"door_info_t\");\n\
         _Static_assert(offsetof(door_info_t, di_uniquifier) == 24, \"di_uniquifier\");\n\
         _Static_assert(sizeof(door_arg_t) == 48 && offsetof(door_arg_t, rbuf) == 32, \"door_arg_t\");\n\
         int main(void) { return 0; }\n",
    )
    .unwrap();
    let status = std::process::Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I"])
        .arg(root.join("include"))
        .arg(&src)
        .status()
        .expect("run cc");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "the headers do not compile, or a layout is wrong");
}

#[test]
fn the_stat_shim_adds_the_door_type_in_either_order() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let dir = std::env::temp_dir().join(format!("abi-check-stat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checks = "_Static_assert(S_IFDOOR == 0xD000 && S_IFDOOR == 0150000, \"S_IFDOOR\");\n\
                  _Static_assert(S_ISDOOR(S_IFDOOR | 0644) && !S_ISDOOR(S_IFSOCK | 0777), \"S_ISDOOR\");\n\
                  _Static_assert(!S_ISDOOR(S_IFREG) && !S_ISDOOR(S_IFDIR) && !S_ISDOOR(0), \"S_ISDOOR\");\n\
                  int main(void) { struct stat st; return stat(\"/\", &st) == 0 && S_ISDIR(st.st_mode) ? 0 : 1; }\n";
    let orders = [
        ("stat_only.c", "#include <sys/stat.h>\n"),
        ("stat_first.c", "#include <sys/stat.h>\n#include <sys/door.h>\n#include <sys/stat.h>\n"),
        ("door_first.c", "#include <door.h>\n#include <sys/stat.h>\n"),
    ];
    let mut failed = Vec::new();
    for (name, includes) in orders {
        let src = dir.join(name);
        std::fs::write(&src, format!("{includes}{checks}")).unwrap();
        let status = std::process::Command::new("cc")
            .args(["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", "-I"])
            .arg(root.join("include"))
            .arg(&src)
            .status()
            .expect("run cc");
        if !status.success() {
            failed.push(name);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed.is_empty(), "include/sys/stat.h does not give S_IFDOOR/S_ISDOOR cleanly: {failed:?}");
}

#[test]
fn the_credential_prototypes_are_illumos_own_and_compile_before_c11() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let dir = std::env::temp_dir().join(format!("abi-check-ucred-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // illumos' declarations, verbatim (ucred.h, door.h): a header whose
    // prototype differs in any type makes this a conflicting redeclaration.
    let illumos = "ucred_t *ucred_get(pid_t pid);\nvoid ucred_free(ucred_t *);\n\
                   uid_t ucred_geteuid(const ucred_t *);\nuid_t ucred_getruid(const ucred_t *);\n\
                   uid_t ucred_getsuid(const ucred_t *);\ngid_t ucred_getegid(const ucred_t *);\n\
                   gid_t ucred_getrgid(const ucred_t *);\ngid_t ucred_getsgid(const ucred_t *);\n\
                   int ucred_getgroups(const ucred_t *, const gid_t **);\n\
                   const priv_set_t *ucred_getprivset(const ucred_t *, priv_ptype_t);\n\
                   uint_t ucred_getpflags(const ucred_t *, uint_t);\npid_t ucred_getpid(const ucred_t *);\n\
                   size_t ucred_size(void);\nint getpeerucred(int, ucred_t **);\n\
                   zoneid_t ucred_getzoneid(const ucred_t *);\nbslabel_t *ucred_getlabel(const ucred_t *);\n\
                   projid_t ucred_getprojid(const ucred_t *);\n";
    let door = "int door_ucred(ucred_t **);\nint door_cred(door_cred_t *);\n";
    let sources = [
        ("ucred_only.c", format!("#include <ucred.h>\n{illumos}")),
        ("ucred_first.c", format!("#include <ucred.h>\n#include <door.h>\n{illumos}{door}")),
        ("door_first.c", format!("#include <door.h>\n#include <ucred.h>\n{illumos}{door}")),
    ];
    let mut failed = Vec::new();
    for (name, text) in sources {
        let src = dir.join(name);
        std::fs::write(&src, format!("{text}int main(void) {{ return 0; }}\n")).unwrap();
        let status = std::process::Command::new("cc")
            .args(["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsyntax-only", "-I"])
            .arg(root.join("include"))
            .arg(&src)
            .status()
            .expect("run cc");
        if !status.success() {
            failed.push(name);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failed.is_empty(), "<ucred.h>/<door.h> credential declarations differ from illumos': {failed:?}");
}
