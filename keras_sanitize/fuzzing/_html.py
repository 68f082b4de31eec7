"""The probe's HTML report: one self-contained file, plots embedded as PNG (matplotlib, lazy)."""

from __future__ import annotations

import base64
import html
import io
import os
from typing import TYPE_CHECKING, Any

from keras_sanitize.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from keras_sanitize.fuzzing._report import ProbeReport

__all__ = ["write_html"]

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:bold}
img{max-width:100%}code{background:#f3f3f3;padding:0 .2em}"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _effect(stats: dict[str, Any] | None) -> tuple[str, float] | None:
    if not stats:
        return None
    for key in ("follow_rate", "flip_rate", "leak_rate", "mean_abs_change"):
        if key in stats:
            return key, float(stats[key])
    return None


def _plots(report: ProbeReport) -> list[tuple[str, str]]:
    try:  # Figure objects, not pyplot: no global backend or figure state is touched
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "to_html needs matplotlib: pip install 'keras-sanitize[probe]' (or use to_json())"
        ) from None
    names = [r.name for r in report.families]
    out = []
    height = max(2.5, 0.28 * len(names) + 1)
    fig = Figure(figsize=(7, height))
    ax = fig.subplots()
    left = [0.0] * len(names)
    for key, colour in (("refused", "#2e7d32"), ("sanitized", "#f9a825"), ("passed", "#c62828")):
        vals = [getattr(r, key) / r.n if r.n else 0.0 for r in report.families]
        ax.barh(names, vals, left=left, color=colour, label=key)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_xlabel("share of attacked inputs")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    out.append(("What the pipeline did, per family", _png(fig)))

    rows = [(r.name, _effect(r.raw), _effect(r.guarded)) for r in report.families]
    rows = [row for row in rows if row[1] is not None]
    if rows:
        fig = Figure(figsize=(7, max(2.5, 0.28 * len(rows) + 1)))
        ax = fig.subplots()
        ys = list(range(len(rows)))
        ax.barh(
            [y - 0.2 for y in ys],
            [row[1][1] if row[1] else 0 for row in rows],
            0.4,
            color="#c62828",
            label="raw model",
        )
        ax.barh(
            [y + 0.2 for y in ys],
            [row[2][1] if row[2] else 0 for row in rows],
            0.4,
            color="#1565c0",
            label="behind the pipeline",
        )
        ax.set_yticks(ys, [f"{row[0]} ({row[1][0] if row[1] else ''})" for row in rows])
        ax.invert_yaxis()
        ax.set_xlim(left=0)
        ax.set_xlabel("output change: flip / follow rate, or mean |Δ|")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        out.append(("How the model's output moved, with and without the pipeline", _png(fig)))

    cal = report.calibration
    if cal and cal.get("settings"):
        settings = cal["settings"]
        labels = [f"bits={s['bit_depth']} median={s['median_size']}" for s in settings]
        fig = Figure(figsize=(7, max(2.5, 0.28 * len(settings) + 1)))
        ax = fig.subplots()
        ax.barh(labels, [s["catch_rate"] for s in settings], color="#6a1b9a")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_xlabel(f"catch rate at {cal.get('fpr', 0):.0%} false positives on benign images")
        out.append(("Feature-squeezing settings tried by calibrate", _png(fig)))
    return out


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def write_html(report: ProbeReport, path: str | os.PathLike[str]) -> None:
    """Write ``report`` as one self-contained HTML file at ``path``."""
    plots = _plots(report)
    e = html.escape
    s = report.summary()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>keras_sanitize probe: {e(report.target)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Probe of <code>{e(report.target)}</code></h1>",
        f"<p>modality <b>{e(report.modality)}</b>, pipeline <b>{e(report.pipeline or 'none')}</b>, "
        f"seed {report.seed}, budget {report.budget}: {s['n']} attacked inputs, {s['refused']} refused, "
        f"{s['sanitized']} sanitized, {s['passed']} passed unchanged, "
        f"{s['crashes']} with target failures.</p>",
        "<h2>What to harden next</h2>",
    ]
    ranking = report.ranking()
    if ranking:
        parts.append(
            "<ol>"
            + "".join(
                f"<li><b>{e(r['family'])}</b> (score {r['score']:.2f}): {e(r['why'])}</li>" for r in ranking
            )
            + "</ol>"
        )
    else:
        parts.append("<p>Nothing got through: every family was refused or moved nothing.</p>")
    for title, src in plots:
        parts.append(f"<h2>{e(title)}</h2><img alt='{e(title)}' src='{src}'>")
    parts.append(
        "<h2>Families</h2><table><tr><th>family</th><th>n</th><th>refused</th><th>sanitized</th>"
        "<th>passed</th><th>failures</th><th>raw</th><th>guarded</th><th>refused by</th></tr>"
    )
    for r in report.families:
        raw, guarded = _effect(r.raw), _effect(r.guarded)
        codes = ", ".join(f"{k} ({v})" for k, v in sorted(r.refusal_codes.items(), key=lambda kv: -kv[1])[:3])
        parts.append(
            f"<tr><td title='{e(r.description)}'>{e(r.name)}</td><td>{r.n}</td><td>{r.refused}</td>"
            f"<td>{r.sanitized}</td><td>{r.passed}</td>"
            f"<td class='{'bad' if r.crashes else ''}'>{r.crashes}</td>"
            f"<td>{e(f'{raw[0]} {raw[1]:.3f}') if raw else '-'}</td>"
            f"<td>{e(f'{guarded[0]} {guarded[1]:.3f}') if guarded else '-'}</td>"
            f"<td>{e(codes) or '-'}</td></tr>"
        )
    parts.append("</table>")
    cal = report.calibration
    if cal:
        chosen = cal.get("chosen", {})
        parts.append(
            "<h2>Squeezing detector calibration</h2>"
            f"<p>calibrate chose <b>bit_depth={chosen.get('bit_depth')}, "
            f"median_size={chosen.get('median_size')}</b> (threshold {_fmt(chosen.get('threshold'))}), "
            f"catching {_fmt(chosen.get('catch_rate'))} of {cal.get('attacks')} attacks at "
            f"{_fmt(chosen.get('false_positive_rate'))} false positives on "
            f"{cal.get('benign')} benign images.</p>"
            "<table><tr><th>bit_depth</th><th>median_size</th><th>threshold</th><th>catch rate</th>"
            "<th>false positives</th></tr>"
        )
        for row in cal.get("settings", []):
            parts.append(
                "<tr>"
                + "".join(
                    f"<td>{_fmt(row[k])}</td>"
                    for k in ("bit_depth", "median_size", "threshold", "catch_rate", "false_positive_rate")
                )
                + "</tr>"
            )
        parts.append("</table>")
    if report.findings:
        parts.append("<h2>Findings about the target</h2><ul>")
        parts += [f"<li><code>{e(f.code)}</code>: {e(f.message)}</li>" for f in report.findings]
        parts.append("</ul>")
    if report.skipped:
        parts.append("<h2>Skipped families</h2><ul>")
        parts += [f"<li>{e(k)}: {e(v)}</li>" for k, v in report.skipped.items()]
        parts.append("</ul>")
    parts.append(
        "<p>Rates are over all attacked inputs of a family; an input the pipeline refused counts as "
        "moving nothing. Intervals are 95 % (Wilson for rates).</p></body></html>"
    )
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(parts))
