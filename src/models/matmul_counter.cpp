// Compiled with NDEBUG (CMakeLists.txt): RecordFunction::inputs() asserts a flag that only a debug
// LibTorch sets, and the Debian LibTorch is a release build.
#include "headprune/models/matmul_counter.hpp"

#include <ATen/ATen.h>
#include <ATen/record_function.h>

#include <atomic>
#include <chrono>
#include <mutex>

#include "headprune/common/error.hpp"

namespace headprune::models {

struct MatmulCounter::State {
  std::mutex mutex;
  double flops = 0, seconds = 0;
  int64_t calls = 0;
  std::map<std::string, double> by_shape;
};

namespace {

std::shared_ptr<MatmulCounter::State>& active() {
  static std::shared_ptr<MatmulCounter::State> state;
  return state;
}
std::mutex& active_mutex() {
  static std::mutex m;
  return m;
}
thread_local int depth = 0;  // nesting of counted products on this thread

struct Context : at::ObserverContext {
  std::shared_ptr<MatmulCounter::State> state;
  std::chrono::steady_clock::time_point start;
  double flops = 0;
  std::string shape;
  bool counted = false;
};

// FLOPs and shape of a product from its inputs; 0 for anything else.
double product_flops(const at::RecordFunction& fn, std::string& shape) {
  const std::string name = fn.name();
  if (name.rfind("aten::", 0) != 0) return 0;
  const std::string op = name.substr(6);
  // Which inputs are the two factors: (a, b) for mm/bmm/mv/dot, (self, a, b) for the add* forms.
  size_t first;
  if (op == "mm" || op == "bmm" || op == "mv" || op == "dot") first = 0;
  else if (op == "addmm" || op == "baddbmm" || op == "addbmm" || op == "addmv") first = 1;
  else return 0;
  const auto inputs = fn.inputs();
  if (inputs.size() < first + 2 || !inputs[first].isTensor() || !inputs[first + 1].isTensor()) return 0;
  const auto a = inputs[first].toTensor().sizes(), b = inputs[first + 1].toTensor().sizes();
  auto dims = [](std::initializer_list<int64_t> d) {
    std::string s;
    for (int64_t x : d) s += (s.empty() ? "" : "x") + std::to_string(x);
    return s;
  };
  double f = 0;
  if ((op == "mm" || op == "addmm") && a.size() == 2 && b.size() == 2) {
    f = 2.0 * a[0] * a[1] * b[1];
    shape = op + " " + dims({a[0], a[1], b[1]});
  } else if ((op == "bmm" || op == "baddbmm" || op == "addbmm") && a.size() == 3 && b.size() == 3) {
    f = 2.0 * a[0] * a[1] * a[2] * b[2];
    shape = op + " " + dims({a[0], a[1], a[2], b[2]});
  } else if ((op == "mv" || op == "addmv") && a.size() == 2) {
    f = 2.0 * a[0] * a[1];
    shape = op + " " + dims({a[0], a[1]});
  } else if (op == "dot" && a.size() == 1) {
    f = 2.0 * a[0];
    shape = op + " " + dims({a[0]});
  }
  return f;
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  std::shared_ptr<MatmulCounter::State> state;
  {
    std::lock_guard<std::mutex> lock(active_mutex());
    state = active();
  }
  if (!state || depth > 0) return nullptr;  // inside a counted product: its own call counts
  auto ctx = std::make_unique<Context>();
  ctx->flops = product_flops(fn, ctx->shape);
  if (ctx->shape.empty()) return nullptr;
  ctx->state = std::move(state);
  ctx->counted = true;
  ++depth;
  ctx->start = std::chrono::steady_clock::now();
  return ctx;
}

void on_end(const at::RecordFunction&, at::ObserverContext* raw) {
  auto* ctx = static_cast<Context*>(raw);
  if (!ctx || !ctx->counted) return;
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx->start).count();
  --depth;
  std::lock_guard<std::mutex> lock(ctx->state->mutex);
  ctx->state->flops += ctx->flops;
  ctx->state->seconds += dt;
  ++ctx->state->calls;
  ctx->state->by_shape[ctx->shape] += ctx->flops;
}

}  // namespace

MatmulCounter::MatmulCounter() : state_(std::make_shared<State>()) {
  {
    std::lock_guard<std::mutex> lock(active_mutex());
    HP_ASSERT(!active(), "one MatmulCounter at a time");
    active() = state_;
  }
  handle_ = at::addGlobalCallback(
      at::RecordFunctionCallback(on_start, on_end).needsInputs(true).scopes({at::RecordScope::FUNCTION}));
}

MatmulCounter::~MatmulCounter() {
  at::removeCallback(handle_);
  std::lock_guard<std::mutex> lock(active_mutex());
  active().reset();
}

double MatmulCounter::flops() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->flops;
}
double MatmulCounter::seconds() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->seconds;
}
int64_t MatmulCounter::calls() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->calls;
}
std::map<std::string, double> MatmulCounter::flops_by_shape() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->by_shape;
}

}  // namespace headprune::models
