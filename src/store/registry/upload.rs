//! Blob uploads that every registry takes, streamed from disk (or from another registry), never
//! held in memory.
//!
//! - **Default: one request per blob.** `POST`, then one `PUT ?digest=` carrying the whole body
//!   with `Content-Type: application/octet-stream` — what containerd sends and nothing else
//!   (containerd/containerd#3533; zot refuses it without that content type, containerd#4017).
//!   Bodies of 1 MiB and more ask `Expect: 100-continue`, so a refusal comes before the bytes.
//! - **Chunked** only when asked (`CARGO_OCI_CHUNK_SIZE`) or when the registry refuses a large
//!   body (413): `PATCH`es with `Content-Range`, then the closing `PUT` carrying the last chunk
//!   (ECR has answered an empty closing `PUT` after chunks with 500, openai/tart#159). The size
//!   is clamped to 4 MiB on ghcr.io (which answers 416 "exceeds the maximum permissible limit of
//!   4.00MiB" above that, oras-project/rust-oci-client#35, ocx-sh/ocx#237) and to the registry's
//!   `OCI-Chunk-Min-Length` (S3-backed registries refuse smaller non-final chunks,
//!   opencontainers/distribution-spec#374). A chunk may be answered 202 or 201 (ECR answers 201,
//!   openai/tart#273, jdx/mise#11376). The offset is the one we sent: ECR's `Range` header stops
//!   advancing after the first chunk though every chunk is stored (aws/containers-roadmap#2831).
//! - A failed session is abandoned (and deleted, best effort) and the upload starts again from a
//!   fresh `POST`: the registry may hold part of the body, so it is never resumed.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::transport::{retry, Call, Repo};
use super::RegistryError;
use crate::oci::Blob;

/// GHCR refuses request bodies of chunked uploads above this.
pub const GHCR_MAX_CHUNK: u64 = 4 << 20;
/// The first chunk size after a registry refused a blob as one request (413), unless
/// `CARGO_OCI_CHUNK_SIZE` says otherwise.
pub const FALLBACK_CHUNK: u64 = 16 << 20;
/// Chunks are never made smaller than this to get under a registry's body limit.
const SMALLEST_CHUNK: u64 = 1 << 20;

/// How one blob is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `POST`, then one `PUT` with the whole body.
    Whole,
    /// `PATCH`es of this size, the last piece in the closing `PUT`.
    Chunks(u64),
}

/// What an upload did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uploaded {
    /// The registry mounted it from another repository: nothing was sent.
    pub mounted: bool,
    /// `PATCH` requests sent in the session that succeeded.
    pub patches: usize,
    /// How the upload had to change course, for `-v`.
    pub notes: Vec<String>,
}

/// The chunk size for a registry: the one asked for, at most 4 MiB on ghcr.io, at least the
/// registry's `OCI-Chunk-Min-Length` (its own word wins over our knowledge of it).
pub fn chunk_size(asked: u64, registry: &str, min_length: Option<u64>) -> u64 {
    let capped = if registry == "ghcr.io" { asked.min(GHCR_MAX_CHUNK) } else { asked };
    capped.max(min_length.unwrap_or(0)).max(1)
}

/// After the registry refused a request body with `status`: the next, smaller way to send a blob
/// of `size` bytes, or `None` when there is none. Every step is strictly smaller, so this ends.
pub fn after_refusal(status: u16, mode: Mode, size: u64, registry: &str, min_length: Option<u64>) -> Option<Mode> {
    let floor = SMALLEST_CHUNK.max(min_length.unwrap_or(0));
    match (status, mode) {
        // Too large as one request: chunks, at most half the blob so at least one PATCH is made.
        (413, Mode::Whole) => {
            let c = chunk_size(FALLBACK_CHUNK.min(size.div_ceil(2)), registry, min_length);
            (c < size).then_some(Mode::Chunks(c.max(floor.min(c))))
        }
        (413, Mode::Chunks(c)) => (c / 2 >= floor).then_some(Mode::Chunks(c / 2)),
        // GHCR's answer to a chunk over 4 MiB (any registry may cap chunks the same way).
        (416, Mode::Chunks(c)) if c > GHCR_MAX_CHUNK && GHCR_MAX_CHUNK >= min_length.unwrap_or(0) => {
            Some(Mode::Chunks(GHCR_MAX_CHUNK))
        }
        _ => None,
    }
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
}

