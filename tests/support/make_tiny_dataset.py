#!/usr/bin/python3
"""A tiny VQA dataset for the bundled fixture models (tests/data/lxmert, tests/data/visualbert):
LXMERT-style questions JSON, an obj36-format TSV of random region features (feature size 24,
the fixtures' visual_feat_dim), and the fixtures' 12-answer vocabulary.

    make_tiny_dataset.py OUT_DIR [--questions N] [--images K] [--seed S] [--boxes R]

Writes OUT_DIR/{questions.json, features.tsv, answers/trainval_ans2label.json,
answers/trainval_label2ans.json}. Import the TSV with `headprune import-features`.
"""
import argparse
import base64
import json
import os
import random

import numpy as np

ANSWERS = ["yes", "no", "2", "1", "white", "3", "red", "blue", "0", "black", "green", "dog"]
WORDS = ("what color is the dog ? how many people are there in this picture a man woman cat on holding "
         "his her left right hand red blue green white black yellow where who which does it can you see "
         "standing sitting near tall fence kind room table food sky water grass tree wearing shirt hat bus "
         "car street sign").split()


def b64(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--questions", type=int, default=24)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--boxes", type=int, default=7)
    p.add_argument("--dim", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    rng = random.Random(a.seed)
    nrng = np.random.default_rng(a.seed)
    os.makedirs(os.path.join(a.out, "answers"), exist_ok=True)
    with open(os.path.join(a.out, "answers", "trainval_ans2label.json"), "w") as f:
        json.dump({ans: i for i, ans in enumerate(ANSWERS)}, f)
    with open(os.path.join(a.out, "answers", "trainval_label2ans.json"), "w") as f:
        json.dump(ANSWERS, f)
    images = ["tiny_img_%d" % i for i in range(a.images)]
    with open(os.path.join(a.out, "features.tsv"), "w") as f:
        for img in images:
            n = a.boxes
            h, w = 240, 320
            x1 = nrng.uniform(0, w - 40, n).astype(np.float32)
            y1 = nrng.uniform(0, h - 40, n).astype(np.float32)
            boxes = np.stack([x1, y1, x1 + nrng.uniform(10, 40, n).astype(np.float32),
                              y1 + nrng.uniform(10, 40, n).astype(np.float32)], 1).astype(np.float32)
            feats = nrng.normal(0, 1, (n, a.dim)).astype(np.float32)
            row = [img, str(h), str(w), b64(np.arange(n, dtype=np.int64)), b64(np.ones(n, np.float32)),
                   b64(np.zeros(n, np.int64)), b64(np.ones(n, np.float32)), str(n), b64(boxes), b64(feats)]
            f.write("\t".join(row) + "\n")
    questions = []
    for q in range(a.questions):
        words = [rng.choice(WORDS) for _ in range(rng.randint(2, 9))]
        label = {rng.choice(ANSWERS): 1.0}
        second = rng.choice(ANSWERS)
        if second not in label:
            label[second] = 0.3
        questions.append({"question_id": 1000 + q, "img_id": images[q % a.images], "sent": " ".join(words) + "?",
                          "label": label, "answer_type": ["yes/no", "number", "other"][q % 3],
                          "question_type": "what"})
    with open(os.path.join(a.out, "questions.json"), "w") as f:
        json.dump(questions, f)


if __name__ == "__main__":
    main()
