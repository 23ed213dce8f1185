"""Load YAML and remember the line of every value, so config errors can name their line."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[Any, ...]
"""Where a value sits in the document: keys and list indices from the root."""
MAX_DEPTH = 100
"""Deepest nesting of lists and mappings read (a configuration needs a few levels)."""
MAX_VALUES = 100_000
"""Most values read, aliases expanded (each `*name` repeats all that its `&name` holds); the
mappings `<<:` keys merge, and the entries they give, are counted too."""
KEY_WITHOUT_COLON = re.compile(r"(?P<key>[A-Za-z_][\w.-]*)(?:[ \t]+(?P<value>[^\s#].*?))?")
"""A line (comment and indentation removed) that reads as a key and its value with the `:`
left out: `step 20`, `log_level INFO`, `timers`."""
KEY_WITHOUT_SPACE = re.compile(r"(?:- )?(?P<key>[A-Za-z_][\w.-]*):(?P<value>[^\s:].*)")
"""A line (comment and indentation removed) that reads as a key and its value with no space
after the `:`, which YAML reads as one word: `cooldown:2`, `do:lights.on`."""
COLON_IN_VALUE = re.compile(r"(?:- )?(?P<key>[\w.-]+):\s+(?P<value>[^\s\"'{\[].*?:\s.*)")
"""A line (comment and indentation removed) whose value holds `: ` unquoted: `text: Note: tea
is ready`."""
ACTION_WORD = re.compile(r"[A-Za-z_][\w-]*\.[A-Za-z_][\w-]*")
"""A line (comment and indentation removed) that is one action, `skill.action`."""
EMPTY_KEY = re.compile(r"(?:- )?(?P<key>[\w.-]+):")
"""A line (comment and indentation removed) that is a key with no value after it: `on:`;
matched at its start, one that starts with a key."""
KEY_WITH_VALUE = re.compile(r"(?:- )?(?P<key>[\w.-]+):\s+\S.*")
"""A line (comment and indentation removed) that is a key with its value after it: `device:
5`."""
LEADING_ZEROS = re.compile(r"[-+]?0[0-9]+")
"""A whole number written with leading zeros, which YAML 1.1 reads as octal (or as text)."""
NOT_SHOWN = "<value not shown>"
"""What a hint writes for the value of a secret (a key in `secrets`): the file's problems go to
the terminal, the log and `assistant status`."""
NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
"""The tags PyYAML's YAML 1.1 resolver gives numbers, base-60 ones (`1:30`) included."""
MERGE_TAG = "tag:yaml.org,2002:merge"
"""The tag of a `<<` key: the mapping (or list of mappings) it gives is merged in."""
MISSING_COLON_ERRORS = (
    "could not find expected ':'",
    "mapping values are not allowed here",
    "expected <block end>, but found '<block mapping start>'",
    "expected '<document start>', but found '<block mapping start>'",
)
"""What PyYAML says, on a later line, about a key whose `:` was left out."""


@dataclass
class LocatedDocument:
    data: Any
    lines: dict[Path_, int]
    """1-based line of each value (for mapping entries: the line of the key). Mapping keys are
    always strings."""
    file: Path
    number_texts: dict[Path_, str] = field(default_factory=dict)
    """How each number was written (`012345` is 5349 in YAML 1.1 but a password as text)."""
    value_lines: dict[Path_, int] = field(default_factory=dict)
    """1-based line of each mapping entry's scalar value written on a line after its key's
    (`on:` with its action on the next line), which a problem with the value names."""
    merged_values: int = 0
    """Mappings merged by `<<:` keys, and the entries they gave, so far (MAX_VALUES bounds
    them with the values)."""
    secrets: Collection[str] = ()
    """Keys whose values a problem never shows (`password`)."""

    def line_of(self, path: Path_) -> int:
        """The line of `path` (of its value, when that is a scalar on a line of its own), or
        of its nearest ancestor that has one."""
        path = self._located(path)
        return self.value_lines.get(path) or self.lines.get(path, 1)

    def key_of(self, path: Path_) -> str:
        """For a problem at the line of a value written on a line after its key's: which key
        and its line, ` (the value of `cooldown:` on line 12)`, so the key is found too; else
        empty."""
        path = self._located(path)
        if path not in self.value_lines:
            return ""
        return f" (the value of `{path[-1]}:` on line {self.lines[path]})"

    def _located(self, path: Path_) -> Path_:
        """`path`, or its nearest ancestor that has a line."""
        while path not in self.lines and path:
            path = path[:-1]
        return path


