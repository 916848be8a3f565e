//! A private scratch directory for blobs being written; sinks move them into place.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::disk::{self, Scratch};
use super::layer_cache::{LayerCache, Record};
use super::sweep::{self, Legacy};
use crate::layer::{self, Compression, Entry};
use crate::oci::{Blob, Content, Layer};

/// Removed with everything in it when dropped, so a failed build leaves nothing behind; locked
/// while it lives, so other builds sweeping `parent` leave it alone.
pub struct Staging {
    dir: Scratch,
    /// With a layer cache, layers whose inputs did not change are not compressed again.
    cache: Option<LayerCache>,
    /// Layouts that may hold a cached layer's blob when the cache lost it (the outputs).
    layouts: Vec<PathBuf>,
}

/// How many layers were compressed and how many reused from the layer cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LayerCounts {
    pub compressed: usize,
    pub reused: usize,
}

impl LayerCounts {
    const COMPRESSED: LayerCounts = LayerCounts { compressed: 1, reused: 0 };
    const REUSED: LayerCounts = LayerCounts { compressed: 0, reused: 1 };
}

impl std::ops::AddAssign for LayerCounts {
    fn add_assign(&mut self, other: LayerCounts) {
        self.compressed += other.compressed;
        self.reused += other.reused;
    }
}

impl Staging {
    /// Creates the staging directory under `parent` (the cargo target dir, so it is on the same
    /// file system as the default output and blobs can be renamed rather than copied), after
    /// removing what killed builds left there.
    pub fn new(parent: &Path) -> io::Result<Staging> {
        sweep::sweep(parent, Legacy::Yes);
        Ok(Staging { dir: Scratch::new(parent, "staging")?, cache: None, layouts: Vec::new() })
    }

    /// Reuses layers from `cache` (or, when it lost a blob, from one of `layouts`).
    pub fn with_cache(self, cache: LayerCache, layouts: Vec<PathBuf>) -> Staging {
        Staging { cache: Some(cache), layouts, ..self }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a layer into a staged file named after its digest — or, when the layer cache has
    /// a verified blob for the same inputs, links that in without compressing anything; `read`
    /// hears of the file bytes going in (for a progress bar). The counts say which of the two.
    pub fn layer(
        &self,
        entries: Vec<Entry>,
        mtime: u64,
        compression: Compression,
        created_by: String,
        read: layer::OnRead<'_>,
    ) -> io::Result<(Layer, LayerCounts)> {
        let entries = layer::prepare(entries)?;
        let media_type = compression.media_type();
        let layer = |r: Record, path: PathBuf| Layer {
            blob: Blob {
                media_type: r.media_type,
                digest: r.digest,
                size: r.size,
                content: Content::File(Arc::new(path)),
            },
            diff_id: r.diff_id,
            created_by: created_by.clone(),
        };
        if let Some(cache) = &self.cache {
            let key = layer::key::key(&entries, &layer::key::contents(&entries)?, mtime, compression);
            if let Some(r) = cache.get(&key).filter(|r| r.media_type == media_type) {
                let path = self.dir.path().join(r.digest.hex());
                if cache.restore(&key, &r, &path, &self.layouts) {
                    return Ok((layer(r, path), LayerCounts::REUSED));
                }
            }
        }
        // Created with the blob file mode: the file is hard-linked into the layout as it is.
        let tmp = disk::temp_file(self.dir.path())?;
        let (digests, contents) = layer::write_file_prepared(&entries, mtime, compression, tmp.reopen()?, read)?;
        let path: PathBuf = self.dir.path().join(digests.digest.hex());
        tmp.persist(&path).map_err(|e| e.error)?;
        let r = Record {
            media_type: media_type.into(),
            diff_id: digests.diff_id,
            digest: digests.digest,
            size: digests.size,
        };
        if let Some(cache) = &self.cache {
            // Keyed on the bytes read while compressing, which are the ones in the blob.
            cache.put(&layer::key::key(&entries, &contents, mtime, compression), &r, &path);
        }
        Ok((layer(r, path), LayerCounts::COMPRESSED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Source;

    #[test]
    fn a_layer_stopped_midway_leaves_no_file_and_no_cache_entry_and_the_next_one_is_whole() {
        let d = tempfile::tempdir().unwrap();
        let cache_dir = d.path().join("cache");
        let staging = Staging::new(d.path()).unwrap().with_cache(LayerCache::open(&cache_dir).unwrap(), Vec::new());
        let bin = d.path().join("app");
        std::fs::write(&bin, vec![7u8; 4 << 20]).unwrap();
        let entries = || vec![Entry::file("/usr/local/bin/app", Source::Path(bin.clone()), 0o755)];
        let chunks = std::cell::Cell::new(0);
        let stop_at_second_chunk = |_| {
            chunks.set(chunks.get() + 1);
            match chunks.get() {
                1 => Ok(()),
                _ => Err(io::Error::other("stopped")),
            }
        };
        let made = staging.layer(entries(), 0, Compression::default(), "x".into(), &stop_at_second_chunk);
        assert_eq!(made.unwrap_err().to_string(), "stopped");
        assert_eq!(std::fs::read_dir(staging.path()).unwrap().count(), 0, "nothing staged");
        assert_eq!(std::fs::read_dir(cache_dir.join("keys")).unwrap().count(), 0, "nothing cached");

        let (layer, counts) = staging.layer(entries(), 0, Compression::default(), "x".into(), &|_| Ok(())).unwrap();
        assert_eq!(counts, LayerCounts::COMPRESSED);
        let Content::File(path) = &layer.blob.content else { panic!("a staged file") };
        let (digest, size) = crate::oci::digest_reader(std::fs::File::open(path.as_path()).unwrap()).unwrap();
        assert_eq!((digest, size), (layer.blob.digest, layer.blob.size));
    }
}
