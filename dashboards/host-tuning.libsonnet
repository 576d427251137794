// Host tuning: what the kernel around IPVS is doing on one host. Connection tracking usage and
// drops, softnet per CPU, interrupts per CPU per NIC queue, the NICs' channels, rings and
// offloads, and the tuning advisor's findings with their fix.
function(config)
local c = (import 'lib/common.libsonnet')(config);
local g = import 'lib/grafana.libsonnet';
local s = c.sel;
local rules = import 'advisor-rules.json';

local percentSteps = [
  { color: 'green', value: null },
  { color: 'orange', value: c.config.conntrackWarningRatio },
  { color: 'red', value: c.config.conntrackCriticalRatio },
];

// "fix" is a copy of the rule label that value mappings turn into the rule's fix
local findings = 'label_replace(ipvs_advisor_finding{%s} == 1, "fix", "$1", "rule", "(.*)")' % s;

c.dashboard(
  'host',
  'The kernel around IPVS on one host: connection tracking, softnet, interrupts per CPU and NIC queue, NIC channels, rings and offloads, and the tuning advisor\'s findings with the fix for each.',
  c.variables(instanceMulti=false),
  [
    g.row('Advisor'),
    g.table(
      'Advisor findings',
      'What ipvs_exporter doctor finds wrong on this host now: the rule, its severity, what it is about and how to fix it. The rule links to its runbook; ipvs_exporter doctor --explain RULE says why.',
      'short',
      [g.query(findings, instant=true, format='table')],
      [['severity', 'Severity'], ['rule', 'Rule'], ['subject', 'Subject'], ['fix', 'Fix']],
      h=8,
      overrides=[
        {
          matcher: { id: 'byName', options: 'Fix' },
          properties: [
            { id: 'mappings', value: [{ type: 'value', options: {
              [r.id]: { text: r.fix, index: i }
              for i in std.range(0, std.length(rules) - 1)
              for r in [rules[i]]
            } }] },
            { id: 'custom.cellOptions', value: { type: 'auto', wrapText: true } },
            { id: 'custom.width', value: 900 },
          ],
        },
        {
          matcher: { id: 'byName', options: 'Rule' },
          properties: [{ id: 'links', value: [{ title: 'Runbook', url: '%s#%s' % [c.config.runbookURLBase, c.config.advisorRunbookAnchor], targetBlank: true }] }],
        },
        {
          matcher: { id: 'byName', options: 'Severity' },
          properties: [
            { id: 'custom.cellOptions', value: { type: 'color-text' } },
            { id: 'mappings', value: [{ type: 'value', options: {
              critical: { color: 'red', index: 0 },
              warning: { color: 'orange', index: 1 },
              info: { color: 'blue', index: 2 },
            } }] },
          ],
        },
      ],
    ),
    g.stat('Rules evaluated', 'Advisor rules that had the data they need on the last scrape; the others are listed by ipvs_exporter doctor with the reason.', 'short',
           [g.query('ipvs_advisor_rules_evaluated{%s}' % s, instant=true)], w=6),
    g.timeseries('Findings by severity', 'Open advisor findings over time.', 'short',
                 [g.query('sum by (severity) (ipvs_advisor_findings{%s})' % s, '{{severity}}')], w=18, h=4),

    g.row('Connection tracking'),
    g.stat('Conntrack table used', 'Entries in the connection tracking table against nf_conntrack_max. New connections are dropped when it is full.', 'percentunit',
           [g.query('instance:ipvs_conntrack_entries:ratio{%s}' % s, instant=true)], w=4, h=8, thresholds=percentSteps),
    g.timeseries('Conntrack entries', 'Entries in the connection tracking table and the most it takes.', 'short',
                 [
                   g.query('ipvs_conntrack_entries{%s}' % s, 'entries'),
                   g.query('ipvs_conntrack_entries_limit{%s}' % s, 'limit (nf_conntrack_max)'),
                 ], w=10),
    g.timeseries('Conntrack drops', 'Packets conntrack dropped, entries it evicted early to make room, and inserts that failed, per second over 5 minutes. Any of them above zero loses or delays connections.', 'pps',
                 [g.query('instance:ipvs_conntrack_drops:rate5m{%s}' % s, '{{statistic}}')], w=10),

    g.row('Softnet'),
    g.timeseries('Packets processed per CPU', 'Packets the receive softirq processed on each CPU.', 'pps',
                 [g.query('rate(ipvs_softnet_processed_total{%s}[$__rate_interval])' % s, 'cpu {{cpu}}')], w=8, stack=true),
    g.timeseries('Backlog drops per CPU', 'Packets dropped because a CPU\'s input backlog was full (net.core.netdev_max_backlog).', 'pps',
                 [g.query('rate(ipvs_softnet_dropped_total{%s}[$__rate_interval])' % s, 'cpu {{cpu}}')], w=8),
    g.timeseries('Time squeezes per CPU', 'Times the receive softirq ran out of budget (net.core.netdev_budget) with work left.', 'ops',
                 [g.query('rate(ipvs_softnet_times_squeezed_total{%s}[$__rate_interval])' % s, 'cpu {{cpu}}')], w=8),

    g.row('Interrupts'),
    g.heatmap('Interrupts per CPU per NIC queue', 'Interrupts per second of each NIC queue on each CPU: one row per device, queue and CPU. A NIC whose rows are all on one CPU is not spread.', 'short',
              [g.query('sum by (device, queue, cpu) (rate(ipvs_netdev_interrupts_total{%s}[$__rate_interval]))' % s, '{{device}} {{queue}} cpu {{cpu}}')], w=16),
    g.timeseries('Interrupt imbalance', 'How unevenly each device\'s interrupts fell on CPUs between two scrapes: 0 is even, 1 is all on one CPU.', 'percentunit',
                 [g.query('ipvs_netdev_interrupt_imbalance_ratio{%s}' % s, '{{device}}')], w=8, h=10, min=0, max=1),

    g.row('NICs'),
    g.table('Channels', 'Queues each NIC uses and the most it can be given (ethtool -l).', 'short',
            [
              g.query('ipvs_netdev_channels{%s}' % s, instant=true, format='table'),
              g.query('ipvs_netdev_channels_max{%s}' % s, instant=true, format='table'),
            ],
            [['device', 'Device'], ['type', 'Type'], ['Value #A', 'In use'], ['Value #B', 'Maximum']], w=8),
    g.table('Rings', 'Ring descriptors each NIC uses and the most it takes (ethtool -g).', 'short',
            [
              g.query('ipvs_netdev_ring_size{%s}' % s, instant=true, format='table'),
              g.query('ipvs_netdev_ring_size_max{%s}' % s, instant=true, format='table'),
            ],
            [['device', 'Device'], ['ring', 'Ring'], ['Value #A', 'Size'], ['Value #B', 'Maximum']], w=8),
    g.table('Offloads', 'The offloads that matter to a director (ethtool -k): 1 is on. Fixed ones cannot be changed.', 'short',
            [
              g.query('ipvs_netdev_feature_enabled{%s, feature=~"%s"}' % [s, c.config.dashboardOffloads], instant=true, format='table'),
              g.query('ipvs_netdev_feature_fixed{%s, feature=~"%s"}' % [s, c.config.dashboardOffloads], instant=true, format='table'),
            ],
            [['device', 'Device'], ['feature', 'Feature'], ['Value #A', 'On'], ['Value #B', 'Fixed']], w=8),
    g.timeseries('Queues', 'Receive and transmit queues of each device in sysfs.', 'short',
                 [g.query('ipvs_netdev_queues{%s}' % s, '{{device}} {{direction}}')], w=12),
    g.table('RPS', 'Receive packet steering CPUs of each receive queue; empty is off.', 'short',
            [g.query('ipvs_netdev_rps_cpus_info{%s}' % s, instant=true, format='table')],
            [['device', 'Device'], ['queue', 'Queue'], ['cpus', 'RPS CPUs']], w=12),
  ],
)
