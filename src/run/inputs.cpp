#include "headprune/run/inputs.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <unordered_map>

#include <ATen/Context.h>

#include "headprune/common/error.hpp"
#include "headprune/data/feature_store.hpp"
#include "headprune/data/images.hpp"

namespace headprune::run {
namespace fs = std::filesystem;

std::string tokenizer_vocab_path(const config::Config& c, const models::VqaModel& model) {
  if (c.model.vocab) {
    if (!fs::is_regular_file(*c.model.vocab))
      throw UserError(*c.model.vocab + ": model.vocab: file not found (expected BERT's vocab.txt)");
    return *c.model.vocab;
  }
  const std::string own = (fs::path(c.model.path) / "vocab.txt").string();
  if (fs::is_regular_file(own)) return own;
  if (model.source().mmf_zoo)
    throw UserError(c.model.path + ": model.vocab: not set, and an MMF zoo folder has no vocab.txt (set model.vocab "
                                   "to bert-base-uncased's vocab.txt, the vocabulary of MMF's bert_tokenizer)");
  throw UserError(own + ": not found (the tokenizer's vocabulary; or set model.vocab)");
}

int64_t text_token_limit(const config::Config& c, const models::VqaModel& model) {
  const int64_t positions = model.max_text_tokens();
  if (c.model.max_text_tokens != 0) {
    if (c.model.max_text_tokens > positions)
      throw UserError("model.max_text_tokens = " + std::to_string(c.model.max_text_tokens) + " exceeds the " +
                      std::to_string(positions) + " position embeddings of the model at " + c.model.path);
    return c.model.max_text_tokens;
  }
  return std::min<int64_t>(model.input_spec().seed_text_tokens, positions);  // the seed's, capped by the positions
}

namespace {

// A list shipped in data/vqa/: from the working directory (the repository root, as the configs
// are written), else beside the executable's folder (build/headprune -> data/vqa).
std::string shipped(const std::string& relative) {
  std::error_code ec;
  if (fs::exists(relative, ec)) return relative;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path beside = exe.parent_path().parent_path() / relative;
    if (fs::exists(beside, ec)) return beside.string();
  }
  return relative;  // not found: the error names the path as configured
}

}  // namespace

Answers load_answers(const config::Config& c, const models::VqaModel& model) {
  const models::ModelSource& src = model.source();
  std::string path;
  std::optional<data::AnswerVocab> vocab;
  std::string source;
  if (c.data.answers) {
    path = *c.data.answers;
  } else if (!src.labels.empty()) {
    vocab = data::AnswerVocab::from_answers(src.labels);  // unique: checked where labels were read
    source = src.config_path + ": id2label";
  } else if (const std::string shipped_list = model.input_spec().default_answer_list; !shipped_list.empty()) {
    path = shipped(shipped_list);
  } else {
    throw UserError(c.model.path + ": data.answers: not set, and the model names no answers (config.json has no "
                                   "id2label with real answers): set data.answers to the list it was trained with");
  }
  if (!vocab) {
    vocab = data::AnswerVocab::load(path);  // a folder (LXMERT's JSON pair) or a file (MMF's, one a line)
    source = path;
  }
  if (model.num_answers() != vocab->size())
    throw UserError(source + ": " + std::to_string(vocab->size()) + " answers, but the model at " + c.model.path +
                    " has " + std::to_string(model.num_answers()) + " outputs (data.answers must be the list the " +
                    "model was trained with)");
  // sha256 of the file that fixes the order (sha256sum gives the same), or of the id2label
  // answers joined by newlines.
  const std::string sha = vocab->sha256();
  return {std::move(*vocab), source, sha};
}

namespace {

// The processor settings that decide the pixels a model gets (part of the run's identity).
std::string processor_settings_text(const data::ImageProcessorSettings& s) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "\nimage processor: shortest_edge %lld, size_divisor %lld, resample %d, rescale %d %.17g, normalize %d "
                "mean %.9g %.9g %.9g std %.9g %.9g %.9g",
                static_cast<long long>(s.shortest_edge), static_cast<long long>(s.size_divisor), s.resample,
                s.do_rescale ? 1 : 0, s.rescale_factor, s.do_normalize ? 1 : 0, s.image_mean[0], s.image_mean[1],
                s.image_mean[2], s.image_std[0], s.image_std[1], s.image_std[2]);
  return buf;
}

}  // namespace

Inputs load_inputs(const config::Config& c, int gpu_slot, const std::string& who) {
  models::LoadOptions lo{c.precision == config::Precision::fp64   ? at::kDouble
                         : c.precision == config::Precision::bf16 ? at::kBFloat16
                                                                  : at::kFloat,
                         c.model.strict_load, ""};
  if (c.device == config::Device::cuda) {
    const int gpus = static_cast<int>(at::getNumGPUs());
    if (gpus == 0) throw UserError("device: cuda, but no GPU is visible to " + who + " (device: cpu runs on the CPU)");
    lo.device = "cuda:" + std::to_string(gpu_slot % gpus);
  }
  at::globalContext().setAllowTF32CuBLAS(c.precision == config::Precision::tf32);
  Inputs in;
  in.model = models::load_model(c.model.path, lo);
  if (c.model.family != in.model->name())
    throw UserError("model.family = " + c.model.family + " but " + c.model.path + " holds a " + in.model->name() +
                    " model");
  Answers answers = load_answers(c, *in.model);
  in.vocab = std::make_unique<data::AnswerVocab>(std::move(answers.vocab));
  in.answers_source = answers.source;
  in.answers_sha256 = answers.sha256;
  in.tokenizer_vocab = tokenizer_vocab_path(c, *in.model);
  in.tokenizer = std::make_unique<data::WordPieceTokenizer>(data::WordPieceTokenizer::from_vocab_file(in.tokenizer_vocab));
  in.text_tokens = text_token_limit(c, *in.model);
  const models::InputSpec spec = in.model->input_spec();
  int64_t max_regions = c.model.max_regions;
  if (spec.patch_size > 0) {
    if (!c.data.images)
      throw UserError("data.images: required for model family " + c.model.family +
                      " (it reads image pixels: a folder of JPEG/PNG files in COCO's val2014 layout, e.g. "
                      "COCO_val2014_000000393225.jpg)");
    const data::ImageProcessorSettings settings = data::read_image_processor_config(c.model.path);
    in.images = std::make_unique<data::ImageFolder>(*c.data.images, settings, spec.patch_size);
    in.images_settings = processor_settings_text(settings);
    // Every patch is kept (Hugging Face's max_image_length -1): the batch holds the largest grid.
    max_regions = data::max_patches(settings, spec.patch_size);
  } else {
    if (c.data.features.empty())
      throw UserError("data.features: required for model family " + c.model.family +
                      " (it reads detector region features: the HDF5 store `headprune import-features` writes)");
    in.images = std::make_unique<data::FeatureStore>(c.data.features);
  }
  in.builder = std::make_unique<BatchBuilder>(*in.model, *in.tokenizer, *in.images,
                                              BatchBuilderOptions{in.text_tokens, max_regions});
  in.questions = data::load_questions(c.data.format, c.data.questions, c.data.annotations.value_or(""), *in.vocab);
  return in;
}

std::string zero_accuracy_warning(int64_t samples, double score_sum, const std::string& answers_source) {
  if (samples < 64 || score_sum != 0.0) return "";
  return "the unpruned model answered none of the " + std::to_string(samples) +
         " samples right: the answer list " + answers_source +
         " may not be the model's (set data.answers to the list the model was trained with)";
}

}  // namespace headprune::run
