/* Packed, register-blocked GEMM and the convolutions built on it.
 *
 * Loop nest (BLIS order): N in blocks of NC, K in blocks of KC (B block packed into thread-local
 * scratch unless it was packed at compile time), M in blocks of MC (A block packed likewise), then
 * MR-tall micro-panels of A against NR-wide micro-panels of B. The micro-kernel holds an MR x NR
 * tile of C in registers and applies the epilogue (bias, residual, activation, then any generated
 * per-tile function) on the last K block, while the tile is hot.
 *
 * MR is chosen per product from a few compiled variants, so that few rows are wasted on padding
 * (M = 64 wants 8, M = 49 wants 7). A convolution with few output pixels and many channels runs
 * transposed: pixels become rows, channels columns, and the result is transposed back on the way
 * out (NCHW keeps pixels contiguous, which would leave most of a 32-wide tile empty at 7 x 7).
 */
#include "hf_runtime.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define HF_NR 32
#define HF_MR_MAX 12
static const int MR_VARIANTS[] = {12, 8, 7};
#define HF_ISA "avx512f"
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HF_NR 16
#define HF_MR_MAX 6
static const int MR_VARIANTS[] = {6};
#define HF_ISA "avx2+fma"
#else
#define HF_NR 8
#define HF_MR_MAX 4
static const int MR_VARIANTS[] = {4};
#define HF_ISA "generic"
#endif

#define HF_KC 256
#define HF_MC_PANELS 16
#define HF_NC (HF_NR * 48)
#define HF_A_FLOATS ((long)(HF_MC_PANELS + 1) * HF_MR_MAX * HF_KC)
#define HF_SCRATCH_FLOATS (HF_A_FLOATS + (long)(HF_NC + HF_NR) * HF_KC)

static long min_l(long a, long b) { return a < b ? a : b; }
static long max_l(long a, long b) { return a > b ? a : b; }

/* ------------------------------------------------------------------ threads and scratch */
static __thread int tls_threads = 1;
static __thread float* tls_scratch = NULL;

