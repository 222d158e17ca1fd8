/* Direct kernels: depthwise convolution, pooling, softmax, reductions, normalization, data movement.
 * Each parallelizes over independent rows or planes with the caller's thread count. */
#include "hf_runtime.h"

#include <omp.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Loops over short rows (pooling, strided depthwise) finish in scalar remainders when vectors are 16 wide;
 * 8-wide vectors leave shorter remainders and run faster there (measured: 1.8x on 27 x 27 pools). */
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
#define HF_SHORT_ROWS __attribute__((target("prefer-vector-width=256")))
#else
#define HF_SHORT_ROWS
#endif

static long min_l(long a, long b) { return a < b ? a : b; }
static long max_l(long a, long b) { return a > b ? a : b; }

/* ------------------------------------------------------------------ sliding windows
 * Per output row, per kernel tap: a run of output columns whose input column is inside the image.
 * The run bounds depend only on the tap's column, so they are computed once per call; the loops are
 * inlined per stride so that the inner one has a constant stride and vectorizes. */
typedef struct window {
    long h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
} window;

/* The output columns [lo, hi) whose input column o*s + off lies inside [0, n). */
static void valid_range(long out, long s, long off, long n, long* lo, long* hi) {
    long a = off >= 0 ? 0 : (-off + s - 1) / s;
    long lim = n - off; /* need o * s < lim */
    long b = lim <= 0 ? 0 : (lim + s - 1) / s;
    *lo = min_l(a, out);
    *hi = max_l(*lo, min_l(b, out));
}

HF_SHORT_ROWS static inline __attribute__((always_inline)) void depthwise_rows(const window* g, const float* xp, float* yp,
                                                                 const float* wp, const long* lo, const long* hi,
                                                                 const long sw) {
    for (long oh = 0; oh < g->oh; oh++) {
        float* row = yp + oh * g->ow;
        for (long j = 0; j < g->ow; j++) row[j] = 0.0f;
        for (long r = 0; r < g->kh; r++) {
            long ih = oh * g->sh - g->ph + r * g->dh;
            if (ih < 0 || ih >= g->h) continue;
            const float* xr = xp + ih * g->w;
            for (long s = 0; s < g->kw; s++) {
                const float* xs = xr + s * g->dw - g->pw;
                float wv = wp[r * g->kw + s];
#pragma omp simd
                for (long j = lo[s]; j < hi[s]; j++) row[j] += wv * xs[j * sw];
            }
        }
    }
}

HF_SHORT_ROWS __attribute__((noinline)) static void depthwise_dispatch(const window* g, const float* xp, float* yp, const float* wp, const long* lo,
                               const long* hi) {
    if (g->sw == 1) depthwise_rows(g, xp, yp, wp, lo, hi, 1);
    else if (g->sw == 2) depthwise_rows(g, xp, yp, wp, lo, hi, 2);
    else depthwise_rows(g, xp, yp, wp, lo, hi, g->sw);
}

static void column_ranges(const window* g, long* lo, long* hi) {
    for (long s = 0; s < g->kw; s++) valid_range(g->ow, g->sw, s * g->dw - g->pw, g->w, &lo[s], &hi[s]);
}

/* ------------------------------------------------------------------ depthwise convolution */
/* Strides 1 and 2: every tap becomes one flat multiply-add over the output, computed on a grid (oh x wq) whose
 * rows are wq wide; the columns past ow are discarded when the result is copied out. Long contiguous loops
 * instead of short rows. At stride s the zero-padded plane is first split into s x s phases (phase (a, b) holds
 * the padded rows a, a + s, ... and columns b, b + s, ...): the tap (r, s) reads phase (r*dh % sh, s*dw % sw)
 * shifted by (r*dh / sh) rows and (s*dw / sw) columns, contiguous in the output column. On 7 x 7 and 14 x 14
 * planes (ShuffleNet, MobileNet) the strided rows' scalar remainders cost more than the split. */
