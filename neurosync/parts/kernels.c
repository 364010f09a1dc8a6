/* The spiking tick's sub-step loops in compiled C, forward and backward (see kernels.py).
 *
 * One tick holds the pre-activation a for M sub-steps. Per neuron (b, n), with K dendritic
 * filters f_k of decay α_k, filter weights w_k, bias b and P_k[m] = α_k^(m+1) (given):
 *
 *     I[m]  = a Σ_k w_k + b + Σ_k w_k (f_k[0] − a) P_k[m]        the filters in closed form
 *     I'[m] = ceiling(floor(I[m]))                               equations.CURRENT_FLOOR, _CEILING
 *     x[m]  = I'[m] + z[m]                                       z: the noise currents (given)
 *     soma: o, v, s, u, r as in equations.OPEN, MEMBRANE, SPIKE, ADAPTATION, COUNTDOWN
 *
 * and the outputs are the tick's spike count Σ_m s[m], the filters after the tick
 * f_k[M] = a + (f_k[0] − a) P_k[M−1], and the soma state after the last sub-step. The backward
 * walks the sub-steps in reverse with the surrogate derivative of the spike (the adjoints of
 * substeps.py) and reduces every parameter's gradient over the batch in the same pass.
 *
 * Loops (kernels_tick.h): blocks of BLOCK neurons; the innermost loops run over the neurons of a
 * block, contiguous in memory, and are vectorised. Threads take whole blocks (and, in the
 * forward, rows), so each per-neuron sum has one writer and the result does not depend on the
 * number of threads. In float32 the soft bounds use the exponential and log1p below (within a
 * few ulp of libm, and vectorisable); float64 uses libm.
 *
 * Layout: sequences (M, R, N), states (R, N), filters (K, R, N), powers (M, K, N), filter
 * weights (K, N), per-neuron parameters (N,); the threshold is (N,) or, per sample, (R, N).
 * All contiguous.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define BLOCK 32      /* neurons per block: one vectorised loop */
#define MAX_FILTERS 16 /* dendritic filters per neuron the kernels take */

typedef struct {
    int steps, rows, neurons, filters;
    int threshold_per_sample; /* θ (R, N) instead of (N,) */
    int bounded;              /* 0: I' = I */
    int relative_floor;       /* floor θ − floor_margin, else floor_value */
    double floor_value, floor_margin, ceiling_margin, width; /* ceiling_margin 0: no ceiling */
    int refractory_steps;
    int surrogate; /* 0: atan, 1: fast sigmoid */
    double slope;
    int threads;
} TickShape;

/* read by kernels.py (max_filters): the one statement of the limit */
const int neurosync_max_filters = MAX_FILTERS;

/* e^−a for a ≥ 0: Cody–Waite reduction and a degree-7 polynomial, within 2 ulp of expf; 0 from
   a = 40 on, where 1 + e^−a is 1 in float32 and the square of e^−a below would be subnormal
   (arithmetic on subnormals is slow) */
static inline float tail_f32(float a) {
    const float x = -(a < 40.0f ? a : 40.0f);
    const int n = (int)(x * 1.44269504088896341f - 0.5f); /* round(x / ln 2), x ≤ 0 */
    const float r = (x - (float)n * 0.693359375f) - (float)n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return a < 40.0f ? p * scale : 0.0f;
}

/* log(1 + e) for e in [0, 1]: 2 atanh(z), z = e / (2 + e) ≤ 1/3, by its series to z^17 */
static inline float log1p_f32(float e) {
    const float z = e / (2.0f + e), q = z * z;
    float p = 1.0f / 17.0f;
    p = p * q + 1.0f / 15.0f;
    p = p * q + 1.0f / 13.0f;
    p = p * q + 1.0f / 11.0f;
    p = p * q + 1.0f / 9.0f;
    p = p * q + 1.0f / 7.0f;
    p = p * q + 1.0f / 5.0f;
    p = p * q + 1.0f / 3.0f;
    p = p * q + 1.0f;
    return 2.0f * z * p;
}

static inline double tail_f64(double a) { return a < 708.0 ? exp(-a) : 0.0; }
static inline double log1p_f64(double e) { return log1p(e); }

#define CONCAT_(a, b) a##_##b
#define CONCAT(a, b) CONCAT_(a, b)
#define NAME(x) CONCAT(x, SUFFIX)

#define T float
#define SUFFIX f32
#include "kernels_tick.h"
#undef T
#undef SUFFIX

#define T double
#define SUFFIX f64
#include "kernels_tick.h"
