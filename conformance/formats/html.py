"""One self-contained HTML page: verdict and counts, a coloured scenario x backend matrix with
tag, status and text filters, every failure expandable to its diff and a copy-paste repro,
and a chart of timing ratios. No network: styles, script and chart are inline.

The page is rendered here, not by its script, so it reads fine with scripts off; the script
only filters, copies, and reads filters from the URL (`#status=fail,error&tag=hooks`).
"""

from __future__ import annotations

from html import escape

from conformance.formats.chart import Bar, ratio_chart
from conformance.formats.common import (
    BENCH_TAG,
    PROBLEMS,
    SEVERITY,
    environment_text,
    known,
    matrix_rows,
    problems,
    seconds,
    spec_set_text,
    summary_text,
    timed,
    verdict,
)
from conformance.report.runfile import Ratio, ResultRecord, RunRecord
from conformance.run.results import Status

_STYLE = """
:root { --pass:#1b7f3b; --pass-bg:#dcf3e2; --fail:#b3261e; --fail-bg:#fbd5d2;
  --error:#8a3b00; --error-bg:#ffd8b0; --xfail:#7a5d00; --xfail-bg:#fff0b3;
  --xpass:#7b1fa2; --xpass-bg:#f1d5f7; --unsupported:#546e7a; --unsupported-bg:#eceff1;
  --unavailable:#616161; --unavailable-bg:#e0e0e0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
  color: #1d1d1f; background: #fafafa; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { font-size: 20px; margin: 0 8px 6px 0; display: inline-block; }
h2 { font-size: 17px; margin: 26px 0 10px; }
main { padding: 0 24px 40px; }
.verdict { display: inline-block; padding: 3px 12px; border-radius: 4px; font-weight: 700;
  color: #fff; vertical-align: 3px; }
.verdict.PASS { background: var(--pass); } .verdict.FAIL { background: var(--fail); }
.meta { color: #555; font-size: 13px; margin-top: 2px; }
.meta.incomplete { color: var(--fail); font-size: 15px; margin: 6px 0; }
.counts { display: flex; gap: 8px; flex-wrap: wrap; margin-top: 10px; }
.count { border: 0; border-radius: 6px; padding: 6px 12px; font: inherit; cursor: pointer; }
.count b { font-size: 18px; margin-right: 4px; }
.filters { position: sticky; top: 0; z-index: 2; background: #fafafa; padding: 10px 0;
  display: flex; gap: 14px; align-items: center; flex-wrap: wrap;
  border-bottom: 1px solid #e4e4e4; }
.filters label { white-space: nowrap; }
.filters input[type=search] { padding: 4px 8px; width: 220px; }
table.matrix { border-collapse: collapse; background: #fff; }
.matrix th, .matrix td { border: 1px solid #e2e2e2; padding: 3px 8px; text-align: left; }
.matrix thead th { position: sticky; top: 52px; background: #f0f0f0; }
.matrix td.id { font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; }
.matrix td.cell { min-width: 120px; font-weight: 600; }
.matrix td.cell a { color: inherit; }
.matrix td.cell small { font-weight: 400; color: #444; margin-left: 6px; }
.tag { display: inline-block; font-size: 11px; color: #555; background: #eee;
  border-radius: 3px; padding: 0 4px; margin-left: 4px; }
.s-pass { background: var(--pass-bg); color: var(--pass); }
.s-fail { background: var(--fail-bg); color: var(--fail); }
.s-error { background: var(--error-bg); color: var(--error); }
.s-xfail { background: var(--xfail-bg); color: var(--xfail); }
.s-xpass { background: var(--xpass-bg); color: var(--xpass); }
.s-unsupported { background: var(--unsupported-bg); color: var(--unsupported); }
.s-unavailable { background: var(--unavailable-bg); color: var(--unavailable); }
details.failure { background: #fff; border: 1px solid #ddd; border-left: 5px solid var(--fail);
  border-radius: 4px; margin: 8px 0; padding: 6px 12px; }
details.failure.k-error { border-left-color: var(--error); }
details.failure.k-xpass { border-left-color: var(--xpass); }
details.failure.k-xfail { border-left-color: #e6c200; }
details.failure summary { cursor: pointer; font-weight: 600; color: var(--fail); }
details.failure.k-error summary { color: var(--error); }
details.failure.k-xpass summary { color: var(--xpass); }
details.failure.k-xfail summary { color: var(--xfail); }
details.failure summary code { font-weight: 600; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; border-radius: 4px; padding: 8px;
  overflow-x: auto; font-size: 12.5px; }
pre.diff { white-space: pre-wrap; }
.copy { float: right; font-size: 12px; cursor: pointer; }
.chart .label, .chart .tick, .chart .value, .chart .axis-title { font: 12px system-ui,
  sans-serif; fill: #333; }
.chart .label { font-family: ui-monospace, Menlo, monospace; }
table.timing { border-collapse: collapse; background: #fff; }
.timing th, .timing td { border: 1px solid #e2e2e2; padding: 3px 8px; }
.timing td.num { text-align: right; font-variant-numeric: tabular-nums; }
.overview { margin-top: 12px; display: grid; grid-template-columns: max-content 1fr;
  gap: 4px 10px; align-items: start; }
.strip-name { font-size: 12px; color: #444; text-align: right; }
.squares { display: flex; flex-wrap: wrap; gap: 2px; max-width: 1100px; }
.sq { display: block; width: 9px; height: 14px; border-radius: 2px; }
.sq.s-pass { background: #5cb87a; } .sq.s-fail { background: var(--fail); }
.sq.s-error { background: #e07b00; } .sq.s-xfail { background: #e6c200; }
.sq.s-xpass { background: var(--xpass); } .sq.s-unsupported { background: #b0bec5; }
.sq.s-unavailable { background: #9e9e9e; }
nav { margin-top: 8px; font-size: 13px; }
[hidden] { display: none !important; }
"""

