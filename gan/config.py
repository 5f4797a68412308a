"""One dataclass describes a training run; its fields carry their own help and allowed range.

The metadata drives validation, the CLI's flags and the dashboard's widgets, so a new field is
declared once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

# The 2019 report's sample schedule
REPORT_SNAPSHOT_EPOCHS = (0, 5, 10, 20, 40, 60, 80, 100, 200, 300, 400, 500)
MNIST_TRAIN_SIZE = 60_000
# which images of the MNIST training file a run trains on: name -> (first, one past the last)
TRAIN_SPLITS = {
    "all": (0, MNIST_TRAIN_SIZE),
    # TensorFlow's input_data.read_data_sets (the report's loader) keeps the first 5,000 for validation
    "tf-55k": (5_000, MNIST_TRAIN_SIZE),
}


class ConfigError(ValueError):
    """Invalid configuration: ``errors`` maps each bad field to one message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(errors.values()))


def _spec(default, help, *, low=None, high=None, choices=None, low_open=False, high_open=False):
    meta = {"help": help, "low": low, "high": high, "choices": choices, "low_open": low_open, "high_open": high_open}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrainConfig:
    # what to train
    family: str = _spec("mlp", "Model family: mlp (the report's one-hidden-layer GAN) or dcgan (convolutional, sharper digits).")
    conditional: bool = _spec(False, "Condition G and D on the digit label, so you can ask the generator for a given digit.")
    clusters: int = _spec(
        0, "Self-conditioning without labels (Liu et al. 2020): group the training images into this many clusters "
        "(k-means on their pixels, no digit labels) and condition G and D on the cluster, as a conditional GAN is "
        "on the digit; G draws the cluster from its noise, so it stays unconditional to use. Far better digits for "
        "the same networks; 50 works well on MNIST. 0: off.", low=0, high=200,
    )
    loss: str = _spec(
        "bce", "Adversarial loss. bce: the report's non-saturating GAN loss; lsgan: least squares, smoother gradients; "
        "hinge: margin loss of SAGAN/BigGAN; wgan-gp: Wasserstein critic with gradient penalty, the most stable.",
    )
    noise_dim: int = _spec(100, "Length of the noise vector z fed to the generator.", low=1, high=1024)
    noise: str = _spec(
        "uniform", "Noise distribution: uniform in (-1, 1) as in the report, or standard normal.",
        choices=("uniform", "normal"),
    )
    hidden: int = _spec(128, "Width of the models: hidden units (mlp) or base channels (dcgan). More capacity, slower steps.", low=8, high=4096)
    dense: int = _spec(
        0, "Units of an extra fully connected layer at the top of G and before D's output (dcgan); 1024 with "
        "hidden 64 is the InfoGAN architecture. 0: none. More capacity, slower steps.", low=0, high=4096,
    )
    leaky_slope: float = _spec(0.01, "Negative slope of LeakyReLU; keeps gradients alive for negative inputs.", low=0.0, high=1.0)
    dropout: float = _spec(0.2, "Dropout after the hidden layer: regularises D, adds noise to G.", low=0.0, high=0.9)
    # how to train
    epochs: int = _spec(500, "Passes over the training images.", low=1, high=10_000)
    batch_size: int = _spec(100, "Images per step. Smaller: noisier, more steps per epoch.", low=1, high=MNIST_TRAIN_SIZE)
    lr_g: float = _spec(0.002, "Adam learning rate of the generator.", low=0.0, high=1.0, low_open=True)
    lr_d: float = _spec(0.002, "Adam learning rate of the discriminator.", low=0.0, high=1.0, low_open=True)
    beta1_g: float = _spec(0.9, "Adam beta1 (momentum) of the generator; GANs often prefer 0.5.", low=0.0, high=1.0, high_open=True)
    beta2_g: float = _spec(0.999, "Adam beta2 of the generator.", low=0.0, high=1.0, high_open=True)
    beta1_d: float = _spec(0.9, "Adam beta1 (momentum) of the discriminator.", low=0.0, high=1.0, high_open=True)
    beta2_d: float = _spec(0.999, "Adam beta2 of the discriminator.", low=0.0, high=1.0, high_open=True)
    real_label: float = _spec(
        0.9, "Target for real images in D's loss; below 1 (label smoothing) keeps D from overconfidence.",
        low=0.0, high=1.0, low_open=True,
    )
    d_steps: int = _spec(1, "Discriminator (critic) updates per generator update; WGAN-GP wants about 5.", low=1, high=10)
    gp_weight: float = _spec(10.0, "Weight of WGAN-GP's gradient penalty, which keeps the critic 1-Lipschitz.", low=0.0, high=100.0)
    train_split: str = _spec(
        "all", "Which images of the MNIST training file to train on: all 60,000, or tf-55k, TensorFlow's "
        "mnist.train (images 5,000 to 59,999; the first 5,000 are its validation set), as the report trained.",
        choices=tuple(TRAIN_SPLITS),
    )
    train_images: int = _spec(
        MNIST_TRAIN_SIZE, "How many training images to use (the first N of the split); fewer for quick experiments.",
        low=1, high=MNIST_TRAIN_SIZE,
    )
    ema_halflife: int = _spec(
        0, "Half-life, in images, of an exponential moving average of G's weights; snapshots, evaluations and "
        "samples then come from the average, which smooths out the game's oscillation (StyleGAN2 uses 10,000). "
        "0 turns it off.", low=0, high=10_000_000,
    )
    ema_rampup: float = _spec(
        0.05, "Ramp-up of the average: its half-life is at most this times the images seen so far, so the "
        "untrained first weights fade fast. 0: the full half-life from the start.", low=0.0, high=1.0,
    )
    spectral_norm: bool = _spec(
        False, "Spectral normalisation of D's layers (Miyato et al. 2018): keeps D smooth (1-Lipschitz per layer), "
        "which steadies training and keeps G from collapsing to a few digits; about 10-20% slower steps.",
    )
    mode_seeking: float = _spec(
        0.0, "Mode-seeking term (Mao et al. 2019): G's loss also rewards two fakes of the same digit or cluster for "
        "differing as much as their noise does. More variety within each digit (recall), slightly less clean "
        "digits (precision). 0: off.", low=0.0, high=10.0,
    )
    aux_classifier: float = _spec(
        0.0, "Auxiliary classifier (AC-GAN, Odena et al. 2017): D also learns to tell the digit (or cluster) of real "
        "images, and G's loss adds this weight times that classifier's cross-entropy on its fakes, so each fake "
        "looks like the digit it was asked for. Needs conditional or clusters. 0: off.", low=0.0, high=10.0,
    )
    r1_gamma: float = _spec(
        0.0, "R1 penalty (Mescheder et al. 2018): D's loss adds gamma/2 times the squared gradient of D's output "
        "with respect to real images, so D stays smooth where the data is and keeps giving G a useful signal "
        "there; measured here to buy variety (recall) and a lower FID at 0.1. 0: off.", low=0.0, high=100.0,
    )
    r1_every: int = _spec(
        16, "Apply the R1 penalty every this many steps, scaled up to match (StyleGAN2's lazy regularisation): "
        "its double backward costs about a D step, so 16 adds it to about 6% of the steps.", low=1, high=1000,
    )
    seed: int = _spec(0, "Random seed: same seed, same run (on the CPU).", low=0, high=2**31 - 1)
    device: str = _spec("auto", "Where to train; auto picks CUDA, then MPS, then the CPU.", choices=("auto", "cpu", "cuda", "mps"))
    # what to record
    snapshot_epochs: tuple[int, ...] | None = _spec(
        None, "Epochs at which to save a sample grid (0 = before training); empty: the report's schedule plus the last epoch.",
        low=0, high=10_000,
    )
    grid_size: int = _spec(8, "Snapshot grids show grid_size x grid_size samples from one fixed noise batch.", low=1, high=16)
    eval_samples: int = _spec(
        2000, "Samples scored by the MNIST classifier at each snapshot (FID-MNIST, coverage, ...); 0 turns metrics off.",
        low=0, high=10_000,
    )
    checkpoint_every: int = _spec(1, "Save a resumable checkpoint every this many epochs (and on pause and stop).", low=1, high=10_000)
    data_dir: str = _spec("", "Folder with the MNIST IDX files; empty: the copy embedded in the package.")

    def __post_init__(self):
        if isinstance(self.snapshot_epochs, list):
            object.__setattr__(self, "snapshot_epochs", tuple(self.snapshot_epochs))

    # -- validation ---------------------------------------------------------------------------
    def validate(self) -> "TrainConfig":
        """Return self, or raise :class:`ConfigError` with one message per bad field."""
        errors = {}
        for f in dataclasses.fields(self):
            message = _check_field(f, getattr(self, f.name))
            if message:
                errors[f.name] = message
        errors.update(_check_sizes(self, errors))
        errors.update(_check_registries(self, errors))
        errors.update(_check_clusters(self, errors))
        if self.aux_classifier and not (self.conditional or self.clusters) and "aux_classifier" not in errors:
            errors["aux_classifier"] = ("aux_classifier needs labels to classify: turn on conditional or clusters, "
                                        "or set aux_classifier to 0")
        if errors:
            raise ConfigError(errors)
        return self

    def snapshot_schedule(self) -> list[int]:
        """Sorted snapshot epochs within the run; the report's schedule plus the last epoch by default."""
        wanted = self.snapshot_epochs if self.snapshot_epochs else (*REPORT_SNAPSHOT_EPOCHS, self.epochs)
        return sorted({e for e in wanted if 0 <= e <= self.epochs})

    @property
    def steps_per_epoch(self) -> int:
        return self.train_images // self.batch_size

    # -- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["snapshot_epochs"] is not None:
            d["snapshot_epochs"] = list(d["snapshot_epochs"])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> "TrainConfig":
        """Build and validate; unknown fields and wrong types are :class:`ConfigError` too."""
        if not isinstance(data, dict):
            raise ConfigError({"config": f"config must be a JSON object, got {type(data).__name__}"})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise ConfigError({name: f"{name} is not a config field (known: {', '.join(sorted(known))})" for name in unknown})
        errors = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                message = _check_type(f, data[f.name])
                if message:
                    errors[f.name] = message
        if errors:
            raise ConfigError(errors)
        return cls(**data).validate()

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ConfigError({"config": f"config is not valid JSON: {exc}"}) from None
        return cls.from_dict(data)

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes).validate()


