#include "headprune/data/pickle.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unordered_map>

#include "headprune/common/error.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "pickles and .npy data are read as little-endian");

namespace headprune::data {

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------
int64_t PickleArray::size() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // bounded when the array was built (check_shape)
  return n;
}

std::string PickleArray::dtype_name() const {
  switch (kind) {
    case 'f': return "float" + std::to_string(itemsize * 8);
    case 'i': return "int" + std::to_string(itemsize * 8);
    case 'u': return "uint" + std::to_string(itemsize * 8);
    case 'b': return "bool";
    case 'O': return "object";
    default: return "?";
  }
}

std::string PickleArray::shape_text() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

// IEEE half -> double (float16 features exist in some MMF stores).
double half_to_double(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  double v;
  if (exp == 0) v = std::ldexp(frac, -24);
  else if (exp == 31) v = frac ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else v = std::ldexp(frac + 1024, exp - 25);
  return sign ? -v : v;
}

template <class T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

double PickleArray::element_as_double(int64_t i) const {
  HP_ASSERT(kind != 'O' && i >= 0 && i < size(), "element_as_double: bad kind or index");
  const char* p = data.data() + i * itemsize;
  switch (kind) {
    case 'f':
      if (itemsize == 2) return half_to_double(load<uint16_t>(p));
      if (itemsize == 4) return load<float>(p);
      return load<double>(p);
    case 'b': return *p ? 1.0 : 0.0;
    case 'i':
      if (itemsize == 1) return load<int8_t>(p);
      if (itemsize == 2) return load<int16_t>(p);
      if (itemsize == 4) return load<int32_t>(p);
      return static_cast<double>(load<int64_t>(p));
    case 'u':
      if (itemsize == 1) return load<uint8_t>(p);
      if (itemsize == 2) return load<uint16_t>(p);
      if (itemsize == 4) return load<uint32_t>(p);
      return static_cast<double>(load<uint64_t>(p));
  }
  HP_ASSERT(false, "element_as_double: unknown kind");
  return 0;
}

const PickleValue* PickleValue::get(std::string_view key) const {
  if (kind != Kind::dict) return nullptr;
  for (const auto& [k, v] : entries)
    if ((k->kind == Kind::string || k->kind == Kind::bytes) && k->text == key) return v;
  return nullptr;
}

std::string PickleValue::describe() const {
  switch (kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "a bool";
    case Kind::integer: return "an int";
    case Kind::floating: return "a float";
    case Kind::string: return "a str";
    case Kind::bytes: return "bytes";
    case Kind::list: return "a list";
    case Kind::tuple: return "a tuple";
    case Kind::dict: return "a dict";
    case Kind::array: {
      const std::string dtype = array.dtype_name();
      return (dtype[0] == 'i' || dtype[0] == 'u' || dtype[0] == 'o' ? "an " : "a ") + dtype + " array " + array.shape_text();
    }
    case Kind::global: return "the class " + text;
  }
  return "?";
}

PickleValue* PickleDoc::make(PickleValue::Kind kind) {
  arena_.push_back(std::make_unique<PickleValue>());
  arena_.back()->kind = kind;
  return arena_.back().get();
}