_SCRIPT = """
(function () {
  const rows = Array.from(document.querySelectorAll('#matrix tbody tr'));
  const fails = Array.from(document.querySelectorAll('details.failure'));
  const boxes = Array.from(document.querySelectorAll('input[name=status]'));
  const tag = document.getElementById('tag');
  const text = document.getElementById('text');
  const shown = document.getElementById('shown');
  function apply(fromUser) {
    const want = new Set(boxes.filter(b => b.checked).map(b => b.value));
    const t = tag.value, q = text.value.trim().toLowerCase();
    const keep = el => {
      const statuses = el.dataset.statuses.split(' ');
      const tags = el.dataset.tags.split(' ');
      return statuses.some(s => want.has(s)) && (!t || tags.includes(t)) &&
        (!q || el.dataset.id.toLowerCase().includes(q));
    };
    let n = 0;
    rows.forEach(r => { r.hidden = !keep(r); if (!r.hidden) n++; });
    fails.forEach(f => { f.hidden = !keep(f); });
    shown.textContent = n + ' of ' + rows.length + ' scenarios shown';
    if (!fromUser) return;
    const params = new URLSearchParams();
    if (want.size !== boxes.length) params.set('status', Array.from(want).join(','));
    if (t) params.set('tag', t);
    if (q) params.set('q', q);
    history.replaceState(null, '', params.toString() ? '#' + params : location.pathname);
  }
  function load() {
    const id = location.hash.slice(1);
    const linked = id.startsWith('f-') && document.getElementById(id);
    if (linked) { linked.open = true; return; }
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.has('status')) {
      const want = new Set(params.get('status').split(','));
      boxes.forEach(b => { b.checked = want.has(b.value); });
    }
    if (params.has('tag')) tag.value = params.get('tag');
    if (params.has('q')) text.value = params.get('q');
  }
  boxes.forEach(b => b.addEventListener('change', () => apply(true)));
  tag.addEventListener('change', () => apply(true));
  text.addEventListener('input', () => apply(true));
  document.querySelectorAll('button.count').forEach(button => button.addEventListener(
    'click', () => { boxes.forEach(b => { b.checked = b.value === button.dataset.status; });
      apply(true); }));
  document.querySelectorAll('a[data-open]').forEach(a => a.addEventListener('click', () => {
    const target = document.getElementById(a.dataset.open);
    if (target) { target.hidden = false; target.open = true; }
  }));
  document.querySelectorAll('button.copy').forEach(button => button.addEventListener(
    'click', () => {
      const code = document.getElementById(button.dataset.target).textContent;
      const done = () => { button.textContent = 'copied'; };
      if (navigator.clipboard) navigator.clipboard.writeText(code).then(done, () => {});
      else { const range = document.createRange();
        range.selectNodeContents(document.getElementById(button.dataset.target));
        getSelection().removeAllRanges(); getSelection().addRange(range); }
    }));
  load();
  apply(false);
  document.body.dataset.ready = 'yes';
})();
"""


def html_report(run: RunRecord) -> str:
    title = f"Conformance report: {verdict(run)}"
    body = [
        _header(run),
        "<main>",
        _filters(run),
        _failures(run),
        _timing(run),
        _matrix(run),
        "</main>",
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>{_STYLE}</style></head><body>",
            *body,
            f"<script>{_SCRIPT}</script>",
            "</body></html>",
            "",
        ]
    )


