"""`proxystore data ...`: register datasets, declare subsets, decode caches."""

from __future__ import annotations

import builtins
from typing import Any

import pandas as pd

from proxystore.db import open_database
from proxystore.errors import DataError
from proxystore.formatting import FormatName, render
from proxystore.limits import IMAGE_SIZE_RULE, valid_image_size


def folder_lines(options: dict[str, Any], limit: int | None = None) -> list[str]:
    """Lines saying how a folder dataset is decoded and which bad files it left out."""
    lines = []
    if "mode" in options:
        found = options.get("found_modes") or {}
        files = ", ".join(f"{n} {m}" for m, n in sorted(found.items(), key=lambda kv: -kv[1]))
        mixed = " (mixed folder)" if len(found) > 1 else ""
        lines.append(f"decoded as {options['mode']}{mixed}"
                     + (f"; files by PIL mode: {files}" if files else ""))
    skipped = list((options.get("skipped") or {}).items())
    if skipped:
        lines.append(f"left out {len(skipped)} bad files:")
        lines += [f"  {path}: {problem}" for path, problem in skipped[:limit]]
        if limit is not None and len(skipped) > limit:
            lines.append(f"  and {len(skipped) - limit} more (data show lists them all)")
    return lines


class DataCommands:
    """Datasets and proxy subsets: add, list, show, subset, cache."""

    def add(self, name: str, source: str, root: str | None = None,
            val_fraction: float | None = None, seed: int | None = None,
            download: bool = False, scale: float | None = None, skip_bad: bool = False,
            mode: str | None = None, db: str | None = None) -> None:
        """Register a dataset under a name (again with the same content: nothing changes).

        Example:
            proxystore data add fashion-mnist idx:/usr/share/datasets/fashion-mnist

        Args:
            name: the dataset's name, e.g. fashion-mnist.
            source: sklearn:digits, torchvision:CLASS, folder:PATH, idx:DIR or npz:PATH.
            root: directory of a torchvision dataset's files.
            val_fraction: validation share split off sources without one (default 0.2).
            seed: seed of that stratified split (default 0).
            download: let torchvision download the files into --root.
            scale: npz: the value of white in the images (default by dtype: uint8 255, uint16
                65535, float 1; e.g. 255 for floats in 0-255); see docs/data.md.
            skip_bad: folder: leave out image files that fail the header check (recorded in
                the dataset's options) instead of refusing the dataset.
            mode: folder: decode as L (grey) or RGB (default: what most files are).
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.data.registry import register_dataset

        info = register_dataset(open_database(db, pool=False, create=True), str(name), str(source),
                                root=root, val_fraction=val_fraction, seed=seed,
                                download=download, scale=scale,
                                skip_bad=True if skip_bad else None, mode=mode)
        print(f"{info.name}: {info.train_count} train / {info.val_count} val, "
              f"{info.num_classes} classes, fingerprint {info.fingerprint[:16]}")
        for line in folder_lines(info.options, limit=10):
            print(line)

    def list(self, format: FormatName = "table", db: str | None = None) -> None:  # noqa: A002
        """List registered datasets with their sizes and fingerprints.

        Example:
            proxystore data list --format csv

        Args:
            format: table, csv or json.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.data.registry import list_datasets

        rows = [{"name": d.name, "source": d.source, "classes": d.num_classes,
                 "train": d.train_count, "val": d.val_count, "channels": d.channels,
                 "fingerprint": d.fingerprint[:16]}
                for d in list_datasets(open_database(db, pool=False))]
        print(render(pd.DataFrame(rows), format))

    def show(self, name: str, format: FormatName = "table",  # noqa: A002
             db: str | None = None) -> None:
        """Show one dataset: its source and example counts per split and class.

        Example:
            proxystore data show digits

        Args:
            name: the dataset's name.
            format: table, csv or json.
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.data.registry import class_counts, get_dataset

        database = open_database(db, pool=False)
        info = get_dataset(database, str(name))
        counts = class_counts(database, info)
        names = info.class_names or ()
        labels = sorted(set(counts["train"]) | set(counts["val"]))
        rows = [{"label": y, "class": names[y] if y < len(names) else str(y),
                 "train": counts["train"].get(y, 0), "val": counts["val"].get(y, 0)}
                for y in labels]
        shown = {k: v for k, v in info.options.items() if k not in ("skipped", "found_modes")}
        print(f"{info.name} from {info.source} {shown or ''}".rstrip())
        print(f"{info.train_count} train / {info.val_count} val, {info.num_classes} classes, "
              f"{info.channels} channel(s), fingerprint {info.fingerprint}")
        for line in folder_lines(info.options):
            print(line)
        print(render(pd.DataFrame(rows), format))

    # The flags between kind and seed are the parameters of proxystore.data.kinds, with the same
    # help: tests/test_subset_kinds.py fails until a parameter added there is added here.
    def subset(self, name: str, kind: str, fraction: float | None = None,
               count: int | None = None, stratified: bool | None = None, k: int | None = None,
               complement: bool | None = None, labels: builtins.list[int] | None = None,
               n: int | None = None, val_n: int | None = None, a: float | None = None,
               b: float | None = None, drop_hardest: float | None = None,
               scorer_run: int | None = None, seed: int | None = None,
               parent: str | None = None, db: str | None = None) -> None:
        """Declare a subset of a dataset (stored once per member set) and print its name and sizes.

        Example:
            proxystore data subset digits random --fraction 0.5 --seed 1

        Args:
            name: the dataset's name.
            kind: full, random, classes, per_class, balanced or loss_quantile.
            fraction: random: share of training examples; classes: share of classes; in (0, 1].
            count: random: number of training examples.
            stratified: random: keep each class's share.
            k: classes: number of classes to keep.
            complement: classes: keep the classes the same seed (or labels) would leave out.
            labels: classes: the class labels to keep, e.g. 0,2,4,6 (instead of k or fraction).
            n: per_class: at most this many training examples per class.
            val_n: per_class: also keep at most this many validation examples per class.
            a: loss_quantile: start of the kept range, 0 = hardest.
            b: loss_quantile: end of the kept range, 1 = easiest.
            drop_hardest: loss_quantile: share of hardest examples dropped before ranking.
            scorer_run: loss_quantile: id of the run whose per-example losses rank examples.
            seed: seed of the random choice (default 0).
            parent: id or fingerprint prefix of a stored subset to draw from (composition).
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.data.kinds import param_names
        from proxystore.data.subsets import SubsetDecl, declare_subset, stored_decl

        given = locals()
        params = {param: given[param] for param in param_names()}  # each kind takes its own
        database = open_database(db, pool=False)
        base = stored_decl(database, str(parent)) if parent is not None else None
        info = declare_subset(database, str(name), SubsetDecl(str(kind), params, seed, base))
        print(f"subset {info.id} {info.name}: {info.train_count} train / {info.val_count} val, "
              f"{info.num_classes} classes, fingerprint {info.fingerprint}")

    def cache(self, name: str, image_size: int, cache_dir: str | None = None,
              db: str | None = None) -> None:
        """Decode a dataset into the uint8 cache at one image size (once) and print where.

        Example:
            proxystore data cache digits --image-size 32

        Args:
            name: the dataset's name.
            image_size: side of the square images, in pixels.
            cache_dir: cache directory (default $PROXYSTORE_CACHE, else beside the database).
            db: database URL or SQLite path (default $PROXYSTORE_DB, else ./proxystore.db).
        """
        from proxystore.data.cache import decoded

        if not valid_image_size(image_size):
            raise DataError(f"--image-size must be {IMAGE_SIZE_RULE}, got {image_size!r}")
        data = decoded(open_database(db, pool=False), str(name), image_size, cache_dir)
        stats = ", ".join(f"{m:.4f}±{s:.4f}" for m, s in zip(data.mean, data.std, strict=True))
        print(f"{data.path}: train {tuple(data.train.shape)}, val {tuple(data.val.shape)}, "
              f"mean±std {stats}")