// ---------------------------------------------------------------------------------------------
// dtypes
// ---------------------------------------------------------------------------------------------
namespace {

struct Dtype {
  char kind = 0;
  int64_t itemsize = 0;
};

// "<f4", "f4", "|b1", "?", "O8", "|O" -> kind + size; nullopt-like {0,0} when unsupported.
// Big-endian ('>') is refused by the caller, which knows the context.
Dtype parse_dtype_code(std::string_view code, char* endian_out) {
  char endian = '=';
  if (!code.empty() && (code[0] == '<' || code[0] == '>' || code[0] == '|' || code[0] == '=')) {
    endian = code[0];
    code.remove_prefix(1);
  }
  if (endian_out) *endian_out = endian;
  if (code == "?") return {'b', 1};
  if (code.empty()) return {};
  const char kind = code[0];
  std::string_view digits = code.substr(1);
  if (kind == 'O') return digits.empty() || digits == "8" || digits == "4" ? Dtype{'O', 8} : Dtype{};
  int64_t size = 0;
  if (digits.empty() || digits.size() > 2) return {};
  for (char c : digits) {
    if (c < '0' || c > '9') return {};
    size = size * 10 + (c - '0');
  }
  if (kind == 'f' && (size == 2 || size == 4 || size == 8)) return {'f', size};
  if ((kind == 'i' || kind == 'u') && (size == 1 || size == 2 || size == 4 || size == 8)) return {kind, size};
  if (kind == 'b' && size == 1) return {'b', 1};
  return {};
}

// ---------------------------------------------------------------------------------------------
// The pickle machine
// ---------------------------------------------------------------------------------------------
using Kind = PickleValue::Kind;

// Shape sizes are checked so that size * itemsize cannot overflow.
constexpr int64_t kMaxElements = int64_t{1} << 48;

class Parser {
 public:
  Parser(std::string_view bytes, const std::string& what, PickleDoc& doc) : in_(bytes), what_(what), doc_(doc) {}

  const PickleValue* run() {
    while (true) {
      if (pos_ >= in_.size()) fail("truncated pickle (no STOP opcode)");
      op_pos_ = pos_;
      op_ = static_cast<uint8_t>(in_[pos_++]);
      if (op_ == '.') {  // STOP
        if (stack_.size() != 1 || !marks_.empty()) fail("malformed pickle (STOP with " + std::to_string(stack_.size()) + " values on the stack)");
        return stack_.back();
      }
      step();
    }
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw UserError(what_ + ": " + msg + " (pickle byte " + std::to_string(op_pos_) + ")");
  }

  std::string opcode_name() const {
    char buf[48];
    if (op_ >= 0x20 && op_ < 0x7f) std::snprintf(buf, sizeof buf, "opcode '%c' (0x%02x)", op_, op_);
    else std::snprintf(buf, sizeof buf, "opcode 0x%02x", op_);
    return buf;
  }

