//! What stripping would save: when a binary carries debug info and no `strip` is set, `build`
//! and `plan` say how many MB `strip = true` would leave out of each image (ripgrep's release
//! profile keeps debug info: 34 MB binaries that strip to about 5).

use std::path::{Path, PathBuf};

use goblin::elf::Elf;

use crate::compile::Artifacts;
use crate::plan::{CompileJob, Plan};
use crate::shell::Shell;

/// Bytes of debug info and symbol tables in the ELF file at `path`, when it has debug info.
pub fn strippable(path: &Path) -> Option<u64> {
    let file = std::fs::File::open(path).ok()?;
    // SAFETY: a binary cargo wrote under our target dir; nothing writes it while we read it.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.ok()?;
    let elf = Elf::parse(&bytes).ok()?;
    let name = |sh: &goblin::elf::SectionHeader| elf.shdr_strtab.get_at(sh.sh_name).unwrap_or("");
    let debug: u64 = elf.section_headers.iter().filter(|s| name(s).starts_with(".debug")).map(|s| s.sh_size).sum();
    let symbols: u64 =
        elf.section_headers.iter().filter(|s| matches!(name(s), ".symtab" | ".strtab")).map(|s| s.sh_size).sum();
    (debug > 0).then_some(debug + symbols)
}

/// Whether the plan sets `strip` (then cargo strips as asked and there is nothing to say).
fn strip_set(plan: &Plan) -> bool {
    plan.cargo.config.iter().any(|c| c.starts_with(&format!("profile.{}.strip=", plan.profile)))
}

/// After `job`'s build: one line per binary that carries debug info.
pub fn say_after_build(plan: &Plan, job: &CompileJob, artifacts: &Artifacts, shell: &mut Shell) {
    let binary =
        |package_id: &str, bin: &str, triple: &str| artifacts.get(package_id, bin, triple).map(Path::to_path_buf);
    say(plan, std::slice::from_ref(job), shell, binary);
}

/// For `plan`: the binaries of an earlier build in the target dir, if there are any.
pub fn say_from_earlier_build(plan: &Plan, shell: &mut Shell) {
    let dir = match plan.profile.as_str() {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    };
    let path = |triple: &str, bin: &str| plan.target_dir.join(triple).join(dir).join(bin);
    say(plan, &plan.jobs, shell, |_, bin, triple| Some(path(triple, bin)).filter(|p| p.is_file()));
}

fn say(plan: &Plan, jobs: &[CompileJob], shell: &mut Shell, binary: impl Fn(&str, &str, &str) -> Option<PathBuf>) {
    if strip_set(plan) {
        return;
    }
    for job in jobs {
        for u in &job.units {
            for bin in &u.bins {
                let Some(bytes) = binary(&u.package_id, bin, &job.target.triple).and_then(|p| strippable(&p)) else {
                    continue;
                };
                shell.status(
                    "Note",
                    format!(
                        "{bin} for {} carries {:.1} MB of debug info and symbols: `strip = true` in \
                         [package.metadata.oci] (or `--strip`) leaves them out of the image",
                        job.target.platform,
                        bytes as f64 / 1e6
                    ),
                );
            }
        }
    }
}
