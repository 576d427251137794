#!/usr/bin/env python3
"""Draws a few panels of the Grafana dashboards into one PNG, for the README.

It reads the dashboards' JSON (dashboards/*.json), runs the real queries of the panels listed
in PANELS against a Prometheus over its HTTP API (variables given the values a viewer would
pick, $__rate_interval a fixed window), and draws each panel as its type says: a timeseries as
lines, a stat as a big number, a table as a table. It is a picture of what the dashboards show,
not Grafana: the image says so.

usage: dashboards.py --prometheus URL --start UNIX --end UNIX --out PNG
                     [--dashboards DIR] [--instance NAME] [--job NAME] [--rate-interval 15s]
"""

import argparse
import json
import math
import os
import re
import sys
import urllib.parse
import urllib.request
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

# The panels drawn, in rows: (dashboard file, panel title). A row's panels share its width.
PANELS = [
    [
        ("fleet.json", "Directors up"),
        ("fleet.json", "Virtual services"),
        ("fleet.json", "Real servers"),
        ("fleet.json", "New connections"),
        ("fleet.json", "Alerts firing"),
    ],
    [
        ("fleet.json", "Directors"),
        ("fleet.json", "New connections per host"),
    ],
    [
        ("virtual-service.json", "Share of new connections"),
        ("virtual-service.json", "Active connections"),
        ("virtual-service.json", "Drain of weight-0 real servers"),
    ],
]

CAPTION = "rendered with matplotlib from a lab Prometheus, not Grafana"

# Grafana's dark theme, roughly
BACKGROUND = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
MUTED = "#8e8e9e"
PALETTE = ["#73bf69", "#f2cc0c", "#5794f2", "#ff9830", "#f2495c", "#b877d9", "#8ab8ff", "#ff780a"]
COLORS = {"green": "#73bf69", "red": "#f2495c", "orange": "#ff9830", "blue": "#5794f2"}


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    p.add_argument("--start", type=float, required=True, help="seconds since the epoch")
    p.add_argument("--end", type=float, required=True, help="seconds since the epoch")
    p.add_argument("--out", required=True, help="the PNG to write")
    p.add_argument("--dashboards", default=os.path.join(here, "..", "..", "dashboards"))
    p.add_argument("--instance", default="director", help="the host of one-host dashboards")
    p.add_argument("--job", default="ipvs_exporter")
    p.add_argument("--rate-interval", default="15s", help="the value of $__rate_interval")
    return p.parse_args()


class Prometheus:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def api(self, path, params):
        url = "%s%s?%s" % (self.url, path, urllib.parse.urlencode(params))
        with urllib.request.urlopen(url, timeout=60) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError("%s: %s" % (url, body))
        return body["data"]["result"]

    def range(self, expr, start, end, step):
        return self.api("/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": step})

    def instant(self, expr, at):
        return self.api("/api/v1/query", {"query": expr, "time": at})


def variable_values(dashboard, args):
    """The value of each variable: the job, the one host where a dashboard shows one, and the
    "All" value of every other (longest names first, so that $local_address is not $local)."""
    values = {}
    for v in dashboard["templating"]["list"]:
        name = v["name"]
        if name == "datasource":
            continue
        if name == "job":
            values[name] = args.job
        elif name == "instance" and not v.get("multi"):
            values[name] = args.instance
        elif v.get("includeAll") and "allValue" in v:
            values[name] = v["allValue"]
        else:
            raise SystemExit("dashboards.py: no value for variable %s" % name)
    return sorted(values.items(), key=lambda kv: -len(kv[0]))


def substitute(expr, values, rate_interval):
    expr = expr.replace("$__rate_interval", rate_interval)
    for name, value in values:
        expr = expr.replace("$" + name, value)
    if re.search(r"\$[A-Za-z_]", expr):
        raise SystemExit("dashboards.py: a variable left in %s" % expr)
    return expr


def legend(fmt, labels):
    if not fmt:
        return "{" + ", ".join("%s=%s" % kv for kv in sorted(labels.items())) + "}"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt).strip()


