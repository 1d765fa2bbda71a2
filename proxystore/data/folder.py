"""ImageFolder trees (`folder:PATH`): listing, the header check of every file, skipping, mode.

Registration (`check=True`) opens every file's header (`images.inspect_file`, over a process
pool for big folders) and refuses the folder when any file is bad, naming the first ten and the
count; with `skip_bad` it leaves them out instead and records them in the dataset's options as
`skipped` ({relative path: problem}). The mode (L or RGB) is the `mode` option, else the majority
rule of `images`; it is recorded as `mode`, with the count of each PIL mode as `found_modes`.
Later loads (`check=False`: the decode, or registering the same name again) trust those recorded
options and only list and stat the files, so the check runs once per dataset.

Fingerprint: each kept file's relative path, size and label (as before), then the skipped paths
and the mode, each only when present or different from the mode the first training file would
have given: a folder registered before the check existed keeps its fingerprint.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from proxystore.data import images
from proxystore.data.pool import POOL_MIN_ITEMS, ordered_map
from proxystore.data.sources import FileImages, SourceData, as_labels
from proxystore.errors import DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}
SHOWN_BAD = 10  # bad files named in the refusal; the rest are counted
# A header check costs about 0.25 ms a file and a process pool 2-6 s to start and feed; on the
# shared 2-core CI machine the pool did not pay off even at 20,000 files (benchmarks/
# folder_check.py, docs/benchmarks.md). It is used from this many files on 4 cores or more.
CHECK_POOL_MIN_FILES = 8192
CHECK_POOL_MIN_CORES = 4


def _image_files(split_dir: Path) -> list[tuple[str, str]]:
    return sorted(
        (p.parent.name, str(p)) for p in split_dir.glob("*/*")
        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def normalize_folder_options(out: dict[str, Any]) -> dict[str, Any]:
    """Check and normalize the folder options skip_bad, mode, skipped and found_modes."""
    if "skip_bad" in out and not isinstance(out["skip_bad"], bool):
        raise DataError(f"skip_bad must be true or false, got {out['skip_bad']!r}")
    if "mode" in out:
        mode = str(out["mode"]).upper()
        if mode not in images.MODES:
            raise DataError(f"mode must be L (grey) or RGB, got {out['mode']!r}")
        out["mode"] = mode
    if "skipped" in out:
        skipped = out["skipped"]
        if isinstance(skipped, Mapping):
            skipped = {str(k): str(v) for k, v in skipped.items()}
        elif isinstance(skipped, (list, tuple)):
            skipped = {str(k): "listed in skipped" for k in skipped}
        else:
            raise DataError("skipped must map relative file paths to reasons (or list them), "
                            f"got {skipped!r}")
        out["skipped"] = dict(sorted(skipped.items()))
    return out


def check_files(files: list[str], desc: str) -> list[tuple[str, bool, str | None]]:
    """Inspect every file (in order) with a progress bar when the folder is big."""
    from tqdm import tqdm  # only where a folder is decoded: the precision check runs without it

    bar = tqdm(total=len(files), desc=desc, unit="img", leave=False,
               disable=len(files) < POOL_MIN_ITEMS)
    cores = os.cpu_count() or 1
    workers = cores if cores >= CHECK_POOL_MIN_CORES else 1
    results = []
    for result in ordered_map(images.inspect_file, files, workers,
                              min_items=CHECK_POOL_MIN_FILES):
        results.append(result)
        bar.update(1)
    bar.close()
    return results


def _refusal(root: Path, bad: dict[str, str], total: int) -> DataError:
    shown = "; ".join(f"{path}: {problem}" for path, problem in list(bad.items())[:SHOWN_BAD])
    more = f"; and {len(bad) - SHOWN_BAD} more" if len(bad) > SHOWN_BAD else ""
    return DataError(f"folder source {root}: {len(bad)} of {total} image files are bad: "
                     f"{shown}{more}. Fix or remove them, or leave them out with --skip-bad "
                     "(skip_bad: true in a spec)")


Listing = dict[str, list[tuple[str, str]]]  # split -> (class, file) pairs, sorted


def _check_listed(root: Path, listed: Listing, opts: dict, mode: str | None,
                  relative: Callable[[str], str]) -> tuple[Listing, dict[str, str], dict, str]:
    """Inspect every listed file's header (registration).

    Returns:
        the listing without the bad files, the bad files ({relative path: problem}), the count
        of each PIL mode among the good ones, and the mode: `mode`, else the majority rule's.

    Raises:
        DataError: some files are bad and `opts` does not say skip_bad.
    """
    every = listed["train"] + listed["val"]
    results = check_files([f for _, f in every], f"checking {root.name}")
    bad = {relative(f): problem for (_, f), (_, _, problem) in zip(every, results, strict=True)
           if problem is not None}
    if bad and not opts.get("skip_bad"):
        raise _refusal(root, bad, len(every))
    good = [(m, grey) for (m, grey, problem) in results if problem is None]
    found = Counter(m for m, _ in good)
    mode = mode or images.majority_mode(Counter("grey" if g else "colour" for _, g in good))
    kept = {split: [(c, f) for c, f in files if relative(f) not in bad]
            for split, files in listed.items()}
    return kept, bad, dict(sorted(found.items())), mode


def _content(listed: Listing, index: dict[str, int], skipped: dict[str, str], mode: str,
             first_mode: str, relative: Callable[[str], str]) -> str:
    """The folder's fingerprint: each kept file's path, size and label, then what was skipped
    and the mode where it is not the first training file's (so older folders keep theirs)."""
    digest = hashlib.sha256(b"proxystore-folder-v1")
    for files in (listed["train"], listed["val"]):
        for cls, file in files:
            digest.update(f"{relative(file)}\t{Path(file).stat().st_size}\t{index[cls]}\n".encode())
    for skipped_path in sorted(skipped):
        digest.update(f"skipped\t{skipped_path}\n".encode())
    if mode != first_mode:
        digest.update(f"mode\t{mode}\n".encode())
    return digest.hexdigest()


