"""A minimal stand-in for pydash, enough for azure-ai-ml 1.4.0.

Debian bookworm's python3-azure ships azure-ai-ml but not its dependency
pydash (not packaged in Debian). azure-ai-ml calls three functions:
pydash.get, pydash.omit and pydash.objects.set_. This package implements
those, with pydash's semantics for the paths azure-ai-ml passes (dotted
strings such as "trial.componentId", "inputs.x", "a[0].b", or lists of keys).
Put the directory that contains it (scripts/pydash-stub) on PYTHONPATH.
"""

from .objects import get, omit, set_

__all__ = ["get", "omit", "set_"]
__version__ = "0.0.0+amlid-stub"
