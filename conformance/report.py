"""The run's results as a terminal table, JUnit XML, a self-contained HTML page and JSON; each opens with the
root causes (conformance/causes.py), each failure with its reproduction."""

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

from . import repro
from .causes import Cause, root_causes
from .runner import Result, summary

STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta", "skipped": "yellow",
         "not_offered": "dim", "blocked": "cyan", "flaky": "bold yellow"}
COLOUR = {"passed": "#2e7d32", "failed": "#c62828", "error": "#8e24aa", "skipped": "#f9a825",
          "not_offered": "#9e9e9e", "blocked": "#0277bd", "flaky": "#ef6c00"}


def surfaces_table(found: dict, required: list[str], in_profile: list[str] | None, profile: str,
                   console: Console) -> None:
    """What the probe found: each surface offered or not (and whether the run requires it), the key forms."""
    t = Table(title=f"surfaces (profile {profile})", header_style="bold")
    for col in ("surface", "status", "required", "how it was found"):
        t.add_column(col, overflow="fold")
    for s, info in found["surfaces"].items():
        status = "[green]offered[/]" if info["offered"] else "[dim]not offered[/]"
        if in_profile is not None and s not in in_profile:
            status += " [dim](outside the profile)[/]"
        if s in required and not info["offered"]:
            status = "[bold red]not offered[/]"
        t.add_row(s, status, "yes" if s in required else "", info["evidence"][-1] if info["evidence"] else "")
    console.print(t)
    forms = "; ".join(f"{d}: " + (", ".join(f) if f else "[red]none[/]") for d, f in found["forms"].items())
    console.print(f"key forms accepted: {forms} (the checks use the first of each; auth.forms judges them)")


def causes_block(causes: list[Cause], console: Console) -> None:
    """The summary's opening: each distinct root cause once, what it affected, and how to reproduce it."""
    if not causes:
        return
    console.print(f"[bold red]{len(causes)} root cause{'s' if len(causes) != 1 else ''}[/]")
    for i, c in enumerate(causes, 1):
        console.print(f"[bold]{i}. {c.id}[/]: {c.title}", highlight=False)
        console.print(f"   {repro.shorten_ids(_one_line(c.message, 300))}", highlight=False, markup=False)
        where = ", ".join(c.where[:6]) + (f" and {len(c.where) - 6} more" if len(c.where) > 6 else "")
        if len(c.where) > 1 or c.where[0] != c.id:
            console.print(f"   seen in: {where}", highlight=False, markup=False)
        if c.blocked:
            console.print(f"   blocks {len(c.blocked)}: " + ", ".join(c.blocked[:8])
                          + (" ..." if len(c.blocked) > 8 else ""), highlight=False, markup=False)
        if c.exchange:
            ex = repro.Exchange(**c.exchange)
            for line in ex.lines():
                console.print(f"   {_one_line(line, 400)}", highlight=False, markup=False)


def _one_line(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
                  f"[magenta]{c['error']} errors[/], [yellow]{c['skipped']} skipped[/], "
                  f"{c['not_offered']} not offered, [cyan]{c['blocked']} blocked[/]"
                  + (f", [bold yellow]{c['flaky']} flaky[/]" if c["flaky"] else "") + hidden)


def _checks_table(results: list[Result], console: Console) -> None:
    t = Table(show_lines=False, header_style="bold")
    t.add_column("check")
    t.add_column("layer")
    t.add_column("result")
    t.add_column("time", justify="right")
    t.add_column("details", overflow="fold", max_width=90)
    for r in sorted(results, key=lambda r: (r.ok, r.layer, r.id)):
        t.add_row(r.id, r.layer, f"[{STYLE[r.status]}]{r.status}[/]", f"{r.duration_s:.1f}s",
                  repro.shorten_ids(r.message) or r.description)
    console.print(t)


def junit(results: list[Result], path: Path, target: str) -> None:
    c = summary(results)
    suite = ET.Element("testsuite", name="topapi-check", tests=str(len(results)),
                       failures=str(c["failed"] + c["flaky"]),
                       errors=str(c["error"]), skipped=str(c["skipped"]),
                       time=f"{sum(r.duration_s for r in results):.3f}",
                       timestamp=datetime.now(UTC).isoformat(timespec="seconds"), hostname=target)
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"topapi.{r.layer}", name=r.id, time=f"{r.duration_s:.3f}")
        if r.status in ("failed", "flaky"):
            ET.SubElement(case, "failure", message=r.message[:500]).text = _detail(r)
        elif r.status == "error":
            ET.SubElement(case, "error", message=r.message[:500]).text = _detail(r)
        elif r.status in ("skipped", "not_offered", "blocked"):
            why = {"not_offered": "not offered: ", "blocked": ""}.get(r.status, "")
            ET.SubElement(case, "skipped", message=(why + r.message)[:500])
    root = ET.Element("testsuites", name="topapi-check")
    root.append(suite)
    ET.indent(root)
    path.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _detail(r: Result) -> str:
    lines = [r.description, r.message]
    if r.exchange:
        lines += ["  reproduce: " + line for line in repro.Exchange(**r.exchange).lines(short_ids=False)]
    for s in r.subs:
        lines.append(f"  {s.status.upper():11s} {s.name}: {s.message}")
        if s.exchange and s.status == "failed":
            lines += ["      reproduce: " + line for line in repro.Exchange(**s.exchange).lines(short_ids=False)]
    return "\n".join(lines)


