//! Files written whole and never through a link: every file kaohe writes (a report, an
//! evidence file given back, a key pair, a stored evidence blob) goes through [`NewFile`].
//!
//! The bytes go to a temporary file beside the target, `<FILE>.tmp`, created exclusively
//! (`O_CREAT|O_EXCL`, [`std::fs::OpenOptions::create_new`]): the call fails on any entry
//! already there, a symbolic link too (dangling or not), so kaohe never opens, truncates or
//! writes a file it did not create. The file is then synced, put in place by a rename (or,
//! for a file that must be new, a hard link that fails on any existing entry), and the
//! directory is synced. A rename replaces a link at the target itself and never writes
//! through it. On any failure the temporary file is removed, and only if it is still the
//! file this process created (same device and inode).
//!
//! The temporary name is fixed, not unique, so that a leftover of an interrupted run is seen
//! rather than piling up: [`Leftover::Refuse`] names it and asks the user to remove it (a
//! file beside an `--out` path may be anyone's); [`Leftover::Remove`] unlinks it first (for a
//! store's own directory, written only under the store's lock; unlinking a link removes the
//! link, never its target). Two runs writing the same target at once: the second is refused.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// What to do when the temporary name is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// Refuse, naming it: the user removes it.
    Refuse,
    /// Unlink it first (a directory only kaohe writes, under its lock).
    Remove,
}

/// How the finished file is put at its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Replace a regular file there (a rename). A symbolic link or anything else at the
    /// target is refused up front; one that appears while kaohe writes is replaced by the
    /// rename, never written through.
    Replace,
    /// Only where nothing exists: any entry at the target, a link too, is refused.
    New,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{} is a symbolic link; kaohe never writes through a link: remove it and try again", .0.display())]
    TempIsLink(PathBuf),
    #[error("{} already exists (left by an interrupted run, or another run is writing it); kaohe does not write over it: remove it and try again", .0.display())]
    TempExists(PathBuf),
    #[error("{} is a symbolic link; kaohe neither writes through a link nor replaces one: give the file's own path", .0.display())]
    TargetIsLink(PathBuf),
    #[error("{} exists and is not a regular file", .0.display())]
    TargetNotAFile(PathBuf),
    #[error("{} already exists; kaohe does not overwrite it: choose another path", .0.display())]
    TargetExists(PathBuf),
    #[error("{} was replaced by something else while kaohe wrote it; nothing was put in place", .0.display())]
    TempReplaced(PathBuf),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_path_buf();
    move |source| FileError::Io {
        action,
        path,
        source,
    }
}

/// The temporary name of `target`: `<target>.tmp`.
pub fn temp_path(target: &Path) -> PathBuf {
    let mut tmp = target.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// The device and inode of what is at `path` now (a link's own, never its target's).
fn identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// Refuses a target that `place` may not be put at (checked up front; see [`Place`]).
fn check_target(target: &Path, place: Place) -> Result<(), FileError> {
    let Ok(m) = std::fs::symlink_metadata(target) else {
        return Ok(());
    };
    Err(match place {
        Place::New => FileError::TargetExists(target.to_path_buf()),
        Place::Replace if m.file_type().is_symlink() => {
            FileError::TargetIsLink(target.to_path_buf())
        }
        Place::Replace if !m.is_file() => FileError::TargetNotAFile(target.to_path_buf()),
        Place::Replace => return Ok(()),
    })
}

/// A file being written at `<target>.tmp`: write to it ([`Write`]), then [`NewFile::finish`]
/// puts it in place. Dropped unfinished, it removes its temporary file if that is still its
/// own (it holds the file open, so the inode it compares cannot be reused meanwhile).
#[derive(Debug)]
pub struct NewFile {
    target: PathBuf,
    tmp: PathBuf,
    place: Place,
    file: File,
    id: (u64, u64),
    finished: bool,
}

/// A file [`NewFile::finish`] put in place, held open (so that its inode cannot be reused by
/// another file while it is compared).
#[derive(Debug)]
pub struct Placed {
    path: PathBuf,
    id: (u64, u64),
    _file: File,
}

impl Placed {
    /// Removes the placed file again, if the entry at its path is still that file (a caller
    /// undoing half of a pair).
    pub fn remove(self) {
        if identity(&self.path) == Some(self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl NewFile {
    /// Checks `target` for `place` and creates `<target>.tmp` exclusively with `mode`
    /// (before the umask); `leftover` says what an entry already at that name meets.
    pub fn create(
        target: &Path,
        mode: u32,
        leftover: Leftover,
        place: Place,
    ) -> Result<NewFile, FileError> {
        check_target(target, place)?;
        let tmp = temp_path(target);
        if leftover == Leftover::Remove {
            match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("remove the leftover", &tmp)(e))
                }
                _ => {}
            }
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists
                    if std::fs::symlink_metadata(&tmp)
                        .is_ok_and(|m| m.file_type().is_symlink()) =>
                {
                    FileError::TempIsLink(tmp.clone())
                }
                std::io::ErrorKind::AlreadyExists => FileError::TempExists(tmp.clone()),
                _ => io("create", &tmp)(e),
            })?;
        let m = file.metadata().map_err(io("read the metadata of", &tmp))?;
        Ok(NewFile {
            target: target.to_path_buf(),
            id: (m.dev(), m.ino()),
            tmp,
            place,
            file,
            finished: false,
        })
    }

    /// The temporary file's path (for messages).
    pub fn temp(&self) -> &Path {
        &self.tmp
    }

    /// Syncs the file, puts it at its target as its [`Place`] says, and syncs the directory.
    pub fn finish(mut self) -> Result<Placed, FileError> {
        self.file.sync_all().map_err(io("sync", &self.tmp))?;
        let file = self.file.try_clone().map_err(io("keep open", &self.tmp))?;
        if identity(&self.tmp) != Some(self.id) {
            return Err(FileError::TempReplaced(self.tmp.clone()));
        }
        match self.place {
            Place::Replace => {
                std::fs::rename(&self.tmp, &self.target).map_err(io("rename", &self.tmp))?
            }
            Place::New => self.link_new()?,
        }
        self.finished = true;
        let dir = match self.target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync the directory", dir))?;
        Ok(Placed {
            path: self.target.clone(),
            id: self.id,
            _file: file,
        })
    }

    /// Puts the file at a target that must not exist: a hard link fails on any entry there
    /// (a link too) with nothing replaced; then the temporary name is removed. On a file
    /// system without hard links, the target is checked and the file renamed.
    fn link_new(&self) -> Result<(), FileError> {
        match std::fs::hard_link(&self.tmp, &self.target) {
            Ok(()) => {
                // The file is in place; a leftover second name would only be refused later.
                let _ = std::fs::remove_file(&self.tmp);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(FileError::TargetExists(self.target.clone()))
            }
            Err(_) if std::fs::symlink_metadata(&self.target).is_ok() => {
                Err(FileError::TargetExists(self.target.clone()))
            }
            Err(_) => std::fs::rename(&self.tmp, &self.target).map_err(io("rename", &self.tmp)),
        }
    }
}

impl Write for NewFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file.write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.finished && identity(&self.tmp) == Some(self.id) {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes `bytes` to a new file at `target` (see [`NewFile`]).
pub fn write_whole(
    target: &Path,
    bytes: &[u8],
    mode: u32,
    leftover: Leftover,
    place: Place,
) -> Result<Placed, FileError> {
    let mut f = NewFile::create(target, mode, leftover, place)?;
    f.write_all(bytes).map_err(io("write", &f.tmp))?;
    f.finish()
}
