"""Which Behaviour a carrier profile runs: its plugin class named by dotted path, or the built-in profile."""

from __future__ import annotations

import importlib

from carriers.behaviour import Behaviour
from carriers.config import CarrierConfigError, CarrierProfile
from carriers.profile import ProfileBehaviour


def load_behaviour(profile: CarrierProfile) -> Behaviour:
    """The profile's behaviour: `behaviour = "package.module:Class"` built as `Class(profile, options)`,
    or `ProfileBehaviour` when none is named."""
    if not profile.behaviour:
        return ProfileBehaviour(profile, profile.options)
    module_name, _, class_name = profile.behaviour.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise CarrierConfigError(
            f"carriers[{profile.name}].behaviour: cannot load {profile.behaviour!r} ({exc})"
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Behaviour)):
        raise CarrierConfigError(f"carriers[{profile.name}].behaviour: {profile.behaviour!r} is not a Behaviour")
    return cls(profile, profile.options)
