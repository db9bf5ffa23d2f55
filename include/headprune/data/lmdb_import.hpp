// Import of MMF's LMDB region features (e.g. coco/subset_val/features/trainval2014.lmdb, what
// the seed's VisualBERT reads) into a feature store (data/feature_store.hpp). Backs
// `headprune import-features --mmf-lmdb`.
//
// The LMDB (written by MMF's tools/scripts/features/lmdb_conversion.py) holds:
//   b"keys"   a pickled list of the image keys (bytes), the order MMF reads them in;
//   <key>     per image a pickled dict: features [N, D] float32 (float16/float64 converted to
//             float32 as MMF's reader does), bbox [N, 4] pixels x1 y1 x2 y2, image_width,
//             image_height, and optionally num_boxes, objects [N], cls_prob [N, C], feature_path.
// Keys are image ids as MMF looks them up: "262148" (the COCO number) when the imdb's
// feature_path ends in a number, else the feature path without ".npy". Each image is stored
// under its key; the store finds "262148" under "COCO_val2014_000000262148" too, so questions
// from any of the project's formats find their image.
// All N rows are stored: MMF's `max_features: 100` cut is applied when a model reads the store
// (FeatureStore::read_regions keeps the first max_boxes rows, as MMF keeps features[:100]).
// Kept per box for visualisations: objects -> objects_id (-1 without it), cls_prob[i, objects[i]]
// -> objects_conf (0 without it); attrs_id -1 and attrs_conf 0 (MMF has none).
//
// The environment is opened read-only without a lock file (MDB_NOSUBDIR when the path is a file),
// so a store on a read-only mount imports. Writes OUT.partial and renames it to OUT at the end;
// any error removes the partial file.
//
// Failure: UserError naming the LMDB and the entry key, e.g.
//   "trainval2014.lmdb: entry '262148': no 'features' (keys: bbox, image_width, ...)".
#pragma once

#include <string>

#include "headprune/data/tsv_import.hpp"

namespace headprune::data {

/// Imports the LMDB at `lmdb_path` (a folder with data.mdb, or the data file itself) into a new
/// store at `out_path`. Options and result as for the TSV import (skip_nonfinite included).
TsvImportResult import_mmf_lmdb(const std::string& lmdb_path, const std::string& out_path,
                                const TsvImportOptions& options = {});

/// One LMDB entry (its pickle bytes) as a store record. `where` names the LMDB and the entry.
/// UserError for a missing field, a wrong shape or dtype, or an unsupported pickle.
ImageRecord parse_mmf_feature_entry(const std::string& key, std::string_view pickle_bytes, const std::string& where);

}  // namespace headprune::data
