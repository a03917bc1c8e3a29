"""docs/ARCHITECTURE.md's module map is true: every file or folder it names exists, every
package folder of backend/ and desktop/ has its line, and there is one map, not two. Its
"Database" section names exactly the tables and columns of backend/db/models.py.

The map is the code block under "## Layout (module map)". A line names a file or a folder
(ending in `/`) inside the folder of the nearest line above it indented one step (two
spaces) less, then, after two or more spaces, says what it holds; `a.py · b.py` names several.
A line indented as far as the descriptions (CONTINUATION columns) only continues one. A line
that is neither is an error, so a typo cannot hide a path from the check.

The prose of README.md and docs/*.md is held to the same rule: a path that starts at a
top-level folder of the repository (`backend/…`, `tests/…`) must exist, a relative Markdown
link must lead to a file inside the repository, and a page named by file name alone must be
one of the repository's (no DESIGN.md or STYLE.md that only exist outside it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
HEADING = "## Layout (module map)"
CONTINUATION = 16  # a line indented this far (or more) continues the description above it
NAME = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*/?")
PACKAGE_ROOTS = ("backend", "desktop")
TOP_LEVEL = ("backend", "desktop", "bench", "tests", "docs", "resources", "scripts")


class MapError(ValueError):
    """A line of the map that names nothing readable."""


def map_block(text: str) -> list[str]:
    """The lines of the code block that follows the map's heading."""
    lines = text.splitlines()
    if HEADING not in lines:
        raise MapError(f"no {HEADING!r} heading")
    start = lines.index(HEADING)
    fence = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    end = next(i for i in range(fence + 1, len(lines)) if lines[i].startswith("```"))
    return lines[fence + 1 : end]