  std::string_view take(uint64_t n) {
    if (n > in_.size() - pos_) fail("truncated pickle (" + opcode_name() + " wants " + std::to_string(n) + " bytes, " +
                                   std::to_string(in_.size() - pos_) + " left)");
    std::string_view s = in_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  template <class T>
  T take_le() {
    return load<T>(take(sizeof(T)).data());
  }
  std::string_view take_line() {
    size_t nl = in_.find('\n', pos_);
    if (nl == std::string_view::npos) fail("truncated pickle (" + opcode_name() + " without a newline)");
    std::string_view s = in_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    return s;
  }

  PickleValue* pop() {
    if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size()))
      fail("malformed pickle (" + opcode_name() + " on an empty stack)");
    PickleValue* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PickleValue* top() {
    if (stack_.empty() || (!marks_.empty() && marks_.back() == stack_.size()))
      fail("malformed pickle (" + opcode_name() + " on an empty stack)");
    return stack_.back();
  }
  // The values above the last MARK, which is removed.
  std::vector<PickleValue*> pop_mark() {
    if (marks_.empty()) fail("malformed pickle (" + opcode_name() + " without a MARK)");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PickleValue*> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  void push(PickleValue* v) { stack_.push_back(v); }

  PickleValue* make(Kind k) { return doc_.make(k); }
  PickleValue* make_int(int64_t v) {
    auto* p = make(Kind::integer);
    p->integer = v;
    return p;
  }
  PickleValue* make_text(Kind k, std::string_view s) {
    auto* p = make(k);
    p->text.assign(s.data(), s.size());
    return p;
  }

  PickleValue* expect_container(Kind k, const char* what) {
    PickleValue* v = top();
    if (v->kind != k) fail(opcode_name() + " on " + v->describe() + ", expected " + what);
    return v;
  }

  void memo_put(uint64_t index) {
    if (stack_.empty()) fail("malformed pickle (memo store on an empty stack)");
    memo_[index] = stack_.back();
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("malformed pickle (memo entry " + std::to_string(index) + " was never stored)");
    push(it->second);
  }

  // Python's LONG1/LONG4: little-endian two's complement of n bytes; up to 8 bytes fit int64.
  int64_t decode_long(std::string_view b) {
    if (b.size() > 8) fail("an int of " + std::to_string(b.size()) + " bytes does not fit 64 bits");
    if (b.empty()) return 0;
    uint64_t u = 0;
    for (size_t i = 0; i < b.size(); ++i) u |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
    if (b.size() < 8 && (static_cast<uint8_t>(b.back()) & 0x80)) u |= ~uint64_t{0} << (8 * b.size());
    return static_cast<int64_t>(u);
  }

  void global(std::string module, std::string name) {
    // NumPy 2 moved numpy.core to numpy._core; both spellings name the same functions.
    if (module.rfind("numpy._core", 0) == 0) module = "numpy.core" + module.substr(11);
    const std::string full = module + "." + name;
    static const char* const kAllowed[] = {
        "numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype", "numpy.core.multiarray.scalar",
        "numpy.core.numeric._frombuffer", "_codecs.encode", "collections.OrderedDict", "builtins.bytearray",
        "__builtin__.bytearray", "builtins.bytes", "__builtin__.bytes"};
    for (const char* a : kAllowed)
      if (full == a) {
        push(make_text(Kind::global, full));
        return;
      }
    fail("unsupported class " + full + " (this reader knows plain Python values and NumPy arrays)");
  }

  const PickleValue* arg(const PickleValue* args, size_t i, const std::string& fn) {
    if (args->kind != Kind::tuple || args->items.size() <= i)
      fail(fn + "() called with " + args->describe() + (args->kind == Kind::tuple ? " of " + std::to_string(args->items.size()) : "") +
           ", expected at least " + std::to_string(i + 1) + " arguments");
    return args->items[i];
  }

  Dtype dtype_of(const PickleValue* v, const std::string& fn) {
    if (v->kind != Kind::global || v->text != "numpy.dtype" || v->array.kind == 0)
      fail(fn + ": expected a numpy.dtype, got " + v->describe());
    return {v->array.kind, v->array.itemsize};
  }

  std::vector<int64_t> shape_of(const PickleValue* v, const std::string& fn) {
    std::vector<int64_t> shape;
    if (v->kind == Kind::integer) {
      shape.push_back(v->integer);
    } else if (v->kind == Kind::tuple || v->kind == Kind::list) {
      for (const auto* d : v->items) {
        if (d->kind != Kind::integer) fail(fn + ": shape holds " + d->describe() + ", expected ints");
        shape.push_back(d->integer);
      }
    } else {
      fail(fn + ": shape is " + v->describe() + ", expected a tuple of ints");
    }
    if (shape.size() > 32) fail(fn + ": " + std::to_string(shape.size()) + " dimensions (NumPy allows 32)");
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d < 0) fail(fn + ": negative dimension " + std::to_string(d));
      if (d > 0 && n > kMaxElements / d) fail(fn + ": shape with more than 2^48 elements");
      n *= d;
    }
    return shape;
  }

  // Fills `a` (dtype and shape set) from a raw buffer; its size must match exactly.
  void fill_raw(PickleArray& a, const PickleValue* buf, const std::string& fn) {
    if (buf->kind != Kind::bytes) fail(fn + ": array data is " + buf->describe() + ", expected bytes");
    if (a.kind == 'O') fail(fn + ": an object array given as raw bytes");
    const int64_t want = a.size() * a.itemsize;
    if (static_cast<int64_t>(buf->text.size()) != want)
      fail(fn + ": " + a.dtype_name() + " array " + a.shape_text() + " needs " + std::to_string(want) +
           " bytes of data, the pickle holds " + std::to_string(buf->text.size()));
    a.data = buf->text;
  }

