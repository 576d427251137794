//! Reading keepalived's dump files, JSON and data alike: whether their owner and mode make
//! them believable, and a read that leaves stale files alone and tries again when it races
//! keepalived rewriting the file in place.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::source::text_file::read_text;

/// The largest JSON dump read (keepalived writes a few KiB per instance).
const MAX_DUMP_BYTES: usize = 16 << 20;

/// Whether a dump with this owner and mode may be believed: keepalived writes it as root (or
/// as the user it runs as); a file someone else owns, or anyone may write, could say anything.
fn dump_owner_trusted(uid: u32, mode: u32, keepalived_uid: Option<u32>) -> Result<(), String> {
    if mode & 0o002 != 0 {
        return Err(format!(
            "it is writable by every user (mode {:o})",
            mode & 0o7777
        ));
    }
    if uid != 0 && Some(uid) != keepalived_uid {
        return Err(format!(
            "it is owned by uid {uid}, neither root nor keepalived's user"
        ));
    }
    Ok(())
}

/// Checks the dump's owner and mode ([`dump_owner_trusted`]); a missing dump passes (the
/// read then finds none). Symbolic links are not followed for the check: the link's target
/// must itself be trusted, so the target is checked.
pub(super) fn check_dump_owner(path: &Path, keepalived_uid: Option<u32>) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(meta) => dump_owner_trusted(meta.uid(), meta.mode(), keepalived_uid).map_err(|why| {
            format!(
                "keepalived's JSON dump {} is not used: {why}",
                path.display()
            )
        }),
        Err(_) => Ok(()),
    }
}

/// How often a dump that looks half-written is read again, and how long apart.
const DUMP_ATTEMPTS: usize = 4;
const DUMP_RETRY: Duration = Duration::from_millis(50);

/// A file's size and modification time: a rewrite changes one or the other.
pub(super) fn modified(path: &Path) -> std::io::Result<(u64, SystemTime)> {
    let meta = std::fs::metadata(path)?;
    Ok((meta.len(), meta.modified()?))
}

/// Reads one of keepalived's dumps (`what` names it in logs) and parses it. `Ok(None)`: no
/// file, or one older than `max_age`. keepalived rewrites its dumps in place, so a read that
/// races a rewrite sees the file cut short or changing under it (its size or time moves, or it
/// does not parse): such a read is retried a few times, then given up for this scrape. The
/// value comes with the file's age in seconds.
pub(super) fn read_fresh<T>(
    path: &Path,
    max_age: Duration,
    what: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<(T, f64)>, String> {
    let mut last_problem = String::new();
    for attempt in 0..DUMP_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(DUMP_RETRY);
        }
        let before = match modified(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let age = SystemTime::now()
            .duration_since(before.1)
            .unwrap_or(Duration::ZERO);
        if age > max_age {
            tracing::debug!(path = %path.display(), age = ?age, "keepalived's {what} is stale; not used");
            return Ok(None);
        }
        let text = match read_text(path, MAX_DUMP_BYTES) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        if modified(path).ok() != Some(before) {
            last_problem = format!("{} changed while it was read", path.display());
            continue;
        }
        match parse(&text) {
            Ok(value) => return Ok(Some((value, age.as_secs_f64()))),
            Err(e) => last_problem = format!("{}: {e}", path.display()),
        }
    }
    Err(format!(
        "{last_problem} ({DUMP_ATTEMPTS} reads); not used in this scrape"
    ))
}

/// How long to wait for keepalived to write its dump after the signal.
pub(super) const DUMP_WAIT: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;

    const DUMP: &str = include_str!("../../../tests/fixtures/keepalived-json/master.json");

    fn scratch(name: &str) -> Scratch {
        Scratch::new("keepalived", name, "keepalived.json")
    }

    #[test]
    fn a_json_dump_is_used_only_when_root_or_keepalived_owns_it_and_others_cannot_write_it() {
        assert_eq!(dump_owner_trusted(0, 0o100644, None), Ok(()));
        assert_eq!(dump_owner_trusted(998, 0o100600, Some(998)), Ok(()));
        assert!(dump_owner_trusted(1000, 0o100644, Some(998)).is_err());
        assert!(dump_owner_trusted(1000, 0o100644, None).is_err());
        assert!(dump_owner_trusted(0, 0o100666, None).is_err());
        assert!(dump_owner_trusted(0, 0o100602, Some(0)).is_err());
        // The file-level check, on a file this test writes and then opens to everyone.
        let path = scratch("dump-mode");
        std::fs::write(&*path, DUMP).expect("write the dump");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&*path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        let me = std::fs::metadata(&*path)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .ok();
        let refused = check_dump_owner(&path, me);
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.contains("writable by every user")),
            "{refused:?}"
        );
        std::fs::set_permissions(&*path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert_eq!(check_dump_owner(&path, me), Ok(()));
        assert_eq!(
            check_dump_owner(&path.with_extension("missing"), me),
            Ok(())
        );
    }
}
