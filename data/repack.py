"""Re-pack .npz files with LZMA instead of deflate: the same arrays, bit for bit, in fewer bytes.

    python data/repack.py data/smollm2-t1-x8.npz data/gemma3-270m-t1-x8.npz

The two dumps the default report reads ship inside the wheel, which must stay
under 10 MB; LZMA saves about 15% on them. numpy and every reader of the
package open LZMA members through ``zipfile`` like deflated ones. Each file
is checked member for member against the original before it replaces it.
"""

from __future__ import annotations

import os
import sys
import zipfile

import numpy as np


def repack(path: str) -> tuple[int, int]:
    tmp = path + ".repack.tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    with np.load(path, allow_pickle=False) as a, np.load(tmp, allow_pickle=False) as b:
        assert a.files == b.files
        for k in a.files:
            x, y = a[k], b[k]
            assert x.dtype == y.dtype, (path, k)
            assert x.shape == y.shape, (path, k)
            assert x.tobytes() == y.tobytes(), (path, k)
    before, after = os.path.getsize(path), os.path.getsize(tmp)
    os.replace(tmp, path)
    return before, after


if __name__ == "__main__":
    for p in sys.argv[1:]:
        b, a = repack(p)
        print(f"{p}: {b:,} -> {a:,} bytes")
