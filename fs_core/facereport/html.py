"""The report as one self-contained HTML file, and the pieces the GUI's Faces tab shares with it.

Self-contained: inline CSS, each thumbnail a small JPEG data URI, each pose heat-map inline SVG
drawn here from the report's numbers; no script, no network, no other file, so the page can be
mailed or archived with the face set and still open. Only the faces a finding lists get
thumbnails (at most :data:`THUMBS_PER_FINDING` each; the rest are listed by name), so a report
of a large, messy set stays a few megabytes.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from typing import Any

import cv2
import numpy as np

THUMB_SIZE = 72
THUMB_QUALITY = 80
THUMBS_PER_FINDING = 60
_CELL = 30


def thumbnail_uri(path: str, size: int = THUMB_SIZE) -> str | None:
    """A ``data:image/jpeg`` URI of the face at ``path`` shrunk to ``size`` px, or None when the
    file cannot be read (it may have been moved since it was measured)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        return None
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, THUMB_QUALITY])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else None


def add_thumbnails(report: dict[str, Any], per_finding: int = THUMBS_PER_FINDING) -> None:
    """Give the first ``per_finding`` faces of each finding a ``thumb`` (data URI), in place."""
    for finding in report["findings"]:
        left = per_finding
        for group in finding["groups"]:
            for face in group["faces"]:
                if left <= 0:
                    break
                if finding["kind"] != "unreadable":
                    face["thumb"] = thumbnail_uri(face["path"])
                left -= 1


def _colour(count: int, peak: int) -> str:
    """A cell's fill: white for none, then light to dark blue on a log scale."""
    if count <= 0:
        return "#f4f5f7"
    share = math.log1p(count) / math.log1p(max(peak, 1))
    light = int(round(92 - 55 * share))
    return f"hsl(212, 70%, {light}%)"