void hf_set_threads(int n) { tls_threads = n > 0 ? n : omp_get_num_procs(); }
int hf_get_threads(void) { return tls_threads; }
double hf_clock(void) {
    struct timespec ts;
    clock_gettime(tls_threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
int hf_gemm_mr(void) { return MR_VARIANTS[0]; }
int hf_gemm_kc(void) { return HF_KC; }

/* The K block for a reduction of length K: at most HF_KC, the blocks as even as possible (K = 784 runs
 * as 4 x 196, not 3 x 256 + 16, whose short block would pay a full tile load and store for little work).
 * Packed operands are laid out with it; render.py computes the same. */
static long kc_for(long K) {
    long blocks = (K + HF_KC - 1) / HF_KC;
    return blocks ? (K + blocks - 1) / blocks : HF_KC;
}
int hf_gemm_nr(void) { return HF_NR; }
const char* hf_isa(void) { return HF_ISA; }

int hf_gemm_mr_variants(int* out) {
    int n = (int)(sizeof MR_VARIANTS / sizeof MR_VARIANTS[0]);
    for (int i = 0; i < n; i++) out[i] = MR_VARIANTS[i];
    return n;
}

static int known_mr(int mr) {
    for (unsigned i = 0; i < sizeof MR_VARIANTS / sizeof MR_VARIANTS[0]; i++)
        if (MR_VARIANTS[i] == mr) return mr;
    return MR_VARIANTS[0];
}

/* Packing buffers: one per OS thread, allocated on its first GEMM and reused for the process' life. */
static float* thread_scratch(void) {
    if (!tls_scratch) {
        void* p = NULL;
        if (posix_memalign(&p, 64, (size_t)HF_SCRATCH_FLOATS * sizeof(float)) != 0) {
            fprintf(stderr, "hetflow cpu_c: cannot allocate %ld bytes of GEMM scratch\n", HF_SCRATCH_FLOATS * 4L);
            abort();
        }
        tls_scratch = (float*)p;
    }
    return tls_scratch;
}

float* hf_thread_scratch(long* floats) {
    *floats = HF_SCRATCH_FLOATS;
    return thread_scratch();
}

/* ------------------------------------------------------------------ epilogue on a tile in memory */
void hf_epilogue_tile(const hf_epilogue* e, float* c, long ldc, long m0, long mr, long n0, long nr) {
    /* no activation clamps to (-inf, inf), which passes every value (NaN included) through */
    float lo = e->act == HF_ACT_RELU ? 0.0f : e->act == HF_ACT_CLIP ? e->lo : -HUGE_VALF;
    float hi = e->act == HF_ACT_CLIP ? e->hi : HUGE_VALF;
    const float* bn = e->bias_n ? e->bias_n + n0 : NULL;
    for (long i = 0; i < mr; i++) {
        float* row = c + i * ldc;
        float bm = e->bias_m ? e->bias_m[m0 + i] : 0.0f;
        const float* res = e->res ? e->res + (m0 + i) * e->res_rs + n0 : NULL;
        if (bn && res) {
#pragma omp simd
            for (long j = 0; j < nr; j++) {
                float v = row[j] + bm + bn[j] + res[j];
                v = v < lo ? lo : v;
                row[j] = v > hi ? hi : v;
            }
        } else if (bn) {
#pragma omp simd
            for (long j = 0; j < nr; j++) {
                float v = row[j] + bm + bn[j];
                v = v < lo ? lo : v;
                row[j] = v > hi ? hi : v;
            }
        } else if (res) {
#pragma omp simd
            for (long j = 0; j < nr; j++) {
                float v = row[j] + bm + res[j];
                v = v < lo ? lo : v;
                row[j] = v > hi ? hi : v;
            }
        } else {
#pragma omp simd
            for (long j = 0; j < nr; j++) {
                float v = row[j] + bm;
                v = v < lo ? lo : v;
                row[j] = v > hi ? hi : v;
            }
        }
    }
    if (e->post) e->post(e->ctx, c, ldc, e->outer, e->m_base + m0, mr, n0, nr);
}

/* ------------------------------------------------------------------ micro-kernels
 * ukr(MR, kc, A, B, C, ldc, accum, e, m0, n0): C[MR x NR] (+)= A_panel[kc x MR]^T B_panel[kc x NR],
 * then the epilogue ``e`` (NULL: none). MR is a compile-time constant in each inlined copy. */
#if defined(__AVX512F__)
static inline __attribute__((always_inline)) void ukr_n(const int MR, long kc, const float* restrict a,
                                                        const float* restrict b, float* restrict c, long ldc,
                                                        int accum, const hf_epilogue* e, long m0, long n0) {
    __m512 c0[HF_MR_MAX], c1[HF_MR_MAX];
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
#pragma GCC unroll 2
    for (long k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b + k * HF_NR), b1 = _mm512_loadu_ps(b + k * HF_NR + 16);
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[k * MR + i]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
    if (accum) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; i++) {
            c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(c + i * ldc));
            c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(c + i * ldc + 16));
        }
    }
    if (e) {
        if (e->bias_m) {
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                __m512 bv = _mm512_set1_ps(e->bias_m[m0 + i]);
                c0[i] = _mm512_add_ps(c0[i], bv);
                c1[i] = _mm512_add_ps(c1[i], bv);
            }
        }
        if (e->bias_n) {
            __m512 b0 = _mm512_loadu_ps(e->bias_n + n0), b1 = _mm512_loadu_ps(e->bias_n + n0 + 16);
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                c0[i] = _mm512_add_ps(c0[i], b0);
                c1[i] = _mm512_add_ps(c1[i], b1);
            }
        }
        if (e->res) {
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                const float* r = e->res + (m0 + i) * e->res_rs + n0;
                c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(r));
                c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(r + 16));
            }
        }
        if (e->act != HF_ACT_NONE) {
            __m512 lo = _mm512_set1_ps(e->act == HF_ACT_RELU ? 0.0f : e->lo);
            __m512 hi = _mm512_set1_ps(e->act == HF_ACT_RELU ? HUGE_VALF : e->hi);
#pragma GCC unroll 16
            for (int i = 0; i < MR; i++) {
                c0[i] = _mm512_min_ps(_mm512_max_ps(c0[i], lo), hi);
                c1[i] = _mm512_min_ps(_mm512_max_ps(c1[i], lo), hi);
            }
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
        _mm512_storeu_ps(c + i * ldc, c0[i]);
        _mm512_storeu_ps(c + i * ldc + 16, c1[i]);
    }
    if (e && e->post) e->post(e->ctx, c, ldc, e->outer, e->m_base + m0, MR, n0, HF_NR);
}

