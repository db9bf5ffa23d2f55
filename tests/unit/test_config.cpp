// ctest-labels: fast
// Config loading: defaults, overrides, strict errors (one line naming the file/override and the
// key), round trip through to_yaml, the example configs, and docs/config.md covering every key.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "headprune/common/error.hpp"
#include "headprune/config/config.hpp"
#include "testing.hpp"

namespace fs = std::filesystem;
using headprune::UserError;
namespace hptest = headprune::testing;
using namespace headprune::config;
// The stages' own enums, which config uses directly (no copies in config).
using DataFormat = headprune::data::QuestionFormat;
using ExplainTarget = headprune::explain::Target;
using headprune::data::OnMissing;
using headprune::data::Selection;
using headprune::prune::CountRule;
using headprune::prune::Granularity;
using headprune::prune::Sign;
using Methods = std::vector<std::string>;

namespace {

const char* kMinimal = R"(name: t
model:
  family: lxmert
  path: /m
data:
  questions: q.json
  features: f.h5
output:
  path: out.h5
)";

std::string write_file(const std::string& name, const std::string& text) {
  static const std::string dir = headprune::testing::scratch_dir("config");
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

/// The UserError message of loading `text` (from a file named x.yaml) with `overrides`.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  std::string path = write_file("x.yaml", text);
  std::string msg = hptest::user_error([&] { load_config(path, overrides); });
  EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
  // Report the message relative to the file name so tests read like the user sees it.
  auto pos = msg.find(path);
  if (pos != std::string::npos) msg.replace(pos, path.size(), "x.yaml");
  return msg;
}

Config load_text(const std::string& text, const std::vector<std::string>& overrides = {}) {
  return load_config_text(text, "test.yaml", overrides);
}

}  // namespace

TEST(Config, MinimalGetsDocumentedDefaults) {
  Config c = load_text(kMinimal);
  EXPECT_EQ(c.name, "t");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.device, Device::cpu);
  EXPECT_EQ(c.precision, Precision::fp32);
  EXPECT_EQ(c.seed, 1234);
  EXPECT_EQ(c.model.family, "lxmert");
  EXPECT_EQ(c.model.path, "/m");
  EXPECT_TRUE(c.model.strict_load);
  EXPECT_FALSE(c.model.vocab.has_value());
  EXPECT_EQ(c.model.max_text_tokens, 0);  // the seed's length for the family
  EXPECT_EQ(c.model.max_regions, 36);
  EXPECT_EQ(c.data.format, DataFormat::lxmert_json);
  EXPECT_EQ(c.data.questions, "q.json");
  EXPECT_FALSE(c.data.annotations.has_value());
  EXPECT_EQ(c.data.features, "f.h5");
  EXPECT_FALSE(c.data.answers);  // unset: the model's default vocabulary
  EXPECT_FALSE(c.data.answers_dir);
  EXPECT_EQ(c.data.selection, Selection::seed_shuffle);
  EXPECT_EQ(c.data.num_samples, 10000);
  EXPECT_EQ(c.data.selection_seed, 1234);
  EXPECT_FALSE(c.data.exclude_images.has_value());
  EXPECT_EQ(c.data.on_missing, OnMissing::error);
  EXPECT_FALSE(c.data.image_root.has_value());
  EXPECT_EQ(c.scoring.methods, Methods{"ours"});
  EXPECT_EQ(c.scoring.explain, ExplainTarget::predicted);
  EXPECT_FALSE(c.scoring.michel_normalize);
  EXPECT_EQ(c.scoring.random_seed, 0);
  EXPECT_EQ(c.scoring.ig_steps, 20);
  EXPECT_EQ(c.prune.protocols, std::vector<Protocol>{Protocol::per_sample});
  EXPECT_EQ(c.prune.granularities, std::vector<Granularity>{Granularity::head});
  EXPECT_EQ(c.prune.signs, (std::vector<Sign>{Sign::positive, Sign::negative}));
  EXPECT_EQ(c.prune.ratios, (std::vector<double>{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}));
  EXPECT_EQ(c.prune.count_rule, CountRule::keep_floor);  // `seed` for lxmert
  EXPECT_FALSE(c.prune.global_normalize);
  EXPECT_EQ(c.run.batch_size, 8);
  EXPECT_EQ(c.run.threads_per_rank, 0);
  EXPECT_EQ(c.run.checkpoint_every, 50);
  EXPECT_EQ(c.run.progress_seconds, 10);
  EXPECT_EQ(c.run.shard, headprune::run::Shard::samples);
  EXPECT_EQ(c.output.path, "out.h5");
  EXPECT_FALSE(c.output.overwrite);
  EXPECT_TRUE(c.visualize.samples.empty());
  EXPECT_EQ(c.visualize.ratios, (std::vector<double>{0, 0.4, 0.6, 0.9}));
  EXPECT_FALSE(c.visualize.out_dir.has_value());
}

