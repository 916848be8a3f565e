//! zstd layers (`tar+zstd`): libzstd's streaming encoder, single-threaded, checksummed.

use std::io::{self, Write};

/// A zstd frame writer at `level`, with the content checksum on (decoders verify it; the zstd
/// CLI writes it too). Single-threaded on purpose: libzstd's output is deterministic for a given
/// version, level and parameters, and one thread already compresses 42 MB in ~0.15 s.
pub fn encoder<W: Write>(out: W, level: i32) -> io::Result<zstd::Encoder<'static, W>> {
    let mut e = zstd::Encoder::new(out, level)?;
    e.include_checksum(true)?;
    Ok(e)
}

/// The levels libzstd accepts (negative ones are its "fast" levels).
pub fn levels() -> std::ops::RangeInclusive<i32> {
    zstd::compression_level_range()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn output_does_not_depend_on_how_input_is_written() {
        // The tar writer's chunk sizes come from std's io::copy; a Rust upgrade must not move digests.
        let input: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 ^ (i / 4093) as u8).collect();
        let run = |chunk: usize| {
            let mut e = encoder(Vec::new(), 3).unwrap();
            for c in input.chunks(chunk) {
                e.write_all(c).unwrap();
            }
            e.finish().unwrap()
        };
        let a = run(8192);
        assert!(a == run(1), "byte-at-a-time writes change the output");
        assert!(a == run(input.len()), "one big write changes the output");
        let mut back = Vec::new();
        zstd::Decoder::new(&a[..]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == input);
        // Frame magic, then a frame header whose descriptor has the checksum flag (bit 2).
        assert_eq!(&a[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(a[4] & 0b100, 0b100);
    }
}
