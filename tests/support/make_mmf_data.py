#!/usr/bin/python3
"""Replicas of MMF's VQA data files, written as MMF writes them, for the tests of the MMF readers.

    make_mmf_data.py OUT_DIR [--protocol P] [--images K] [--questions N] [--seed S] [--bad KIND]

Writes into OUT_DIR:
  features.lmdb/        an LMDB as MMF's tools/scripts/features/lmdb_conversion.py writes it:
                        b"keys" = pickle of the list of keys (bytes), and per image key (the COCO
                        number, "262148") a pickled dict {feature_path, features [N, 2048] float32,
                        image_height, image_width, num_boxes, objects, cls_prob, bbox}
  features/<key>.npy    each image's features as np.save wrote them (bit-exact reference)
  imdb_val2014.npy      MMF's annotation database: np.save of an object array whose first element
                        is a header dict, then one dict per question {image_name, image_id,
                        question_id, feature_path, question_str, question_tokens, all_answers,
                        answers}
  answers_vqa.txt       one answer a line, "<unk>" first, MMF's format
  expected.json         per question: the text MMF's text processor receives, the simple_word form
                        of each answer, and the soft scores of MMF's vqa_answer processor computed
                        here by a direct port of its rule (leave-one-out over 10 answers)
  selection.txt         some question ids in a shuffled order

--protocol: the pickle protocol of the LMDB entries (MMF calls pickle.dumps without one: Python's
default, 4 on Python 3.8-3.13). --bad KIND writes one broken entry instead of the last image:
  no_features   a dict without "features"
  bad_shape     features of shape [N] (1-d)
  bad_dtype     int32 features
  bad_class     a pickled instance of an unsupported class (fractions.Fraction)
  truncated     the entry's pickle cut in half
"""
import argparse
import fractions
import hashlib
import json
import os
import pickle
import random
import re

import lmdb
import numpy as np

ANSWERS = ["yes", "no", "2", "1", "white", "3", "red", "blue", "0", "black", "green", "cat",
           "man 's", "dog", "red white", "4"]
RAW_ANSWERS = ["Yes", "no", "2", "1", "White", "3", "red?", "blue,", " red ", "0", "black", "green", "cat",
               "man's", "MAN'S", "dog", "red, white", "4", "maybe", "purple", "four"]
QUESTIONS = ["Is the sky blue?", "What is the man's hat made of?", "How many cars, trucks are there?",
             "WHY?", "what kind of food is on the table in this room?", "Does the cat see the dog?"]


def simple_word(word):
    """MMF's mmf/utils/text.py word_tokenize, verbatim in behaviour."""
    word = word.lower()
    for item in [",", "?"]:
        word = word.replace(item, "")
    word = word.replace("'s", " 's")
    return word.strip()


