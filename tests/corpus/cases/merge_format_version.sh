# `headprune merge` of a results file of format_version 2 (merged silently today) -> exit 2 naming it.
cp results.h5 v2.h5
py "
import h5py
with h5py.File('v2.h5', 'r+') as f:
    f.attrs['format_version'] = 2"
expect_fail 2 'v2\.h5: .*format_version 2' -- "$BIN" merge merged.h5 v2.h5
cp results.h5 v0.h5
py "
import h5py
with h5py.File('v0.h5', 'r+') as f:
    del f.attrs['format_version']"
expect_fail 2 'v0\.h5: .*format_version' -- "$BIN" merge merged.h5 v0.h5
