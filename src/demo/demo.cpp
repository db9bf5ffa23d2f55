#include "headprune/demo/demo.hpp"

#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "headprune/common/error.hpp"
#include "headprune/explain/methods.hpp"
#include "headprune/models/families.hpp"
#include "headprune/models/model.hpp"
#include "headprune/prune/protocol.hpp"

extern char** environ;

namespace headprune::demo {

namespace fs = std::filesystem;

namespace {

// Bump when the demo's recipe changes in a way the hashed settings do not capture.
constexpr int kDemoVersion = 1;

// attattr's integrated-gradients steps in the demo's analysis (scoring.ig_steps; the paper's m = 20
// is the default): its cost is 1 + 2 M S forwards per sample, M = 8 modules on the demo's LXMERT.
// Measured on 2 cores (README, demo section): every method with S = 5 makes the demo rerun 1.19x
// the five methods' time; attattr alone scores 500 LXMERT samples in ~13 s with S = 5, ~30 s with 20.
constexpr int kDemoIgSteps = 5;

std::string fnv_hex(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ULL;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string options_text(const TrainOptions& o) {
  std::ostringstream s;
  s.precision(17);
  s << "epochs=" << o.epochs << ";batch=" << o.batch_size << ";lr=" << o.lr << ";wd=" << o.weight_decay
    << ";b1=" << o.beta1 << ";b2=" << o.beta2 << ";eps=" << o.adam_eps << ";warmup=" << o.warmup_fraction
    << ";clip=" << o.clip_norm << ";seed=" << o.seed << ";threads=" << o.threads << ";tokens=" << o.max_text_tokens
    << ";regions=" << o.max_regions;
  return s.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  if (!out) throw RuntimeFailure(path + ": cannot create the file (check the folder's permissions)");
  out << text;
  if (!out.flush()) throw RuntimeFailure(path + ": write failed (disk full?)");
}

// The saved model's figures when its training.json has `hash` (and the weights exist).
bool load_reusable(const std::string& dir, const std::string& hash, DemoModel* m) {
  const fs::path d(dir);
  if (!fs::exists(d / "model.safetensors") || !fs::exists(d / "config.json") || !fs::exists(d / "vocab.txt"))
    return false;
  std::ifstream in(d / "training.json");
  if (!in) return false;
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    if (!j.contains("metadata") || j["metadata"].value("settings_hash", "") != hash) return false;
    m->valid_accuracy = j.at("final_valid_accuracy").get<double>();
    m->initial_accuracy = j.at("initial_valid_accuracy").get<double>();
    m->majority_answer = j.at("majority_answer").get<std::string>();
    m->majority_accuracy = j.at("majority_valid_accuracy").get<double>();
    m->seconds = j.at("seconds").get<double>();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// A few validation questions among the first `samples` to visualise: one per kind.
std::vector<int64_t> pick_visualized(const SyntheticWorld& world, int64_t samples) {
  std::vector<int64_t> ids;
  std::vector<std::string> kinds = {"what color is the", "how many", "is there a left of", "what shape is the"};
  int64_t seen = 0;
  for (const auto& q : world.questions) {
    if (q.train) continue;
    if (seen++ >= samples) break;
    for (auto it = kinds.begin(); it != kinds.end(); ++it)
      if (q.question_type == *it) {
        ids.push_back(q.question_id);
        kinds.erase(it);
        break;
      }
  }
  return ids;
}

std::string number(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// The `headprune train` command line of a job (every option the demo sets).
std::vector<std::string> train_command(const std::string& exe, const TrainJob& job) {
  const TrainOptions& o = job.options;
  std::vector<std::string> args = {exe, "train", "--model-config", job.model_config, "--questions", job.questions,
                                   "--valid", job.valid, "--vocab", job.vocab,
                                   "--answers", job.answers_dir, "--out", job.out_dir,
                                   "--epochs", std::to_string(o.epochs), "--lr", number(o.lr),
                                   "--batch-size", std::to_string(o.batch_size), "--seed", std::to_string(o.seed),
                                   "--threads", std::to_string(o.threads), "--weight-decay", number(o.weight_decay),
                                   "--warmup", number(o.warmup_fraction),
                                   "--max-text-tokens", std::to_string(o.max_text_tokens),
                                   "--max-regions", std::to_string(o.max_regions)};
  // The images' source: region features, or a pixel model's images and their processor.
  for (const auto& [flag, value] : {std::pair{"--features", job.features}, {"--images", job.images},
                                    {"--image-processor", job.image_processor}})
    if (!value.empty()) args.insert(args.end(), {flag, value});
  if (job.overwrite) args.push_back("--overwrite");
  for (const auto& [key, value] : job.metadata) {
    args.push_back("--metadata");
    args.push_back(key + "=" + value);
  }
  return args;
}

pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
  if (rc != 0) throw RuntimeFailure("cannot start " + args[0] + " (" + std::strerror(rc) + ")");
  return pid;
}

// The exit code of a child; 128 + signal when it was killed.
int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

const std::vector<std::string>& demo_families() {
  // Every family of the table: each is trained on the world's region features or, if it reads
  // pixels, on its rendered scenes.
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const models::FamilyInfo& f : models::families()) out.push_back(f.name);
    return out;
  }();
  return names;
}

SyntheticWorldOptions demo_world_options(uint64_t seed, bool small) {
  SyntheticWorldOptions o;
  o.seed = seed;
  o.train_images = small ? 500 : 2000;  // 3000 / 12000 training questions
  o.valid_images = small ? 120 : 400;
  o.questions_per_image = 6;
  o.feature_dim = 32;
  return o;
}

std::string demo_model_config(const std::string& family, const SyntheticWorld& world, bool small) {
  (void)small;  // one architecture for both settings: the small setting only shrinks data and schedule
  models::ExampleSizes sizes = models::find_family(family, "demo").small;
  sizes.vocab = static_cast<int64_t>(world.vocab.size());
  sizes.answers = static_cast<int64_t>(world.answers.size());
  if (sizes.patch_size == 0) sizes.feature_dim = world.options.feature_dim;  // region features; a pixel model's are patches
  return models::find_family(family, "demo").example_config(sizes);
}

std::string demo_image_processor_config(const std::string& family) {
  const models::ExampleSizes sizes = models::find_family(family, "demo").small;
  if (sizes.patch_size == 0) return "";
  // ViltImageProcessor's keys (dandelin's file) at the small model's scale: the rendered 320 x 240
  // scenes become 80 x 64 pixels, a 4 x 5 grid of 16-pixel patches.
  nlohmann::json c = {{"image_processor_type", "ViltImageProcessor"},
                      {"do_resize", true},
                      {"size", {{"shortest_edge", sizes.image_size}}},
                      {"size_divisor", sizes.patch_size},
                      {"resample", 3},
                      {"do_rescale", true},
                      {"rescale_factor", 1.0 / 255.0},
                      {"do_normalize", true},
                      {"image_mean", {0.5, 0.5, 0.5}},
                      {"image_std", {0.5, 0.5, 0.5}},
                      {"do_pad", true}};
  return c.dump(2) + "\n";
}

TrainOptions demo_train_options(const std::string& family, uint64_t seed, bool small, int threads) {
  TrainOptions o;
  // Grounding (attending from a question word to the right region) appears only after a few
  // thousand steps; small batches give more steps for the same compute.
  o.epochs = small ? 20 : 18;
  o.batch_size = 32;
  o.lr = 1e-3;
  o.seed = seed;
  o.threads = threads;
  o.max_text_tokens = 20;
  o.max_regions = 0;
  (void)family;
  return o;
}

std::string demo_run_config(const DemoModel& model, const SyntheticWorldFiles& world, uint64_t seed,
                            int64_t samples, const std::vector<int64_t>& visualize_ids) {
  std::string modalities;
  for (const auto& k : model.modalities) modalities += (modalities.empty() ? "" : ", ") + k;
  std::ostringstream y;
  const std::string root = fs::path(model.run_config).parent_path().parent_path().string();
  y << "# The demo's analysis of its " << model.family << " model (written by `headprune demo`; keys: docs/config.md).\n"
    << "name: demo_" << model.family << "\n"
    << "seed: " << seed << "\n"
    << "model:\n"
    << "  family: " << model.family << "\n"
    << "  path: " << model.dir << "\n"
    << "  max_text_tokens: 20\n"
    << "data:\n"
    << "  format: lxmert_json\n"
    << "  questions: " << world.valid_questions << "\n"
    << (model.reads_pixels ? "  images: " + world.images_dir : "  features: " + world.features) << "\n"
    << "  answers: " << world.answers_dir << "\n"
    << "  selection: first_n\n"
    << "  num_samples: " << samples << "\n"
    << "  image_root: " << world.images_dir << "\n"
    << "scoring:\n"
    << "  methods: [";
  // Every method of the registry: a method added there is in the demo's analysis and report.
  const std::vector<std::string> methods = explain::method_names();
  for (size_t i = 0; i < methods.size(); ++i) y << (i ? ", " : "") << methods[i];
  y << "]\n"
    << "  ig_steps: " << kDemoIgSteps << "\n"
    << "  random_seed: " << seed << "\n"
    << "prune:\n"
    << "  protocols: [per_sample, global]\n"
    << "  granularities: [head, layer]\n"
    << "  signs: [positive, negative]\n"
    << "  modalities: [" << modalities << "]\n"
    << "run:\n"
    << "  batch_size: 8\n"
    << "output:\n"
    << "  path: " << model.results << "\n"
    << "  overwrite: true\n"
    << "visualize:\n"
    << "  samples: [";
  for (size_t i = 0; i < visualize_ids.size(); ++i) y << (i ? ", " : "") << visualize_ids[i];
  y << "]\n"
    << "  out_dir: " << (fs::path(root) / "visualizations" / model.family).string() << "\n";
  return y.str();
}

DemoResult prepare_demo(const DemoOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  DemoResult result;
  const fs::path root = fs::absolute(options.out_dir).lexically_normal();  // run configs hold absolute paths
  const std::string world_dir = (root / "data").string();

  // 1. The world (always rebuilt in memory: it is cheap; written only when it changed).
  const SyntheticWorldOptions wo = demo_world_options(options.seed, options.small);
  const SyntheticWorld world = make_synthetic_world(wo);
  if (synthetic_world_hash(world_dir) == wo.hash()) {
    result.world = synthetic_world_files(world_dir);
    result.world_reused = true;
    spdlog::info("demo: reusing the synthetic world in {} ({})", world_dir, wo.hash());
  } else {
    const auto tw = std::chrono::steady_clock::now();
    result.world = write_synthetic_world(world, world_dir);
    int64_t train_q = 0;
    for (const auto& q : world.questions) train_q += q.train;
    spdlog::info("demo: wrote the synthetic world to {}: {} images, {} train / {} valid questions ({:.1f} s)",
                 world_dir, world.scenes.size(), train_q, static_cast<int64_t>(world.questions.size()) - train_q,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - tw).count());
  }

