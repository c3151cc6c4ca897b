"""The self-contained HTML report: curves, tables, gallery, trust warnings and the manifest.

One file with inline CSS and base64 PNG plots; a Content-Security-Policy forbids any
network fetch. Every value goes through :func:`html.escape`. No patient identifiers:
samples appear by their index in the run, data sources by name and fingerprint only.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from medrobust.reports.format import (
    adaptive_text,
    budget_text,
    corruption_lines,
    corruption_table,
    interval,
    mean_head,
    mean_text,
    num,
    passes_head,
    passes_text,
    random_init_note,
    sessions_text,
    strongest_attack,
    visibility_head,
    visibility_text,
)
from medrobust.reports.gallery import gallery_figure
from medrobust.reports.plots import curves_figure, figure_names, png_base64, subgroup_figure
from medrobust.results.summary import BudgetPoint, Subgroup, Summary

if TYPE_CHECKING:
    from medrobust.results.results import Results

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1180px;padding:1em 2em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:right}th{background:#f4f5f7}
td.l,th.l{text-align:left}tr.sep td{border-top:2px solid #999}
.sub{color:#555}.ci{color:#777;font-size:.9em}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em .9em;margin:.5em 0}
.ok{background:#eef8ee;border-left:4px solid #3a9a3a;padding:.5em .9em}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:10em}
.card b{display:block;font-size:1.5em}img.plot{max-width:100%;height:auto}
pre{background:#f6f8fa;padding:.7em;overflow:auto;font-size:.82em}code{font-size:.9em}
"""


def render_report(results: Results) -> str:
    """The full report as one HTML document."""
    s, m = results.summary, results.manifest
    title = f"medrobust report: {_model_name(m)} on {_data_name(m)}{random_init_note(m)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _overview(results),
        _warnings(s),
        "<h2>Robustness curves</h2>",
        _curves(results),
        "<h2>Summary</h2>",
        _summary_table(s),
        _attack_table(s),
        _corruption(s),
        "<h2>Per class</h2>",
        _per_class_table(s),
        _subgroups(s, _units(m)),
        _gallery(results),
        "<h2>Run manifest</h2>",
        _manifest(m),
        f'<p class="sub">summary schema {_e(s.schema_version)}; written by medrobust '
        f"{_e(m.get('libraries', {}).get('medrobust', '?'))}.</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def render_fragment(results: Results) -> str:
    """A compact HTML summary for notebooks: headline numbers, warnings, curves and table."""
    return "\n".join(
        [
            f"<div><h3>medrobust: {_e(_model_name(results.manifest))} on {_e(_data_name(results.manifest))}"
            f"{_e(random_init_note(results.manifest))}</h3>",
            _overview(results),
            _warnings(results.summary),
            _curves(results),
            _summary_table(results.summary),
            "</div>",
        ]
    )


