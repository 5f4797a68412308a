"""A search space over TrainConfig fields, parsed from ``FIELD=KIND:ARGS`` and validated against each
field's range before anything starts, so a bad space costs one line of error and no Ray start.

    lr_g=loguniform:1e-4:1e-2    a log-uniform float (or whole number) between two bounds
    beta1_g=uniform:0.3:0.9      a uniform float (or whole number) between two bounds
    hidden=choice:64,128,256     one of the values, at random
    loss=grid:bce,hinge          every value (each repeated --trials times)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gan.config import ConfigError, TrainConfig, field_kind
from gan.store import ARCHITECTURE_FIELDS

KINDS = ("choice", "grid", "uniform", "loguniform")
FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# the sweep sets these itself: every epoch is a snapshot, evaluated, and where the trial trains
RESERVED = ("snapshot_epochs", "device")


class SpaceError(ConfigError):
    """A bad search space: ``errors`` maps the field to one message naming it and its allowed range."""


@dataclass(frozen=True)
class Dimension:
    field: str
    kind: str  # one of KINDS
    values: tuple = ()  # choice and grid
    low: float | None = None  # uniform and loguniform
    high: float | None = None

    def spec(self) -> str:
        args = ",".join(map(str, self.values)) if self.values else f"{self.low}:{self.high}"
        return f"{self.field}={self.kind}:{args}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def parse_space(specs: list[str], base: TrainConfig, *, scheduler: str = "fifo") -> list[Dimension]:
    """``["lr_g=loguniform:1e-4:1e-2", ...]`` -> dimensions, each value checked against ``base``'s
    field range; a :class:`SpaceError` naming the first bad field otherwise."""
    if not specs:
        raise SpaceError({"space": "space is empty: give at least one --space FIELD=KIND:ARGS, e.g. lr_g=loguniform:1e-4:1e-2"})
    dimensions = [_parse_one(spec, base) for spec in specs]
    names = [d.field for d in dimensions]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SpaceError({twice[0]: f"{twice[0]} appears twice in the space"})
    if scheduler == "pbt":
        fixed = [n for n in names if n in ARCHITECTURE_FIELDS]
        if fixed:
            raise SpaceError({fixed[0]: f"{fixed[0]} cannot be searched with pbt: it shapes the weights, and an "
                                        f"exploit copies weights between trials (searchable with fifo or asha)"})
        switched = [d for d in dimensions if d.field == "aux_classifier" and 0 in d.values and any(d.values)]
        if switched:  # D has its classifier only while the weight is above 0 (store.fork refuses the change)
            raise SpaceError({"aux_classifier": "aux_classifier cannot mix 0 with other values under pbt: an exploit "
                                                "copies weights between trials, and only those above 0 have D's "
                                                "classifier (searchable with fifo or asha)"})
    return dimensions


def _parse_one(spec: str, base: TrainConfig) -> Dimension:
    name, _, rest = spec.partition("=")
    name, (kind, _, args) = name.strip(), rest.partition(":")
    if name not in FIELDS or name in RESERVED:
        known = ", ".join(n for n in FIELDS if n not in RESERVED)
        raise SpaceError({name or "space": f"{name!r} is not a searchable config field (searchable: {known})"})
    if kind not in KINDS or not args:
        raise SpaceError({name: f"{name}: expected {name}=KIND:ARGS with KIND one of {', '.join(KINDS)} "
                                f"(e.g. {name}=choice:a,b or {name}=uniform:low:high), got {spec!r:.80}"})
    f = FIELDS[name]
    if kind in ("choice", "grid"):
        values = tuple(_value(f, text) for text in args.split(","))
        for value in values:
            _check(base, name, value, spec)
        return Dimension(name, kind, values=values)
    return _range(f, kind, args, base, spec)


def _range(f: dataclasses.Field, kind: str, args: str, base: TrainConfig, spec: str) -> Dimension:
    if field_kind(f) not in (int, float):
        raise SpaceError({f.name: f"{f.name} is {field_kind(f).__name__}: use choice or grid, not {kind}"})
    bounds = args.split(":")
    if len(bounds) != 2:
        raise SpaceError({f.name: f"{f.name}: {kind} needs two bounds, {f.name}={kind}:LOW:HIGH, got {spec!r:.80}"})
    low, high = (_value(f, b) for b in bounds)
    for value in (low, high):
        _check(base, f.name, value, spec)
    if not low < high:
        raise SpaceError({f.name: f"{f.name}: {kind}'s low must be below its high, got {low} and {high}"})
    if kind == "loguniform" and low <= 0:
        raise SpaceError({f.name: f"{f.name}: loguniform needs a low above 0, got {low}"})
    return Dimension(f.name, kind, low=low, high=high)


def _value(f: dataclasses.Field, text: str):
    kind, text = field_kind(f), text.strip()
    try:
        if kind is bool:
            return {"true": True, "false": False}[text.lower()]
        return kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
    except (ValueError, KeyError):
        raise SpaceError({f.name: f"{f.name} must be {kind.__name__}, got {text!r:.80}"}) from None


def _check(base: TrainConfig, name: str, value, spec: str) -> None:
    try:
        base.replace(**{name: value})
    except ConfigError as exc:
        message = exc.errors.get(name) or next(iter(exc.errors.values()))
        raise SpaceError({name: f"{message} (in --space {spec})"}) from None