static inline __attribute__((always_inline)) int depthwise_phased(const hf_conv2d* g, const float* xp,
                                                                    const float* wt, float* yp, float* buf, long cap,
                                                                    const long sh, const long sw) {
    long rows_off = (g->kh - 1) * g->dh / sh, cols_off = (g->kw - 1) * g->dw / sw;
    long hq = g->oh + rows_off, wq = g->ow + cols_off;
    long phase = hq * wq + cols_off + 16, out_size = g->oh * wq;
    if (sh * sw * phase + out_size > cap) return 0;
    float* acc = buf + sh * sw * phase;
    for (long a = 0; a < sh; a++)
        for (long b = 0; b < sw; b++) {
            float* ph = buf + (a * sw + b) * phase;
            for (long i = 0; i < phase; i++) ph[i] = 0.0f;
            for (long u = 0; u < hq; u++) {
                long y = u * sh + a - g->ph;
                if (y < 0 || y >= g->h) continue;
                const float* xr = xp + y * g->w;
                float* pr = ph + u * wq;
                if (sw == 1) {
                    /* the columns of the row that land inside [0, wq) */
                    long v0 = max_l(g->pw - b, 0), v1 = min_l(wq, g->w + g->pw - b);
                    if (v1 > v0) memcpy(pr + v0, xr + v0 + b - g->pw, (size_t)(v1 - v0) * sizeof(float));
                } else {
                    for (long v = 0; v < wq; v++) {
                        long x = v * sw + b - g->pw;
                        if (x >= 0 && x < g->w) pr[v] = xr[x];
                    }
                }
            }
        }
    for (long q = 0; q < out_size; q++) acc[q] = 0.0f;
    for (long r = 0; r < g->kh; r++)
        for (long c = 0; c < g->kw; c++) {
            float wv = wt[r * g->kw + c];
            const float* ph = buf + ((r * g->dh % sh) * sw + c * g->dw % sw) * phase;
            const float* src = ph + (r * g->dh / sh) * wq + c * g->dw / sw;
#pragma omp simd
            for (long q = 0; q < out_size; q++) acc[q] += wv * src[q];
        }
    for (long i = 0; i < g->oh; i++) memcpy(yp + i * g->ow, acc + i * wq, (size_t)g->ow * sizeof(float));
    return 1;
}

/* The strides as constants, so that the phase arithmetic per tap folds away. */
static int depthwise_flat(const hf_conv2d* g, const float* xp, const float* wt, float* yp, float* buf, long cap) {
    if (g->sh == 1 && g->sw == 1) return depthwise_phased(g, xp, wt, yp, buf, cap, 1, 1);
    if (g->sh == 2 && g->sw == 2) return depthwise_phased(g, xp, wt, yp, buf, cap, 2, 2);
    return depthwise_phased(g, xp, wt, yp, buf, cap, g->sh, g->sw);
}

void hf_conv2d_depthwise(const hf_conv2d* g, const float* x, const float* w, float* y,
                         const hf_epilogue* epi, long res_bs) {
    window win = {g->h, g->w, g->oh, g->ow, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw};
    long mult = g->m / g->c, plane_in = g->h * g->w, plane_out = g->oh * g->ow;
    long planes = g->n * g->m;
    long lo[g->kw], hi[g->kw];
    column_ranges(&win, lo, hi);
    int flat = g->sh <= 2 && g->sw <= 2;
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (planes * plane_out > 4096)
    for (long p = 0; p < planes; p++) {
        long bi = p / g->m, oc = p % g->m, ic = oc / mult;
        const float* xp = x + (bi * g->c + ic) * plane_in;
        const float* wt = w + oc * g->kh * g->kw;
        float* yp = y + p * plane_out;
        long cap = 0;
        float* buf = flat ? hf_thread_scratch(&cap) : NULL;
        if (!flat || !depthwise_flat(g, xp, wt, yp, buf, cap)) depthwise_dispatch(&win, xp, yp, wt, lo, hi);
        if (epi) {
            hf_epilogue e = *epi;
            e.outer = bi;
            if (e.res) e.res += bi * res_bs;
            hf_epilogue_tile(&e, yp, plane_out, oc, 1, 0, plane_out);
        }
    }
}

/* Taps of a window that count toward the average: inside x, or inside x plus its explicit pads. */
static long taps(long o, long s, long pb, long pe, long k, long d, long n, int include_pad) {
    long lo = include_pad ? -pb : 0, hi = include_pad ? n + pe : n, count = 0;
    for (long t = 0; t < k; t++) {
        long i = o * s - pb + t * d;
        count += i >= lo && i < hi;
    }
    return count;
}

/* ------------------------------------------------------------------ pooling */
/* Windows are rectangles, so pooling separates. Per output row: reduce the window's input rows into one
 * row (padded with the reduction's identity), reduce each position's kw columns at unit stride, and only
 * then pick every sw-th position: strided loads happen once per output, not once per tap. */
HF_SHORT_ROWS static inline float max_nan(float a, float b) { return (b > a || b != b) ? b : a; }