def human(value, unit):
    """A value as Grafana would print it, roughly, in the panel's unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "percentunit":
        return "%.0f%%" % (value * 100)
    suffix = {"cps": " c/s", "Bps": " B/s", "pps": " p/s", "s": " s"}.get(unit, "")
    a = abs(value)
    for div, pre in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return "%.1f %s%s" % (value / div, pre, suffix.strip() or "")
    if a == int(a):
        return "%d%s" % (value, suffix)
    return "%s%s" % (("%.2f" % value).rstrip("0").rstrip("."), suffix)


def find_panel(dashboard, title):
    for p in dashboard["panels"]:
        for q in [p] + p.get("panels", []):
            if q.get("title") == title and q.get("type") != "row":
                return q
    raise SystemExit("dashboards.py: no panel %r" % title)


def frame(ax, title, subtitle):
    ax.set_facecolor(PANEL)
    for s in ax.spines.values():
        s.set_color(BORDER)
    ax.set_title(title, loc="left", color=TEXT, fontsize=10, fontweight="bold", pad=6)
    if subtitle:
        ax.text(1.0, 1.01, subtitle, transform=ax.transAxes, ha="right", va="bottom", color=MUTED, fontsize=7)


def draw_timeseries(ax, panel, prom, values, args):
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    step = max(1, int((args.end - args.start) / 300))
    stacked = panel["fieldConfig"]["defaults"].get("custom", {}).get("stacking", {}).get("mode") == "normal"
    below = {}  # stacking: the sum of the series drawn so far, by timestamp
    n = 0
    for t in panel["targets"]:
        expr = substitute(t["expr"], values, args.rate_interval)
        for series in prom.range(expr, args.start, args.end, step):
            stamps = [float(ts) for ts, _ in series["values"]]
            ys = [float(v) for _, v in series["values"]]
            base = [below.get(ts, 0.0) if stacked else 0.0 for ts in stamps]
            tops = [b + y for b, y in zip(base, ys)]
            xs = [datetime.fromtimestamp(ts, tz=timezone.utc) for ts in stamps]
            color = PALETTE[n % len(PALETTE)]
            ax.plot(xs, tops, color=color, linewidth=1.2,
                    label=legend(t.get("legendFormat", ""), series["metric"]))
            if stacked:
                ax.fill_between(xs, base, tops, color=color, alpha=0.25, linewidth=0)
                below.update(zip(stamps, tops))
            n += 1
    defaults = panel["fieldConfig"]["defaults"]
    if "min" in defaults:
        ax.set_ylim(bottom=defaults["min"])
    if "max" in defaults:
        ax.set_ylim(top=defaults["max"])
    ax.tick_params(colors=MUTED, labelsize=7)
    ax.grid(color=BORDER, linewidth=0.5)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: human(v, unit)))
    if n:
        leg = ax.legend(fontsize=6.5, loc="upper left", frameon=False, ncol=2 if n > 4 else 1,
                        labelcolor=TEXT, handlelength=1.2)
        for line in leg.get_lines():
            line.set_linewidth(2)
    else:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", color=MUTED)
    return n


def stat_color(panel, value):
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    color = "green"
    for s in steps:
        if s.get("value") is None or (value is not None and value >= s["value"]):
            color = s["color"]
    return COLORS.get(color, PALETTE[0])


def draw_stat(ax, panel, prom, values, args):
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    expr = substitute(panel["targets"][0]["expr"], values, args.rate_interval)
    result = prom.instant(expr, args.end)
    value = float(result[0]["value"][1]) if result else None
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.42, human(value, unit), transform=ax.transAxes, ha="center", va="center",
            fontsize=26, fontweight="bold", color=stat_color(panel, value))
    return 1 if result else 0


def table_columns(panel):
    organize = next(t for t in panel["transformations"] if t["id"] == "organize")["options"]
    order = sorted(organize["indexByName"].items(), key=lambda kv: kv[1])
    return [(field, organize["renameByName"].get(field, field)) for field, _ in order]


def draw_table(ax, panel, prom, values, args):
    """Grafana's merge of instant table queries: rows joined on their common labels, each
    query's value a column `Value #<refId>` (just `Value` when there is one query)."""
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    units = {}
    for o in panel["fieldConfig"].get("overrides", []):
        for prop in o["properties"]:
            if prop["id"] == "unit" and o["matcher"]["id"] == "byName":
                units[o["matcher"]["options"]] = prop["value"]
    columns = table_columns(panel)
    labels = [f for f, _ in columns if not f.startswith("Value")]
    rows = {}
    single = len(panel["targets"]) == 1
    for t in panel["targets"]:
        expr = substitute(t["expr"], values, args.rate_interval)
        for series in prom.instant(expr, args.end):
            key = tuple(series["metric"].get(lab, "") for lab in labels)
            row = rows.setdefault(key, dict(zip(labels, key)))
            row["Value" if single else "Value #" + t["refId"]] = float(series["value"][1])
    ax.axis("off")
    if not rows:
        ax.text(0.5, 0.5, "No data", transform=ax.transAxes, ha="center", color=MUTED)
        return 0
    cells = []
    for key in sorted(rows):
        row = rows[key]
        line = []
        for field, shown in columns:
            v = row.get(field)
            line.append(human(v, units.get(shown, unit)) if isinstance(v, float) else (v or ""))
        cells.append(line)
    headers = [shown.replace(" ", "\n", 1) if len(shown) > 10 else shown for _, shown in columns]
    table = ax.table(cellText=cells, colLabels=headers, loc="upper center",
                     cellLoc="left", colLoc="left", bbox=[0, 0, 1, 1])
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor(BORDER)
        cell.set_facecolor(PANEL)
        cell.get_text().set_color(MUTED if r == 0 else TEXT)
        if r == 0:
            cell.get_text().set_fontweight("bold")
    return len(rows)


