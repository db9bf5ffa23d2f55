#include "headprune/common/crash.hpp"

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace headprune {
namespace {

std::atomic<const char*> g_phase{"start"};

// Only async-signal-safe calls here: write(2), backtrace_symbols_fd (after a warm-up call outside
// the handler, so that it does not allocate), signal(2), raise(3).
void write_str(const char* s) {
  ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
  (void)ignored;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "?";
  }
}

extern "C" void on_fatal_signal(int sig) {
  char num[16];
  int n = 0;
  for (int v = sig; v > 0 && n < 15; v /= 10) num[n++] = static_cast<char>('0' + v % 10);
  char digits[16];
  for (int i = 0; i < n; ++i) digits[i] = num[n - 1 - i];
  digits[n] = '\0';
  write_str("headprune: fatal signal ");
  write_str(digits);
  write_str(" (");
  write_str(signal_name(sig));
  write_str(") during ");
  write_str(g_phase.load());
  write_str("; backtrace:\n");
  void* frames[64];
  int depth = backtrace(frames, 64);
  backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

void install_crash_handlers(const char* phase) {
  static bool warmed = [] {
    void* frame[1];
    backtrace(frame, 1);  // loads libgcc's unwinder now, not inside a handler
    return true;
  }();
  (void)warmed;
  g_phase.store(phase);
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, nullptr);
}

}  // namespace headprune