TEST(Config, CountRuleSeedDependsOnFamily) {
  EXPECT_EQ(load_text(kMinimal, {"model.family=visualbert"}).prune.count_rule, CountRule::prune_floor);
  EXPECT_EQ(load_text(kMinimal, {"prune.count_rule=seed"}).prune.count_rule, CountRule::keep_floor);
  EXPECT_EQ(load_text(kMinimal, {"prune.count_rule=nearest", "model.family=visualbert"}).prune.count_rule,
            CountRule::nearest);
}

TEST(Config, OverridesApplyInOrderOnTopOfTheFile) {
  Config c = load_text(kMinimal, {"prune.ratios=[0,0.5]", "model.path=/data/lxmert", "scoring.methods=[ours,lrp]",
                                  "run.batch_size=2", "run.batch_size=3", "output.overwrite=true",
                                  "visualize.samples=[7, 11]", "data.exclude_images=ex.txt"});
  EXPECT_EQ(c.prune.ratios, (std::vector<double>{0, 0.5}));
  EXPECT_EQ(c.model.path, "/data/lxmert");
  EXPECT_EQ(c.scoring.methods, (Methods{"ours", "lrp"}));
  EXPECT_EQ(c.run.batch_size, 3);  // the later override wins
  EXPECT_TRUE(c.output.overwrite);
  EXPECT_EQ(c.visualize.samples, (std::vector<int64_t>{7, 11}));
  EXPECT_EQ(c.data.exclude_images, std::optional<std::string>("ex.txt"));
}

TEST(Config, OverrideSectionMappingMergesAndNullResets) {
  Config c = load_text(std::string(kMinimal) + "run:\n  batch_size: 4\n",
                       {"model={family: visualbert, max_regions: 100}", "run.batch_size=~"});
  EXPECT_EQ(c.model.family, "visualbert");
  EXPECT_EQ(c.model.max_regions, 100);
  EXPECT_EQ(c.model.path, "/m");  // kept from the file
  EXPECT_EQ(c.run.batch_size, 8);  // unset -> default
  // An override may supply a required key the file lacks.
  Config d = load_text("name: t\nmodel: {family: lxmert}\ndata: {questions: q, features: f}\n",
                       {"model.path=/p", "output.path=o.h5"});
  EXPECT_EQ(d.model.path, "/p");
  EXPECT_EQ(d.output.path, "o.h5");
}

TEST(Config, UnknownKeyInFileNamesDottedKeyLineAndSuggestion) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "prune:\n  ratio: [0.1]\n"),
            "x.yaml:11:3: unknown key 'prune.ratio' (did you mean 'prune.ratios'?)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "batch_size: 3\n"),
            "x.yaml:10:1: unknown key 'batch_size' (did you mean 'run.batch_size'?)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "modle:\n  path: x\n"),
            "x.yaml:10:1: unknown key 'modle' (did you mean 'model'?)");
  std::string far = error_of(std::string(kMinimal) + "run:\n  zzzzzzzz: 1\n");
  EXPECT_NE(far.find("unknown key 'run.zzzzzzzz' (valid keys under 'run': batch_size, threads_per_rank"),
            std::string::npos)
      << far;
}

