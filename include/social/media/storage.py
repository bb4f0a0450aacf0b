"""Files under the media root: originals (wherever the upload put them, but inside the root)
and the variants folder of each upload, `<root>/variants/<media_id>/`.

Variants are written to a staging folder beside the final one and swapped in with two
renames on the same file system, so readers see the old set or the new set and never a mix,
and a rerun that makes fewer variants leaves none of the old ones behind. (A symlink swap
would be fully atomic, but the folders stay plain directories that other jobs, such as the
old-post cleanup, can simply delete.)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from include.social.media.errors import UnprocessableMedia

VARIANTS = "variants"
REPO = Path(__file__).resolve().parents[3]


def default_media_root() -> Path:
    """`<state folder>/media`: the repository's `.state/media` unless JOBYARD_STATE moves the
    state folder (as tools/devenv.py does for tests)."""
    return Path(os.environ.get("JOBYARD_STATE", REPO / ".state")) / "media"


def require_root(root: Path) -> None:
    """A missing media root is the installation's problem (an unmounted volume, a wrong
    variable), not the upload's: raised as is, so the task retries and alerts."""
    if not root.is_dir():
        raise FileNotFoundError(f"the media root {root} does not exist (variable social_media_root)")


def resolve_original(root: Path, original_path: str) -> Path:
    """The original's real path; `UnprocessableMedia` for a path outside the root (or in its
    variants folder) and for a missing file."""
    real_root = root.resolve()
    path = (real_root / original_path).resolve()  # an absolute original_path stands as is
    if not path.is_relative_to(real_root) or path.is_relative_to(real_root / VARIANTS):
        raise UnprocessableMedia(f"original path {original_path!r} is outside the media root")
    if not path.is_file():
        raise UnprocessableMedia(f"original file {original_path!r} not found")
    return path


def variants_dir(root: Path, media_id: int) -> Path:
    return root / VARIANTS / str(media_id)


def variant_path(media_id: int, name: str) -> str:
    """A variant's path as recorded: relative to the media root."""
    return f"{VARIANTS}/{media_id}/{name}"


def new_staging(root: Path, media_id: int) -> Path:
    """An empty folder beside the final one. Leftovers of this upload's killed runs are
    removed first (the caller holds the upload's lock, so no live run owns them)."""
    parent = root / VARIANTS
    parent.mkdir(parents=True, exist_ok=True)
    for leftover in parent.glob(f".{media_id}.*"):
        shutil.rmtree(leftover)
    return Path(tempfile.mkdtemp(prefix=f".{media_id}.staging-", dir=parent))


def publish(root: Path, media_id: int, staging: Path) -> None:
    """Swap `staging` in as the upload's variants folder and delete the previous one."""
    final = variants_dir(root, media_id)
    previous = None
    if final.exists():
        previous = Path(tempfile.mkdtemp(prefix=f".{media_id}.old-", dir=final.parent))
        os.replace(final, previous)  # replaces the empty placeholder folder just made
    os.rename(staging, final)
    if previous is not None:
        shutil.rmtree(previous)


def remove_variants(root: Path, media_id: int) -> None:
    final = variants_dir(root, media_id)
    if final.exists():
        shutil.rmtree(final)
