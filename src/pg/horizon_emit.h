/*-------------------------------------------------------------------------
 *
 * horizon_emit.h
 *	  The applied horizon that local write transactions and the manager's
 *	  heartbeat send to the peers (horizon_emit.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MMR_HORIZON_EMIT_H
#define MMR_HORIZON_EMIT_H

extern void mmr_horizon_emit_init(void);
extern void mmr_horizon_emit_disable(void);
extern void mmr_horizon_heartbeat(void);

#endif							/* MMR_HORIZON_EMIT_H */
