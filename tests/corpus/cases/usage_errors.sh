# Command-line usage errors: one line with the "headprune: error:" prefix (CLI11 printed two lines without it).
expect_fail 2 'config is required' -- "$BIN" run
expect_fail 2 'not expected: --no-such-flag' -- "$BIN" merge m.h5 results.h5 --no-such-flag
expect_fail 2 'compress' -- "$BIN" import-features --tsv data/features.tsv --out x.h5 --compress 12
