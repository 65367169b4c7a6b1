"""Workload files: every field checked on load, before any work, each bad one refused with a
ConfigurationError naming the file, the field and the value (issue 18)."""
from __future__ import annotations

import pytest

from qfab.design import CodesignWorkload, Variant, WorkloadError, load_workload
from qfab.errors import ConfigurationError, QfabError


@pytest.mark.parametrize("body, field, value", [
    ("[model]\nlayers = 2.5\n", "[model] layers", "2.5"),                   # not truncated to 2
    ("[model]\nlayers = 2.0\n", "[model] layers", "2.0"),
    ("[model]\nlayers = \"two\"\n", "[model] layers", "'two'"),
    ("[model]\nlayers = 0\n", "[model] layers", "0"),
    ("[model]\nencoding = \"angel\"\n", "[model] encoding", "'angel'"),
    ("[model]\nentangler = \"cq\"\n", "[model] entangler", "'cq'"),
    ("[model]\nansatz = \"heaa\"\n", "[model] ansatz", "'heaa'"),
    ("[model]\nobservable = 3\n", "[model] observable", "3"),
    ("[model]\nqubits = true\n", "[model] qubits", "True"),
    ("[space]\nboards = \"pynq-z2\"\n", "[space] boards", "'pynq-z2'"),      # not split into letters
    ("[space]\ndevices = \"cpu\"\n", "[space] devices", "'cpu'"),
    ("[space]\nvariants = [{ansatz = \"hea\", layers = 1.5}]\n", "[space] variants[0] layers", "1.5"),
    ("[space]\nvariants = [{ansatz = \"hea\", entangler = \"cxx\"}]\n", "[space] variants[0] entangler", "'cxx'"),
    ("[space]\nvariants = [{ansatz = \"hea\", depth = 3}]\n", "[space] variants[0]", "['depth']"),
    ("[space]\nvariants = \"hea\"\n", "[space] variants", "'hea'"),
    ("[training]\nsamples = -3\n", "[training] samples", "-3"),
    ("[training]\nsamples = 0\n", "[training] samples", "0"),
    ("[training]\nepochs = 0\n", "[training] epochs", "0"),
    ("[training]\nepochs = 2.5\n", "[training] epochs", "2.5"),
    ("[training]\nbatch_size = -1\n", "[training] batch_size", "-1"),
    ("[training]\naccuracy = 0\n", "[training] accuracy", "0"),
    ("[training]\naccuracy = 1.0\n", "[training] accuracy", "1.0"),
    ("[training]\naccuracy = nan\n", "[training] accuracy", "nan"),
    ("[training]\naccuracy = \"1e-3\"\n", "[training] accuracy", "'1e-3'"),
    ("[training]\nseed = -1\n", "[training] seed", "-1"),
    ("name = 3\n", "name", "3"),
])
def test_a_bad_field_is_refused_naming_the_file_the_field_and_the_value(tmp_path, body, field, value):
    path = tmp_path / "workload.toml"
    path.write_text(body)
    with pytest.raises(ConfigurationError) as error:
        load_workload(path)
    message = str(error.value)
    assert isinstance(error.value, (WorkloadError, QfabError, ValueError))
    assert message.startswith(f"{path}: "), message
    assert field in message and value in message, message


@pytest.mark.parametrize("body, valid", [
    ("[model]\nencoding = \"angel\"\n", "['amplitude', 'angle', 'dense_angle']"),
    ("[model]\nentangler = \"cq\"\n", "'cx'"),
    ("[model]\nansatz = \"heaa\"\n", "'alternating', 'hea'"),
])
def test_an_unknown_name_lists_the_valid_ones(tmp_path, body, valid):
    path = tmp_path / "w.toml"
    path.write_text(body)
    with pytest.raises(WorkloadError, match="must be one of") as error:
        load_workload(path)
    assert valid in str(error.value)


def test_workload_error_is_a_configuration_error():
    assert issubclass(WorkloadError, ConfigurationError) and issubclass(WorkloadError, ValueError)


def test_the_dataclass_checks_its_own_fields_too():
    with pytest.raises(WorkloadError, match=r"\[space\] boards must be a list of strings"):
        CodesignWorkload(boards="kv260")
    with pytest.raises(WorkloadError, match=r"layers must be an integer >= 1, not 1.5"):
        CodesignWorkload(variants=(Variant("hea", 1.5),))
    with pytest.raises(WorkloadError, match=r"\[model\] encoding must be one of"):
        CodesignWorkload(encoding="basis")


def test_valid_names_still_load(tmp_path):
    path = tmp_path / "w.toml"
    path.write_text('[model]\nqubits = 3\nlayers = 1\nencoding = "dense_angle"\nentangler = "cx"\n'
                    '[space]\nboards = ["kv260"]\nvariants = [{ansatz = "alternating", layers = 3}]\n')
    workload = load_workload(path)
    assert workload.boards == ("kv260",) and workload.encoding == "dense_angle"
    assert workload.variants == (Variant("hea", 1, "cx"), Variant("alternating", 3))


def test_the_command_line_refuses_a_bad_workload_in_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    from qfab.cli.main import main
    import importlib

    calibrate = importlib.import_module("qfab.scheduling.calibrate")

    def no_work(*args, **kwargs):
        raise AssertionError("calibration started before the workload was checked")

    monkeypatch.setattr(calibrate, "ensure_calibrated", no_work)
    path = tmp_path / "w.toml"
    path.write_text("[model]\nlayers = 2.5\n")
    assert main(["codesign", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"qfab codesign: {path}: [model] layers must be an integer >= 1, not 2.5"