  PickleValue* reduce(const PickleValue* callable, const PickleValue* args) {
    if (callable->kind != Kind::global) fail("REDUCE on " + callable->describe() + ", expected a class or function");
    const std::string& fn = callable->text;
    if (fn == "numpy.core.multiarray._reconstruct") {
      // _reconstruct(ndarray, (0,), b'b'): an empty array that BUILD fills in.
      const PickleValue* cls = arg(args, 0, fn);
      if (cls->kind != Kind::global || cls->text != "numpy.ndarray")
        fail(fn + ": reconstructs " + cls->describe() + ", only numpy.ndarray is supported");
      auto* a = make(Kind::array);
      a->array.kind = 0;  // not built yet
      return a;
    }
    if (fn == "numpy.dtype") {
      const PickleValue* code = arg(args, 0, fn);
      if (code->kind != Kind::string) fail(fn + ": dtype code is " + code->describe() + ", expected a str");
      Dtype d = parse_dtype_code(code->text, nullptr);
      if (!d.kind) fail("unsupported NumPy dtype '" + code->text + "' (float, int, uint, bool or object only)");
      auto* v = make_text(Kind::global, "numpy.dtype");
      v->array.kind = d.kind;
      v->array.itemsize = d.itemsize;
      return v;
    }
    if (fn == "numpy.core.multiarray.scalar") {
      Dtype d = dtype_of(arg(args, 0, fn), fn);
      if (d.kind == 'O') {  // scalar(dtype('O'), obj) is obj
        return const_cast<PickleValue*>(arg(args, 1, fn));
      }
      PickleArray a;
      a.kind = d.kind;
      a.itemsize = d.itemsize;
      fill_raw(a, arg(args, 1, fn), fn);
      if (d.kind == 'f') {
        auto* v = make(Kind::floating);
        v->floating = a.element_as_double(0);
        return v;
      }
      if (d.kind == 'b') {
        auto* v = make(Kind::boolean);
        v->boolean = a.data[0] != 0;
        v->integer = v->boolean;
        return v;
      }
      if (d.kind == 'u' && d.itemsize == 8 && load<uint64_t>(a.data.data()) > uint64_t(INT64_MAX))
        fail(fn + ": uint64 scalar beyond int64");
      int64_t iv = d.kind == 'i' && d.itemsize == 8 ? load<int64_t>(a.data.data())
                   : d.kind == 'u' && d.itemsize == 8 ? static_cast<int64_t>(load<uint64_t>(a.data.data()))
                                                       : static_cast<int64_t>(a.element_as_double(0));
      return make_int(iv);
    }
    if (fn == "numpy.core.numeric._frombuffer") {
      // _frombuffer(buffer, dtype, shape, order): protocol 5's in-band arrays.
      auto* v = make(Kind::array);
      Dtype d = dtype_of(arg(args, 1, fn), fn);
      v->array.kind = d.kind;
      v->array.itemsize = d.itemsize;
      v->array.shape = shape_of(arg(args, 2, fn), fn);
      const PickleValue* order = arg(args, 3, fn);
      if (order->kind != Kind::string || (order->text != "C" && order->text != "F"))
        fail(fn + ": order is " + order->describe() + ", expected 'C' or 'F'");
      if (order->text == "F" && v->array.shape.size() > 1) fail(fn + ": Fortran-order arrays are not supported");
      fill_raw(v->array, arg(args, 0, fn), fn);
      return v;
    }
    if (fn == "_codecs.encode") {
      // Protocol 2 writes bytes as _codecs.encode(<the bytes as latin-1 text>, "latin1").
      const PickleValue* text = arg(args, 0, fn);
      const PickleValue* enc = arg(args, 1, fn);
      if (text->kind != Kind::string || enc->kind != Kind::string || (enc->text != "latin1" && enc->text != "latin-1"))
        fail(fn + ": expected (str, 'latin1')");
      auto* v = make(Kind::bytes);
      const std::string& s = text->text;  // UTF-8 of code points < 256
      for (size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<uint8_t>(s[i]);
        if (c < 0x80) {
          v->text += static_cast<char>(c);
        } else if ((c == 0xc2 || c == 0xc3) && i + 1 < s.size() && (static_cast<uint8_t>(s[i + 1]) & 0xc0) == 0x80) {
          v->text += static_cast<char>(((c & 0x03) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3f));
          ++i;
        } else {
          fail(fn + ": text is not latin-1");
        }
      }
      return v;
    }
    if (fn == "collections.OrderedDict") {
      auto* v = make(Kind::dict);
      if (args->kind == Kind::tuple && !args->items.empty()) {
        const PickleValue* pairs = args->items[0];
        if (!pairs->is_sequence()) fail(fn + ": expected a list of pairs");
        for (const auto* p : pairs->items) {
          if (!p->is_sequence() || p->items.size() != 2) fail(fn + ": expected a list of pairs");
          v->entries.emplace_back(p->items[0], p->items[1]);
        }
      }
      return v;
    }
    // bytearray(b) at protocols < 5; bytes() for empty bytes at protocol 2.
    if (fn == "builtins.bytearray" || fn == "__builtin__.bytearray" || fn == "builtins.bytes" ||
        fn == "__builtin__.bytes") {
      auto* v = make(Kind::bytes);
      if (args->kind == Kind::tuple && !args->items.empty()) {
        const PickleValue* b = args->items[0];
        if (b->kind != Kind::bytes && b->kind != Kind::string) fail(fn + ": expected bytes");
        v->text = b->text;
      }
      return v;
    }
    fail("cannot call " + fn);
  }

