/* hetflow cpu_c runtime: the kernels real models need beyond the core set (issue 9 item 5).
 *
 * Gather, padding in every mode, instance / group norm, resize by per-axis tap tables, transposed
 * convolution, 3-D convolution and pooling. Every index a kernel reads with comes from the compiled
 * graph's static shapes, except gather's indices, which are data: those are checked, and a bad one
 * sets the status the executable reads after the call (never a read outside the tensor).
 */
#include "hf_runtime.h"

#include <stdlib.h>

/* One status per calling thread: a graph's kernels run on the thread that called the graph, so two graphs run
 * on two threads never see each other's error. A kernel takes its caller's slot before its parallel region
 * (an OpenMP worker has its own thread-local copy) and its workers flag that slot. */
static __thread int hf_status_code = 0;

int* hf_status_slot(void) { return &hf_status_code; }

static inline void hf_flag(int* slot, int code) { __atomic_store_n(slot, code, __ATOMIC_RELAXED); }

int hf_take_status(void) { return __atomic_exchange_n(&hf_status_code, 0, __ATOMIC_RELAXED); }

/* ------------------------------------------------------------------ gather */
void hf_gather(const char* x, const void* idx, int idx64, long n_idx, long outer, long axis_len, long inner_bytes,
               char* y) {
    int* status = hf_status_slot();
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (outer * n_idx * inner_bytes > (1L << 18))
    for (long o = 0; o < outer; o++) {
        for (long j = 0; j < n_idx; j++) {
            long k = idx64 ? (long)((const int64_t*)idx)[j] : (long)((const int32_t*)idx)[j];
            if (k < 0) k += axis_len;
            char* dst = y + (o * n_idx + j) * inner_bytes;
            if (k < 0 || k >= axis_len) {
                memset(dst, 0, (size_t)inner_bytes);
                hf_flag(status, HF_STATUS_INDEX);
                continue;
            }
            memcpy(dst, x + (o * axis_len + k) * inner_bytes, (size_t)inner_bytes);
        }
    }
}

/* y[p] = x[p with axis replaced by idx[p]] over y's N-d index space (row-major); x strides in elements. */
void hf_gather_elements(int rank, const long* out_shape, const long* x_strides, int axis, long axis_len,
                        const void* idx, int idx64, const char* x, char* y, long elem) {
    long total = 1;
    for (int d = 0; d < rank; d++) total *= out_shape[d];
    int* status = hf_status_slot();
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (total * elem > (1L << 18))
    for (long i = 0; i < total; i++) {
        long rest = i, offset = 0;
        long k = idx64 ? (long)((const int64_t*)idx)[i] : (long)((const int32_t*)idx)[i];
        if (k < 0) k += axis_len;
        if (k < 0 || k >= axis_len) {
            memset(y + i * elem, 0, (size_t)elem);
            hf_flag(status, HF_STATUS_INDEX);
            continue;
        }
        for (int d = rank - 1; d >= 0; d--) {
            long p = rest % out_shape[d];
            rest /= out_shape[d];
            offset += (d == axis ? k : p) * x_strides[d];
        }
        memcpy(y + i * elem, x + offset * elem, (size_t)elem);
    }
}

/* ------------------------------------------------------------------ pad */
/* The source index of output position i along a dim of n (after cropping), begin-padded by b; -1: the constant. */
static long pad_source(long i, long b, long n, int mode) {
    long j = i - b;
    if (j >= 0 && j < n) return j;
    if (mode == HF_PAD_CONSTANT || n == 0) return -1;
    if (mode == HF_PAD_EDGE) return j < 0 ? 0 : n - 1;
    if (mode == HF_PAD_WRAP) return ((j % n) + n) % n;
    if (n == 1) return 0; /* reflect of one element repeats it */
    long period = 2 * (n - 1);
    long r = ((j % period) + period) % period;
    return r < n ? r : period - r;
}

