"""Checks the pydash stand-in against pydash's documented behaviour for the
calls azure-ai-ml 1.4.0 makes. Run: /usr/bin/python3 scripts/pydash-stub/test_pydash_stub.py"""

import pydash
from pydash import get, objects

assert get({"trial": {"componentId": "c1"}}, "trial.componentId", None) == "c1"
assert get({"trial": {}}, "trial.componentId", None) is None
assert get(None, "a.b", 3) == 3
assert get({"a": [{"b": 1}, {"b": 2}]}, "a[1].b") == 2
assert get({"a": [{"b": 1}]}, "a.0.b") == 1
assert get({"a.b": 5}, "a.b") == 5
assert get({"inputs": {"x": {"path": "p"}}}, "inputs.x") == {"path": "p"}


class O:
    def __init__(self):
        self.inner = {"k": "v"}


assert pydash.get(O(), "inner.k") == "v"
src = {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}
assert pydash.omit(src, ["a", "e"]) == {"b": {"c": 2, "d": 3}}
assert pydash.omit(src, "b.c") == {"a": 1, "b": {"d": 3}, "e": 4}
assert src == {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}, "omit must not mutate"
assert pydash.omit(src, []) == src
d = {}
assert objects.set_(d, "a.b.c", 1) is d and d == {"a": {"b": {"c": 1}}}
objects.set_(d, "a.b.e", 2)
assert d == {"a": {"b": {"c": 1, "e": 2}}}
objects.set_(d, "x[0].y", 3)
assert d["x"] == [{"y": 3}]
objects.set_(d, "a", 9)
assert d["a"] == 9
print("pydash stub ok")
