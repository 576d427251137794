"""Loads each dashboard given on the command line through grafana-foundation-sdk's typed
models (Grafana's own schema, generated) and reports whatever the typed model does not keep:
a field the schema does not know is dropped when the dashboard is decoded, so encoding it again
and comparing with the file finds misspelt or misplaced keys. Also checks that every panel type
is a known panel plugin and every query decodes as a Prometheus query.

usage: python3 sdk_check.py DASHBOARD.json...   (exit status 1 on any problem)
"""
import json
import sys

from grafana_foundation_sdk.cog import plugins, runtime
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import prometheus
from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel


def lost(orig, back, path, out):
    """Records every part of `orig` that `back` (the re-encoded model) does not have."""
    if isinstance(orig, dict):
        if not isinstance(back, dict):
            out.append(f"{path}: an object became {type(back).__name__}")
            return
        for key, value in orig.items():
            if key not in back:
                out.append(f"{path}.{key}: not in the schema (dropped when decoded)")
            else:
                lost(value, back[key], f"{path}.{key}", out)
    elif isinstance(orig, list):
        if not isinstance(back, list) or len(back) != len(orig):
            out.append(f"{path}: list changed")
            return
        for i, (a, b) in enumerate(zip(orig, back)):
            lost(a, b, f"{path}[{i}]", out)
    elif orig != back:
        out.append(f"{path}: {orig!r} came back as {back!r}")


def main(files):
    plugins.register_default_plugins()
    problems = []
    for name in files:
        with open(name) as f:
            data = json.load(f)
        model = Dashboard.from_json(data)
        back = json.loads(json.dumps(model, cls=JSONEncoder))
        found = []
        lost(data, back, "", found)
        for panel in model.panels or []:
            if isinstance(panel, RowPanel):
                continue
            if runtime.panelcfg_config(panel.type_val) is None:
                found.append(f"panel {panel.title!r}: unknown panel type {panel.type_val!r}")
            for target in panel.targets or []:
                if not isinstance(target, prometheus.Dataquery):
                    found.append(f"panel {panel.title!r}: a query is not a Prometheus query")
        problems += [f"{name}: {p}" for p in found]
        print(f"{name}: {len(model.panels or [])} panels decoded, {len(found)} problem(s)")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
