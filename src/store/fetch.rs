//! Lazy blobs (a registry base's layers) brought onto this machine before anything reads them:
//! all at once, `-j` at a time, a bar per blob on a terminal. Their readers take them one after
//! another (the ELF check streams a base bottom to top, a layout copies blob after blob), so
//! fetched as each is opened they would come one round trip and one transfer at a time.

use super::concurrent::each_concurrently;
use super::registry::RegistryError;
use super::StoreError;
use crate::oci::{Blob, Content, LazyContent};
use crate::shell::Shell;

/// Fetches every lazy blob among `blobs` that is not on this machine yet, each once; does nothing
/// (and says nothing) when all are. Every blob is checked against its digest on the way in and
/// appears only whole; the first failure in the order given is the error (not the first in
/// time), naming the blob and where it comes from.
pub fn fetch<'a>(blobs: impl IntoIterator<Item = &'a Blob>, jobs: usize, shell: &mut Shell) -> Result<(), StoreError> {
    let mut wanted: Vec<(&Blob, &dyn LazyContent, u64)> = Vec::new();
    for blob in blobs {
        let Content::Lazy(lazy) = &blob.content else { continue };
        if wanted.iter().any(|(b, ..)| b.digest == blob.digest) {
            continue;
        }
        if let Some(size) = lazy.to_fetch() {
            wanted.push((blob, lazy.as_ref(), size));
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut from: Vec<String> = Vec::new();
    for (reg, repo) in wanted.iter().filter_map(|(_, lazy, _)| lazy.source_repository()) {
        let name = format!("{reg}/{repo}");
        if !from.contains(&name) {
            from.push(name);
        }
    }
    let bytes = indicatif::HumanBytes(wanted.iter().map(|(.., size)| size).sum());
    shell.status("Pulling", format!("{} blob(s), {bytes}, from {}", wanted.len(), from.join(", ")));
    let progress = shell.progress();
    each_concurrently(&wanted, jobs, |&(blob, lazy, size)| {
        let bar = progress.transfer("Pulling", &blob.digest, size);
        let done = lazy.fetch(&|n| bar.set_position(n));
        bar.finish_and_clear();
        done.map_err(|e| pull_failed(lazy.origin(), blob, e))
    })?;
    Ok(())
}

/// The error of a blob that could not be fetched: a registry's error (with its hints) is the
/// cause itself, not an I/O error around it.
fn pull_failed(origin: String, blob: &Blob, e: std::io::Error) -> StoreError {
    let source: Box<dyn std::error::Error + Send + Sync> = match e.downcast::<RegistryError>() {
        Ok(registry) => Box::new(registry),
        Err(other) => Box::new(other),
    };
    StoreError::PullBlob { origin, digest: blob.digest.clone(), source }
}
