"""YAML scenario files -> a validated ``LoadedScenario``, or every problem at once.

Order of work: parse YAML with marks -> apply ``--set`` overrides that act on
the file as written (``templates.*`` paths and ``count`` keys) -> expand
templates -> apply the other ``--set`` overrides -> pydantic validation ->
cross-reference checks (profiles, duplicates, times). Each problem is one line
``file:line:col: path: what is wrong`` (``simulator.errors.Problem``); the
caller raises them together as a ``UserError``.

Profiles come in layers, later ones replacing earlier ones by name: the
built-in ``profiles/`` of examday, then the scenario's own folder (its
``profiles:`` key, or the nearest ``profiles/`` folder above the file), then
each ``--profiles DIR`` in order (carried in the overrides as
``profiles+=DIR`` so manifests and sweep workers reproduce them). A layer may
hold any subset of ``devices/ aps/ tests/ services/``.

Override paths select list items by index (``sites[0]``) or by name
(``sites[name=sodervang]``).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
import os
from dataclasses import dataclass, field
from pathlib import Path

import pydantic
import yaml

from ..errors import Problem, UserError
from .located import LDict, LList, Mark, YamlError, load_yaml, locate, path_str
from .models import ApProfile, DeviceProfile, Scenario, ServiceProfile, TestProfile
from .templates import expand_templates

__all__ = ["Profiles", "Replacement", "LoadedScenario", "load_scenario", "load_profiles", "load_test_profiles",
           "parse_override", "apply_override", "SLO_NAME", "BUILTIN_PROFILES", "PROFILES_OVERLAY"]

#: examday's own profiles: the bottom layer every scenario sees.
BUILTIN_PROFILES = Path(__file__).resolve().parents[2] / "profiles"
#: ``--set profiles+=DIR`` (what ``--profiles DIR`` records): one more profile layer on top.
PROFILES_OVERLAY = "profiles+="

PROFILE_KINDS = {"devices": DeviceProfile, "aps": ApProfile, "tests": TestProfile, "services": ServiceProfile}
STEP_NAMES = ("join", "login", "assertion", "open", "download", "autosave", "submit", "provision", "ready")
#: SLO names: <step>_p<q>, error_rate, <step>_error_rate, ready_by_HHMM
SLO_NAME = re.compile(r"^(?:(?:%s)_p(?:[0-9]{1,2}(?:\.[0-9]+)?|100|max)|(?:(?:%s)_)?error_rate|ready_by_[0-2][0-9][0-5][0-9])$"
                      % ("|".join(STEP_NAMES), "|".join(STEP_NAMES)))


@dataclass(frozen=True)
class Replacement:
    """A profile in a later layer that replaces one of the same name in an earlier layer."""

    kind: str  # "devices" | "aps" | "tests" | "services"
    name: str
    path: Path  # the replacing file
    replaced: Path  # the file it hides
    builtin: bool  # the hidden one is a built-in profile

    def __str__(self) -> str:
        what = {"devices": "device", "aps": "AP", "tests": "test", "services": "service"}[self.kind]
        whose = "built-in" if self.builtin else "earlier"
        return f"{_shown(self.path)} replaces the {whose} {what} profile {self.name!r} ({_shown(self.replaced)})"


@dataclass(frozen=True)
class Profiles:
    devices: dict[str, DeviceProfile]
    aps: dict[str, ApProfile]
    tests: dict[str, TestProfile]
    services: dict[str, ServiceProfile]
    root: Path  # the top layer (the most specific folder)
    layers: tuple[Path, ...] = ()  # every folder, built-in first
    replaced: tuple[Replacement, ...] = ()


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario with its profiles resolved: what the plan is built from."""

    scenario: Scenario
    profiles: Profiles
    path: Path
    overrides: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


# ------------------------------------------------------------------ profiles

_profile_cache: dict[tuple[Path, ...], Profiles] = {}


