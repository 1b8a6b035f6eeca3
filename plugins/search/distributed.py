"""Several processes embedding one collection: `torchrun --nproc-per-node N $(which artengine)
index build ...` (or `accelerate launch`, or torchrun across machines sharing the index folder).

Each process reads its rank and the world size from the environment torchrun sets, embeds its
shard (shards.embed_shard), and waits for the others; rank 0 then merges the shards into the
index. The processes meet through a gloo process group (CPU or GPU alike) and the files they
write into the index's partial folder, so no embedding travels through the group.
"""

from __future__ import annotations

import os


def rank_and_size() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def local_device(device: str) -> str:
    """Under torchrun on GPUs, each process takes its own (LOCAL_RANK); else `device` as given."""
    from artengine import resolve_device

    resolved = resolve_device(device)
    if resolved == "cuda" and rank_and_size()[1] > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return resolved


def start() -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("gloo")


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def finish() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
