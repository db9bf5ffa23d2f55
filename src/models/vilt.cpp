// ViLT for VQA (Kim et al. 2021), as Hugging Face's ViltForQuestionAnswering builds it
// (`dandelin/vilt-b32-finetuned-vqa`: vilt.*, classifier.*): a single-stream transformer that reads
// image patches straight from pixels, no detector.
//
// Sequence = [question tokens (padded to the batch's longest question); the image's [CLS] token;
// patches (padded to the batch's largest grid)]. The "regions" of a Batch are the patches that
// data::ImageFolder cuts (InputSpec::patch_size): visual_feats holds each patch's normalised
// pixels flattened (channel, y, x), so the patch embedding - a Conv2d with stride = kernel in Hugging
// Face - is a Linear layer on them; visual_pos holds each patch's box normalised by the resized
// image, from which the patch grid (rows x columns) and the patch's place in it follow. The
// position table (a square grid for image_size) is interpolated bilinearly (align_corners) to each
// image's grid, as ViltEmbeddings.visual_embed does. With max_image_length = -1 (the VQA checkpoint's
// value) Hugging Face keeps every patch; its random choice of padding patches only picks which
// masked keys pad a row, which changes no real token's result, so padding is masked here instead.
//
// Layers are pre-LayerNorm (ViT's block): h = h + attn(LN(h)); h = h + mlp(LN(h)); a final
// LayerNorm, the pooler (dense + tanh on token 0, the question's [CLS]) and the VQA classifier
// (Linear d -> 2d, LayerNorm, GELU, Linear 2d -> answers). LRP uses Chefer et al.'s ViT rules
// (Transformer-Explainability's ViT_LRP.py: LayerNorm and GELU pass relevance unchanged, Add and
// Clone as in the other families); the relevance maps are the single-stream rule of VisualBERT with
// the explained token at index 0.
#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "headprune/common/error.hpp"
#include "model_internal.hpp"

