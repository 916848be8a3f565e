//! The `--load[=ENGINE]` sink: the image, as the archive `--tar` writes (OCI layout + docker
//! `manifest.json` + name annotations), loaded into a local engine's image store — Docker
//! through its API (`POST /images/load`, what `docker load` sends), podman with `podman load`,
//! containerd with `ctr images import`. `auto` takes the first that answers, in that order.
//!
//! Docker's classic image store keeps one platform per name and reads only `manifest.json`
//! (docker/buildx#59, bazel-contrib/rules_oci#651): it gets the host platform's image. Its
//! containerd store, podman and ctr read index.json and get every platform.

use std::path::{Path, PathBuf};

use super::sink::{Delivery, Sink};
use super::{archive, docker_api, StoreError};
use crate::oci::{Blob, Image, LoadEngine, LocalName};
use crate::process::{Cmd, ProcessError};
use crate::shell::Shell;

/// `--load`: into `engine`, under `name`.
pub struct LoadSink {
    pub engine: LoadEngine,
    pub name: LocalName,
    /// The Docker Engine's socket (`DOCKER_HOST=unix://…`, else `/var/run/docker.sock`).
    pub docker_socket: PathBuf,
}

/// The image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "`--load` found no container engine: no Docker Engine answers at `{}`, `podman` is not installed, and `ctr version` reaches no containerd",
        socket.display()
    )]
    NoEngine { socket: PathBuf },
    #[error("`--load=docker`: no Docker Engine answers at `{}`", socket.display())]
    DockerDown { socket: PathBuf },
    #[error("the Docker Engine at `{}` refused `{name}`: {message}", socket.display())]
    DockerRefused { socket: PathBuf, name: String, message: String },
    #[error("failed to send `{name}` to the Docker Engine at `{}`", socket.display())]
    DockerIo {
        socket: PathBuf,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to load `{name}` into {engine}")]
    Tool {
        engine: &'static str,
        name: String,
        #[source]
        source: ProcessError,
    },
}

impl LoadError {
    pub fn hints(&self) -> Vec<String> {
        let tar = "or write an archive and load it yourself: `--tar image.tar`, then `docker load -i image.tar`";
        match self {
            LoadError::NoEngine { .. } => vec![format!(
                "start dockerd (or point `DOCKER_HOST=unix:///PATH/docker.sock` at one), install podman, or start containerd; {tar}"
            )],
            LoadError::DockerDown { .. } => vec![format!(
                "start dockerd, or point `DOCKER_HOST=unix:///PATH/docker.sock` at it; `--load=podman` loads into podman; {tar}"
            )],
            LoadError::DockerRefused { .. } | LoadError::DockerIo { .. } => vec![tar.into()],
            LoadError::Tool { engine: "podman", .. } => vec!["check that `podman images` works as this user".into()],
            LoadError::Tool { .. } => {
                vec!["check that `ctr version` reaches containerd (`CONTAINERD_ADDRESS` names its socket)".into()]
            }
        }
    }
}

/// The engine `--load` goes to: `wanted`, or for `auto` the first of docker, podman,
/// containerd that answers. Checked before anything is built (`preflight`) and again on load.
pub fn pick(wanted: LoadEngine, docker_socket: &Path) -> Result<LoadEngine, LoadError> {
    let docker = || docker_api::ping(docker_socket);
    let podman = || Cmd::new("podman").arg("--version").output().is_ok();
    let containerd = || Cmd::new("ctr").arg("version").output().is_ok();
    match wanted {
        LoadEngine::Docker if !docker() => Err(LoadError::DockerDown { socket: docker_socket.into() }),
        LoadEngine::Auto if docker() => Ok(LoadEngine::Docker),
        LoadEngine::Auto if podman() => Ok(LoadEngine::Podman),
        LoadEngine::Auto if containerd() => Ok(LoadEngine::Containerd),
        LoadEngine::Auto => Err(LoadError::NoEngine { socket: docker_socket.into() }),
        engine => Ok(engine),
    }
}

impl Sink for LoadSink {
    fn write(&self, image: &Image, what: &str, shell: &mut Shell) -> Result<Delivery, StoreError> {
        let engine = pick(self.engine, &self.docker_socket)?;
        let reference = &self.name.reference;
        let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
        let dir = tempfile::tempdir().map_err(StoreError::io("create a temp dir in", std::env::temp_dir()))?;
        let tar = dir.path().join("image.tar");
        archive::write(&tar, image, &tag, &self.name)?;
        let name = reference.to_string();
        let tool = |engine: &'static str, cmd: Cmd| {
            cmd.output().map(drop).map_err(|source| LoadError::Tool { engine, name: name.clone(), source })
        };
        let delivered = match engine {
            LoadEngine::Docker | LoadEngine::Auto => {
                shell.status("Loading", format!("{what} into docker as {}", reference.familiar()));
                let socket = self.docker_socket.clone();
                match docker_api::load(&socket, &tar) {
                    Ok(Ok(_)) => format!("docker-daemon:{}", reference.familiar()),
                    Ok(Err(message)) => return Err(LoadError::DockerRefused { socket, name, message }.into()),
                    Err(source) => return Err(LoadError::DockerIo { socket, name, source }.into()),
                }
            }
            LoadEngine::Podman => {
                shell.status("Loading", format!("{what} into podman as {name}"));
                tool("podman", Cmd::new("podman").arg("load").arg("-q").arg("-i").arg(&tar))?;
                format!("containers-storage:{name}")
            }
            LoadEngine::Containerd => {
                shell.status("Loading", format!("{what} into containerd as {name}"));
                let import = Cmd::new("ctr").args(["images", "import", "--all-platforms"]).arg(&tar);
                tool("containerd", import)?;
                format!("containerd:{name}")
            }
        };
        Ok(Delivery::Loaded(delivered))
    }

    fn reads(&self, _blob: &Blob) -> bool {
        true
    }
}
