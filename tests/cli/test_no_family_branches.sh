#!/bin/bash
# Models describe themselves (models/model.hpp InputSpec, models/families.hpp): no code outside
# src/models/ may branch on the model family. This fails when a file outside models/ names a
# family (a string literal "lxmert", "visualbert", "visual_bert") or the family enum/accessor, so
# a third model cannot silently take another family's branch. The one allowed exception is data
# that is keyed by a fixture's `kind` attribute, marked on its line with `// fixture kind`.
# usage: test_no_family_branches.sh HEADPRUNE_BIN SOURCE_DIR
set -u
src="$2"
hits=$(cd "$src" && grep -rnE '"(lxmert|visualbert|visual_bert)"|Family::|\bfamily\(\)|family_name\(' \
         src include --include='*.cpp' --include='*.hpp' --include='*.in' \
       | grep -vE '^(src/models/|include/headprune/models/)' \
       | grep -v '// fixture kind')
if [ -n "$hits" ]; then
  echo "family branches outside src/models/ (ask the model's InputSpec or the families table instead):"
  echo "$hits"
  exit 1
fi
# The check can fail: a planted branch is found.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/run" "$tmp/include"
echo 'bool b = family == "lxmert";' > "$tmp/src/run/x.cpp"
planted=$(cd "$tmp" && grep -rnE '"(lxmert|visualbert|visual_bert)"' src include --include='*.cpp' | grep -vE '^src/models/')
[ -n "$planted" ] || { echo "the check did not find a planted branch"; exit 1; }
echo "no family branches outside src/models/"
