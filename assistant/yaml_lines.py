"""Load YAML and remember the line of every value, so config errors can name their line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[Any, ...]
"""Where a value sits in the document: keys and list indices from the root."""


@dataclass
class LocatedDocument:
    data: Any
    lines: dict[Path_, int]
    """1-based line of each value (for mapping entries: the line of the key). Mapping keys are
    always strings."""
    file: Path
    number_texts: dict[Path_, str] = field(default_factory=dict)
    """How each number was written (`012345` is 5349 in YAML 1.1 but a password as text)."""

    def line_of(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)


class YamlSyntaxError(ValueError):
    def __init__(self, file: Path, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


def load_located(text: str, file: Path) -> LocatedDocument:
    """Parse `text` (the contents of `file`) into plain Python values plus their lines."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlSyntaxError(file, line, f"YAML syntax error: {error.problem}") from error
    document = LocatedDocument(data={}, lines={}, file=file)
    if root is not None:
        document.data = _convert(root, (), document)
    return document


def _convert(node: yaml.Node, path: Path_, document: LocatedDocument) -> Any:
    lines = document.lines
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else _scalar(key_node)
            if key in result:
                raise YamlSyntaxError(
                    document.file, key_node.start_mark.line + 1, f"key {key!r} is given twice"
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _convert(value_node, (*path, key), document)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), document) for i, item in enumerate(node.value)]
    value = _scalar(node)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        document.number_texts[path] = node.value
    return value


def _scalar(node: yaml.Node) -> Any:
    """A scalar as YAML 1.2 reads it: only true/false are booleans, so the commands `on` and
    `off` (and yes/no) stay words."""
    if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
        return node.value
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()