  void build(PickleValue* obj, const PickleValue* state) {
    if (obj->kind == Kind::global && obj->text == "numpy.dtype") {
      // (version, endian, subarray, names, fields, elsize, alignment, flags[, metadata])
      if (state->kind != Kind::tuple || state->items.size() < 5) fail("numpy.dtype: unexpected state " + state->describe());
      const PickleValue* endian = state->items[1];
      if (endian->kind != Kind::string) fail("numpy.dtype: endianness is " + endian->describe());
      if (endian->text == ">") fail("big-endian NumPy arrays are not supported");
      if (!state->items[2]->is_none()) fail("NumPy sub-array dtypes are not supported");
      if (!state->items[3]->is_none()) fail("structured NumPy dtypes are not supported");
      return;
    }
    if (obj->kind == Kind::array && obj->array.kind == 0) {
      // (version, shape, dtype, is_fortran, data): data is bytes, or a list for object arrays.
      const std::string fn = "numpy.ndarray state";
      if (state->kind != Kind::tuple || state->items.size() != 5) fail(fn + ": " + state->describe() + ", expected 5 items");
      std::vector<int64_t> shape = shape_of(state->items[1], fn);
      Dtype d = dtype_of(state->items[2], fn);
      const PickleValue* fortran = state->items[3];
      if (!(fortran->kind == Kind::boolean || fortran->kind == Kind::integer)) fail(fn + ": is_fortran is " + fortran->describe());
      PickleArray& a = obj->array;
      a.kind = d.kind;
      a.itemsize = d.itemsize;
      a.shape = std::move(shape);
      if ((fortran->boolean || fortran->integer) && a.shape.size() > 1) fail(fn + ": Fortran-order arrays are not supported");
      const PickleValue* data = state->items[4];
      if (a.kind == 'O') {
        if (data->kind != Kind::list || static_cast<int64_t>(data->items.size()) != a.size())
          fail(fn + ": object array " + a.shape_text() + " with " + data->describe() +
               (data->kind == Kind::list ? " of " + std::to_string(data->items.size()) : "") + " elements");
        a.objects = data->items;
      } else {
        fill_raw(a, data, fn);
      }
      return;
    }
    fail("BUILD on " + obj->describe() + " is not supported");
  }