/* out[j] = src[j * 2] for j < n; src readable up to 2n + 31. */
HF_SHORT_ROWS static inline void decimate2(const float* src, float* out, long n) {
#if defined(__AVX512F__)
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    long j = 0;
    for (; j + 16 <= n; j += 16)
        _mm512_storeu_ps(out + j, _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * j), even,
                                                         _mm512_loadu_ps(src + 2 * j + 16)));
    if (j < n) {
        __m512 v = _mm512_permutex2var_ps(_mm512_loadu_ps(src + 2 * j), even, _mm512_loadu_ps(src + 2 * j + 16));
        _mm512_mask_storeu_ps(out + j, (__mmask16)((1u << (n - j)) - 1u), v);
    }
#else
    for (long j = 0; j < n; j++) out[j] = src[2 * j];
#endif
}

HF_SHORT_ROWS static inline __attribute__((always_inline)) void pool_plane(const hf_pool2d* p, const float* xp,
                                                                           float* yp, float* buf, const int is_max) {
    float init = is_max ? -HUGE_VALF : 0.0f;
    long span = (p->ow - 1) * p->sw + 1;                 /* horizontal results needed */
    long padded = span + (p->kw - 1) * p->dw;            /* padded row they read */
    long lead = p->pw, width = min_l(p->w, padded - lead); /* input columns that land in it */
    float* row = buf;                                    /* [padded], identity outside the input */
    float* h = buf + padded + 32;                        /* [span + 32] */
    for (long t = 0; t < padded + 32; t++) row[t] = init;
    for (long oh = 0; oh < p->oh; oh++) {
        float* r0 = row + lead;
        for (long j = 0; j < width; j++) r0[j] = init;
        for (long r = 0; r < p->kh; r++) {
            long ih = oh * p->sh - p->ph + r * p->dh;
            if (ih < 0 || ih >= p->h) continue;
            const float* xr = xp + ih * p->w;
            if (is_max) {
#pragma omp simd
                for (long j = 0; j < width; j++) r0[j] = max_nan(r0[j], xr[j]);
            } else {
#pragma omp simd
                for (long j = 0; j < width; j++) r0[j] += xr[j];
            }
        }
        for (long t = 0; t < span; t++) h[t] = row[t];
        for (long s = 1; s < p->kw; s++) {
            const float* src = row + s * p->dw;
            if (is_max) {
#pragma omp simd
                for (long t = 0; t < span; t++) h[t] = max_nan(h[t], src[t]);
            } else {
#pragma omp simd
                for (long t = 0; t < span; t++) h[t] += src[t];
            }
        }
        float* out = yp + oh * p->ow;
        if (p->sw == 1) memcpy(out, h, (size_t)p->ow * sizeof(float));
        else if (p->sw == 2) decimate2(h, out, p->ow);
        else
            for (long j = 0; j < p->ow; j++) out[j] = h[j * p->sw];
    }
}

HF_SHORT_ROWS __attribute__((noinline)) static void pool_dispatch(const hf_pool2d* p, const float* xp, float* yp,
                                                                  float* buf, int is_max) {
    if (is_max) pool_plane(p, xp, yp, buf, 1);
    else pool_plane(p, xp, yp, buf, 0);
}

static void pool(const hf_pool2d* p, const float* x, float* y, int is_max) {
    long planes = p->n * p->c, plane_in = p->h * p->w, plane_out = p->oh * p->ow;
    /* the divisor per output position, the same for every plane */
    float count_h[p->oh], count_w[p->ow];
    if (!is_max) {
        for (long i = 0; i < p->oh; i++)
            count_h[i] = (float)taps(i, p->sh, p->ph, p->pe_h, p->kh, p->dh, p->h, p->count_include_pad);
        for (long j = 0; j < p->ow; j++)
            count_w[j] = (float)taps(j, p->sw, p->pw, p->pe_w, p->kw, p->dw, p->w, p->count_include_pad);
    }
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (planes * plane_out > 4096)
    for (long q = 0; q < planes; q++) {
        long cap = 0;
        float* rowbuf = hf_thread_scratch(&cap);
        float* yp = y + q * plane_out;
        pool_dispatch(p, x + q * plane_in, yp, rowbuf, is_max);
        if (!is_max)
            for (long i = 0; i < p->oh; i++)
#pragma omp simd
                for (long j = 0; j < p->ow; j++) yp[i * p->ow + j] /= count_h[i] * count_w[j];
    }
}

