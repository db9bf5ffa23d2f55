#include "headprune/io/output_path.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

#include "headprune/common/error.hpp"

namespace headprune::io {
namespace fs = std::filesystem;

std::string host_and_pid() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  return std::string(host) + ":" + std::to_string(getpid());
}

void check_output_file(const std::string& path, bool overwrite, const std::string& how_to_overwrite) {
  std::error_code ec;
  if (path.empty()) throw UserError("output path is empty");
  if (fs::is_directory(path, ec)) throw UserError(path + ": is a folder (expected a file path for the output)");
  if (fs::exists(path, ec) && !overwrite)
    throw UserError(path + ": exists already (pass " + how_to_overwrite + " to replace it)");
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  if (!fs::is_directory(folder, ec))
    throw UserError(path + ": folder " + folder.string() + " does not exist (create it first)");
  if (access(folder.c_str(), W_OK | X_OK) != 0)
    throw UserError(path + ": folder " + folder.string() + " is not writable");
}

OutputLock::OutputLock(const std::string& output) : lock_path_(output + ".lock") {
  // Loop: the holder removes the lock file on release, so the file we opened may have been
  // unlinked between open and flock; then the lock we got guards nothing and we try again.
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      throw UserError(lock_path_ + ": cannot create the lock file for " + output + " (" + std::strerror(errno) + ")");
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder;
      char buf[512];
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      if (n > 0) holder.assign(buf, static_cast<size_t>(n));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\r')) holder.pop_back();
      ::close(fd);
      if (err == EWOULDBLOCK)
        throw UserError(output + ": another run is writing this output right now (" +
                        (holder.empty() ? std::string("lock ") + lock_path_ : holder) +
                        "); wait for it to end, or choose another output.path");
      throw UserError(lock_path_ + ": cannot lock (" + std::strerror(err) +
                      "; the file system may not support flock) — choose an output.path on one that does");
    }
    struct stat held {}, now {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path_.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
        held.st_dev == now.st_dev) {
      char when[32];
      std::time_t t = std::time(nullptr);
      std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
      const std::string me = "run " + host_and_pid() + " since " + when + "\n";
      if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, me.data(), me.size(), 0) < 0) {
        // The holder's name is a courtesy for the other process's message; the lock holds anyway.
      }
      fd_ = fd;
      return;
    }
    ::close(fd);  // unlinked (or replaced) by its previous holder: take the new file
  }
  throw UserError(lock_path_ + ": the lock file keeps being replaced; another process is fighting for " + output);
}

OutputLock::~OutputLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // while still holding it: a waiter that opened it retries (see above)
  ::close(fd_);
}

RemoveOnExit::~RemoveOnExit() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // best effort: a destructor must not throw
}

}  // namespace headprune::io