def to_json(results: list[Result], path: Path, meta: dict) -> None:
    path.write_text(json.dumps({"meta": meta, "summary": summary(results),
                                "root_causes": [c.to_dict() for c in root_causes(results)],
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
    verdict = "PASSED" if not (c["failed"] or c["error"] or c["flaky"]) else "FAILED"
    layers = sorted({r.layer for r in results})
    per_layer = "".join(
        f"<tr><td>{lay}</td>" + "".join(
            f"<td>{sum(1 for r in results if r.layer == lay and r.status == s)}</td>" for s in COLOUR) + "</tr>"
        for lay in layers)
    rows = []
    for r in sorted(results, key=lambda r: (r.ok, r.layer, r.id)):
        subs = "".join(f"<li class='{'bad' if s.status == 'failed' else 'ok' if s.passed else 'other'}'>"
                       f"{html.escape(s.name)}{' (' + s.status + ')' if s.status not in ('passed', 'failed') else ''}"
                       f"{': ' + html.escape(s.message) if s.message else ''}"
                       f"{_repro_html(s.exchange) if s.status == 'failed' else ''}</li>" for s in r.subs)
        rows.append(
            f"<tr class='{r.status}'><td><code>{html.escape(r.id)}</code></td><td>{r.layer}</td>"
            f"<td><span class='badge' style='background:{COLOUR[r.status]}'>{r.status}</span></td>"
            f"<td>{r.duration_s:.2f}s</td><td>{html.escape(r.description)}"
            f"{'<div class=msg>' + html.escape(r.message) + '</div>' if r.message else ''}"
            f"{_repro_html(r.exchange) if not r.ok else ''}"
            f"{'<details><summary>' + str(len(r.subs)) + ' cases</summary><ul>' + subs + '</ul></details>' if subs else ''}"
            "</td></tr>")
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>topapi check: {verdict}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
.badge{{color:#fff;border-radius:4px;padding:1px 6px;font-size:12px}} .msg{{color:#b71c1c;font-family:monospace;
white-space:pre-wrap;font-size:12px}} .verdict{{font-size:28px;font-weight:bold;color:{'#2e7d32' if verdict == 'PASSED' else '#c62828'}}}
li.bad{{color:#b71c1c}} li.ok{{color:#2e7d32}} li.other{{color:#616161}} pre{{background:#f5f5f5;padding:6px;
white-space:pre-wrap;font-size:12px}} #f{{margin:1em 0;padding:4px;width:30em}}</style></head><body>
<div class="verdict">{verdict}</div>
<p>Target <code>{html.escape(str(meta.get('target')))}</code> · {html.escape(str(meta.get('started')))} ·
{meta.get('duration_s', 0):.1f}s · topapi-kit {html.escape(str(meta.get('version')))} · {html.escape(platform.node())}</p>
<p><b>{c['passed']}</b> passed, <b>{c['failed']}</b> failed, <b>{c['error']}</b> errors, <b>{c['skipped']}</b> skipped,
<b>{c['not_offered']}</b> not offered, <b>{c['blocked']}</b> blocked</p>
{_causes_html(root_causes(results))}{_surfaces_html(meta)}
<table style="width:auto"><tr><th>layer</th>{''.join(f'<th>{s}</th>' for s in COLOUR)}</tr>{per_layer}</table>
<h2>Checks</h2><input id="f" placeholder="filter by id or text" oninput="for(const r of document.querySelectorAll('#t tr.r'))r.style.display=r.textContent.includes(this.value)?'':'none'">
<table id="t"><tr><th>check</th><th>layer</th><th>result</th><th>time</th><th>what / why</th></tr>
{''.join(rows).replace('<tr class=', '<tr class="r" data-s=')}</table>
<h2>Time per check</h2>{_bar_svg(results)}
</body></html>"""
    path.write_text(page, encoding="utf-8")


def _repro_html(exchange: dict | None) -> str:
    if not exchange:
        return ""
    lines = repro.Exchange(**exchange).lines(short_ids=False)
    return "<details><summary>reproduce</summary><pre>" + html.escape("\n".join(lines)) + "</pre></details>"


def _causes_html(causes: list[Cause]) -> str:
    if not causes:
        return ""
    items = []
    for c in causes:
        where = ", ".join(html.escape(w) for w in c.where)
        blocked = (f"<br>blocks {len(c.blocked)}: " + html.escape(", ".join(c.blocked))) if c.blocked else ""
        items.append(f"<li><code>{html.escape(c.id)}</code>: <b>{html.escape(c.title)}</b><div class=msg>"
                     f"{html.escape(c.message)}</div>seen in: {where}{blocked}{_repro_html(c.exchange)}</li>")
    return f"<h2>{len(causes)} root cause{'s' if len(causes) != 1 else ''}</h2><ol>{''.join(items)}</ol>"


def _surfaces_html(meta: dict) -> str:
    probe = meta.get("probe")
    if not probe:
        return ""
    required = set(meta.get("required") or [])
    rows = "".join(
        f"<tr><td><code>{html.escape(s)}</code></td><td>{'offered' if info['offered'] else 'not offered'}</td>"
        f"<td>{'yes' if s in required else ''}</td><td>{html.escape('; '.join(info['evidence']))}</td></tr>"
        for s, info in probe["surfaces"].items())
    forms = "; ".join(f"{d}: {', '.join(f) or 'none'}" for d, f in probe["forms"].items())
    return (f"<h2>Surfaces (profile {html.escape(str(meta.get('profile')))})</h2><table style='width:auto'>"
            f"<tr><th>surface</th><th>status</th><th>required</th><th>probe</th></tr>{rows}</table>"
            f"<p>Key forms accepted: {html.escape(forms)}</p>")
