"""pydash.objects stand-in: get, omit, set_ (see __init__.py)."""

import copy
import re

_TOKEN = re.compile(r"\[(-?\d+)\]|([^.\[\]]+)")
_MISSING = object()


def _path(path):
    """Split a pydash path into keys: "a.b[0].c" -> ["a", "b", 0, "c"]."""
    if isinstance(path, (list, tuple)):
        return list(path)
    if isinstance(path, int):
        return [path]
    if path is None:
        return []
    keys = []
    for idx, name in _TOKEN.findall(str(path)):
        keys.append(int(idx) if idx else name)
    return keys


def _child(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        if isinstance(key, int) and str(key) in obj:
            return obj[str(key)]
        if isinstance(key, str) and key.lstrip("-").isdigit() and int(key) in obj:
            return obj[int(key)]
        return _MISSING
    if isinstance(obj, (list, tuple)):
        try:
            return obj[int(key)]
        except (ValueError, IndexError, TypeError):
            return _MISSING
    if isinstance(key, str):
        try:
            return getattr(obj, key)
        except Exception:  # pylint: disable=broad-except
            return _MISSING
    return _MISSING


def get(obj, path, default=None):
    """Value at path in obj (dicts, lists, attributes), or default."""
    if obj is None:
        return default
    if isinstance(obj, dict) and isinstance(path, str) and path in obj:
        return obj[path]
    cur = obj
    for key in _path(path):
        cur = _child(cur, key)
        if cur is _MISSING:
            return default
    return cur


def omit(obj, *paths):
    """A deep copy of obj without the given paths (keys or dotted paths)."""
    flat = []
    for p in paths:
        if isinstance(p, (list, tuple)):
            flat.extend(p)
        else:
            flat.append(p)
    if obj is None:
        return {}
    if isinstance(obj, dict):
        out = copy.deepcopy(obj)
    elif isinstance(obj, (list, tuple)):
        out = {i: copy.deepcopy(v) for i, v in enumerate(obj)}
    else:
        out = copy.deepcopy(dict(getattr(obj, "__dict__", {})))
    for p in flat:
        if isinstance(out, dict) and p in out:
            del out[p]
            continue
        keys = _path(p)
        if not keys:
            continue
        parent = out
        for key in keys[:-1]:
            parent = _child(parent, key)
            if parent is _MISSING:
                break
        if parent is _MISSING:
            continue
        last = keys[-1]
        if isinstance(parent, dict):
            parent.pop(last, None)
        elif isinstance(parent, list):
            try:
                del parent[int(last)]
            except (ValueError, IndexError):
                pass
    return out


def set_(obj, path, value):
    """Set value at path in obj, creating dicts (or lists for integer keys)
    along the way; returns obj (mutated in place, as pydash does)."""
    keys = _path(path)
    if not keys:
        return obj
    cur = obj
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if last:
            nxt = value
        else:
            nxt = _child(cur, key)
            if nxt is _MISSING or nxt is None:
                nxt = [] if isinstance(keys[i + 1], int) else {}
            else:
                cur = nxt
                continue
        if isinstance(cur, dict):
            cur[key] = nxt
        elif isinstance(cur, list):
            idx = int(key)
            while len(cur) <= idx:
                cur.append(None)
            cur[idx] = nxt
        else:
            setattr(cur, key, nxt)
        cur = nxt
    return obj
