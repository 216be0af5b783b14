//! A door client: calls the door at PATH with TEXT, passing its standard
//! output along, and prints the answer.
//!
//!     cargo run -p libdoor --example client -- /tmp/upper.door 'hello, door'

use std::os::fd::AsFd;

use libdoor::{Args, Client};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(text)) = (args.next(), args.next()) else {
        return Err(std::io::Error::other("usage: client PATH TEXT"));
    };
    let door = Client::open(&path)?;
    let info = door.info()?;
    eprintln!("client: door {:#x} served by pid {:?}", info.id, info.server);
    // The server writes the answer to our standard output too (it gets a
    // copy of the descriptor; ours stays open), and returns it.
    let stdout = std::io::stdout();
    let reply = door.call(Args::new(text.as_bytes()).fd(stdout.as_fd()))?;
    println!();
    println!("{}", String::from_utf8_lossy(reply.data()));
    Ok(())
}
