// LXMERT for VQA (Hugging Face `LxmertForQuestionAnswering` weights), with the seed's pruning
// points, LRP rules (lxmert_lrp.py) and relevance maps (VisualizationsGenerator.GeneratorOurs).
//
// Attention modules, in the seed's joint scoring order (HeadPrune.generate_ours):
//   text:  layer.0..l-1 self, then per cross layer i: x_layers.i cross (language queries),
//          x_layers.i lang self
//   image: r_layers.0..r-1 self, then per cross layer i except the last: x_layers.i cross
//          (vision queries; the seed's LRP model calls it visual_attention_copy), x_layers.i visn self
// Both cross directions of a layer share the weights of x_layers.i.visual_attention, except in an
// exported pruned model whose two directions keep different heads: there the vision-query
// direction has its own copy, x_layers.i.visual_attention_copy.{att,output} (the name of the
// seed's LRP model's copy; docs/export.md).
#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <set>

#include "headprune/common/error.hpp"
#include "model_internal.hpp"

namespace headprune::models {
namespace {

struct SelfAttLayer {  // LxmertSelfAttentionLayer: attention + output (dense, residual, LN)
  AttentionWeights att;
  ResidualOut out;
};
struct Layer {  // LxmertLayer: language or relation (vision) layer
  SelfAttLayer attention;
  Ffn ffn;
};
struct XLayer {  // LxmertXLayer
  AttentionWeights cross;  // visual_attention.att, language queries
  ResidualOut cross_out;   // visual_attention.output
  // Vision queries: the same tensors as cross / cross_out, or visual_attention_copy.* (pruned export).
  AttentionWeights visn_cross;
  ResidualOut visn_cross_out;
  SelfAttLayer lang_self, visn_self;
  Ffn lang_ffn, visn_ffn;
};

struct SelfAttTrace {
  at::Tensor input;
  AttentionTrace att;
  ResidualTrace out;
};
struct LayerTrace {
  SelfAttTrace attention;
  FfnTrace ffn;
};
struct XLayerTrace {
  at::Tensor lang_in, visn_in;
  AttentionTrace lang_cross, visn_cross;
  ResidualTrace lang_cross_out, visn_cross_out;
  SelfAttTrace lang_self, visn_self;
  FfnTrace lang_ffn, visn_ffn;
};
struct LxmertTrace : LrpTrace {
  std::vector<LayerTrace> lang, rel;
  std::vector<XLayerTrace> x;
  at::Tensor lang_out;     // last language states (pooler input)
  at::Tensor first_token;  // pooler dense input
  at::Tensor pooled;       // head fc0 input
  at::Tensor head_norm;    // head fc3 input
};

class Lxmert final : public VqaModel {
 public:
  Lxmert(const nlohmann::json& config, const std::string& config_path, const TensorMap& stored,
         const std::string& weights_path, const LoadOptions& options)
      : dtype_(options.dtype) {
    // Every size is checked before it shapes a tensor (config_size: positive unless 0 is allowed).
    d_ = config_size(config, "hidden_size", config_path);
    heads_ = config_size(config, "num_attention_heads", config_path);
    inter_ = config_size(config, "intermediate_size", config_path);
    l_ = config_size(config, "l_layers", config_path, 0);
    x_ = config_size(config, "x_layers", config_path);
    r_ = config_size(config, "r_layers", config_path, 0);
    feat_dim_ = config_size(config, "visual_feat_dim", config_path);
    pos_dim_ = config_size(config, "visual_pos_dim", config_path);
    answers_ = config_size(config, "num_qa_labels", config_path);
    max_pos_ = config_size(config, "max_position_embeddings", config_path);
    vocab_ = config_size(config, "vocab_size", config_path);
    type_vocab_ = config_size(config, "type_vocab_size", config_path);
    eps_ = config_double(config, "layer_norm_eps", config_path, 1e-12);
    check_heads_divide(d_, heads_, config_path);
    head_counts_ = HeadCounts(config, heads_, config_path);
    const int64_t head_dim = d_ / heads_;
    // An attention module's Q/K/V rows and output-projection columns: its heads x head_dim.
    auto width = [&](const std::string& prefix) { return head_counts_.heads(prefix) * head_dim; };
    if (pos_dim_ != 4)
      throw UserError(config_path + ": key 'visual_pos_dim' is " + std::to_string(pos_dim_) +
                      " (expected 4: boxes as x1/w, y1/h, x2/w, y2/h)");
    const int64_t vocab = vocab_, type_vocab = type_vocab_;

    std::vector<ParamSpec> specs;
    specs.push_back({"lxmert.embeddings.word_embeddings.weight", {vocab, d_}});
    specs.push_back({"lxmert.embeddings.position_embeddings.weight", {max_pos_, d_}});
    specs.push_back({"lxmert.embeddings.token_type_embeddings.weight", {type_vocab, d_}});
    add_layer_norm_spec(specs, "lxmert.embeddings.LayerNorm", d_);
    add_linear_spec(specs, "lxmert.encoder.visn_fc.visn_fc", d_, feat_dim_);
    add_layer_norm_spec(specs, "lxmert.encoder.visn_fc.visn_layer_norm", d_);
    add_linear_spec(specs, "lxmert.encoder.visn_fc.box_fc", d_, pos_dim_);
    add_layer_norm_spec(specs, "lxmert.encoder.visn_fc.box_layer_norm", d_);
    // An attention block p: p.<att>.{query,key,value} and p.output.{dense,LayerNorm}.
    auto attention_specs = [&](const std::string& p, const std::string& att) {
      const int64_t n = width(p + "." + att);
      for (const char* qkv : {"query", "key", "value"}) add_linear_spec(specs, p + "." + att + "." + qkv, n, d_);
      add_linear_spec(specs, p + ".output.dense", d_, n);
      add_layer_norm_spec(specs, p + ".output.LayerNorm", d_);
    };
    auto self_att_specs = [&](const std::string& p) { attention_specs(p, "self"); };
    // Cross layers whose vision-query direction has its own (pruned) copy of the weights.
    auto split_cross = [&](int64_t i) {
      return head_counts_.has("lxmert.encoder.x_layers." + std::to_string(i) + ".visual_attention_copy.att");
    };
    auto ffn_specs = [&](const std::string& inter, const std::string& out) {
      add_linear_spec(specs, inter + ".dense", inter_, d_);
      add_linear_spec(specs, out + ".dense", d_, inter_);
      add_layer_norm_spec(specs, out + ".LayerNorm", d_);
    };
    for (const auto& [group, n] : {std::pair<std::string, int64_t>{"layer", l_}, {"r_layers", r_}})
      for (int64_t i = 0; i < n; ++i) {
        std::string p = "lxmert.encoder." + group + "." + std::to_string(i);
        self_att_specs(p + ".attention");
        ffn_specs(p + ".intermediate", p + ".output");
      }
    for (int64_t i = 0; i < x_; ++i) {
      std::string p = "lxmert.encoder.x_layers." + std::to_string(i);
      attention_specs(p + ".visual_attention", "att");
      if (split_cross(i)) attention_specs(p + ".visual_attention_copy", "att");
      self_att_specs(p + ".lang_self_att");
      self_att_specs(p + ".visn_self_att");
      ffn_specs(p + ".lang_inter", p + ".lang_output");
      ffn_specs(p + ".visn_inter", p + ".visn_output");
    }
    add_linear_spec(specs, "lxmert.pooler.dense", d_, d_);
    add_linear_spec(specs, "answer_head.logit_fc.0", 2 * d_, d_);
    add_layer_norm_spec(specs, "answer_head.logit_fc.2", 2 * d_);
    add_linear_spec(specs, "answer_head.logit_fc.3", answers_, 2 * d_);

    // Pre-training heads of a full LXMERT checkpoint are not part of the VQA model.
    // The seed's LRP checkpoints hold visual_attention_copy (= visual_attention); a pruned export
    // holds it only where it is read (split_cross).
    std::set<std::string> expected_names;
    for (const auto& spec : specs) expected_names.insert(spec.name);
    std::vector<std::string> ignored;
    for (const auto& [name, t] : stored)
      if (name.rfind("cls.", 0) == 0 || name.rfind("obj_predict_head.", 0) == 0 ||
          (name.find("visual_attention_copy") != std::string::npos && !expected_names.count(name)) ||
          name == "lxmert.embeddings.position_ids")
        ignored.push_back(name);
    weights_ = bind_weights(stored, specs, dtype_, options.strict, weights_path, ignored,
                            {options.init_from_scratch, options.init_seed, 0.02});
    const TensorMap& w = weights_;

    word_ = w.at("lxmert.embeddings.word_embeddings.weight");
    pos_ = w.at("lxmert.embeddings.position_embeddings.weight");
    tt_ = w.at("lxmert.embeddings.token_type_embeddings.weight");
    emb_norm_ = take_layer_norm(w, "lxmert.embeddings.LayerNorm", eps_);
    visn_fc_ = take_linear(w, "lxmert.encoder.visn_fc.visn_fc");
    visn_norm_ = take_layer_norm(w, "lxmert.encoder.visn_fc.visn_layer_norm", eps_);
    box_fc_ = take_linear(w, "lxmert.encoder.visn_fc.box_fc");
    box_norm_ = take_layer_norm(w, "lxmert.encoder.visn_fc.box_layer_norm", eps_);
    auto take_self_att = [&](const std::string& p) {
      SelfAttLayer s;
      s.att = {take_linear(w, p + ".self.query"), take_linear(w, p + ".self.key"), take_linear(w, p + ".self.value"),
               head_counts_.heads(p + ".self")};
      s.out = {take_linear(w, p + ".output.dense"), take_layer_norm(w, p + ".output.LayerNorm", eps_)};
      return s;
    };
    auto take_ffn = [&](const std::string& inter, const std::string& out) {
      return Ffn{take_linear(w, inter + ".dense"), {take_linear(w, out + ".dense"), take_layer_norm(w, out + ".LayerNorm", eps_)}};
    };
    for (int64_t i = 0; i < l_; ++i) {
      std::string p = "lxmert.encoder.layer." + std::to_string(i);
      lang_.push_back({take_self_att(p + ".attention"), take_ffn(p + ".intermediate", p + ".output")});
    }
    for (int64_t i = 0; i < r_; ++i) {
      std::string p = "lxmert.encoder.r_layers." + std::to_string(i);
      rel_.push_back({take_self_att(p + ".attention"), take_ffn(p + ".intermediate", p + ".output")});
    }
    for (int64_t i = 0; i < x_; ++i) {
      std::string p = "lxmert.encoder.x_layers." + std::to_string(i);
      XLayer xl;
      auto take_cross = [&](const std::string& c) {
        return AttentionWeights{take_linear(w, c + ".att.query"), take_linear(w, c + ".att.key"),
                                take_linear(w, c + ".att.value"), head_counts_.heads(c + ".att")};
      };
      auto take_cross_out = [&](const std::string& c) {
        return ResidualOut{take_linear(w, c + ".output.dense"), take_layer_norm(w, c + ".output.LayerNorm", eps_)};
      };
      xl.cross = take_cross(p + ".visual_attention");
      xl.cross_out = take_cross_out(p + ".visual_attention");
      const std::string visn = split_cross(i) ? p + ".visual_attention_copy" : p + ".visual_attention";
      xl.visn_cross = take_cross(visn);
      xl.visn_cross_out = take_cross_out(visn);
      xl.lang_self = take_self_att(p + ".lang_self_att");
      xl.visn_self = take_self_att(p + ".visn_self_att");
      xl.lang_ffn = take_ffn(p + ".lang_inter", p + ".lang_output");
      xl.visn_ffn = take_ffn(p + ".visn_inter", p + ".visn_output");
      x_layers_.push_back(xl);
    }
    pooler_ = take_linear(w, "lxmert.pooler.dense");
    head_fc0_ = take_linear(w, "answer_head.logit_fc.0");
    head_norm_ = take_layer_norm(w, "answer_head.logit_fc.2", eps_);
    head_fc3_ = take_linear(w, "answer_head.logit_fc.3");

    // The joint module order.
    // Two streams: each module's queries and keys run over the question or the regions.
    // A module's heads: those of the weights it runs through (its own copy where the export split one).
    auto add = [&](const std::string& name, const std::string& mask_name, Modality q, Modality k) {
      auto segment = [](Modality m) { return m == Modality::text ? Segment::text : Segment::image; };
      const int64_t heads = head_counts_.heads(head_counts_.has(name) ? name : mask_name);
      modules_.push_back({name, mask_name, q, segment(q), segment(k), heads});
    };
    for (int64_t i = 0; i < l_; ++i) {
      std::string n = "lxmert.encoder.layer." + std::to_string(i) + ".attention.self";
      add(n, n, Modality::text, Modality::text);
    }
    for (int64_t i = 0; i < x_; ++i) {
      std::string p = "lxmert.encoder.x_layers." + std::to_string(i);
      add(p + ".visual_attention.att", p + ".visual_attention.att", Modality::text, Modality::image);
      add(p + ".lang_self_att.self", p + ".lang_self_att.self", Modality::text, Modality::text);
    }
    n_text_ = static_cast<int64_t>(modules_.size());
    for (int64_t i = 0; i < r_; ++i) {
      std::string n = "lxmert.encoder.r_layers." + std::to_string(i) + ".attention.self";
      add(n, n, Modality::image, Modality::image);
    }
    for (int64_t i = 0; i + 1 < x_; ++i) {
      std::string p = "lxmert.encoder.x_layers." + std::to_string(i);
      add(p + ".visual_attention_copy.att", p + ".visual_attention.att", Modality::image, Modality::text);
      add(p + ".visn_self_att.self", p + ".visn_self_att.self", Modality::image, Modality::image);
    }
    std::vector<std::string> known;
    for (const auto& m : modules_) known.insert(known.end(), {m.name, m.mask_name});
    head_counts_.check_known(known);
  }

