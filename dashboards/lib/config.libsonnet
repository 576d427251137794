// The dashboards' settings. Selectors, the cluster label and the runbook location come from
// alerts/config.libsonnet, the one place the alerts and the dashboards share; what only the
// dashboards need has its default here.
local shared = {
  ipvsSelector: 'job="ipvs_exporter"',
  clusterLabel: 'cluster',
  showMultiCluster: false,
  alertNamePrefix: 'Ipvs',
  runbookURLBase: 'https://github.com/ipvs-exporter/ipvs_exporter/blob/main/docs/runbooks.md',
};

{
  dashboardTags: ['ipvs', 'ipvs_exporter'],
  dashboardNamePrefix: 'IPVS / ',
  dashboardUIDs: {
    fleet: 'ipvs-fleet',
    service: 'ipvs-virtual-service',
    host: 'ipvs-host-tuning',
    vrrp: 'ipvs-keepalived-vrrp',
  },
} + shared
+ {
  // thresholds of the conntrack gauge (the alerts' own)
  conntrackWarningPercent: 75,
  conntrackCriticalPercent: 90,
  // the runbook section the advisor's findings link to
  advisorRunbookAnchor: 'ipvsadvisorcriticalfinding',
  // the offload features the host dashboard lists
  dashboardOffloads: 'rx-gro|rx-lro|tx-tcp-segmentation|tx-generic-segmentation|rx-checksum|tx-checksum-ip-generic|rx-vlan-hw-parse|rx-hashing',
}