def load_profiles(*roots: str | Path) -> Profiles:
    """The built-in profiles, then every ``root/{devices,aps,tests,services}/*.yaml`` over them by name."""
    layers = tuple(dict.fromkeys([BUILTIN_PROFILES, *(Path(r).resolve() for r in roots)]))
    if layers in _profile_cache:
        return _profile_cache[layers]
    problems: list[Problem] = []
    found: dict[str, dict] = {kind: {} for kind in PROFILE_KINDS}
    source: dict[tuple[str, str], Path] = {}
    replaced: list[Replacement] = []
    for root in layers:
        if root != BUILTIN_PROFILES and not root.is_dir():
            problems.append(Problem(_shown(root), 1, 1, "", "profiles folder not found"))
            continue
        for kind, model in PROFILE_KINDS.items():
            for obj, file in _load_kind(root, kind, model, problems):
                if (kind, obj.name) in source:
                    old = source[(kind, obj.name)]
                    replaced.append(Replacement(kind, obj.name, file, old, old.is_relative_to(BUILTIN_PROFILES)))
                source[(kind, obj.name)] = file
                found[kind][obj.name] = obj
    if problems:
        raise UserError(problems)
    profiles = Profiles(found["devices"], found["aps"], found["tests"], found["services"], layers[-1], layers,
                        tuple(replaced))
    _profile_cache[layers] = profiles
    return profiles


def _load_kind(root: Path, kind: str, model: type, problems: list[Problem]):
    """(profile, file) for each valid ``root/kind/*.yaml``; problems for the others."""
    for file in sorted((root / kind).glob("*.yaml")):
        shown = _shown(file)
        try:
            raw = load_yaml(_read(file, shown), shown)
        except YamlError as e:
            problems.append(e.problem)
            continue
        obj = _validate(model, raw, problems)
        if obj is None:
            continue
        if obj.name != file.stem:
            problems.append(locate(raw, ("name",)).problem(
                "name", f"profile name {obj.name!r} must match its file name {file.stem!r}"))
            continue
        yield obj, file


def load_test_profiles(root: str | Path) -> dict[str, TestProfile]:
    return load_profiles(root).tests


def _read(path: Path, shown: str) -> str:
    """A YAML file's text, or a YamlError that says why it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise YamlError(Problem(shown, 1, 1, "", f"cannot read the file: {e.strerror or e}")) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise YamlError(Problem(shown, line, col, "", f"not UTF-8 text (byte 0x{data[e.start]:02x}); "
                                                      "save the file as UTF-8")) from None


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _find_profiles(scenario_file: Path, declared: str | None) -> Path | None:
    """The scenario's own profiles folder: its ``profiles:`` key, else the nearest ``profiles/`` above it."""
    if declared:
        return (scenario_file.parent / declared).resolve()
    for d in (scenario_file.resolve().parent, *scenario_file.resolve().parents):
        if any((d / "profiles" / kind).is_dir() for kind in PROFILE_KINDS):
            return d / "profiles"
    return None


def profiles_overlay(directory: str | os.PathLike) -> str:
    """The override that adds ``directory`` (resolved against the current directory) as a profile layer."""
    return PROFILES_OVERLAY + str(Path(directory).resolve())


# ------------------------------------------------------------------ overrides

_PATH_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[([0-9]+)\]|\[([A-Za-z_][A-Za-z0-9_]*)=([^\]]+)\]")


@dataclass(frozen=True)
class Select:
    """A list item chosen by one of its keys: ``[name=sodervang]``."""

    key: str
    value: str

    def __str__(self) -> str:
        return f"[{self.key}={self.value}]"


