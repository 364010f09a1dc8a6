/* The tick kernels for one floating-point type T, named NAME(x) = x_SUFFIX: included by kernels.c
 * once per type (see there for the equations and the layout). Every innermost loop runs over the
 * neurons of one block, holds no branch and is vectorised; the flags of the tick (bounded, ceiling,
 * noise, surrogate) choose whole loops. */

/* n[m] = ε n[m−1] + c ξ[m] for m = 1..M (equations.NOISE); out (M, size) */
void NAME(ou_sequence)(int steps, ptrdiff_t size, T decay, T scale, const T *start, const T *xi, T *out,
                       int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (ptrdiff_t first = 0; first < size; first += BLOCK) {
        const int J = size - first < BLOCK ? (int)(size - first) : BLOCK;
        T n[BLOCK];
        for (int j = 0; j < J; j++) n[j] = start[first + j];
        for (int m = 0; m < steps; m++) {
            const T *in = xi + (ptrdiff_t)m * size + first;
            T *to = out + (ptrdiff_t)m * size + first;
#pragma omp simd
            for (int j = 0; j < J; j++) {
                n[j] = decay * n[j] + scale * in[j];
                to[j] = n[j];
            }
        }
    }
}

/* I ← edge + width·softplus((I − edge)/width) (sign +1: the floor) or edge − width·softplus((edge −
   I)/width) (sign −1: the ceiling), softplus as the equations write it, max(y, 0) + log(1 + e^−|y|);
   slope ← dI'/dI = σ(y) */
static inline void NAME(soft_bound)(int J, T sign, const T *edge, T width, T *current, T *slope) {
#pragma omp simd
    for (int j = 0; j < J; j++) {
        const T y = sign * (current[j] - edge[j]) / width, magnitude = y >= 0 ? y : -y;
        const T tail = NAME(tail)(magnitude);
        slope[j] = (y >= 0 ? (T)1 : tail) / ((T)1 + tail);
        current[j] = edge[j] + sign * (width * ((y > 0 ? y : (T)0) + NAME(log1p)(tail)));
    }
}

/* one row b, neurons [first, first + J): the dendritic current of every sub-step, bounded, plus the
   noise: the drive x (M, R, N); the slopes of the bounds */
static void NAME(drive_row)(const TickShape *sh, int b, int first, int J, const T *pre, const T *filters,
                            const T *powers, const T *w, const T *bias, const T *threshold, const T *noise,
                            T *drives, T *floor_slopes, T *ceiling_slopes) {
    const int M = sh->steps, R = sh->rows, N = sh->neurons, K = sh->filters;
    const ptrdiff_t size = (ptrdiff_t)R * N, row = (ptrdiff_t)b * N + first;
    const T width = (T)sh->width;
    T base[BLOCK], gain[BLOCK], departure[MAX_FILTERS][BLOCK], floor[BLOCK], ceiling[BLOCK];
    for (int j = 0; j < J; j++) {
        const T theta = threshold[sh->threshold_per_sample ? row + j : first + j];
        floor[j] = sh->relative_floor ? theta - (T)sh->floor_margin : (T)sh->floor_value;
        ceiling[j] = theta + (T)sh->ceiling_margin;
        base[j] = bias[first + j];
    }
    for (int k = 0; k < K; k++) { /* Σ_k w_k a, then the departures w_k (f_k[0] − a) */
        const T *wk = w + (ptrdiff_t)k * N + first, *fk = filters + (ptrdiff_t)k * size + row;
        for (int j = 0; j < J; j++) gain[j] = k ? gain[j] + wk[j] : wk[j];
        for (int j = 0; j < J; j++) departure[k][j] = wk[j] * (fk[j] - pre[row + j]);
        if (k == K - 1)
            for (int j = 0; j < J; j++) base[j] = pre[row + j] * gain[j] + base[j];
    }
    for (int m = 0; m < M; m++) {
        const ptrdiff_t at = (ptrdiff_t)m * size + row;
        T *x = drives + at;
#pragma omp simd
        for (int j = 0; j < J; j++) x[j] = base[j];
        for (int k = 0; k < K; k++) {
            const T *p = powers + ((ptrdiff_t)m * K + k) * N + first;
#pragma omp simd
            for (int j = 0; j < J; j++) x[j] = x[j] + departure[k][j] * p[j];
        }
        if (sh->bounded) {
            NAME(soft_bound)(J, (T)1, floor, width, x, floor_slopes + at);
            if (sh->ceiling_margin != 0) NAME(soft_bound)(J, (T)-1, ceiling, width, x, ceiling_slopes + at);
        }
        if (noise) {
#pragma omp simd
            for (int j = 0; j < J; j++) x[j] = x[j] + noise[at + j];
        }
    }
}