  const char* name() const override { return "lxmert"; }
  InputSpec input_spec() const override {
    InputSpec spec;
    spec.feature_dim = feat_dim_;
    spec.needs_boxes = true;
    spec.default_regions = 36;
    spec.seed_text_tokens = 512;
    spec.default_answer_list = "data/vqa";  // unc-nlp/lxmert-vqa-uncased's order
    return spec;
  }
  double forward_flops(int64_t tokens, int64_t regions) const override {
    // Every matrix product forward() runs for one example (what a MatmulCounter counts): 2 m k n
    // each. An attention module's width is its heads x head_dim (fewer heads in an exported
    // pruned model; 0 heads = no products but the output bias).
    const double d = static_cast<double>(d_), I = static_cast<double>(inter_), T = static_cast<double>(tokens),
                 R = static_cast<double>(regions), dh = static_cast<double>(d_ / heads_);
    auto attention = [&](const AttentionWeights& w, double nq, double nk) {
      const double width = static_cast<double>(w.heads) * dh;
      return 2 * nq * d * width + 2 * 2 * nk * d * width  // query; key and value
             + 2 * 2 * nq * nk * width                    // scores, context
             + 2 * nq * width * d;                        // output projection
    };
    auto ffn = [&](double n) { return 2 * 2 * n * d * I; };
    double f = 2 * R * static_cast<double>(feat_dim_) * d + 2 * R * static_cast<double>(pos_dim_) * d;
    for (const Layer& ly : lang_) f += attention(ly.attention.att, T, T) + ffn(T);
    for (const Layer& ly : rel_) f += attention(ly.attention.att, R, R) + ffn(R);
    for (size_t i = 0; i < x_layers_.size(); ++i) {
      const XLayer& xl = x_layers_[i];
      f += attention(xl.cross, T, R) + attention(xl.lang_self.att, T, T) + ffn(T);
      // The last cross layer's vision stream never reaches the answer and is not computed.
      if (i + 1 < x_layers_.size()) f += attention(xl.visn_cross, R, T) + attention(xl.visn_self.att, R, R) + ffn(R);
    }
    return f + 2 * d * d + 2 * d * 2 * d + 2 * 2 * d * static_cast<double>(answers_);  // pooler, answer head
  }
  const std::vector<AttentionModule>& attention_modules() const override { return modules_; }
  int64_t num_answers() const override { return answers_; }
  int64_t max_text_tokens() const override { return max_pos_; }
  int64_t vocab_size() const override { return vocab_; }
  int64_t type_vocab_size() const override { return type_vocab_; }
  int64_t visual_feat_dim() const override { return feat_dim_; }
  at::ScalarType dtype() const override { return dtype_; }
  const std::map<std::string, at::Tensor>& parameters() const override { return weights_; }

