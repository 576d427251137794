// The dashboards' settings: alerts/config.libsonnet is the one place for the selectors, the
// cluster label, the thresholds, the runbook location and the dashboards' uids and tags; what
// only the dashboards need is added here.
(import '../../alerts/config.libsonnet')._config + {
  dashboardNamePrefix: 'IPVS / ',
  // the runbook section the advisor's findings link to
  advisorRunbookAnchor: 'ipvsadvisorcriticalfinding',
  // the offload features the host dashboard lists
  dashboardOffloads: 'rx-gro|rx-lro|tx-tcp-segmentation|tx-generic-segmentation|rx-checksum|tx-checksum-ip-generic|rx-vlan-hw-parse|rx-hashing',
}
