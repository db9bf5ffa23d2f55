# One NaN (or Inf) weight: today every score is NaN and the run exits 0 -> exit 2 at load naming the
# tensor and the file.
patch() {  # VALUE
  py "
import json, struct
import numpy as np
b = bytearray(open('good.safetensors', 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
e = h['lxmert.encoder.layer.1.attention.self.key.weight']
assert e['dtype'] == 'F64', e['dtype']
start = 8 + n + e['data_offsets'][0] + 8 * 5
b[start:start + 8] = np.array([$1], dtype=np.float64).tobytes()
open('lxmert/model.safetensors', 'wb').write(bytes(b))"
}
cp lxmert/model.safetensors good.safetensors
patch "np.nan"
expect_fail 2 "lxmert/model\\.safetensors: tensor 'lxmert\\.encoder\\.layer\\.1\\.attention\\.self\\.key\\.weight': .*NaN" -- "$BIN" run run.yaml
patch "-np.inf"
expect_fail 2 "lxmert/model\\.safetensors: tensor 'lxmert\\.encoder\\.layer\\.1\\.attention\\.self\\.key\\.weight': .*Inf" -- "$BIN" run run.yaml
