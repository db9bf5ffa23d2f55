// Fatal signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT): one line naming the process (pid,
// MPI rank once known), the signal and its fault address, and the phase of the process, then a
// raw backtrace, on stderr; the process then dies of the same signal (exit status 128 + N, as
// launchers and Slurm expect). Crashes at exit - after the results file is complete, e.g. in CUDA
// or MPI library teardown - are otherwise silent and hard to place. The handler runs on its own
// stack, so a stack overflow is reported too.
//
// main() installs the handlers first. Open MPI 4.1 keeps a handler that is already installed
// (it adds its own only where none is), so these stay in charge during MPI_Init ... MPI_Finalize.
#pragma once

namespace headprune {

/// Installs the handlers (again: harmless). `phase` must be a string literal.
void install_crash_handlers(const char* phase);
/// What the process is doing, for the report. `phase` must be a string literal.
void set_crash_phase(const char* phase);
/// This process's MPI rank, for the report (-1: none).
void set_crash_rank(int rank);

}  // namespace headprune
