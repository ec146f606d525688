/* nt_profile.h - per-layer timing of training steps (--profile).
 *
 * The generated forward and backward read the clock after every layer when
 * m->prof is set, and do nothing else when it is not (one pointer test per
 * layer):
 *
 *     double t = nt_prof_start(m);
 *     nt_conv2d_forward(...);
 *     t = nt_prof_lap(m, t, 1, NT_PROF_FORWARD);   (layer 1 = IR node 1)
 *
 * model.c and trainer.c time the other parts of a step the same way
 * (nt_prof_phase). profile.c keeps the sums and prints the table: each
 * layer's forward and backward time per step, its share of the step and its
 * GFLOP/s, grouped by block call as `netc shapes` groups them, then the data,
 * loss, zeroing and optimizer time. The layer and group tables (names, FLOPs)
 * are emitted by the compiler into the nt_net_desc.
 */
#ifndef NT_PROFILE_H
#define NT_PROFILE_H

#include <stdio.h>

#include "nt_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nt_prof_pass { NT_PROF_FORWARD, NT_PROF_BACKWARD } nt_prof_pass;

/* The parts of a training step that are not layers. */
typedef enum nt_prof_phase_id {
    NT_PROF_DATA,        /* batch preparation (feed: convert, resize) */
    NT_PROF_ZERO,        /* zeroing the parameter gradients */
    NT_PROF_LOSS,        /* softmax cross-entropy, forward and backward */
    NT_PROF_OPTIMIZER,   /* the SGD step over every trainable tensor */
    NT_PROF_NPHASES
} nt_prof_phase_id;

typedef struct nt_profile nt_profile;
struct nt_net_desc;

/* Seconds on a monotonic clock. */
double nt_now(void);

/* For a net with nlayers layers; NULL (with a message) if out of memory. */
nt_profile *nt_profile_alloc(const struct nt_net_desc *net, nt_error *err);
void nt_profile_free(nt_profile *p);
/* Forgets every sum (after warm-up steps, between epochs). */
void nt_profile_reset(nt_profile *p);

/* Adds now - t to layer's pass, or to phase; returns now. */
double nt_profile_lap(nt_profile *p, double t, int layer, nt_prof_pass pass);
double nt_profile_phase(nt_profile *p, double t, nt_prof_phase_id phase);

/* Prints the table for `steps` training steps of `examples` examples in
 * all, which took `wall` seconds. */
void nt_profile_print(FILE *f, const nt_profile *p, int steps, long examples,
                      double wall);

/* The calls generated code and the driver make; free when m->prof is NULL. */
#define nt_prof_start(m) ((m)->prof ? nt_now() : 0.0)
#define nt_prof_lap(m, t, layer, pass) \
    ((m)->prof ? nt_profile_lap((m)->prof, (t), (layer), (pass)) : 0.0)
#define nt_prof_phase(m, t, phase) \
    ((m)->prof ? nt_profile_phase((m)->prof, (t), (phase)) : 0.0)

#ifdef __cplusplus
}
#endif

#endif
