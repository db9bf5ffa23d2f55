# safetensors header values of the wrong JSON type (data_offsets entries null / {} / a string, shape
# wrong, dtype not a string) -> exit 2 naming the file and the tensor (today: a raw nlohmann message, exit 1).
cp lxmert/model.safetensors good.safetensors
# mutate 'PYTHON EXPRESSION of h (the header dict) and k (the first tensor name)'
mutate() {
  py "
import json, struct
b = open('good.safetensors', 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
k = sorted(x for x in h if x != '__metadata__')[0]
$1
t = json.dumps(h).encode()
t += b' ' * (-(8 + len(t)) % 8)
open('lxmert/model.safetensors', 'wb').write(struct.pack('<Q', len(t)) + t + b[8 + n:])"
}
TENSOR="tensor '[^']+'"
mutate "h[k]['data_offsets'][0] = None"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR: .*data_offsets" -- "$BIN" run run.yaml
mutate "h[k]['data_offsets'][1] = {}"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR: .*data_offsets" -- "$BIN" run run.yaml
mutate "h[k]['data_offsets'][0] = '0'"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR: .*data_offsets" -- "$BIN" run run.yaml
mutate "h[k]['data_offsets'] = [-8, 4]"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR: .*data_offsets" -- "$BIN" run run.yaml
mutate "h[k]['shape'] = 12"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR: .*shape" -- "$BIN" run run.yaml
mutate "h[k]['shape'] = [None, 2]"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR: .*shape" -- "$BIN" run run.yaml
mutate "h[k]['dtype'] = 7"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR: .*dtype" -- "$BIN" run run.yaml
mutate "h[k] = [1, 2]"
expect_fail 2 "lxmert/model\\.safetensors: $TENSOR" -- "$BIN" run run.yaml
