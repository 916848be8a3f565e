//! Deterministic parallel gzip: the input cut into fixed 1 MiB blocks, each compressed by
//! libdeflate on its own thread into a gzip member of its own, the members written in order.
//! The bytes depend on the input and the level only, never on the number of threads.
//!
//! Why members and why libdeflate (README "Compression" has the numbers): on a 42 MB binary,
//! libdeflate level 6 is 4× faster than zlib-rs level 9 (0.43 s against 1.76 s of CPU) and still
//! smaller than the miniz_oxide level 6 cargo-oci first shipped; zlib-rs's own fast levels are
//! larger (+2.4 % at level 6). libdeflate compresses whole buffers only, with no preset
//! dictionary, so blocks cannot be primed and joined into one deflate stream as pigz does; each
//! block becomes a complete member instead (1 MiB blocks cost 0.2 % in size against one stream).
//! A gzip file of several members is one gzip file (RFC 1952 §2.2: "a series of members"); it is
//! what eStargz layers are, and every runtime and registry tool reads it (Go's `compress/gzip`
//! reads all members by default, as do GNU gzip, GNU tar, Python and flate2's `MultiGzDecoder`).
//!
//! Hand-written rather than taken from a crate: gzp (the pigz-like crate) keeps the output writer
//! on its own thread and never gives it back (we need it back to read the blob digest), and cuts a
//! block wherever the caller flushes (so the bytes would depend on call patterns, not only on the
//! input). What it takes here is the block queue below.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

use libdeflater::{CompressionLvl, Compressor};

/// Input bytes per member. Part of the output format: the bytes depend on it, not on the threads.
/// 1 MiB: on the 42 MB benchmark binary at level 6, 512 KiB blocks are 0.36 % larger than one
/// stream, 1 MiB 0.17 %, 4 MiB 0.04 %; smaller blocks split mid-size binaries across more threads
/// and keep less in memory (at most `threads` blocks and their output are held at once).
pub const BLOCK: usize = 1024 * 1024;

/// The levels libdeflate has: 1 (fastest) to 12 (smallest; 10–12 search for optimal parses).
pub const LEVELS: std::ops::RangeInclusive<u32> = 1..=12;

/// A gzip writer that compresses [`BLOCK`]-sized blocks on up to `threads` threads at once.
///
/// Each block is a gzip member of its own (libdeflate's header: no name, mtime 0, OS "unknown",
/// so the host never leaks into the bytes; its CRC-32 and length in the trailer). Memory stays
/// bounded: at most `threads` blocks are in flight, and finished ones are written out in order as
/// the next are started. Empty input is one empty member, so the stream is always valid gzip.
pub struct GzEncoder<W: Write> {
    out: W,
    level: CompressionLvl,
    threads: usize,
    /// Input of the block being filled.
    block: Vec<u8>,
    /// Whether a member has been started (empty input still needs one).
    started: bool,
    pending: VecDeque<Pending>,
}

enum Pending {
    Done(io::Result<Vec<u8>>),
    Running(JoinHandle<io::Result<Vec<u8>>>),
}

impl<W: Write> GzEncoder<W> {
    /// A writer at `level` (one of [`LEVELS`]) compressing on up to `threads` threads.
    pub fn new(out: W, level: u32, threads: usize) -> io::Result<GzEncoder<W>> {
        if !LEVELS.contains(&level) {
            return Err(io::Error::other(format!("gzip level {level} is not one of 1 to 12")));
        }
        let level = CompressionLvl::new(level as i32).expect("1 to 12 are libdeflate levels");
        Ok(GzEncoder {
            out,
            level,
            threads: threads.max(1),
            block: Vec::with_capacity(BLOCK),
            started: false,
            pending: VecDeque::new(),
        })
    }

    /// Compresses the last block, writes every member in order; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.block.is_empty() || !self.started {
            self.submit()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        Ok(self.out)
    }

    /// Hands the current block to a thread (or compresses it here with one thread), after making
    /// room: never more than `threads` blocks in flight.
    fn submit(&mut self) -> io::Result<()> {
        while self.pending.len() >= self.threads {
            self.write_oldest()?;
        }
        self.started = true;
        let input = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let level = self.level;
        self.pending.push_back(if self.threads == 1 {
            Pending::Done(member(level, &input))
        } else {
            let spawned = std::thread::Builder::new().name("gzip".into());
            Pending::Running(spawned.spawn(move || member(level, &input))?)
        });
        Ok(())
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        let bytes = match self.pending.pop_front() {
            None => return Ok(()),
            Some(Pending::Done(r)) => r?,
            Some(Pending::Running(t)) => {
                t.join().map_err(|_| io::Error::other("a gzip compression thread panicked"))??
            }
        };
        self.out.write_all(&bytes)
    }
}

