"""Template expansion: a city of 90 schools as a short file.

``templates.classrooms.<name>`` and ``templates.sites.<name>`` hold partial
classroom/site mappings. A list entry ``{template: NAME, count: N, name:
"9{letter}", ...}`` becomes N copies of the template with the entry's own keys
laid over it; ``{n}`` (1-based, format spec allowed: ``{n:02d}``) and
``{letter}`` (A, B, … Z, AA, …) number the copies. ``count`` also works
without a template. Copies keep the marks of the lines they came from.
"""

from __future__ import annotations

import copy

from ..errors import Problem
from .located import LDict, LList, Mark, path_str

__all__ = ["expand_templates", "letter"]

_CONTROL = ("template", "count")


def letter(i: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA' (spreadsheet columns)."""
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def _mark(node, key=None) -> Mark:
    if key is not None and isinstance(node, LDict):
        return node.value_marks.get(key) or node.mark
    return getattr(node, "mark", None) or Mark("<input>", 1, 1)


def _expand_list(items, templates: dict, where: tuple, problems: list[Problem], inner=None) -> LList:
    out = LList(mark=getattr(items, "mark", None))
    if not isinstance(items, list):
        return items  # the model reports the wrong type
    for idx, item in enumerate(items):
        here = where + (idx,)
        item_mark = items.item_marks[idx] if isinstance(items, LList) else None
        if not isinstance(item, LDict) or not any(k in item for k in _CONTROL):
            out.append(inner(item, here) if inner and isinstance(item, LDict) else item)
            out.item_marks.append(item_mark)
            continue
        base = LDict(mark=item.mark)
        tname = item.get("template")
        if tname is not None:
            if not isinstance(tname, str) or tname not in templates:
                known = ", ".join(sorted(templates)) or "none defined"
                problems.append(_mark(item, "template").problem(path_str(here + ("template",)),
                                                                f"unknown template {tname!r} (known: {known})"))
                continue
            base = copy.deepcopy(templates[tname])
            if not isinstance(base, LDict):
                problems.append(_mark(base).problem(path_str(here), f"template {tname!r} is not a mapping"))
                continue
        count = item.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            problems.append(_mark(item, "count").problem(path_str(here + ("count",)),
                                                         f"count must be a whole number ≥ 0, got {count!r}"))
            continue
        for k, v in item.items():
            if k not in _CONTROL:
                base.set(k, v, item.key_marks.get(k), item.value_marks.get(k))
        name = base.get("name")
        if count > 1 and isinstance(name, str) and "{" not in name:
            problems.append(_mark(base, "name").problem(
                path_str(here + ("name",)), f"count {count} needs a numbered name such as '{name}-{{n}}' "
                                           "or '9{letter}'"))
            continue
        for n in range(count):
            one = copy.deepcopy(base)
            if isinstance(name, str):
                try:
                    one.set("name", name.format(n=n + 1, letter=letter(n)), base.key_marks.get("name"),
                            base.value_marks.get("name"))
                except (KeyError, ValueError, IndexError) as e:
                    problems.append(_mark(base, "name").problem(path_str(here + ("name",)),
                                                                f"bad name pattern {name!r}: use {{n}} or {{letter}} ({e})"))
                    break
            out.append(inner(one, here) if inner else one)
            out.item_marks.append(item_mark)
    return out


def expand_templates(raw: LDict, problems: list[Problem]) -> LDict:
    """A copy of the document with templated sites and classrooms written out."""
    doc = copy.copy(raw)
    templates = doc.pop("templates", None) or LDict()
    if not isinstance(templates, dict):
        problems.append(_mark(raw, "templates").problem("templates", "templates must be a mapping"))
        return doc
    for key in templates:
        if key not in ("classrooms", "sites"):
            problems.append(templates.key_marks[key].problem(f"templates.{key}",
                                                             "unknown template kind; use classrooms or sites"))
    rooms = templates.get("classrooms") or {}
    sites = templates.get("sites") or {}

    def expand_site(site: LDict, here: tuple) -> LDict:
        if "classrooms" in site:
            site.set("classrooms", _expand_list(site["classrooms"], rooms, here + ("classrooms",), problems),
                     site.key_marks.get("classrooms"), site.value_marks.get("classrooms"))
        return site

    if "sites" in doc:
        doc.set("sites", _expand_list(doc["sites"], sites, ("sites",), problems, inner=expand_site),
                raw.key_marks.get("sites"), raw.value_marks.get("sites"))
    return doc
