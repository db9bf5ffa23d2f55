// The model interface every scorer, protocol and visualization works through.
//
// A VqaModel answers a batch of (question, image regions) with logits over the answer
// vocabulary. It exposes its attention modules as an ordered, named list in the seed's
// scoring order; a forward can (a) multiply each module's softmax output by a per-example
// keep mask, exactly where the seed prunes, (b) keep each module's attention probabilities
// so that a backward leaves their gradients, and (c) keep the activations that layer-wise
// relevance propagation (LRP) needs. Scorers never look inside a model.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <memory>
#include <utility>
#include <string>
#include <vector>

namespace headprune::models {

enum class Modality { text, image };
/// The part of the input a module's queries or keys run over: the question's tokens, the image's
/// regions, or one joint sequence [tokens; regions] (single-stream models such as VisualBERT).
enum class Segment { text, image, joint };

/// One scored attention module (one softmax map per head).
struct AttentionModule {
  std::string name;       ///< e.g. "lxmert.encoder.x_layers.0.visual_attention.att"
  std::string mask_name;  ///< the module the seed's pruned (no-LRP) model masks; usually == name
  /// The stream the module belongs to, as the results file's meta/module_modality names it (a
  /// single-stream model's modules are 'text': its stream starts with the question).
  Modality modality;
  Segment queries;  ///< what its query rows cover
  Segment keys;     ///< what its key columns cover
  int64_t heads;
};

/// What a model reads and the seed's choices for it: everything outside models/ asks this
/// instead of branching on the model family.
struct InputSpec {
  int64_t feature_dim = 0;        ///< region feature size
  bool needs_boxes = false;       ///< reads normalised region boxes (Batch::visual_pos)
  int64_t default_regions = 36;   ///< regions per image it is trained with (LXMERT 36, VisualBERT 100; ViLT
                                  ///< its largest patch grid at the default image size)
  /// The question length the seed used, before the position table caps it: LXMERT's Hugging
  /// Face tokenizer truncates at its model_max_length (512), MMF's VisualBERT processor at
  /// max_seq_length 128.
  int64_t seed_text_tokens = 512;
  /// > 0: the model reads image pixels, not detector regions (ViLT). Its "regions" are then the
  /// image's patch_size x patch_size patches as data::ImageFolder cuts them from `data.images`:
  /// features = the normalised pixels of one patch [3 * patch_size^2], visual_pos = the patch's box
  /// normalised by the resized image (its place in the patch grid), region_mask = padding.
  int64_t patch_size = 0;
  /// Tokens of its own a single-stream model puts between the question and the regions of its
  /// joint sequence, always real (ViLT's image [CLS]: 1); the joint sequence is [tokens; these;
  /// regions].
  int64_t image_tokens = 0;
  /// The shipped answer list (relative to the repository) that the checkpoint was trained with
  /// when it names none itself: LXMERT's data/vqa, MMF's data/vqa/mmf_answers_vqa.txt; "" when
  /// the layout implies none (a Hugging Face VisualBERT).
  std::string default_answer_list;
};

/// A padded batch. Text rows are left-aligned; `text_mask` marks real tokens (1) and padding (0).
/// Regions are a detector's boxes, or a pixel model's patches (InputSpec::patch_size).
struct Batch {
  at::Tensor input_ids;       ///< [B,T] int64
  at::Tensor token_type_ids;  ///< [B,T] int64
  at::Tensor text_mask;       ///< [B,T] int64 (1 = token, 0 = padding)
  at::Tensor visual_feats;    ///< [B,R,F] compute dtype
  at::Tensor visual_pos;      ///< [B,R,4] normalised boxes (x1/w, y1/h, x2/w, y2/h); LXMERT, ViLT (patch boxes)
  at::Tensor region_mask;     ///< [B,R] int64 (1 = region, 0 = padding); undefined = all valid
  int64_t size() const { return input_ids.size(0); }
};

struct ForwardOptions {
  /// Per-example keep masks [B, modules, heads] (0/1, compute dtype) multiplying each module's
  /// softmax output as the seed does; undefined = no pruning. Layer pruning = equal heads.
  at::Tensor keep;
  bool record_attention = false;  ///< keep probabilities with retained gradients (scoring)
  bool record_hidden = false;     ///< keep the named intermediate states (conformance)
  bool record_lrp = false;        ///< keep what relprop() needs (batch size 1)
  /// Record AttnLRP's modified backward (Achtibat et al. 2024; the rules: src/models/layers.hpp,
  /// AttnLrpMode): with record_attention, a backward of logit[target] leaves on each recorded
  /// map A a gradient g such that A * g is the relevance of A. Forward values change by rounding.
  bool attnlrp = false;
};

struct LrpTrace;  // model-specific saved activations (defined in src/models)

struct ForwardResult {
  at::Tensor logits;                         ///< [B, answers]
  std::vector<at::Tensor> attention;         ///< per module [B,H,Q,K] softmax output (record_attention)
  std::map<std::string, at::Tensor> hidden;  ///< named states, the fixture's forward/* names
  std::shared_ptr<LrpTrace> lrp;             ///< record_lrp
};

struct LrpResult {
  std::vector<at::Tensor> attn_cam;              ///< per module [B,H,Q,K]: relevance of the probabilities
  std::map<std::string, at::Tensor> outputs;     ///< relprop return values (fixture names)
};

/// Relevance maps of the seed's generic attention-explainability rules (visualisations).
struct RelevanceMaps {
  /// LXMERT: R_t_t, R_t_i, R_i_i, R_i_t; VisualBERT: relevance [N] = the classifier token's row
  /// (entry T-2 set to 0; tokens are columns 0..T-1, regions T..N-1)
  std::map<std::string, at::Tensor> maps;
  int64_t nan_entries_zeroed = 0;          ///< LXMERT: NaN entries of the cross rule set to 0
  /// What a drawing shows: the answer's relevance of each question token [T] and of each region
  /// [R] (LXMERT: R_t_t and R_t_i of the [CLS] row; VisualBERT: the relevance row split at T).
  at::Tensor text, image;
  /// The relevance of the model's own tokens between them (InputSpec::image_tokens: ViLT's image
  /// [CLS]); undefined when it has none. text + model_tokens + image = the whole explained row.
  at::Tensor model_tokens;
};

/// How a checkpoint names its tensors: Hugging Face's layout, or MMF's (model.bert.*,
/// model.classifier.*). Decides the defaults of the answer list and of the question length.
enum class Layout { huggingface, mmf };

/// Where a loaded model came from (set by load_model()).
struct ModelSource {
  std::string folder;
  std::string config_path;   ///< config.json, or an MMF zoo folder's config.yaml ("" when it has none)
  std::string weights_path;  ///< the weights file read (its SHA-256 goes into the results)
  Layout layout = Layout::huggingface;
  bool mmf_zoo = false;      ///< an MMF zoo folder: model.pth (+ config.yaml), no config.json
  /// config.json's id2label when it names real answers (not the generic LABEL_0, LABEL_1, ...)
  /// and has one entry per output; empty otherwise.
  std::vector<std::string> labels;
};

class VqaModel {
 public:
  virtual ~VqaModel() = default;

