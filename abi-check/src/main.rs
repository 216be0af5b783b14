//! `cargo run -p abi-check`: regenerate `include/` from the Rust sources.
fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    for h in abi_check::generate(root) {
        let path = root.join(h.path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, h.text).expect("write header");
        println!("wrote {}", h.path);
    }
}
