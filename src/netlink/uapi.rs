//! The kernel interface numbers the exporter speaks, in one place and under their uapi names:
//! netlink framing (`linux/netlink.h`, `linux/genetlink.h`), IPVS (`linux/ip_vs.h`),
//! ctnetlink (`linux/netfilter/nfnetlink*.h`), rtnetlink (`linux/rtnetlink.h`,
//! `linux/if_link.h`, `linux/if_addr.h`, `linux/if.h`, `linux/if_arp.h`) and the ethtool ioctl
//! (`linux/ethtool.h`, with `#[repr(C)]` mirrors of the structures it reads).
//!
//! Each value is declared through a macro that also lists it in [`NUMBERS`], [`TEXTS`] or
//! [`LAYOUTS`]; the `uapi_headers` test compiles those lists against the installed kernel
//! headers, so a value here cannot differ from the kernel's without a test failing.

/// One number as this module has it and as C spells it, for the header check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constant {
    /// The C expression that gives the kernel's value (the uapi name, `sizeof(...)`, ...).
    pub c: &'static str,
    /// The Rust value, widened.
    pub value: i128,
    /// Width of the Rust type in bits; the C value is cast to this width before comparing.
    pub bits: u32,
    /// Whether the Rust type is signed.
    pub signed: bool,
}

