//go:build !unix

package sqlite

// unwritable: the cause is not looked into on this system.
func unwritable(paths ...string) (why, path string) { return "", "" }