  ForwardResult forward(const Batch& batch, const ForwardOptions& opt) const override {
    const int64_t B = batch.size(), T = batch.input_ids.size(1);
    if (T > max_pos_) throw UserError("question of " + std::to_string(T) + " tokens exceeds the model's " +
                                      std::to_string(max_pos_) + " positions");
    head_counts_.check_forward(opt);
    const AttnLrpMode attnlrp_mode(opt.attnlrp);  // the layers' backward rules (layers.hpp)
    ForwardResult result;
    auto trace = opt.record_lrp ? std::make_shared<LxmertTrace>() : nullptr;
    const bool keep_probs = opt.record_attention;
    const bool need_trace = keep_probs || opt.record_lrp;
    if (need_trace) result.attention.resize(modules_.size());

    // Embeddings: (word + position) + token type, LayerNorm (the no-LRP model's order).
    at::Tensor positions = at::arange(T, batch.input_ids.options()).unsqueeze(0).expand({B, T});
    at::Tensor lang = emb_norm_(at::embedding(word_, batch.input_ids) + at::embedding(pos_, positions) +
                                at::embedding(tt_, batch.token_type_ids));
    at::Tensor visn = (visn_norm_(visn_fc_(batch.visual_feats.to(dtype_))) +
                       box_norm_(box_fc_(batch.visual_pos.to(dtype_)))) / 2;
    if (keep_probs) {  // so that the attention probabilities get gradients (weights never do)
      lang = lang.detach().requires_grad_(true);
      visn = visn.detach().requires_grad_(true);
    }
    if (opt.record_hidden) {
      result.hidden["embedding_output"] = lang;
      result.hidden["visual_feats_encoded"] = visn;
    }
    const at::Tensor lang_mask = additive_key_mask(batch.text_mask, dtype_);
    // The seed passes no vision mask; we add one only when regions are padded (exact zeros otherwise).
    const at::Tensor visn_mask = additive_key_mask(batch.region_mask, dtype_);
    std::vector<at::Tensor> lang_states, visn_states;
    int64_t mt = 0, mi = n_text_;  // next text / image module index

    auto self_att = [&](const SelfAttLayer& s, const at::Tensor& x, const at::Tensor& mask, int64_t m,
                        SelfAttTrace* t) {
      AttentionTrace local;
      AttentionTrace* at_trace = t ? &t->att : (need_trace && m >= 0 ? &local : nullptr);
      at::Tensor ctx = attention_forward(s.att, x, x, mask, m >= 0 ? keep_row(opt.keep, m) : at::Tensor(),
                                         keep_probs, opt.record_lrp, at_trace);
      if (at_trace && m >= 0) result.attention[m] = at_trace->probs;
      if (t) t->input = x;
      return residual_forward(s.out, ctx, x, t ? &t->out : nullptr);
    };
    auto layer = [&](const Layer& ly, const at::Tensor& x, const at::Tensor& mask, int64_t m, LayerTrace* t) {
      at::Tensor a = self_att(ly.attention, x, mask, m, t ? &t->attention : nullptr);
      return ffn_forward(ly.ffn, a, t ? &t->ffn : nullptr);
    };

    for (const auto& ly : lang_) {
      LayerTrace* t = trace ? &trace->lang.emplace_back() : nullptr;
      lang = layer(ly, lang, lang_mask, mt++, t);
      lang_states.push_back(lang);
    }
    for (const auto& ly : rel_) {
      LayerTrace* t = trace ? &trace->rel.emplace_back() : nullptr;
      visn = layer(ly, visn, visn_mask, mi++, t);
      visn_states.push_back(visn);
    }
    for (int64_t i = 0; i < x_; ++i) {
      const XLayer& xl = x_layers_[static_cast<size_t>(i)];
      const bool last = i + 1 == x_;
      // The vision stream of the last cross layer never reaches the answer: skip it unless asked.
      const bool run_visn = !last || opt.record_hidden || opt.record_lrp;
      XLayerTrace* t = trace ? &trace->x.emplace_back() : nullptr;
      if (t) {
        t->lang_in = lang;
        t->visn_in = visn;
      }
      // Cross attention, both directions from the layer's inputs, shared weights.
      AttentionTrace lc, vc;
      const int64_t m_lang_cross = mt++;
      at::Tensor lang_ctx = attention_forward(xl.cross, lang, visn, visn_mask, keep_row(opt.keep, m_lang_cross),
                                              keep_probs, opt.record_lrp, need_trace ? (t ? &t->lang_cross : &lc) : nullptr);
      if (need_trace) result.attention[m_lang_cross] = t ? t->lang_cross.probs : lc.probs;
      at::Tensor lang_att = residual_forward(xl.cross_out, lang_ctx, lang, t ? &t->lang_cross_out : nullptr);
      at::Tensor visn_att;
      const int64_t m_visn_cross = last ? -1 : mi++;
      if (run_visn) {
        at::Tensor visn_ctx = attention_forward(xl.visn_cross, visn, lang, lang_mask,
                                                last ? at::Tensor() : keep_row(opt.keep, m_visn_cross), keep_probs,
                                                opt.record_lrp, need_trace ? (t ? &t->visn_cross : &vc) : nullptr);
        if (need_trace && !last) result.attention[m_visn_cross] = t ? t->visn_cross.probs : vc.probs;
        visn_att = residual_forward(xl.visn_cross_out, visn_ctx, visn, t ? &t->visn_cross_out : nullptr);
      }
      // Self attention, then the FFNs.
      lang = self_att(xl.lang_self, lang_att, lang_mask, mt++, t ? &t->lang_self : nullptr);
      if (run_visn) visn = self_att(xl.visn_self, visn_att, visn_mask, last ? -1 : mi++, t ? &t->visn_self : nullptr);
      lang = ffn_forward(xl.lang_ffn, lang, t ? &t->lang_ffn : nullptr);
      if (run_visn) visn = ffn_forward(xl.visn_ffn, visn, t ? &t->visn_ffn : nullptr);
      lang_states.push_back(lang);
      if (run_visn) visn_states.push_back(visn);
    }
    HP_ASSERT(mt == n_text_ && mi == num_modules(), "module bookkeeping");

    // Pooler on [CLS] of the language stream, then the answer head.
    at::Tensor first = lang.select(1, 0);
    at::Tensor pooled = tanh_act(pooler_(first));
    at::Tensor h = head_norm_(gelu_erf(head_fc0_(pooled)));
    result.logits = head_fc3_(h);
    if (opt.record_hidden) {
      result.hidden["language_hidden_states"] = at::stack(lang_states);
      result.hidden["vision_hidden_states"] = at::stack(visn_states);
      result.hidden["pooled_output"] = pooled;
    }
    if (trace) {
      trace->lang_out = lang;
      trace->first_token = first;
      trace->pooled = pooled;
      trace->head_norm = h;
      result.lrp = trace;
    }
    return result;
  }