/// Uploads `blob` (or mounts it from `mount_from`, a repository on the same registry), starting
/// over with a smaller request body when the registry refuses one.
pub fn upload(repo: &Repo, blob: &Blob, mount_from: Option<&str>) -> Result<Uploaded, RegistryError> {
    let settings = repo.registry.settings();
    let registry = repo.registry.name();
    let mut mode = match settings.chunk_size {
        Some(c) => Mode::Chunks(chunk_size(c, registry, None)),
        None => Mode::Whole,
    };
    let mut min_length = None;
    let mut notes = Vec::new();
    loop {
        match retry(&settings.retry, || session(repo, blob, mount_from, mode, &mut min_length)) {
            Ok(mut done) => {
                done.notes = notes;
                return Ok(done);
            }
            Err(e) => {
                let next = e.status().and_then(|s| after_refusal(s, mode, blob.size, registry, min_length));
                let Some(next) = next else { return Err(e) };
                let (Mode::Chunks(c), Some(status)) = (next, e.status()) else { return Err(e) };
                let refused = match mode {
                    Mode::Whole => format!("as one {} request", mib(blob.size)),
                    Mode::Chunks(c) => format!("in {} chunks", mib(c)),
                };
                notes.push(format!("blob {} refused {refused} ({status}): sent in {} chunks", blob.digest, mib(c)));
                mode = next;
            }
        }
    }
}

fn with_query(url: &str, q: &str) -> String {
    format!("{url}{}{q}", if url.contains('?') { '&' } else { '?' })
}

/// One upload session, from its `POST` to its closing `PUT`.
fn session(
    repo: &Repo,
    blob: &Blob,
    mount_from: Option<&str>,
    mode: Mode,
    min_length: &mut Option<u64>,
) -> Result<Uploaded, RegistryError> {
    let mut start = repo.url("blobs/uploads/");
    if let Some(from) = mount_from {
        start = with_query(&start, &format!("mount={}&from={}", blob.digest, super::auth::encode_query(from)));
    }
    let expect: &[u16] = if mount_from.is_some() { &[201, 202] } else { &[202] };
    let r = repo.call(Call::post(&start).expect(expect).once())?;
    // Mounting costs nothing extra when it fails: the registry answers with an upload session.
    if r.status() == 201 {
        return Ok(Uploaded { mounted: true, ..Uploaded::default() });
    }
    if let Some(m) = header(&r, "oci-chunk-min-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        *min_length = Some(m);
    }
    let location = next_location(repo, &start, &r, None)?;
    let sent = send_body(repo, blob, mode, *min_length, &location);
    if sent.is_err() {
        // Leave nothing half-written behind (best effort: the registry expires it anyway).
        let _ = repo.call(Call::delete(&location).any_status().once().timeout(Duration::from_secs(5)));
    }
    sent
}

fn header<'r>(r: &'r ureq::http::Response<ureq::Body>, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The body of one session: chunks (if any), then the closing `PUT` with what is left.
fn send_body(
    repo: &Repo,
    blob: &Blob,
    mode: Mode,
    min_length: Option<u64>,
    location: &str,
) -> Result<Uploaded, RegistryError> {
    let what = format!("blob {}", blob.digest);
    let read_err = |url: &str| {
        let (what, url) = (what.clone(), super::redact_url(url));
        move |source| RegistryError::ReadBlob { what, url, source }
    };
    // One stream, cut into requests: the blob is read once, front to back, never held whole.
    let stream = Arc::new(Mutex::new(blob.open_stream().map_err(read_err(location))?));
    let piece = |len: u64| {
        let s = stream.clone();
        move || -> Result<(Box<dyn Read + Send + '_>, u64), RegistryError> {
            Ok((Box::new(Shared(s.clone()).take(len)), len))
        }
    };
    let octet = "application/octet-stream";
    let mut location = location.to_string();
    let mut offset = 0;
    let mut patches = 0;
    if let Mode::Chunks(asked) = mode {
        let chunk = chunk_size(asked, repo.registry.name(), min_length);
        // Every PATCH is a full chunk; the last piece (1..=chunk bytes) goes in the closing PUT.
        while blob.size - offset > chunk {
            let range = format!("{offset}-{}", offset + chunk - 1);
            let r = repo.call(
                Call::patch(&location)
                    .header("Content-Type", octet)
                    .header("Content-Range", range)
                    .stream(piece(chunk))
                    .expect(&[202, 201])
                    .once(),
            )?;
            // Our own count, not the `Range` header: ECR's stops advancing after one chunk.
            offset += chunk;
            patches += 1;
            location = next_location(repo, &location, &r, Some(&location))?;
        }
    }
    let rest = blob.size - offset;
    let url = with_query(&location, &format!("digest={}", blob.digest));
    let mut put = Call::put(&url).header("Content-Type", octet).stream(piece(rest)).expect(&[201, 204]).once();
    if offset > 0 {
        put = put.header("Content-Range", format!("{offset}-{}", blob.size - 1));
    }
    repo.call(put)?;
    Ok(Uploaded { mounted: false, patches, notes: Vec::new() })
}

