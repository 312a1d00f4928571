"""Helpers shared by the test modules: run the CLI in-process, and check a user error is one clean line."""

from __future__ import annotations

from speedoflight.cli.app import main


def run(capsys, *argv):
    """Run ``speedoflight ARGV`` in this process; return (exit status, stdout, stderr)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(capsys, argv, *words):
    """Assert ``argv`` exits 2 with one ``speedoflight: error:`` line holding every word (case-insensitive)."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("speedoflight: error:")
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in lines[0].lower(), (w, lines[0])
    return lines[0]


def small_dump(tmp_path, name="d.npz", **change):
    """The shipped small dump's first 64 rows, each named array passed through its function; return the path."""
    import json

    import numpy as np

    from speedoflight.readers.dumpfile import write_dump

    with np.load("data/smollm2-t1.npz") as z:
        arrays = {k: np.asarray(z[k])[:64] for k in z.files if k != "metadata"}
        meta = json.loads(str(z["metadata"]))
    for k in ("format", "version"):
        meta.pop(k, None)
    for k, f in change.items():
        arrays[k] = f(arrays[k])
    path = tmp_path / name
    write_dump(str(path), arrays, meta)
    return str(path)
