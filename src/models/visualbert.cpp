// VisualBERT for VQA, as MMF builds it (`visual_bert.finetuned.vqa2`: model.bert.*, model.classifier.*)
// or as Hugging Face names it (`uclanlp/visualbert-vqa`: visual_bert.*, cls.*), with the seed's
// pruning point, LRP rules (BERT_ours.py) and relevance (SelfAttentionGenerator.generate_ours).
//
// Sequence = [text tokens (padded to the batch's longest question); regions]. The classifier
// reads the last question token before [SEP] (index text_mask.sum - 2), not [CLS].
#include <ATen/ATen.h>

#include "headprune/common/error.hpp"
#include "model_internal.hpp"

namespace headprune::models {
namespace {

// Hugging Face -> MMF names (the fixture and MMF's zoo use MMF's). Prefix rewrites, in order.
const std::pair<const char*, const char*> kHfToMmf[] = {
    {"visual_bert.embeddings.visual_token_type_embeddings.", "model.bert.embeddings.token_type_embeddings_visual."},
    {"visual_bert.embeddings.visual_position_embeddings.", "model.bert.embeddings.position_embeddings_visual."},
    {"visual_bert.embeddings.visual_projection.", "model.bert.embeddings.projection."},
    {"visual_bert.", "model.bert."},
    {"cls.", "model.classifier."},
};

std::string hf_to_mmf(const std::string& name) {
  for (const auto& [from, to] : kHfToMmf)
    if (name.rfind(from, 0) == 0) return to + name.substr(std::string(from).size());
  return name;
}

// MMF -> Hugging Face names: kHfToMmf read backwards.
std::string mmf_to_hf(const std::string& name) {
  for (const auto& [hf, mmf] : kHfToMmf)
    if (name.rfind(mmf, 0) == 0) return hf + name.substr(std::string(mmf).size());
  return name;
}

struct BertLayer {
  AttentionWeights att;
  ResidualOut att_out;
  Ffn ffn;
};
struct BertLayerTrace {
  at::Tensor input;
  AttentionTrace att;
  ResidualTrace att_out;
  FfnTrace ffn;
};
struct VisualBertTrace : LrpTrace {
  std::vector<BertLayerTrace> layers;
  at::Tensor sequence_out, gather_index, pooled, transform_out;
};

class VisualBert final : public VqaModel {
 public:
  VisualBert(const nlohmann::json& config, const std::string& config_path, const TensorMap& stored_raw,
             const std::string& weights_path, const LoadOptions& options)
      : dtype_(options.dtype) {
    // Every size is checked before it shapes a tensor (config_size: positive).
    d_ = config_size(config, "hidden_size", config_path);
    heads_ = config_size(config, "num_attention_heads", config_path);
    inter_ = config_size(config, "intermediate_size", config_path);
    const int64_t inter = inter_;
    const int64_t layers = config_size(config, "num_hidden_layers", config_path);
    feat_dim_ = config_size(config, "visual_embedding_dim", config_path);
    max_pos_ = config_size(config, "max_position_embeddings", config_path);
    vocab_ = config_size(config, "vocab_size", config_path);
    type_vocab_ = config_size(config, "type_vocab_size", config_path);
    const int64_t vocab = vocab_, type_vocab = type_vocab_;
    const double eps = config_double(config, "layer_norm_eps", config_path, 1e-12);
    check_heads_divide(d_, heads_, config_path);
    head_counts_ = HeadCounts(config, heads_, config_path);
    const int64_t head_dim = d_ / heads_;
    if (config.contains("pooler_strategy") && config["pooler_strategy"] != "vqa")
      throw UserError(config_path + ": key 'pooler_strategy' must be 'vqa' (the VQA head reads the last question token)");

    // Key layout: HF checkpoints have visual_bert.* and a single Linear head `cls`.
    bool hf_layout = false;
    TensorMap stored;
    for (const auto& [name, t] : stored_raw) {
      if (name.rfind("visual_bert.", 0) == 0 || name.rfind("cls.", 0) == 0) hf_layout = true;
      stored.emplace(hf_to_mmf(name), t);
    }
    hf_head_ = hf_layout;
    answers_ = config_answer_count(config, config_path);

    std::vector<ParamSpec> specs;
    const std::string e = "model.bert.embeddings.";
    specs.push_back({e + "word_embeddings.weight", {vocab, d_}});
    specs.push_back({e + "position_embeddings.weight", {max_pos_, d_}});
    specs.push_back({e + "token_type_embeddings.weight", {type_vocab, d_}});
    specs.push_back({e + "position_embeddings_visual.weight", {max_pos_, d_}});
    specs.push_back({e + "token_type_embeddings_visual.weight", {type_vocab, d_}});
    add_linear_spec(specs, e + "projection", d_, feat_dim_);
    add_layer_norm_spec(specs, e + "LayerNorm", d_);
    for (int64_t i = 0; i < layers; ++i) {
      std::string p = "model.bert.encoder.layer." + std::to_string(i);
      // Q/K/V rows and output-projection columns: the heads present x head_dim (fewer when pruned).
      const int64_t width = head_counts_.heads(p + ".attention.self") * head_dim;
      for (const char* n : {"query", "key", "value"}) add_linear_spec(specs, p + ".attention.self." + n, width, d_);
      add_linear_spec(specs, p + ".attention.output.dense", d_, width);
      add_layer_norm_spec(specs, p + ".attention.output.LayerNorm", d_);
      add_linear_spec(specs, p + ".intermediate.dense", inter, d_);
      add_linear_spec(specs, p + ".output.dense", d_, inter);
      add_layer_norm_spec(specs, p + ".output.LayerNorm", d_);
    }
    add_linear_spec(specs, "model.bert.pooler.dense", d_, d_);  // computed by MMF, unused for VQA
    if (hf_head_) {
      add_linear_spec(specs, "model.classifier", answers_, d_);
    } else {
      add_linear_spec(specs, "model.classifier.0.dense", d_, d_);
      add_layer_norm_spec(specs, "model.classifier.0.LayerNorm", d_);
      add_linear_spec(specs, "model.classifier.1", answers_, d_);
    }
    std::vector<std::string> ignored = {"model.bert.embeddings.position_ids"};
    weights_ = bind_weights(stored, specs, dtype_, options.strict, weights_path, ignored,
                            {options.init_from_scratch, options.init_seed, 0.02});
    const TensorMap& w = weights_;

    word_ = w.at(e + "word_embeddings.weight");
    pos_ = w.at(e + "position_embeddings.weight");
    tt_ = w.at(e + "token_type_embeddings.weight");
    pos_visual_ = w.at(e + "position_embeddings_visual.weight");
    tt_visual_ = w.at(e + "token_type_embeddings_visual.weight");
    projection_ = take_linear(w, e + "projection");
    emb_norm_ = take_layer_norm(w, e + "LayerNorm", eps);
    for (int64_t i = 0; i < layers; ++i) {
      std::string p = "model.bert.encoder.layer." + std::to_string(i);
      BertLayer ly;
      ly.att = {take_linear(w, p + ".attention.self.query"), take_linear(w, p + ".attention.self.key"),
                take_linear(w, p + ".attention.self.value"), head_counts_.heads(p + ".attention.self")};
      ly.att_out = {take_linear(w, p + ".attention.output.dense"), take_layer_norm(w, p + ".attention.output.LayerNorm", eps)};
      ly.ffn = {take_linear(w, p + ".intermediate.dense"),
                {take_linear(w, p + ".output.dense"), take_layer_norm(w, p + ".output.LayerNorm", eps)}};
      layers_.push_back(ly);
      // One stream: every module attends over the joint sequence [question tokens; regions].
      modules_.push_back({p + ".attention.self", p + ".attention.self", Modality::text, Segment::joint, Segment::joint,
                          ly.att.heads});
    }
    std::vector<std::string> known;
    for (const auto& m : modules_) known.push_back(m.name);
    head_counts_.check_known(known);
    if (hf_head_) {
      classifier_ = take_linear(w, "model.classifier");
    } else {
      transform_dense_ = take_linear(w, "model.classifier.0.dense");
      transform_norm_ = take_layer_norm(w, "model.classifier.0.LayerNorm", eps);
      classifier_ = take_linear(w, "model.classifier.1");
    }
  }