def parse_map(block: list[str]) -> list[str]:
    """Every path the map names, relative to the repository root (folders end in `/`)."""
    # parents[d]: the folder that lines of depth d + 1 are inside (None: a line nothing may
    # be inside, a file or a line of several names)
    parents: list[str | None] = []
    paths: list[str] = []
    for number, line in enumerate(block, 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent >= CONTINUATION:
            if not paths:
                raise MapError(f"line {number} continues nothing: {line!r}")
            continue
        if indent % 2:
            raise MapError(f"line {number} is indented by an odd number of spaces: {line!r}")
        depth = indent // 2
        if depth > len(parents):
            raise MapError(f"line {number} is indented two steps at once: {line!r}")
        del parents[depth:]
        base = parents[-1] if parents else ""
        if base is None:
            raise MapError(f"line {number} is indented below no single folder: {line!r}")
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split(" · ")
        for name in names:
            if not NAME.fullmatch(name):
                raise MapError(f"line {number} names no file or folder: {name!r} in {line!r}")
        paths.extend(base + name for name in names)
        single_folder = len(names) == 1 and names[0].endswith("/")
        parents.append(base + names[0] if single_folder else None)
    return paths


def missing(paths: list[str], root: Path) -> list[str]:
    return [
        p for p in paths if not ((root / p).is_dir() if p.endswith("/") else (root / p).is_file())
    ]


def package_folders(root: Path) -> set[str]:
    """Folders under backend/ and desktop/ that hold Python modules, as `backend/db/`."""
    found: set[str] = set()
    for top in PACKAGE_ROOTS:
        for module in (root / top).rglob("*.py"):
            if "__pycache__" not in module.parts:
                found.add(module.parent.relative_to(root).as_posix() + "/")
    return found


def test_the_map_names_only_what_exists() -> None:
    paths = parse_map(map_block(DOC.read_text(encoding="utf-8")))
    assert paths, "the module map names nothing"
    gone = missing(paths, ROOT)
    assert not gone, f"the module map names files or folders that do not exist: {gone}"


def test_every_package_folder_is_in_the_map() -> None:
    named = set(parse_map(map_block(DOC.read_text(encoding="utf-8"))))
    unnamed = sorted(package_folders(ROOT) - named)
    assert not unnamed, f"package folders missing from the module map: {unnamed}"


def test_there_is_one_module_map() -> None:
    headings = [
        line
        for line in DOC.read_text(encoding="utf-8").splitlines()
        if line.startswith("#") and "module map" in line.lower()
    ]
    assert headings == [HEADING]


def test_the_database_section_lists_every_table_and_column() -> None:
    """`table(col, col …)` under "## Database" names exactly the ORM's columns, in any order."""
    from backend.db.models import Base

    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Database") :]
    section = section[: section.index("\n## ", 1)]
    documented: dict[str, set[str]] = {}
    for table, body in re.findall(r"^- `(\w+)\((.*?)\)`", section, flags=re.MULTILINE):
        parts = re.split(r",(?![^(]*\))", body)  # commas outside "(…)" notes
        documented[table] = {part.split()[0] for part in parts if part.strip()}
    actual = {name: {c.name for c in t.columns} for name, t in Base.metadata.tables.items()}
    assert documented.keys() == actual.keys(), "tables differ"
    wrong = {
        table: {
            "not in the ORM": documented[table] - cols,
            "not in the doc": cols - documented[table],
        }
        for table, cols in actual.items()
        if documented[table] != cols
    }
    assert not wrong, f"the Database section's columns differ from the ORM's: {wrong}"


def _prose_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", _prose_files(), ids=lambda p: p.name)
def test_paths_in_the_prose_exist(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    mentioned = re.findall(r"(?<![\w./<{-])((?:" + "|".join(TOP_LEVEL) + r")/[\w./*-]*)", text)
    gone = sorted(
        {p for p in (m.rstrip(".") for m in mentioned) if not any(ROOT.glob(p.rstrip("/")))}
    )
    assert not gone, f"{doc.name} names paths that do not exist: {gone}"


@pytest.mark.parametrize("doc", _prose_files(), ids=lambda p: p.name)
def test_relative_links_stay_in_the_repository(doc: Path) -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8"))
    relative = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+:|#", t)]
    outside = [
        t
        for t in relative
        if not (doc.parent / t).resolve().is_relative_to(ROOT) or not (doc.parent / t).exists()
    ]
    assert not outside, f"{doc.name} links outside the repository or to nothing: {outside}"


@pytest.mark.parametrize("doc", _prose_files(), ids=lambda p: p.name)
def test_markdown_files_named_are_in_the_repository(doc: Path) -> None:
    """A page named by its file name alone (`PROVIDERS.md`) must be one of ours."""
    ours = {p.name for p in ROOT.glob("*.md")} | {p.name for p in (ROOT / "docs").glob("*.md")}
    named = set(re.findall(r"\b[\w.-]+\.md\b", doc.read_text(encoding="utf-8")))
    assert not named - ours, f"{doc.name} names pages the repository lacks: {named - ours}"


# The checker itself, on small maps.


def test_parse_map_follows_the_indentation(tmp_path: Path) -> None:
    block = [
        "pkg/                     the package",
        "  a.py                   a module",
        "                         whose description goes on",
        "  sub/",
        "    b.py · c.py          two at once",
        "  d.py",
        "top.txt                  a file at the root",
    ]
    assert parse_map(block) == [
        "pkg/",
        "pkg/a.py",
        "pkg/sub/",
        "pkg/sub/b.py",
        "pkg/sub/c.py",
        "pkg/d.py",
        "top.txt",
    ]
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    for name in ("pkg/a.py", "pkg/sub/b.py", "top.txt"):
        (tmp_path / name).write_text("")
    assert missing(parse_map(block), tmp_path) == ["pkg/sub/c.py", "pkg/d.py"]


@pytest.mark.parametrize(
    "block",
    [
        ["pkg/", "   a.py  odd indent"],
        ["pkg/", "    a.py  two steps in at once"],
        ["a.py", "  b.py  inside a file"],
        ["pkg/", "  a.py, b.py  a list the check cannot read"],
        ["pkg/", "  *.svg  a pattern"],
        ["                         a description of nothing"],
        ["a/ · b/  two folders", "  c.py  inside which one?"],
    ],
)
def test_parse_map_refuses_what_it_cannot_read(block: list[str]) -> None:
    with pytest.raises(MapError):
        parse_map(block)


def test_a_package_folder_missing_from_the_map_is_found(tmp_path: Path) -> None:
    for name in ("backend/app.py", "backend/db/engine.py", "desktop/views/__pycache__/x.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    named = set(parse_map(["backend/", "  app.py"]))
    assert package_folders(tmp_path) - named == {"backend/db/"}
