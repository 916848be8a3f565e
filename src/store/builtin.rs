//! The embedded bases: `static` (a distroless-static equivalent) and `scratch` (nothing). They
//! are sources of bases only: the same for every platform, with no manifest of their own.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine as _;
use oci_spec::image::{ConfigBuilder, History, HistoryBuilder};

use super::layer_cache::Record;
use super::{Source, StoreError};
use crate::layer::{self, Entry};
use crate::oci::{rfc3339, BaseImage, Blob, Content, Digest, Image, Layer, MediaFamily, Platform};

pub const NONROOT: u64 = 65532;
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
pub const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The base layer's mtime. Fixed (not SOURCE_DATE_EPOCH): the layer is a constant of this
/// cargo-oci version, so registries store it once for every image and every build.
const BASE_MTIME: u64 = 0;

pub struct Static;
pub struct Scratch;

/// A built-in base read as an image (no command names one so): it has no manifest to read.
fn not_an_image(name: &str) -> StoreError {
    StoreError::BadImage { image: name.into(), why: "it is a built-in base, not an image with a manifest".into() }
}

impl Source for Static {
    fn name(&self) -> String {
        "static".into()
    }

    fn image(&self) -> Result<Image, StoreError> {
        Err(not_an_image("static"))
    }

    fn base(&self, _platform: &Platform) -> Result<BaseImage, StoreError> {
        let layer = static_layer(None)?.clone();
        Ok(BaseImage {
            history: vec![history(&layer.created_by)],
            layers: vec![layer],
            config: ConfigBuilder::default()
                .user(format!("{NONROOT}:{NONROOT}"))
                .working_dir("/home/nonroot")
                .env(vec![PATH.to_string(), format!("SSL_CERT_FILE={CA_BUNDLE}")])
                .build()
                .expect("all fields set"),
            media: MediaFamily::Oci,
            reference: None,
        })
    }
}

impl Source for Scratch {
    fn name(&self) -> String {
        "scratch".into()
    }

    fn image(&self) -> Result<Image, StoreError> {
        Err(not_an_image("scratch"))
    }

    fn base(&self, _platform: &Platform) -> Result<BaseImage, StoreError> {
        Ok(BaseImage {
            layers: Vec::new(),
            history: Vec::new(),
            config: ConfigBuilder::default().env(vec![PATH.to_string()]).build().expect("all fields set"),
            media: MediaFamily::Oci,
            reference: None,
        })
    }
}

fn history(created_by: &str) -> History {
    HistoryBuilder::default()
        .created(rfc3339(BASE_MTIME))
        .created_by(created_by)
        .comment("cargo-oci built-in base")
        .build()
        .expect("all fields set")
}

/// The files of the `static` base, in tar-entry form.
pub fn static_entries() -> Vec<Entry> {
    let etc = |name: &str, body: &str| {
        Entry::file(&format!("etc/{name}"), layer::Source::Bytes(body.as_bytes().to_vec()), 0o644)
    };
    vec![
        Entry::dir("etc", 0o755, 0, 0),
        etc("passwd", include_str!("../../templates/base/etc/passwd")),
        etc("group", include_str!("../../templates/base/etc/group")),
        etc("nsswitch.conf", include_str!("../../templates/base/etc/nsswitch.conf")),
        etc("os-release", include_str!("../../templates/base/etc/os-release")),
        Entry::file(CA_BUNDLE, layer::Source::Bytes(ca_bundle().into_bytes()), 0o644),
        Entry::dir("tmp", 0o1777, 0, 0),
        Entry::dir("home", 0o755, 0, 0),
        Entry::dir("home/nonroot", 0o700, NONROOT, NONROOT),
        Entry::dir("root", 0o700, 0, 0),
    ]
}

/// Mozilla's root set (from `webpki-root-certs`, kept current by the rustls project) as PEM, in
/// the crate's order.
pub fn ca_bundle() -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = b64.encode(cert.as_ref());
        for line in text.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
}

/// Builds the `static` layer ahead of its first use (a build does so while it plans), kept
/// in `cache` (cargo-oci's cache directory) so later runs need not compress it again; a failure
/// is reported by that use.
pub fn warm(cache: Option<&Path>) {
    let _ = static_layer(cache);
}

/// The `static` layer of this process and the entries it was written from, once built (see
/// [`static_layer`]).
static LAYER: OnceLock<Result<(Layer, Vec<Entry>), String>> = OnceLock::new();

/// The entries of `layer` when it is the `static` base's layer (as built in this process), so
/// a reader of its file tree needs not inflate it; `None` for any other layer.
pub fn entries_of(layer: &Layer) -> Option<&'static [Entry]> {
    let (ours, entries) = LAYER.get()?.as_ref().ok()?;
    (ours.blob.digest == layer.blob.digest).then_some(entries.as_slice())
}

