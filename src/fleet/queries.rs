//! The PromQL `fleet` sends: one instant query per [`Query`], each aggregated by host (and by
//! service or VRRP instance where it must be), so their number is fixed however many hosts
//! and services the fleet has. Every selector carries the operator's `--selector`.

use serde::Serialize;

/// What a fleet run asks Prometheus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOptions {
    /// Label matchers without braces, such as `job="ipvs_exporter"` (may be empty).
    pub selector: String,
    /// The label that names a cluster (`cluster`).
    pub cluster_label: String,
    /// How far back a host that stopped reporting is still known: a PromQL duration.
    pub lookback: String,
}

/// One query of the fixed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Query {
    /// Every exporter: 1 up, 0 down, -1 stale (seen within the lookback, not now).
    Up,
    /// Each VRRP instance's current state (last known, for hosts not up now).
    VrrpState,
    /// Each VRRP instance's virtual addresses (last known, for hosts not up now).
    VrrpAddresses,
    /// Each VRRP instance's configured priority.
    VrrpPriority,
    /// Routers heard advertising a VRID at a priority above 0 lately
    /// (`--collector.vrrp.listen`): a MASTER, seen or not.
    VrrpPeers,
    /// VRRP instances that received adverts with another advert interval lately.
    VrrpAdvertInterval,
    /// Virtual services of hosts in a VRRP group or with a cluster label.
    Services,
    /// Their persistence timeouts.
    Persistence,
    /// Their real servers: kernel weight, forwarding method.
    RealServers,
    /// Their real servers as keepalived's configuration has them, with the configured weight.
    KeepalivedRealServers,
    /// Running IPVS connection sync daemons.
    SyncDaemons,
    /// Connections held per virtual service, on hosts that run a sync daemon.
    HeldConnections,
    /// Every host's open advisor findings.
    AdvisorFindings,
    /// Every exporter's version.
    BuildInfo,
}

/// The window within which a router heard advertising counts as advertising now (the alert
/// rules' `vrrpAdvertWindow`).
pub const ADVERT_WINDOW: &str = "1m";

/// The window over which receiving adverts of another interval counts.
pub const ADVERT_INTERVAL_WINDOW: &str = "10m";

impl Query {
    /// Every query, in the order they are sent.
    pub const ALL: [Query; 14] = [
        Query::Up,
        Query::VrrpState,
        Query::VrrpAddresses,
        Query::VrrpPriority,
        Query::VrrpPeers,
        Query::VrrpAdvertInterval,
        Query::Services,
        Query::Persistence,
        Query::RealServers,
        Query::KeepalivedRealServers,
        Query::SyncDaemons,
        Query::HeldConnections,
        Query::AdvisorFindings,
        Query::BuildInfo,
    ];

    /// The query's name in messages and JSON: `vrrp-state`.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The PromQL of this query.
    pub fn promql(self, options: &QueryOptions) -> String {
        let q = Promql::new(options);
        let host = q.host.as_str();
        let service = q.service();
        match self {
            Query::Up => q.up(),
            Query::VrrpState => q.vrrp_state(),
            Query::VrrpAddresses => q.vrrp_addresses(),
            Query::VrrpPriority => format!(
                "max by ({host}, vrrp_instance) ({})",
                q.sel("ipvs_vrrp_priority", &[])
            ),
            Query::VrrpPeers => format!(
                "max by ({host}, vrid, source) ({} > 0 and on ({host}, interface, vrid, source) rate({}[{ADVERT_WINDOW}]) > 0)",
                q.sel("ipvs_vrrp_peer_priority", &[]),
                q.sel("ipvs_vrrp_peer_advertisements_total", &[])
            ),
            Query::VrrpAdvertInterval => q.vrrp_advert_interval(),
            Query::Services => format!(
                "max by ({service}, scheduler, flags, persistent) ({}) and on ({host}) {}",
                q.sel("ipvs_service_info", &[]),
                q.grouped()
            ),
            Query::Persistence => format!(
                "max by ({service}) ({}) and on ({host}) {}",
                q.sel("ipvs_service_persistence_timeout_seconds", &[]),
                q.grouped()
            ),
            Query::RealServers => q.real_servers(),
            Query::KeepalivedRealServers => format!(
                "max by ({host}, proto, local_address, local_port, local_mark, virtual_server_group, remote_address, remote_port) ({}) and on ({host}) {}",
                q.sel("ipvs_keepalived_real_server_configured_weight", &[]),
                q.grouped()
            ),
            Query::SyncDaemons => format!(
                "max by ({host}, netns, state, syncid) ({})",
                q.sel("ipvs_sync_daemon_info", &[])
            ),
            Query::HeldConnections => format!(
                "sum by ({service}) ({} + {}) and on ({host}) group by ({host}) ({})",
                q.sel("ipvs_backend_connections_active", &[]),
                q.sel("ipvs_backend_connections_inactive", &[]),
                q.sel("ipvs_sync_daemon_info", &[])
            ),
            Query::AdvisorFindings => format!(
                "max by ({host}, rule, severity, subject) ({} == 1)",
                q.sel("ipvs_advisor_finding", &[])
            ),
            Query::BuildInfo => format!(
                "max by ({host}, version, revision) ({})",
                q.sel("ipvs_exporter_build_info", &[])
            ),
        }
    }
}

