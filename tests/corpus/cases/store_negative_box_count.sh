# A feature store index with a negative box count, consistent with /box_offset and the row count
# (today: vector::_M_default_append, exit 1) -> exit 2 naming the store, the dataset and the image.
py "
import h5py
with h5py.File('data/features.h5', 'r+') as f:
    nb = f['num_boxes'][:]; off = f['box_offset'][:]
    nb[1] = -3; nb[2] += 10; off[2] -= 10   # image 2 takes the rows image 1 gave up
    f['num_boxes'][:] = nb; f['box_offset'][:] = off"
expect_fail 2 'data/features\.h5: .*(num_boxes|box_offset).*tiny_img_1' -- "$BIN" run run.yaml
