//! Backups: a workspace's files as a zstd-compressed tar archive with the
//! SHA-256 of the archive, checked again before a restore extracts it.
//! Symlinks are kept as symlinks (never followed) and modes and times are
//! kept, so a restore gives the same bytes back.

use super::WorkspaceError;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

/// What an archive holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Archived {
    /// Bytes of the compressed archive.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Files, directories and links in it.
    pub entries: u64,
    /// What was left out because an archive cannot hold it (FIFOs,
    /// sockets, devices), as paths inside the workspace.
    pub skipped: Vec<String>,
}

/// A writer that hashes what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Archives `dir` into `dest` (written beside it and renamed into place, so
/// a crash leaves no half archive under the final name), leaving out the
/// top-level names in `skip`.
pub fn create(dir: &Path, dest: &Path, skip: &[&str]) -> Result<Archived, WorkspaceError> {
    let fail = |e: std::io::Error| WorkspaceError::io("cannot write the backup", e);
    let part = dest.with_extension("part");
    let file = std::fs::File::create(&part).map_err(fail)?;
    let result = (|| {
        let hashing = Hashing {
            inner: std::io::BufWriter::new(file),
            hash: Sha256::new(),
            bytes: 0,
        };
        let encoder = zstd::Encoder::new(hashing, 3).map_err(fail)?;
        let mut tar = tar::Builder::new(encoder);
        tar.follow_symlinks(false);
        tar.mode(tar::HeaderMode::Complete);
        let mut entries = 0;
        let mut skipped = Vec::new();
        let mut stack = vec![std::path::PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(dir.join(&rel))
                .map_err(fail)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?
                .into_iter()
                .map(|e| e.file_name())
                .collect();
            names.sort();
            for name in names {
                if rel.as_os_str().is_empty() && skip.iter().any(|s| name == *s) {
                    continue;
                }
                let rel_path = rel.join(&name);
                let full = dir.join(&rel_path);
                let meta = full.symlink_metadata().map_err(fail)?;
                let kind = meta.file_type();
                if meta.is_dir() {
                    tar.append_dir(&rel_path, &full).map_err(fail)?;
                    stack.push(rel_path);
                } else if kind.is_file() || kind.is_symlink() {
                    tar.append_path_with_name(&full, &rel_path).map_err(fail)?;
                } else {
                    // A FIFO, socket or device: its "content" is a live
                    // channel or hardware, not data to keep.
                    skipped.push(rel_path.to_string_lossy().into_owned());
                    continue;
                }
                entries += 1;
            }
        }
        let encoder = tar.into_inner().map_err(fail)?;
        let mut hashing = encoder.finish().map_err(fail)?;
        hashing.flush().map_err(fail)?;
        hashing
            .inner
            .into_inner()
            .map_err(|e| fail(e.into_error()))?
            .sync_all()
            .map_err(fail)?;
        Ok(Archived {
            bytes: hashing.bytes,
            sha256: hex::encode(hashing.hash.finalize()),
            entries,
            skipped,
        })
    })();
    match result {
        Ok(a) => {
            std::fs::rename(&part, dest).map_err(fail)?;
            Ok(a)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(e)
        }
    }
}

/// The SHA-256 of a file, hex.
pub fn sha256_of(file: &Path) -> Result<String, WorkspaceError> {
    let mut f =
        std::fs::File::open(file).map_err(|e| WorkspaceError::io("cannot read the backup", e))?;
    let mut hash = Sha256::new();
    std::io::copy(&mut f, &mut hash)
        .map_err(|e| WorkspaceError::io("cannot read the backup", e))?;
    Ok(hex::encode(hash.finalize()))
}

