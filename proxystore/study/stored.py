"""Listed architectures named by what is stored: a fingerprint prefix or another study's candidates.

```yaml
listed:
  best:   {fingerprint: '3f2a9c01'}                   # a unique prefix, 8+ hex digits
  mine:   {from_study: demo, candidate: a003}         # labelled `mine` here
  demo:   {from_study: demo, candidates: [a000, a003]}  # labelled a000 and a003 here
```

`spec check` has no database, so these stay `StoredArchitecture` references until plan, fill or
a worker resolves them (`resolve_stored`). The resolved candidate is the stored genome itself,
with its own fingerprint, so its cells are the ones other studies trained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxystore.errors import ProxystoreError, SpecError

MIN_PREFIX = 8  # hex digits of a fingerprint a spec must give (4 billion values)
_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class StoredArchitecture:
    """A reference to a stored architecture, resolved against the database at plan/fill time."""

    where: str  # the listed entry's path
    fingerprint_prefix: str | None = None
    study: str | None = None
    candidate: str | None = None
    label_field: str = "candidate"  # where the label is written: candidate or candidates.N
    overrides: tuple[tuple[str, Any], ...] = ()  # arch.NAME changes laid over it once resolved

    def describe(self) -> str:
        """How the spec names it, for messages."""
        if self.fingerprint_prefix is not None:
            return f"fingerprint {self.fingerprint_prefix}"
        return f"{self.study}'s {self.candidate}"


def is_reference(obj: Any) -> bool:
    """Whether a listed entry names a stored architecture rather than describing one."""
    return isinstance(obj, Mapping) and ("fingerprint" in obj or "from_study" in obj)


def parse_reference(label: str, obj: Mapping[str, Any], where: str
                    ) -> dict[str, StoredArchitecture]:
    """Read a listed reference; return label -> reference (several for `candidates: [...]`)."""
    if "fingerprint" in obj:
        extra = sorted(set(obj) - {"fingerprint"})
        if extra:
            raise SpecError(f"{where}.{extra[0]}: a fingerprint reference takes no other field")
        if not isinstance(obj["fingerprint"], str):  # 01234567 is octal 342391 to YAML
            raise SpecError(f"{where}.fingerprint: write it in quotes; YAML read it as the "
                            f"number {obj['fingerprint']!r}")
        prefix = obj["fingerprint"].strip().lower()
        if len(prefix) < MIN_PREFIX or len(prefix) > 64 or not set(prefix) <= _HEX:
            raise SpecError(f"{where}.fingerprint: must be {MIN_PREFIX} to 64 hex digits (a unique "
                            f"prefix of a stored fingerprint), got {obj['fingerprint']!r}")
        return {label: StoredArchitecture(where=where, fingerprint_prefix=prefix)}
    study = str(obj["from_study"])
    if ("candidate" in obj) == ("candidates" in obj):
        raise SpecError(f"{where}: give candidate (one label, kept as {label}) or candidates "
                        "(a list; each keeps its label), not both or neither")
    if "candidate" in obj:
        return {label: StoredArchitecture(where=where, study=study,
                                          candidate=str(obj["candidate"]))}
    return {str(name): StoredArchitecture(where=where, study=study, candidate=str(name),
                                          label_field=f"candidates.{i}")
            for i, name in enumerate(obj["candidates"])}


def with_overrides(ref: StoredArchitecture, overrides: dict[str, Any]) -> StoredArchitecture:
    """The reference with arch.NAME changes to apply once it is resolved."""
    return dataclasses.replace(ref, overrides=ref.overrides + tuple(overrides.items()))


def unresolved(spec: Any) -> list[str]:
    """How the spec names each distinct stored architecture among its candidates, in order."""
    refs = [c.architecture.describe() for c in spec.candidates.values()
            if isinstance(c.architecture, StoredArchitecture)]
    return list(dict.fromkeys(refs))


def resolve_stored(db: Any, spec: Any) -> Any:
    """Return `spec` with every stored reference replaced by the architecture it names.

    Args:
        db: the open database.
        spec: a StudySpec (returned as it is when it names nothing stored).

    Raises:
        SpecError: an unknown study, candidate label or fingerprint, or an ambiguous prefix;
            the message names the spec's field.
    """
    if not unresolved(spec):
        return spec
    from proxystore.study.candidates import with_arch_overrides

    studies: dict[str, dict[str, Any]] = {}
    candidates = dict(spec.candidates)
    for label, candidate in spec.candidates.items():
        ref = candidate.architecture
        if isinstance(ref, StoredArchitecture):
            record = _record(db, ref, studies)
            try:
                arch = record.architecture
            except ProxystoreError as error:  # e.g. an imported result: a label, no genome
                raise SpecError(f"{ref.where}: {ref.describe()} is architecture "
                                f"{record.fingerprint[:12]} of space {record.space}, which "
                                f"cannot be trained here ({error})") from None
            if arch.fingerprint != record.fingerprint:  # a stored row must read back as itself
                raise SpecError(f"{ref.where}: stored architecture {record.fingerprint[:12]} "
                                f"reads back as {arch.fingerprint[:12]}")
            arch = with_arch_overrides(arch, dict(ref.overrides), ref.where)
            candidates[label] = dataclasses.replace(candidate, architecture=arch)
    return dataclasses.replace(spec, candidates=candidates)


def _record(db: Any, ref: StoredArchitecture, studies: dict[str, dict[str, Any]]) -> Any:
    """The stored architecture a reference names (studies caches each study's candidates)."""
    from proxystore.space.store import get_architecture, study_architectures

    if ref.fingerprint_prefix is not None:
        try:
            return get_architecture(db, ref.fingerprint_prefix)
        except ProxystoreError as error:
            raise SpecError(f"{ref.where}.fingerprint: {error} (`proxystore arch list` shows "
                            "the stored ones)") from None
    assert ref.study is not None and ref.candidate is not None
    if ref.study not in studies:
        try:
            studies[ref.study] = study_architectures(db, ref.study)
        except ProxystoreError as error:
            raise SpecError(f"{ref.where}.from_study: {error}") from None
    labels = studies[ref.study]
    if ref.candidate not in labels:
        raise SpecError(f"{ref.where}.{ref.label_field}: study {ref.study} has no candidate "
                        f"{ref.candidate!r} (its candidates: {_few(list(labels))})")
    return labels[ref.candidate]


def _few(labels: list[str], n: int = 8) -> str:
    """At most `n` labels, then how many more."""
    if not labels:
        return "none"
    shown = ", ".join(labels[:n])
    return shown + (f", ... ({len(labels) - n} more)" if len(labels) > n else "")