  LrpResult relprop(const ForwardResult& fwd, const at::Tensor& one_hot) const override {
    auto* t = dynamic_cast<const LxmertTrace*>(fwd.lrp.get());
    HP_ASSERT(t != nullptr, "relprop needs a forward with record_lrp");
    LrpResult out;
    out.attn_cam.resize(modules_.size());
    at::Tensor R = relprop_linear(one_hot.to(dtype_), t->head_norm, head_fc3_);  // LayerNorm, GELU: identity
    R = relprop_linear(R, t->pooled, head_fc0_);
    R = relprop_linear(R, t->first_token, pooler_);  // Tanh: identity
    at::Tensor zero_index = at::zeros({t->lang_out.size(0)}, t->lang_out.options().dtype(at::kLong));
    at::Tensor R_lang = relprop_index_select(R.unsqueeze(1), t->lang_out, zero_index);
    at::Tensor R_visn = at::zeros_like(t->x.front().visn_in);

    int64_t mt = n_text_, mi = num_modules();
    for (int64_t i = x_ - 1; i >= 0; --i) {
      const XLayer& xl = x_layers_[static_cast<size_t>(i)];
      const XLayerTrace& xt = t->x[static_cast<size_t>(i)];
      const bool last = i + 1 == x_;
      R_visn = relprop_ffn(R_visn, xl.visn_ffn, xt.visn_ffn);
      R_lang = relprop_ffn(R_lang, xl.lang_ffn, xt.lang_ffn);
      int64_t m_visn_self = last ? -1 : --mi;
      R_visn = relprop_self_att(R_visn, xl.visn_self, xt.visn_self, m_visn_self, out);
      R_lang = relprop_self_att(R_lang, xl.lang_self, xt.lang_self, --mt, out);
      // Cross: the vision-query call (the seed's visual_attention_copy) first, then language.
      int64_t m_visn_cross = last ? -1 : --mi;
      auto [Rv_in2, Rl_ctx2] = relprop_cross(R_visn, xl.visn_cross, xl.visn_cross_out, xt.visn_cross, xt.visn_cross_out,
                                             xt.visn_in, m_visn_cross, out);
      auto [Rl_in1, Rv_ctx1] = relprop_cross(R_lang, xl.cross, xl.cross_out, xt.lang_cross, xt.lang_cross_out, xt.lang_in,
                                             --mt, out);
      R_visn = relprop_clone({Rv_ctx1, Rv_in2}, xt.visn_in);
      R_lang = relprop_clone({Rl_in1, Rl_ctx2}, xt.lang_in);
    }
    for (int64_t i = r_ - 1; i >= 0; --i)
      R_visn = relprop_layer(R_visn, rel_[static_cast<size_t>(i)], t->rel[static_cast<size_t>(i)], --mi, out);
    for (int64_t i = l_ - 1; i >= 0; --i)
      R_lang = relprop_layer(R_lang, lang_[static_cast<size_t>(i)], t->lang[static_cast<size_t>(i)], --mt, out);
    HP_ASSERT(mt == 0 && mi == n_text_, "relprop module bookkeeping");
    out.outputs["cam_lang"] = R_lang;
    out.outputs["cam_vis"] = R_visn;
    return out;
  }

