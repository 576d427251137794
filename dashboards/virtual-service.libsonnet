// Virtual service: one service's real servers. Connections and bytes per real server against
// its share of the weight, active and inactive connections, the drain of real servers at
// weight 0, and the kernel's own rate estimates.
function(config)
local c = (import 'lib/common.libsonnet')(config);
local g = import 'lib/grafana.libsonnet';
// the service labels, each narrowed by its variable; an empty label (netns outside
// --collector.ipvs.netns, local_mark of an address service, local_address and local_port of a
// firewall-mark service) is matched by the variables' "All" (.*)
local serviceMatchers = ['%s=~"$%s"' % [l, l] for l in c.config.serviceLabels];
local s = std.join(', ', [c.sel] + serviceMatchers);
local svc = std.join(', ', ['instance'] + c.config.serviceLabels);
local rs = std.join(', ', [svc] + c.config.backendOnlyLabels);
local rsLegend = '{{remote_address}}:{{remote_port}}';
// the service as ipvsadm shows it, for legends
local svcLegend = '{{proto}} {{local_address}}:{{local_port}}{{local_mark}}';

local serviceTitles = { netns: 'Namespace', proto: 'Protocol', local_address: 'Virtual address', local_port: 'Port', local_mark: 'Firewall mark' };
// One variable per service label, each offering the values left by the ones before it.
local serviceVariables = [
  local before = c.config.serviceLabels[0:i];
  local l = c.config.serviceLabels[i];
  g.queryVariable(
    l,
    if std.objectHas(serviceTitles, l) then serviceTitles[l] else l,
    'label_values(ipvs_service_info{%s}, %s)' % [std.join(', ', [c.sel] + serviceMatchers[0:i]), l],
    multi=false,
    includeAll=true,
  )
  for i in std.range(0, std.length(c.config.serviceLabels) - 1)
];

