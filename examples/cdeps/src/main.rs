//! Prints its architecture and one result from each C dependency, so a test can tell that the
//! binary taken out of the image really runs: `cdeps on aarch64: sha256=… zstd=ok sqlite=3.x`.

fn main() {
    let digest = ring::digest::digest(&ring::digest::SHA256, b"hello");
    let sha: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();

    let text = b"cargo-oci cargo-oci cargo-oci cargo-oci cargo-oci";
    let packed = zstd::bulk::compress(text, 3).expect("zstd compress");
    let unpacked = zstd::bulk::decompress(&packed, text.len()).expect("zstd decompress");
    let zstd = if unpacked == text { "ok" } else { "MISMATCH" };

    let db = rusqlite::Connection::open_in_memory().expect("sqlite open");
    let sum: i64 = db.query_row("SELECT 40 + 2", [], |r| r.get(0)).expect("sqlite query");
    let version = rusqlite::version();

    println!("cdeps on {}: sha256={sha} zstd={zstd} sqlite={version} answer={sum}", std::env::consts::ARCH);
}
