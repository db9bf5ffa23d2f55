# conformance --out that stops on an error (a folder that is no fixture) leaves no OUT.partial.
mkdir notafixture
expect_fail 2 'notafixture' -- "$BIN" conformance --reference notafixture --out conf.h5
py "
import h5py
with h5py.File('lxmert/reference.h5', 'r+') as f:
    f.attrs['kind'] = 'bert'"
expect_fail 2 "reference\.h5: attribute 'kind' is 'bert'" -- "$BIN" conformance --reference lxmert --out conf.h5