namespace headprune::models {
namespace {

struct VitLayer {
  LayerNorm before, after;
  AttentionWeights att;
  Linear att_out, inter, out;
};
struct VitLayerTrace {
  at::Tensor input, normed_before, context, att_dense_out, mid, normed_after, inter_out, mlp_out;
  AttentionTrace att;
};
struct ViltTrace : LrpTrace {
  std::vector<VitLayerTrace> layers;
  at::Tensor sequence_out, first_token, pooled, head_hidden;
};

class Vilt final : public VqaModel {
 public:
  Vilt(const nlohmann::json& config, const std::string& config_path, const TensorMap& stored,
       const std::string& weights_path, const LoadOptions& options)
      : dtype_(options.dtype) {
    d_ = config_size(config, "hidden_size", config_path);
    heads_ = config_size(config, "num_attention_heads", config_path);
    inter_ = config_size(config, "intermediate_size", config_path);
    const int64_t layers = config_size(config, "num_hidden_layers", config_path);
    max_pos_ = config_size(config, "max_position_embeddings", config_path);
    vocab_ = config_size(config, "vocab_size", config_path);
    type_vocab_ = config_size(config, "type_vocab_size", config_path);
    image_size_ = config_size(config, "image_size", config_path);
    patch_ = config_size(config, "patch_size", config_path);
    const int64_t modality_vocab = config.contains("modality_type_vocab_size")
                                       ? config_size(config, "modality_type_vocab_size", config_path, 2)
                                       : 2;
    const double eps = config_double(config, "layer_norm_eps", config_path, 1e-12);
    check_heads_divide(d_, heads_, config_path);
    if (image_size_ % patch_ != 0)
      throw UserError(config_path + ": key 'image_size' (" + std::to_string(image_size_) +
                      ") must be a multiple of 'patch_size' (" + std::to_string(patch_) + ")");
    if (config.contains("num_channels") && config["num_channels"] != 3)
      throw UserError(config_path + ": key 'num_channels' is " + config["num_channels"].dump() + " (expected 3: RGB images)");
    if (config.contains("qkv_bias") && config["qkv_bias"] != true)
      throw UserError(config_path + ": key 'qkv_bias' is " + config["qkv_bias"].dump() +
                      " (expected true: every released ViLT has query/key/value biases)");
    // A positive max_image_length makes Hugging Face draw the patches it keeps at random
    // (torch.multinomial): no run could be reproduced. The VQA checkpoint keeps every patch.
    if (config.contains("max_image_length") &&
        !(config["max_image_length"].is_number_integer() && config["max_image_length"].get<int64_t>() < 0))
      throw UserError(config_path + ": key 'max_image_length' is " + config["max_image_length"].dump() +
                      " (expected -1: every patch; a positive value samples patches at random, which no run can reproduce)");
    if (config.contains("hidden_act") && config["hidden_act"] != "gelu")
      throw UserError(config_path + ": key 'hidden_act' is " + config["hidden_act"].dump() + " (expected \"gelu\")");
    head_counts_ = HeadCounts(config, heads_, config_path);
    answers_ = config_answer_count(config, config_path);
    grid_ = image_size_ / patch_;
    const int64_t head_dim = d_ / heads_;

    std::vector<ParamSpec> specs;
    const std::string e = "vilt.embeddings.";
    specs.push_back({e + "text_embeddings.word_embeddings.weight", {vocab_, d_}});
    specs.push_back({e + "text_embeddings.position_embeddings.weight", {max_pos_, d_}});
    specs.push_back({e + "text_embeddings.token_type_embeddings.weight", {type_vocab_, d_}});
    add_layer_norm_spec(specs, e + "text_embeddings.LayerNorm", d_);
    specs.push_back({e + "cls_token", {1, 1, d_}});
    specs.push_back({e + "position_embeddings", {1, grid_ * grid_ + 1, d_}});
    specs.push_back({e + "patch_embeddings.projection.weight", {d_, 3, patch_, patch_}});
    specs.push_back({e + "patch_embeddings.projection.bias", {d_}, ParamSpec::Init::zeros});
    specs.push_back({e + "token_type_embeddings.weight", {modality_vocab, d_}});
    for (int64_t i = 0; i < layers; ++i) {
      const std::string p = layer_prefix(i);
      const int64_t width = head_counts_.heads(p + ".attention.attention") * head_dim;
      for (const char* n : {"query", "key", "value"}) add_linear_spec(specs, p + ".attention.attention." + n, width, d_);
      add_linear_spec(specs, p + ".attention.output.dense", d_, width);
      add_linear_spec(specs, p + ".intermediate.dense", inter_, d_);
      add_linear_spec(specs, p + ".output.dense", d_, inter_);
      add_layer_norm_spec(specs, p + ".layernorm_before", d_);
      add_layer_norm_spec(specs, p + ".layernorm_after", d_);
    }
    add_layer_norm_spec(specs, "vilt.layernorm", d_);
    add_linear_spec(specs, "vilt.pooler.dense", d_, d_);
    add_linear_spec(specs, "classifier.0", 2 * d_, d_);
    add_layer_norm_spec(specs, "classifier.1", 2 * d_);
    add_linear_spec(specs, "classifier.3", answers_, 2 * d_);
    const std::vector<std::string> ignored = {e + "text_embeddings.position_ids"};
    weights_ = bind_weights(stored, specs, dtype_, options.strict, weights_path, ignored,
                            {options.init_from_scratch, options.init_seed, 0.02});
    const TensorMap& w = weights_;

    word_ = w.at(e + "text_embeddings.word_embeddings.weight");
    text_pos_ = w.at(e + "text_embeddings.position_embeddings.weight");
    text_type_ = w.at(e + "text_embeddings.token_type_embeddings.weight");
    text_norm_ = take_layer_norm(w, e + "text_embeddings.LayerNorm", eps);
    cls_token_ = w.at(e + "cls_token");
    image_pos_ = w.at(e + "position_embeddings");
    // The Conv2d's kernel [d, 3, p, p] read as a [d, 3 p^2] Linear over (channel, y, x)-flattened
    // patches (a view: training updates the checkpoint tensor itself).
    patch_embed_ = {w.at(e + "patch_embeddings.projection.weight").view({d_, 3 * patch_ * patch_}),
                    w.at(e + "patch_embeddings.projection.bias")};
    modality_ = w.at(e + "token_type_embeddings.weight");
    for (int64_t i = 0; i < layers; ++i) {
      const std::string p = layer_prefix(i);
      const std::string a = p + ".attention.attention";
      VitLayer ly;
      ly.before = take_layer_norm(w, p + ".layernorm_before", eps);
      ly.after = take_layer_norm(w, p + ".layernorm_after", eps);
      ly.att = {take_linear(w, a + ".query"), take_linear(w, a + ".key"), take_linear(w, a + ".value"),
                head_counts_.heads(a)};
      ly.att_out = take_linear(w, p + ".attention.output.dense");
      ly.inter = take_linear(w, p + ".intermediate.dense");
      ly.out = take_linear(w, p + ".output.dense");
      layers_.push_back(ly);
      // One stream over [question; image]: a module's queries and keys are both joint.
      modules_.push_back({a, a, Modality::text, Segment::joint, Segment::joint, ly.att.heads});
    }
    std::vector<std::string> known;
    for (const auto& m : modules_) known.push_back(m.name);
    head_counts_.check_known(known);
    final_norm_ = take_layer_norm(w, "vilt.layernorm", eps);
    pooler_ = take_linear(w, "vilt.pooler.dense");
    head_in_ = take_linear(w, "classifier.0");
    // nn.LayerNorm(2d) without an eps argument in Hugging Face: its default 1e-5, not layer_norm_eps.
    head_norm_ = take_layer_norm(w, "classifier.1", 1e-5);
    head_out_ = take_linear(w, "classifier.3");
  }

