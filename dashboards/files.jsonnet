// The generated dashboards, by file name (jsonnet -m DIR), from the top-level mixin with
// `config` over its `_config` (dashboards/generate.sh passes the overrides it is given).
function(config={})
  ((import '../mixin.libsonnet') + { _config+:: config }).grafanaDashboards
