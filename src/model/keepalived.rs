//! keepalived and VRRP: what keepalived's configuration declares (VRRP instances, sync groups,
//! virtual servers), whether keepalived runs, and the role of each VRRP instance as the kernel
//! shows it (its virtual addresses on its interface, the interface's link state, both from
//! [`super::interfaces`]).
//!
//! The role is worked out here, from plain data, by [`infer_state`]; the sources only read.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::AddressFamily;
use super::interfaces::Interfaces;

/// A VRRP instance's state, as keepalived names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VrrpState {
    /// Starting, or the role cannot be told (no virtual addresses, or only some present).
    Init,
    Backup,
    Master,
    /// The instance's interface (or an interface it tracks) is down or missing.
    Fault,
    /// keepalived is not running.
    Stop,
}

impl VrrpState {
    /// Every state, in the order series are written.
    pub const ALL: [VrrpState; 5] = [
        VrrpState::Init,
        VrrpState::Backup,
        VrrpState::Master,
        VrrpState::Fault,
        VrrpState::Stop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VrrpState::Init => "INIT",
            VrrpState::Backup => "BACKUP",
            VrrpState::Master => "MASTER",
            VrrpState::Fault => "FAULT",
            VrrpState::Stop => "STOP",
        }
    }

    /// Reads a state name as keepalived writes it (any case).
    pub fn from_name(name: &str) -> Option<Self> {
        VrrpState::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for VrrpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One address of a `virtual_ipaddress` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualAddress {
    pub address: IpAddr,
    /// The prefix length after `/`, when given.
    pub prefix_len: Option<u8>,
    /// The `dev` the address goes on; the instance's interface when `None`.
    pub device: Option<String>,
}

/// A `track_interface` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedInterface {
    pub name: String,
    /// With a weight, a down interface changes the priority instead of faulting the instance.
    pub weight: Option<i32>,
}

/// A `vrrp_instance` block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VrrpInstance {
    pub name: String,
    /// `interface`: where adverts go and virtual addresses land by default.
    pub interface: Option<String>,
    /// `virtual_router_id`, 1 to 255.
    pub virtual_router_id: Option<u8>,
    /// `priority` as configured (keepalived's default is 100).
    pub priority: Option<u8>,
    /// `state`: the initial state (MASTER or BACKUP).
    pub initial_state: Option<VrrpState>,
    /// `virtual_ipaddress` and `virtual_ipaddress_excluded`.
    pub virtual_addresses: Vec<VirtualAddress>,
    pub track_interfaces: Vec<TrackedInterface>,
    /// `track_script` names.
    pub track_scripts: Vec<String>,
    pub nopreempt: bool,
}

/// A `vrrp_sync_group` block: instances that change state together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncGroup {
    pub name: String,
    pub instances: Vec<String>,
}

/// What a `virtual_server` balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VirtualServerTarget {
    Address {
        address: IpAddr,
        port: u16,
    },
    Fwmark {
        mark: u32,
    },
    /// `virtual_server group NAME`.
    Group {
        name: String,
    },
}

/// A `real_server` block inside a virtual server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub address: IpAddr,
    pub port: Option<u16>,
    pub weight: Option<i32>,
    /// Health checker blocks by keyword: `TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `MISC_CHECK`, ...
    pub checkers: Vec<String>,
    /// `inhibit_on_failure` in this block: a failed real server stays in the kernel's table
    /// with weight 0 instead of being removed. `None` inherits the virtual server's setting.
    pub inhibit_on_failure: Option<bool>,
    /// `lvs_method` in this block (NAT, DR, TUN): this real server's forwarding method; `None`
    /// inherits the virtual server's `lb_kind`.
    #[serde(default)]
    pub lvs_method: Option<String>,
}

/// keepalived's weight for a real server that sets none.
pub const DEFAULT_REAL_SERVER_WEIGHT: i32 = 1;

/// keepalived's persistence timeout where persistence is asked for without one (a bare
/// `persistence_timeout`, a `persistence_granularity`, or port 0): `IPVS_SVC_PERSISTENT_TIMEOUT`.
pub const DEFAULT_PERSISTENCE_TIMEOUT: u32 = 360;

/// keepalived's quorum for a virtual server that sets none: the live real servers' weights
/// must add up to at least this.
pub const DEFAULT_QUORUM: u32 = 1;

