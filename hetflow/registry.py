"""Named plug-ins found through entry points: backends (``hetflow.backends``) and device drivers (``hetflow.drivers``).

Built-in backends and drivers are declared in hetflow's own ``pyproject.toml`` exactly as an
out-of-tree package declares its own, so nothing here names a backend and ``import hetflow`` imports
none: an entry point is loaded the first time its name is asked for. Code may also register a factory
directly (``Registry.register``); registering a name twice raises.

The registry sits below ``devices`` and ``backends`` (it imports only ``ir.errors``), so both can
reach it without importing each other.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import Generic, TypeVar

from hetflow.ir.errors import HetflowError

T = TypeVar("T")

BACKENDS_GROUP = "hetflow.backends"
DRIVERS_GROUP = "hetflow.drivers"


class RegistryError(HetflowError):
    """A plug-in registered twice, or whose entry point does not load."""


class Registry(Generic[T]):
    """Factories by name for one entry-point group, loaded lazily."""

    def __init__(self, group: str, what: str) -> None:
        self.group = group
        self.what = what  # "backend" or "driver", for messages
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T]) -> None:
        """Make ``factory`` the one called ``name``; a second registration of a name raises."""
        if name in self._factories or _entry_points(self.group, name):
            raise RegistryError(f"{self.what} {name!r} is registered twice (in code, or declared by an entry point "
                                f"in {self.group!r})")
        self._factories[name] = factory

    def unregister(self, name: str) -> None:
        """Forget ``name`` (for tests that register a temporary plug-in)."""
        self._factories.pop(name, None)

    def find(self, name: str) -> Callable[..., T] | None:
        """The factory called ``name``: registered, else loaded from its entry point; None when neither exists."""
        if name in self._factories:
            return self._factories[name]
        points = _entry_points(self.group, name)
        if not points:
            return None
        if len({ep.value for ep in points}) > 1:
            raise RegistryError(f"{self.what} {name!r} is declared by several entry points in {self.group!r}: "
                                f"{', '.join(sorted({ep.value for ep in points}))}")
        try:
            factory = points[0].load()
        except Exception as exc:  # any import failure of a plug-in becomes one line naming it
            raise RegistryError(f"{self.what} {name!r} from entry point {points[0].value!r} ({self.group}) failed to "
                                f"load: {type(exc).__name__}: {exc}") from exc
        return self._factories.setdefault(name, factory)  # loading may have registered it (a module registering itself)

    def names(self) -> list[str]:
        """Every name that is registered or declared by an entry point."""
        declared = {ep.name for ep in importlib.metadata.entry_points(group=self.group)}
        return sorted(declared | set(self._factories))


def _entry_points(group: str, name: str) -> list[importlib.metadata.EntryPoint]:
    # The same distribution can be seen twice (an editable install plus a source tree on sys.path): one per value.
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=group, name=name):
        seen.setdefault(ep.value, ep)
    return list(seen.values())


backends: Registry = Registry(BACKENDS_GROUP, "backend")
"""Backend classes (or factories) by name; each call makes a backend."""

drivers: Registry = Registry(DRIVERS_GROUP, "driver")
"""Device driver factories by backend name: ``factory(description, instance_id=..., host=...) -> Device``."""