void hf_max_pool2d(const hf_pool2d* p, const float* x, float* y) { pool(p, x, y, 1); }
void hf_avg_pool2d(const hf_pool2d* p, const float* x, float* y) { pool(p, x, y, 0); }

/* ------------------------------------------------------------------ softmax */
static void softmax_row(const float* x, float* y, long n, int log_softmax) {
    float mx = -HUGE_VALF;
#pragma omp simd reduction(max : mx)
    for (long i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0.0f;
    if (log_softmax) {
#pragma omp simd reduction(+ : sum)
        for (long i = 0; i < n; i++) sum += hf_exp(x[i] - mx);
        float shift = mx + hf_log(sum);
#pragma omp simd
        for (long i = 0; i < n; i++) y[i] = x[i] - shift;
        return;
    }
#pragma omp simd reduction(+ : sum)
    for (long i = 0; i < n; i++) {
        float v = hf_exp(x[i] - mx);
        y[i] = v;
        sum += v;
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (long i = 0; i < n; i++) y[i] *= inv;
}

void hf_softmax(const float* x, float* y, long outer, long n, long inner, int log_softmax) {
    if (inner == 1) {
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (outer * n > 8192)
        for (long o = 0; o < outer; o++) softmax_row(x + o * n, y + o * n, n, log_softmax);
        return;
    }
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (outer * n * inner > 8192)
    for (long o = 0; o < outer; o++) {
        const float* xo = x + o * n * inner;
        float* yo = y + o * n * inner;
        for (long j = 0; j < inner; j++) yo[j] = -HUGE_VALF;
        for (long i = 0; i < n; i++)
#pragma omp simd
            for (long j = 0; j < inner; j++) yo[j] = xo[i * inner + j] > yo[j] ? xo[i * inner + j] : yo[j];
        /* row 0 of yo holds the running max until each column's final pass overwrites it */
        for (long j = 0; j < inner; j++) {
            float mx = yo[j], sum = 0.0f;
            for (long i = 0; i < n; i++) sum += hf_exp(xo[i * inner + j] - mx);
            if (log_softmax) {
                float shift = mx + hf_log(sum);
                for (long i = 0; i < n; i++) yo[i * inner + j] = xo[i * inner + j] - shift;
            } else {
                float inv = 1.0f / sum;
                for (long i = 0; i < n; i++) yo[i * inner + j] = hf_exp(xo[i * inner + j] - mx) * inv;
            }
        }
    }
}

/* ------------------------------------------------------------------ reductions */
static float red_init(int kind) {
    switch (kind) {
        case HF_RED_MAX: return -HUGE_VALF;
        case HF_RED_MIN: return HUGE_VALF;
        case HF_RED_PROD: return 1.0f;
        default: return 0.0f;
    }
}

static float red_step(int kind, float acc, float v) {
    switch (kind) {
        case HF_RED_MAX: return v > acc || v != v ? v : acc;
        case HF_RED_MIN: return v < acc || v != v ? v : acc;
        case HF_RED_PROD: return acc * v;
        case HF_RED_SUMSQ: return acc + v * v;
        default: return acc + v;
    }
}

void hf_reduce(const float* x, float* y, long outer, long n, long inner, int kind) {
    float scale = kind == HF_RED_MEAN ? 1.0f / (float)n : 1.0f;
    if (kind == HF_RED_MEAN && n == 0) scale = __builtin_nanf("");
    if (inner == 1) {
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (outer * n > 16384)
        for (long o = 0; o < outer; o++) {
            const float* xo = x + o * n;
            float acc = red_init(kind);
            if (kind == HF_RED_SUM || kind == HF_RED_MEAN) {
#pragma omp simd reduction(+ : acc)
                for (long i = 0; i < n; i++) acc += xo[i];
            } else {
                for (long i = 0; i < n; i++) acc = red_step(kind, acc, xo[i]);
            }
            y[o] = kind == HF_RED_MEAN ? acc * scale : acc;
        }
        return;
    }
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (outer * n * inner > 16384)
    for (long o = 0; o < outer; o++) {
        const float* xo = x + o * n * inner;
        float* yo = y + o * inner;
        float init = red_init(kind);
        for (long j = 0; j < inner; j++) yo[j] = init;
        for (long i = 0; i < n; i++)
            for (long j = 0; j < inner; j++) yo[j] = red_step(kind, yo[j], xo[i * inner + j]);
        if (kind == HF_RED_MEAN)
            for (long j = 0; j < inner; j++) yo[j] *= scale;
    }
}

/* ------------------------------------------------------------------ normalization */
void hf_layer_norm(const float* x, const float* scale, const float* bias, float* y, float* mean, float* inv_std,
                   long rows, long n, float eps) {
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (rows * n > 16384)
    for (long r = 0; r < rows; r++) {
        const float* xr = x + r * n;
        float* yr = y + r * n;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (long i = 0; i < n; i++) sum += xr[i];
        float mu = sum / (float)n, sq = 0.0f;
#pragma omp simd reduction(+ : sq)
        for (long i = 0; i < n; i++) sq += (xr[i] - mu) * (xr[i] - mu);
        float inv = 1.0f / sqrtf(sq / (float)n + eps);
        if (mean) mean[r] = mu;
        if (inv_std) inv_std[r] = inv;
        if (bias) {
#pragma omp simd
            for (long i = 0; i < n; i++) yr[i] = (xr[i] - mu) * inv * scale[i] + bias[i];
        } else {
#pragma omp simd
            for (long i = 0; i < n; i++) yr[i] = (xr[i] - mu) * inv * scale[i];
        }
    }
}

void hf_lrn(const float* x, float* y, long n, long c, long s, long size, float alpha, float beta, float bias) {
    long before = (size - 1) / 2, after = size - 1 - before;
    float k = alpha / (float)size;
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (n * c * s > 16384)
    for (long q = 0; q < n * c; q++) {
        long bi = q / c, ci = q % c;
        const float* xb = x + bi * c * s;
        float* yr = y + q * s;
        long c_lo = max_l(0, ci - before), c_hi = min_l(c - 1, ci + after);
        for (long j = 0; j < s; j++) yr[j] = 0.0f;
        for (long cc = c_lo; cc <= c_hi; cc++) {
            const float* xc = xb + cc * s;
#pragma omp simd
            for (long j = 0; j < s; j++) yr[j] += xc[j] * xc[j];
        }
        const float* xr = xb + ci * s;
        if (beta == 0.75f) {
#pragma omp simd
            for (long j = 0; j < s; j++) {
                float b = bias + k * yr[j];
                yr[j] = xr[j] / sqrtf(b * sqrtf(b));
            }
        } else {
#pragma omp simd
            for (long j = 0; j < s; j++) yr[j] = xr[j] * hf_exp(-beta * hf_log(bias + k * yr[j]));
        }
    }
}

/* ------------------------------------------------------------------ data movement */
static void copy_rec(int d, int rank, const long* shape, char* dst, const long* ds, const char* src,
                     const long* ss, long elem) {
    long n = shape[d];
    if (d == rank - 1) {
        if (ds[d] == 1 && ss[d] == 1) {
            memcpy(dst, src, (size_t)(n * elem));
            return;
        }
        long a = ds[d], b = ss[d];
        switch (elem) {
            case 4: for (long i = 0; i < n; i++) ((int32_t*)dst)[i * a] = ((const int32_t*)src)[i * b]; break;
            case 8: for (long i = 0; i < n; i++) ((int64_t*)dst)[i * a] = ((const int64_t*)src)[i * b]; break;
            case 2: for (long i = 0; i < n; i++) ((int16_t*)dst)[i * a] = ((const int16_t*)src)[i * b]; break;
            case 1: for (long i = 0; i < n; i++) dst[i * a] = src[i * b]; break;
            default:
                for (long i = 0; i < n; i++) memcpy(dst + i * a * elem, src + i * b * elem, (size_t)elem);
        }
        return;
    }
    for (long i = 0; i < n; i++) copy_rec(d + 1, rank, shape, dst + i * ds[d] * elem, ds, src + i * ss[d] * elem, ss, elem);
}

void hf_copy_nd(int rank, const long* shape, char* dst, const long* dst_strides, const char* src,
                const long* src_strides, long elem) {
    if (rank == 0) {
        memcpy(dst, src, (size_t)elem);
        return;
    }
    long total = elem;
    for (int d = 0; d < rank; d++) total *= shape[d];
    if (rank == 1) {
        copy_rec(0, 1, shape, dst, dst_strides, src, src_strides, elem);
        return;
    }
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (total > (1L << 18) && shape[0] > 1)
    for (long i = 0; i < shape[0]; i++)
        copy_rec(1, rank, shape, dst + i * dst_strides[0] * elem, dst_strides, src + i * src_strides[0] * elem,
                 src_strides, elem);
}

void hf_fill(char* dst, long count, const void* value, long elem) {
    for (long i = 0; i < count; i++) memcpy(dst + i * elem, value, (size_t)elem);
}
