#include "fixtures.hpp"

#include <ATen/ATen.h>

#include "testing.hpp"

namespace headprune::testing {

std::unique_ptr<models::VqaModel> fixture_model(const std::string& name, at::ScalarType dtype) {
  return models::load_model(data_path(name), {dtype, true, ""});
}

std::vector<verify::FixtureSample> fixture_samples(const std::string& name, at::ScalarType dtype) {
  h5::File ref(data_path(name + "/reference.h5"), h5::File::Mode::read);
  const verify::FixtureLayout& layout = verify::fixture_layout(ref.attr_string("/", "kind"), ref.path());
  std::vector<verify::FixtureSample> out;
  for (int64_t i = 0; i < ref.attr_i64("/", "n_samples"); ++i)
    out.push_back(verify::read_fixture_sample(ref, i, layout, dtype));
  return out;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

}  // namespace headprune::testing