def parse_override(text: str) -> tuple[tuple, object]:
    """'sites[0].uplink.down=50 Mbit/s' -> (('sites', 0, 'uplink', 'down'), '50 Mbit/s');
    'sites[name=x].uplink.down=…' selects by name (``Select``)."""
    if "=" not in text:
        raise UserError(f"--set {text}: expected KEY=VALUE, e.g. 'sites[0].uplink.down=50 Mbit/s'")
    key, value = _split_key(text)
    path, pos = [], 0
    while pos < len(key):
        m = _PATH_TOKEN.match(key, pos)
        if not m or (pos == 0 and key.startswith(".")):
            raise UserError(f"--set {text}: cannot read key {key!r} at character {pos + 1}; "
                            "write a path like sites[0].uplink.down")
        if m.group(1) is not None:
            path.append(m.group(1))
        elif m.group(2) is not None:
            path.append(int(m.group(2)))
        else:
            path.append(Select(m.group(3), m.group(4).strip().strip("'\"")))
        pos = m.end()
    if not path:
        raise UserError(f"--set {text}: empty key")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        parsed = value
    return tuple(path), parsed


def _split_key(text: str) -> tuple[str, str]:
    """KEY=VALUE where KEY may itself hold ``[name=...]`` selectors."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "=" and depth == 0:
            return text[:i].strip(), text[i + 1:]
    raise UserError(f"--set {text}: expected KEY=VALUE, e.g. 'sites[0].uplink.down=50 Mbit/s'")


def _select(node, sel: Select, done: tuple, text: str) -> int:
    """Index of the item of list ``node`` whose ``sel.key`` is ``sel.value``."""
    if isinstance(node, list):
        names = [item.get(sel.key) for item in node if isinstance(item, dict)]
        for i, item in enumerate(node):
            if isinstance(item, dict) and str(item.get(sel.key)) == sel.value:
                return i
        hint = did_you_mean(sel.value, [str(n) for n in names if n is not None])
        raise UserError(Problem("<--set>", 1, 1, path_str(done),
                                f"{text}: no item with {sel.key} {sel.value!r}{hint}"))
    raise UserError(Problem("<--set>", 1, 1, path_str(done), f"{text}: {sel} selects from a list; this is not one"))


def _resolve(raw, path: tuple, text: str) -> tuple:
    """``path`` with every ``Select`` replaced by the index it picks."""
    node, out = raw, []
    for p in path:
        if isinstance(p, Select):
            p = _select(node, p, tuple(out), text)
        out.append(p)
        if isinstance(node, dict):
            node = node.get(p)
        elif isinstance(node, list) and isinstance(p, int) and p < len(node):
            node = node[p]
        else:
            node = None
    return tuple(out)


def _on_file(path: tuple) -> bool:
    """Overrides applied to the file as written (before template expansion): templates and counts."""
    return path[0] == "templates" or "count" in path


def apply_override(raw, path: tuple, value, text: str) -> None:
    """Set ``path`` in the raw document; the new value's mark is ``<--set>``."""
    node = raw
    mark = Mark("<--set>", 1, len(_split_key(text)[0]) + 2)
    path = _resolve(raw, path, text)
    for i, p in enumerate(path[:-1]):
        if isinstance(node, dict) and p in node:
            node = node[p]
        elif isinstance(node, list) and isinstance(p, int) and p < len(node):
            node = node[p]
        else:
            raise UserError(Problem("<--set>", 1, 1, path_str(path[: i + 1]),
                                    f"{text}: no such place in the scenario"))
    last = path[-1]
    if isinstance(node, LDict):
        node.set(last, value, mark, mark)
    elif isinstance(node, dict):
        node[last] = value
    elif isinstance(node, LList) and isinstance(last, int) and last < len(node):
        node[last] = value
        node.item_marks[last] = mark
    else:
        raise UserError(Problem("<--set>", 1, 1, path_str(path), f"{text}: no such place in the scenario"))


# ------------------------------------------------------------------ validation

def _model_fields_at(model: type, loc: tuple) -> list[str]:
    """Field names of the pydantic model found at ``loc`` under ``model`` (for 'did you mean')."""
    tp: object = model
    for p in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
            f = tp.model_fields.get(p) if isinstance(p, str) else None
            if f is None:
                return list(tp.model_fields)
            tp = f.annotation
        else:
            args = typing.get_args(tp)  # tuple[X, ...] / dict[str, X]: step into X
            tp = args[-1] if args else None
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel) else []


