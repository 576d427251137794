// Recording rules, named level:metric:operations. The per-real-server and per-service rates
// and weight shares are what the dashboards and the alerts read, so that neither recomputes
// them over 20,000 real servers on every refresh. The order in the group matters: a rule may
// read the ones above it (rules of one group are evaluated in order).
{
  prometheusRules+:: {
    local c = $._config,
    local l = (import 'lib.libsonnet').new(c),
    local r = l.rate,
    local rateOf(metric) = 'rate(%s%s[%s])' % [metric, l.sel(), c.rateInterval],

    groups+: [
      {
        name: 'ipvs_exporter.rules',
        rules: [
          // ---- per real server (all labels kept)
          {
            record: 'backend:ipvs_backend_connections:' + r,
            expr: rateOf('ipvs_backend_connections_total'),
          },
          {
            record: 'backend:ipvs_backend_incoming_bytes:' + r,
            expr: rateOf('ipvs_backend_incoming_bytes_total'),
          },
          {
            record: 'backend:ipvs_backend_outgoing_bytes:' + r,
            expr: rateOf('ipvs_backend_outgoing_bytes_total'),
          },
          // ---- per virtual service
          {
            record: 'service:ipvs_service_connections:' + r,
            expr: rateOf('ipvs_service_connections_total'),
          },
          {
            record: 'service:ipvs_service_incoming_packets:' + r,
            expr: rateOf('ipvs_service_incoming_packets_total'),
          },
          {
            record: 'service:ipvs_service_outgoing_packets:' + r,
            expr: rateOf('ipvs_service_outgoing_packets_total'),
          },
          {
            record: 'service:ipvs_service_incoming_bytes:' + r,
            expr: rateOf('ipvs_service_incoming_bytes_total'),
          },
          {
            record: 'service:ipvs_service_outgoing_bytes:' + r,
            expr: rateOf('ipvs_service_outgoing_bytes_total'),
          },
          // the service's new connections as the sum of its real servers' (the denominator
          // of the shares below, so that they add up to 1)
          {
            record: 'service:ipvs_backend_connections:' + r,
            expr: 'sum without (%s) (backend:ipvs_backend_connections:%s%s)' % [l.backendOnly, r, l.sel()],
          },
          {
            record: 'service:ipvs_backend_weight:sum',
            expr: 'sum without (%s) (ipvs_backend_weight%s)' % [l.backendOnly, l.sel()],
          },
          {
            record: 'service:ipvs_backends:count',
            expr: 'count without (%s) (ipvs_backend_weight%s)' % [l.backendOnly, l.sel()],
          },
          {
            record: 'service:ipvs_backends_weighted:count',
            expr: 'sum without (%s) (ipvs_backend_weight%s > bool 0)' % [l.backendOnly, l.sel()],
          },
          {
            record: 'service:ipvs_backend_connections_active:sum',
            expr: 'sum without (%s) (ipvs_backend_connections_active%s)' % [l.backendOnly, l.sel()],
          },
          {
            record: 'service:ipvs_backend_connections_inactive:sum',
            expr: 'sum without (%s) (ipvs_backend_connections_inactive%s)' % [l.backendOnly, l.sel()],
          },
          // ---- shares of a real server within its service (0..1)
          {
            record: 'backend:ipvs_backend_weight:ratio',
            expr: |||
              ipvs_backend_weight%(sel)s
                / ignoring (%(b)s) group_left ()
              (service:ipvs_backend_weight:sum%(sel)s > 0)
            ||| % { sel: l.sel(), b: l.backendOnly },
          },
          {
            record: 'backend:ipvs_backend_connections:ratio_' + r,
            expr: |||
              backend:ipvs_backend_connections:%(r)s%(sel)s
                / ignoring (%(b)s) group_left ()
              (service:ipvs_backend_connections:%(r)s%(sel)s > 0)
            ||| % { sel: l.sel(), b: l.backendOnly, r: r },
          },
          // ---- per host
          {
            // 0 on a host with IPVS and no service, so that a table that emptied is seen
            record: 'instance:ipvs_services:count',
            expr: |||
              count by (%(h)s) (ipvs_service_info%(sel)s)
                or
              sum by (%(h)s) (0 * ipvs_up%(sel)s)
            ||| % { h: l.host, sel: l.sel() },
          },
          {
            record: 'instance:ipvs_backends:count',
            expr: |||
              count by (%(h)s) (ipvs_backend_info%(sel)s)
                or
              sum by (%(h)s) (0 * ipvs_up%(sel)s)
            ||| % { h: l.host, sel: l.sel() },
          },
          {
            record: 'instance:ipvs_connections:' + r,
            expr: rateOf('ipvs_connections_total'),
          },
          {
            record: 'instance:ipvs_incoming_bytes:' + r,
            expr: rateOf('ipvs_incoming_bytes_total'),
          },
          {
            record: 'instance:ipvs_outgoing_bytes:' + r,
            expr: rateOf('ipvs_outgoing_bytes_total'),
          },
          {
            record: 'instance:ipvs_conntrack_entries:ratio',
            expr: 'ipvs_conntrack_entries%(sel)s / (ipvs_conntrack_entries_limit%(sel)s > 0)' % { sel: l.sel() },
          },
        ] + [
          // connections conntrack lost, one series per statistic
          {
            record: 'instance:ipvs_conntrack_drops:' + r,
            expr: rateOf('ipvs_conntrack_%s_total' % statistic),
            labels: { statistic: statistic },
          }
          for statistic in ['drop', 'early_drop', 'insert_failed']
        ] + [
          {
            record: 'instance:ipvs_softnet_dropped:' + r,
            expr: 'sum without (cpu) (%s)' % rateOf('ipvs_softnet_dropped_total'),
          },
          {
            record: 'instance:ipvs_softnet_times_squeezed:' + r,
            expr: 'sum without (cpu) (%s)' % rateOf('ipvs_softnet_times_squeezed_total'),
          },
          {
            record: 'instance_device:ipvs_netdev_interrupts:' + r,
            expr: 'sum without (irq, queue, cpu) (%s)' % rateOf('ipvs_netdev_interrupts_total'),
          },
          // ---- per VRRP router (VRID) across the fleet
          {
            // hosts that hold the VRID as MASTER (0: none)
            record: 'vrid:ipvs_vrrp_masters:sum',
            expr: 'sum by (%s, vrid) (ipvs_vrrp_state%s)' % [c.clusterLabel, l.sel(['state="MASTER"', 'vrid!=""'])],
          },
          {
            // distinct routers heard advertising the VRID at a priority above 0 lately
            record: 'vrid:ipvs_vrrp_peer_sources:count',
            expr: |||
              count by (%(cl)s, vrid) (
                count by (%(cl)s, vrid, source) (
                  rate(ipvs_vrrp_peer_advertisements_total%(sel)s[%(w)s]) > 0
                    and
                  ipvs_vrrp_peer_priority%(sel)s > 0
                )
              )
            ||| % { cl: c.clusterLabel, sel: l.sel(), w: c.vrrpAdvertWindow },
          },
          {
            // members seen: hosts reporting an instance of the VRID now, whatever its state
            record: 'vrid:ipvs_vrrp_members:count',
            expr: 'count by (%s, vrid) (group by (%s, vrid) (ipvs_vrrp_state%s))' % [c.clusterLabel, l.host, l.sel(['vrid!=""'])],
          },
          {
            // each member's configured priority, with the VRID of its instance (the priority
            // series carry only vrrp_instance; the state series name the VRID)
            record: 'instance_vrid:ipvs_vrrp_priority:max',
            expr: |||
              max by (%(h)s, vrid) (
                ipvs_vrrp_priority%(sel)s
                  * on (%(h)s, vrrp_instance) group_left (vrid)
                group by (%(h)s, vrrp_instance, vrid) (ipvs_vrrp_state%(vrid)s)
              )
            ||| % { h: l.host, sel: l.sel(), vrid: l.sel(['vrid!=""']) },
          },
          {
            // each host's VRRP virtual addresses as `local_address`, with the VRID of the
            // instance that has them configured (on a BACKUP too), one per host and address:
            // what ties a virtual service to its VRRP group
            record: 'instance_address:ipvs_vrrp_vip:vrid',
            expr: |||
              topk by (%(h)s, local_address) (1,
                label_replace(
                  group by (%(h)s, vrid, address) (
                    ipvs_vrrp_vip_present%(sel)s
                      * on (%(h)s, vrrp_instance) group_left (vrid)
                    group by (%(h)s, vrrp_instance, vrid) (ipvs_vrrp_state%(vrid)s)
                  ),
                  "local_address", "$1", "address", "(.*)"
                )
              )
            ||| % { h: l.host, sel: l.sel(), vrid: l.sel(['vrid!=""']) },
          },
        ],
      },
    ],
  },
}
