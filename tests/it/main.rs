//! Integration tests: the built `cargo-oci` against real cargo, real crates and real OCI tools.

mod base_layout;
mod build;
mod cross;
mod errors;
mod support;
