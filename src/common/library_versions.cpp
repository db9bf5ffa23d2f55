#include <hdf5.h>
#include <mpi.h>
#include <torch/version.h>

#include "headprune/common/build_info.hpp"

namespace headprune {

std::string library_versions() {
  char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int len = 0;
  MPI_Get_library_version(mpi_version, &len);
  std::string mpi(mpi_version, static_cast<size_t>(len));
  if (auto comma = mpi.find(','); comma != std::string::npos) mpi.resize(comma);
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  return "LibTorch " TORCH_VERSION ", " + mpi + ", HDF5 " + std::to_string(maj) + "." + std::to_string(min) + "." +
         std::to_string(rel);
}

}  // namespace headprune
