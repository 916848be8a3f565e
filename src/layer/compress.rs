//! How a layer's tar is compressed: with the entries, the one choice (algorithm and level) that
//! fixes a layer's bytes. gzip (the default, read by every runtime) and zstd sit side by side
//! behind [`Compression::encoder`].

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use super::{gzip, zstd};

/// The default gzip level: libdeflate's 6, its own default. On a 42 MB binary it is 4× faster than
/// zlib-rs level 9 (used before) and 0.5 % smaller than the miniz_oxide level 6 cargo-oci first
/// shipped; 7 is smaller still but 35 % slower (README "Compression").
pub const GZIP_LEVEL: u32 = 6;
/// zstd's own default level.
pub const ZSTD_LEVEL: i32 = 3;

/// A layer compression: what [`Compression::encoder`] writes and what a layer cache must key on.
/// Written and read as its name (`gzip:9`, `zstd:3`), in Cargo.toml and in plans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// gzip (RFC 1952), a member per 1 MiB block compressed in parallel (see `gzip.rs`); level 1–12.
    Gzip { level: u32 },
    /// One zstd frame with a checksum; any level libzstd accepts.
    Zstd { level: i32 },
}

impl Default for Compression {
    fn default() -> Compression {
        Compression::Gzip { level: GZIP_LEVEL }
    }
}

impl Compression {
    pub fn is_gzip(self) -> bool {
        matches!(self, Compression::Gzip { .. })
    }

    /// The OCI layer media type of a tar compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip { .. } => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd { .. } => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    /// A writer that compresses into `out`; [`Encoder::finish`] ends the stream and returns `out`.
    pub fn encoder<W: Write>(self, out: W) -> io::Result<Encoder<W>> {
        Ok(match self {
            Compression::Gzip { level } => Encoder::Gzip(gzip::GzEncoder::new(out, level, gzip_threads())?),
            Compression::Zstd { level } => Encoder::Zstd(zstd::encoder(out, level)?),
        })
    }
}

/// Threads for one gzip stream. The bytes do not depend on it (see `gzip.rs`), only the time.
fn gzip_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// The writer of one [`Compression`].
pub enum Encoder<W: Write> {
    Gzip(gzip::GzEncoder<W>),
    Zstd(::zstd::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// `gzip`, `gzip:9`, `zstd`, `zstd:19`: how a user names one (and how it is printed back).
impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Gzip { level } => write!(f, "gzip:{level}"),
            Compression::Zstd { level } => write!(f, "zstd:{level}"),
        }
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Compression, String> {
        let (name, level) = match s.split_once(':') {
            Some((n, l)) => (n, Some(l.parse::<i32>().map_err(|_| format!("`{l}` is not a compression level"))?)),
            None => (s, None),
        };
        match name {
            "gzip" => match level.unwrap_or(GZIP_LEVEL as i32) {
                l if gzip::LEVELS.contains(&(l as u32)) => Ok(Compression::Gzip { level: l as u32 }),
                l => Err(format!("gzip level {l} is out of range: use 1 (fastest) to 12 (smallest)")),
            },
            "zstd" => match level.unwrap_or(ZSTD_LEVEL) {
                l if zstd::levels().contains(&l) && l != 0 => Ok(Compression::Zstd { level: l }),
                l => Err(format!(
                    "zstd level {l} is out of range: use 1 to {} (or {} to -1 for its fast levels)",
                    zstd::levels().end(),
                    zstd::levels().start()
                )),
            },
            other => Err(format!("unknown compression `{other}`: use `gzip[:LEVEL]` or `zstd[:LEVEL]`")),
        }
    }
}

impl serde::Serialize for Compression {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Compression {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Compression, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        assert_eq!("gzip".parse(), Ok(Compression::Gzip { level: GZIP_LEVEL }));
        assert_eq!("zstd".parse(), Ok(Compression::Zstd { level: 3 }));
        assert_eq!("zstd:19".parse(), Ok(Compression::Zstd { level: 19 }));
        assert_eq!("gzip:1".parse::<Compression>().unwrap().to_string(), "gzip:1");
        assert_eq!(Compression::default().to_string(), format!("gzip:{GZIP_LEVEL}"));
        assert!("gzip:0".parse::<Compression>().unwrap_err().contains("1 (fastest) to 12"));
        assert_eq!("gzip:12".parse(), Ok(Compression::Gzip { level: 12 }));
        assert!("gzip:13".parse::<Compression>().is_err());
        assert!("zstd:99".parse::<Compression>().unwrap_err().contains("out of range"));
        assert!("zstd:x".parse::<Compression>().unwrap_err().contains("`x` is not"));
        assert!("brotli".parse::<Compression>().unwrap_err().contains("`gzip[:LEVEL]`"));
    }
}
