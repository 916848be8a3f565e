//! `cargo xtask bench`: cargo-oci beside its peers on the same inputs, in one run, as ratios (the
//! machine is shared, so its load is printed with the numbers): packaging two 42 MB binaries cold,
//! and again with nothing changed, vs buildah and vs one bare single-thread deflate pass; pushing
//! the 2-platform layout vs `skopeo copy --all` through a slow loopback link; a no-op build vs a
//! no-op cargo build; that build on a registry base pulled cold through the slow link, layers
//! at once vs one at a time; a cold 2-target build of the C-deps example vs two per-target cargo
//! runs; peak RSS. `--quick` skips the cold C-deps builds (minutes); `--compressors` adds the layer
//! writer alone per compression and level, on one CPU and on all.

mod child;
mod peers;
mod proxy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub use child::{child, layer_child};
use peers::{have, timed, Pusher};
use sha2::Digest as _;

const RUNS: usize = 3;
const TARGETS: [&str; 2] = ["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];
/// The far registry: 50 ms round trips, 20 MB/s per connection (each way).
const ONE_WAY: Duration = Duration::from_millis(25);
const RATE: f64 = 20e6;

pub fn run(args: &[String]) -> Result<(), String> {
    if cfg!(debug_assertions) {
        // Timing a debug build measures the wrong thing: re-run ourselves optimised.
        let status = Command::new(cargo())
            .args(["run", "--quiet", "--release", "--package", "xtask", "--", "bench"])
            .args(args)
            .status()
            .map_err(|e| e.to_string())?;
        return if status.success() { Ok(()) } else { Err(format!("release bench failed ({status})")) };
    }
    let quick = args.iter().any(|a| a == "--quick");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().ok_or("no repository root")?.to_path_buf();
    let exe = build_cargo_oci(&repo)?;
    let sysroot = String::from_utf8(
        Command::new("rustc").args(["--print", "sysroot"]).output().map_err(|e| e.to_string())?.stdout,
    )
    .map_err(|e| e.to_string())?;
    let big = PathBuf::from(sysroot.trim()).join("bin/cargo");
    let small = PathBuf::from(sysroot.trim()).join("bin/rustc");
    let size = std::fs::metadata(&big).map_err(|e| format!("{}: {e}", big.display()))?.len();
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let w = work.path();
    // The arm64 image gets other bytes than the amd64 one (else both layers would be one blob,
    // which every pusher uploads once): the same binary XORed with a constant, so the same size
    // and exactly the same compressibility.
    let twin = xor_copy(&big, &w.join("cargo-twin"))?;
    let bigs = [big.as_path(), twin.as_path()];
    let small_twin = xor_copy(&small, &w.join("rustc-twin"))?;
    let load_before = loadavg();
    let mut t = Table::default();

    if args.iter().any(|a| a == "--compressors") {
        compressors(&big, w)?;
    }

    // Packaging, cold and with nothing changed, in-process (no cargo run): 2 × the 42 MB binary.
    let limit = median((0..RUNS).map(|_| limit_pass(bigs)).collect::<Result<_, _>>()?);
    let mut cold = Vec::new();
    for i in 0..RUNS {
        cold.push(child::run(bigs, 2, &w.join(format!("big{i}")), true)?);
    }
    let wall = median(cold.iter().map(|r| r.wall).collect());
    let unsynced: Vec<_> =
        (0..RUNS).map(|i| child::run(bigs, 2, &w.join(format!("nosync{i}")), false)).collect::<Result<_, _>>()?;
    let again = median(cold.iter().map(|r| r.again).collect());
    let buildah = if have("buildah") {
        Some(median(
            (0..RUNS)
                .map(|i| peers::buildah_package(bigs, &w.join(format!("buildah{i}"))))
                .collect::<Result<_, _>>()?,
        ))
    } else {
        None
    };
    let mb = size as f64 / 1e6;
    t.vs(
        &format!("package 2 × {mb:.0} MB (amd64 + arm64), cold"),
        wall,
        "buildah from/copy/commit/manifest push",
        buildah,
    );
    t.vs(
        &format!("package 2 × {mb:.0} MB, cold"),
        wall,
        "one bare sha256 + deflate pass, 1 thread, same level",
        Some(limit),
    );
    t.vs(
        &format!("package 2 × {mb:.0} MB, binaries unchanged"),
        again,
        "buildah (it has no cache for this either)",
        buildah,
    );

    // Push through the slow link.
    let layout = w.join("big0");
    let ours = (0..RUNS)
        .map(|_| peers::push(Pusher::CargoOci(&exe), &layout, ONE_WAY, RATE))
        .collect::<Result<Vec<_>, _>>()?;
    let skopeo = if have("skopeo") {
        Some((0..RUNS).map(|_| peers::push(Pusher::Skopeo, &layout, ONE_WAY, RATE)).collect::<Result<Vec<_>, _>>()?)
    } else {
        None
    };
    let secs = |v: &[(f64, u64)]| median(v.iter().map(|r| r.0).collect());
    t.vs(
        "push that layout, 50 ms RTT, 20 MB/s per connection",
        secs(&ours),
        "skopeo copy --all",
        skopeo.as_deref().map(secs),
    );

    // No-op builds of the hello example for both targets.
    let hello = peers::fresh_example(&repo, "hello", w)?;
    timed(&mut peers::cargo_oci_build(&exe, &hello, &["x86_64", "aarch64"]))?;
    let noop = median(
        (0..5)
            .map(|_| timed(&mut peers::cargo_oci_build(&exe, &hello, &["x86_64", "aarch64"])))
            .collect::<Result<_, _>>()?,
    );
    timed(&mut peers::cargo_build(&hello, &TARGETS, false, "target-plain"))?;
    let noop_cargo = median(
        (0..5)
            .map(|_| timed(&mut peers::cargo_build(&hello, &TARGETS, false, "target-plain")))
            .collect::<Result<_, _>>()?,
    );
    t.vs(
        "no-op `cargo oci build` of examples/hello, 2 targets",
        noop,
        "no-op `cargo build` of both targets",
        Some(noop_cargo),
    );
    let via_cargo = median(
        (0..5)
            .map(|_| timed(&mut peers::cargo_oci_via_cargo(&exe, &hello, &["x86_64", "aarch64"])))
            .collect::<Result<_, _>>()?,
    );
    t.vs(
        "the same typed as `cargo oci build` (cargo's dispatch first)",
        via_cargo,
        "no-op `cargo build` of both targets",
        Some(noop_cargo),
    );

    // The same build on a far registry base (the pushed layout: per platform a 15 MB layer and
    // a small one), its layers pulled at once (-j's default, 4) vs one at a time.
    let far = |jobs: &str| -> Result<f64, String> {
        let runs = (0..RUNS).map(|_| peers::build_on_far_base(&exe, &hello, &layout, jobs, ONE_WAY, RATE));
        Ok(median(runs.collect::<Result<_, _>>()?))
    };
    t.vs(
        "build of examples/hello on a base pulled cold (2 platforms), 50 ms RTT, 20 MB/s",
        far("4")?,
        "the same with `-j 1` (layers one at a time, as before)",
        Some(far("1")?),
    );

    // Cold 2-target build of the C-deps example, three times each side in the order ours, theirs,
    // theirs, ours, ours, theirs (a run's order and the machine's drift then weigh on both alike),
    // each in a fresh copy: they take a quarter of a minute each and vary by a second. Plain
    // cargo's own one run for both targets is timed between them: what one run can win here.
    if !quick {
        let (mut ours, mut seq, mut one) = (Vec::new(), Vec::new(), Vec::new());
        for (round, ours_first) in [(0, true), (1, false), (2, true)] {
            let our_run = || -> Result<f64, String> {
                let dir = peers::fresh_example(&repo, "cdeps", &w.join(format!("oci{round}")))?;
                timed(&mut peers::cargo_oci_build(&exe, &dir, &["x86_64", "aarch64"]))
            };
            let their_run = || -> Result<f64, String> {
                let dir = peers::fresh_example(&repo, "cdeps", &w.join(format!("plain{round}")))?;
                let start = Instant::now();
                for triple in TARGETS {
                    timed(&mut peers::cargo_build(&dir, &[triple], true, "target"))?;
                }
                Ok(start.elapsed().as_secs_f64())
            };
            let one_run = || -> Result<f64, String> {
                let dir = peers::fresh_example(&repo, "cdeps", &w.join(format!("one{round}")))?;
                timed(&mut peers::cargo_build(&dir, &TARGETS, true, "target"))
            };
            if ours_first {
                ours.push(our_run()?);
                one.push(one_run()?);
                seq.push(their_run()?);
            } else {
                seq.push(their_run()?);
                one.push(one_run()?);
                ours.push(our_run()?);
            }
        }
        println!("cold cdeps builds: cargo-oci {ours:.2?} s, one cargo run {one:.2?} s, sequential {seq:.2?} s");
        t.vs(
            "cold build of examples/cdeps, 2 targets (median of 3, alternating)",
            median(ours),
            "two per-target `cargo zigbuild` runs",
            Some(median(seq.clone())),
        );
        t.vs(
            "the same with plain `cargo zigbuild --target a --target b` (no cargo-oci)",
            median(one),
            "two per-target `cargo zigbuild` runs",
            Some(median(seq)),
        );
    }

    // Peak RSS.
    let rss_big = cold.iter().map(|r| r.rss_kb).max().unwrap_or(0);
    let rss_small = child::run([small.as_path(), small_twin.as_path()], 2, &w.join("small"), true)?.rss_kb;
    let small_mb = std::fs::metadata(&small).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    t.row(
        &format!("peak RSS, packaging 2 × {mb:.0} MB / 2 × {small_mb:.0} MB"),
        &format!("{} / {}", mib(rss_big), mib(rss_small)),
        "",
        "",
    );
    let rss = |v: &[(f64, u64)]| v.iter().map(|r| r.1).max().unwrap_or(0);
    t.row(
        "peak RSS, push",
        &mib(rss(&ours)),
        &skopeo.as_deref().map(|s| format!("skopeo {}", mib(rss(s)))).unwrap_or_default(),
        "",
    );

    println!(
        "binaries: {} ({mb:.1} MB) for amd64, the same XOR 0x5a for arm64; load average before {load_before}, after {}",
        big.display(),
        loadavg()
    );
    t.print();
    let (write, write_unsynced) =
        (median(cold.iter().map(|r| r.write).collect()), median(unsynced.iter().map(|r| r.write).collect()));
    let wall_unsynced = median(unsynced.iter().map(|r| r.wall).collect());
    println!(
        "\ndurability: layout write {write:.3} s with every fsync, {write_unsynced:.3} s without; whole packaging \
         {wall:.3} s vs {wall_unsynced:.3} s: fsync costs {:+.1} %",
        (wall / wall_unsynced - 1.0) * 100.0
    );
    println!(
        "verified reuse: the same image written again into the filled layout (every blob hashed): {:.3} s",
        median(cold.iter().map(|r| r.rewrite).collect())
    );
    Ok(())
}

/// The layer writer alone on the big binary, per compression, on one CPU and on all: the
/// numbers behind the choice of compressor (README "Compression").
fn compressors(big: &Path, w: &Path) -> Result<(), String> {
    println!("| compression | 1 CPU: wall / CPU | all CPUs: wall / CPU | layer bytes | peak RSS |");
    println!("|---|---|---|---|---|");
    for c in ["gzip:1", "gzip:6", "gzip:7", "gzip:9", "gzip:12", "zstd:1", "zstd:3", "zstd:9"] {
        let one: Vec<_> =
            (0..RUNS).map(|_| child::layer(big, &w.join("l.bin"), c, Some("0"))).collect::<Result<_, _>>()?;
        let all: Vec<_> = (0..RUNS).map(|_| child::layer(big, &w.join("l.bin"), c, None)).collect::<Result<_, _>>()?;
        let m = |v: &[child::LayerRun], f: fn(&child::LayerRun) -> f64| median(v.iter().map(f).collect());
        println!(
            "| {c} | {:.2} s / {:.2} s | {:.2} s / {:.2} s | {} | {} |",
            m(&one, |r| r.wall),
            m(&one, |r| r.cpu),
            m(&all, |r| r.wall),
            m(&all, |r| r.cpu),
            one[0].size,
            mib(all.iter().map(|r| r.rss_kb).max().unwrap_or(0))
        );
    }
    println!();
    Ok(())
}

/// The release cargo-oci binary, built now if needed.
fn build_cargo_oci(repo: &Path) -> Result<PathBuf, String> {
    let mut c = Command::new(cargo());
    c.current_dir(repo).args(["build", "--quiet", "--release", "--locked", "--bin", "cargo-oci"]);
    timed(&mut c)?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), PathBuf::from);
    Ok(target.join("release/cargo-oci"))
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Rows of measure, cargo-oci, peer, ratio (cargo-oci / peer: below 1 is faster).
#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn vs(&mut self, measure: &str, ours: f64, peer: &str, theirs: Option<f64>) {
        match theirs {
            Some(p) => self.row(
                measure,
                &format!("{ours:.2} s"),
                &format!("{peer}: {p:.2} s"),
                &format!("**{:.2}**", ours / p),
            ),
            None => self.row(measure, &format!("{ours:.2} s"), &format!("{peer}: not installed"), ""),
        }
    }
    fn row(&mut self, measure: &str, ours: &str, peer: &str, ratio: &str) {
        self.rows.push([measure.into(), ours.into(), peer.into(), ratio.into()]);
    }
    fn print(&self) {
        println!("| measure (median of {RUNS}; no-op builds of 5) | cargo-oci | peer | ratio |");
        println!("|---|---|---|---|");
        for r in &self.rows {
            println!("| {} | {} | {} | {} |", r[0], r[1], r[2], r[3]);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn mib(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

/// Writes `from` XORed byte by byte with 0x5a to `to` (executable): other bytes, same size, same
/// compressibility.
fn xor_copy(from: &Path, to: &Path) -> Result<PathBuf, String> {
    let mut bytes = std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()))?;
    bytes.iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(to, bytes).map_err(|e| format!("{}: {e}", to.display()))?;
    Ok(to.to_path_buf())
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The floor: read each file, hashing the input and gzipping it whole (same library and level as
/// layers, libdeflate, one member) into a hash of the output, on one thread: the arithmetic a layer
/// needs, with no tar, no file writes and no parallel blocks.
fn limit_pass(paths: [&Path; 2]) -> Result<f64, String> {
    let start = Instant::now();
    for path in paths {
        let input = std::fs::read(path).map_err(|e| e.to_string())?;
        let raw = sha2::Sha256::digest(&input);
        let level =
            libdeflater::CompressionLvl::new(cargo_oci::layer::GZIP_LEVEL as i32).map_err(|e| format!("{e:?}"))?;
        let mut gz = libdeflater::Compressor::new(level);
        let mut out = vec![0u8; gz.gzip_compress_bound(input.len())];
        let n = gz.gzip_compress(&input, &mut out).map_err(|e| format!("{e:?}"))?;
        std::hint::black_box((raw, sha2::Sha256::digest(&out[..n])));
    }
    Ok(start.elapsed().as_secs_f64())
}
