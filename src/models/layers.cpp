#include "layers.hpp"

#include <cmath>

#include "headprune/common/error.hpp"

namespace headprune::models {

Linear take_linear(const TensorMap& w, const std::string& prefix) {
  auto wi = w.find(prefix + ".weight"), bi = w.find(prefix + ".bias");
  HP_ASSERT(wi != w.end() && bi != w.end(), "unbound linear " + prefix);
  return {wi->second, bi->second};
}

LayerNorm take_layer_norm(const TensorMap& w, const std::string& prefix, double eps) {
  auto wi = w.find(prefix + ".weight"), bi = w.find(prefix + ".bias");
  HP_ASSERT(wi != w.end() && bi != w.end(), "unbound layer norm " + prefix);
  return {wi->second, bi->second, eps};
}

void add_linear_spec(std::vector<ParamSpec>& specs, const std::string& prefix, int64_t out, int64_t in) {
  specs.push_back({prefix + ".weight", {out, in}, ParamSpec::Init::normal});
  specs.push_back({prefix + ".bias", {out}, ParamSpec::Init::zeros});
}

void add_layer_norm_spec(std::vector<ParamSpec>& specs, const std::string& prefix, int64_t dim) {
  specs.push_back({prefix + ".weight", {dim}, ParamSpec::Init::ones});
  specs.push_back({prefix + ".bias", {dim}, ParamSpec::Init::zeros});
}

// ---- AttnLRP's modified backward ----------------------------------------------------------------

namespace {
thread_local bool attnlrp_on = false;
}  // namespace

AttnLrpMode::AttnLrpMode(bool on) : previous_(attnlrp_on) { attnlrp_on = on; }
AttnLrpMode::~AttnLrpMode() { attnlrp_on = previous_; }
bool AttnLrpMode::on() { return attnlrp_on; }

at::Tensor identity_rule(const at::Tensor& y, const at::Tensor& x) {
  // x * (y / x) with the ratio a constant: the gradient times y / x carries R_x = R_y. At x = 0
  // (y = 0 too for GELU and tanh) the ratio is 0, as the explicit rule's safe division R / x.
  const at::Tensor nonzero = x.ne(0);
  const at::Tensor ratio = at::where(nonzero, y / at::where(nonzero, x, at::ones_like(x)), at::zeros_like(x));
  return x * ratio.detach();
}

at::Tensor uniform_rule(const at::Tensor& product) {
  if (!attnlrp_on) return product;
  // half + half = product exactly in the forward; only one half carries a gradient.
  const at::Tensor half = product * 0.5;
  return half + half.detach();
}

at::Tensor LayerNorm::attnlrp(const at::Tensor& x) const {
  const at::Tensor centred = x - x.mean(-1, /*keepdim=*/true);
  const at::Tensor sd = (centred.pow(2).mean(-1, /*keepdim=*/true) + eps).sqrt();
  return centred / sd.detach() * weight + bias;
}

// ---- LRP primitives ---------------------------------------------------------------------------

at::Tensor safe_divide(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor den = b.clamp_min(1e-9) + b.clamp_max(1e-9);
  den = den + den.eq(0).to(den.scalar_type()) * 1e-9;
  return a / den * b.ne(0).to(b.scalar_type());
}

at::Tensor relprop_linear(const at::Tensor& R, const at::Tensor& x, const Linear& layer) {
  at::Tensor pw = layer.weight.clamp_min(0), nw = layer.weight.clamp_max(0);
  at::Tensor px = x.clamp_min(0), nx = x.clamp_max(0);
  at::Tensor Z = at::linear(px, pw) + at::linear(nx, nw);
  at::Tensor S = safe_divide(R, Z);
  return px * at::matmul(S, pw) + nx * at::matmul(S, nw);
}

namespace {
// Sum a gradient that was broadcast back to the shape of the operand it came from.
at::Tensor sum_to(const at::Tensor& g, const at::Tensor& like) {
  return g.sizes() == like.sizes() ? g : g.sum_to_size(like.sizes());
}
}  // namespace

std::pair<at::Tensor, at::Tensor> relprop_add(const at::Tensor& R, const at::Tensor& a, const at::Tensor& b) {
  at::Tensor S = safe_divide(R, a + b);
  at::Tensor ra = a * sum_to(S, a);
  at::Tensor rb = b * sum_to(S, b);
  at::Tensor a_sum = ra.sum(), b_sum = rb.sum(), r_sum = R.sum();
  at::Tensor denom = a_sum.abs() + b_sum.abs();
  at::Tensor a_fact = safe_divide(a_sum.abs(), denom) * r_sum;
  at::Tensor b_fact = safe_divide(b_sum.abs(), denom) * r_sum;
  return {ra * safe_divide(a_fact, ra.sum()), rb * safe_divide(b_fact, rb.sum())};
}

std::pair<at::Tensor, at::Tensor> relprop_matmul(const at::Tensor& R, const at::Tensor& a, const at::Tensor& b) {
  at::Tensor S = safe_divide(R, at::matmul(a, b));
  return {a * at::matmul(S, b.transpose(-1, -2)), b * at::matmul(a.transpose(-1, -2), S)};
}

at::Tensor relprop_clone(const std::vector<at::Tensor>& Rs, const at::Tensor& x) {
  at::Tensor C = safe_divide(Rs[0], x);
  for (size_t i = 1; i < Rs.size(); ++i) C = C + safe_divide(Rs[i], x);
  return x * C;
}

at::Tensor relprop_index_select(const at::Tensor& R, const at::Tensor& x, const at::Tensor& index) {
  at::Tensor idx = index.view({-1, 1, 1}).expand({x.size(0), 1, x.size(2)});
  at::Tensor S = safe_divide(R.view({x.size(0), 1, x.size(2)}), x.gather(1, idx));
  return x * at::zeros_like(x).scatter(1, idx, S);
}

// ---- attention --------------------------------------------------------------------------------

namespace {
at::Tensor split_heads(const at::Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, x.size(2) / heads}).permute({0, 2, 1, 3});
}
at::Tensor merge_heads(const at::Tensor& x) {  // [B,H,T,dh] -> [B,T,H*dh]
  return x.permute({0, 2, 1, 3}).contiguous().flatten(2);
}
}  // namespace

