"""The VisualBERT fixture (tests/data/visualbert) in the files MMF's users download, for the
end-to-end test of the MMF recipe (tests/cli/test_mmf_end_to_end.sh).

    make_mmf_fixture_replica.py FIXTURE_DIR OUT_DIR

Writes into OUT_DIR, from the fixture's reference.h5 and weights:
  zoo/model.pth, zoo/config.yaml   MMF's zoo folder: the state dict (MMF key names) + MMF's config
                                   with the fixture's sizes; no config.json, no vocab.txt
  features.lmdb/                   MMF's LMDB: b"keys" and, per sample, a pickled dict under the
                                   COCO number (feature_path, features [R, D] float32, bbox,
                                   image_width, image_height, num_boxes) as lmdb_conversion.py
                                   writes it; the fixture's features are float32 values stored as
                                   float64, so float32 loses nothing
  imdb_val2014.npy                 MMF's annotation database: a header, then one dict per sample
                                   with the raw question and 10 answers whose leave-one-out soft
                                   scores are the fixture's targets (count c of an answer gives
                                   0.3, 0.6, 0.9, 1.0 for c = 1, 2, 3, >= 4; the rest are an
                                   answer outside the list, which scores nothing)
  answers/                         the fixture's 12 answers as LXMERT's JSON pair (an MMF-format
                                   file would get "<unk>" put first by MMF's VocabDict, and sample 4
                                   scores the fixture's answer 0)
"""
import json
import os
import pickle
import shutil
import sys

import h5py
import lmdb
import numpy as np

COUNT_FOR_SCORE = {np.float32(0.3): 1, np.float32(0.6): 2, np.float32(0.9): 3, np.float32(1.0): 4}


def main():
    fixture, out = sys.argv[1], sys.argv[2]
    ref = h5py.File(os.path.join(fixture, "reference.h5"), "r")
    cfg = json.load(open(os.path.join(fixture, "config.json")))
    answers = list(ref["meta/answers"].asstr()[()])
    os.makedirs(os.path.join(out, "zoo"), exist_ok=True)
    shutil.copy(os.path.join(fixture, "pytorch_model.bin"), os.path.join(out, "zoo", "model.pth"))
    with open(os.path.join(out, "zoo", "config.yaml"), "w") as f:
        f.write("model: visual_bert\nmodel_config:\n  visual_bert:\n    bert_model_name: bert-base-uncased\n"
                "    training_head_type: classification\n    pooler_strategy: vqa\n")
        for k in ["hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size",
                  "max_position_embeddings", "vocab_size", "visual_embedding_dim", "num_labels"]:
            f.write("    %s: %d\n" % (k, cfg[k]))
    os.makedirs(os.path.join(out, "answers"), exist_ok=True)
    json.dump(answers, open(os.path.join(out, "answers", "trainval_label2ans.json"), "w"))
    json.dump({a: i for i, a in enumerate(answers)}, open(os.path.join(out, "answers", "trainval_ans2label.json"), "w"))

    env = lmdb.open(os.path.join(out, "features.lmdb"), map_size=1 << 26)
    keys, imdb = [], [{"version": 1, "dataset_name": "vqa2", "create_time": "replica"}]
    with env.begin(write=True) as txn:
        for i in range(int(ref.attrs["n_samples"])):
            s = ref["sample_%03d" % i]
            feats = s["batch/image_feature_0"][0]
            assert np.array_equal(feats.astype(np.float32).astype(np.float64), feats), "features not float32-exact"
            image_id = 262148 + i
            key = str(image_id).encode()
            keys.append(key)
            n = feats.shape[0]
            item = {"feature_path": "COCO_val2014_%012d" % image_id, "features": feats.astype(np.float32),
                    "bbox": np.tile(np.array([[0, 0, 1, 1]], np.float32), (n, 1)), "image_width": 1,
                    "image_height": np.int64(1), "num_boxes": n}
            txn.put(key, pickle.dumps(item))
            targets = s["batch/targets"][0]
            tens = []
            for a in np.nonzero(targets)[0]:
                tens += [answers[a]] * COUNT_FOR_SCORE[np.float32(targets[a])]
            assert len(tens) <= 10, "sample %d: targets need more than 10 answers" % i
            tens += ["not an answer of the list"] * (10 - len(tens))
            imdb.append({"image_name": "COCO_val2014_%012d" % image_id, "image_id": image_id, "question_id": 1000 + i,
                         "feature_path": "COCO_val2014_%012d.npy" % image_id,
                         "question_str": s.attrs["question"],
                         "question_tokens": s.attrs["question"].rstrip("?").split(),
                         "all_answers": tens, "answers": tens})
        txn.put(b"keys", pickle.dumps(keys))
    env.close()
    np.save(os.path.join(out, "imdb_val2014.npy"), np.array(imdb, dtype=object), allow_pickle=True)


if __name__ == "__main__":
    main()
