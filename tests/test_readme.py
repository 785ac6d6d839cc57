"""The README stays true: CI runs its test command, and the files it points to exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readme_test_command():
    setup, test = _readme_commands()
    assert "tickerwire" in setup
    ci = (REPO / ".ci" / "run").read_text()
    assert f'TEST_COMMAND="{test}"' in ci


def test_readme_links_point_to_files():
    text = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(((?!http)[^)#]+)\)", text):
        assert (REPO / target).exists(), target
