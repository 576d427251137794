//! Paths under `--path.rootfs`, resolved as a process chrooted into it would resolve them:
//! every symbolic link is followed inside the root (an absolute target `/x` means `ROOT/x`),
//! and `..` never climbs above the root. Every file the exporter opens by a host path under
//! the root (keepalived's configuration and includes, its pid file, JSON dump and notify FIFO,
//! `/run/netns` names) goes through this module.
//!
//! Files that are read ([`Rootfs::open`], [`Rootfs::read_text`]) are opened by the kernel
//! with `openat2(2)` and `RESOLVE_IN_ROOT` relative to a descriptor of the root, so no link
//! swapped in during the lookup leads out of it. Where the kernel lacks `openat2` (before
//! Linux 5.6, `ENOSYS`) or a seccomp filter refuses it (`EPERM`), the same resolution is
//! walked here instead ([`Rootfs::open_walked`]), and the final open refuses a link in the
//! last component. [`Rootfs::resolve`] gives a path for the callers that only stat or signal;
//! that path holds no symbolic link when it is made, and a writer who can replace a directory
//! of the root with a link before it is used is not defended against there.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

use crate::source::text_file::{ReadError, read_opened};

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
    /// Only when opening: a component before the last is missing or not a directory, as
    /// the kernel finds it (`..` does not undo it).
    #[error("{component}: {source}")]
    Lookup {
        component: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ResolveError {
    /// The error the kernel's own resolution gives for the same case.
    fn into_os_error(self) -> std::io::Error {
        match self {
            ResolveError::TooManyLinks { .. } => {
                std::io::Error::from_raw_os_error(nix::libc::ELOOP)
            }
            ResolveError::ReadLink { source, .. } | ResolveError::Lookup { source, .. } => source,
        }
    }
}

/// Set once `openat2` is found missing from the kernel (`ENOSYS`): it will not appear later.
static KERNEL_LACKS_OPENAT2: AtomicBool = AtomicBool::new(false);

/// How many times an `openat2` lookup that raced a rename (`EAGAIN`) is tried again before the
/// walk here is used.
const OPENAT2_RETRIES: usize = 3;

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
        self.walk(host_path, Lookups::KeepMissing)
    }

    /// The walk behind [`Rootfs::resolve`]; with [`Lookups::AsTheKernel`], a component before
    /// the last that is missing or not a directory is an error, as it is to open(2).
    fn walk(&self, host_path: &Path, lookups: Lookups) -> Result<PathBuf, ResolveError> {
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
                if lookups == Lookups::AsTheKernel && !pending.is_empty() {
                    check_directory(&candidate)?;
                }
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

    /// Where `host_path` sits under the root, as written: the name errors give.
    pub fn display_path(&self, host_path: &Path) -> PathBuf {
        self.root
            .join(host_path.strip_prefix("/").unwrap_or(host_path))
    }

    /// Opens `host_path` under the root with `flags` (`O_CLOEXEC` is added): by the kernel
    /// where it can ([`Rootfs::open_in_kernel`]), else by the walk here
    /// ([`Rootfs::open_walked`]). Either way a missing file is `NotFound` and a link loop
    /// `ELOOP`.
    pub fn open(&self, host_path: &Path, flags: OFlag) -> std::io::Result<File> {
        if !KERNEL_LACKS_OPENAT2.load(Ordering::Relaxed) {
            let mut tries = 0;
            loop {
                match self.open_in_kernel(host_path, flags) {
                    Err(err) if err.raw_os_error() == Some(nix::libc::ENOSYS) => {
                        KERNEL_LACKS_OPENAT2.store(true, Ordering::Relaxed);
                        tracing::debug!(
                            "openat2 is missing from this kernel: paths under the root are resolved by walking them"
                        );
                        break;
                    }
                    // Refused by a seccomp filter: the walk opens with openat(2) instead.
                    Err(err) if err.raw_os_error() == Some(nix::libc::EPERM) => break,
                    Err(err)
                        if err.raw_os_error() == Some(nix::libc::EAGAIN)
                            && tries < OPENAT2_RETRIES =>
                    {
                        tries += 1;
                    }
                    Err(err) if err.raw_os_error() == Some(nix::libc::EAGAIN) => break,
                    opened => return opened,
                }
            }
        }
        self.open_walked(host_path, flags)
    }

    /// Opens `host_path` with `openat2(2)` and `RESOLVE_IN_ROOT`, relative to a descriptor of
    /// the root: the kernel keeps `..` and absolute links inside it. Errors are the kernel's,
    /// `ENOSYS` included where it lacks the call.
    pub fn open_in_kernel(&self, host_path: &Path, flags: OFlag) -> std::io::Result<File> {
        let root = nix::fcntl::open(
            &self.root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT);
        let relative = host_path.strip_prefix("/").unwrap_or(host_path);
        // An empty path names the root itself, as `/` does from inside it.
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        let opened = nix::fcntl::openat2(&root, relative, how)
            .map_err(|errno: Errno| std::io::Error::from_raw_os_error(errno as i32))?;
        Ok(File::from(opened))
    }

    /// Opens `host_path` by resolving it here, as [`Rootfs::resolve`] does but failing where
    /// the kernel would (a missing or non-directory component before the last), then opening
    /// the result without following a link in its last component. For kernels without
    /// `openat2`; results are the kernel's on the same tree.
    pub fn open_walked(&self, host_path: &Path, flags: OFlag) -> std::io::Result<File> {
        let path = self
            .walk(host_path, Lookups::AsTheKernel)
            .map_err(ResolveError::into_os_error)?;
        let opened = nix::fcntl::open(
            &path,
            flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|errno: Errno| std::io::Error::from_raw_os_error(errno as i32))?;
        Ok(File::from(opened))
    }

    /// Reads `host_path` under the root as text, at most `max_bytes` of it, through a
    /// descriptor [`Rootfs::open`] gave; `Ok(None)` when it does not exist. Only a regular
    /// file is read, opened without blocking.
    pub fn read_text(
        &self,
        host_path: &Path,
        max_bytes: usize,
    ) -> Result<Option<String>, ReadError> {
        let path = self.display_path(host_path);
        match self.open(host_path, OFlag::O_RDONLY | OFlag::O_NONBLOCK) {
            Ok(file) => read_opened(file, &path, max_bytes).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ReadError::Io { path, source }),
        }
    }
}