class YamlSyntaxError(ValueError):
    def __init__(self, file: Path, line: int, message: str):
        super().__init__(f"{file}:{line}: {message}")
        self.file, self.line, self.message = file, line, message


def load_located(text: str, file: Path, secrets: Collection[str] = ()) -> LocatedDocument:
    """Parse `text` (the contents of `file`) into plain Python values plus their lines. A
    syntax error's hint never shows the value of a key in `secrets` (`password`)."""
    try:
        _check_depth(text, file)  # before compose, which recurses once a level
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        raise _syntax_error(error, text, file, secrets) from error
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        message = f"character U+{error.character:04X} cannot be in YAML; remove it"
        raise YamlSyntaxError(file, line, message) from error
    document = LocatedDocument(data={}, lines={}, file=file, secrets=secrets)
    if root is not None:
        document.data = _convert(root, (), document, ())
    return document


def _check_depth(text: str, file: Path) -> None:
    """YamlSyntaxError where lists and mappings nest more than MAX_DEPTH deep."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _too_deep(file, event.start_mark.line + 1)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _too_many(file: Path, line: int) -> YamlSyntaxError:
    message = (
        f"the file holds more than {MAX_VALUES} values once its aliases are expanded (each "
        "*name repeats all that its &name holds); write the values out instead of aliases "
        "of aliases"
    )
    return YamlSyntaxError(file, line, message)


def _too_deep(file: Path, line: int) -> YamlSyntaxError:
    message = f"lists and mappings nest more than {MAX_DEPTH} deep here; remove the extra levels"
    return YamlSyntaxError(file, line, message)


def _syntax_error(
    error: yaml.MarkedYAMLError, text: str, file: Path, secrets: Collection[str]
) -> YamlSyntaxError:
    """PyYAML's error, with a hint for the usual causes: a tab, a quote left open, a slip with
    a `:` (left out, no space after it, or unquoted in a value), a line indented to no level
    above it."""
    mark = error.problem_mark or error.context_mark
    line = mark.line + 1 if mark else 1
    message = f"YAML syntax error: {error.problem}"
    if "'\\t'" in str(error.problem):
        message = _tab_hint(text, mark)
    elif "quoted scalar" in str(error.context) and error.context_mark:
        line = error.context_mark.line + 1
        message = "this quote is not closed"
    elif slip := _colon_slip(error, text, secrets):
        line, message = slip
    elif "mapping values are not allowed here" in str(error.problem) and (
        hint := _block_under_value(text.splitlines(), line - 1)
    ):
        message += f"; {hint}"
    elif "expected <block end>" in str(error.problem):
        message += f"; {_indent_hint(error, text.splitlines())}"
    elif "another document" in str(error.problem):
        message = (
            "a second YAML document (`---`) starts here, but the configuration is one: remove "
            "this line, keeping what follows it with the rest, or remove what follows it too"
        )
    elif "sequence entries are not allowed here" in str(error.problem):
        message += (
            "; a list starts on the line after its key: put each `- ` item on a line of its "
            "own, indented under the key, or write the list as `[a, b]`"
        )
    elif "undefined alias" in str(error.problem):  # its name not shown: it may be a password
        message = (
            "a value starting with `*` repeats the one marked with `&` and that name above it, "
            "but none is: mark that one, or put this value in quotes if its `*` is text"
        )
    elif "but got ':'" in str(error.problem):  # in {...} or [...]
        message += '; a value holding `: ` needs quotes: `{text: "Note: tea is ready"}`'
    return YamlSyntaxError(file, line, message)


def _colon_slip(
    error: yaml.MarkedYAMLError, text: str, secrets: Collection[str]
) -> tuple[int, str] | None:
    """The line and the fix when `error` most likely comes from a slip with a `:`: a key
    written without it (`step 20`) or with no space after it (`step:20`, one word to YAML),
    where PyYAML names a later line (the next key, or past comments), which looks right; an
    action not indented under the key it is the value of (`on:`, then `lights.on` below); or a
    value holding `: ` unquoted (`text: Note: tea is ready`), on the line PyYAML names. The
    value of a key in `secrets` is not shown."""
    if not error.problem_mark or not str(error.problem).startswith(MISSING_COLON_ERRORS):
        return None
    lines = text.splitlines()
    named = error.problem_mark.line
    if "simple key" in str(error.context) and error.context_mark:
        index = error.context_mark.line  # the key's own line
    else:  # the last line with content before the one PyYAML names
        index = named - 1
        while 0 <= index < len(lines) and not _without_comment(lines[index]):
            index -= 1
    content = _without_comment(lines[index]) if 0 <= index < len(lines) else ""
    if unindented := _unindented_value(lines, index, content, secrets):
        return index + 1, unindented
    if (found := KEY_WITHOUT_COLON.fullmatch(content)) and ": " not in content:
        key = found["key"]
        fixed = f"{key}: {_shown(key, found['value'], secrets)}" if found["value"] else f"{key}:"
        return index + 1, f"`{key}` needs a `:` after it: `{fixed}`"
    if spaceless := spaceless_key(content, secrets):
        return index + 1, spaceless
    content = _without_comment(lines[named]) if named < len(lines) else ""
    if found := COLON_IN_VALUE.fullmatch(content):
        key, value = found["key"], found["value"]
        value = _shown(key, value, secrets)
        quote = "'" if '"' in value else '"'
        return named + 1, (
            f"the value of `{key}` holds `: `, which only quotes allow: "
            f"`{key}: {quote}{value}{quote}`; "
            f"or, if it starts a key of its own, put that on a line of its own, indented under "
            f"`{key}:`"
        )
    return None


def _block_under_value(lines: list[str], index: int) -> str | None:
    """The fix when line `index` is indented under a key that has a value on its own line
    (`device: 5` with settings below it, or the settings of a section whose key was deleted,
    under the key above); None when the line it is indented under is no such key."""
    if index >= len(lines):
        return None
    indentation = _indentation(lines[index])
    above = index - 1
    while above >= 0 and (
        not _without_comment(lines[above]) or _indentation(lines[above]) >= indentation
    ):
        above -= 1
    found = KEY_WITH_VALUE.fullmatch(_without_comment(lines[above])) if above >= 0 else None
    if not found:
        return None
    key = found["key"]
    return (
        f"this line is indented under `{key}:` (line {above + 1}), which has a value already: to "
        f"give `{key}:` the lines indented under it, remove its value; if they belong to a key of "
        "their own, add that key above them"
    )


def _unindented_value(
    lines: list[str], index: int, content: str, secrets: Collection[str]
) -> str | None:
    """The fix when line `index` (`content`) is an action, `skill.action`, meant as the value of
    the key above it that has none (`on:`) but not indented under it, so YAML reads it as a key
    without its `:`; None when it is not. The value of a key in `secrets` is not shown."""
    if not ACTION_WORD.fullmatch(content):
        return None
    above = index - 1
    while above >= 0 and not _without_comment(lines[above]):
        above -= 1
    found = EMPTY_KEY.fullmatch(_without_comment(lines[above])) if above >= 0 else None
    if not found:
        return None
    key = found["key"]
    value = _shown(key, content, secrets)
    return (
        f"`{value}` is not indented under `{key}:` (line {above + 1}), so YAML reads it as a "
        f"key without its `:`; indent it under `{key}:`, or write `{key}: {value}`"
    )


def spaceless_key(text: str, secrets: Collection[str] = ()) -> str | None:
    """The fix when `text` reads as a key and its value with no space after the `:`, which
    YAML takes for one word (`cooldown:2`, `do:lights.on`); None when it does not. The value
    of a key in `secrets` is not shown."""
    found = KEY_WITHOUT_SPACE.fullmatch(text)
    if not found:
        return None
    key, value = found["key"], _shown(found["key"], found["value"], secrets)
    return f"`{key}` needs a space after its `:`: `{key}: {value}`"


def _shown(key: object, value: str, secrets: Collection[str]) -> str:
    """`value` as a hint writes it: NOT_SHOWN when `key` is one of `secrets`."""
    return NOT_SHOWN if key in secrets else value


def _without_comment(line: str) -> str:
    """A line without its comment and the spaces around."""
    return re.sub(r"(^|\s)#.*", "", line).strip()


def _tab_hint(text: str, mark: yaml.Mark | None) -> str:
    """The fix for a tab YAML cannot read: one that indents a line, or one between (or after)
    the words of a line, whose column is named but not its text (it may follow a password)."""
    if mark is None or not text.splitlines()[mark.line][: mark.column].strip():
        return "tabs cannot indent YAML; use spaces"
    return (
        f"a tab at column {mark.column + 1}: YAML takes spaces between the words of a line, not "
        "tabs; replace it with a space (or remove it at the end of the line)"
    )


def _indent_hint(error: yaml.MarkedYAMLError, lines: list[str]) -> str:
    """What a line that ends no block above it most likely needs: other indentation, like the
    list item above it for an item, or like the keys it belongs with, which a line indented
    less between them may have ended. PyYAML's `expected <block end>` errors always carry both
    marks: the line named and the start of the block it ends no part of."""
    opened = error.context_mark.line + 1
    if "'?'" in str(error.problem) and "collection" in str(error.context):
        return (
            f"this key does not line up with the list that starts on line {opened}: to give it "
            "to the item above, indent it like the item's first key (past the `-`)"
        )
    index = error.problem_mark.line
    if (item := _item_above(lines, index, opened - 1)) is not None:
        spaces = _indentation(lines[item])
        return (
            f"this list item does not line up with the item on line {item + 1}: indent its `-` "
            f"like that one's ({spaces} spaces)"
        )
    column = error.context_mark.column
    if found := _block_ender(lines, index, column):
        key, ending, inner = found
        return (
            f"this line lines up with no block still open: to put it in the block of line "
            f"{ending + 1}{_key_named(lines[ending])}, indent it like line {inner + 1} "
            f"({_indentation(lines[inner])} spaces); to keep it with line {key + 1}"
            f"{_key_named(lines[key])}, indent line {ending + 1} like line {key + 1} "
            f"({_indentation(lines[key])} spaces)"
        )
    if under_value := _block_under_value(lines, index):
        return under_value
    return (
        "this line is indented to none of the levels above it: line it up with the keys it "
        f"belongs with (the block from line {opened}), or indent it under a key ending in `:`"
    )


def _item_above(lines: list[str], index: int, first: int) -> int | None:
    """When line `index` is a list item: the nearest list item above it, from line `first` on
    (both 0-based) and indented otherwise; else None."""
    if index >= len(lines) or not _is_item(lines[index]):
        return None
    for above in range(index - 1, first - 1, -1):
        if _is_item(lines[above]):
            return above if _indentation(lines[above]) != _indentation(lines[index]) else None
    return None


def _block_ender(lines: list[str], index: int, open_column: int) -> tuple[int, int, int] | None:
    """When line `index` is indented past the block still open (at `open_column`), which a line
    indented less ended: the nearest line above it indented as it is, the one line with content
    between them indented less (which ended the block both were in), and the first line of the
    block that one opens (0-based); else None."""
    if index >= len(lines) or _indentation(lines[index]) <= open_column:
        return None
    indentation = _indentation(lines[index])
    ending = None
    for above in range(index - 1, -1, -1):
        if not _without_comment(lines[above]):
            continue
        if _indentation(lines[above]) == indentation:
            break
        if _indentation(lines[above]) < indentation:
            if ending is not None:  # more lines than one to indent: no hint
                return None
            ending = above
    else:
        return None
    if ending is None:
        return None
    inner = next(i for i in range(ending + 1, index + 1) if _without_comment(lines[i]))
    if inner == index or _indentation(lines[inner]) <= _indentation(lines[ending]):
        return None
    return above, ending, inner


def _key_named(line: str) -> str:
    """` (`key:`)` for a line that starts with a key (its value is not shown: it may be a
    password); else empty."""
    found = EMPTY_KEY.match(_without_comment(line))
    return f" (`{found['key']}:`)" if found else ""


def _is_item(line: str) -> bool:
    content = _without_comment(line)
    return content == "-" or content.startswith("- ")


def _indentation(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _convert(node: yaml.Node, path: Path_, document: LocatedDocument, parents: tuple) -> Any:
    lines = document.lines
    line = node.start_mark.line + 1
    lines.setdefault(path, line)
    if node in parents:
        raise YamlSyntaxError(document.file, line, "an alias (*name) cannot refer to itself")
    if len(parents) > MAX_DEPTH:  # aliases inside aliases nest deeper than the text
        raise _too_deep(document.file, line)
    if len(lines) > MAX_VALUES:
        raise _too_many(document.file, line)
    parents = (*parents, node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node, merged in _entries(node, document, parents):
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlSyntaxError(document.file, key_line, "a key must be a word or number")
            key = key_node.value
            if key in result and merged:  # a key of the mapping itself wins over a merged one
                continue
            if key in result:
                first = lines[(*path, key)]
                message = f"key {key!r} is given twice (first on line {first}); keep one"
                raise YamlSyntaxError(document.file, key_line, message)
            lines[(*path, key)] = key_line
            value_line = value_node.start_mark.line + 1
            if isinstance(value_node, yaml.ScalarNode) and value_line > key_line:
                document.value_lines[(*path, key)] = value_line
            result[key] = _convert(value_node, (*path, key), document, parents)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, i), document, parents) for i, item in enumerate(node.value)]
    value = _scalar(node, document.file, path[-1] if path else None, document.secrets)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        document.number_texts[path] = node.value
    return value


def _entries(
    node: yaml.MappingNode, document: LocatedDocument, parents: tuple
) -> list[tuple[yaml.Node, yaml.Node, bool]]:
    """The key and value nodes of a mapping, each with whether it was merged in: its own
    entries first, then those of each mapping its `<<:` keys merge (`<<: *base`, `<<: [*a,
    *b]`: the first given wins), so that its own keys win, as YAML's merge keys mean. Each
    mapping merged, and each entry it gives, counts towards MAX_VALUES (`merged_values`)."""
    file = document.file
    own = [(key, value, False) for key, value in node.value if key.tag != MERGE_TAG]
    merged = []
    for key, value in node.value:
        if key.tag != MERGE_TAG:
            continue
        sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                message = (
                    "`<<:` merges mappings into this one: give it an alias of a mapping "
                    "(`<<: *base`, the mapping marked `&base`) or a list of them (`<<: [*a, *b]`)"
                )
                raise YamlSyntaxError(file, source.start_mark.line + 1, message)
            if source is node or source in parents:
                line = key.start_mark.line + 1
                raise YamlSyntaxError(file, line, "a mapping cannot merge itself (`<<:`)")
            given = _entries(source, document, (*parents, node))
            document.merged_values += 1 + len(given)
            if document.merged_values > MAX_VALUES:
                raise _too_many(file, key.start_mark.line + 1)
            merged += [(k, v, True) for k, v, _ in given]
    return own + merged


def _scalar(node: yaml.Node, file: Path, key: object, secrets: Collection[str]) -> Any:
    """A scalar as YAML 1.2 reads it: only true/false are booleans, so the commands `on` and
    `off` (and yes/no) stay words; a whole number with leading zeros is decimal (`0300` is 300,
    not YAML 1.1's octal 192; `08` is 8, not text); a time such as `1:30` is text, not YAML
    1.1's base-60 number 90. `key`: the one it is the value of, whose value a problem does not
    show when it is one of `secrets`."""
    if node.tag == "tag:yaml.org,2002:bool" and node.value.lower() not in ("true", "false"):
        return node.value
    if node.tag in NUMBER_TAGS and ":" in node.value:  # only base 60 holds one
        return node.value
    if node.style is None and LEADING_ZEROS.fullmatch(node.value):
        return int(node.value)
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError) as error:  # a tag (!!int, !foo) or a bad date
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        shown = _shown(key, repr(node.value), secrets)
        message = f"{shown} cannot be read as {tag}; remove the tag or fix the value"
        raise YamlSyntaxError(file, node.start_mark.line + 1, message) from error
    finally:
        loader.dispose()
