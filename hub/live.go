package hub

import (
	"context"
	"time"

	"github.com/tocsin/tocsin"
)

// The live loop: one state machine for every open stream.
//
// After Begin, a stream's live phase is a series of steps. A step (Stream.step)
// does what the stream has to do now: end it when it was kicked or its context
// ended, flush a batching window that is due, take its queue and write it, write a
// heartbeat that is due, flush. Nothing waits inside a stream for time to pass:
// whatever gives it work schedules it (Stream.schedule), and its runner runs the
// next step.
//
// Runners. Go hands a stream to the hub's workers: a run queue (runq.go) and a few
// shared goroutines, for transports whose sink never blocks (AsyncSink: SSE on a
// taken-over plain TCP connection); such a stream has no goroutine, channel or timer
// of its own while it is idle. Live runs a stream on the caller's goroutine (its
// dedicated runner), which waits on the stream's own wake channel: for transports
// whose writes block (WebSocket, HTTP/2, TLS). Both runners run the same step, under
// the same states, so they write the same frames in the same order.
//
// Who schedules (each sets what it is about first, then calls schedule):
//   - deliver (enqueue) and poke: events were queued;
//   - kick (slow consumer, shutdown, replaced, revoked, expired, unregister, Stop):
//     the stream ends on its next step;
//   - the sweep (runq.go): a heartbeat is due (hbDue), for streams idle for about a
//     heartbeat period, with one pass over all streams instead of a timer each;
//   - the window timer (time.AfterFunc, one per batching stream): the window is due
//     (windowDue);
//   - Wake (an AsyncSink's background write is over);
//   - Live only: its context ending (context.AfterFunc).
//
// States (Stream.state) and transitions:
//
//	running  --Live/Go hands over, nothing scheduled meanwhile-->  idle
//	running  --schedule-->                                         again
//	idle     --schedule: the runner is given the stream-->         queued
//	queued   --the runner takes it-->                              running
//	running  --step done, nothing scheduled meanwhile-->           idle
//	again    --step done: back to its runner, behind others-->     queued
//	running  --step ends the stream-->                             finished
//
// A stream is created running: Begin's caller owns it (registers it, writes its
// replay or init) until Live or Go hands it to a runner, so whatever is scheduled
// while it begins makes it run once it is handed over (again), never concurrently
// with Begin. At most one runner runs it at a time (running/again), so its writing
// state needs no lock; schedule from queued, again or finished does nothing. A
// finished stream is unregistered, and its end reported: Live returns it, Go's done
// is called with it. A step that ends the stream is the only way out of it:
// schedule never ends a stream itself.
//
// A worker must never wait for a slow client: an AsyncSink's Flush writes what the
// connection takes at once and hands the rest to the background; the stream then
// reports Blocked, and its step takes nothing more from its queue until Wake (the
// queue fills meanwhile, and a full queue is a slow consumer, as for any stream).
// Store reads of a step on the workers are bounded (checkTimeout, fillTimeout);
// under Live they use Live's context, as the stream's own goroutine may wait.

// AsyncSink is the Sink of a stream run by the hub's workers (Go). Flush must not
// block on the peer: what the connection does not take at once it writes in the
// background (with a deadline), reporting Blocked until then, and then calls the
// stream's Wake.
type AsyncSink interface {
	Sink
	// Blocked reports whether a write from an earlier Flush is still going on, and
	// the error that ended one that failed.
	Blocked() (bool, error)
}

// Scheduling states of a stream (see above).
const (
	idle     int32 = iota // nothing to do
	queued                // given to its runner
	running               // Begin's caller or its runner runs it
	again                 // running, and scheduled again meanwhile: runs once more
	finished              // ended; never scheduled again
)

// checkTimeout bounds a heartbeat's check (a store read) on the workers, and
// fillTimeout their reads of a gap: other streams wait for the worker, and a store
// that hangs must not hold it for long (the stream ends; its client resumes).
const (
	checkTimeout = 3 * time.Second
	fillTimeout  = 10 * time.Second
)

// Live runs the stream on the caller's goroutine until ctx ends, the hub kicks the
// stream, or the sink fails; the stream is unregistered when it returns. A kick
// ends with ErrSlowConsumer, ErrShutdown, ErrReplaced, ErrRevoked or ErrExpired; ctx
// ending or the client going away ends with nil (a ctx deadline with its error).
func (s *Stream) Live(ctx context.Context) error {
	s.h.runq.ended() // not run by the workers: Close does not wait for it
	s.wake = make(chan struct{}, 1)
	s.h.startSweep() // its heartbeats
	stop := context.AfterFunc(ctx, s.schedule)
	defer stop()
	s.handOver()
	for range s.wake {
		if end, err := s.run(ctx); end {
			return err
		}
	}
	panic("unreachable: a stream's wake channel is never closed")
}

