// keepalived and VRRP: the state of every VRRP instance over time, its transitions, its
// priorities, and the routers heard advertising on its network.
local c = import 'lib/common.libsonnet';
local g = import 'lib/grafana.libsonnet';
local s = c.sel;
local inst = 'instance, vrrp_instance, vrid';
// the per-VRID recordings are fleet-wide: narrowed only by cluster
local vridSel = if c.config.showMultiCluster then '{%s=~"$cluster"}' % c.config.clusterLabel else '';

// one number per state, for the state timeline
local stateCode = { MASTER: 4, BACKUP: 3, INIT: 2, FAULT: 1, STOP: 0 };
local stateColor = { MASTER: 'green', BACKUP: 'blue', INIT: 'orange', FAULT: 'red', STOP: 'dark-red' };
local stateExpr = 'max by (%s) (%s)' % [inst, std.join(' or ', [
  '(ipvs_vrrp_state{%s, state="%s"} == 1) * %d' % [s, st, stateCode[st]]
  for st in std.objectFields(stateCode)
])];
local stateMappings = [{ type: 'value', options: {
  [std.toString(stateCode[st])]: { text: st, color: stateColor[st], index: stateCode[st] }
  for st in std.objectFields(stateCode)
} }];

c.dashboard(
  'vrrp',
  'keepalived / VRRP',
  'keepalived on the directors: each VRRP instance\'s state over time as the exporter infers it from the kernel, the transitions keepalived announced, configured and effective priorities, masters per VRID across the fleet, and the routers heard advertising.',
  c.variables(instanceMulti=true),
  [
    g.row('State'),
    g.stateTimeline('VRRP state per instance', 'The state of each VRRP instance on each host over time: MASTER holds the virtual addresses, BACKUP holds none, FAULT has its interface down, STOP has no keepalived running.', 'short',
                    [g.query(stateExpr, '{{instance}} {{vrrp_instance}} (VRID {{vrid}})')], stateMappings, h=9),
    g.timeseries('Masters per VRID', 'Hosts that are MASTER of each VRID across the fleet: exactly 1 is right, 2 or more is a split brain, 0 is nobody holding the addresses.', 'short',
                 [g.query('vrid:ipvs_vrrp_masters:sum%s' % vridSel, 'VRID {{vrid}}')], w=8, min=0),
    g.table('keepalived', 'Whether keepalived runs on each host (its pid file names a live keepalived process), configuration errors, whether its notify FIFO is open and the age of the JSON dump read.', 'short',
            [
              g.query('ipvs_keepalived_up{%s}' % s, instant=true, format='table'),
              g.query('ipvs_keepalived_config_errors{%s}' % s, instant=true, format='table'),
              g.query('ipvs_keepalived_notify_fifo_connected{%s}' % s, instant=true, format='table'),
              g.query('ipvs_keepalived_dump_age_seconds{%s}' % s, instant=true, format='table'),
            ],
            [['instance', 'Instance'], ['Value #A', 'Running'], ['Value #B', 'Config errors'], ['Value #C', 'Notify FIFO'], ['Value #D', 'Dump age (s)']], w=8),
    g.table('Virtual addresses', 'Each virtual address of each instance and whether it is on its interface (1) now.', 'short',
            [g.query('ipvs_vrrp_vip_present{%s}' % s, instant=true, format='table')],
            [['instance', 'Instance'], ['vrrp_instance', 'VRRP instance'], ['interface', 'Interface'], ['address', 'Address'], ['Value', 'Present']], w=8),

    g.row('Transitions'),
    g.timeseries('Transitions announced', 'State changes keepalived wrote on its notify FIFO (--keepalived.notify-fifo), by new state.', 'short',
                 [g.query('increase(ipvs_vrrp_transitions_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} to {{state}}')], w=8),
    g.timeseries('Became or left master', 'keepalived\'s own counters from its JSON dump: times each instance became master and released it.', 'short',
                 [
                   g.query('increase(ipvs_vrrp_become_master_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} became master'),
                   g.query('increase(ipvs_vrrp_release_master_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} released master'),
                 ], w=8),
    g.timeseries('Time since last transition', 'Seconds since each instance last changed state.', 's',
                 [g.query('time() - ipvs_vrrp_last_transition_timestamp_seconds{%s}' % s, '{{instance}} {{vrrp_instance}}')], w=8),

    g.row('Priorities'),
    g.timeseries('Priority', 'Configured priority of each instance and, from the JSON dump, the effective one after tracked scripts and interfaces changed it. Effective below configured means a tracked check is failing.', 'short',
                 [
                   g.query('ipvs_vrrp_priority{%s}' % s, '{{instance}} {{vrrp_instance}} configured'),
                   g.query('ipvs_vrrp_effective_priority{%s}' % s, '{{instance}} {{vrrp_instance}} effective'),
                 ]),
    g.timeseries('Adverts sent and received', 'VRRP adverts keepalived sent and received per second (JSON dump); priority-0 adverts are a master stepping down.', 'pps',
                 [
                   g.query('rate(ipvs_vrrp_adverts_sent_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} sent'),
                   g.query('rate(ipvs_vrrp_adverts_received_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} received'),
                   g.query('rate(ipvs_vrrp_priority_zero_adverts_received_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} priority 0 received'),
                 ]),

    g.row('Routers heard'),
    g.timeseries('Priority heard per router', 'The priority in the last advert of each router heard on each VRID (--collector.vrrp.listen). Two routers advertising at once for one VRID is a split brain; 0 is a master leaving.', 'short',
                 [g.query('ipvs_vrrp_peer_priority{%s}' % s, '{{instance}} heard {{source}} on {{interface}} VRID {{vrid}}')]),
    g.timeseries('Routers advertising per VRID', 'Distinct routers heard advertising each VRID at a priority above 0 lately, across the fleet: more than 1 is a split brain.', 'short',
                 [g.query('vrid:ipvs_vrrp_peer_sources:count%s' % vridSel, 'VRID {{vrid}}')], w=8, min=0),
    g.timeseries('Adverts heard per router', 'VRRP adverts per second heard from each router on each VRID.', 'pps',
                 [g.query('rate(ipvs_vrrp_peer_advertisements_total{%s}[$__rate_interval])' % s, '{{instance}} heard {{source}} VRID {{vrid}}')]),
    g.timeseries('Advert errors', 'Bad adverts keepalived received, by reason (JSON dump).', 'pps',
                 [g.query('rate(ipvs_vrrp_advert_errors_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} {{reason}}')], w=24),
  ],
)
