"""``python -m gan``: train, list runs, sample, evaluate, draw the report's figures. Bad arguments exit 2
with one line. torch and everything built on it load after the arguments are parsed: ``--help`` and
malformed arguments are answered at once."""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from pathlib import Path

from gan.config import PRESETS, ConfigError, TrainConfig, field_kind, parse_epochs, preset
from gan.files import atomic_write
from gan.sweep import command as sweep_command  # its flags only: Ray and torch load when a sweep runs
from gan.timing import duration_text, eta_seconds


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _epochs_list(text: str) -> tuple[int, ...]:
    try:
        return parse_epochs(text)
    except ValueError as exc:  # argparse prints an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field, with the field's own help and range; unset flags keep the preset's value."""
    group = parser.add_argument_group("hyperparameters (default: the preset's value)")
    for f in dataclasses.fields(TrainConfig):
        kind = field_kind(f)
        meta = f.metadata
        extra = f" [{meta['low']}..{meta['high']}]" if meta["low"] is not None and kind is not tuple else ""
        text = meta["help"].replace("%", "%%")  # argparse formats help with %: a field's "10%" is text
        if kind is bool:
            group.add_argument(_flag(f.name), dest=f.name, default=None, action=argparse.BooleanOptionalAction,
                               help=text)
            continue
        group.add_argument(
            _flag(f.name), dest=f.name, default=None, metavar=f.name.upper() if not meta["choices"] else None,
            type=_epochs_list if kind is tuple else kind, choices=meta["choices"], help=text + extra,
        )


RAW_HELP = "Runs with a weight average (ema_halflife > 0): use the raw generator instead of the average."


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="python -m gan", description="Train GANs on MNIST and inspect the runs.")
    parser.add_argument("--runs-dir", help="Run store folder (default: $GAN_RUNS_DIR or ./runs).")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    train = sub.add_parser("train", help="Train a GAN and record it as a run.", description=(
        "Train a GAN, printing a progress bar, and write a run the dashboard can open. "
        "Ctrl-C stops cleanly after the current step and writes a checkpoint."))
    train.add_argument("--preset", default="report-2019", choices=sorted(PRESETS), help="Starting point (default: report-2019).")
    train.add_argument("--config", type=Path, help="Start from a config.json instead of a preset.")
    train.add_argument("--continue", dest="continue_run", metavar="RUN_ID",
                       help="Continue a stopped or interrupted run from its last checkpoint (--epochs: new total).")
    train.add_argument("--fork", metavar="RUN_ID", help="Start a new run from another run's checkpoint, with the "
                       "hyperparameters given here changed (e.g. --fork RUN --lr-g 0.0001); it records its parent.")
    train.add_argument("--fork-epoch", type=int, metavar="E", help="With --fork: the kept checkpoint epoch to start "
                       "from (default: the latest checkpoint).")
    train.add_argument("--quiet", action="store_true", help="No progress bar; print only the run id.")
    _add_config_flags(train)

    runs = sub.add_parser("runs", help="List runs with status, epochs done and duration.")
    runs.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    sample = sub.add_parser("sample", help="Write generated images from a run's checkpoint.", description=(
        "Write N generated images from a run's checkpoint: FILE.npy as uint8 (N, 28, 28), or FILE.png as a grid."))
    sample.add_argument("--run", required=True, help="Run id (see `runs`).")
    sample.add_argument("--epoch", type=int, help="Checkpoint epoch (default: the latest checkpoint).")
    sample.add_argument("--n", type=int, required=True, help="Number of images, 1..100000.")
    sample.add_argument("--out", type=Path, required=True, help="Output file, .npy or .png.")
    sample.add_argument("--seed", type=int, default=0, help="Noise seed (default 0).")
    sample.add_argument("--digit", type=int, help="Conditional runs: draw only this digit (default: labels cycle "
                        "0..9 and FILE.labels.npy is written beside a .npy).")
    sample.add_argument("--raw", action="store_true", help=RAW_HELP)
    evaluate = sub.add_parser("eval", help="Score a run's samples with the MNIST classifier; prints JSON.", description=(
        "Score N samples of a run's checkpoint with the project's MNIST classifier: classifier score, FID-MNIST, "
        "KID, precision/recall, class histogram, coverage, entropy, conditional accuracy, nearest-training "
        "distance; 'real' holds the same scores for real digits, to read the scale."))
    evaluate.add_argument("--run", required=True, help="Run id (see `runs`).")
    evaluate.add_argument("--epoch", type=int, help="Checkpoint epoch (default: the latest checkpoint).")
    evaluate.add_argument("--n", type=int, default=2000, help="Number of samples, 100..10000 (default 2000).")
    evaluate.add_argument("--seed", type=int, default=0, help="Noise seed (default 0).")
    evaluate.add_argument("--raw", action="store_true", help=RAW_HELP)
    report = sub.add_parser("report", help="Write the 2019 report's figures for a run into a folder.", description=(
        "Write DIR/losses.png (the report's Fig. 4: per-epoch losses of D on real, D on fake and G), "
        "DIR/snapshots.png (its Fig. 5: the grids at epochs 0, 5, 10, ..., 500 that the run has, in one picture) "
        "and DIR/curves.html (the interactive curves, plotly.js included: opens offline)."))
    report.add_argument("--run", required=True, help="Run id (see `runs`).")
    report.add_argument("--out", type=Path, required=True, help="Output folder (created if missing).")
    sweep_command.add_parser(sub, _add_config_flags)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from gan.store import RunNotFound, RunStore  # torch: only once there is work to do

    store = RunStore(args.runs_dir)
    try:
        commands = {"train": cmd_train, "runs": cmd_runs, "sample": cmd_sample, "eval": cmd_eval, "report": cmd_report,
                    "sweep": cmd_sweep}
        return commands[args.command](args, store)
    except (ConfigError, RunNotFound, FileNotFoundError, ValueError) as exc:
        parser.exit(2, f"python -m gan {args.command}: error: {exc}\n")


