//! The top-level error: one per stage; and the `hint:` lines, collected along the error chain
//! from every error type that knows a fix ([`hints`]).

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
    #[error(transparent)]
    Auditable(#[from] crate::auditable::AuditableError),
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
    /// Boxed: it carries the check's finding, and errors travel far.
    #[error(transparent)]
    Rebase(Box<crate::rebase::RebaseError>),
    #[error("failed to package `{image}` for {platform}")]
    Package {
        image: String,
        platform: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::rebase::RebaseError> for Error {
    fn from(e: crate::rebase::RebaseError) -> Error {
        Error::Rebase(Box::new(e))
    }
}

impl Error {
    /// Every `hint:` line for this error and its causes (see [`hints`]).
    pub fn hints(&self) -> Vec<String> {
        hints(self)
    }

    /// The fixes this error itself knows (a transparent variant is its inner error).
    fn own_hints(&self) -> Vec<String> {
        match self {
            Error::Plan(e) => e.hints(),
            Error::Compile(e) => e.hints(),
            Error::Preflight(e) => e.hints(),
            Error::Store(e) => e.hints(),
            Error::NotReproducible { .. } => {
                vec!["look for what the build reads from its environment: build scripts that embed the time, paths or \
                 random data, `env!`/`option_env!` of changing variables; compare the two builds with `cargo oci diff`"
                    .into()]
            }
            Error::Merge(e) => e.hints(),
            Error::Name(e) => e.hints(),
            Error::Init(e) => e.hints(),
            Error::Check(e) => e.hints(),
            Error::Auditable(e) => e.hints(),
            Error::Lock(e) => e.hints(),
            Error::Rebase(e) => e.hints(),
            Error::Attest(_) | Error::Package { .. } => Vec::new(),
        }
    }

    /// Whether this error's hints stand for its cause's too.
    fn covers_cause(&self) -> bool {
        match self {
            Error::Store(e) => e.covers_cause(),
            Error::Merge(e) => e.covers_cause(),
            Error::Rebase(e) => e.covers_cause(),
            _ => false,
        }
    }
}

/// The `hint:` lines of `err` and every cause along its `source()` chain, outermost first, each
/// once (uv's `collect_hint`): a cause wrapped in another error keeps its hint, and no error
/// forwards its cause's by hand. An error whose hints stand for its cause's ends the walk.
pub fn hints(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let (lines, covers_cause) = hints_of(e);
        for line in lines {
            if !out.contains(&line) {
                out.push(line);
            }
        }
        if covers_cause {
            break;
        }
        next = e.source();
    }
    out
}

/// The one list of error types that know a fix: each error of a chain is checked against it.
/// (A transparent variant shows its inner error, so its type's `hints` include the inner's.)
fn hints_of(e: &(dyn std::error::Error + 'static)) -> (Vec<String>, bool) {
    use crate::store::registry::RegistryError;
    if let Some(e) = find::<Error>(e) {
        return (e.own_hints(), e.covers_cause());
    }
    if let Some(e) = find::<StoreError>(e) {
        return (e.hints(), e.covers_cause());
    }
    if let Some(e) = find::<RegistryError>(e) {
        return (e.hints(), e.covers_cause());
    }
    if let Some(e) = find::<crate::merge::MergeError>(e) {
        return (e.hints(), e.covers_cause());
    }
    let lines = if let Some(e) = find::<PlanError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::plan::ConfigError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::facts::FactsError>(e) {
        e.hints()
    } else if let Some(e) = find::<CompileError>(e) {
        e.hints()
    } else if let Some(e) = find::<CheckError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::preflight::PreflightError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::store::layout::OutputError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::plan::outputs::OutputsError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::init::InitError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::oci::ReferenceError>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::oci::BadName>(e) {
        e.hints()
    } else if let Some(e) = find::<crate::oci::NotDockerCompatible>(e) {
        e.hints()
    } else if let Some(e) = find::<std::io::Error>(e) {
        // Layers are staged under the target dir: a full disk shows here first.
        crate::store::disk::io_hints(e)
    } else {
        Vec::new()
    };
    (lines, false)
}

/// `e` as a `T`, also where it is boxed (a boxed `#[source]` is a `Box<T>` in the chain).
fn find<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    e.downcast_ref::<T>().or_else(|| e.downcast_ref::<Box<T>>().map(|b| &**b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_cause_keeps_its_hint() {
        let full = std::io::Error::from_raw_os_error(28);
        let e = Error::Package { image: "app".into(), platform: "linux/amd64".into(), source: full };
        assert_eq!(e.hints(), ["free some disk space and run again"]);
        let metadata = crate::facts::FactsError::Metadata {
            manifest: "/x/Cargo.toml".into(),
            source: cargo_metadata::Error::CargoMetadata { stderr: "no".into() },
        };
        let attest = crate::attest::AttestError::Metadata {
            image: "app".into(),
            triple: "x86_64-unknown-linux-musl".into(),
            source: Box::new(metadata),
        };
        assert!(Error::from(attest).hints()[0].contains("cargo metadata"), "the SBOM stage's cause keeps its hint");
    }
}
