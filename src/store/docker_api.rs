//! The two calls of the Docker Engine API that `--load=docker` makes, over its unix socket:
//! `GET /_ping` (does it answer?) and `POST /images/load` (a tar, as `docker load` sends it).
//!
//! Hand-written HTTP/1.1 on a `UnixStream`: ureq (our HTTP client) speaks TCP only, and the
//! crates that reach a unix socket bring an async runtime (hyper + tokio) for two requests.
//! One request per connection (`Connection: close`), a body either chunked or read to the end.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// What the engine answered: the status code and the (de-chunked) body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// How long a ping may take before the engine counts as not answering.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /_ping`: whether a Docker Engine answers on `socket`.
pub fn ping(socket: &Path) -> bool {
    let ask = || -> io::Result<Response> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(PING_TIMEOUT))?;
        stream.set_write_timeout(Some(PING_TIMEOUT))?;
        request(stream, "GET", "/_ping", None)
    };
    ask().is_ok_and(|r| r.status == 200)
}

/// `POST /images/load` with the tar at `archive` as the body. Docker answers 200 and puts a
/// load failure in the body (`{"errorDetail":…,"error":"…"}`), so the body is read for one:
/// returns the `Loaded image: …` lines, or the engine's error message.
pub fn load(socket: &Path, archive: &Path) -> io::Result<Result<Vec<String>, String>> {
    let stream = UnixStream::connect(socket)?;
    let file = std::fs::File::open(archive)?;
    let size = file.metadata()?.len();
    let r = request(stream, "POST", "/images/load", Some((file, size)))?;
    let mut loaded = Vec::new();
    for line in r.body.split(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty()) {
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(v) if v.get("error").is_some() => return Ok(Err(v["error"].as_str().unwrap_or_default().to_string())),
            Ok(v) => loaded.extend(v["stream"].as_str().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())),
            Err(_) => return Ok(Err(String::from_utf8_lossy(&r.body).trim().to_string())),
        }
    }
    if r.status != 200 {
        return Ok(Err(format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body).trim())));
    }
    Ok(Ok(loaded))
}

fn request(
    mut stream: UnixStream,
    method: &str,
    path: &str,
    body: Option<(std::fs::File, u64)>,
) -> io::Result<Response> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n");
    if let Some((_, size)) = &body {
        head.push_str(&format!("Content-Type: application/x-tar\r\nContent-Length: {size}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if let Some((mut file, _)) = body {
        io::copy(&mut file, &mut stream)?;
    }
    stream.flush()?;
    read_response(BufReader::new(stream))
}

fn bad(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the Docker Engine's answer is not HTTP: {}", why.into()))
}

/// Status line, headers, then a chunked body or one read to the end of the connection.
fn read_response(mut r: impl BufRead) -> io::Result<Response> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad(line.trim()))?;
    let (mut chunked, mut length) = (false, None);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(bad("it ends in its headers"));
        }
        let h = line.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((h, ""));
        let v = v.trim();
        if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<u64>().ok();
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let hex = line.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(hex, 16).map_err(|_| bad(format!("chunk size `{hex}`")))?;
            if n == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..])?;
            line.clear();
            r.read_line(&mut line)?; // the CRLF after the chunk
        }
    } else if let Some(n) = length {
        r.take(n).read_to_end(&mut body)?;
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Response { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_and_sized_bodies() {
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        let r = read_response(&chunked[..]).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello world"[..]));
        let sized = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 2\r\n\r\nokEXTRA";
        let r = read_response(&sized[..]).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (500, &b"ok"[..]));
        assert!(read_response(&b"garbage"[..]).is_err());
        assert!(read_response(&b"HTTP/1.1 200 OK\r\nX: y\r\n"[..]).is_err());
    }
}
