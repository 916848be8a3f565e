//! Writers of one layout at once, a writer waiting for the lock, builds killed at random points,
//! and `gc`: each ends in a valid layout (every descriptor reachable from index.json exists and
//! hashes to its name) with every tag, no leftovers, and only reachable blobs after `gc`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Instant;

use crate::layout_support::*;
use crate::support::*;

/// A std-only binary with a `files` layer of `size` incompressible bytes (so a build spends
/// its time compressing and writing, where a kill hurts most).
fn project_with_big_file(name: &str, size: usize, seed: u64) -> Project {
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.oci]\nfiles = [{{ src = \"big.bin\", dest = \"/big.bin\" }}]\n\n[workspace]\n"
    );
    let p = Project::empty().file("Cargo.toml", &manifest).file("src/main.rs", "fn main() {}\n");
    write_noise(&p, size, seed);
    p
}

/// Rewrites `big.bin` with xorshift noise from `seed`.
fn write_noise(p: &Project, size: usize, seed: u64) {
    std::fs::write(p.path().join("big.bin"), noise(size, seed)).unwrap();
}

fn spawn(p: &Project, args: &[&str]) -> Child {
    let mut c = p.oci_command(&p.path().join("target"), args);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c.spawn().unwrap()
}

fn finish(child: Child, what: &str) {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{what} failed:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn twenty_tries_of_two_concurrent_builds_keep_both_tags() {
    let p = Project::bin("together", "together");
    // Compiled once: the tries race in packaging and writing, not in cargo.
    p.oci(&["build", "--target", "x86_64", "-o", "warm", "-q"]).success();
    let mut want = Vec::new();
    for i in 0..20 {
        let (a, b) = (format!("a{i:02}"), format!("b{i:02}"));
        let first = spawn(&p, &["build", "--target", "x86_64", "-o", "lay", "-t", &a, "-q"]);
        let second = spawn(&p, &["build", "--target", "x86_64", "-o", "lay", "-t", &b, "-q"]);
        finish(first, &a);
        finish(second, &b);
        want.extend([a, b]);
        want.sort();
        assert_eq!(tags(&p.path().join("lay")), want, "try {i}: a tag was lost");
    }
    validate_all(&p.path().join("lay"));
    if have("skopeo") {
        let lay = p.path().join("lay");
        tool("skopeo", &["inspect", "--raw", &format!("oci:{}:a19", lay.display())]);
        tool("skopeo", &["inspect", "--raw", &format!("oci:{}:b19", lay.display())]);
    }
}

#[test]
fn a_second_writer_waits_and_says_so_while_readers_go_on() {
    let p = Project::bin("waiter", "waiter");
    let lay = p.path().join("lay");
    p.oci(&["build", "--target", "x86_64", "-o", "lay", "-t", "one", "-q"]).success();

    // Hold the layout's lock as another cargo-oci would (flock on the directory).
    let held = std::fs::File::open(&lay).unwrap();
    held.lock().unwrap();
    let mut second = spawn(&p, &["build", "--target", "x86_64", "-o", "lay", "-t", "two"]);
    let mut stderr = BufReader::new(second.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the build ended without waiting:\n{seen}");
        seen.push_str(&line);
        if line.contains(&format!("Waiting for another cargo-oci writing {}", lay.display())) {
            break;
        }
    }
    // Readers need no lock: every write is a rename.
    let inspect = p.oci(&["inspect", &format!("oci:{}:one", lay.display())]).success();
    assert!(inspect.stdout().contains("linux/amd64"), "{}", inspect.stdout());
    assert_eq!(tags(&lay), ["one"], "nothing written while the lock is held");
    held.unlock().unwrap();
    let rest = std::io::read_to_string(stderr).unwrap();
    assert!(second.wait().unwrap().success(), "{seen}{rest}");
    assert_eq!(tags(&lay), ["one", "two"]);
    validate_all(&lay);
}

#[test]
fn builds_killed_at_random_points_leave_nothing_behind_the_next_build_and_gc() {
    const SIZE: usize = 8 << 20;
    let p = project_with_big_file("killed", SIZE, 1);
    let lay = p.path().join("lay");
    let args = ["build", "--target", "x86_64", "-o", "lay", "-q"];
    p.oci(&[&args[..], &["-t", "keep"]].concat()).success();
    // How long a whole build takes here (not asserted: it only spreads the kill points).
    let started = Instant::now();
    p.oci(&[&args[..], &["-t", "k"]].concat()).success();
    let whole = started.elapsed();

    // Kill points spread over the build by a fixed pseudo-random sequence; each try packages
    // different bytes, so every kill leaves different blobs half-written.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..12u64 {
        write_noise(&p, SIZE, i + 2);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = whole.mul_f64((x % 1000) as f64 / 1000.0 * 1.2);
        let mut child = spawn(&p, &[&args[..], &["-t", "k"]].concat());
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().unwrap();
        // Whatever was killed, the layout is valid at every point (`keep` always).
        if lay.join("index.json").exists() {
            validate_all(&lay);
        }
    }
    write_noise(&p, SIZE, 99);
    p.oci(&[&args[..], &["-t", "k"]].concat()).success();
    let live = validate_all(&lay);
    assert_eq!(tags(&lay), ["k", "keep"]);
    let left: Vec<_> = leftovers(&p.path().join("target/oci")).into_iter().chain(leftovers(&lay)).collect();
    assert!(left.is_empty(), "leftovers of killed builds: {left:?}");

    // Superseded blobs (each try's `k`) stay until gc, which keeps exactly what is reachable.
    assert!(blob_names(&lay).len() > live.len(), "superseded blobs are there before gc");
    let gc = p.oci(&["gc", "lay"]).success();
    assert!(gc.stderr().contains("Removed"), "{}", gc.stderr());
    assert_eq!(blob_names(&lay), live, "gc keeps exactly the reachable blobs");
    assert_eq!(validate_all(&lay), live);
    if have("skopeo") {
        let work = tempfile::tempdir().unwrap();
        for tag in tags(&lay) {
            let from = format!("oci:{}:{tag}", lay.display());
            let to = format!("oci:{}:{tag}", work.path().join("copy").display());
            tool("skopeo", &["copy", "-q", "--all", &from, &to]);
        }
    }
}

#[test]
fn build_gc_removes_what_a_rebuild_superseded() {
    let p = project_with_big_file("regc", 1 << 10, 1);
    let lay = p.path().join("lay");
    p.oci(&["build", "--target", "x86_64", "-o", "lay", "-t", "x", "-q"]).success();
    let first = blob_names(&lay);
    write_noise(&p, 1 << 10, 2);
    let run = p.oci(&["build", "--target", "x86_64", "-o", "lay", "-t", "x", "--gc"]).success();
    assert!(run.stderr().contains("Removed"), "{}", run.stderr());
    let live = validate_all(&lay);
    assert_eq!(blob_names(&lay), live);
    assert!(first.difference(&live).count() >= 1, "the old files layer is gone");

    // gc refuses what is not a layout, creating nothing.
    let run = p.oci(&["gc", "nothing-here"]).failure();
    let (err, hints) = run.error_and_hints();
    assert!(err.contains("nothing-here` is not an OCI image layout: it does not exist"), "{err}");
    assert!(!hints.is_empty());
    assert!(!p.path().join("nothing-here").exists());
}
