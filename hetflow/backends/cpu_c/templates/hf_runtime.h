/* hetflow cpu_c runtime library: the tested kernels that generated code calls.
 *
 * Generated code (one C file per compiled graph) includes this header, keeps every tensor in
 * one arena, and calls these functions with shapes and strides fixed at compile time.
 * The library itself is compiled once per compiler + flags and cached beside the graphs.
 */
#ifndef HF_RUNTIME_H
#define HF_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ threads */
/* The thread count of kernels called from the calling thread (each caller keeps its own). */
void hf_set_threads(int n);
int hf_get_threads(void);
/* Seconds on a clock for per-unit profiles: this thread's CPU time when kernels run on one thread
 * (robust on a shared machine), wall time otherwise. */
double hf_clock(void);
/* Internal: this OS thread's packing buffer (allocated on first use, kept); its size in floats. */
float* hf_thread_scratch(long* floats);

/* ------------------------------------------------------------------ GEMM geometry */
/* Register-block shape of the micro-kernel this library was built with (depends on -march): the
 * default MR, the NR, and every MR a product may ask for (the first is the default). */
int hf_gemm_mr(void);
int hf_gemm_nr(void);
int hf_gemm_mr_variants(int* out);
/* The largest K block of the loop nest; a reduction of length K runs in ceil(K / KC) equal blocks, and
 * packed operands are laid out block by block (see below). */
int hf_gemm_kc(void);
/* What the library was compiled for, e.g. "avx512f", "avx2+fma", "generic". */
const char* hf_isa(void);

/* ------------------------------------------------------------------ epilogues */
enum { HF_ACT_NONE = 0, HF_ACT_RELU = 1, HF_ACT_CLIP = 2 };

/* A generated per-tile function: finishes elements [m0, m0+mr) x [n0, n0+nr) of one output matrix,
 * in place, after bias / residual / activation. ``outer`` is the batch index of the matrix. */
typedef void (*hf_post_fn)(const void* ctx, float* c, long ldc, long outer, long m0, long mr, long n0, long nr);

/* What happens to each output element after the dot product: applied while the tile is hot. */
typedef struct hf_epilogue {
    const float* bias_m; /* per row (output channel), or NULL */
    const float* bias_n; /* per column, or NULL */
    const float* res;    /* residual added element-wise, or NULL; element (m, n) at res[m*res_rs + n] */
    long res_rs;
    int act;             /* HF_ACT_* */
    float lo, hi;        /* clip bounds for HF_ACT_CLIP */
    hf_post_fn post;     /* anything else, or NULL */
    const void* ctx;     /* passed to ``post``: where the generated code finds its other operands */
    long outer;          /* batch index passed to ``post`` */
    long m_base;         /* added to the row index passed to ``post`` (group offset) */
} hf_epilogue;

void hf_epilogue_tile(const hf_epilogue* e, float* c, long ldc, long m0, long mr, long n0, long nr);

/* ------------------------------------------------------------------ GEMM */
/* Packed layouts (built once, at compile time, for constant operands), K cut into blocks of
 * kc = ceil(K / ceil(K / KC)) (the last one shorter) and every block stored whole, in the order the loop
 * nest reads it:
 *   A [M, K] -> packed[kb][p][k][i] = A[p*mr + i][kb*KC + k], rows past M are zero;
 *   B [K, N] -> packed[kb][p][k][j] = B[kb*KC + k][p*NR + j], cols past N are zero. */

/* Batched matmul: C[b] = A[b] @ B[b] for b < batch, per-operand batch strides (0 broadcasts).
 * An operand is either strided (ptr, row stride, col stride) or packed (then its batch stride counts
 * floats of the packed buffer). C is row-major with row stride N. Residual batch stride: res_bs.
 * ``mr`` picks the micro-kernel height (one of hf_gemm_mr_variants; A packed with it). */
void hf_matmul(long batch, long M, long N, long K,
               const float* a, const float* a_packed, long a_bs, long a_rs, long a_cs,
               const float* b, const float* b_packed, long b_bs, long b_rs, long b_cs,
               float* c, long c_bs, const hf_epilogue* epi, long res_bs, int mr);

/* ------------------------------------------------------------------ convolution (NCHW) */
typedef struct hf_conv2d {
    long n, c, h, w;       /* input */
    long m, oh, ow;        /* output channels and size */
    long kh, kw, sh, sw, ph, pw, dh, dw;
    long group;
} hf_conv2d;

/* w_packed: per group, the [M/group, C/group*kh*kw] weight matrix packed as A with ``mr``-row panels; or,
 * when ``transposed`` (scratch of oh*ow*M/group floats) is given, its transpose packed as B: the product
 * then runs with pixels as rows and is transposed back into y. */
