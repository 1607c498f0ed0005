//! A new object's bytes before they have a name. Where the file system allows it, an anonymous
//! `O_TMPFILE` inode that `linkat` names once it is complete (as OSTree does): creating it takes no
//! directory lock and naming it locks only the destination directory, so parallel writers spread over
//! the 256 object directories instead of queueing on `tmp/`. Elsewhere, a named temp file in `tmp/`
//! that is renamed into place. Everything after creation goes through the file descriptor.

use super::store::io_err;
use super::RepoError;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

enum Name {
    /// No directory entry yet: named by `linkat(/proc/self/fd/N)`.
    Anonymous,
    /// A temp file in `tmp/`, removed if dropped before `persist`.
    Temp(tempfile::TempPath),
}

/// A file being written that becomes an object by [`TmpObject::persist`].
pub struct TmpObject {
    file: File,
    name: Name,
    /// What error messages name: the temp directory (and the temp file if it has a name).
    shown: PathBuf,
}

impl TmpObject {
    /// Creates an empty temp object in `dir` (which must be on the repository's file system).
    pub fn create(dir: &Path) -> Result<TmpObject, RepoError> {
        // linkat needs /proc/self/fd to name the inode (checked once per process).
        static PROC_FD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *PROC_FD.get_or_init(|| Path::new("/proc/self/fd").is_dir()) {
            use rustix::fs::{Mode, OFlags, CWD};
            match rustix::fs::openat(
                CWD,
                dir,
                OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            ) {
                Ok(fd) => {
                    return Ok(TmpObject {
                        file: File::from(fd),
                        name: Name::Anonymous,
                        shown: dir.join("(new object)"),
                    })
                }
                // Not supported by this file system or kernel: a named temp file instead.
                Err(
                    rustix::io::Errno::OPNOTSUPP
                    | rustix::io::Errno::ISDIR
                    | rustix::io::Errno::INVAL
                    | rustix::io::Errno::NOENT,
                ) => {}
                Err(e) => return Err(io_err(dir, "create temp object", e.into())),
            }
        }
        Self::create_named(dir)
    }

    /// A named temp file in `dir` (where `O_TMPFILE` is not available).
    fn create_named(dir: &Path) -> Result<TmpObject, RepoError> {
        let named = tempfile::Builder::new()
            .prefix("tmpobject-")
            .tempfile_in(dir)
            .map_err(|e| io_err(dir, "create temp object", e))?;
        let (file, path) = named.into_parts();
        Ok(TmpObject {
            file,
            shown: path.to_path_buf(),
            name: Name::Temp(path),
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// The path error messages name.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    pub fn set_mode(&self, mode: u32) -> Result<(), RepoError> {
        self.file
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| io_err(&self.shown, "chmod", e))
    }

    pub fn chown(&self, uid: u32, gid: u32) -> Result<(), RepoError> {
        std::os::unix::fs::fchown(&self.file, Some(uid), Some(gid))
            .map_err(|e| io_err(&self.shown, "chown", e))
    }

    pub fn set_xattr(&self, name: &[u8], value: &[u8]) -> Result<(), RepoError> {
        use std::os::unix::ffi::OsStrExt;
        use xattr::FileExt;
        self.file
            .set_xattr(std::ffi::OsStr::from_bytes(name), value)
            .map_err(|e| {
                io_err(
                    &self.shown,
                    &format!("set xattr {}", String::from_utf8_lossy(name)),
                    e,
                )
            })
    }

    /// Gives the object its name `dest`. An object already there (written meanwhile by another
    /// writer: same name, same bytes) is left as it is.
    pub fn persist(self, dest: &Path) -> io::Result<()> {
        match self.name {
            Name::Anonymous => {
                let fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
                match rustix::fs::linkat(
                    rustix::fs::CWD,
                    fd.as_str(),
                    rustix::fs::CWD,
                    dest,
                    rustix::fs::AtFlags::SYMLINK_FOLLOW,
                ) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Name::Temp(path) => path.persist(dest).map_err(|e| e.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    /// Both kinds: written, chmod'ed, named; a second object with the same name leaves the first; a
    /// dropped one leaves nothing behind.
    fn exercise(make: fn(&Path) -> Result<TmpObject, RepoError>, anonymous: bool) {
        let t = tempfile::tempdir().unwrap();
        let tmp = t.path().join("tmp");
        fs::create_dir(&tmp).unwrap();
        let dest = t.path().join("object");

        let mut a = make(&tmp).unwrap();
        assert_eq!(matches!(a.name, Name::Anonymous), anonymous);
        a.file_mut().write_all(b"first").unwrap();
        a.set_mode(0o644).unwrap();
        a.persist(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"first");
        assert_eq!(fs::metadata(&dest).unwrap().mode() & 0o7777, 0o644);

        let mut b = make(&tmp).unwrap();
        b.file_mut().write_all(b"first").unwrap();
        b.persist(&dest).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"first");

        let mut c = make(&tmp).unwrap();
        c.file_mut().write_all(b"abandoned").unwrap();
        drop(c);
        assert_eq!(
            fs::read_dir(&tmp).unwrap().count(),
            0,
            "nothing left in tmp/"
        );
    }

    #[test]
    fn anonymous_objects() {
        exercise(TmpObject::create, true);
    }

    #[test]
    fn named_objects_where_there_is_no_o_tmpfile() {
        exercise(TmpObject::create_named, false);
    }
}
