"""Architectures are bounded: deep nesting, class and channel counts, and complexity past int64
are each one line (exit 2 from the command line), never a traceback or a failed INSERT."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from proxystore.db.models import SqlArchitecture
from proxystore.errors import GenomeError, SpecError
from proxystore.limits import MAX_CLASSES, MAX_IMAGE_SIZE, MAX_IN_CHANNELS
from proxystore.space import Genome, named_genome, parse_architecture
from proxystore.space.commands import ArchCommands
from proxystore.space.genome import MAX_DEPTH, MAX_STAGES, MAX_WIDTH
from proxystore.space.jsonl import JsonlLineError, complexity_records
from proxystore.space.sampler import SamplerConfig
from proxystore.space.store import save_architectures
from proxystore.study.candidates import parse_arch
from tests.helpers import run_cli

NESTED = "[" * 100_000 + "]" * 100_000


def test_arch_complexity_of_deeply_nested_brackets_is_one_line(tmp_path) -> None:
    """100,000 nested brackets ended in a RecursionError traceback."""
    good = json.dumps({**named_genome("RegNetX-200MF").canonical(), "image_size": 32,
                       "num_classes": 10})
    path = tmp_path / "deep.jsonl"
    path.write_text(good + "\n" + NESTED + "\n")
    result = run_cli("arch", "complexity", str(path), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"proxystore: error: {path}: line 2: not valid JSON (nested too "
                             "deeply)\n")


def test_a_json_genome_nested_too_deeply_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"^candidates.architectures.listed.x: architecture is "
                                        "nested too deeply to read$"):
        parse_arch("{" + '"depths": ' + NESTED + "}", "candidates.architectures.listed.x")
    deep_kwargs = '{"timm": "resnet10t", "kwargs": {"stem_width": ' + "[" * 5000 + "]" * 5000
    with pytest.raises(GenomeError, match="nested too deeply"):
        parse_architecture(deep_kwargs + "}}")


@pytest.mark.parametrize(("key", "value", "high"), [("num_classes", MAX_CLASSES + 1, MAX_CLASSES),
                                                    ("in_channels", 10**6, MAX_IN_CHANNELS)])
def test_jsonl_class_and_channel_counts_are_bounded(key, value, high) -> None:
    line = json.dumps({**named_genome("RegNetX-200MF").canonical(), "image_size": 32,
                       "num_classes": 10, key: value})
    with pytest.raises(JsonlLineError) as raised:
        list(complexity_records([line], "g.jsonl"))
    assert str(raised.value) == f"g.jsonl: line 1: {key} must be an integer from 1 to {high}, " \
                                f"got {value}"


@pytest.mark.parametrize(("flag", "value", "high"), [("num_classes", MAX_CLASSES + 1, MAX_CLASSES),
                                                     ("in_channels", 65, MAX_IN_CHANNELS)])
def test_arch_sample_class_and_channel_counts_are_bounded(flag, value, high) -> None:
    option = "--" + flag.replace("_", "-")
    with pytest.raises(GenomeError, match=f"^{option} must be an integer from 1 to {high}, "
                                          f"got {value}$"):
        ArchCommands().sample(count=1, **{flag: value})
    with pytest.raises(GenomeError, match=f"sampler: {flag} must be a positive integer up to "
                                          f"{high}"):
        SamplerConfig(**{flag: value})


def test_a_complexity_past_int64_is_refused_before_the_insert(db) -> None:
    """At the genome bounds and 4,096 px flops reach 1.3e22: the BIGINT insert failed."""
    n = MAX_STAGES
    biggest = Genome((MAX_DEPTH,) * n, (MAX_WIDTH,) * n, (1,) * n, (MAX_WIDTH,) * n, (1,) * n,
                     stem_width=MAX_WIDTH, stem_type="small").validate()
    regnet = named_genome("RegNetX-200MF")
    with pytest.raises(GenomeError) as raised:
        save_architectures(db, [regnet, biggest], MAX_IMAGE_SIZE, 1000)
    message = str(raised.value)
    assert message == (f"{biggest.name}: flops 1.27e+22 at 4096 px is more than the database "
                       "stores (at most 9.22e+18); count its complexity at a smaller image size")
    with db.session() as session:  # all or nothing: RegNetX-200MF was not written either
        assert session.scalar(select(func.count()).select_from(SqlArchitecture)) == 0
    assert len(save_architectures(db, [regnet, biggest], 32, 10)) == 2
