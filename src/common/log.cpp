#include "headprune/common/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>

#include "headprune/common/error.hpp"

namespace headprune {

void log_init(int rank, int world_size) {
  spdlog::drop("headprune");
  auto logger = spdlog::stderr_color_mt("headprune");
  // Time, level, and the rank only when it tells something.
  std::string pattern = world_size > 1 ? "[%H:%M:%S.%e] [%^%l%$] [rank " + std::to_string(rank) + "] %v"
                                       : "[%H:%M:%S.%e] [%^%l%$] %v";
  logger->set_pattern(pattern);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::info);
  if (const char* env = std::getenv("HEADPRUNE_LOG_LEVEL"); env && *env) log_set_level(env, "HEADPRUNE_LOG_LEVEL");
}

void log_set_level(const std::string& level, const std::string& where) {
  auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off")
    throw UserError(where + ": unknown log level '" + level +
                    "' (expected trace, debug, info, warn, error, critical, off)");
  spdlog::set_level(parsed);
}

void log_set_config_level(const std::string& level, const std::string& where) {
  const char* env = std::getenv("HEADPRUNE_LOG_LEVEL");
  if (env && *env) return;
  log_set_level(level, where);
}

}  // namespace headprune
