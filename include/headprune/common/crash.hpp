// Fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): one line naming the signal and the
// phase of the process, then a raw backtrace, on stderr; the process then dies of the same signal
// (exit status 128 + N, as a launcher and Slurm expect). Crashes at exit - after the results
// file is complete, e.g. in CUDA or MPI library teardown - are otherwise silent and hard to place.
//
// Open MPI installs its own handlers inside MPI_Init ... MPI_Finalize; MpiSession re-installs
// these after MPI_Finalize with the phase "exit, after MPI_Finalize".
#pragma once

namespace headprune {

/// Installs the handlers. `phase` must be a string literal (it is read inside the handler).
void install_crash_handlers(const char* phase);

}  // namespace headprune
