#include <gtest/gtest.h>
#include <chrono>
#include <sys/resource.h>
#include "headprune/data/vqa_dataset.hpp"
using namespace headprune::data;
TEST(B, Load) {
  auto vocab = AnswerVocab::load_dir("/work/main/data/vqa");
  auto t0 = std::chrono::steady_clock::now();
  auto q = load_lxmert_questions("/tmp/hp/valid_big.json", vocab);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage u{}; getrusage(RUSAGE_SELF, &u);
  std::printf("%zu questions in %.2f s, peak RSS %.0f MB\n", q.samples.size(), s, u.ru_maxrss / 1024.0);
  SampleOptions o; o.selection = {Selection::seed_shuffle, 10000, 1234};
  auto l = make_sample_list(q, o, nullptr);
  std::printf("selected %zu first %s\n", l.samples.size(), l.samples[0].question_id.c_str());
}