  const ModelSource& source() const { return source_; }
  void set_source(ModelSource source) { source_ = std::move(source); }

  /// The family's name (models/families.hpp; config's model.family), e.g. "lxmert".
  virtual const char* name() const = 0;
  virtual InputSpec input_spec() const = 0;
  /// Matrix-product FLOPs (2 m k n per product) of one plain forward of one example of `tokens` x
  /// `regions`, exactly what a MatmulCounter counts (models/matmul_counter.hpp): the parts the
  /// forward skips are left out, an exported pruned model's removed heads too. Keep masks do not
  /// change it (a masked head is still computed, then multiplied by 0).
  virtual double forward_flops(int64_t tokens, int64_t regions) const = 0;
  virtual const std::vector<AttentionModule>& attention_modules() const = 0;
  virtual int64_t num_answers() const = 0;
  virtual int64_t max_text_tokens() const = 0;  ///< position table size
  virtual int64_t vocab_size() const = 0;       ///< word-embedding rows: token ids must be below
  virtual int64_t type_vocab_size() const = 0;  ///< token-type rows: token type ids must be below
  virtual int64_t visual_feat_dim() const = 0;
  virtual at::ScalarType dtype() const = 0;
  at::Device device() const { return parameters().begin()->second.device(); }

  /// Runs the model. Padding never changes a real example's result.
  virtual ForwardResult forward(const Batch& batch, const ForwardOptions& options) const = 0;

