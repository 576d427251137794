// Writes rule groups as Prometheus rule-file YAML with the keys in the order people read them
// (alert or record, expr, for, labels, annotations). Strings are JSON-quoted (valid YAML);
// expressions are block literals.
local quote(s) = std.escapeStringJson(s);
local indent(s, pad) = std.join('\n', [if line == '' then '' else pad + line for line in std.split(s, '\n')]);
local block(key, s, pad) =
  local text = if std.endsWith(s, '\n') then std.substr(s, 0, std.length(s) - 1) else s;
  '%s%s: |-\n%s' % [pad, key, indent(text, pad + '  ')];
// the keys named in `first` come first, in that order; the others follow sorted
local map(key, obj, pad, first=[]) =
  local keys = [k for k in first if std.objectHas(obj, k)] + [k for k in std.objectFields(obj) if !std.member(first, k)];
  '%s%s:\n%s' % [pad, key, std.join('\n', ['%s  %s: %s' % [pad, k, quote(obj[k])] for k in keys])];

local rule(r) =
  local head = if std.objectHas(r, 'alert') then '- alert: %s' % quote(r.alert) else '- record: %s' % quote(r.record);
  std.join('\n', std.prune([
    head,
    block('expr', r.expr, '  '),
    if std.objectHas(r, 'for') then '  for: %s' % quote(r['for']) else null,
    if std.objectHas(r, 'labels') then map('labels', r.labels, '  ') else null,
    if std.objectHas(r, 'annotations') then map('annotations', r.annotations, '  ', ['summary', 'description', 'runbook_url']) else null,
  ]));

{
  // `{groups: [...]}` as the text of a rule file, after a comment header.
  ruleFile(rules, header)::
    std.join('\n', [header, 'groups:'] + [
      indent('- name: %s\n  rules:\n%s' % [quote(g.name), indent(std.join('\n', [rule(r) for r in g.rules]), '    ')], '  ')
      for g in rules.groups
    ] + ['']),
}
