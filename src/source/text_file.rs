//! The one way the sources read a file: [`read_text`], the whole file as UTF-8 text up to a
//! bound the caller chooses for what it reads, and the bounds shared by several callers. A
//! missing file is `None`; a longer one is an error that names the path and the bound.

use std::path::{Path, PathBuf};

/// Files of one value or a few lines: a sysctl, a sysfs attribute (the kernel gives at most a
/// page), a pid file, `/proc/PID/comm`, `/proc/net/ip_vs_stats`. None comes near a MiB.
pub const SMALL_FILE_BYTES: usize = 1 << 20;

/// Files of one line per possible CPU (`/proc/net/softnet_stat`,
/// `/proc/net/stat/nf_conntrack`): under 200 bytes a line, so 8,192 CPUs (the most an x86
/// kernel is built for) take under 2 MiB.
pub const PER_CPU_FILE_BYTES: usize = 16 << 20;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: longer than {max_bytes} bytes, the most read from it")]
    TooLong { path: PathBuf, max_bytes: usize },
}

impl ReadError {
    /// What went wrong, without the path: for messages that name the file already.
    pub fn reason(&self) -> String {
        match self {
            ReadError::Io { source, .. } => source.to_string(),
            ReadError::TooLong { max_bytes, .. } => format!("longer than {max_bytes} bytes"),
        }
    }
}

impl From<ReadError> for std::io::Error {
    fn from(err: ReadError) -> std::io::Error {
        match err {
            ReadError::Io { source, .. } => source,
            ReadError::TooLong { .. } => std::io::Error::other(err.reason()),
        }
    }
}

/// Reads a whole file as text, at most `max_bytes` of it; `Ok(None)` when it does not exist.
///
/// Only a regular file is read: a FIFO or a device would block or never end, and it is opened
/// without blocking (opening a FIFO for reading waits for a writer). A link in the last
/// component is refused, not followed: kernel files are never links there, and paths under
/// `--path.rootfs` come resolved, links and all, so a link that appears since is not taken.
///
/// Kernel files are read with large `read` calls. A seq_file (most of /proc) hands out at
/// most a page of whole records per call and, between calls, finds its place again by
/// counting records from the start. On the lab's kernel (6.1), /proc/net/ip_vs counts the
/// services of every network namespace when it walks on but only its own when it finds its
/// place again, so each extra call can skip services while other namespaces hold IPVS
/// services (seen in the lab: a firewall-mark service missing from a read that began with a
/// 32-byte probe, as `std::fs::read_to_string` does). Large reads make the first call take
/// everything that fits in a page, and the fewest calls after that.
pub(crate) fn read_text(path: &Path, max_bytes: usize) -> Result<Option<String>, ReadError> {
    use nix::libc;
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |source: std::io::Error| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    match opened {
        Ok(file) => read_opened(file, path, max_bytes).map(Some),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(failed(source)),
    }
}

/// Reads a file already opened (without blocking) as [`read_text`] does; `path` names it in
/// errors.
pub(crate) fn read_opened(
    mut file: std::fs::File,
    path: &Path,
    max_bytes: usize,
) -> Result<String, ReadError> {
    use std::io::Read;
    const CHUNK: usize = 64 * 1024;
    let failed = |source: std::io::Error| ReadError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !file.metadata().map_err(failed)?.is_file() {
        return Err(failed(std::io::Error::other("not a regular file")));
    }
    // One byte past the bound tells a file of exactly `max_bytes` from a longer one.
    let most = max_bytes.saturating_add(1);
    // One buffer for the reads, zeroed once: files are read by the hundred (keepalived's
    // includes), and most are far shorter than a read.
    let mut chunk = vec![0u8; CHUNK.min(most)];
    let mut bytes: Vec<u8> = Vec::new();
    while bytes.len() < most {
        let want = chunk.len().min(most - bytes.len());
        let read = loop {
            match file.read(chunk.get_mut(..want).unwrap_or_default()) {
                Ok(n) => break n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => return Err(failed(source)),
            }
        };
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(chunk.get(..read).unwrap_or_default());
    }
    if bytes.len() > max_bytes {
        return Err(ReadError::TooLong {
            path: path.to_path_buf(),
            max_bytes,
        });
    }
    String::from_utf8(bytes).map_err(|err| {
        failed(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            err.utf8_error(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

    #[test]
    fn a_file_is_read_up_to_its_bound_and_no_further() {
        let path = Scratch::new("text-file", "bound", "table");
        // Longer than one read, to cross the chunks.
        let text = "0123456789abcdef\n".repeat(10_000);
        std::fs::write(&*path, &text).expect("write");
        let exact = read_text(&path, text.len()).expect("read");
        assert_eq!(exact.as_deref(), Some(text.as_str()));
        let err = read_text(&path, text.len() - 1).expect_err("one byte too long");
        let message = err.to_string();
        assert!(
            message.contains(&path.display().to_string())
                && message.contains(&(text.len() - 1).to_string()),
            "{message}"
        );
        assert!(matches!(err, ReadError::TooLong { .. }));
    }

    #[test]
    fn a_missing_file_is_none_and_a_fifo_or_a_link_is_refused() {
        let missing = Scratch::new("text-file", "kinds", "none");
        assert!(matches!(read_text(&missing, 10), Ok(None)));
        let dir = missing.parent().expect("its directory");
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let err = read_text(&fifo, 10).expect_err("a FIFO");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let target = dir.join("target");
        std::fs::write(&target, "1\n").expect("write");
        let link = dir.join("link");
        std::os::unix::fs::symlink(&target, &link).expect("link");
        assert!(read_text(&link, 10).is_err());
        assert_eq!(
            read_text(&target, 10).expect("read").as_deref(),
            Some("1\n")
        );
    }

    #[test]
    fn text_that_is_not_utf8_is_an_error() {
        let path = Scratch::new("text-file", "utf8", "bytes");
        std::fs::write(&*path, [0xff, 0xfe]).expect("write");
        assert!(read_text(&path, 10).is_err());
    }
}