  // 2. The models.
  const int64_t samples = options.analysis_samples > 0 ? options.analysis_samples : (options.small ? 64 : 500);
  std::error_code ec;
  fs::create_directories(root / "models", ec);
  fs::create_directories(root / "configs", ec);
  fs::create_directories(root / "results", ec);
  if (ec) throw RuntimeFailure(options.out_dir + ": cannot create the demo folders (" + ec.message() + ")");
  std::vector<TrainJob> jobs;          // models to train
  std::vector<size_t> job_model;       // index into result.models
  for (const std::string& family : demo_families()) {
    DemoModel m;
    m.family = family;
    m.dir = (root / "models" / family).string();
    m.run_config = (root / "configs" / (family + ".yaml")).string();
    m.results = (root / "results" / (family + ".h5")).string();
    const std::string config = demo_model_config(family, world, options.small);
    const std::string processor = demo_image_processor_config(family);
    const TrainOptions to = demo_train_options(family, options.seed, options.small, options.threads);
    m.settings_hash = fnv_hex("demo-v" + std::to_string(kDemoVersion) + "|" + wo.hash() + "|" + config + "|" +
                              options_text(to) + (processor.empty() ? "" : "|" + processor));
    if (!options.retrain && load_reusable(m.dir, m.settings_hash, &m)) {
      m.reused = true;
      spdlog::info("demo: reusing the {} model in {} (settings {})", family, m.dir, m.settings_hash);
    } else {
      const std::string config_path = (root / "models" / (family + ".config.json")).string();
      write_text(config_path, config);
      TrainJob job;
      job.model_config = config_path;
      job.questions = result.world.train_questions;
      job.valid = result.world.valid_questions;
      if (processor.empty()) {
        job.features = result.world.features;
      } else {  // a pixel model learns from the rendered scenes
        job.images = result.world.images_dir;
        job.image_processor = (root / "models" / (family + ".preprocessor_config.json")).string();
        write_text(job.image_processor, processor);
      }
      job.vocab = result.world.vocab;
      job.answers_dir = result.world.answers_dir;
      job.out_dir = m.dir;
      job.overwrite = true;
      job.options = to;
      job.metadata = {{"settings_hash", m.settings_hash}, {"demo_seed", std::to_string(options.seed)},
                      {"demo_setting", options.small ? "small" : "default"}};
      jobs.push_back(job);
      job_model.push_back(result.models.size());
    }
    result.models.push_back(m);
  }

