"""Data-channel injection detection: held-out TPR / FPR on documents, and latency per 1 KB.

Everything here is held out from ``scripts/train_data_channel.py``: BIPIA's *test* attacks
(75 text, 50 code; categories disjoint from the training ones) spliced, as BIPIA does, on their
own line at the start, the middle (before a sentence) or the end of BIPIA's *test* contexts
(e-mails, tables, code answers; the tables and code answers are CC BY-SA and were never
trained on, not even their training split), into web pages built from the test e-mails
(visible, in an HTML comment, in ``alt`` text, in a ``display:none`` element, in white text),
and into Python standard-library docstrings the script never read. Each context gets every
attack once, at one of the three positions in turn. FPR is measured on the same documents
without the attack. The threshold is the shipped one (set on the training script's
validation documents); nothing here was used to choose it.

    KERAS_BACKEND=jax KS_BIPIA_DIR=/path/to/BIPIA .venv/bin/python benchmarks/bench_injection_data.py
"""

from __future__ import annotations

import html
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _harness import Row, render

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
POSITIONS = ("start", "middle", "end")
HIDING = ("visible", "comment", "alt", "display_none", "white_text")


def _page(body: str, attack: str, how: str) -> str:
    paras = "".join(f"<p>{html.escape(p)}</p>\n" for p in body.split("\n") if p.strip())
    a = html.escape(attack, quote=True)
    inject = {
        "": "",
        "visible": f"<p>{a}</p>\n",
        "comment": f"<!-- {attack} -->\n",
        "alt": f'<img src="banner.png" alt="{a}">\n',
        "display_none": f'<div style="display:none">{a}</div>\n',
        "white_text": f'<span style="color:#ffffff">{a}</span>\n',
    }[how]
    return f"<html><head><title>Newsletter</title></head><body>\n{inject}{paras}</body></html>"


def corpus() -> dict[str, tuple[list[str], list[tuple[str, str]]]] | None:
    """kind -> (clean documents, [(attacked document, position or hiding place)])."""
    import data_channel_data as D
    import injection_data

    root = D.bipia_dir()
    if root is None:
        return None
    text_att = [a for v in D.bipia_attacks(root, "text", "test").values() for a in v]
    code_att = [a for v in D.bipia_attacks(root, "code", "test").values() for a in v]
    out: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}
    for kind, attacks in (("email", text_att), ("table", text_att), ("code", code_att)):
        ctxs = D.bipia_contexts(root, kind, "test")
        attacked = []
        for i, ctx in enumerate(ctxs):
            for j, att in enumerate(attacks):
                where = POSITIONS[(i + j) % 3]
                attacked.append((D.splice(ctx, att, where, seed=i * 1000 + j), where))
        out[kind] = (ctxs, attacked)
    emails = D.bipia_contexts(root, "email", "test")
    pages = [_page(e, "", "") for e in emails]
    attacked_pages = []
    for j, att in enumerate(text_att):
        for k, how in enumerate(HIDING):
            attacked_pages.append((_page(emails[(j + k) % len(emails)], att, how), how))
    out["web page"] = (pages, attacked_pages)
    # docstring paragraphs past the ones the training script read (it took the first 3000)
    paras = [t for t, _ in injection_data.python_docs(limit=10**6)][3000:3300]
    docs = ["\n\n".join(paras[i : i + 5]) for i in range(0, len(paras), 5)]
    attacked_docs = []
    for i, doc in enumerate(docs):
        for j, att in enumerate(text_att[i % 5 :: 5]):
            where = POSITIONS[(i + j) % 3]
            attacked_docs.append((D.splice(doc, att, where, seed=i * 1000 + j), where))
    out["docstrings"] = (docs, attacked_docs)
    return out


def _rates(
    flag: Callable[[str], bool], clean: list[str], attacked: list[tuple[str, str]]
) -> tuple[float, float, dict[str, float]]:
    fp = np.array([flag(d) for d in clean])
    tp = np.array([flag(d) for d, _ in attacked])
    by: dict[str, list[bool]] = {}
    for (_, where), hit in zip(attacked, tp):
        by.setdefault(where, []).append(bool(hit))
    return float(tp.mean()), float(fp.mean()), {k: float(np.mean(v)) for k, v in by.items()}


