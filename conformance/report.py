"""The run's results as a terminal table, JUnit XML, a self-contained HTML page and JSON."""

from __future__ import annotations

import html
import json
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from .runner import Result, summary

STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta", "skipped": "yellow"}
COLOUR = {"passed": "#2e7d32", "failed": "#c62828", "error": "#8e24aa", "skipped": "#f9a825"}


def table(results: list[Result], console: Console, *, verbose: bool = False) -> None:
    layers = Table(title="topapi check", header_style="bold")
    layers.add_column("layer")
    for status in STYLE:
        layers.add_column(status, justify="right")
    for layer in sorted({r.layer for r in results}):
        counts = [sum(1 for r in results if r.layer == layer and r.status == s) for s in STYLE]
        layers.add_row(layer, *(f"[{STYLE[s]}]{n}[/]" if n else "0" for s, n in zip(STYLE, counts, strict=True)))
    console.print(layers)
    shown = [r for r in results if verbose or r.status != "passed" or len(results) <= 40]
    if shown:
        _checks_table(shown, console)
    c = summary(results)
    hidden = "" if len(shown) == len(results) else " (passed checks hidden: --verbose lists them)"
    console.print(f"[green]{c['passed']} passed[/], [red]{c['failed']} failed[/], "
                  f"[magenta]{c['error']} errors[/], [yellow]{c['skipped']} skipped[/]{hidden}")


def _checks_table(results: list[Result], console: Console) -> None:
    t = Table(show_lines=False, header_style="bold")
    t.add_column("check")
    t.add_column("layer")
    t.add_column("result")
    t.add_column("time", justify="right")
    t.add_column("details", overflow="fold", max_width=90)
    for r in sorted(results, key=lambda r: (r.ok, r.layer, r.id)):
        t.add_row(r.id, r.layer, f"[{STYLE[r.status]}]{r.status}[/]", f"{r.duration_s:.1f}s",
                  r.message or r.description)
    console.print(t)


def junit(results: list[Result], path: Path, target: str) -> None:
    c = summary(results)
    suite = ET.Element("testsuite", name="topapi-check", tests=str(len(results)), failures=str(c["failed"]),
                       errors=str(c["error"]), skipped=str(c["skipped"]),
                       time=f"{sum(r.duration_s for r in results):.3f}",
                       timestamp=datetime.now(UTC).isoformat(timespec="seconds"), hostname=target)
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"topapi.{r.layer}", name=r.id, time=f"{r.duration_s:.3f}")
        if r.status == "failed":
            ET.SubElement(case, "failure", message=r.message[:500]).text = _detail(r)
        elif r.status == "error":
            ET.SubElement(case, "error", message=r.message[:500]).text = _detail(r)
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", message=r.message[:500])
    root = ET.Element("testsuites", name="topapi-check")
    root.append(suite)
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _detail(r: Result) -> str:
    lines = [r.description, r.message]
    lines += [f"  {'ok  ' if s.passed else 'FAIL'} {s.name}: {s.message}" for s in r.subs]
    return "\n".join(lines)


def to_json(results: list[Result], path: Path, meta: dict) -> None:
    path.write_text(json.dumps({"meta": meta, "summary": summary(results),
                                "results": [asdict(r) for r in results]}, indent=2, default=str))


def _bar_svg(results: list[Result]) -> str:
    """Horizontal bars: time per check, coloured by result (slowest first)."""
    rows = sorted(results, key=lambda r: -r.duration_s)[:40]
    if not rows:
        return ""
    longest = max(r.duration_s for r in rows) or 1.0
    height = 18 * len(rows) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="760" height="{height}" role="img" '
             'aria-label="time per check">']
    for i, r in enumerate(rows):
        y = 5 + 18 * i
        w = max(1.0, 440 * r.duration_s / longest)
        parts.append(f'<text x="0" y="{y + 12}" font-size="11">{html.escape(r.id)}</text>'
                     f'<rect x="260" y="{y + 2}" width="{w:.1f}" height="12" fill="{COLOUR[r.status]}"/>'
                     f'<text x="{265 + w:.1f}" y="{y + 12}" font-size="11">{r.duration_s:.2f}s</text>')
    parts.append("</svg>")
    return "".join(parts)


def html_report(results: list[Result], path: Path, meta: dict) -> None:
    c = summary(results)
    verdict = "PASSED" if not (c["failed"] or c["error"]) else "FAILED"
    layers = sorted({r.layer for r in results})
    per_layer = "".join(
        f"<tr><td>{lay}</td>" + "".join(
            f"<td>{sum(1 for r in results if r.layer == lay and r.status == s)}</td>" for s in COLOUR) + "</tr>"
        for lay in layers)
    rows = []
    for r in sorted(results, key=lambda r: (r.ok, r.layer, r.id)):
        subs = "".join(f"<li class='{'ok' if s.passed else 'bad'}'>{html.escape(s.name)}"
                       f"{': ' + html.escape(s.message) if s.message else ''}</li>" for s in r.subs)
        rows.append(
            f"<tr class='{r.status}'><td><code>{html.escape(r.id)}</code></td><td>{r.layer}</td>"
            f"<td><span class='badge' style='background:{COLOUR[r.status]}'>{r.status}</span></td>"
            f"<td>{r.duration_s:.2f}s</td><td>{html.escape(r.description)}"
            f"{'<div class=msg>' + html.escape(r.message) + '</div>' if r.message else ''}"
            f"{'<details><summary>' + str(len(r.subs)) + ' cases</summary><ul>' + subs + '</ul></details>' if subs else ''}"
            "</td></tr>")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>topapi check: {verdict}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
.badge{{color:#fff;border-radius:4px;padding:1px 6px;font-size:12px}} .msg{{color:#b71c1c;font-family:monospace;
white-space:pre-wrap;font-size:12px}} .verdict{{font-size:28px;font-weight:bold;color:{'#2e7d32' if verdict == 'PASSED' else '#c62828'}}}
li.bad{{color:#b71c1c}} li.ok{{color:#2e7d32}} #f{{margin:1em 0;padding:4px;width:30em}}</style></head><body>
<div class="verdict">{verdict}</div>
<p>Target <code>{html.escape(str(meta.get('target')))}</code> · {html.escape(str(meta.get('started')))} ·
{meta.get('duration_s', 0):.1f}s · topapi-kit {html.escape(str(meta.get('version')))} · {html.escape(platform.node())}</p>
<p><b>{c['passed']}</b> passed, <b>{c['failed']}</b> failed, <b>{c['error']}</b> errors, <b>{c['skipped']}</b> skipped</p>
<table style="width:auto"><tr><th>layer</th>{''.join(f'<th>{s}</th>' for s in COLOUR)}</tr>{per_layer}</table>
<h2>Checks</h2><input id="f" placeholder="filter by id or text" oninput="for(const r of document.querySelectorAll('#t tr.r'))r.style.display=r.textContent.includes(this.value)?'':'none'">
<table id="t"><tr><th>check</th><th>layer</th><th>result</th><th>time</th><th>what / why</th></tr>
{''.join(rows).replace('<tr class=', '<tr class="r" data-s=')}</table>
<h2>Time per check</h2>{_bar_svg(results)}
</body></html>"""
    path.write_text(page, encoding="utf-8")
