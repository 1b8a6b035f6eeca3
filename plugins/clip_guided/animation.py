"""Each candidate's progress as an animated GIF, saved beside its PNG."""

from __future__ import annotations

import io

FRAMES_WITHOUT_SAVE_EVERY = 40
FRAME_MS = 100
LAST_FRAME_MS = 1500


def frame_interval(steps: int, save_every: int) -> int:
    return save_every if save_every > 0 else max(1, steps // FRAMES_WITHOUT_SAVE_EVERY)


def gif_bytes(frames: list) -> bytes:
    """`frames` (PIL images) as a looping GIF that holds the last frame a while."""
    buffer = io.BytesIO()
    durations = [FRAME_MS] * (len(frames) - 1) + [LAST_FRAME_MS]
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False)
    return buffer.getvalue()


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def from_png(data: bytes):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")
