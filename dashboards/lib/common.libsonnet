// What every ipvs_exporter dashboard shares, as a function of the mixin's `_config`
// (alerts/config.libsonnet): the variables, the label selector panels use, and the links
// between the dashboards.
local g = import 'grafana.libsonnet';

function(config) {
  config:: config,

  local clusterMatcher = if config.showMultiCluster then '%s=~"$cluster", ' % config.clusterLabel else '',

  // The matchers of fleet-wide panels: the exporter's series (the configured selector), the
  // chosen cluster when there are several, and the chosen jobs.
  jobSel:: std.join(', ', std.prune([
    config.ipvsSelector,
    if config.showMultiCluster then '%s=~"$cluster"' % config.clusterLabel else null,
    'job=~"$job"',
  ])),

  // The same narrowed to the chosen instances: what a panel puts in every selector.
  sel:: $.jobSel + ', instance=~"$instance"',

  variables(instanceMulti=true):: [
    g.datasourceVariable,
    g.queryVariable(
      'cluster', 'Cluster',
      'label_values(ipvs_up{%s}, %s)' % [config.ipvsSelector, config.clusterLabel],
      multi=false, includeAll=true,
      // hidden unless the fleet spans clusters (Thanos, Mimir)
      hide=if config.showMultiCluster then 0 else 2,
    ),
    g.queryVariable(
      'job', 'Job',
      'label_values(ipvs_up{%s%s}, job)' % [clusterMatcher, config.ipvsSelector],
      multi=true, includeAll=true,
    ),
    g.queryVariable(
      'instance', 'Instance',
      'label_values(ipvs_up{%s}, instance)' % $.jobSel,
      multi=instanceMulti, includeAll=instanceMulti,
    ),
  ],

  // The part of a link's address that carries the data source, the cluster, the jobs and the
  // time range over to another dashboard.
  carried:: '${datasource:queryparam}&${cluster:queryparam}&${job:queryparam}&${__url_time_range}',

  // A data link to dashboard `key` with `params` (`var-NAME=VALUE` pairs) besides the carried
  // ones.
  dataLink(title, key, params):: {
    title: title,
    url: '/d/%s?%s' % [config.dashboardUIDs[key], std.join('&', params + [$.carried])],
    targetBlank: false,
  },

  // A data link from a table row to the virtual service dashboard, on the row's instance and
  // the service labels among `labels` (the others are left at All).
  serviceLink(labels=['instance'] + config.serviceLabels)::
    $.dataLink('Virtual service ${__data.fields.proto} ${__data.fields.local_address}:${__data.fields.local_port}${__data.fields.local_mark} on ${__data.fields.instance}', 'service', [
      'var-%s=${__data.fields.%s}' % [l, l]
      for l in labels
    ]),

  // The titles of the dashboards, by key.
  titles:: {
    fleet: 'Fleet',
    service: 'Virtual service',
    host: 'Host tuning',
    vrrp: 'keepalived / VRRP',
  },

  // Links from a dashboard to each of the others, keeping the time range and the variables
  // (those the target has the same name of: datasource, cluster, job, instance...).
  links(key):: [
    {
      asDropdown: false,
      includeVars: true,
      keepTime: true,
      tags: [],
      targetBlank: false,
      title: $.titles[other],
      type: 'link',
      icon: 'dashboard',
      tooltip: '',
      url: '/d/%s' % config.dashboardUIDs[other],
    }
    for other in ['fleet', 'service', 'host', 'vrrp']
    if other != key
  ],

  dashboard(key, description, variables, panels)::
    g.dashboard(
      config.dashboardUIDs[key],
      '%s%s' % [config.dashboardNamePrefix, $.titles[key]],
      description,
      config.dashboardTags,
      variables,
      panels,
      $.links(key),
    ),
}
