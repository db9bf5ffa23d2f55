# A NaN in the stored features, found only while the run reads that image -> exit 2 naming the store
# and the image.
py "
import h5py, numpy as np
with h5py.File('data/features.h5', 'r+') as f:
    f['features'][9, 3] = np.nan"
expect_fail 2 'data/features\.h5: image tiny_img_1: NaN feature at box 2, dimension 3' -- "$BIN" run run.yaml