  const char* name() const override { return "vilt"; }
  InputSpec input_spec() const override {
    InputSpec spec;
    spec.feature_dim = 3 * patch_ * patch_;
    spec.needs_boxes = true;  // the patch boxes place each patch in its grid
    // The most patches an image gives at the processor's default size (shortest edge image_size,
    // longer edge at most 1333/800 of it): 12 x 20 = 240 for ViLT-B/32.
    spec.default_regions = grid_ * ((image_size_ * 1333 / 800) / patch_);
    spec.seed_text_tokens = max_pos_;  // ViltProcessor pads and truncates questions to 40 tokens
    spec.default_answer_list = "";     // config.json's id2label names the answers
    spec.patch_size = patch_;
    spec.image_tokens = 1;  // the image's [CLS]
    return spec;
  }
  double forward_flops(int64_t tokens, int64_t regions) const override {
    const double d = static_cast<double>(d_), I = static_cast<double>(inter_), R = static_cast<double>(regions),
                 N = static_cast<double>(tokens + 1 + regions), dh = static_cast<double>(d_ / heads_);
    double f = 2 * R * static_cast<double>(3 * patch_ * patch_) * d;  // patch embedding
    for (const VitLayer& ly : layers_) {
      const double width = static_cast<double>(ly.att.heads) * dh;
      f += 2 * N * d * width * 3 + 2 * 2 * N * N * width + 2 * N * width * d  // q, k, v; scores, context; output
           + 2 * 2 * N * d * I;                                                 // MLP
    }
    // The pooler and the classifier read token 0 only.
    return f + 2 * d * d + 2 * d * 2 * d + 2 * 2 * d * static_cast<double>(answers_);
  }
  const std::vector<AttentionModule>& attention_modules() const override { return modules_; }
  int64_t num_answers() const override { return answers_; }
  int64_t max_text_tokens() const override { return max_pos_; }
  int64_t vocab_size() const override { return vocab_; }
  int64_t type_vocab_size() const override { return type_vocab_; }
  int64_t visual_feat_dim() const override { return 3 * patch_ * patch_; }
  at::ScalarType dtype() const override { return dtype_; }
  const std::map<std::string, at::Tensor>& parameters() const override { return weights_; }

