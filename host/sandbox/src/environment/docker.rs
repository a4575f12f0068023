//! The Docker side of an environment: images built locally through the
//! engine's `/build` (a tar of the context; never a pull, no network
//! during the build): an environment's Dockerfile, once per digest of its
//! context (`paddock-env-build:<digest>`), and the image that bakes the
//! setup results into `/opt/paddock-env` (`paddock-env:<key>`).

use super::{
    BuildDef, ENV_DIR, EnvironmentError, Note, Progress, ResolvedEnvironment, SetupPhase,
    SetupStep, tail,
};
use crate::SandboxConfig;
use crate::SandboxError;
use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Files of a build context at most (a context that is a whole
/// repository is refused rather than sent).
const MAX_CONTEXT_FILES: usize = 20_000;
/// Bytes of a build context at most.
const MAX_CONTEXT_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// The engine, for builds.
pub struct Engine {
    docker: Docker,
    endpoint: String,
}

impl Engine {
    /// Connects to the engine the sandbox uses (with a pool of engines,
    /// the first that answers: the image is built there, and a sandbox
    /// that runs it is placed on an engine that has it).
    pub async fn connect(config: &SandboxConfig) -> Result<Engine, SandboxError> {
        let (docker, endpoint) = crate::engines::first_client(config).await?;
        Ok(Engine { docker, endpoint })
    }

    /// The id of a local image; an error saying how to make it when the
    /// engine does not have it (it is never pulled).
    pub async fn image_id(&self, image: &str) -> Result<String, SandboxError> {
        match self.docker.inspect_image(image).await {
            Ok(i) => Ok(i.id.unwrap_or_else(|| image.to_string())),
            Err(e) => Err(SandboxError::Unavailable(format!(
                "the image `{image}` is not in the Docker engine at {} ({e}); images are never \
                 pulled: build it locally (scripts/sandbox-image.sh makes paddock-sandbox:latest, \
                 a Dockerfile can start FROM it) or give the environment a `build`",
                self.endpoint
            ))),
        }
    }

    /// Removes a local image (what a benchmark made); a missing one is
    /// not an error.
    pub async fn remove_image(&self, image: &str) -> Result<(), SandboxError> {
        match self
            .docker
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("404") => Ok(()),
            Err(e) => Err(SandboxError::Failed(format!(
                "cannot remove the image `{image}`: {e}"
            ))),
        }
    }

    /// Builds the environment's Dockerfile unless an image of the same
    /// context digest exists; returns its tag.
    pub async fn build(
        &self,
        env: &ResolvedEnvironment,
        build: &BuildDef,
        progress: &Progress,
    ) -> Result<String, EnvironmentError> {
        let dockerfile = absolute(&env.base, &build.dockerfile);
        let context = match &build.context {
            Some(c) => absolute(&env.base, c),
            None => dockerfile
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| env.base.clone()),
        };
        let invalid = |why: String| EnvironmentError::Invalid(why);
        if !dockerfile.is_file() {
            return Err(invalid(format!(
                "`build.dockerfile`: {} is not a file",
                dockerfile.display()
            )));
        }
        if !context.is_dir() {
            return Err(invalid(format!(
                "`build.context`: {} is not a directory",
                context.display()
            )));
        }
        if let Some(root) = &env.confine {
            inside(root, &dockerfile, "build.dockerfile")?;
            inside(root, &context, "build.context")?;
        }
        let (tar, digest) = context_tar(&context, &dockerfile)?;
        let tag = format!("paddock-env-build:{digest}");
        if self.docker.inspect_image(&tag).await.is_ok() {
            return Ok(tag);
        }
        let label = format!("build {}", dockerfile.display());
        let _ = progress.send(
            Note {
                phase: Some(SetupPhase::Build),
                command: Some(label.clone()),
                ..Note::new(&env.name, SetupStep::Command)
            }
            .body(),
        );
        let started = Instant::now();
        self.run_build(&env.name, &label, tar, &tag, progress)
            .await?;
        let _ = progress.send(
            Note {
                phase: Some(SetupPhase::Build),
                command: Some(label),
                duration_ms: Some(started.elapsed().as_millis() as u64),
                exit_code: Some(0),
                ..Note::new(&env.name, SetupStep::CommandDone)
            }
            .body(),
        );
        Ok(tag)
    }

    /// Makes `tag`: `base` with the setup results of `dir` at
    /// `/opt/paddock-env`.
    pub async fn bake(
        &self,
        base: &str,
        dir: &Path,
        tag: &str,
        name: &str,
        progress: &Progress,
    ) -> Result<(), EnvironmentError> {
        let dockerfile = format!(
            "FROM {base}\nCOPY env/ {ENV_DIR}/\nCOPY paddock-env.sh /etc/profile.d/zz-paddock-env.sh\n"
        );
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        let io = |e: std::io::Error| {
            EnvironmentError::Sandbox(SandboxError::Failed(format!(
                "cannot pack the environment {}: {e}",
                dir.display()
            )))
        };
        append_bytes(&mut b, "Dockerfile", dockerfile.as_bytes()).map_err(io)?;
        append_bytes(&mut b, "paddock-env.sh", super::PROFILE_LINE.as_bytes()).map_err(io)?;
        b.append_dir_all("env", dir).map_err(io)?;
        let tar = b.into_inner().map_err(io)?;
        self.run_build(name, &format!("bake {tag}"), tar, tag, progress)
            .await
    }

    async fn run_build(
        &self,
        name: &str,
        label: &str,
        tar: Vec<u8>,
        tag: &str,
        progress: &Progress,
    ) -> Result<(), EnvironmentError> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .networkmode("none")
            .build();
        let mut stream = self.docker.build_image(
            options,
            None,
            Some(bollard::body_full(bytes::Bytes::from(tar))),
        );
        let mut output = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                        output.push_str(&detail);
                        return Err(EnvironmentError::Command {
                            phase: "build",
                            command: label.to_string(),
                            exit: None,
                            tail: tail(&output),
                        });
                    }
                    if let Some(text) = info.stream.filter(|s| !s.is_empty()) {
                        output.push_str(&text);
                        let _ = progress.send(
                            Note {
                                phase: Some(SetupPhase::Build),
                                command: Some(label.to_string()),
                                output: Some(text),
                                ..Note::new(name, SetupStep::Output)
                            }
                            .body(),
                        );
                    }
                }
                Err(e) => {
                    output.push_str(&e.to_string());
                    return Err(EnvironmentError::Command {
                        phase: "build",
                        command: label.to_string(),
                        exit: None,
                        tail: tail(&output),
                    });
                }
            }
        }
        // Engines differ in how they report a failed step: the image is
        // the proof.
        if self.docker.inspect_image(tag).await.is_err() {
            return Err(EnvironmentError::Command {
                phase: "build",
                command: label.to_string(),
                exit: None,
                tail: tail(&output),
            });
        }
        Ok(())
    }
}

