//! The measured processes of the packaging benchmark: packaging alone (no cargo run) in a fresh
//! process, so its peak RSS is its own, and one layer through the layer writer per compression.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use cargo_oci::compile::Artifacts;
use cargo_oci::oci::{ContainerConfig, ImageName as BaseSpec};
use cargo_oci::plan::{ImagePlan, ImageTarget, LayerPlan, PackageInfo, Target, Targets, DEFAULT_BIN_DIR};
use cargo_oci::store::staging::Staging;

/// One packaging child: cold, its layout write alone, the same write again, packaging again with
/// nothing changed, and its peak RSS.
pub struct ChildRun {
    pub wall: f64,
    pub write: f64,
    /// The same write again into the filled layout (reuse, verified by hashing).
    pub rewrite: f64,
    /// The whole packaging again, binaries unchanged, into the same layout.
    pub again: f64,
    pub rss_kb: u64,
}

/// Packages `bins[0]` for amd64 (and `bins[1]` for arm64 if `platforms` is 2) into layout `out` in
/// a fresh process; `sync: false` skips every fsync (to measure what durability costs).
pub fn run(bins: [&Path; 2], platforms: usize, out: &Path, sync: bool) -> Result<ChildRun, String> {
    let text = me(&[
        "bench-child",
        &format!("{},{}", bins[0].display(), bins[1].display()),
        &platforms.to_string(),
        &out.display().to_string(),
        if sync { "sync" } else { "nosync" },
    ])?;
    Ok(ChildRun {
        wall: field(&text, "wall=")?,
        write: field(&text, "write=")?,
        rewrite: field(&text, "rewrite=")?,
        again: field(&text, "again=")?,
        rss_kb: field(&text, "rss_kb=")? as u64,
    })
}

/// Runs this xtask binary with `args`; its stdout.
fn me(args: &[&str]) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let o = Command::new(exe).args(args).output().map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!("bench child {args:?} failed: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn field(text: &str, key: &str) -> Result<f64, String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no `{key}` in bench child output: {text}"))
}

/// `bench-child AMD64_BIN,ARM64_BIN N OUT sync|nosync`: package the binaries of an amd64 (+ arm64
/// if N = 2) image into layout OUT, twice.
pub fn child(args: &[String]) -> Result<(), String> {
    let [bins, n, out, sync] = args else { return Err("bench-child AMD64_BIN,ARM64_BIN N OUT sync|nosync".into()) };
    let bins: Vec<&str> = bins.split(',').collect();
    cargo_oci::store::disk::set_sync(sync == "sync");
    let out = PathBuf::from(out);
    let n: usize = n.parse().map_err(|_| "N must be 1 or 2")?;
    let targets: Vec<Target> = ["x86_64", "aarch64"].iter().take(n).map(|t| Target::parse(t).unwrap()).collect();
    let mut artifacts = Artifacts::default();
    for (t, bin) in targets.iter().zip(bins.iter().cycle()) {
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
        compression: Default::default(),
        auditable: false,
    };
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    // A layer cache of this run's own: the first packaging is cold, the second finds its layers.
    let cache_dir = out.with_extension("layer-cache");
    let _ = std::fs::remove_dir_all(&cache_dir);
    let package_and_write = || -> Result<f64, String> {
        let cache = cargo_oci::store::layer_cache::LayerCache::open(&cache_dir).map_err(|e| e.to_string())?;
        let staging = Staging::new(&out.join("..")).map_err(|e| e.to_string())?.with_cache(cache, vec![out.clone()]);
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
            compression: image.compression,
            stop: &std::sync::atomic::AtomicBool::new(false),
        };
        // As a build does: each platform's layers on a thread of its own.
        let targets = std::thread::scope(|s| {
            let threads: Vec<_> = image
                .targets
                .iter()
                .map(|t| {
                    s.spawn(|| cargo_oci::package::target_layers(&image, &t.target, &inputs).map_err(|e| e.to_string()))
                })
                .collect();
            threads.into_iter().map(|h| h.join().expect("a packaging thread panicked")).collect::<Result<Vec<_>, _>>()
        })?;
        let files = cargo_oci::package::files_layer(&image, &inputs).map_err(|e| e.to_string())?;
        let layers = cargo_oci::package::ImageLayers { files, targets };
        let set = cargo_oci::package::image_of(&image, &bases, &layers, 0).map_err(|e| e.to_string())?;
        let writing = Instant::now();
        cargo_oci::store::layout::write(&out, &set, &image.tags).map_err(|e| e.to_string())?;
        let write = writing.elapsed().as_secs_f64();
        // The same image again: every blob is already there and is hashed before it is reused.
        let rewriting = Instant::now();
        cargo_oci::store::layout::write(&out, &set, &image.tags).map_err(|e| e.to_string())?;
        print!("write={write} rewrite={} ", rewriting.elapsed().as_secs_f64());
        Ok(write)
    };
    let start = Instant::now();
    package_and_write()?;
    let wall = start.elapsed().as_secs_f64();
    // Nothing changed since: what a rebuild with up-to-date binaries costs.
    let again = Instant::now();
    package_and_write()?;
    let again = again.elapsed().as_secs_f64();
    println!("wall={wall} again={again} rss_kb={}", peak_rss_kb());
    Ok(())
}

/// This process's peak resident set (VmHWM), in KiB.
fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One layer of a binary through the layer writer: wall and CPU seconds, size, peak RSS.
pub struct LayerRun {
    pub wall: f64,
    pub cpu: f64,
    pub size: u64,
    pub rss_kb: u64,
}

/// [`layer_child`] in a fresh process, on `cpus` CPUs (`taskset`; the gzip writer sizes its
/// thread pool from the CPUs it may use).
pub fn layer(bin: &Path, out: &Path, compression: &str, cpus: Option<&str>) -> Result<LayerRun, String> {
    let (b, o) = (bin.display().to_string(), out.display().to_string());
    let text = match cpus {
        Some(list) => {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let o = Command::new("taskset")
                .args(["-c", list])
                .arg(exe)
                .args(["bench-layer", &b, &o, compression])
                .output()
                .map_err(|e| format!("taskset: {e}"))?;
            String::from_utf8_lossy(&o.stdout).into_owned()
        }
        None => me(&["bench-layer", &b, &o, compression])?,
    };
    Ok(LayerRun {
        wall: field(&text, "wall=")?,
        cpu: field(&text, "cpu=")?,
        size: field(&text, "size=")? as u64,
        rss_kb: field(&text, "rss_kb=")? as u64,
    })
}

/// `bench-layer BIN OUT COMPRESSION`: one layer holding BIN, written to OUT.
pub fn layer_child(args: &[String]) -> Result<(), String> {
    let [bin, out, compression] = args else { return Err("bench-layer BIN OUT COMPRESSION".into()) };
    let compression: cargo_oci::layer::Compression = compression.parse()?;
    let entries =
        vec![cargo_oci::layer::Entry::file("/usr/local/bin/app", cargo_oci::layer::Source::Path(bin.into()), 0o755)];
    let file = std::fs::File::create(out).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let d = cargo_oci::layer::write_file_as(entries, 0, compression, file, &|_| Ok(())).map_err(|e| e.to_string())?;
    let wall = start.elapsed().as_secs_f64();
    // utime + stime of the whole process (all its threads), in clock ticks of 1/100 s.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    println!("wall={wall:.3} cpu={cpu:.2} size={} rss_kb={} digest={}", d.size, peak_rss_kb(), d.digest);
    Ok(())
}
