//! An OCI image layout directory as an image store: `oci:DIR[:TAG]` (skopeo's syntax). Layers
//! are opened lazily and hashed on first use (a layout can be edited by anyone).

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::layout::{read_index, ref_name};
use super::source::{Document, ImageStore};
use super::StoreError;
use crate::oci::referrer::parse_artifact;
use crate::oci::Referrer;
use crate::oci::{digest_reader, Blob, Content, Digest, LazyContent};

pub struct LayoutStore {
    root: PathBuf,
    tag: Option<String>,
    /// The root document's digest, when pinned (by `oci.lock`): read from the blobs, not the tag.
    digest: Option<Digest>,
    /// Layers already hashed: a layer shared by several platforms is read once.
    verified: Arc<Mutex<BTreeSet<Digest>>>,
}

impl LayoutStore {
    pub fn new(root: &Path, tag: Option<&str>) -> LayoutStore {
        LayoutStore { root: root.to_path_buf(), tag: tag.map(String::from), digest: None, verified: Arc::default() }
    }

    /// Reads the root document at `digest` (when `Some`) whatever the tag points at now.
    pub fn pinned(self, digest: Option<Digest>) -> LayoutStore {
        LayoutStore { digest, ..self }
    }

    /// The pinned root document: its blob must still be in the layout, with those bytes. Its
    /// media type is the one the document declares (an index or a manifest without one is told
    /// apart by its `manifests`), since no descriptor in `index.json` may name it any more.
    fn pinned_root(&self, digest: &Digest) -> Result<Document, StoreError> {
        let p = self.blob_path(digest);
        let bytes = match fs::read(&p) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::LockedBlobMissing { image: self.name(), digest: digest.clone() })
            }
            other => other.map_err(StoreError::io("read", &p))?,
        };
        let actual = Digest::of(&bytes);
        if actual != *digest {
            let n = bytes.len() as u64;
            return Err(StoreError::blob_mismatch(&p, digest, n, &actual, n));
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::BadLayout { path: self.root.clone(), why: format!("`{}`: {e}", p.display()) })?;
        let media_type = match json["mediaType"].as_str() {
            Some(m) => m.to_string(),
            None if json.get("manifests").is_some() => "application/vnd.oci.image.index.v1+json".to_string(),
            None => "application/vnd.oci.image.manifest.v1+json".to_string(),
        };
        Ok(Document { media_type, digest: digest.clone(), bytes })
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Reads a blob's bytes and checks them: a layout can be edited by anyone.
    fn verified_bytes(&self, digest: &Digest, size: u64) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(digest);
        let bytes = fs::read(&p).map_err(StoreError::io("read", &p))?;
        let actual = Digest::of(&bytes);
        if actual != *digest || bytes.len() as u64 != size {
            return Err(StoreError::blob_mismatch(&p, digest, size, &actual, bytes.len() as u64));
        }
        Ok(bytes)
    }
}

impl ImageStore for LayoutStore {
    fn name(&self) -> String {
        let name = crate::oci::ImageName::Layout {
            path: self.root.clone(),
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        };
        name.to_string()
    }

    fn root(&self) -> Result<Document, StoreError> {
        if !self.root.join("oci-layout").is_file() {
            return Err(StoreError::NotALayout { path: self.root.clone() });
        }
        if let Some(digest) = &self.digest {
            return self.pinned_root(digest);
        }
        let index = read_index(&self.root)?;
        let tags: Vec<String> = index.manifests().iter().filter_map(|d| ref_name(d).cloned()).collect();
        let d = match &self.tag {
            Some(t) => index.manifests().iter().find(|d| ref_name(d) == Some(t)),
            None if index.manifests().len() == 1 => index.manifests().first(),
            None => None,
        };
        let Some(d) = d else {
            return Err(StoreError::TagNotFound { image: self.name(), tag: self.tag.clone(), available: tags });
        };
        let digest =
            Digest::parse(d.digest().as_ref()).map_err(|why| StoreError::BadLayout { path: self.root.clone(), why })?;
        let bytes = self.verified_bytes(&digest, d.size())?;
        Ok(Document { media_type: d.media_type().to_string(), digest, bytes })
    }

