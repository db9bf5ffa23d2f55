#!/usr/bin/env bash
# Sourced by the shell tests: scoring_methods BIN SRC prints every scoring method of the binary's
# registry (src/explain/registry.cpp), comma-separated in table order, so that tests cover a method
# as soon as it is registered. They are read off the config check's refusal of an unknown method
# ("must be one of ours, lrp, ... (got 'no_such_method')"); returns 1 when the line does not have that form.
scoring_methods() { # BIN SRC
  local line names
  line="$("$1" run --check "$2/configs/lxmert_debug.yaml" 'scoring.methods=[no_such_method]' 2>&1 >/dev/null || true)"
  names="$(sed -n 's/.*must be one of \(.*\) (got .*/\1/p' <<<"$line" | tr -d ' ')"
  if [[ ",$names," != *,ours,* || ",$names," != *,random,* ]]; then
    echo "scoring_methods: no method list in: $line" >&2
    return 1
  fi
  echo "$names"
}
