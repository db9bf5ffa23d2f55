#include "headprune/common/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace headprune {

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "headprune: internal error at %s:%d: %s (%s)\n", file, line, msg.c_str(), expr);
  std::fflush(stderr);
  std::abort();
}

}  // namespace headprune
