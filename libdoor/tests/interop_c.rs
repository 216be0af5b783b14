//! Interoperation with C programs written against the illumos API and
//! linked with libdoor.so: a Rust client against a C server, and a C client
//! against a Rust server. The programs (tests/c/) are compiled here with
//! the system's C compiler, against the workspace's include/ and the
//! libdoor.so cargo built beside this test.

mod common;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{Proc, TempDir, pipe, read_all};
use libdoor::{Args, Client};

fn main() {
    common::run(
        &[("rust_client_c_server", rust_client_c_server), ("c_client_rust_server", c_client_rust_server)],
        &[("server", common::rust_server)],
    );
}

/// The directory of the C programs, built once.
fn programs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        // target/<profile>/deps/interop_c-*: cargo leaves libdoor.so in deps/
        // (and in target/<profile>/ after a cargo build).
        let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
        let lib = [deps.join("libdoor.so"), deps.parent().unwrap().join("libdoor.so")]
            .into_iter()
            .find(|p| p.exists())
            .expect("libdoor.so beside the test binary");
        let dir = deps.join("libdoor-interop-c");
        std::fs::create_dir_all(&dir).unwrap();
        // Each file is made under a name of this process's and renamed
        // into place, so runs side by side do not trip over each other.
        let temp = |name: &str| dir.join(format!("{name}.{}", std::process::id()));
        for name in ["libdoor.so", "libdoor.so.1"] {
            std::os::unix::fs::symlink(&lib, temp(name)).unwrap();
            std::fs::rename(temp(name), dir.join(name)).unwrap();
        }
        for prog in ["interop_server", "interop_client"] {
            let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
                .args(["-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-D_FORTIFY_SOURCE=2", "-pthread"])
                .arg("-I")
                .arg(manifest.join("../include"))
                .arg("-I")
                .arg(manifest.join("../tests/c"))
                .arg("-o")
                .arg(temp(prog))
                .arg(manifest.join(format!("tests/c/{prog}.c")))
                .arg("-L")
                .arg(&dir)
                .arg("-ldoor")
                .arg(format!("-Wl,-rpath,{}", dir.display()))
                .status()
                .expect("run the C compiler");
            assert!(status.success(), "compiling {prog}.c failed");
            std::fs::rename(temp(prog), dir.join(prog)).unwrap();
        }
        dir
    })
}

fn rust_client_c_server() {
    let dir = TempDir::new("c-server");
    let path = dir.file("door");
    let mut cmd = Command::new(programs().join("interop_server"));
    cmd.arg(&path);
    let server = Proc::spawn(cmd);
    let ready = server.expect("ready:");
    let (id, pid) = ready.split_once(' ').unwrap();

    let client = Client::open(&path).unwrap();
    let info = client.info().unwrap();
    assert_eq!(info.server, Some(pid.parse().unwrap()));
    assert_eq!(info.id, id.parse::<u64>().unwrap());
    assert!(!info.is_local() && !info.is_revoked());

    assert_eq!(client.call(b"upper:hello, c").unwrap().data(), b"HELLO, C");
    let mut buf = [0u8; 32];
    let reply = client.call_into(b"upper:into", &mut buf).unwrap();
    assert_eq!(reply.data(), b"INTO");
    assert!(!reply.is_mapped());

    let reply = client.call(b"big:3000000").unwrap();
    assert!(reply.is_mapped());
    assert_eq!(reply.len(), 3_000_000);
    assert!(reply.iter().enumerate().all(|(i, &b)| b == common::pattern(i)));

    let (r, w) = pipe();
    let mut reply = client.call(Args::new(b"fds").give_fd(w)).unwrap();
    assert_eq!(reply.data(), b"ok");
    assert_eq!(read_all(r), b"hello from C");
    let fds = reply.take_fds();
    assert_eq!(fds.len(), 1);
    assert_eq!(read_all(fds.into_iter().next().unwrap()), b"from C server");

    // A lent descriptor the C server does not expect: an empty answer.
    assert!(client.call(Args::new(b"?").fd(client.as_fd())).unwrap().is_empty());
    assert_eq!(server.finish().code(), Some(0));
    // The C server detached at the end.
    assert_eq!(Client::open(&path).unwrap_err().raw_os_error(), Some(libc::ENOTSUP));
}

fn c_client_rust_server() {
    let dir = TempDir::new("rust-server");
    let path = dir.file("door");
    let server = Proc::role("server", &[path.to_str().unwrap()]);
    let ready = server.expect("ready:");
    let (id, pid) = ready.split_once(' ').unwrap();
    let out = Command::new(programs().join("interop_client")).arg(&path).arg(pid).arg(id).output().unwrap();
    assert!(out.status.success(), "C client: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("all checks passed"));
    assert_eq!(server.finish().code(), Some(0));
}