  const char* name() const override { return "visualbert"; }
  InputSpec input_spec() const override {
    const bool mmf = source().layout == Layout::mmf;
    InputSpec spec;
    spec.feature_dim = feat_dim_;
    spec.needs_boxes = false;
    spec.default_regions = 100;
    spec.seed_text_tokens = mmf ? 128 : 512;  // MMF's bert_tokenizer max_seq_length; HF's model_max_length
    spec.default_answer_list = mmf ? "data/vqa/mmf_answers_vqa.txt" : "";  // visual_bert.finetuned.vqa2.*
    return spec;
  }
  double forward_flops(int64_t tokens, int64_t regions) const override {
    // Every matrix product forward() runs for one example (what a MatmulCounter counts): 2 m k n
    // each; a layer's attention is as wide as its heads (fewer in an exported pruned model).
    const double d = static_cast<double>(d_), I = static_cast<double>(inter_), R = static_cast<double>(regions),
                 N = static_cast<double>(tokens + regions), dh = static_cast<double>(d_ / heads_);
    double f = 2 * R * static_cast<double>(feat_dim_) * d;  // visual projection
    for (const BertLayer& ly : layers_) {
      const double width = static_cast<double>(ly.att.heads) * dh;
      f += 2 * N * d * width * 3 + 2 * 2 * N * N * width + 2 * N * width * d  // q, k, v; scores, context; output
           + 2 * 2 * N * d * I;                                                 // FFN
    }
    // The answer head reads one position: MMF's transform (dense) and the classifier.
    return f + (hf_head_ ? 0 : 2 * d * d) + 2 * d * static_cast<double>(answers_);
  }
  const std::vector<AttentionModule>& attention_modules() const override { return modules_; }
  int64_t num_answers() const override { return answers_; }
  int64_t max_text_tokens() const override { return max_pos_; }
  int64_t vocab_size() const override { return vocab_; }
  int64_t type_vocab_size() const override { return type_vocab_; }
  int64_t visual_feat_dim() const override { return feat_dim_; }
  at::ScalarType dtype() const override { return dtype_; }
  const std::map<std::string, at::Tensor>& parameters() const override { return weights_; }
  std::string checkpoint_name(const std::string& name) const override { return hf_head_ ? mmf_to_hf(name) : name; }