def parse_epochs(text: str) -> tuple[int, ...]:
    """``"0, 5,10"`` (commas or semicolons) -> ``(0, 5, 10)``; a ValueError for anything but whole numbers."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        return tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"expected comma-separated whole epochs like 0,5,10, got {text!r:.80}") from None


def _check_sizes(config: TrainConfig, errors: dict[str, str]) -> dict[str, str]:
    """train_images within its split, batch_size within train_images."""
    if {"train_split", "train_images", "batch_size"} & errors.keys():
        return {}
    first, stop = TRAIN_SPLITS[config.train_split]
    if config.train_images > stop - first:
        return {"train_images": f"train_images must be at most {stop - first}, the size of train_split "
                                f"{config.train_split!r}, got {config.train_images}"}
    if config.batch_size > config.train_images:
        return {"batch_size": f"batch_size must be at most train_images ({config.train_images}), got {config.batch_size}"}
    if config.mode_seeking and config.batch_size < 2 and "mode_seeking" not in errors:
        return {"batch_size": f"batch_size must be at least 2 with mode_seeking (it pairs the fakes), got {config.batch_size}"}
    return {}


def _check_clusters(config: TrainConfig, errors: dict[str, str]) -> dict[str, str]:
    """clusters: 0 or at least 2, at most the training images, and not with digit labels."""
    if {"clusters", "conditional", "train_images"} & errors.keys() or not config.clusters:
        return {}
    if config.clusters == 1:
        return {"clusters": "clusters must be 0 (off) or between 2 and 200, got 1"}
    if config.conditional:
        return {"clusters": "clusters replaces the digit labels: turn off conditional to use clusters, or set clusters to 0"}
    if config.clusters > config.train_images:
        return {"clusters": f"clusters must be at most train_images ({config.train_images}), got {config.clusters}"}
    return {}


def _check_registries(config: TrainConfig, errors: dict[str, str]) -> dict[str, str]:
    from gan.losses import LOSSES  # late: the registries import model code
    from gan.models import FAMILIES

    found = {}
    for name, registry in (("family", FAMILIES), ("loss", LOSSES)):
        value = getattr(config, name)
        if name not in errors and value not in registry:
            found[name] = f"{name} must be one of {', '.join(map(repr, sorted(registry)))}, got {value!r:.80}"
    return found


def field_kind(f: dataclasses.Field) -> type:
    """bool, int, float, str or tuple: what a field holds (its annotation, as a type)."""
    return {"bool": bool, "int": int, "float": float, "str": str}.get(f.type, tuple)


def applicable_fields(family: str, loss: str) -> set[str]:
    """The fields that matter for this family and loss (the others are ignored by them)."""
    from gan.losses import LOSSES
    from gan.models import FAMILIES

    all_names = {f.name for f in dataclasses.fields(TrainConfig)}
    family_specific = {n for module in FAMILIES.values() for n in module.CONFIG_FIELDS}
    loss_specific = {n for loss in LOSSES.values() for n in loss.CONFIG_FIELDS}
    used = set(FAMILIES[family].CONFIG_FIELDS) | set(LOSSES[loss].CONFIG_FIELDS)
    return (all_names - family_specific - loss_specific) | used


def _describe_range(f: dataclasses.Field) -> str:
    m = f.metadata
    if m["choices"]:
        return "one of " + ", ".join(repr(c) for c in m["choices"])
    left = "(" if m["low_open"] else "["
    right = ")" if m["high_open"] else "]"
    return f"in {left}{m['low']}, {m['high']}{right}"


def _check_type(f: dataclasses.Field, value: Any) -> str | None:
    kind = field_kind(f)
    if kind is tuple:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
            return f"{f.name} must be a list of whole epochs, got {value!r:.80}"
        return None
    if kind is bool:
        return None if isinstance(value, bool) else f"{f.name} must be true or false, got {value!r:.80}"
    ok = {int: _is_int, float: _is_number, str: lambda v: isinstance(v, str)}[kind](value)
    return None if ok else f"{f.name} must be {kind.__name__} {_describe_range(f)}, got {value!r:.80}"


def _check_field(f: dataclasses.Field, value: Any) -> str | None:
    wrong_type = _check_type(f, value)
    if wrong_type:
        return wrong_type
    m = f.metadata
    if field_kind(f) is tuple:
        bad = [v for v in value or () if not m["low"] <= v <= m["high"]]
        return f"{f.name} entries must be {_describe_range(f)}, got {bad[0]}" if bad else None
    if m["choices"]:
        return None if value in m["choices"] else f"{f.name} must be {_describe_range(f)}, got {value!r:.80}"
    if m["low"] is None:  # free text and booleans
        return None
    low_ok = value > m["low"] if m["low_open"] else value >= m["low"]
    high_ok = value < m["high"] if m["high_open"] else value <= m["high"]
    return None if low_ok and high_ok else f"{f.name} must be {_describe_range(f)}, got {value!r}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


_DCGAN = dict(
    family="dcgan", loss="bce", batch_size=64, noise_dim=64, noise="normal", hidden=32, leaky_slope=0.2,
    # lr 5e-4 rather than the paper's 2e-4: clearly better digits after 5 epochs here (FID-MNIST, README)
    dropout=0.0, lr_g=0.0005, lr_d=0.0005, beta1_g=0.5, beta2_g=0.999, beta1_d=0.5, beta2_d=0.999,
    real_label=0.9, epochs=10, snapshot_epochs=(0, 1, 2, 3, 5, 10),
)
_WIDE_EMA = {**_DCGAN, "hidden": 64, "dense": 1024, "lr_g": 0.0002, "lr_d": 0.0002, "ema_halflife": 10_000,
             "ema_rampup": 0.05, "epochs": 5, "snapshot_epochs": (0, 1, 2, 3, 5)}
PRESETS: dict[str, dict[str, Any]] = {
    # The 2019 report's vanilla GAN, as it was trained
    "report-2019": dict(
        family="mlp", loss="bce", batch_size=100, noise_dim=100, noise="uniform", hidden=128,
        leaky_slope=0.01, dropout=0.2, lr_g=0.002, lr_d=0.002, beta1_g=0.9, beta2_g=0.999,
        beta1_d=0.9, beta2_d=0.999, real_label=0.9, epochs=500,
        train_split="tf-55k", train_images=55_000,  # TensorFlow's mnist.train: 550 steps per epoch
    ),
    # convolutional, with the DCGAN paper's Adam settings: sharp digits within a few epochs on a CPU
    "dcgan": _DCGAN,
    # the same DCGAN conditioned on the digit: ask it for a 7 and it draws a 7
    "cgan": {**_DCGAN, "conditional": True},
    # near-real digits without labels: the InfoGAN architecture of Lucic et al. (2018) (G = FC 1024 -> FC
    # 7x7x128 -> deconv 64 -> deconv 1, D mirrored) with the DCGAN paper's Adam settings, and snapshots and
    # samples from an average of G's weights (StyleGAN2's half-life of 10,000 images); benchmarks/ablation.py
    # shows what each part buys
    "dcgan-wide-ema": _WIDE_EMA,
    # near-real digits without labels, fast: the small DCGAN self-conditioned on 200 k-means clusters of the
    # training images (no labels), sampling and snapshots from the weight average; README, "Near-real digits"
    "dcgan-clusters": {**_DCGAN, "clusters": 200, "ema_halflife": 10_000, "ema_rampup": 0.05, "r1_gamma": 0.1,
                       "mode_seeking": 0.15, "epochs": 20, "snapshot_epochs": (0, 1, 2, 3, 5, 8, 11, 14, 17, 20)},
    # `cgan` with the improvements measured for it: snapshots from an average of G's weights, AC-GAN's auxiliary
    # classifier (digit accuracy) and mode seeking (variety within each digit), and 14 epochs; README, "cgan-ac"
    "cgan-ac": {**_DCGAN, "conditional": True, "ema_halflife": 10_000, "ema_rampup": 0.05, "aux_classifier": 0.3,
                "mode_seeking": 0.3, "epochs": 14, "snapshot_epochs": (0, 1, 2, 3, 5, 8, 11, 14)},
    # a Wasserstein critic with gradient penalty, with the paper's 5 critic steps and Adam (0.5, 0.9)
    "wgan-gp": {**_DCGAN, "loss": "wgan-gp", "lr_g": 0.0002, "lr_d": 0.0002, "beta2_g": 0.9, "beta2_d": 0.9,
                "d_steps": 5, "gp_weight": 10.0},
}


def preset(name: str, **overrides) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError({"preset": f"preset must be one of {', '.join(sorted(PRESETS))}, got {name!r}"})
    return TrainConfig(**{**PRESETS[name], **overrides}).validate()


def env_switch(name: str) -> bool | None:
    """``name`` set to on (1/true/yes/on) or off (0/false/no/off); None when unset or anything else."""
    value = os.environ.get(name, "").strip().lower()
    return True if value in ("1", "true", "yes", "on") else False if value in ("0", "false", "no", "off") else None
