// ctest-labels: fast
// Answer vocabulary, the official VQA answer normalisation, soft scores, and the two question
// formats (LXMERT JSON; official questions + annotations), including their user errors.
// Expected normalisations were produced by the reference Python (vqaEval.py's processPunctuation
// and processDigitArticle, as in bottom-up-attention-vqa's compute_softscore.py).
#include <gtest/gtest.h>

#include <fstream>

#include "headprune/common/error.hpp"
#include "headprune/data/answer_vocab.hpp"
#include "headprune/data/vqa_dataset.hpp"
#include "testing.hpp"

using namespace headprune::data;
using headprune::UserError;

namespace {
using headprune::testing::user_error;

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

const std::string kVocabDir = std::string(HEADPRUNE_SOURCE_DIR) + "/data/vqa";

AnswerVocab small_vocab() {
  return AnswerVocab::from_answers({"", "2", "3", "yes", "no", "t shirt", "don't", "red white", "dog", "1000"});
}
}  // namespace

TEST(AnswerVocab, LoadsTheShipped3129Answers) {
  auto vocab = AnswerVocab::load_dir(kVocabDir);
  EXPECT_EQ(vocab.size(), 3129);
  EXPECT_EQ(vocab.index("yes"), 425);
  EXPECT_EQ(vocab.answer(425), "yes");
  EXPECT_EQ(vocab.index("2"), 841);
  EXPECT_EQ(vocab.answer(0), "");
  EXPECT_EQ(vocab.index("not an answer"), -1);
}

TEST(AnswerVocab, RejectsFilesThatDisagree) {
  auto dir = headprune::testing::scratch_dir("vocab");
  write_file(dir + "/a2l.json", "{\"yes\": 0, \"no\": 1}");
  write_file(dir + "/l2a.json", "[\"no\", \"yes\"]");
  EXPECT_EQ(user_error([&] { AnswerVocab::load(dir + "/a2l.json", dir + "/l2a.json"); }),
            dir + "/a2l.json: answer 'no' maps to 1 but " + dir + "/l2a.json has 'yes' there");
  write_file(dir + "/l2a3.json", "[\"yes\", \"no\", \"maybe\"]");
  EXPECT_EQ(user_error([&] { AnswerVocab::load(dir + "/a2l.json", dir + "/l2a3.json"); }),
            dir + "/a2l.json: has 2 answers but " + dir + "/l2a3.json has 3 (the two files must come from the same vocabulary)");
  write_file(dir + "/broken.json", "{\"yes\": 0,, }");
  auto msg = user_error([&] { AnswerVocab::load(dir + "/broken.json", dir + "/l2a.json"); });
  EXPECT_EQ(msg.rfind(dir + "/broken.json: malformed JSON at line 1, column 11: ", 0), 0u) << msg;
}

TEST(NormalizeAnswer, MatchesTheOfficialEvaluation) {
  const std::pair<const char*, const char*> cases[] = {
      {"Two", "2"},
      {"none", "0"},
      {"one two three", "1 2 3"},
      {"the dog", "dog"},
      {"  an apple  ", "apple"},
      {"A", ""},
      {"THE END", "end"},
      {"a red ball.", "red ball"},
      {"dont", "don't"},
      {"youre", "you're"},
      {"cant", "can't"},
      {"yall'll", "y'all'll"},
      {"somebody'd", "somebodyd"},  // sic, as the reference table has it
      {"Im", "im"},                 // the table's capitalised keys never match after lower()
      {"what's", "what's"},
      {"Yes!", "yes"},
      {"yes ?", "yes"},
      {"(yes)", "yes"},
      {"1,000", "1000"},
      {"5,6 and 7-8", "56 and 78"},  // a digit-comma-digit anywhere deletes all punctuation
      {"5, 6", "5 6"},
      {"red, white", "red white"},
      {"Yes, ma'am", "yes ma'am"},
      {"t-shirt", "t shirt"},
      {"t - shirt", "t shirt"},
      {"fork/knife", "fork knife"},
      {"left;right", "left right"},
      {"3.5", "3.5"},
      {".5", ".5"},
      {"..5", ".5"},
      {"100.", "100"},
      {"...", ""},
      {"e.g.", "eg"},
      {"Dr. Pepper", "dr pepper"},
      {"at 3:00 p.m.", "at 3:00 pm"},
      {"10:30", "10:30"},
      {"$5", "$5"},
      {"yes\tno", "yes no"},
      {"black and white", "black and white"},
      {"x........................................y", "x........y"},  // sub()'s count=re.UNICODE=32
  };
  for (auto [in, out] : cases) EXPECT_EQ(normalize_answer(in), out) << "input: \"" << in << "\"";
}

