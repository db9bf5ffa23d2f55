# config.json with num_attention_heads: 0 (a division by zero, SIGFPE, in run and conformance) -> exit 2 naming the key.
py 'import json; p="lxmert/config.json"; c=json.load(open(p)); c["num_attention_heads"]=0; json.dump(c, open(p,"w"))'
expect_fail 2 'lxmert/config\.json: .*num_attention_heads' -- "$BIN" run run.yaml
expect_fail 2 'lxmert/config\.json: .*num_attention_heads' -- "$BIN" conformance --reference lxmert
