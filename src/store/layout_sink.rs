//! The OCI layout as a sink: the layout's lock taken (with a status line while another writer
//! holds it), the image written under its tags, and with `--gc` the blobs no tag reaches removed.

use std::path::{Path, PathBuf};

use super::gc::Collected;
use super::layout::LayoutWriter;
use super::sink::{Delivery, Sink};
use super::StoreError;
use crate::oci::{Blob, Image};
use crate::shell::Shell;

pub struct LayoutSink {
    pub dir: PathBuf,
    pub tags: Vec<String>,
    /// Remove what the layout no longer reaches, afterwards.
    pub gc: bool,
}

impl Sink for LayoutSink {
    fn write(&self, image: &Image, what: &str, shell: &mut Shell) -> Result<Delivery, StoreError> {
        shell.status("Writing", format!("{what}:{} to {}", self.tags.join(","), self.dir.display()));
        let writer = open(&self.dir, shell)?;
        writer.write(image, &self.tags)?;
        if self.gc {
            collect(&writer, shell)?;
        }
        Ok(Delivery::Layout(self.dir.clone()))
    }

    /// A blob the layout has is not read (the writer checks it is whole, and copies it again if not).
    fn reads(&self, blob: &Blob) -> bool {
        let there = self.dir.join("blobs/sha256").join(blob.digest.hex());
        !std::fs::metadata(there).is_ok_and(|m| m.is_file() && m.len() == blob.size)
    }
}

/// Opens `dir` for writing; a second writer waits, and says so after a second.
pub fn open(dir: &Path, shell: &mut Shell) -> Result<LayoutWriter, StoreError> {
    LayoutWriter::open(dir, &mut |d| shell.status("Waiting", format!("for another cargo-oci writing {}", d.display())))
}

/// Removes what nothing in `index.json` reaches, and says how much.
pub fn collect(layout: &LayoutWriter, shell: &mut Shell) -> Result<Collected, StoreError> {
    let c = super::gc::collect(layout)?;
    shell.status(
        "Removed",
        format!(
            "{} unreachable blob(s), {:.1} MB, from {} ({} kept)",
            c.removed,
            c.freed_bytes as f64 / 1e6,
            layout.root().display(),
            c.kept
        ),
    );
    Ok(c)
}
