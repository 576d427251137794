//! Paths under `--path.rootfs`, resolved as a process chrooted into it would resolve them:
//! every symbolic link is followed inside the root (an absolute target `/x` means `ROOT/x`),
//! and `..` never climbs above the root. Every file the exporter opens by a host path under
//! the root (keepalived's configuration and includes, its pid file, JSON dump and notify FIFO,
//! `/run/netns` names) goes through [`Rootfs::resolve`].
//!
//! The resolved path holds no symbolic link when it is made; a writer who can replace a
//! directory of the root with a link between the resolution and the open is not defended
//! against here.

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Symbolic links followed in one resolution at most, as the kernel allows (`ELOOP` beyond).
pub const MAX_LINK_HOPS: usize = 40;

/// Why a host path could not be resolved under the root.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "{path}: more than {MAX_LINK_HOPS} symbolic links followed under {root} (a link loop?)"
    )]
    TooManyLinks { path: PathBuf, root: PathBuf },
    #[error("cannot read the symbolic link {link}: {source}")]
    ReadLink {
        link: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<ResolveError> for std::io::Error {
    fn from(err: ResolveError) -> Self {
        std::io::Error::other(err)
    }
}

/// The root the host's files are read under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    root: PathBuf,
}

/// One step of a path still to be walked.
enum Step {
    Name(OsString),
    Up,
}