/// A reader shared between the requests of one upload.
struct Shared<'a>(Arc<Mutex<Box<dyn Read + Send + 'a>>>);

impl Read for Shared<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.lock().map_err(|_| std::io::Error::other("upload reader poisoned"))?.read(buf)
    }
}

/// Where the session continues: the `Location` header (relative or absolute), else `previous`
/// when there is one (a chunk answer without it keeps the URL).
fn next_location(
    repo: &Repo,
    url: &str,
    r: &ureq::http::Response<ureq::Body>,
    previous: Option<&str>,
) -> Result<String, RegistryError> {
    match (header(r, "location"), previous) {
        (Some(l), _) => Ok(repo.absolute(l)),
        (None, Some(p)) => Ok(p.to_string()),
        (None, None) => Err(RegistryError::Unexpected {
            url: super::redact_url(url),
            what: "an upload session without a Location".into(),
            wanted: "a Location header".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn chunks_are_clamped_for_ghcr_and_to_the_registrys_minimum() {
        assert_eq!(chunk_size(16 * MIB, "ghcr.io", None), 4 * MIB);
        assert_eq!(chunk_size(MIB, "ghcr.io", None), MIB);
        assert_eq!(chunk_size(16 * MIB, "123.dkr.ecr.eu-west-1.amazonaws.com", None), 16 * MIB);
        assert_eq!(chunk_size(MIB, "s3.example", Some(5 * MIB)), 5 * MIB, "OCI-Chunk-Min-Length");
        assert_eq!(chunk_size(16 * MIB, "ghcr.io", Some(5 * MIB)), 5 * MIB, "the registry's own word wins");
    }

    #[test]
    fn refusals_lead_to_smaller_requests_and_end() {
        // 413 for a whole 24 MiB blob: 12 MiB chunks (half, at most the fallback), then halving.
        let size = 24 * MIB;
        assert_eq!(after_refusal(413, Mode::Whole, size, "r.io", None), Some(Mode::Chunks(12 * MIB)));
        assert_eq!(after_refusal(413, Mode::Whole, 100 * MIB, "r.io", None), Some(Mode::Chunks(16 * MIB)));
        assert_eq!(after_refusal(413, Mode::Whole, size, "ghcr.io", None), Some(Mode::Chunks(4 * MIB)));
        assert_eq!(after_refusal(413, Mode::Chunks(12 * MIB), size, "r.io", None), Some(Mode::Chunks(6 * MIB)));
        assert_eq!(after_refusal(413, Mode::Chunks(MIB), size, "r.io", None), None, "not below 1 MiB");
        assert_eq!(after_refusal(413, Mode::Chunks(8 * MIB), size, "s3", Some(5 * MIB)), None, "nor the minimum");
        // GHCR's 416 for a chunk over 4 MiB: 4 MiB chunks; a 416 at 4 MiB is a real range error.
        assert_eq!(after_refusal(416, Mode::Chunks(16 * MIB), size, "r.io", None), Some(Mode::Chunks(4 * MIB)));
        assert_eq!(after_refusal(416, Mode::Chunks(4 * MIB), size, "r.io", None), None);
        assert_eq!(after_refusal(416, Mode::Whole, size, "r.io", None), None);
        assert_eq!(after_refusal(500, Mode::Whole, size, "r.io", None), None);
        // A blob too small to split is not split.
        assert_eq!(after_refusal(413, Mode::Whole, 1, "r.io", None), None);
        let mut mode = Mode::Whole;
        for _ in 0..64 {
            match after_refusal(413, mode, 1 << 40, "r.io", None) {
                Some(next) => mode = next,
                None => return,
            }
        }
        panic!("refusals never ended: {mode:?}");
    }
}
