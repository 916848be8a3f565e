//! The top-level error: one per stage, each with the `hint:` lines that fix it.

use crate::check::CheckError;
use crate::compile::CompileError;
use crate::plan::PlanError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Preflight(#[from] crate::preflight::PreflightError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Attest(#[from] crate::attest::AttestError),
    #[error("`{image}` is not reproducible: a second build in a fresh target dir gave {second}, not {first}\n  first difference: {explanation}")]
    NotReproducible { image: String, first: String, second: String, explanation: String },
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
    #[error(transparent)]
    Name(#[from] crate::oci::BadName),
    #[error(transparent)]
    Init(#[from] crate::init::InitError),
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error("failed to package `{image}` for {platform}")]
    Package {
        image: String,
        platform: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Lines printed as `hint: …` after the error chain: the exact fix where we know it.
    pub fn hints(&self) -> Vec<String> {
        match self {
            Error::Plan(e) => e.hints(),
            Error::Compile(e) => e.hints(),
            Error::Preflight(e) => e.hints(),
            Error::Store(e) => e.hints(),
            // Layers are staged under the target dir: a full disk shows here first.
            Error::Package { source, .. } => crate::store::disk::io_hints(source),
            Error::Attest(_) => Vec::new(),
            Error::NotReproducible { .. } => {
                vec!["look for what the build reads from its environment: build scripts that embed the time, paths or \
                 random data, `env!`/`option_env!` of changing variables; compare the two builds with `cargo oci diff`"
                    .into()]
            }
            Error::Merge(e) => e.hints(),
            Error::Name(e) => e.hints(),
            Error::Init(e) => e.hints(),
            Error::Check(e) => e.hints(),
        }
    }
}