  ForwardResult forward(const Batch& batch, const ForwardOptions& opt) const override {
    const int64_t B = batch.size(), T = batch.input_ids.size(1), R = batch.visual_feats.size(1);
    if (T > max_pos_) throw UserError("question of " + std::to_string(T) + " tokens exceeds the model's " +
                                      std::to_string(max_pos_) + " positions");
    head_counts_.check_forward(opt);
    const AttnLrpMode attnlrp_mode(opt.attnlrp);  // the layers' backward rules (layers.hpp)
    ForwardResult result;
    auto trace = opt.record_lrp ? std::make_shared<VisualBertTrace>() : nullptr;
    const bool keep_probs = opt.record_attention;
    if (keep_probs || opt.record_lrp) result.attention.resize(modules_.size());

    at::Tensor positions = at::arange(T, batch.input_ids.options()).unsqueeze(0).expand({B, T});
    at::Tensor text = at::embedding(word_, batch.input_ids) + at::embedding(pos_, positions) +
                      at::embedding(tt_, batch.token_type_ids);
    // Every region has position id 0 and token type 0 (no image-text alignment).
    at::Tensor zeros = at::zeros({B, R}, batch.input_ids.options());
    at::Tensor visual = projection_(batch.visual_feats.to(dtype_)) + at::embedding(pos_visual_, zeros) +
                        at::embedding(tt_visual_, zeros);
    at::Tensor h = emb_norm_(at::cat({text, visual}, 1));
    if (keep_probs) h = h.detach().requires_grad_(true);
    if (opt.record_hidden) result.hidden["embedding_output"] = h;

    at::Tensor region_mask = batch.region_mask.defined() ? batch.region_mask : at::ones({B, R}, batch.text_mask.options());
    const at::Tensor mask_add = additive_key_mask(at::cat({batch.text_mask, region_mask.to(batch.text_mask.scalar_type())}, 1), dtype_);
    std::vector<at::Tensor> states;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const BertLayer& ly = layers_[i];
      BertLayerTrace* t = trace ? &trace->layers.emplace_back() : nullptr;
      AttentionTrace local;
      AttentionTrace* at_trace = t ? &t->att : (keep_probs ? &local : nullptr);
      at::Tensor ctx = attention_forward(ly.att, h, h, mask_add, keep_row(opt.keep, static_cast<int64_t>(i)), keep_probs,
                                         opt.record_lrp, at_trace);
      if (at_trace) result.attention[i] = at_trace->probs;
      if (t) t->input = h;
      at::Tensor a = residual_forward(ly.att_out, ctx, h, t ? &t->att_out : nullptr);
      h = ffn_forward(ly.ffn, a, t ? &t->ffn : nullptr);
      states.push_back(h);
    }
    // VQA pooling: the last question token before [SEP].
    at::Tensor index = batch.text_mask.sum(1) - 2;
    at::Tensor pooled = h.gather(1, index.view({B, 1, 1}).expand({B, 1, d_}));
    at::Tensor transformed = hf_head_ ? pooled : transform_norm_(gelu_erf(transform_dense_(pooled)));
    result.logits = classifier_(transformed).view({-1, answers_});
    if (opt.record_hidden) {
      result.hidden["layer_outputs"] = at::stack(states);
      result.hidden["pooled_output"] = pooled;
      if (!hf_head_) result.hidden["head_transform_output"] = transformed;
    }
    if (trace) {
      trace->sequence_out = h;
      trace->gather_index = index;
      trace->pooled = pooled;
      trace->transform_out = transformed;
      result.lrp = trace;
    }
    return result;
  }