/// `path`'s steps, last first (a stack to pop).
fn steps_reversed(path: &Path) -> Vec<Step> {
    path.components()
        .rev()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(Step::Name(name.to_os_string())),
            Component::ParentDir => Some(Step::Up),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

impl Rootfs {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Rootfs { root: root.into() }
    }

    /// The host's own root, `/`.
    pub fn host() -> Self {
        Rootfs::new("/")
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path under the root that `host_path` names from inside it (a relative path is
    /// taken from the root). Links are followed, the last component's too, as open(2) does;
    /// a component that does not exist is kept as written (a later `..` takes it off again,
    /// as keepalived's own names are read), and opening the result fails as it would inside
    /// the root.
    pub fn resolve(&self, host_path: &Path) -> Result<PathBuf, ResolveError> {
        let mut pending = steps_reversed(host_path);
        let mut current = self.root.clone();
        // Components pushed onto the root: `..` pops only these.
        let mut depth = 0usize;
        let mut hops = 0usize;
        while let Some(step) = pending.pop() {
            let name = match step {
                Step::Up => {
                    if depth > 0 {
                        current.pop();
                        depth -= 1;
                    }
                    continue;
                }
                Step::Name(name) => name,
            };
            let candidate = current.join(&name);
            let is_link = std::fs::symlink_metadata(&candidate)
                .is_ok_and(|meta| meta.file_type().is_symlink());
            if !is_link {
                current = candidate;
                depth += 1;
                continue;
            }
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err(ResolveError::TooManyLinks {
                    path: host_path.to_path_buf(),
                    root: self.root.clone(),
                });
            }
            let target =
                std::fs::read_link(&candidate).map_err(|source| ResolveError::ReadLink {
                    link: candidate.clone(),
                    source,
                })?;
            if target.is_absolute() {
                current = self.root.clone();
                depth = 0;
            }
            pending.extend(steps_reversed(&target));
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Scratch;
    use std::os::unix::fs::symlink;

    /// A scratch root and, beside it (outside the root), a file holding a marker.
    struct Fixture {
        _scratch: Scratch,
        root: PathBuf,
        outside: PathBuf,
    }

    fn fixture(name: &str) -> Fixture {
        let scratch = Scratch::new("rootfs", name, "root");
        let root = scratch.to_path_buf();
        let parent = root.parent().expect("a scratch file has a directory");
        std::fs::create_dir_all(root.join("etc/keepalived")).expect("make the root");
        let outside = parent.join("outside");
        std::fs::create_dir_all(outside.join("etc/keepalived")).expect("make outside");
        std::fs::write(outside.join("secret"), "OUTSIDE-MARKER\n").expect("write");
        std::fs::write(
            outside.join("etc/keepalived/keepalived.conf"),
            "OUTSIDE-MARKER\n",
        )
        .expect("write");
        std::fs::write(root.join("secret"), "INSIDE-MARKER\n").expect("write");
        std::fs::write(
            root.join("etc/keepalived/keepalived.conf"),
            "INSIDE-MARKER\n",
        )
        .expect("write");
        Fixture {
            _scratch: scratch,
            root,
            outside,
        }
    }

    fn read_under(root: &Path, host_path: &str) -> String {
        let resolved = Rootfs::new(root)
            .resolve(Path::new(host_path))
            .unwrap_or_else(|e| panic!("{host_path}: {e}"));
        assert!(
            resolved.starts_with(root),
            "{host_path} resolved to {} outside {}",
            resolved.display(),
            root.display()
        );
        std::fs::read_to_string(&resolved)
            .unwrap_or_else(|e| panic!("{host_path} -> {}: {e}", resolved.display()))
    }

    #[test]
    fn an_absolute_link_target_is_taken_inside_the_root() {
        let fx = fixture("absolute");
        // Points at the real file outside the root by its full host path.
        symlink(fx.outside.join("secret"), fx.root.join("etc/link")).expect("link");
        // Inside the root that path does not exist: resolution must not reach outside.
        let resolved = Rootfs::new(&fx.root)
            .resolve(Path::new("/etc/link"))
            .expect("resolves");
        assert!(resolved.starts_with(&fx.root), "{}", resolved.display());
        assert!(std::fs::read_to_string(&resolved).is_err());
        // A target that exists inside the root is read there.
        symlink("/secret", fx.root.join("etc/rooted")).expect("link");
        assert_eq!(read_under(&fx.root, "/etc/rooted"), "INSIDE-MARKER\n");
    }

    #[test]
    fn dot_dot_chains_in_link_targets_stop_at_the_root() {
        let fx = fixture("dotdot");
        symlink("../../../../../../../../secret", fx.root.join("etc/up")).expect("link");
        assert_eq!(read_under(&fx.root, "/etc/up"), "INSIDE-MARKER\n");
        // A directory link climbing out, then a path under it.
        symlink("../../outside/etc", fx.root.join("etc/keepalived/conf")).expect("link");
        let resolved = Rootfs::new(&fx.root)
            .resolve(Path::new("/etc/keepalived/conf/keepalived/keepalived.conf"))
            .expect("resolves");
        assert_eq!(
            resolved,
            fx.root.join("outside/etc/keepalived/keepalived.conf")
        );
        // `..` in the asked path itself.
        assert_eq!(
            read_under(&fx.root, "/../../../etc/keepalived/../../secret"),
            "INSIDE-MARKER\n"
        );
    }

    #[test]
    fn a_linked_directory_is_followed_inside_the_root() {
        let fx = fixture("linked-dir");
        std::fs::create_dir_all(fx.root.join("srv/kconf")).expect("mkdir");
        std::fs::write(fx.root.join("srv/kconf/keepalived.conf"), "LINKED\n").expect("write");
        std::fs::remove_dir_all(fx.root.join("etc/keepalived")).expect("rmdir");
        symlink("/srv/kconf", fx.root.join("etc/keepalived")).expect("link");
        assert_eq!(
            read_under(&fx.root, "/etc/keepalived/keepalived.conf"),
            "LINKED\n"
        );
        // `..` after a followed link goes up from where the link led, as the kernel does.
        std::fs::write(fx.root.join("srv/common.conf"), "COMMON\n").expect("write");
        assert_eq!(
            read_under(&fx.root, "/etc/keepalived/../common.conf"),
            "COMMON\n"
        );
    }

    #[test]
    fn link_loops_are_an_error_not_a_hang() {
        let fx = fixture("loop");
        symlink("/etc/b", fx.root.join("etc/a")).expect("link");
        symlink("a", fx.root.join("etc/b")).expect("link");
        symlink("self", fx.root.join("etc/self")).expect("link");
        for path in ["/etc/a", "/etc/self/x"] {
            let err = Rootfs::new(&fx.root)
                .resolve(Path::new(path))
                .expect_err(path);
            assert!(
                matches!(err, ResolveError::TooManyLinks { .. }),
                "{path}: {err}"
            );
            assert!(err.to_string().contains("symbolic links"), "{err}");
        }
        // A chain of exactly MAX_LINK_HOPS links is still followed.
        let mut previous = "/secret".to_string();
        for hop in 0..MAX_LINK_HOPS {
            let name = format!("/etc/hop{hop}");
            symlink(&previous, fx.root.join(name.trim_start_matches('/'))).expect("link");
            previous = name;
        }
        assert_eq!(read_under(&fx.root, &previous), "INSIDE-MARKER\n");
        let one_more = fx.root.join("etc/hop-too-many");
        symlink(&previous, &one_more).expect("link");
        assert!(
            Rootfs::new(&fx.root)
                .resolve(Path::new("/etc/hop-too-many"))
                .is_err()
        );
    }

    #[test]
    fn missing_components_are_kept_as_written() {
        let fx = fixture("missing");
        assert_eq!(
            Rootfs::new(&fx.root)
                .resolve(Path::new("/nope/../etc/x.conf"))
                .expect("resolves"),
            fx.root.join("etc/x.conf")
        );
        assert_eq!(
            Rootfs::host()
                .resolve(Path::new("/"))
                .expect("the root itself"),
            PathBuf::from("/")
        );
    }
}