def _unwrap(tp):
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if len(args) == 1 else tp
            if len(args) != 1:
                return tp
        else:
            return tp


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _validate(model: type, raw, problems: list[Problem]):
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as err:
        fallback = getattr(raw, "mark", None) or Mark("<input>", 1, 1)
        errors = err.errors(include_url=False)
        failed = [tuple(e["loc"]) for e in errors]
        for e in errors:
            loc = tuple(e["loc"])
            if e["type"] == "too_short" and any(f[: len(loc)] == loc and f != loc for f in failed):
                continue  # a list emptied by its own failed items: the items' errors say it
            where = path_str(loc)
            if e["type"] == "extra_forbidden":
                parent = _model_fields_at(model, loc[:-1])
                msg = f"unknown key {loc[-1]!r}{did_you_mean(str(loc[-1]), parent)}"
                mark = locate(raw, loc, key=True)
            elif e["type"] == "missing":
                msg = f"missing required key {loc[-1]!r}"
                mark = locate(raw, loc[:-1])
            else:
                msg = e["msg"].removeprefix("Value error, ")
                if e["type"] == "literal_error" or e["type"].endswith("_type"):
                    msg += f" (got {e.get('input')!r})"
                mark = locate(raw, loc)
            problems.append((mark or fallback).problem(where, msg))
        return None


def _check_references(s: Scenario, raw, profiles: Profiles, problems: list[Problem], warnings: list[str]) -> None:
    def ref(path: tuple, name: str | None, table: dict, what: str, key: bool = False) -> None:
        if name is not None and name not in table:
            mark = locate(raw, path, key=key)
            hint = did_you_mean(name, table) or (f"; known: {', '.join(sorted(table))}" if table else
                                                 f"; no {what} profiles found in {profiles.root}")
            problems.append(mark.problem(path_str(path), f"unknown {what} profile {name!r}{hint}"))

    ex = s.exam
    if ex.end <= ex.start:
        problems.append(locate(raw, ("exam", "end")).problem("exam.end", "the exam must end after it starts "
                                                             f"(start {ex.start / 3600:.2f} h, end {ex.end / 3600:.2f} h)"))
    if ex.arrival.distribution == "lognormal" and (ex.arrival.median <= 0 or ex.arrival.p95 <= ex.arrival.median):
        problems.append(locate(raw, ("exam", "arrival", "p95")).problem(
            "exam.arrival.p95", "p95 must be larger than the median, and the median above 0"))
    ref(("exam", "test"), ex.test, profiles.tests, "test")
    for role in ("idp", "platform", "content", "provisioning", "dhcp"):
        sref = getattr(s.services, role)
        path = ("services", role, "profile")
        ref(path, sref.profile, profiles.services, "service")
        prof = profiles.services.get(sref.profile)
        if prof is not None and prof.kind != role:
            problems.append(locate(raw, path).problem(path_str(path), f"service profile {sref.profile!r} is a "
                                                      f"{prof.kind!r} service, not {role!r}"))
    seen_sites: dict[str, int] = {}
    for i, site in enumerate(s.sites):
        if site.name in seen_sites:
            problems.append(locate(raw, ("sites", i, "name")).problem(
                f"sites[{i}].name", f"duplicate site name {site.name!r} (also sites[{seen_sites[site.name]}])"))
        seen_sites.setdefault(site.name, i)
        if site.school_code is not None and not re.fullmatch(r"[0-9]{8}", site.school_code):
            problems.append(locate(raw, ("sites", i, "school_code")).problem(
                f"sites[{i}].school_code", "a school unit code (skolenhetskod) has 8 digits"))
        rooms: dict[str, int] = {}
        for j, room in enumerate(site.classrooms):
            base = ("sites", i, "classrooms", j)
            if room.name in rooms:
                problems.append(locate(raw, base + ("name",)).problem(
                    path_str(base + ("name",)),
                    f"duplicate classroom name {room.name!r} in site {site.name!r} (also classrooms[{rooms[room.name]}])"))
            rooms.setdefault(room.name, j)
            ref(base + ("ap",), room.ap, profiles.aps, "AP")
            ref(base + ("test",), room.test, profiles.tests, "test")
            ref(base + ("teacher",), room.teacher, profiles.devices, "device")
            for kind in room.devices:
                ref(base + ("devices", kind), kind, profiles.devices, "device", key=True)
            if sum(room.devices.values()) == 0:
                problems.append(locate(raw, base + ("devices",)).problem(path_str(base + ("devices",)),
                                                                        "a classroom needs at least one device"))
            if room.start is not None and not (ex.start - 3600 <= room.start < ex.end):
                problems.append(locate(raw, base + ("start",)).problem(
                    path_str(base + ("start",)), "a classroom's start must fall within the exam window"))
            ap = profiles.aps.get(room.ap)
            n = sum(room.devices.values())
            if ap is not None and n > ap.max_clients:
                warnings.append(f"{locate(raw, base + ('devices',)).file}: {site.name}/{room.name}: {n} devices "
                                f"exceed {ap.name}'s {ap.max_clients} clients per radio")
    for name in s.slo:
        if not SLO_NAME.match(name):
            problems.append(locate(raw, ("slo", name), key=True).problem(
                f"slo.{name}", "unknown SLO; use <step>_p<q> (e.g. ready_p95, login_p99), error_rate, "
                               "<step>_error_rate or ready_by_HHMM"))


