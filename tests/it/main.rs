//! Integration tests: the built `cargo-oci` against real cargo, real crates and real OCI tools.

mod attest;
mod base_layout;
mod build;
mod concurrency;
mod config;
mod cross;
mod diff;
mod errors;
mod init;
mod inspect;
mod integrity;
mod layout_support;
mod merge;
mod pid1;
mod plan;
mod progress;
mod registry;
mod registry_env;
mod registry_field;
mod registry_proxy;
mod registry_publish;
mod registry_support;
mod repro;
mod shape;
mod support;
mod workspace;
