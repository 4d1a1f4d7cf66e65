import json
import re

import pytest

from framecast.config import build_config
from framecast.errors import UserError


def test_a_toml_file_overrides_the_preset_and_the_command_line_overrides_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('preset = "tiny"\nlr = 0.01\n[model]\nhidden = [4, 4]\n')
    config = build_config(None, path, {"lr": 0.02})
    assert config.preset == "tiny" and config.model.hidden == (4, 4) and config.train.lr == 0.02
    assert config.train.batch_size == build_config("tiny").train.batch_size  # the rest comes from the preset


@pytest.mark.parametrize("name", ["run.json", "RUN.JSON"])
def test_a_json_file_may_name_the_preset_too(tmp_path, name):
    path = tmp_path / name
    path.write_text(json.dumps({"preset": "keras-example", "train": {"epochs": 3}}))
    config = build_config(None, path)
    assert config.preset == "keras-example" and config.model.patch == 1 and config.train.epochs == 3


def test_whole_floats_and_command_line_text_are_taken():
    config = build_config("default", overrides={"kernel": [3.0, 5, 3], "epochs": 2.0, "peephole": "yes",
                                                "hidden": "8,8,8", "lr": 1})
    assert config.model.kernel == (3, 5, 3) and config.train.epochs == 2 and config.model.peephole is True
    assert config.model.hidden == (8, 8, 8) and config.train.lr == 1.0


@pytest.mark.parametrize("name, text, message", [
    ("run.json", '{"preset": "tiny"}', "names preset 'tiny', but --preset is 'default'"),
    ("run.json", "[1, 2]", "holds a list; expected a table of keys"),
    ("run.json", "{not json", "is not valid .json"),
    # Values a file typed already are not converted silently.
    ("run.toml", "lr = true", "'lr' expects a number, but got True"),
    ("run.toml", "peephole = 2", "'peephole' expects true or false, but got 2"),
    ("run.toml", "kernel = [3.9, 3.2, 3.5]", "'kernel' expects comma-separated whole numbers"),
    ("run.toml", "epochs = 2.5", "'epochs' expects a whole number"),
    ("run.toml", "activation = 3", "'activation' expects text"),
])
def test_bad_config_files_are_refused_in_one_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        build_config("default", path)
