"""Relative links and #anchors in the READMEs, CHANGELOG.md and docs/*.md lead somewhere: to a
file of the repository and, in a Markdown file, to one of its headings as GitHub names them."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
READMES = [
    REPO / "README.md",
    REPO / "firmware" / "README.md",
    REPO / "model_training" / "README.md",
]
DOCS = [*READMES, REPO / "CHANGELOG.md", *sorted((REPO / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`[^`]*`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """The file's lines outside fenced code blocks, with their numbers."""
    lines, fenced = [], False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (links as their text, code without backticks),
    lower case, punctuation but hyphens dropped, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path):
        if heading := HEADING.match(line):
            base = slug(heading[1])
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(files: list[Path], root: Path = REPO) -> list[str]:
    """`file:line: target: why` for each relative link of `files` that leads nowhere, the
    files named from `root`."""
    broken = []
    for path in files:
        for number, line in prose_lines(path):
            for target in LINK.findall(CODE_SPAN.sub("", line)):
                if EXTERNAL.match(target):
                    continue
                file, _, anchor = target.partition("#")
                linked = (path.parent / file).resolve() if file else path
                where = f"{path.relative_to(root)}:{number}: {target}"
                if not linked.exists():
                    broken.append(f"{where}: no such file")
                elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                    broken.append(f"{where}: no heading #{anchor} in {linked.name}")
    return broken


def test_every_relative_link_and_anchor_in_the_docs_leads_somewhere():
    assert broken_links(DOCS) == []


def test_a_broken_link_or_anchor_is_reported_at_its_line(tmp_path):
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n\n## `--config FILE`\n\n## Delivery: nothing lost, nothing run twice\n\n"
        "## Set up\n\n## Set up\n\n```sh\n# not a heading\n[not a link](nowhere.md)\n```\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Readme\n\n"
        "[ok](docs/page.md#--config-file) [ok](docs/page.md#set-up-1) [ok](#readme)\n"
        "[ok](docs/page.md#delivery-nothing-lost-nothing-run-twice) [web](https://example.org/x#y)\n"
        "`[code](nowhere.md)` [gone](docs/gone.md)\n"
        "[`bad anchor`](docs/page.md#not-a-heading) [bad](#not-a-heading)\n"
    )
    assert broken_links([readme, page], tmp_path) == [
        "README.md:5: docs/gone.md: no such file",
        "README.md:6: docs/page.md#not-a-heading: no heading #not-a-heading in page.md",
        "README.md:6: #not-a-heading: no heading #not-a-heading in README.md",
    ]
