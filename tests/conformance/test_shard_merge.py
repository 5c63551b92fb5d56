"""--shard K/N splits the work deterministically; `conformance merge` joins the parts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.ci.shard import parse_shard
from conformance.cli.main import main
from conformance.errors import UsageError
from conformance.spec import find_spec_files, load_specs

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parents[2]
torch = pytest.importorskip("torch")


def test_shards_partition_the_scenarios_evenly_and_deterministically() -> None:
    scenarios = load_specs(find_spec_files([str(ROOT / "specs")]))
    parts = [parse_shard(f"{k}/3").take(scenarios) for k in (1, 2, 3)]
    ids = [{s.id for s in part} for part in parts]
    assert set.union(*ids) == {s.id for s in scenarios}
    assert sum(len(part) for part in ids) == len(scenarios)  # disjoint
    assert max(map(len, ids)) - min(map(len, ids)) <= 1
    assert [s.id for s in parse_shard("2/3").take(list(reversed(scenarios)))] == [
        s.id for s in reversed(parts[1])
    ]


@pytest.mark.parametrize("text", ["1", "0/2", "3/2", "a/b", "1/0"])
def test_malformed_shards_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--shard"):
        parse_shard(text)


def _run(directory: Path, *extra: str) -> Path:
    args = ["run", "--spec", str(DATA / "pass"), "--repeat", "2", "--report-dir", str(directory)]
    assert main([*args, *extra]) == 0
    return directory / "runs" / "latest.json"


def test_merged_shards_equal_one_whole_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = json.loads(_run(tmp_path / "whole").read_text())
    first = _run(tmp_path / "a", "--shard", "1/2")
    second = _run(tmp_path / "b", "--shard", "2/2")
    merged_path = tmp_path / "all.json"
    assert main(["merge", str(first), str(second), "-o", str(merged_path)]) == 0
    merged = json.loads(merged_path.read_text())
    key = lambda entry: (entry["scenario"], entry["backend"])  # noqa: E731
    assert sorted(map(key, merged["results"])) == sorted(map(key, whole["results"]))
    assert merged["summary"] == whole["summary"] and merged["shard"] is None
    assert merged["specs"] == whole["specs"]
    assert [m["shard"] for m in merged["merged_from"]] == [
        {"index": 1, "count": 2},
        {"index": 2, "count": 2},
    ]
    assert "merged 2 runs" in capsys.readouterr().out
    jsonschema = pytest.importorskip("jsonschema")
    from conformance.formats.schema import run_schema

    jsonschema.validate(merged, run_schema(), cls=jsonschema.Draft202012Validator)
    # The merged file is a run like any other: reports rebuild from it.
    assert main(["report", str(merged_path), "--report-dir", str(tmp_path / "merged")]) == 0


def test_merge_refuses_overlaps_and_different_spec_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _run(tmp_path / "a", "--shard", "1/2")
    out = str(tmp_path / "all.json")
    assert main(["merge", str(first), str(first), "-o", out]) == 2
    assert "is in both" in capsys.readouterr().err
    other = _run(tmp_path / "c", "--shard", "2/2", "-k", "grad")
    assert main(["merge", str(first), str(other), "-o", out]) == 2
    assert "differ in spec set" in capsys.readouterr().err
    assert main(["merge", str(first), "-o", out]) == 0
    assert "shard 2/2 is missing from the merge" in capsys.readouterr().err