c.dashboard(
  'service',
  'One virtual service on one director: how its new connections and bytes spread over its real servers compared with their weights, the connections each holds, how far the drain of weight-0 real servers has gone, and the kernel\'s rate estimates.',
  c.variables(instanceMulti=false) + serviceVariables,
  [
    g.row('Service'),
    g.table(
      'Service',
      'The selected virtual service(s) as the kernel has them: scheduler, flags, persistence.',
      'short',
      [g.query('ipvs_service_info{%s}' % s, instant=true, format='table')],
      [['proto', 'Protocol'], ['local_address', 'Address'], ['local_port', 'Port'], ['local_mark', 'Mark'], ['scheduler', 'Scheduler'], ['flags', 'Flags'], ['persistent', 'Persistent'], ['netns', 'Namespace']],
      h=5,
    ),
    g.table(
      'Real servers',
      'Each real server of the selected service(s): forwarding method, weight, active and inactive connections, and its share of the weight.',
      'short',
      [
        g.query('max by (%s, forward) (ipvs_backend_info{%s})' % [rs, s], instant=true, format='table'),
        g.query('ipvs_backend_weight{%s}' % s, instant=true, format='table'),
        g.query('ipvs_backend_connections_active{%s}' % s, instant=true, format='table'),
        g.query('ipvs_backend_connections_inactive{%s}' % s, instant=true, format='table'),
        g.query('backend:ipvs_backend_weight:ratio{%s}' % s, instant=true, format='table'),
      ],
      [['local_address', 'Service address'], ['local_port', 'Service port'], ['remote_address', 'Real server'], ['remote_port', 'Port'], ['forward', 'Forward'], ['Value #B', 'Weight'], ['Value #C', 'Active'], ['Value #D', 'Inactive'], ['Value #E', 'Weight share']],
      h=7,
      overrides=[{ matcher: { id: 'byName', options: 'Weight share' }, properties: [{ id: 'unit', value: 'percentunit' }] }],
    ),

    g.row('Scheduling against weights'),
    g.timeseries('Share of new connections', 'Each real server\'s part of the new connections the service scheduled (5-minute rates). Under weighted schedulers (wrr, wlc, sed, nq) it should follow the weight share beside it.', 'percentunit',
                 [g.query('backend:ipvs_backend_connections:ratio_rate5m{%s}' % s, rsLegend)], min=0, max=1),
    g.timeseries('Share of weight', 'Each real server\'s weight divided by the sum of its service\'s weights.', 'percentunit',
                 [g.query('backend:ipvs_backend_weight:ratio{%s}' % s, rsLegend)], min=0, max=1),
    g.timeseries('New connections per real server', 'Connections scheduled to each real server per second (5-minute rate).', 'cps',
                 [g.query('backend:ipvs_backend_connections:rate5m{%s}' % s, rsLegend)], stack=true),
    g.timeseries('Bytes per real server', 'Bytes per second through each real server (5-minute rate): in (client to server) above zero, out below.', 'Bps',
                 [
                   g.query('backend:ipvs_backend_incoming_bytes:rate5m{%s}' % s, rsLegend + ' in'),
                   g.query('-backend:ipvs_backend_outgoing_bytes:rate5m{%s}' % s, rsLegend + ' out'),
                 ]),

    g.row('Connections and drain'),
    g.timeseries('Active connections', 'Connections in the established state on each real server.', 'short',
                 [g.query('ipvs_backend_connections_active{%s}' % s, rsLegend)], stack=true),
    g.timeseries('Inactive connections', 'Connections in other states (closing, SYN received, UDP) on each real server.', 'short',
                 [g.query('ipvs_backend_connections_inactive{%s}' % s, rsLegend)], stack=true),
    g.timeseries('Drain of weight-0 real servers', 'Connections still held by real servers whose weight is 0 (being drained): it should fall to zero. New connections to them should stay at zero.', 'short',
                 [
                   g.query('(ipvs_backend_connections_active{%s} + ipvs_backend_connections_inactive{%s}) and on (%s) (ipvs_backend_weight{%s} == 0)' % [s, s, rs, s], rsLegend + ' held'),
                   g.query('rate(ipvs_backend_connections_total{%s}[$__rate_interval]) and on (%s) (ipvs_backend_weight{%s} == 0)' % [s, rs, s], rsLegend + ' new/s'),
                 ]),
    g.timeseries('Weights', 'The scheduling weight of each real server over time; 0 is drained.', 'short',
                 [g.query('ipvs_backend_weight{%s}' % s, rsLegend)]),

    g.row('Kernel rate estimates'),
    g.timeseries('Estimated connections per second', 'The kernel\'s own rate estimator (ipvsadm --rate) for the service: a 2-second timer with smoothing, independent of Prometheus\'s rate(). Per real server only with --collector.ipvs.estimates; the panels above compute it from the counters.', 'cps',
                 [g.query('ipvs_service_estimate_connections_per_second{%s}' % s, svcLegend)]),
    g.timeseries('Estimated bytes per second', 'The kernel\'s estimated bytes per second for the service, in above zero and out below.', 'Bps',
                 [
                   g.query('ipvs_service_estimate_incoming_bytes_per_second{%s}' % s, svcLegend + ' in'),
                   g.query('-ipvs_service_estimate_outgoing_bytes_per_second{%s}' % s, svcLegend + ' out'),
                 ]),
    g.timeseries('Estimated packets per second', 'The kernel\'s estimated packets per second for the service, in above zero and out below.', 'pps',
                 [
                   g.query('ipvs_service_estimate_incoming_packets_per_second{%s}' % s, svcLegend + ' in'),
                   g.query('-ipvs_service_estimate_outgoing_packets_per_second{%s}' % s, svcLegend + ' out'),
                 ]),
    g.timeseries('Service new connections', 'New connections per second for the service: the 5-minute rate of the counter against the kernel\'s estimate.', 'cps',
                 [
                   g.query('service:ipvs_service_connections:rate5m{%s}' % s, svcLegend + ' counter'),
                   g.query('ipvs_service_estimate_connections_per_second{%s}' % s, svcLegend + ' estimate'),
                 ]),
  ],
)
