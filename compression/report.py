"""The review report: chosen runs as one self-contained HTML page (and a PDF of it) to take away.

Pure: a runs frame in, a string out. plotly.js is inlined once (the first figure), so the file opens
offline and stays small; every string a person typed (notes, tags, who, recipes, layer names) is
HTML-escaped; no local path (artifact files, store location) is written. The PDF is the same page
printed by Debian's chromium in headless mode, with no network (the page needs none).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
import math
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.io as pio

from compression import fmt, metrics
from compression.charts import compare as charts

MAX_RUNS = 50  # a report of a filter (a tag): a review covers a decision, not the whole store
MAX_CONTEXT = 2000  # runs drawn around the chosen ones on the front; beyond it, dominated runs are sampled
PDF_TIMEOUT_S = 90.0
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class ReportError(RuntimeError):
    """The report (or its PDF) could not be made; the message says why and what to do."""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def measurement_of(row: Any) -> metrics.Measurement:
    """A run row rebuilt as the Measurement it was recorded from (empty optional fields as None)."""
    vals: dict[str, Any] = {}
    for f in dataclasses.fields(metrics.Measurement):
        v = row.get(f.name)
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            v = None if f.default is None else (f.default if f.default is not dataclasses.MISSING else 0)
        elif hasattr(v, "item"):
            v = v.item()
        vals[f.name] = v
    return metrics.Measurement(**vals)


def _context(chosen: pd.DataFrame, context: pd.DataFrame | None) -> tuple[pd.DataFrame, str]:
    """The runs drawn on the front: the shown runs (capped) plus every chosen run."""
    cols = [c for c in chosen.columns if c != "layers"]
    if context is None or context.empty:
        return chosen[cols], ""
    ctx = pd.concat([context[[c for c in cols if c in context]], chosen[cols]], ignore_index=True)
    ctx = ctx.drop_duplicates("id").reset_index(drop=True)
    note = ""
    if len(ctx) > MAX_CONTEXT:
        keep = ctx["id"].isin(chosen["id"]) | ctx["technique"].eq("baseline")
        rest = (
            ctx[~keep].sample(MAX_CONTEXT - int(keep.sum()), random_state=0)
            if keep.sum() < MAX_CONTEXT
            else None
        )
        note = f" The front is drawn from {MAX_CONTEXT:,} of the {len(ctx):,} shown runs (a fixed sample of the others)."
        ctx = pd.concat([ctx[keep], rest]) if rest is not None else ctx[keep]
    return ctx.reset_index(drop=True), note


def _fig_html(fig: Any, first: bool) -> str:
    fig.update_layout(width=None, autosize=True)
    return pio.to_html(
        fig,
        include_plotlyjs=first,  # inlined once: the page opens offline and holds one copy
        full_html=False,
        default_width="100%",
        config={"displaylogo": False, "responsive": True},
        validate=False,
    )


def _delta_pts(v: float | None, base: float | None) -> str:
    return "—" if v is None or base is None else f"{(v - base) * 100:+.2f} pts"


def summary_rows(chosen: pd.DataFrame, pool: pd.DataFrame) -> list[dict[str, str]]:
    """The table: every number against the run's own original baseline (paired speed-ups with IQR)."""
    out = []
    for _, r in chosen.iterrows():
        num = charts.number
        top1, base = num(r["top1"]), charts.baseline_top1(r, pool)
        speed = {b: fmt.speedup(num(r.get(f"speedup_b{b}")), num(r.get(f"speedup_b{b}_lo")), num(r.get(f"speedup_b{b}_hi"))) for b in (256, 1)}  # fmt: skip
        dense, file = num(r["size_dense_bytes"]) or 0.0, num(r["size_artifact_bytes"]) or 1.0
        out.append(
            {
                "Run": f"#{int(r['id'])}",
                "Technique": str(r["technique"]),
                "Model": f"{r['arch']} on {r['dataset']}",
                "Top-1 (Δ vs own baseline)": "—"
                if top1 is None
                else f"{top1:.2%} ({_delta_pts(top1, base)})",
                "Parameters gone (zero or removed)": f"{charts.sparsity(r):.1%}",
                "File (vs dense fp32)": f"{fmt.bytes_(file)} ({dense / max(1.0, file):.1f}x smaller)",
                "Theory size": fmt.bytes_(num(r["size_theoretical_bytes"])),
                "Speed-up b256 (paired, IQR)": speed[256],
                "Speed-up b1 (paired, IQR)": speed[1],
                "Timing": "not timed"
                if not charts.was_timed(r)
                else ("noisy: re-measure" if bool(r.get("latency_noisy") or False) else "ok"),
            }
        )
    return out


