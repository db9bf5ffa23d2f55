// Logging: spdlog, one line per event, prefixed with the MPI rank when there is more than one.
// Level from the config (log_level) or HEADPRUNE_LOG_LEVEL (trace, debug, info, warn, error).
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace headprune {

/// Installs the process-wide logger. Call once after MPI is initialised.
void log_init(int rank, int world_size);

/// Sets the level by name; throws UserError naming `where` for an unknown name.
void log_set_level(const std::string& level, const std::string& where);

/// A config's `log_level`: applied unless HEADPRUNE_LOG_LEVEL is set, which wins (one invocation's
/// choice over the experiment's).
void log_set_config_level(const std::string& level, const std::string& where);

}  // namespace headprune
