"""The `search` plugin: CLIP's own jobs over images, without generating any.

- `artengine classify IMAGE... --labels "a cat,a dog"`: zero-shot classification;
- `artengine index build FOLDER... --out INDEX` / `artengine index update INDEX`: an index of
  a collection (CLIP embeddings, a parquet table with artengine PNG metadata, FAISS),
  incremental and resumable;
- `artengine search INDEX "text" [--image Q.png] [--where ...]`: text, image and prompt-syntax
  search with metadata filters; tables, JSON, an offline HTML page;
- `artengine.load_model("index:PATH")`: an index for other plugins (the web UI's gallery search).

The Python API is `artengine.plugins.search.Index` (docs/search.md). This module imports none
of torch, open_clip, faiss or pyarrow; the commands do when they run.
"""

from __future__ import annotations

import artengine


def __getattr__(name):
    if name in ("Index", "Hit", "Report", "EmbedSettings"):  # the API, loaded when first used
        from . import index

        return getattr(index, name)
    raise AttributeError(name)


@artengine.hookimpl
def register_model_loaders(register):
    from .loader import IndexLoader

    register(IndexLoader())


@artengine.hookimpl
def register_commands(cli):
    from .command import classify, index_group, search

    cli.add_command(classify)
    cli.add_command(index_group)
    cli.add_command(search)
