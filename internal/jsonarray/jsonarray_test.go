package jsonarray

import "testing"

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		items  []string
		want   string
	}{
		{"", nil, `[]`},
		{"", []string{`{"a":1}`}, `[{"a":1}]`},
		{`{"n":`, []string{`1`, `"x"`, `{}`}, `{"n":[1,"x",{}]`},
	} {
		items := make([][]byte, len(tc.items))
		for i, s := range tc.items {
			items[i] = []byte(s)
		}
		if got := string(Append([]byte(tc.prefix), items)); got != tc.want {
			t.Errorf("Append(%q, %q) = %s, want %s", tc.prefix, tc.items, got, tc.want)
		}
	}
}
