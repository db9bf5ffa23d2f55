// Building blocks shared by LXMERT and VisualBERT: forward math and the matching LRP rules.
//
// Forward functions keep, when asked, exactly the inputs the seed's LRP modules keep in their
// forward hooks (layers.py: `self.X`), so that each relprop_* below reproduces the seed's
// rule for that module. Internal to src/models.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "headprune/models/weights.hpp"

namespace headprune::models {

// ---- parameters -----------------------------------------------------------------------
struct Linear {
  at::Tensor weight, bias;  // [out,in], [out]
  at::Tensor operator()(const at::Tensor& x) const { return at::linear(x, weight, bias); }
};

// ---- AttnLRP's modified backward (Achtibat et al. 2024, ICML) ----------------------------------
/// While an AttnLrpMode guard is on in this thread, the building blocks of this file record the
/// backward whose gradient times input is AttnLRP's relevance (the "efficient" gradient x input
/// formulation of the rules, as the authors' LXT library implements them): LayerNorm's standard
/// deviation is a constant (identity rule on the normalisation; the centring stays linear),
/// element-wise nonlinearities pass the gradient times f(x)/x (identity rule), and each product
/// of two activations (q k^T, A V) halves the gradient to both operands (uniform rule). Linear
/// layers, sums and the softmax keep their own gradient: the epsilon rule (eps -> 0) and the
/// softmax's linearisation rule R_x = x (R_s - s sum R_s) are input times that gradient.
/// Forward values equal the plain forward's up to rounding. Families turn it on for a forward
/// made with ForwardOptions::attnlrp; it is off otherwise (training, scoring, pruning).
class AttnLrpMode {
 public:
  explicit AttnLrpMode(bool on);
  ~AttnLrpMode();
  AttnLrpMode(const AttnLrpMode&) = delete;
  AttnLrpMode& operator=(const AttnLrpMode&) = delete;
  static bool on();