  /// Layer-wise relevance propagation (Chefer et al. rules, alpha = 1) from `one_hot` [1, answers]
  /// through a forward made with record_lrp (batch size 1).
  virtual LrpResult relprop(const ForwardResult& forward, const at::Tensor& one_hot) const = 0;

  /// The seed's relevance maps from one example's attention maps and their gradients
  /// (`attention` / `gradients` per module, [1,H,Q,K]); `keep` [modules, heads] masks the maps.
  /// `text_tokens`: the example's question length (VisualBERT reads its classifier token at T - 2).
  /// Fills RelevanceMaps::text and ::image.
  virtual RelevanceMaps relevance_maps(const std::vector<at::Tensor>& attention, const std::vector<at::Tensor>& gradients,
                                       const at::Tensor& keep, int64_t text_tokens) const = 0;

  /// Every parameter by checkpoint name, sharing storage with the model (for training and
  /// saving: write_safetensors(parameters()) gives a checkpoint load_model reads back).
  virtual const std::map<std::string, at::Tensor>& parameters() const = 0;
  /// The name parameters()' key `name` has in the layout of the checkpoint the model was loaded
  /// from (VisualBERT keys are MMF's inside; a Hugging Face checkpoint spells them its way):
  /// what an exported pruned model writes, so that it loads back in the same layout.
  virtual std::string checkpoint_name(const std::string& name) const { return name; }

  int64_t num_modules() const { return static_cast<int64_t>(attention_modules().size()); }
  int64_t heads() const { return attention_modules().front().heads; }

 private:
  ModelSource source_;
};

/// Loading options.
struct LoadOptions {
  at::ScalarType dtype;        ///< compute dtype (kDouble for the fixtures, kFloat otherwise)
  bool strict = true;          ///< missing/unexpected/wrong-shape keys are an error (else logged)
  std::string weights_file;    ///< empty = model.safetensors if present, else pytorch_model.bin
  /// Training from scratch: a folder with config.json only; every parameter is initialised.
  bool init_from_scratch = false;
  uint64_t init_seed = 0;
  std::string device = "cpu";  ///< "cpu", "cuda" or "cuda:N": where the weights live and batches run
};

/// Checks a batch made outside the BatchBuilder (a conformance fixture's inputs) against the
/// model's tables: 2-d integer ids below vocab_size / type_vocab_size, at most max_text_tokens
/// positions, masks of the same shape, [B,R,visual_feat_dim] features (and [B,R,4] LXMERT
/// positions). UserError "<where(field)>: ..." naming the input and what was expected; `where`
/// maps a Batch field name ("input_ids", "text_mask", ...) to where it came from.
void check_batch(const VqaModel& model, const Batch& batch, const std::function<std::string(const std::string&)>& where);

/// Moves every tensor of a batch to `device`.
Batch to_device(const Batch& batch, const at::Device& device);

/// Loads a model folder: Hugging Face's (config.json + model.safetensors or pytorch_model.bin;
/// the family from config.json's model_type through models/families.hpp's table, the key layout (Hugging
/// Face or MMF) from the weights), or MMF's zoo folder for VisualBERT (model.pth, a state dict
/// alone or inside {"model": ...}, + config.yaml, no config.json: sizes from config.yaml's
/// model_config.visual_bert where present, bert-base otherwise). The tokenizer's vocab.txt is
/// not read here (run/inputs.hpp). Throws UserError naming the file and what is wrong.
std::unique_ptr<VqaModel> load_model(const std::string& folder, const LoadOptions& options);

}  // namespace headprune::models
