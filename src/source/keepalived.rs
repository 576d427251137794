//! The keepalived collector's I/O: keepalived.conf and what it includes (under
//! `--path.rootfs`), the pid file checked against procfs, and the interfaces and addresses of
//! the exporter's network namespace over rtnetlink. It never signals keepalived unless asked to
//! and never talks to it: the role of every VRRP instance comes from what the kernel shows.

use std::path::{Component, Path, PathBuf};

use super::netlink::{SocketTransport, Transport, TransportError, check_replies};
use super::{Collected, CollectedData, Collector, Paths, SourceError, read_optional};
use crate::model::keepalived::{Interfaces, Keepalived, KeepalivedProcess, infer_state};
use crate::parse::keepalived::{Included, parse_config};
use crate::parse::rtnetlink::{
    RTM_GETADDR, RTM_GETLINK, decode_addresses, decode_links, dump_request,
};

/// The `--keepalived.*` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepalivedOptions {
    /// keepalived.conf, as keepalived names it (resolved under `--path.rootfs`).
    pub config_file: PathBuf,
    /// keepalived's pid file (under `--path.rootfs`).
    pub pid_file: PathBuf,
}

impl Default for KeepalivedOptions {
    fn default() -> Self {
        KeepalivedOptions {
            config_file: PathBuf::from("/etc/keepalived/keepalived.conf"),
            pid_file: PathBuf::from("/run/keepalived.pid"),
        }
    }
}

/// Opens the rtnetlink connection (a real socket, or canned replies in tests).
pub type Connect = fn() -> Result<Box<dyn Transport>, TransportError>;

fn connect_route() -> Result<Box<dyn Transport>, TransportError> {
    Ok(Box::new(SocketTransport::connect_route()?))
}

pub struct KeepalivedCollector {
    paths: Paths,
    options: KeepalivedOptions,
    connect: Connect,
}

impl KeepalivedCollector {
    pub fn new(paths: Paths, options: KeepalivedOptions) -> Self {
        Self::with_transport(paths, options, connect_route)
    }

    pub fn with_transport(paths: Paths, options: KeepalivedOptions, connect: Connect) -> Self {
        KeepalivedCollector {
            paths,
            options,
            connect,
        }
    }
}

/// A path as the host names it, under the root the exporter was given.
fn under_root(rootfs: &Path, path: &Path) -> PathBuf {
    let relative: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    rootfs.join(relative)
}

/// Whether a file name matches a shell pattern with `*` and `?` (no brackets).
fn matches_pattern(pattern: &[char], name: &[char]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|skip| {
            name.get(skip..)
                .is_some_and(|tail| matches_pattern(rest, tail))
        }),
        Some(('?', rest)) => name
            .split_first()
            .is_some_and(|(_, tail)| matches_pattern(rest, tail)),
        Some((c, rest)) => name
            .split_first()
            .is_some_and(|(n, tail)| n == c && matches_pattern(rest, tail)),
    }
}

/// The files an include pattern names, sorted as a shell would; wildcards in the last
/// component only. Relative patterns are taken from the including file's directory.
fn expand_include(rootfs: &Path, including: &str, pattern: &str) -> Included {
    let pattern_path = Path::new(pattern);
    let host_path = if pattern_path.is_absolute() {
        pattern_path.to_path_buf()
    } else {
        Path::new(including)
            .parent()
            .unwrap_or(Path::new("/"))
            .join(pattern_path)
    };
    let Some(file_pattern) = host_path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    let directory = host_path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let read = |host: PathBuf| -> (String, Result<String, String>) {
        let text = std::fs::read_to_string(under_root(rootfs, &host)).map_err(|e| e.to_string());
        (host.to_string_lossy().into_owned(), text)
    };
    if !file_pattern.contains(['*', '?']) {
        if under_root(rootfs, &host_path).exists() {
            return vec![read(host_path)];
        }
        return Vec::new();
    }
    let wanted: Vec<char> = file_pattern.chars().collect();
    let Ok(entries) = std::fs::read_dir(under_root(rootfs, &directory)) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|name| !name.starts_with('.') || file_pattern.starts_with('.'))
        .filter(|name| matches_pattern(&wanted, &name.chars().collect::<Vec<_>>()))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| read(directory.join(name)))
        .collect()
}