/// How the walk treats a component before the last that is missing or not a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookups {
    /// Kept as written, for [`Rootfs::resolve`].
    KeepMissing,
    /// An error, as open(2) makes it.
    AsTheKernel,
}

/// `ENOENT` or `ENOTDIR` unless `path` (not a link) is a directory.
fn check_directory(path: &Path) -> Result<(), ResolveError> {
    let failed = |source: std::io::Error| ResolveError::Lookup {
        component: path.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(failed)?;
    if meta.is_dir() {
        Ok(())
    } else {
        Err(failed(std::io::Error::from_raw_os_error(
            nix::libc::ENOTDIR,
        )))
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

    /// What opening `host_path` and reading it gave: its text, or the OS error number.
    fn outcome(opened: std::io::Result<File>) -> Result<String, i32> {
        use std::io::Read;
        let mut file = opened.map_err(|e| e.raw_os_error().unwrap_or(-1))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| e.raw_os_error().unwrap_or(-1))?;
        Ok(text)
    }

    /// Opens `host_path` by the kernel and by the walk; both must give `expected`.
    fn check_both(root: &Path, host_path: &str, expected: Result<&str, i32>) {
        let rootfs = Rootfs::new(root);
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK;
        let kernel = outcome(rootfs.open_in_kernel(Path::new(host_path), flags));
        let walked = outcome(rootfs.open_walked(Path::new(host_path), flags));
        let expected = expected.map(str::to_string);
        assert_eq!(kernel, expected, "{host_path} opened by openat2");
        assert_eq!(walked, expected, "{host_path} opened by the walk");
        assert_eq!(outcome(rootfs.open(Path::new(host_path), flags)), expected);
    }

    const INSIDE: Result<&str, i32> = Ok("INSIDE-MARKER\n");
    const ENOENT: Result<&str, i32> = Err(nix::libc::ENOENT);
    const ENOTDIR: Result<&str, i32> = Err(nix::libc::ENOTDIR);
    const ELOOP: Result<&str, i32> = Err(nix::libc::ELOOP);

    #[test]
    fn openat2_is_there_to_be_tested() {
        // Linux 5.6 and later: without it the kernel half of the tests below checks nothing.
        let fx = fixture("openat2");
        let opened = Rootfs::new(&fx.root).open_in_kernel(Path::new("/secret"), OFlag::O_RDONLY);
        assert!(opened.is_ok(), "openat2: {opened:?}");
    }

    #[test]
    fn kernel_and_walk_keep_absolute_links_inside_the_root() {
        let fx = fixture("open-absolute");
        // The outside file by its full host path: that path does not exist inside the root.
        symlink(fx.outside.join("secret"), fx.root.join("etc/link")).expect("link");
        check_both(&fx.root, "/etc/link", ENOENT);
        symlink("/secret", fx.root.join("etc/rooted")).expect("link");
        check_both(&fx.root, "/etc/rooted", INSIDE);
        check_both(&fx.root, "etc/rooted", INSIDE);
        // A linked directory with an absolute target, then `..` from where it led.
        std::fs::create_dir_all(fx.root.join("srv/kconf")).expect("mkdir");
        std::fs::write(fx.root.join("srv/common.conf"), "COMMON\n").expect("write");
        symlink("/srv/kconf", fx.root.join("etc/kconf")).expect("link");
        check_both(&fx.root, "/etc/kconf/../common.conf", Ok("COMMON\n"));
    }

    #[test]
    fn kernel_and_walk_stop_dot_dot_at_the_root() {
        let fx = fixture("open-dotdot");
        symlink("../../../../../../../../secret", fx.root.join("etc/up")).expect("link");
        check_both(&fx.root, "/etc/up", INSIDE);
        check_both(&fx.root, "/../../../etc/keepalived/../../secret", INSIDE);
        check_both(&fx.root, "../../secret", INSIDE);
        // Climbing to the real directory beside the root, where `outside/secret` exists: it
        // is looked for at ROOT/outside/secret instead, which does not.
        symlink("../../outside/secret", fx.root.join("etc/escape")).expect("link");
        check_both(&fx.root, "/etc/escape", ENOENT);
        symlink("../../outside/etc", fx.root.join("etc/keepalived/conf")).expect("link");
        check_both(
            &fx.root,
            "/etc/keepalived/conf/keepalived/keepalived.conf",
            ENOENT,
        );
    }

    #[test]
    fn kernel_and_walk_call_link_loops_eloop() {
        let fx = fixture("open-loop");
        symlink("/etc/b", fx.root.join("etc/a")).expect("link");
        symlink("a", fx.root.join("etc/b")).expect("link");
        symlink("self", fx.root.join("etc/self")).expect("link");
        check_both(&fx.root, "/etc/a", ELOOP);
        check_both(&fx.root, "/etc/self/x", ELOOP);
        // MAX_LINK_HOPS links in a chain are followed; one more is a loop.
        let mut previous = "/secret".to_string();
        for hop in 0..MAX_LINK_HOPS {
            let name = format!("/etc/hop{hop}");
            symlink(&previous, fx.root.join(name.trim_start_matches('/'))).expect("link");
            previous = name;
        }
        check_both(&fx.root, &previous, INSIDE);
        symlink(&previous, fx.root.join("etc/hop-too-many")).expect("link");
        check_both(&fx.root, "/etc/hop-too-many", ELOOP);
    }

    #[test]
    fn kernel_and_walk_agree_on_missing_files() {
        let fx = fixture("open-missing");
        check_both(&fx.root, "/etc/missing.conf", ENOENT);
        symlink("/etc/missing.conf", fx.root.join("etc/dangling")).expect("link");
        check_both(&fx.root, "/etc/dangling", ENOENT);
        // A missing directory is not undone by the `..` after it, as open(2) looks it up.
        check_both(&fx.root, "/nope/../secret", ENOENT);
        // Nor is a file taken for a directory.
        check_both(&fx.root, "/secret/x", ENOTDIR);
        check_both(&fx.root, "/secret/../secret", ENOTDIR);
        // What resolve() keeps for the stat callers is unchanged.
        assert_eq!(
            Rootfs::new(&fx.root)
                .resolve(Path::new("/nope/../secret"))
                .expect("resolves"),
            fx.root.join("secret")
        );
        // read_text: a missing file is None, a loop an error that says so.
        let rootfs = Rootfs::new(&fx.root);
        assert_eq!(
            rootfs
                .read_text(Path::new("/etc/dangling"), 100)
                .expect("read"),
            None
        );
        assert_eq!(
            rootfs
                .read_text(Path::new("/secret"), 100)
                .expect("read")
                .as_deref(),
            Some("INSIDE-MARKER\n")
        );
        symlink("loop", fx.root.join("etc/loop")).expect("link");
        let err = rootfs
            .read_text(Path::new("/etc/loop"), 100)
            .expect_err("a loop");
        assert!(err.to_string().contains("symbolic links"), "{err}");
    }
}