/// A `sorry_server ADDRESS PORT`: where keepalived sends traffic while quorum is lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SorryServer {
    pub address: IpAddr,
    pub port: Option<u16>,
    /// `sorry_server_lvs_method` (NAT, DR, TUN); `None` inherits the virtual server's `lb_kind`.
    #[serde(default)]
    pub lvs_method: Option<String>,
    /// `sorry_server_inhibit`: kept in the table at weight 0 while quorum holds.
    #[serde(default)]
    pub inhibit: bool,
}

/// A `virtual_server` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServer {
    pub target: VirtualServerTarget,
    /// `protocol` (TCP, UDP, SCTP).
    pub protocol: Option<String>,
    /// `lb_algo` (or `lvs_sched`): the scheduler.
    pub lb_algo: Option<String>,
    /// `lb_kind` (or `lvs_method`): NAT, DR, TUN.
    pub lb_kind: Option<String>,
    pub persistence_timeout: Option<u32>,
    pub real_servers: Vec<RealServer>,
    /// `quorum`: the least sum of live real servers' weights that keeps the service up.
    pub quorum: Option<u32>,
    /// `hysteresis`: how far below (to lose) or above (to regain) the quorum the sum must go.
    pub hysteresis: Option<u32>,
    pub sorry_server: Option<SorryServer>,
    /// `inhibit_on_failure` at the virtual server: its real servers' default.
    pub inhibit_on_failure: bool,
    /// `delay_loop`: seconds between health checks (keepalived's default is 60).
    pub delay_loop: Option<u32>,
    /// `weight` at the virtual server: the weight of its real servers that set none.
    #[serde(default)]
    pub weight: Option<i32>,
    /// `ops`: one-packet scheduling (kept by keepalived for UDP and firewall marks only).
    #[serde(default)]
    pub ops: bool,
    /// `persistence_granularity`: an IPv4 netmask (dotted) or an IPv6 prefix length, as written.
    #[serde(default)]
    pub persistence_granularity: Option<FamilyStatement<String>>,
    /// `ip_family inet|inet6`.
    #[serde(default)]
    pub ip_family: Option<FamilyStatement<AddressFamily>>,
}

/// A statement of a virtual server that can set its address family, with its place among the
/// real servers: keepalived reads the block in order, and a real server of another family
/// before it wins over it (`ip_family`), or it sets the family only where no real server did
/// (`persistence_granularity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyStatement<T> {
    pub value: T,
    /// How many `real_server` blocks come before the statement.
    pub after_real_servers: usize,
}

/// One entry of a `virtual_server_group` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupMember {
    /// `ADDRESS [PORT]`, or a range (`10.0.0.1-10`, `10.0.0.1-10.0.0.10`, `10.0.0.0/29`) from
    /// `first` to `last`, both included; no port (or 0) is port 0.
    Addresses {
        first: IpAddr,
        last: IpAddr,
        port: u16,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark {
        mark: u32,
        /// The family written after the mark; `None` takes the virtual server's.
        #[serde(default)]
        family: Option<AddressFamily>,
    },
}

/// A `virtual_server_group NAME` block: the services a `virtual_server group NAME` balances.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VirtualServerGroup {
    pub name: String,
    pub members: Vec<GroupMember>,
}

/// A place in keepalived's configuration, and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigError {
    /// The file, as named to the parser (the main file or an included one).
    pub file: String,
    /// 1-based line; 0 when the problem is not tied to a line (an unreadable include).
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        }
    }
}

/// keepalived's configuration, as far as it could be parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeepalivedConfig {
    pub instances: Vec<VrrpInstance>,
    pub sync_groups: Vec<SyncGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    /// Every file read, the main one first.
    pub files: Vec<String>,
    /// Syntax errors and values that could not be read; what could be parsed is still used.
    pub errors: Vec<ConfigError>,
    /// The statements that decide keepalived's default script user, and those that use it, in
    /// the order keepalived reads them.
    pub script_users: Vec<ScriptUserStatement>,
    /// Whether the users and groups that `script_users` needs exist on the host, when its
    /// /etc/passwd could be read: filled by the source, not the parser.
    pub accounts: Option<Accounts>,
}

/// A statement about keepalived's default script user (the user its scripts run as, and its
/// notify FIFOs are made for, when they name none of their own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptUserStatement {
    /// `enable_script_security` in global_defs.
    EnableScriptSecurity,
    /// `script_user USER [GROUP]` in global_defs.
    ScriptUser { user: String, group: Option<String> },
    /// Something that names no user of its own, so keepalived gives it the default one.
    UsesDefault(DefaultUserUse),
}