static void ukr(int MR, long kc, const float* a, const float* b, float* c, long ldc, int accum, const hf_epilogue* e,
                long m0, long n0) {
    switch (MR) {
        case 8: ukr_n(8, kc, a, b, c, ldc, accum, e, m0, n0); break;
        case 7: ukr_n(7, kc, a, b, c, ldc, accum, e, m0, n0); break;
        default: ukr_n(12, kc, a, b, c, ldc, accum, e, m0, n0); break;
    }
}
#elif defined(__AVX2__) && defined(__FMA__)
static void ukr(int MR, long kc, const float* restrict a, const float* restrict b, float* restrict c, long ldc,
                int accum, const hf_epilogue* e, long m0, long n0) {
    (void)MR;
    __m256 c0[HF_MR_MAX], c1[HF_MR_MAX];
#pragma GCC unroll 8
    for (int i = 0; i < HF_MR_MAX; i++) {
        c0[i] = _mm256_setzero_ps();
        c1[i] = _mm256_setzero_ps();
    }
#pragma GCC unroll 2
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b + k * HF_NR), b1 = _mm256_loadu_ps(b + k * HF_NR + 8);
#pragma GCC unroll 8
        for (int i = 0; i < HF_MR_MAX; i++) {
            __m256 av = _mm256_broadcast_ss(a + k * HF_MR_MAX + i);
            c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < HF_MR_MAX; i++) {
        if (accum) {
            c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(c + i * ldc));
            c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(c + i * ldc + 8));
        }
        _mm256_storeu_ps(c + i * ldc, c0[i]);
        _mm256_storeu_ps(c + i * ldc + 8, c1[i]);
    }
    if (e) hf_epilogue_tile(e, c, ldc, m0, HF_MR_MAX, n0, HF_NR);
}
#else
static void ukr(int MR, long kc, const float* restrict a, const float* restrict b, float* restrict c, long ldc,
                int accum, const hf_epilogue* e, long m0, long n0) {
    (void)MR;
    float acc[HF_MR_MAX][HF_NR] = {{0}};
    for (long k = 0; k < kc; k++)
        for (int i = 0; i < HF_MR_MAX; i++)
            for (int j = 0; j < HF_NR; j++) acc[i][j] += a[k * HF_MR_MAX + i] * b[k * HF_NR + j];
    for (int i = 0; i < HF_MR_MAX; i++)
        for (int j = 0; j < HF_NR; j++) c[i * ldc + j] = (accum ? c[i * ldc + j] : 0.0f) + acc[i][j];
    if (e) hf_epilogue_tile(e, c, ldc, m0, HF_MR_MAX, n0, HF_NR);
}
#endif

/* A partial tile: compute the full register tile into a temporary, keep the valid part. */
static void tile(int MR, long kc, const float* a, const float* b, float* c, long ldc, long mr, long nr, int accum,
                 const hf_epilogue* e, long m0, long n0) {
    if (mr == MR && nr == HF_NR) {
        ukr(MR, kc, a, b, c, ldc, accum, e, m0, n0);
        return;
    }
    float t[HF_MR_MAX * HF_NR] __attribute__((aligned(64)));
    ukr(MR, kc, a, b, t, HF_NR, 0, NULL, 0, 0);
    for (long i = 0; i < mr; i++)
        for (long j = 0; j < nr; j++) c[i * ldc + j] = (accum ? c[i * ldc + j] : 0.0f) + t[i * HF_NR + j];
    if (e) hf_epilogue_tile(e, c, ldc, m0, mr, n0, nr);
}

