"""The project cites papers and its own docs: no reference to an outside formula sheet (in
code, tests, benchmarks or docs), every docs/…md path (and §section) that code mentions
exists, and the theory notes name real code, laws, pages and files."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
THEORY_DOCS = ROOT / "docs" / "theory"
SCANNED = ("src", "tests", "benchmarks")
# Spelled in two pieces so that this file does not match itself.
FORBIDDEN = ("THEORY" + ".md", "THEORY" + " §")
# Files another change is rewriting; each must still contain a forbidden reference, so the
# entry is removed (and the test tightens) as soon as that file is fixed.
PENDING: set[str] = set()

DOC_PATH = re.compile(r"(docs/[\w./-]+?\.md)(?:[ ,(]*§\s*([^\s,;:)]+(?: [\w/][^\s,;:)]*)*))?")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
CODE_NAME = re.compile(r"`(lmech(?:\.\w+)+)`")
LAW_NAME = re.compile(r"`((?:init|symmetry|dln|kernels|emergence|scaling|dynamics)\.\w+)`")
LINK = re.compile(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)")

pytestmark = pytest.mark.skipif(not (ROOT / "src").is_dir() or not THEORY_DOCS.is_dir(),
                                reason="running from an installed package")


def _sources() -> list[Path]:
    return sorted(p for d in SCANNED if (ROOT / d).is_dir() for p in (ROOT / d).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_reference_to_an_outside_formula_sheet() -> None:
    docs = sorted((ROOT / "docs").rglob("*.md"))
    offending = {_rel(p) for p in [*_sources(), *docs]
                 if any(s in p.read_text(encoding="utf-8") for s in FORBIDDEN)}
    assert offending - PENDING == set(), "cite a paper or docs/theory/*.md instead"
    fixed = PENDING - offending
    assert not fixed, f"no longer cite the outside sheet, remove from PENDING: {sorted(fixed)}"


def _mentions() -> list[tuple[str, str, str | None]]:
    found = []
    for path in _sources():
        for match in DOC_PATH.finditer(path.read_text(encoding="utf-8")):
            section = match.group(2).rstrip(".") if match.group(2) else None
            found.append((_rel(path), match.group(1), section))
    return found


def _headings(doc: Path) -> list[str]:
    return [h.lower() for h in HEADING.findall(doc.read_text(encoding="utf-8"))]


def test_code_mentions_theory_docs() -> None:
    """Guards the regexes: the notes are cited from the code at all."""
    assert any(doc.startswith("docs/theory/") for _, doc, _ in _mentions())


@pytest.mark.parametrize(("source", "doc", "section"), _mentions())
def test_mentioned_docs_and_sections_exist(source: str, doc: str, section: str | None) -> None:
    path = ROOT / doc
    assert path.is_file(), f"{source} cites {doc}, which does not exist"
    if section is not None:
        heads = _headings(path)
        assert any(h.startswith(section.lower()) for h in heads), (
            f"{source} cites {doc}, §{section}; its sections are {heads}")


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("page", sorted(p.name for p in THEORY_DOCS.glob("*.md")))
def test_theory_notes_name_real_code_laws_and_pages(page: str) -> None:
    text = (THEORY_DOCS / page).read_text(encoding="utf-8")
    missing = [n for n in sorted(set(CODE_NAME.findall(text))) if not _resolves(n)]
    assert not missing, f"{page} names code that does not exist: {missing}"
    laws = sorted(set(LAW_NAME.findall(text)))
    absent = [n for n in laws
              if not (ROOT / "src/lmech/laws" / (n.replace(".", "/") + ".py")).is_file()]
    assert not absent, f"{page} names laws that do not exist: {absent}"
    broken = [link for link in LINK.findall(text) if not (THEORY_DOCS / link).resolve().is_file()]
    assert not broken, f"{page} links to missing pages: {broken}"
    files = re.findall(r"`((?:tests|src)/[\w/.]+\.py)`", text)
    assert all((ROOT / f).is_file() for f in files), f"{page} names missing files"
