// What every ipvs_exporter dashboard shares: the configuration (taken from the alerts' one
// place, alerts/config.libsonnet), the variables, and the label selector panels use.
local g = import 'grafana.libsonnet';
local config = (import 'config.libsonnet');

{
  config:: config,

  // The matcher a panel puts in every selector: the exporter's job (narrowed by the `job`
  // variable), the chosen cluster when there are several, and the chosen instances.
  sel:: std.join(', ', std.prune([
    if config.showMultiCluster then '%s=~"$cluster"' % config.clusterLabel else null,
    'job=~"$job"',
    'instance=~"$instance"',
  ])),

  // The same without the instance: fleet-wide panels.
  jobSel:: std.join(', ', std.prune([
    if config.showMultiCluster then '%s=~"$cluster"' % config.clusterLabel else null,
    'job=~"$job"',
  ])),

  local clusterMatcher = if config.showMultiCluster then '%s=~"$cluster", ' % config.clusterLabel else '',

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
      'label_values(ipvs_up{%sjob=~"$job"}, instance)' % clusterMatcher,
      multi=instanceMulti, includeAll=instanceMulti,
    ),
  ],

  // Links from each dashboard to the others, by tag.
  links:: [{
    asDropdown: true,
    includeVars: true,
    keepTime: true,
    tags: config.dashboardTags,
    targetBlank: false,
    title: 'IPVS dashboards',
    type: 'dashboards',
    icon: 'external link',
    tooltip: '',
    url: '',
  }],

  dashboard(key, title, description, variables, panels)::
    g.dashboard(
      config.dashboardUIDs[key],
      '%s%s' % [config.dashboardNamePrefix, title],
      description,
      config.dashboardTags,
      variables,
      panels,
      $.links,
    ),
}
