// The lab's variant (alerts/generate.sh --lab OUTDIR): the same rules with `for:` and alert
// windows short enough for the lab's Prometheus, which scrapes every three seconds through phases
// of about half a minute. Recording rule names and thresholds do not change.
{
  _config+:: {
    servicesGoneLookback: '10m',
    quiescedNewConnectionsWindow: '10s',
    // the lab's traffic runs from its traffic phase to the end, so packets are counted every
    // few seconds until estimation is turned off in the misconfiguration phase
    countersFrozenWindow: '30s',
    vrrpAdvertWindow: '5s',
    vrrpFlapWindow: '2m',
    vrrpMemberLookback: '10m',
    // as long as IpvsExporterDown's for: below
    vrrpMemberUnseenAfter: '30s',
    forDurations: {
      [name]: '10s'
      for name in std.objectFields(super.forDurations)
    } + {
      // longer than the advert window plus a scrape, so that a master that just died is not
      // counted with its successor
      VrrpSplitBrainAdverts: '15s',
      // longer than the window of new connections, so that a fresh drain does not count
      BackendQuiescedGetsConnections: '15s',
      // several scrapes (every 3 s in the lab): a starved guest that misses a few in a row is
      // not an exporter down
      ExporterDown: '30s',
    },
  },
}