 private:
  bool previous_;
};
/// Identity rule: `y` = f(x) forward, gradient times y / x (0 where x = 0) backward.
at::Tensor identity_rule(const at::Tensor& y, const at::Tensor& x);
/// Uniform rule under AttnLrpMode: `product` forward, half its gradient backward (`product`
/// itself otherwise).
at::Tensor uniform_rule(const at::Tensor& product);

struct LayerNorm {
  at::Tensor weight, bias;
  double eps = 1e-12;
  at::Tensor operator()(const at::Tensor& x) const {
    if (AttnLrpMode::on()) return attnlrp(x);
    return at::layer_norm(x, {weight.size(0)}, weight, bias, eps);
  }
  /// (x - mean) / std * weight + bias with the std a constant of the backward (AttnLrpMode).
  at::Tensor attnlrp(const at::Tensor& x) const;
};

/// GELU with erf, as the seed's `gelu` (identity rule under AttnLrpMode).
inline at::Tensor gelu_erf(const at::Tensor& x) {
  return AttnLrpMode::on() ? identity_rule(at::gelu(x), x) : at::gelu(x);
}
/// tanh (identity rule under AttnLrpMode).
inline at::Tensor tanh_act(const at::Tensor& x) {
  return AttnLrpMode::on() ? identity_rule(at::tanh(x), x) : at::tanh(x);
}

/// Takes `prefix + suffix` out of a bound weight map (asserts presence: bind_weights checked it).
Linear take_linear(const TensorMap& w, const std::string& prefix);
LayerNorm take_layer_norm(const TensorMap& w, const std::string& prefix, double eps);
void add_linear_spec(std::vector<ParamSpec>& specs, const std::string& prefix, int64_t out, int64_t in);
void add_layer_norm_spec(std::vector<ParamSpec>& specs, const std::string& prefix, int64_t dim);

// ---- LRP primitives (layers.py) ------------------------------------------------------------
/// a / (b + 1e-9, sign-independent stabiliser) * (b != 0).
at::Tensor safe_divide(const at::Tensor& a, const at::Tensor& b);
/// Linear, alpha = 1, beta = 0, bias ignored. x = the layer's input.
at::Tensor relprop_linear(const at::Tensor& R, const at::Tensor& x, const Linear& layer);
/// Add([a, b]) with the seed's renormalisation; a and b may broadcast to R's shape.
std::pair<at::Tensor, at::Tensor> relprop_add(const at::Tensor& R, const at::Tensor& a, const at::Tensor& b);
/// MatMul([a, b]) gradient z-rule (each operand gets a share summing to 2R; callers halve).
std::pair<at::Tensor, at::Tensor> relprop_matmul(const at::Tensor& R, const at::Tensor& a, const at::Tensor& b);
/// Clone(n): x * sum_i safe_divide(R_i, x).
at::Tensor relprop_clone(const std::vector<at::Tensor>& Rs, const at::Tensor& x);
/// IndexSelect(x, dim=1, index) with index per batch row; R has size 1 in dim 1.
at::Tensor relprop_index_select(const at::Tensor& R, const at::Tensor& x, const at::Tensor& index);

// ---- attention ---------------------------------------------------------------------------
struct AttentionWeights {
  Linear query, key, value;
  /// Heads present: num_attention_heads, or fewer in an exported pruned model (0 = every head
  /// removed); each head is hidden_size / num_attention_heads wide whatever this count.
  int64_t heads = 0;
};

/// What an attention call keeps for scoring and LRP.
struct AttentionTrace {
  at::Tensor query_in, context_in;  // [B,Tq,d], [B,Tk,d]
  at::Tensor q, k, v;               // [B,H,T,dh]
  at::Tensor scores;                // q k^T / sqrt(dh), before the mask is added
  at::Tensor mask_add;              // the additive mask, or undefined
  at::Tensor probs;                 // softmax output (what the seed's hook sees)
  at::Tensor probs_used;            // after the keep mask (= probs when unpruned)
};

/// softmax(q k^T / sqrt(dh) + mask) (* keep) @ v, heads merged: [B,Tq,H*dh].
/// `mask_add` broadcasts to [B,H,Tq,Tk] (undefined = none); `keep` is [B,H] (undefined = none).
at::Tensor attention_forward(const AttentionWeights& w, const at::Tensor& query_in, const at::Tensor& context_in,
                             const at::Tensor& mask_add, const at::Tensor& keep, bool keep_probs,
                             bool keep_for_lrp, AttentionTrace* trace);

struct AttentionRelevance {
  at::Tensor attn_cam;   // [B,H,Tq,Tk]
  at::Tensor R_q, R_k, R_v;  // relevance of the query/key/value Linear inputs, [B,T,d]
};
/// Attention relprop down to the q/k/v Linear inputs. `through_mask_add`: VisualBERT applies the
/// mask Add relprop, LXMERT skips it (the seed never sets the attribute).
AttentionRelevance relprop_attention(const at::Tensor& R_context, const AttentionWeights& w, const AttentionTrace& t,
                                     bool through_mask_add);

// ---- residual blocks ---------------------------------------------------------------------
/// out = LN(dense(x) + residual): LxmertAttentionOutput, LxmertOutput, BertSelfOutput, BertOutput.
struct ResidualOut {
  Linear dense;
  LayerNorm norm;
};
struct ResidualTrace {
  at::Tensor dense_in, dense_out, residual;
};
at::Tensor residual_forward(const ResidualOut& w, const at::Tensor& x, const at::Tensor& residual, ResidualTrace* trace);
/// Returns (R of dense_in, R of residual).
std::pair<at::Tensor, at::Tensor> relprop_residual(const at::Tensor& R, const ResidualOut& w, const ResidualTrace& t);

/// The FFN: out = LN(dense2(gelu(dense1(x))) + x).
struct Ffn {
  Linear inter;
  ResidualOut out;
};
struct FfnTrace {
  at::Tensor x, inter_out;
  ResidualTrace out;
};
at::Tensor ffn_forward(const Ffn& w, const at::Tensor& x, FfnTrace* trace);
/// Relevance of x (through the Clone(2) of the residual split).
at::Tensor relprop_ffn(const at::Tensor& R, const Ffn& w, const FfnTrace& t);

/// Additive attention mask for keys: (1 - mask) * -10000, shaped [B,1,1,K] (undefined if mask is).
at::Tensor additive_key_mask(const at::Tensor& mask01, at::ScalarType dtype);

}  // namespace headprune::models
