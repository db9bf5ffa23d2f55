// Internal pieces shared by the model implementations (not part of the public interface).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

#include "headprune/models/families.hpp"
#include "headprune/models/model.hpp"
#include "layers.hpp"

namespace headprune::models {

/// Base of the model-specific activation records kept for relprop().
struct LrpTrace {
  virtual ~LrpTrace() = default;
};

/// Reads a key of config.json with a clear error (file, key, expected type).
int64_t config_int(const nlohmann::json& config, const std::string& key, const std::string& file);
/// A size of config.json: an integer in [min, 2^31 - 1] (the bound keeps every product of two
/// sizes inside int64: a huge size must be an error here, not an overflow in a tensor shape).
int64_t config_size(const nlohmann::json& config, const std::string& key, const std::string& file, int64_t min = 1);
/// The classifier's output count of a Hugging Face classification config: num_labels, else the
/// size of id2label (a non-empty object); UserError naming the file and key otherwise.
int64_t config_answer_count(const nlohmann::json& config, const std::string& file);
/// UserError unless hidden_size is a multiple of num_attention_heads (both already positive).
void check_heads_divide(int64_t hidden, int64_t heads, const std::string& file);
/// A number of config.json (absent: `fallback`); layer_norm_eps must be positive and finite.
double config_double(const nlohmann::json& config, const std::string& key, const std::string& file, double fallback);

/// The head counts of an exported pruned model (headprune export, docs/export.md): config.json's
/// `headprune_attention_heads`, an object {attention weight prefix: heads kept}. Absent key or
/// absent object: the module keeps num_attention_heads (an unpruned model reads no other value).
class HeadCounts {
 public:
  HeadCounts() = default;  ///< an unpruned model
  /// Checks the object's shape and each count (an integer from 0 to `full`).
  HeadCounts(const nlohmann::json& config, int64_t full, std::string file);
  int64_t heads(const std::string& prefix) const;
  bool has(const std::string& prefix) const { return counts_.count(prefix) > 0; }
  bool pruned() const { return !counts_.empty(); }
  /// UserError for a key that names none of the model's attention modules (`known`).
  void check_known(const std::vector<std::string>& known) const;
  /// A pruned model runs plain forwards only: keep masks, recorded attention and LRP are indexed
  /// by the full head count (UserError naming the config otherwise).
  void check_forward(const ForwardOptions& options) const;

 private:
  std::map<std::string, int64_t> counts_;
  int64_t full_ = 0;
  std::string file_;
};

/// The model of config.json's `model_type` (the factory of its row in registry.cpp); UserError
/// naming the file and the known types otherwise.
std::unique_ptr<VqaModel> make_model(const std::string& model_type, const nlohmann::json& config,
                                     const std::string& config_path, const TensorMap& stored,
                                     const std::string& weights_path, const LoadOptions& options);

/// Each family's factory and example config.json (rows of registry.cpp).
std::unique_ptr<VqaModel> make_lxmert(const nlohmann::json& config, const std::string& config_path,
                                      const TensorMap& stored, const std::string& weights_path,
                                      const LoadOptions& options);
std::unique_ptr<VqaModel> make_visualbert(const nlohmann::json& config, const std::string& config_path,
                                          const TensorMap& stored, const std::string& weights_path,
                                          const LoadOptions& options);

/// config.json text of `family_keys` plus the keys every example shares (a BERT's activation,
/// initialisation, LayerNorm eps, dtype and padding id).
std::string example_config_text(nlohmann::json family_keys);
std::string lxmert_example_config(const ExampleSizes& sizes);
std::string visualbert_example_config(const ExampleSizes& sizes);
std::unique_ptr<VqaModel> make_vilt(const nlohmann::json& config, const std::string& config_path,
                                    const TensorMap& stored, const std::string& weights_path,
                                    const LoadOptions& options);
std::string vilt_example_config(const ExampleSizes& sizes);

/// Moves checkpoint tensors to options.device (UserError for a bad or unavailable device).
void move_to_device(TensorMap& stored, const LoadOptions& options);

/// An MMF zoo folder (model.pth + config.yaml, no config.json): VisualBERT (src/models/mmf_zoo.cpp).
std::unique_ptr<VqaModel> load_mmf_zoo(const std::string& folder, const LoadOptions& options);

/// Selects row `m` of a keep mask [B,M,H] (undefined stays undefined).
inline at::Tensor keep_row(const at::Tensor& keep, int64_t m) {
  return keep.defined() ? keep.select(1, m) : at::Tensor();
}

/// The dtype relevance is accumulated in: float64 stays, anything else (float32, bf16, fp16)
/// becomes float32.
inline at::ScalarType accumulation_dtype(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

/// Mean over heads of (grad * (attn * keep[h])).clamp(min=0): the seed's avg_heads, [Q,K].
at::Tensor avg_heads(const at::Tensor& attn, const at::Tensor& grad, const at::Tensor& keep_row);

}  // namespace headprune::models
