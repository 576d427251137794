# Sourced by alerts/generate.sh and dashboards/generate.sh: turns the environment's overrides of
# the mixin's _config into jsonnet arguments, in the array `config_args`.
#
#   IPVS_SELECTOR='job="lb"'          the exporter's series (ipvsSelector)
#   IPVS_CLUSTER_LABEL=region         the label that names a fleet (clusterLabel)
#   IPVS_MIXIN_CONFIG='{ ... }'       any other fields, as a jsonnet object
config_args=(
    --ext-str "ipvs_selector=${IPVS_SELECTOR:-}"
    --ext-str "ipvs_cluster_label=${IPVS_CLUSTER_LABEL:-}"
    --tla-code "config=
        local given(name, field) = if std.extVar(name) == '' then {} else { [field]: std.extVar(name) };
        given('ipvs_selector', 'ipvsSelector') + given('ipvs_cluster_label', 'clusterLabel') +
        (${IPVS_MIXIN_CONFIG:-{\}})"
)
