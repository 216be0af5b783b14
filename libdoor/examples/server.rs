//! A door server: attaches a door at PATH that answers each call with its
//! text in upper case. A descriptor passed with the call gets the answer
//! written to it as well. Stops (and detaches) at end of input (Ctrl-D).
//!
//!     cargo run -p libdoor --example server -- /tmp/upper.door
//!     cargo run -p libdoor --example client -- /tmp/upper.door 'hello, door'

use std::io::{BufRead, Write};

use libdoor::{Door, Response};

fn main() -> std::io::Result<()> {
    let path = std::env::args_os().nth(1).ok_or_else(|| std::io::Error::other("usage: server PATH"))?;
    let door = Door::create(|mut req| {
        let upper = req.data().to_ascii_uppercase();
        if let Some(fd) = req.take_fds().pop() {
            let _ = std::fs::File::from(fd).write_all(&upper);
        }
        if let Ok(caller) = req.caller() {
            eprintln!("server: {} bytes from pid {}", upper.len(), caller.pid);
        }
        Response::new(upper)
    })?;
    // fattach covers an existing file.
    std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let attachment = door.attach(&path)?;
    println!("ready: {}", attachment.path().display());
    std::io::stdout().flush()?;
    // Server threads do the work; this one waits for the end of input.
    for line in std::io::stdin().lock().lines() {
        line?;
    }
    Ok(())
}
