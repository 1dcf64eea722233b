"""The README gives the two commands word for word and lists every law in its law book."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmech.cli import law_book_markdown
from lmech.laws import all_laws

README = Path(__file__).parents[1] / "README.md"
CI = Path(__file__).parents[1] / ".ci" / "run"


@pytest.mark.skipif(not README.exists(), reason="running from an installed package")
def test_two_commands_and_law_book() -> None:
    text = README.read_text()
    assert "pip install -e . && lmech verify" in text
    assert 'pip install -e ".[dev]" && pytest' in text
    assert 'pip install -e ".[dev]" && pytest' in CI.read_text()
    table = text.split("## The law book", 1)[1]
    for law in all_laws():
        assert f"`{law.name}`" in table, f"README law book misses {law.name}"


@pytest.mark.skipif(not README.exists(), reason="running from an installed package")
def test_law_book_table_is_generated_from_the_registry() -> None:
    """The README's table is `lmech laws --markdown` verbatim: regenerate it after changing
    a law's claim, kind, pillar, source or finding."""
    assert law_book_markdown() in README.read_text()


@pytest.mark.skipif(not README.exists(), reason="running from an installed package")
def test_the_python_api_example_runs(capsys) -> None:
    """The README's Python API block, run as a newcomer would paste it."""
    block = README.read_text().split("## Python API", 1)[1].split("```python", 1)[1]
    exec(compile(block.split("```", 1)[0], "README.md", "exec"), {})  # noqa: S102
    words = capsys.readouterr().out.split()
    assert words and words[0] in ("CONFIRMED", "INCONCLUSIVE", "REFUTED")
