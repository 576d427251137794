// The ipvs_exporter mixin: alerts and recording rules from one configuration.
//   (import 'mixin.libsonnet') + { _config+:: { ipvsSelector: 'job="lb"' } }
(import 'config.libsonnet') +
(import 'alerts.libsonnet') +
(import 'rules.libsonnet')