  ForwardResult forward(const Batch& batch, const ForwardOptions& opt) const override {
    const int64_t B = batch.size(), T = batch.input_ids.size(1), R = batch.visual_feats.size(1);
    if (T > max_pos_) throw UserError("question of " + std::to_string(T) + " tokens exceeds the model's " +
                                      std::to_string(max_pos_) + " positions");
    head_counts_.check_forward(opt);
    const AttnLrpMode attnlrp_mode(opt.attnlrp);
    ForwardResult result;
    auto trace = opt.record_lrp ? std::make_shared<ViltTrace>() : nullptr;
    const bool keep_probs = opt.record_attention;
    if (keep_probs || opt.record_lrp) result.attention.resize(modules_.size());
    at::Tensor region_mask = batch.region_mask.defined() ? batch.region_mask : at::ones({B, R}, batch.text_mask.options());

    // Text: BERT's embeddings (word + token type + position, LayerNorm), then modality 0.
    at::Tensor positions = at::arange(T, batch.input_ids.options()).unsqueeze(0).expand({B, T});
    at::Tensor text = text_norm_(at::embedding(word_, batch.input_ids) + at::embedding(text_type_, batch.token_type_ids) +
                                 at::embedding(text_pos_, positions)) +
                      modality_[0];
    // Image: [CLS] and the patches, each plus its (interpolated) position, then modality 1.
    at::Tensor cls = (cls_token_ + image_pos_.select(1, 0).unsqueeze(1)).expand({B, 1, d_}) + modality_[1];
    at::Tensor patches = patch_embed_(batch.visual_feats.to(dtype_)) + patch_positions(batch.visual_pos, region_mask) +
                         modality_[1];
    at::Tensor h = at::cat({text, cls, patches}, 1);
    if (keep_probs) h = h.detach().requires_grad_(true);
    if (opt.record_hidden) result.hidden["embedding_output"] = h;

    const at::Tensor mask = at::cat({batch.text_mask, at::ones({B, 1}, batch.text_mask.options()),
                                     region_mask.to(batch.text_mask.scalar_type())},
                                    1);
    const at::Tensor mask_add = additive_key_mask(mask, dtype_);
    std::vector<at::Tensor> states;
    for (size_t i = 0; i < layers_.size(); ++i) {
      const VitLayer& ly = layers_[i];
      VitLayerTrace* t = trace ? &trace->layers.emplace_back() : nullptr;
      AttentionTrace local;
      AttentionTrace* at_trace = t ? &t->att : (keep_probs ? &local : nullptr);
      const at::Tensor normed = ly.before(h);
      at::Tensor ctx = attention_forward(ly.att, normed, normed, mask_add, keep_row(opt.keep, static_cast<int64_t>(i)),
                                         keep_probs, opt.record_lrp, at_trace);
      if (at_trace) result.attention[i] = at_trace->probs;
      const at::Tensor att_dense_out = ly.att_out(ctx);
      const at::Tensor mid = att_dense_out + h;
      const at::Tensor normed_after = ly.after(mid);
      const at::Tensor inter_out = gelu_erf(ly.inter(normed_after));
      const at::Tensor mlp_out = ly.out(inter_out);
      if (t) {  // what relprop() reads (t->att was filled by attention_forward)
        t->input = h;
        t->normed_before = normed;
        t->context = ctx;
        t->att_dense_out = att_dense_out;
        t->mid = mid;
        t->normed_after = normed_after;
        t->inter_out = inter_out;
        t->mlp_out = mlp_out;
      }
      h = mlp_out + mid;
      states.push_back(h);
    }
    const at::Tensor sequence_out = final_norm_(h);
    const at::Tensor first = sequence_out.select(1, 0);
    const at::Tensor pooled = tanh_act(pooler_(first));
    const at::Tensor head_hidden = head_in_(pooled);
    result.logits = head_out_(gelu_erf(head_norm_(head_hidden)));
    if (opt.record_hidden) {
      result.hidden["layer_outputs"] = at::stack(states);
      result.hidden["pooled_output"] = pooled;
    }
    if (trace) {
      trace->sequence_out = sequence_out;
      trace->first_token = first;
      trace->pooled = pooled;
      trace->head_hidden = head_hidden;
      result.lrp = trace;
    }
    return result;
  }