def _overrides(args) -> dict:
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name) is not None}


def _config_from_args(args) -> TrainConfig:
    overrides = _overrides(args)
    if args.config:
        return TrainConfig.from_dict({**TrainConfig.from_json(args.config.read_text()).to_dict(), **overrides})
    return preset(args.preset, **overrides)


def cmd_sweep(args, store) -> int:
    return sweep_command.run(args, store, _config_from_args(args))


def cmd_train(args, store) -> int:
    from gan.runner import continue_config, execute
    from gan.trainer import TrainControl

    if args.continue_run:
        run = store.open(args.continue_run)
        continue_config(run, args.epochs)
        resume = True
    elif args.fork:
        run = store.fork(args.fork, epoch=args.fork_epoch, **_overrides(args))
        resume = True
    else:
        config = _config_from_args(args)
        run = store.create(config)
        resume = False
    print(f"run {run.id} in {store.root}", flush=True)
    control = TrainControl()
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop after the current step, with a checkpoint
        signal.signal(sig, lambda *_: control.stop())
    bar = [] if args.quiet else ProgressBar().callbacks()
    status = execute(run, resume=resume, control=control, callbacks=bar)
    print(f"run {run.id} {status}", flush=True)
    return 0 if status == "finished" else 130


class ProgressBar:
    """Progress on stderr: epoch, step, images/s, ETA and the latest losses.

    On a terminal, one line redrawn in place (carriage returns); anywhere else (a log file, a pipe,
    CI) plain lines that read well: one per epoch, and one every ``line_seconds`` within a long epoch.
    """

    def __init__(self, stream=sys.stderr, width: int = 24, *, line_seconds: float = 30.0):
        self.stream, self.width, self.line_seconds = stream, width, line_seconds
        self.redraw = stream.isatty()
        self.last_line = time.monotonic()
        self.row: dict | None = None  # the latest logged step

    def callbacks(self):
        return [("on_train_start", self.on_train_start), ("on_log", self.on_log), ("on_epoch_end", self.on_epoch_end),
                ("on_alarm", self.on_alarm), ("on_train_end", self.on_train_end)]

    def on_train_start(self, trainer):
        self.stream.write(f"training on {trainer.device} ({trainer.accel.describe()})\n")

    def on_alarm(self, trainer, alarm):
        end_of_bar = "\n" if self.redraw else ""
        self.stream.write(f"{end_of_bar}ALARM {alarm['name']}: {alarm['message']}\n  try: {alarm['advice']}\n")

    def status(self, trainer, row: dict) -> str:
        c = trainer.config
        total = c.epochs * c.steps_per_epoch
        eta = eta_seconds(total - trainer.step, c.batch_size, trainer.images_per_s)
        return (f"epoch {trainer.epoch + (trainer.batch > 0)}/{c.epochs} step {trainer.step}/{total} "
                f"{trainer.images_per_s:,.0f} img/s ETA {duration_text(eta)} "
                f"D(x) {row['d_real']:.2f} D(G(z)) {row['d_fake']:.2f} G {row['g_loss']:.3f}")

    def on_log(self, trainer, rows):
        self.row = rows[-1]
        if self.redraw:
            c = trainer.config
            done = int(self.width * trainer.step / (c.epochs * c.steps_per_epoch))
            self.stream.write(f"\r[{'#' * done}{'.' * (self.width - done)}] {self.status(trainer, self.row)}  ")
            self.stream.flush()
        elif time.monotonic() - self.last_line >= self.line_seconds:
            self.write_line(trainer)

    def on_epoch_end(self, trainer):
        if not self.redraw and self.row is not None:
            self.write_line(trainer)

    def write_line(self, trainer):
        self.stream.write(self.status(trainer, self.row) + "\n")
        self.stream.flush()
        self.last_line = time.monotonic()

    def on_train_end(self, trainer, status):
        if self.redraw:
            self.stream.write("\n")
        self.stream.flush()


