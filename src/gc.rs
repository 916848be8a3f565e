//! `cargo oci gc DIR`: removes the blobs of a layout that no tag or referrer reaches, under the
//! layout's lock (the layout sink does the same after a write with `--gc`).

use crate::cli::GcArgs;
use crate::env::Env;
use crate::shell::Shell;
use crate::store::gc::Collected;
use crate::store::layout_sink::{collect, open};
use crate::store::StoreError;

/// `cargo oci gc DIR`: only an existing layout (or what a failed first build left) is touched.
pub fn gc(args: &GcArgs, env: &Env, shell: &mut Shell) -> Result<Collected, StoreError> {
    let dir = env.cwd.join(&args.dir);
    if !dir.join("oci-layout").is_file() {
        return Err(StoreError::NotALayout { path: dir });
    }
    collect(&open(&dir, shell)?, shell)
}
