# Sourced by alerts/generate.sh and dashboards/generate.sh: turns the overrides of the mixin's
# _config into jsonnet arguments, in the array `config_args`. Each may be given in the
# environment or as an option (the option wins):
#
#   --selector 'job="lb"'        IPVS_SELECTOR         the exporter's series (ipvsSelector)
#   --cluster-label region       IPVS_CLUSTER_LABEL    the label that names a fleet (clusterLabel)
#                                IPVS_MIXIN_CONFIG     any other fields, as a jsonnet object
#
# config_options "$@" takes the options off the front of the arguments; the rest are left in
# the array `rest_args`.
config_options() {
    rest_args=()
    while [ $# -gt 0 ]; do
        case $1 in
            --selector | --cluster-label)
                [ $# -ge 2 ] && [ -n "$2" ] || { echo "generate.sh: $1 needs a value" >&2; exit 2; }
                if [ "$1" = --selector ]; then IPVS_SELECTOR=$2; else IPVS_CLUSTER_LABEL=$2; fi
                shift 2 ;;
            --selector=*) IPVS_SELECTOR=${1#--selector=}; shift ;;
            --cluster-label=*) IPVS_CLUSTER_LABEL=${1#--cluster-label=}; shift ;;
            *) rest_args+=("$1"); shift ;;
        esac
    done
}
# config_args_from_env: the array `config_args`
config_args_from_env() {
    config_args=(
        --ext-str "ipvs_selector=${IPVS_SELECTOR:-}"
        --ext-str "ipvs_cluster_label=${IPVS_CLUSTER_LABEL:-}"
        --tla-code "config=
            local given(name, field) = if std.extVar(name) == '' then {} else { [field]: std.extVar(name) };
            given('ipvs_selector', 'ipvsSelector') + given('ipvs_cluster_label', 'clusterLabel') +
            (${IPVS_MIXIN_CONFIG:-{\}})"
    )
}
