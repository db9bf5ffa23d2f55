# A tensor shape whose byte count overflows 64 bits (2^62 x 4 float32 = 2^64 bytes = 0 mod 2^64, so
# data_offsets [0, 0] "match") -> exit 2 naming the file and the tensor, not an allocation failure.
py "
import json, struct
b = open('lxmert/model.safetensors', 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
h['huge'] = {'dtype': 'F32', 'shape': [2**62, 4], 'data_offsets': [0, 0]}
t = json.dumps(h).encode()
t += b' ' * (-(8 + len(t)) % 8)
open('lxmert/model.safetensors', 'wb').write(struct.pack('<Q', len(t)) + t + b[8 + n:])"
expect_fail 2 "lxmert/model\\.safetensors: tensor 'huge': .*shape" -- "$BIN" run run.yaml
