// The pruning stage's choices, as config reads them: the unit pruned (a head or a whole attention
// module), which end of the ranking goes first, and how a ratio becomes a unit count.
//
// Sign: 'positive' removes the highest-scored (most important) units first, 'negative' the
// lowest first. How many units a ratio r of N removes is the count rule:
//   keep_floor   keep int((1 - r) * N) computed in float64 (the seed's LXMERT script; (1-0.8)*10 -> 1)
//   prune_floor  prune int(r * N) (the seed's VisualBERT script)
//   nearest      prune round(r * N), halves away from zero (new work: no float surprises)
//
// ModuleKind: the attention modules a curve may prune (prune.modalities). A module's kind follows
// from what its queries and keys cover (models/model.hpp: Segment): text self-attention (text ->
// text), image self-attention (image -> image), cross attention (one to the other), joint (a
// single-stream model's [tokens; regions] sequence); 'all' = every module, the seed's curves.
//
// Torch-free: config/ includes this header.
#pragma once

#include <string>

namespace headprune::prune {

enum class CountRule { keep_floor, prune_floor, nearest };
enum class Granularity { head, layer };
enum class Sign { positive, negative };
enum class ModuleKind { all, text, image, cross, joint };

const char* count_rule_name(CountRule r);
const char* granularity_name(Granularity g);
const char* sign_name(Sign s);
const char* module_kind_name(ModuleKind k);
/// Parses "keep_floor", "prune_floor", "nearest"; throws UserError naming `where` otherwise.
CountRule parse_count_rule(const std::string& name, const std::string& where);

}  // namespace headprune::prune
