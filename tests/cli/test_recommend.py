"""``qfab recommend DATA.csv``: a few lines of recommendation and forecast, an HTML report, and every
user error as one line on stderr with exit code 2."""
import numpy as np
import pytest

from qfab.cli.main import main
from qfab.cli.recommend import load_csv, parse_candidate

SMALL = "hea-L1-uniform-local-angle,hea-L2-small_angle-local-angle"


def _write(path, rows, header="f1,f2,label"):
    path.write_text(header + "\n" + "\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    return path


@pytest.fixture
def moons_csv(tmp_path):
    from sklearn.datasets import make_moons

    X, y = make_moons(48, noise=0.1, random_state=1)
    labels = np.where(y == 1, "up", "down")
    return _write(tmp_path / "moons.csv", [(a, b, c) for (a, b), c in zip(X, labels)])


def test_recommend_prints_the_choice_and_forecast_and_writes_the_report(moons_csv, tmp_path, capsys):
    out = tmp_path / "rec.html"
    code = main(["recommend", str(moons_csv), "--budget", "10", "--epochs", "4", "--candidates", SMALL,
                 "--report", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "recommended: hea-L" in printed and "forecast test accuracy" in printed
    assert "QuantumClassifier(ansatz=" in printed and "report:" in printed
    assert len(printed.strip().splitlines()) <= 8
    assert "data:image/png;base64" in out.read_text()


def test_load_csv_label_column_by_name_and_index(tmp_path):
    path = _write(tmp_path / "d.csv", [(1, "a", 0.5), (2, "b", 0.25), (3, "a", 1)], header="x,cls,z")
    X, y, names, label = load_csv(path, "cls")
    assert names == ["x", "z"] and label == "cls" and list(y) == ["a", "b", "a"] and X.shape == (3, 2)
    X, y, names, label = load_csv(path, "1")
    assert label == "cls"
    numeric = _write(tmp_path / "n.csv", [(1, 7, 0.5), (2, 8, 0.25), (3, 7, 1)], header="x,k,z")
    X, y, names, label = load_csv(numeric, "0")
    assert label == "x" and y.dtype.kind == "i" and names == ["k", "z"]


@pytest.mark.parametrize("args, words", [
    (["missing.csv"], ["no such file", "missing.csv"]),
    (["{bad}"], ["column 'f2' holds 'oops'", "not a number"]),
    (["{ok}", "--label-column", "nope"], ["no column 'nope'"]),
    (["{ok}", "--candidates", "hea-3"], ["write ansatz-L<layers>"]),
    (["{ok}", "--candidates", "foo-L1-uniform-local-angle"], ["unknown ansatz 'foo'"]),
    (["{one_class}", "--candidates", SMALL], ["at least two classes"]),
    (["{ok}", "--budget", "0"], ["--budget must be positive"]),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, args, words):
    files = {"bad": _write(tmp_path / "bad.csv", [(1, "oops", 0), (2, 3, 1), (0, 1, 0)]),
             "ok": _write(tmp_path / "ok.csv", [(i, i % 3, i % 2) for i in range(12)]),
             "one_class": _write(tmp_path / "one.csv", [(1, 2, 0), (2, 3, 0), (0, 1, 0)])}
    argv = ["recommend"] + [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert err.startswith("qfab recommend: ")
    for word in words:
        assert word in err, err


def test_parse_candidate():
    assert parse_candidate("alternating-L3-small_angle-global-dense_angle") == dict(
        ansatz="alternating", layers=3, initializer="small_angle", cost="global", encoding="dense_angle")
