// hetflow fpga_hls template library: softmax by lookup tables (hls4ml's "stable" form).
#ifndef HF_SOFTMAX_H_
#define HF_SOFTMAX_H_

#include "hf_common.h"

namespace hf {

struct softmax_config {
  static const unsigned n_rows = 1;
  static const unsigned n_in = 1;         // softmax over the last n_in elements of each row
  static const unsigned table_size = 1024;
  static const int exp_shift = 0;         // exp index = (raw(x - max) + exp_offset) >> exp_shift
  static const long long exp_offset = 0;
  static const unsigned inv_bits = 10;    // 1/m for m in [1, 2): 2^inv_bits entries on the mantissa
  static const int sum_frac = 0;          // fractional bits of accum_t
  typedef float table_t;
  typedef float accum_t;                  // exact sum of n_in table values
  typedef float wide_t;                   // exact e * (1/m), with room for the shift by the exponent
};

// y_i = e_i / sum_j e_j with e_i = exp(x_i - max x) from a table over [-range, 0]. The sum is
// split as m * 2^p (m in [1, 2) found by a priority encoder): 1/m comes from a second table and
// 2^-p is a shift, so the division keeps its relative precision for any row length.
template <class data_T, class res_T, typename CONFIG_T>
void softmax(const data_T x[CONFIG_T::n_rows * CONFIG_T::n_in], res_T y[CONFIG_T::n_rows * CONFIG_T::n_in],
             const typename CONFIG_T::table_t exp_table[CONFIG_T::table_size],
             const typename CONFIG_T::table_t inv_table[1 << CONFIG_T::inv_bits]) {
  for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
    const data_T* xr = x + r * CONFIG_T::n_in;
    data_T best = xr[0];
    for (unsigned i = 1; i < CONFIG_T::n_in; i++) {
#pragma HLS PIPELINE II = 1
      if (xr[i] > best) best = xr[i];
    }
    typename CONFIG_T::table_t e[CONFIG_T::n_in];
    typename CONFIG_T::accum_t sum = 0;
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS PIPELINE II = 1
      long long idx = raw_bits(xr[i] - best) + CONFIG_T::exp_offset;
      idx = CONFIG_T::exp_shift >= 0 ? (idx >> CONFIG_T::exp_shift) : (idx << (-CONFIG_T::exp_shift));
      if (idx < 0) idx = 0;
      if (idx > static_cast<long long>(CONFIG_T::table_size) - 1) idx = CONFIG_T::table_size - 1;
      e[i] = exp_table[idx];
      sum += e[i];
    }
    const long long s = raw_bits(sum);
    const int p = msb_index(s);
    const int drop = p - static_cast<int>(CONFIG_T::inv_bits);
    const long long m = (drop >= 0 ? (s >> drop) : (s << (-drop))) & ((1LL << CONFIG_T::inv_bits) - 1);
    const typename CONFIG_T::table_t inv = inv_table[m];
    const int scale = p - CONFIG_T::sum_frac;  // sum = m * 2^scale
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
#pragma HLS PIPELINE II = 1
      typename CONFIG_T::wide_t v = e[i] * inv;
      v = scale >= 0 ? (v >> scale) : (v << (-scale));
      y[r * CONFIG_T::n_in + i] = static_cast<res_T>(v);
    }
  }
}

}  // namespace hf

#endif  // HF_SOFTMAX_H_