void NAME(tick_forward)(const TickShape *sh, const T *pre, const T *filters, const T *powers, const T *w,
                        const T *bias, const T *threshold, const T *noise, const T *v0, const T *s0, const T *u0,
                        const T *r0, const T *beta, const T *strength, const T *decay, T *spikes, T *membranes,
                        T *adaptations, T *open_mask, T *drives, T *floor_slopes, T *ceiling_slopes, T *count,
                        T *last_filters, T *refractory_out) {
    const int M = sh->steps, R = sh->rows, N = sh->neurons, K = sh->filters;
    const int blocks = (N + BLOCK - 1) / BLOCK;
    const ptrdiff_t size = (ptrdiff_t)R * N;
    const T closed = (T)sh->refractory_steps;
#pragma omp parallel for collapse(2) num_threads(sh->threads) schedule(static)
    for (int b = 0; b < R; b++) {
        for (int block = 0; block < blocks; block++) {
            const int first = block * BLOCK, J = N - first < BLOCK ? N - first : BLOCK;
            const ptrdiff_t row = (ptrdiff_t)b * N + first;
            NAME(drive_row)(sh, b, first, J, pre, filters, powers, w, bias, threshold, noise, drives,
                            floor_slopes, ceiling_slopes);
            T v[BLOCK], s[BLOCK], u[BLOCK], r[BLOCK], total[BLOCK], theta[BLOCK];
            for (int j = 0; j < J; j++) {
                v[j] = v0[row + j], s[j] = s0[row + j], u[j] = u0[row + j], r[j] = r0[row + j], total[j] = 0;
                theta[j] = threshold[sh->threshold_per_sample ? row + j : first + j];
            }
            /* LIF runs as ALIF with κ = ρ = 0 (same v and s); no refractory period: r stays 0, o = 1 */
            const T *kappa = strength + first, *rho = decay + first, *leak_of = beta + first;
            for (int m = 0; m < M; m++) {
                const ptrdiff_t at = (ptrdiff_t)m * size + row;
                const T *x = drives + at;
                T *vm = membranes + at, *sm = spikes + at, *um = adaptations + at, *om = open_mask + at;
#pragma omp simd
                for (int j = 0; j < J; j++) {
                    const T open = r[j] < (T)0.5 ? (T)1 : (T)0;
                    const T previous = theta[j] + kappa[j] * u[j];
                    u[j] = s[j] + rho[j] * u[j];
                    const T current = theta[j] + kappa[j] * u[j];
                    T volt = v[j] + (open * ((T)1 - leak_of[j])) * (x[j] - v[j]);
                    volt = volt + (-previous) * s[j];
                    const T spike = (volt > current ? (T)1 : (T)0) * open;
                    const T countdown = r[j] - (T)1, reset = spike * closed;
                    r[j] = countdown > reset ? countdown : reset;
                    v[j] = volt, s[j] = spike, total[j] = total[j] + spike;
                    vm[j] = volt, sm[j] = spike, um[j] = u[j], om[j] = open;
                }
            }
            for (int j = 0; j < J; j++) count[row + j] = total[j], refractory_out[row + j] = r[j];
            for (int k = 0; k < K; k++) {
                const T *fk = filters + (ptrdiff_t)k * size + row, *p = powers + ((ptrdiff_t)(M - 1) * K + k) * N + first;
                T *out = last_filters + (ptrdiff_t)k * size + row;
                for (int j = 0; j < J; j++) out[j] = pre[row + j] + (fk[j] - pre[row + j]) * p[j];
            }
        }
    }
}

/* The forward's spikes, membranes, adaptations, open mask, drives and slopes (M, R, N) in; the
   incoming gradients of the count, membrane, spike, adaptation (R, N) and filters after the tick
   (K, R, N), each NULL for zero; out, zeroed by the caller: the gradients of pre (R, N), filters
   (K, R, N), powers (M, K, N), w (K, N), bias (N,), θ (shaped like θ), v0, s0, u0 (R, N), β, κ, ρ
   (N,). */
