//! Where images go: the [`Sink`] trait, and [`open`], the one list that decides how each
//! destination is written (ko's `makePublisher` / `MultiPublisher` are the model). `build`,
//! `merge` and `push` all write through it, so an image's referrers go wherever it goes.
//!
//! Adding a sink (as `load.rs` did for `--load`): one file with a `Sink`, one
//! `oci::Destination` variant, one arm in [`open`].

use std::path::PathBuf;
use std::sync::Arc;

use super::{archive, fetch, layout_sink, load, registry, StoreError};
use crate::oci::{Blob, Destination, Image};
use crate::shell::Shell;

/// A destination, opened.
pub trait Sink {
    /// Writes `image` (blobs before the documents that name them, its referrers with it) and
    /// says where it now is. `what` names the image in status lines.
    fn write(&self, image: &Image, what: &str, shell: &mut Shell) -> Result<Delivery, StoreError>;

    /// Whether writing reads this blob's bytes on this machine: a lazy one (a registry base's
    /// layer) is then fetched before anything is written, with the others, all at once. A
    /// registry sink mounts or streams blobs itself, `-j` at a time.
    fn reads(&self, _blob: &Blob) -> bool {
        false
    }
}

/// Where an image was written, as the report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The layout directory.
    Layout(PathBuf),
    /// `oci-archive:FILE:TAG`.
    Archive(String),
    /// `REGISTRY/REPO:TAG` for each tag pushed.
    Pushed(Vec<String>),
    /// `docker-daemon:NAME`, `containers-storage:NAME` (skopeo's names), `containerd:NAME`.
    Loaded(String),
}

/// The sink for each destination, in order.
pub fn open(destinations: &[Destination], registries: &Arc<registry::Settings>) -> Vec<Box<dyn Sink>> {
    destinations
        .iter()
        .map(|d| -> Box<dyn Sink> {
            match d {
                Destination::Layout { path, tags, gc } => {
                    Box::new(layout_sink::LayoutSink { dir: path.clone(), tags: tags.clone(), gc: *gc })
                }
                Destination::Archive { path, tag, name } => {
                    Box::new(archive::ArchiveSink { path: path.clone(), tag: tag.clone(), name: name.clone() })
                }
                Destination::Load { engine, name, docker_socket } => Box::new(load::LoadSink {
                    engine: *engine,
                    name: name.clone(),
                    docker_socket: docker_socket.clone(),
                }),
                Destination::Registry { repository, tags, mount_from } => Box::new(registry::sink::RegistrySink {
                    repository: repository.clone(),
                    tags: tags.clone(),
                    mount_from: mount_from.clone(),
                    settings: registries.clone(),
                }),
            }
        })
        .collect()
}

/// Writes `image` to every destination, in order (the first failure stops the rest), after
/// fetching the lazy blobs they read (see [`Sink::reads`]).
pub fn write(
    destinations: &[Destination],
    registries: &Arc<registry::Settings>,
    image: &Image,
    what: &str,
    shell: &mut Shell,
) -> Result<Vec<Delivery>, StoreError> {
    let sinks = open(destinations, registries);
    let read = image.blobs_children_first().into_iter().filter(|b| sinks.iter().any(|s| s.reads(b)));
    fetch::fetch(read, registries.jobs, shell)?;
    sinks.iter().map(|sink| sink.write(image, what, shell)).collect()
}
