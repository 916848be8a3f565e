//! `hello`: answers every HTTP request with the architecture it runs on.
//!
//! `hello` serves on 0.0.0.0:$PORT (default 8080); `hello --once` prints the answer and exits,
//! which is how tests check a binary taken out of an image.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

fn answer() -> String {
    format!("hello from {}-{}\n", std::env::consts::ARCH, std::env::consts::OS)
}

fn main() -> std::io::Result<()> {
    if std::env::args().any(|a| a == "--once") {
        print!("{}", answer());
        return Ok(());
    }
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = TcpListener::bind(format!("0.0.0.0:{port}"))?;
    eprintln!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = stream?;
        // Read the request head; the body (if any) is ignored.
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 2 {
            line.clear();
        }
        let body = answer();
        write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())?;
    }
    Ok(())
}
