// cpu kernels of the data-movement ops: Concat, Transpose, Slice (constant parameters), and the shape-only ops Reshape, Flatten, Squeeze,
// Unsqueeze (a copy of the bytes). Any dtype; values are never looked at, so the results are the ref's exactly.
//
// Transpose: prepare() drops size-1 dims and merges output dims that stay neighbours in the input, so
// NCHW <-> NHWC becomes a batched 2-D transpose [N, C, HW] <-> [N, HW, C] and a swap of the last two dims one
// [B, R, C] <-> [B, C, R]. When the innermost dim does not move, the copy is a loop over contiguous runs;
// otherwise it is a tiled 2-D transpose between the output's innermost dim and the input's, in 32 x 32 tiles,
// with every other dim an outer loop.
#include <algorithm>
#include <cstring>

#include "backends/cpu/eltwise.h"
#include "ir/infer.h"
#include "ir/infer_tensor.h"

namespace octet::cpu {

namespace {

constexpr int64_t kMinBytes = 256 * 1024;  // bytes per thread before a copy is split among threads

void parallel_memcpy(void* dst, const void* src, size_t bytes) {
  char* d = static_cast<char*>(dst);
  const char* s = static_cast<const char*>(src);
  if (d == s || bytes == 0) return;
  parallel_range(static_cast<int64_t>(bytes), kMinBytes,
                 [&](int64_t b, int64_t e) { std::memcpy(d + b, s + b, static_cast<size_t>(e - b)); }, 64);
}

class CopyK final : public Kernel {
 public:
  explicit CopyK(const Node& n) : node_(n) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    OCTET_CHECK(in[0]->nbytes() == out[0]->nbytes(), node_.describe(), ": output size differs from the input");
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    parallel_memcpy(out[0]->raw(), in[0]->raw(), in[0]->nbytes());
  }

 private:
  Node node_;
};

// y = [outer, sum of the inputs' axis * inner]: input i fills a block of row_[i] bytes in every outer row.
class ConcatK final : public Kernel {
 public:
  explicit ConcatK(const Node& n) : node_(n) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Tensor& y = *out[0];
    const int axis = normalize_axis(node_, node_.attr_i("axis", 0), y.rank());
    const int64_t es = static_cast<int64_t>(dtype_size(y.dtype()));
    outer_ = 1;
    for (int d = 0; d < axis; ++d) outer_ *= y.dim(d);
    int64_t inner = es;
    for (int d = axis + 1; d < y.rank(); ++d) inner *= y.dim(d);
    row_.clear();
    off_.clear();
    int64_t at = 0;
    for (const Tensor* t : in) {
      OCTET_CHECK(t && t->dtype() == y.dtype(), node_.describe(), ": inputs of another dtype");
      off_.push_back(at);
      row_.push_back(t->dim(axis) * inner);
      at += row_.back();
    }
    yrow_ = at;
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    char* y = static_cast<char*>(out[0]->raw());
    const size_t ni = in.size();
    if (outer_ >= 64) {  // many rows of small blocks: rows in parallel
      const int64_t total = outer_ * yrow_;
      const int nt = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), std::max<int64_t>(1, total / kMinBytes)));
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && !omp_in_parallel())
      for (int64_t o = 0; o < outer_; ++o)
        for (size_t i = 0; i < ni; ++i)
          if (row_[i])
            std::memcpy(y + o * yrow_ + off_[i], static_cast<const char*>(in[i]->raw()) + o * row_[i],
                        static_cast<size_t>(row_[i]));
      return;
    }
    for (int64_t o = 0; o < outer_; ++o)  // few large blocks: each block split among threads
      for (size_t i = 0; i < ni; ++i)
        parallel_memcpy(y + o * yrow_ + off_[i], static_cast<const char*>(in[i]->raw()) + o * row_[i],
                        static_cast<size_t>(row_[i]));
  }

 private:
  Node node_;
  std::vector<int64_t> row_, off_;  // bytes
  int64_t outer_ = 1, yrow_ = 0;
};

template <typename T>
void transpose_tile(const char* src, char* dst, int64_t na, int64_t nb, int64_t sa, int64_t ob) {
  // dst[b * ob + a] = src[a * sa + b]  (elements), a < na, b < nb
  const T* s = reinterpret_cast<const T*>(src);
  T* d = reinterpret_cast<T*>(dst);
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t a = 0; a < na; ++a) d[b * ob + a] = s[a * sa + b];
}

void transpose_tile_bytes(const char* src, char* dst, int64_t na, int64_t nb, int64_t sa, int64_t ob, size_t es) {
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t a = 0; a < na; ++a)
      std::memcpy(dst + (b * ob + a) * static_cast<int64_t>(es), src + (a * sa + b) * static_cast<int64_t>(es), es);
}

class TransposeK final : public Kernel {
  struct Dim { int64_t size, is, os; };  // output order; input and output strides in elements

