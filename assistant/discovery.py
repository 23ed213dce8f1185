"""Plugin discovery: the skills installed through entry points, each checked before it is used,
and why each one that cannot be used cannot (an import that fails, a plugin API it needs that
this assistant does not offer, declarations that are wrong, a name another skill also takes)."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import logging
import os
import stat
import sys
import traceback
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from assistant.plugin import API_VERSION, ENTRY_POINT_GROUP, Skill
from assistant.settings import schema_problem
from assistant.version import version_text

log = logging.getLogger("assistant.discovery")


@dataclass(frozen=True)
class BrokenPlugin:
    """An entry point that cannot be used: its name, what it points at, and why."""

    name: str
    target: str
    error: str


BUILT_IN_DISTRIBUTION = "desk-kws-assistant"
"""The package whose skills win a name conflict with a plugin."""

RESERVED_NAMES = frozenset(n for n in vars(Skill) if not n.startswith("_")) | {"context"}
"""Skill attributes that an action method must not replace."""


def api_version_text() -> str:
    """`plugin API 1.4 (assistant 0.4.0)`: what this assistant offers plugins."""
    return f"plugin API {API_VERSION[0]}.{API_VERSION[1]} (assistant {version_text()})"


def api_problem(skill: type[Skill]) -> str | None:
    """Why this assistant cannot run `skill` by the plugin API it declares it needs, or None."""
    needed = skill.requires_api
    if not (isinstance(needed, tuple) and len(needed) == 2 and all(type(n) is int for n in needed)):
        return f"requires_api must be (major, minor) such as {API_VERSION}, not {needed!r}"
    if needed[0] == API_VERSION[0] and needed[1] <= API_VERSION[1]:
        return None
    newer = needed > API_VERSION
    fix = "upgrade the assistant" if newer else "update the plugin to this API"
    return f"needs plugin API {needed[0]}.{needed[1]}; this is {api_version_text()}: {fix}"


def declaration_problem(skill: type[Skill]) -> str | None:
    """What is wrong with the settings and actions `skill` declares, or None when nothing is."""
    for reserved in sorted(RESERVED_NAMES):
        declared = getattr(getattr(skill, reserved, None), "__assistant_action__", None)
        if declared:
            return (
                f"action {declared.name} (method {reserved}) replaces Skill.{reserved}; name the "
                f"method otherwise and keep the action's name with @action(name={declared.name!r})"
            )
    problem = schema_problem(skill.settings, "settings")
    if problem:
        return problem
    for declared in skill.actions().values():
        where = f"action {declared.name} (method {declared.method_name})"
        problem = schema_problem(declared.params, f"{where}: params")
        if problem:
            return problem
        method = getattr(skill, declared.method_name)
        if inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method):
            return f"{where} is async; actions are plain functions (def, not async def)"
        try:
            inspect.signature(method).bind(None, None, **{p.name: None for p in declared.params})
        except TypeError as error:
            wanted = ", ".join(["event", *(p.name for p in declared.params)])
            return f"{where} must accept ({wanted}) after self: {error}"
    return None


def discover_skills() -> tuple[dict[str, type[Skill]], list[BrokenPlugin]]:
    """Installed skills by name, and the entry points that could not be loaded: those whose
    import or declarations fail, and those whose name another skill also declares."""
    claims: dict[str, list[tuple[EntryPoint, type[Skill]]]] = {}
    broken: list[BrokenPlugin] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        unsafe = open_to_others(point)
        if unsafe:
            broken.append(BrokenPlugin(point.name, point.value, unsafe))
            continue
        try:
            skill = _load(point)
            if not (isinstance(skill, type) and issubclass(skill, Skill)):
                raise TypeError(f"{point.value} is not a subclass of assistant.plugin.Skill")
            problem = api_problem(skill)
            if problem:
                raise PluginApiError(f"{skill.__name__} {problem}")
            problem = declaration_problem(skill)
            if problem:
                raise TypeError(f"{skill.__name__}: {problem}")
        except PluginImportError as error:
            broken.append(BrokenPlugin(point.name, point.value, str(error)))
            continue
        except Exception as error:  # a broken plugin must not stop discovery
            broken.append(BrokenPlugin(point.name, point.value, f"{type(error).__name__}: {error}"))
            continue
        claims.setdefault(skill.name or point.name, []).append((point, skill))
    found: dict[str, type[Skill]] = {}
    for name, claimants in claims.items():
        built_in = [c for c in claimants if _package(c[0]) == BUILT_IN_DISTRIBUTION]
        kept = claimants[0] if len(claimants) == 1 else built_in[0] if len(built_in) == 1 else None
        if kept:
            found[name] = kept[1]
        for point, _ in claimants:
            if kept and point is kept[0]:
                continue
            others = ", ".join(f"{p.value} ({_package(p)})" for p, _ in claimants if p is not point)
            outcome = "the built-in skill is used" if kept else "neither is loaded"
            error = f"name conflict: skill name {name!r} is also declared by {others}; {outcome}"
            broken.append(BrokenPlugin(point.name, point.value, error))
    return found, broken


def open_to_others(point: EntryPoint) -> str | None:
    """Why the code of `point` is not loaded because another user may change it: the folder
    its package was found in (a PYTHONPATH entry such as a folder in /tmp, where anyone may
    also add a plugin of their own), or its top-level module's file or folder, belongs to
    another user (not root) or lets everyone write; None when none does. Found without
    importing anything."""
    places = [Path(point.dist.locate_file(""))] if point.dist else []
    try:
        spec = importlib.util.find_spec(point.module.partition(".")[0])
    except (ImportError, ValueError):  # the import itself says why, later
        spec = None
    if spec is not None and spec.has_location and spec.origin:
        places += [Path(spec.origin), Path(spec.origin).parent]
    for place in places:
        try:
            found = place.stat()
        except OSError:
            continue
        if found.st_mode & stat.S_IWOTH or found.st_uid not in (0, os.getuid()):
            return (
                f"another user may change {place} (owner uid {found.st_uid}, mode "
                f"{stat.filemode(found.st_mode)}), and so the code the assistant would run; "
                "not loaded: make it yours alone and not writable by others (chmod o-w), or "
                "install the plugin elsewhere"
            )
    return None


class PluginApiError(Exception):
    """A plugin needs a plugin API this assistant does not offer."""


class PluginImportError(Exception):
    """Importing a plugin failed; the message names the file and line where it did."""


def _load(point: EntryPoint) -> object:
    """What the entry point names, imported; an error on the way is re-raised as a
    PluginImportError naming its kind, the file and line it came from, and, for a name
    `assistant.plugin` does not have, the plugin API this assistant offers."""
    try:
        return point.load()
    except Exception as error:
        message = f"{type(error).__name__}: {error}{_where(error)}"
        if isinstance(error, ImportError) and error.name == "assistant.plugin":
            message += f"; this is {api_version_text()}: the plugin may need a newer assistant"
        raise PluginImportError(message) from error


def _where(error: BaseException) -> str:
    """` (at FILE:LINE)`: where an import raised `error` (for a SyntaxError, the line it
    found), outside Python's import machinery; "" when that cannot be told."""
    if isinstance(error, SyntaxError) and error.filename:
        return f" (at {error.filename}:{error.lineno})"
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<") and Path(frame.filename).parent.name != "importlib"
    ]
    if not frames or frames[-1].filename == __file__:
        return ""
    return f" (at {frames[-1].filename}:{frames[-1].lineno})"