/// A notify FIFO, notify script, tracked script or checker script without a user of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultUserUse {
    /// The keyword: `notify_fifo`, `vrrp_notify_fifo`, `lvs_notify_fifo`, `notify_fifo_script`
    /// (and the vrrp_/lvs_ ones), `vrrp_script`, `notify_master` and the other notify
    /// keywords, `MISC_CHECK`.
    pub keyword: String,
    /// What it is about: the FIFO's path, the vrrp_script's name, the instance or sync group
    /// whose notify script it is, the checker's script.
    pub subject: String,
    /// `FILE:LINE` of the statement.
    pub place: String,
}

impl DefaultUserUse {
    /// A notify FIFO itself (not a script that reads one).
    pub fn is_fifo(&self) -> bool {
        self.keyword.ends_with("notify_fifo")
    }
}

/// Whether the accounts keepalived looks up exist, as the host's /etc/passwd and /etc/group
/// say (users only a directory service knows are not seen).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Accounts {
    /// (user name, exists), for `keepalived_script` and every `script_user`.
    pub users: Vec<(String, bool)>,
    /// (group name, exists), for every `script_user`'s group.
    pub groups: Vec<(String, bool)>,
}

impl Accounts {
    /// Whether `name` is a user; a name not looked up counts as one (nothing is claimed).
    pub fn has_user(&self, name: &str) -> bool {
        self.users
            .iter()
            .find(|(n, _)| n == name)
            .is_none_or(|(_, e)| *e)
    }

    /// Whether `name` is a group; a name not looked up counts as one.
    pub fn has_group(&self, name: &str) -> bool {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .is_none_or(|(_, e)| *e)
    }
}

/// The user keepalived looks for when no `script_user` is set.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// Why keepalived has no default script user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoScriptUser {
    /// `enable_script_security` came before the first use, no `script_user` did, and there is
    /// no `keepalived_script` user.
    SecurityWithoutUser,
    /// `script_user` names a user or group that does not exist.
    MissingAccount { user: String, group: Option<String> },
}

impl fmt::Display for NoScriptUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoScriptUser::SecurityWithoutUser => write!(
                f,
                "enable_script_security is set, no script_user is set before it is needed, and there is no {DEFAULT_SCRIPT_USER} user"
            ),
            NoScriptUser::MissingAccount { user, group } => match group {
                Some(group) => write!(
                    f,
                    "script_user {user} {group} names an account that does not exist"
                ),
                None => write!(f, "script_user {user} names a user that does not exist"),
            },
        }
    }
}

/// A use of the default script user that keepalived ignores, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IgnoredUse {
    pub what: DefaultUserUse,
    pub cause: NoScriptUser,
}

/// The uses of the default script user that keepalived (2.2.7) ignores, reading the statements
/// in order as it does: the default user is settled at the first use, from `script_user` if
/// one came before, else `keepalived_script` if that user exists, else keepalived's own user,
/// which `enable_script_security` (if it came before) forbids. Once settling failed, every
/// later use is ignored too, a later `script_user` included.
pub fn ignored_default_user_uses(
    statements: &[ScriptUserStatement],
    accounts: &Accounts,
) -> Vec<IgnoredUse> {
    let mut security = false;
    let mut settled = false;
    let mut failed: Option<NoScriptUser> = None;
    let mut ignored = Vec::new();
    for statement in statements {
        match statement {
            ScriptUserStatement::EnableScriptSecurity => security = true,
            ScriptUserStatement::ScriptUser { user, group } => {
                settled = true;
                let exists = accounts.has_user(user)
                    && group.as_deref().is_none_or(|g| accounts.has_group(g));
                if !exists {
                    failed = Some(NoScriptUser::MissingAccount {
                        user: user.clone(),
                        group: group.clone(),
                    });
                }
            }
            ScriptUserStatement::UsesDefault(what) => {
                if failed.is_none() && !settled {
                    settled = true;
                    if security && !accounts.has_user(DEFAULT_SCRIPT_USER) {
                        failed = Some(NoScriptUser::SecurityWithoutUser);
                    }
                }
                if let Some(cause) = &failed {
                    ignored.push(IgnoredUse {
                        what: what.clone(),
                        cause: cause.clone(),
                    });
                }
            }
        }
    }
    ignored
}