def mmf_scores(answers, vocab):
    """MMF's VQAAnswerProcessor: simple_word, _increase_to_ten, compute_answers_scores (float32)."""
    word2idx = {w: i for i, w in enumerate(vocab)}
    unk = word2idx["<unk>"]
    tokens = [simple_word(a) for a in answers]
    if len(tokens) != 0:
        while len(tokens) < 10:
            tokens += tokens[: 10 - len(tokens)]
    indices = [unk] * 10
    for i, t in enumerate(tokens):
        indices[i] = word2idx.get(t, unk)
    gt = list(enumerate(indices))
    scores = {}
    for answer in set(indices):
        accs = []
        for g in gt:
            others = [item for item in gt if item != g]
            matching = [item for item in others if item[1] == answer]
            accs.append(min(1, float(len(matching)) / 3))
        avg = sum(accs) / len(accs)
        if answer != unk:
            scores[vocab[answer]] = float(np.float32(avg))
    return scores


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--protocol", type=int, default=pickle.DEFAULT_PROTOCOL)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--questions", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bad", default="")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    prng = random.Random(a.seed)
    os.makedirs(os.path.join(a.out, "features"), exist_ok=True)

    vocab = ["<unk>"] + ANSWERS
    with open(os.path.join(a.out, "answers_vqa.txt"), "w") as f:
        f.write("\n".join(vocab))  # MMF's file has no newline after its last answer

    image_ids = [262148 + 1000 * i for i in range(a.images)]
    env = lmdb.open(os.path.join(a.out, "features.lmdb"), map_size=1 << 28)
    keys = []
    with env.begin(write=True) as txn:
        for n, image_id in enumerate(image_ids):
            key = str(image_id).encode()
            keys.append(key)
            boxes = 10 + 3 * n
            feats = rng.standard_normal((boxes, 2048)).astype(np.float32)
            feats[0, :4] = [np.float32(1e-40), -0.0, np.float32(3.4e38), np.float32(1 / 3)]  # subnormal, -0, big
            np.save(os.path.join(a.out, "features", key.decode() + ".npy"), feats)
            objects = rng.integers(0, 1600, boxes)
            cls_prob = rng.random((boxes, 1601)).astype(np.float32)
            w, h = 640 - n, 480 + n
            x1 = rng.random(boxes) * w / 2
            y1 = rng.random(boxes) * h / 2
            bbox = np.stack([x1, y1, x1 + w / 4, y1 + h / 4], 1).astype(np.float32)
            item = {"feature_path": "COCO_val2014_%012d" % image_id, "features": feats,
                    "image_height": h, "image_width": np.int64(w), "num_boxes": boxes,
                    "objects": objects, "cls_prob": cls_prob, "bbox": bbox}
            value = pickle.dumps(item, protocol=a.protocol)
            if a.bad and n == len(image_ids) - 1:
                if a.bad == "no_features":
                    del item["features"]
                elif a.bad == "bad_shape":
                    item["features"] = feats[:, 0].copy()
                elif a.bad == "bad_dtype":
                    item["features"] = feats.astype(np.int32)
                elif a.bad == "bad_class":
                    item["features"] = fractions.Fraction(1, 3)
                value = pickle.dumps(item, protocol=a.protocol)
                if a.bad == "truncated":
                    value = value[: len(value) // 2]
            txn.put(key, value)
        txn.put(b"keys", pickle.dumps(keys, protocol=a.protocol))
    env.close()

    header = {"create_time": "2019-01-01", "dataset_name": "vqa", "version": 1, "has_answer": True}
    records, expected = [header], []
    for q in range(a.questions):
        image_id = image_ids[q % len(image_ids)]
        text = QUESTIONS[q % len(QUESTIONS)]
        k = prng.choice([10, 10, 10, 10, 3, 1])  # some records with fewer than 10 answers
        answers = [prng.choice(RAW_ANSWERS) for _ in range(k)]
        if q == 0:
            answers = ["yes"] * 10
        if q == 1:
            answers = ["red"] * 3 + ["blue"] * 2 + ["maybe"] * 5
        name = "COCO_val2014_%012d" % image_id
        rec = {"image_name": name, "image_id": image_id, "question_id": image_id * 1000 + q,
               "feature_path": name + ".npy", "question_str": text,
               "question_tokens": re.findall(r"\w+", text.lower()),
               "all_answers": answers, "answers": answers}
        records.append(rec)
        expected.append({"question_id": str(rec["question_id"]), "img_id": name, "question": text,
                         "simple_word": [simple_word(x) for x in answers],
                         "scores": mmf_scores(answers, vocab)})
    arr = np.empty(len(records), dtype=object)
    arr[:] = records
    np.save(os.path.join(a.out, "imdb_val2014.npy"), arr, allow_pickle=True)

    picked = [e["question_id"] for e in expected]
    prng.shuffle(picked)
    with open(os.path.join(a.out, "selection.txt"), "w") as f:
        f.write("# pinned samples\n\n" + "\n".join(picked[: len(picked) // 2]) + "\n")
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump({"questions": expected, "selection": picked[: len(picked) // 2],
                   "image_keys": [k.decode() for k in keys],
                   "answers_sha256": hashlib.sha256(open(os.path.join(a.out, "answers_vqa.txt"), "rb").read()).hexdigest()},
                  f, indent=1)


if __name__ == "__main__":
    main()
