// Fleet: every director the job scrapes, its VRRP roles, its services and traffic, the
// advisor's open findings per host, and the alerts firing.
function(config)
local c = (import 'lib/common.libsonnet')(config);
local g = import 'lib/grafana.libsonnet';
local s = c.sel;
local alertsSel = 'alertname=~"%s.*"' % c.config.alertNamePrefix;
// every alert of the rules, by the `for:` table that names them all
local alertNames = [c.config.alertNamePrefix + n for n in std.objectFields(c.config.forDurations)];
// a host's own dashboards, from a cell that holds its instance
local hostLinks(instance) = [
  c.dataLink('Host tuning of %s' % instance, 'host', ['var-instance=%s' % instance]),
  c.dataLink('keepalived / VRRP of %s' % instance, 'vrrp', ['var-instance=%s' % instance]),
  c.dataLink('Virtual services of %s' % instance, 'service', ['var-instance=%s' % instance]),
];
local instanceLinks = {
  matcher: { id: 'byName', options: 'Instance' },
  properties: [{ id: 'links', value: hostLinks('${__value.raw}') }],
};
local svc = std.join(', ', ['instance'] + c.config.serviceLabels);
local j = c.jobSel;
local cl = c.config.clusterLabel;
local redFrom1 = [{ color: 'green', value: null }, { color: 'red', value: 1 }];
local orangeFrom1 = [{ color: 'green', value: null }, { color: 'orange', value: 1 }];