  LrpResult relprop(const ForwardResult& fwd, const at::Tensor& one_hot) const override {
    auto* t = dynamic_cast<const VisualBertTrace*>(fwd.lrp.get());
    HP_ASSERT(t != nullptr, "relprop needs a forward with record_lrp");
    LrpResult out;
    out.attn_cam.resize(modules_.size());
    at::Tensor R = one_hot.to(dtype_).view({one_hot.size(0), 1, answers_});
    R = relprop_linear(R, t->transform_out, classifier_);
    if (!hf_head_) R = relprop_linear(R, t->pooled, transform_dense_);  // LayerNorm, GELU: identity
    R = relprop_index_select(R, t->sequence_out, t->gather_index);
    for (int64_t i = static_cast<int64_t>(layers_.size()) - 1; i >= 0; --i) {
      const BertLayer& ly = layers_[static_cast<size_t>(i)];
      const BertLayerTrace& lt = t->layers[static_cast<size_t>(i)];
      at::Tensor R_att = relprop_ffn(R, ly.ffn, lt.ffn);               // BertOutput, BertIntermediate, Clone(2)
      auto [R_ctx, R_res] = relprop_residual(R_att, ly.att_out, lt.att_out);  // BertSelfOutput
      AttentionRelevance a = relprop_attention(R_ctx, ly.att, lt.att, /*through_mask_add=*/true);
      out.attn_cam[static_cast<size_t>(i)] = a.attn_cam;
      at::Tensor R_self = relprop_clone({a.R_q, a.R_k, a.R_v}, lt.input);  // BertSelfAttention's Clone(3)
      R = relprop_clone({R_self, R_res}, lt.input);                        // BertAttention's Clone(2)
    }
    out.outputs["cam"] = R;
    return out;
  }

  RelevanceMaps relevance_maps(const std::vector<at::Tensor>& attention, const std::vector<at::Tensor>& gradients,
                               const at::Tensor& keep, int64_t text_tokens) const override {
    HP_ASSERT(text_tokens >= 2, "relevance_maps needs the question length");
    // Accumulated in at least float32, whatever the model's dtype (bf16 models).
    const auto opts = attention[0].options().requires_grad(false).dtype(accumulation_dtype(attention[0].scalar_type()));
    at::Tensor R = at::eye(attention[0].size(-1), opts);
    for (size_t i = 0; i < attention.size(); ++i) {
      at::Tensor k = keep.defined() ? keep[static_cast<int64_t>(i)] : at::Tensor();
      R = R + at::matmul(avg_heads(attention[i][0].detach().to(opts.dtype()), gradients[i][0].to(opts.dtype()), k), R);
    }
    // The classifier token's row, without its relevance to itself (SelfAttentionGenerator).
    const int64_t cls = text_tokens - 2;
    at::Tensor row = R[cls].clone();
    row[cls] = 0;
    RelevanceMaps maps;
    maps.maps["relevance"] = row;
    maps.text = row.slice(0, 0, text_tokens);  // columns: tokens, then regions
    maps.image = row.slice(0, text_tokens);
    return maps;
  }

 private:
  TensorMap weights_;
  at::ScalarType dtype_;
  HeadCounts head_counts_;  // an exported pruned model's heads per attention module
  int64_t d_ = 0, heads_ = 0, inter_ = 0, feat_dim_ = 0, max_pos_ = 0, answers_ = 0, vocab_ = 0, type_vocab_ = 0;
  bool hf_head_ = false;
  at::Tensor word_, pos_, tt_, pos_visual_, tt_visual_;
  Linear projection_, transform_dense_, classifier_;
  LayerNorm emb_norm_, transform_norm_;
  std::vector<BertLayer> layers_;
  std::vector<AttentionModule> modules_;
};

}  // namespace

std::unique_ptr<VqaModel> make_visualbert(const nlohmann::json& config, const std::string& config_path,
                                          const TensorMap& stored, const std::string& weights_path,
                                          const LoadOptions& options) {
  return std::make_unique<VisualBert>(config, config_path, stored, weights_path, options);
}

std::string visualbert_example_config(const ExampleSizes& s) {
  HP_ASSERT(s.layers.size() == 1, "VisualBERT sizes: one layer count");
  nlohmann::json c = {{"architectures", {"VisualBERT(VisualBERTForClassification)"}},
                      {"model_type", "visual_bert"},
                      {"model", "visual_bert"},
                      {"hidden_size", s.hidden},
                      {"num_attention_heads", s.heads},
                      {"intermediate_size", s.intermediate},
                      {"num_hidden_layers", s.layers[0]},
                      {"visual_embedding_dim", s.feature_dim},
                      {"max_position_embeddings", s.positions},
                      {"vocab_size", s.vocab},
                      {"type_vocab_size", 2},
                      {"num_labels", s.answers},
                      {"pooler_strategy", "vqa"},
                      {"training_head_type", "classification"}};
  return example_config_text(c);
}

}  // namespace headprune::models
