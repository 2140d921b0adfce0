"""Facts about a built model that travel to the service and the status (light: no torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .pretrained import LoadReport

__all__ = ["BackboneInfo"]


@dataclass
class BackboneInfo:
    """Where the backbone's weights came from, said plainly for status displays.

    ``load`` is the :class:`~.pretrained.LoadReport` of pretrained weights as a plain dict (it
    travels as JSON between processes), None for a random backbone.
    """

    origin: Literal["pretrained", "random"]
    weights_path: str | None = None
    missing_keys: list[str] = field(default_factory=list)
    unexpected_keys: list[str] = field(default_factory=list)
    load: dict[str, Any] | None = None

    @property
    def message(self) -> str:
        if self.origin == "random":
            return "randomly initialised backbone (no pretrained_weights given)"
        if self.load is not None:
            return str(self.load["summary"])
        msg = f"pretrained backbone loaded from {self.weights_path}"
        if self.missing_keys or self.unexpected_keys:
            msg += f" ({len(self.missing_keys)} missing, {len(self.unexpected_keys)} unexpected keys)"
        return msg

    @classmethod
    def from_report(cls, report: LoadReport) -> BackboneInfo:
        return cls("pretrained", report.source, report.missing, report.unexpected, report.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": self.message}
