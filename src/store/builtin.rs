//! The embedded bases: `static` (a distroless-static equivalent) and `scratch` (nothing). They
//! are sources of bases only: the same for every platform, with no manifest of their own.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine as _;
use oci_spec::image::{ConfigBuilder, History, HistoryBuilder};

use super::{Source, StoreError};
use crate::layer::{self, Entry};
use crate::oci::{rfc3339, BaseImage, Blob, Content, Image, Layer, MediaFamily, Platform};

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

/// Built once per process, in memory (about 150 KiB compressed), identical for every platform.
/// A second caller waits for the first's layer rather than building it again. Compressing it at
/// gzip costs a no-op build a few ms, so the compressed bytes are kept in `cache` under
/// the layer's key (see `layer::key`) and, when read back, both digests are computed from them.
fn static_layer(cache: Option<&Path>) -> Result<&'static Layer, StoreError> {
    static LAYER: OnceLock<Result<Layer, String>> = OnceLock::new();
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
                    // Losing it only means compressing again next time.
                    let _ = super::disk::replace_file(path, &bytes, false);
                }
                (bytes, d)
            }
        };
        Ok(Layer {
            blob: Blob { media_type: layer::MEDIA_TYPE.into(), digest: d.digest, size: d.size, content: Content::Bytes(bytes.into()) },
            diff_id: d.diff_id,
            created_by: "cargo-oci base `static`: /etc/{passwd,group,nsswitch.conf,os-release}, CA certificates, /tmp, /home/nonroot, /root".into(),
        })
    });
    built.as_ref().map_err(|why| StoreError::Io {
        op: "build the built-in base layer in",
        path: "memory".into(),
        source: std::io::Error::other(why.clone()),
    })
}

/// A kept layer and its digests, computed from its bytes (a corrupt one fails gzip's CRC).
fn read_kept(path: &Path) -> Option<(Vec<u8>, layer::Digests)> {
    let bytes = std::fs::read(path).ok()?;
    let (diff_id, _) = crate::oci::digest_reader(flate2::read::MultiGzDecoder::new(bytes.as_slice())).ok()?;
    let d = layer::Digests { digest: crate::oci::Digest::of(&bytes), size: bytes.len() as u64, diff_id };
    Some((bytes, d))
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
}