  RelevanceMaps relevance_maps(const std::vector<at::Tensor>& attention, const std::vector<at::Tensor>& gradients,
                               const at::Tensor& keep, int64_t /*text_tokens: read off the maps*/) const override {
    const int64_t T = attention[0].size(-1);  // module 0 is text self-attention
    const int64_t R = attention[static_cast<size_t>(n_text_)].size(-1);
    // Accumulated in at least float32, whatever the model's dtype (bf16 models).
    const auto opts = attention[0].options().requires_grad(false).dtype(accumulation_dtype(attention[0].scalar_type()));
    at::Tensor eye_t = at::eye(T, opts), eye_i = at::eye(R, opts);
    at::Tensor R_tt = eye_t.clone(), R_ii = eye_i.clone();
    at::Tensor R_ti = at::zeros({T, R}, opts), R_it = at::zeros({R, T}, opts);
    int64_t nan_zeroed = 0;
    auto cam = [&](int64_t m) {
      at::Tensor k = keep.defined() ? keep[m] : at::Tensor();
      return avg_heads(attention[static_cast<size_t>(m)][0].detach().to(opts.dtype()),
                       gradients[static_cast<size_t>(m)][0].to(opts.dtype()), k);
    };
    auto clean = [&](at::Tensor x) {  // every addition has its NaN entries set to 0
      at::Tensor nan = x.isnan();
      nan_zeroed += nan.sum().item<int64_t>();
      return x.masked_fill(nan, 0.0);
    };
    auto handle_residual = [](const at::Tensor& X, const at::Tensor& eye) {
      at::Tensor s = X - eye;
      return s / s.sum(-1, true) + eye;
    };
    auto self_rule = [&](at::Tensor& R_ss, at::Tensor& R_sq, const at::Tensor& c) {
      at::Tensor add_ss = clean(at::matmul(c, R_ss)), add_sq = clean(at::matmul(c, R_sq));
      R_ss = R_ss + add_ss;
      R_sq = R_sq + add_sq;
    };
    // Cross rule for queries s attending to keys q: returns (R_sq addition, R_ss addition).
    auto cross_rule = [&](const at::Tensor& R_ss, const at::Tensor& R_qq, const at::Tensor& R_qs, const at::Tensor& c,
                          const at::Tensor& eye_s, const at::Tensor& eye_q) {
      at::Tensor add_sq = at::matmul(handle_residual(R_ss, eye_s).t(), at::matmul(c, handle_residual(R_qq, eye_q)));
      return std::make_pair(clean(add_sq), clean(at::matmul(c, R_qs)));
    };
    int64_t mt = 0, mi = n_text_;
    for (int64_t i = 0; i < l_; ++i) self_rule(R_tt, R_ti, cam(mt++));
    for (int64_t i = 0; i < r_; ++i) self_rule(R_ii, R_it, cam(mi++));
    for (int64_t i = 0; i < x_; ++i) {
      const bool last = i + 1 == x_;
      auto [add_ti, add_tt] = cross_rule(R_tt, R_ii, R_it, cam(mt++), eye_t, eye_i);
      if (last) {
        R_ti = R_ti + add_ti;
        R_tt = R_tt + add_tt;
        self_rule(R_tt, R_ti, cam(mt++));
        break;
      }
      auto [add_it, add_ii] = cross_rule(R_ii, R_tt, R_ti, cam(mi++), eye_i, eye_t);
      R_ti = R_ti + add_ti;
      R_tt = R_tt + add_tt;
      R_it = R_it + add_it;
      R_ii = R_ii + add_ii;
      self_rule(R_tt, R_ti, cam(mt++));
      self_rule(R_ii, R_it, cam(mi++));
    }
    R_tt[0][0] = 0;
    RelevanceMaps maps;
    maps.maps = {{"R_t_t", R_tt}, {"R_t_i", R_ti}, {"R_i_i", R_ii}, {"R_i_t", R_it}};
    maps.nan_entries_zeroed = nan_zeroed;
    maps.text = R_tt[0];  // the [CLS] row: what the answer draws on
    maps.image = R_ti[0];
    return maps;
  }

