# Two questions with one question_id in an LXMERT JSON file (accepted today; the official-format
# loader refuses it) -> exit 2 naming the file, the record and the id.
py "
import json
q = json.load(open('data/questions.json'))
q[5]['question_id'] = q[2]['question_id']
json.dump(q, open('data/questions.json', 'w'))"
expect_fail 2 'data/questions\.json: question 5 \(question_id 1002\): .*question 2' -- "$BIN" run run.yaml