/// The account names `statements` makes keepalived look up: (users, groups).
pub fn script_accounts_needed(statements: &[ScriptUserStatement]) -> (Vec<String>, Vec<String>) {
    let mut users = vec![DEFAULT_SCRIPT_USER.to_string()];
    let mut groups = Vec::new();
    for statement in statements {
        if let ScriptUserStatement::ScriptUser { user, group } = statement {
            users.push(user.clone());
            groups.extend(group.clone());
        }
    }
    users.sort();
    users.dedup();
    groups.sort();
    groups.dedup();
    (users, groups)
}

/// Why keepalived's notify FIFO at `fifo` may be missing, for the exporter's warning:
/// keepalived ignores it (and why), keepalived is not running (it makes the FIFO when it
/// starts), or it runs without it.
pub fn why_fifo_missing(config: &KeepalivedConfig, fifo: &str, running: bool) -> String {
    if let Some(accounts) = &config.accounts {
        let ignored = ignored_default_user_uses(&config.script_users, accounts);
        if let Some(ignored) = ignored
            .iter()
            .find(|i| i.what.is_fifo() && i.what.subject == fifo)
        {
            return format!(
                "keepalived ignores {} {fifo} ({}) because {}: it never makes this FIFO (doctor: keepalived-notify-fifo-ignored)",
                ignored.what.keyword, ignored.what.place, ignored.cause
            );
        }
    }
    if !running {
        return "keepalived is not running (it makes its notify FIFO when it starts)".to_string();
    }
    "keepalived runs without it: keepalived makes its notify FIFO when it starts, so its configuration may name another path, or keepalived was started before notify_fifo was added".to_string()
}

/// Whether one virtual address is where its instance puts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipPresence {
    pub address: IpAddr,
    /// The interface the address belongs on.
    pub interface: String,
    pub present: bool,
}

/// One VRRP instance's role, inferred from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRole {
    pub instance: String,
    pub interface: String,
    pub vrid: Option<u8>,
    pub state: VrrpState,
    pub vips: Vec<VipPresence>,
    /// The configured priority (keepalived's default 100 when not set).
    pub priority: u8,
}

/// Where keepalived's process stands, from its pid file and procfs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepalivedProcess {
    /// The pid the pid file names, when it names one.
    pub pid: Option<u32>,
    /// That pid is a live process whose name is keepalived.
    pub running: bool,
}

/// Everything the keepalived collector read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keepalived {
    pub config_file: String,
    pub config: KeepalivedConfig,
    pub process: KeepalivedProcess,
    /// One per configured instance, in configuration order.
    pub roles: Vec<InstanceRole>,
    /// keepalived's JSON dump, when one was read and fresh.
    pub dump: Option<Dump>,
    /// What the notify FIFO told since the exporter started, when it reads one.
    pub notify: Option<NotifyReading>,
    /// VRRP adverts heard on the instances' interfaces, when listening is on.
    pub peers: Option<Vec<VrrpPeer>>,
    /// keepalived's data dump (its checkers' view), when one was read and fresh.
    pub checker_dump: Option<CheckerDump>,
    /// The VRRP part of keepalived's data dump, when one was read and fresh.
    #[serde(default)]
    pub vrrp_data_dump: Option<VrrpDataDump>,
    /// State changes per instance within the flapping window, when the notify FIFO or the
    /// JSON dump's counters tell them.
    #[serde(default)]
    pub recent_transitions: Option<RecentTransitions>,
}

/// The checker part of keepalived's data dump (`/tmp/keepalived.data`, written on SIGUSR1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckerDump {
    /// Seconds between the file's last write and the read.
    pub age_seconds: f64,
    pub real_servers: Vec<CheckedRealServer>,
}

/// One real server as keepalived's checkers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedRealServer {
    /// The virtual server it belongs to, as the configuration names it.
    pub virtual_server: VirtualServerTarget,
    /// The virtual server's protocol (TCP, UDP, SCTP), when the dump gives it.
    pub protocol: Option<String>,
    pub address: IpAddr,
    pub port: Option<u16>,
    /// keepalived's `alive`: its checks pass.
    pub alive: bool,
    /// The weight keepalived holds for it now, when the dump gives it.
    pub weight: Option<i64>,
}

