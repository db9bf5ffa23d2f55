// ctest-labels: fast
// What the build contains: the NCCL backend is compiled in exactly when CMake defined
// HEADPRUNE_WITH_NCCL, every layer agrees about it (compile definition, build_info, the dist
// library), it links against a real libnccl, and a configure that found nccl.h did not leave it out.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "headprune/common/build_info.hpp"
#include "headprune/dist/communicator.hpp"
#include "testing.hpp"

namespace {

/// A value of the CMake cache the tested binaries were built from ("" when not there).
std::string cmake_cache_value(const std::string& name) {
  auto cache = std::filesystem::path(headprune::testing::binary_path()).parent_path() / "CMakeCache.txt";
  std::ifstream in(cache);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + ":", 0) == 0) return line.substr(line.find('=') + 1);
  return "";
}

}  // namespace

TEST(BuildFeatures, NcclFlagIsConsistentEverywhere) {
#ifdef HEADPRUNE_WITH_NCCL
  const bool defined = true;
#else
  const bool defined = false;
#endif
  EXPECT_EQ(headprune::build_info().with_nccl, defined);
  EXPECT_EQ(headprune::dist::nccl_compiled(), defined);
}

TEST(BuildFeatures, NcclBackendLinksTheLibrary) {
  if (!headprune::dist::nccl_compiled()) GTEST_SKIP() << "built without NCCL (HEADPRUNE_WITH_NCCL not defined)";
  // ncclGetVersion runs without a GPU: it proves libnccl is linked and loadable.
  std::string v = headprune::dist::nccl_version();
  EXPECT_TRUE(std::regex_match(v, std::regex(R"(2\.\d+\.\d+)"))) << v;
}

TEST(BuildFeatures, ConfigureThatFoundNcclCompiledTheBackend) {
  // The CMake logic: NCCL is compiled unless HEADPRUNE_NCCL=OFF when nccl.h and libnccl were found.
  const std::string option = cmake_cache_value("HEADPRUNE_NCCL");
  if (option.empty()) GTEST_SKIP() << "no CMakeCache.txt next to the headprune binary";
  const std::string include = cmake_cache_value("NCCL_INCLUDE_DIR");
  const std::string library = cmake_cache_value("NCCL_LIBRARY");
  const bool found = !include.empty() && include.find("NOTFOUND") == std::string::npos && !library.empty() &&
                     library.find("NOTFOUND") == std::string::npos;
  if (option == "OFF") {
    EXPECT_FALSE(headprune::dist::nccl_compiled());
  } else if (found) {
    EXPECT_TRUE(headprune::dist::nccl_compiled())
        << "HEADPRUNE_NCCL=" << option << " and nccl.h in " << include << ", but the backend is not compiled";
  }
}

TEST(BuildFeatures, NcclHeaderOnThisMachineMeansBackendUnlessTurnedOff) {
  // These machines have NCCL in /usr/local/cuda (docs: platform notes): an AUTO build must use it.
  if (!std::filesystem::exists("/usr/local/cuda/include/nccl.h")) GTEST_SKIP() << "no /usr/local/cuda/include/nccl.h";
  const std::string option = cmake_cache_value("HEADPRUNE_NCCL");
  if (option == "OFF" || option.empty()) GTEST_SKIP() << "HEADPRUNE_NCCL=" << (option.empty() ? "?" : option);
  EXPECT_TRUE(headprune::build_info().with_nccl);
}
