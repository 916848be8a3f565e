//! Integration tests: the built `cargo-oci` against real cargo, real crates and real OCI tools.

mod build;
mod errors;
mod support;
