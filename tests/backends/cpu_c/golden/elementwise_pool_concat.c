/* hetflow cpu_c: graph 'golden' (6 units, 1 segments).
 * Generated: edit hetflow/backends/cpu_c, not this file. */
#include "hf_runtime.h"

typedef struct hf_frame { char* arena; void** k; void** in; } hf_frame;

void hf_segment_0(char* arena, void** k, void** in, int threads) {
    const hf_frame frame = {arena, k, in};
    (void)frame; (void)k; (void)in;
    hf_set_threads(threads);
    /* shift (add), gate (sigmoid), swish (mul) */
    {
        float* restrict y = ((float*)(arena + 0L));
        const float* p0 = ((float*)in[0]);
        const float* p1 = ((float*)k[0]);
        for (long i0 = 0; i0 < 4L; i0++) {
            #pragma omp simd
            for (long i1 = 0; i1 < 64L; i1++) {
                float x2 = p0[i0 * 64L + i1 * 1L];
                float x3 = p1[i0 * 1L];
                float t4 = (float)(x2 + x3);
                float t5 = (float)hf_sigmoid(t4);
                float t6 = (float)(t5 * x2);
                y[i0 * 64L + i1 * 1L] = t6;
            }
        }
    }
    /* pool (max_pool) */
    { static const hf_pool2d p = { .n = 1, .c = 4, .h = 8, .w = 8, .oh = 4, .ow = 4, .kh = 2, .kw = 2, .sh = 2, .sw = 2, .ph = 0, .pw = 0, .dh = 1, .dw = 1, .pe_h = 0, .pe_w = 0, .count_include_pad = 0 };
      hf_max_pool2d(&p, ((float*)(arena + 0L)), ((float*)(arena + 1024L))); }
    /* neg (neg) */
    {
        float* restrict y = ((float*)(arena + 1280L));
        const float* p7 = ((float*)(arena + 1024L));
    #pragma omp simd
        for (long i0 = 0; i0 < 64L; i0++) {
            float x8 = p7[i0 * 1L];
            float t9 = (float)(-x8);
            y[i0 * 1L] = t9;
        }
    }
    /* cat (concat) */
    /* every input was produced in place */
    /* rows (reshape) */
    /* a view: no code */
    /* prob (softmax) */
    hf_softmax(((float*)(arena + 1024L)), ((float*)(arena + 0L)), 8, 16, 1, 0);
}