  void step() {
    switch (op_) {
      case 0x80: {  // PROTO
        uint8_t p = take_le<uint8_t>();
        if (p < 2 || p > 5) fail("pickle protocol " + std::to_string(p) + " (this reader knows 2 to 5)");
        return;
      }
      case 0x95: take_le<uint64_t>(); return;  // FRAME: a length hint only
      case '(': marks_.push_back(stack_.size()); return;  // MARK
      case '0': pop(); return;                            // POP
      case '1': pop_mark(); return;                       // POP_MARK
      case '2': push(top()); return;                      // DUP
      case 'N': push(make(Kind::none)); return;
      case 0x88:
      case 0x89: {  // NEWTRUE, NEWFALSE
        auto* v = make(Kind::boolean);
        v->boolean = op_ == 0x88;
        v->integer = v->boolean;
        push(v);
        return;
      }
      case 'J': push(make_int(take_le<int32_t>())); return;   // BININT
      case 'K': push(make_int(take_le<uint8_t>())); return;   // BININT1
      case 'M': push(make_int(take_le<uint16_t>())); return;  // BININT2
      case 0x8a: {                                            // LONG1
        uint8_t n = take_le<uint8_t>();
        push(make_int(decode_long(take(n))));
        return;
      }
      case 0x8b: {  // LONG4
        int32_t n = take_le<int32_t>();
        if (n < 0) fail("negative LONG4 length");
        push(make_int(decode_long(take(static_cast<uint64_t>(n)))));
        return;
      }
      case 'G': {  // BINFLOAT: big-endian double
        std::string_view b = take(8);
        uint64_t u = 0;
        for (char c : b) u = (u << 8) | static_cast<uint8_t>(c);
        auto* v = make(Kind::floating);
        std::memcpy(&v->floating, &u, 8);
        push(v);
        return;
      }
      case 0x8c: push(make_text(Kind::string, take(take_le<uint8_t>()))); return;   // SHORT_BINUNICODE
      case 'X': push(make_text(Kind::string, take(take_le<uint32_t>()))); return;    // BINUNICODE
      case 0x8d: push(make_text(Kind::string, take(take_le<uint64_t>()))); return;   // BINUNICODE8
      case 'C': push(make_text(Kind::bytes, take(take_le<uint8_t>()))); return;      // SHORT_BINBYTES
      case 'B': push(make_text(Kind::bytes, take(take_le<uint32_t>()))); return;     // BINBYTES
      case 0x8e:                                                                      // BINBYTES8
      case 0x96: push(make_text(Kind::bytes, take(take_le<uint64_t>()))); return;    // BYTEARRAY8
      case 'U': push(make_text(Kind::bytes, take(take_le<uint8_t>()))); return;      // SHORT_BINSTRING (py2 str)
      case 'T': {                                                                     // BINSTRING
        int32_t n = take_le<int32_t>();
        if (n < 0) fail("negative BINSTRING length");
        push(make_text(Kind::bytes, take(static_cast<uint64_t>(n))));
        return;
      }
      case ')': push(make(Kind::tuple)); return;  // EMPTY_TUPLE
      case 't': {                                 // TUPLE
        auto items = pop_mark();
        auto* v = make(Kind::tuple);
        v->items.assign(items.begin(), items.end());
        push(v);
        return;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t n = op_ - 0x84;
        auto* v = make(Kind::tuple);
        v->items.resize(n);
        for (size_t i = n; i-- > 0;) v->items[i] = pop();
        push(v);
        return;
      }
      case ']': push(make(Kind::list)); return;  // EMPTY_LIST
      case 'l': {                                // LIST
        auto items = pop_mark();
        auto* v = make(Kind::list);
        v->items.assign(items.begin(), items.end());
        push(v);
        return;
      }
      case 'a': {  // APPEND
        PickleValue* item = pop();
        expect_container(Kind::list, "a list")->items.push_back(item);
        return;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        auto* list = expect_container(Kind::list, "a list");
        list->items.insert(list->items.end(), items.begin(), items.end());
        return;
      }
      case '}': push(make(Kind::dict)); return;  // EMPTY_DICT
      case 'd': {                                // DICT
        auto items = pop_mark();
        if (items.size() % 2) fail("malformed pickle (DICT with an odd number of items)");
        auto* v = make(Kind::dict);
        for (size_t i = 0; i < items.size(); i += 2) set_item(v, items[i], items[i + 1]);
        push(v);
        return;
      }
      case 's': {  // SETITEM
        PickleValue* value = pop();
        PickleValue* key = pop();
        set_item(expect_container(Kind::dict, "a dict"), key, value);
        return;
      }
      case 'u': {  // SETITEMS
        auto items = pop_mark();
        if (items.size() % 2) fail("malformed pickle (SETITEMS with an odd number of items)");
        auto* dict = expect_container(Kind::dict, "a dict");
        for (size_t i = 0; i < items.size(); i += 2) set_item(dict, items[i], items[i + 1]);
        return;
      }
      case 0x94: memo_put(memo_.size()); return;            // MEMOIZE
      case 'q': memo_put(take_le<uint8_t>()); return;       // BINPUT
      case 'r': memo_put(take_le<uint32_t>()); return;      // LONG_BINPUT
      case 'h': memo_get(take_le<uint8_t>()); return;       // BINGET
      case 'j': memo_get(take_le<uint32_t>()); return;      // LONG_BINGET
      case 'c': {                                           // GLOBAL "module\nname\n"
        std::string module(take_line());
        std::string name(take_line());
        global(module, name);
        return;
      }
      case 0x93: {  // STACK_GLOBAL
        PickleValue* name = pop();
        PickleValue* module = pop();
        if (module->kind != Kind::string || name->kind != Kind::string) fail("STACK_GLOBAL on non-strings");
        global(module->text, name->text);
        return;
      }
      case 'R': {  // REDUCE
        PickleValue* args = pop();
        PickleValue* callable = pop();
        push(reduce(callable, args));
        return;
      }
      case 'b': {  // BUILD
        PickleValue* state = pop();
        build(top(), state);
        return;
      }
      default:
        fail("unsupported pickle " + opcode_name());
    }
  }

