# obj36 TSV boxes with a negative coordinate or x2 < x1 / y2 < y1 (accepted silently today) -> exit 2
# naming the file, the line, the column and the box; no store left behind.
bad_box() {  # OUT BOX_INDEX X1 Y1 X2 Y2: line 3 of features.tsv with one box replaced
  py "
import base64, numpy as np
lines = open('data/features.tsv').read().splitlines()
c = lines[2].split('\t')
b = np.frombuffer(base64.b64decode(c[8]), dtype=np.float32).reshape(-1, 4).copy()
b[$2] = [$3, $4, $5, $6]
c[8] = base64.b64encode(b.tobytes()).decode()
lines[2] = '\t'.join(c)
open('$1', 'w').write('\n'.join(lines) + '\n')"
}
bad_box negative.tsv 4 -2.5 10 30 40
expect_fail 2 "negative\\.tsv:3: column 'boxes' \\(image tiny_img_2\\): box 4" -- "$BIN" import-features --tsv negative.tsv --out negative.h5
bad_box inverted_x.tsv 1 50 10 30 40
expect_fail 2 "inverted_x\\.tsv:3: column 'boxes' \\(image tiny_img_2\\): box 1" -- "$BIN" import-features --tsv inverted_x.tsv --out inverted_x.h5
bad_box inverted_y.tsv 0 10 50 30 40
expect_fail 2 "inverted_y\\.tsv:3: column 'boxes' \\(image tiny_img_2\\): box 0" -- "$BIN" import-features --tsv inverted_y.tsv --out inverted_y.h5