 public:
  explicit TransposeK(const Node& n) : node_(n) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const Shape& s = in[0]->shape();
    const int r = static_cast<int>(s.size());
    std::vector<int64_t> perm = node_.attr_ints("perm");
    if (perm.empty())
      for (int i = r - 1; i >= 0; --i) perm.push_back(i);
    OCTET_CHECK(static_cast<int>(perm.size()) == r, node_.describe(), ": perm has the wrong length");
    OCTET_CHECK(in[0]->dtype() == out[0]->dtype(), node_.describe(), ": output dtype differs");
    es_ = dtype_size(in[0]->dtype());
    std::vector<int64_t> ist(static_cast<size_t>(r), 1);
    for (int i = r - 2; i >= 0; --i) ist[static_cast<size_t>(i)] = ist[static_cast<size_t>(i) + 1] * s[static_cast<size_t>(i) + 1];
    dims_.clear();
    for (int d = 0; d < r; ++d) {
      const int64_t p = perm[static_cast<size_t>(d)] < 0 ? perm[static_cast<size_t>(d)] + r : perm[static_cast<size_t>(d)];
      OCTET_CHECK(p >= 0 && p < r, node_.describe(), ": perm out of range");
      const int64_t size = s[static_cast<size_t>(p)], is = ist[static_cast<size_t>(p)];
      if (size == 1) continue;
      if (!dims_.empty() && dims_.back().is == is * size) {  // neighbours in the input too: merge
        dims_.back().size *= size;
        dims_.back().is = is;
      } else {
        dims_.push_back({size, is, 0});
      }
    }
    int64_t os = 1;
    for (size_t d = dims_.size(); d-- > 0;) {
      dims_[d].os = os;
      os *= dims_[d].size;
    }
    copy_ = dims_.empty() || dims_.back().is == 1;
    outer_.clear();
    if (copy_) {
      run_ = dims_.empty() ? 1 : dims_.back().size;
      for (size_t d = 0; d + 1 < dims_.size(); ++d) outer_.push_back(dims_[d]);
      return;
    }
    // The input's innermost dim (input stride 1) is somewhere before the output's last.
    size_t q = 0;
    while (q < dims_.size() && dims_[q].is != 1) ++q;
    OCTET_CHECK(q < dims_.size(), node_.describe(), ": internal: no unit-stride dim");
    a_ = dims_.back();
    b_ = dims_[q];
    for (size_t d = 0; d + 1 < dims_.size(); ++d)
      if (d != q) outer_.push_back(dims_[d]);
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const char* x = static_cast<const char*>(in[0]->raw());
    char* y = static_cast<char*>(out[0]->raw());
    const int64_t es = static_cast<int64_t>(es_);
    const int64_t total = out[0]->numel();
    if (total == 0) return;
    // Offsets (elements) of outer index `o`, in the input and in the output.
    auto offsets = [&](int64_t o, int64_t& io, int64_t& oo) {
      io = oo = 0;
      for (size_t d = outer_.size(); d-- > 0;) {
        const int64_t i = o % outer_[d].size;
        o /= outer_[d].size;
        io += i * outer_[d].is;
        oo += i * outer_[d].os;
      }
    };
    int64_t n_outer = 1;
    for (const Dim& d : outer_) n_outer *= d.size;
    const int64_t min_units = std::max<int64_t>(1, kMinBytes / es);
    if (copy_) {
      const int64_t L = run_;
      parallel_range(n_outer, std::max<int64_t>(1, min_units / L), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          int64_t io, oo;
          offsets(o, io, oo);
          std::memcpy(y + oo * es, x + io * es, static_cast<size_t>(L * es));
        }
      }, 1);
      return;
    }
    constexpr int64_t T = 32;
    const int64_t ta = (a_.size + T - 1) / T, tb = (b_.size + T - 1) / T, tiles = n_outer * ta * tb;
    parallel_range(tiles, std::max<int64_t>(1, min_units / (T * T)), [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / (ta * tb), ib = t % (ta * tb) / ta, ia = t % ta;
        int64_t io, oo;
        offsets(o, io, oo);
        const int64_t a0 = ia * T, b0 = ib * T, na = std::min(T, a_.size - a0), nb = std::min(T, b_.size - b0);
        const char* src = x + (io + a0 * a_.is + b0) * es;
        char* dst = y + (oo + b0 * b_.os + a0) * es;
        switch (es) {
          case 1: transpose_tile<uint8_t>(src, dst, na, nb, a_.is, b_.os); break;
          case 2: transpose_tile<uint16_t>(src, dst, na, nb, a_.is, b_.os); break;
          case 4: transpose_tile<uint32_t>(src, dst, na, nb, a_.is, b_.os); break;
          case 8: transpose_tile<uint64_t>(src, dst, na, nb, a_.is, b_.os); break;
          default: transpose_tile_bytes(src, dst, na, nb, a_.is, b_.os, es_);
        }
      }
    }, 1);
  }

 private:
  Node node_;
  size_t es_ = 4;
  std::vector<Dim> dims_, outer_;
  bool copy_ = true;
  int64_t run_ = 1;
  Dim a_{1, 1, 1}, b_{1, 1, 1};
};

