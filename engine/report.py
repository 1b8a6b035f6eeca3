"""index.html for a compare run: opens offline, every path relative to the run folder."""

from __future__ import annotations

import html
import json


def render_report(run, resolved, columns: list[tuple[str, int]], grid_name: str, status: str) -> str:
    """The report of `run`, which ends with `status` (written just before run.json says so)."""
    esc = html.escape
    sections = []
    for name, config, given in resolved:
        cells = {(r.prompt, r.rank): r for r in run.images if r.configuration == name}
        figures = []
        for prompt, rank in columns:
            record = cells.get((prompt, rank))
            if record is None:
                figures.append('<figure class="missing"><div>not generated</div></figure>')
                continue
            score = "—" if record.score is None else f"{record.score:.4f}"
            figures.append(
                f'<figure><img src="{esc(record.path.name)}" alt="{esc(prompt)}" width="192">'
                f"<figcaption>{esc(prompt)}<br>seed {record.seed} · rank {record.rank} · score {score}"
                f" · {esc(_timing(record.timings))}</figcaption></figure>"
            )
        options = "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(json.dumps(v))}</td></tr>"
            for k, v in config.as_dict()["generator"].items()
        )
        given_text = ", ".join(f"{k}={v}" for k, v in given.items())
        sections.append(
            f'<section class="configuration"><h2 class="label">{esc(name)}</h2>'
            f"<p>generator <b>{esc(config.generator)}</b>{(' · ' + esc(given_text)) if given_text else ''}</p>"
            f'<table class="options">{options}</table><div class="images">{"".join(figures)}</div></section>'
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>artengine compare</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
.images {{ display: flex; flex-wrap: wrap; gap: 12px; }}
figure {{ margin: 0; width: 192px; font-size: 12px; }}
img {{ image-rendering: pixelated; border: 1px solid #ccc; }}
table.options {{ font-size: 12px; border-collapse: collapse; margin-bottom: 8px; }}
table.options th {{ text-align: left; padding-right: 1em; font-weight: normal; color: #666; }}
section {{ border-top: 1px solid #ddd; padding-top: 1em; margin-top: 1em; }}
.missing div {{ width: 192px; height: 192px; background: #eee; }}
</style></head><body>
<h1>artengine compare</h1>
<p>{len(resolved)} configuration(s), {len(run.images)} image(s) · status: <b class="status">{esc(status)}</b>.
Run data: <a href="run.json">run.json</a></p>
<p><img src="{esc(grid_name)}" alt="grid" style="max-width:100%"></p>
{''.join(sections)}
</body></html>
"""


def _timing(timings: dict) -> str:
    """The image's share of its batch's time, saying so: candidates of a prompt are made together."""
    batch = timings.get("generate_s", 0.0)
    if "per_image_s" not in timings:  # run.json from before the share was recorded
        return f"{batch:.2f} s for the prompt's candidates together"
    count = timings.get("candidates", 1)
    return f"{timings['per_image_s']:.2f} s per image" + (f" ({count} made in {batch:.2f} s)" if count > 1 else "")