  if (!options.executable.empty() && jobs.size() > 1) {
    // One `headprune train` process per model, at the same time (one core each).
    std::vector<pid_t> pids;
    for (const TrainJob& job : jobs) {
      spdlog::info("demo: training {} ({} epochs, {} thread(s) each, in parallel)", job.out_dir, job.options.epochs,
                   job.options.threads);
      pids.push_back(spawn(train_command(options.executable, job)));
    }
    std::string failed;
    for (size_t i = 0; i < pids.size(); ++i) {
      const int code = wait_exit(pids[i]);
      if (code != 0) failed += (failed.empty() ? "" : ", ") + jobs[i].out_dir + " (exit " + std::to_string(code) + ")";
    }
    if (!failed.empty())
      throw RuntimeFailure("demo: training failed for " + failed + "; see the messages above");
  } else {
    for (const TrainJob& job : jobs) {
      spdlog::info("demo: training {} ({} epochs, {} thread(s))", job.out_dir, job.options.epochs, job.options.threads);
      run_training(job);
    }
  }
  for (size_t i = 0; i < jobs.size(); ++i) {
    DemoModel& m = result.models[job_model[i]];
    if (!load_reusable(m.dir, m.settings_hash, &m))
      throw RuntimeFailure(m.dir + ": training finished but training.json lacks the demo's settings hash");
  }
  for (DemoModel& m : result.models) {
    // The kinds of the model's attention modules (prune/protocol.hpp): a model with cross
    // attention also gets curves that prune only those heads.
    models::LoadOptions load;
    load.dtype = at::kFloat;
    const auto model = models::load_model(m.dir, load);
    m.reads_pixels = model->input_spec().patch_size > 0;
    if (prune::eligible_units(*model, prune::ModuleKind::cross, prune::Granularity::layer).any().item<bool>())
      m.modalities = {"all", "cross"};
  }
  for (const DemoModel& m : result.models)
    write_text(m.run_config, demo_run_config(m, result.world, options.seed, samples, pick_visualized(world, samples)));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace headprune::demo
