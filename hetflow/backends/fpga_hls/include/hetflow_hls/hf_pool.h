// hetflow fpga_hls template library: 2-D pooling and row means (global average pooling).
#ifndef HF_POOL_H_
#define HF_POOL_H_

#include "hf_common.h"

namespace hf {

struct pool2d_config {
  static const unsigned n_chan = 1;
  static const unsigned in_height = 1;
  static const unsigned in_width = 1;
  static const unsigned out_height = 1;
  static const unsigned out_width = 1;
  static const unsigned pool_height = 1;
  static const unsigned pool_width = 1;
  static const unsigned stride_height = 1;
  static const unsigned stride_width = 1;
  static const unsigned pad_top = 0;
  static const unsigned pad_left = 0;
  // avg_pool2d divides by the taps inside [count_top, count_bottom) x [count_left, count_right)
  // (input coordinates): the input itself, or the input and its explicit padding.
  static const int count_top = 0;
  static const int count_bottom = 1;
  static const int count_left = 0;
  static const int count_right = 1;
  typedef float accum_t;
  typedef float inv_t;
};

// Window maximum; taps in the padding are skipped (never compared against a fill value).
template <class data_T, class res_T, typename CONFIG_T>
void max_pool2d(const data_T x[CONFIG_T::n_chan * CONFIG_T::in_height * CONFIG_T::in_width],
                res_T y[CONFIG_T::n_chan * CONFIG_T::out_height * CONFIG_T::out_width]) {
  static const unsigned n_pix = CONFIG_T::out_height * CONFIG_T::out_width;
  for (unsigned i = 0; i < CONFIG_T::n_chan * n_pix; i++) {
#pragma HLS PIPELINE II = 1
    const unsigned c = i / n_pix;
    const unsigned oh = (i % n_pix) / CONFIG_T::out_width;
    const unsigned ow = i % CONFIG_T::out_width;
    data_T best = 0;
    bool any = false;
    for (unsigned k = 0; k < CONFIG_T::pool_height * CONFIG_T::pool_width; k++) {
#pragma HLS UNROLL
      const int ih = static_cast<int>(oh * CONFIG_T::stride_height + k / CONFIG_T::pool_width) -
                     static_cast<int>(CONFIG_T::pad_top);
      const int iw = static_cast<int>(ow * CONFIG_T::stride_width + k % CONFIG_T::pool_width) -
                     static_cast<int>(CONFIG_T::pad_left);
      if (ih >= 0 && ih < static_cast<int>(CONFIG_T::in_height) && iw >= 0 &&
          iw < static_cast<int>(CONFIG_T::in_width)) {
        const data_T v = x[(c * CONFIG_T::in_height + ih) * CONFIG_T::in_width + iw];
        if (!any || v > best) best = v;
        any = true;
      }
    }
    y[i] = static_cast<res_T>(best);
  }
}

// Window mean: an exact sum times 1/count from a small table (inv[n] = 1/n in inv_t).
template <class data_T, class res_T, typename CONFIG_T>
void avg_pool2d(const data_T x[CONFIG_T::n_chan * CONFIG_T::in_height * CONFIG_T::in_width],
                res_T y[CONFIG_T::n_chan * CONFIG_T::out_height * CONFIG_T::out_width],
                const typename CONFIG_T::inv_t inv[CONFIG_T::pool_height * CONFIG_T::pool_width + 1]) {
  static const unsigned n_pix = CONFIG_T::out_height * CONFIG_T::out_width;
  for (unsigned i = 0; i < CONFIG_T::n_chan * n_pix; i++) {
#pragma HLS PIPELINE II = 1
    const unsigned c = i / n_pix;
    const unsigned oh = (i % n_pix) / CONFIG_T::out_width;
    const unsigned ow = i % CONFIG_T::out_width;
    typename CONFIG_T::accum_t sum = 0;
    unsigned count = 0;
    for (unsigned k = 0; k < CONFIG_T::pool_height * CONFIG_T::pool_width; k++) {
#pragma HLS UNROLL
      const int ih = static_cast<int>(oh * CONFIG_T::stride_height + k / CONFIG_T::pool_width) -
                     static_cast<int>(CONFIG_T::pad_top);
      const int iw = static_cast<int>(ow * CONFIG_T::stride_width + k % CONFIG_T::pool_width) -
                     static_cast<int>(CONFIG_T::pad_left);
      if (ih >= 0 && ih < static_cast<int>(CONFIG_T::in_height) && iw >= 0 &&
          iw < static_cast<int>(CONFIG_T::in_width)) {
        sum += x[(c * CONFIG_T::in_height + ih) * CONFIG_T::in_width + iw];
      }
      if (ih >= CONFIG_T::count_top && ih < CONFIG_T::count_bottom && iw >= CONFIG_T::count_left &&
          iw < CONFIG_T::count_right) {
        count++;
      }
    }
    y[i] = static_cast<res_T>(sum * inv[count]);
  }
}

struct mean_config {
  static const unsigned n_rows = 1;
  static const unsigned n_cols = 1;
  typedef float accum_t;
  typedef float inv_t;
};

// y[r] = mean of row r of x[n_rows][n_cols]: reduce_mean over trailing axes (global average pooling).
template <class data_T, class res_T, typename CONFIG_T>
void mean_rows(const data_T x[CONFIG_T::n_rows * CONFIG_T::n_cols], res_T y[CONFIG_T::n_rows],
               const typename CONFIG_T::inv_t inv[1]) {
  for (unsigned r = 0; r < CONFIG_T::n_rows; r++) {
    typename CONFIG_T::accum_t sum = 0;
    for (unsigned j = 0; j < CONFIG_T::n_cols; j++) {
#pragma HLS PIPELINE II = 1
      sum += x[r * CONFIG_T::n_cols + j];
    }
    y[r] = static_cast<res_T>(sum * inv[0]);
  }
}

}  // namespace hf

#endif  // HF_POOL_H_