impl<W: Write> Write for GzEncoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == BLOCK {
            self.submit()?;
        }
        Ok(n)
    }

    /// Flushes what is already compressed. It never cuts a block early: block boundaries are at
    /// fixed input offsets, so the bytes do not depend on when callers flush.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One block as a whole gzip member. A fresh compressor per block, so no state can carry across
/// and a block's bytes are a function of the block and the level alone.
fn member(level: CompressionLvl, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut c = Compressor::new(level);
    let mut out = vec![0u8; c.gzip_compress_bound(input.len())];
    let n = c.gzip_compress(input, &mut out).map_err(|e| io::Error::other(format!("gzip failed: {e:?}")))?;
    out.truncate(n);
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;

    use super::*;

    /// Bytes that compress somewhat, like a binary: a repeating pattern with noise.
    pub(crate) fn sample(len: usize) -> Vec<u8> {
        let mut x: u32 = 12345;
        (0..len)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if i % 7 == 0 {
                    (x >> 16) as u8
                } else {
                    (i % 251) as u8
                }
            })
            .collect()
    }

    fn gzip(input: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), 6, threads).unwrap();
        for c in input.chunks(chunk) {
            e.write_all(c).unwrap();
        }
        e.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn same_bytes_for_any_number_of_threads_and_any_write_sizes() {
        // Several blocks plus a partial one, so blocks really run at once.
        let input = sample(3 * BLOCK + 12_345);
        let one = gzip(&input, 1, 64 * 1024);
        for (threads, chunk) in [(2, 1000), (4, 3 * BLOCK), (4, 7)] {
            assert!(one == gzip(&input, threads, chunk), "{threads} threads, writes of {chunk} bytes");
        }
        assert_eq!(gunzip(&one), input);
        // Cutting the input into members costs little against one stream at the same level.
        let whole = {
            let mut c = Compressor::new(CompressionLvl::new(6).unwrap());
            let mut out = vec![0; c.gzip_compress_bound(input.len())];
            c.gzip_compress(&input, &mut out).unwrap()
        };
        assert!(one.len() < whole + whole / 100, "{} vs {whole}", one.len());
    }

    #[test]
    fn a_member_per_block_each_whole() {
        // The members start at the offsets a reader of members expects: a decoder of the first
        // member alone (flate2's `GzDecoder`) stops after exactly one block of input.
        let input = sample(2 * BLOCK + 1);
        let bytes = gzip(&input, 2, 4096);
        let mut first = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_end(&mut first).unwrap();
        assert_eq!(first, input[..BLOCK]);
        assert_eq!(bytes.windows(10).filter(|w| *w == [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]).count(), 3);
    }

    #[test]
    fn block_edges_and_empty_input_are_valid_gzip() {
        for len in [0, 1, 32 * 1024, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK] {
            let input = sample(len);
            let bytes = gzip(&input, 2, 4096);
            assert_eq!(gunzip(&bytes), input, "length {len}");
            assert!(gnu_gunzip(&bytes) == input, "GNU gzip reads {len} bytes back");
        }
    }

    /// GNU gzip (essential on Debian), which checks the CRC-32 and the length of the trailer.
    fn gnu_gunzip(bytes: &[u8]) -> Vec<u8> {
        use std::process::{Command, Stdio};
        let mut child =
            Command::new("gzip").arg("-dc").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("GNU gzip");
        let mut stdin = child.stdin.take().unwrap();
        let input = bytes.to_vec();
        let feeder = std::thread::spawn(move || stdin.write_all(&input).unwrap());
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        assert!(out.status.success(), "gzip -dc: {}", out.status);
        out.stdout
    }

    #[test]
    fn header_carries_no_time_no_name_no_host() {
        let bytes = gzip(b"x", 1, 1);
        assert_eq!(&bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        let nine = GzEncoder::new(Vec::new(), 9, 1).unwrap().finish().unwrap();
        assert_eq!(nine[8], 2, "XFL says best compression at level 9");
        assert!(GzEncoder::new(Vec::new(), 13, 1).is_err(), "libdeflate has levels 1 to 12");
    }
}
