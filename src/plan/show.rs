//! `cargo oci plan`: the plan for people (the JSON form is the plan serialized as it is).

use std::fmt::Write;
use std::path::Path;

use super::{FileCopy, ImagePlan, LayerPlan, Plan};
use crate::oci::Destination;

/// The plan as aligned text: compile jobs, then each image with everything it will be made of.
pub fn human(plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "workspace {} (profile {}, SOURCE_DATE_EPOCH={})",
        plan.workspace_root.display(),
        plan.profile,
        plan.epoch
    );
    let _ = writeln!(o, "\ncompile: one cargo run for the targets that share a backend, packages and rustflags");
    for job in &plan.jobs {
        let kind = serde_json::to_value(job.backend.kind).ok().and_then(|v| v.as_str().map(String::from));
        let _ = writeln!(
            o,
            "  {} ({}) with {}: {}",
            job.target.triple,
            job.target.platform,
            kind.unwrap_or_default(),
            job.backend.reason
        );
        for u in &job.units {
            let _ = writeln!(o, "    {}: {}", u.package, u.bins.join(", "));
        }
        for lib in &job.system_libs {
            let _ = writeln!(o, "    needs the target's own library, which no cross C compiler brings: {lib}");
        }
    }
    for image in &plan.images {
        image_text(&mut o, image, &plan.workspace_root);
    }
    o
}

fn image_text(o: &mut String, image: &ImagePlan, workspace_root: &Path) {
    let _ = writeln!(o, "\nimage {} (package {} {})", image.name, image.package.name, image.package.version);
    let mut row = |k: &str, v: String| {
        if !v.is_empty() {
            let _ = writeln!(o, "  {k:<12}{v}");
        }
    };
    row("tags", image.tags.join(", "));
    for d in &image.destinations {
        let (k, v) = destination_text(d);
        row(k, v);
    }
    let platforms: Vec<String> =
        image.targets.iter().map(|t| format!("{} on {}{}", t.target.platform, t.base, lock_state(t))).collect();
    row("platforms", platforms.join(", "));
    for l in &image.layers {
        match l {
            LayerPlan::Files { files } => {
                for f in files {
                    row("files", file_text(f, &image.package.manifest_dir, workspace_root));
                }
            }
            LayerPlan::Binaries { dir, bins } => row("binaries", format!("{} in {dir}", bins.join(", "))),
            LayerPlan::Init { path } => row("init", format!("{path} (PID 1: forwards signals, reaps zombies)")),
        }
    }
    row("auditable", if image.auditable { "dependency list in each binary (.dep-v0)" } else { "off" }.into());
    let c = &image.config;
    row("entrypoint", quoted(&c.entrypoint));
    row("cmd", c.cmd.as_deref().map(quoted).unwrap_or_default());
    row("env", c.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    row("user", c.user.clone().unwrap_or_default());
    row("workdir", c.workdir.clone().unwrap_or_default());
    row("ports", c.exposed_ports.join(", "));
    row("stop signal", c.stop_signal.clone().unwrap_or_default());
    row("volumes", c.volumes.join(", "));
    row("labels", c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "));
    for (k, v) in &image.annotations {
        row("annotation", format!("{k}={v}"));
    }
}

/// Whether a registry or layout base is pinned by `oci.lock` or follows its tag.
fn lock_state(t: &super::ImageTarget) -> &'static str {
    use crate::oci::ImageName;
    match &t.base {
        _ if t.locked => " (locked by oci.lock)",
        ImageName::Registry { reference } if reference.digest.is_none() => " (tag, resolved when built)",
        ImageName::Layout { digest: None, .. } => " (tag, resolved when built)",
        _ => "",
    }
}

/// One output of an image: the layout, each pushed reference, the archive, the engine.
fn destination_text(d: &Destination) -> (&'static str, String) {
    match d {
        Destination::Layout { path, tags, gc } => {
            let refs: Vec<String> = tags.iter().map(|t| format!("oci:{}:{t}", path.display())).collect();
            ("layout", format!("{}{}", refs.join(", "), if *gc { " (then gc)" } else { "" }))
        }
        Destination::Archive { path, name, .. } => (
            "archive",
            format!("{} named {} (docker's classic store gets {})", path.display(), name.reference, name.platform),
        ),
        Destination::Load { engine, name, .. } => {
            let engine = serde_json::to_value(engine).ok().and_then(|v| v.as_str().map(String::from));
            ("load", format!("into {} as {}", engine.unwrap_or_default(), name.reference))
        }
        Destination::Registry { repository, tags, .. } => {
            ("push", tags.iter().map(|t| repository.with_tag(t).to_string()).collect::<Vec<_>>().join(", "))
        }
    }
}

/// `src → dest (mode, uid:gid)`, `src` relative to the package (or the workspace, for files the
/// workspace lists).
fn file_text(f: &FileCopy, package_dir: &Path, workspace_root: &Path) -> String {
    let src = f.src.strip_prefix(package_dir).or_else(|_| f.src.strip_prefix(workspace_root)).unwrap_or(&f.src);
    let mode = f.mode.map(|m| format!("{:04o}", m.0)).unwrap_or_else(|| "mode of source".into());
    let slash = if f.directory { "/" } else { "" };
    format!("{}{slash} → {}{slash} ({mode}, {}:{})", src.display(), f.dest, f.uid, f.gid)
}

fn quoted(args: &[String]) -> String {
    serde_json::to_string(args).unwrap_or_default()
}
