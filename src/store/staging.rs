//! A private scratch directory for blobs being written; sinks move them into place.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::disk::{self, Scratch};
use super::sweep::{self, Legacy};
use crate::layer::{self, Entry};
use crate::oci::{Blob, Content, Layer};

/// Removed with everything in it when dropped, so a failed build leaves nothing behind; locked
/// while it lives, so other builds sweeping `parent` leave it alone.
pub struct Staging {
    dir: Scratch,
}

impl Staging {
    /// Creates the staging directory under `parent` (the cargo target dir, so it is on the same
    /// file system as the default output and blobs can be renamed rather than copied), after
    /// removing what killed builds left there.
    pub fn new(parent: &Path) -> io::Result<Staging> {
        sweep::sweep(parent, Legacy::Yes);
        Ok(Staging { dir: Scratch::new(parent, "staging")? })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a layer into a staged file named after its digest; `read` hears of the file bytes
    /// going in (for a progress bar).
    pub fn layer(&self, entries: Vec<Entry>, mtime: u64, created_by: String, read: &dyn Fn(u64)) -> io::Result<Layer> {
        // Created with the blob file mode: the file is hard-linked into the layout as it is.
        let tmp = disk::temp_file(self.dir.path())?;
        let digests = layer::write_file(entries, mtime, tmp.reopen()?, read)?;
        let path: PathBuf = self.dir.path().join(digests.digest.hex());
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(Layer {
            blob: Blob {
                media_type: layer::MEDIA_TYPE.into(),
                digest: digests.digest,
                size: digests.size,
                content: Content::File(Arc::new(path)),
            },
            diff_id: digests.diff_id,
            created_by,
        })
    }
}
