"""The public module `artengine.files`: reading the files users name (untrusted: bounded, and
refused in one line) and writing the files and folders artengine owns (atomic, never over a
user's). Each name lives in the module of its kind (safe_io, images, checkpoints, outputs,
infotext, grid); docs/plugins.md ("The engine API") says what each is for.
"""

from .checkpoints import check_model_fits, read_checkpoint
from .grid import render_grid
from .images import read_image
from .infotext import read_png_metadata
from .outputs import claim_folder, lock_folder, replace_file, slugify, write_new
from .safe_io import check_regular, read_own_file, read_user_file

__all__ = [
    # reading what users name
    "check_regular",
    "read_checkpoint",
    "read_image",
    "read_png_metadata",
    "read_user_file",
    # artengine's own files and folders
    "check_model_fits",
    "claim_folder",
    "lock_folder",
    "read_own_file",
    "render_grid",
    "replace_file",
    "slugify",
    "write_new",
]
