"""One picture from a grid of code maps: min-dalle's `grid_size` and `is_seamless`.

With `generator.grid G` a candidate is G x G tiles, each a code map sampled from the caption
on its own. The tiles are laid out in min-dalle's order: tile t goes to column t // G, row
t % G (what its detokenizer's view/flatten/transpose does), so the same G² code maps make the
same picture here and there. Tiled, each map is decoded alone and the pictures are pasted
side by side, with seams where they meet. Seamless, the maps are first joined into one
(G * rows) x (G * cols) map and decoded in one pass: the VQGAN is convolutional, so a tile's
border pixels read its neighbours' codes and the tiles blend into one picture.
"""

from __future__ import annotations

import torch


def tile_seeds(seed: int, grid: int) -> list[int]:
    """The seeds of a candidate's grid² tiles: its own seed first (a 1 x 1 grid is the plain
    candidate), then independent ones drawn from it, so that candidates seed + 1, seed + 2, ...
    share no tile with it."""
    from numpy.random import SeedSequence

    return [seed] + [int(SeedSequence(seed, spawn_key=(t,)).generate_state(1)[0]) for t in range(1, grid * grid)]


def join_codes(maps: torch.Tensor, grid: int) -> torch.Tensor:
    """The grid² code maps `maps` (grid² x rows x cols) as one (grid * rows) x (grid * cols) map,
    map t at column t // grid, row t % grid."""
    _, rows, cols = maps.shape
    return maps.view(grid, grid, rows, cols).permute(1, 2, 0, 3).reshape(grid * rows, grid * cols)


def grid_picture(vqgan, maps: torch.Tensor, grid: int, seamless: bool):
    """One RGB picture of the grid² code maps `maps` (grid² x rows x cols)."""
    from PIL import Image

    from .generator import to_images, to_pil

    if seamless:
        # decoded alone, always at this shape: the picture cannot depend on what was sampled
        # beside it (see generator.DECODE_CHUNK)
        with torch.no_grad():
            return to_pil(vqgan.decode(join_codes(maps, grid)[None]))[0]
    tiles = to_images(vqgan, maps.flatten(1), *maps.shape[1:])
    width, height = tiles[0].size
    picture = Image.new("RGB", (grid * width, grid * height))
    for t, tile in enumerate(tiles):
        picture.paste(tile, (t // grid * width, t % grid * height))
    return picture