/// Writes selectors with the operator's matchers.
struct Promql<'a> {
    selector: &'a str,
    /// `cluster, job, instance`: the labels that tell hosts apart.
    host: String,
    cluster_label: &'a str,
    lookback: &'a str,
}

impl<'a> Promql<'a> {
    fn new(options: &'a QueryOptions) -> Self {
        Promql {
            selector: options.selector.trim(),
            host: format!("{}, job, instance", options.cluster_label),
            cluster_label: &options.cluster_label,
            lookback: &options.lookback,
        }
    }

    /// The labels that tell virtual services apart.
    fn service(&self) -> String {
        format!(
            "{}, netns, proto, local_address, local_port, local_mark",
            self.host
        )
    }

    /// Hosts whose services are compared: members of a VRRP group or of a cluster.
    fn grouped(&self) -> String {
        let host = &self.host;
        format!(
            "(group by ({host}) ({}) or group by ({host}) ({}))",
            self.sel("ipvs_vrrp_state", &[]),
            self.sel("ipvs_up", &[&format!("{}!=\"\"", self.cluster_label)]),
        )
    }

    /// Hosts scraped now.
    fn up_now(&self) -> String {
        format!("({} == 1)", self.sel("up", &[]))
    }

    /// 1 up, 0 down, -1 seen within the lookback but not now.
    fn up(&self) -> String {
        let (host, lookback) = (&self.host, self.lookback);
        format!(
            "max by ({host}) ({up}) or max by ({host}) (last_over_time({up}[{lookback}])) * 0 - 1",
            up = self.sel("up", &[])
        )
    }

    /// Each instance's state, the last known one for hosts not up now.
    fn vrrp_state(&self) -> String {
        let (host, lookback, up_now) = (&self.host, self.lookback, self.up_now());
        let state = self.sel("ipvs_vrrp_state", &["vrid!=\"\""]);
        let by = format!("{host}, vrrp_instance, vrid, state");
        format!(
            "max by ({by}) ({state} == 1) or max by ({by}) (last_over_time({state}[{lookback}]) == 1 unless on ({host}) {up_now})"
        )
    }

    /// Each instance's addresses, the last known ones for hosts not up now.
    fn vrrp_addresses(&self) -> String {
        let (host, lookback, up_now) = (&self.host, self.lookback, self.up_now());
        let vips = self.sel("ipvs_vrrp_vip_present", &[]);
        let by = format!("{host}, vrrp_instance, address");
        format!(
            "max by ({by}) ({vips}) or max by ({by}) (last_over_time({vips}[{lookback}]) unless on ({host}) {up_now})"
        )
    }

