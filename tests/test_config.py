import dataclasses
import json

import pytest

from gan.config import PRESETS, REPORT_SNAPSHOT_EPOCHS, ConfigError, TrainConfig, applicable_fields, preset

# one out-of-range (or out-of-set) value per field, and the range its message must state
BAD_VALUES = {
    "family": ("transformer", "one of 'dcgan', 'mlp'"),
    "loss": ("wasserstein-9000", "one of 'bce', 'hinge', 'lsgan', 'wgan-gp'"),
    "clusters": (201, "[0, 200]"),
    "noise_dim": (0, "[1, 1024]"),
    "noise": ("cauchy", "one of 'uniform', 'normal'"),
    "hidden": (5000, "[8, 4096]"),
    "dense": (5000, "[0, 4096]"),
    "leaky_slope": (-0.1, "[0.0, 1.0]"),
    "dropout": (0.95, "[0.0, 0.9]"),
    "epochs": (0, "[1, 10000]"),
    "batch_size": (0, "[1, 60000]"),
    "lr_g": (0.0, "(0.0, 1.0]"),
    "lr_d": (1.5, "(0.0, 1.0]"),
    "beta1_g": (1.0, "[0.0, 1.0)"),
    "beta2_g": (-0.5, "[0.0, 1.0)"),
    "beta1_d": (2.0, "[0.0, 1.0)"),
    "beta2_d": (1.0, "[0.0, 1.0)"),
    "real_label": (0.0, "(0.0, 1.0]"),
    "d_steps": (11, "[1, 10]"),
    "gp_weight": (-1.0, "[0.0, 100.0]"),
    "train_split": ("tf-50k", "one of 'all', 'tf-55k'"),
    "train_images": (60001, "[1, 60000]"),
    "ema_halflife": (-1, "[0, 10000000]"),
    "ema_rampup": (1.5, "[0.0, 1.0]"),
    "mode_seeking": (-0.1, "[0.0, 10.0]"),
    "aux_classifier": (10.5, "[0.0, 10.0]"),
    "r1_gamma": (-0.5, "[0.0, 100.0]"),
    "r1_every": (0, "[1, 1000]"),
    "seed": (-1, "[0, 2147483647]"),
    "device": ("tpu", "one of 'auto', 'cpu', 'cuda', 'mps'"),
    "snapshot_epochs": ((0, 20000), "[0, 10000]"),
    "grid_size": (17, "[1, 16]"),
    "eval_samples": (10_001, "[0, 10000]"),
    "checkpoint_every": (0, "[1, 10000]"),
}


def test_every_validated_field_has_a_bad_value_case():
    ranged = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata["low"] is not None or f.metadata["choices"]}
    assert ranged | {"family", "loss"} == set(BAD_VALUES)


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_field_gives_one_message_naming_field_and_range(name):
    value, allowed = BAD_VALUES[name]
    with pytest.raises(ConfigError) as info:
        TrainConfig(**{name: value}).validate()
    assert list(info.value.errors) == [name]
    message = info.value.errors[name]
    assert message.startswith(name) and allowed in message, message


def test_several_bad_fields_are_all_reported():
    with pytest.raises(ConfigError) as info:
        TrainConfig(epochs=0, dropout=2.0, noise="x").validate()
    assert set(info.value.errors) == {"epochs", "dropout", "noise"}


@pytest.mark.parametrize("value", ["100", 1.5, True, None, float("nan")])
def test_wrong_types_are_rejected_with_the_field_name(value):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"noise_dim": value})
    assert "noise_dim" in info.value.errors


def test_conditional_must_be_a_boolean():
    with pytest.raises(ConfigError, match="conditional must be true or false"):
        TrainConfig.from_dict({"conditional": 1})


def test_batch_larger_than_the_dataset_is_rejected():
    with pytest.raises(ConfigError, match="batch_size must be at most train_images"):
        TrainConfig(train_images=50, batch_size=100).validate()