/// Checks `archive` against `sha256`, then extracts it into `dest` (which
/// must be empty). Entries that would land outside `dest` (absolute paths,
/// `..`, through symlinks) are refused by the extractor.
pub fn restore(archive: &Path, sha256: &str, dest: &Path) -> Result<(), WorkspaceError> {
    let actual = sha256_of(archive)?;
    if actual != sha256 {
        return Err(WorkspaceError::Corrupt(format!(
            "the backup's SHA-256 is {actual}, not the {sha256} recorded when it was made"
        )));
    }
    let file = std::fs::File::open(archive)
        .map_err(|e| WorkspaceError::io("cannot read the backup", e))?;
    let decoder =
        zstd::Decoder::new(file).map_err(|e| WorkspaceError::io("cannot read the backup", e))?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(true);
    tar.set_preserve_mtime(true);
    tar.set_unpack_xattrs(false);
    tar.set_overwrite(false);
    tar.unpack(dest)
        .map_err(|e| WorkspaceError::Corrupt(format!("the backup cannot be extracted: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn round_trip_keeps_bytes_modes_and_links() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        std::fs::create_dir_all(s.join("a/b")).unwrap();
        std::fs::create_dir_all(s.join("empty")).unwrap();
        let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(s.join("a/b/blob.bin"), &blob).unwrap();
        std::fs::write(s.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(s.join("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("a/b/blob.bin", s.join("link")).unwrap();
        std::fs::write(s.join(".git"), "gitdir: /elsewhere\n").unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("b.tar.zst");
        let info = create(s, &archive, &[".git"]).unwrap();
        assert_eq!(info.entries, 6);
        assert_eq!(info.bytes, std::fs::metadata(&archive).unwrap().len());
        assert_eq!(info.sha256, sha256_of(&archive).unwrap());
        let dest = out.path().join("restored");
        std::fs::create_dir(&dest).unwrap();
        restore(&archive, &info.sha256, &dest).unwrap();
        assert_eq!(std::fs::read(dest.join("a/b/blob.bin")).unwrap(), blob);
        assert!(dest.join("empty").is_dir());
        assert!(!dest.join(".git").exists());
        assert_eq!(
            std::fs::read_link(dest.join("link")).unwrap(),
            Path::new("a/b/blob.bin")
        );
        let mode = std::fs::metadata(dest.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn fifos_and_sockets_are_left_out_and_named() {
        let src = tempfile::tempdir().unwrap();
        let s = src.path();
        std::fs::create_dir(s.join("d")).unwrap();
        std::fs::write(s.join("d/f"), "data").unwrap();
        let fifo = std::ffi::CString::new(s.join("d/pipe").to_str().unwrap()).unwrap();
        // SAFETY: a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(s.join("sock")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("b.tar.zst");
        let info = create(s, &archive, &[]).unwrap();
        let mut skipped = info.skipped.clone();
        skipped.sort();
        assert_eq!(skipped, ["d/pipe", "sock"]);
        assert_eq!(info.entries, 2, "d and d/f");
        let dest = out.path().join("restored");
        std::fs::create_dir(&dest).unwrap();
        restore(&archive, &info.sha256, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("d/f")).unwrap(), "data");
        assert!(!dest.join("d/pipe").exists());
    }

    #[test]
    fn a_changed_archive_is_refused_before_extraction() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f"), "data").unwrap();
        let out = tempfile::tempdir().unwrap();
        let archive = out.path().join("b.tar.zst");
        let info = create(src.path(), &archive, &[]).unwrap();
        let mut bytes = std::fs::read(&archive).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&archive, bytes).unwrap();
        let dest = out.path().join("r");
        std::fs::create_dir(&dest).unwrap();
        assert!(matches!(
            restore(&archive, &info.sha256, &dest),
            Err(WorkspaceError::Corrupt(_))
        ));
        assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    }

    #[test]
    fn a_valid_archive_swapped_in_is_refused_by_its_checksum() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(one.path().join("f"), "mine").unwrap();
        std::fs::write(two.path().join("evil"), "not mine").unwrap();
        let out = tempfile::tempdir().unwrap();
        let (a, b) = (out.path().join("a.tar.zst"), out.path().join("b.tar.zst"));
        let info = create(one.path(), &a, &[]).unwrap();
        create(two.path(), &b, &[]).unwrap();
        // A well-formed archive of other files under the recorded name.
        std::fs::rename(&b, &a).unwrap();
        let dest = out.path().join("r");
        std::fs::create_dir(&dest).unwrap();
        assert!(matches!(
            restore(&a, &info.sha256, &dest),
            Err(WorkspaceError::Corrupt(_))
        ));
        assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0);
    }
}