// Go hands the stream to the hub's workers; the sink given to Begin must be an
// AsyncSink. done is called once, on a worker, when the stream ends, with what Live
// would return; the stream is unregistered by then. Close waits for the end of the
// streams handed over.
func (s *Stream) Go(done func(error)) {
	async, ok := s.sink.(AsyncSink)
	if !ok {
		panic("hub: Stream.Go needs an AsyncSink; run a sink that may block with Live")
	}
	s.async, s.done = async, done
	if !s.h.startDriving() {
		// Close began before any stream was handed to the workers, so there are none;
		// the stream was kicked by Shutdown: it ends here, on the caller's goroutine.
		done(s.finish(nil))
		s.h.runq.ended()
		return
	}
	s.handOver()
}

// Stop ends the stream as a client hanging up does (Live returns nil, done gets nil).
func (s *Stream) Stop() { s.kick(context.Canceled) }

// Wake tells the stream that its sink's background write is over.
func (s *Stream) Wake() { s.schedule() }

// handOver ends Begin's ownership: from now on the stream's runner runs it.
func (s *Stream) handOver() {
	if s.window > 0 {
		s.batching, s.pendingUnread = true, tocsin.UnreadUnchanged
	}
	s.lastWrite.Store(s.h.cfg.Now().UnixNano())
	s.yield()
}

// schedule has the stream run by its runner, unless it is queued already; a stream
// being run is run once more afterwards.
func (s *Stream) schedule() {
	for {
		switch s.state.Load() {
		case idle:
			if s.state.CompareAndSwap(idle, queued) {
				s.push()
				return
			}
		case running:
			if s.state.CompareAndSwap(running, again) {
				return
			}
		default: // queued, again, finished
			return
		}
	}
}

// push gives a queued stream to its runner: the run queue, or Live's wake channel
// (which holds at most one: the stream is queued once).
func (s *Stream) push() {
	if s.wake == nil {
		s.h.runq.push(s)
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// yield ends a run: the stream goes idle, or, when it was scheduled meanwhile, back
// to its runner (behind the others, not in a loop that could starve them).
func (s *Stream) yield() {
	if !s.state.CompareAndSwap(running, idle) {
		s.state.Store(queued)
		s.push()
	}
}

// run is the runner running the stream's step (ctx: Live's, or the workers'
// background). It reports whether the stream ended, and with what.
func (s *Stream) run(ctx context.Context) (bool, error) {
	s.state.Store(running)
	if end, err := s.step(ctx); end {
		return true, s.finish(err)
	}
	s.yield()
	return false, nil
}

// step does what the stream has to do now. It reports whether the stream ended.
func (s *Stream) step(ctx context.Context) (bool, error) {
	if s.err() != nil {
		return true, nil // ended reports the kick's reason
	}
	if err := ctx.Err(); err != nil {
		return true, err
	}
	if s.async != nil {
		if blocked, err := s.async.Blocked(); err != nil {
			return true, err
		} else if blocked {
			return false, nil // Wake comes when the write is over
		}
	}
	wrote := false
	if s.windowDue.Swap(false) {
		s.windowOpen = false
		if err := s.flushWindow(); err != nil {
			return true, err
		}
		wrote = true
	}
	took, err := s.handle(ctx)
	if err != nil {
		return true, err
	}
	if s.batching {
		if !s.windowOpen && s.windowWanted() {
			s.openWindow()
		}
	} else if took {
		wrote = true
	}
	if s.hbDue.Swap(false) && !wrote {
		if s.check != nil {
			cctx, cancel := s.bound(ctx, checkTimeout)
			err := s.check(cctx)
			cancel()
			if err != nil {
				return true, err
			}
		}
		if err := s.sink.Heartbeat(); err != nil {
			return true, err
		}
		wrote = true
	}
	if wrote {
		if err := s.sink.Flush(); err != nil {
			return true, err
		}
		s.lastWrite.Store(s.h.cfg.Now().UnixNano())
	}
	return false, nil
}

// bound bounds a store read of a step on the workers by d; under Live the read has
// Live's context only.
func (s *Stream) bound(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if s.wake != nil {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func (s *Stream) openWindow() {
	s.windowOpen = true
	if s.windowTimer == nil {
		s.windowTimer = time.AfterFunc(s.window, func() {
			s.windowDue.Store(true)
			s.schedule()
		})
		return
	}
	s.windowTimer.Reset(s.window)
}

// finish ends the stream and returns what Live returns: it is unregistered first.
func (s *Stream) finish(err error) error {
	s.state.Store(finished)
	if s.windowTimer != nil {
		s.windowTimer.Stop()
	}
	s.h.unregister(s)
	return s.ended(err)
}
