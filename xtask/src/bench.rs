//! `cargo xtask bench`: packaging time for two platforms vs. the bare cost of one sha256 + deflate
//! pass over the same bytes (same library, same level), peak RSS for a small and a large binary,
//! and what fsync (durability of the layout write) costs.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cargo_oci::compile::Artifacts;
use cargo_oci::oci::{ContainerConfig, ImageName as BaseSpec};
use cargo_oci::plan::{ImagePlan, ImageTarget, LayerPlan, PackageInfo, Target, Targets, DEFAULT_BIN_DIR};
use cargo_oci::store::staging::Staging;
use sha2::Digest as _;

const RUNS: usize = 3;

pub fn run(args: &[String]) -> Result<(), String> {
    if cfg!(debug_assertions) {
        // Timing a debug build measures the wrong thing: re-run ourselves optimised.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["run", "--quiet", "--release", "--package", "xtask", "--", "bench"])
            .args(args)
            .status()
            .map_err(|e| e.to_string())?;
        return if status.success() { Ok(()) } else { Err(format!("release bench failed ({status})")) };
    }
    let sysroot = String::from_utf8(
        Command::new("rustc").args(["--print", "sysroot"]).output().map_err(|e| e.to_string())?.stdout,
    )
    .map_err(|e| e.to_string())?;
    let big = PathBuf::from(sysroot.trim()).join("bin/cargo");
    let small = PathBuf::from(sysroot.trim()).join("bin/rustc");
    let size = std::fs::metadata(&big).map_err(|e| format!("{}: {e}", big.display()))?.len();
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;

    let limit = median((0..RUNS).map(|_| limit_pass(&big, 2)).collect::<Result<Vec<_>, _>>()?);
    let limit1 = median((0..RUNS).map(|_| limit_pass(&big, 1)).collect::<Result<Vec<_>, _>>()?);
    let mut walls = Vec::new();
    let mut walls1 = Vec::new();
    let (mut writes, mut writes_unsynced, mut walls_unsynced) = (Vec::new(), Vec::new(), Vec::new());
    let mut rewrites = Vec::new();
    let mut rss_big = 0;
    for i in 0..RUNS {
        let run = child_run(&big, 2, &work.path().join(format!("big{i}")), true)?;
        walls.push(run.wall);
        writes.push(run.write);
        rewrites.push(run.rewrite);
        rss_big = rss_big.max(run.rss_kb);
        walls1.push(child_run(&big, 1, &work.path().join(format!("one{i}")), true)?.wall);
        let unsynced = child_run(&big, 2, &work.path().join(format!("nosync{i}")), false)?;
        walls_unsynced.push(unsynced.wall);
        writes_unsynced.push(unsynced.write);
    }
    let rss_small = child_run(&small, 2, &work.path().join("small"), true)?.rss_kb;
    let wall = median(walls);
    let wall1 = median(walls1);
    let (write, write_unsynced, wall_unsynced) = (median(writes), median(writes_unsynced), median(walls_unsynced));
    let rewrite = median(rewrites);

    println!("binary: {} ({:.1} MB), packaged for linux/amd64 + linux/arm64", big.display(), size as f64 / 1e6);
    println!("packaging (layers, configs, manifests, index, layout write): {:.3} s (median of {RUNS})", wall);
    println!("limit: one sha256 + deflate (miniz_oxide, level 6) pass over the same 2 × bytes: {:.3} s", limit);
    println!("ratio: {:.2} (goal ≤ 1.15; platforms are packaged in parallel)", wall / limit);
    println!(
        "one platform alone: {:.3} s vs {:.3} s for one pass: ratio {:.2} (the single-core overhead)",
        wall1,
        limit1,
        wall1 / limit1
    );
    println!(
        "durability: layout write {:.3} s with fsync of blobs, blobs/sha256, index.json and the layout dir, \
         {:.3} s without; whole packaging {:.3} s vs {:.3} s: fsync costs {:+.1} %",
        write,
        write_unsynced,
        wall,
        wall_unsynced,
        (wall / wall_unsynced - 1.0) * 100.0
    );
    println!("verified reuse: writing the same image into the filled layout again (every blob hashed): {rewrite:.3} s");
    println!(
        "peak RSS: {:.1} MB for the {:.1} MB binary, {:.1} MB for a {:.1} MB binary",
        rss_big as f64 / 1024.0,
        size as f64 / 1e6,
        rss_small as f64 / 1024.0,
        std::fs::metadata(&small).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The floor: read the file `copies` times, hashing the input and deflating it into a hasher of
/// the output, single-threaded: exactly the arithmetic a layer needs, with no tar or file writes.
fn limit_pass(path: &Path, copies: usize) -> Result<f64, String> {
    let start = Instant::now();
    for _ in 0..copies {
        let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut raw = sha2::Sha256::new();
        let mut gz = flate2::write::GzEncoder::new(Sha256Sink(sha2::Sha256::new()), flate2::Compression::new(6));
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            raw.update(&buf[..n]);
            gz.write_all(&buf[..n]).map_err(|e| e.to_string())?;
        }
        let out = gz.finish().map_err(|e| e.to_string())?;
        std::hint::black_box((raw.finalize(), out.0.finalize()));
    }
    Ok(start.elapsed().as_secs_f64())
}

struct Sha256Sink(sha2::Sha256);
impl Write for Sha256Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One packaging run: whole, its layout write alone, and its peak RSS.
struct ChildRun {
    wall: f64,
    write: f64,
    /// The same write again into the filled layout (reuse, verified by hashing).
    rewrite: f64,
    rss_kb: u64,
}

/// Packages in a fresh process, so its peak RSS is the packaging's alone; `sync: false` skips
/// every fsync (to measure what durability costs).
fn child_run(bin: &Path, platforms: usize, out: &Path, sync: bool) -> Result<ChildRun, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let o = Command::new(me)
        .arg("bench-child")
        .arg(bin)
        .arg(platforms.to_string())
        .arg(out)
        .arg(if sync { "sync" } else { "nosync" })
        .output()
        .map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!("bench child failed: {}", String::from_utf8_lossy(&o.stderr)));
    }
    let text = String::from_utf8_lossy(&o.stdout);
    let field = |k: &str| text.split_whitespace().find_map(|w| w.strip_prefix(k)).and_then(|v| v.parse::<f64>().ok());
    Ok(ChildRun {
        wall: field("wall=").ok_or("no wall")?,
        write: field("write=").ok_or("no write")?,
        rewrite: field("rewrite=").ok_or("no rewrite")?,
        rss_kb: field("rss_kb=").ok_or("no rss")? as u64,
    })
}

