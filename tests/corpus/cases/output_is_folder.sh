# An output path that is an existing folder, even with --overwrite: refused before any work (it used to
# run the whole job and fail at the rename, leaving out.tmp and out.partial/), for every command that writes.
mkdir outdir
expect_fail 2 'outdir: is a folder \(expected a file path for the output\)' -- "$BIN" run run.yaml output.path=outdir --overwrite
expect_fail 2 'outdir: is a folder' -- "$BIN" merge outdir results.h5 --overwrite
expect_fail 2 'outdir: is a folder' -- "$BIN" import-features --tsv data/features.tsv --out outdir --overwrite
expect_fail 2 'outdir: is a folder' -- "$BIN" conformance --reference lxmert --out outdir --overwrite
