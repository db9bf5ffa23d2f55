# An output in a folder that does not exist: refused before the inputs load, naming the folder.
expect_fail 2 'no/such/out\.h5: folder no/such does not exist' -- "$BIN" run run.yaml output.path=no/such/out.h5
expect_fail 2 'no/such/store\.h5: folder no/such does not exist' -- "$BIN" import-features --tsv data/features.tsv --out no/such/store.h5