def code_package(skill: type[Skill]) -> str:
    """The top-level package `skill` comes from (`skills` for the built-in ones)."""
    return skill.__module__.partition(".")[0]


def code_stamp(package: str) -> dict[str, str]:
    """A digest of each file of `package` (a `code_package`) imported so far: what tells,
    later, that its code changed since (a reinstall of the same code does not)."""
    files = [  # a copy in one step: listing the items runs the garbage collector, and with it
        # finalizers, during which other threads import (sys.modules changes size)
        getattr(module, "__file__", None)
        for name, module in sys.modules.copy().items()
        if name == package or name.startswith(f"{package}.")
    ]
    return {path: _digest(path) for path in files if path}


def changed_files(stamp: dict[str, str]) -> list[str]:
    """The files of a `code_stamp` changed (or gone) since it was taken."""
    return [path for path, digest in stamp.items() if _digest(path) != digest]


def _digest(path: str) -> str:
    """A file's SHA-256, "" when it cannot be read (gone)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def usable_skills() -> tuple[dict[str, type[Skill]], dict[str, str]]:
    """The installed skills that load, and why each that cannot (by entry-point name, also
    logged)."""
    found, broken = discover_skills()
    for plugin in broken:
        log.error(
            "skill plugin %s (%s) cannot be loaded: %s", plugin.name, plugin.target, plugin.error
        )
    return found, {plugin.name: plugin.error for plugin in broken}


def _package(point: EntryPoint) -> str:
    return point.dist.name if point.dist else "unknown package"
