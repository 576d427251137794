// Alerts. Each has a severity (critical pages, warning makes a ticket, info is not routed), a
// fixed summary, a description that names where to look, and a runbook section in
// docs/runbooks.md named after it. Every threshold and `for:` is in config.libsonnet.
{
  prometheusAlerts+:: {
    local c = $._config,
    local l = (import 'lib.libsonnet').new(c),
    local r = l.rate,
    local alert(name, severity, expr, summary, description) = {
      alert: c.alertNamePrefix + name,
      expr: expr,
      'for': c.forDurations[name],
      labels: { severity: severity },
      annotations: {
        summary: summary,
        description: description,
        runbook_url: '%s#%s' % [c.runbookURLBase, std.asciiLower(c.alertNamePrefix + name)],
      },
    },
    // Appended to the rules about keepalived's decisions: they hold only while keepalived
    // runs. Without it its series say `unknown`; IpvsKeepalivedDown is the alert then.
    local whileKeepalivedRuns = 'and on (%s) ipvs_keepalived_up%s == 1' % [l.host, l.sel()],
    local driftRules = std.join('|', c.keepalivedDriftRules),
    // the labels of a keepalived virtual server (its expanded service, and its group)
    local keepalivedServiceLabels = ['proto', 'local_address', 'local_port', 'local_mark', 'virtual_server_group'],
    // a keepalived virtual server as ipvsadm would show it, with its group if it has one
    local virtualServerText = l.serviceText + '{{ if $labels.virtual_server_group }} (virtual_server_group {{ $labels.virtual_server_group }}){{ end }}',
    local weighted = l.sel([
      'scheduler=~"%s"' % std.join('|', c.weightedSchedulers),
      'persistent="false"',
    ]),

    groups+: [
      {
        name: 'ipvs_exporter.exporter',
        rules: [
          alert(
            'ExporterDown', 'warning',
            'up%s == 0' % l.sel(),
            'An ipvs_exporter target is down.',
            'Prometheus has not scraped the exporter on {{ $labels.instance }} (job {{ $labels.job }}) for %s: its load balancer, conntrack and VRRP alerts are blind there.' % c.forDurations.ExporterDown,
          ),
          alert(
            'CollectorFailing', 'warning',
            'ipvs_scrape_collector_success%s == 0' % l.sel(),
            'An ipvs_exporter collector is failing.',
            'The {{ $labels.collector }} collector of the exporter on {{ $labels.instance }} has failed every scrape for %s; its families are missing or stale. The exporter log says why.' % c.forDurations.CollectorFailing,
          ),
        ],
      },
      {
        name: 'ipvs_exporter.ipvs',
        rules: [
          alert(
            'ServicesGone', 'critical',
            |||
              max_over_time(instance:ipvs_services:count%(sel)s[%(w)s]) > 0
                and on (%(h)s)
              instance:ipvs_services:count%(sel)s == 0
            ||| % { sel: l.sel(), h: l.host, w: c.servicesGoneLookback },
            'IPVS has no virtual service any more on a host that had some.',
            '{{ $labels.instance }} had {{ $value }} IPVS virtual services within the last %s and has none now: the table was cleared or the ip_vs module unloaded.' % c.servicesGoneLookback,
          ),
          alert(
            'ServiceWithoutRealServer', 'critical',
            |||
              ipvs_service_info%(sel)s
                unless on (%(s)s)
              (ipvs_backend_weight%(sel)s > 0)
            ||| % { sel: l.sel(), s: l.service },
            'A virtual service has no usable real server.',
            'Virtual service %s on {{ $labels.instance }} has no real server with a weight above 0 (none at all, or all at weight 0): IPVS cannot schedule new connections to it.' % l.serviceText,
          ),
          alert(
            'DrainNotFinishing', 'warning',
            |||
              ipvs_backend_connections_active%(sel)s > 0
                and
              ipvs_backend_weight%(sel)s == 0
            ||| % { sel: l.sel() },
            'A real server at weight 0 still holds active connections.',
            'Real server %s of %s on {{ $labels.instance }} has had weight 0 for over %s and still holds {{ $value }} active connections.' % [l.backendText, l.serviceText, c.forDurations.DrainNotFinishing],
          ),
          alert(
            'BackendQuiescedGetsConnections', 'warning',
            |||
              increase(ipvs_backend_connections_total%(sel)s[%(w)s]) > 0
                and
              ipvs_backend_weight%(sel)s == 0
            ||| % { sel: l.sel(), w: c.quiescedNewConnectionsWindow },
            'A real server at weight 0 still gets new connections.',
            'Real server %s of %s on {{ $labels.instance }} has weight 0 but got {{ $value | humanize }} new connections in the last %s (persistence templates or connection reuse send clients back to it).' % [l.backendText, l.serviceText, c.quiescedNewConnectionsWindow],
          ),
          alert(
            'TrafficFarFromWeights', 'warning',
            |||
              (
                backend:ipvs_backend_connections:ratio_%(r)s%(sel)s - backend:ipvs_backend_weight:ratio%(sel)s > %(d)s
                  or
                backend:ipvs_backend_connections:ratio_%(r)s%(sel)s - backend:ipvs_backend_weight:ratio%(sel)s < -%(d)s
              )
                and on (%(s)s)
              service:ipvs_backend_connections:%(r)s%(sel)s >= %(min)s
                and on (%(s)s)
              ipvs_service_info%(weighted)s
            ||| % {
              sel: l.sel(),
              r: r,
              s: l.service,
              d: c.trafficWeightShareDeviation,
              min: c.trafficWeightMinConnectionRate,
              weighted: weighted,
            },
            "A real server's share of new connections is far from its share of the weight.",
            "Real server %s of %s on {{ $labels.instance }} gets a share of the service's new connections {{ $value | humanizePercentage }} away from its share of the weight (positive: more than its weight), under a scheduler that should follow the weights." % [l.backendText, l.serviceText],
          ),
          alert(
            'EstimationDisabled', 'warning',
            |||
              ipvs_estimation_enabled%(sel)s == 0
                and on (%(h)s)
              instance:ipvs_services:count%(sel)s > 0
            ||| % { sel: l.sel(), h: l.host },
            'IPVS rate estimation is off on a director.',
            'net.ipv4.vs.run_estimation is 0 on {{ $labels.instance }}: the kernel keeps neither rates nor traffic counters for its virtual services, so every traffic panel and rate alert there reads 0.',
          ),
          alert(
            'CountersFrozen', 'warning',
            |||
              sum by (%(h)s) (ipvs_backend_connections_active%(sel)s) > 0
                and on (%(h)s)
              sum by (%(h)s) (increase(ipvs_incoming_packets_total%(sel)s[%(w)s])) == 0
            ||| % { sel: l.sel(), h: l.host, w: c.countersFrozenWindow },
            'IPVS traffic counters are frozen while connections are active.',
            '{{ $labels.instance }} holds {{ $value }} active IPVS connections but its packet counters have not moved in %s: the kernel stopped counting (rate estimation off, or a kernel fault).' % c.countersFrozenWindow,
          ),
        ],
      },
      {
        name: 'ipvs_exporter.host',
        rules: [
          alert(
            'ConntrackTableFilling', 'warning',
            'instance:ipvs_conntrack_entries:ratio%s > %s' % [l.sel(), c.conntrackWarningRatio],
            'The conntrack table is filling up.',
            'The conntrack table of {{ $labels.instance }} is {{ $value | humanizePercentage }} full; new connections are dropped once it is full.',
          ),
          alert(
            'ConntrackTableFull', 'critical',
            'instance:ipvs_conntrack_entries:ratio%s > %s' % [l.sel(), c.conntrackCriticalRatio],
            'The conntrack table is nearly full.',
            'The conntrack table of {{ $labels.instance }} is {{ $value | humanizePercentage }} full; at 100 % every new flow is dropped.',
          ),
          alert(
            'ConntrackDrops', 'warning',
            'instance:ipvs_conntrack_drops:%s%s > 0' % [r, l.sel()],
            'conntrack is losing connections.',
            'conntrack on {{ $labels.instance }} counts {{ $value | humanize }} {{ $labels.statistic }} per second (ipvs_conntrack_{{ $labels.statistic }}_total).',
          ),
          alert(
            'SoftnetDrops', 'warning',
            'instance:ipvs_softnet_dropped:%s%s > 0' % [r, l.sel()],
            'Packets are dropped because a CPU backlog is full.',
            '{{ $labels.instance }} drops {{ $value | humanize }} packets per second at the per-CPU input backlog (softnet dropped); ipvs_softnet_dropped_total by cpu shows where.',
          ),
          alert(
            'SoftnetTimeSqueezes', 'info',
            'instance:ipvs_softnet_times_squeezed:%s%s > %s' % [r, l.sel(), c.softnetSqueezeRate],
            'The receive softirq keeps running out of budget.',
            '{{ $labels.instance }} runs out of net.core.netdev_budget {{ $value | humanize }} times per second (softnet time_squeezed); packets wait longer in the NIC rings.',
          ),
          alert(
            'NicInterruptsOnOneCPU', 'warning',
            |||
              ipvs_netdev_interrupt_imbalance_ratio%(sel)s > %(t)s
                and on (%(h)s, device)
              instance_device:ipvs_netdev_interrupts:%(r)s%(sel)s > %(min)s
            ||| % { sel: l.sel(), h: l.host, r: r, t: c.nicInterruptImbalanceRatio, min: c.nicInterruptMinRate },
            "A NIC's interrupts land on one CPU.",
            'The interrupts of {{ $labels.device }} on {{ $labels.instance }} fall unevenly on its CPUs (imbalance {{ $value | humanize }}, 1 meaning all on one CPU): one CPU does the receive work of all queues.',
          ),
        ],
      },
      {
        name: 'ipvs_exporter.vrrp',
        rules: [
          alert(
            'VrrpSplitBrain', 'critical',
            'vrid:ipvs_vrrp_masters:sum > 1',
            'More than one host is VRRP MASTER for one VRID.',
            '{{ $value }} hosts hold the virtual addresses of VRID {{ $labels.vrid }} as MASTER at once: clients reach either of them depending on their ARP cache.',
          ),
          alert(
            'VrrpSplitBrainAdverts', 'critical',
            'vrid:ipvs_vrrp_peer_sources:count > 1',
            'More than one router advertises for one VRID.',
            'The directors hear {{ $value }} different routers advertise VRID {{ $labels.vrid }} at a priority above 0 within %s: each believes it is MASTER.' % c.vrrpAdvertWindow,
          ),
          alert(
            'VrrpNoMaster', 'critical',
            // a master heard advertising is a master, even when its own exporter is down
            |||
              vrid:ipvs_vrrp_masters:sum == 0
                unless on (%(cl)s, vrid)
              vrid:ipvs_vrrp_peer_sources:count > 0
            ||| % { cl: c.clusterLabel },
            'No host is VRRP MASTER for a VRID.',
            'No host holds the virtual addresses of VRID {{ $labels.vrid }}: its virtual IPs are unreachable.',
          ),
          alert(
            'VrrpFlapping', 'warning',
            // the exporter's count where it has one (it sees changes between scrapes too);
            // else the changes of MASTER state the scrapes sampled
            |||
              (
                ipvs_vrrp_became_master_recent%(sel)s >= %(n)s
                  or
                (
                  sum without (state) (changes(ipvs_vrrp_state%(master)s[%(w)s])) >= %(n)s
                    unless on (%(h)s, vrrp_instance)
                  ipvs_vrrp_became_master_recent%(sel)s
                )
              )
              %(running)s
            ||| % { sel: l.sel(), master: l.sel(['state="MASTER"']), w: c.vrrpFlapWindow, n: c.vrrpFlapChanges, h: l.host, running: whileKeepalivedRuns },
            'A VRRP instance keeps changing role.',
            'VRRP instance {{ $labels.vrrp_instance }} on {{ $labels.instance }} {{ if $labels.vrid }}became or stopped being MASTER {{ $value }} times (VRID {{ $labels.vrid }}, as the scrapes sampled it) in %s{{ else }}became MASTER {{ $value }} times within the exporter\'s flapping window (as keepalived announced it){{ end }}.' % c.vrrpFlapWindow,
          ),
          alert(
            'VrrpEqualPriority', 'warning',
            'count_values by (%s, vrid) ("priority", instance_vrid:ipvs_vrrp_priority:max%s) > 1' % [c.clusterLabel, l.sel()],
            'Members of a VRRP group have the same priority.',
            '{{ $value }} members of VRID {{ $labels.vrid }} are configured with priority {{ $labels.priority }}: which of them becomes MASTER is left to their primary addresses and to timing, not to the configuration.',
          ),
          alert(
            'VrrpMemberUnseen', 'warning',
            |||
              group by (%(h)s, vrrp_instance, vrid) (last_over_time(ipvs_vrrp_state%(vrid)s[%(lookback)s]))
                unless on (%(h)s)
              max_over_time(up%(sel)s[%(after)s]) == 1
            ||| % { h: l.host, sel: l.sel(), vrid: l.sel(['vrid!=""']), lookback: c.vrrpMemberLookback, after: c.vrrpMemberUnseenAfter },
            'A member of a VRRP group is not seen.',
            'VRRP instance {{ $labels.vrrp_instance }} (VRID {{ $labels.vrid }}) on {{ $labels.instance }} was reported within %s but its exporter has not been scraped for %s: the group is judged without it (its split brain and missing MASTER alerts see only the others).' % [c.vrrpMemberLookback, c.vrrpMemberUnseenAfter],
          ),
          alert(
            'VrrpMembersServicesDiffer', 'warning',
            // the virtual services on a group's virtual addresses, counted by how they are
            // set up, against the members seen
            |||
              count by (%(cl)s, vrid, %(svc)s, scheduler, flags, persistent) (
                group by (%(h)s, %(svc)s, scheduler, flags, persistent) (ipvs_service_info%(sel)s)
                  * on (%(h)s, local_address) group_left (vrid)
                instance_address:ipvs_vrrp_vip:vrid%(sel)s
              )
                < on (%(cl)s, vrid) group_left ()
              vrid:ipvs_vrrp_members:count
            ||| % { cl: c.clusterLabel, h: l.host, svc: std.join(', ', c.serviceLabels), sel: l.sel() },
            'Members of a VRRP group do not have the same virtual services.',
            'Virtual service %s on a virtual address of VRID {{ $labels.vrid }} (scheduler {{ $labels.scheduler }}{{ if $labels.flags }}, flags {{ $labels.flags }}{{ end }}, persistent {{ $labels.persistent }}) is set up so on only {{ $value }} of the members seen: absent or set up otherwise on the others, it changes when the addresses move. `ipvs_exporter fleet` names the hosts.' % l.serviceText,
          ),
          alert(
            'VrrpMembersWeightsDiffer', 'warning',
            |||
              (
                max by (%(cl)s, vrid, %(rs)s) (%(weights)s)
                  -
                min by (%(cl)s, vrid, %(rs)s) (%(weights)s)
              ) > 0
            ||| % {
              cl: c.clusterLabel,
              rs: std.join(', ', c.serviceLabels + ['virtual_server_group'] + c.backendOnlyLabels),
              weights: 'ipvs_keepalived_real_server_configured_weight%(sel)s * on (%(h)s, local_address) group_left (vrid) instance_address:ipvs_vrrp_vip:vrid%(sel)s' % { sel: l.sel(), h: l.host },
            },
            'Members of a VRRP group configure different weights for one real server.',
            "Real server %s of virtual server %s on a virtual address of VRID {{ $labels.vrid }} has configured weights {{ $value }} apart on the group's members: after a failover the traffic is shared otherwise. `ipvs_exporter fleet` names the hosts and weights." % [l.backendText, virtualServerText],
          ),
          alert(
            'KeepalivedDown', 'critical',
            |||
              ipvs_keepalived_up%(sel)s == 0
                and on (%(h)s)
              (
                count by (%(h)s) (ipvs_vrrp_state%(sel)s) > 0
                  or
                sum by (%(h)s) (ipvs_keepalived_virtual_servers%(sel)s) > 0
              )
            ||| % { sel: l.sel(), h: l.host },
            'keepalived is not running where it is configured.',
            'keepalived is configured on {{ $labels.instance }} (VRRP instances or virtual servers) but no keepalived process runs: no failover to or from this host, and no health checks of its real servers.',
          ),
          alert(
            'KeepalivedConfigErrors', 'warning',
            'ipvs_keepalived_config_errors%s > 0' % l.sel(),
            "keepalived's configuration has errors.",
            "keepalived's configuration on {{ $labels.instance }} has {{ $value }} syntax errors or unreadable values (the exporter log names file and line); keepalived skips what it cannot parse.",
          ),
          alert(
            'VrrpPriorityBelowBase', 'warning',
            'ipvs_vrrp_effective_priority%(sel)s < ipvs_vrrp_priority%(sel)s' % { sel: l.sel() },
            'A VRRP instance runs below its configured priority.',
            'VRRP instance {{ $labels.vrrp_instance }} on {{ $labels.instance }} runs at effective priority {{ $value }}, below its configured priority: a tracked script or interface failed.',
          ),
          alert(
            'KeepalivedRealServerDown', 'warning',
            // a virtual server the kernel lacks altogether is IpvsKeepalivedConfigDrift's
            |||
              ipvs_keepalived_real_server_state%(sel)s == 1
                unless on (%(vs)s)
              ipvs_keepalived_virtual_server_present%(all)s == 0
              %(running)s
            ||| % { sel: l.sel(['state="down"']), all: l.sel(), vs: std.join(', ', c.hostLabels + keepalivedServiceLabels), running: whileKeepalivedRuns },
            "keepalived's health checks have taken a real server out.",
            "Real server %s of virtual server %s on {{ $labels.instance }} has been out of service for %s: keepalived's checks failed, and it is absent from the kernel's table or at weight 0 (inhibit_on_failure)." % [l.backendText, virtualServerText, c.forDurations.KeepalivedRealServerDown],
          ),
          alert(
            'KeepalivedQuorumLost', 'critical',
            |||
              ipvs_keepalived_virtual_server_quorum_up%(sel)s == 0
              %(running)s
            ||| % { sel: l.sel(), running: whileKeepalivedRuns },
            'A keepalived virtual server has lost its quorum.',
            'Virtual server %s on {{ $labels.instance }} has lost its quorum: the kernel weight of its real servers in service is below its quorum (less hysteresis). keepalived serves its sorry server if it has one, else what is left.' % virtualServerText,
          ),
          alert(
            'KeepalivedSorryServerActive', 'warning',
            |||
              ipvs_keepalived_virtual_server_sorry_server_active%(sel)s == 1
              %(running)s
            ||| % { sel: l.sel(), running: whileKeepalivedRuns },
            'A keepalived virtual server serves its sorry server.',
            "Virtual server %s on {{ $labels.instance }} has sent its clients to its sorry server for %s: too few of its real servers pass keepalived's checks." % [virtualServerText, c.forDurations.KeepalivedSorryServerActive],
          ),
          alert(
            'KeepalivedConfigDrift', 'warning',
            |||
              ipvs_advisor_finding%(sel)s == 1
              %(running)s
            ||| % { sel: l.sel(['rule=~"%s"' % driftRules]), running: whileKeepalivedRuns },
            "The kernel's IPVS table differs from keepalived's configuration.",
            'Advisor rule {{ $labels.rule }} finds {{ $labels.subject }} on {{ $labels.instance }}: the IPVS table and keepalived\'s virtual servers disagree (a change by hand with ipvsadm, or a configuration keepalived did not load). `ipvs_exporter doctor --explain {{ $labels.rule }}` explains the rule.',
          ),
        ],
      },
      {
        name: 'ipvs_exporter.advisor',
        rules: [
          alert(
            'AdvisorCriticalFinding', 'critical',
            'ipvs_advisor_finding%s == 1' % l.sel(['severity="critical"', 'rule!~"%s"' % driftRules]),
            'The advisor finds a critical misconfiguration.',
            'Advisor rule {{ $labels.rule }} fails on {{ $labels.instance }} for {{ $labels.subject }}. `ipvs_exporter doctor` on the host shows what it saw and the fix; `ipvs_exporter doctor --explain {{ $labels.rule }}` explains the rule.',
          ),
          alert(
            'AdvisorWarningFinding', 'warning',
            'ipvs_advisor_finding%s == 1' % l.sel(['severity="warning"', 'rule!~"%s"' % driftRules]),
            'The advisor finds a misconfiguration.',
            'Advisor rule {{ $labels.rule }} fails on {{ $labels.instance }} for {{ $labels.subject }}. `ipvs_exporter doctor` on the host shows what it saw and the fix; `ipvs_exporter doctor --explain {{ $labels.rule }}` explains the rule.',
          ),
          alert(
            'AdvisorRuleSkipped', 'warning',
            'ipvs_advisor_rule_skipped%s == 1' % l.sel([c.advisorSkippedRuleSelector]),
            'An advisor rule cannot be evaluated.',
            'Advisor rule {{ $labels.rule }} applies to {{ $labels.instance }} but has lacked its data for %s; `ipvs_exporter doctor` on the host says what is missing.' % c.forDurations.AdvisorRuleSkipped,
          ),
        ],
      },
    ],
  },
}