TEST(SoftScore, IsLxmertsTable) {
  EXPECT_EQ(soft_score(0), 0.0);
  EXPECT_EQ(soft_score(1), 0.3);
  EXPECT_EQ(soft_score(2), 0.6);
  EXPECT_EQ(soft_score(3), 0.9);  // not 0.3 * 3 == 0.8999999999999999
  EXPECT_NE(soft_score(3), 0.3 * 3);
  EXPECT_EQ(soft_score(4), 1.0);
  EXPECT_EQ(soft_score(10), 1.0);
}

TEST(OfficialFormat, SoftLabelsFromHandWrittenAnnotations) {
  auto dir = headprune::testing::scratch_dir("official");
  write_file(dir + "/questions.json", R"({
    "data_subtype": "val2014",
    "questions": [
      {"image_id": 42, "question": "How many dogs?", "question_id": 42000},
      {"image_id": 393225, "question": "What is it?", "question_id": 393225001},
      {"image_id": 7, "question": "Is it?", "question_id": 7000}
    ]})");
  write_file(dir + "/annotations.json", R"({"annotations": [
      {"question_id": 393225001, "image_id": 393225, "answer_type": "other", "question_type": "what is",
       "answers": [{"answer": "dont"}, {"answer": "don't"}, {"answer": "Don't"}, {"answer": "red, white"},
                   {"answer": "red white"}, {"answer": "dog"}, {"answer": "a dog"}, {"answer": "the dog!"},
                   {"answer": "..."}, {"answer": "1,000"}]},
      {"question_id": 42000, "image_id": 42, "answer_type": "number", "question_type": "how many",
       "answers": [{"answer": "two"}, {"answer": "2"}, {"answer": "Two"}, {"answer": "2."}, {"answer": "3"},
                   {"answer": "three"}, {"answer": "the 3"}, {"answer": "yes"}, {"answer": "maybe"},
                   {"answer": "t-shirt"}]},
      {"question_id": 7000, "image_id": 7, "answer_type": "yes/no", "question_type": "is",
       "answers": [{"answer": "yes"}, {"answer": "yes"}, {"answer": "yes"}, {"answer": "yes"}, {"answer": "yes"},
                   {"answer": "yes"}, {"answer": "yes"}, {"answer": "yes"}, {"answer": "yes"}, {"answer": "no"}]}
    ]})");
  auto vocab = small_vocab();
  auto q = load_vqa_v2_questions(dir + "/questions.json", dir + "/annotations.json", vocab);
  ASSERT_EQ(q.samples.size(), 3u);

  const Sample& a = q.samples[0];  // file order of the questions file
  EXPECT_EQ(a.question_id, "42000");
  EXPECT_EQ(a.img_id, "COCO_val2014_000000000042");
  EXPECT_EQ(a.question, "How many dogs?");
  EXPECT_EQ(a.answer_type, "number");
  EXPECT_EQ(a.question_type, "how many");
  // "2" x4 -> 1.0, "3" x3 -> 0.9, "yes" -> 0.3, "t shirt" -> 0.3; "maybe" is outside the vocabulary.
  EXPECT_EQ(a.label, (std::map<std::string, double>{{"2", 1.0}, {"3", 0.9}, {"yes", 0.3}, {"t shirt", 0.3}}));
  auto t = a.target(vocab.size());
  ASSERT_EQ(t.size(), 10u);
  EXPECT_EQ(t, (std::vector<float>{0, 1.0f, 0.9f, 0.3f, 0, 0.3f, 0, 0, 0, 0}));
  EXPECT_EQ(a.score("3"), 0.9);
  EXPECT_EQ(a.score("maybe"), 0.0);

  const Sample& b = q.samples[1];
  EXPECT_EQ(b.img_id, "COCO_val2014_000000393225");
  // don't x3, red white x2, dog x3, "" (from "...") x1, 1000 x1.
  EXPECT_EQ(b.label, (std::map<std::string, double>{
                         {"don't", 0.9}, {"red white", 0.6}, {"dog", 0.9}, {"", 0.3}, {"1000", 0.3}}));

  const Sample& c = q.samples[2];
  EXPECT_EQ(c.label, (std::map<std::string, double>{{"yes", 1.0}, {"no", 0.3}}));
  EXPECT_EQ(c.label_ids, (std::vector<std::pair<int64_t, float>>{{4, 0.3f}, {3, 1.0f}}));  // map order: "no" < "yes"
}