  void set_item(PickleValue* dict, const PickleValue* key, const PickleValue* value) {
    // Later keys replace earlier ones, as in a Python dict (str/bytes/int keys compared by value).
    for (auto& e : dict->entries) {
      if (e.first->kind == key->kind && e.first->text == key->text && e.first->integer == key->integer &&
          (key->kind == Kind::string || key->kind == Kind::bytes || key->kind == Kind::integer)) {
        e.second = value;
        return;
      }
    }
    dict->entries.emplace_back(key, value);
  }

  std::string_view in_;
  const std::string& what_;
  PickleDoc& doc_;
  size_t pos_ = 0, op_pos_ = 0;
  uint8_t op_ = 0;
  std::vector<PickleValue*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, PickleValue*> memo_;
};

}  // namespace

std::unique_ptr<PickleDoc> parse_pickle(std::string_view bytes, const std::string& what) {
  auto doc = std::make_unique<PickleDoc>();
  Parser parser(bytes, what, *doc);
  const PickleValue* root = parser.run();
  if (root->kind == Kind::array && root->array.kind == 0) throw UserError(what + ": a NumPy array without its state");
  doc->set_root(root);
  return doc;
}

// ---------------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------------
namespace {

// The header is a Python dict literal: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
std::string_view header_value(std::string_view header, std::string_view key, const std::string& what) {
  const std::string quoted = "'" + std::string(key) + "'";
  size_t k = header.find(quoted);
  if (k == std::string_view::npos) throw UserError(what + ": .npy header has no " + quoted + " (header: " + std::string(header.substr(0, 120)) + ")");
  size_t colon = header.find(':', k + quoted.size());
  if (colon == std::string_view::npos) throw UserError(what + ": malformed .npy header");
  size_t b = header.find_first_not_of(' ', colon + 1);
  if (b == std::string_view::npos) throw UserError(what + ": malformed .npy header");
  return header.substr(b);
}

}  // namespace