def _header(run: RunRecord) -> str:
    outcome = verdict(run)
    counts = []
    for status in SEVERITY:
        n = run.summary.get(status.value, 0)
        if n:
            counts.append(
                f'<button class="count s-{status.value}" data-status="{status.value}" '
                f'title="show only {status.value}"><b>{n}</b>{status.value}</button>'
            )
    stale = "".join(f'<div class="meta">⚠️ {escape(w)}</div>' for w in run.stale)
    if run.incomplete is not None:  # the counts cover only what finished before the stop
        stale = (
            f'<div class="meta incomplete">⛔ <b>Incomplete run:</b> {escape(run.incomplete)}. '
            "Only the results finished by then are shown; the gate fails this run.</div>"
        ) + stale
    spec = f" · spec set {escape(spec_set_text(run, code=''))}" if run.spec_hash else ""
    return (
        f'<header><h1>autograd-conformance</h1><span class="verdict {outcome}">{outcome}'
        f"</span>"
        f'<div class="meta">{escape(summary_text(run))}</div>'
        f'<div class="meta">{escape(environment_text(run))} · run {escape(run.created)}'
        f"{spec}</div>"
        f'<div class="meta">backends: {_backends(run)}</div>{stale}'
        f'<div class="counts">{"".join(counts)}</div>{_overview(run)}'
        '<nav><a href="#failures">failures</a> · <a href="#timing">timing</a> · '
        '<a href="#matrix">matrix</a></nav></header>'
    )


def _overview(run: RunRecord) -> str:
    """One small square per scenario and backend, worst first: the whole run at a glance."""
    rows = matrix_rows(run)
    lines = []
    for name in run.backend_names():
        squares = []
        for scenario, cells in rows:
            result = cells.get(name)
            if result is None:
                continue
            detailed = result.status in PROBLEMS or result.status is Status.XFAIL
            target = f"f-{_slug(scenario, name)}" if detailed else "matrix"
            squares.append(
                f'<a class="sq s-{result.status.value}" href="#{target}" '
                f'title="{escape(scenario)} [{escape(name)}]: {result.status.value}"></a>'
            )
        lines.append(
            f'<span class="strip-name">{escape(name)}</span>'
            f'<span class="squares">{"".join(squares)}</span>'
        )
    return f'<div class="overview">{"".join(lines)}</div>'


def _slug(scenario: str, backend: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in f"{scenario}-{backend}")


def _backends(run: RunRecord) -> str:
    parts = []
    for record in run.backends:
        if record.available:
            version = record.info.get("version", "")
            parts.append(f"<b>{escape(record.name)}</b> {escape(version)}")
        else:
            parts.append(f"<b>{escape(record.name)}</b> (unavailable: {escape(record.reason)})")
    return " · ".join(parts)


def _filters(run: RunRecord) -> str:
    present = {status.value for status in Status if run.summary.get(status.value)}
    boxes = "".join(
        f'<label class="s-{s.value}"><input type="checkbox" name="status" value="{s.value}" '
        f"checked> {s.value}</label>"
        for s in SEVERITY
        if s.value in present
    )
    tags = sorted({tag for result in run.results for tag in result.tags})
    options = "".join(f'<option value="{escape(t)}">{escape(t)}</option>' for t in tags)
    return (
        '<div class="filters" id="filters"><strong>Filter</strong>'
        f"{boxes}"
        f'<label>tag <select id="tag"><option value="">any</option>{options}</select></label>'
        '<label><input type="search" id="text" placeholder="scenario id contains…"></label>'
        '<span id="shown" class="meta"></span></div>'
    )


def _anchor(result: ResultRecord) -> str:
    return f"f-{_slug(result.scenario, result.backend)}"


