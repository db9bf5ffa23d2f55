#include "headprune/common/crash.hpp"

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace headprune {
namespace {

std::atomic<const char*> g_phase{"start"};
std::atomic<int> g_rank{-1};
alignas(16) char g_alt_stack[64 * 1024];  // the handler's stack (a stack overflow has none left)

// Only async-signal-safe calls in the handler: write(2), backtrace_symbols_fd (after a warm-up
// call outside the handler, so that it does not load libgcc or allocate), signal(2), raise(3).
void write_str(const char* s) {
  ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
  (void)ignored;
}

void write_num(uint64_t v, unsigned base) {
  char buf[24];
  int n = 0;
  do {
    unsigned d = static_cast<unsigned>(v % base);
    buf[n++] = static_cast<char>(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v > 0 && n < 23);
  char out[24];
  for (int i = 0; i < n; ++i) out[i] = buf[n - 1 - i];
  out[n] = '\0';
  write_str(out);
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

extern "C" void on_fatal_signal(int sig, siginfo_t* info, void*) {
  write_str("headprune[pid ");
  write_num(static_cast<uint64_t>(getpid()), 10);
  if (g_rank.load() >= 0) {
    write_str(" rank ");
    write_num(static_cast<uint64_t>(g_rank.load()), 10);
  }
  write_str("]: fatal signal ");
  write_num(static_cast<uint64_t>(sig), 10);
  write_str(" (");
  write_str(signal_name(sig));
  if (info && info->si_code <= 0) {  // sent by kill(2)/raise(3)/abort(3), not a fault
    write_str(", sent by pid ");
    write_num(static_cast<uint64_t>(info->si_pid), 10);
  } else if (info) {
    write_str(", address 0x");
    write_num(reinterpret_cast<uintptr_t>(info->si_addr), 16);
  }
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

void set_crash_phase(const char* phase) { g_phase.store(phase); }
void set_crash_rank(int rank) { g_rank.store(rank); }

void install_crash_handlers(const char* phase) {
  static bool ready = [] {
    void* frame[1];
    backtrace(frame, 1);  // loads libgcc's unwinder now, not inside a handler
    stack_t ss{};
    ss.ss_sp = g_alt_stack;
    ss.ss_size = sizeof g_alt_stack;
    sigaltstack(&ss, nullptr);
    return true;
  }();
  (void)ready;
  set_crash_phase(phase);
  struct sigaction sa {};
  sa.sa_sigaction = on_fatal_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(sig, &sa, nullptr);
}

}  // namespace headprune
