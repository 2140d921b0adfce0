"""The README's config table and test command agree with the code (no second source of truth drifting)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from eegtrain_jupyter.config.training import TrainingConfig, json_schema

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def readme_config_rows():
    rows = {}
    for name, default, allowed in re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \|$", README, re.M):
        rows[name] = (default.strip(), allowed.strip())
    return rows


def test_readme_config_table_matches_the_schema():
    rows = readme_config_rows()
    assert list(rows) == list(TrainingConfig.model_fields)
    props = json_schema()["properties"]
    for name, (default, allowed) in rows.items():
        expected = TrainingConfig.model_fields[name].get_default(call_default_factory=True)
        if hasattr(expected, "model_dump"):  # a nested section (data)
            expected = expected.model_dump()
        assert json.loads(default) == expected, name
        lo, hi = props[name].get("minimum"), props[name].get("maximum")
        if lo is not None:
            found = re.match(r"([\d.]+)–([\d.]+)$", allowed)
            assert found and (float(found[1]), float(found[2])) == (lo, hi), name


def test_ci_runs_the_readme_test_command():
    assert "| set up and run the whole test suite | `make test` |" in README
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"