/* ------------------------------------------------------------------ short copies (packing runs) */
static inline void copy_floats(float* restrict d, const float* restrict src, long n) {
#if defined(__AVX512F__)
    for (; n >= 16; n -= 16, d += 16, src += 16) _mm512_storeu_ps(d, _mm512_loadu_ps(src));
    if (n > 0) {
        __mmask16 m = (__mmask16)((1u << n) - 1u);
        _mm512_mask_storeu_ps(d, m, _mm512_maskz_loadu_ps(m, src));
    }
#else
    for (long t = 0; t < n; t++) d[t] = src[t];
#endif
}

static inline void zero_floats(float* d, long n) {
#if defined(__AVX512F__)
    for (; n >= 16; n -= 16, d += 16) _mm512_storeu_ps(d, _mm512_setzero_ps());
    if (n > 0) _mm512_mask_storeu_ps(d, (__mmask16)((1u << n) - 1u), _mm512_setzero_ps());
#else
    for (long t = 0; t < n; t++) d[t] = 0.0f;
#endif
}

/* ------------------------------------------------------------------ operands and packing */
typedef struct operand {
    const float* packed;    /* compile-time packed panels, K blocked as the loop nest reads them */
    const float* p;         /* strided source */
    long rs, cs;
    const hf_conv2d* conv;  /* an implicit im2col of p (one image, one group): B [k, pixel], or A = its transpose */
    long panels;            /* packed: panels across the whole M (A) or N (B) */
} operand;

/* Panels of ``width`` pixels of the im2col matrix: dst[panel][k][j] = x[ci, oh*sh - ph + r*dh, ow*sw - pw + s*dw]
 * for k = k0 + (ci, r, s) and pixel n0 + panel*width + j = (oh, ow); zero outside x. Walks each k row once,
 * in runs that stay inside one output row and one panel. */
static void pack_im2col(const hf_conv2d* g, const float* x, long k0, long kc, long n0, long nc, float* dst,
                        long width) {
    long khw = g->kh * g->kw, plane = g->h * g->w, sw = g->sw;
    long oh0 = n0 / g->ow, ow0 = n0 % g->ow;
    for (long k = 0; k < kc; k++) {
        long kk = k0 + k, ci = kk / khw, r = (kk % khw) / g->kw, s = kk % g->kw;
        const float* src = x + ci * plane;
        long ih_off = r * g->dh - g->ph, iw_off = s * g->dw - g->pw;
        long oh = oh0, ow = ow0, pos = 0, j = 0;
        float* panel = dst + k * width;
        while (pos < nc) {
            long run = min_l(min_l(g->ow - ow, nc - pos), width - j);
            float* d = panel + j;
            long ih = oh * g->sh + ih_off;
            if (ih < 0 || ih >= g->h) {
                zero_floats(d, run);
            } else {
                const float* row = src + ih * g->w;
                long start = ow * sw + iw_off; /* input column of t = 0 */
                long first, last;              /* t in [first, last) reads inside the row */
                if (sw == 1) {
                    first = start >= 0 ? 0 : -start;
                    last = g->w - start;
                } else {
                    first = start >= 0 ? 0 : (-start + sw - 1) / sw;
                    last = g->w - start <= 0 ? 0 : (g->w - start + sw - 1) / sw;
                }
                first = min_l(first, run);
                last = max_l(first, min_l(last, run));
                if (first) zero_floats(d, first);
                if (sw == 1) {
                    copy_floats(d + first, row + start + first, last - first);
                } else if (sw == 2) {
                    const float* base = row + start;
                    for (long t = first; t < last; t++) d[t] = base[2 * t];
                } else {
                    const float* base = row + start;
                    for (long t = first; t < last; t++) d[t] = base[t * sw];
                }
                if (last < run) zero_floats(d + last, run - last);
            }
            pos += run;
            j += run;
            ow += run;
            if (j == width) {
                j = 0;
                panel += kc * width;
            }
            if (ow == g->ow) {
                ow = 0;
                oh++;
            }
        }
        if (j) zero_floats(panel + j, width - j);
    }
}