def load_scenario(path: str | Path, overrides: typing.Sequence[str] = ()) -> LoadedScenario:
    """Load, expand and validate a scenario file; raise ``UserError`` listing every problem."""
    path = Path(path)
    shown = _shown(path)
    try:
        text = _read(path, shown)
        raw = load_yaml(text, shown)
    except YamlError as e:
        raise UserError([e.problem]) from None
    if not text.strip() or all(l.lstrip().startswith("#") or not l.strip() for l in text.splitlines()):
        raise UserError(Problem(shown, 1, 1, "", "the file is empty; a scenario needs name, exam, core, "
                                                 "datacentre, services and sites"))
    if not isinstance(raw, LDict):
        raise UserError(Problem(shown, 1, 1, "", "a scenario is a YAML mapping (key: value lines)"))
    layers = [o[len(PROFILES_OVERLAY):] for o in overrides if o.startswith(PROFILES_OVERLAY)]
    parsed = [(o, *parse_override(o)) for o in overrides if not o.startswith(PROFILES_OVERLAY)]
    for text_o, opath, value in parsed:
        if _on_file(opath):
            apply_override(raw, opath, value, text_o)
    problems: list[Problem] = []
    profiles_decl = raw.get("profiles") if isinstance(raw.get("profiles"), str) else None
    expanded = expand_templates(raw, problems)
    if problems:
        raise UserError(_dedupe(problems))
    for text_o, opath, value in parsed:
        if not _on_file(opath):
            apply_override(expanded, opath, value, text_o)
    scenario = _validate(Scenario, expanded, problems)
    if scenario is None:
        raise UserError(_dedupe(problems))
    own = _find_profiles(path, profiles_decl)
    profiles = load_profiles(*([own] if own else []), *layers)
    warnings: list[str] = []
    _check_references(scenario, expanded, profiles, problems, warnings)
    if problems:
        raise UserError(_dedupe(problems))
    return LoadedScenario(scenario, profiles, path, tuple(overrides), tuple(dict.fromkeys(warnings)))


def _dedupe(problems: list[Problem]) -> list[Problem]:
    """A template expanded 80 times gives one problem, not 80."""
    seen, out = set(), []
    for p in problems:
        key = (p.file, p.line, p.col, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