def _matrix(run: RunRecord) -> str:
    names = run.backend_names()
    head = "".join(f"<th>{escape(name)}</th>" for name in names)
    rows = []
    flagged = {_anchor(r) for r in [*problems(run), *known(run)]}
    for scenario, cells in matrix_rows(run):
        any_result = next(iter(cells.values()))
        statuses = " ".join(sorted({r.status.value for r in cells.values()}))
        tags = "".join(f'<span class="tag">{escape(t)}</span>' for t in any_result.tags)
        tds = [_cell(cells.get(name), flagged) for name in names]
        rows.append(
            f'<tr data-id="{escape(scenario)}" data-statuses="{statuses}" '
            f'data-tags="{escape(" ".join(any_result.tags))}">'
            f'<td class="id" title="{escape(any_result.title)}">{escape(scenario)}{tags}</td>'
            f"{''.join(tds)}</tr>"
        )
    return (
        f'<h2>Matrix</h2><table class="matrix" id="matrix"><thead><tr><th>scenario</th>{head}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _cell(result: ResultRecord | None, flagged: set[str]) -> str:
    if result is None:
        return "<td></td>"
    status = result.status.value
    label = escape(status)
    anchor = _anchor(result)
    if anchor in flagged:
        label = f'<a href="#{anchor}" data-open="{anchor}">{label}</a>'
    time = f"<small>{seconds(result.timing.median)}</small>" if result.timing else ""
    tip = escape(result.headline() or result.status.value)
    return f'<td class="cell s-{status}" title="{tip}">{label}{time}</td>'


def _failures(run: RunRecord) -> str:
    found, expected = problems(run), known(run)
    if found:
        items = "".join(_failure(result) for result in found)
        html = f'<h2 id="failures">Failures ({len(found)})</h2>{items}'
    else:
        html = '<h2 id="failures">Failures</h2><p>None: everything that ran passes.</p>'
    if expected:
        items = "".join(_failure(result) for result in expected)
        html += f"<h2>Known failures ({len(expected)})</h2>{items}"
    return html


def _failure(result: ResultRecord) -> str:
    anchor = _anchor(result)
    status = result.status.value
    parts = [
        f'<details class="failure k-{status}" id="{anchor}" data-id="{escape(result.scenario)}" '
        f'data-statuses="{status}" data-tags="{escape(" ".join(result.tags))}">',
        f"<summary>{status.upper()} <code>{escape(result.scenario)}</code> "
        f"[{escape(result.backend)}]: {escape(_short(result.headline()))}</summary>",
        f"<p>{escape(result.title)} (<code>{escape(result.file)}</code>)</p>",
        f'<pre class="diff">{escape(result.details() or result.headline())}</pre>',
    ]
    if result.repro_command:
        parts.append(_code_block(f"{anchor}-cmd", "Rerun alone", result.repro_command))
    if result.repro_snippet:
        parts.append(_code_block(f"{anchor}-py", "Standalone repro", result.repro_snippet))
    parts.append("</details>")
    return "".join(parts)


def _short(text: str, limit: int = 150) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _code_block(ident: str, title: str, code: str) -> str:
    return (
        f'<div><button class="copy" data-target="{ident}">copy</button><b>{title}</b></div>'
        f'<pre id="{ident}">{escape(code.rstrip())}</pre>'
    )


def _timing(run: RunRecord) -> str:
    results = timed(run)
    against = run.timing_baseline
    if not results:
        return ""
    ratioed = [r for r in results if _ratio(r) is not None and r.backend != against]
    bench_bars = [_bar(r) for r in ratioed if BENCH_TAG in r.tags]
    other_bars = [_bar(r) for r in ratioed if BENCH_TAG not in r.tags]
    parts = ['<h2 id="timing">Timing</h2>']
    if against:
        parts.append(
            f"<p>Each backend's time relative to <b>{escape(against)}</b>. Every round runs each "
            f"backend once, in a rotating order; the ratio is the median over blocks of one full "
            f"rotation, with its 95% bootstrap interval. Scenarios tagged <i>bench</i> exist to "
            f"be timed.</p>"
        )
    if bench_bars:
        parts.append(ratio_chart(bench_bars, against or ""))
    if other_bars:
        parts.append(
            f"<details><summary>Ratios of every other timed scenario ({len(other_bars)})"
            f"</summary>{ratio_chart(other_bars, against or '')}</details>"
        )
    parts.append(_timing_table(results, against))
    return "".join(parts)


def _ratio(result: ResultRecord) -> Ratio | None:
    return result.timing.ratio if result.timing is not None else None


def _bar(result: ResultRecord) -> Bar:
    ratio = _ratio(result)
    assert ratio is not None
    return Bar(f"{result.scenario} [{result.backend}]", ratio.value, ratio.low, ratio.high)


def _timing_table(results: list[ResultRecord], against: str | None) -> str:
    rows = []
    for result in results:
        timing = result.timing
        assert timing is not None
        ratio = "1×" if result.backend == against else "–"
        if timing.ratio is not None and result.backend != against:
            ratio = f"{timing.ratio.value:.2f}× ({timing.ratio.low:.2f}–{timing.ratio.high:.2f})"
        rows.append(
            f'<tr data-bench="{str(BENCH_TAG in result.tags).lower()}">'
            f"<td><code>{escape(result.scenario)}</code></td><td>{escape(result.backend)}</td>"
            f'<td class="num">{seconds(timing.median)}</td>'
            f'<td class="num">{seconds(timing.iqr)}</td>'
            f'<td class="num">{len(timing.samples)}</td><td class="num">{ratio}</td></tr>'
        )
    ratio_head = f"ratio to {escape(against)}" if against else "ratio"
    return (
        "<details><summary>Timing table</summary>"
        '<table class="timing"><thead><tr><th>scenario</th><th>backend</th><th>median</th>'
        f"<th>IQR</th><th>rounds</th><th>{ratio_head}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></details>"
    )