    /// How far the counter rose within the window from its lowest value there: the samples'
    /// own difference, which Prometheus and VictoriaMetrics agree on. increase() does not:
    /// Prometheus extrapolates it to the window's ends, and VictoriaMetrics takes a small
    /// first value of a series first seen within the window as an increase from 0 (a host
    /// scraped for the first time would show adverts it counted long before).
    fn vrrp_advert_interval(&self) -> String {
        let host = &self.host;
        let errors = self.sel(
            "ipvs_vrrp_advert_errors_total",
            &["reason=\"advert_interval\""],
        );
        format!(
            "sum by ({host}, vrrp_instance) ({errors} - min_over_time({errors}[{ADVERT_INTERVAL_WINDOW}])) > 0"
        )
    }

    /// Real servers with their kernel weight and forwarding method, of grouped hosts.
    fn real_servers(&self) -> String {
        let host = &self.host;
        let real = format!("{}, remote_address, remote_port", self.service());
        format!(
            "max by ({real}, forward) ({} * on ({real}) group_left (forward) {}) and on ({host}) {}",
            self.sel("ipvs_backend_weight", &[]),
            self.sel("ipvs_backend_info", &[]),
            self.grouped()
        )
    }

    /// `metric{selector, extra...}`.
    fn sel(&self, metric: &str, extra: &[&str]) -> String {
        let matchers: Vec<&str> = std::iter::once(self.selector)
            .chain(extra.iter().copied())
            .filter(|m| !m.is_empty())
            .collect();
        format!("{metric}{{{}}}", matchers.join(", "))
    }
}

/// A duration as PromQL writes it: whole seconds, or milliseconds when it has a fraction.
pub fn promql_duration(duration: std::time::Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// The matchers of `--selector`, without the braces if they were given with them.
pub fn normalise_selector(text: &str) -> String {
    let trimmed = text.trim();
    trimmed
        .strip_prefix('{')
        .and_then(|inner| inner.strip_suffix('}'))
        .unwrap_or(trimmed)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> QueryOptions {
        QueryOptions {
            selector: "job=\"ipvs_exporter\"".into(),
            cluster_label: "cluster".into(),
            lookback: "1h".into(),
        }
    }

    #[test]
    fn every_selector_carries_the_operators_matchers() {
        for query in Query::ALL {
            let promql = query.promql(&options());
            // every `{` opens a selector that starts with the job matcher
            for (at, _) in promql.match_indices('{') {
                assert!(
                    promql[at..].starts_with("{job=\"ipvs_exporter\""),
                    "{query:?}: {promql}"
                );
            }
            assert!(promql.contains("cluster, job, instance"), "{promql}");
        }
    }

    #[test]
    fn docs_name_every_query_and_their_number() {
        let docs = include_str!("../../docs/fleet.md");
        for query in Query::ALL {
            assert!(
                docs.contains(&format!("| `{}` |", query.name())),
                "{query:?}"
            );
        }
        let count = Query::ALL.len();
        assert!(docs.contains(&format!("fleet sends {count} instant queries")));
        assert!(docs.contains(&format!("\"queries\": {count}")));
    }

    #[test]
    fn the_list_is_fixed_and_each_query_once() {
        let mut all = Query::ALL.to_vec();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), Query::ALL.len());
    }

    #[test]
    fn an_empty_selector_leaves_valid_selectors() {
        let options = QueryOptions {
            selector: String::new(),
            ..options()
        };
        assert_eq!(
            Query::BuildInfo.promql(&options),
            "max by (cluster, job, instance, version, revision) (ipvs_exporter_build_info{})"
        );
        assert!(
            Query::VrrpState
                .promql(&options)
                .contains("ipvs_vrrp_state{vrid!=\"\"}")
        );
    }

    #[test]
    fn names_and_durations_read_as_promql_and_json_have_them() {
        assert_eq!(Query::VrrpAdvertInterval.name(), "vrrp-advert-interval");
        assert_eq!(
            promql_duration(std::time::Duration::from_secs(3600)),
            "3600s"
        );
        assert_eq!(
            promql_duration(std::time::Duration::from_millis(1500)),
            "1500ms"
        );
    }

    #[test]
    fn selectors_are_taken_with_or_without_braces() {
        assert_eq!(normalise_selector("{job=\"a\"}"), "job=\"a\"");
        assert_eq!(
            normalise_selector(" job=\"a\", env=\"b\" "),
            "job=\"a\", env=\"b\""
        );
        assert_eq!(normalise_selector("{}"), "");
    }
}