  LrpResult relprop(const ForwardResult& fwd, const at::Tensor& one_hot) const override {
    auto* t = dynamic_cast<const ViltTrace*>(fwd.lrp.get());
    HP_ASSERT(t != nullptr, "relprop needs a forward with record_lrp");
    LrpResult out;
    out.attn_cam.resize(modules_.size());
    at::Tensor R = one_hot.to(dtype_).view({one_hot.size(0), answers_});
    // Classifier (LayerNorm and GELU pass relevance unchanged), pooler (tanh likewise), token 0.
    R = relprop_linear(R, gelu_erf(head_norm_(t->head_hidden)), head_out_);
    R = relprop_linear(R, t->pooled, head_in_);
    R = relprop_linear(R, t->first_token, pooler_);
    R = relprop_index_select(R.unsqueeze(1), t->sequence_out,
                             at::zeros({t->sequence_out.size(0)}, at::TensorOptions().dtype(at::kLong).device(R.device())));
    for (int64_t i = static_cast<int64_t>(layers_.size()) - 1; i >= 0; --i) {
      const VitLayer& ly = layers_[static_cast<size_t>(i)];
      const VitLayerTrace& lt = t->layers[static_cast<size_t>(i)];
      // h_out = mid + mlp(LN(mid)): Add, the MLP's two Linears, Clone.
      auto [R_mid_res, R_mlp] = relprop_add(R, lt.mid, lt.mlp_out);
      at::Tensor R_branch = relprop_linear(relprop_linear(R_mlp, lt.inter_out, ly.out), lt.normed_after, ly.inter);
      R = relprop_clone({R_mid_res, R_branch}, lt.mid);
      // mid = h + out_dense(attn(LN(h))): Add, the output Linear, the attention, Clone.
      auto [R_h_res, R_att] = relprop_add(R, lt.input, lt.att_dense_out);
      // No Add relprop through the key mask: Chefer's ViT rules have none (and a single example
      // has no padding).
      AttentionRelevance a = relprop_attention(relprop_linear(R_att, lt.context, ly.att_out), ly.att, lt.att,
                                               /*through_mask_add=*/false);
      out.attn_cam[static_cast<size_t>(i)] = a.attn_cam;
      const at::Tensor R_self = relprop_clone({a.R_q, a.R_k, a.R_v}, lt.normed_before);
      R = relprop_clone({R_h_res, R_self}, lt.input);
    }
    out.outputs["cam"] = R;
    return out;
  }

  RelevanceMaps relevance_maps(const std::vector<at::Tensor>& attention, const std::vector<at::Tensor>& gradients,
                               const at::Tensor& keep, int64_t text_tokens) const override {
    HP_ASSERT(text_tokens >= 1, "relevance_maps needs the question length");
    const auto opts = attention[0].options().requires_grad(false).dtype(accumulation_dtype(attention[0].scalar_type()));
    at::Tensor R = at::eye(attention[0].size(-1), opts);
    for (size_t i = 0; i < attention.size(); ++i) {
      at::Tensor k = keep.defined() ? keep[static_cast<int64_t>(i)] : at::Tensor();
      R = R + at::matmul(avg_heads(attention[i][0].detach().to(opts.dtype()), gradients[i][0].to(opts.dtype()), k), R);
    }
    // The pooler reads token 0, the question's [CLS]: its row without its relevance to itself.
    at::Tensor row = R[0].clone();
    row[0] = 0;
    RelevanceMaps maps;
    maps.maps["relevance"] = row;
    maps.text = row.slice(0, 0, text_tokens);  // columns: tokens, the image's [CLS], patches
    maps.model_tokens = row.slice(0, text_tokens, text_tokens + 1);
    maps.image = row.slice(0, text_tokens + 1);
    return maps;
  }

 private:
  static std::string layer_prefix(int64_t i) { return "vilt.encoder.layer." + std::to_string(i); }

