// keepalived and VRRP: the state of every VRRP instance over time, the health of every
// keepalived virtual server's real servers against the kernel's table (quorum, sorry server),
// the drains in progress, VRRP transitions, priorities, and the routers heard advertising.
function(config)
local c = (import 'lib/common.libsonnet')(config);
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

// keepalived's virtual servers and their real servers, by the labels of the keepalived_* families
local vs = 'instance, virtual_server_group, proto, local_address, local_port, local_mark';
local rs = vs + ', remote_address, remote_port';
local vsLegend = '{{instance}} {{proto}} {{local_address}}{{local_mark}}:{{local_port}}';
local rsLegend = vsLegend + ' {{remote_address}}:{{remote_port}}';
local vsColumns = [['instance', 'Instance'], ['virtual_server_group', 'Group'], ['proto', 'Protocol'], ['local_address', 'Virtual address'], ['local_port', 'Port'], ['local_mark', 'Mark']];
// a real server's state, one number per state, for the timeline
local rsStateCode = { up: 3, reweighted: 2, down: 1, unknown: 0 };
local rsStateColor = { up: 'green', reweighted: 'yellow', down: 'red', unknown: 'text' };
local rsStateExpr = 'max by (%s) (%s)' % [rs, std.join(' or ', [
  '(ipvs_keepalived_real_server_state{%s, state="%s"} == 1) * %d' % [s, st, rsStateCode[st]]
  for st in std.objectFields(rsStateCode)
])];
local colored(column, options, how='color-background') = {
  matcher: { id: 'byName', options: column },
  properties: [
    { id: 'custom.cellOptions', value: { type: how } },
    { id: 'mappings', value: [{ type: 'value', options: options }] },
  ],
};
// the real servers being drained: weight 0 in the kernel (ipvs_backend_* labels)
local backend = 'instance, proto, local_address, local_port, local_mark, remote_address, remote_port';
local draining(metric) = 'max by (%s) (%s{%s} and ipvs_backend_draining{%s} == 1)' % [backend, metric, s, s];
// a row of keepalived's virtual servers or of the kernel's real servers to its virtual service
// (these series have no netns label: the link leaves it at All)
local keepalivedServiceLink = c.serviceLink(['instance', 'proto', 'local_address', 'local_port', 'local_mark']);
local backendColumns = [['instance', 'Instance'], ['proto', 'Protocol'], ['local_address', 'Virtual address'], ['local_port', 'Port'], ['local_mark', 'Mark'], ['remote_address', 'Real server'], ['remote_port', 'Real server port']];