macro_rules! numbers {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty = $value:expr $(=> $c:literal)? ; )*) => {
        $( $(#[$doc])* pub const $name: $ty = $value; )*
        /// Every number this module declares, for the header check.
        pub const NUMBERS: &[Constant] = &[ $(
            Constant {
                c: numbers!(@c $name $($c)?),
                value: $name as i128,
                bits: <$ty>::BITS,
                signed: <$ty>::MIN != 0,
            },
        )* ];
    };
    (@c $name:ident) => { stringify!($name) };
    (@c $name:ident $c:literal) => { $c };
}

macro_rules! texts {
    ($( $(#[$doc:meta])* $name:ident = $value:literal ; )*) => {
        $( $(#[$doc])* pub const $name: &str = $value; )*
        /// Every string this module declares, for the header check: `(C name, value)`.
        pub const TEXTS: &[(&str, &str)] = &[ $( (stringify!($name), $name), )* ];
    };
}

/// Declares `#[repr(C)]` mirrors of uapi structures and lists their size and the offset and
/// size of every field in [`LAYOUTS`].
macro_rules! layouts {
    ($(
        $(#[$doc:meta])*
        $c_name:literal => $name:ident { $( $field:ident : $fty:ty ),* $(,)? }
    )*) => {
        $(
            $(#[$doc])*
            #[repr(C)]
            pub struct $name { $( pub $field: $fty, )* }
        )*
        /// The size, and every field's offset and size, of the structures above, for the header
        /// check.
        pub const LAYOUTS: &[Constant] = &[ $(
            Constant {
                c: concat!("sizeof(", $c_name, ")"),
                value: std::mem::size_of::<$name>() as i128,
                bits: usize::BITS,
                signed: false,
            },
            $( Constant {
                c: concat!("offsetof(", $c_name, ", ", stringify!($field), ")"),
                value: std::mem::offset_of!($name, $field) as i128,
                bits: usize::BITS,
                signed: false,
            },
            Constant {
                c: concat!("sizeof(((", $c_name, " *)0)->", stringify!($field), ")"),
                value: std::mem::size_of::<$fty>() as i128,
                bits: usize::BITS,
                signed: false,
            }, )*
        )* ];
    };
}

texts! {
    /// The name the IPVS generic netlink family registers under.
    IPVS_GENL_NAME = "IPVS";
}

numbers! {
    // linux/netlink.h: message header, flags, control messages, attributes.
    /// `sizeof(struct nlmsghdr)`, aligned.
    NLMSG_HDRLEN: usize = 16;
    /// `sizeof(struct nlattr)`, aligned.
    NLA_HDRLEN: usize = 4;
    /// Netlink messages and attributes are aligned to this many bytes.
    NLMSG_ALIGNTO: usize = 4;
    NLA_ALIGNTO: usize = 4;
    NLM_F_REQUEST: u16 = 0x1;
    /// Part of a multipart (dump) reply.
    NLM_F_MULTI: u16 = 0x2;
    NLM_F_ROOT: u16 = 0x100;
    NLM_F_MATCH: u16 = 0x200;
    /// `NLM_F_ROOT | NLM_F_MATCH`: the whole table.
    NLM_F_DUMP: u16 = 0x300;
    NLMSG_NOOP: u16 = 0x1;
    NLMSG_ERROR: u16 = 0x2;
    NLMSG_DONE: u16 = 0x3;
    NLA_F_NESTED: u16 = 0x8000;
    NLA_F_NET_BYTEORDER: u16 = 0x4000;
    /// The attribute type bits that are not flags.
    NLA_TYPE_MASK: u16 = 0x3fff;
    /// Netlink protocols (`socket(AF_NETLINK, SOCK_RAW, protocol)`).
    NETLINK_ROUTE: i32 = 0;
    NETLINK_NETFILTER: i32 = 12;
    NETLINK_GENERIC: i32 = 16;

    // linux/genetlink.h: the generic netlink header and its controller.
    /// `sizeof(struct genlmsghdr)`, aligned: command, version, reserved.
    GENL_HDRLEN: usize = 4;
    GENL_ID_CTRL: u16 = 0x10;
    CTRL_CMD_GETFAMILY: u8 = 3;
    CTRL_ATTR_FAMILY_ID: u16 = 1;
    CTRL_ATTR_FAMILY_NAME: u16 = 2;

    // linux/ip_vs.h: the IPVS generic netlink family.
    IPVS_GENL_VERSION: u8 = 0x1;
    IPVS_CMD_GET_SERVICE: u8 = 4;
    IPVS_CMD_GET_DEST: u8 = 8;
    IPVS_CMD_GET_DAEMON: u8 = 11;
    IPVS_CMD_SET_CONFIG: u8 = 12;
    IPVS_CMD_GET_CONFIG: u8 = 13;
    IPVS_CMD_SET_INFO: u8 = 14;
    IPVS_CMD_GET_INFO: u8 = 15;
    IPVS_CMD_ATTR_SERVICE: u16 = 1;
    IPVS_CMD_ATTR_DEST: u16 = 2;
    IPVS_CMD_ATTR_DAEMON: u16 = 3;
    IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
    IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
    IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;
    IPVS_SVC_ATTR_AF: u16 = 1;
    IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
    IPVS_SVC_ATTR_ADDR: u16 = 3;
    IPVS_SVC_ATTR_PORT: u16 = 4;
    IPVS_SVC_ATTR_FWMARK: u16 = 5;
    IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
    IPVS_SVC_ATTR_FLAGS: u16 = 7;
    IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
    IPVS_SVC_ATTR_NETMASK: u16 = 9;
    IPVS_SVC_ATTR_STATS: u16 = 10;
    IPVS_SVC_ATTR_PE_NAME: u16 = 11;
    IPVS_SVC_ATTR_STATS64: u16 = 12;
    IPVS_DEST_ATTR_ADDR: u16 = 1;
    IPVS_DEST_ATTR_PORT: u16 = 2;
    IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
    IPVS_DEST_ATTR_WEIGHT: u16 = 4;
    IPVS_DEST_ATTR_U_THRESH: u16 = 5;
    IPVS_DEST_ATTR_L_THRESH: u16 = 6;
    IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
    IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
    IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
    IPVS_DEST_ATTR_STATS: u16 = 10;
    IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
    IPVS_DEST_ATTR_STATS64: u16 = 12;
    IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
    IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
    IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;
    IPVS_DAEMON_ATTR_STATE: u16 = 1;
    IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
    IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
    /// Statistics: 32-bit in `*_STATS`, 64-bit in `*_STATS64`; bytes are 64-bit in both.
    IPVS_STATS_ATTR_CONNS: u16 = 1;
    IPVS_STATS_ATTR_INPKTS: u16 = 2;
    IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
    IPVS_STATS_ATTR_INBYTES: u16 = 4;
    IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
    IPVS_STATS_ATTR_CPS: u16 = 6;
    IPVS_STATS_ATTR_INPPS: u16 = 7;
    IPVS_STATS_ATTR_OUTPPS: u16 = 8;
    IPVS_STATS_ATTR_INBPS: u16 = 9;
    IPVS_STATS_ATTR_OUTBPS: u16 = 10;
    IPVS_INFO_ATTR_VERSION: u16 = 1;
    IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;
    IP_VS_SVC_F_PERSISTENT: u32 = 0x0001;
    IP_VS_SVC_F_ONEPACKET: u32 = 0x0004;
    IP_VS_SVC_F_SCHED1: u32 = 0x0008;
    IP_VS_SVC_F_SCHED2: u32 = 0x0010;
    IP_VS_SVC_F_SCHED3: u32 = 0x0020;
    IP_VS_CONN_F_FWD_MASK: u32 = 0x0007;
    IP_VS_CONN_F_MASQ: u32 = 0x0000;
    IP_VS_CONN_F_LOCALNODE: u32 = 0x0001;
    IP_VS_CONN_F_TUNNEL: u32 = 0x0002;
    IP_VS_CONN_F_DROUTE: u32 = 0x0003;
    IP_VS_CONN_F_BYPASS: u32 = 0x0004;
    IP_VS_STATE_MASTER: u32 = 0x0001;
    IP_VS_STATE_BACKUP: u32 = 0x0002;

    // Address families (sys/socket.h).
    AF_UNSPEC: u16 = 0;
    AF_INET: u16 = 2;
    AF_INET6: u16 = 10;

    // linux/netfilter/nfnetlink.h and nfnetlink_conntrack.h: ctnetlink statistics.
    /// `sizeof(struct nfgenmsg)`: family, version, resource id.
    NFGENMSG_LEN: usize = 4 => "sizeof(struct nfgenmsg)";
    /// The only version of the `nfgenmsg` header.
    NFNETLINK_V0: u8 = 0;
    /// The subsystem is the high byte of an nfnetlink message type.
    NFNL_SUBSYS_CTNETLINK: u8 = 1;
    IPCTNL_MSG_CT_GET_STATS_CPU: u8 = 4;
    /// `enum ctattr_stats_cpu`. The ones the header marks "no longer used" are only sent by
    /// old kernels.
    CTA_STATS_SEARCHED: u16 = 1;
    CTA_STATS_FOUND: u16 = 2;
    CTA_STATS_NEW: u16 = 3;
    CTA_STATS_INVALID: u16 = 4;
    CTA_STATS_IGNORE: u16 = 5;
    CTA_STATS_DELETE: u16 = 6;
    CTA_STATS_DELETE_LIST: u16 = 7;
    CTA_STATS_INSERT: u16 = 8;
    CTA_STATS_INSERT_FAILED: u16 = 9;
    CTA_STATS_DROP: u16 = 10;
    CTA_STATS_EARLY_DROP: u16 = 11;
    CTA_STATS_ERROR: u16 = 12;
    CTA_STATS_SEARCH_RESTART: u16 = 13;
    CTA_STATS_CLASH_RESOLVE: u16 = 14;
    CTA_STATS_CHAIN_TOOLONG: u16 = 15;

    // linux/rtnetlink.h, if_link.h, if_addr.h, if.h: links and addresses.
    RTM_NEWLINK: u16 = 16;
    RTM_GETLINK: u16 = 18;
    RTM_NEWADDR: u16 = 20;
    RTM_GETADDR: u16 = 22;
    /// `struct ifinfomsg`: family, pad, type, index, flags, change.
    IFINFOMSG_LEN: usize = 16 => "sizeof(struct ifinfomsg)";
    IFINFOMSG_TYPE_OFFSET: usize = 2 => "offsetof(struct ifinfomsg, ifi_type)";
    IFINFOMSG_INDEX_OFFSET: usize = 4 => "offsetof(struct ifinfomsg, ifi_index)";
    IFINFOMSG_FLAGS_OFFSET: usize = 8 => "offsetof(struct ifinfomsg, ifi_flags)";
    /// `struct ifaddrmsg`: family, prefixlen, flags, scope, index.
    IFADDRMSG_LEN: usize = 8 => "sizeof(struct ifaddrmsg)";
    IFADDRMSG_FAMILY_OFFSET: usize = 0 => "offsetof(struct ifaddrmsg, ifa_family)";
    IFADDRMSG_PREFIXLEN_OFFSET: usize = 1 => "offsetof(struct ifaddrmsg, ifa_prefixlen)";
    IFADDRMSG_INDEX_OFFSET: usize = 4 => "offsetof(struct ifaddrmsg, ifa_index)";
    IFLA_IFNAME: u16 = 3;
    IFA_ADDRESS: u16 = 1;
    IFA_LOCAL: u16 = 2;
    IFF_UP: u32 = 0x1;
    IFF_LOOPBACK: u32 = 0x8;
    IFF_RUNNING: u32 = 0x40;
    IFF_NOARP: u32 = 0x80;
    /// The nested link information of an `RTM_NEWLINK` (if_link.h).
    IFLA_LINKINFO: u16 = 18;
    /// Inside `IFLA_LINKINFO`: the driver's kind (`dummy`, `ipip`, `wireguard`, ...).
    IFLA_INFO_KIND: u16 = 1;
    /// `ARPHRD_*` (if_arp.h): hardware types that never hold a real server's address. The
    /// values are the model's (`model::interfaces` classifies links by them); named here so
    /// the header check covers them.
    ARPHRD_PPP: u16 = crate::model::interfaces::ARPHRD_PPP;
    ARPHRD_TUNNEL: u16 = crate::model::interfaces::ARPHRD_TUNNEL;
    ARPHRD_TUNNEL6: u16 = crate::model::interfaces::ARPHRD_TUNNEL6;
    ARPHRD_NONE: u16 = crate::model::interfaces::ARPHRD_NONE;

    // linux/rtnetlink.h: routes, counted per output interface.
    RTM_NEWROUTE: u16 = 24;
    RTM_GETROUTE: u16 = 26;
    /// `struct rtmsg`: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
    RTMSG_LEN: usize = 12 => "sizeof(struct rtmsg)";
    RTMSG_FAMILY_OFFSET: usize = 0 => "offsetof(struct rtmsg, rtm_family)";
    RTMSG_DST_LEN_OFFSET: usize = 1 => "offsetof(struct rtmsg, rtm_dst_len)";
    RTMSG_TABLE_OFFSET: usize = 4 => "offsetof(struct rtmsg, rtm_table)";
    RTMSG_TYPE_OFFSET: usize = 7 => "offsetof(struct rtmsg, rtm_type)";
    RTA_DST: u16 = 1;
    RTA_OIF: u16 = 4;
    RTA_MULTIPATH: u16 = 9;
    RTA_TABLE: u16 = 15;
    /// `struct rtnexthop`: len, flags, hops, ifindex; one per path of `RTA_MULTIPATH`.
    RTNEXTHOP_LEN: usize = 8 => "sizeof(struct rtnexthop)";
    RTNEXTHOP_IFINDEX_OFFSET: usize = 4 => "offsetof(struct rtnexthop, rtnh_ifindex)";
    RTN_UNICAST: u8 = 1;
    RT_TABLE_LOCAL: u32 = 255;

    // linux/ethtool.h: the SIOCETHTOOL commands and values read.
    /// Legacy link settings (`struct ethtool_cmd`).
    ETHTOOL_GSET: u32 = 0x01;
    /// Driver information (`struct ethtool_drvinfo`).
    ETHTOOL_GDRVINFO: u32 = 0x03;
    /// Ring sizes (`struct ethtool_ringparam`).
    ETHTOOL_GRINGPARAM: u32 = 0x10;
    /// The strings of a string set (`struct ethtool_gstrings`).
    ETHTOOL_GSTRINGS: u32 = 0x1b;
    /// How many strings string sets have (`struct ethtool_sset_info`).
    ETHTOOL_GSSET_INFO: u32 = 0x37;
    /// Offload feature bits (`struct ethtool_gfeatures`).
    ETHTOOL_GFEATURES: u32 = 0x3a;
    /// Queue counts (`struct ethtool_channels`).
    ETHTOOL_GCHANNELS: u32 = 0x3c;
    /// Link settings (`struct ethtool_link_settings`).
    ETHTOOL_GLINKSETTINGS: u32 = 0x4c;
    /// The string set of netdev feature names.
    ETH_SS_FEATURES: u32 = 4;
    /// Each string of a set is a NUL-padded field of this many bytes.
    ETH_GSTRING_LEN: usize = 32;
    /// A speed the driver does not know (`-1` in C).
    SPEED_UNKNOWN: u32 = u32::MAX;
    /// A device name and its NUL.
    IFNAMSIZ: usize = 16;
}

layouts! {
    /// `struct ethtool_drvinfo`.
    "struct ethtool_drvinfo" => EthtoolDrvinfo {
        cmd: u32,
        driver: [u8; 32],
        version: [u8; 32],
        fw_version: [u8; 32],
        bus_info: [u8; 32],
        erom_version: [u8; 32],
        reserved2: [u8; 12],
        n_priv_flags: u32,
        n_stats: u32,
        testinfo_len: u32,
        eedump_len: u32,
        regdump_len: u32,
    }

    /// `struct ethtool_channels`.
    "struct ethtool_channels" => EthtoolChannels {
        cmd: u32,
        max_rx: u32,
        max_tx: u32,
        max_other: u32,
        max_combined: u32,
        rx_count: u32,
        tx_count: u32,
        other_count: u32,
        combined_count: u32,
    }

    /// `struct ethtool_ringparam`.
    "struct ethtool_ringparam" => EthtoolRingparam {
        cmd: u32,
        rx_max_pending: u32,
        rx_mini_max_pending: u32,
        rx_jumbo_max_pending: u32,
        tx_max_pending: u32,
        rx_pending: u32,
        rx_mini_pending: u32,
        rx_jumbo_pending: u32,
        tx_pending: u32,
    }

    /// `struct ethtool_sset_info`, without its trailing `__u32 data[]`: one count per bit set
    /// in `sset_mask`, lowest bit first.
    "struct ethtool_sset_info" => EthtoolSsetInfo {
        cmd: u32,
        reserved: u32,
        sset_mask: u64,
    }

    /// `struct ethtool_gstrings`, without its trailing `__u8 data[]`: `len` strings of
    /// `ETH_GSTRING_LEN` bytes.
    "struct ethtool_gstrings" => EthtoolGstrings {
        cmd: u32,
        string_set: u32,
        len: u32,
    }

    /// `struct ethtool_gfeatures`, without its trailing blocks: `size` of
    /// [`EthtoolGetFeaturesBlock`].
    "struct ethtool_gfeatures" => EthtoolGfeatures {
        cmd: u32,
        size: u32,
    }

    /// `struct ethtool_get_features_block`: 32 features, bit `i` of block `n` being feature
    /// `32 * n + i` of the `ETH_SS_FEATURES` string set.
    "struct ethtool_get_features_block" => EthtoolGetFeaturesBlock {
        available: u32,
        requested: u32,
        active: u32,
        never_changed: u32,
    }

    /// `struct ethtool_link_settings`, without its trailing `__u32 link_mode_masks[]`: three
    /// bitmaps of `link_mode_masks_nwords` words each.
    "struct ethtool_link_settings" => EthtoolLinkSettings {
        cmd: u32,
        speed: u32,
        duplex: u8,
        port: u8,
        phy_address: u8,
        autoneg: u8,
        mdio_support: u8,
        eth_tp_mdix: u8,
        eth_tp_mdix_ctrl: u8,
        link_mode_masks_nwords: i8,
        transceiver: u8,
        master_slave_cfg: u8,
        master_slave_state: u8,
        rate_matching: u8,
        reserved: [u32; 7],
    }

    /// `struct ethtool_cmd` (the deprecated `ETHTOOL_GSET`).
    "struct ethtool_cmd" => EthtoolCmd {
        cmd: u32,
        supported: u32,
        advertising: u32,
        speed: u16,
        duplex: u8,
        port: u8,
        phy_address: u8,
        transceiver: u8,
        autoneg: u8,
        mdio_support: u8,
        maxtxpkt: u32,
        maxrxpkt: u32,
        speed_hi: u16,
        eth_tp_mdix: u8,
        eth_tp_mdix_ctrl: u8,
        lp_advertising: u32,
        reserved: [u32; 2],
    }
}

/// The C headers the constants above come from, in an order that compiles.
pub const HEADERS: &[&str] = &[
    "sys/socket.h",
    "linux/netlink.h",
    "linux/genetlink.h",
    "linux/ip_vs.h",
    "linux/netfilter/nfnetlink.h",
    "linux/netfilter/nfnetlink_conntrack.h",
    "linux/rtnetlink.h",
    "linux/if_link.h",
    "linux/if_addr.h",
    "linux/if.h",
    "linux/if_arp.h",
    "linux/ethtool.h",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_listed_once() {
        let mut names: Vec<&str> = NUMBERS.iter().chain(LAYOUTS).map(|c| c.c).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
        assert!(NUMBERS.len() > 130, "{}", NUMBERS.len());
    }

    #[test]
    fn every_number_is_declared_through_a_checked_list() {
        // A `pub const` written outside the macros would escape the header check.
        let source = include_str!("uapi.rs");
        let loose: Vec<&str> = source
            .lines()
            .filter(|line| line.starts_with("pub const ") || line.starts_with("const "))
            .filter(|line| !line.starts_with("pub const HEADERS:"))
            .collect();
        assert_eq!(loose, Vec::<&str>::new());
    }

    #[test]
    fn widths_and_signs_follow_the_rust_types() {
        let find = |name: &str| NUMBERS.iter().find(|c| c.c == name).copied();
        assert_eq!(
            find("SPEED_UNKNOWN").map(|c| (c.bits, c.signed)),
            Some((32, false))
        );
        assert_eq!(
            find("NETLINK_GENERIC").map(|c| (c.bits, c.signed)),
            Some((32, true))
        );
        assert_eq!(find("NLM_F_DUMP").map(|c| c.value), Some(0x300));
        assert_eq!(NLM_F_DUMP, NLM_F_ROOT | NLM_F_MATCH);
        assert_eq!(NLA_TYPE_MASK, !(NLA_F_NESTED | NLA_F_NET_BYTEORDER));
    }
}