/// A sender of VRRP adverts heard on an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpPeer {
    pub interface: String,
    pub vrid: u8,
    pub source: IpAddr,
    /// Adverts heard since the exporter started.
    pub adverts: u64,
    /// The priority in its last advert.
    pub priority: u8,
    /// Seconds from its last advert to when the reading was taken.
    #[serde(default)]
    pub last_heard_seconds: u64,
}

/// Transitions counted from keepalived's notify FIFO since the exporter started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyReading {
    /// Whether the FIFO is open now (keepalived is writing to it).
    pub connected: bool,
    /// (instance, new state, times), sorted.
    pub transitions: Vec<(String, VrrpState, u64)>,
    /// (instance, Unix time the exporter read its last transition), sorted.
    pub last_transition: Vec<(String, f64)>,
    /// Lines that named an instance but could not be read.
    pub malformed_lines: u64,
}

/// keepalived's JSON dump (`/tmp/keepalived.json`, written on SIGRTMIN+2 by builds with JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dump {
    /// Seconds between the file's last write and the read.
    pub age_seconds: f64,
    pub instances: Vec<DumpInstance>,
}

/// One VRRP instance in keepalived's JSON dump.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DumpInstance {
    /// `data.iname`.
    pub name: String,
    /// `data.ifp_ifname`.
    pub interface: Option<String>,
    /// `data.vrid`.
    pub vrid: Option<u8>,
    /// `data.state`, keepalived's own view of the state.
    pub state: Option<VrrpState>,
    /// `data.base_priority`: the configured priority.
    pub base_priority: Option<i64>,
    /// `data.effective_priority`: after tracked scripts and interfaces changed it.
    pub effective_priority: Option<i64>,
    /// `data.last_transition`: Unix time of the last state change.
    pub last_transition: Option<f64>,
    /// The numeric fields of `stats` by keepalived's names (`advert_rcvd`, `become_master`, ...).
    pub stats: Vec<(String, u64)>,
}

impl VrrpState {
    /// keepalived's numbering of states in its dump (`VRRP_STATE_*`).
    pub fn from_keepalived_number(number: i64) -> Option<Self> {
        match number {
            0 => Some(VrrpState::Init),
            1 => Some(VrrpState::Backup),
            2 => Some(VrrpState::Master),
            3 => Some(VrrpState::Fault),
            _ => None,
        }
    }
}

/// keepalived's default priority for an instance that sets none.
pub const DEFAULT_PRIORITY: u8 = 100;

/// Works out an instance's role: STOP when keepalived is not running; FAULT when its interface
/// (or an interface it tracks without a weight) is missing or down; MASTER when all of its
/// virtual addresses are on their interfaces, BACKUP when none is, INIT otherwise.
pub fn infer_state(
    instance: &VrrpInstance,
    running: bool,
    interfaces: &Interfaces,
) -> InstanceRole {
    let interface = instance.interface.clone().unwrap_or_default();
    let vips: Vec<VipPresence> = instance
        .virtual_addresses
        .iter()
        .map(|vip| {
            let on = vip.device.clone().unwrap_or_else(|| interface.clone());
            VipPresence {
                address: vip.address,
                present: interfaces.has_address(&on, &vip.address),
                interface: on,
            }
        })
        .collect();
    let link_ok = |name: &str| interfaces.link(name).is_some_and(|l| l.up && l.running);
    let state = if !running {
        VrrpState::Stop
    } else if !link_ok(&interface)
        || instance
            .track_interfaces
            .iter()
            .any(|t| t.weight.is_none() && !link_ok(&t.name))
    {
        VrrpState::Fault
    } else if !vips.is_empty() && vips.iter().all(|v| v.present) {
        VrrpState::Master
    } else if !vips.is_empty() && vips.iter().all(|v| !v.present) {
        VrrpState::Backup
    } else {
        VrrpState::Init
    };
    InstanceRole {
        instance: instance.name.clone(),
        interface,
        vrid: instance.virtual_router_id,
        state,
        vips,
        priority: instance.priority.unwrap_or(DEFAULT_PRIORITY),
    }
}

/// The VRRP part of keepalived's data dump (`/tmp/keepalived.data`, written on SIGUSR1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VrrpDataDump {
    /// Seconds between the file's last write and the read.
    pub age_seconds: f64,
    pub instances: Vec<DataDumpInstance>,
}

