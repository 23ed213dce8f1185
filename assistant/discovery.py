"""Plugin discovery: the skills installed through entry points, each checked before it is used,
and why each one that cannot be used cannot (an import that fails, declarations that are wrong,
a name another skill also takes)."""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from assistant.plugin import ENTRY_POINT_GROUP, Skill
from assistant.settings import schema_problem

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
        try:
            skill = point.load()
            if not (isinstance(skill, type) and issubclass(skill, Skill)):
                raise TypeError(f"{point.value} is not a subclass of assistant.plugin.Skill")
            problem = declaration_problem(skill)
            if problem:
                raise TypeError(f"{skill.__name__}: {problem}")
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
