// Test access to the bundled reference fixtures (tests/data/lxmert, tests/data/visualbert).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "headprune/models/model.hpp"
#include "headprune/verify/conformance.hpp"

namespace headprune::testing {

/// Loads tests/data/<name> ("lxmert" or "visualbert") in `dtype`.
std::unique_ptr<models::VqaModel> fixture_model(const std::string& name, at::ScalarType dtype = at::kDouble);

/// All stored samples of the fixture, each a batch of one.
std::vector<verify::FixtureSample> fixture_samples(const std::string& name, at::ScalarType dtype = at::kDouble);

/// Max |a - b| as a double.
double max_abs_diff(const at::Tensor& a, const at::Tensor& b);

}  // namespace headprune::testing
