//! Reading layers back: from a layer's media type and raw bytes to its tar stream, the one place
//! that knows how layers are compressed on the way in (bases, `diff`, the ELF check).

use std::io::{self, BufRead, BufReader, Read};

/// How a layer's bytes are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    Tar,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// The compression a layer media type declares: OCI's `tar`, `tar+gzip`, `tar+zstd` (also the
/// non-distributable ones) and Docker's `tar.gzip` (also `foreign`, and containerd's `tar.zstd`).
fn declared(media_type: &str) -> Option<Codec> {
    let tar = media_type.strip_prefix("application/vnd.oci.image.layer.").is_some()
        || media_type.starts_with("application/vnd.docker.image.rootfs.");
    match media_type.rsplit_once(['+', '.']).map(|(_, suffix)| suffix) {
        _ if !tar => None,
        Some("tar") => Some(Codec::Tar),
        Some("gzip") => Some(Codec::Gzip),
        Some("zstd") => Some(Codec::Zstd),
        _ => None,
    }
}

/// The tar stream of a layer. The media type must name a tar layer; the bytes then decide the
/// decoder, as containerd's `compression.DecompressStream` does (it detects gzip and zstd by
/// magic), so a mislabelled but digest-verified base still reads. A layer declared compressed
/// whose bytes are neither gzip nor zstd is refused. gzip may have several members (eStargz
/// layers do; Go's reader reads them all); zstd may have several frames and skippable ones
/// (zstd:chunked layers carry their table of contents in those).
pub fn open<'a>(media_type: &str, raw: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let Some(declared) = declared(media_type) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("`{media_type}` is not a layer media type (tar, tar+gzip or tar+zstd)"),
        ));
    };
    let mut raw = BufReader::new(raw);
    let head = raw.fill_buf()?;
    let found = if head.starts_with(GZIP_MAGIC) {
        Codec::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Codec::Zstd
    } else {
        Codec::Tar
    };
    Ok(match (declared, found) {
        (Codec::Gzip | Codec::Zstd, Codec::Tar) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the layer is declared `{media_type}` but its bytes are neither gzip nor zstd"),
            ))
        }
        (_, Codec::Gzip) => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        (_, Codec::Zstd) => Box::new(::zstd::Decoder::with_buffer(raw)?),
        (_, Codec::Tar) => Box::new(raw),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

    fn read(media_type: &str, raw: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        open(media_type, raw)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn media_types_of_layers_are_known() {
        assert_eq!(declared(TAR), Some(Codec::Tar));
        assert_eq!(declared("application/vnd.oci.image.layer.v1.tar+gzip"), Some(Codec::Gzip));
        assert_eq!(declared("application/vnd.oci.image.layer.v1.tar+zstd"), Some(Codec::Zstd));
        assert_eq!(declared("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"), Some(Codec::Gzip));
        assert_eq!(declared("application/vnd.docker.image.rootfs.diff.tar.gzip"), Some(Codec::Gzip));
        assert_eq!(declared("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"), Some(Codec::Gzip));
        assert_eq!(declared("application/vnd.docker.image.rootfs.diff.tar.zstd"), Some(Codec::Zstd));
        assert_eq!(declared("application/vnd.oci.image.config.v1+json"), None);
        assert_eq!(declared("application/vnd.oci.image.layer.v1.tar+bzip2"), None);
    }

    #[test]
    fn every_codec_reads_and_the_bytes_decide() {
        let data = b"not really a tar, but bytes all the same".to_vec();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = ::zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(read(TAR, &data).unwrap(), data);
        assert_eq!(read(&format!("{TAR}+gzip"), &gz).unwrap(), data);
        assert_eq!(read(&format!("{TAR}+zstd"), &zst).unwrap(), data);
        // Mislabelled (zstd bytes declared gzip): read as the bytes say, as containerd does.
        assert_eq!(read(&format!("{TAR}+gzip"), &zst).unwrap(), data);
        // Two gzip members (eStargz) and two zstd frames read as one stream.
        assert_eq!(read(&format!("{TAR}+gzip"), &[gz.clone(), gz].concat()).unwrap(), [&data[..], &data].concat());
        assert_eq!(read(&format!("{TAR}+zstd"), &[zst.clone(), zst].concat()).unwrap(), [&data[..], &data].concat());
    }

    #[test]
    fn wrong_types_and_bytes_are_refused() {
        let e = read("application/vnd.oci.image.config.v1+json", b"{}").unwrap_err();
        assert!(e.to_string().contains("is not a layer media type"), "{e}");
        let e = read(&format!("{TAR}+gzip"), b"plain bytes").unwrap_err();
        assert!(e.to_string().contains("neither gzip nor zstd"), "{e}");
    }
}