TEST(Config, UnknownOverrideKeyFailsTheSameWay) {
  std::string msg = error_of(kMinimal, {"no.such.key=1"});
  EXPECT_EQ(msg.rfind("override 'no.such.key=1': unknown key 'no.such.key'", 0), 0u) << msg;
  EXPECT_NE(msg.find("valid top-level keys: name, log_level"), std::string::npos) << msg;
  EXPECT_EQ(error_of(kMinimal, {"prune.ratio=[0]"}),
            "override 'prune.ratio=[0]': unknown key 'prune.ratio' (did you mean 'prune.ratios'?)");
  EXPECT_EQ(error_of(kMinimal, {"model={famly: lxmert}"}),
            "override 'model={famly: lxmert}': unknown key 'model.famly' (did you mean 'model.family'?)");
  EXPECT_EQ(error_of(kMinimal, {"prune.ratios"}),
            "override 'prune.ratios': expected dotted.key=value (e.g. prune.ratios=[0,0.5])");
  EXPECT_EQ(error_of(kMinimal, {"prune.ratios=[0,"}).rfind("override 'prune.ratios=[0,': invalid YAML value", 0), 0u);
}

TEST(Config, WrongTypeNamesKeyAndExpectedType) {
  EXPECT_EQ(error_of(std::string(kMinimal) + "run:\n  batch_size: eight\n"),
            "x.yaml:11:15: key 'run.batch_size' expected an integer, got 'eight'");
  EXPECT_EQ(error_of(kMinimal, {"run.batch_size=2.5"}),
            "override 'run.batch_size=2.5': key 'run.batch_size' expected an integer, got '2.5'");
  EXPECT_EQ(error_of(kMinimal, {"prune.ratios=0.5"}),
            "override 'prune.ratios=0.5': key 'prune.ratios' expected a list of numbers (e.g. [0, 0.5]), got '0.5'");
  EXPECT_EQ(error_of(kMinimal, {"prune.ratios=[0,x]"}),
            "override 'prune.ratios=[0,x]': key 'prune.ratios[1]' expected a number, got 'x'");
  EXPECT_EQ(error_of(kMinimal, {"model.strict_load=maybe"}),
            "override 'model.strict_load=maybe': key 'model.strict_load' expected true or false, got 'maybe'");
  EXPECT_EQ(error_of(kMinimal, {"model.path=[a]"}),
            "override 'model.path=[a]': key 'model.path' expected a string, got a list");
  EXPECT_EQ(error_of(kMinimal, {"model=3"}),
            "override 'model=3': key 'model' expected a mapping (e.g. model={family: ...}), got '3'");
  EXPECT_EQ(error_of("name: t\nmodel: lxmert\n"),
            "x.yaml:2:8: key 'model' expected a mapping (a section with keys family, path, vocab, "
            "strict_load, max_text_tokens, max_regions), got 'lxmert'");
  EXPECT_EQ(error_of("- a\n- b\n"), "x.yaml: expected a mapping of keys at the top level, got a list");
}

TEST(Config, MissingRequiredKeyIsNamed) {
  for (const std::string key : {"name", "model.family", "model.path", "data.questions", "output.path"}) {
    std::string msg = error_of(kMinimal, {key + "=~"});
    EXPECT_EQ(msg.rfind("override '" + key + "=~': missing required key '" + key + "'", 0), 0u) << msg;
  }
  EXPECT_EQ(error_of("name: t\n").rfind("x.yaml: missing required key 'model.family'", 0), 0u);
  EXPECT_EQ(error_of("").rfind("x.yaml: missing required key 'name'", 0), 0u);
  EXPECT_EQ(error_of(kMinimal, {"name=''"}), "override 'name=''': key 'name' must not be empty");
}

TEST(Config, FeaturesOrImagesIsRequired) {
  EXPECT_EQ(error_of(kMinimal, {"data.features=~"}),
            "x.yaml: missing required key 'data.features' or 'data.images' (the HDF5 feature store of a region-feature "
            "model, or the folder of raw images of a pixel-reading model such as ViLT)");
  Config c = load_text(kMinimal, {"data.features=~", "data.images=val2014"});
  EXPECT_EQ(c.data.features, "");  // unset
  EXPECT_EQ(c.data.images, std::optional<std::string>("val2014"));
  const std::string text = to_yaml(c);
  EXPECT_NE(text.find("  features: ~\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  images: val2014\n"), std::string::npos) << text;
  EXPECT_TRUE(load_text(text) == c) << text;
  Config both = load_text(kMinimal, {"data.images=val2014"});  // both given: the model's family picks one later
  EXPECT_EQ(both.data.features, "f.h5");
  // An empty data.images is unset, like the other optional paths.
  EXPECT_EQ(error_of(kMinimal, {"data.features=~", "data.images=''"}).rfind("x.yaml: missing required key 'data.features' or 'data.images'", 0), 0u);
}

