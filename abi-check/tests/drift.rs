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
