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
from lmech.run.verdict import ALPHA, MIN_UNITS, WEAK_FRACTION

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
.IDENTITY-HOLDS { color: #0969da; font-weight: bold; }
.IDENTITY-BROKEN { color: #8250df; font-weight: bold; }
.unexpected { background: #fff8c5; }
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


def _get(r: pd.Series, key: str):
    """A column of a results row; None when an older store lacks it or it is NULL."""
    value = r.get(key)
    return None if value is None or bool(pd.isna(value)) else value


def _verdict_class(verdict: str) -> str:
    return html.escape(verdict.replace(" ", "-"))


def render_report(out: str | Path) -> Path:
    """Render the store in `out` to ``out/report.html`` and one PNG per law beside it.

    Empirical laws and identities get separate tables; every law gets a section with its
    figure, its verdict's statistics and its parameters.

    Raises:
        LmechError: there is no store in `out`, or `out` is not writable.
    """
    out = Path(out)
    store = Store(out)
    latest = store.latest_results()
    if latest.empty:
        raise LmechError(f"no results in {store.path}; run `lmech verify --out {out}` first")
    runs = store.runs()
    sections, empirical, identities = [], [], []
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
        if _get(r, "kind") == "identity":
            identities.append(_identity_row(r, anchor))
        else:
            empirical.append(_empirical_row(r, anchor))
        sections.append(_section(r, anchor, figure))
    page = _page(empirical, identities, sections, runs)
    target = out / REPORT_FILE
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as err:
        raise LmechError(f"cannot write {str(target)!r}: {err}") from None
    return target


def _verdict_cell(r: pd.Series) -> str:
    expected = _get(r, "expected")
    mark = "" if expected is None or expected == r["verdict"] else " (unexpected)"
    cls = _verdict_class(r["verdict"]) + (" unexpected" if mark else "")
    return f'<td class="{cls}">{html.escape(r["verdict"])}{mark}</td>'


def _empirical_row(r: pd.Series, anchor: str) -> str:
    e = html.escape
    weak = " (weak)" if _get(r, "weak") else ""
    return (
        f'<tr><td><a href="#{anchor}">{e(r["law"])}</a></td>{_verdict_cell(r)}'
        f'<td>{_fmt(_get(r, "agreement"))}</td>'
        f'<td>{_fmt(_get(r, "detectable"))}</td><td>{_fmt(_get(r, "gap"))}{weak}</td>'
        f'<td>{_fmt(_get(r, "min_units"))}</td><td>{e(str(_get(r, "reason") or ""))}</td>'
        f'<td>{_fmt(r["seconds"])}</td><td>{e(str(r["budget"]))}</td></tr>'
    )


def _identity_row(r: pd.Series, anchor: str) -> str:
    e = html.escape
    return (
        f'<tr><td><a href="#{anchor}">{e(r["law"])}</a></td>{_verdict_cell(r)}'
        f'<td>{_fmt(_get(r, "deviation"))}</td><td>{_fmt(_get(r, "relative_deviation"))}</td>'
        f'<td>{_fmt(r["seconds"])}</td><td>{e(str(r["budget"]))}</td></tr>'
    )


_STATISTICS = (
    ("reason", "reason"),
    ("expected", "expected outcome"),
    ("agreement", "band reach (|m − h| + t·se)/tol at the worst point (≤ 1: inside)"),
    ("agreement_p", "equivalence p (Bonferroni)"),
    ("refutation_p", "refutation p (Bonferroni)"),
    ("worst_point", "worst point"),
    ("t_critical", "t critical there"),
    ("foil_p", "foil p, least rejected panel (Bonferroni)"),
    ("foil_point", "foil rejected least at"),
    ("detectable", "detectable deviation tol + t·se"),
    ("gap", "|prediction − foil| there"),
    ("power_ratio", f"detectable / gap (> {WEAK_FRACTION:g}: weak)"),
    ("power_point", "power read at"),
    ("deviation", "identity: largest |m − h| / tol"),
    ("relative_deviation", "identity: largest |m − h| / |h|"),
    ("min_units", "fewest independent units at a point"),
    ("tolerance_kind", "tolerance basis"),
    ("tolerance_why", "why"),
    ("alpha", "alpha"),
    ("n_points", "points"),
    ("seconds", "seconds"),
)


def _section(r: pd.Series, anchor: str, figure: str) -> str:
    e = html.escape
    params = json.loads(r["params"] or "{}")
    param_rows = "".join(
        f"<tr><td>{e(k)}</td><td>{e(json.dumps(v))}</td></tr>" for k, v in params.items()
    )
    stats = [("verdict", r["verdict"])]
    stats += [(label, _fmt(_get(r, key))) for key, label in _STATISTICS
              if _get(r, key) is not None and _get(r, key) != ""]
    stats.append(("run", f'{r["run_id"]} · budget {r["budget"]} · seed {r["seed"]}'))
    stat_rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in stats)
    has_error = isinstance(r["error"], str) and r["error"]
    error = f"<h4>Traceback</h4><pre>{e(r['error'])}</pre>" if has_error else ""
    kind = _get(r, "kind") or "empirical"
    return (
        f'<section id="{anchor}"><h2>{e(r["law"])} '
        f'<span class="{_verdict_class(r["verdict"])}">{e(r["verdict"])}</span></h2>'
        f'<p>{e(r["claim"] or "")}</p>'
        f'<p class="muted">{e(kind)} · Source: {e(r["source"] or "")} · '
        f'Pillar: {e(r["pillar"] or "")}</p>'
        f"{figure}<h4>Statistics</h4><table>{stat_rows}</table>"
        f"<h4>Parameters</h4><table>{param_rows}</table>{error}</section>"
    )


def _page(empirical: list[str], identities: list[str], sections: list[str],
          runs: pd.DataFrame) -> str:
    last = runs.iloc[0] if not runs.empty else None
    run_line = (
        f'Latest run {html.escape(str(last["run_id"]))} at {html.escape(str(last["started_at"]))}'
        f' · lmech {html.escape(str(last["lmech_version"]))}'
        f' · torch {html.escape(str(last["torch_version"]))}'
        f' · device {html.escape(str(last["device"]))} · status {html.escape(str(last["status"]))}'
        if last is not None else ""
    )
    identity_table = (
        "<h2>Identities</h2><p>Exact identities checked to rounding: useful checks of the "
        "bookkeeping, never counted as evidence for a theory.</p>"
        "<table><tr><th>law</th><th>verdict</th><th>largest |m − h| / tol</th>"
        f"<th>largest |m − h| / |h|</th><th>seconds</th><th>budget</th></tr>"
        f"{''.join(identities)}</table>" if identities else ""
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lmech law book</title>
<style>{_CSS}</style></head><body>
<h1>lmech law book</h1>
<p class="muted">{run_line}</p>
<p>Each empirical law is an equivalence test. Every measured point gets a simultaneous
(1 − α) confidence interval, α = {ALPHA} family-wise, Student-t at the number of
independent units behind it. CONFIRMED: every interval lies inside the prediction's
tolerance band and, on every panel with a foil, some interval lies wholly outside the
foil's band. REFUTED: some interval lies wholly outside the prediction's band.
INCONCLUSIVE: neither (too noisy, the foil not rejected, or fewer than {MIN_UNITS} units at a
point). The <em>detectable deviation</em> (tolerance + t·se) is the smallest departure the
experiment could show; a law whose detectable deviation exceeds {WEAK_FRACTION:g} of the
prediction–foil gap on some panel is marked weak.</p>
<h2>Empirical laws</h2>
<table><tr><th>law</th><th>verdict</th><th>band reach</th><th>detectable</th>
<th>|prediction − foil|</th><th>units</th><th>reason</th><th>seconds</th><th>budget</th></tr>
{''.join(empirical)}</table>
{identity_table}
{''.join(sections)}
</body></html>
"""