void hf_pad(int rank, const long* out_shape, const long* in_shape, const long* begin, const long* in_strides,
            int mode, const char* x, char* y, const void* value, long elem) {
    long rows = 1;
    for (int d = 0; d < rank - 1; d++) rows *= out_shape[d];
    long width = rank ? out_shape[rank - 1] : 1;
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (rows * width * elem > (1L << 18))
    for (long r = 0; r < rows; r++) {
        long rest = r, offset = 0;
        int constant = 0;
        for (int d = rank - 2; d >= 0; d--) {
            long i = rest % out_shape[d];
            rest /= out_shape[d];
            long s = pad_source(i, begin[d], in_shape[d], mode);
            if (s < 0) constant = 1;
            else offset += s * in_strides[d];
        }
        char* dst = y + r * width * elem;
        for (long i = 0; i < width; i++) {
            long s = rank ? pad_source(i, begin[rank - 1], in_shape[rank - 1], mode) : 0;
            if (constant || s < 0) memcpy(dst + i * elem, value, (size_t)elem);
            else memcpy(dst + i * elem, x + (offset + s * (rank ? in_strides[rank - 1] : 0)) * elem, (size_t)elem);
        }
    }
}

/* ------------------------------------------------------------------ instance / group norm */
void hf_group_norm(const float* x, const float* scale, const float* bias, float* y, long n, long c, long groups,
                   long spatial, float eps) {
    long cg = c / groups, span = cg * spatial;
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (n * c * spatial > 8192)
    for (long q = 0; q < n * groups; q++) {
        const float* xq = x + q * span;
        float* yq = y + q * span;
        double sum = 0.0;
        for (long i = 0; i < span; i++) sum += xq[i];
        float mean = (float)(sum / (double)span);
        double sq = 0.0;
        for (long i = 0; i < span; i++) {
            double d = (double)(xq[i] - mean);
            sq += d * d;
        }
        float inv = 1.0f / sqrtf((float)(sq / (double)span) + eps);
        long g = q % groups;
        for (long ch = 0; ch < cg; ch++) {
            long channel = g * cg + ch;
            float a = inv * scale[channel], b = bias[channel];
            const float* xc = xq + ch * spatial;
            float* yc = yq + ch * spatial;
#pragma omp simd
            for (long i = 0; i < spatial; i++) yc[i] = (xc[i] - mean) * a + b;
        }
    }
}

/* ------------------------------------------------------------------ resize */
/* y[o...] = sum over the taps of every axis of prod(weights) * x[sum of tap offsets]; the tables hold, per axis
 * and output position, `taps[d]` element offsets into x and their weights (computed when the C is written). */
void hf_resize(int rank, const long* out_shape, const long* taps, const long* const* offsets,
               const double* const* weights, const float* x, float* y) {
    long rows = 1;
    for (int d = 0; d < rank - 1; d++) rows *= out_shape[d];
    long width = out_shape[rank - 1], tw = taps[rank - 1];
    long combos = 1;
    for (int d = 0; d < rank - 1; d++) combos *= taps[d];
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (rows * width > 16384)
    for (long r = 0; r < rows; r++) {
        long pos[64];
        long rest = r;
        for (int d = rank - 2; d >= 0; d--) {
            pos[d] = rest % out_shape[d];
            rest /= out_shape[d];
        }
        float* dst = y + r * width;
        for (long i = 0; i < width; i++) {
            double acc = 0.0;
            for (long c = 0; c < combos; c++) {
                long cr = c, base = 0;
                double w = 1.0;
                for (int d = rank - 2; d >= 0; d--) {
                    long t = cr % taps[d];
                    cr /= taps[d];
                    base += offsets[d][pos[d] * taps[d] + t];
                    w *= weights[d][pos[d] * taps[d] + t];
                }
                for (long t = 0; t < tw; t++)
                    acc += w * weights[rank - 1][i * tw + t] * (double)x[base + offsets[rank - 1][i * tw + t]];
            }
            dst[i] = (float)acc;
        }
    }
}

/* ------------------------------------------------------------------ transposed convolution */
/* Each output plane (sample, channel) gathers from the input pixels whose windows cover it: no write races. */
void hf_conv_transpose2d(const hf_conv2d* g, const float* x, const float* w, const float* bias, float* y) {
    long cg = g->c / g->group, mg = g->m / g->group;
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (g->n * g->m * g->oh * g->ow > 4096)
    for (long q = 0; q < g->n * g->m; q++) {
        long b = q / g->m, m = q % g->m, grp = m / mg, mm = m % mg;
        float* yp = y + q * g->oh * g->ow;
        float init = bias ? bias[m] : 0.0f;
        for (long i = 0; i < g->oh * g->ow; i++) yp[i] = init;
        for (long ci = 0; ci < cg; ci++) {
            long c = grp * cg + ci;
            const float* xp = x + (b * g->c + c) * g->h * g->w;
            const float* wp = w + (c * mg + mm) * g->kh * g->kw;
            for (long ih = 0; ih < g->h; ih++)
                for (long kh = 0; kh < g->kh; kh++) {
                    long oh = ih * g->sh - g->ph + kh * g->dh;
                    if (oh < 0 || oh >= g->oh) continue;
                    for (long iw = 0; iw < g->w; iw++) {
                        float xv = xp[ih * g->w + iw];
                        for (long kw = 0; kw < g->kw; kw++) {
                            long ow = iw * g->sw - g->pw + kw * g->dw;
                            if (ow >= 0 && ow < g->ow) yp[oh * g->ow + ow] += xv * wp[kh * g->kw + kw];
                        }
                    }
                }
        }
    }
}

