//! An OCI platform (`os/architecture[/variant]`), and how runtimes match one against another.

use std::fmt;

use serde::Serialize;

/// An OCI platform (`os/architecture[/variant]`), as it appears in an image index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Platform { os: os.into(), architecture: architecture.into(), variant: variant.map(Into::into) }
    }

    /// `linux/arm64/v8`: every field, as the index entry has it (Display drops arm64's `v8`).
    pub fn full(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }

    /// Platform equality as runtimes match it: arm64's `v8` is its default, so `v8` ≡ no variant.
    pub fn matches(&self, other: &Platform) -> bool {
        fn norm(p: &Platform) -> (&str, &str, Option<&str>) {
            let v = p.variant.as_deref().filter(|v| !(p.architecture == "arm64" && *v == "v8"));
            (p.os.as_str(), p.architecture.as_str(), v)
        }
        norm(self) == norm(other)
    }
}

impl fmt::Display for Platform {
    /// `linux/arm/v7`; arm64's default variant `v8` is left out, as Docker prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = self.variant.as_ref().filter(|v| !(self.architecture == "arm64" && *v == "v8")) {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm64_v8_matches_empty_variant() {
        let a = Platform::new("linux", "arm64", Some("v8"));
        let b = Platform::new("linux", "arm64", None);
        assert!(a.matches(&b) && b.matches(&a));
        assert!(!Platform::new("linux", "arm", Some("v7")).matches(&Platform::new("linux", "arm", Some("v6"))));
    }
}