def _overview(results: Results) -> str:
    s, m = results.summary, results.manifest
    cards = [
        ("samples", str(s.n)),
        ("task", str(s.task)),
        ("clean accuracy", num(s.clean.accuracy)),
    ]
    cards.append(("clean AUROC", num(s.clean.auroc)))
    strongest = strongest_attack(s)
    if strongest:
        last = max(s.attacks[strongest].budgets, key=lambda b: b.eps, default=None)
        if last is not None:
            cards.append((f"{strongest} at {budget_text(last)}", num(last.robust_accuracy)))
    cards.append(("trust warnings", str(len(s.warnings))))
    body = "".join(f'<div class="card"><span class="sub">{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in cards)
    when = f'<p class="sub">run {_e(str(m.get("medrobust_run", ""))[:12])}, finished {_e(m.get("finished", "?"))}, seed {_e(m.get("config", {}).get("seed", "?"))}</p>'
    return f'<div class="cards">{body}</div>{when}'


def _warnings(summary: Summary) -> str:
    warnings = summary.warnings
    adapted = "".join(f"<p>{_e(t)}</p>" for t in adaptive_text(summary))
    adapted = f"<h3>Adaptive attacks added</h3>{adapted}" if adapted else ""
    if not warnings:
        return f'<p class="ok">No trust warnings: the evaluation passed its own checks.</p>{adapted}'
    items = "".join(f'<div class="warn"><b>{_e(w.code)}</b>: {_e(w.message)}</div>' for w in warnings)
    return f"<h2>Trust warnings</h2>{items}{adapted}"


def _curves(results: Results) -> str:
    fig = curves_figure(results.summary, _units(results.manifest))
    return _img(png_base64(fig), "robust accuracy and AUROC against budget, per attack")


def _summary_table(s: Summary) -> str:
    head = [
        "attack",
        "budget",
        "k/255",
        "clean acc",
        "robust acc",
        "95% CI",
        "drop",
        "success rate",
        "sensitivity",
        "specificity",
        "AUROC",
        "95% CI",
        *mean_head(s),
        *passes_head(s),
        *visibility_head(s),
    ]
    rows = []
    clean = s.clean.accuracy
    for attack, a in s.attacks.items():
        for i, b in enumerate(sorted(a.budgets, key=lambda b: b.eps)):
            cells = [
                attack,
                _eps(b),
                b.label_255 or "",
                num(clean),
                num(b.robust_accuracy),
                interval(b.robust_accuracy_ci),
                num(b.drop),
                num(b.success_rate),
                num(b.sensitivity),
                num(b.specificity),
                num(b.auroc),
                interval(b.auroc_ci),
                *mean_text(s, b),
                *passes_text(s, b),
                *visibility_text(s, b),
            ]
            rows.append(_row(cells, left=2, cls="sep" if i == 0 else ""))
    return _table(head, rows, left=2)


def _attack_table(s: Summary) -> str:
    head = ["attack", "area under curve", "median minimal budget", "broken fraction"]
    rows = [
        _row([name, num(a.curve_area), num(a.median_min_budget, 4), num(a.broken_fraction)], left=1)
        for name, a in s.attacks.items()
    ]
    return "<h3>Per attack</h3>" + _table(head, rows, left=1)


def _per_class_table(s: Summary) -> str:
    names = list(s.label_names)
    head = ["attack", "budget", *names]
    rows = [_row(["clean", "", *(num(s.clean.per_class.get(n)) for n in names)], left=2)]
    for attack, a in s.attacks.items():
        for i, b in enumerate(sorted(a.budgets, key=lambda b: b.eps)):
            per = b.per_class
            rows.append(_row([attack, _eps(b), *(num(per.get(n)) for n in names)], left=2, cls="sep" if i == 0 else ""))
    note = '<p class="sub">Accuracy among the samples of each class (per finding for multi-label tasks).</p>'
    return note + _table(head, rows, left=2)


def _corruption(s: Summary) -> str:
    if s.corruption is None:
        return ""
    head, body = corruption_table(s.corruption)
    lines = "".join(f"<p>{_e(t)}</p>" for t in corruption_lines(s.corruption))
    return f"<h2>Acquisition shifts</h2>{lines}{_table(head, [_row(r, left=2) for r in body], left=2)}"


def _subgroups(s: Summary, units: str) -> str:
    splits = s.subgroups
    if not splits:
        return ""
    out = ["<h2>Subgroups</h2>"]
    for column, split in splits.items():
        out.append(f"<h3>by {_e(column)}</h3>")
        if split.error is not None:
            out.append(f'<p class="warn">{_e(split.error)}</p>')
            continue
        if column in figure_names(s):
            fig = subgroup_figure(s, column, units)
            if fig is not None:
                out.append(_img(png_base64(fig), f"robust accuracy by {column}"))
        out.append(_subgroup_table(s, split))
    return "\n".join(out)


def _subgroup_table(s: Summary, split: Subgroup) -> str:
    cols = [(attack, b.label) for attack, a in s.attacks.items() for b in sorted(a.budgets, key=lambda b: b.eps)]
    head = ["group", "n", "clean acc", *(f"{attack} {label}" for attack, label in cols)]
    rows = []
    for value, g in split.groups.items():
        curve = g.robust_accuracy
        cells = [
            value,
            g.n,
            num(g.clean_accuracy),
            *(num(curve.get(a, {}).get(label)) for a, label in cols),
        ]
        rows.append(_row(cells, left=1))
    gap = split.gap
    rows.append(
        _row(
            ["largest gap", "", num(split.clean_gap), *(num(gap.get(a, {}).get(label)) for a, label in cols)],
            left=1,
            cls="sep",
        )
    )
    return _table(head, rows, left=1)


def _gallery(results: Results) -> str:
    out = ["<h2>Gallery</h2>"]
    g = results.gallery
    attack = strongest_attack(results.summary, among=g.adversarial) if g is not None else None
    if g is None or attack is None or len(g.sample) == 0:
        out.append('<p class="sub">No gallery was kept for this run.</p>')
        return "\n".join(out)
    m = results.manifest
    budgets = results.summary.attacks[attack].budgets
    last = max(budgets, key=lambda b: b.eps) if budgets else None
    stages = m.get("model", {}).get("preprocessing", {}).get("stages", [])
    window = next((st for st in stages if st.get("stage") == "window"), None)  # file space: show it as the model does
    fig = gallery_figure(g, attack, results.clean, results.rows, results.summary.label_names, _bounds(m), window)
    out.append(
        f'<p class="sub">The first {len(g.sample)} samples under the strongest attack, {_e(attack)}, at its largest budget '
        f"{_e(budget_text(last)) if last is not None else ''}: clean image, adversarial image and their difference (amplified, red brighter, "
        f"blue darker). Titles give the true label and the prediction before and after. Pixels only; "
        f"3D volumes show their middle slice; samples are numbered by their position in the run.</p>"
    )
    out.append(_img(png_base64(fig), f"clean and adversarial examples under {attack}"))
    return "\n".join(out)


def _manifest(m: Mapping[str, Any]) -> str:
    model = m.get("model", {})
    data = m.get("data", {})
    config = m.get("config", {})
    device = m.get("device", {})
    facts = [
        ("run id", m.get("medrobust_run", "")),
        ("started / finished", f"{m.get('started', '?')} / {m.get('finished', '?')}"),
        ("sessions", sessions_text(m)),
        (
            "model",
            f"{model.get('name', '?')} ({model.get('head', '?')}, {model.get('num_logits', '?')} logits, threshold {model.get('threshold', '?')})",
        ),
        ("model fingerprint", model.get("fingerprint", "")),
        (
            "data",
            f"{data.get('name', '?')}: {data.get('n', '?')} samples, {data.get('task', '?')}, bounds {data.get('bounds', '?')} ({data.get('units', '')})",
        ),
        ("data fingerprint", data.get("fingerprint", "")),
        ("skipped inputs", str(len(data.get("skipped", []) or []))),
        ("seed", config.get("seed", "")),
        ("batch size", config.get("batch_size", "")),
        ("bootstrap draws", config.get("bootstrap", "")),
        ("device", ", ".join(f"{k} {v}" for k, v in device.items())),
    ]
    out = [_table(["", ""], [_row([k, v], left=2) for k, v in facts], left=2, header=False)]
    if m.get("resumed"):  # every session's share of a resumed run
        cells = [
            (ses.get("started"), ses.get("finished"), num(ses.get("seconds"), 1), ses.get("batches"))
            for ses in m["sessions"]
        ]
        rows = [_row(c, left=2) for c in cells]
        out.append("<h3>Sessions</h3>" + _table(["started", "finished", "seconds", "batches"], rows, left=2))
    libs = m.get("libraries", {})
    if libs:
        out.append(
            "<h3>Library versions</h3>"
            + _table(["library", "version"], [_row([k, v], left=2) for k, v in libs.items()], left=2)
        )
    secs = m.get("seconds", {})
    if secs:
        out.append(
            "<h3>Timings (seconds)</h3>"
            + _table(["stage", "seconds"], [_row([k, num(v, 2)], left=1) for k, v in secs.items()], left=1)
        )
    attacks = config.get("attacks", [])
    if attacks:
        out.append(f"<h3>Attacks</h3><pre>{_e(json.dumps(attacks, indent=1, default=str))}</pre>")
    eps = config.get("eps", [])
    if eps:
        out.append(f"<p>Budgets: {_e(', '.join(str(e.get('label', e)) for e in eps))}</p>")
    return "\n".join(out)


def _img(b64: str, alt: str) -> str:
    return f'<p><img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{b64}"></p>'


def _table(head: Sequence[str], rows: Iterable[str], left: int = 0, header: bool = True) -> str:
    th = "".join(f'<th class="{"l" if i < left else ""}">{_e(h)}</th>' for i, h in enumerate(head))
    return f"<table>{f'<thead><tr>{th}</tr></thead>' if header else ''}<tbody>{''.join(rows)}</tbody></table>"


def _row(cells: Sequence[Any], left: int = 0, cls: str = "") -> str:
    tds = "".join(f'<td class="{"l" if i < left else ""}">{_e(c)}</td>' for i, c in enumerate(cells))
    return f'<tr class="{cls}">{tds}</tr>' if cls else f"<tr>{tds}</tr>"


def _eps(b: BudgetPoint) -> str:
    return f"{b.label} ({num(b.eps, 4)})"


def _units(m: Mapping[str, Any]) -> str:
    return str(m.get("data", {}).get("units", "") or "")


def _bounds(m: Mapping[str, Any]) -> tuple[float, float]:
    b = m.get("data", {}).get("bounds") or m.get("model", {}).get("bounds") or (0.0, 1.0)
    return float(b[0]), float(b[1])


def _model_name(m: Mapping[str, Any]) -> str:
    return str(m.get("model", {}).get("name", "model"))


def _data_name(m: Mapping[str, Any]) -> str:
    return str(m.get("data", {}).get("name", "data"))


def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v), quote=True)