/// Refuses `path` (resolved, symlinks followed) outside `root`.
fn inside(root: &Path, path: &Path, field: &str) -> Result<(), EnvironmentError> {
    let real = |p: &Path| {
        std::fs::canonicalize(p).map_err(|e| {
            EnvironmentError::Invalid(format!("`{field}`: {} cannot be used: {e}", p.display()))
        })
    };
    if real(path)?.starts_with(real(root)?) {
        Ok(())
    } else {
        Err(EnvironmentError::Invalid(format!(
            "`{field}`: {} is outside the workspace; a workspace's devcontainer.json builds \
             only from the workspace",
            path.display()
        )))
    }
}

fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn append_bytes(
    b: &mut tar::Builder<Vec<u8>>,
    path: &str,
    data: &[u8],
) -> Result<(), std::io::Error> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, path, data)
}

/// The build context as a tar (the Dockerfile as `Dockerfile` at its
/// root) and a digest of its paths, modes and contents.
fn context_tar(context: &Path, dockerfile: &Path) -> Result<(Vec<u8>, String), EnvironmentError> {
    let io = |what: &Path, e: std::io::Error| {
        EnvironmentError::Invalid(format!(
            "`build.context`: cannot read {}: {e}",
            what.display()
        ))
    };
    let mut files = Vec::new();
    collect(context, context, &mut files).map_err(|e| io(context, e))?;
    files.sort();
    if files.len() > MAX_CONTEXT_FILES {
        return Err(EnvironmentError::Invalid(format!(
            "`build.context`: {} holds more than {MAX_CONTEXT_FILES} files; give a smaller context",
            context.display()
        )));
    }
    let mut h = Sha256::new();
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    let text = std::fs::read(dockerfile).map_err(|e| io(dockerfile, e))?;
    h.update(b"Dockerfile\0");
    h.update(&text);
    append_bytes(&mut b, "Dockerfile", &text).map_err(|e| io(dockerfile, e))?;
    let mut total = 0u64;
    for rel in files {
        if rel == Path::new("Dockerfile") {
            continue;
        }
        let path = context.join(&rel);
        let meta = std::fs::symlink_metadata(&path).map_err(|e| io(&path, e))?;
        total += meta.len();
        if total > MAX_CONTEXT_BYTES {
            return Err(EnvironmentError::Invalid(format!(
                "`build.context`: {} is larger than 2 GiB; give a smaller context",
                context.display()
            )));
        }
        h.update(rel.to_string_lossy().as_bytes());
        h.update(b"\0");
        {
            use std::os::unix::fs::PermissionsExt;
            h.update(meta.permissions().mode().to_le_bytes());
        }
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| io(&path, e))?;
            h.update(target.to_string_lossy().as_bytes());
        } else {
            let data = std::fs::read(&path).map_err(|e| io(&path, e))?;
            h.update(&data);
        }
        b.append_path_with_name(&path, &rel)
            .map_err(|e| io(&path, e))?;
    }
    let tar = b.into_inner().map_err(|e| io(context, e))?;
    Ok((tar, hex::encode(h.finalize())[..24].to_string()))
}