    fn document(&self, _media_type: &str, digest: &Digest, size: u64) -> Result<Vec<u8>, StoreError> {
        self.verified_bytes(digest, size)
    }

    fn layer(&self, _media_type: &str, digest: &Digest, size: u64) -> Result<Content, StoreError> {
        Ok(Content::Lazy(Arc::new(LayoutBlob {
            path: self.blob_path(digest),
            digest: digest.clone(),
            size,
            verified: self.verified.clone(),
        })))
    }

    /// The untagged artifact entries of `index.json` whose manifest names `subject`.
    fn artifacts(&self, subject: &Digest) -> Result<Vec<Referrer>, StoreError> {
        let mut out = Vec::new();
        for d in read_index(&self.root)?.manifests().iter().filter(|d| d.artifact_type().is_some()) {
            let digest = Digest::parse(d.digest().as_ref())
                .map_err(|why| StoreError::BadLayout { path: self.root.clone(), why })?;
            let bytes = self.verified_bytes(&digest, d.size())?;
            let Ok(parts) = parse_artifact(&bytes) else { continue };
            if parts.subject == *subject {
                let blobs = parts.blobs.into_iter().map(|(media_type, digest, size)| {
                    Ok(Blob { content: self.layer(&media_type, &digest, size)?, media_type, digest, size })
                });
                let blobs = blobs.collect::<Result<Vec<_>, StoreError>>()?;
                let manifest = Blob::from_bytes(d.media_type().to_string(), bytes);
                out.push(Referrer { artifact_type: parts.artifact_type, subject: subject.clone(), manifest, blobs });
            }
        }
        Ok(out)
    }
}

/// A layer of a layout: hashed when first opened or linked (once per store), and refused, naming
/// the file, if its bytes do not match.
struct LayoutBlob {
    path: PathBuf,
    digest: Digest,
    size: u64,
    verified: Arc<Mutex<BTreeSet<Digest>>>,
}

impl LayoutBlob {
    /// The error inside travels as an `io::Error` and comes back out as itself (`StoreError::io`).
    fn verify(&self) -> io::Result<()> {
        if self.verified.lock().expect("verified lock").contains(&self.digest) {
            return Ok(());
        }
        let failed = |e: io::Error| io::Error::new(e.kind(), StoreError::io("read", &self.path)(e));
        let f = fs::File::open(&self.path).map_err(failed)?;
        let (actual, n) = digest_reader(f).map_err(failed)?;
        if actual != self.digest || n != self.size {
            let e = StoreError::blob_mismatch(&self.path, &self.digest, self.size, &actual, n);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        self.verified.lock().expect("verified lock").insert(self.digest.clone());
        Ok(())
    }
}

impl LazyContent for LayoutBlob {
    fn open(&self) -> io::Result<Box<dyn Read + Send + '_>> {
        self.verify()?;
        Ok(Box::new(fs::File::open(&self.path)?))
    }

    fn origin(&self) -> String {
        self.path.display().to_string()
    }

    fn local_file(&self) -> io::Result<Option<PathBuf>> {
        self.verify()?;
        Ok(Some(self.path.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_only_mismatch_names_both_sizes_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("blobs/sha256")).unwrap();
        std::fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let doc = br#"{"schemaVersion":2,"manifests":[]}"#;
        let d = Digest::of(doc);
        std::fs::write(root.join("blobs/sha256").join(d.hex()), doc).unwrap();
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{d}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"x"}}}}]}}"#,
            doc.len() + 1
        );
        std::fs::write(root.join("index.json"), index).unwrap();
        let err = LayoutStore::new(root, Some("x")).root().unwrap_err().to_string();
        assert_eq!(err.matches(d.as_str()).count(), 1, "{err}");
        assert!(
            err.ends_with(&format!(
                "has {} bytes where its descriptor says {} (its digest {d} matches)",
                doc.len(),
                doc.len() + 1
            )),
            "{err}"
        );

        let missing = LayoutStore::new(&root.join("nope"), None).root().unwrap_err();
        assert!(missing.to_string().ends_with("is not an OCI image layout: it does not exist"), "{missing}");
        assert!(missing.hints()[0].contains("oci:DIR[:TAG]") && !missing.hints()[0].contains("--output"));
    }
}
