#include "headprune/common/stop_signal.hpp"

#include <atomic>
#include <csignal>

namespace headprune {
namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int sig) {
  g_stop.store(true);
  if (sig == SIGINT) std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process now
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
}

bool stop_requested() { return g_stop.load(); }

}  // namespace headprune