/// Every file and symlink under `dir` (relative to `root`), skipping
/// `.git`.
fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if entry.file_name() == ".git" {
            continue;
        }
        if kind.is_dir() {
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_path_buf());
        }
        if out.len() > MAX_CONTEXT_FILES {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_digest_follows_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let df = dir.path().join("Dockerfile");
        std::fs::write(&df, "FROM x\n").unwrap();
        std::fs::write(dir.path().join("a"), "1").unwrap();
        let (tar, one) = context_tar(dir.path(), &df).unwrap();
        assert!(!tar.is_empty());
        assert_eq!(context_tar(dir.path(), &df).unwrap().1, one);
        std::fs::write(dir.path().join("a"), "2").unwrap();
        let two = context_tar(dir.path(), &df).unwrap().1;
        assert_ne!(one, two);
        std::fs::write(&df, "FROM y\n").unwrap();
        assert_ne!(context_tar(dir.path(), &df).unwrap().1, two);
        let mut names = Vec::new();
        let (tar, _) = context_tar(dir.path(), &df).unwrap();
        for e in tar::Archive::new(&tar[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert_eq!(names, ["Dockerfile", "a"]);
    }

    #[test]
    fn a_workspace_builds_only_from_itself() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::create_dir(ws.path().join("d")).unwrap();
        std::os::unix::fs::symlink("/etc", ws.path().join("etc")).unwrap();
        assert!(inside(ws.path(), &ws.path().join("d"), "build.context").is_ok());
        for bad in [
            ws.path().join("etc"),
            ws.path().join("d/../.."),
            PathBuf::from("/etc"),
        ] {
            let e = inside(ws.path(), &bad, "build.context")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("`build.context`") && e.contains("outside the workspace"),
                "{e}"
            );
        }
    }
}
