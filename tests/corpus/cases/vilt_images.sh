# ViLT's image inputs broken every way a user can break them -> exit 2, one line naming the file or key.
cp -r "$SRC/tests/data/vilt" vilt
mkdir -p imgs
for id in 0 1 2 3; do cp vilt/images/COCO_val2014_000000000042.png "imgs/tiny_img_$id.png"; done
vilt_run() { "$BIN" run run.yaml model.family=vilt model.path="$W/vilt" data.features= "$@"; }
# No data.images for a pixel model; a folder that is not there; an image that is missing.
expect_fail 2 "run\.yaml: missing required key .data\.features. or .data\.images." -- vilt_run data.answers=~
# A region-feature store given to a pixel model.
expect_fail 2 "data\.images: required for model family vilt" -- vilt_run data.answers=~ data.features="$W/data/features.h5"
expect_fail 2 "$W/none: image folder not found \(data\.images\)" -- vilt_run data.answers=~ data.images="$W/none"
mv imgs/tiny_img_2.png keep.png
expect_fail 2 "$W/imgs: no image file for image tiny_img_2 .*data\.on_missing" -- vilt_run data.answers=~ data.images="$W/imgs"
# A truncated JPEG under an image's name, and an empty PNG.
head -c 40 vilt/images/COCO_val2014_000000000099.jpg > imgs/tiny_img_2.jpg
expect_fail 2 "$W/imgs/tiny_img_2\.jpg: not a readable JPEG \(libjpeg: " -- vilt_run data.answers=~ data.images="$W/imgs"
rm imgs/tiny_img_2.jpg && : > imgs/tiny_img_2.png
expect_fail 2 "$W/imgs/tiny_img_2\.png: cannot decode image" -- vilt_run data.answers=~ data.images="$W/imgs"
mv keep.png imgs/tiny_img_2.png
# The image processor's settings: a resample filter it does not implement, a bad size.
py "import json; p='vilt/preprocessor_config.json'; c=json.load(open(p)); c['resample']=2; json.dump(c, open(p,'w'))"
expect_fail 2 "vilt/preprocessor_config\.json: .*'resample'" -- vilt_run data.answers=~ data.images="$W/imgs"
py "import json; p='vilt/preprocessor_config.json'; c=json.load(open(p)); c['resample']=3; c['size']={'shortest_edge': -4}; json.dump(c, open(p,'w'))"
expect_fail 2 "vilt/preprocessor_config\.json: key 'size\.shortest_edge' expected an integer" -- vilt_run data.answers=~ data.images="$W/imgs"
cp "$SRC/tests/data/vilt/preprocessor_config.json" vilt/
# A checkpoint that samples patches at random (no run could be reproduced).
py "import json; p='vilt/config.json'; c=json.load(open(p)); c['max_image_length']=200; json.dump(c, open(p,'w'))"
expect_fail 2 "vilt/config\.json: key 'max_image_length' is 200" -- vilt_run data.answers=~ data.images="$W/imgs"
