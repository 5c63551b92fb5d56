"""An inline SVG bar chart of timing ratios: log scale, 1x in the middle, bars growing right
for slower and left for faster, with the bootstrap interval as a whisker. No scripts, no
fonts to fetch: it draws the same offline and in a CI artifact viewer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

CHAR_WIDTH = 7.3  # 12px monospace labels
PLOT_WIDTH = 520
ROW = 22
TOP = 34
SLOWER = "#d9534f"
FASTER = "#2e8b57"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    low: float
    high: float


def ratio_chart(bars: Sequence[Bar], against: str) -> str:
    if not bars:
        return ""
    label_width = round(max(160, CHAR_WIDTH * max(len(bar.label) for bar in bars) + 16))
    lo = min(0.5, *(bar.low for bar in bars))
    hi = max(2.0, *(bar.high for bar in bars))
    span = max(abs(math.log2(lo)), abs(math.log2(hi)))
    span = math.ceil(span)

    def x(ratio: float) -> float:
        ratio = min(max(ratio, 2.0**-span), 2.0**span)
        return label_width + PLOT_WIDTH * (math.log2(ratio) + span) / (2 * span)

    height = TOP + ROW * len(bars) + 26
    width = label_width + PLOT_WIDTH + 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="timing ratios to {escape(against)}">',
        f'<text x="{label_width}" y="16" class="axis-title">time relative to '
        f"{escape(against)} (log scale; left is faster, right is slower)</text>",
    ]
    for power in range(-span, span + 1):
        ratio = 2.0**power
        at = x(ratio)
        label = f"{ratio:g}×" if ratio >= 1 else f"1/{1 / ratio:g}×"
        stroke = "#555" if power == 0 else "#ddd"
        parts.append(
            f'<line x1="{at:.1f}" y1="{TOP - 6}" x2="{at:.1f}" y2="{height - 22}" '
            f'stroke="{stroke}" stroke-width="{2 if power == 0 else 1}"/>'
        )
        parts.append(
            f'<text x="{at:.1f}" y="{height - 8}" text-anchor="middle" class="tick">{label}</text>'
        )
    for index, bar in enumerate(bars):
        y = TOP + index * ROW
        one, end = x(1.0), x(bar.value)
        left, right = sorted((one, end))
        colour = SLOWER if bar.value > 1 else FASTER
        parts += [
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" class="label">'
            f"{escape(bar.label)}</text>",
            f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1):.1f}" '
            f'height="{ROW - 8}" fill="{colour}" opacity="0.8">'
            f"<title>{escape(bar.label)}: {bar.value:.3g}× "
            f"({bar.low:.3g}–{bar.high:.3g})</title></rect>",
            f'<line x1="{x(bar.low):.1f}" y1="{y + ROW / 2}" x2="{x(bar.high):.1f}" '
            f'y2="{y + ROW / 2}" stroke="#222" stroke-width="1.5"/>',
            f'<text x="{max(right, x(bar.high)) + 6:.1f}" y="{y + 15}" class="value">'
            f"{bar.value:.2f}×</text>",
        ]
    parts.append("</svg>")
    return "\n".join(parts)