TEST(OfficialFormat, UserErrors) {
  auto dir = headprune::testing::scratch_dir("official-bad");
  auto vocab = small_vocab();
  write_file(dir + "/q.json", R"({"data_subtype": "val2014", "questions": [{"image_id": 1, "question": "?", "question_id": 10}]})");
  write_file(dir + "/a_missing.json", R"({"annotations": []})");
  EXPECT_EQ(user_error([&] { load_vqa_v2_questions(dir + "/q.json", dir + "/a_missing.json", vocab); }),
            dir + "/a_missing.json: no annotation for question_id 10 of " + dir + "/q.json (are the two files from the same split?)");
  write_file(dir + "/a_image.json", R"({"annotations": [{"question_id": 10, "image_id": 2, "answers": []}]})");
  EXPECT_EQ(user_error([&] { load_vqa_v2_questions(dir + "/q.json", dir + "/a_image.json", vocab); }),
            dir + "/a_image.json: annotation of question_id 10: image_id 2 but the question's is 1 in " + dir + "/q.json");
  write_file(dir + "/a_answer.json", R"({"annotations": [{"question_id": 10, "image_id": 1, "answers": [{"answer": 3}]}]})");
  EXPECT_EQ(user_error([&] { load_vqa_v2_questions(dir + "/q.json", dir + "/a_answer.json", vocab); }),
            dir + "/a_answer.json: annotation of question_id 10, answer 0: field 'answer' is number, expected a string");
  write_file(dir + "/a_twice.json", R"({"annotations": [{"question_id": 10, "image_id": 1, "answers": []},
                                                    {"question_id": 10, "image_id": 1, "answers": []}]})");
  EXPECT_EQ(user_error([&] { load_vqa_v2_questions(dir + "/q.json", dir + "/a_twice.json", vocab); }),
            dir + "/a_twice.json: annotation 1 (question_id 10): a second annotation for this question_id");
  write_file(dir + "/q_nosub.json", R"({"questions": []})");
  EXPECT_EQ(user_error([&] { load_vqa_v2_questions(dir + "/q_nosub.json", "", vocab); }),
            dir + "/q_nosub.json: missing \"data_subtype\" (e.g. \"val2014\"), needed to spell image ids as COCO_val2014_000000393225");
  write_file(dir + "/a_broken.json", "{\"annotations\": [\n  {\"question_id\": 10,\n   \"image_id\": 1\n   \"answers\": []}]}");
  auto msg = user_error([&] { load_vqa_v2_questions(dir + "/q.json", dir + "/a_broken.json", vocab); });
  EXPECT_EQ(msg.rfind(dir + "/a_broken.json: malformed JSON at line 4, column 12: ", 0), 0u) << msg;
  // Without annotations (test split): no labels.
  auto q = load_vqa_v2_questions(dir + "/q.json", "", vocab);
  ASSERT_EQ(q.samples.size(), 1u);
  EXPECT_TRUE(q.samples[0].label.empty());
}

TEST(LxmertFormat, LoadsQuestionsAndDropsOutOfVocabularyLabels) {
  auto dir = headprune::testing::scratch_dir("lxmert-json");
  write_file(dir + "/valid.json", R"([
    {"answer_type": "other", "img_id": "COCO_val2014_000000262148", "label": {"dog": 1, "maybe": 0.3, "2": 0.9},
     "question_id": 262148000, "question_type": "what", "sent": "Where is he looking?"},
    {"img_id": "COCO_val2014_000000000001", "question_id": "q2", "sent": "Test question?"}
  ])");
  auto vocab = small_vocab();
  auto q = load_lxmert_questions(dir + "/valid.json", vocab);
  EXPECT_EQ(q.source, dir + "/valid.json");
  ASSERT_EQ(q.samples.size(), 2u);
  const Sample& s = q.samples[0];
  EXPECT_EQ(s.question_id, "262148000");
  EXPECT_EQ(s.img_id, "COCO_val2014_000000262148");
  EXPECT_EQ(s.question, "Where is he looking?");
  EXPECT_EQ(s.answer_type, "other");
  EXPECT_EQ(s.question_type, "what");
  EXPECT_EQ(s.label, (std::map<std::string, double>{{"dog", 1.0}, {"2", 0.9}}));
  auto t = s.target(vocab.size());
  EXPECT_EQ(t[static_cast<size_t>(vocab.index("dog"))], 1.0f);
  EXPECT_EQ(t[static_cast<size_t>(vocab.index("2"))], 0.9f);
  EXPECT_EQ(t[0], 0.0f);
  EXPECT_EQ(q.samples[1].question_id, "q2");
  EXPECT_TRUE(q.samples[1].label.empty());
}