 private:
  at::Tensor relprop_self_att(const at::Tensor& R, const SelfAttLayer& s, const SelfAttTrace& t, int64_t m,
                              LrpResult& out) const {
    auto [R_ctx, R_res] = relprop_residual(R, s.out, t.out);
    AttentionRelevance a = relprop_attention(R_ctx, s.att, t.att, /*through_mask_add=*/false);
    if (m >= 0) out.attn_cam[static_cast<size_t>(m)] = a.attn_cam;
    at::Tensor R_context = relprop_clone({a.R_k, a.R_v}, t.input);  // LxmertAttention's key/value clone
    return relprop_clone({a.R_q, R_context, R_res}, t.input);
  }

  // LxmertCrossAttentionLayer.relprop: returns (R of the query-side input, R of the context).
  std::pair<at::Tensor, at::Tensor> relprop_cross(const at::Tensor& R, const AttentionWeights& cross,
                                                  const ResidualOut& cross_out, const AttentionTrace& at_trace,
                                                  const ResidualTrace& out_trace, const at::Tensor& input, int64_t m,
                                                  LrpResult& out) const {
    auto [R_ctx, R_res] = relprop_residual(R, cross_out, out_trace);
    AttentionRelevance a = relprop_attention(R_ctx, cross, at_trace, /*through_mask_add=*/false);
    if (m >= 0) out.attn_cam[static_cast<size_t>(m)] = a.attn_cam;
    at::Tensor R_context = relprop_clone({a.R_k, a.R_v}, at_trace.context_in);
    return {relprop_clone({a.R_q, R_res}, input), R_context};
  }

