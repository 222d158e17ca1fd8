// hetflow fpga_hls template library: dense (matmul by a constant weight) and 2-D convolution.
#ifndef HF_DENSE_H_
#define HF_DENSE_H_

#include "hf_common.h"

namespace hf {

struct dense_config {
  static const unsigned n_rows = 1;  // rows of x sharing the weight (leading dims of a matmul)
  static const unsigned n_in = 1;
  static const unsigned n_out = 1;
  static const unsigned reuse_factor = 1;  // products each multiplier computes, one per cycle
  typedef float accum_t;
  typedef float weight_t;
  typedef float bias_t;
};

// y[o] = b[o] + sum_i x[i] * w[i][o] for one row. w is row-major [n_in][n_out], the IR matmul's B.
// reuse_factor divides n_in * n_out: n_in * n_out / reuse_factor multipliers, each used
// reuse_factor times; the weights are reshaped into that many banks, one word per cycle each.
template <class data_T, class res_T, typename CONFIG_T>
void dense_row(const data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_out],
               const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
               const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
  static const unsigned rf = CONFIG_T::reuse_factor;
  static const unsigned block = CONFIG_T::n_in * CONFIG_T::n_out / rf;
#pragma HLS ARRAY_RESHAPE variable = w block factor = block
  typename CONFIG_T::accum_t acc[CONFIG_T::n_out];
#pragma HLS ARRAY_PARTITION variable = acc complete
  for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
    acc[o] = b[o];
  }
  for (unsigned ir = 0; ir < rf; ir++) {
#pragma HLS PIPELINE II = 1
    for (unsigned im = 0; im < block; im++) {
#pragma HLS UNROLL
      const unsigned k = im * rf + ir;
      acc[k % CONFIG_T::n_out] += x[k / CONFIG_T::n_out] * w[k];
    }
  }
  for (unsigned o = 0; o < CONFIG_T::n_out; o++) {
#pragma HLS UNROLL
    y[o] = static_cast<res_T>(acc[o]);
  }
}

template <class data_T, class res_T, typename CONFIG_T>
void dense(const data_T x[CONFIG_T::n_rows * CONFIG_T::n_in], res_T y[CONFIG_T::n_rows * CONFIG_T::n_out],
           const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_out],
           const typename CONFIG_T::bias_t b[CONFIG_T::n_out]) {
  for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
    dense_row<data_T, res_T, CONFIG_T>(x + r * CONFIG_T::n_in, y + r * CONFIG_T::n_out, w, b);
  }
}

struct conv2d_config {
  static const unsigned n_chan = 1;
  static const unsigned in_height = 1;
  static const unsigned in_width = 1;
  static const unsigned n_filt = 1;
  static const unsigned filt_height = 1;
  static const unsigned filt_width = 1;
  static const unsigned stride_height = 1;
  static const unsigned stride_width = 1;
  static const unsigned pad_top = 0;
  static const unsigned pad_left = 0;
  static const unsigned out_height = 1;
  static const unsigned out_width = 1;
  // mult_config: a dense_config with n_in = n_chan * filt_height * filt_width, n_out = n_filt
};

// im2col convolution: for each output pixel, gather its window (zeros in the padding) and run
// the per-pixel product as a dense row. w is [n_chan * filt_height * filt_width][n_filt].
template <class data_T, class res_T, typename CONFIG_T>
void conv2d(const data_T x[CONFIG_T::n_chan * CONFIG_T::in_height * CONFIG_T::in_width],
            res_T y[CONFIG_T::n_filt * CONFIG_T::out_height * CONFIG_T::out_width],
            const typename CONFIG_T::mult_config::weight_t
                w[CONFIG_T::n_chan * CONFIG_T::filt_height * CONFIG_T::filt_width * CONFIG_T::n_filt],
            const typename CONFIG_T::mult_config::bias_t b[CONFIG_T::n_filt]) {
  static const unsigned n_win = CONFIG_T::n_chan * CONFIG_T::filt_height * CONFIG_T::filt_width;
  static const unsigned n_pix = CONFIG_T::out_height * CONFIG_T::out_width;
  for (unsigned p = 0; p < n_pix; p++) {
    const unsigned oh = p / CONFIG_T::out_width;
    const unsigned ow = p % CONFIG_T::out_width;
    data_T win[n_win];
#pragma HLS ARRAY_PARTITION variable = win complete
    res_T pix[CONFIG_T::n_filt];
#pragma HLS ARRAY_PARTITION variable = pix complete
    for (unsigned k = 0; k < n_win; k++) {
#pragma HLS UNROLL
      const unsigned c = k / (CONFIG_T::filt_height * CONFIG_T::filt_width);
      const unsigned kh = (k / CONFIG_T::filt_width) % CONFIG_T::filt_height;
      const unsigned kw = k % CONFIG_T::filt_width;
      const int ih = static_cast<int>(oh * CONFIG_T::stride_height + kh) - static_cast<int>(CONFIG_T::pad_top);
      const int iw = static_cast<int>(ow * CONFIG_T::stride_width + kw) - static_cast<int>(CONFIG_T::pad_left);
      const bool inside = ih >= 0 && ih < static_cast<int>(CONFIG_T::in_height) && iw >= 0 &&
                          iw < static_cast<int>(CONFIG_T::in_width);
      win[k] = inside ? x[(c * CONFIG_T::in_height + ih) * CONFIG_T::in_width + iw] : data_T(0);
    }
    dense_row<data_T, res_T, typename CONFIG_T::mult_config>(win, pix, w, b);
    for (unsigned m = 0; m < CONFIG_T::n_filt; m++) {
#pragma HLS UNROLL
      y[m * n_pix + p] = pix[m];
    }
  }
}

}  // namespace hf

#endif  // HF_DENSE_H_