def heatmap_svg(pose: dict[str, Any], title: str) -> str:
    """The pose histogram as an SVG grid: yaw across, pitch down, faces per cell written in it,
    the gap cells (A has faces, B too few) outlined in red."""
    counts = np.asarray(pose["counts"])
    yaw, pitch = pose["yaw_edges"], pose["pitch_edges"]
    rows, cols = counts.shape
    left, top = 44, 30
    width, height = left + cols * _CELL + 16, top + rows * _CELL + 34
    peak = int(counts.max()) if counts.size else 0
    gaps = {tuple(cell) for cell in pose.get("gaps", [])}
    parts = [
        f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{left}" y="14" class="hm-title">{html.escape(title)}</text>',
    ]
    for row in range(rows):
        for col in range(cols):
            x, y = left + col * _CELL, top + row * _CELL
            count = int(counts[row, col])
            fill = _colour(count, peak)
            tip = (
                f"yaw {yaw[col]:+.0f}..{yaw[col + 1]:+.0f}, pitch {pitch[row]:+.0f}.."
                f"{pitch[row + 1]:+.0f}: {count} faces"
            )
            parts.append(
                f'<rect x="{x}" y="{y}" width="{_CELL}" height="{_CELL}" '
                f'fill="{fill}" stroke="#fff"><title>{tip}</title></rect>'
            )
            if count:
                dark = count and fill != "#f4f5f7" and math.log1p(count) > 0.55 * math.log1p(peak)
                parts.append(
                    f'<text x="{x + _CELL / 2}" y="{y + _CELL / 2 + 4}" '
                    f'class="hm-n{" hm-dark" if dark else ""}">{count}</text>'
                )
    for row, col in gaps:
        x, y = left + col * _CELL, top + row * _CELL
        parts.append(
            f'<rect x="{x + 1.5}" y="{y + 1.5}" width="{_CELL - 3}" '
            f'height="{_CELL - 3}" class="hm-gap"><title>gap</title></rect>'
        )
    for col in range(0, cols + 1, 2):
        parts.append(
            f'<text x="{left + col * _CELL}" y="{top + rows * _CELL + 14}" '
            f'class="hm-axis">{yaw[col]:+.0f}</text>'
        )
    for row in range(0, rows + 1, 2):
        parts.append(
            f'<text x="{left - 6}" y="{top + row * _CELL + 4}" '
            f'class="hm-axis hm-right">{pitch[row]:+.0f}</text>'
        )
    parts.append(
        f'<text x="{left + cols * _CELL / 2}" y="{height - 4}" class="hm-axis">'
        "yaw (deg) &#8594;</text>"
    )
    parts.append(f'<text x="{left - 6}" y="{top - 6}" class="hm-axis hm-right">pitch</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmaps(report: dict[str, Any]) -> list[str]:
    """One SVG per side that has poses."""
    return [
        heatmap_svg(side["pose"], f"{side['side']}: {side['with_landmarks']} faces")
        for side in report["sides"]
        if side.get("pose")
    ]


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;
background:#fafbfc}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.muted{color:#5d6677}.small{font-size:12px}
.sides{display:flex;flex-wrap:wrap;gap:18px;margin:10px 0}
.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 14px}
.counts{display:flex;flex-wrap:wrap;gap:8px;margin:8px 0 0;padding:0;list-style:none}
.counts li{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:4px 10px}
.counts li b{font-variant-numeric:tabular-nums}
.heatmap .hm-title{font-weight:600;font-size:13px}
.heatmap .hm-n{font-size:10px;text-anchor:middle;fill:#1d2330}
.heatmap .hm-n.hm-dark{fill:#fff}
.heatmap .hm-axis{font-size:10px;fill:#5d6677;text-anchor:middle}
.heatmap .hm-right{text-anchor:end}
.heatmap .hm-gap{fill:none;stroke:#d12b2b;stroke-width:3}
.finding{margin-top:18px}.rule{margin:2px 0 8px}
.group-label{font-weight:600;margin:10px 0 4px}
.faces{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:84px;text-align:center}
figure img{width:72px;height:72px;border-radius:4px;border:1px solid #dde1e8;display:block;
margin:0 auto;background:#eee}
figcaption{font-size:10px;word-break:break-all;color:#3a4252}
.more{margin-top:6px}.more pre{white-space:pre-wrap;font-size:12px;max-height:240px;overflow:auto;
background:#fff;border:1px solid #dde1e8;padding:8px}
.notes li{color:#5d6677}
"""


def _face_html(face: dict[str, Any]) -> str:
    name = html.escape(face["name"])
    value = face.get("error") or f"{face['value']:.3g} {face.get('unit', '')}".strip()
    img = f'<img src="{face["thumb"]}" alt="{name}" loading="lazy">' if face.get("thumb") else ""
    return (
        f'<figure title="{html.escape(face["path"])}">{img}<figcaption>{name}<br>'
        f'<span class="muted">{html.escape(value)}</span></figcaption></figure>'
    )


def _finding_html(finding: dict[str, Any]) -> str:
    parts = [
        f'<section class="finding" data-kind="{finding["kind"]}">',
        f"<h2>{finding['side']}: {html.escape(finding['title'])} "
        f'<span class="muted">({finding["count"]})</span></h2>',
        f'<p class="rule muted">{html.escape(finding["rule"])}</p>',
    ]
    unshown: list[str] = []
    for group in finding["groups"]:
        shown = [face for face in group["faces"] if face.get("thumb") or face.get("error")]
        unshown += [
            face["path"] for face in group["faces"] if not (face.get("thumb") or face.get("error"))
        ]
        if group.get("label"):
            parts.append(f'<div class="group-label">{html.escape(group["label"])}</div>')
        if shown:
            parts.append('<div class="faces">' + "".join(map(_face_html, shown)) + "</div>")
    if unshown:
        parts.append(
            f'<details class="more"><summary>{len(unshown)} more, by name</summary>'
            f"<pre>{html.escape(chr(10).join(unshown))}</pre></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    """The whole report page (thumbnails must have been added: :func:`add_thumbnails`)."""
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    sides = "".join(
        f"<li>{side['side']}: <b>{side['count']}</b> faces in {html.escape(side['folder'])}</li>"
        for side in report["sides"]
    )
    counts = (
        "".join(
            f"<li>{f['side']} {html.escape(f['title'])}: <b>{f['count']}</b></li>"
            for f in report["findings"]
        )
        or "<li>nothing found</li>"
    )
    maps = "".join(f'<div class="card">{svg}</div>' for svg in heatmaps(report))
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in report["notes"])
    body = "".join(_finding_html(finding) for finding in report["findings"])
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Face-set report</title><style>{_CSS}</style></head><body><main>"
        f'<h1>Face-set report</h1><p class="muted small">fs faces report, {stamp}</p>'
        f'<ul class="counts">{sides}</ul>'
        f'<h2>Findings</h2><ul class="counts" id="summary">{counts}</ul>'
        + (
            f'<h2>Pose coverage</h2><p class="muted small">Faces per pose cell (pitch relative '
            f"to the set's median); cells outlined in red are gaps: poses A has and B lacks."
            f'</p><div class="sides" id="heatmaps">{maps}</div>'
            if maps
            else ""
        )
        + body
        + (f'<h2>Notes</h2><ul class="notes">{notes}</ul>' if notes else "")
        + '<p class="muted small">To take faces out of a set, move the files listed into '
        "another folder; <code>fs sort</code> can order a folder by blur, yaw or identity to "
        "review it by eye.</p></main></body></html>"
    )
