//! The keepalived process: the pid its pid file names (under `--path.rootfs`), whether procfs
//! shows a live keepalived there, and the user it runs as.

use std::path::Path;

use crate::model::keepalived::KeepalivedProcess;
use crate::source::rootfs::Rootfs;
use crate::source::text_file::{SMALL_FILE_BYTES, read_text};
use crate::source::{Paths, SourceError};

/// Reads the pid file and checks that the pid is a live keepalived.
pub(super) fn check_process(
    paths: &Paths,
    pid_file: &Path,
) -> Result<KeepalivedProcess, SourceError> {
    let rootfs = Rootfs::new(&paths.rootfs);
    let text = rootfs.read_text(pid_file, SMALL_FILE_BYTES)?;
    let pid = text.and_then(|t| t.trim().parse::<u32>().ok());
    let running = match pid {
        Some(pid) => read_text(
            &paths.procfs.join(pid.to_string()).join("comm"),
            SMALL_FILE_BYTES,
        )?
        .is_some_and(|comm| comm.trim() == "keepalived"),
        None => false,
    };
    Ok(KeepalivedProcess { pid, running })
}

/// The user keepalived runs as: the owner of its /proc/PID directory.
pub(super) fn process_uid(procfs: &Path, pid: u32) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(procfs.join(pid.to_string()))
        .ok()
        .map(|m| m.uid())
}
