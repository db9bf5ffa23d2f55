# config.json sizes that are negative, zero or inconsistent never reach LibTorch -> exit 2 naming the key.
set_key() { py "import json; p='lxmert/config.json'; c=json.load(open(p)); c['$1']=$2; json.dump(c, open(p,'w'))"; }
cp lxmert/config.json good.json
for key in hidden_size intermediate_size vocab_size max_position_embeddings type_vocab_size visual_feat_dim \
           visual_pos_dim num_qa_labels l_layers r_layers; do
  cp good.json lxmert/config.json
  set_key "$key" -8
  expect_fail 2 "lxmert/config\\.json: .*'?$key'?" -- "$BIN" run run.yaml
done
for key in hidden_size vocab_size max_position_embeddings type_vocab_size num_qa_labels; do
  cp good.json lxmert/config.json
  set_key "$key" 0
  expect_fail 2 "lxmert/config\\.json: .*'?$key'?" -- "$BIN" run run.yaml
done
cp good.json lxmert/config.json
set_key num_attention_heads 5   # 32 is not a multiple of 5
expect_fail 2 "lxmert/config\\.json: .*hidden_size.*num_attention_heads" -- "$BIN" run run.yaml
cp good.json lxmert/config.json
set_key hidden_size 9223372036854775807   # an int64 that overflows every size computed from it
expect_fail 2 "lxmert/config\\.json: .*hidden_size" -- "$BIN" run run.yaml
