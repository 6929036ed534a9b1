"""QR codes for pages, drawn as inline SVG markup that the strict CSP allows."""
from __future__ import annotations

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(text: str) -> SafeString:
    """`text` as a QR code: one <svg> with paths and presentation attributes only (no style,
    no script, no external image), black on white inside the standard 4-module quiet zone so a
    phone camera reads it on the dark theme. segno picks the smallest version and the highest
    error correction that fits."""
    markup = segno.make(text).svg_inline(scale=4, border=4, dark="#000", light="#fff",
                                         svgclass="qr-code", lineclass=None)
    # segno's own markup: module paths only; `text` itself never appears in it.
    return mark_safe(markup)  # noqa: S308  # nosec B308 B703