def _classes(root: Path, listed: Listing, skipped: dict[str, str]) -> list[str]:
    """The class names (train/'s folders), sorted; DataError when there are none or val/ has
    others."""
    if not listed["train"]:
        after = f" (after leaving out {len(skipped)} bad files)" if skipped else ""
        raise DataError(f"folder source {root}: no images under train/CLASS/{after}")
    classes = sorted({c for c, _ in listed["train"]})
    unknown = sorted({c for c, _ in listed["val"]} - set(classes))
    if unknown:
        raise DataError(f"folder source {root}: val/ has classes not in train/: {unknown[:5]}")
    return classes


def load_folder(path: str, opts: dict, download: bool, check: bool = True
                ) -> tuple[SourceData, bool]:
    """Load an ImageFolder tree: PATH/train/CLASS/*.jpg and PATH/val/CLASS/*.jpg.

    Args:
        path: the tree's root.
        opts: skip_bad, mode, skipped, found_modes (normalized).
        download: unused (folders are never downloaded).
        check: inspect every file's header (registration); False trusts `opts`.
    """
    root = Path(path)
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DataError(f"folder source {root}: no {split}/ directory")

    def relative(file: str) -> str:
        return Path(file).relative_to(root).as_posix()

    skipped = dict(opts.get("skipped") or {})
    listed = {split: [(c, f) for c, f in _image_files(root / split) if relative(f) not in skipped]
              for split in ("train", "val")}
    recorded: dict[str, Any] = {}
    mode = opts.get("mode")
    if check:
        listed, bad, recorded["found_modes"], mode = _check_listed(root, listed, opts, mode,
                                                                   relative)
        skipped.update(bad)
    elif opts.get("found_modes") is not None:
        recorded["found_modes"] = dict(opts["found_modes"])
    classes = _classes(root, listed, skipped)
    index = {c: i for i, c in enumerate(classes)}
    train, val = listed["train"], listed["val"]
    first_mode = images.legacy_mode(train[0][1])
    mode = mode or first_mode
    content = _content(listed, index, skipped, mode, first_mode, relative)
    recorded["mode"] = mode
    if skipped:
        recorded["skipped"] = dict(sorted(skipped.items()))
    data = SourceData(
        train_labels=as_labels([index[c] for c, _ in train], len(train), str(root)),
        val_labels=as_labels([index[c] for c, _ in val], len(val), str(root)),
        num_classes=len(classes), channels=1 if mode == "L" else 3, image_height=None,
        image_width=None, class_names=tuple(classes), content=content,
        images=FileImages(tuple(f for _, f in train), tuple(f for _, f in val), mode),
        recorded=recorded,
    )
    return data, False
