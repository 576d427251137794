// The dashboards of the mixin: each file a function of the one `_config`
// (alerts/config.libsonnet), rendered into `grafanaDashboards` by file name.
{
  grafanaDashboards+:: {
    'fleet.json': (import 'fleet.libsonnet')($._config),
    'host-tuning.json': (import 'host-tuning.libsonnet')($._config),
    'keepalived-vrrp.json': (import 'keepalived-vrrp.libsonnet')($._config),
    'virtual-service.json': (import 'virtual-service.libsonnet')($._config),
  },
}