c.dashboard(
  'fleet',
  'Every IPVS director the job scrapes: whether IPVS is there, its VRRP roles, services, traffic, the tuning advisor\'s open findings and the alerts firing.',
  c.variables(instanceMulti=true),
  [
    g.row('Overview'),
    g.stat('Directors up', 'Exporters that answered their last scrape (Prometheus\'s up).', 'short',
           [g.query('sum(up{%s})' % s, instant=true)]),
    g.stat('Directors with IPVS', 'Hosts whose kernel has an IPVS table (ipvs_up is 1).', 'short',
           [g.query('sum(ipvs_up{%s})' % s, instant=true)]),
    g.stat('Virtual services', 'Virtual services across the selected hosts.', 'short',
           [g.query('sum(instance:ipvs_services:count{%s})' % s, instant=true)]),
    g.stat('Real servers', 'Real servers across the selected hosts.', 'short',
           [g.query('sum(instance:ipvs_backends:count{%s})' % s, instant=true)]),
    g.stat('New connections', 'Connections IPVS scheduled per second over 5 minutes, all selected hosts.', 'cps',
           [g.query('sum(instance:ipvs_connections:rate5m{%s})' % s, instant=true)]),
    g.stat('Alerts firing', 'Alerts of this project firing now (the ALERTS series of Prometheus).', 'short',
           [g.query('count(ALERTS{%s, alertstate="firing"}) or vector(0)' % alertsSel, instant=true)],
           thresholds=[{ color: 'green', value: null }, { color: 'red', value: 1 }]),

    g.row('Fleet'),
    // VRRP groups across hosts, as the alerts and `ipvs_exporter fleet` judge them: a group is
    // one VRID under one cluster label; these panels are fleet-wide (not narrowed to $instance)
    g.stat('VRIDs in split brain', 'VRIDs that more than one host holds as MASTER now (IpvsVrrpSplitBrain after a minute).', 'short',
           [g.query('count(sum by (%s, vrid) (ipvs_vrrp_state{%s, state="MASTER", vrid!=""}) > 1) or vector(0)' % [cl, j], instant=true)],
           thresholds=redFrom1),
    g.stat('VRIDs without MASTER', 'VRIDs whose hosts report none of them as MASTER now (IpvsVrrpNoMaster after a minute, unless a master is heard advertising).', 'short',
           [g.query('count(sum by (%s, vrid) (ipvs_vrrp_state{%s, state="MASTER", vrid!=""}) == 0) or vector(0)' % [cl, j], instant=true)],
           thresholds=redFrom1),
    g.stat('VRIDs with equal priorities', 'VRIDs where two or more members have the same configured priority (IpvsVrrpEqualPriority after 15 minutes).', 'short',
           [g.query('count(count_values by (%s, vrid) ("priority", instance_vrid:ipvs_vrrp_priority:max{%s}) > 1) or vector(0)' % [cl, j], instant=true)],
           thresholds=orangeFrom1),
    g.stat('Members that differ', 'Virtual services and real servers on a VRID\'s virtual addresses set up otherwise on some members: IpvsVrrpMembersServicesDiffer and IpvsVrrpMembersWeightsDiffer firing. `ipvs_exporter fleet` names the hosts.', 'short',
           [g.query('count(ALERTS{alertname=~"%sVrrpMembers(Services|Weights)Differ", alertstate="firing"}) or vector(0)' % c.config.alertNamePrefix, instant=true)],
           thresholds=orangeFrom1),
    g.stat('Members unseen', 'Hosts that reported VRRP instances lately and have had no successful scrape for a while: IpvsVrrpMemberUnseen firing (its groups are judged without them).', 'short',
           [g.query('count(ALERTS{alertname="%sVrrpMemberUnseen", alertstate="firing"}) or vector(0)' % c.config.alertNamePrefix, instant=true)],
           thresholds=orangeFrom1),
    g.table(
      'VRRP groups',
      'One line per VRID (and cluster label): the members reporting it, how many are MASTER (1 is right), and how many distinct configured priorities they have (as many as members is right).',
      'short',
      [
        g.query('count by (%s, vrid) (group by (%s, instance, vrid) (ipvs_vrrp_state{%s, vrid!=""}))' % [cl, cl, j], instant=true, format='table'),
        g.query('sum by (%s, vrid) (ipvs_vrrp_state{%s, state="MASTER", vrid!=""})' % [cl, j], instant=true, format='table'),
        g.query('count by (%s, vrid) (count_values by (%s, vrid) ("priority", instance_vrid:ipvs_vrrp_priority:max{%s}))' % [cl, cl, j], instant=true, format='table'),
      ],
      [
        [cl, 'Cluster'],
        ['vrid', 'VRID'],
        ['Value #A', 'Members'],
        ['Value #B', 'MASTER'],
        ['Value #C', 'Priorities'],
      ],
      w=24, h=6,
      overrides=[{
        matcher: { id: 'byName', options: 'MASTER' },
        properties: [
          { id: 'custom.cellOptions', value: { type: 'color-background' } },
          { id: 'thresholds', value: { mode: 'absolute', steps: [{ color: 'red', value: null }, { color: 'transparent', value: 1 }, { color: 'red', value: 2 }] } },
        ],
      }],
    ),

    g.row('Directors'),
    g.table(
      'Directors',
      'One line per host: IPVS present, services, real servers, new connections per second, VRRP instances it is MASTER of, and the advisor\'s open findings by severity.',
      'short',
      [
        g.query('max by (instance) (ipvs_up{%s})' % s, instant=true, format='table'),
        g.query('sum by (instance) (instance:ipvs_services:count{%s})' % s, instant=true, format='table'),
        g.query('sum by (instance) (instance:ipvs_backends:count{%s})' % s, instant=true, format='table'),
        g.query('sum by (instance) (instance:ipvs_connections:rate5m{%s})' % s, instant=true, format='table'),
        g.query('count by (instance) (ipvs_vrrp_state{%s, state="MASTER"} == 1)' % s, instant=true, format='table'),
        g.query('sum by (instance) (ipvs_advisor_findings{%s, severity="critical"})' % s, instant=true, format='table'),
        g.query('sum by (instance) (ipvs_advisor_findings{%s, severity="warning"})' % s, instant=true, format='table'),
      ],
      [
        ['instance', 'Instance'],
        ['Value #A', 'IPVS'],
        ['Value #B', 'Services'],
        ['Value #C', 'Real servers'],
        ['Value #D', 'New conn/s'],
        ['Value #E', 'VRRP MASTER of'],
        ['Value #F', 'Critical findings'],
        ['Value #G', 'Warning findings'],
      ],
      h=8,
      overrides=[
        instanceLinks,
        { matcher: { id: 'byName', options: 'New conn/s' }, properties: [{ id: 'unit', value: 'cps' }] },
        {
          matcher: { id: 'byRegexp', options: '.* findings' },
          properties: [
            { id: 'custom.cellOptions', value: { type: 'color-background' } },
            { id: 'thresholds', value: { mode: 'absolute', steps: [{ color: 'transparent', value: null }, { color: 'red', value: 1 }] } },
          ],
        },
      ],
    ),
    g.table(
      'VRRP roles',
      'The state of each keepalived VRRP instance on each host, as the exporter infers it from the kernel (virtual addresses present, interface up, keepalived running).',
      'short',
      [g.query('ipvs_vrrp_state{%s} == 1' % s, instant=true, format='table')],
      [['instance', 'Instance'], ['vrrp_instance', 'VRRP instance'], ['interface', 'Interface'], ['vrid', 'VRID'], ['state', 'State']],
      w=12,
      overrides=[instanceLinks, {
        matcher: { id: 'byName', options: 'State' },
        properties: [
          { id: 'custom.cellOptions', value: { type: 'color-text' } },
          { id: 'mappings', value: [{ type: 'value', options: {
            MASTER: { color: 'green', index: 0 },
            BACKUP: { color: 'blue', index: 1 },
            FAULT: { color: 'red', index: 2 },
            STOP: { color: 'red', index: 3 },
            INIT: { color: 'orange', index: 4 },
          } }] },
        ],
      }],
    ),
    g.table(
      'Services',
      'Every virtual service on the selected hosts: scheduler, real servers, new connections per second (5-minute rate) and active connections. A row opens the virtual service dashboard on that service.',
      'short',
      [
        g.query('max by (%s, scheduler) (ipvs_service_info{%s})' % [svc, s], instant=true, format='table'),
        g.query('sum by (%s) (service:ipvs_backends:count{%s})' % [svc, s], instant=true, format='table'),
        g.query('sum by (%s) (service:ipvs_service_connections:rate5m{%s})' % [svc, s], instant=true, format='table'),
        g.query('sum by (%s) (service:ipvs_backend_connections_active:sum{%s})' % [svc, s], instant=true, format='table'),
      ],
      [
        ['instance', 'Instance'],
        ['netns', 'Namespace'],
        ['proto', 'Protocol'],
        ['local_address', 'Address'],
        ['local_port', 'Port'],
        ['local_mark', 'Mark'],
        ['scheduler', 'Scheduler'],
        ['Value #B', 'Real servers'],
        ['Value #C', 'New conn/s'],
        ['Value #D', 'Active'],
      ],
      h=8,
      overrides=[{ matcher: { id: 'byName', options: 'New conn/s' }, properties: [{ id: 'unit', value: 'cps' }] }],
      links=[c.serviceLink()],
    ),
    g.table(
      'Alerts firing and pending',
      'This project\'s alerts that are pending or firing now, with their labels; the runbook of each is linked from the alert\'s runbook_url annotation.',
      'short',
      // "runbook" is a copy of the alert name that value mappings turn into its runbook's address
      [g.query('label_replace(ALERTS{%s}, "runbook", "$1", "alertname", "(.*)")' % alertsSel, instant=true, format='table')],
      [['alertname', 'Alert'], ['alertstate', 'State'], ['severity', 'Severity'], ['instance', 'Instance'], ['vrrp_instance', 'VRRP instance'], ['vrid', 'VRID'], ['rule', 'Advisor rule'], ['runbook', 'Runbook']],
      w=12,
      overrides=[{
        matcher: { id: 'byName', options: 'Runbook' },
        properties: [
          { id: 'mappings', value: [{ type: 'value', options: {
            [alert]: { text: '%s#%s' % [c.config.runbookURLBase, std.asciiLower(alert)], index: i }
            for i in std.range(0, std.length(alertNames) - 1)
            for alert in [alertNames[i]]
          } }] },
          { id: 'links', value: [{ title: 'Runbook', url: '${__value.text}', targetBlank: true }] },
        ],
      }],
    ),

    g.row('Traffic'),
    g.timeseries('New connections per host', 'Connections IPVS scheduled per second on each host (5-minute rate), all services.', 'cps',
                 [g.query('sum by (instance) (instance:ipvs_connections:rate5m{%s})' % s, '{{instance}}')], stack=true,
                 links=hostLinks('${__field.labels.instance}')),
    g.timeseries('Bytes per host', 'Bytes per second through IPVS on each host (5-minute rate), in (from clients) above zero and out below.', 'Bps',
                 [
                   g.query('sum by (instance) (instance:ipvs_incoming_bytes:rate5m{%s})' % s, '{{instance}} in'),
                   g.query('-sum by (instance) (instance:ipvs_outgoing_bytes:rate5m{%s})' % s, '{{instance}} out'),
                 ]),
    g.timeseries('Virtual services per host', 'Virtual services in each host\'s IPVS table.', 'short',
                 [g.query('sum by (instance) (instance:ipvs_services:count{%s})' % s, '{{instance}}')]),
    g.timeseries('Active connections per host', 'Connections IPVS holds in the established state, summed over real servers.', 'short',
                 [g.query('sum by (instance) (service:ipvs_backend_connections_active:sum{%s})' % s, '{{instance}}')], stack=true),

    g.row('Advisor and alerts'),
    g.timeseries('Open advisor findings per host', 'Findings of the tuning advisor (ipvs_exporter doctor) open on each host, by severity.', 'short',
                 [g.query('sum by (instance, severity) (ipvs_advisor_findings{%s}) > 0' % s, '{{instance}} {{severity}}')]),
    g.timeseries('Alerts', 'This project\'s alerts pending or firing over time, by name and state.', 'short',
                 [g.query('count by (alertname, alertstate) (ALERTS{%s})' % alertsSel, '{{alertname}} ({{alertstate}})')], stack=true),
  ],
)
