//! `--verify-reproducible`: build everything again in a fresh target dir and compare digests; on a
//! mismatch, explain the first difference with the `diff` engine.

use crate::facts::Facts;
use crate::oci::BaseImage;
use crate::oci::Image;
use crate::overlap::Stages;
use crate::plan::Plan;
use crate::provenance::BuildFacts;
use crate::shell::Shell;
use crate::store::layout_source::LayoutStore;
use crate::store::staging::Staging;
use crate::store::StoreError;
use crate::{diff, store, Error};

pub fn verify(
    plan: &Plan,
    bases: &[Vec<BaseImage>],
    first: &[Image],
    build: &BuildFacts,
    facts: &Facts,
    shell: &mut Shell,
) -> Result<(), Error> {
    let oci_dir = plan.target_dir.join("oci");
    let dir = store::disk::Scratch::new(&oci_dir, "verify")
        .map_err(StoreError::io("create a verification directory in", &oci_dir))?;
    shell.status("Verifying", format!("reproducibility: building again in {}", dir.path().display()));
    let mut again = plan.clone();
    again.target_dir = dir.path().join("target");
    // No layer cache here: every layer is compressed again, so the compressor is checked too.
    let make_staging = || Ok(Staging::new(&dir.path().join("staging")).map_err(StoreError::io("create", dir.path()))?);
    let stages = Stages { plan: &again, facts, elf_check: None, notes: false, staging: &make_staging };
    let layered = crate::overlap::compile_and_layer(&stages, shell)?;
    let second = crate::package::assemble(&again, bases, layered.layers, build, facts, shell)?;
    for ((image, a), b) in plan.images.iter().zip(first).zip(second.iter().map(|p| &p.image)) {
        if a.root.digest == b.root.digest {
            shell.status("Reproducible", format!("{} {}", image.name, a.root.digest));
            continue;
        }
        // Write both side by side and let `diff` name the first difference.
        let (la, lb) = (dir.path().join("first"), dir.path().join("second"));
        store::layout::write(&la, a, &["x".into()])?;
        store::layout::write(&lb, b, &["x".into()])?;
        let explanation = diff::diff(&LayoutStore::new(&la, Some("x")), &LayoutStore::new(&lb, Some("x")))?
            .unwrap_or_else(|| "the indexes differ, but no content difference was found".into());
        return Err(Error::NotReproducible {
            image: image.name.clone(),
            first: a.root.digest.to_string(),
            second: b.root.digest.to_string(),
            explanation,
        });
    }
    Ok(())
}