TEST(LxmertFormat, UserErrors) {
  auto dir = headprune::testing::scratch_dir("lxmert-bad");
  auto vocab = small_vocab();
  write_file(dir + "/broken.json", "[\n {\"question_id\": 1, \"img_id\": \"x\", \"sent\": \"?\"},\n {\"question_id\": 2,]\n");
  auto msg = user_error([&] { load_lxmert_questions(dir + "/broken.json", vocab); });
  EXPECT_EQ(msg.rfind(dir + "/broken.json: malformed JSON at line 3, column 20: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("(expected LXMERT VQA questions"), std::string::npos) << msg;

  write_file(dir + "/nosent.json", R"([{"question_id": 1, "img_id": "x", "sent": "?"}, {"question_id": 5, "img_id": "y"}])");
  EXPECT_EQ(user_error([&] { load_lxmert_questions(dir + "/nosent.json", vocab); }),
            dir + "/nosent.json: question 1 (question_id 5): missing field 'sent' (expected a string)");
  write_file(dir + "/badimg.json", R"([{"question_id": 7, "img_id": 12, "sent": "?"}])");
  EXPECT_EQ(user_error([&] { load_lxmert_questions(dir + "/badimg.json", vocab); }),
            dir + "/badimg.json: question 0 (question_id 7): field 'img_id' is number, expected a string");
  write_file(dir + "/badscore.json", R"([{"question_id": 7, "img_id": "y", "sent": "?", "label": {"yes": "1"}}])");
  EXPECT_EQ(user_error([&] { load_lxmert_questions(dir + "/badscore.json", vocab); }),
            dir + "/badscore.json: question 0 (question_id 7): label 'yes' has score \"1\", expected a number");
  // Accuracies are summed as exact tenths: a score that is no VQA soft score is refused.
  for (const char* bad : {"0.25", "1.2", "-0.3", "0.33"}) {
    write_file(dir + "/tenths.json", std::string(R"([{"question_id": 7, "img_id": "y", "sent": "?", "label": {"yes": )") +
                                         bad + "}}]");
    EXPECT_EQ(user_error([&] { load_lxmert_questions(dir + "/tenths.json", vocab); }),
              dir + "/tenths.json: question 0 (question_id 7): label 'yes' has score " + bad +
                  ", expected a VQA soft score (a multiple of 0.1 in [0, 1])");
  }
  write_file(dir + "/tenths.json", R"([{"question_id": 7, "img_id": "y", "sent": "?", "label": {"yes": 0.3, "no": 0.9, "2": 1, "3": 0.6, "4": 0.5}}])");
  EXPECT_NO_THROW(load_lxmert_questions(dir + "/tenths.json", vocab));
  write_file(dir + "/notobject.json", R"([{"question_id": 1, "img_id": "x", "sent": "?"}, 17])");
  EXPECT_EQ(user_error([&] { load_lxmert_questions(dir + "/notobject.json", vocab); }),
            dir + "/notobject.json: question 1: expected a JSON object, found number");
  write_file(dir + "/official.json", R"({"questions": []})");
  EXPECT_EQ(user_error([&] { load_lxmert_questions(dir + "/official.json", vocab); }),
            dir + "/official.json: expected a JSON list of questions (LXMERT format), found object (this looks like an "
                  "official VQA questions file: give it with its annotations file)");
  EXPECT_EQ(user_error([&] { load_lxmert_questions(dir + "/none.json", vocab); }),
            dir + "/none.json: file not found (expected LXMERT VQA questions: a list of {question_id, img_id, sent, label})");
}