void hf_conv2d_gemm(const hf_conv2d* g, const float* x, const float* w_packed, float* y,
                    const hf_epilogue* epi, long res_bs, int mr, float* transposed);
/* One input channel per group (depthwise, channel multiplier ``m/c``): a direct kernel. */
void hf_conv2d_depthwise(const hf_conv2d* g, const float* x, const float* w, float* y,
                         const hf_epilogue* epi, long res_bs);

/* ------------------------------------------------------------------ pooling (NCHW, 2-D) */
typedef struct hf_pool2d {
    long n, c, h, w, oh, ow;
    long kh, kw, sh, sw, ph, pw, dh, dw;
    long pe_h, pe_w;       /* explicit end pads (the begin pads are ph, pw) */
    int count_include_pad;
} hf_pool2d;

void hf_max_pool2d(const hf_pool2d* p, const float* x, float* y);
void hf_avg_pool2d(const hf_pool2d* p, const float* x, float* y);

/* ------------------------------------------------------------------ rows and reductions */
/* x viewed as [outer, n, inner]; the op runs along the middle axis. */
void hf_softmax(const float* x, float* y, long outer, long n, long inner, int log_softmax);
void hf_reduce(const float* x, float* y, long outer, long n, long inner, int kind);
enum { HF_RED_SUM = 0, HF_RED_MEAN = 1, HF_RED_MAX = 2, HF_RED_MIN = 3, HF_RED_PROD = 4, HF_RED_SUMSQ = 5 };
/* x viewed as [rows, n]: normalize each row; mean / inv_std outputs may be NULL. */
void hf_layer_norm(const float* x, const float* scale, const float* bias, float* y, float* mean, float* inv_std,
                   long rows, long n, float eps);
/* Local response normalization across the channels of x[N, C, S]. */
void hf_lrn(const float* x, float* y, long n, long c, long s, long size, float alpha, float beta, float bias);

/* ------------------------------------------------------------------ data movement */
/* dst[i...] = src[i...] over an N-d index space; strides in elements, elem bytes each. */
void hf_copy_nd(int rank, const long* shape, char* dst, const long* dst_strides, const char* src,
                const long* src_strides, long elem);
void hf_fill(char* dst, long count, const void* value, long elem);

/* Integer division and remainder as the reference computes them: truncating division, Python's or C's
 * remainder; by 0 they give 0, and INT64_MIN / -1 wraps, where C would trap. */