std::unique_ptr<PickleDoc> parse_npy(std::string_view bytes, const std::string& what) {
  static const char kMagic[] = "\x93NUMPY";
  if (bytes.size() < 10 || bytes.substr(0, 6) != std::string_view(kMagic, 6))
    throw UserError(what + ": not a NumPy .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0, offset = 0;
  if (major == 1) {
    header_len = load<uint16_t>(bytes.data() + 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw UserError(what + ": truncated .npy header");
    header_len = load<uint32_t>(bytes.data() + 8);
    offset = 12;
  } else {
    throw UserError(what + ": .npy format version " + std::to_string(major) + " (this reader knows 1, 2 and 3)");
  }
  if (header_len > bytes.size() - offset) throw UserError(what + ": truncated .npy header");
  const std::string_view header = bytes.substr(offset, header_len);
  const std::string_view body = bytes.substr(offset + header_len);

  std::string_view descr = header_value(header, "descr", what);
  if (descr.empty() || descr[0] != '\'') throw UserError(what + ": .npy with a structured dtype is not supported");
  size_t end = descr.find('\'', 1);
  if (end == std::string_view::npos) throw UserError(what + ": malformed .npy header (descr)");
  const std::string code(descr.substr(1, end - 1));
  char endian = 0;
  Dtype d = parse_dtype_code(code, &endian);
  if (!d.kind) throw UserError(what + ": unsupported .npy dtype '" + code + "' (float, int, uint, bool or object only)");
  if (endian == '>') throw UserError(what + ": big-endian .npy data ('" + code + "') is not supported");

  std::string_view fortran = header_value(header, "fortran_order", what);
  const bool is_fortran = fortran.rfind("True", 0) == 0;
  if (!is_fortran && fortran.rfind("False", 0) != 0) throw UserError(what + ": malformed .npy header (fortran_order)");

  std::string_view shape_text = header_value(header, "shape", what);
  if (shape_text.empty() || shape_text[0] != '(') throw UserError(what + ": malformed .npy header (shape)");
  size_t close = shape_text.find(')');
  if (close == std::string_view::npos) throw UserError(what + ": malformed .npy header (shape)");
  std::vector<int64_t> shape;
  int64_t n = 1;
  {
    std::string_view s = shape_text.substr(1, close - 1);
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
      if (i >= s.size()) break;
      int64_t v = 0;
      size_t start = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (v > kMaxElements) throw UserError(what + ": .npy shape too large");
        v = v * 10 + (s[i++] - '0');
      }
      if (i == start) throw UserError(what + ": malformed .npy header (shape)");
      if (v > 0 && n > kMaxElements / v) throw UserError(what + ": .npy shape too large");
      n *= v;
      shape.push_back(v);
    }
  }
  if (is_fortran && shape.size() > 1) throw UserError(what + ": Fortran-order .npy arrays are not supported");

  if (d.kind == 'O') {
    // np.save pickles the whole object array after the header.
    auto doc = parse_pickle(body, what);
    const PickleValue& root = doc->root();
    if (root.kind != Kind::array || root.array.kind != 'O' || root.array.shape != shape)
      throw UserError(what + ": the pickle after the .npy header holds " + root.describe() + ", not the object array the header announces");
    return doc;
  }
  auto doc = std::make_unique<PickleDoc>();
  PickleValue* v = doc->make(Kind::array);
  v->array.kind = d.kind;
  v->array.itemsize = d.itemsize;
  v->array.shape = shape;
  const int64_t want = n * d.itemsize;
  if (static_cast<int64_t>(body.size()) < want)
    throw UserError(what + ": truncated .npy data (" + std::to_string(body.size()) + " of " + std::to_string(want) + " bytes)");
  v->array.data.assign(body.data(), static_cast<size_t>(want));
  doc->set_root(v);
  return doc;
}

std::unique_ptr<PickleDoc> load_npy(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(path + ": file not found (expected a NumPy .npy file)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(path + ": cannot open for reading");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw UserError(path + ": read error");
  return parse_npy(bytes, path);
}

}  // namespace headprune::data
