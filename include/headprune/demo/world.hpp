// A seeded synthetic VQA world: the data the demo trains and analyses its own models on, written
// in exactly the formats the real pipeline reads (so it goes through the same loaders).
//
// A scene is 3..8 objects on a canvas (default 320 x 240 pixels). Each object has a colour
// (red green blue yellow purple orange), a shape (circle square triangle diamond), a size
// (small large) and a position; objects never overlap. A scene becomes:
//   - one region per object in the feature store: its pixel box, and a feature vector of
//     `feature_dim` floats = one-hot-ish codes plus Gaussian noise (`feature_noise`):
//       [0, 6)   colour        [6, 10)  shape        [10, 12) size
//       [12, 16) box / canvas (x1, y1, x2, y2)       [16, D)  noise only
//     objects_id = the shape index, attrs_id = the colour index (confidences 1), for
//     visualisations; region order is random (it is the placement order);
//   - a PNG (flat-coloured shapes on a light background), images/<img_id>.png.
// Questions (answers from the scene, never from a prior):
//   image   "what color is the [size] SHAPE?"                   other   (a uniquely described object)
//           "what shape is the [size] COLOR thing?"              other
//           "what size is the COLOR SHAPE?"                      other
//           "how many COLOR things / SHAPEs / COLOR SHAPEs are there?"  number (0..8)
//           "is there a COLOR SHAPE?"                            yes/no (balanced)
//           "is there a DESC left of / right of the DESC?"       yes/no (balanced; no near-ties)
//   text    "how many sides does a SHAPE have?", "what is the opposite of WORD?",
//           "what color do you get when you mix C1 and C2?", "what color is the sky?" ...
//           (the answer follows from the words alone; `text_only_fraction` of the questions)
// Labels are VQA soft scores: 10 simulated annotators, each giving the true answer with
// probability 1 - annotator_error and otherwise a plausible wrong one of the same kind; an
// answer given k times scores soft_score(k) (0.3, 0.6, 0.9, 1).
//
// Files written by write_synthetic_world() into a folder:
//   train.json, valid.json        LXMERT JSON questions (question_id, img_id, sent, label,
//                                 answer_type, question_type); split by image
//   features.h5                   the feature store of all images (both splits, both models)
//   vocab.txt                     [PAD] [UNK] [CLS] [SEP] [MASK] then every word the templates use
//   trainval_ans2label.json, trainval_label2ans.json   the answer vocabulary
//   images/<img_id>.png           the rendered scenes (unless write_images is false)
//   scenes.json                   the ground truth: every object of every scene
//   world.json                    the options, their hash and counts
//
// Deterministic: the same options give byte-identical JSON, vocabulary and feature values on any
// machine with IEEE doubles and the same libm (only 64-bit integer RNG output and plain
// arithmetic are used; no std:: distributions). Torch-free.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace headprune::demo {

struct SyntheticWorldOptions {
  uint64_t seed = 1;
  int64_t train_images = 2000;
  int64_t valid_images = 400;
  int64_t questions_per_image = 6;
  int64_t feature_dim = 32;         ///< >= 16 (the codes and the box take 16)
  int64_t min_objects = 3;
  int64_t max_objects = 8;          ///< <= 8
  int64_t canvas_w = 320;
  int64_t canvas_h = 240;
  double feature_noise = 0.1;       ///< standard deviation of the Gaussian noise on every feature
  double annotator_error = 0.05;    ///< probability that one of the 10 annotators answers wrongly
  double text_only_fraction = 0.15; ///< share of questions answerable from the text alone
  bool write_images = true;         ///< render images/<img_id>.png

  /// UserError naming the option when a value is out of range.
  void check() const;
  /// A stable 16-hex-digit hash of every option that changes the world's content.
  std::string hash() const;
};

struct SyntheticObject {
  int colour = 0;  ///< index into synthetic_colours()
  int shape = 0;   ///< index into synthetic_shapes()
  int size = 0;    ///< index into synthetic_sizes()
  std::array<float, 4> box{};  ///< pixels: x1, y1, x2, y2
  float cx() const { return (box[0] + box[2]) / 2; }
};

struct SyntheticScene {
  std::string img_id;  ///< "synth_train_000042", "synth_valid_000007"
  bool train = true;
  std::vector<SyntheticObject> objects;
  std::vector<float> features;  ///< [objects, feature_dim], row-major
};

struct SyntheticQuestion {
  int64_t question_id = 0;   ///< (1 train | 2 valid) * 1e8 + image index * 100 + question index
  std::string img_id;
  std::string sent;
  std::string answer;                    ///< the true answer
  std::map<std::string, double> label;   ///< the annotators' soft scores (contains the answer)
  std::string answer_type;               ///< "yes/no", "number", "other"
  std::string question_type;             ///< the template: "what color is the", "how many", ...
  bool needs_image = true;               ///< false for the text-only templates
  bool train = true;
};

struct SyntheticWorld {
  SyntheticWorldOptions options;
  std::vector<SyntheticScene> scenes;        ///< train scenes first, then valid
  std::vector<SyntheticQuestion> questions;  ///< in scene order
  std::vector<std::string> vocab;            ///< vocab.txt lines
  std::vector<std::string> answers;          ///< label2ans
};

const std::vector<std::string>& synthetic_colours();
const std::vector<std::string>& synthetic_shapes();
const std::vector<std::string>& synthetic_sizes();

/// Builds the world in memory (no files). UserError for bad options.
SyntheticWorld make_synthetic_world(const SyntheticWorldOptions& options);

/// Where write_synthetic_world() put each file.
struct SyntheticWorldFiles {
  std::string dir;
  std::string train_questions;  ///< dir/train.json
  std::string valid_questions;  ///< dir/valid.json
  std::string features;         ///< dir/features.h5
  std::string vocab;            ///< dir/vocab.txt
  std::string answers_dir;      ///< dir (trainval_ans2label.json, trainval_label2ans.json)
  std::string images_dir;       ///< dir/images
  std::string scenes;           ///< dir/scenes.json
  std::string world;            ///< dir/world.json
};

/// The file names of a world folder (nothing is read or written).
SyntheticWorldFiles synthetic_world_files(const std::string& dir);

/// Writes every file into `dir` (created if needed; existing files of the same names are
/// replaced; world.json is written last, so a folder without it is incomplete).
/// RuntimeFailure when a file cannot be written.
SyntheticWorldFiles write_synthetic_world(const SyntheticWorld& world, const std::string& dir);

/// The options hash stored in dir/world.json, or "" when there is no complete world there.
std::string synthetic_world_hash(const std::string& dir);

/// Renders one scene as 8-bit RGB, canvas_w x canvas_h x 3, row-major (what the PNG holds).
std::vector<uint8_t> render_synthetic_scene(const SyntheticScene& scene, int64_t canvas_w, int64_t canvas_h);

}  // namespace headprune::demo
