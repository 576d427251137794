// Helpers the rule files share: selectors and label lists built from the configuration.
{
  new(c):: {
    // `{<the exporter's selector>, <extra matchers>}`
    sel(extra=[]):: '{%s}' % std.join(', ', [c.ipvsSelector] + extra),
    host:: std.join(', ', c.hostLabels),
    service:: std.join(', ', c.hostLabels + c.serviceLabels),
    backendOnly:: std.join(', ', c.backendOnlyLabels),
    // `5m` -> `rate5m`: the operation part of a recording rule's name
    rate:: 'rate' + c.rateInterval,
    // The virtual service as ipvsadm would show it, for annotations.
    serviceText:: '{{ $labels.proto }} {{ if $labels.local_mark }}fwmark {{ $labels.local_mark }}{{ else }}{{ $labels.local_address }}:{{ $labels.local_port }}{{ end }}',
    backendText:: '{{ $labels.remote_address }}:{{ $labels.remote_port }}',
  },
}
