"""writable_png: refuses, with the reason, every path a PNG cannot be written to."""

from __future__ import annotations

import pytest

from lmech.errors import LmechError
from lmech.tools import writable_png


@pytest.mark.parametrize(("name", "fragment"), [
    ("", "is a directory; give a file name ending in .png"),
    ("fit", "must end in .png"),
    ("fit.svg", "must end in .png"),
    ("sub/fit.png", "directory {tmp}/sub does not exist"),
    ("taken/fit.png", "directory {tmp}/taken is not a directory"),
])
def test_refusals_name_the_path(name, fragment, tmp_path) -> None:
    (tmp_path / "taken").write_text("a file, not a directory")
    with pytest.raises(LmechError, match=fragment.format(tmp=tmp_path)):
        writable_png(tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # the check leaves nothing


def test_accepts_new_and_existing_files_without_touching_them(tmp_path) -> None:
    assert writable_png(tmp_path / "new.PNG") == tmp_path / "new.PNG"
    assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.png"
    old.write_bytes(b"kept")
    assert writable_png(str(old)) == old and old.read_bytes() == b"kept"