c.dashboard(
  'vrrp',
  'keepalived on the directors: each VRRP instance\'s state over time as the exporter infers it from the kernel, the health of each virtual server\'s real servers as keepalived\'s checks left them in the kernel\'s table (quorum, sorry server), the drains in progress, the transitions keepalived announced, configured and effective priorities, masters per VRID across the fleet, and the routers heard advertising.',
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

    g.row('Real servers: keepalived against the kernel'),
    g.table(
      'Real-server health',
      'Each real server of each keepalived virtual server (virtual_server_group members expanded), compared with the kernel\'s IPVS table: up (in the table with its configured weight), down (taken out by keepalived\'s checks: absent, or weight 0 with inhibit_on_failure), reweighted (in the table with another weight: a MISC_CHECK dynamic weight, ipvsadm -e, or a drain), unknown (keepalived not running, or no IPVS table). Configured weight against the weight the kernel has; checker alive is keepalived\'s checkers\' own view, from its data dump.',
      'short',
      [
        g.query('max by (%s, state) (ipvs_keepalived_real_server_state{%s} == 1)' % [rs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_real_server_configured_weight{%s})' % [rs, s], instant=true, format='table'),
        // the kernel's weight, given the virtual_server_group of keepalived's series
        g.query('max by (%(rs)s) (ipvs_backend_weight{%(s)s} * on (job, instance, proto, local_address, local_port, local_mark, remote_address, remote_port) group_left (virtual_server_group) (0 * ipvs_keepalived_real_server_configured_weight{%(s)s} + 1))' % { rs: rs, s: s }, instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_real_server_checker_alive{%s})' % [rs, s], instant=true, format='table'),
      ],
      vsColumns + [['remote_address', 'Real server'], ['remote_port', 'Real server port'], ['state', 'State'], ['Value #B', 'Configured weight'], ['Value #C', 'Kernel weight'], ['Value #D', 'Checker alive']],
      h=10,
      links=[keepalivedServiceLink],
      overrides=[
        colored('State', {
          [st]: { color: rsStateColor[st], index: rsStateCode[st] }
          for st in std.objectFields(rsStateCode)
        }),
        colored('Checker alive', {
          '1': { text: 'alive', color: 'green', index: 0 },
          '0': { text: 'failing', color: 'red', index: 1 },
        }, 'color-text'),
      ],
    ),
    g.stateTimeline('Real-server state over time', 'The state of each configured real server over time: green up, yellow reweighted, red taken out by keepalived\'s checks, no colour unknown (keepalived not running). A real server that keeps turning red and green has a flapping health check.', 'short',
                    [g.query(rsStateExpr, rsLegend)], [{ type: 'value', options: {
                      [std.toString(rsStateCode[st])]: { text: st, color: rsStateColor[st], index: rsStateCode[st] }
                      for st in std.objectFields(rsStateCode)
                    } }], h=9),
    g.table(
      'Virtual servers: quorum and sorry server',
      'Each keepalived virtual server: real servers configured and up, the weight the kernel has for them against the quorum (with its hysteresis), whether quorum holds, whether the sorry server is in use (blank: none configured), and whether the kernel has the service at all.',
      'short',
      [
        g.query('max by (%s) (ipvs_keepalived_virtual_server_real_servers{%s})' % [vs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_virtual_server_real_servers_up{%s})' % [vs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_virtual_server_live_weight{%s})' % [vs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_virtual_server_quorum{%s})' % [vs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_virtual_server_quorum_hysteresis{%s})' % [vs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_virtual_server_quorum_up{%s})' % [vs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_virtual_server_sorry_server_active{%s})' % [vs, s], instant=true, format='table'),
        g.query('max by (%s) (ipvs_keepalived_virtual_server_present{%s})' % [vs, s], instant=true, format='table'),
      ],
      vsColumns + [['Value #A', 'Real servers'], ['Value #B', 'Up'], ['Value #C', 'Live weight'], ['Value #D', 'Quorum weight'], ['Value #E', 'Hysteresis'], ['Value #F', 'Quorum'], ['Value #G', 'Sorry server'], ['Value #H', 'In the kernel']],
      h=8,
      links=[keepalivedServiceLink],
      overrides=[
        colored('Quorum', {
          '1': { text: 'holds', color: 'green', index: 0 },
          '0': { text: 'lost', color: 'red', index: 1 },
        }),
        colored('Sorry server', {
          '1': { text: 'in use', color: 'orange', index: 0 },
          '0': { text: 'not in use', color: 'green', index: 1 },
        }),
        colored('In the kernel', {
          '1': { text: 'yes', color: 'green', index: 0 },
          '0': { text: 'absent', color: 'red', index: 1 },
        }, 'color-text'),
      ],
    ),

    g.row('Drains in progress'),
    g.table(
      'Drains in progress',
      'Real servers at weight 0 in the kernel (being drained, by hand or by keepalived\'s inhibit_on_failure) on the selected hosts: active and inactive connections still held, persistence templates that still send clients back, and the exporter\'s rough estimate of the time until no active connection is left (blank while it cannot tell). `ipvs_exporter wait-drained` waits for the same moment.',
      'short',
      [
        g.query(draining('ipvs_backend_connections_active'), instant=true, format='table'),
        g.query(draining('ipvs_backend_connections_inactive'), instant=true, format='table'),
        g.query(draining('ipvs_backend_connections_persistent'), instant=true, format='table'),
        g.query('max by (%s) (ipvs_backend_drain_estimated_seconds{%s})' % [backend, s], instant=true, format='table'),
      ],
      backendColumns + [['Value #A', 'Active'], ['Value #B', 'Inactive'], ['Value #C', 'Templates'], ['Value #D', 'Time left']],
      w=24,
      h=7,
      links=[keepalivedServiceLink],
      overrides=[{ matcher: { id: 'byName', options: 'Time left' }, properties: [{ id: 'unit', value: 's' }] }],
    ),
    g.timeseries('Draining: active connections left', 'Active connections still held by each real server at weight 0: a drain is done when it reaches 0.', 'short',
                 [g.query(draining('ipvs_backend_connections_active'), '{{instance}} {{proto}} {{local_address}}{{local_mark}}:{{local_port}} {{remote_address}}:{{remote_port}}')], min=0),
    g.timeseries('Draining: estimated time left', 'The exporter\'s estimate of the seconds until each draining real server holds no active connection, from its own samples over its last scrapes; absent while it cannot tell (too few samples, or connections not falling).', 's',
                 [g.query('ipvs_backend_drain_estimated_seconds{%s}' % s, '{{instance}} {{proto}} {{local_address}}{{local_mark}}:{{local_port}} {{remote_address}}:{{remote_port}}')], min=0),

    g.row('Transitions'),
    g.timeseries('Became master recently', 'Times each VRRP instance became MASTER within the exporter\'s flapping window (10 minutes), from keepalived\'s notify FIFO or its JSON dump: a start makes one, a master that fails and recovers one more; %d or more is flapping (IpvsVrrpFlapping, the advisor\'s vrrp-flapping).' % c.config.vrrpFlapChanges, 'short',
                 [g.query('ipvs_vrrp_became_master_recent{%s}' % s, '{{instance}} {{vrrp_instance}}')], w=12, min=0),
    g.timeseries('Transitions announced', 'State changes keepalived wrote on its notify FIFO (--keepalived.notify-fifo), by new state.', 'short',
                 [g.query('increase(ipvs_vrrp_transitions_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} to {{state}}')], w=12),
    g.timeseries('Became or left master', 'keepalived\'s own counters from its JSON dump: times each instance became master and released it.', 'short',
                 [
                   g.query('increase(ipvs_vrrp_become_master_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} became master'),
                   g.query('increase(ipvs_vrrp_release_master_total{%s}[$__rate_interval])' % s, '{{instance}} {{vrrp_instance}} released master'),
                 ], w=12),
    g.timeseries('Time since last transition', 'Seconds since each instance last changed state.', 's',
                 [g.query('time() - ipvs_vrrp_last_transition_timestamp_seconds{%s}' % s, '{{instance}} {{vrrp_instance}}')], w=12),

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
