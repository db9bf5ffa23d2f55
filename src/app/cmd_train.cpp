// `headprune train`: train a model from scratch on VQA questions in the supported formats and
// write a checkpoint folder that load_model() (and `headprune run`) reads (demo/trainer.hpp).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.hpp"
#include "headprune/common/error.hpp"
#include "headprune/demo/trainer.hpp"

namespace headprune::app {

void add_train_command(CLI::App& app, CommandTable& table) {
  auto job = std::make_shared<demo::TrainJob>();
  auto* sub = app.add_subcommand("train", "Train an LXMERT, VisualBERT or ViLT model from scratch and save a checkpoint folder");
  sub->add_option("--model-config", job->model_config,
                  "config.json of the architecture (LXMERT or VisualBERT layout; model_type selects the family)")
      ->required();
  sub->add_option("--questions", job->questions, "training questions, LXMERT JSON (question_id, img_id, sent, label)")
      ->required();
  sub->add_option("--valid", job->valid, "validation questions, LXMERT JSON")->required();
  auto* features = sub->add_option("--features", job->features, "HDF5 feature store with every image of both question files "
                                                                 "(LXMERT, VisualBERT)");
  auto* images = sub->add_option("--images", job->images, "folder of every image of both question files (ViLT: pixels)");
  sub->add_option("--image-processor", job->image_processor, "the images' preprocessor_config.json (ViLT; copied into "
                                                             "the checkpoint)")
      ->needs(images);
  images->needs("--image-processor");
  features->excludes(images);
  sub->add_option("--vocab", job->vocab, "vocab.txt of the tokenizer (copied into the checkpoint)")->required();
  sub->add_option("--answers", job->answers_dir, "folder with trainval_ans2label.json and trainval_label2ans.json")
      ->required();
  sub->add_option("--out", job->out_dir, "checkpoint folder to create (config.json, model.safetensors, vocab.txt, "
                                         "training.json)")
      ->required();
  sub->add_flag("--overwrite", job->overwrite, "replace an existing --out folder");
  demo::TrainOptions& o = job->options;
  sub->add_option("--epochs", o.epochs, "passes over the training questions (default 10)")->check(AtLeast(1));
  sub->add_option("--lr", o.lr, "peak AdamW learning rate (default 1e-3; linear warm-up and decay)")
      ->check(CLI::Range(1e-12, 10.0));
  sub->add_option("--batch-size", o.batch_size, "questions per step (default 64)")->check(AtLeast(1));
  sub->add_option("--seed", o.seed, "initialisation and shuffling seed (default 0)")->check(AtLeast(0));
  sub->add_option("--threads", o.threads, "LibTorch threads (default 0: LibTorch's choice)")->check(AtLeast(0));
  sub->add_option("--weight-decay", o.weight_decay, "AdamW weight decay on matrices (default 0.01)")
      ->check(AtLeast(0, /*integer=*/false));
  sub->add_option("--warmup", o.warmup_fraction, "fraction of the steps spent warming up (default 0.1)")
      ->check(CLI::Range(0.0, 0.99));
  sub->add_option("--max-text-tokens", o.max_text_tokens, "question tokens incl. [CLS] and [SEP] (default 20)")
      ->check(CLI::Range(3, 100000));
  sub->add_option("--max-regions", o.max_regions, "regions per image (default 0: 36 LXMERT, 100 VisualBERT)")
      ->check(AtLeast(0));
  auto metadata = std::make_shared<std::vector<std::string>>();
  sub->add_option("--metadata", *metadata, "KEY=VALUE noted in training.json (repeatable; the demo stores its "
                                           "settings hash this way)");
  table.entries.emplace_back(sub, [job, metadata] {
    if (job->features.empty() && job->images.empty())
      throw UserError("train: give --features (a model of region features) or --images with --image-processor (ViLT)");
    for (const auto& kv : *metadata) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw UserError("--metadata '" + kv + "': expected KEY=VALUE");
      job->metadata[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    demo::TrainReport r = demo::run_training(*job);
    std::printf("trained %s: valid accuracy %.2f (before training %.2f), majority answer '%s' %.2f; %lld steps, "
                "%.1f s\n",
                job->out_dir.c_str(), r.final_valid_accuracy, r.initial_valid_accuracy, r.majority.answer.c_str(),
                r.majority.valid_accuracy, static_cast<long long>(r.steps), r.seconds);
    return static_cast<int>(ExitCode::ok);
  });
}

}  // namespace headprune::app