  at::Tensor relprop_layer(const at::Tensor& R, const Layer& ly, const LayerTrace& t, int64_t m, LrpResult& out) const {
    at::Tensor R_att = relprop_ffn(R, ly.ffn, t.ffn);
    return relprop_self_att(R_att, ly.attention, t.attention, m, out);
  }

  TensorMap weights_;
  HeadCounts head_counts_;  // an exported pruned model's heads per attention module
  at::ScalarType dtype_;
  int64_t d_ = 0, heads_ = 0, inter_ = 0, l_ = 0, x_ = 0, r_ = 0, feat_dim_ = 0, pos_dim_ = 0, answers_ = 0,
          max_pos_ = 0, n_text_ = 0, vocab_ = 0, type_vocab_ = 0;
  double eps_ = 1e-12;
  at::Tensor word_, pos_, tt_;
  LayerNorm emb_norm_, visn_norm_, box_norm_, head_norm_;
  Linear visn_fc_, box_fc_, pooler_, head_fc0_, head_fc3_;
  std::vector<Layer> lang_, rel_;
  std::vector<XLayer> x_layers_;
  std::vector<AttentionModule> modules_;
};

}  // namespace

std::unique_ptr<VqaModel> make_lxmert(const nlohmann::json& config, const std::string& config_path,
                                      const TensorMap& stored, const std::string& weights_path,
                                      const LoadOptions& options) {
  return std::make_unique<Lxmert>(config, config_path, stored, weights_path, options);
}

std::string lxmert_example_config(const ExampleSizes& s) {
  HP_ASSERT(s.layers.size() == 3, "LXMERT sizes: language, cross and vision layers");
  nlohmann::json c = {{"architectures", {"LxmertForQuestionAnswering"}},
                      {"model_type", "lxmert"},
                      {"hidden_size", s.hidden},
                      {"num_attention_heads", s.heads},
                      {"intermediate_size", s.intermediate},
                      {"l_layers", s.layers[0]},
                      {"x_layers", s.layers[1]},
                      {"r_layers", s.layers[2]},
                      {"num_hidden_layers", {{"language", s.layers[0]}, {"cross_encoder", s.layers[1]}, {"vision", s.layers[2]}}},
                      {"visual_feat_dim", s.feature_dim},
                      {"visual_pos_dim", 4},
                      {"num_qa_labels", s.answers},
                      {"max_position_embeddings", s.positions},
                      {"vocab_size", s.vocab},
                      {"type_vocab_size", 2}};
  return example_config_text(c);
}

}  // namespace headprune::models