// Slice with constant starts / ends / axes / steps (YOLOX's Focus: every other row and column of the image).
// prepare() turns the parameters into a source offset per output index of every dim but the last, and the
// last dim's start and step; run() copies rows of the output (in parallel), the last dim as a strided loop of
// 4-byte or 1-byte elements (others byte by byte).
class SliceK final : public Kernel {
 public:
  explicit SliceK(const Node& n) : node_(n) {}
  void prepare(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    for (size_t i = 1; i < in.size(); ++i)
      OCTET_CHECK(!in[i] || in[i]->raw(), node_.describe(), ": slice parameters are not known before run");
    const Shape& x = in[0]->shape();
    const SliceParams p = slice_params(node_, x, *in[1], *in[2], in.size() > 3 ? in[3] : nullptr,
                                       in.size() > 4 ? in[4] : nullptr);
    OCTET_CHECK(p.out == out[0]->shape(), node_.describe(), ": output shape differs from the slice's");
    es_ = dtype_size(in[0]->dtype());
    const size_t r = x.size();
    OCTET_CHECK(r >= 1, node_.describe(), ": scalar input");
    std::vector<int64_t> st(r, 1);
    for (size_t d = r - 1; d > 0; --d) st[d - 1] = st[d] * x[d];
    // Source offset (elements) of each output row (all dims but the last), built dim by dim.
    rows_.assign(1, 0);
    for (size_t d = 0; d + 1 < r; ++d) {
      std::vector<int64_t> next;
      next.reserve(rows_.size() * static_cast<size_t>(p.out[d]));
      for (int64_t base : rows_)
        for (int64_t i = 0; i < p.out[d]; ++i) next.push_back(base + (p.start[d] + i * p.step[d]) * st[d]);
      rows_ = std::move(next);
    }
    first_ = p.start[r - 1];
    step_ = p.step[r - 1];
    len_ = p.out[r - 1];
  }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out) override {
    const char* x = static_cast<const char*>(in[0]->raw());
    char* y = static_cast<char*>(out[0]->raw());
    const int64_t nrows = static_cast<int64_t>(rows_.size()), len = len_, step = step_, first = first_;
    const size_t es = es_;
    if (len == 0) return;
    parallel_range(nrows, std::max<int64_t>(1, kMinBytes / static_cast<int64_t>(es) / len), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const char* src = x + (rows_[static_cast<size_t>(r)] + first) * static_cast<int64_t>(es);
        char* dst = y + r * len * static_cast<int64_t>(es);
        if (step == 1) {
          std::memcpy(dst, src, static_cast<size_t>(len) * es);
        } else if (es == 4) {
          const uint32_t* s4 = reinterpret_cast<const uint32_t*>(src);
          uint32_t* d4 = reinterpret_cast<uint32_t*>(dst);
          for (int64_t i = 0; i < len; ++i) d4[i] = s4[i * step];
        } else {
          for (int64_t i = 0; i < len; ++i) std::memcpy(dst + i * static_cast<int64_t>(es), src + i * step * static_cast<int64_t>(es), es);
        }
      }
    }, 1);
  }

 private:
  Node node_;
  size_t es_ = 4;
  std::vector<int64_t> rows_;
  int64_t first_ = 0, step_ = 1, len_ = 0;
};

}  // namespace

bool movement_supported(const Graph& g, const Node& n) {
  if (n.outputs.size() != 1 || n.inputs.empty() || n.inputs[0] < 0) return false;
  switch (n.op) {
    case OpType::Concat:
      for (int v : n.inputs)
        if (v < 0) return false;
      return true;
    case OpType::Transpose: case OpType::Reshape: case OpType::Flatten: case OpType::Squeeze:
    case OpType::Unsqueeze:
      return true;
    case OpType::Slice:
      if (n.inputs.size() < 3) return false;
      for (size_t i = 1; i < n.inputs.size(); ++i)
        if (n.inputs[i] >= 0 && !g.is_const(n.inputs[i])) return false;
      return true;
    default: return false;
  }
}

std::unique_ptr<Kernel> make_movement(const Graph&, const Node& n) {
  switch (n.op) {
    case OpType::Concat: return std::make_unique<ConcatK>(n);
    case OpType::Transpose: return std::make_unique<TransposeK>(n);
    case OpType::Slice: return std::make_unique<SliceK>(n);
    default: return std::make_unique<CopyK>(n);
  }
}

}  // namespace octet::cpu
