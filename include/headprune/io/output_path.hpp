// Output files: checked before any work, written by one process at a time, never left half-written.
//
// Every command that writes a file (run, import-features, merge, conformance --out) writes it to a
// temporary companion (`<path>.tmp`, `<path>.partial`) and renames it at the end. These helpers
// make the three promises around that rename hold for all of them:
//   - check_output_file(): a path that cannot receive the file (a directory, a missing or read-only
//     folder, an existing file without overwrite) is refused before any work is done;
//   - OutputLock: two live processes never write the same output (an exclusive flock(2) on
//     `<path>.lock`; the loser is told the winner's host and pid at once);
//   - RemoveOnExit: a companion that this process made is removed when it stops early.
#pragma once

#include <string>

namespace headprune::io {

/// Throws UserError (one line naming `path`) when `path` cannot receive an output file: it is a
/// directory, its folder is missing or not writable, or it exists and `overwrite` is false (the
/// message says `how_to_overwrite`, e.g. "--overwrite").
void check_output_file(const std::string& path, bool overwrite, const std::string& how_to_overwrite);

/// An exclusive, non-blocking lock on `<output>.lock` for the lifetime of the object. The lock is
/// the kernel's (flock), so it is released when the process dies, however it dies; the lock file
/// names the holder (host, pid, start time) for the message the other process gets, and is
/// removed by its holder on release. Works on local file systems and on NFSv4/Lustre with flock
/// support; on a file system without locks the lock cannot be taken and the run is refused.
class OutputLock {
 public:
  /// Takes the lock or throws UserError naming the output and the process that holds it.
  explicit OutputLock(const std::string& output);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  const std::string& path() const { return lock_path_; }

 private:
  std::string lock_path_;
  int fd_ = -1;
};

/// Removes a file or folder when it goes out of scope, unless keep() was called: for the temporary
/// companions of an output, so that an error or a signal leaves nothing behind.
class RemoveOnExit {
 public:
  explicit RemoveOnExit(std::string path) : path_(std::move(path)) {}
  ~RemoveOnExit();
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  void keep() { path_.clear(); }

 private:
  std::string path_;
};

/// "host:pid" of this process, for messages and lock files.
std::string host_and_pid();

}  // namespace headprune::io
