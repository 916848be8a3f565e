//! Deterministic parallel gzip, pigz's scheme: fixed-size blocks deflated on their own threads,
//! each primed with the 32 KiB before it, joined into one gzip member, byte-identical whatever the
//! number of threads.
//!
//! Hand-written rather than taken from a crate: gzp (the pigz-like crate) keeps the output writer
//! on its own thread and never gives it back (we need it back to read the blob digest), cuts a
//! block wherever the caller flushes (so the bytes would depend on call patterns, not only on the
//! input) and brings C backends by default. What it takes here is about a hundred lines on top of
//! zlib-rs's safe `Deflate`, used directly rather than through flate2 so that no feature another
//! crate turns on in flate2 (a C zlib) can change our bytes.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Status};

/// Input bytes per block. Part of the output format: the bytes depend on it, not on the threads.
/// 256 KiB: on the 42 MB benchmark binary at level 9, 128 KiB to 4 MiB blocks all land within
/// 0.02 % of one another in size; smaller blocks split mid-size binaries across more threads and
/// keep less in memory (peak RSS 6.6 MB against 10 MB with 1 MiB blocks).
pub const BLOCK: usize = 256 * 1024;
/// Deflate's window: how much of the previous block can be referred back to.
const WINDOW: usize = 32 * 1024;
/// The gzip header's OS byte: 255 = "unknown", so the host OS never leaks into the bytes.
const OS_UNKNOWN: u8 = 255;

/// A gzip writer that deflates [`BLOCK`]-sized blocks on up to `threads` threads at once.
///
/// Each block is a raw deflate stream of its own, primed with the last 32 KiB of the input before
/// it (so matches reach back across the cut as in one stream), ended by a sync flush (an empty
/// stored block that byte-aligns it) or, for the last, by the final block. Their concatenation
/// is one valid deflate stream; the CRC-32 and length of the whole input close the member. A
/// block's bytes depend only on its input, the 32 KiB before it and the level, so the output is
/// the same for any `threads` (tested). Memory stays bounded: at most `threads` blocks are in
/// flight, and finished ones are written out in order as the next are started.
pub struct GzEncoder<W: Write> {
    out: W,
    level: u32,
    threads: usize,
    /// Input of the block being filled.
    block: Vec<u8>,
    /// The last [`WINDOW`] bytes of the input before `block`.
    dict: Vec<u8>,
    /// CRC-32 of all input so far (zlib-rs's SIMD one).
    crc: u32,
    len: u64,
    pending: VecDeque<Pending>,
}

enum Pending {
    Done(io::Result<Vec<u8>>),
    Running(JoinHandle<io::Result<Vec<u8>>>),
}

impl<W: Write> GzEncoder<W> {
    /// Starts a member: writes the fixed 10-byte header (no name, mtime 0, OS unknown).
    pub fn new(mut out: W, level: u32, threads: usize) -> io::Result<GzEncoder<W>> {
        // XFL as zlib and flate2 set it: 2 = best compression, 4 = fastest.
        let xfl = match level {
            9.. => 2,
            0 | 1 => 4,
            _ => 0,
        };
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, OS_UNKNOWN])?;
        Ok(GzEncoder {
            out,
            level,
            threads: threads.max(1),
            block: Vec::with_capacity(BLOCK),
            dict: Vec::new(),
            crc: 0,
            len: 0,
            pending: VecDeque::new(),
        })
    }

    /// Deflates the last block, writes every block in order and the trailer; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        let crc = self.crc;
        // ISIZE is the input length modulo 2^32 (RFC 1952).
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(self.len as u32).to_le_bytes())?;
        Ok(self.out)
    }

    /// Hands the current block to a thread (or deflates it here with one thread), after making
    /// room: never more than `threads` blocks in flight.
    fn submit(&mut self, last: bool) -> io::Result<()> {
        while self.pending.len() >= self.threads {
            self.write_oldest()?;
        }
        let input = std::mem::replace(&mut self.block, if last { Vec::new() } else { Vec::with_capacity(BLOCK) });
        let next_dict = input[input.len().saturating_sub(WINDOW)..].to_vec();
        let dict = std::mem::replace(&mut self.dict, next_dict);
        let level = self.level;
        self.pending.push_back(if self.threads == 1 {
            Pending::Done(deflate_block(level, &dict, &input, last))
        } else {
            let spawned = std::thread::Builder::new().name("gzip".into());
            Pending::Running(spawned.spawn(move || deflate_block(level, &dict, &input, last))?)
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
        self.crc = zlib_rs::crc32::crc32(self.crc, &buf[..n]);
        self.len += n as u64;
        if self.block.len() == BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    /// Flushes what is already compressed. It never cuts a block early: block boundaries are at
    /// fixed input offsets, so the bytes do not depend on when callers flush.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One block as raw deflate, primed with `dict`, ended by a sync flush or (`last`) the final block.
/// A fresh compressor per block: a reused one could carry state across (zlib-rs#459).
fn deflate_block(level: u32, dict: &[u8], input: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let fail = |e: zlib_rs::DeflateError| io::Error::other(format!("deflate failed: {e:?}"));
    // Raw deflate (negative window bits): the gzip header and trailer are ours.
    let mut c = Deflate::new_with_config(DeflateConfig { level: level as i32, window_bits: -15, ..Default::default() });
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(fail)?;
    }
    let flush = if last { DeflateFlush::Finish } else { DeflateFlush::SyncFlush };
    // Room for the whole block at its worst (stored) plus the flush marker, so one call does it.
    // The room matters: at levels 2-6 (deflate_medium) zlib-rs's bytes depend on how much output
    // room each call has (measured: 4 MiB of a binary at level 6 comes out 9-19 bytes longer when
    // fed 100 B-64 KiB of room at a time), so it must be a function of the block alone.
    let mut out = vec![0u8; zlib_rs::compress_bound(input.len()) + 64];
    let (mut read, mut written) = (0, 0);
    loop {
        let (in0, out0) = (c.total_in(), c.total_out());
        let status = c.compress(&input[read..], &mut out[written..], flush).map_err(fail)?;
        read += (c.total_in() - in0) as usize;
        written += (c.total_out() - out0) as usize;
        // Done when all input is in and the flush left output room unused (zlib's rule for a
        // sync flush), or when the stream has ended.
        let drained = read == input.len() && written < out.len();
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError if !last && drained => break,
            _ if written == out.len() => out.resize(out.len() * 2, 0),
            _ => {}
        }
    }
    out.truncate(written);
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
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn same_bytes_for_any_number_of_threads_and_any_write_sizes() {
        // Several blocks plus a partial one, so blocks really run at once and refer back.
        let input = sample(3 * BLOCK + 12_345);
        let one = gzip(&input, 1, 64 * 1024);
        for (threads, chunk) in [(2, 1000), (4, 3 * BLOCK), (4, 7)] {
            assert!(one == gzip(&input, threads, chunk), "{threads} threads, writes of {chunk} bytes");
        }
        assert_eq!(gunzip(&one), input);
        // The blocks are primed: cutting the stream costs almost nothing against one stream.
        let whole = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            e.write_all(&input).unwrap();
            e.finish().unwrap()
        };
        assert!(one.len() < whole.len() + whole.len() / 100, "{} vs {}", one.len(), whole.len());
    }

    #[test]
    fn block_edges_and_empty_input_are_valid_gzip() {
        for len in [0, 1, WINDOW - 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK] {
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
    }
}
