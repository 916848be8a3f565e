//! Before anything is pulled or built: every destination can be written (a layout directory is a
//! layout, empty or new, and takes files; an archive's directory exists), and every backend the
//! plan uses has its tools. Planning decides; this looks at the machine.

use std::path::PathBuf;

use crate::compile::{self, CompileError};
use crate::env::Env;
use crate::oci::Destination;
use crate::plan::Plan;
use crate::store::layout::{self, OutputError};
use crate::store::load::{self, LoadError};

/// A destination that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("`--tar {}` is a directory", path.display())]
    TarIsDirectory { path: PathBuf },
    #[error("`--tar {}`: its directory does not exist", path.display())]
    TarNoParent { path: PathBuf },
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl PreflightError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            PreflightError::Output(e) => e.hints(),
            PreflightError::TarIsDirectory { path } => {
                vec![format!("name a file: `--tar {}`", path.join("image.tar").display())]
            }
            PreflightError::TarNoParent { .. } => {
                vec!["create the directory first, or name a file in an existing one".into()]
            }
            PreflightError::Load(e) => e.hints(),
        }
    }
}

/// Checks every destination, creating nothing. Registries are not contacted: a push finds out.
pub fn destinations<'a>(all: impl IntoIterator<Item = &'a Destination>) -> Result<(), PreflightError> {
    for d in all {
        match d {
            Destination::Layout { path, .. } => layout::check_output(path)?,
            Destination::Archive { path, .. } if path.is_dir() => {
                return Err(PreflightError::TarIsDirectory { path: path.clone() })
            }
            Destination::Archive { path, .. } if !path.parent().is_some_and(|p| p.is_dir()) => {
                return Err(PreflightError::TarNoParent { path: path.clone() })
            }
            Destination::Load { engine, docker_socket, .. } => {
                load::pick(*engine, docker_socket)?;
            }
            Destination::Archive { .. } | Destination::Registry { .. } => {}
        }
    }
    Ok(())
}

/// Every destination of every image of the plan.
pub fn plan_destinations(plan: &Plan) -> Result<(), PreflightError> {
    destinations(plan.images.iter().flat_map(|i| &i.destinations))
}

/// The tools of every backend the plan runs, before the first compile.
pub fn tools(plan: &Plan, env: &Env, facts: &crate::facts::Facts) -> Result<(), CompileError> {
    for job in &plan.jobs {
        compile::backend(job.backend.kind).preflight(job, env, facts)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_needs_a_file_name_in_an_existing_directory() {
        let name = crate::oci::LocalName {
            reference: crate::oci::Reference::parse("app:t").unwrap(),
            platform: crate::oci::Platform::new("linux", "amd64", None),
        };
        let tar =
            |p: &str| destinations(&[Destination::Archive { path: p.into(), tag: "t".into(), name: name.clone() }]);
        assert!(tar("/tmp").unwrap_err().to_string().contains("is a directory"));
        assert!(tar("/nonexistent-dir/x.tar").unwrap_err().to_string().contains("its directory does not exist"));
        assert!(tar("/tmp/x.tar").is_ok());
    }
}