/// `bench-child BIN N OUT sync|nosync`: package BIN as the binary of an amd64 (+ arm64 if N = 2)
/// image into layout OUT.
pub fn child(args: &[String]) -> Result<(), String> {
    let [bin, n, out, sync] = args else { return Err("bench-child BIN N OUT sync|nosync".into()) };
    cargo_oci::store::disk::set_sync(sync == "sync");
    let out = PathBuf::from(out);
    let n: usize = n.parse().map_err(|_| "N must be 1 or 2")?;
    let targets: Vec<Target> = ["x86_64", "aarch64"].iter().take(n).map(|t| Target::parse(t).unwrap()).collect();
    let mut artifacts = Artifacts::default();
    for t in &targets {
        artifacts.insert("bench", "bench", &t.triple, PathBuf::from(bin));
    }
    let image = ImagePlan {
        name: "bench".into(),
        package: PackageInfo {
            name: "bench".into(),
            version: "0.0.0".into(),
            id: "bench".into(),
            manifest_dir: ".".into(),
        },
        bins: vec!["bench".into()],
        // Built elsewhere (the bench packages a given binary): no backend runs.
        targets: Targets(targets.into_iter().map(|target| ImageTarget::prebuilt(target, BaseSpec::Static)).collect()),
        tags: vec!["bench".into()],
        output: out.clone(),
        config: ContainerConfig {
            entrypoint: vec![format!("{DEFAULT_BIN_DIR}/bench")],
            cmd: None,
            env: Vec::new(),
            user: None,
            workdir: None,
            exposed_ports: Vec::new(),
            labels: BTreeMap::new(),
            bin_dir: DEFAULT_BIN_DIR.into(),
            stop_signal: None,
            volumes: Vec::new(),
        },
        annotations: BTreeMap::new(),
        destinations: Vec::new(),
        media_types: None,
        layers: vec![LayerPlan::Binaries { dir: DEFAULT_BIN_DIR.into(), bins: vec!["bench".into()] }],
        auditable: false,
    };
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let staging = Staging::new(&out.join("..")).map_err(|e| e.to_string())?;
    let no_env = cargo_oci::env::Env::from_pairs(".".into(), []);
    let registries = cargo_oci::registries::settings(&Default::default(), &no_env);
    let bases = cargo_oci::package::resolve_bases(&image, &registries).map_err(|e| e.to_string())?;
    let progress = cargo_oci::progress::Progress::hidden();
    let inputs = cargo_oci::package::Inputs {
        artifacts: &artifacts,
        staging: &staging,
        epoch: 0,
        profile: "release",
        progress: &progress,
    };
    let set = cargo_oci::package::package(&image, &bases, &inputs).map_err(|e| e.to_string())?;
    let writing = Instant::now();
    cargo_oci::store::layout::write(&out, &set, &image.tags).map_err(|e| e.to_string())?;
    let write = writing.elapsed().as_secs_f64();
    let wall = start.elapsed().as_secs_f64();
    // The same image again: every blob is already there and is hashed before it is reused.
    let rewriting = Instant::now();
    cargo_oci::store::layout::write(&out, &set, &image.tags).map_err(|e| e.to_string())?;
    let rewrite = rewriting.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches(" kB").trim().to_string());
    println!("wall={wall} write={write} rewrite={rewrite} rss_kb={}", rss.unwrap_or_else(|| "0".into()));
    Ok(())
}