DRAW = {"timeseries": draw_timeseries, "stat": draw_stat, "table": draw_table}


def main():
    args = parse_args()
    prom = Prometheus(args.prometheus)
    loaded = {}
    for row in PANELS:
        for name, _ in row:
            if name not in loaded:
                with open(os.path.join(args.dashboards, name)) as f:
                    loaded[name] = json.load(f)

    fig = plt.figure(figsize=(14, 9), dpi=100, facecolor=BACKGROUND)
    heights = [1, 2.2, 2.2]
    grid = fig.add_gridspec(len(PANELS), 1, height_ratios=heights, left=0.04, right=0.985,
                            top=0.93, bottom=0.06, hspace=0.42)
    start = datetime.fromtimestamp(args.start, tz=timezone.utc)
    end = datetime.fromtimestamp(args.end, tz=timezone.utc)
    fig.text(0.04, 0.965, "ipvs_exporter dashboards", color=TEXT, fontsize=15, fontweight="bold")
    fig.text(0.985, 0.965, "%s to %s UTC, a lab run: traffic, a drain, a misconfiguration, a VRRP failover"
             % (start.strftime("%Y-%m-%d %H:%M"), end.strftime("%H:%M")),
             color=MUTED, fontsize=8.5, ha="right")
    empty = []
    for i, row in enumerate(PANELS):
        # tables get twice a timeseries' width
        widths = [2 if find_panel(loaded[n], t)["type"] == "table" else 1 for n, t in row]
        sub = grid[i].subgridspec(1, len(row), width_ratios=widths, wspace=0.22 if i else 0.08)
        for j, (name, title) in enumerate(row):
            d = loaded[name]
            panel = find_panel(d, title)
            ax = fig.add_subplot(sub[j])
            dash_title = d["title"]
            frame(ax, title, dash_title)
            got = DRAW[panel["type"]](ax, panel, prom, variable_values(d, args), args)
            if not got:
                empty.append("%s: %s" % (name, title))
    fig.text(0.5, 0.015, CAPTION, color=MUTED, fontsize=9, ha="center", style="italic")
    fig.savefig(args.out, facecolor=BACKGROUND)
    if empty:
        print("dashboards.py: no data for " + "; ".join(empty), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