TEST(Config, MissingFileNamesThePath) {
  try {
    load_config("/nonexistent/dir/exp.yaml", {});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "config file '/nonexistent/dir/exp.yaml' not found");
  }
  std::string dir = headprune::testing::scratch_dir("config-dir");
  try {
    load_config(dir, {});
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos);
  }
}

TEST(Config, InvalidYamlAndDuplicateKeys) {
  EXPECT_EQ(error_of("name: [t\n").rfind("x.yaml:2:1: invalid YAML:", 0), 0u) << error_of("name: [t\n");
  EXPECT_EQ(error_of("name: a\nname: b\n"), "x.yaml:2:1: duplicate key 'name'");
  EXPECT_EQ(error_of("name: a\nmodel:\n  path: a\n  path: b\n"), "x.yaml:4:3: duplicate key 'model.path'");
}

TEST(Config, ScoringMethodsAreTheRegistrysNames) {
  // Every row of the explain registry is accepted (none is refused by config), written and re-read.
  std::string all;
  for (const auto& name : headprune::explain::method_names()) all += (all.empty() ? "" : ",") + name;
  Config c = load_text(kMinimal, {"scoring.methods=[" + all + "]"});
  EXPECT_EQ(c.scoring.methods, headprune::explain::method_names());
  EXPECT_NE(std::find(c.scoring.methods.begin(), c.scoring.methods.end(), "gradient"), c.scoring.methods.end());
  EXPECT_EQ(load_config_text(to_yaml(c), "x.yaml"), c);
  EXPECT_EQ(load_text(kMinimal, {"scoring.methods=[gradient]"}).scoring.methods, Methods{"gradient"});
}

TEST(Config, EnumsListTheAllowedValues) {
  EXPECT_EQ(error_of(kMinimal, {"device=gpu"}), "override 'device=gpu': key 'device' must be one of cpu, cuda (got 'gpu')");
  EXPECT_EQ(error_of(kMinimal, {"scoring.methods=[ours,gradcam]"}),
            "override 'scoring.methods=[ours,gradcam]': key 'scoring.methods[1]' must be one of ours, lrp, michel, "
            "confidence, random, gradient, attention, rollout, attattr, attnlrp (got 'gradcam')");
  EXPECT_EQ(error_of(kMinimal, {"prune.count_rule=floor"}),
            "override 'prune.count_rule=floor': key 'prune.count_rule' must be one of seed, keep_floor, prune_floor, "
            "nearest (got 'floor')");
  EXPECT_EQ(error_of(kMinimal, {"log_level=verbose"}),
            "override 'log_level=verbose': key 'log_level' must be one of trace, debug, info, warn, error, critical, off "
            "(got 'verbose')");
  EXPECT_EQ(error_of(kMinimal, {"run.shard=ratios"}),
            "override 'run.shard=ratios': key 'run.shard' must be one of samples, samples_x_ratios (got 'ratios')");
  EXPECT_EQ(error_of(std::string(kMinimal) + "precision: fp16\n"),
            "x.yaml:10:12: key 'precision' must be one of fp64, fp32, tf32, bf16 (got 'fp16')");
}

