// hetflow fpga_hls template library: activations (relu family exactly, sigmoid/tanh by lookup table).
#ifndef HF_ACTIVATION_H_
#define HF_ACTIVATION_H_

#include "hf_common.h"

namespace hf {

struct activ_config {
  static const unsigned n_elem = 1;
  static const bool has_min = false;  // clip
  static const bool has_max = false;
  static const unsigned table_size = 1024;  // lut_activation
  static const int index_shift = 0;         // index = (raw(x) + index_offset) >> index_shift
  static const long long index_offset = 0;
  typedef float param_t;
  typedef float table_t;
};

template <class data_T, class res_T, typename CONFIG_T>
void relu(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = x[i] > 0 ? static_cast<res_T>(x[i]) : static_cast<res_T>(0);
  }
}

// alpha[0] is the negative slope.
template <class data_T, class res_T, typename CONFIG_T>
void leaky_relu(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
                const typename CONFIG_T::param_t alpha[1]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = x[i] >= 0 ? static_cast<res_T>(x[i]) : static_cast<res_T>(x[i] * alpha[0]);
  }
}

// limits = {min, max}; a bound is applied only when the config has it.
template <class data_T, class res_T, typename CONFIG_T>
void clip(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
          const typename CONFIG_T::param_t limits[2]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    if (CONFIG_T::has_min && x[i] < limits[0]) {
      y[i] = static_cast<res_T>(limits[0]);
    } else if (CONFIG_T::has_max && x[i] > limits[1]) {
      y[i] = static_cast<res_T>(limits[1]);
    } else {
      y[i] = static_cast<res_T>(x[i]);
    }
  }
}

// y = clamp(alpha * x + beta, 0, 1) with ab = {alpha, beta}; the affine part is exact.
template <class data_T, class res_T, typename CONFIG_T>
void hard_sigmoid(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
                  const typename CONFIG_T::param_t ab[2]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    const auto v = x[i] * ab[0] + ab[1];
    if (v < 0) {
      y[i] = static_cast<res_T>(0);
    } else if (v > 1) {
      y[i] = static_cast<res_T>(1);
    } else {
      y[i] = static_cast<res_T>(v);
    }
  }
}

// Index into a table of samples of f over [-range, range): integer shifts of the raw bits, so
// that the generator's NumPy model picks the same entry.
template <typename CONFIG_T, class data_T>
inline unsigned lut_index(const data_T& x) {
  long long idx = raw_bits(x) + CONFIG_T::index_offset;
  idx = CONFIG_T::index_shift >= 0 ? (idx >> CONFIG_T::index_shift) : (idx << (-CONFIG_T::index_shift));
  if (idx < 0) idx = 0;
  if (idx > static_cast<long long>(CONFIG_T::table_size) - 1) idx = CONFIG_T::table_size - 1;
  return static_cast<unsigned>(idx);
}

// y = table[index(x)]: sigmoid and tanh (the table holds f at each bin's centre).
template <class data_T, class res_T, typename CONFIG_T>
void lut_activation(const data_T x[CONFIG_T::n_elem], res_T y[CONFIG_T::n_elem],
                    const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
  for (unsigned i = 0; i < CONFIG_T::n_elem; i++) {
#pragma HLS PIPELINE II = 1
    y[i] = static_cast<res_T>(table[lut_index<CONFIG_T>(x[i])]);
  }
}

}  // namespace hf

#endif  // HF_ACTIVATION_H_
