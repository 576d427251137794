// The ipvs_exporter monitoring mixin: Prometheus alerts, recording rules and Grafana dashboards
// from one configuration (alerts/config.libsonnet). Vendor it with jsonnet-bundler and override
// what differs, for example:
//
//   (import 'ipvs_exporter/mixin.libsonnet') + {
//     _config+:: { ipvsSelector: 'job="lb"', clusterLabel: 'region' },
//   }
//
// gives `prometheusAlerts`, `prometheusRules` and `grafanaDashboards` (file name -> dashboard).
(import 'alerts/mixin.libsonnet') +
(import 'dashboards/mixin.libsonnet')
