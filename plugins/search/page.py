"""The search results as one HTML page that opens offline: thumbnails inlined as data URIs, so
the page still shows them when moved or mailed, and never reaches out to the network."""

from __future__ import annotations

import base64
import html
import io

THUMBNAIL = 192


def thumbnail_uri(path: str) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.width * image.height > 89_478_485:
                return None
            image.draft("RGB", (THUMBNAIL, THUMBNAIL))
            picture = image.convert("RGB")
    except Exception:  # noqa: BLE001 - a file gone or damaged since indexing: shown as missing
        return None
    picture.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_page(query: str, index_info: str, hits) -> str:
    esc = html.escape
    figures = []
    for hit in hits:
        uri = thumbnail_uri(hit.path)
        picture = (f'<img src="{uri}" alt="{esc(hit.path)}" width="{THUMBNAIL}">' if uri
                   else '<div class="missing">image not readable</div>')
        details = [f"#{hit.rank} · similarity {hit.similarity:.4f}"]
        for key in ("prompt", "caption", "generator", "seed"):
            if hit.row.get(key) is not None:
                details.append(f"{key}: {esc(str(hit.row[key]))}")
        figures.append(f'<figure class="hit">{picture}<figcaption><span class="score">{details[0]}</span><br>'
                       f'{"<br>".join(details[1:])}<br><span class="path">{esc(hit.path)}</span></figcaption></figure>')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>artengine search: {esc(query)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
.hits {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; width: {THUMBNAIL}px; font-size: 12px; overflow-wrap: anywhere; }}
img {{ image-rendering: pixelated; border: 1px solid #ccc; }}
.missing {{ width: {THUMBNAIL}px; height: {THUMBNAIL}px; background: #eee; }}
.path {{ color: #777; }}
</style></head><body>
<h1>artengine search</h1>
<p class="query">{esc(query)}</p>
<p>{esc(index_info)} · {len(hits)} hit(s)</p>
<div class="hits">{''.join(figures)}</div>
</body></html>
"""
