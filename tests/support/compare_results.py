#!/usr/bin/python3
"""compare_results.py A.h5 B.h5: exit 0 when every dataset of the two results files is
bit-identical (same paths, shapes, dtypes and bytes). Attributes are not compared: meta/ holds
times, rank counts and host names that legitimately differ."""
import sys

import h5py
import numpy as np


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


a, b = (datasets(h5py.File(p, "r")) for p in sys.argv[1:3])
problems = []
if sorted(a) != sorted(b):
    problems.append("different dataset paths: %s" % sorted(set(a) ^ set(b))[:10])
for name in sorted(set(a) & set(b)):
    x, y = np.asarray(a[name]), np.asarray(b[name])
    if x.dtype == object:  # strings: compare the values, not the object pointers
        same = x.shape == y.shape and y.dtype == object and x.tolist() == y.tolist()
    else:
        same = x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    if not same:
        problems.append("%s differs" % name)
if problems:
    print("\n".join(problems[:20]))
    sys.exit(1)
print("identical: %d datasets" % len(a))
