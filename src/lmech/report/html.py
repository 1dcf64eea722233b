"""`report.html`: a self-contained page (figures inlined) rendering the store."""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import pandas as pd

from lmech.errors import LmechError
from lmech.report.figures import law_figure, png_bytes
from lmech.run.store import Store
from lmech.run.verdict import ALPHA

__all__ = ["REPORT_FILE", "render_report"]

REPORT_FILE = "report.html"

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem;
       color: #1f2328; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.92rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
.CONFIRMED { color: #1a7f37; font-weight: bold; }
.REFUTED { color: #cf222e; font-weight: bold; }
.INCONCLUSIVE { color: #9a6700; font-weight: bold; }
.ERROR { color: #6e7781; font-weight: bold; }
section { border-top: 1px solid #d0d7de; margin-top: 2rem; padding-top: 0.5rem; }
img { max-width: 100%; }
pre { background: #f6f8fa; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
.muted { color: #6e7781; font-size: 0.88rem; }
"""


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞"
        return f"{value:.3g}"
    return str(value)


def render_report(out: str | Path) -> Path:
    """Render the store in `out` to ``out/report.html`` and one PNG per law beside it.

    Raises:
        LmechError: there is no store in `out`, or `out` is not writable.
    """
    out = Path(out)
    store = Store(out)
    latest = store.latest_results()
    if latest.empty:
        raise LmechError(f"no results in {store.path}; run `lmech verify --out {out}` first")
    runs = store.runs()
    sections, rows = [], []
    for _, r in latest.iterrows():
        anchor = r["law"].replace(".", "-")
        figure = ""
        if r["verdict"] != "ERROR":
            fig = law_figure(r["law"], r["verdict"], store.points(r["run_id"], r["law"]),
                             json.loads(r["panels"] or "[]"))
            png = png_bytes(fig)
            try:
                (out / f"{anchor}.png").write_bytes(png)
            except OSError as err:
                raise LmechError(f"cannot write figures to {str(out)!r}: {err}") from None
            figure = (f'<img alt="{html.escape(r["law"])}" '
                      f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        rows.append(_table_row(r, anchor))
        sections.append(_section(r, anchor, figure))
    page = _page(rows, sections, runs)
    target = out / REPORT_FILE
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as err:
        raise LmechError(f"cannot write {str(target)!r}: {err}") from None
    return target


def _table_row(r: pd.Series, anchor: str) -> str:
    e = html.escape
    return (
        f'<tr><td><a href="#{anchor}">{e(r["law"])}</a></td><td>{e(r["claim"] or "")}</td>'
        f'<td class="{e(r["verdict"])}">{e(r["verdict"])}</td>'
        f'<td>{_fmt(r["agreement_z"])} (≤ {_fmt(r["z_critical"])})</td>'
        f'<td>{_fmt(r["foil_z"])} (&gt; {_fmt(r["z_critical"])})</td>'
        f'<td>{_fmt(r["seconds"])}</td><td>{e(str(r["budget"]))}</td></tr>'
    )


def _section(r: pd.Series, anchor: str, figure: str) -> str:
    e = html.escape
    params = json.loads(r["params"] or "{}")
    param_rows = "".join(
        f"<tr><td>{e(k)}</td><td>{e(json.dumps(v))}</td></tr>" for k, v in params.items()
    )
    stats = [
        ("verdict", r["verdict"]),
        ("agreement z (worst point, in s.e. beyond tolerance)", _fmt(r["agreement_z"])),
        ("agreement p (Bonferroni)", _fmt(r["agreement_p"])),
        ("worst point", _fmt(r["worst_point"])),
        ("foil z", _fmt(r["foil_z"])),
        ("foil p (Bonferroni)", _fmt(r["foil_p"])),
        ("foil rejected most at", _fmt(r["foil_point"])),
        ("z critical", _fmt(r["z_critical"])),
        ("alpha", _fmt(r["alpha"])),
        ("points", _fmt(r["n_points"])),
        ("seconds", _fmt(r["seconds"])),
        ("run", f'{r["run_id"]} · budget {r["budget"]} · seed {r["seed"]}'),
    ]
    stat_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in stats)
    has_error = isinstance(r["error"], str) and r["error"]
    error = f"<h4>Traceback</h4><pre>{e(r['error'])}</pre>" if has_error else ""
    return (
        f'<section id="{anchor}"><h2>{e(r["law"])} '
        f'<span class="{e(r["verdict"])}">{e(r["verdict"])}</span></h2>'
        f'<p>{e(r["claim"] or "")}</p>'
        f'<p class="muted">Source: {e(r["source"] or "")} · Pillar: {e(r["pillar"] or "")}</p>'
        f"{figure}<h4>Statistics</h4><table>{stat_rows}</table>"
        f"<h4>Parameters</h4><table>{param_rows}</table>{error}</section>"
    )


def _page(rows: list[str], sections: list[str], runs: pd.DataFrame) -> str:
    last = runs.iloc[0] if not runs.empty else None
    run_line = (
        f'Latest run {html.escape(str(last["run_id"]))} at {html.escape(str(last["started_at"]))}'
        f' · lmech {html.escape(str(last["lmech_version"]))}'
        f' · torch {html.escape(str(last["torch_version"]))}'
        f' · device {html.escape(str(last["device"]))} · status {html.escape(str(last["status"]))}'
        if last is not None else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lmech law book</title>
<style>{_CSS}</style></head><body>
<h1>lmech law book</h1>
<p class="muted">{run_line}</p>
<p>Each law's measurement is judged against its prediction and its foil. A point's excess
is how far the measurement lies outside the prediction's tolerance band, in standard
errors; the worst point must stay within the Bonferroni threshold z<sub>crit</sub>
(family-wise α = {ALPHA}) for the prediction to agree, and the foil's worst point must
exceed it for the foil to be rejected. CONFIRMED = agrees and foil rejected; REFUTED =
prediction rejected; INCONCLUSIVE = agrees but the foil is not rejected; ERROR = the law
raised.</p>
<table><tr><th>law</th><th>claim</th><th>verdict</th><th>agreement z</th>
<th>foil z</th><th>seconds</th><th>budget</th></tr>
{''.join(rows)}</table>
{''.join(sections)}
</body></html>
"""
