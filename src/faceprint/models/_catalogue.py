"""The built-in models: every record `faceprint models list` shows, collected from the modules that define them.

Each model module defines its records as plain module constants and lists them in its ``MODELS`` tuple; this
module only reads those tuples (importing a model module reads no weights and registers nothing). To add a model,
define its `ModelSpec` in its module, add it to that module's ``MODELS``, and add the module to `_MODULES` below
(CONTRIBUTING.md, "Adding a model").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from faceprint.models import dlib_resnet, facenet, openface
from faceprint.models._spec import ModelSpec
from faceprint.models.ensemble import DEFAULT_ENSEMBLE, ensemble_spec, parse_ensemble_name

__all__ = ["catalogue"]

_MODULES = (dlib_resnet, facenet, openface)


def catalogue() -> Mapping[str, ModelSpec]:
    """Every built-in model by name (read-only): the single networks and the default ensemble of two of them.

    Built on each call from the modules' constants (a few records; no file is read), so it holds no state.
    """
    specs: dict[str, ModelSpec] = {}
    for module in _MODULES:
        for spec in module.MODELS:
            if spec.name in specs:
                raise ValueError(f"model {spec.name!r} is defined twice ({module.__name__})")
            specs[spec.name] = spec
    members = [specs[m] for m in parse_ensemble_name(DEFAULT_ENSEMBLE)]
    specs[DEFAULT_ENSEMBLE] = ensemble_spec(members)
    return MappingProxyType(specs)