/// Reads the pid file and checks that the pid is a live keepalived.
fn check_process(paths: &Paths, pid_file: &Path) -> Result<KeepalivedProcess, SourceError> {
    let text = read_optional(&under_root(&paths.rootfs, pid_file))?;
    let pid = text.and_then(|t| t.trim().parse::<u32>().ok());
    let running = match pid {
        Some(pid) => read_optional(&paths.procfs.join(pid.to_string()).join("comm"))?
            .is_some_and(|comm| comm.trim() == "keepalived"),
        None => false,
    };
    Ok(KeepalivedProcess { pid, running })
}

/// Dumps the links and addresses of the exporter's network namespace.
pub fn read_interfaces(transport: &mut dyn Transport) -> Result<Interfaces, TransportError> {
    let links = transport.exchange(&dump_request(RTM_GETLINK, 1))?;
    check_replies(&links)?;
    let addresses = transport.exchange(&dump_request(RTM_GETADDR, 1))?;
    check_replies(&addresses)?;
    Ok(Interfaces {
        links: decode_links(&links)?,
        addresses: decode_addresses(&addresses)?,
    })
}

impl Collector for KeepalivedCollector {
    fn name(&self) -> &'static str {
        "keepalived"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let config_name = self.options.config_file.to_string_lossy().into_owned();
        let config_path = under_root(&self.paths.rootfs, &self.options.config_file);
        let Some(text) = read_optional(&config_path)? else {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: format!("{} does not exist", config_path.display()),
                },
                problems: Vec::new(),
            });
        };
        let rootfs = self.paths.rootfs.clone();
        let config = parse_config(&config_name, &text, &mut |including, pattern| {
            expand_include(&rootfs, including, pattern)
        });
        let problems = config
            .errors
            .iter()
            .map(|e| format!("keepalived configuration: {e}"))
            .collect();
        let process = check_process(&self.paths, &self.options.pid_file)?;
        let interfaces = if config.instances.is_empty() {
            Interfaces::default()
        } else {
            let mut transport = (self.connect)().map_err(SourceError::Netlink)?;
            read_interfaces(transport.as_mut()).map_err(SourceError::Netlink)?
        };
        let roles = config
            .instances
            .iter()
            .map(|instance| infer_state(instance, process.running, &interfaces))
            .collect();
        Ok(Collected {
            data: CollectedData::Keepalived(Box::new(Keepalived {
                config_file: config_name,
                config,
                process,
                roles,
            })),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn shell_patterns() {
        assert!(matches_pattern(&chars("*.conf"), &chars("a.conf")));
        assert!(matches_pattern(&chars("*.conf"), &chars(".conf")));
        assert!(!matches_pattern(&chars("*.conf"), &chars("a.conf.bak")));
        assert!(matches_pattern(&chars("vi_?.conf"), &chars("vi_1.conf")));
        assert!(!matches_pattern(&chars("vi_?.conf"), &chars("vi_10.conf")));
        assert!(matches_pattern(&chars("*"), &chars("")));
    }

    #[test]
    fn paths_stay_under_the_root() {
        assert_eq!(
            under_root(Path::new("/fx"), Path::new("/etc/../../k.conf")),
            PathBuf::from("/fx/etc/k.conf")
        );
    }

    #[test]
    fn includes_expand_relative_to_the_including_file_and_sort() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let found = expand_include(
            &root,
            "/keepalived-conf/with-includes.conf",
            "conf.d/*.conf",
        );
        let names: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "/keepalived-conf/conf.d/10-vrrp.conf",
                "/keepalived-conf/conf.d/20-lvs.conf"
            ]
        );
        assert!(found.iter().all(|f| f.1.is_ok()));
        assert!(expand_include(&root, "/keepalived-conf/x.conf", "nothing/*.conf").is_empty());
    }
}
