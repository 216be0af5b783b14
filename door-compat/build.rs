//! Builds the C half (`csrc/`) and sets the illumos soname.
fn main() {
    println!("cargo:rerun-if-changed=csrc");
    cc::Build::new()
        .file("csrc/door_loop.c")
        .file("csrc/interpose.c")
        .file("csrc/dup.c")
        .file("csrc/close.c")
        .file("csrc/setid.c")
        .file("csrc/sigwatch.c")
        .flag("-fvisibility=hidden")
        // Unwind tables let pthread_exit and cancellation unwind through
        // the service loop.
        .flag("-fexceptions")
        .flag("-Wall")
        .flag("-Wextra")
        .opt_level(2)
        .define("_FORTIFY_SOURCE", "2")
        .compile("doorc");
    // cargo-c sets its own soname from [package.metadata.capi]; plain
    // `cargo build` gets the historical illumos one.
    if std::env::var_os("CARGO_FEATURE_CAPI").is_none() {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdoor.so.1");
    }
}
