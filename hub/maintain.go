package hub

import (
	"context"
	"time"
)

// expireBatch bounds the notifications one expiry pass removes.
const expireBatch = 500

// maintain runs the store's housekeeping until Shutdown: expired notifications are
// removed (their "notification:deleted" events announced) every ExpiryInterval, and
// retention is enforced every PruneInterval, the first time soon after start.
func (h *Hub) maintain() {
	ctx := h.life.bg
	expiry := time.NewTicker(h.cfg.ExpiryInterval)
	defer expiry.Stop()
	prune := time.NewTimer(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			h.expire(ctx)
		case <-prune.C:
			h.prune(ctx)
			prune.Reset(h.cfg.PruneInterval)
		}
	}
}

// expire removes what has expired, pass after pass until a pass finds less than a
// full batch.
func (h *Hub) expire(ctx context.Context) {
	for ctx.Err() == nil {
		evs, err := h.store.Expire(ctx, h.now(), expireBatch)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("expiry pass failed", "err", err)
			}
			return
		}
		h.announce(evs)
		if len(evs) < expireBatch {
			return
		}
	}
}

// prune enforces the retention window and depth.
func (h *Hub) prune(ctx context.Context) {
	start := time.Now()
	ns, evs, err := h.store.Prune(ctx, h.now().Add(-h.cfg.Retention), h.cfg.RetentionDepth)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("retention pass failed", "err", err)
		}
		return
	}
	if ns > 0 || evs > 0 {
		h.log.Info("retention pass", "notifications_removed", ns, "events_removed", evs, "duration", time.Since(start))
	}
}

// Prune runs one retention pass now (for operators and tests).
func (h *Hub) Prune(ctx context.Context) { h.prune(ctx) }