static void pack_a(const operand* a, int MR, long m0, long mc, long k0, long kc, float* dst) {
    if (a->conv) {
        pack_im2col(a->conv, a->p, k0, kc, m0, mc, dst, MR);
        return;
    }
    for (long ip = 0; ip < mc; ip += MR, dst += kc * MR) {
        long mr = min_l(MR, mc - ip);
        const float* src = a->p + (m0 + ip) * a->rs + k0 * a->cs;
        if (a->cs == 1) {
            for (long i = 0; i < mr; i++)
                for (long k = 0; k < kc; k++) dst[k * MR + i] = src[i * a->rs + k];
        } else {
            for (long k = 0; k < kc; k++)
                for (long i = 0; i < mr; i++) dst[k * MR + i] = src[k * a->cs + i * a->rs];
        }
        for (long i = mr; i < MR; i++)
            for (long k = 0; k < kc; k++) dst[k * MR + i] = 0.0f;
    }
}

static void pack_b(const operand* b, long k0, long kc, long n0, long nc, float* dst) {
    if (b->conv) {
        pack_im2col(b->conv, b->p, k0, kc, n0, nc, dst, HF_NR);
        return;
    }
    for (long jp = 0; jp < nc; jp += HF_NR, dst += kc * HF_NR) {
        long nr = min_l(HF_NR, nc - jp);
        const float* src = b->p + k0 * b->rs + (n0 + jp) * b->cs;
        if (b->cs == 1) {
            for (long k = 0; k < kc; k++) {
                copy_floats(dst + k * HF_NR, src + k * b->rs, nr);
                if (nr < HF_NR) zero_floats(dst + k * HF_NR + nr, HF_NR - nr);
            }
        } else {
            for (long j = 0; j < nr; j++)
                for (long k = 0; k < kc; k++) dst[k * HF_NR + j] = src[j * b->cs + k * b->rs];
            for (long k = 0; k < kc; k++)
                for (long j = nr; j < HF_NR; j++) dst[k * HF_NR + j] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------ the blocked loop nest */
static void gemm_rect(int MR, long K, const operand* a, const operand* b, float* c, long ldc, const hf_epilogue* e,
                      long m_lo, long m_hi, long n_lo, long n_hi) {
    float* scratch = (!a->packed || !b->packed) ? thread_scratch() : NULL;
    float* buf_a = scratch;
    float* buf_b = scratch ? scratch + HF_A_FLOATS : NULL;
    long MC = (long)MR * HF_MC_PANELS;
    for (long n0 = n_lo; n0 < n_hi; n0 += HF_NC) {
        long nc = min_l(HF_NC, n_hi - n0);
        long kb = kc_for(K);
        for (long k0 = 0; k0 < K; k0 += kb) {
            long kc = min_l(kb, K - k0);
            const hf_epilogue* last = k0 + kc >= K ? e : NULL;
            const float* bp;
            long b_ps;
            if (b->packed) {  /* layout [K block][panel][kc][NR]: each K block's panels are contiguous */
                bp = b->packed + k0 * b->panels * HF_NR + (n0 / HF_NR) * kc * HF_NR;
                b_ps = kc * HF_NR;
            } else {
                pack_b(b, k0, kc, n0, nc, buf_b);
                bp = buf_b;
                b_ps = kc * HF_NR;
            }
            for (long m0 = m_lo; m0 < m_hi; m0 += MC) {
                long mc = min_l(MC, m_hi - m0);
                const float* ap;
                long a_ps;
                if (a->packed) {
                    ap = a->packed + k0 * a->panels * MR + (m0 / MR) * kc * MR;
                    a_ps = kc * MR;
                } else {
                    pack_a(a, MR, m0, mc, k0, kc, buf_a);
                    ap = buf_a;
                    a_ps = kc * MR;
                }
                for (long ip = 0; ip < mc; ip += MR)
                    for (long jp = 0; jp < nc; jp += HF_NR)
                        tile(MR, kc, ap + (ip / MR) * a_ps, bp + (jp / HF_NR) * b_ps, c + (m0 + ip) * ldc + n0 + jp, ldc,
                             min_l(MR, mc - ip), min_l(HF_NR, nc - jp), k0 > 0, last, m0 + ip, n0 + jp);
            }
        }
    }
    if (K == 0) {
        for (long i = m_lo; i < m_hi; i++)
            for (long j = n_lo; j < n_hi; j++) c[i * ldc + j] = 0.0f;
        if (e) hf_epilogue_tile(e, c + m_lo * ldc + n_lo, ldc, m_lo, m_hi - m_lo, n_lo, n_hi - n_lo);
    }
}

/* Below this many multiply-adds a GEMM runs on the calling thread: forking costs more than it saves. */
#define HF_PARALLEL_MIN_MACS (1L << 18)

/* ------------------------------------------------------------------ skinny products
 * A few rows (a batch-1 fully connected layer): register blocking over M would waste most of the
 * tile, and the product is bound by streaming B. Each NR-column panel of B is read once over the
 * whole K (no K blocking), two K steps in flight to hide the FMA latency. */
#define HF_SKINNY 4

static inline __attribute__((always_inline)) void skinny_panel(const int rows, long K, const float* a, long a_rs,
                                                               long a_cs, const float* b, long ldb, float* c,
                                                               long ldc, long nr, int accum) {
#if defined(__AVX512F__)
    __m512 acc[HF_SKINNY][4];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < 4; v++) acc[i][v] = _mm512_setzero_ps();
    __mmask16 m0 = nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1u);
    __mmask16 m1 = nr >= 32 ? (__mmask16)0xffff : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1u);
    long k = 0;
    for (; k + 1 < K; k += 2) {
        const float* b0 = b + k * ldb;
        const float* b1 = b0 + ldb;
        __m512 x0 = _mm512_maskz_loadu_ps(m0, b0), x1 = _mm512_maskz_loadu_ps(m1, b0 + 16);
        __m512 y0 = _mm512_maskz_loadu_ps(m0, b1), y1 = _mm512_maskz_loadu_ps(m1, b1 + 16);
        for (int i = 0; i < rows; i++) {
            __m512 p = _mm512_set1_ps(a[i * a_rs + k * a_cs]), q = _mm512_set1_ps(a[i * a_rs + (k + 1) * a_cs]);
            acc[i][0] = _mm512_fmadd_ps(p, x0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(p, x1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(q, y0, acc[i][2]);
            acc[i][3] = _mm512_fmadd_ps(q, y1, acc[i][3]);
        }
    }
    if (k < K) {
        __m512 x0 = _mm512_maskz_loadu_ps(m0, b + k * ldb), x1 = _mm512_maskz_loadu_ps(m1, b + k * ldb + 16);
        for (int i = 0; i < rows; i++) {
            __m512 p = _mm512_set1_ps(a[i * a_rs + k * a_cs]);
            acc[i][0] = _mm512_fmadd_ps(p, x0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(p, x1, acc[i][1]);
        }
    }
    for (int i = 0; i < rows; i++) {
        __m512 lo = _mm512_add_ps(acc[i][0], acc[i][2]), hi = _mm512_add_ps(acc[i][1], acc[i][3]);
        if (accum) {
            lo = _mm512_add_ps(lo, _mm512_maskz_loadu_ps(m0, c + i * ldc));
            hi = _mm512_add_ps(hi, _mm512_maskz_loadu_ps(m1, c + i * ldc + 16));
        }
        _mm512_mask_storeu_ps(c + i * ldc, m0, lo);
        _mm512_mask_storeu_ps(c + i * ldc + 16, m1, hi);
    }
#else
    float acc[HF_SKINNY][HF_NR] = {{0}};
    for (long k = 0; k < K; k++)
        for (int i = 0; i < rows; i++) {
            float av = a[i * a_rs + k * a_cs];
            for (long j = 0; j < nr; j++) acc[i][j] += av * b[k * ldb + j];
        }
    for (int i = 0; i < rows; i++)
        for (long j = 0; j < nr; j++) c[i * ldc + j] = (accum ? c[i * ldc + j] : 0.0f) + acc[i][j];
#endif
}

static void gemm_skinny(long M, long N, long K, const operand* a, const operand* b, float* c, long ldc,
                        const hf_epilogue* e, int threads) {
    long panels = (N + HF_NR - 1) / HF_NR;
    if (threads > 1 && M * N * K < HF_PARALLEL_MIN_MACS) threads = 1;
    /* Each thread owns a range of panels (columns of C) for the whole K: one fork, no barrier per K
     * block. K blocks are outer within a thread, so that a packed B streams from memory in order. */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        long p_lo = panels * t / nt, p_hi = panels * (t + 1) / nt;
        long kb = kc_for(K);
        for (long k0 = 0; k0 < K; k0 += kb) {
            long kc = b->packed ? min_l(kb, K - k0) : K;
            const float* ak = a->p + k0 * a->cs;
            for (long p = p_lo; p < p_hi; p++) {
                long n0 = p * HF_NR, nr = min_l(HF_NR, N - n0);
                const float* bp = b->packed ? b->packed + k0 * panels * HF_NR + p * kc * HF_NR : b->p + n0;
                long ldb = b->packed ? HF_NR : b->rs;
                float* cp = c + n0;
                int acc = k0 > 0;
                switch (M) {
                    case 1: skinny_panel(1, kc, ak, a->rs, a->cs, bp, ldb, cp, ldc, nr, acc); break;
                    case 2: skinny_panel(2, kc, ak, a->rs, a->cs, bp, ldb, cp, ldc, nr, acc); break;
                    case 3: skinny_panel(3, kc, ak, a->rs, a->cs, bp, ldb, cp, ldc, nr, acc); break;
                    default: skinny_panel(4, kc, ak, a->rs, a->cs, bp, ldb, cp, ldc, nr, acc); break;
                }
                if (e && k0 + kc >= K) hf_epilogue_tile(e, cp, ldc, 0, M, n0, nr);
            }
            if (!b->packed) break;
        }
    }
}

/* Split the output among threads: a grid of tn x tm rectangles, aligned to NR and MR. Splitting N
 * repeats the packing of A (free when A was packed at compile time), splitting M repeats B's. */
static void gemm(int MR, long M, long N, long K, const operand* a, const operand* b, float* c, long ldc,
                 const hf_epilogue* e, int threads) {
    if (M <= HF_SKINNY && K > 0 && !a->packed && !a->conv && !b->conv && (b->packed || b->cs == 1)) {
        gemm_skinny(M, N, K, a, b, c, ldc, e, threads);
        return;
    }
    long tiles_m = (M + MR - 1) / MR, tiles_n = (N + HF_NR - 1) / HF_NR;
    if (threads > 1 && M * N * K < HF_PARALLEL_MIN_MACS) threads = 1;
    if (threads <= 1 || tiles_m * tiles_n == 1) {
        gemm_rect(MR, K, a, b, c, ldc, e, 0, M, 0, N);
        return;
    }
    long best_tn = 1, best_cost = -1;
    for (long tn = 1; tn <= threads; tn++) {
        if (threads % tn) continue;
        long tm = threads / tn;
        if (tn > tiles_n || tm > tiles_m) continue;
        long cost = ((tiles_n + tn - 1) / tn) * ((tiles_m + tm - 1) / tm);
        int prefer = a->packed ? tn > best_tn : tn < best_tn;
        if (best_cost < 0 || cost < best_cost || (cost == best_cost && prefer)) {
            best_cost = cost;
            best_tn = tn;
        }
    }
    long tn = best_tn, tm = best_cost < 0 ? 1 : threads / tn;
    if (best_cost < 0) tn = min_l(threads, tiles_n);
#pragma omp parallel num_threads((int)(tn * tm))
    {
        long t = omp_get_thread_num();
        long i = t % tn, j = t / tn;
        long n_lo = tiles_n * i / tn * HF_NR, n_hi = min_l(N, tiles_n * (i + 1) / tn * HF_NR);
        long m_lo = tiles_m * j / tm * MR, m_hi = min_l(M, tiles_m * (j + 1) / tm * MR);
        if (n_lo < n_hi && m_lo < m_hi) gemm_rect(MR, K, a, b, c, ldc, e, m_lo, m_hi, n_lo, n_hi);
    }
}

static void matmul_one(int MR, long i, long M, long N, long K,
                       const float* a, const float* a_packed, long a_bs, long a_rs, long a_cs,
                       const float* b, const float* b_packed, long b_bs, long b_rs, long b_cs,
                       float* c, long c_bs, const hf_epilogue* epi, long res_bs, int threads) {
    operand oa = {a_packed ? a_packed + i * a_bs : NULL, a ? a + i * a_bs : NULL, a_rs, a_cs, NULL, (M + MR - 1) / MR};
    operand ob = {b_packed ? b_packed + i * b_bs : NULL, b ? b + i * b_bs : NULL, b_rs, b_cs, NULL,
                  (N + HF_NR - 1) / HF_NR};
    hf_epilogue e;
    if (epi) {
        e = *epi;
        e.outer = i;
        if (e.res) e.res += i * res_bs;
    }
    gemm(MR, M, N, K, &oa, &ob, c + i * c_bs, N, epi ? &e : NULL, threads);
}

void hf_matmul(long batch, long M, long N, long K,
               const float* a, const float* a_packed, long a_bs, long a_rs, long a_cs,
               const float* b, const float* b_packed, long b_bs, long b_rs, long b_cs,
               float* c, long c_bs, const hf_epilogue* epi, long res_bs, int mr) {
    int threads = hf_get_threads(), MR = known_mr(mr);
    /* Many small products: one thread each, whole products. Few large ones: threads inside each. */
    int across = threads > 1 && batch >= threads && M * N * K < HF_PARALLEL_MIN_MACS * 4;
    if (across) {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (long i = 0; i < batch; i++)
            matmul_one(MR, i, M, N, K, a, a_packed, a_bs, a_rs, a_cs, b, b_packed, b_bs, b_rs, b_cs, c, c_bs, epi, res_bs,
                       1);
    } else {
        for (long i = 0; i < batch; i++)
            matmul_one(MR, i, M, N, K, a, a_packed, a_bs, a_rs, a_cs, b, b_packed, b_bs, b_rs, b_cs, c, c_bs, epi, res_bs,
                       threads);
    }
}

/* ------------------------------------------------------------------ convolution */
/* y[c, s] = t[s, c] for one group, then the epilogue on each block of channels while it is in cache. */
static void untranspose(const float* t, long n, long mg, float* y, const hf_epilogue* e, int threads) {
    long blocks = (mg + 15) / 16;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && n * mg > 65536)
    for (long blk = 0; blk < blocks; blk++) {
        long c0 = blk * 16, cb = min_l(16, mg - c0);
        for (long s = 0; s < n; s++)
            for (long c = 0; c < cb; c++) y[(c0 + c) * n + s] = t[s * mg + c0 + c];
        if (e) hf_epilogue_tile(e, y + c0 * n, n, c0, cb, 0, n);
    }
}

void hf_conv2d_gemm(const hf_conv2d* g, const float* x, const float* w_packed, float* y,
                    const hf_epilogue* epi, long res_bs, int mr, float* transposed) {
    long mg = g->m / g->group, cg = g->c / g->group;
    long K = cg * g->kh * g->kw, N = g->oh * g->ow;
    int MR = known_mr(mr);
    long w_group = transposed ? ((mg + HF_NR - 1) / HF_NR) * HF_NR * K : ((mg + MR - 1) / MR) * MR * K;
    int direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
    int threads = hf_get_threads();
    for (long bi = 0; bi < g->n; bi++) {
        for (long gi = 0; gi < g->group; gi++) {
            const float* xg = x + (bi * g->c + gi * cg) * g->h * g->w;
            hf_epilogue e;
            if (epi) {
                e = *epi;
                e.outer = bi;
                e.m_base = gi * mg;
                if (e.bias_m) e.bias_m += gi * mg;
                if (e.res) e.res += bi * res_bs + gi * mg * e.res_rs;
            }
            float* yg = y + (bi * g->m + gi * mg) * N;
            operand w = {w_packed + gi * w_group, NULL, 0, 0, NULL,
                         transposed ? (mg + HF_NR - 1) / HF_NR : (mg + MR - 1) / MR};
            if (transposed) {  /* pixels x channels, then back */
                operand xt = {NULL, xg, direct ? 1 : 0, direct ? N : 0, direct ? NULL : g, 0};
                gemm(MR, N, mg, K, &xt, &w, transposed, mg, NULL, threads);
                untranspose(transposed, N, mg, yg, epi ? &e : NULL, threads);
            } else {
                operand xb = {NULL, xg, direct ? N : 0, direct ? 1 : 0, direct ? NULL : g, 0};
                gemm(MR, mg, N, K, &w, &xb, yg, N, epi ? &e : NULL, threads);
            }
        }
    }
}
