// Package tocsin holds the domain of the tocsin notification server: notifications,
// events and streams, the principals that act on them, the errors every layer speaks,
// and the Store and Bus interfaces whose contracts the implementations honour.
//
// It imports nothing but the standard library and does no I/O; the packages below it
// (sqlite, membus, hub, httpapi, ...) implement or use these types, and only cmd/tocsin
// wires concrete implementations together.
package tocsin