at::Tensor attention_forward(const AttentionWeights& w, const at::Tensor& query_in, const at::Tensor& context_in,
                             const at::Tensor& mask_add, const at::Tensor& keep, bool keep_probs,
                             bool keep_for_lrp, AttentionTrace* trace) {
  // An attention module whose heads were all removed (an exported pruned model): no heads, an
  // empty context, so the output projection adds its bias alone, as the masked model's all-zero
  // keep row gives (0 @ W + b).
  if (w.heads == 0) return at::zeros({query_in.size(0), query_in.size(1), 0}, query_in.options());
  at::Tensor q = split_heads(w.query(query_in), w.heads);
  at::Tensor k = split_heads(w.key(context_in), w.heads);
  at::Tensor v = split_heads(w.value(context_in), w.heads);
  // Under AttnLrpMode both products of two activations take the uniform rule (layers.hpp).
  at::Tensor scores = uniform_rule(at::matmul(q, k.transpose(-1, -2))) / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor probs = at::softmax(mask_add.defined() ? scores + mask_add : scores, -1);
  if (keep_probs && probs.requires_grad()) probs.retain_grad();
  // Pruning multiplies the softmax output, after the seed's gradient hook and before dropout.
  at::Tensor probs_used = keep.defined() ? probs * keep.view({keep.size(0), keep.size(1), 1, 1}) : probs;
  at::Tensor context = merge_heads(uniform_rule(at::matmul(probs_used, v)));
  if (trace) {
    trace->probs = probs;
    if (keep_for_lrp) {
      trace->query_in = query_in;
      trace->context_in = context_in;
      trace->q = q;
      trace->k = k;
      trace->v = v;
      trace->scores = scores;
      trace->mask_add = mask_add;
      trace->probs_used = probs_used;
    }
  }
  return context;
}

AttentionRelevance relprop_attention(const at::Tensor& R_context, const AttentionWeights& w, const AttentionTrace& t,
                                     bool through_mask_add) {
  HP_ASSERT(t.q.defined(), "relprop_attention needs a forward with record_lrp");
  at::Tensor R = split_heads(R_context, w.heads);
  auto [R_probs, R_v] = relprop_matmul(R, t.probs_used, t.v);
  R_probs = R_probs / 2;
  R_v = R_v / 2;
  AttentionRelevance out;
  out.attn_cam = R_probs;
  at::Tensor R_scores = R_probs;  // dropout and softmax pass relevance unchanged
  if (through_mask_add && t.mask_add.defined()) R_scores = relprop_add(R_scores, t.scores, t.mask_add).first;
  auto [R_q, R_kt] = relprop_matmul(R_scores, t.q, t.k.transpose(-1, -2));
  R_q = merge_heads(R_q / 2);
  at::Tensor R_k = merge_heads((R_kt / 2).transpose(-1, -2));
  out.R_q = relprop_linear(R_q, t.query_in, w.query);
  out.R_k = relprop_linear(R_k, t.context_in, w.key);
  out.R_v = relprop_linear(merge_heads(R_v), t.context_in, w.value);
  return out;
}

// ---- residual blocks ------------------------------------------------------------------------

at::Tensor residual_forward(const ResidualOut& w, const at::Tensor& x, const at::Tensor& residual, ResidualTrace* trace) {
  at::Tensor dense_out = w.dense(x);
  at::Tensor out = w.norm(dense_out + residual);
  if (trace) *trace = {x, dense_out, residual};
  return out;
}

std::pair<at::Tensor, at::Tensor> relprop_residual(const at::Tensor& R, const ResidualOut& w, const ResidualTrace& t) {
  auto [R_dense, R_res] = relprop_add(R, t.dense_out, t.residual);  // LayerNorm: identity
  return {relprop_linear(R_dense, t.dense_in, w.dense), R_res};
}

at::Tensor ffn_forward(const Ffn& w, const at::Tensor& x, FfnTrace* trace) {
  at::Tensor inter_out = gelu_erf(w.inter(x));
  at::Tensor out = residual_forward(w.out, inter_out, x, trace ? &trace->out : nullptr);
  if (trace) {
    trace->x = x;
    trace->inter_out = inter_out;
  }
  return out;
}

at::Tensor relprop_ffn(const at::Tensor& R, const Ffn& w, const FfnTrace& t) {
  auto [R_inter, R_res] = relprop_residual(R, w.out, t.out);
  at::Tensor R_x = relprop_linear(R_inter, t.x, w.inter);  // GELU: identity
  return relprop_clone({R_x, R_res}, t.x);
}

at::Tensor additive_key_mask(const at::Tensor& mask01, at::ScalarType dtype) {
  if (!mask01.defined()) return {};
  at::Tensor m = mask01.to(dtype);
  return ((1.0 - m) * -10000.0).view({m.size(0), 1, 1, m.size(1)});
}

}  // namespace headprune::models