def cmd_runs(args, store) -> int:
    infos = store.list()
    if args.json:
        print(json.dumps(infos, indent=1))
        return 0
    if not infos:
        print(f"no runs in {store.root}")
        return 0
    print(f"{'run':34} {'status':12} {'family':7} {'epochs':>11} {'duration':>12}  created")
    for i in infos:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(i["created"])) if i.get("created") else "-"
        epochs = f"{i.get('epochs_done', '?')}/{i.get('epochs', '?')}"
        family = i.get("config", {}).get("family", "?")
        print(f"{i['id']:34} {i['status']:12} {family:7} {epochs:>11} {duration_text(i.get('train_seconds')):>12}  {created}")
        if i["status"] in ("failed", "damaged") and i.get("message"):
            print(f"    {i['message']}")
    return 0


def cmd_sample(args, store) -> int:
    import numpy as np

    from gan.images import grid_image, npy_bytes, png_bytes, to_uint8
    from gan.sampling import sample

    if not 1 <= args.n <= 100_000:
        raise ValueError(f"--n must be in [1, 100000], got {args.n}")
    if args.out.suffix not in (".npy", ".png"):
        raise ValueError(f"--out must end in .npy or .png, got {args.out.name}")
    images, labels = sample(store.open(args.run), args.n, epoch=args.epoch, seed=args.seed, digit=args.digit,
                            raw=args.raw)
    if args.out.suffix == ".npy":
        atomic_write(args.out, npy_bytes(to_uint8(images)))
        if labels is not None and args.digit is None:
            atomic_write(args.out.with_suffix(".labels.npy"), npy_bytes(labels.numpy().astype(np.uint8)))
    else:
        atomic_write(args.out, png_bytes(grid_image(images, nrow=int(np.ceil(np.sqrt(args.n))))))
    print(f"wrote {args.n} images to {args.out}")
    return 0


def cmd_eval(args, store) -> int:
    from gan.metrics import evaluate  # the classifier loads only for this command
    from gan.sampling import sample

    if not 100 <= args.n <= 10_000:
        raise ValueError(f"--n must be in [100, 10000], got {args.n}")
    run = store.open(args.run)
    images, labels = sample(run, args.n, epoch=args.epoch, seed=args.seed, raw=args.raw)
    epoch = args.epoch if args.epoch is not None else run.load_checkpoint()["epoch"]
    metrics = evaluate(images, labels=labels.numpy() if labels is not None else None)
    generator = "raw" if args.raw or not run.config().ema_halflife else "average"
    print(json.dumps({"run": run.id, "epoch": epoch, "generator": generator, **metrics}, indent=1))
    return 0


def cmd_report(args, store) -> int:
    from gan.report import report_files  # matplotlib and plotly load only for this command

    for name, data in report_files(store.open(args.run)).items():
        atomic_write(args.out / name, data)
        print(f"wrote {args.out / name}")
    return 0