def _table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>No runs.</p>"
    head = "".join(f"<th>{_e(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def runs_as(m: Any) -> str:
    """What executes the run: real quantized kernels, float kernels on a smaller network, or float kernels
    on every weight (a structurally pruned run was called 'masks or fake quantization')."""
    if not m.runs_dense:
        return "real quantized (or half-precision) kernels"
    if m.baseline_params and m.params_total < m.baseline_params:
        return "float kernels on a smaller network (channels removed or layers factorised)"
    return "float kernels on every weight (zeros and fake-quantized values computed like any other)"


def _run_section(r: Any, base: float | None) -> str:
    rid = int(r["id"])
    m = measurement_of(r)
    created = (
        pd.Timestamp(r["created_at"]).strftime("%Y-%m-%d %H:%M UTC")
        if r.get("created_at") is not None
        else "—"
    )
    tags = ", ".join(r["tags"]) if len(r["tags"]) else "none"
    gaps = metrics.explain_gaps(m) or ["Measured size and speed match what the compression promises."]
    recipe = json.dumps(list(r["recipe"]), indent=2, sort_keys=True, default=str)
    facts = [
        ("Technique", r["technique"]),
        ("Model", f"{r['arch']} on {r['dataset']} (baseline weights {r['baseline_hash'] or 'not recorded'})"),
        ("Recorded by", r["who"] or "(unnamed)"),
        ("Recorded", created),
        ("Tags", tags),
        ("Top-1 / top-5", f"{m.top1:.2%} ({_delta_pts(m.top1, base)} vs its own baseline) / {m.top5:.2%}"),
        ("Parameters", f"{m.params_nonzero:,} non-zero of {m.params_total:,} (baseline: {m.baseline_params or m.params_total:,})"),
        ("Size", f"dense fp32 {fmt.bytes_(m.size_dense_bytes)}, theory {fmt.bytes_(m.size_theoretical_bytes)}, file {fmt.bytes_(m.size_artifact_bytes)}"),
        ("MACs", f"{fmt.count(m.macs)} executed, {fmt.count(m.macs_effective)} effective"),
        ("Speed-up (paired)", f"b256 {fmt.speedup(m.speedup_b256, m.speedup_b256_lo, m.speedup_b256_hi)}, b1 {fmt.speedup(m.speedup_b1, m.speedup_b1_lo, m.speedup_b1_hi)}"),
        ("Latency", f"b1 {fmt.ms(m.latency_b1_ms)}, b256 {fmt.ms(m.latency_b256_ms)}"),
        ("Timed on", f"{m.cpu or 'a CPU not recorded'}, {m.threads} thread(s)" if charts.was_timed(r) else "not timed"),
        ("Runs as", runs_as(m)),
    ]  # fmt: skip
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in facts)
    notes = _e(r["notes"]) if r["notes"] else "<em>none</em>"
    return (
        f'<section class="run" id="run-{rid}"><h3>Run #{rid}: {_e(r["technique"])}</h3>'
        f"<dl>{dl}</dl>"
        f"<h4>Why measured and promised differ</h4><ul>{''.join(f'<li>{_e(g)}</li>' for g in gaps)}</ul>"
        f'<h4>Recipe (in full)</h4><pre class="recipe">{_e(recipe)}</pre>'
        f'<h4>Notes</h4><div class="notes">{notes}</div></section>'
    )


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#111827;padding:0 1rem}
h1{margin-bottom:.2rem} .meta{color:#475569} table.runs{border-collapse:collapse;width:100%;font-size:12px}
table.runs th,table.runs td{border:1px solid #cbd5e1;padding:4px 6px;text-align:left;vertical-align:top}
table.runs th{background:#f1f5f9} dl{display:grid;grid-template-columns:12rem 1fr;gap:2px 12px}
dt{font-weight:600} dd{margin:0} pre.recipe{background:#f8fafc;border:1px solid #e2e8f0;padding:8px;white-space:pre-wrap}
.notes{white-space:pre-wrap;border-left:3px solid #cbd5e1;padding-left:8px} section.run{break-inside:avoid;margin-top:1.5rem}
.figure{break-inside:avoid} @page{size:A4 landscape;margin:12mm} @media print{body{margin:0;max-width:none} .modebar-container{display:none!important}}
"""


def build_html(
    chosen: pd.DataFrame,
    context: pd.DataFrame | None = None,
    *,
    title: str = "Compression Lab: review report",
    cost: str = "size_artifact_bytes",
    accuracy: str = "top1",
    symbol_by: str = "dataset",
    log_x: bool = False,
    view_url: str = "",
    generated: dt.datetime | None = None,
    baselines: pd.DataFrame | None = None,
) -> str:
    """The report for `chosen` (a RunStore.frame(..., with_layers=True)), with the front of `context` (the shown runs).

    baselines: the store's baseline runs, where each chosen run's accuracy change is read even when
    a filter (a tag) left its baseline out of `context`."""
    if chosen.empty:
        raise ReportError("Choose at least one run for the report.")
    chosen = chosen.reset_index(drop=True)
    front_runs, sample_note = _context(chosen, context)
    plain = chosen[[c for c in chosen.columns if c != "layers"]]
    pool = pd.concat(
        [f for f in (front_runs, plain, baselines) if f is not None and not f.empty], ignore_index=True
    )
    ids = [int(i) for i in chosen["id"]]
    generated = generated or dt.datetime.now(dt.UTC)
    cpus = sorted({str(c) for c in chosen.get("cpu", pd.Series(dtype=str)).fillna("") if c})
    threads = sorted({int(t) for t in chosen["threads"].dropna()})
    parts = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{len(ids)} chosen run(s): {_e(", ".join(f"#{i}" for i in ids))} · made '
        f"{_e(generated.strftime('%Y-%m-%d %H:%M UTC'))} · timed on {_e('; '.join(cpus) or 'a CPU not recorded')} "
        f"with {_e(', '.join(map(str, threads)) or '?')} thread(s) (latency and paired speed-ups)</p>",
    ]
    if view_url.startswith(("http://", "https://")):  # never a javascript: or file: link
        parts.append(f'<p class="meta">The view in the app: <a href="{_e(view_url)}">{_e(view_url)}</a></p>')
    fig = charts.plot_pareto(
        front_runs, cost, accuracy=accuracy, symbol_by=symbol_by, log_x=log_x, selected=ids, height=560
    )
    parts += [
        "<h2>The Pareto front</h2>",
        f"<p>Accuracy against {_e(charts.COST_AXES[cost].label.lower())}; the chosen runs are outlined in black. "
        f"{len(front_runs):,} runs drawn.{_e(sample_note)}</p>",
        f'<div class="figure">{_fig_html(fig, True)}</div>',
        "<h2>Chosen runs against their own baselines</h2>",
        _table(summary_rows(chosen, pool)),
        "<p>Speed-ups are paired: each run was timed interleaved with its own original baseline in one process "
        "(median of the per-round ratios, interquartile range in brackets). Sizes and parameters gone are against the "
        "original baseline's dense fp32 weights. Δ top-1 is against the baseline's own run (— where the store holds none: "
        "runs recorded before baselines were recorded with them, or imported without theirs).</p>",
    ]
    if charts._layers_data(chosen).empty:
        parts.append("<h2>Per layer</h2><p>These runs were recorded without a per-layer table.</p>")
    else:
        parts.append("<h2>Per layer</h2>")
        for metric in (
            "nonzero",
            "bits",
        ):  # non-zero weights: what masked, structured pruning and low rank change
            parts.append(
                f'<div class="figure"><h3>{_e(charts.LAYER_METRICS[metric])}</h3>'
                f"{_fig_html(charts.plot_layers(chosen, metric), False)}</div>"
            )
    parts.append("<h2>Each run in full</h2>")
    for _, r in chosen.iterrows():
        parts.append(_run_section(r, charts.baseline_top1(r, pool)))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


# ---------------------------------------------------------------- PDF


def chromium_path() -> str | None:
    """Debian's chromium (or $CHROMIUM): the browser that prints the PDF."""
    env = os.environ.get("CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


def to_pdf(page: str, *, timeout: float = PDF_TIMEOUT_S, chromium: str | None = None) -> bytes:
    """The HTML report printed to PDF by headless chromium (no network: the page needs none)."""
    exe = chromium or chromium_path()
    if exe is None:
        raise ReportError(
            "The PDF needs Chromium, which is not installed here: `apt-get install chromium` (Debian), or set "
            "CHROMIUM to a Chrome/Chromium binary. The HTML report works without it."
        )
    with tempfile.TemporaryDirectory(prefix="cla-report-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(page, encoding="utf-8")
        cmd = [
            exe,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-extensions",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
            "--run-all-compositor-stages-before-draw",
            "--virtual-time-budget=15000",  # let plotly draw before printing
            "--window-size=1032,1460",  # A4 landscape less the margins at 96 dpi: charts laid out at the page's
            # width (printing does not resize them: at the default 800 px they filled half the page)
            f"--user-data-dir={Path(tmp) / 'profile'}",
            f"--print-to-pdf={out}",
            src.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ReportError(f"Chromium did not finish the PDF within {timeout:.0f} s.") from exc
        except OSError as exc:
            raise ReportError(f"Chromium could not be started ({exc.strerror}).") from exc
        if not out.is_file() or out.stat().st_size == 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise ReportError(f"Chromium printed no PDF (exit {proc.returncode}): {' / '.join(tail)[:400]}")
        return out.read_bytes()
