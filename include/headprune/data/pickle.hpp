// A small, bounds-checked reader for the Python pickles of MMF's data files, and for NumPy's
// .npy files (whose object arrays hold a pickle). No LibTorch: the model checkpoints have their
// own reader (models/weights.cpp).
//
// What it reads (protocols 2 to 5, as Python 3 and NumPy 1.x/2.x write them):
//   None, bool, int (up to 64 bits), float, str, bytes/bytearray, list, tuple, dict (and
//   collections.OrderedDict), the memo (PUT/GET/MEMOIZE), frames;
//   NumPy arrays: numpy.core.multiarray._reconstruct + numpy.dtype + the BUILD state
//   (protocols 2-4), numpy.core.numeric._frombuffer (protocol 5), under NumPy 2's
//   numpy._core.* names too; NumPy scalars (numpy.core.multiarray.scalar) become plain ints,
//   floats or bools; protocol 2's bytes (_codecs.encode(text, "latin1")).
// Anything else (another class, an opcode outside this list, a big-endian or structured dtype)
// is a UserError naming `what` and the opcode or class. Truncated or hostile bytes are
// UserErrors too: every length is checked against the bytes left before anything is
// allocated, so memory stays proportional to the input.
//
// Values live in an arena owned by the PickleDoc (containers point into it), so self-references
// through the memo and deep nesting cannot leak or overflow the stack on destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace headprune::data {

/// A NumPy array: dtype, shape, C-order data. Object arrays hold their elements instead.
struct PickleArray {
  char kind = 0;          ///< NumPy's dtype.kind: 'f' float, 'i' signed, 'u' unsigned, 'b' bool, 'O' object
  int64_t itemsize = 0;   ///< bytes per element (8 for objects)
  std::vector<int64_t> shape;
  std::string data;       ///< little-endian elements, C order (not for objects)
  std::vector<const struct PickleValue*> objects;  ///< kind 'O': the elements, C order

  int64_t size() const;                     ///< product of shape (1 for a 0-d array)
  std::string dtype_name() const;           ///< "float32", "int64", "object", ...
  std::string shape_text() const;           ///< "[36, 2048]"
  /// Element i as double (kinds f, i, u, b; f2 included). HP_ASSERTs the kind and the index.
  double element_as_double(int64_t i) const;
};

struct PickleValue {
  enum class Kind { none, boolean, integer, floating, string, bytes, list, tuple, dict, array, global };
  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  std::string text;  ///< str (UTF-8) or bytes; for `global`: "module.name"
  std::vector<const PickleValue*> items;                                ///< list, tuple
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;  ///< dict, insertion order
  PickleArray array;

  bool is_none() const { return kind == Kind::none; }
  bool is_string() const { return kind == Kind::string; }
  bool is_bytes() const { return kind == Kind::bytes; }
  bool is_integer() const { return kind == Kind::integer || kind == Kind::boolean; }
  bool is_sequence() const { return kind == Kind::list || kind == Kind::tuple; }
  /// A dict's value for the str (or bytes) key `key`, or nullptr.
  const PickleValue* get(std::string_view key) const;
  /// "a dict", "a list", "an int", "a float32 array [3, 4]", ... for messages.
  std::string describe() const;
};

/// The result of a parse; owns every value.
class PickleDoc {
 public:
  const PickleValue& root() const { return *root_; }

  /// A new value owned by this document (the parser and the .npy reader build with it).
  PickleValue* make(PickleValue::Kind kind);
  void set_root(const PickleValue* root) { root_ = root; }

 private:
  std::vector<std::unique_ptr<PickleValue>> arena_;
  const PickleValue* root_ = nullptr;
};

/// Parses one pickle (everything up to STOP; trailing bytes are ignored, as pickle.loads does
/// not). `what` names the input in errors ("trainval.lmdb: entry '262148'"). UserError for
/// anything unsupported or malformed; never crashes, whatever the bytes.
std::unique_ptr<PickleDoc> parse_pickle(std::string_view bytes, const std::string& what);

/// Parses a .npy file's bytes (format 1.0, 2.0, 3.0): the root is an array value; an object
/// array ('|O') is read from the pickle that follows the header. UserError naming `what`.
std::unique_ptr<PickleDoc> parse_npy(std::string_view bytes, const std::string& what);

/// Reads and parses a .npy file. UserError when it is missing or unreadable.
std::unique_ptr<PickleDoc> load_npy(const std::string& path);

}  // namespace headprune::data
