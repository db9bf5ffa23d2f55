#include "headprune/prune/units.hpp"

#include "headprune/common/error.hpp"

namespace headprune::prune {

const char* count_rule_name(CountRule r) {
  switch (r) {
    case CountRule::keep_floor: return "keep_floor";
    case CountRule::prune_floor: return "prune_floor";
    case CountRule::nearest: return "nearest";
  }
  return "?";
}
const char* granularity_name(Granularity g) { return g == Granularity::head ? "head" : "layer"; }
const char* sign_name(Sign s) { return s == Sign::positive ? "positive" : "negative"; }
const char* module_kind_name(ModuleKind k) {
  switch (k) {
    case ModuleKind::all: return "all";
    case ModuleKind::text: return "text";
    case ModuleKind::image: return "image";
    case ModuleKind::cross: return "cross";
    case ModuleKind::joint: return "joint";
  }
  return "?";
}

CountRule parse_count_rule(const std::string& name, const std::string& where) {
  for (CountRule r : {CountRule::keep_floor, CountRule::prune_floor, CountRule::nearest})
    if (name == count_rule_name(r)) return r;
  throw UserError(where + ": unknown count rule '" + name + "' (expected keep_floor, prune_floor or nearest)");
}

}  // namespace headprune::prune
