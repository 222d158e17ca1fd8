// hetflow fpga_hls template library: elementwise arithmetic, per-channel affine, concat, transpose.
#ifndef HF_MERGE_H_
#define HF_MERGE_H_

#include "hf_common.h"

namespace hf {

struct merge_config {
  static const unsigned n_elem = 1;
  // a constant operand c[n_const] broadcasts as c[(i / inner) % n_const]: per channel
  // (inner = H * W), along the last axis (inner = 1) or a scalar (n_const = 1)
  static const unsigned n_const = 1;
  static const unsigned inner = 1;
  static const bool const_first = false;  // sub: c - x instead of x - c
  typedef float param_t;
  typedef float bias_t;
};

// Two tensors of one shape. Each sum, difference or product is exact before the final cast.
template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void add(const in1_T a[CONFIG_T::n_elem], const in2_T b[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = static_cast<res_T>(a[i] + b[i]);
  }
}

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void sub(const in1_T a[CONFIG_T::n_elem], const in2_T b[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = static_cast<res_T>(a[i] - b[i]);
  }
}

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void mul(const in1_T a[CONFIG_T::n_elem], const in2_T b[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = static_cast<res_T>(a[i] * b[i]);
  }
}

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void maximum(const in1_T a[CONFIG_T::n_elem], const in2_T b[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = a[i] >= b[i] ? static_cast<res_T>(a[i]) : static_cast<res_T>(b[i]);
  }
}

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void minimum(const in1_T a[CONFIG_T::n_elem], const in2_T b[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = a[i] <= b[i] ? static_cast<res_T>(a[i]) : static_cast<res_T>(b[i]);
  }
}

// A tensor and a broadcast constant (a bias, a scale).
template <class data_T, class res_T, typename CONFIG_T>
void add_const(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
               const typename CONFIG_T::param_t c[CONFIG_T::n_const]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = static_cast<res_T>(x[i] + c[(i / CONFIG_T::inner) % CONFIG_T::n_const]);
  }
}

template <class data_T, class res_T, typename CONFIG_T>
void sub_const(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
               const typename CONFIG_T::param_t c[CONFIG_T::n_const]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    const typename CONFIG_T::param_t k = c[(i / CONFIG_T::inner) % CONFIG_T::n_const];
    y[i] = CONFIG_T::const_first ? static_cast<res_T>(k - x[i]) : static_cast<res_T>(x[i] - k);
  }
}

template <class data_T, class res_T, typename CONFIG_T>
void mul_const(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
               const typename CONFIG_T::param_t c[CONFIG_T::n_const]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = static_cast<res_T>(x[i] * c[(i / CONFIG_T::inner) % CONFIG_T::n_const]);
  }
}

// y = x * scale[c] + shift[c]: an inference batch norm that had no convolution or dense to fold into.
template <class data_T, class res_T, typename CONFIG_T>
void scale_shift(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
                 const typename CONFIG_T::param_t scale[CONFIG_T::n_const],
                 const typename CONFIG_T::bias_t shift[CONFIG_T::n_const]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    const unsigned c = (i / CONFIG_T::inner) % CONFIG_T::n_const;
    y[i] = static_cast<res_T>(x[i] * scale[c] + shift[c]);
  }
}

struct concat_config {
  static const unsigned n_outer = 1;  // product of the dims before the axis
  static const unsigned n_inner1 = 1;  // product of the first input's dims from the axis on
  static const unsigned n_inner2 = 1;
};

template <class in1_T, class in2_T, class res_T, typename CONFIG_T>
void concat2(const in1_T a[CONFIG_T::n_outer * CONFIG_T::n_inner1],
             const in2_T b[CONFIG_T::n_outer * CONFIG_T::n_inner2],
             res_T y[CONFIG_T::n_outer * (CONFIG_T::n_inner1 + CONFIG_T::n_inner2)]) {
  static const unsigned n_row = CONFIG_T::n_inner1 + CONFIG_T::n_inner2;
  for (unsigned o = 0; o < CONFIG_T::n_outer; o++) {
    for (unsigned i = 0; i < CONFIG_T::n_inner1; i++) {
#pragma HLS PIPELINE II = 1
      y[o * n_row + i] = static_cast<res_T>(a[o * CONFIG_T::n_inner1 + i]);
    }
    for (unsigned i = 0; i < CONFIG_T::n_inner2; i++) {
#pragma HLS PIPELINE II = 1
      y[o * n_row + CONFIG_T::n_inner1 + i] = static_cast<res_T>(b[o * CONFIG_T::n_inner2 + i]);
    }
  }
}

struct transpose_config {
  // output dims (padded to rank 4 with leading 1s) and, for each, the input stride it walks
  static const unsigned d0 = 1, d1 = 1, d2 = 1, d3 = 1;
  static const unsigned s0 = 0, s1 = 0, s2 = 0, s3 = 0;
};

template <class data_T, class res_T, typename CONFIG_T>
void transpose(const data_T x[CONFIG_T::d0 * CONFIG_T::d1 * CONFIG_T::d2 * CONFIG_T::d3],
               res_T y[CONFIG_T::d0 * CONFIG_T::d1 * CONFIG_T::d2 * CONFIG_T::d3]) {
  static const unsigned n = CONFIG_T::d0 * CONFIG_T::d1 * CONFIG_T::d2 * CONFIG_T::d3;
  for (unsigned i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
    const unsigned i3 = i % CONFIG_T::d3;
    const unsigned i2 = (i / CONFIG_T::d3) % CONFIG_T::d2;
    const unsigned i1 = (i / (CONFIG_T::d3 * CONFIG_T::d2)) % CONFIG_T::d1;
    const unsigned i0 = i / (CONFIG_T::d3 * CONFIG_T::d2 * CONFIG_T::d1);
    y[i] = static_cast<res_T>(x[i0 * CONFIG_T::s0 + i1 * CONFIG_T::s1 + i2 * CONFIG_T::s2 + i3 * CONFIG_T::s3]);
  }
}

}  // namespace hf

#endif  // HF_MERGE_H_