def accuracy(data: dict[str, tuple[list[str], list[tuple[str, str]]]]) -> list[Row]:
    import keras_sanitize as ks
    from keras_sanitize.text.verifiers import DataInjection, PromptInjectionRules

    det = DataInjection()
    rules = PromptInjectionRules()
    data_pipe = ks.text.default(channel="data")
    escalated = ks.text.default(channel="data", policy={"text.prompt_injection.data_model": "reject"})
    prompt_pipe = ks.text.default()
    rows: list[Row] = []
    all_clean: list[str] = []
    all_attacked: list[tuple[str, str]] = []
    for kind, (clean, attacked) in data.items():
        all_clean += clean
        all_attacked += attacked
        tpr, fpr, by = _rates(lambda d: det.scan(d).score >= det.threshold, clean, attacked)
        detail = ", ".join(f"{k} {v:.3f}" for k, v in by.items())
        rows.append(Row("injection_data", f"{kind}: TPR, DataInjection (rules + model)",
                        value=round(100 * tpr, 1), unit="%", goal="≥ 90%",
                        note=f"{len(attacked)} attacked documents; by place: {detail}"))  # fmt: skip
        rows.append(Row("injection_data", f"{kind}: FPR, the same documents without the attack",
                        value=round(100 * fpr, 1), unit="%", goal="≤ 1%",
                        note=f"{len(clean)} clean documents"))  # fmt: skip
    tpr, fpr, _ = _rates(lambda d: det.scan(d).score >= det.threshold, all_clean, all_attacked)
    rows.append(Row("injection_data", "all documents: TPR", value=round(100 * tpr, 1), unit="%", goal="≥ 90%",
                    note=f"{len(all_attacked)} attacked documents"))  # fmt: skip
    rows.append(Row("injection_data", "all documents: FPR", value=round(100 * fpr, 1), unit="%", goal="≤ 1%",
                    note=f"{len(all_clean)} clean documents"))  # fmt: skip
    # whole pipelines, and the prompt rules added to the data channel (measured, not shipped)
    sample = all_attacked[::7]
    for what, flag in (
        ('ks.text.default(channel="data") refuses (rules alone; the model warns)',
         lambda d: not data_pipe.run(d).ok),
        ('ks.text.default(channel="data", policy={"text.prompt_injection.data_model": "reject"}) refuses',
         lambda d: not escalated.run(d).ok),
        ('ks.text.default() (prompt channel) refuses', lambda d: not prompt_pipe.run(d).ok),
        ("DataInjection OR PromptInjectionRules (not shipped)",
         lambda d: det.scan(d).score >= det.threshold or rules.score(d) >= rules.threshold),
    ):  # fmt: skip
        tpr, fpr, _ = _rates(flag, all_clean, sample)
        rows.append(Row("injection_data/pipelines", what, value=round(100 * tpr, 1), unit="%",
                        note=f"TPR on every 7th attacked document ({len(sample)}); FPR {100 * fpr:.1f}% "
                             f"on {len(all_clean)} clean"))  # fmt: skip
    return rows


def latency(data: dict[str, tuple[list[str], list[tuple[str, str]]]]) -> list[Row]:
    import keras_sanitize as ks
    from keras_sanitize.text.verifiers import DataInjection

    det = DataInjection()
    pipe = ks.text.default(channel="data")
    docs = []
    for kind in ("email", "table", "code", "web page"):
        clean, attacked = data[kind]
        docs += [d[:1024] for d in clean[:40]] + [d[:1024] for d, _ in attacked[:40:4]]
    docs = [d for d in docs if len(d) >= 1000]
    rows = []
    for what, fn in (("DataInjection.scan", det.scan), ('ks.text.default(channel="data").run', pipe.run)):
        for d in docs[:20]:
            fn(d)  # warm-up
        times = []
        for _ in range(5):
            for d in docs:
                t0 = time.perf_counter()
                fn(d)
                times.append(time.perf_counter() - t0)
        p50, p99 = float(np.percentile(times, 50)), float(np.percentile(times, 99))
        rows.append(Row("injection_data/latency", f"{what}, 1 KB document, p50", p50, goal="≤ 0.5 ms",
                        note=f"{len(docs)} documents x 5 (e-mails, tables, code, pages)"))  # fmt: skip
        rows.append(Row("injection_data/latency", f"{what}, 1 KB document, p99", p99, goal="≤ 10 ms"))
    return rows


def run() -> list[Row]:
    os.environ.setdefault("KERAS_BACKEND", "jax")
    start = time.perf_counter()
    data = corpus()
    if data is None:
        return [Row("injection_data", "skipped: BIPIA absent (set KS_BIPIA_DIR to a BIPIA checkout)")]
    rows = accuracy(data) + latency(data)
    rows.append(Row("injection_data", f"(bench time {time.perf_counter() - start:.0f} s)"))
    return rows


if __name__ == "__main__":
    print(render(run()))
