// Small constructors for Grafana's classic dashboard JSON model (schemaVersion 39), enough
// for the ipvs_exporter dashboards: every panel queries the dashboard's `datasource` variable,
// and carries a description and a unit.
{
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // A Prometheus query. `instant` queries feed tables and stats.
  query(expr, legend='', instant=false, format='time_series'):: {
    datasource: $.datasource,
    expr: expr,
    legendFormat: legend,
    instant: instant,
    range: !instant,
    format: format,
  },

  local withRefIds(targets) = [
    targets[i] { refId: std.char(std.codepoint('A') + i) }
    for i in std.range(0, std.length(targets) - 1)
  ],

  local base(type, title, description, unit, targets, w, h) = {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    targets: withRefIds(targets),
    gridPos: { w: w, h: h },
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
  },

  // `links` are data links on every series (see common.libsonnet's dataLink).
  timeseries(title, description, unit, targets, w=12, h=8, stack=false, min=null, max=null, links=[])::
    base('timeseries', title, description, unit, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          [if links != [] then 'links']: links,
          custom: {
            drawStyle: 'line',
            lineWidth: 1,
            fillOpacity: if stack then 30 else 10,
            showPoints: 'never',
            stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
          },
          [if min != null then 'min']: min,
          [if max != null then 'max']: max,
        },
      },
      options: {
        legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['lastNotNull', 'max'] },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  stat(title, description, unit, targets, w=4, h=4, thresholds=null)::
    base('stat', title, description, unit, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'thresholds' },
          thresholds: {
            mode: 'absolute',
            steps: if thresholds == null then [{ color: 'green', value: null }] else thresholds,
          },
        },
      },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'none',
        textMode: 'auto',
        justifyMode: 'auto',
        orientation: 'auto',
      },
    },

  // A table of instant queries. `columns` renames and orders the fields to show (the rest are
  // hidden); `overrides` adds field overrides (links, value mappings, units per column);
  // `links` are data links on every cell, which can name the row's fields (`${__data.fields.x}`;
  // only the fields shown are there).
  table(title, description, unit, targets, columns, w=24, h=8, overrides=[], sortBy=null, links=[])::
    base('table', title, description, unit, targets, w, h) {
      fieldConfig+: {
        overrides: overrides,
        [if links != [] then 'defaults']+: { links: links },
      },
      options: {
        showHeader: true,
        cellHeight: 'sm',
        footer: { show: false, reducer: ['sum'], countRows: false, fields: '' },
        [if sortBy != null then 'sortBy']: [{ displayName: sortBy, desc: true }],
      },
      transformations: [
        { id: 'merge', options: {} },
        {
          id: 'organize',
          options: {
            excludeByName: { Time: true },
            indexByName: { [columns[i][0]]: i for i in std.range(0, std.length(columns) - 1) },
            renameByName: { [c[0]]: c[1] for c in columns },
          },
        },
        {
          id: 'filterFieldsByName',
          options: { include: { names: [c[0] for c in columns] } },
        },
      ],
    },

  // Series drawn as rows of cells: one row per series, colour by value.
  heatmap(title, description, unit, targets, w=24, h=10)::
    base('heatmap', title, description, unit, targets, w, h) {
      options: {
        calculate: false,
        cellGap: 1,
        color: { mode: 'scheme', scheme: 'Oranges', steps: 64, exponent: 0.5, fill: 'dark-orange', reverse: false },
        yAxis: { axisPlacement: 'left', unit: '' },
        rowsFrame: { layout: 'auto' },
        legend: { show: true },
        tooltip: { mode: 'single', yHistogram: false, showColorScale: true },
        cellValues: { unit: unit },
        exemplars: { color: 'rgba(255,0,255,0.7)' },
        filterValues: { le: 1e-9 },
      },
    },

  // One row per series, coloured by the value (VRRP states over time).
  stateTimeline(title, description, unit, targets, mappings, w=24, h=8)::
    base('state-timeline', title, description, unit, targets, w, h) {
      fieldConfig+: {
        defaults+: {
          color: { mode: 'thresholds' },
          thresholds: { mode: 'absolute', steps: [{ color: 'text', value: null }] },
          mappings: mappings,
          custom: { fillOpacity: 80, lineWidth: 0 },
        },
      },
      options: {
        mergeValues: true,
        showValue: 'auto',
        alignValue: 'left',
        rowHeight: 0.9,
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
        tooltip: { mode: 'single', sort: 'none' },
      },
    },

  row(title):: { type: 'row', title: title, collapsed: false, panels: [], gridPos: { w: 24, h: 1 } },

  // Places panels left to right in rows of 24 columns, a `row` panel starting a new line, and
  // numbers them.
  layout(panels)::
    local step(acc, p) =
      local w = p.gridPos.w;
      local h = p.gridPos.h;
      local wrap = p.type == 'row' || acc.x + w > 24;
      local x = if wrap then 0 else acc.x;
      local y = if wrap then acc.y + acc.rowH else acc.y;
      local rowH = if wrap then h else std.max(acc.rowH, h);
      {
        x: x + w,
        y: y,
        rowH: rowH,
        out: acc.out + [p { id: std.length(acc.out) + 1, gridPos: { x: x, y: y, w: w, h: h } }],
      };
    std.foldl(step, panels, { x: 0, y: 0, rowH: 0, out: [] }).out,

  // Dashboard variables.
  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    refresh: 1,
    regex: '',
    includeAll: false,
    multi: false,
    options: [],
  },

  queryVariable(name, label, query, multi=true, includeAll=true, hide=0, allValue='.*'):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.datasource,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    current: {},
    hide: hide,
    refresh: 2,
    regex: '',
    sort: 1,
    multi: multi,
    includeAll: includeAll,
    [if includeAll then 'allValue']: allValue,
    options: [],
  },

  dashboard(uid, title, description, tags, variables, panels, links=[]):: {
    uid: uid,
    title: title,
    description: description,
    tags: tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    timezone: '',
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    links: links,
    annotations: {
      list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }],
    },
    templating: { list: variables },
    panels: $.layout(panels),
  },
}
