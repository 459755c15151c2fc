// Package soak is tocsin's randomized fault soak: a real three-node cluster on a
// private PostgreSQL and Redis (or NATS), publishers and SSE and WebSocket
// subscribers that retry and resume as real clients do, faults from a seeded
// source, and a checker that reads the whole history and names every anomaly.
// It is all in the package's tests, which run only when TOCSIN_SOAK is set to a
// duration; see docs/reliability.md.
package soak
