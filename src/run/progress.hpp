// Progress of a phase of `headprune run` on rank 0: a bar on a terminal, a log line every
// run.progress_seconds otherwise. Private to src/run/.
#pragma once

#include <unistd.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace headprune::run {

class Progress {
 public:
  /// `total` units on rank 0, `samples_total` in the whole job (ranks get equal shares of the cost).
  Progress(const std::string& phase, int64_t total, int64_t samples_total, int64_t seconds, const char* unit = "samples")
      : phase_(phase), unit_(unit), total_(total), samples_total_(samples_total), seconds_(seconds),
        tty_(isatty(STDERR_FILENO)) {}
  void step(int64_t done) {
    auto now = std::chrono::steady_clock::now();
    const bool last = done == total_;
    if (seconds_ <= 0 || (!last && now - last_ < std::chrono::seconds(tty_ ? 1 : seconds_))) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double fraction = total_ ? static_cast<double>(done) / total_ : 1.0;
    const double samples = fraction * samples_total_;
    const double eta = done ? elapsed * (total_ - done) / done : 0;
    if (tty_) {  // a progress bar on a terminal, a log line otherwise
      const int width = 30, filled = static_cast<int>(fraction * width);
      std::fprintf(stderr, "\r%s [%s%s] ~%.0f/%lld %s, %.1f/s, ETA %.0f s%s", phase_.c_str(),
                   std::string(static_cast<size_t>(filled), '#').c_str(),
                   std::string(static_cast<size_t>(width - filled), ' ').c_str(), samples,
                   static_cast<long long>(samples_total_), unit_, samples / std::max(elapsed, 1e-9), eta,
                   last ? "\n" : "");
      std::fflush(stderr);
    } else {
      spdlog::info("{}: ~{:.0f}/{} {} ({}/{} units on rank 0), {:.1f}/s, ETA {:.0f} s", phase_, samples, samples_total_,
                   unit_, done, total_, samples / std::max(elapsed, 1e-9), eta);
    }
  }

 private:
  std::string phase_;
  const char* unit_;
  int64_t total_, samples_total_, seconds_;
  bool tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

}  // namespace headprune::run