/// Built once per process, in memory (about 150 KiB compressed), identical for every platform.
/// A second caller waits for the first's layer rather than building it again. Compressing it
/// costs a no-op build a few ms, so the compressed bytes are kept in `cache` under the layer's
/// key (see `layer::key`) with a record of its digests, as the layer cache keeps layers.
fn static_layer(cache: Option<&Path>) -> Result<&'static Layer, StoreError> {
    let built = LAYER.get_or_init(|| {
        let entries = layer::prepare(static_entries()).map_err(|e| e.to_string())?;
        let contents = layer::key::contents(&entries).map_err(|e| e.to_string())?;
        let key = layer::key::key(&entries, &contents, BASE_MTIME, Default::default());
        let kept = cache.map(|c| c.join("builtin").join(format!("{}.tar.gz", key.hex())));
        let (bytes, d) = match kept.as_deref().and_then(read_kept) {
            Some(found) => found,
            None => {
                let (bytes, d, _) =
                    layer::write_prepared(&entries, BASE_MTIME, Default::default(), Vec::new(), &|_| Ok(()))
                        .map_err(|e| e.to_string())?;
                if let Some(path) = &kept {
                    // Losing them only means compressing again next time. The record last: a
                    // layer without one is not used.
                    let _ = super::disk::replace_file(path, &bytes, false)
                        .and_then(|()| super::disk::replace_file(&record(path), &record_json(&d), false));
                }
                (bytes, d)
            }
        };
        let layer = Layer {
            blob: Blob { media_type: layer::MEDIA_TYPE.into(), digest: d.digest, size: d.size, content: Content::Bytes(bytes.into()) },
            diff_id: d.diff_id,
            created_by: "cargo-oci base `static`: /etc/{passwd,group,nsswitch.conf,os-release}, CA certificates, /tmp, /home/nonroot, /root".into(),
        };
        Ok((layer, entries))
    });
    built.as_ref().map(|(layer, _)| layer).map_err(|why| StoreError::Io {
        op: "build the built-in base layer in",
        path: "memory".into(),
        source: std::io::Error::other(why.clone()),
    })
}

/// Where a kept layer's digests are recorded: `<key>.tar.gz.json`, a layer cache record.
fn record(layer: &Path) -> std::path::PathBuf {
    super::disk::with_suffix(layer, ".json")
}

/// The record of a layer with digests `d`, as the layer cache writes its records.
fn record_json(d: &layer::Digests) -> Vec<u8> {
    let r = Record {
        media_type: layer::MEDIA_TYPE.into(),
        diff_id: d.diff_id.clone(),
        digest: d.digest.clone(),
        size: d.size,
    };
    serde_json::to_vec(&r).expect("a record is plain data")
}

/// A kept layer and its digests. Its bytes must hash to the recorded digest (a flipped byte or a
/// cut file is not used); the diff_id is the recorded one, as the layer cache trusts its records,
/// which saves inflating the layer on every build.
fn read_kept(path: &Path) -> Option<(Vec<u8>, layer::Digests)> {
    let r: Record = serde_json::from_slice(&std::fs::read(record(path)).ok()?).ok()?;
    let bytes = std::fs::read(path).ok()?;
    let fits = bytes.len() as u64 == r.size && Digest::of(&bytes) == r.digest;
    fits.then_some((bytes, layer::Digests { digest: r.digest, size: r.size, diff_id: r.diff_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_bundle_has_the_mozilla_set() {
        let pem = ca_bundle();
        assert!(pem.matches("-----BEGIN CERTIFICATE-----").count() >= 100);
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
    }

    #[test]
    fn the_static_layer_is_the_same_for_every_platform() {
        let a = Static.base(&Platform::new("linux", "amd64", None)).unwrap();
        let b = Static.base(&Platform::new("linux", "arm64", Some("v8"))).unwrap();
        assert_eq!(a.layers[0].blob.digest, b.layers[0].blob.digest);
        assert_eq!(a.config.user().as_deref(), Some("65532:65532"));
    }

    #[test]
    fn a_kept_layer_is_used_only_whole_and_with_its_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.tar.gz");
        let entries = layer::prepare(static_entries()).unwrap();
        let (bytes, d, _) = layer::write_prepared(&entries, 0, Default::default(), Vec::new(), &|_| Ok(())).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_kept(&path).is_none(), "no record: not used");
        std::fs::write(record(&path), record_json(&d)).unwrap();
        let (kept, kd) = read_kept(&path).unwrap();
        assert!(kept == bytes && kd == d);
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        assert!(read_kept(&path).is_none(), "a flipped byte: not used");
    }
}
