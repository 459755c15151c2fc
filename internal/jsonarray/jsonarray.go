// Package jsonarray joins values that are already JSON into a JSON array, so a
// notification encoded once (for its event) is not encoded again for a response or
// an idempotency record.
package jsonarray

// Append appends to b the JSON array of items, each of them valid JSON.
func Append(b []byte, items [][]byte) []byte {
	size := 2
	for _, it := range items {
		size += len(it) + 1
	}
	if cap(b)-len(b) < size {
		b = append(make([]byte, 0, len(b)+size), b...)
	}
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}
