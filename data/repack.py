"""Re-pack the shipped .npz dumps for size and speed: the same arrays, bit for bit.

    python data/repack.py data/smollm2-t1-x8.npz data/gemma3-270m-t1-x8.npz

The two dumps the default report reads ship inside the wheel, whose data must
stay under 10 MB, and are decompressed by every ``report`` and ``compare`` on
the shipped data. Each member is stored the way that pays: the token ids
(``topk_ids``) with LZMA, which saves 0.3 MB a file over deflate; every other
member with deflate (level 9), which LZMA would shrink by under 15% while
taking 5 to 10 times as long to inflate (``topk_logprobs`` alone: 0.3 MB
smaller, 0.7 s slower a read on these machines). numpy and every reader of the
package open LZMA members through ``zipfile`` like deflated ones. Each file is
checked member for member against the original before it replaces it.
"""

from __future__ import annotations

import os
import sys
import zipfile

import numpy as np

#: Members stored with LZMA; the rest are deflated.
LZMA_MEMBERS = {"topk_ids.npy"}


def repack(path: str) -> tuple[int, int]:
    tmp = path + ".repack.tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            lzma = info.filename in LZMA_MEMBERS
            dst.writestr(
                info.filename,
                src.read(info.filename),
                compress_type=zipfile.ZIP_LZMA if lzma else zipfile.ZIP_DEFLATED,
                compresslevel=None if lzma else 9,
            )
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