/// One VRRP instance as keepalived's data dump shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataDumpInstance {
    /// `VRRP Instance = NAME`.
    pub name: String,
    /// `State = ...`: keepalived's own view of the state.
    pub state: Option<VrrpState>,
    /// `Sync group = NAME`, for a member of a vrrp_sync_group.
    pub sync_group: Option<String>,
    /// `Priority = N`: the configured priority.
    pub base_priority: Option<i64>,
    /// `Effective priority = N`: after tracked scripts and interfaces changed it.
    pub effective_priority: Option<i64>,
}

/// Where the transition history comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionSource {
    /// keepalived's notify FIFO: every state change.
    NotifyFifo,
    /// The JSON dump's `become_master` and `release_master` counters: changes to and from
    /// MASTER only.
    JsonDump,
}

/// State changes seen within the flapping window, per instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecentTransitions {
    /// The window's length in seconds.
    pub window_seconds: f64,
    pub source: TransitionSource,
    /// (instance, changes within the window), sorted by instance.
    pub instances: Vec<(String, u64)>,
}

impl VrrpState {
    /// A state as keepalived names it in its data dump (`INIT`, `BACKUP`, `MASTER`, `FAULT`;
    /// it writes `unknown` for anything else).
    pub fn from_keepalived_name(name: &str) -> Option<Self> {
        match name.trim() {
            "INIT" => Some(VrrpState::Init),
            "BACKUP" => Some(VrrpState::Backup),
            "MASTER" => Some(VrrpState::Master),
            "FAULT" => Some(VrrpState::Fault),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::interfaces::{InterfaceAddress, Link};

    fn eth0(up: bool) -> Interfaces {
        Interfaces {
            links: vec![Link {
                index: 2,
                name: "eth0".into(),
                up,
                running: up,
                noarp: false,
                loopback: false,
                hardware_type: 1,
                kind: None,
                routes_out: None,
            }],
            addresses: vec![InterfaceAddress {
                index: 2,
                address: "10.0.0.10".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
                prefix_len: 24,
            }],
        }
    }

    fn instance(vips: &[&str]) -> VrrpInstance {
        VrrpInstance {
            name: "VI_1".into(),
            interface: Some("eth0".into()),
            virtual_router_id: Some(51),
            virtual_addresses: vips
                .iter()
                .filter_map(|v| v.parse().ok())
                .map(|address| VirtualAddress {
                    address,
                    prefix_len: None,
                    device: None,
                })
                .collect(),
            ..VrrpInstance::default()
        }
    }

    fn uses(keyword: &str, subject: &str) -> ScriptUserStatement {
        ScriptUserStatement::UsesDefault(DefaultUserUse {
            keyword: keyword.into(),
            subject: subject.into(),
            place: "k.conf:1".into(),
        })
    }

    fn accounts(users: &[(&str, bool)]) -> Accounts {
        Accounts {
            users: users.iter().map(|(n, e)| ((*n).to_string(), *e)).collect(),
            groups: Vec::new(),
        }
    }

    fn ignored_subjects(statements: &[ScriptUserStatement], accounts: &Accounts) -> Vec<String> {
        ignored_default_user_uses(statements, accounts)
            .into_iter()
            .map(|i| i.what.subject)
            .collect()
    }

    #[test]
    fn script_security_without_a_script_user_ignores_every_default_use() {
        let no_user = accounts(&[(DEFAULT_SCRIPT_USER, false)]);
        let statements = [
            ScriptUserStatement::EnableScriptSecurity,
            uses("notify_fifo", "/run/k.fifo"),
            uses("vrrp_script", "chk"),
        ];
        assert_eq!(
            ignored_subjects(&statements, &no_user),
            vec!["/run/k.fifo", "chk"]
        );
        // keepalived_script exists: nothing is ignored
        let with_user = accounts(&[(DEFAULT_SCRIPT_USER, true)]);
        assert!(ignored_default_user_uses(&statements, &with_user).is_empty());
        // enable_script_security after the first use: keepalived's own user was settled first
        let late = [
            uses("notify_fifo", "/run/k.fifo"),
            ScriptUserStatement::EnableScriptSecurity,
            uses("vrrp_script", "chk"),
        ];
        assert!(ignored_default_user_uses(&late, &no_user).is_empty());
        // script_user first: used
        let with_script_user = [
            ScriptUserStatement::EnableScriptSecurity,
            ScriptUserStatement::ScriptUser {
                user: "nobody".into(),
                group: None,
            },
            uses("notify_fifo", "/run/k.fifo"),
        ];
        assert!(ignored_default_user_uses(&with_script_user, &no_user).is_empty());
        // script_user after the failed first use does not help, at 2.2.7
        let too_late = [
            ScriptUserStatement::EnableScriptSecurity,
            uses("notify_fifo", "/run/k.fifo"),
            ScriptUserStatement::ScriptUser {
                user: "nobody".into(),
                group: None,
            },
            uses("vrrp_script", "chk"),
        ];
        assert_eq!(
            ignored_subjects(&too_late, &no_user),
            vec!["/run/k.fifo", "chk"]
        );
    }

    #[test]
    fn a_script_user_that_does_not_exist_ignores_every_default_use_without_security() {
        let statements = [
            ScriptUserStatement::ScriptUser {
                user: "nosuch".into(),
                group: None,
            },
            uses("notify_fifo", "/run/k.fifo"),
        ];
        let missing = accounts(&[("nosuch", false)]);
        let ignored = ignored_default_user_uses(&statements, &missing);
        assert_eq!(ignored.len(), 1);
        assert_eq!(
            ignored.first().map(|i| i.cause.to_string()),
            Some("script_user nosuch names a user that does not exist".to_string())
        );
        // not looked up: nothing claimed
        assert!(ignored_default_user_uses(&statements, &Accounts::default()).is_empty());
    }

    #[test]
    fn a_missing_fifo_is_explained_by_the_configuration_first() {
        let mut config = KeepalivedConfig {
            script_users: vec![
                ScriptUserStatement::EnableScriptSecurity,
                uses("notify_fifo", "/run/k.fifo"),
            ],
            accounts: Some(accounts(&[(DEFAULT_SCRIPT_USER, false)])),
            ..KeepalivedConfig::default()
        };
        let why = why_fifo_missing(&config, "/run/k.fifo", true);
        assert!(why.starts_with("keepalived ignores notify_fifo /run/k.fifo (k.conf:1) because enable_script_security is set"), "{why}");
        assert!(why_fifo_missing(&config, "/run/other.fifo", false).contains("not running"));
        config.accounts = Some(accounts(&[(DEFAULT_SCRIPT_USER, true)]));
        assert!(why_fifo_missing(&config, "/run/k.fifo", false).contains("not running"));
        assert!(
            why_fifo_missing(&config, "/run/k.fifo", true)
                .starts_with("keepalived runs without it")
        );
    }

    #[test]
    fn all_vips_present_is_master_none_is_backup_some_is_init() {
        let up = eth0(true);
        assert_eq!(
            infer_state(&instance(&["10.0.0.10"]), true, &up).state,
            VrrpState::Master
        );
        assert_eq!(
            infer_state(&instance(&["10.0.0.99"]), true, &up).state,
            VrrpState::Backup
        );
        assert_eq!(
            infer_state(&instance(&["10.0.0.10", "10.0.0.99"]), true, &up).state,
            VrrpState::Init
        );
        assert_eq!(
            infer_state(&instance(&[]), true, &up).state,
            VrrpState::Init
        );
    }

    #[test]
    fn a_stopped_keepalived_is_stop_even_with_the_vips_left_behind() {
        let role = infer_state(&instance(&["10.0.0.10"]), false, &eth0(true));
        assert_eq!(role.state, VrrpState::Stop);
        assert!(role.vips.iter().all(|v| v.present));
        assert_eq!(role.priority, DEFAULT_PRIORITY);
    }

    #[test]
    fn a_down_or_missing_interface_is_fault() {
        assert_eq!(
            infer_state(&instance(&["10.0.0.10"]), true, &eth0(false)).state,
            VrrpState::Fault
        );
        assert_eq!(
            infer_state(&instance(&["10.0.0.10"]), true, &Interfaces::default()).state,
            VrrpState::Fault
        );
        let mut tracked = instance(&["10.0.0.10"]);
        tracked.track_interfaces.push(TrackedInterface {
            name: "eth9".into(),
            weight: None,
        });
        assert_eq!(
            infer_state(&tracked, true, &eth0(true)).state,
            VrrpState::Fault
        );
        if let Some(t) = tracked.track_interfaces.first_mut() {
            t.weight = Some(-20);
        }
        assert_eq!(
            infer_state(&tracked, true, &eth0(true)).state,
            VrrpState::Master
        );
    }
}