TEST(Config, RangesAndRepeats) {
  EXPECT_EQ(error_of(kMinimal, {"prune.ratios=[0,1]"}),
            "override 'prune.ratios=[0,1]': key 'prune.ratios[1]' must be in [0, 1) (got 1)");
  EXPECT_EQ(error_of(std::string(kMinimal) + "prune:\n  ratios: [0.5, -0.1]\n"),
            "x.yaml:11:17: key 'prune.ratios[1]' must be in [0, 1) (got -0.1)");
  EXPECT_EQ(error_of(kMinimal, {"prune.ratios=[]"}),
            "override 'prune.ratios=[]': key 'prune.ratios' must list at least one value");
  EXPECT_EQ(error_of(kMinimal, {"prune.signs=[negative,negative]"}),
            "override 'prune.signs=[negative,negative]': key 'prune.signs[1]' repeats an earlier value");
  EXPECT_EQ(error_of(kMinimal, {"run.batch_size=0"}),
            "override 'run.batch_size=0': key 'run.batch_size' must be >= 1 (got 0)");
  EXPECT_EQ(error_of(kMinimal, {"model.max_text_tokens=2"}),
            "override 'model.max_text_tokens=2': key 'model.max_text_tokens' must be >= 3 (got 2; room for [CLS], "
            "[SEP] and a word; 0 = the seed's length for the family)");
  EXPECT_EQ(error_of(kMinimal, {"scoring.ig_steps=0"}),
            "override 'scoring.ig_steps=0': key 'scoring.ig_steps' must be >= 1 (got 0)");
  EXPECT_EQ(error_of(kMinimal, {"run.threads_per_rank=-1"}),
            "override 'run.threads_per_rank=-1': key 'run.threads_per_rank' must be >= 0 (got -1)");
  EXPECT_EQ(error_of(kMinimal, {"visualize.ratios=[0.95, 1.5]"}),
            "override 'visualize.ratios=[0.95, 1.5]': key 'visualize.ratios[1]' must be in [0, 1) (got 1.5)");
  EXPECT_EQ(error_of(kMinimal, {"name=a/b"}).rfind("override 'name=a/b': key 'name' may only use letters", 0), 0u);
  EXPECT_NO_THROW(load_text(kMinimal, {"visualize.ratios=[]", "run.progress_seconds=0"}));
}

TEST(Config, ChecksBetweenKeys) {
  EXPECT_EQ(error_of(kMinimal, {"data.format=vqa_official"}),
            "override 'data.format=vqa_official': missing required key 'data.annotations' (required when data.format "
            "is vqa_official)");
  Config c = load_text(kMinimal, {"data.format=vqa_official", "data.annotations=a.json"});
  EXPECT_EQ(c.data.annotations, std::optional<std::string>("a.json"));
  EXPECT_EQ(error_of(kMinimal, {"data.annotations=a.json"}).rfind(
                "override 'data.annotations=a.json': key 'data.annotations' is only used with data.format: vqa_official",
                0),
            0u);
  EXPECT_EQ(error_of(kMinimal, {"data.format=mmf_imdb", "data.annotations=a.json"}),
            "override 'data.annotations=a.json': key 'data.annotations' is only used with data.format: vqa_official "
            "(mmf_imdb files carry their answers)");
  EXPECT_EQ(load_text(kMinimal, {"data.format=mmf_imdb"}).data.format, DataFormat::mmf_imdb);
  // data.answers_dir is the old name of data.answers.
  c = load_text(kMinimal, {"data.answers_dir=/v"});
  EXPECT_EQ(c.data.answers, std::optional<std::string>("/v"));
  EXPECT_FALSE(c.data.answers_dir);
  EXPECT_EQ(load_text(kMinimal, {"data.answers=data/vqa/mmf_answers_vqa.txt"}).data.answers,
            std::optional<std::string>("data/vqa/mmf_answers_vqa.txt"));
  EXPECT_EQ(error_of(kMinimal, {"data.answers=/a", "data.answers_dir=/b"}),
            "override 'data.answers_dir=/b': key 'data.answers_dir' is the old name of 'data.answers' (set at override "
            "'data.answers=/a'): give one of them");
  // selection: list and its file.
  EXPECT_EQ(error_of(kMinimal, {"data.selection=list"}),
            "override 'data.selection=list': missing required key 'data.selection_file' (required when "
            "data.selection is list: question ids, one a line)");
  EXPECT_EQ(error_of(kMinimal, {"data.selection_file=ids.txt"}),
            "override 'data.selection_file=ids.txt': key 'data.selection_file' is only used with data.selection: list");
  c = load_text(kMinimal, {"data.selection=list", "data.selection_file=ids.txt"});
  EXPECT_EQ(c.data.selection, Selection::list);
  EXPECT_EQ(c.data.selection_file, std::optional<std::string>("ids.txt"));
  EXPECT_EQ(error_of(kMinimal, {"precision=tf32"}),
            "override 'precision=tf32': key 'precision' tf32 needs device: cuda (use fp32 on cpu)");
  EXPECT_NO_THROW(load_text(kMinimal, {"precision=tf32", "device=cuda"}));
}