/* ------------------------------------------------------------------ 3-D convolution and pooling */
void hf_conv3d(const hf_geom3d* g, const float* x, const float* w, const float* bias, float* y) {
    long cg = g->c / g->group, mg = g->m / g->group, out = g->od * g->oh * g->ow, in = g->d * g->h * g->w;
    long k = g->kd * g->kh * g->kw;
#pragma omp parallel for collapse(2) num_threads(hf_get_threads()) schedule(static) if (g->n * g->m * out > 4096)
    for (long q = 0; q < g->n * g->m; q++)
        for (long od = 0; od < g->od; od++) {
            long b = q / g->m, m = q % g->m, grp = m / mg;
            for (long oh = 0; oh < g->oh; oh++)
                for (long ow = 0; ow < g->ow; ow++) {
                    double acc = bias ? bias[m] : 0.0;
                    for (long ci = 0; ci < cg; ci++) {
                        const float* xp = x + (b * g->c + grp * cg + ci) * in;
                        const float* wp = w + (m * cg + ci) * k;
                        for (long kd = 0; kd < g->kd; kd++) {
                            long id = od * g->sd - g->pd + kd * g->dd;
                            if (id < 0 || id >= g->d) continue;
                            for (long kh = 0; kh < g->kh; kh++) {
                                long ih = oh * g->sh - g->ph + kh * g->dh;
                                if (ih < 0 || ih >= g->h) continue;
                                for (long kw = 0; kw < g->kw; kw++) {
                                    long iw = ow * g->sw - g->pw + kw * g->dw;
                                    if (iw < 0 || iw >= g->w) continue;
                                    acc += (double)xp[(id * g->h + ih) * g->w + iw] *
                                           wp[(kd * g->kh + kh) * g->kw + kw];
                                }
                            }
                        }
                    }
                    y[q * out + (od * g->oh + oh) * g->ow + ow] = (float)acc;
                }
        }
}

void hf_pool3d(const hf_geom3d* g, const float* x, float* y, int is_max, int count_include_pad, const long* end_pads) {
    long out = g->od * g->oh * g->ow, in = g->d * g->h * g->w;
#pragma omp parallel for num_threads(hf_get_threads()) schedule(static) if (g->n * g->c * out > 4096)
    for (long q = 0; q < g->n * g->c; q++) {
        const float* xp = x + q * in;
        for (long od = 0; od < g->od; od++)
            for (long oh = 0; oh < g->oh; oh++)
                for (long ow = 0; ow < g->ow; ow++) {
                    float best = -HUGE_VALF;
                    double sum = 0.0;
                    long count = 0, padded = 0;
                    for (long kd = 0; kd < g->kd; kd++)
                        for (long kh = 0; kh < g->kh; kh++)
                            for (long kw = 0; kw < g->kw; kw++) {
                                long id = od * g->sd - g->pd + kd * g->dd, ih = oh * g->sh - g->ph + kh * g->dh;
                                long iw = ow * g->sw - g->pw + kw * g->dw;
                                int inside = id >= 0 && id < g->d && ih >= 0 && ih < g->h && iw >= 0 && iw < g->w;
                                int in_pads = id < g->d + end_pads[0] && ih < g->h + end_pads[1] &&
                                              iw < g->w + end_pads[2];
                                if (!inside) {
                                    padded += in_pads;
                                    continue;
                                }
                                float v = xp[(id * g->h + ih) * g->w + iw];
                                if (v > best || v != v) best = (best != best) ? best : v;
                                sum += v;
                                count++;
                            }
                    long divisor = count_include_pad ? count + padded : count;
                    y[q * out + (od * g->oh + oh) * g->ow + ow] =
                        is_max ? best : (divisor ? (float)(sum / (double)divisor) : 0.0f);
                }
    }
}
