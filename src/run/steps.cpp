// What the steps of `headprune run` share (src/run/steps.hpp): agreeing on errors across ranks,
// the unit loop with its checkpoints, and per-batch helpers.
#include "steps.hpp"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <thread>

#include "headprune/common/error.hpp"

namespace headprune::run {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
  return out;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void agree_on_error(dist::Communicator& comm, const std::string& error) {
  std::string e = error;
  comm.broadcast_bytes(e, 0);
  if (e.empty()) return;
  if (comm.rank() == 0) throw UserError(e);
  throw QuietExit{static_cast<int>(ExitCode::usage)};
}

void on_every_rank(dist::Communicator& comm, const std::function<void()>& fn) {
  std::string error;
  try {
    fn();
  } catch (const UserError& e) {
    error = e.what();
  }
  if (comm.all_true(error.empty())) return;
  if (!error.empty() && comm.rank() == 0) throw UserError(error);
  if (!error.empty()) spdlog::error("{}", error);
  if (comm.rank() == 0) throw UserError("another rank failed (see its error above)");
  throw QuietExit{static_cast<int>(ExitCode::usage)};
}

std::string Combo::path() const {
  const std::string g = prune::granularity_name(granularity);
  const std::string k = kind == prune::ModuleKind::all ? "" : std::string(".") + prune::module_kind_name(kind);
  return method + "/" + g + k + "/" + prune::sign_name(sign);
}

std::string Combo::key() const { return repeat == 0 ? path() : path() + "#" + std::to_string(repeat); }

std::string Combo::ranking() const {
  return explain::repeat_key(method, repeat) + "/" + prune::granularity_name(granularity);
}

int64_t Context::repeats_of(const std::string& method) const {
  return explain::find_method(method, "scoring.methods").drawn ? cfg.scoring.random_repeats : 1;
}

bool Context::runs(config::Protocol p) const {
  const auto& ps = cfg.prune.protocols;
  return std::find(ps.begin(), ps.end(), p) != ps.end();
}

std::vector<const data::Sample*> Context::samples_of_batch(int64_t b) const {
  std::vector<const data::Sample*> out;
  for (int64_t s = plan.batch_begin[static_cast<size_t>(b)]; s < plan.batch_begin[static_cast<size_t>(b) + 1]; ++s)
    out.push_back(&samples()[static_cast<size_t>(s)]);
  return out;
}

std::string batch_unit(int64_t batch, int64_t block) {
  return block == 0 ? "b" + std::to_string(batch) : "p" + std::to_string(block) + "_" + std::to_string(batch);
}

std::string cell_unit(int64_t ratio, int64_t batch) { return "c" + std::to_string(ratio) + "_" + std::to_string(batch); }

Destination destination(const Context& ctx, const std::string& key) {
  const size_t slash = key.find('/');
  HP_ASSERT(slash != std::string::npos && slash > 1, "unit key without a unit: " + key);
  const std::string unit = key.substr(1, slash - 1);
  const size_t underscore = unit.find('_');
  Destination d;
  d.dataset = key.substr(slash + 1);
  // A draw r > 0 of a repeated method: "...#<r>" ends one path element ("random#2" of scores,
  // "positive#2" of curves); the dataset is the path without it.
  if (const size_t hash = d.dataset.find('#'); hash != std::string::npos) {
    const size_t end = d.dataset.find('/', hash);
    d.repeat = std::stoll(d.dataset.substr(hash + 1, end - hash - 1));
    d.dataset.erase(hash, end == std::string::npos ? std::string::npos : end - hash);
  }
  if (d.dataset.compare(0, 7, "curves/") == 0) {  // curves/<protocol>/<method>/...
    const size_t m = d.dataset.find('/', 7) + 1;
    d.repeats = ctx.repeats_of(d.dataset.substr(m, d.dataset.find('/', m) - m));
  }
  switch (key[0]) {
    case 'b':  // b<b>: columns from 0
      d.batch = std::stoll(unit);
      break;
    case 'p':  // p<j>_<b>: the columns of ratio block j
      d.batch = std::stoll(unit.substr(underscore + 1));
      d.column = ctx.blocks.at(static_cast<size_t>(std::stoll(unit.substr(0, underscore)))).begin;
      break;
    case 'c':  // c<k>_<b>: column k
      d.batch = std::stoll(unit.substr(underscore + 1));
      d.column = std::stoll(unit.substr(0, underscore));
      break;
    default:
      HP_ASSERT(false, "unknown unit key " + key);
  }
  return d;
}

io::TensorBundle held_units(const Context& ctx, const UnitLoop& loop) {
  io::TensorBundle out = loop.mine();
  for (const auto& [k, v] : ctx.resumed) out.emplace(k, v);
  return out;
}

at::Tensor label_scores(const Context& ctx, const std::vector<const data::Sample*>& samples, const at::Tensor& pred) {
  at::Tensor out = at::zeros(pred.sizes(), at::kDouble);
  at::Tensor p = pred.reshape({pred.size(0), -1}).cpu().to(at::kLong).contiguous();
  auto pa = p.accessor<int64_t, 2>();
  at::Tensor o = out.view({pred.size(0), -1});
  auto oa = o.accessor<double, 2>();
  for (int64_t b = 0; b < p.size(0); ++b)
    for (int64_t k = 0; k < p.size(1); ++k)
      oa[b][k] = samples[static_cast<size_t>(b)]->score(ctx.in.vocab->answer(pa[b][k]));
  return out;
}

// A NaN or infinite logit or score would flatten every curve without a word: an error naming
// the first sample that has one. (Weights and features are checked finite when they load, so
// this is the model overflowing on that input.) `t` is [B, ...], on any device.
void refuse_nonfinite(const Context& ctx, const std::vector<const data::Sample*>& samples, const at::Tensor& t,
                      const std::string& what) {
  at::Tensor bad = at::isfinite(t).logical_not().reshape({t.size(0), -1}).any(1).cpu();
  if (!bad.any().item<bool>()) return;
  const data::Sample& s = *samples[static_cast<size_t>(bad.nonzero()[0][0].item<int64_t>())];
  throw UserError(ctx.cfg.model.path + ": question_id " + s.question_id + " (image " + s.img_id + "): " + what +
                  " not finite (NaN or Inf): the model overflows on this input (precision " +
                  config::to_string(ctx.cfg.precision) + ")");
}

UnitLoop::UnitLoop(Context& ctx)
    : ctx_(ctx), checkpoint_(ctx.partial, ctx.run_id, ctx.identity, ctx.comm->rank()) {
  // Test hook: slows every unit down so that tests can interrupt a run mid-way.
  const char* delay = std::getenv("HEADPRUNE_TEST_BATCH_DELAY_MS");
  delay_ms_ = delay ? std::atoi(delay) : 0;
}

void UnitLoop::run(size_t n, const std::function<io::TensorBundle(size_t)>& unit,
                   const std::function<void(size_t)>& progress) {
  std::string error;
  for (size_t i = 0; i < n; ++i) {
    try {
      io::TensorBundle out = unit(i);
      if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      checkpoint_.add(out);
      for (const auto& [k, v] : out) mine_[k] = v;
      if (++since_checkpoint_ >= ctx_.cfg.run.checkpoint_every || preemption_requested()) {
        checkpoint_.flush();
        since_checkpoint_ = 0;
      }
      if (preemption_requested()) throw Preempted{};
    } catch (const UserError& e) {
      error = e.what();
      break;
    }
    progress(i);
  }
  checkpoint_.flush();
  agree_on_error(*ctx_.comm, error);
}

}  // namespace headprune::run