TEST(Config, ToYamlRoundTripsEveryKey) {
  Config c = load_text(kMinimal);
  c.name = "run-2+x.y_z";
  c.log_level = "debug";
  c.device = Device::cuda;
  c.precision = Precision::tf32;
  c.seed = 7;
  c.model = {"visualbert", "/models/a b/c: d #e", "/v/vocab.txt", false, 32, 100};
  c.data.format = DataFormat::vqa_official;
  c.data.questions = "true";  // strings that look like other YAML types must stay strings
  c.data.annotations = "123";
  c.data.features = "~";
  c.data.answers = "  spaced  ";
  c.data.selection = Selection::list;
  c.data.selection_file = "ids: a.txt";
  c.data.num_samples = 5;
  c.data.selection_seed = 0;
  c.data.exclude_images = "null";
  c.data.on_missing = OnMissing::skip;
  c.data.image_root = "/img/é";
  c.data.images = "/img/val2014";
  c.scoring = {{"random", "michel", "confidence", "lrp", "ours"},
               ExplainTarget::ground_truth, true, 99};
  c.prune.protocols = {Protocol::global, Protocol::per_sample};
  c.prune.granularities = {Granularity::layer, Granularity::head};
  c.prune.signs = {Sign::negative};
  c.prune.ratios = {0.30000000000000004, 1e-17, 0.1 + 0.2, 0.999999999999, 1.0 / 3.0};
  c.prune.ratios.erase(c.prune.ratios.begin() + 2);  // 0.1 + 0.2 == 0.30000000000000004: no repeats
  c.prune.count_rule = CountRule::nearest;
  c.prune.global_normalize = true;
  c.run = {1, 2, 3, 0, headprune::run::Shard::samples_x_ratios};
  c.output = {"o.h5", true};
  c.visualize = {{-1, 0, 9007199254740993}, {}, "vis"};

  std::string text = to_yaml(c);
  Config back = load_text(text);
  EXPECT_TRUE(back == c) << text;
  EXPECT_EQ(to_yaml(back), text);
  EXPECT_EQ(back.data.questions, "true");
  EXPECT_EQ(back.data.features, "~");
  EXPECT_EQ(back.model.path, "/models/a b/c: d #e");

  Config d = load_text(kMinimal);
  EXPECT_TRUE(load_text(to_yaml(d)) == d);
  EXPECT_FALSE(back == d);
}

TEST(Config, ToYamlListsEveryKeyInSchemaOrder) {
  std::string text = to_yaml(load_text(kMinimal));
  size_t pos = 0;
  for (const auto& key : config_keys()) {
    auto dot = key.find('.');
    std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
    std::string want = dot == std::string::npos ? "\n" + leaf + ":" : "\n  " + leaf + ":";
    auto at = ("\n" + text).find(want, pos);
    ASSERT_NE(at, std::string::npos) << key << " missing or out of order in\n" << text;
    pos = at + 1;
  }
  EXPECT_EQ(config_keys().size(), 49u);
}

TEST(Config, ExampleConfigsLoadAndRoundTrip) {
  int n = 0;
  for (const auto& entry : fs::directory_iterator(std::string(HEADPRUNE_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    Config c = load_config(entry.path().string(), {});
    EXPECT_TRUE(load_text(to_yaml(c)) == c);
    ++n;
  }
  EXPECT_GE(n, 2);
}

TEST(Config, DocsDescribeEveryKey) {
  std::ifstream in(std::string(HEADPRUNE_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in.good()) << "docs/config.md is missing";
  std::stringstream doc;
  doc << in.rdbuf();
  for (const auto& key : config_keys())
    EXPECT_NE(doc.str().find("| `" + key + "` |"), std::string::npos) << "docs/config.md has no row for " << key;
}

TEST(Config, EnumNamesAreTheYamlSpelling) {
  EXPECT_EQ(to_string(Protocol::per_sample), "per_sample");
  EXPECT_EQ(to_string(ExplainTarget::ground_truth), "ground_truth");
  EXPECT_EQ(to_string(CountRule::prune_floor), "prune_floor");
  EXPECT_EQ(to_string(Precision::bf16), "bf16");
}
