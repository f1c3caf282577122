"""YAML that remembers where each value came from.

``load_yaml`` returns plain-looking dicts and lists (``LDict``/``LList``)
that carry, for every key and item, the ``Mark`` (file, line, column, 1-based)
of its value. Template expansion copies these containers, so a value that came
from a template still points at the template's line. ``locate`` walks a path
(as pydantic reports it in ``loc``) to the deepest known mark.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import yaml

from ..errors import Problem

__all__ = ["Mark", "LDict", "LList", "load_yaml", "locate", "path_str", "YamlError"]


@dataclass(frozen=True, slots=True)
class Mark:
    file: str
    line: int
    col: int

    def problem(self, path: str, message: str) -> Problem:
        return Problem(self.file, self.line, self.col, path, message)


class LDict(dict):
    """A mapping with ``mark`` (of the mapping), ``key_marks`` and ``value_marks``."""

    __slots__ = ("mark", "key_marks", "value_marks")

    def __init__(self, *args, mark: Mark | None = None, **kw):
        super().__init__(*args, **kw)
        self.mark = mark
        self.key_marks: dict = {}
        self.value_marks: dict = {}

    def set(self, key, value, key_mark: Mark | None, value_mark: Mark | None) -> None:
        self[key] = value
        self.key_marks[key] = key_mark
        self.value_marks[key] = value_mark

    def __copy__(self):
        new = LDict(self, mark=self.mark)
        new.key_marks = dict(self.key_marks)
        new.value_marks = dict(self.value_marks)
        return new

    def __deepcopy__(self, memo):
        new = LDict(mark=self.mark)
        for k, v in self.items():
            new.set(k, copy.deepcopy(v, memo), self.key_marks.get(k), self.value_marks.get(k))
        return new


class LList(list):
    __slots__ = ("mark", "item_marks")

    def __init__(self, *args, mark: Mark | None = None):
        super().__init__(*args)
        self.mark = mark
        self.item_marks: list = []

    def __deepcopy__(self, memo):
        new = LList((copy.deepcopy(v, memo) for v in self), mark=self.mark)
        new.item_marks = list(self.item_marks)
        return new


class YamlError(Exception):
    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def _mark(file: str, m) -> Mark:
    return Mark(file, m.line + 1, m.column + 1)


def _construct(node: yaml.Node, file: str, loader):
    if isinstance(node, yaml.MappingNode):
        out = LDict(mark=_mark(file, node.start_mark))
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError(_mark(file, key_node.start_mark).problem("", "YAML merge keys (<<) are not supported; use templates"))
            key = loader.construct_object(key_node)
            if not isinstance(key, (str, int, float, bool)):
                raise YamlError(_mark(file, key_node.start_mark).problem("", "a mapping key must be a plain value"))
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                first = out.key_marks[key]
                raise YamlError(_mark(file, key_node.start_mark).problem(
                    "", f"duplicate key {key!r} (first at line {first.line})"))
            out.set(key, _construct(value_node, file, loader),
                    _mark(file, key_node.start_mark), _mark(file, value_node.start_mark))
        return out
    if isinstance(node, yaml.SequenceNode):
        out = LList(mark=_mark(file, node.start_mark))
        for item in node.value:
            out.append(_construct(item, file, loader))
            out.item_marks.append(_mark(file, item.start_mark))
        return out
    return loader.construct_object(node, deep=True)


#: libyaml's parser when PyYAML has it (the same nodes and marks; the constructor and resolver are PyYAML's
#: own either way): ~2x faster on a city's scenario and profiles (~0.02 s). A document it rejects is parsed
#: again by PyYAML's pure-Python parser, whose result or error (its wording) is the answer.
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def load_yaml(text: str, file: str):
    """Parse one YAML document into LDict/LList/scalars; raise YamlError with its place."""
    if _FAST_LOADER is not None:
        try:
            return _load(_FAST_LOADER(text), file)
        except YamlError:
            pass  # bad input: the pure-Python parser's verdict and wording below
    return _load(yaml.SafeLoader(text), file)


def _load(loader, file: str):
    try:
        node = loader.get_single_node()
        if node is None:
            return LDict(mark=Mark(file, 1, 1))
        return _construct(node, file, loader)
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark or e.context_mark
        line, col = (m.line + 1, m.column + 1) if m else (1, 1)
        what = e.problem or e.context or "malformed YAML"
        raise YamlError(Problem(file, line, col, "", f"malformed YAML: {what}")) from None
    except yaml.YAMLError as e:
        raise YamlError(Problem(file, 1, 1, "", f"malformed YAML: {e}")) from None
    finally:
        loader.dispose()


def path_str(path: tuple) -> str:
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def locate(root, path: tuple, key: bool = False) -> Mark | None:
    """The mark of ``path`` inside ``root`` (the deepest one known).

    With ``key=True`` and a mapping entry, the key's mark (for unknown keys).
    """
    node, best = root, getattr(root, "mark", None)
    for i, p in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, LDict) and p in node:
            m = node.key_marks.get(p) if (last and key) else node.value_marks.get(p)
            best = m or best
            node = node[p]
        elif isinstance(node, LList) and isinstance(p, int) and 0 <= p < len(node):
            best = node.item_marks[p] or best
            node = node[p]
        else:
            break
    return best