static inline int64_t hf_idiv(int64_t a, int64_t b) {
    return b == 0 ? 0 : (b == -1 ? (int64_t)(0ULL - (uint64_t)a) : a / b);
}
static inline int64_t hf_ifmod(int64_t a, int64_t b) { return (b == 0 || b == -1) ? 0 : a % b; }
static inline int64_t hf_imod(int64_t a, int64_t b) {
    if (b == 0 || b == -1) return 0;
    int64_t r = a % b;
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

/* ------------------------------------------------------------------ extra.c: what real models need besides */
/* A kernel that meets bad data (a gather index out of range) flags the calling thread's status (the slot
 * hf_status_slot gives); the caller takes it on the same thread after the call, so each run sees only its own. */
enum { HF_STATUS_OK = 0, HF_STATUS_INDEX = 1 };
int* hf_status_slot(void);
int hf_take_status(void);
/* y[outer, n_idx, inner] = x[outer, idx[j] (negative: from the end), inner]; inner in bytes. */
void hf_gather(const char* x, const void* idx, int idx64, long n_idx, long outer, long axis_len, long inner_bytes,
               char* y);
void hf_gather_elements(int rank, const long* out_shape, const long* x_strides, int axis, long axis_len,
                        const void* idx, int idx64, const char* x, char* y, long elem);
enum { HF_PAD_CONSTANT = 0, HF_PAD_REFLECT = 1, HF_PAD_EDGE = 2, HF_PAD_WRAP = 3 };
/* y (out_shape) = x (in_shape, strides in elements, already cropped) padded by begin[d] in front per dim. */
void hf_pad(int rank, const long* out_shape, const long* in_shape, const long* begin, const long* in_strides,
            int mode, const char* x, char* y, const void* value, long elem);
/* x[N, C, S]: normalize over each group of C/groups channels and S; scale, bias per channel. */
void hf_group_norm(const float* x, const float* scale, const float* bias, float* y, long n, long c, long groups,
                   long spatial, float eps);
void hf_resize(int rank, const long* out_shape, const long* taps, const long* const* offsets,
               const double* const* weights, const float* x, float* y);
/* w[C, M/group, kh, kw]; geometry as hf_conv2d with (h, w) the input and (oh, ow) the output size. */
void hf_conv_transpose2d(const hf_conv2d* g, const float* x, const float* w, const float* bias, float* y);
typedef struct hf_geom3d {
    long n, c, d, h, w;
    long m, od, oh, ow;
    long kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, dh, dw;
    long group;
} hf_geom3d;
void hf_conv3d(const hf_geom3d* g, const float* x, const float* w, const float* bias, float* y);
/* Pooling over 3 dims (m unused, c the channels); end_pads: explicit pads after each dim. */
void hf_pool3d(const hf_geom3d* g, const float* x, float* y, int is_max, int count_include_pad, const long* end_pads);

/* ------------------------------------------------------------------ math for generated loops */
/* exp / log accurate to a few ulp, written so that gcc vectorizes loops that call them. */
static inline float hf_bits_float(int32_t i) {
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

static inline int32_t hf_float_bits(float f) {
    int32_t i;
    memcpy(&i, &f, sizeof i);
    return i;
}

static inline float hf_exp(float x) {
    float xc = x > 88.7228390f ? 88.7228390f : x;
    xc = xc < -103.972084f ? -103.972084f : xc;
    /* round to nearest by the 1.5 * 2^23 trick: no call, so loops around it vectorize */
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* scale by 2^n in two steps so that n from -150 to 128 stays representable */
    int32_t ni = (int32_t)n;
    int32_t n1 = ni < -126 ? -126 : ni > 127 ? 127 : ni;
    int32_t n2 = ni - n1;
    float y = p * hf_bits_float((n1 + 127) << 23) * hf_bits_float((n2 + 127) << 23);
    y = x > 88.7228390f ? HUGE_VALF : y;
    return x != x ? x : y;
}

static inline float hf_log(float x) {
    int denormal = x < 1.17549435e-38f;
    int32_t bits = hf_float_bits(denormal ? x * 8388608.0f : x);
    float e = (float)(((bits >> 23) & 0xff) - 126 - (denormal ? 23 : 0));
    float f = hf_bits_float((bits & 0x007fffff) | 0x3f000000); /* in [0.5, 1) */
    int lo = f < 0.707106781186547524f;
    e = lo ? e - 1.0f : e;
    f = lo ? f + f - 1.0f : f - 1.0f;
    float z = f * f;
    float y = 7.0376836292e-2f;
    y = y * f - 1.1514610310e-1f;
    y = y * f + 1.1676998740e-1f;
    y = y * f - 1.2420140846e-1f;
    y = y * f + 1.4249322787e-1f;
    y = y * f - 1.6668057665e-1f;
    y = y * f + 2.0000714765e-1f;
    y = y * f - 2.4999993993e-1f;
    y = y * f + 3.3333331174e-1f;
    y = y * f * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    float r = f + y + 0.693359375f * e;
    r = x == HUGE_VALF ? x : r;
    r = x == 0.0f ? -HUGE_VALF : r;
    r = x < 0.0f ? __builtin_nanf("") : r;
    return x != x ? x : r;
}

/* Python's %: the remainder takes the sign of the divisor. */
static inline float hf_pymod(float a, float b) {
    float r = fmodf(a, b);
    return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r;
}

static inline float hf_sigmoid(float x) { return 1.0f / (1.0f + hf_exp(-x)); }

static inline float hf_tanh(float x) {
    /* odd: tanh(|x|) = 1 - 2 / (exp(2|x|) + 1); near 0 a series avoids the cancellation */
    float a = fabsf(x);
    float big = 1.0f - 2.0f / (hf_exp(2.0f * a) + 1.0f);
    float x2 = a * a;
    float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.0539682540f + x2 * 0.0218694885f))));
    float t = a < 0.125f ? small : big;
    return x < 0.0f ? -t : t;
}

static inline float hf_erf(float x) {
    /* Abramowitz-Stegun 7.1.26 is too coarse; use erf = 1 - erfc with a rational erfc (Numerical Recipes erfcc),
       accurate to 1.2e-7 relative, exact near 0 through a series. */
    float a = fabsf(x);
    float t = 1.0f / (1.0f + 0.5f * a);
    float y = t * hf_exp(-a * a - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
              t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
              t * (-0.82215223f + t * 0.17087277f)))))))));
    float big = 1.0f - y;
    float x2 = a * a;
    float small = a * 1.12837917f * (1.0f + x2 * (-0.333333333f + x2 * (0.1f + x2 * (-0.0238095238f + x2 * 0.00462962963f))));
    float r = a < 0.25f ? small : big;
    return x < 0.0f ? -r : r;
}

#ifdef __cplusplus
}
#endif
#endif
