# Corrupt contents of a conformance reference.h5 (token ids outside the vocabulary, datasets of the
# wrong shape or type) -> exit 2 naming the dataset (today: LibTorch messages, exit 1).
cp lxmert/reference.h5 good.h5
edit() { cp good.h5 lxmert/reference.h5; py "import h5py, numpy as np
with h5py.File('lxmert/reference.h5', 'r+') as f:
    $1"; }
edit "f['sample_000/inputs/input_ids'][0, 1] = 5000"
expect_fail 2 'reference\.h5:/sample_000/inputs/input_ids: .*5000' -- "$BIN" conformance --reference lxmert
edit "f['sample_001/inputs/input_ids'][0, 1] = -1"
expect_fail 2 'reference\.h5:/sample_001/inputs/input_ids' -- "$BIN" conformance --reference lxmert
edit "f['sample_000/inputs/token_type_ids'][0, 0] = 9"
expect_fail 2 'reference\.h5:/sample_000/inputs/token_type_ids' -- "$BIN" conformance --reference lxmert
edit "v = f['sample_000/inputs/visual_feats'][:]; del f['sample_000/inputs/visual_feats']; f['sample_000/inputs/visual_feats'] = v[..., :7]"
expect_fail 2 'reference\.h5:/sample_000/inputs/visual_feats' -- "$BIN" conformance --reference lxmert
edit "v = f['sample_000/inputs/input_ids'][:]; del f['sample_000/inputs/input_ids']; f['sample_000/inputs/input_ids'] = v[0]"
expect_fail 2 'reference\.h5:/sample_000/inputs/input_ids' -- "$BIN" conformance --reference lxmert
edit "v = f['sample_000/inputs/input_ids'][:]; del f['sample_000/inputs/input_ids']; f['sample_000/inputs/input_ids'] = v.astype(np.float64) + 0.5"
expect_fail 2 'reference\.h5:/sample_000/inputs/input_ids' -- "$BIN" conformance --reference lxmert
edit "del f['sample_000/logits_nolrp']; f['sample_000/logits_nolrp'] = np.zeros((1, 5))"
expect_fail 2 'reference\.h5:/sample_000/logits_nolrp' -- "$BIN" conformance --reference lxmert
edit "f['sample_000/inputs/attention_mask'][0, :] = 0"
expect_fail 2 'reference\.h5:/sample_000/inputs/attention_mask: .*fewer than 2 tokens' -- "$BIN" conformance --reference lxmert
edit "f['meta/prune_steps'][3] = 7"
expect_fail 2 'reference\.h5:/meta/prune_steps: ratio 7' -- "$BIN" conformance --reference lxmert
# VisualBERT reads its answer token at input_mask.sum - 2 (today: an internal-error abort).
cp -r "$SRC/tests/data/visualbert" vb
py "import h5py
with h5py.File('vb/reference.h5', 'r+') as f:
    f['sample_002/model_inputs/input_mask'][0, 1:] = 0"
expect_fail 2 'vb/reference\.h5:/sample_002/model_inputs/input_mask: .*fewer than 2 tokens' -- "$BIN" conformance --reference vb
py "import h5py
with h5py.File('vb/reference.h5', 'r+') as f:
    f['sample_002/model_inputs/input_mask'][0, 1:] = 1
    f['sample_002/model_inputs/image_mask'][0, 0] = 3"
expect_fail 2 'vb/reference\.h5:/sample_002/model_inputs/image_mask: values other than 0 and 1' -- "$BIN" conformance --reference vb
