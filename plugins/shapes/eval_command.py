"""`artengine eval shapes`: how often a generator's images show what the prompt asked for.

Random full prompts (every attribute named) are drawn from the world with the seed, the
generator makes candidates as `generate` would (same settings, scorer and ranking), and the
top-ranked image of each prompt is read back by the attribute reader and graded. Under
`torchrun` or `accelerate launch` each process takes every N-th prompt and rank 0 reports.
"""

from __future__ import annotations

from dataclasses import replace

import click
from artengine.jobs import CORE_OPTIONS

CORE = {option.name: option for option in CORE_OPTIONS}  # the run settings' declared defaults and choices


@click.command("shapes")
@click.option("-g", "--generator", required=True, help="Generator to evaluate (see `artengine list generators`).")
@click.option("--n-prompts", type=click.IntRange(min=1), default=200, show_default=True,
              help="Random prompts to evaluate.")
@click.option("--objects", type=click.Choice(["1", "2"]), default="1", show_default=True,
              help="Objects per prompt.")
@click.option("-n", "n", type=int,
              help=f"Candidates per prompt; the top-ranked one is graded.  [default: {CORE['n'].default}]")
@click.option("--keep", type=int, help="Candidates kept by the scorer (the best one is graded).")
@click.option("--scorer", help="Scorer ranking the candidates (see `artengine list scorers`).")
@click.option("--seed", type=int, help="Seed for the prompts and the candidates. Drawn when absent.")
@click.option("--device", type=click.Choice(CORE["device"].choices), help=f"[default: {CORE['device'].default}]")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one setting, e.g. generator.steps=50 (repeatable).")
@click.option("--loss", "losses", multiple=True, metavar="NAME[:WEIGHT]", help="Add a loss term (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
@click.option("--out", type=click.Path(), help="Folder for a contact sheet PNG and the JSON results.")
def eval_shapes(generator, n_prompts, objects, n, keep, scorer, seed, device, sets, losses, as_json, out):
    """Measure prompt fidelity on the shapes world: per-attribute accuracy of GENERATOR's images."""
    from artengine import Interrupted
    from artengine.devices import current_shard
    from artengine.jobs import Reporter, Settings, check_settings, emit_json, plan_generate, stop_on_signals

    from .evaluation import draw_scenes, evaluate, gather, report_text, results_folder, save_results, summarise
    from .world import caption

    if out:
        results_folder(out, create=False)  # a folder of other files is refused before the work

    # the prompts are the world's, never the user's (nor the defaults'): drawn from the checked seed
    settings = Settings(prompts=[], generator=generator, n=n, keep=keep, scorer=scorer, seed=seed, device=device,
                        losses=losses, sets=sets)
    seed = check_settings(settings)["seed"]  # reads a --set seed= too
    scenes = draw_scenes(seed, int(objects), n_prompts)
    plan = plan_generate(replace(settings, prompts=[caption(scene) for scene in scenes], seed=seed)).plan
    reporter = Reporter()
    shard = current_shard()  # several processes: every N-th prompt each
    with stop_on_signals(reporter):
        results, stopped = evaluate(plan, scenes, reporter, shard.mine(list(range(len(scenes)))) if shard else None)
    stopped = stopped is not None
    if shard is not None:
        results, stopped = gather(shard, results, stopped)
        if not shard.main:  # rank 0 grades and reports
            shard.reraise(Interrupted("stopped by the user") if stopped else None)
            return
    summary = summarise(plan, scenes, results, seed, int(objects), stopped=stopped)
    if out:
        for path in save_results(out, summary, results):
            click.echo(f"wrote {path}", err=True)
    if as_json:
        emit_json(summary)
    else:
        click.echo(report_text(summary))
    if stopped:
        raise Interrupted(f"stopped by the user after {len(results)} of {len(scenes)} prompts")
