// hetflow fpga_hls template library: common pieces.
//
// Every layer is a function template over its input type(s), result type and a CONFIG_T struct
// of sizes, reuse factor and fixed-point types that the generator writes (hls4ml style). Tensors
// are flat arrays in the IR's row-major (NCHW) order. Accumulators are sized by the generator so
// that no sum overflows or rounds: a layer's result is exact until its one final cast.
#ifndef HF_COMMON_H_
#define HF_COMMON_H_

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"

namespace hf {

// The raw two's-complement bits of a fixed-point value, sign-extended (for LUT indices).
template <int W, int I, bool S, ap_q_mode Q, ap_o_mode O, int N>
inline long long raw_bits(const ap_fixed_base<W, I, S, Q, O, N>& x) {
  long long u = static_cast<long long>(x.range().to_uint64());
  if (S && W < 64 && ((u >> (W - 1)) & 1)) u -= (1LL << W);
  return u;
}

// Position of the highest set bit of a non-negative value (-1 for zero): a priority encoder.
inline int msb_index(long long v) {
  int p = -1;
  for (int b = 0; b < 63; b++) {
#pragma HLS UNROLL
    if ((v >> b) & 1) p = b;
  }
  return p;
}

// Set fixed-point values from their raw two's-complement codes: how g++ builds load weights
// (an array of integers compiles in a blink; the same values as ap_fixed literals take minutes).
template <class T, unsigned N>
bool fill_raw(T (&dst)[N], const long long (&raw)[N]) {
  for (unsigned i = 0; i < N; i++) dst[i].range() = raw[i];
  return true;
}

// out[i] = out_T(in[i]): a change of type, or a plain copy (a graph output, a reshape between arrays).
template <class in_T, class out_T, unsigned N>
void cast(const in_T in[N], out_T out[N]) {
  for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    out[i] = static_cast<out_T>(in[i]);
  }
}

// The two ends of a dataflow stage in the stream architecture: each stage buffers one frame.
template <class T, unsigned N>
void stream_to_array(hls::stream<T>& in, T out[N]) {
  for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    out[i] = in.read();
  }
}

template <class T, unsigned N>
void array_to_stream(const T in[N], hls::stream<T>& out) {
  for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    out.write(in[i]);
  }
}

// A dataflow stream has one reader: a tensor used twice is cloned (chains of clones fan out further).
template <class T, unsigned N>
void clone_stream(hls::stream<T>& in, hls::stream<T>& out1, hls::stream<T>& out2) {
  for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    T v = in.read();
    out1.write(v);
    out2.write(v);
  }
}

template <class in_T, class out_T, unsigned N>
void cast_stream(hls::stream<in_T>& in, hls::stream<out_T>& out) {
  for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    out.write(static_cast<out_T>(in.read()));
  }
}

}  // namespace hf

#endif  // HF_COMMON_H_