  // Each patch's position embedding [B,R,d]: the square position table interpolated to the
  // image's patch grid (bilinear, align_corners, as ViltEmbeddings.visual_embed), the patch's cell.
  at::Tensor patch_positions(const at::Tensor& visual_pos, const at::Tensor& region_mask) const {
    const int64_t B = region_mask.size(0), R = region_mask.size(1);
    if (!visual_pos.defined()) throw UserError("ViLT: visual_pos missing (the patch boxes place each patch in its grid)");
    const at::Tensor boxes = visual_pos.detach().to(at::kCPU, at::kDouble).contiguous();
    const at::Tensor valid = region_mask.detach().to(at::kCPU, at::kLong).contiguous();
    const double* bx = boxes.data_ptr<double>();
    const int64_t* ok = valid.data_ptr<int64_t>();
    const at::Tensor spatial = image_pos_.slice(1, 1).transpose(1, 2).reshape({1, d_, grid_, grid_});
    std::map<std::pair<int64_t, int64_t>, at::Tensor> tables;  // (rows, cols) -> [rows * cols, d]
    std::vector<at::Tensor> out;
    for (int64_t b = 0; b < B; ++b) {
      std::vector<int64_t> cell(static_cast<size_t>(R), 0);
      int64_t rows = 0, cols = 0;
      for (int64_t r = 0; r < R; ++r) {
        if (!ok[b * R + r]) continue;
        const double* p = bx + (b * R + r) * 4;
        const double w = p[2] - p[0], hgt = p[3] - p[1];
        if (!(w > 0 && hgt > 0))
          throw UserError("ViLT: visual_pos of example " + std::to_string(b) + ", patch " + std::to_string(r) +
                          " is not a patch box (expected x1 < x2, y1 < y2 normalised by the resized image)");
        const int64_t c = std::llround(1.0 / w), g = std::llround(1.0 / hgt);
        const int64_t i = std::llround(p[1] * static_cast<double>(g)), j = std::llround(p[0] * static_cast<double>(c));
        if ((rows && (g != rows || c != cols)) || i < 0 || j < 0 || i >= g || j >= c)
          throw UserError("ViLT: visual_pos of example " + std::to_string(b) + ", patch " + std::to_string(r) +
                          " does not lie on one patch grid");
        rows = g;
        cols = c;
        cell[static_cast<size_t>(r)] = i * c + j;
      }
      if (!rows) throw UserError("ViLT: example " + std::to_string(b) + " has no image patch");
      auto it = tables.find({rows, cols});
      if (it == tables.end()) {
        const at::Tensor grid = at::upsample_bilinear2d(spatial, {rows, cols}, /*align_corners=*/true);
        it = tables.emplace(std::make_pair(rows, cols), grid.reshape({d_, rows * cols}).t()).first;
      }
      out.push_back(it->second.index_select(0, at::tensor(cell, at::kLong).to(spatial.device())));
    }
    return at::stack(out);
  }

  TensorMap weights_;
  at::ScalarType dtype_;
  HeadCounts head_counts_;
  int64_t d_ = 0, heads_ = 0, inter_ = 0, max_pos_ = 0, answers_ = 0, vocab_ = 0, type_vocab_ = 0;
  int64_t image_size_ = 0, patch_ = 0, grid_ = 0;
  at::Tensor word_, text_pos_, text_type_, cls_token_, image_pos_, modality_;
  LayerNorm text_norm_, final_norm_, head_norm_;
  Linear patch_embed_, pooler_, head_in_, head_out_;
  std::vector<VitLayer> layers_;
  std::vector<AttentionModule> modules_;
};

}  // namespace

std::unique_ptr<VqaModel> make_vilt(const nlohmann::json& config, const std::string& config_path,
                                    const TensorMap& stored, const std::string& weights_path,
                                    const LoadOptions& options) {
  return std::make_unique<Vilt>(config, config_path, stored, weights_path, options);
}

std::string vilt_example_config(const ExampleSizes& s) {
  HP_ASSERT(s.layers.size() == 1, "ViLT sizes: one layer count");
  HP_ASSERT(s.feature_dim == 3 * s.patch_size * s.patch_size, "ViLT sizes: feature_dim = 3 patch_size^2");
  nlohmann::json c = {{"architectures", {"ViltForQuestionAnswering"}},
                      {"model_type", "vilt"},
                      {"hidden_size", s.hidden},
                      {"num_attention_heads", s.heads},
                      {"intermediate_size", s.intermediate},
                      {"num_hidden_layers", s.layers[0]},
                      {"image_size", s.image_size},
                      {"patch_size", s.patch_size},
                      {"num_channels", 3},
                      {"qkv_bias", true},
                      {"max_image_length", -1},
                      {"max_position_embeddings", s.positions},
                      {"modality_type_vocab_size", 2},
                      {"vocab_size", s.vocab},
                      {"type_vocab_size", 2},
                      {"num_labels", s.answers}};
  return example_config_text(c);
}

}  // namespace headprune::models
