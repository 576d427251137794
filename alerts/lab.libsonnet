// The lab's variant (alerts/generate.sh --lab OUTDIR): the same rules with `for:` and alert
// windows short enough for the lab's Prometheus, which scrapes every second through phases
// of about half a minute. Recording rule names and thresholds do not change.
{
  _config+:: {
    servicesGoneLookback: '10m',
    quiescedNewConnectionsWindow: '10s',
    // longer than the lab's phases without traffic: its held connections are idle (no packet)
    // and IPVS keeps them active for 900 s, longer than the lab runs
    countersFrozenWindow: '3m',
    vrrpAdvertWindow: '5s',
    vrrpFlapWindow: '2m',
    forDurations: {
      [name]: '10s'
      for name in std.objectFields(super.forDurations)
    } + {
      // longer than the advert window plus a scrape, so that a master that just died is not
      // counted with its successor
      VrrpSplitBrainAdverts: '15s',
      // longer than the window of new connections, so that a fresh drain does not count
      BackendQuiescedGetsConnections: '15s',
    },
  },
}
