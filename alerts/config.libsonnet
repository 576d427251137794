// The one configuration of the mixin, read by the alerts, the recording rules and the dashboards:
// which series are the exporter's, how hosts and fleets are told apart, the windows, every
// threshold and every `for:`, and the dashboards' names and uids. Override any field with
// `_config+:: { ... }` on the top-level mixin.libsonnet.
{
  _config+:: {
    // The exporter's series: put in every selector of every rule and every dashboard query.
    // The recording rules keep only the host and service labels, so the labels it matches on
    // must be among hostLabels (job is).
    ipvsSelector: 'job="ipvs_exporter"',

    // The label that names a fleet in multi-cluster setups (Thanos, Mimir); series without
    // it still work (an absent label is an empty one). VRRP split brain and missing masters
    // are judged per (cluster label, vrid).
    clusterLabel: 'cluster',
    showMultiCluster: false,

    // The labels that tell one exporter (one host) from another.
    hostLabels: [self.clusterLabel, 'job', 'instance'],

    // The labels a real server has beyond its service's (the exporter's defaults, see
    // --collector.ipvs.backend-labels).
    backendOnlyLabels: ['remote_address', 'remote_port'],
    // The labels of a virtual service, besides the host labels; `netns` is empty outside
    // --collector.ipvs.netns.
    serviceLabels: ['netns', 'proto', 'local_address', 'local_port', 'local_mark'],

    // The rate window of the recording rules; their names end in rate<rateInterval>.
    rateInterval: '5m',

    alertNamePrefix: 'Ipvs',
    // Where the runbooks are: each alert links to <runbookURLBase>#<alert name in lower case>.
    runbookURLBase: 'https://github.com/ipvs-exporter/ipvs_exporter/blob/main/docs/runbooks.md',

    // Dashboards (used by dashboards/).
    dashboardNamePrefix: 'IPVS / ',
    dashboardTags: ['ipvs', 'ipvs_exporter'],
    dashboardUIDs: {
      fleet: 'ipvs-fleet',
      service: 'ipvs-virtual-service',
      host: 'ipvs-host-tuning',
      vrrp: 'ipvs-keepalived-vrrp',
    },
    // the runbook section the advisor's findings link to
    advisorRunbookAnchor: 'ipvsadvisorcriticalfinding',
    // the offload features the host dashboard lists
    dashboardOffloads: 'rx-gro|rx-lro|tx-tcp-segmentation|tx-generic-segmentation|rx-checksum|tx-checksum-ip-generic|rx-vlan-hw-parse|rx-hashing',

    // Thresholds and windows of the alerts.
    // IpvsServicesGone: a host counts as having had services if it had any in this window.
    servicesGoneLookback: '6h',
    // IpvsBackendQuiescedGetsConnections: the window new connections are counted over.
    quiescedNewConnectionsWindow: '5m',
    // IpvsTrafficFarFromWeights: the schedulers under which a real server's share of new
    // connections should follow its share of the weight ...
    weightedSchedulers: ['wrr', 'wlc', 'sed'],
    // ... how far (absolute, 0.25 = 25 points of share) the two may be apart ...
    trafficWeightShareDeviation: 0.25,
    // ... and the least rate of new connections (per second, whole service) worth judging.
    trafficWeightMinConnectionRate: 1,
    // IpvsCountersFrozen: no packet counted over this window while connections are active
    // (longer than IPVS's 900 s TCP established timeout, so idle connections have expired).
    countersFrozenWindow: '20m',
    // IpvsConntrackTableFilling / Full: share of nf_conntrack_max in use.
    conntrackWarningRatio: 0.75,
    conntrackCriticalRatio: 0.90,
    // IpvsSoftnetTimeSqueezes: squeezes per second, host total.
    softnetSqueezeRate: 1,
    // IpvsNicInterruptsOnOneCPU: imbalance ratio (0 even .. 1 all on one CPU), and the least
    // interrupt rate (per second, whole device) worth judging.
    nicInterruptImbalanceRatio: 0.8,
    nicInterruptMinRate: 100,
    // VRRP: the window adverts are counted over (a sender is current if heard in it).
    vrrpAdvertWindow: '1m',
    // IpvsVrrpFlapping: changes of a VRRP instance at which it flaps. The exporter counts changes
    // into MASTER (ipvs_vrrp_became_master_recent, over its own flapping window, from keepalived's
    // notify FIFO or JSON dump) where it has that count, and otherwise as changes of MASTER
    // state sampled by the scrapes within vrrpFlapWindow.
    vrrpFlapWindow: '15m',
    vrrpFlapChanges: 3,
    // IpvsVrrpMemberUnseen: a host that had VRRP instances within vrrpMemberLookback (as far
    // back as a member is remembered; `ipvs_exporter fleet --lookback`) and has had no
    // successful scrape for vrrpMemberUnseenAfter (as long as IpvsExporterDown waits, so that
    // the two fire together and the inhibition in alerts/alertmanager.yml holds).
    vrrpMemberLookback: '1h',
    vrrpMemberUnseenAfter: '5m',
    // IpvsKeepalivedConfigDrift: the advisor rules that compare keepalived's virtual servers
    // with the kernel's table. Their findings alert there, not as IpvsAdvisor*Finding.
    keepalivedDriftRules: [
      'keepalived-unmanaged-service',
      'keepalived-unmanaged-real-server',
      'keepalived-virtual-server-absent',
      'keepalived-service-settings-drift',
    ],
    // IpvsAdvisorRuleSkipped: rules whose skipping is expected on many hosts (no conntrack
    // loaded on a DR director) are left out.
    advisorSkippedRuleSelector: 'rule!~"conntrack-.*"',

    // `for:` of each alert, by its name without the prefix.
    forDurations: {
      ExporterDown: '5m',
      CollectorFailing: '15m',
      ServicesGone: '2m',
      ServiceWithoutRealServer: '2m',
      DrainNotFinishing: '1h',
      BackendQuiescedGetsConnections: '15m',
      TrafficFarFromWeights: '30m',
      EstimationDisabled: '10m',
      CountersFrozen: '10m',
      ConntrackTableFilling: '15m',
      ConntrackTableFull: '5m',
      ConntrackDrops: '10m',
      SoftnetDrops: '10m',
      SoftnetTimeSqueezes: '30m',
      NicInterruptsOnOneCPU: '30m',
      VrrpSplitBrain: '1m',
      VrrpSplitBrainAdverts: '2m',
      VrrpNoMaster: '1m',
      VrrpFlapping: '1m',
      VrrpEqualPriority: '15m',
      VrrpMemberUnseen: '1m',
      VrrpMembersServicesDiffer: '15m',
      VrrpMembersWeightsDiffer: '15m',
      KeepalivedDown: '2m',
      KeepalivedConfigErrors: '15m',
      VrrpPriorityBelowBase: '5m',
      KeepalivedRealServerDown: '5m',
      KeepalivedQuorumLost: '2m',
      KeepalivedSorryServerActive: '5m',
      KeepalivedConfigDrift: '15m',
      AdvisorCriticalFinding: '5m',
      AdvisorWarningFinding: '30m',
      AdvisorRuleSkipped: '2h',
    },
  },
}