void NAME(tick_backward)(const TickShape *sh, const T *pre, const T *filters, const T *powers, const T *w,
                         const T *threshold, const T *v0, const T *s0, const T *u0, const T *beta,
                         const T *strength, const T *decay, const T *spikes, const T *membranes,
                         const T *adaptations, const T *open_mask, const T *drives, const T *floor_slopes,
                         const T *ceiling_slopes, const T *g_count, const T *g_membrane, const T *g_spike,
                         const T *g_adaptation, const T *g_last_filters, T *grad_pre, T *grad_filters,
                         T *grad_powers, T *grad_w, T *grad_bias, T *grad_threshold, T *grad_v0, T *grad_s0,
                         T *grad_u0, T *grad_beta, T *grad_strength, T *grad_decay) {
    const int M = sh->steps, R = sh->rows, N = sh->neurons, K = sh->filters;
    const int blocks = (N + BLOCK - 1) / BLOCK, ceiled = sh->bounded && sh->ceiling_margin != 0;
    const T slope = (T)sh->slope, atan_scale = (T)(M_PI / 2) * (T)sh->slope, relative = (T)sh->relative_floor;
    const ptrdiff_t size = (ptrdiff_t)R * N;
    static const T nothing[BLOCK] = {0};
#pragma omp parallel for num_threads(sh->threads) schedule(static)
    for (int block = 0; block < blocks; block++) {
        const int first = block * BLOCK, J = N - first < BLOCK ? N - first : BLOCK;
        const T *kappa = strength + first, *rho = decay + first;
        T leak[BLOCK], beta_sum[BLOCK] = {0}, kappa_sum[BLOCK] = {0}, rho_sum[BLOCK] = {0}, bias_sum[BLOCK] = {0};
        for (int j = 0; j < J; j++) leak[j] = (T)1 - beta[first + j];
        for (int b = 0; b < R; b++) {
            const ptrdiff_t row = (ptrdiff_t)b * N + first;
            T theta[BLOCK], count_in[BLOCK], next_v[BLOCK] = {0}, next_u[BLOCK] = {0}, next_carry[BLOCK] = {0};
            T g_a[BLOCK] = {0}, g_theta[BLOCK] = {0}, sigma[BLOCK], g_c[BLOCK], g_t[BLOCK];
            for (int j = 0; j < J; j++) {
                theta[j] = threshold[sh->threshold_per_sample ? row + j : first + j];
                count_in[j] = g_count ? g_count[row + j] : (T)0;
            }
            for (int m = M - 1; m >= 0; m--) {
                const ptrdiff_t at = (ptrdiff_t)m * size + row;
                const int last = m == M - 1;
                const T *in_s = last && g_spike ? g_spike + row : nothing;
                const T *in_v = last && g_membrane ? g_membrane + row : nothing;
                const T *in_u = last && g_adaptation ? g_adaptation + row : nothing;
                const T *o = open_mask + at, *vm = membranes + at, *sm = spikes + at, *um = adaptations + at;
                const T *v_before = m ? membranes + at - size : v0 + row;
                const T *s_before = m ? spikes + at - size : s0 + row;
                const T *u_before = m ? adaptations + at - size : u0 + row;
                const T *x = drives + at;
                if (sh->surrogate == 0) {
#pragma omp simd
                    for (int j = 0; j < J; j++) {
                        const T y = atan_scale * (vm[j] - (theta[j] + kappa[j] * um[j]));
                        sigma[j] = o[j] * ((slope / 2) / ((T)1 + y * y));
                    }
                } else {
#pragma omp simd
                    for (int j = 0; j < J; j++) {
                        const T d = vm[j] - (theta[j] + kappa[j] * um[j]);
                        const T y = slope * (d >= 0 ? d : -d) + (T)1;
                        sigma[j] = o[j] * ((T)1 / (y * y));
                    }
                }
#pragma omp simd
                for (int j = 0; j < J; j++) { /* the soma's adjoints (substeps.py), ϑ'[m+1] = θ + κ u[m] */
                    const T fire = theta[j] + kappa[j] * um[j];
                    T g_s = count_in[j] + in_s[j];
                    g_s = g_s - fire * next_v[j] + next_u[j];
                    const T g_v = (in_v[j] + next_v[j] * next_carry[j]) + sigma[j] * g_s;
                    T g_u = sigma[j] * g_s + sm[j] * next_v[j];
                    g_u = g_u * (-kappa[j]) + rho[j] * next_u[j] + in_u[j];
                    kappa_sum[j] += -(g_s * sigma[j] * um[j]) - g_v * u_before[j] * s_before[j];
                    rho_sum[j] += g_u * u_before[j];
                    beta_sum[j] += -(g_v * o[j] * (x[j] - v_before[j]));
                    g_t[j] = g_theta[j] - g_s * sigma[j] - g_v * s_before[j];
                    g_c[j] = g_v * o[j] * leak[j]; /* ∂L/∂x[m] */
                    next_v[j] = g_v, next_u[j] = g_u, next_carry[j] = (T)1 - o[j] * leak[j];
                }
                if (ceiled) {
                    const T *c = ceiling_slopes + at;
#pragma omp simd
                    for (int j = 0; j < J; j++) g_t[j] = g_t[j] + g_c[j] * ((T)1 - c[j]), g_c[j] = g_c[j] * c[j];
                }
                if (sh->bounded) {
                    const T *f = floor_slopes + at;
#pragma omp simd
                    for (int j = 0; j < J; j++) g_t[j] = g_t[j] + relative * (g_c[j] * ((T)1 - f[j])), g_c[j] = g_c[j] * f[j];
                }
#pragma omp simd
                for (int j = 0; j < J; j++) g_theta[j] = g_t[j], bias_sum[j] += g_c[j];
                for (int k = 0; k < K; k++) { /* I[m] = a Σ w + b + Σ_k w_k (f_k − a) P_k[m] */
                    const T *p = powers + ((ptrdiff_t)m * K + k) * N + first, *wk = w + (ptrdiff_t)k * N + first;
                    const T *fk = filters + (ptrdiff_t)k * size + row;
                    T *gw = grad_w + (ptrdiff_t)k * N + first, *gf = grad_filters + (ptrdiff_t)k * size + row;
                    T *gp = grad_powers + ((ptrdiff_t)m * K + k) * N + first;
#pragma omp simd
                    for (int j = 0; j < J; j++) {
                        const T a = pre[row + j];
                        g_a[j] = g_a[j] + g_c[j] * (wk[j] - wk[j] * p[j]);
                        gw[j] += g_c[j] * (a + (fk[j] - a) * p[j]);
                        gf[j] += g_c[j] * wk[j] * p[j];
                        gp[j] += g_c[j] * wk[j] * (fk[j] - a);
                    }
                }
                if (m == 0) {
                    for (int j = 0; j < J; j++) {
                        grad_v0[row + j] = next_v[j] * next_carry[j];
                        grad_s0[row + j] = -(theta[j] + kappa[j] * u0[row + j]) * next_v[j] + next_u[j];
                        grad_u0[row + j] = rho[j] * next_u[j] - kappa[j] * s0[row + j] * next_v[j];
                    }
                }
            }
            if (g_last_filters) {
                for (int k = 0; k < K; k++) {
                    const T *p = powers + ((ptrdiff_t)(M - 1) * K + k) * N + first;
                    const T *fk = filters + (ptrdiff_t)k * size + row, *g = g_last_filters + (ptrdiff_t)k * size + row;
                    T *gf = grad_filters + (ptrdiff_t)k * size + row, *gp = grad_powers + ((ptrdiff_t)(M - 1) * K + k) * N + first;
                    for (int j = 0; j < J; j++) {
                        g_a[j] = g_a[j] + g[j] * ((T)1 - p[j]);
                        gf[j] += g[j] * p[j];
                        gp[j] += g[j] * (fk[j] - pre[row + j]);
                    }
                }
            }
            for (int j = 0; j < J; j++) {
                grad_pre[row + j] = g_a[j];
                if (sh->threshold_per_sample) grad_threshold[row + j] = g_theta[j];
                else grad_threshold[first + j] += g_theta[j];
            }
        }
        for (int j = 0; j < J; j++) {
            grad_beta[first + j] = beta_sum[j], grad_bias[first + j] = bias_sum[j];
            grad_strength[first + j] = kappa_sum[j], grad_decay[first + j] = rho_sum[j];
        }
    }
}
