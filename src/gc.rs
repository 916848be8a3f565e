//! `cargo oci gc DIR`, and how every command writes a layout: its lock taken with a status line
//! while another writer holds it, unreachable blobs removed (`gc`, `build --gc`) with a summary.

use std::path::Path;

use crate::cli::GcArgs;
use crate::env::Env;
use crate::shell::Shell;
use crate::store::gc::Collected;
use crate::store::layout::LayoutWriter;
use crate::store::StoreError;

/// Opens `dir` for writing; a second writer waits, and says so after a second.
pub fn open(dir: &Path, shell: &mut Shell) -> Result<LayoutWriter, StoreError> {
    LayoutWriter::open(dir, &mut |d| shell.status("Waiting", format!("for another cargo-oci writing {}", d.display())))
}

/// Removes what nothing in `index.json` reaches, and says how much.
pub fn collect(layout: &LayoutWriter, shell: &mut Shell) -> Result<Collected, StoreError> {
    let c = crate::store::gc::collect(layout)?;
    shell.status(
        "Removed",
        format!(
            "{} unreachable blob(s), {:.1} MB, from {} ({} kept)",
            c.removed,
            c.freed_bytes as f64 / 1e6,
            layout.root().display(),
            c.kept
        ),
    );
    Ok(c)
}

/// `cargo oci gc DIR`: only an existing layout (or what a failed first build left) is touched.
pub fn gc(args: &GcArgs, env: &Env, shell: &mut Shell) -> Result<Collected, StoreError> {
    let dir = env.cwd.join(&args.dir);
    if !dir.join("oci-layout").is_file() {
        return Err(StoreError::NotALayout { path: dir });
    }
    collect(&open(&dir, shell)?, shell)
}
