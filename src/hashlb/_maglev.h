/* hashlb Maglev: the C constants of _maglev_c.pyx.
 *
 * Envoy's fill counts rounds in a uint32_t (spec envoy-lb.md section 5,
 * step 3 of the _maglev_py.py module docstring).  _next_turn and the heap
 * of next turns in _maglev_c.pyx work on uint64_t round numbers, with
 * HLB_LAST_ITERATION the last round Envoy can reach and HLB_NEVER for a
 * host that is never due again.
 */
#ifndef HASHLB_MAGLEV_H
#define HASHLB_MAGLEV_H

#include <stdint.h>

#define HLB_LAST_ITERATION ((uint64_t)0xFFFFFFFFu)
#define HLB_NEVER (~(uint64_t)0)

#endif /* HASHLB_MAGLEV_H */
