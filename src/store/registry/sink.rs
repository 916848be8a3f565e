//! A registry repository as a sink: `push` under every tag, the outcome said on the status line.

use std::sync::Arc;

use super::push::{push, PushReport};
use super::{Reference, RegistryError, Settings};
use crate::oci::Image;
use crate::shell::Shell;
use crate::store::sink::{Delivery, Sink};
use crate::store::StoreError;

pub struct RegistrySink {
    pub repository: Reference,
    pub tags: Vec<String>,
    /// A repository of the same registry whose blobs may be mounted.
    pub mount_from: Option<Reference>,
    pub settings: Arc<Settings>,
}

impl Sink for RegistrySink {
    fn write(&self, image: &Image, what: &str, shell: &mut Shell) -> Result<Delivery, StoreError> {
        let to = &self.repository;
        shell.status("Pushing", format!("{what} to {}:{}", to.name(), self.tags.join(",")));
        let report =
            push(image, to, &self.tags, self.mount_from.as_ref(), &self.settings).map_err(|source| match source {
                // Part of it is published, or nothing was tried: the error says that, not "failed to push".
                e @ (RegistryError::PartlyPushed { .. } | RegistryError::BadProxy { .. }) => StoreError::Registry(e),
                e => StoreError::Push { target: to.name(), source: Box::new(e) },
            })?;
        for note in &report.notes {
            shell.verbose("Upload", note);
        }
        shell.status("Pushed", summary(&report));
        Ok(Delivery::Pushed(self.tags.iter().map(|t| to.with_tag(t).to_string()).collect()))
    }
}

fn summary(r: &PushReport) -> String {
    let mut s = format!(
        "{} blob(s) uploaded ({} bytes), {} mounted, {} already present",
        r.uploaded, r.bytes, r.mounted, r.present
    );
    if r.chunked > 0 {
        s.push_str(&format!(" ({} in chunks)", r.chunked));
    }
    if r.referrers.pushed > 0 {
        s.push_str(&format!("; {} referrer(s)", r.referrers.pushed));
        if !r.referrers.fallback_tags.is_empty() {
            s.push_str(" (no referrers API: listed under sha256-<digest> tags)");
        }
    }
    s
}
