//! Integration tests: the built `cargo-oci` against real cargo, real crates and real OCI tools.

mod base_layout;
mod build;
mod config;
mod errors;
mod init;
mod inspect;
mod merge;
mod plan;
mod progress;
mod support;
mod workspace;
