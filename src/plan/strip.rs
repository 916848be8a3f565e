//! `strip`: what cargo leaves out of the binaries (`true`, `false`, `"debuginfo"`, `"symbols"`),
//! from `strip` in Cargo.toml's `[….metadata.oci]` or `--strip`. It is passed to cargo as the
//! profile's own setting (`--config profile.<p>.strip=…`), so cargo's build cache knows of it.

use std::fmt;

use serde::{de, Deserialize, Serialize};

/// cargo's `profile.*.strip` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strip {
    /// `false`: keep everything.
    None,
    /// Leave out debug info, keep the symbol table.
    Debuginfo,
    /// `true`: leave out debug info and symbols.
    Symbols,
}

impl Strip {
    /// `true`, `false`, `debuginfo`, `symbols`, `none`, as cargo and our flag take them.
    pub fn parse(s: &str) -> Option<Strip> {
        match s {
            "true" | "symbols" => Some(Strip::Symbols),
            "false" | "none" => Some(Strip::None),
            "debuginfo" => Some(Strip::Debuginfo),
            _ => None,
        }
    }

    /// The `--config` entry that sets it for `profile` (a TOML value: strings are quoted).
    pub fn cargo_config(self, profile: &str) -> String {
        let value = match self {
            Strip::None => "false",
            Strip::Debuginfo => "\"debuginfo\"",
            Strip::Symbols => "true",
        };
        format!("profile.{profile}.strip={value}")
    }
}

impl<'de> Deserialize<'de> for Strip {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Strip, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Strip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, \"debuginfo\" or \"symbols\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Strip, E> {
                Ok(if v { Strip::Symbols } else { Strip::None })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Strip, E> {
                Strip::parse(v).ok_or_else(|| E::custom(format!("`{v}` is not a strip setting")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_and_cargo_config() {
        assert_eq!(Strip::parse("true").unwrap().cargo_config("release"), "profile.release.strip=true");
        assert_eq!(Strip::parse("debuginfo").unwrap().cargo_config("dev"), "profile.dev.strip=\"debuginfo\"");
        assert_eq!(Strip::parse("false"), Some(Strip::None));
        assert_eq!(Strip::parse("yes"), None);
    }
}