def test_unknown_field_is_rejected():
    with pytest.raises(ConfigError, match="learning_rate is not a config field"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_json_round_trip_preserves_every_field():
    config = TrainConfig(epochs=7, snapshot_epochs=(0, 3, 7), noise="normal", lr_g=1e-4)
    assert TrainConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["snapshot_epochs"] == [0, 3, 7]


def test_invalid_json_is_a_config_error():
    with pytest.raises(ConfigError, match="not valid JSON"):
        TrainConfig.from_json("{epochs: 3")


def test_report_preset_matches_the_report():
    c = preset("report-2019")
    assert (c.batch_size, c.noise_dim, c.noise, c.hidden, c.leaky_slope, c.dropout) == (100, 100, "uniform", 128, 0.01, 0.2)
    assert (c.lr_g, c.lr_d, c.beta1_g, c.beta2_g, c.beta1_d, c.beta2_d) == (0.002, 0.002, 0.9, 0.999, 0.9, 0.999)
    assert (c.real_label, c.epochs, c.family, c.loss, c.mode_seeking) == (0.9, 500, "mlp", "bce", 0.0)
    assert "report-2019" in PRESETS


def test_the_report_trains_on_tensorflows_55000_images_in_550_steps_per_epoch():
    c = preset("report-2019")
    assert (c.train_split, c.train_images, c.steps_per_epoch) == ("tf-55k", 55_000, 550)


def test_more_training_images_than_the_split_holds_are_refused_naming_the_split():
    with pytest.raises(ConfigError) as info:
        TrainConfig(train_split="tf-55k", train_images=60_000).validate()
    assert info.value.errors == {
        "train_images": "train_images must be at most 55000, the size of train_split 'tf-55k', got 60000"}


# what the README's presets table promises, written out here rather than read back from PRESETS
DCGAN_AS_DOCUMENTED = dict(family="dcgan", loss="bce", batch_size=64, lr_g=5e-4, lr_d=5e-4, beta1_g=0.5, beta2_g=0.999,
                           beta1_d=0.5, beta2_d=0.999, dropout=0.0, d_steps=1, conditional=False,
                           mode_seeking=0.0, aux_classifier=0.0, r1_gamma=0.0)  # README: only cgan-ac and
# dcgan-clusters turn these on


@pytest.mark.parametrize("name, documented", [
    ("dcgan", DCGAN_AS_DOCUMENTED),
    ("cgan", {**DCGAN_AS_DOCUMENTED, "conditional": True}),
    ("wgan-gp", {**DCGAN_AS_DOCUMENTED, "loss": "wgan-gp", "lr_g": 2e-4, "lr_d": 2e-4, "beta2_g": 0.9, "beta2_d": 0.9,
                 "d_steps": 5, "gp_weight": 10.0}),
    ("dcgan-clusters", {**DCGAN_AS_DOCUMENTED, "clusters": 200, "ema_halflife": 10_000, "ema_rampup": 0.05, "epochs": 20,
                        "r1_gamma": 0.1, "r1_every": 16, "mode_seeking": 0.15, "hidden": 32, "noise_dim": 64}),
    ("cgan-ac", {**DCGAN_AS_DOCUMENTED, "conditional": True, "ema_halflife": 10_000, "ema_rampup": 0.05,
                 "aux_classifier": 0.3, "mode_seeking": 0.3, "epochs": 14, "hidden": 32, "noise_dim": 64}),
])
def test_the_other_presets_hold_the_documented_settings(name, documented):
    config = preset(name)
    assert {field: getattr(config, field) for field in documented} == documented


def test_only_the_fields_a_family_and_loss_read_apply():
    mlp_bce = applicable_fields("mlp", "bce")
    assert {"hidden", "dropout", "real_label", "noise_dim", "epochs"} <= mlp_bce and "gp_weight" not in mlp_bce
    dcgan_wgan = applicable_fields("dcgan", "wgan-gp")
    assert "gp_weight" in dcgan_wgan and "dropout" not in dcgan_wgan and "real_label" not in dcgan_wgan


def test_default_snapshots_are_the_report_schedule_within_the_run_plus_the_last_epoch():
    assert preset("report-2019").snapshot_schedule() == list(REPORT_SNAPSHOT_EPOCHS)
    assert TrainConfig(epochs=30).snapshot_schedule() == [0, 5, 10, 20, 30]
    assert TrainConfig(epochs=2).snapshot_schedule() == [0, 2]


def test_explicit_snapshots_beyond_the_run_are_dropped():
    config = TrainConfig(epochs=10, snapshot_epochs=(0, 3, 10))
    assert config.snapshot_schedule() == [0, 3, 10]
    assert TrainConfig(epochs=10, snapshot_epochs=(0, 3, 50)).snapshot_schedule() == [0, 3]


def test_the_error_text_joins_one_message_per_bad_field():
    with pytest.raises(ConfigError) as info:
        TrainConfig(epochs=0, dropout=2.0).validate()
    assert str(info.value) == "dropout must be in [0.0, 0.9], got 2.0; epochs must be in [1, 10000], got 0"


def test_replace_changes_the_given_fields_and_validates():
    config = TrainConfig().replace(epochs=3, lr_g=1e-4)
    assert (config.epochs, config.lr_g, config.lr_d) == (3, 1e-4, TrainConfig().lr_d)
    with pytest.raises(ConfigError, match="epochs must be in"):
        config.replace(epochs=0)


# -- what mutation testing of config.py found unchecked (README, "Mutation testing") ---------------
def test_refusals_name_their_field_exactly():
    cases = [
        (lambda: TrainConfig.from_dict([1, 2]), {"config": "config must be a JSON object, got list"}),
        (lambda: TrainConfig.from_json("{epochs: 3"), None),
        (lambda: TrainConfig.from_dict({"learning_rate": 0.1}),
         {"learning_rate": "learning_rate is not a config field (known: "
                           + ", ".join(sorted(TrainConfig.__dataclass_fields__)) + ")"}),
        (lambda: preset("nope"), {"preset": f"preset must be one of {', '.join(sorted(PRESETS))}, got 'nope'"}),
        # a field out of its own range is not also compared with the others
        (lambda: preset("report-2019", batch_size=70_000, train_images=600),
         {"batch_size": "batch_size must be in [1, 60000], got 70000"}),
        (lambda: preset("report-2019", batch_size=601, train_images=600),
         {"batch_size": "batch_size must be at most train_images (600), got 601"}),
        (lambda: preset("cgan", batch_size=1, mode_seeking=0.1),  # the term pairs the fakes of a batch
         {"batch_size": "batch_size must be at least 2 with mode_seeking (it pairs the fakes), got 1"}),
        (lambda: preset("cgan", batch_size=1, mode_seeking=-0.1),  # a bad weight is not also compared
         {"mode_seeking": "mode_seeking must be in [0.0, 10.0], got -0.1"}),
        (lambda: preset("dcgan", aux_classifier=0.5),  # nothing to classify without digits or clusters
         {"aux_classifier": "aux_classifier needs labels to classify: turn on conditional or clusters, "
                            "or set aux_classifier to 0"}),
        (lambda: preset("dcgan", aux_classifier=-0.5),  # out of range: the range is the message
         {"aux_classifier": "aux_classifier must be in [0.0, 10.0], got -0.5"}),
    ]
    for make, errors in cases:
        with pytest.raises(ConfigError) as refused:
            make()
        if errors is None:
            assert list(refused.value.errors) == ["config"]
        else:
            assert refused.value.errors == errors
    assert preset("report-2019", batch_size=600, train_images=600).batch_size == 600  # equal is allowed
    assert preset("cgan", batch_size=1).batch_size == 1  # one image a batch is fine without mode seeking
    assert preset("cgan", batch_size=2, mode_seeking=0.1).batch_size == 2  # and one pair with it
    assert preset("cgan", aux_classifier=0.5).aux_classifier == preset("dcgan-clusters", aux_classifier=0.5).aux_classifier


@pytest.mark.parametrize("field, value, message", [
    ("epochs", "ten", "epochs must be int in [1, 10000], got 'ten'"),
    ("lr_g", True, "lr_g must be float in (0.0, 1.0], got True"),  # a bool is not a number
    ("lr_g", float("inf"), "lr_g must be float in (0.0, 1.0], got inf"),
    ("snapshot_epochs", (1, "x"), "snapshot_epochs must be a list of whole epochs, got (1, 'x')"),
])
def test_a_value_of_the_wrong_type_given_directly_is_refused_with_the_range(field, value, message):
    with pytest.raises(ConfigError) as refused:
        preset("report-2019", **{field: value})  # not through from_dict: validate() alone must catch it
    assert refused.value.errors == {field: message}


def test_snapshot_epochs_may_reach_the_highest_epoch():
    assert preset("report-2019", epochs=10_000, snapshot_epochs=(10_000,)).snapshot_epochs == (10_000,)


@pytest.mark.parametrize("changes, errors", [
    ({"clusters": 1}, {"clusters": "clusters must be 0 (off) or between 2 and 200, got 1"}),
    ({"clusters": 10, "conditional": True},
     {"clusters": "clusters replaces the digit labels: turn off conditional to use clusters, or set clusters to 0"}),
    ({"clusters": 11, "train_images": 10}, {"clusters": "clusters must be at most train_images (10), got 11"}),
    # a field that is itself wrong is named once, without a second message about the clusters
    ({"clusters": 500, "train_images": 100}, {"clusters": "clusters must be in [0, 200], got 500"}),
    ({"clusters": 10, "conditional": "yes"}, {"conditional": "conditional must be true or false, got 'yes'"}),
    ({"clusters": 10, "train_images": 0}, {"train_images": "train_images must be in [1, 60000], got 0"}),
])
def test_clusters_are_refused_with_one_message_naming_the_field(changes, errors):
    with pytest.raises(ConfigError) as refused:
        preset("dcgan", batch_size=1, **changes)
    assert refused.value.errors == errors


def test_the_smallest_and_the_largest_cluster_counts_are_allowed():
    assert preset("dcgan", clusters=2).clusters == 2
    assert preset("dcgan", clusters=10, train_images=10, batch_size=10).clusters == 10  # as many as images
